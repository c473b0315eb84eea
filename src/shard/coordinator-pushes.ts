/**
 * What the coordinator pushes to a shard (a new table, a dict created or deleted), each
 * acknowledged only once it is durable here.
 */
import { InvalidError } from "../errors.js";
import type { PartitionTableData, RequestFrame } from "../protocol/frames.js";
import type { ReplicaStores } from "./replica-apply.js";

/** Room a shard must have for a new dict: a shard that cannot take a few writes to it should not take it. */
const NEW_DICT_BYTES = 4096;

export async function handlePush(frame: RequestFrame, s: ReplicaStores, adoptTable: (t: PartitionTableData) => void): Promise<unknown> {
  switch (frame.type) {
    case "shard.table":
      adoptTable(frame.table);
      return undefined;
    case "shard.dictAdded": {
      // Durable here before the create succeeds; a full disk fails the create instead.
      await s.engine.reserve(NEW_DICT_BYTES);
      try {
        s.dicts.add(frame.id);
        await s.engine.commit([{ op: "addDict", dict: frame.id }]);
      } finally {
        s.engine.release(NEW_DICT_BYTES);
      }
      return undefined;
    }
    case "shard.dictRemoved":
      s.dicts.remove(frame.id);
      await s.host.dropDict(frame.id);
      return undefined;
    default:
      throw new InvalidError(`${frame.type} is not a coordinator push`);
  }
}
