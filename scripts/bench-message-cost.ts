/**
 * `npm run bench:message`: what one small message costs on this machine, apart from
 * shardict: 20,000 writes of 200 bytes on a loopback TCP socket, one per event-loop turn
 * (as a node flushes its frames), with the CPU time of the writing process and of the
 * reading one (a child) per write. The README's performance section uses it to price the
 * messages a replicated write adds.
 */
import { fork } from "node:child_process";
import { createServer, connect, type AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

const WRITES = 20_000;

interface FromReader {
  port?: number;
  cpu?: number;
  bytes?: number;
}

if (process.argv[2] === "reader") {
  const server = createServer((socket) => {
    let bytes = 0;
    socket.on("data", (d: Buffer) => (bytes += d.length));
    socket.on("end", () => {
      const c = process.cpuUsage();
      process.send?.({ cpu: c.user + c.system, bytes } satisfies FromReader);
    });
  });
  server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as AddressInfo).port } satisfies FromReader));
} else {
  const child = fork(fileURLToPath(import.meta.url), ["reader"]);
  const next = () => new Promise<FromReader>((resolve) => child.once("message", (m) => resolve(m as FromReader)));
  const { port } = await next();
  const socket = connect(port ?? 0, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.setNoDelay(true);
  const payload = Buffer.alloc(200, 1);
  const before = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < WRITES; i++) {
    socket.write(payload);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const used = process.cpuUsage(before);
  const seconds = (performance.now() - started) / 1000;
  const done = next();
  socket.end();
  const reader = await done;
  child.kill();
  const per = (us: number) => (us / WRITES).toFixed(1);
  console.log(
    `${WRITES} writes of 200 B on loopback TCP, one per event-loop turn: writer ${per(used.user + used.system)} µs CPU per write (user ${per(used.user)}, system ${per(used.system)}), reader ${per(reader.cpu ?? 0)} µs per write (its start-up included), ${(WRITES / seconds).toFixed(0)} writes/s`,
  );
}
