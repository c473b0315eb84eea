/**
 * Pretend hosts on one Linux machine, for trials of the real multi-host path (non-loopback
 * addresses, TLS, tokens) and for real network partitions: each host is a network namespace
 * with one veth link to a bridge, which sits in a "switch" namespace of its own; one more veth
 * joins the switch to the root namespace, so this process (and anything it starts outside the
 * hosts) reaches every host. Taking a host's port on the switch down cuts that host off from
 * every other host and from the root namespace at once, as pulling its cable would.
 *
 *   root ns  shdTAG (x.x.x.254) ── uplink ┐
 *   host 0   eth0 (x.x.x.1) ────── h0 ────┤ br0   (switch ns)
 *   host 1   eth0 (x.x.x.2) ────── h1 ────┘ ...
 *
 * The bridge lives in its own namespace so that the root namespace's firewall (a FORWARD
 * policy of DROP, as Docker sets, seen by bridged traffic through br_netfilter) cannot drop
 * traffic between hosts. Needs root and `ip` (iproute2); `netnsSupport()` says why not.
 */
import { pidAlive } from "../util/pid-alive.js";
import { execFile, execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface NetnsHost {
  index: number;
  /** The namespace's name, for `ip netns exec`. */
  ns: string;
  /** Its IPv4 address, on the hosts' private /24. */
  address: string;
}

export interface NetnsHosts {
  readonly hosts: readonly NetnsHost[];
  /** The private /24 the hosts are on, e.g. `10.123.45.0/24`. */
  readonly subnet: string;
  /** The root namespace's address on it. */
  readonly gateway: string;
  /** The namespace holding the bridge; host i's port on it is `h<i>`. */
  readonly switchNs: string;
  /** The argument list that runs a command on host `i` (prepend it to the command's). */
  execArgs(i: number): string[];
  /** Cut host `i` off from every other host and from the root namespace (its switch port down). */
  down(i: number): Promise<void>;
  /** Join it again. */
  up(i: number): Promise<void>;
  /** Delete every namespace and link made; safe to call twice, and called on exit and on SIGINT / SIGTERM. */
  cleanup(): void;
}

/** Thrown where namespaces cannot be made here; `reason` says why, for a test's skip message. */
export class NetnsUnavailableError extends Error {
  override name = "NetnsUnavailableError";
}

const PREFIX = "shd";

function ipSync(args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
}

async function ip(args: string[]): Promise<string> {
  try {
    return (await run("ip", args, { timeout: 10_000 })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ip ${args.join(" ")}: ${(e.stderr ?? "").trim() || e.message}`);
  }
}

/**
 * Whether namespaces can be made here: on Linux, as root, with `ip`, and allowed to (an
 * unprivileged container refuses `ip netns add` or veth links). Probes by making and
 * deleting a namespace with a bridge and a veth.
 */
export async function netnsSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.platform !== "linux") return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: "network namespaces need root (ip netns add); run as root, as CI does" };
  try {
    await run("ip", ["-V"], { timeout: 5_000 });
  } catch {
    return { ok: false, reason: "the ip command (iproute2) is missing" };
  }
  const probe = `${PREFIX}-${process.pid}-probe`;
  try {
    await ip(["netns", "add", probe]);
    await ip(["-n", probe, "link", "add", "name", "br0", "type", "bridge"]);
    await ip(["-n", probe, "link", "add", "name", "probe0", "type", "veth", "peer", "name", "probe1"]);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `network namespaces are not permitted here: ${(err as Error).message}` };
  } finally {
    try {
      ipSync(["netns", "del", probe]);
    } catch {
      // never made
    }
  }
}

/** `a.b.c.d/len` as [address as a number, prefix length]. */
function parsePrefix(text: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(text);
  if (!m) return undefined;
  const n = m.slice(1, 5).reduce((acc, x) => acc * 256 + Number(x), 0);
  return [n, m[5] === undefined ? 32 : Number(m[5])];
}

function overlaps(a: [number, number], b: [number, number]): boolean {
  const len = Math.min(a[1], b[1]);
  const size = 2 ** (32 - len);
  return Math.floor(a[0] / size) === Math.floor(b[0] / size);
}

/** Every IPv4 prefix this machine routes or holds an address in (the default route excepted). */
async function usedPrefixes(): Promise<[number, number][]> {
  const found: [number, number][] = [];
  const routes = await ip(["-4", "route", "show", "table", "all"]);
  for (const line of routes.split("\n")) {
    const words = line.trim().split(/\s+/);
    // "local 127.0.0.1 dev lo table local", "10.0.0.0/8 dev eth0 ...": the prefix is the first or second word.
    const p = parsePrefix(words[0] ?? "") ?? parsePrefix(words[1] ?? "");
    if (p) found.push(p);
  }
  const addrs = await ip(["-4", "-o", "addr", "show"]);
  for (const m of addrs.matchAll(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/g)) {
    const p = parsePrefix(m[1] as string);
    if (p) found.push(p);
  }
  return found;
}

/** A random 10.x.y.0/24 that overlaps nothing routed here, as `10.x.y`. */
async function freeSubnet(): Promise<string> {
  const used = await usedPrefixes();
  for (let tries = 0; tries < 100; tries++) {
    // 10.64-254.*: clear of the 10.0.x.x ranges that VPNs and container tools like to take.
    const base = `10.${randomInt(64, 255)}.${randomInt(0, 256)}`;
    const p = parsePrefix(`${base}.0/24`) as [number, number];
    if (!used.some((u) => overlaps(u, p))) return base;
  }
  throw new Error("no free /24 found in 10.64.0.0-10.254.255.255 (everything there is routed)");
}


/**
 * Delete namespaces left by runs whose process is gone (killed before its cleanup could
 * run): their names carry that process's pid. Deleting a switch namespace deletes its root link too.
 */
async function sweepStale(): Promise<void> {
  const list = await ip(["netns", "list"]);
  for (const line of list.split("\n")) {
    const name = line.trim().split(/\s+/)[0] ?? "";
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      try {
        ipSync(["netns", "del", name]);
      } catch {
        // deleted meanwhile by another run's sweep
      }
    }
  }
}

/** Make `count` hosts (at most 250). Throws NetnsUnavailableError where namespaces cannot be made. */
export async function createNetnsHosts(count: number): Promise<NetnsHosts> {
  if (count < 1 || count > 250) throw new RangeError(`between 1 and 250 hosts, not ${count}`);
  const support = await netnsSupport();
  if (!support.ok) throw new NetnsUnavailableError(support.reason);
  await sweepStale();
  const tag = randomBytes(3).toString("hex");
  const stem = `${PREFIX}-${process.pid}-${tag}`;
  const sw = `${stem}-sw`;
  // Interface names are at most 15 characters and this one is in the root namespace: unique by its tag.
  const rootLink = `${PREFIX}${tag}`;
  const made: string[] = [];
  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    process.removeListener("exit", cleanup);
    for (const s of signals) process.removeListener(s.signal, s.handler);
    // The root link first and explicitly: a deleted namespace's links go away only later, in the background.
    for (const args of [["link", "del", "dev", rootLink], ...made.map((ns) => ["netns", "del", ns])]) {
      try {
        ipSync(args);
      } catch {
        // not made, or already gone
      }
    }
  };
  const signals = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((signal) => {
    const handler = (): void => {
      // Another listener (a launcher stopping its nodes first) decides whether the process
      // exits, and the exit handler cleans up then; alone, do what the signal would have done.
      if (process.listenerCount(signal) > 0) return;
      cleanup();
      process.kill(process.pid, signal);
    };
    return { signal, handler };
  });
  process.once("exit", cleanup);
  for (const s of signals) process.once(s.signal, s.handler);

  try {
    await ip(["netns", "add", sw]);
    made.push(sw);
    await ip(["-n", sw, "link", "set", "dev", "lo", "up"]);
    // No STP, no forwarding delay: a port brought back up forwards at once.
    await ip(["-n", sw, "link", "add", "name", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
    await ip(["-n", sw, "link", "set", "dev", "br0", "up"]);

    let base = await freeSubnet();
    await ip(["link", "add", "name", rootLink, "type", "veth", "peer", "name", "uplink", "netns", sw]);
    await ip(["-n", sw, "link", "set", "dev", "uplink", "master", "br0", "up"]);
    for (let attempt = 0; ; attempt++) {
      await ip(["addr", "add", `${base}.254/24`, "dev", rootLink]);
      // Another run may have picked the same /24 since we looked: then pick again.
      const others = (await ip(["-4", "-o", "addr", "show"])).split("\n").filter((l) => l.includes(`inet ${base}.`) && !l.includes(` ${rootLink} `));
      if (others.length === 0) break;
      await ip(["addr", "del", `${base}.254/24`, "dev", rootLink]);
      if (attempt >= 5) throw new Error(`the /24s picked were all taken meanwhile (last ${base}.0/24)`);
      base = await freeSubnet();
    }
    await ip(["link", "set", "dev", rootLink, "up"]);

    const hosts: NetnsHost[] = [];
    for (let i = 0; i < count; i++) {
      const ns = `${stem}-${i}`;
      await ip(["netns", "add", ns]);
      made.push(ns);
      // Each end is made in its namespace, so the names (eth0, h<i>) cannot collide with anything.
      await ip(["link", "add", "name", "eth0", "netns", ns, "type", "veth", "peer", "name", `h${i}`, "netns", sw]);
      await ip(["-n", sw, "link", "set", "dev", `h${i}`, "master", "br0", "up"]);
      await ip(["-n", ns, "link", "set", "dev", "lo", "up"]);
      await ip(["-n", ns, "addr", "add", `${base}.${i + 1}/24`, "dev", "eth0"]);
      await ip(["-n", ns, "link", "set", "dev", "eth0", "up"]);
      hosts.push({ index: i, ns, address: `${base}.${i + 1}` });
    }
    const hostAt = (i: number): NetnsHost => {
      const h = hosts[i];
      if (h === undefined) throw new RangeError(`no host ${i} (there are ${hosts.length})`);
      return h;
    };
    return {
      hosts,
      subnet: `${base}.0/24`,
      gateway: `${base}.254`,
      switchNs: sw,
      execArgs: (i) => ["netns", "exec", hostAt(i).ns],
      down: async (i) => void (await ip(["-n", sw, "link", "set", "dev", `h${hostAt(i).index}`, "down"])),
      up: async (i) => void (await ip(["-n", sw, "link", "set", "dev", `h${hostAt(i).index}`, "up"])),
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}
