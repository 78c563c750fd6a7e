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
#   INPUT_AUTH                                value of the Authorization header (optional)
#   INPUT_RELEASE_WITH_STATUS                 empty = acquire; else job.status to release with
#   INPUT_PRIORITY                            priority override (optional)
#   INPUT_TIMEOUT                             how long acquire may wait overall (60m)
#   INPUT_POLL_INTERVAL                       how long one waiting acquire is held (15s)
# From the runner: GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_OUTPUT, RUNNER_TEMP,
# GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT, GITHUB_JOB, GH_TOKEN.
#
# Tuning knobs (environment; defaults suit real use, tests lower them):
#   MQ_LEASE_BACKOFF_CAP       longest pause between retries, seconds (30)
#   MQ_LEASE_RELEASE_ATTEMPTS  how often a release is tried before the step fails (8)
set -euo pipefail

SELF="${BASH_SOURCE[0]}"
BACKOFF_CAP="${MQ_LEASE_BACKOFF_CAP:-30}"
RELEASE_ATTEMPTS="${MQ_LEASE_RELEASE_ATTEMPTS:-8}"
# The service holds a waiting acquire for at most this long.
MAX_WAIT=120

# ---------------------------------------------------------------- logging

log() { printf '%s\n' "$*" >&2; }
warn() { printf '::warning title=mq-lease-service::%s\n' "$*" >&2; }
# fail MESSAGE: report an error annotation and stop the step.
fail() {
  printf '::error title=mq-lease-service::%s\n' "$*" >&2
  exit 1
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
  : >"$HEADERS"
  chmod 600 "$HEADERS"
  printf 'Content-Type: application/json\nAccept: application/json\n' >>"$HEADERS"
  if [ -n "$AUTH" ]; then printf 'Authorization: %s\n' "$AUTH" >>"$HEADERS"; fi
}

# uri_encode TEXT: percent-encodes everything but unreserved characters.
uri_encode() { jq -rn --arg s "$1" '$s | @uri'; }

strip_heads() { printf '%s\n' "${1#refs/heads/}"; }

# ---------------------------------------------------------------- HTTP

# http METHOD URL BODY_FILE MAX_TIME: sets HTTP_CODE (000 on a transport error),
# HTTP_MS (milliseconds the call took), HTTP_BODY (file), HTTP_ERROR (text).
http() {
  local method="$1" url="$2" body="$3" max_time="$4" rc=0 written secs frac
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
  require_tools curl jq gh
  load_common

  local event="${GITHUB_EVENT_PATH:-}" repo="${GITHUB_REPOSITORY:-}"
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

  local priority="${INPUT_PRIORITY:-}"
  if [ -n "$priority" ]; then
    [[ "$priority" =~ ^[0-9]+$ ]] && [ "$((10#$priority))" -ge 1 ] || fail "The 'priority' input must be a whole number of at least 1 (got '$priority')."
    priority=$((10#$priority))
    log "Priority $priority (given as input)."
  else
    priority="$(commits_ahead "$repo" "$base_sha" "$head_sha" "$base_ref")"
  fi

  local owner="${repo%%/*}" name="${repo#*/}"
  BASE_URL="$ENDPOINT/$(uri_encode "$owner")/$(uri_encode "$name")/$(uri_encode "$base_ref")"
  local body="$WORK_DIR/acquire.json"
  jq -cn --arg sha "$head_sha" --arg ref "$head_ref" --argjson prio "$priority" \
    '{head_sha: $sha, priority: $prio} + (if $ref == "" then {} else {head_ref: $ref} end)' >"$body"

  rm -rf "$STATE_DIR"
  mkdir -p "$STATE_DIR"

  local started deadline remaining wait attempt=0 delay status short_sha="${head_sha:0:12}"
  started="$(now)"
  # The clock counts whole seconds: one more keeps the wait at least 'timeout'.
  deadline=$((started + timeout + 1))
  log "Asking $ENDPOINT for the lease of $repo@$base_ref for $short_sha (priority $priority); giving up after $(human "$timeout")."

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
            log "A run that contains this run's commits has already used the shared resource successfully, so this run is 'completed' and need not use it."
            write_state completed "$head_sha" "$head_ref" "$priority" ""
            set_result completed
            return 0
            ;;
          pending)
            attempt=0
            log "Waiting for the lease: other runs of this queue come first or are still registering ($(human $(($(now) - started))) so far)."
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
            fail "The lease service reports this run ($short_sha) as failed; it will not get the lease."
            ;;
          *)
            attempt=$((attempt + 1))
            delay="$(backoff_delay "$attempt")"
            log "The lease service gave an answer this action does not understand (status '$status'); trying again in ${delay}s."
            sleep_within "$delay" "$deadline"
            ;;
        esac
        ;;
      000 | 5[0-9][0-9] | 408 | 429)
        attempt=$((attempt + 1))
        delay="$(backoff_delay "$attempt")"
        if [ "$HTTP_CODE" = 000 ]; then
          log "Could not reach the lease service ($HTTP_ERROR); trying again in ${delay}s."
        else
          log "The lease service is having trouble ($(service_error)); trying again in ${delay}s."
        fi
        sleep_within "$delay" "$deadline"
        ;;
      409)
        attempt=$((attempt + 1))
        delay="$(backoff_delay "$attempt")"
        log "The queue is busy with an earlier round (a lease is held or being handed over), so this run cannot register yet; trying again in ${delay}s."
        sleep_within "$delay" "$deadline"
        ;;
      *)
        set_result failure
        fail "The lease service refused the acquire for $short_sha: $(service_error)"
        ;;
    esac
  done
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
  fail "Gave up waiting for the lease after $(human "$1") (the 'timeout' input). Another run may hold it for longer, or the service may be unreachable."
}

