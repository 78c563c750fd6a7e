// The `run` input's command: run with the shell GitHub's runner would pick (bash on
// Linux and macOS, sh where there is no bash, pwsh or powershell on Windows), its
// output straight into the step's log, and stopped with the step when it is cancelled.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { scriptFor, shellFor } from "./decide";

export interface Ended {
  exitCode: number | null;
  signal: string | null;
  cancelled: boolean;
}

/** After a cancellation, how long the command may take to stop before it is killed. */
const GRACE_MS = 5_000;

function onPath(name: string): boolean {
  const exts = process.platform === "win32" ? [".exe", ".cmd", ""] : [""];
  return (process.env.PATH ?? "")
    .split(delimiter)
    .filter((d) => d !== "")
    .some((dir) => exts.some((ext) => existsSync(join(dir, name + ext))));
}

/**
 * Runs `command` in `dir` (a private temp dir for the script file) with `env`, and
 * resolves when it has ended. SIGINT or SIGTERM to this process (how GitHub's runner
 * cancels a step) is passed on to the command's process group, which is killed after
 * GRACE_MS if it has not stopped by then.
 */
export function runCommand(command: string, dir: string, env: NodeJS.ProcessEnv, told: (line: string) => void): Promise<Ended> {
  const shell = shellFor(process.platform, onPath);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `run-${process.pid}${shell.extension}`);
  writeFileSync(file, scriptFor(process.platform, command), { mode: 0o700 });
  told(`Running the 'run' command with ${shell.name}, the lease held and its heartbeat going.`);
  const posix = process.platform !== "win32";
  return new Promise((resolve) => {
    let cancelled = false;
    let settled = false;
    const child = spawn(shell.command, shell.args(file), { stdio: ["ignore", "inherit", "inherit"], env, detached: posix });
    const stop = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        if (posix) process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // Gone already.
      }
    };
    const onSignal = (sig: NodeJS.Signals) => {
      if (!cancelled) {
        told(`The step was cancelled (${sig}): stopping the command, then releasing the lease as failed.`);
        setTimeout(() => stop("SIGKILL"), GRACE_MS).unref();
      }
      cancelled = true;
      stop(sig);
    };
    const finish = (ended: Ended) => {
      if (settled) return;
      settled = true;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      rmSync(file, { force: true });
      resolve(ended);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    child.on("error", (e) => {
      told(`The 'run' command could not be started with ${shell.name}: ${e.message}`);
      finish({ exitCode: 127, signal: null, cancelled });
    });
    child.on("exit", (exitCode, signal) => finish({ exitCode, signal, cancelled }));
  });
}
