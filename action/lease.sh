#!/usr/bin/env bash
# Acquire or release the merge-queue lease of mq-lease-service.
#
# Run by action.yml as one composite step. It must work on GitHub-hosted Linux
# and macOS runners: bash 3.2 (no associative arrays, no mapfile, no ${v,,}),
# BSD tools, and nothing beyond curl, jq and gh.
#
# Modes:
#   lease.sh              acquire (INPUT_RELEASE_WITH_STATUS empty) or release
#   lease.sh heartbeat    internal: keeps an acquired lease alive in the background
#
# Inputs (environment, set by action.yml):
#   INPUT_ENDPOINT / INPUT_LEASE_SERVICE_URL  service URL (the second is an alias)
#   INPUT_AUTH                                value of the Authorization header (optional);
#                                             'oidc': send the runner's ID token as a bearer token
#   INPUT_OIDC_AUDIENCE                       audience of that ID token (needed with auth: oidc)
#   INPUT_RELEASE_WITH_STATUS                 empty = acquire; else job.status to release with
#   INPUT_PRIORITY                            priority override (optional)
#   INPUT_TIMEOUT                             how long acquire may wait overall (60m)
#   INPUT_POLL_INTERVAL                       how long one waiting acquire is held (15s)
# From the runner: GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
# RUNNER_TEMP, GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT, GITHUB_JOB, GH_TOKEN, and with
# 'permissions: id-token: write' ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN.
#
# Tuning knobs (environment; defaults suit real use, tests lower them):
#   MQ_LEASE_BACKOFF_CAP       longest pause between retries, seconds (30)
#   MQ_LEASE_RELEASE_ATTEMPTS  how often a release is tried before the step fails (8)
#   MQ_LEASE_REMIND_EVERY      while nothing changes, repeat the waiting line this often, seconds (300)
#   MQ_LEASE_EVENT_PATH        read the merge_group event from this file instead of
#                              GITHUB_EVENT_PATH (the self-test workflow plays several runs)
set -euo pipefail

SELF="${BASH_SOURCE[0]}"
BACKOFF_CAP="${MQ_LEASE_BACKOFF_CAP:-30}"
RELEASE_ATTEMPTS="${MQ_LEASE_RELEASE_ATTEMPTS:-8}"
REMIND_EVERY="${MQ_LEASE_REMIND_EVERY:-300}"
# A runner's ID token is fetched again when it is this old (seconds).
OIDC_REFRESH=240
# The service holds a waiting acquire for at most this long.
MAX_WAIT=120

# ---------------------------------------------------------------- logging

log() { printf '%s\n' "$*" >&2; }
warn() { printf '::warning title=mq-lease-service::%s\n' "$*" >&2; }
notice() { printf '::notice title=mq-lease-service::%s\n' "$*" >&2; }

# The waiting is told inside one collapsible group of the step's log.
GROUP_OPEN=0
begin_group() {
  printf '::group::%s\n' "$*" >&2
  GROUP_OPEN=1
}
end_group() {
  if [ "$GROUP_OPEN" = 1 ]; then printf '::endgroup::\n' >&2; fi
  GROUP_OPEN=0
}

# fail MESSAGE: report an error annotation and stop the step.
fail() {
  end_group
  printf '::error title=mq-lease-service::%s\n' "$*" >&2
  exit 1
}

# story KEY LINE: logs LINE when the state KEY differs from the last one told (and,
# while nothing changes, again every REMIND_EVERY seconds): one line per change, not per poll.
STORY_KEY=""
STORY_AT=0
story() {
  local key="$1" t
  shift
  t="$(now)"
  if [ "$key" != "$STORY_KEY" ] || [ $((t - STORY_AT)) -ge "$REMIND_EVERY" ]; then
    log "$*"
    STORY_KEY="$key"
    STORY_AT="$t"
  fi
}

# summary LINE...: appends markdown lines to the job summary (when the runner gives one).
summary() {
  [ -n "${GITHUB_STEP_SUMMARY:-}" ] || return 0
  printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY" 2>/dev/null || true
}

# ---------------------------------------------------------------- helpers

now() { date +%s; }

