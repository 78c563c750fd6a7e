// What the action tells: annotations, outputs, the job summary. Thin wrappers over
// @actions/core so every message carries the same title.
import * as core from "@actions/core";
import { Stop } from "./service";

const TITLE = "mq-lease-service";

export function notice(message: string): void {
  core.notice(message, { title: TITLE });
}

export function warning(message: string): void {
  core.warning(message, { title: TITLE });
}

export function error(message: string): void {
  core.error(message, { title: TITLE });
}

/** The four outputs of action.yml, set together. */
export function setResult(result: string, stacked = "[]", fencingToken = ""): void {
  core.setOutput("result", result);
  core.setOutput("status", result);
  core.setOutput("stacked_pull_requests", stacked);
  core.setOutput("fencing_token", fencingToken);
}

/** Appends markdown to the job summary (when the runner gives one). */
export async function summary(markdown: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  try {
    await core.summary.addRaw(markdown).write();
  } catch (e) {
    core.debug(`could not write the job summary: ${String(e)}`);
  }
}

/** The waiting is told inside one collapsible group of the step's log. */
export class Group {
  private open = false;
  start(title: string): void {
    core.startGroup(title);
    this.open = true;
  }
  end(): void {
    if (this.open) core.endGroup();
    this.open = false;
  }
}

/** Runs one phase (the main or the post step) to its end: a `Stop` is reported as the
 * step's error, anything else with its stack; either fails the step. The process exits
 * then, so nothing left pending (a timer, a socket) keeps the step open. */
export function runPhase(phase: () => Promise<void>): void {
  phase().then(
    () => process.exit(),
    (e) => {
      if (e instanceof Stop) error(e.message);
      else error(`Unexpected error: ${(e as Error)?.stack ?? String(e)}`);
      process.exitCode = 1;
      process.exit();
    },
  );
}