# commits_ahead REPO BASE_SHA HEAD_SHA BASE_REF: the priority from GitHub.
commits_ahead() {
  local repo="$1" base="$2" head="$3" base_ref="$4" ahead="" try
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
  log "Priority $ahead: this merge group is $ahead commit(s) ahead of $base_ref."
  printf '%s\n' "$ahead"
}

# write_state STATUS HEAD_SHA HEAD_REF PRIORITY FENCING_TOKEN
write_state() {
  mkdir -p "$STATE_DIR"
  jq -cn --arg status "$1" --arg sha "$2" --arg ref "$3" --arg prio "$4" --arg token "$5" \
    --arg url "${BASE_URL:-}" \
    '{status: $status, head_sha: $sha, head_ref: $ref, priority: $prio,
      fencing_token: $token, base_url: $url}' >"$STATE_FILE.tmp"
  mv "$STATE_FILE.tmp" "$STATE_FILE"
}

on_acquired() {
  local head_sha="$1" head_ref="$2" priority="$3" body="$4" waited="$5" token stacked prs
  token="$(answer_field '.request.fencing_token')"
  stacked="$(jq -c '.stacked_pull_requests // []' "$HTTP_BODY" 2>/dev/null || printf '[]')"
  write_state acquired "$head_sha" "$head_ref" "$priority" "$token"
  set_result acquired "$stacked" "$token"
  prs="$(jq -r '[.stacked_pull_requests // [] | .[] | "#\(.number)"] | join(" ")' "$HTTP_BODY" 2>/dev/null || true)"
  log "This run holds the lease after $(human "$waited")${token:+ (fencing token $token)}. It tests the pull requests: ${prs:-(none listed)}."
  log "Remember to release it: a later step with 'if: always()' and 'release_with_status: \${{ job.status }}'."
  start_heartbeat "$body"
}

# ---------------------------------------------------------------- heartbeat

start_heartbeat() {
  local body="$1" lease_timeout interval
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
  # A job lasts at most a few hours; never outlive a day, whatever happens.
  trap 'if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; fi; exit 0' TERM INT HUP
  while [ -f "$dir/heartbeat.pid" ] && [ $(($(now) - started)) -lt 86400 ]; do
    sleep "$interval" &
    child=$!
    wait "$child" || true
    child=""
    [ -f "$dir/heartbeat.pid" ] || break
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
    log "This job did not acquire the lease (no acquire ran before, or it stopped early), so there is nothing to release."
    return 0
  fi
  local held
  held="$(jq -r '.status' "$STATE_FILE")"
  if [ "$held" != acquired ]; then
    log "This run did not hold the lease (its acquire ended '$held'), so there is nothing to release."
    return 0
  fi

  stop_heartbeat

  local head_sha head_ref priority token base_url body short_sha
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
          log "Released: the other runs of this round are told 'completed' (their commits are part of this one)."
        else
          log "Released as failed: the next run of the queue with the most commits gets the lease."
        fi
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