# parse_duration TEXT: prints whole seconds for "90", "15s", "5m", "1h30m".
parse_duration() {
  local text="$1" rest total=0 re='^([0-9]+)([hms])(.*)$'
  if [[ "$text" =~ ^[0-9]+$ ]]; then
    printf '%s\n' "$((10#$text))"
    return 0
  fi
  rest="$text"
  [ -n "$rest" ] || return 1
  while [ -n "$rest" ]; do
    if [[ "$rest" =~ $re ]]; then
      case "${BASH_REMATCH[2]}" in
        h) total=$((total + 10#${BASH_REMATCH[1]} * 3600)) ;;
        m) total=$((total + 10#${BASH_REMATCH[1]} * 60)) ;;
        s) total=$((total + 10#${BASH_REMATCH[1]})) ;;
      esac
      rest="${BASH_REMATCH[3]}"
    else
      return 1
    fi
  done
  printf '%s\n' "$total"
}

# human SECONDS: "1h2m3s", "45s".
human() {
  local s="$1" out=""
  if [ "$s" -ge 3600 ]; then out="$((s / 3600))h"; s=$((s % 3600)); fi
  if [ "$s" -ge 60 ]; then out="${out}$((s / 60))m"; s=$((s % 60)); fi
  if [ "$s" -gt 0 ] || [ -z "$out" ]; then out="${out}${s}s"; fi
  printf '%s\n' "$out"
}

# backoff_delay ATTEMPT: capped exponential back-off (1, 2, 4 … BACKOFF_CAP
# seconds) with jitter: half the step fixed, the other half random.
backoff_delay() {
  local attempt="$1" step=1 i=1 half
  while [ "$i" -lt "$attempt" ] && [ "$step" -lt "$BACKOFF_CAP" ]; do
    step=$((step * 2))
    i=$((i + 1))
  done
  if [ "$step" -gt "$BACKOFF_CAP" ]; then step="$BACKOFF_CAP"; fi
  if [ "$step" -lt 1 ]; then step=1; fi
  half=$((step / 2))
  printf '%s\n' "$((step - half + RANDOM % (half + 1)))"
}

# set_output NAME VALUE: one step output (heredoc form, safe for any value).
set_output() {
  local name="$1" value="$2" delim
  if [ -z "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$name" "$value"
    return 0
  fi
  delim="mq_lease_$(now)_${RANDOM}${RANDOM}"
  {
    printf '%s<<%s\n' "$name" "$delim"
    printf '%s\n' "$value"
    printf '%s\n' "$delim"
  } >>"$GITHUB_OUTPUT"
}

# set_result STATUS [STACKED_JSON] [FENCING_TOKEN]
set_result() {
  set_output result "$1"
  set_output status "$1"
  set_output stacked_pull_requests "${2:-[]}"
  set_output fencing_token "${3:-}"
}

require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is needed on the runner but was not found on PATH."
  done
}

# ---------------------------------------------------------------- inputs and state

load_common() {
  ENDPOINT="${INPUT_ENDPOINT:-${INPUT_LEASE_SERVICE_URL:-}}"
  while [ "${ENDPOINT%/}" != "$ENDPOINT" ]; do ENDPOINT="${ENDPOINT%/}"; done
  [ -n "$ENDPOINT" ] || fail "The 'endpoint' input is empty: give the URL of the lease service (e.g. https://lease.example.com)."
  AUTH="${INPUT_AUTH:-}"

  local base="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"
  STATE_DIR="$base/mq-lease-service/${GITHUB_RUN_ID:-local}-${GITHUB_RUN_ATTEMPT:-1}-${GITHUB_JOB:-job}"
  STATE_FILE="$STATE_DIR/state.json"
  PID_FILE="$STATE_DIR/heartbeat.pid"
  HEARTBEAT_LOG="$STATE_DIR/heartbeat.log"
  WORK_DIR="$(mktemp -d "${base%/}/mq-lease.XXXXXX")"
  # The heartbeat keeps its own work dir; the step's is removed on exit.
  trap 'rm -rf "$WORK_DIR"' EXIT

  HEADERS="$WORK_DIR/headers"
  OIDC_AT=0
  if [ "$AUTH" = oidc ]; then
    refresh_oidc_headers "$HEADERS" || fail "$OIDC_ERROR"
  else
    write_headers "$HEADERS" "$AUTH"
  fi
}

# write_headers FILE AUTHORIZATION: the headers of every call (the file is private:
# it may hold a secret, which then never appears on a command line).
write_headers() {
  (
    umask 077
    printf 'Content-Type: application/json\nAccept: application/json\n' >"$1.tmp"
    if [ -n "$2" ]; then printf 'Authorization: %s\n' "$2" >>"$1.tmp"; fi
  )
  mv "$1.tmp" "$1"
}

# refresh_oidc_headers FILE: asks the runner for an ID token with the 'oidc_audience'
# input as its audience and writes it as the bearer token into FILE. The token is
# masked in the log and never printed. On failure returns 1 with OIDC_ERROR set.
refresh_oidc_headers() {
  local file="$1" audience="${INPUT_OIDC_AUDIENCE:-}" url="${ACTIONS_ID_TOKEN_REQUEST_URL:-}"
  local sep='&' code="" try token dir
  OIDC_ERROR=""
  if [ -z "$audience" ]; then
    OIDC_ERROR="'auth' is 'oidc' but the 'oidc_audience' input is empty: set it to the audience the lease service expects (its [auth.github_oidc] audience)."
    return 1
  fi
  if [ -z "$url" ] || [ -z "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ]; then
    OIDC_ERROR="'auth' is 'oidc' but the runner offers this job no ID token: give the job 'permissions: id-token: write'."
    return 1
  fi
  case "$url" in *\?*) ;; *) sep='?' ;; esac
  dir="$(dirname "$file")"
  (
    umask 077
    printf 'Authorization: bearer %s\nAccept: application/json\n' "$ACTIONS_ID_TOKEN_REQUEST_TOKEN" >"$dir/oidc.request"
  )
  for try in 1 2 3; do
    code="$(curl -sS -H @"$dir/oidc.request" --connect-timeout 10 --max-time 30 \
      -o "$dir/oidc.answer" -w '%{http_code}' \
      "$url${sep}audience=$(uri_encode "$audience")" 2>"$dir/oidc.err")" || code=000
    if [ "$code" = 200 ]; then break; fi
    if [ "$try" -lt 3 ]; then sleep "$(backoff_delay "$try")"; fi
  done
  token=""
  if [ "$code" = 200 ]; then token="$(jq -r '.value // empty' "$dir/oidc.answer" 2>/dev/null || true)"; fi
  rm -f "$dir/oidc.request" "$dir/oidc.answer"
  if [ -z "$token" ]; then
    OIDC_ERROR="Could not get an ID token from the runner (HTTP $code$(if [ -s "$dir/oidc.err" ]; then printf ': %s' "$(tr '\n' ' ' <"$dir/oidc.err")"; fi)); check 'permissions: id-token: write'."
    return 1
  fi
  # Workflow commands are read from the step's output: from now on the runner hides
  # it. (The background heartbeat writes to a file, not to the step's output.)
  if [ -z "${MQ_LEASE_STATE_DIR:-}" ]; then printf '::add-mask::%s\n' "$token"; fi
  write_headers "$file" "Bearer $token"
  OIDC_AT="$(now)"
}

# uri_encode TEXT: percent-encodes everything but unreserved characters.
uri_encode() { jq -rn --arg s "$1" '$s | @uri'; }

strip_heads() { printf '%s\n' "${1#refs/heads/}"; }

# ---------------------------------------------------------------- HTTP

# http METHOD URL BODY_FILE MAX_TIME: sets HTTP_CODE (000 on a transport error),
# HTTP_MS (milliseconds the call took), HTTP_BODY (file), HTTP_ERROR (text).
http() {
  local method="$1" url="$2" body="$3" max_time="$4" rc=0 written secs frac
  # A runner's ID token lives minutes: a long wait asks for a fresh one now and then.
  if [ "$AUTH" = oidc ] && [ $(($(now) - OIDC_AT)) -ge "$OIDC_REFRESH" ]; then
    refresh_oidc_headers "$HEADERS" || fail "$OIDC_ERROR"
  fi
  HTTP_BODY="$WORK_DIR/response"
  : >"$HTTP_BODY"
  if [ -n "$body" ]; then
    written="$(curl -sS -X "$method" -H @"$HEADERS" --data-binary @"$body" \
      --connect-timeout 10 --max-time "$max_time" -o "$HTTP_BODY" \
      -w '%{http_code} %{time_total}' "$url" 2>"$WORK_DIR/curl.err")" || rc=$?
  else
    written="$(curl -sS -X "$method" -H @"$HEADERS" \
      --connect-timeout 10 --max-time "$max_time" -o "$HTTP_BODY" \
      -w '%{http_code} %{time_total}' "$url" 2>"$WORK_DIR/curl.err")" || rc=$?
  fi
  HTTP_CODE="${written%% *}"
  # time_total is seconds with a fraction ("1.503217" or "1,503217").
  secs="${written#* }"
  secs="${secs%%[.,]*}"
  frac="${written#* }"
  case "$frac" in
    *[.,]*) frac="${frac#*[.,]}000" ;;
    *) frac=000 ;;
  esac
  frac="${frac:0:3}"
  if [[ "$secs" =~ ^[0-9]+$ ]] && [[ "$frac" =~ ^[0-9]+$ ]]; then
    HTTP_MS=$((10#$secs * 1000 + 10#$frac))
  else
    HTTP_MS=0
  fi
  HTTP_ERROR=""
  if [ "$rc" -ne 0 ]; then
    HTTP_CODE=000
    HTTP_ERROR="$(tr '\n' ' ' <"$WORK_DIR/curl.err" | sed 's/^curl: //; s/ *$//')"
    [ -n "$HTTP_ERROR" ] || HTTP_ERROR="curl exited with code $rc"
  fi
  case "$HTTP_CODE" in
    [0-9][0-9][0-9]) ;;
    *) HTTP_CODE=000 ;;
  esac
}

