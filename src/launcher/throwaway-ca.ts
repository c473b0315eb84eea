/**
 * A throwaway certificate authority for local trials, tests and benchmarks, made with
 * `openssl` (present on Debian): a CA and one certificate for the cluster's nodes, valid for
 * 127.0.0.1 and localhost (and any other IP addresses given: the hosts of a trial in network
 * namespaces) for two days, for both server and client use (nodes present it to each other).
 * Not for production: its key sits next to the certificates.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isIP } from "node:net";
import { join } from "node:path";

export interface ThrowawayCa {
  dir: string;
  /** Paths. */
  ca: string;
  cert: string;
  key: string;
  /** The CA's certificate, PEM. */
  caPem: string;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** Make one in `dir` (default a fresh temporary folder); the node certificate is valid for `ips` too. */
export function makeThrowawayCa(name = "shardict-local", dir = mkdtempSync(join(tmpdir(), "shardict-ca-")), ips: readonly string[] = []): ThrowawayCa {
  mkdirSync(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(dir, "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", `/CN=${name}-ca`);
  openssl(dir, "req", ...ec, "-keyout", "node.key", "-out", "node.csr", "-subj", `/CN=${name}-node`);
  for (const a of ips) if (isIP(a) === 0) throw new Error(`not an IP address: ${JSON.stringify(a)}`);
  const names = ["IP:127.0.0.1", "DNS:localhost", ...ips.map((a) => `IP:${a}`)].join(",");
  writeFileSync(join(dir, "ext.cnf"), `subjectAltName=${names}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  openssl(dir, "x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "node.pem", "-days", "2", "-extfile", "ext.cnf");
  return { dir, ca: join(dir, "ca.pem"), cert: join(dir, "node.pem"), key: join(dir, "node.key"), caPem: readFileSync(join(dir, "ca.pem"), "utf8") };
}
