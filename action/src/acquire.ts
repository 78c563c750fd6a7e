// The acquire step: register, wait (long-poll, `?wait=`), and on `acquired` show a sign
// of life at once and leave a heartbeat running for the rest of the job.
import * as core from "@actions/core";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AcquireBody,
  acquireBody,
  acquireSummary,
  answeredAtOnce,
  backoffDelay,
  heartbeatIntervalMs,
  human,
  isRepository,
  judgeAcquire,
  judgeBeat,
  type Lease,
  leaseId,
  mergeGroupOf,
  type MergeGroup,
  parseDuration,
  parsePriority,
  prNumbers,
  queueUrl,
  serviceError,
  statusPageUrl,
  Story,
  tellBusy,
  tellWaiting,
  timeLeft,
  type Told,
  waitFor,
} from "./decide";
import { commitsAhead } from "./priority";
import { Group, notice, setResult, summary } from "./report";
import { type Auth, call, Stop } from "./service";
import { eventPath, input, knobs } from "./settings";
import { type JobState, sleep, startHeartbeat } from "./state";

export interface Ctx {
  auth: Auth;
  endpoint: string;
  job: JobState;
}

/** Where the acquire ended; `lease` only for `acquired`. */
export interface AcquireEnd {
  result: "acquired" | "completed";
  lease?: Lease;
}

interface Request {
  repository: string;
  group: MergeGroup;
  priority: number;
  priorityFrom: string;
  queue: string;
  baseUrl: string;
  body: AcquireBody;
  timeout: number;
  poll: number;
}

/** Reads the inputs and the event into the request to make; throws Stop with what to fix. */
async function request(ctx: Ctx): Promise<Request> {
  const repository = process.env.GITHUB_REPOSITORY ?? "";
  if (!isRepository(repository)) throw new Stop(`GITHUB_REPOSITORY must be 'owner/name' (got '${repository}').`);
  const path = eventPath();
  let payload: unknown;
  try {
    payload = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    throw new Stop(
      `No event payload at GITHUB_EVENT_PATH='${path}'. This action runs in workflows triggered by 'merge_group'.`,
    );
  }
  const group = mergeGroupOf(payload);
  if ("error" in group) throw new Stop(group.error);
  const timeout = parseDuration(input("timeout") || "60m");
  if (timeout === null) {
    throw new Stop(`The 'timeout' input '${input("timeout")}' is not a duration like 60m, 1h30m, 90s or 90.`);
  }
  const pollInput = parseDuration(input("poll_interval") || "15s");
  if (pollInput === null) {
    throw new Stop(`The 'poll_interval' input '${input("poll_interval")}' is not a duration like 15s or 15.`);
  }
  let priority: number;
  let priorityFrom: string;
  if (input("priority") !== "") {
    const given = parsePriority(input("priority"));
    if (given === null) {
      throw new Stop(`The 'priority' input must be a whole number of at least 1 (got '${input("priority")}').`);
    }
    priority = given;
    priorityFrom = "given as input";
  } else {
    priority = await commitsAhead(input("github_token"), repository, group, knobs.backoffCap);
    priorityFrom = `commits ahead of ${group.baseRef}`;
  }
  return {
    repository,
    group,
    priority,
    priorityFrom,
    queue: `${repository}@${group.baseRef}`,
    baseUrl: queueUrl(ctx.endpoint, repository, group.baseRef),
    body: acquireBody(group, priority),
    timeout,
    poll: Math.max(1, pollInput),
  };
}

/**
 * The whole acquire: returns how it ended when the run may go on (acquired, completed),
 * throws Stop (the step fails) for a timeout, a refusal or a run the service failed.
 */