# service_error: the service's own words for a failed answer.
service_error() {
  local msg
  msg="$(jq -r '(.error // empty) | tostring' "$HTTP_BODY" 2>/dev/null || true)"
  if [ -z "$msg" ]; then
    msg="$(head -c 300 "$HTTP_BODY" | tr '\n' ' ')"
  fi
  [ -n "$msg" ] || msg="(empty answer)"
  printf 'HTTP %s: %s\n' "$HTTP_CODE" "$msg"
}

# answer_field JQ_FILTER: a field of the last answer ('' if absent or not JSON).
answer_field() { jq -r "($1) // empty | tostring" "$HTTP_BODY" 2>/dev/null || true; }

# ---------------------------------------------------------------- acquire

acquire() {
  require_tools curl jq
  load_common

  local event="${MQ_LEASE_EVENT_PATH:-${GITHUB_EVENT_PATH:-}}" repo="${GITHUB_REPOSITORY:-}"
  [ -n "$repo" ] && [ "${repo#*/}" != "$repo" ] || fail "GITHUB_REPOSITORY must be 'owner/name' (got '$repo')."
  [ -n "$event" ] && [ -f "$event" ] || fail "No event payload at GITHUB_EVENT_PATH='$event'. This action runs in workflows triggered by 'merge_group'."

  local head_sha head_ref base_sha base_ref
  head_sha="$(jq -r '.merge_group.head_sha // empty' "$event")"
  head_ref="$(strip_heads "$(jq -r '.merge_group.head_ref // empty' "$event")")"
  base_sha="$(jq -r '.merge_group.base_sha // empty' "$event")"
  base_ref="$(strip_heads "$(jq -r '.merge_group.base_ref // empty' "$event")")"
  if [ -z "$head_sha" ] || [ -z "$base_ref" ]; then
    fail "The event has no merge_group.head_sha/base_ref: run this action only for 'merge_group' events (e.g. 'if: github.event_name == 'merge_group'')."
  fi

  local timeout poll
  timeout="$(parse_duration "${INPUT_TIMEOUT:-60m}")" || fail "The 'timeout' input '${INPUT_TIMEOUT:-}' is not a duration like 60m, 1h30m, 90s or 90."
  poll="$(parse_duration "${INPUT_POLL_INTERVAL:-15s}")" || fail "The 'poll_interval' input '${INPUT_POLL_INTERVAL:-}' is not a duration like 15s or 15."
  if [ "$poll" -lt 1 ]; then poll=1; fi

  local priority="${INPUT_PRIORITY:-}" priority_from
  if [ -n "$priority" ]; then
    [[ "$priority" =~ ^[0-9]+$ ]] && [ "$((10#$priority))" -ge 1 ] || fail "The 'priority' input must be a whole number of at least 1 (got '$priority')."
    priority=$((10#$priority))
    priority_from="given as input"
  else
    priority="$(commits_ahead "$repo" "$base_sha" "$head_sha" "$base_ref")"
    priority_from="commits ahead of $base_ref"
  fi

  local owner="${repo%%/*}" name="${repo#*/}"
  QUEUE="$repo@$base_ref"
  BASE_URL="$ENDPOINT/$(uri_encode "$owner")/$(uri_encode "$name")/$(uri_encode "$base_ref")"
  UI_URL="$ENDPOINT/ui/$(uri_encode "$owner")/$(uri_encode "$name")/$(uri_encode "$base_ref")"
  local body="$WORK_DIR/acquire.json"
  jq -cn --arg sha "$head_sha" --arg ref "$head_ref" --argjson prio "$priority" \
    '{head_sha: $sha, priority: $prio} + (if $ref == "" then {} else {head_ref: $ref} end)' >"$body"

  rm -rf "$STATE_DIR"
  mkdir -p "$STATE_DIR"

  local started deadline remaining wait attempt=0 delay status short_sha="${head_sha:0:12}"
  started="$(now)"
  SHORT_SHA="$short_sha"
  PRIORITY="$priority"
  LAST_HOLDER=""
  LAST_REASON=""
  # The clock counts whole seconds: one more keeps the wait at least 'timeout'.
  deadline=$((started + timeout + 1))
  begin_group "Lease of $QUEUE for $short_sha (priority $priority, $priority_from)"
  log "Asking $ENDPOINT; giving up after $(human "$timeout") (the 'timeout' input)."

  while :; do
    remaining=$((deadline - $(now)))
    if [ "$remaining" -le 0 ]; then
      give_up_waiting "$timeout"
    fi
    wait="$poll"
    if [ "$wait" -gt "$MAX_WAIT" ]; then wait="$MAX_WAIT"; fi
    if [ "$wait" -gt "$remaining" ]; then wait="$remaining"; fi

    http POST "$BASE_URL/acquire?wait=${wait}s" "$body" "$((wait + 15))"

    case "$HTTP_CODE" in
      200)
        status="$(answer_field '.request.status')"
        case "$status" in
          acquired)
            on_acquired "$head_sha" "$head_ref" "$priority" "$body" "$(($(now) - started))"
            return 0
            ;;
          completed)
            on_completed "$head_sha" "$head_ref" "$priority" "$(($(now) - started))"
            return 0
            ;;
          pending)
            attempt=0
            tell_waiting "$deadline"
            # A service that ignores ?wait answers at once: poll instead.
            if [ "$HTTP_MS" -lt $((wait * 500)) ]; then
              remaining=$((deadline - $(now)))
              delay="$poll"
              if [ "$delay" -gt "$remaining" ]; then delay="$remaining"; fi
              if [ "$delay" -gt 0 ]; then sleep "$delay"; fi
            fi
            ;;
          failure)
            write_state failure "$head_sha" "$head_ref" "$priority" ""
            set_result failure
            summarise_acquire failure "$(($(now) - started))" "" "" "the service reports this run as failed"
            fail "The lease service reports this run ($short_sha) as failed; it will not get the lease."
            ;;
          *)
            attempt=$((attempt + 1))
            delay="$(backoff_delay "$attempt")"
            story "odd:$status" "The lease service gave an answer this action does not understand (status '$status'); trying again (every ${BACKOFF_CAP}s at most)."
            sleep_within "$delay" "$deadline"
            ;;
        esac
        ;;
      000 | 5[0-9][0-9] | 408 | 429)
        attempt=$((attempt + 1))
        delay="$(backoff_delay "$attempt")"
        if [ "$HTTP_CODE" = 000 ]; then
          story "unreachable" "Could not reach the lease service ($HTTP_ERROR); trying again (every ${BACKOFF_CAP}s at most). $(time_left "$deadline")"
        else
          story "trouble:$HTTP_CODE" "The lease service is having trouble ($(service_error)); trying again (every ${BACKOFF_CAP}s at most). $(time_left "$deadline")"
        fi
        sleep_within "$delay" "$deadline"
        ;;
      409)
        attempt=$((attempt + 1))
        delay="$(backoff_delay "$attempt")"
        tell_busy "$deadline"
        sleep_within "$delay" "$deadline"
        ;;
      *)
        set_result failure
        summarise_acquire failure "$(($(now) - started))" "" "" "the service refused the acquire: $(service_error)"
        fail "The lease service refused the acquire for $short_sha: $(service_error)"
        ;;
    esac
  done
}

