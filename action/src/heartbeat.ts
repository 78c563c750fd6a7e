// The background heartbeat: repeats the holder's acquire call every interval so the
// service sees the holder alive (docs/rules.md §6, §13), from the acquire step's end until the
// release or the post step stops it (they remove its pid file and end the process).
// Started detached by the acquire step (state.ts); writes its warnings to heartbeat.log.
import { judgeBeat, requestStatus, serviceError } from "./decide";
import { Auth, call, Stop } from "./service";
import { HEARTBEAT_ENV, type HeartbeatJob, heartbeatWanted, sleep } from "./state";

/** A job lasts hours at most; a heartbeat never outlives a day, whatever happens. */
const MAX_LIFE_MS = 24 * 3600 * 1000;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env[HEARTBEAT_ENV] ?? "{}") as HeartbeatJob;
  if (!job.leaseDir || !job.url) {
    log("WARN heartbeat: started without a job; stopping");
    return;
  }
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => process.exit(0));
  const auth = new Auth(process.env.INPUT_AUTH ?? "", process.env.INPUT_OIDC_AUDIENCE ?? "");
  const started = Date.now();
  while (Date.now() - started < MAX_LIFE_MS) {
    await sleep(job.intervalMs);
    if (!heartbeatWanted(job.leaseDir, process.pid)) return;
    let answer;
    try {
      answer = await call(auth, "POST", job.url, job.body, 30_000);
    } catch (e) {
      log(`WARN heartbeat: ${e instanceof Stop ? e.message : String(e)}; will try again`);
      continue;
    }
    switch (judgeBeat(answer)) {
      case "alive":
        break;
      case "lost":
        log(
          `WARN heartbeat: the lease is no longer held (${answer.code === 200 ? `the service answers '${requestStatus(answer)}'` : serviceError(answer)}); stopping`,
        );
        return;
      case "unreachable":
        log(`WARN heartbeat: could not reach the lease service (${serviceError(answer)}); will try again`);
        break;
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    log(`WARN heartbeat: ${String(e)}`);
    process.exit(0);
  },
);
