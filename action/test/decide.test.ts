// Unit tests of the action's decisions (src/decide.ts): `node --test`, run by .ci/action.sh.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type Answer,
  acquireBody,
  acquireSummary,
  backoffDelay,
  heartbeatIntervalMs,
  holderOf,
  human,
  judgeAcquire,
  judgeBeat,
  judgeRelease,
  type Lease,
  leaseId,
  mergeGroupOf,
  parseDuration,
  parsePriority,
  planPost,
  planRelease,
  prNumbers,
  queueUrl,
  releaseBody,
  releaseOutcome,
  runOutcome,
  type SavedState,
  scriptFor,
  serviceError,
  shellFor,
  statusPageUrl,
  Story,
  tellBusy,
  tellWaiting,
  timeLeft,
  waitFor,
} from "../src/decide";

const NOW = Date.parse("2026-01-01T10:00:00Z");

function answer(code: number, body: unknown = null, extra: Partial<Answer> = {}): Answer {
  return { code, body, text: body === null ? "" : JSON.stringify(body), ms: 10, ...extra };
}

const LEASE: Lease = {
  id: "abc-t7",
  queue: "acme/shop@main",
  baseUrl: "http://lease/acme/shop/main",
  body: { head_sha: "abc", priority: 3, head_ref: "gh-readonly-queue/main/pr-3-abc" },
  fencingToken: "7",
  stacked: [{ number: 1 }],
  acquiredAtMs: NOW,
};

describe("durations", () => {
  test("the inputs' forms are read as lease.sh read them", () => {
    assert.equal(parseDuration("90"), 90);
    assert.equal(parseDuration("15s"), 15);
    assert.equal(parseDuration("5m"), 300);
    assert.equal(parseDuration("1h30m"), 5400);
    assert.equal(parseDuration("1h2m3s"), 3723);
    for (const bad of ["", "m", "5x", "1.5m", "-3", "5 m"]) assert.equal(parseDuration(bad), null, bad);
  });

  test("human() tells hours, minutes and seconds, and sub-second heartbeats", () => {
    assert.equal(human(0), "0s");
    assert.equal(human(45), "45s");
    assert.equal(human(3723), "1h2m3s");
    assert.equal(human(3600), "1h");
    assert.equal(human(0.5), "500ms");
  });

  test("back-off doubles from 1 s to the cap with half of each step jittered", () => {
    assert.equal(backoffDelay(1, 30, 0), 500);
    assert.equal(backoffDelay(1, 30, 0.999), 1000);
    assert.equal(backoffDelay(2, 30, 0), 1000);
    assert.equal(backoffDelay(5, 30, 0), 8000);
    assert.equal(backoffDelay(6, 30, 0), 15000);
    assert.equal(backoffDelay(60, 30, 1), 30000);
    assert.equal(backoffDelay(3, 2, 0), 1000);
  });

  test("one held call asks for the poll interval, at most 120 s, never past the deadline", () => {
    assert.equal(waitFor(15, 3_600_000), 15);
    assert.equal(waitFor(600, 3_600_000), 120);
    assert.equal(waitFor(15, 2_500), 3);
    assert.equal(waitFor(15, 10), 1);
    assert.equal(timeLeft(NOW + 90_500, NOW), "1m30s left of the timeout.");
  });
});

describe("the event and the request", () => {
  test("refs/heads/ is stripped from head_ref and base_ref (docs/rules.md §7)", () => {
    const group = mergeGroupOf({
      merge_group: {
        head_sha: "abc",
        head_ref: "refs/heads/gh-readonly-queue/release/1.x/pr-3-abc",
        base_sha: "bbb",
        base_ref: "refs/heads/release/1.x",
      },
    });
    assert.deepEqual(group, {
      headSha: "abc",
      headRef: "gh-readonly-queue/release/1.x/pr-3-abc",
      baseSha: "bbb",
      baseRef: "release/1.x",
    });
  });

  test("an event that is not a merge group is refused with what to do", () => {
    for (const payload of [{}, null, { pull_request: {} }, { merge_group: { head_sha: "abc" } }]) {
      const got = mergeGroupOf(payload);
      assert.ok("error" in got && got.error.includes("merge_group"), JSON.stringify(payload));
    }
  });

  test("the queue URL percent-encodes each part, a slashed base branch too", () => {
    assert.equal(queueUrl("https://lease.example.com//", "acme/shop", "release/1.x"), "https://lease.example.com/acme/shop/release%2F1.x");
    assert.equal(statusPageUrl("http://l", "acme/shop", "main"), "http://l/ui/acme/shop/main");
  });

  test("the acquire body leaves out an empty head_ref; the release adds status and a numeric fencing token", () => {
    assert.deepEqual(acquireBody({ headSha: "abc", headRef: "", baseSha: "", baseRef: "main" }, 2), { head_sha: "abc", priority: 2 });
    assert.deepEqual(releaseBody(LEASE, "failure"), { ...LEASE.body, status: "failure", fencing_token: 7 });
    assert.deepEqual(releaseBody({ ...LEASE, fencingToken: "" }, "success"), { ...LEASE.body, status: "success" });
  });

  test("a priority is a whole number of at least 1", () => {
    assert.equal(parsePriority("3"), 3);
    assert.equal(parsePriority("007"), 7);
    for (const bad of ["0", "-1", "1.5", "x", ""]) assert.equal(parsePriority(bad), null, bad);
  });
});