export async function acquire(ctx: Ctx): Promise<AcquireEnd> {
  const req = await request(ctx);
  // For the post step: what to look for if this step is stopped while it waits.
  core.saveState("head_sha", req.group.headSha);
  core.saveState("base_url", req.baseUrl);
  core.saveState("body", JSON.stringify(req.body));
  ctx.job.writeRecord({ status: "waiting", headSha: req.group.headSha });

  const shortSha = req.group.headSha.slice(0, 12);
  const started = Date.now();
  const deadline = started + req.timeout * 1000;
  const story = new Story(knobs.remindEvery * 1000);
  const group = new Group();
  let lastHolder = "";
  let lastReason = "";
  let attempt = 0;
  const waited = () => (Date.now() - started) / 1000;
  const tell = (told: Told) => {
    if (told.holder !== "") lastHolder = told.holder;
    lastReason = told.reason;
    if (story.tell(told.key, Date.now())) core.info(`${told.text} ${timeLeft(deadline, Date.now())}`);
  };
  const retryLater = async () => {
    attempt += 1;
    await sleep(Math.min(backoffDelay(attempt, knobs.backoffCap, Math.random()), deadline - Date.now()));
  };
  const summaryOf = (result: string, note: string, extra: { prs?: string; token?: string; holder?: string } = {}) =>
    statusPage(ctx, req).then((page) =>
      acquireSummary({
        result,
        queue: req.queue,
        shortSha,
        priority: req.priority,
        note,
        waitedSeconds: waited(),
        holder: extra.holder ?? lastHolder.slice(0, 12),
        prs: extra.prs ?? "",
        fencingToken: extra.token ?? "",
        statusPage: page,
      }),
    );
  const end = (status: string) => {
    ctx.job.writeRecord({ status, headSha: req.group.headSha });
    core.saveState("ended", status);
  };

  group.start(`Lease of ${req.queue} for ${shortSha} (priority ${req.priority}, ${req.priorityFrom})`);
  core.info(`Asking ${ctx.endpoint}; giving up after ${human(req.timeout)} (the 'timeout' input).`);
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      end("timeout");
      setResult("timeout");
      group.end();
      await summary(
        await summaryOf("timeout", `gave up after the 'timeout' input${lastReason ? `; last reason: ${lastReason}` : ""}`),
      );
      throw new Stop(
        `Gave up waiting for the lease after ${human(req.timeout)} (the 'timeout' input)${lastReason ? `; the last reason given: ${lastReason}` : ""}${lastHolder ? ` (holder ${lastHolder.slice(0, 12)})` : ""}. Another run may hold it for longer, or the service may be unreachable.`,
      );
    }
    const wait = waitFor(req.poll, remaining);
    const answer = await call(ctx.auth, "POST", `${req.baseUrl}/acquire?wait=${wait}s`, req.body, (wait + 15) * 1000);
    const verdict = judgeAcquire(answer);
    switch (verdict.kind) {
      case "acquired": {
        const lease: Lease = {
          id: leaseId(req.group.headSha, verdict.fencingToken, Date.now()),
          queue: req.queue,
          baseUrl: req.baseUrl,
          body: req.body,
          fencingToken: verdict.fencingToken,
          stacked: verdict.stacked,
          acquiredAtMs: Date.now(),
        };
        ctx.job.writeLease(lease);
        ctx.job.writeRecord({ status: "acquired", leaseId: lease.id, headSha: req.group.headSha });
        core.saveState("lease_id", lease.id);
        core.saveState("ended", "acquired");
        setResult("acquired", JSON.stringify(verdict.stacked), verdict.fencingToken);
        await keepAlive(ctx, lease);
        group.end();
        const prs = prNumbers(verdict.stacked);
        notice(
          `This run holds the lease of ${req.queue} after ${human(waited())}${verdict.fencingToken ? ` (fencing token ${verdict.fencingToken})` : ""}; it tests the pull requests ${prs || "(none listed)"}. It is released by a later step with 'release_with_status' (with 'if: always()'), or else as failed by this action's post step at the end of the job.`,
        );
        await summary(await summaryOf("acquired", "", { prs, token: verdict.fencingToken, holder: "this run" }));
        return { result: "acquired", lease };
      }
      case "completed":
        end("completed");
        setResult("completed");
        group.end();
        notice(
          `Completed after ${human(waited())}: a run that contains this run's commits${lastHolder ? ` (${lastHolder.slice(0, 12)})` : ""} used the shared resource successfully, so this run need not use it.`,
        );
        await summary(await summaryOf("completed", "a run containing these commits succeeded"));
        return { result: "completed" };
      case "pending":
        attempt = 0;
        tell(tellWaiting(answer.body, Date.now()));
        // A service that ignores ?wait answers at once: poll instead.
        if (answeredAtOnce(answer, wait)) await sleep(Math.min(req.poll * 1000, deadline - Date.now()));
        break;
      case "failed":
        end("failure");
        setResult("failure");
        group.end();
        await summary(await summaryOf("failure", "the service reports this run as failed"));
        throw new Stop(`The lease service reports this run (${shortSha}) as failed; it will not get the lease.`);
      case "busy":
        {
          const told = tellBusy(answer.body, Date.now(), knobs.backoffCap);
          tell(told);
        }
        await retryLater();
        break;
      case "retry":
        tell({
          key: verdict.key,
          text: `${verdict.reason}; trying again (every ${knobs.backoffCap}s at most).`,
          holder: "",
          reason: lastReason,
        });
        await retryLater();
        break;
      case "refused":
        end("failure");
        setResult("failure");
        group.end();
        await summary(await summaryOf("failure", `the service refused the acquire: ${serviceError(answer)}`));
        throw new Stop(`The lease service refused the acquire for ${shortSha}: ${serviceError(answer)}`);
    }
  }
}

/**
 * Right after the grant: one acquire call as the holder, so the service knows this
 * holder can be heard from (docs/rules.md §13: only such a holder is subject to lease_timeout),
 * then a heartbeat in the background every quarter of the service's lease_timeout.
 */
async function keepAlive(ctx: Ctx, lease: Lease): Promise<void> {
  const url = `${lease.baseUrl}/acquire`;
  let beat = await call(ctx.auth, "POST", url, lease.body, 15_000);
  for (let i = 1; i < 3 && judgeBeat(beat) === "unreachable"; i++) {
    await sleep(backoffDelay(i, 2, Math.random()));
    beat = await call(ctx.auth, "POST", url, lease.body, 15_000);
  }
  const verdict = judgeBeat(beat);
  if (verdict !== "alive") {
    core.warning(
      `The first heartbeat after the grant was not answered 'acquired' (${serviceError(beat)}); the background heartbeat keeps trying.`,
      { title: "mq-lease-service" },
    );
  }
  const view = await call(ctx.auth, "GET", lease.baseUrl, undefined, 15_000);
  const intervalMs = heartbeatIntervalMs(view.code === 200 ? view.body : null);
  startHeartbeat(
    { leaseDir: ctx.job.leaseDir(lease.id), url, body: lease.body, intervalMs },
    join(__dirname, "heartbeat.js"),
  );
  core.info(`Keeping the lease alive in the background: a heartbeat every ${human(intervalMs / 1000)}.`);
}

/** The service's status page of this queue, if it serves one to these credentials (probed once), else "". */
async function statusPage(ctx: Ctx, req: Request): Promise<string> {
  if (!process.env.GITHUB_STEP_SUMMARY) return "";
  const url = statusPageUrl(ctx.endpoint, req.repository, req.group.baseRef);
  try {
    const answer = await call(ctx.auth, "GET", url, undefined, 10_000, "text/html");
    return answer.code === 200 ? url : "";
  } catch {
    return "";
  }
}
