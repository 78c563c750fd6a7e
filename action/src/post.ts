// The post step (`post-if: always()`, docs/rules.md §11): GitHub runs it at the end of the job,
// after a failure or a cancellation too. A lease this step won that no release has
// answered yet is released as failure; otherwise only the heartbeat is stopped. It never
// releases a lease this job did not win, and never twice.
import * as core from "@actions/core";
import { holderOf, type Lease, planPost, type SavedState } from "./decide";
import { release, stopKeepAlive } from "./release";
import { runPhase, summary } from "./report";
import { Auth, call, Stop } from "./service";
import { jobDir, input } from "./settings";
import { JobState } from "./state";

async function post(): Promise<void> {
  const saved: SavedState = {
    phase: core.getState("phase"),
    ended: core.getState("ended"),
    leaseId: core.getState("lease_id"),
    headSha: core.getState("head_sha"),
    baseUrl: core.getState("base_url"),
  };
  const job = new JobState(jobDir());
  const plan = planPost(saved, saved.leaseId ? job.released(saved.leaseId) : null);
  const auth = new Auth(input("auth"), input("oidc_audience"));
  const lease = saved.leaseId ? job.lease(saved.leaseId) : null;

  switch (plan.kind) {
    case "nothing":
      if (lease) await stopKeepAlive(job, lease);
      core.info(`mq-lease-service post step: nothing to release: ${plan.why}.`);
      if (saved.phase !== "release" && saved.phase !== "") {
        await summary(`### mq-lease-service post step: nothing to release\n\nNothing to release: ${plan.why}.\n\n`);
      }
      return;
    case "release": {
      if (lease === null) throw new Stop(`This job's lease record ${plan.leaseId} is missing from ${job.dir}; cannot release it.`);
      core.info(`mq-lease-service post step: this job still holds the lease: ${plan.why}. Releasing it as failure.`);
      await release({ auth, job }, lease, { outcome: "failure", jobStatus: "(job ended)", by: "the post step", why: plan.why, outputs: false });
      return;
    }
    case "check-holder": {
      const view = await call(auth, "GET", saved.baseUrl, undefined, 15_000);
      const holder = view.code === 200 ? holderOf(view.body) : { headSha: "", status: "", fencingToken: "" };
      if (holder.headSha === "" || holder.headSha !== saved.headSha || holder.status !== "acquired") {
        const why = `${plan.why}; the service shows ${view.code === 200 ? "no lease held by this run" : `nothing (HTTP ${view.code || "no answer"})`}, so this job never held the lease`;
        core.info(`mq-lease-service post step: nothing to release: ${why}.`);
        await summary(`### mq-lease-service post step: nothing to release\n\nNothing to release: ${why}.\n\n`);
        return;
      }
      const found: Lease = {
        id: `${saved.headSha.slice(0, 12)}-stopped`,
        queue: saved.baseUrl,
        baseUrl: saved.baseUrl,
        body: JSON.parse(core.getState("body") || "{}"),
        fencingToken: holder.fencingToken,
        stacked: [],
        acquiredAtMs: Date.now(),
      };
      const why = `${plan.why}, and the service shows this run as the holder`;
      core.info(`mq-lease-service post step: ${why}. Releasing it as failure.`);
      await release({ auth, job }, found, { outcome: "failure", jobStatus: "(job ended)", by: "the post step", why, outputs: false });
      return;
    }
  }
}

runPhase(post);
