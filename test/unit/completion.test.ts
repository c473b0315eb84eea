/** `shardict completion bash`: the script completes commands, dict subcommands and their flags in a real bash. */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { bashCompletion } from "../../src/cli/completion.js";

/** What bash offers for the words typed so far (the last one being completed). */
function complete(...words: string[]): string[] {
  const script = `${bashCompletion()}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _shardict; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split("\n").filter((l) => l !== "");
}

describe("bash completion", () => {
  it("completes commands, dict subcommands and each subcommand's flags", () => {
    expect(complete("shardict", "")).toEqual(expect.arrayContaining(["dict", "cluster", "shard", "coordinator", "completion"]));
    expect(complete("shardict", "di")).toEqual(["dict"]);
    expect(complete("shardict", "dict", "wa")).toEqual(["watch"]);
    expect(complete("shardict", "dict", "watch", "name", "--pre")).toEqual(["--prefix"]);
    expect(complete("shardict", "dict", "get", "name", "--key")).toEqual(["--key-json"]);
    expect(complete("shardict", "dict", "export", "name", "--f")).toEqual(["--format"]);
    expect(complete("shardict", "cluster", "st")).toEqual(["status"]);
    expect(complete("shardict", "shard", "--i")).toEqual(["--id"]);
  });
});
