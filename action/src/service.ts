// Calls to the lease service through @actions/http-client (proxy settings of the runner
// included), with the Authorization header of the `auth` input or the runner's ID token.
import * as core from "@actions/core";
import { HttpClient } from "@actions/http-client";
import type { Answer } from "./decide";

/** A runner's ID token is fetched again when it is this old. */
const OIDC_REFRESH_MS = 240_000;

/** An error the step stops on, with the message shown as its error annotation. */
export class Stop extends Error {}

export class Auth {
  private token = "";
  private fetchedAt = 0;

  /** `auth` is the input: the whole Authorization header value, "" for none, or the word `oidc`. */
  constructor(
    private readonly auth: string,
    private readonly audience: string,
  ) {}

  get isOidc(): boolean {
    return this.auth === "oidc";
  }

  /** The Authorization header value ("" for none). Throws Stop when no ID token can be had. */
  async header(): Promise<string> {
    if (!this.isOidc) return this.auth;
    if (this.token === "" || Date.now() - this.fetchedAt >= OIDC_REFRESH_MS) {
      this.token = await idToken(this.audience);
      this.fetchedAt = Date.now();
    }
    return `Bearer ${this.token}`;
  }
}

/** The runner's ID token for `audience` (docs/rules.md §9); the reasons it may fail, told plainly. */
async function idToken(audience: string): Promise<string> {
  if (audience === "") {
    throw new Stop(
      "'auth' is 'oidc' but the 'oidc_audience' input is empty: set it to the audience the lease service expects (its [auth.github_oidc] audience).",
    );
  }
  if (!process.env.ACTIONS_ID_TOKEN_REQUEST_URL || !process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    throw new Stop(
      "'auth' is 'oidc' but the runner offers this job no ID token: give the job 'permissions: id-token: write'.",
    );
  }
  try {
    // core masks the token (::add-mask::) before anything can print it.
    return await core.getIDToken(audience);
  } catch (e) {
    throw new Stop(
      `Could not get an ID token from the runner (${(e as Error).message.replace(/\s+/g, " ").trim()}); check 'permissions: id-token: write'.`,
    );
  }
}

const USER_AGENT = "mq-lease-service-action";

/**
 * One call. Never throws for transport trouble: that is an answer with code 0 and the
 * reason. `timeoutMs` bounds a silent socket (a held long-poll is silent while held).
 */
export async function call(
  auth: Auth,
  method: "GET" | "POST",
  url: string,
  body: unknown,
  timeoutMs: number,
  accept = "application/json",
): Promise<Answer> {
  const headers: Record<string, string> = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const authorization = await auth.header();
  if (authorization !== "") headers.Authorization = authorization;
  const client = new HttpClient(USER_AGENT, [], { socketTimeout: timeoutMs, allowRetries: false, keepAlive: false });
  const started = Date.now();
  try {
    const res = await client.request(method, url, body === undefined ? null : JSON.stringify(body), headers);
    const text = await res.readBody();
    let parsed: unknown = null;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { code: res.message.statusCode ?? 0, body: parsed, text, ms: Date.now() - started };
  } catch (e) {
    return { code: 0, body: null, text: "", error: describe(e), ms: Date.now() - started };
  } finally {
    client.dispose();
  }
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const message = (err?.message ?? String(e)).replace(/\s+/g, " ").trim();
  return message || err?.code || "transport error";
}
