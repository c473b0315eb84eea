/**
 * Bytes held as a latin1 string (one character per byte), as a shard stores values: a reply
 * carrying one is written straight into the binary message, without first copying the
 * value into a Buffer of its own. {@link toBytes} gives the bytes (for msgpack peers).
 */
export class Latin1Bytes {
  constructor(readonly text: string) {}

  toBytes(): Uint8Array {
    return Buffer.from(this.text, "latin1");
  }
}
