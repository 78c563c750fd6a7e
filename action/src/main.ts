// The action's main step. One of three, by its inputs:
//   release_with_status set  release this job's lease (release.ts)
//   run set                  acquire; if acquired, run the command and release with its outcome
//   neither                  acquire (acquire.ts); a later step or the post step releases
import * as core from "@actions/core";
import { join } from "node:path";
import { acquire, type Ctx } from "./acquire";
import { runOutcome } from "./decide";
import { release, releaseStep } from "./release";
import { runPhase, notice, setResult } from "./report";
import { runCommand } from "./run";
import { Auth, Stop } from "./service";
import { endpoint, input, jobDir } from "./settings";
import { JobState } from "./state";

async function main(): Promise<void> {
  const releaseWith = input("release_with_status");
  const command = input("run");
  const phase = releaseWith !== "" ? "release" : command !== "" ? "run" : "acquire";
  core.saveState("phase", phase);
  if (releaseWith !== "" && command !== "") {
    throw new Stop("Set either 'run' (acquire, run, release in one step) or 'release_with_status' (a release step), not both.");
  }
  const url = endpoint();
  if (url === "") {
    throw new Stop("The 'endpoint' input is empty: give the URL of the lease service (e.g. https://lease.example.com).");
  }
  const auth = new Auth(input("auth"), input("oidc_audience"));
  const ctx: Ctx = { auth, endpoint: url, job: new JobState(jobDir()) };
  if (auth.isOidc) await auth.header(); // stop at once if no ID token can be had

  if (phase === "release") {
    await releaseStep(ctx, releaseWith);
    return;
  }

  // A cancellation while waiting ends the step; the post step then checks whether
  // the service granted the lease to the call that was in flight.
  const cancelWait = (sig: NodeJS.Signals) => {
    core.info(`The step was cancelled (${sig}) while waiting for the lease; the post step checks whether it was granted.`);
    process.exit(1);
  };
  process.on("SIGINT", cancelWait);
  process.on("SIGTERM", cancelWait);
  const ended = await acquire(ctx);
  process.off("SIGINT", cancelWait);
  process.off("SIGTERM", cancelWait);
  if (phase === "acquire") return;

  if (ended.result === "completed" || ended.lease === undefined) {
    core.info("The 'run' command is skipped: a run that contains this run's commits already used the resource successfully.");
    return;
  }
  const lease = ended.lease;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // The command sees the job's environment, not this action's inputs (they may hold the service's credentials).
    if (!k.startsWith("INPUT_")) env[k] = v;
  }
  env.MQ_LEASE_FENCING_TOKEN = lease.fencingToken;
  env.MQ_LEASE_STACKED_PULL_REQUESTS = JSON.stringify(lease.stacked);
  const run = await runCommand(command, join(ctx.job.dir, "run"), env, (line) => core.info(line));
  // From here on the step only releases: a second cancellation signal must not stop it half-way.
  const steady = () => core.info("Still releasing the lease; stopping right after.");
  if (run.cancelled) {
    process.on("SIGINT", steady);
    process.on("SIGTERM", steady);
  }
  const { outcome, told } = runOutcome(run.exitCode, run.signal, run.cancelled);
  const answer = await release(ctx, lease, {
    outcome,
    jobStatus: outcome === "success" ? "success" : run.cancelled ? "cancelled" : "failure",
    by: "the run step",
    why: told,
  });
  setResult(answer, JSON.stringify(lease.stacked), lease.fencingToken);
  if (outcome === "success") {
    notice(`The 'run' command succeeded; the lease was released with success (service answer '${answer}').`);
  } else {
    throw new Stop(`The 'run' command failed (${told}); the lease was released as failed (service answer '${answer}').`);
  }
}

runPhase(main);
