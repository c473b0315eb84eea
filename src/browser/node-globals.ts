/**
 * What the SDK's shared code takes from Node's globals, for the browser bundle: esbuild
 * (`inject`, scripts/build-browser.ts) binds the bundle's free `Buffer` and `setImmediate`
 * to these exports, without touching the page's globals.
 *
 * `Buffer` is the `buffer` package (the standard port of Node's): the codec and the log
 * body format read and write through Buffer's methods, on the hot path of every node, and
 * rewriting them over DataView for the browser's sake would slow the nodes down or fork
 * the format's code.
 */
export { Buffer } from "buffer";

/** What is used of a MessageChannel (Node's typings describe its own, with more). */
interface Channel {
  port1: { onmessage: (() => void) | null };
  port2: { postMessage(message: null): void };
}

const queue: (() => void)[] = [];
let channel: Channel | undefined;

/**
 * Run `fn` after the current task, like Node's: Peer batches the frames queued in one task
 * into one message. A MessageChannel message, not setTimeout(0), which browsers may delay
 * by 4 ms or more.
 */
export function setImmediate(fn: () => void): void {
  if (channel === undefined) {
    channel = new (globalThis as unknown as { MessageChannel: new () => Channel }).MessageChannel();
    channel.port1.onmessage = () => {
      for (const f of queue.splice(0)) f();
    };
  }
  if (queue.push(fn) === 1) channel.port2.postMessage(null);
}
