/** Validation of dict names, environment names and ids, done in the SDK before any request. */
import { InvalidError } from "../errors.js";

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const ID_RE = /^di-[A-Za-z0-9_-]{1,61}$/;

export const DEFAULT_ENVIRONMENT = "main";

export function checkName(name: unknown): string {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    throw new InvalidError(`invalid Dict name ${JSON.stringify(name)}: names are 1-64 characters of A-Z a-z 0-9 . _ -`);
  }
  return name;
}

export function checkEnvironment(env: unknown): string {
  if (env === undefined) return DEFAULT_ENVIRONMENT;
  if (typeof env !== "string" || !NAME_RE.test(env)) {
    throw new InvalidError(`invalid environment name ${JSON.stringify(env)}: 1-64 characters of A-Z a-z 0-9 . _ -`);
  }
  return env;
}

export function checkId(id: unknown): string {
  if (typeof id !== "string" || !ID_RE.test(id)) {
    throw new InvalidError(`invalid Dict id ${JSON.stringify(id)}: ids look like "di-" followed by letters, digits, _ or -`);
  }
  return id;
}