describe("answers to acquire", () => {
  test("acquired carries the fencing token and the stacked pull requests", () => {
    const verdict = judgeAcquire(
      answer(200, { request: { status: "acquired", fencing_token: 12 }, stacked_pull_requests: [{ number: 1 }, { number: 2 }] }),
    );
    assert.deepEqual(verdict, { kind: "acquired", fencingToken: "12", stacked: [{ number: 1 }, { number: 2 }] });
    assert.equal(prNumbers([{ number: 1 }, { number: 2 }, { title: "x" }]), "#1 #2");
  });

  test("each answer is waited on, retried, or ends the step", () => {
    const kind = (a: Answer) => judgeAcquire(a).kind;
    assert.equal(kind(answer(200, { request: { status: "completed" } })), "completed");
    assert.equal(kind(answer(200, { request: { status: "pending" } })), "pending");
    assert.equal(kind(answer(200, { request: { status: "failure" } })), "failed");
    assert.equal(kind(answer(200, { request: { status: "weird" } })), "retry");
    assert.equal(kind(answer(0, null, { error: "connect ECONNREFUSED" })), "retry");
    for (const code of [500, 502, 503, 408, 429]) assert.equal(kind(answer(code)), "retry", String(code));
    assert.equal(kind(answer(409, { error: "busy" })), "busy");
    for (const code of [400, 401, 403, 404, 413, 422]) assert.equal(kind(answer(code)), "refused", String(code));
  });

  test("the service's own words name a failed answer", () => {
    assert.equal(serviceError(answer(401, { error: "missing credentials" })), "HTTP 401: missing credentials");
    assert.equal(serviceError(answer(502, null, { text: "bad gateway\n" })), "HTTP 502: bad gateway ");
    assert.equal(serviceError(answer(500)), "HTTP 500: (empty answer)");
    assert.equal(serviceError(answer(0, null, { error: "timeout" })), "timeout");
  });
});

describe("the story told while waiting", () => {
  test("each reason of docs/rules.md §8 has its line; the key changes only when the state does", () => {
    const stabilising = tellWaiting(
      { waiting: { reason: "stabilising", known: 1, expected: 5, window_ends_at: "2026-01-01T10:03:10Z" } },
      NOW,
    );
    assert.equal(stabilising.key, "stabilising:1:5");
    assert.match(stabilising.text, /^Waiting \(stabilising\): 1 of 5 expected runs .* ends in 3m10s\.$/);
    const held = tellWaiting(
      { waiting: { reason: "lease_held", holder: { head_sha: "1a2b3c4d5e6f7a8b", priority: 3, since: "2026-01-01T09:55:58Z" } } },
      NOW,
    );
    assert.equal(held.key, "lease_held:1a2b3c4d5e6f7a8b");
    assert.equal(held.holder, "1a2b3c4d5e6f7a8b");
    assert.match(held.text, /run 1a2b3c4d5e6f \(priority 3\) holds the lease for 4m2s;/);
    for (const reason of ["higher_priority", "confirming", "paused"]) {
      assert.match(tellWaiting({ waiting: { reason } }, NOW).text, new RegExp(`^Waiting \\(${reason}\\)`));
    }
    assert.equal(tellWaiting({ waiting: { reason: "new_one" } }, NOW).text, "Waiting (new_one).");
    assert.equal(tellWaiting({ request: { status: "pending" } }, NOW).key, "pending");
  });

  test("a 409 names the holder of the earlier round", () => {
    const told = tellBusy({ error: "busy", error_context: { holder: { head_sha: "ffff00001111", since: "2026-01-01T09:59:00Z" } } }, NOW, 30);
    assert.equal(told.key, "busy:ffff00001111");
    assert.match(told.text, /run ffff00001111 holds the lease for 1m\)/);
    assert.match(tellBusy({}, NOW, 30).text, /^The queue is busy with an earlier round, so this run/);
  });

  test("a line is told once per change of state, and again as a reminder", () => {
    const story = new Story(300_000);
    assert.equal(story.tell("a", 0), true);
    assert.equal(story.tell("a", 1_000), false);
    assert.equal(story.tell("b", 2_000), true);
    assert.equal(story.tell("b", 301_999), false);
    assert.equal(story.tell("b", 302_000), true);
  });
});

