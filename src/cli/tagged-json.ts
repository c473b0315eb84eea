/**
 * Tagged JSON: every value a Dict can store (and every key) as plain JSON, losslessly, for
 * the CLI to print (`get --json`, export) and read back (`put --json`, `--key-json`, import).
 *
 * JSON-native values are themselves: `null`, booleans, strings, finite numbers (except -0),
 * arrays, and plain objects none of whose keys starts with `$`. Anything else is a *tag*: an
 * object with exactly one key, which starts with `$` (the one exception is `$id`, below):
 *
 *   undefined                       {"$undefined": true}
 *   NaN, Infinity, -Infinity, -0    {"$number": "NaN"}   ("Infinity", "-Infinity", "-0")
 *   bigint                          {"$bigint": "-123"}               (decimal)
 *   Date                            {"$date": "2026-01-02T03:04:05.678Z"}   (toISOString();
 *                                   an invalid Date is {"$date": "Invalid Date"})
 *   Map                             {"$map": [[key, value], …]}       (in insertion order)
 *   Set                             {"$set": [value, …]}
 *   Uint8Array                      {"$bytes": "AQID"}                (base64)
 *   Buffer                          {"$buffer": "AQID"}               (base64)
 *   other typed arrays, DataView,   {"$typed": ["Float64Array", "<base64>"]}  (the bytes the
 *   ArrayBuffer                     SDK stores: the platform's order, little-endian on x86/ARM)
 *   RegExp                          {"$regexp": "/a+b/gi"}            (`/${source}/${flags}`)
 *   Error                           {"$error": {"name": "TypeError", "message": "boom",
 *                                     "cause": value, "errors": [value, …]}}   (cause only when
 *                                   defined, errors only for an AggregateError)
 *   Dict handle                     {"$dict": "di-…"}
 *   object with `$` keys            {"$object": {"$price": 3}}        (keys taken literally)
 *   an object met twice             {"$id": 1, "$value": tagged}  where it first appears,
 *                                   {"$ref": 1}  everywhere after (cycles included)
 *
 * Values inside tags are tagged in turn (`$map` keys and values, `$set` members, `cause`…);
 * only `$object`'s own keys are literal, so a plain object with `$` keys never reads as a tag.
 * Ids are given only to objects (arrays, objects, Maps, Sets, Dates, byte arrays, Errors…)
 * referenced more than once, numbered 1, 2, … in document order; a `$ref` always comes after
 * its `$id`. Own `__proto__` keys are kept as own keys both ways.
 *
 * `toTagged` shows a value as the SDK stores it (msgpackr's structured clone): a class
 * instance is its own enumerable properties (or its `toJSON()`), array holes are undefined,
 * an Error keeps name, message, cause and (AggregateError) errors, a RegExp its source and
 * flags. It refuses what the SDK refuses (functions, symbols, WeakMap, WeakSet, WeakRef,
 * Promise) and a Dict handle whose id is not known yet (hydrate it first). `fromTagged` is
 * strict: a malformed tag is an {@link InvalidError} naming its place as a jq path; it reads
 * any ISO 8601 date (`2026-01-02`, or a date-time with `Z` or an offset) besides
 * toISOString's form, and `{"$error"}` may leave out name ("Error") and message ("").
 */
export type { Json } from "./tagged-json-shared.js";
export { toTagged } from "./tagged-json-encode.js";
export { fromTagged } from "./tagged-json-decode.js";
