/**
 * A WebSocket spoken by hand over a TCP socket, for what `ws` will not send: fragments of a
 * message that never ends, frames cut short. It does the HTTP upgrade, sends frames as
 * given (see frameBytes), answers pings like a live
 * client, and records the close frame it receives.
 */
import { connect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";

export const Opcode = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

export class RawSocket {
  readonly socket: Socket;
  /** The port this end of the connection uses (nodes name it when they drop a connection). */
  readonly localPort: number;
  /** The first close frame received, if any. */
  closeFrame: { code: number; reason: string } | undefined;
  readonly closed: Promise<void>;
  private input: Buffer = Buffer.alloc(0);

  private constructor(socket: Socket, rest: Buffer) {
    this.socket = socket;
    this.localPort = socket.localPort ?? 0;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    // Writes into a socket the node has dropped fail: that is expected here.
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    if (rest.length > 0) this.onData(rest);
  }

  /** Open a connection; rejects with "HTTP <status>: <body>" when the node refuses it. */
  static open(url: string, headers: Record<string, string> = {}): Promise<RawSocket> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        const text = head.subarray(0, end).toString("latin1");
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
        if (status !== 101) {
          let body = head.subarray(end + 4).toString("utf8");
          socket.on("data", (c: Buffer) => (body += c.toString("utf8")));
          socket.once("close", () => reject(new Error(`HTTP ${status}: ${body.trim()}`)));
          return;
        }
        resolve(new RawSocket(socket, head.subarray(end + 4)));
      };
      socket.on("data", onData);
      socket.once("error", reject);
      socket.once("connect", () => {
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
        socket.write(
          `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
        );
      });
    });
  }


  /** Send one frame; resolves once the socket took it (false if it is closed). */
  sendFrame(opcode: number, payload: Uint8Array, fin: boolean): Promise<boolean> {
    return this.sendBytes(frameBytes(opcode, payload, fin));
  }

  /** Send bytes as they are (part of a frame, say); resolves once the socket took them. */
  sendBytes(bytes: Uint8Array): Promise<boolean> {
    if (this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.socket.write(bytes, (err) => resolve(!err));
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    for (;;) {
      const b = this.input;
      if (b.length < 2) return;
      const opcode = (b[0] as number) & 0x0f;
      let len = (b[1] as number) & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b.length < at + len) return;
      const payload = b.subarray(at, at + len);
      this.input = b.subarray(at + len);
      if (opcode === Opcode.Ping) void this.sendFrame(Opcode.Pong, payload, true);
      else if (opcode === Opcode.Close && this.closeFrame === undefined) {
        this.closeFrame = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString("utf8") };
      }
    }
  }
}

/** One client frame: masked with a zero mask, which leaves the payload as is. */
export function frameBytes(opcode: number, payload: Uint8Array, fin: boolean): Buffer {
  const n = payload.byteLength;
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lenBytes + 4);
  header[0] = (fin ? 0x80 : 0) | opcode;
  if (lenBytes === 0) header[1] = 0x80 | n;
  else if (lenBytes === 2) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(n, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([header, payload]);
}
