// Releasing a lease this job won: by a release step, after a `run` command, or by the
// post step. Each stops the heartbeat first (so no heartbeat races the release), retries
// on transport trouble and 5xx, and records an answered release so it is never repeated.
import * as core from "@actions/core";
import {
  backoffDelay,
  human,
  judgeRelease,
  type Lease,
  planRelease,
  releaseBody,
  releaseOutcome,
  releaseSummary,
  serviceError,
} from "./decide";
import { notice, setResult, summary, warning } from "./report";
import { type Auth, call, Stop } from "./service";
import { knobs } from "./settings";
import { type JobState, sleep, stopHeartbeat } from "./state";

export interface Releaser {
  auth: Auth;
  job: JobState;
}

export interface ReleaseHow {
  outcome: "success" | "failure";
  /** The job status the release was asked for (shown in the summary). */
  jobStatus: string;
  /** Who releases: "the release step", "the run step", "the post step". */
  by: string;
  /** Why, for the log and the summary (the post step's reason). */
  why?: string;
  /** Whether the release's answer becomes the step's outputs (not in a post step: it has none). */
  outputs?: boolean;
}

/** Stops the heartbeat of a lease and tells what it reported. */
export async function stopKeepAlive(job: JobState, lease: Lease): Promise<void> {
  const warnings = await stopHeartbeat(job.leaseDir(lease.id));
  if (warnings && warnings.length > 0) {
    core.info("The heartbeat reported:");
    for (const line of warnings) core.info(line);
  }
}

/** Releases `lease` with `how.outcome`; returns the service's answer. Throws Stop when it cannot. */
export async function release(r: Releaser, lease: Lease, how: ReleaseHow): Promise<string> {
  await stopKeepAlive(r.job, lease);
  const shortSha = lease.body.head_sha.slice(0, 12);
  const heldFor = Math.max(0, (Date.now() - lease.acquiredAtMs) / 1000);
  const body = releaseBody(lease, how.outcome);
  core.info(
    how.why
      ? `Releasing the lease held by ${shortSha} with '${how.outcome}': ${how.why}.`
      : `Releasing the lease held by ${shortSha} with '${how.outcome}' (job status '${how.jobStatus}').`,
  );
  for (let attempt = 1; ; attempt++) {
    const answer = await call(r.auth, "POST", `${lease.baseUrl}/release`, body, 30_000);
    const verdict = judgeRelease(answer, how.outcome);
    switch (verdict.kind) {
      case "released": {
        r.job.writeReleased(lease.id, { answer: verdict.answer, outcome: how.outcome, by: how.by, atMs: Date.now() });
        if (how.outputs !== false) setResult(verdict.answer, "[]", lease.fencingToken);
        if (how.outcome === "success") {
          notice(
            `Released the lease of ${shortSha} with success after holding it ${human(heldFor)}: the other runs of this round are told 'completed' (their commits are part of this one).`,
          );
        } else {
          notice(
            `Released the lease of ${shortSha} as failed after holding it ${human(heldFor)}: the next run of the queue with the most commits gets it.`,
          );
        }
        await summary(
          releaseSummary({
            heading: `${how.by === "the post step" ? "post step released the lease" : "released"} (${how.outcome})`,
            shortSha,
            priority: lease.body.priority,
            jobStatus: how.jobStatus,
            outcome: how.outcome,
            answer: verdict.answer,
            heldSeconds: heldFor,
            fencingToken: lease.fencingToken,
          }) + (how.why ? `Why: ${how.why}.\n\n` : ""),
        );
        return verdict.answer;
      }
      case "stale":
        r.job.writeReleased(lease.id, { answer: "refused", outcome: how.outcome, by: how.by, atMs: Date.now() });
        throw new Stop(
          `The release of ${shortSha} was refused: ${serviceError(answer)}. The lease was taken from this run (its fencing token is stale), most likely because it was silent longer than the service's lease_timeout; another run may have used the resource since.`,
        );
      case "refused":
        r.job.writeReleased(lease.id, { answer: "refused", outcome: how.outcome, by: how.by, atMs: Date.now() });
        throw new Stop(
          `The release of ${shortSha} was refused: ${serviceError(answer)}. The lease may have expired or been cleared; check the service.`,
        );
      case "retry":
        if (attempt >= knobs.releaseAttempts) {
          throw new Stop(
            `Could not release the lease held by ${shortSha} after ${attempt} tries: ${verdict.reason}. The lease stays held until the service's lease_timeout ends it; other runs of the queue wait until then.`,
          );
        }
        {
          const delay = backoffDelay(attempt, knobs.backoffCap, Math.random());
          core.info(
            `Release failed (${verdict.reason}); trying again in ${human(delay / 1000)} (try ${attempt} of ${knobs.releaseAttempts}).`,
          );
          await sleep(delay);
        }
        break;
    }
  }
}

/** The release step (`release_with_status` set): releases this job's lease, if it holds one. */
export async function releaseStep(r: Releaser, jobStatus: string): Promise<void> {
  const { outcome, warning: odd } = releaseOutcome(jobStatus);
  if (odd) warning(odd);
  const record = r.job.record();
  const plan = planRelease(record, record?.leaseId ? r.job.released(record.leaseId) : null);
  if (plan.kind === "nothing") {
    core.info(plan.line);
    await summary(`### mq-lease-service: nothing to release\n\n${plan.summary}\n\n`);
    return;
  }
  const lease = r.job.lease(plan.leaseId);
  if (lease === null) {
    throw new Stop(`This job's lease record ${plan.leaseId} is missing from ${r.job.dir}; cannot release it.`);
  }
  await release(r, lease, { outcome, jobStatus, by: "the release step" });
}
