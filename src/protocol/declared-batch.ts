/**
 * How many frames a msgpack batch says it holds, from its array header alone: a message
 * announcing more frames than a node takes is refused before any of them is decoded.
 * Undefined for anything that is not a msgpack array (a single frame, the binary form).
 */
export function declaredBatchLength(data: Uint8Array): number | undefined {
  const b = data[0];
  if (b === undefined) return undefined;
  if (b >= 0x90 && b <= 0x9f) return b & 0x0f;
  if (b === 0xdc && data.length >= 3) return ((data[1] as number) << 8) | (data[2] as number);
  if (b === 0xdd && data.length >= 5) return Buffer.from(data.buffer, data.byteOffset, 5).readUInt32BE(1);
  return undefined;
}
