/**
 * TLS for every listener and every connection: a node listens with its certificate (and,
 * with `requireClientCert`, asks peers for one signed by the cluster's CA), and connects to
 * other nodes trusting that CA (presenting its own certificate as a client one). The files
 * are read at start and again on SIGHUP, so a certificate can be rotated without a restart.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";

/** `tls` in cluster.config.json: paths, relative to the config file's folder. */
export interface TlsConfig {
  cert: string;
  key: string;
  ca?: string;
  requireClientCert?: boolean;
}

/** The files' contents. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  requireClientCert: boolean;
}

/** Resolve the paths of `tls` against `base` (the config file's folder). */
export function resolveTlsPaths(tls: TlsConfig, base: string): TlsConfig {
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  return { ...tls, cert: at(tls.cert), key: at(tls.key), ...(tls.ca !== undefined && { ca: at(tls.ca) }) };
}

/** Read the files; a missing or unreadable one is an error naming it. */
export function readTls(tls: TlsConfig): TlsMaterial {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`tls.${what}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  return {
    cert: read("cert", tls.cert),
    key: read("key", tls.key),
    ca: tls.ca === undefined ? undefined : read("ca", tls.ca),
    requireClientCert: tls.requireClientCert === true,
  };
}

/** What a node's server is made with. */
export function serverTlsOptions(m: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert: boolean; rejectUnauthorized: boolean } {
  return { cert: m.cert, key: m.key, ...(m.ca !== undefined && { ca: m.ca }), requestCert: m.requireClientCert, rejectUnauthorized: m.requireClientCert };
}

/**
 * Options of a node's connection to another node: trust the cluster's CA (else the system's)
 * and show this node's certificate, which a server with `requireClientCert` checks.
 */
export function nodeClientTls(m: TlsMaterial | undefined): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if (m === undefined) return {};
  return { ...(m.ca !== undefined && { ca: m.ca }), cert: m.cert, key: m.key };
}
