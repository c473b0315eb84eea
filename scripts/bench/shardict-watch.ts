/**
 * The shardict side of the `watch` workload: every watcher is a `connect()` of its own (its
 * own WebSockets to the coordinator and to the shards it watches) running `Dict.watch` in a
 * `for await` loop, as an application would; the writer is the bench's own client. Markers
 * are puts of the value "marker" (not a write index).
 */
import { Dict, connect, type Client } from "../../src/index.js";
import type { WatchDriver, WatchSink, Watcher } from "./watch-workload.js";

const DICT = "bench-watch";

export async function shardictWatchDriver(url: string, writer: Client): Promise<WatchDriver> {
  const d = await Dict.fromName<string>(DICT, { createIfMissing: true, client: writer }).hydrate();
  return {
    open: async (key: string | undefined, sink: WatchSink): Promise<Watcher> => {
      const client = await connect({ url });
      const mine = await Dict.fromName<string>(DICT, { client }).hydrate();
      const stream = mine.watch(key === undefined ? {} : { key });
      void (async () => {
        for await (const e of stream) {
          if (e.type === "put") {
            const k = e.key as string;
            if (e.value === "marker") sink.marker(k);
            else sink.put(k, e.value, Number(e.version));
          } else sink.other(e.type);
        }
      })().catch((err: unknown) => sink.other(`error: ${(err as Error).message}`));
      return {
        close: () => {
          stream.close();
          client.close();
        },
      };
    },
    put: (k, v) => d.put(k, v),
    mark: (k) => d.put(k, "marker"),
    close: async () => {},
  };
}
