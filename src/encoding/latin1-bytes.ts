/**
 * Bytes as latin1 strings (one character per byte): how a shard keeps keys and values (one
 * V8 header each, where a Uint8Array costs an object, a backing store and a malloc), and how
 * keys are compared and hashed (a latin1 string compares like its bytes).
 */

/**
 * Node's own slice, which reads any byte view in place: a put converts its key and value
 * with it, and `Buffer.from(…).toString("latin1")` made a Buffer view for each and took
 * two to three times as long (measured: 47 against 104–165 ns for 100 bytes). The browser's
 * `buffer` package has no such method.
 */
const nodeLatin1Slice = (Buffer.prototype as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/** Bytes (often a view into a received frame) → an independent latin1 string. */
export const latin1String: (bytes: Uint8Array) => string =
  nodeLatin1Slice !== undefined
    ? (bytes) => nodeLatin1Slice.call(bytes, 0, bytes.byteLength)
    : (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");

/** A latin1 string → its bytes. */
export function latin1Bytes(text: string): Uint8Array {
  return Buffer.from(text, "latin1");
}

/**
 * Bytes held as a latin1 string, as a shard stores values: a reply carrying one is written
 * straight into the binary message, without first copying the value into a Buffer of its
 * own. {@link toBytes} gives the bytes (for msgpack peers).
 */
export class Latin1Bytes {
  constructor(readonly text: string) {}

  toBytes(): Uint8Array {
    return latin1Bytes(this.text);
  }
}
