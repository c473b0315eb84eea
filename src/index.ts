/**
 * shardict: a distributed dictionary for TypeScript programs.
 *
 * @example
 * ```ts
 * import { Dict } from "shardict";
 * const d = Dict.fromName("my-dict", { createIfMissing: true });
 * await d.put("hello", "world");
 * console.log(await d.get("hello"));
 * ```
 */
export * from "./sdk-exports.js";
export { connect } from "./client/client.js";
export type { Client, ConnectOptions } from "./client/client.js";
