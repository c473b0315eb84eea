/**
 * The redis side of the `watch` workload: keyspace notifications (`notify-keyspace-events
 * K$g`: keyspace channels, string and generic commands) in a db of their own (2). A watcher
 * of the whole db is an ioredis connection in `PSUBSCRIBE __keyspace@2__:*`, a watcher of a
 * key one in `SUBSCRIBE __keyspace@2__:<key>`, each its own connection (a subscribed
 * connection can do nothing else). The writer `SET`s through its own connection with
 * auto-pipelining, like the other workloads; markers are `APPEND key ""` (notification
 * "append"), the workload's writes notify "set".
 *
 * What a notification carries is the key and the command's name: no value (a watcher wanting
 * it must GET, and may see a later value) and no version. It is sent once, to the
 * connections subscribed at that moment: lost while a watcher is disconnected, with no way to
 * resume. The workload places a notification by counting: the n-th "set" of key k on a
 * connection is the writer's n-th write of k (the writer's commands run in the order sent).
 */
import { Redis } from "ioredis";
import type { WatchDriver, WatchSink, Watcher } from "./watch-workload.js";

const DB = 2;
const PREFIX = `__keyspace@${DB}__:`;

export async function redisWatchDriver(port: number): Promise<WatchDriver> {
  const options = { host: "127.0.0.1", port, maxRetriesPerRequest: 0 };
  const writer = new Redis({ ...options, db: DB, enableAutoPipelining: true });
  await writer.config("SET", "notify-keyspace-events", "K$g");
  return {
    open: async (key: string | undefined, sink: WatchSink): Promise<Watcher> => {
      const sub = new Redis(options);
      const on = (channel: string, message: string) => {
        const k = channel.slice(PREFIX.length);
        if (message === "set") sink.put(k, undefined, undefined);
        else if (message === "append") sink.marker(k);
        else sink.other(`notification ${message}`);
      };
      // A reconnected subscriber lost whatever was published meanwhile.
      sub.on("reconnecting", () => sink.other("reconnection"));
      sub.on("error", (err: Error) => sink.other(`error: ${err.message}`));
      if (key === undefined) {
        sub.on("pmessage", (_pattern: string, channel: string, message: string) => on(channel, message));
        await sub.psubscribe(`${PREFIX}*`);
      } else {
        sub.on("message", on);
        await sub.subscribe(PREFIX + key);
      }
      return { close: () => sub.disconnect() };
    },
    put: (k, v) => writer.set(k, v),
    mark: (k) => writer.append(k, ""),
    close: async () => {
      writer.disconnect();
    },
  };
}
