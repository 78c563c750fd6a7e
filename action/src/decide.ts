// The action's decisions, as pure functions: what an answer of the service means, what
// to tell, when to retry, what the release and the post step must do. No I/O here (the
// callers pass the clock and the random numbers), so test/decide.test.ts covers it all.

/** Longest wait the service holds one acquire call for (docs/rules.md §6). */
export const MAX_WAIT_SECONDS = 120;

// ------------------------------------------------------------------ durations

/** Whole seconds of "90", "15s", "5m", "1h30m"; null for anything else. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (/^[0-9]+$/.test(t)) return Number(t);
  if (t === "" || !/^([0-9]+[hms])+$/.test(t)) return null;
  let total = 0;
  for (const [, n, unit] of t.matchAll(/([0-9]+)([hms])/g)) {
    total += Number(n) * (unit === "h" ? 3600 : unit === "m" ? 60 : 1);
  }
  return total;
}

/** "1h2m3s", "45s", "0s"; below a second "500ms". */
export function human(seconds: number): string {
  if (seconds > 0 && seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  let s = Math.max(0, Math.floor(seconds));
  let out = "";
  if (s >= 3600) {
    out += `${Math.floor(s / 3600)}h`;
    s %= 3600;
  }
  if (s >= 60) {
    out += `${Math.floor(s / 60)}m`;
    s %= 60;
  }
  if (s > 0 || out === "") out += `${s}s`;
  return out;
}

/**
 * Capped exponential back-off with jitter: 1, 2, 4 … `cap` seconds for attempts 1, 2,
 * 3 …; half of each step is fixed, the other half random (`random` in [0, 1)).
 * Returns milliseconds.
 */
export function backoffDelay(attempt: number, capSeconds: number, random: number): number {
  const cap = Math.max(1, capSeconds);
  const step = Math.min(cap, 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  const half = step / 2;
  return Math.round((step - half + random * half) * 1000);
}

/** "59m30s left of the timeout." */
export function timeLeft(deadlineMs: number, nowMs: number): string {
  return `${human(Math.max(0, Math.floor((deadlineMs - nowMs) / 1000)))} left of the timeout.`;
}

// ------------------------------------------------------------------ the event

export interface MergeGroup {
  headSha: string;
  headRef: string;
  baseSha: string;
  baseRef: string;
}

/** `refs/heads/x` → `x` (docs/rules.md §7: the merge_group event names full refs). */
export function stripHeads(ref: string): string {
  return ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : ref;
}

/** The merge group of a `merge_group` event payload, or the reason there is none. */
export function mergeGroupOf(payload: unknown): MergeGroup | { error: string } {
  const mg = (payload as { merge_group?: Record<string, unknown> } | null)?.merge_group;
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  const group = {
    headSha: str(mg?.head_sha),
    headRef: stripHeads(str(mg?.head_ref)),
    baseSha: str(mg?.base_sha),
    baseRef: stripHeads(str(mg?.base_ref)),
  };
  if (group.headSha === "" || group.baseRef === "") {
    return {
      error:
        "The event has no merge_group.head_sha/base_ref: run this action only for 'merge_group' events (e.g. 'if: github.event_name == 'merge_group'').",
    };
  }
  return group;
}

/** The service's URL of one queue: `{endpoint}/{owner}/{repo}/{base_ref}`, each part percent-encoded. */
export function queueUrl(endpoint: string, repository: string, baseRef: string): string {
  const [owner, name] = splitRepository(repository);
  return `${trimEndpoint(endpoint)}/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/${encodeURIComponent(baseRef)}`;
}

/** The status page of one queue (docs/rules.md §8). */
export function statusPageUrl(endpoint: string, repository: string, baseRef: string): string {
  const [owner, name] = splitRepository(repository);
  return `${trimEndpoint(endpoint)}/ui/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/${encodeURIComponent(baseRef)}`;
}

export function trimEndpoint(endpoint: string): string {
  return endpoint.trim().replace(/\/+$/, "");
}

function splitRepository(repository: string): [string, string] {
  const i = repository.indexOf("/");
  return [repository.slice(0, i), repository.slice(i + 1)];
}

export function isRepository(repository: string): boolean {
  const i = repository.indexOf("/");
  return i > 0 && i < repository.length - 1;
}

/** The priority input: a whole number ≥ 1, or null. */
export function parsePriority(text: string): number | null {
  if (!/^[0-9]+$/.test(text.trim())) return null;
  const n = Number(text.trim());
  return n >= 1 && Number.isSafeInteger(n) ? n : null;
}

// ------------------------------------------------------------------ requests

export interface AcquireBody {
  head_sha: string;
  priority: number;
  head_ref?: string;
}

export interface ReleaseBody extends AcquireBody {
  status: "success" | "failure";
  fencing_token?: number;
}

export function acquireBody(group: MergeGroup, priority: number): AcquireBody {
  const body: AcquireBody = { head_sha: group.headSha, priority };
  if (group.headRef !== "") body.head_ref = group.headRef;
  return body;
}

export function releaseBody(lease: Lease, outcome: "success" | "failure"): ReleaseBody {
  const body: ReleaseBody = { ...lease.body, status: outcome };
  if (lease.fencingToken !== "" && /^[0-9]+$/.test(lease.fencingToken)) {
    body.fencing_token = Number(lease.fencingToken);
  }
  return body;
}

/** How long the service may hold the next acquire call, in whole seconds. */
export function waitFor(pollSeconds: number, remainingMs: number): number {
  return Math.max(1, Math.min(pollSeconds, MAX_WAIT_SECONDS, Math.ceil(remainingMs / 1000)));
}

// ------------------------------------------------------------------ answers

/** One answer of the service: a status code (0: no answer) and the parsed body. */
export interface Answer {
  code: number;
  body: unknown;
  /** The raw text (for answers that are not JSON). */
  text: string;
  /** Why there was no answer (code 0). */
  error?: string;
  /** How long the call took. */
  ms: number;
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
}

function text(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function requestStatus(answer: Answer): string {
  return text(obj(obj(answer.body).request).status);
}

/** "HTTP 401: the service's error" (or the start of the body). */
export function serviceError(answer: Answer): string {
  if (answer.code === 0) return answer.error ?? "no answer";
  let msg = text(obj(answer.body).error);
  if (msg === "") msg = answer.text.slice(0, 300).replace(/\n/g, " ");
  if (msg === "") msg = "(empty answer)";
  return `HTTP ${answer.code}: ${msg}`;
}

export type AcquireVerdict =
  | { kind: "acquired"; fencingToken: string; stacked: unknown[] }
  | { kind: "completed" }
  | { kind: "pending" }
  | { kind: "failed" }
  | { kind: "busy" }
  | { kind: "retry"; key: string; reason: string }
  | { kind: "refused" };

/** What an answer to an acquire call means for the waiting loop. */
export function judgeAcquire(answer: Answer): AcquireVerdict {
  const { code } = answer;
  if (code === 200) {
    const status = requestStatus(answer);
    switch (status) {
      case "acquired": {
        const body = obj(answer.body);
        const stacked = Array.isArray(body.stacked_pull_requests) ? body.stacked_pull_requests : [];
        return { kind: "acquired", fencingToken: text(obj(body.request).fencing_token), stacked };
      }
      case "completed":
        return { kind: "completed" };
      case "pending":
        return { kind: "pending" };
      case "failure":
        return { kind: "failed" };
      default:
        return {
          kind: "retry",
          key: `odd:${status}`,
          reason: `The lease service gave an answer this action does not understand (status '${status}')`,
        };
    }
  }
  if (code === 0) {
    return { kind: "retry", key: "unreachable", reason: `Could not reach the lease service (${answer.error ?? "no answer"})` };
  }
  if (code >= 500 || code === 408 || code === 429) {
    return { kind: "retry", key: `trouble:${code}`, reason: `The lease service is having trouble (${serviceError(answer)})` };
  }
  if (code === 409) return { kind: "busy" };
  return { kind: "refused" };
}

/** A pending answer that came back much sooner than the wait asked for: the service ignores `?wait=`. */
export function answeredAtOnce(answer: Answer, waitSeconds: number): boolean {
  return answer.ms < waitSeconds * 500;
}

export type ReleaseVerdict =
  | { kind: "released"; answer: string }
  | { kind: "retry"; reason: string }
  | { kind: "stale" }
  | { kind: "refused" };

export function judgeRelease(answer: Answer, outcome: string): ReleaseVerdict {
  const { code } = answer;
  if (code === 200) return { kind: "released", answer: requestStatus(answer) || outcome };
  if (code === 0) return { kind: "retry", reason: `could not reach the lease service (${answer.error ?? "no answer"})` };
  if (code >= 500 || code === 408 || code === 429) return { kind: "retry", reason: serviceError(answer) };
  if (code === 409) return { kind: "stale" };
  return { kind: "refused" };
}

export type Beat = "alive" | "lost" | "unreachable";

/** What a heartbeat (an acquire call by the holder) learnt. */
export function judgeBeat(answer: Answer): Beat {
  if (answer.code === 200 && requestStatus(answer) === "acquired") return "alive";
  if ([200, 400, 401, 403, 404].includes(answer.code)) return "lost";
  return "unreachable";
}

/** The heartbeat's period: a quarter of the service's lease_timeout, every 60 s when it has none. */
export function heartbeatIntervalMs(view: unknown): number {
  const timeout = obj(obj(view).config).lease_timeout;
  if (typeof timeout === "number" && Number.isFinite(timeout) && timeout > 0) {
    return Math.max(250, Math.floor((timeout * 1000) / 4));
  }
  return 60_000;
}

/** The holder of a provider view: its head_sha ("" when nobody holds the lease), status and fencing token. */
export function holderOf(view: unknown): { headSha: string; status: string; fencingToken: string } {
  const acquired = obj(obj(view).acquired);
  const request = obj(acquired.request);
  return {
    headSha: text(request.head_sha || acquired.head_sha),
    status: text(request.status || acquired.status),
    fencingToken: text(request.fencing_token ?? acquired.fencing_token),
  };
}

// ------------------------------------------------------------------ the story told while waiting

function secondsSince(iso: unknown, nowMs: number): number | null {
  if (typeof iso !== "string" || iso === "") return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : Math.floor((nowMs - t) / 1000);
}

function short(sha: unknown): string {
  return text(sha).slice(0, 12);
}

export interface Told {
  /** The state told: the line is repeated only when it changes (or as a reminder). */
  key: string;
  text: string;
  /** The run that holds the lease, when the answer names it. */
  holder: string;
  /** The reason of the wait (stabilising, lease_held, …). */
  reason: string;
}

/** The line for a pending answer (docs/rules.md §8's `waiting` object), without the time left. */
export function tellWaiting(body: unknown, nowMs: number): Told {
  const w = obj(body).waiting;
  if (w === null || typeof w !== "object") {
    return {
      key: "pending",
      text: "Waiting for the lease: other runs of this queue come first or are still registering (this service does not say why).",
      holder: "",
      reason: "pending",
    };
  }
  const waiting = obj(w);
  const reason = text(waiting.reason) || "unknown";
  const holder = obj(waiting.holder);
  const holderSha = text(holder.head_sha);
  const told = (key: string, line: string): Told => ({ key, text: line, holder: holderSha, reason });
  switch (reason) {
    case "stabilising": {
      const since = secondsSince(waiting.window_ends_at, nowMs);
      const when = since === null ? "." : since < 0 ? ` in ${human(-since)}.` : " (now).";
      const known = text(waiting.known) || "?";
      const expected = text(waiting.expected) || "?";
      return told(
        `stabilising:${known}:${expected}`,
        `Waiting (stabilising): ${known} of ${expected} expected runs of this queue have registered; the lease is given when all have, or when the stabilisation window ends${when}`,
      );
    }
    case "lease_held": {
      const since = secondsSince(holder.since, nowMs);
      const held = since === null ? "" : ` for ${human(since)}`;
      return told(
        `lease_held:${holderSha}`,
        `Waiting (lease_held): run ${short(holderSha) || "?"} (priority ${text(holder.priority) || "?"}) holds the lease${held}; this run is told completed if it succeeds, and competes again if it fails.`,
      );
    }
    case "higher_priority":
      return told(
        "higher_priority",
        "Waiting (higher_priority): a run with more commits (a higher priority) is registered; it gets the lease first.",
      );
    case "confirming":
      return told(
        "confirming",
        "Waiting (confirming): this run is the winner; the service confirms it over a few more calls (delay_assignment_count).",
      );
    case "paused":
      return told("paused", "Waiting (paused): an admin paused this queue; nobody gets the lease until it is resumed.");
    default:
      return told(`reason:${reason}`, `Waiting (${reason}).`);
  }
}

/** The line for a 409: an earlier round still holds the queue. */
export function tellBusy(body: unknown, nowMs: number, backoffCapSeconds: number): Told {
  const context = obj(obj(body).error_context);
  const holder = obj(context.holder);
  const sha = text(holder.head_sha || context.head_sha);
  const since = secondsSince(holder.since || context.since, nowMs);
  const held = sha === "" ? "" : ` (run ${short(sha)} holds the lease${since === null ? "" : ` for ${human(since)}`})`;
  return {
    key: `busy:${sha}`,
    text: `The queue is busy with an earlier round${held}, so this run cannot register yet; trying again (every ${backoffCapSeconds}s at most).`,
    holder: sha,
    reason: "busy",
  };
}

/**
 * Tells a line only when the state changed since the last line told, or when it has not
 * changed for `remindEveryMs`: one line per change of state, not one per poll.
 */
export class Story {
  private key = "";
  private at = 0;
  constructor(private readonly remindEveryMs: number) {}

  /** Whether the line of `key` is to be told now (and remembers it when it is). */
  tell(key: string, nowMs: number): boolean {
    if (key !== this.key || nowMs - this.at >= this.remindEveryMs) {
      this.key = key;
      this.at = nowMs;
      return true;
    }
    return false;
  }
}

// ------------------------------------------------------------------ leases, release and post

/** A lease this job won, as the acquire step records it. */
export interface Lease {
  /** Unique per grant in this job: names its directory under the job's state dir. */
  id: string;
  queue: string;
  baseUrl: string;
  body: AcquireBody;
  fencingToken: string;
  stacked: unknown[];
  acquiredAtMs: number;
}

export function leaseId(headSha: string, fencingToken: string, acquiredAtMs: number): string {
  const safe = headSha.replace(/[^0-9A-Za-z]/g, "").slice(0, 12) || "run";
  return `${safe}-${fencingToken !== "" ? `t${fencingToken.replace(/[^0-9]/g, "")}` : `at${acquiredAtMs}`}`;
}

/** The outcome a release sends for the job status it is given (docs/rules.md §3: cancelled counts as failure). */
export function releaseOutcome(jobStatus: string): { outcome: "success" | "failure"; warning?: string } {
  switch (jobStatus.trim().toLowerCase()) {
    case "success":
      return { outcome: "success" };
    case "failure":
    case "cancelled":
      return { outcome: "failure" };
    default:
      return {
        outcome: "failure",
        warning: `release_with_status '${jobStatus}' is not success, failure or cancelled; releasing as failure.`,
      };
  }
}

/** How the last acquire of this job ended, as recorded in the job's state dir. */
export interface JobRecord {
  /** waiting (an acquire step is running or was stopped), acquired, completed, timeout, failure. */
  status: string;
  leaseId?: string;
  headSha?: string;
}

/** A release of a lease that the service answered (so nobody releases it again). */
export interface Released {
  answer: string;
  outcome: string;
  by: string;
  atMs: number;
}

export type ReleasePlan =
  | { kind: "nothing"; line: string; summary: string }
  | { kind: "release"; leaseId: string };

/** What an explicit release step does (docs/rules.md §7: only the job's own acquired lease, once). */
export function planRelease(record: JobRecord | null, released: Released | null): ReleasePlan {
  if (record === null) {
    return {
      kind: "nothing",
      line: "This job did not acquire the lease (no acquire step ran before in this job, or it stopped early), so there is nothing to release.",
      summary: "No acquire step of this job got the lease, so this release did nothing.",
    };
  }
  if (record.status !== "acquired" || !record.leaseId) {
    const ended = record.status === "waiting" ? "stopped while waiting" : record.status;
    return {
      kind: "nothing",
      line: `This run did not hold the lease (its acquire ended '${ended}'), so there is nothing to release.`,
      summary: `The acquire of this job ended **${ended}**, so this release did nothing.`,
    };
  }
  if (released !== null) {
    return {
      kind: "nothing",
      line: `The lease of this run was already released in this job (${released.by}, answer '${released.answer}'), so there is nothing to release.`,
      summary: `The lease was already released in this job (${released.by}, answer **${released.answer}**), so this release did nothing.`,
    };
  }
  return { kind: "release", leaseId: record.leaseId };
}

/** What the main step of this action saved for its post step (`core.saveState`). */
export interface SavedState {
  /** acquire, run or release; "" when the main step saved nothing. */
  phase: string;
  /** How the acquire of this step ended; "" while it was still waiting (then stopped). */
  ended: string;
  leaseId: string;
  headSha: string;
  baseUrl: string;
}

export type PostPlan =
  | { kind: "nothing"; why: string }
  | { kind: "release"; leaseId: string; why: string }
  | { kind: "check-holder"; why: string };

/**
 * The post step (docs/rules.md §11): release as failure a lease this step won that no release
 * has answered yet; nothing otherwise.
 */
export function planPost(saved: SavedState, released: Released | null): PostPlan {
  if (saved.phase === "") {
    return { kind: "nothing", why: "the main step of this action saved nothing (it stopped before asking the service)" };
  }
  if (saved.phase === "release") {
    return { kind: "nothing", why: "this step was a release step; the post step of the acquire step looks after its lease" };
  }
  if (saved.ended === "") {
    return {
      kind: "check-holder",
      why: "the acquire was stopped while it was waiting, so it may have been granted the lease without learning it",
    };
  }
  if (saved.ended !== "acquired" || saved.leaseId === "") {
    return { kind: "nothing", why: `this step's acquire ended '${saved.ended}': this job never held the lease` };
  }
  if (released !== null) {
    return {
      kind: "nothing",
      why: `the lease was already released in this job (${released.by}, answer '${released.answer}')`,
    };
  }
  const how =
    saved.phase === "run"
      ? "the 'run' command was stopped before its release (the job was cancelled or the step was killed)"
      : "no release step released it (the job failed or was cancelled before the release step, or there is none)";
  return { kind: "release", leaseId: saved.leaseId, why: how };
}

/** The outcome of a `run` command: exit 0 is success; any other exit, a signal or a cancellation is failure. */
export function runOutcome(exitCode: number | null, signal: string | null, cancelled: boolean): {
  outcome: "success" | "failure";
  told: string;
} {
  if (cancelled) return { outcome: "failure", told: "the step was cancelled while the command ran" };
  if (signal !== null) return { outcome: "failure", told: `the command was killed by ${signal}` };
  if (exitCode === 0) return { outcome: "success", told: "the command exited 0" };
  return { outcome: "failure", told: `the command exited with code ${exitCode ?? "?"}` };
}

/** The shell a `run` command is run with, as GitHub's runner picks the default one. */
export function shellFor(
  platform: string,
  found: (name: string) => boolean,
): { command: string; args: (file: string) => string[]; extension: string; name: string } {
  if (platform === "win32") {
    const command = found("pwsh") ? "pwsh" : "powershell";
    return {
      command,
      name: command,
      extension: ".ps1",
      args: (file) => ["-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command", `. '${file.replace(/'/g, "''")}'`],
    };
  }
  if (found("bash")) {
    return { command: "bash", name: "bash", extension: ".sh", args: (file) => ["--noprofile", "--norc", "-eo", "pipefail", file] };
  }
  return { command: "sh", name: "sh", extension: ".sh", args: (file) => ["-e", file] };
}

/** The script file for a `run` command: what GitHub's runner wraps a PowerShell step in. */
export function scriptFor(platform: string, command: string): string {
  if (platform === "win32") {
    return `$ErrorActionPreference = 'stop'\r\n${command}\r\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }\r\n`;
  }
  return `${command}\n`;
}

// ------------------------------------------------------------------ the job summary

export function prNumbers(stacked: unknown[]): string {
  return stacked
    .map((pr) => obj(pr).number)
    .filter((n) => n !== undefined && n !== null)
    .map((n) => `#${text(n)}`)
    .join(" ");
}

export interface AcquireSummary {
  result: string;
  queue: string;
  shortSha: string;
  priority: number;
  note: string;
  waitedSeconds: number;
  holder: string;
  prs: string;
  fencingToken: string;
  statusPage: string;
}

export function acquireSummary(s: AcquireSummary): string {
  const rows = [
    `### mq-lease-service: ${s.result}`,
    "",
    "| | |",
    "|---|---|",
    `| queue | \`${s.queue}\` |`,
    `| run | \`${s.shortSha}\` (priority ${s.priority}) |`,
    `| result | **${s.result}**${s.note ? ` — ${s.note}` : ""} |`,
    `| waited | ${human(s.waitedSeconds)} |`,
    `| holder | ${s.holder || "unknown"} |`,
    `| stacked PRs | ${s.prs || "—"} |`,
    `| fencing token | ${s.fencingToken || "—"} |`,
  ];
  if (s.statusPage) rows.push(`| status page | [${s.statusPage}](${s.statusPage}) |`);
  return `${rows.join("\n")}\n\n`;
}

export interface ReleaseSummary {
  heading: string;
  shortSha: string;
  priority: number;
  jobStatus: string;
  outcome: string;
  answer: string;
  heldSeconds: number;
  fencingToken: string;
}

export function releaseSummary(s: ReleaseSummary): string {
  return (
    [
      `### mq-lease-service: ${s.heading}`,
      "",
      "| | |",
      "|---|---|",
      `| run | \`${s.shortSha}\` (priority ${s.priority}) |`,
      `| job status | ${s.jobStatus} |`,
      `| released as | **${s.outcome}** (service answer: ${s.answer}) |`,
      `| held for | ${human(s.heldSeconds)} |`,
      `| fencing token | ${s.fencingToken || "—"} |`,
    ].join("\n") + "\n\n"
  );
}
