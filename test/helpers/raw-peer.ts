/**
 * A raw WebSocket for bad-input tests: sends arbitrary bytes or hand-built frames and reads
 * replies and close codes, bypassing every check the SDK makes.
 */
import WebSocket from "ws";
import { pack, unpack } from "msgpackr";

export class RawPeer {
  readonly ws: WebSocket;
  readonly replies: unknown[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data: Buffer) => {
      const v: unknown = unpack(data);
      if (Array.isArray(v)) this.replies.push(...v);
      else this.replies.push(v);
    });
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, maxPayload: 1024 * 1024 * 1024 });
      ws.once("open", () => resolve(new RawPeer(ws)));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  /** Open a connection and introduce it as client `clientId` (whose writes a node deduplicates). */
  static async client(url: string, clientId: string): Promise<RawPeer> {
    const p = await RawPeer.open(url);
    const reply = await p.request({ type: "hello", rid: 1, v: 1, clientId });
    if (reply.type !== "ok") throw new Error(`hello refused: ${JSON.stringify(reply)}`);
    return p;
  }

  sendBytes(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  sendFrame(frame: unknown): void {
    this.ws.send(pack(frame));
  }

  /** Send a frame and wait for the reply with its rid (taken off `replies`: a resend with that rid waits for its own). */
  async request(frame: { rid: number } & Record<string, unknown>, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    this.sendFrame(frame);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.replies.findIndex((r) => typeof r === "object" && r !== null && (r as { rid?: unknown }).rid === frame.rid);
      if (at >= 0) return this.replies.splice(at, 1)[0] as Record<string, unknown>;
      if (Date.now() > deadline) throw new Error(`no reply to rid ${frame.rid}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.ws.close();
  }
}
