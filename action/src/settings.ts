// The action's inputs and the runner's environment, read in one place.
import * as core from "@actions/core";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Tuning knobs (environment; the defaults suit real use, the tests lower them). */
export const knobs = {
  /** Longest pause between retries, seconds. */
  backoffCap: positive(process.env.MQ_LEASE_BACKOFF_CAP, 30),
  /** How often a release is tried before the step fails. */
  releaseAttempts: positive(process.env.MQ_LEASE_RELEASE_ATTEMPTS, 8),
  /** While nothing changes, repeat the waiting line this often, seconds. */
  remindEvery: positive(process.env.MQ_LEASE_REMIND_EVERY, 300),
};

function positive(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Every input of action.yml, by name. */
export function input(name: InputName): string {
  return core.getInput(name);
}

export type InputName =
  | "endpoint"
  | "lease_service_url"
  | "auth"
  | "oidc_audience"
  | "release_with_status"
  | "priority"
  | "timeout"
  | "poll_interval"
  | "run"
  | "github_token";

/** The service URL: `endpoint`, or its alias `lease_service_url`. */
export function endpoint(): string {
  return (input("endpoint") || input("lease_service_url")).replace(/\/+$/, "");
}

/** Where this job keeps what its steps share (the acquire's lease, the heartbeat, releases). */
export function jobDir(): string {
  const base = process.env.RUNNER_TEMP || tmpdir();
  const run = process.env.GITHUB_RUN_ID || "local";
  const attempt = process.env.GITHUB_RUN_ATTEMPT || "1";
  const job = (process.env.GITHUB_JOB || "job").replace(/[^0-9A-Za-z_.-]/g, "_");
  return join(base, "mq-lease-service", `${run}-${attempt}-${job}`);
}

/** The event payload file (MQ_LEASE_EVENT_PATH lets the self-test play several runs in one job). */
export function eventPath(): string {
  return process.env.MQ_LEASE_EVENT_PATH || process.env.GITHUB_EVENT_PATH || "";
}
