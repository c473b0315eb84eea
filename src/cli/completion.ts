/**
 * `shardict completion bash|zsh`: a completion script for the shell, printed to stdout, made
 * from the commands' own tables (so it cannot drift from them). Install it with
 * `source <(shardict completion bash)` (zsh: `source <(shardict completion zsh)`; it uses
 * bash completion through `bashcompinit`).
 */
import { dictCompletions } from "./dict-commands.js";
import { UsageError } from "./cli-exit.js";

/** Commands and their flags or subcommands, beyond `dict` (whose table is dict-commands.ts's). */
const COMMANDS: Record<string, string[]> = {
  coordinator: ["--config", "--host", "--port", "--data-dir"],
  shard: ["--id", "--config", "--coordinator", "--host", "--port", "--data-dir", "--advertise"],
  cluster: ["status", "remove-shard", "--url", "--json", "--watch", "--wait"],
  repair: ["--id", "--data-dir", "--config", "--dry-run", "--json"],
  backup: ["--env", "--format", "--url", "--token"],
  restore: ["--env", "--format", "--url", "--token"],
  completion: ["bash", "zsh"],
};

/** A bash function (and its `complete` line) completing `shardict` commands, subcommands and flags. */
export function bashCompletion(): string {
  const dict = dictCompletions();
  const cases = dict.map((s) => `      ${s.name}) words="${s.flags.join(" ")}" ;;`).join("\n");
  const top = Object.entries(COMMANDS)
    .map(([c, w]) => `    ${c}) words="${w.join(" ")}" ;;`)
    .join("\n");
  return `# shardict completion (bash); load with: source <(shardict completion bash)
_shardict() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words=""
  if [[ $COMP_CWORD -eq 1 ]]; then
    words="dict ${Object.keys(COMMANDS).join(" ")}"
  elif [[ "\${COMP_WORDS[1]}" == "dict" ]]; then
    if [[ $COMP_CWORD -eq 2 ]]; then
      words="${dict.map((s) => s.name).join(" ")}"
    else
      case "\${COMP_WORDS[2]}" in
${cases}
      esac
    fi
  else
    case "\${COMP_WORDS[1]}" in
${top}
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _shardict shardict
`;
}

/** `shardict completion SHELL`: prints the script; resolves to the exit code. */
export function completionCommand(args: string[]): number {
  const [shell] = args;
  if (shell === "bash") process.stdout.write(bashCompletion());
  else if (shell === "zsh") process.stdout.write(`autoload -U +X bashcompinit && bashcompinit\n${bashCompletion()}`);
  else throw new UsageError(`usage: shardict completion bash|zsh (got ${shell === undefined ? "nothing" : JSON.stringify(shell)})`);
  return 0;
}
