/**
 * The layout of a cluster across pretend hosts (netns-hosts.ts), for LocalCluster's `netns`
 * option: the coordinator on host 0 beside the first shard, shard k on host k mod N (so three
 * shards on three hosts), each listening on its host's address at a fixed port. Off loopback
 * a node insists on TLS, client tokens and a cluster secret, so the config gets a throwaway CA
 * whose node certificate names every host's address, and a client token if it has none.
 */
import { tokenOf } from "../net/token-scope.js";
import { randomBytes } from "node:crypto";
import type { ClusterConfig } from "../config/cluster-config.js";
import type { NetnsHost, NetnsHosts } from "./netns-hosts.js";
import { makeThrowawayCa, type ThrowawayCa } from "./throwaway-ca.js";

/** Ports where the config gives none (0): each host has all its ports to itself. */
const FIRST_PORT = 7700;

export interface NetnsLayout {
  /** The config to write for the nodes: addresses, ports, `tls`, `clientTokens`. */
  config: ClusterConfig;
  ca: ThrowawayCa;
  /** A client token of the config. */
  token: string;
  /** The index of the host a node runs on. */
  hostOf(node: string): number;
  /** For LocalCluster's `netns` option. */
  place(node: string): NetnsHost;
}

/** Lay `base`'s nodes out on `hosts`; the CA is made in `caDir`. */
export function layOutOnHosts(base: ClusterConfig, hosts: NetnsHosts, caDir: string): NetnsLayout {
  const n = hosts.hosts.length;
  const shardIndex = new Map(base.shards.map((s, k) => [s.id, k]));
  const hostOf = (node: string): number => (node === "coordinator" ? 0 : (shardIndex.get(node) ?? 0) % n);
  const place = (node: string): NetnsHost => hosts.hosts[hostOf(node)] as NetnsHost;
  const ca = makeThrowawayCa("shardict-netns", caDir, hosts.hosts.map((h) => h.address));
  // The clients' token: the first listed one (a scoped one too), or a fresh one.
  const listed = base.clientTokens[0];
  const token = listed === undefined ? randomBytes(18).toString("base64url") : tokenOf(listed);
  const config: ClusterConfig = {
    ...base,
    coordinator: { host: place("coordinator").address, port: base.coordinator.port || FIRST_PORT },
    shards: base.shards.map((s, k) => ({ ...s, host: place(s.id).address, port: s.port || FIRST_PORT + 1 + k })),
    clientTokens: base.clientTokens.length > 0 ? base.clientTokens : [token],
    tls: { cert: ca.cert, key: ca.key, ca: ca.ca },
  };
  return { config, ca, token, hostOf, place };
}
