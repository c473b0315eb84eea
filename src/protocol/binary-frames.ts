/**
 * A compact binary encoding for the frames of the data path (key reads and writes, bulk
 * updates, their plain replies and scan pages, and replication), which are nearly all the traffic. Packing them as
 * msgpack maps spent more CPU in both processes than the work the shard does for a read:
 * every frame repeats its field names, and every field goes through a generic encoder.
 *
 * A binary message starts with {@link BINARY_MESSAGE} (0xc1, the one byte msgpack never
 * uses, so the receiver tells the two apart by the first byte) and holds a batch of items,
 * each a tag byte and fixed fields; any other frame travels inside the batch as msgpack.
 * Decoding yields the same plain objects msgpack would, which the codec then validates
 * against the frame schemas like any other frame: the schemas stay the one definition.
 *
 * Numbers: `rid`, `op` and `epoch` as float64 (exact for safe integers), partitions as u16,
 * lengths as u32 (strings u8). A frame whose fields do not fit (a partition above 65535,
 * a dict id above 255 bytes, a field of the wrong type) goes as msgpack instead, so what
 * is invalid still reaches the receiver's validation and gets its typed error. Only the
 * fields of the frame's type are carried (frames come from our typed code).
 */
export { BINARY_MESSAGE } from "./binary-tags.js";
export { encodeBinary } from "./binary-encode.js";
export { decodeBinary, type BinaryDecodeOptions } from "./binary-decode.js";
