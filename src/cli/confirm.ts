/** Asking before a destructive command, on a terminal only (piped or scripted runs are not asked). */
import { createInterface } from "node:readline/promises";

/** True when the user agreed, or when there is nobody to ask (stdin is not a terminal). */
export async function confirmed(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return true;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