# time_left DEADLINE: "59m30s left of the timeout."
time_left() {
  local left=$(($1 - $(now)))
  if [ "$left" -lt 0 ]; then left=0; fi
  printf '%s left of the timeout.\n' "$(human "$left")"
}

# The jq helpers that read the service's times and the `waiting` object of SPEC §8.
# shellcheck disable=SC2016 # jq code, not shell
JQ_TIME='def secs_since(t): (try ((now - (t | sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601)) | floor) catch null);
def hms: floor | if . >= 3600 then "\(. / 3600 | floor)h\(. % 3600 / 60 | floor)m" elif . >= 60 then "\(. / 60 | floor)m\(. % 60)s" else "\(.)s" end;
def ago(t): (secs_since(t) // null) as $s | if $s == null then "" else " for \($s | hms)" end;
def short: tostring | .[0:12];'

# tell_waiting DEADLINE: one line when the reason of a pending answer changes.
tell_waiting() {
  local key text
  {
    IFS= read -r key || true
    IFS= read -r text || true
  } < <(jq -r "$JQ_TIME"'
    .waiting as $w
    | if ($w | type) != "object" then
        "pending",
        "Waiting for the lease: other runs of this queue come first or are still registering (this service does not say why)."
      else ($w.reason // "unknown" | tostring) as $r
        | if $r == "stabilising" then
            (secs_since($w.window_ends_at // "") // null) as $s
            | "stabilising:\($w.known):\($w.expected)",
              "Waiting (stabilising): \($w.known // "?") of \($w.expected // "?") expected runs of this queue have registered; the lease is given when all have, or when the stabilisation window ends"
              + (if $s == null then "." elif $s < 0 then " in \(-$s | hms)." else " (now)." end)
          elif $r == "lease_held" then
            "lease_held:\($w.holder.head_sha // "")",
            "Waiting (lease_held): run \($w.holder.head_sha // "?" | short) (priority \($w.holder.priority // "?")) holds the lease\(ago($w.holder.since // "")); this run is told completed if it succeeds, and competes again if it fails."
          elif $r == "higher_priority" then
            "higher_priority",
            "Waiting (higher_priority): a run with more commits (a higher priority) is registered; it gets the lease first."
          elif $r == "confirming" then
            "confirming",
            "Waiting (confirming): this run is the winner; the service confirms it over a few more calls (delay_assignment_count)."
          elif $r == "paused" then
            "paused",
            "Waiting (paused): an admin paused this queue; nobody gets the lease until it is resumed."
          else
            "reason:\($r)",
            "Waiting (\($r))."
          end
      end' "$HTTP_BODY" 2>/dev/null || printf 'pending\nWaiting for the lease.\n')
  [ -n "$key" ] || key=pending
  LAST_REASON="${key%%:*}"
  local holder
  holder="$(answer_field '.waiting.holder.head_sha')"
  if [ -n "$holder" ]; then LAST_HOLDER="$holder"; fi
  story "$key" "$text $(time_left "$1")"
}

# tell_busy DEADLINE: a 409 (an earlier round still holds the queue), once per holder.
tell_busy() {
  local holder since
  holder="$(answer_field '.error_context.holder.head_sha // .error_context.head_sha')"
  since="$(jq -r "$JQ_TIME"'ago(.error_context.holder.since // .error_context.since // "")' "$HTTP_BODY" 2>/dev/null || true)"
  if [ -n "$holder" ]; then LAST_HOLDER="$holder"; fi
  LAST_REASON=busy
  story "busy:$holder" "The queue is busy with an earlier round${holder:+ (run ${holder:0:12} holds the lease$since)}, so this run cannot register yet; trying again (every ${BACKOFF_CAP}s at most). $(time_left "$1")"
}

# sleep_within SECONDS DEADLINE: sleeps, but not past the deadline.
sleep_within() {
  local delay="$1" left
  left=$(($2 - $(now)))
  if [ "$delay" -gt "$left" ]; then delay="$left"; fi
  if [ "$delay" -gt 0 ]; then sleep "$delay"; fi
}

give_up_waiting() {
  write_state timeout "" "" "" ""
  set_result timeout
  summarise_acquire timeout "$1" "" "" "gave up after the 'timeout' input${LAST_REASON:+; last reason: $LAST_REASON}"
  fail "Gave up waiting for the lease after $(human "$1") (the 'timeout' input)${LAST_REASON:+; the last reason given: $LAST_REASON}${LAST_HOLDER:+ (holder ${LAST_HOLDER:0:12})}. Another run may hold it for longer, or the service may be unreachable."
}

# commits_ahead REPO BASE_SHA HEAD_SHA BASE_REF: the priority from GitHub.
commits_ahead() {
  local repo="$1" base="$2" head="$3" base_ref="$4" ahead="" try
  command -v gh >/dev/null 2>&1 || fail "The 'priority' input is empty, so the action asks GitHub how many commits the merge group is ahead of $base_ref with the GitHub CLI, but 'gh' is not on PATH: install it on the runner, or set the 'priority' input."
  [ -n "$base" ] || fail "The event has no merge_group.base_sha, so the priority cannot be computed; set the 'priority' input."
  for try in 1 2 3; do
    if ahead="$(gh api "repos/$repo/compare/$base...$head" --jq .ahead_by 2>"$WORK_DIR/gh.err")" &&
      [[ "$ahead" =~ ^[0-9]+$ ]]; then
      break
    fi
    ahead=""
    log "Asking GitHub how many commits this merge group is ahead of $base_ref failed (try $try of 3): $(tr '\n' ' ' <"$WORK_DIR/gh.err")"
    if [ "$try" -lt 3 ]; then sleep "$(backoff_delay "$try")"; fi
  done
  [ -n "$ahead" ] || fail "Could not compute the priority with 'gh api repos/$repo/compare/...'; check that GH_TOKEN may read the repository, or set the 'priority' input."
  ahead=$((10#$ahead))
  if [ "$ahead" -lt 1 ]; then
    warn "GitHub says this merge group is $ahead commits ahead of $base_ref; using priority 1."
    ahead=1
  fi
  printf '%s\n' "$ahead"
}

# write_state STATUS HEAD_SHA HEAD_REF PRIORITY FENCING_TOKEN
write_state() {
  mkdir -p "$STATE_DIR"
  jq -cn --arg status "$1" --arg sha "$2" --arg ref "$3" --arg prio "$4" --arg token "$5" \
    --arg url "${BASE_URL:-}" --arg at "$(now)" \
    '{status: $status, head_sha: $sha, head_ref: $ref, priority: $prio,
      fencing_token: $token, base_url: $url, at: ($at | tonumber)}' >"$STATE_FILE.tmp"
  mv "$STATE_FILE.tmp" "$STATE_FILE"
}

# status_page: the service's status page of this queue, if it serves one to these
# credentials (probed once), else empty.
status_page() {
  local code
  code="$(curl -sS -o /dev/null -w '%{http_code}' -H @"$HEADERS" -H 'Accept: text/html' \
    --connect-timeout 5 --max-time 10 "$UI_URL" 2>/dev/null)" || code=000
  if [ "$code" = 200 ]; then printf '%s\n' "$UI_URL"; fi
}

# summarise_acquire RESULT WAITED_SECONDS STACKED_PRS FENCING_TOKEN NOTE: the job summary.
summarise_acquire() {
  local result="$1" waited="$2" prs="$3" token="$4" note="$5" holder page
  [ -n "${GITHUB_STEP_SUMMARY:-}" ] || return 0
  case "$result" in
    acquired) holder="this run" ;;
    *) holder="${LAST_HOLDER:0:12}" ;;
  esac
  page="$(status_page)"
  summary "### mq-lease-service: $result" "" \
    "| | |" "|---|---|" \
    "| queue | \`$QUEUE\` |" \
    "| run | \`$SHORT_SHA\` (priority $PRIORITY) |" \
    "| result | **$result**${note:+ — $note} |" \
    "| waited | $(human "$waited") |" \
    "| holder | ${holder:-unknown} |" \
    "| stacked PRs | ${prs:-—} |" \
    "| fencing token | ${token:-—} |"
  if [ -n "$page" ]; then summary "| status page | [$page]($page) |"; fi
  summary ""
}

on_acquired() {
  local head_sha="$1" head_ref="$2" priority="$3" body="$4" waited="$5" token stacked prs
  token="$(answer_field '.request.fencing_token')"
  stacked="$(jq -c '.stacked_pull_requests // []' "$HTTP_BODY" 2>/dev/null || printf '[]')"
  write_state acquired "$head_sha" "$head_ref" "$priority" "$token"
  set_result acquired "$stacked" "$token"
  prs="$(jq -r '[.stacked_pull_requests // [] | .[] | "#\(.number)"] | join(" ")' "$HTTP_BODY" 2>/dev/null || true)"
  start_heartbeat "$body"
  end_group
  notice "This run holds the lease of $QUEUE after $(human "$waited")${token:+ (fencing token $token)}; it tests the pull requests ${prs:-(none listed)}. Release it in this job: a later step with 'if: always()' and 'release_with_status' set to the job's status."
  summarise_acquire acquired "$waited" "$prs" "$token" ""
}

on_completed() {
  local head_sha="$1" head_ref="$2" priority="$3" waited="$4"
  write_state completed "$head_sha" "$head_ref" "$priority" ""
  set_result completed
  end_group
  notice "Completed after $(human "$waited"): a run that contains this run's commits${LAST_HOLDER:+ (${LAST_HOLDER:0:12})} used the shared resource successfully, so this run need not use it."
  summarise_acquire completed "$waited" "" "" "a run containing these commits succeeded"
}

# ---------------------------------------------------------------- heartbeat

start_heartbeat() {
  local body="$1" lease_timeout interval
  # The first sign of life, at once: the service keeps the lease of a holder that never
  # calls after its grant for as long as it holds it (it may be a client that cannot
  # learn its lease ran out), and puts one that does call under lease_timeout. The
  # background heartbeat retries if this call does not get through.
  http POST "$BASE_URL/acquire" "$body" 15
  http GET "$BASE_URL" "" 15
  lease_timeout=""
  if [ "$HTTP_CODE" = 200 ]; then lease_timeout="$(answer_field '.config.lease_timeout')"; fi
  if [[ "$lease_timeout" =~ ^[0-9]+$ ]] && [ "$lease_timeout" -gt 0 ]; then
    interval=$((lease_timeout / 4))
    if [ "$interval" -lt 1 ]; then interval=1; fi
  else
    interval=60
  fi
  cp "$body" "$STATE_DIR/acquire.json"
  cp "$HEADERS" "$STATE_DIR/headers"
  chmod 600 "$STATE_DIR/headers"
  MQ_LEASE_HEARTBEAT_INTERVAL="$interval" MQ_LEASE_STATE_DIR="$STATE_DIR" \
    MQ_LEASE_BASE_URL="$BASE_URL" \
    nohup bash "$SELF" heartbeat </dev/null >>"$HEARTBEAT_LOG" 2>&1 &
  printf '%s\n' "$!" >"$PID_FILE"
  log "Keeping the lease alive in the background: a heartbeat every $(human "$interval")."
}

heartbeat() {
  local dir="$MQ_LEASE_STATE_DIR" url="$MQ_LEASE_BASE_URL/acquire" interval="$MQ_LEASE_HEARTBEAT_INTERVAL"
  local started child="" code status
  started="$(now)"
  # The step fetched the first ID token just now.
  OIDC_AT="$started"
  # A job lasts at most a few hours; never outlive a day, whatever happens.
  trap 'if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; fi; exit 0' TERM INT HUP
  while [ -f "$dir/heartbeat.pid" ] && [ $(($(now) - started)) -lt 86400 ]; do
    sleep "$interval" &
    child=$!
    wait "$child" || true
    child=""
    [ -f "$dir/heartbeat.pid" ] || break
    if [ "${INPUT_AUTH:-}" = oidc ] && [ $(($(now) - OIDC_AT)) -ge "$OIDC_REFRESH" ]; then
      refresh_oidc_headers "$dir/headers" ||
        printf '%s WARN heartbeat: %s\n' "$(now)" "$OIDC_ERROR"
    fi
    code=000
    curl -sS -X POST -H @"$dir/headers" --data-binary @"$dir/acquire.json" \
      --connect-timeout 10 --max-time 30 -o "$dir/heartbeat.answer" -w '%{http_code}' \
      "$url" >"$dir/heartbeat.code" 2>>"$dir/heartbeat.err" &
    child=$!
    wait "$child" && code="$(cat "$dir/heartbeat.code")"
    child=""
    status="$(jq -r '.request.status // empty' "$dir/heartbeat.answer" 2>/dev/null || true)"
    if [ "$code" = 200 ] && [ "$status" = acquired ]; then
      :
    elif [ "$code" = 200 ] || [ "$code" = 400 ] || [ "$code" = 404 ] || [ "$code" = 401 ]; then
      printf '%s WARN heartbeat: the lease is no longer held (HTTP %s, status %s); stopping\n' "$(now)" "$code" "${status:-?}"
      break
    else
      printf '%s WARN heartbeat: could not reach the lease service (HTTP %s); will try again\n' "$(now)" "$code"
    fi
  done
}

# alive PID: the process exists and is not a zombie.
alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  case "$state" in
    Z* | "") return 1 ;;
  esac
  return 0
}

stop_heartbeat() {
  local pid i
  [ -f "$PID_FILE" ] || return 0
  pid="$(cat "$PID_FILE")"
  rm -f "$PID_FILE"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill "$pid" 2>/dev/null; then
    # Wait until it is gone, so no heartbeat races the release. An exited process
    # stays a zombie until its new parent reaps it: that counts as gone.
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      alive "$pid" || break
      sleep 0.1 2>/dev/null || sleep 1
      if [ "$i" = 20 ]; then kill -9 "$pid" 2>/dev/null || true; fi
    done
  fi
  if [ -f "$HEARTBEAT_LOG" ] && grep -q WARN "$HEARTBEAT_LOG"; then
    log "The heartbeat reported:"
    grep WARN "$HEARTBEAT_LOG" | tail -n 5 >&2 || true
  fi
}

# ---------------------------------------------------------------- release

release() {
  require_tools curl jq
  load_common
  local job_status="$INPUT_RELEASE_WITH_STATUS" outcome
  case "$job_status" in
    success) outcome=success ;;
    failure | cancelled) outcome=failure ;;
    *)
      warn "release_with_status '$job_status' is not success, failure or cancelled; releasing as failure."
      outcome=failure
      ;;
  esac

  if [ ! -f "$STATE_FILE" ]; then
    log "This job did not acquire the lease (no acquire step ran before in this job, or it stopped early), so there is nothing to release."
    summary "### mq-lease-service: nothing to release" "" "No acquire step of this job got the lease, so this release did nothing." ""
    return 0
  fi
  local held
  held="$(jq -r '.status' "$STATE_FILE")"
  if [ "$held" != acquired ]; then
    log "This run did not hold the lease (its acquire ended '$held'), so there is nothing to release."
    summary "### mq-lease-service: nothing to release" "" "The acquire of this job ended **$held**, so this release did nothing." ""
    return 0
  fi

  stop_heartbeat

  local head_sha head_ref priority token base_url body short_sha held_for
  held_for=$(($(now) - $(jq -r '.at // 0' "$STATE_FILE")))
  head_sha="$(jq -r '.head_sha' "$STATE_FILE")"
  head_ref="$(jq -r '.head_ref' "$STATE_FILE")"
  priority="$(jq -r '.priority' "$STATE_FILE")"
  token="$(jq -r '.fencing_token' "$STATE_FILE")"
  base_url="$(jq -r '.base_url' "$STATE_FILE")"
  short_sha="${head_sha:0:12}"
  body="$WORK_DIR/release.json"
  jq -cn --arg sha "$head_sha" --arg ref "$head_ref" --argjson prio "$priority" \
    --arg status "$outcome" --arg token "$token" \
    '{head_sha: $sha, priority: $prio, status: $status}
     + (if $ref == "" then {} else {head_ref: $ref} end)
     + (if $token == "" then {} else {fencing_token: ($token | tonumber)} end)' >"$body"

  log "Releasing the lease held by $short_sha with '$outcome' (job status '$job_status')."
  local attempt=1 delay reason answer
  while :; do
    http POST "$base_url/release" "$body" 30
    case "$HTTP_CODE" in
      200)
        answer="$(answer_field '.request.status')"
        [ -n "$answer" ] || answer="$outcome"
        rm -rf "$STATE_DIR"
        set_result "$answer" "[]" "$token"
        if [ "$outcome" = success ]; then
          notice "Released the lease of $short_sha with success after holding it $(human "$held_for"): the other runs of this round are told 'completed' (their commits are part of this one)."
        else
          notice "Released the lease of $short_sha as failed after holding it $(human "$held_for"): the next run of the queue with the most commits gets it."
        fi
        summary "### mq-lease-service: released ($outcome)" "" \
          "| | |" "|---|---|" \
          "| run | \`$short_sha\` (priority $priority) |" \
          "| job status | $job_status |" \
          "| released as | **$outcome** (service answer: $answer) |" \
          "| held for | $(human "$held_for") |" \
          "| fencing token | ${token:-—} |" ""
        return 0
        ;;
      000 | 5[0-9][0-9] | 408 | 429)
        if [ "$HTTP_CODE" = 000 ]; then reason="could not reach the lease service ($HTTP_ERROR)"; else reason="$(service_error)"; fi
        ;;
      409)
        fail "The release of $short_sha was refused: $(service_error). The lease was taken from this run (its fencing token is stale), most likely because it was silent longer than the service's lease_timeout; another run may have used the resource since."
        ;;
      *)
        fail "The release of $short_sha was refused: $(service_error). The lease may have expired or been cleared; check the service."
        ;;
    esac
    if [ "$attempt" -ge "$RELEASE_ATTEMPTS" ]; then
      fail "Could not release the lease held by $short_sha after $attempt tries: $reason. The lease stays held until the service's lease_timeout ends it; other runs of the queue wait until then."
    fi
    delay="$(backoff_delay "$attempt")"
    log "Release failed ($reason); trying again in ${delay}s (try $attempt of $RELEASE_ATTEMPTS)."
    sleep "$delay"
    attempt=$((attempt + 1))
  done
}

# ---------------------------------------------------------------- main

case "${1:-}" in
  heartbeat) heartbeat ;;
  "")
    if [ -n "${INPUT_RELEASE_WITH_STATUS:-}" ]; then release; else acquire; fi
    ;;
  *) fail "unknown mode '$1'" ;;
esac