describe("releases", () => {
  test("the job status maps to the outcome; cancelled is a failure; anything else a failure with a warning", () => {
    assert.deepEqual(releaseOutcome("success"), { outcome: "success" });
    assert.deepEqual(releaseOutcome("failure"), { outcome: "failure" });
    assert.deepEqual(releaseOutcome("cancelled"), { outcome: "failure" });
    const odd = releaseOutcome("skipped");
    assert.equal(odd.outcome, "failure");
    assert.match(odd.warning ?? "", /'skipped' is not success/);
  });

  test("answers to a release: done, retried, or refused", () => {
    assert.deepEqual(judgeRelease(answer(200, { request: { status: "completed" } }), "success"), { kind: "released", answer: "completed" });
    assert.deepEqual(judgeRelease(answer(200, null), "failure"), { kind: "released", answer: "failure" });
    assert.equal(judgeRelease(answer(503), "failure").kind, "retry");
    assert.equal(judgeRelease(answer(0, null, { error: "reset" }), "failure").kind, "retry");
    assert.equal(judgeRelease(answer(409), "failure").kind, "stale");
    assert.equal(judgeRelease(answer(400), "failure").kind, "refused");
  });

  test("a release step releases only the job's own acquired lease, and only once (docs/rules.md §7)", () => {
    assert.equal(planRelease(null, null).kind, "nothing");
    const timedOut = planRelease({ status: "timeout" }, null);
    assert.ok(timedOut.kind === "nothing" && timedOut.line.includes("its acquire ended 'timeout'"));
    const completed = planRelease({ status: "completed" }, null);
    assert.ok(completed.kind === "nothing" && completed.line.includes("nothing to release"));
    assert.deepEqual(planRelease({ status: "acquired", leaseId: "x" }, null), { kind: "release", leaseId: "x" });
    const twice = planRelease({ status: "acquired", leaseId: "x" }, { answer: "failure", outcome: "failure", by: "the run step", atMs: 0 });
    assert.ok(twice.kind === "nothing" && twice.line.includes("already released"));
  });
});

describe("the post step (docs/rules.md §11)", () => {
  const saved = (over: Partial<SavedState>): SavedState => ({
    phase: "acquire",
    ended: "acquired",
    leaseId: "abc-t7",
    headSha: "abc",
    baseUrl: "http://lease/acme/shop/main",
    ...over,
  });
  const done = { answer: "completed", outcome: "success", by: "the release step", atMs: 0 };

  test("a lease won and never released is released as failure", () => {
    const plan = planPost(saved({}), null);
    assert.equal(plan.kind, "release");
    assert.ok(plan.kind === "release" && plan.why.includes("no release step released it"));
    const run = planPost(saved({ phase: "run" }), null);
    assert.ok(run.kind === "release" && run.why.includes("'run' command was stopped"));
  });

  test("a released lease is never released again", () => {
    const plan = planPost(saved({}), done);
    assert.equal(plan.kind, "nothing");
    assert.ok(plan.kind === "nothing" && plan.why.includes("already released"));
    assert.equal(planPost(saved({ phase: "run" }), done).kind, "nothing");
  });

  test("a lease this job did not win is never released", () => {
    for (const ended of ["completed", "timeout", "failure"]) {
      const plan = planPost(saved({ ended, leaseId: "" }), null);
      assert.ok(plan.kind === "nothing" && plan.why.includes(`ended '${ended}'`), ended);
    }
    assert.equal(planPost(saved({ phase: "release", ended: "", leaseId: "" }), null).kind, "nothing");
    assert.equal(planPost(saved({ phase: "", ended: "", leaseId: "" }), null).kind, "nothing");
  });

  test("an acquire stopped while waiting asks the service who holds the lease", () => {
    assert.equal(planPost(saved({ ended: "", leaseId: "" }), null).kind, "check-holder");
    assert.deepEqual(holderOf({ acquired: { request: { head_sha: "abc", status: "acquired", fencing_token: 4 } } }), {
      headSha: "abc",
      status: "acquired",
      fencingToken: "4",
    });
    assert.deepEqual(holderOf({ acquired: null }), { headSha: "", status: "", fencingToken: "" });
  });
});

