/**
 * Bytes as latin1 strings (one character per byte): how a shard keeps keys and values (one
 * V8 header each, where a Uint8Array costs an object, a backing store and a malloc), and how
 * keys are compared and hashed (a latin1 string compares like its bytes).
 */

/** Bytes (often a view into a received frame) → an independent latin1 string. */
export function latin1String(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

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
