// What the steps of one job share, in files under the job's RUNNER_TEMP:
//
//   mq-lease-service/<run id>-<attempt>-<job>/
//     job.json                     how the last acquire of this job ended (JobRecord)
//     leases/<lease id>/lease.json a lease this job won (Lease)
//     leases/<lease id>/released.json   written once a release of it was answered (Released)
//     leases/<lease id>/heartbeat.pid   the background heartbeat; it stops when this goes
//     leases/<lease id>/heartbeat.log   what the heartbeat had to say
//
// A step's own memory for its post step goes through core.saveState instead; the files
// are how a release step (another step, with its own state) and the post steps agree
// that a lease was released, so it is never released twice.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JobRecord, Lease, Released } from "./decide";

export class JobState {
  constructor(readonly dir: string) {}

  leaseDir(id: string): string {
    return join(this.dir, "leases", id);
  }

  record(): JobRecord | null {
    return readJson<JobRecord>(join(this.dir, "job.json"));
  }

  writeRecord(record: JobRecord): void {
    writeJson(join(this.dir, "job.json"), record);
  }

  lease(id: string): Lease | null {
    return readJson<Lease>(join(this.leaseDir(id), "lease.json"));
  }

  writeLease(lease: Lease): void {
    writeJson(join(this.leaseDir(lease.id), "lease.json"), lease);
  }

  released(id: string): Released | null {
    return readJson<Released>(join(this.leaseDir(id), "released.json"));
  }

  writeReleased(id: string, released: Released): void {
    writeJson(join(this.leaseDir(id), "released.json"), released);
  }
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return null;
  }
}

function writeJson(path: string, value: unknown): void {
  mkdirSync(join(path, ".."), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
  renameSync(tmp, path);
}

// ------------------------------------------------------------------ the heartbeat process

/** What the heartbeat process is told (through its environment). */
export interface HeartbeatJob {
  leaseDir: string;
  url: string;
  body: unknown;
  intervalMs: number;
}

export const HEARTBEAT_ENV = "MQ_LEASE_HEARTBEAT";

/**
 * Starts `heartbeat.js` (beside this bundle) as a detached process that outlives the
 * step: GitHub's runner ends a step when its main process exits and cleans up a job's
 * leftover processes only when the job ends. Its output goes to a file, so the step's
 * output pipes are not held open. Returns its pid.
 */
export function startHeartbeat(job: HeartbeatJob, script: string): number {
  mkdirSync(job.leaseDir, { recursive: true });
  const log = openSync(join(job.leaseDir, "heartbeat.log"), "a");
  try {
    const child = spawn(process.execPath, [script], {
      detached: true,
      stdio: ["ignore", "ignore", log],
      env: { ...process.env, [HEARTBEAT_ENV]: JSON.stringify(job) },
      windowsHide: true,
    });
    if (child.pid === undefined) throw new Error("the heartbeat process did not start");
    writeFileSync(join(job.leaseDir, "heartbeat.pid"), `${child.pid}\n`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** The heartbeat of a lease dir is meant to run while its pid file names it. */
export function heartbeatWanted(leaseDir: string, pid: number): boolean {
  try {
    return readFileSync(join(leaseDir, "heartbeat.pid"), "utf8").trim() === String(pid);
  } catch {
    return false;
  }
}

/**
 * Stops the heartbeat of a lease dir and waits until it is gone, so no heartbeat races
 * the release. Returns the warnings it logged (its last few), or null when none ran.
 */
export async function stopHeartbeat(leaseDir: string): Promise<string[] | null> {
  const pidFile = join(leaseDir, "heartbeat.pid");
  let pid = NaN;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
  } catch {
    // None started, or already stopped.
  }
  rmSync(pidFile, { force: true });
  if (Number.isInteger(pid) && pid > 0) {
    signal(pid, "SIGTERM");
    for (let i = 0; i < 40 && alive(pid); i++) {
      if (i === 20) signal(pid, "SIGKILL");
      await sleep(50);
    }
  } else if (!existsSync(join(leaseDir, "heartbeat.log"))) {
    return null;
  }
  try {
    return readFileSync(join(leaseDir, "heartbeat.log"), "utf8")
      .split("\n")
      .filter((l) => l.includes("WARN"))
      .slice(-5);
  } catch {
    return [];
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
}

/** The process exists and is not a zombie (an exited child its new parent has not reaped yet). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (process.platform === "linux") {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
      return false;
    }
  }
  return true;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