describe("the run input", () => {
  test("exit 0 is success; anything else, a signal or a cancellation is failure", () => {
    assert.equal(runOutcome(0, null, false).outcome, "success");
    assert.equal(runOutcome(1, null, false).outcome, "failure");
    assert.equal(runOutcome(null, "SIGKILL", false).outcome, "failure");
    assert.equal(runOutcome(0, null, true).outcome, "failure");
    assert.match(runOutcome(3, null, false).told, /code 3/);
  });

  test("the shell is the runner's default: bash (sh without it), pwsh or powershell on Windows", () => {
    const all = () => true;
    const none = () => false;
    assert.deepEqual(shellFor("linux", all).args("/t/x.sh"), ["--noprofile", "--norc", "-eo", "pipefail", "/t/x.sh"]);
    assert.equal(shellFor("darwin", all).command, "bash");
    assert.equal(shellFor("linux", none).command, "sh");
    assert.equal(shellFor("win32", all).command, "pwsh");
    assert.equal(shellFor("win32", none).command, "powershell");
    assert.equal(shellFor("win32", all).args("C:\\t\\it's.ps1").at(-1), ". 'C:\\t\\it''s.ps1'");
    assert.match(scriptFor("win32", "echo hi"), /exit \$LASTEXITCODE/);
    assert.equal(scriptFor("linux", "echo hi"), "echo hi\n");
  });
});

describe("the heartbeat", () => {
  test("it beats every quarter of lease_timeout, every minute when the service has none", () => {
    assert.equal(heartbeatIntervalMs({ config: { lease_timeout: 600 } }), 150_000);
    assert.equal(heartbeatIntervalMs({ config: { lease_timeout: 4 } }), 1_000);
    assert.equal(heartbeatIntervalMs({ config: { lease_timeout: 2 } }), 500);
    assert.equal(heartbeatIntervalMs({ config: { lease_timeout: 0 } }), 60_000);
    assert.equal(heartbeatIntervalMs(null), 60_000);
  });

  test("it stops when the lease is gone and keeps trying when the service is away", () => {
    assert.equal(judgeBeat(answer(200, { request: { status: "acquired" } })), "alive");
    assert.equal(judgeBeat(answer(200, { request: { status: "pending" } })), "lost");
    for (const code of [400, 401, 403, 404]) assert.equal(judgeBeat(answer(code)), "lost");
    for (const code of [0, 409, 500, 503]) assert.equal(judgeBeat(answer(code)), "unreachable");
  });

  test("lease ids are unique per grant and safe as a directory name", () => {
    assert.equal(leaseId("abc/def..", "7", 1), "abcdef-t7");
    assert.equal(leaseId("abc", "", 1234), "abc-at1234");
  });
});

describe("the job summary", () => {
  test("the acquire's summary is a table with the status page when there is one", () => {
    const md = acquireSummary({
      result: "acquired",
      queue: "acme/shop@main",
      shortSha: "abc",
      priority: 2,
      note: "",
      waitedSeconds: 65,
      holder: "this run",
      prs: "#1 #2",
      fencingToken: "4",
      statusPage: "http://l/ui/acme/shop/main",
    });
    for (const row of [
      "### mq-lease-service: acquired",
      "| queue | `acme/shop@main` |",
      "| run | `abc` (priority 2) |",
      "| result | **acquired** |",
      "| waited | 1m5s |",
      "| holder | this run |",
      "| stacked PRs | #1 #2 |",
      "| fencing token | 4 |",
      "| status page | [http://l/ui/acme/shop/main](http://l/ui/acme/shop/main) |",
    ]) {
      assert.ok(md.includes(row), row);
    }
  });
});
