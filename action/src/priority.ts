// The priority without the `priority` input (docs/rules.md §11): how many commits the merge group
// is ahead of its base, from GitHub's compare API through octokit (@actions/github), with
// the `github_token` input. GitHub's API URL comes from GITHUB_API_URL (GitHub Enterprise).
import * as core from "@actions/core";
import { backoffDelay, type MergeGroup } from "./decide";
import { Stop } from "./service";
import { sleep } from "./state";

export async function commitsAhead(
  token: string,
  repository: string,
  group: MergeGroup,
  backoffCap: number,
): Promise<number> {
  const [owner, repo] = [repository.slice(0, repository.indexOf("/")), repository.slice(repository.indexOf("/") + 1)];
  if (token === "") {
    throw new Stop(
      "The 'priority' input is empty, so the action asks GitHub's compare API how many commits the merge group is ahead of its base, but the 'github_token' input is empty too: leave it at its default (the job's token), or set the 'priority' input.",
    );
  }
  if (group.baseSha === "") {
    throw new Stop("The event has no merge_group.base_sha, so the priority cannot be computed; set the 'priority' input.");
  }
  // Loaded only when needed: most of the bundle's size, and most workflows give no reason to load it.
  const { getOctokit } = await import("@actions/github");
  const octokit = getOctokit(token, { request: { retries: 0 } });
  const what = `GET /repos/${repository}/compare/${group.baseSha.slice(0, 12)}...${group.headSha.slice(0, 12)}`;
  let last = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const { data } = await octokit.rest.repos.compareCommitsWithBasehead({
        owner,
        repo,
        basehead: `${group.baseSha}...${group.headSha}`,
        per_page: 1,
      });
      const ahead = Number(data.ahead_by);
      if (Number.isInteger(ahead) && ahead >= 0) {
        if (ahead < 1) {
          core.warning(`GitHub says this merge group is ${ahead} commits ahead of ${group.baseRef}; using priority 1.`, {
            title: "mq-lease-service",
          });
          return 1;
        }
        return ahead;
      }
      last = `no ahead_by in the answer`;
    } catch (e) {
      const err = e as { status?: number; message?: string };
      last = `${err.status ? `HTTP ${err.status}: ` : ""}${(err.message ?? String(e)).split("\n")[0]}`;
      // A refusal will not change on a retry.
      if (err.status === 401 || err.status === 403 || err.status === 404 || err.status === 422) break;
    }
    core.info(`Asking GitHub how many commits this merge group is ahead of ${group.baseRef} failed (try ${attempt} of 3): ${last}`);
    if (attempt < 3) await sleep(backoffDelay(attempt, backoffCap, Math.random()));
  }
  throw new Stop(
    `Could not compute the priority with GitHub's compare API (${what}): ${last}. Check that the 'github_token' input may read the repository (permissions: contents: read), or set the 'priority' input.`,
  );
}
