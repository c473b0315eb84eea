/**
 * A throwaway certificate authority for TLS tests, made with `openssl` (present on Debian):
 * a CA and one certificate for the cluster's nodes, valid for 127.0.0.1 and localhost, for
 * both server and client use (nodes present it to each other).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
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

export function makeTestCa(name = "shardict-test"): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "shardict-ca-"));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(dir, "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", `/CN=${name}-ca`);
  openssl(dir, "req", ...ec, "-keyout", "node.key", "-out", "node.csr", "-subj", `/CN=${name}-node`);
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
  openssl(dir, "x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "node.pem", "-days", "2", "-extfile", "ext.cnf");
  return { dir, ca: join(dir, "ca.pem"), cert: join(dir, "node.pem"), key: join(dir, "node.key"), caPem: readFileSync(join(dir, "ca.pem"), "utf8") };
}
