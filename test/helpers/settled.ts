/** Whether a cluster has settled: `ids` are its members, all serving, every partition in place, nothing moving. */
import type { ClusterClient } from "../../src/client/client.js";
import type { ClusterStatus } from "../../src/coordinator/coordinator-node.js";

export async function clusterSettled(client: ClusterClient, ids: readonly string[]): Promise<boolean> {
  const s = (await client.coordinatorRequest({ type: "status" })) as ClusterStatus;
  const members = s.shards.map((x) => x.id).sort();
  return s.rebalance.pending === 0 && s.moves.length === 0 && JSON.stringify(members) === JSON.stringify([...ids].sort()) && s.shards.every((x) => x.state === "serving");
}
