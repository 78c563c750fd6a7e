//! Schemas of the wire shapes for the OpenAPI description (`crate::openapi`).
//!
//! Many answers are built as `serde_json::Value` in `dto.rs`; these types describe them
//! for the document only and are never constructed. Request bodies keep the rules the
//! handlers apply (`HeadSha::parse`, `Priority::parse`, …) as JSON Schema constraints, so
//! a generated client and a fuzzer see the same limits the server enforces.
//! schemathesis checks in CI (`.ci/schemathesis.sh`) that the server keeps to them.

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

/// `?wait=` and `?limit=`: any whole number ≥ 0; the server cuts it to its own maximum, so
/// there is no upper bound (and no `int64` format, which would imply one).
fn whole_number(description: &str) -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .description(Some(description))
        .build()
}

fn wait_seconds() -> utoipa::openapi::Object {
    whole_number(
        "Seconds to hold a `pending` answer (a duration such as `30s` or `1m` is accepted \
         too); longer waits are cut to 120 s. Absent or 0: answer at once.",
    )
}

fn event_limit() -> utoipa::openapi::Object {
    whole_number("At most this many events; default 50, larger values are cut to 500.")
}

/// Every error: `{"error": "human readable", "error_context": …optional details…}`.
#[derive(ToSchema)]
#[schema(example = json!({"error": "priority: must be an integer >= 1", "error_context": {"field": "priority"}}))]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// Details (the field at fault, the current holder, a limit, …); any JSON value.
    #[schema(value_type = Value, required = false)]
    pub error_context: Option<Value>,
}

/// The provider's path: `/{owner}/{repo}/{base_ref}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProviderPath {
    /// Repository owner: 1–255 characters, no `:`, `/` or control characters.
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = "^[^:/\\u0000-\\u001f\\u007f-\\u009f]+$",
        example = "acme"
    )]
    pub owner: String,
    /// Repository name: 1–255 characters, no `:`, `/` or control characters.
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = "^[^:/\\u0000-\\u001f\\u007f-\\u009f]+$",
        example = "shop"
    )]
    pub repo: String,
    /// The merge queue's target branch: 1–255 characters, no `:` or control characters.
    /// A `/` in it is sent percent-encoded (`release%2F1.x`); the raw form
    /// (`/acme/shop/release/1.x/acquire`) is accepted too but cannot be described here.
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = "^[^:\\u0000-\\u001f\\u007f-\\u009f]+$",
        example = "main"
    )]
    pub base_ref: String,
}

/// `?wait=`: hold a `pending` answer until the status changes or the wait ends.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds to hold a `pending` answer (a duration such as `30s` or `1m` is accepted too);
    /// longer waits are cut to 120 s. Absent or 0: answer at once.
    #[param(schema_with = wait_seconds, example = 30)]
    pub wait: Option<u64>,
}

/// `?limit=`: how many events (newest first).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many events; default 50, larger values are cut to 500.
    #[param(schema_with = event_limit, example = 50)]
    pub limit: Option<u64>,
}

/// `?fragment=live`: only the part of the page its script swaps in every second.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FragmentQuery {
    /// `live` for the live block only; anything else serves the whole page.
    pub fragment: Option<String>,
}

/// Body of `POST …/acquire`. Unknown fields are ignored; the body is read as JSON whatever
/// its `Content-Type` says.
#[derive(ToSchema)]
#[schema(example = json!({"head_sha": "3f2a9c", "head_ref": "gh-readonly-queue/main/pr-42-3f2a9c", "priority": 3}))]
pub struct AcquireRequest {
    /// The merge group's head commit: 1–255 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub head_sha: String,
    /// The merge group's branch, `gh-readonly-queue/<base>/pr-<n>-<sha>`: at most 255
    /// characters, no control characters; `""` or absent means none.
    #[schema(max_length = 255, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub head_ref: Option<String>,
    /// How many pull requests the run carries; the highest wins. Integer ≥ 1.
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub priority: i64,
}

/// Body of `POST …/release`.
#[derive(ToSchema)]
#[schema(example = json!({"head_sha": "3f2a9c", "status": "success", "fencing_token": 7}))]
pub struct ReleaseRequest {
    /// The holder's head commit: 1–255 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub head_sha: String,
    /// `success`, `failure` or `cancelled` (a cancelled job counts as a failure); ASCII
    /// case and surrounding spaces are ignored.
    #[schema(
        pattern = "^\\s*([Ss][Uu][Cc][Cc][Ee][Ss][Ss]|[Ff][Aa][Ii][Ll][Uu][Rr][Ee]|[Cc][Aa][Nn][Cc][Ee][Ll][Ll]?[Ee][Dd])\\s*$",
        example = "success"
    )]
    pub status: String,
    /// Checked like acquire's (integer ≥ 1) when present; otherwise unused.
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub priority: Option<i64>,
    /// The token of the `acquired` answer; a stale one is refused with 409.
    #[schema(minimum = 0)]
    pub fencing_token: Option<u64>,
}

/// Body of `POST …/revoke` (optional; an empty body is the same as `{}`).
#[derive(ToSchema)]
#[schema(example = json!({"reason": "the runner is stuck"}))]
pub struct RevokeRequest {
    /// Why, for the history: at most 255 characters once trimmed.
    pub reason: Option<String>,
}

/// Where a request stands.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Acquired,
    Success,
    Failure,
    Completed,
}

/// One request as the service knows it.
#[derive(ToSchema)]
pub struct RequestView {
    pub head_sha: String,
    /// Absent when the run sent none.
    pub head_ref: Option<String>,
    pub priority: i64,
    pub status: RequestStatus,
    /// Only while the request holds the lease.
    #[schema(minimum = 0)]
    pub fencing_token: Option<u64>,
    /// When the run registered.
    #[schema(format = DateTime)]
    pub first_seen_at: String,
    /// The run's last acquire call (or held long-poll).
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    /// Holder of a live lease only: when it was granted.
    #[schema(format = DateTime)]
    pub acquired_at: Option<String>,
    /// Holder of a live lease only: when it loses the lease if silent; `null` when no
    /// timeout applies to it (`lease_timeout` off, or silent since its grant and
    /// `silent_holder_timeout` off).
    #[schema(format = DateTime)]
    pub lease_expires_at: Option<String>,
}

/// A pull request of the merge group.
#[derive(ToSchema)]
pub struct PullRequest {
    #[schema(minimum = 0)]
    pub number: u64,
}

/// The run at the centre of the round (the holder), in whatever status it is.
#[derive(ToSchema)]
pub struct Holder {
    pub head_sha: String,
    pub priority: i64,
    pub status: RequestStatus,
    /// When it was granted the lease.
    #[schema(format = DateTime)]
    pub since: String,
    /// It has not called acquire since its grant: a client that may not learn that its
    /// lease ran out, so it keeps the lease until it releases or an admin revokes it,
    /// unless `silent_holder_timeout` is set.
    pub silent_since_grant: bool,
}

/// Why a run waits.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum WaitingReason {
    Paused,
    LeaseHeld,
    Stabilising,
    HigherPriority,
    Confirming,
}

/// Why a `pending` run waits (docs/rules.md §8): `reason` and the details that reason has.
#[derive(ToSchema)]
#[schema(example = json!({"reason": "stabilising", "known": 2, "expected": 4, "window_ends_at": "2026-01-01T10:05:00Z"}))]
pub struct Waiting {
    pub reason: WaitingReason,
    /// `stabilising`: runs known so far.
    #[schema(minimum = 0)]
    pub known: Option<u64>,
    /// `stabilising`: `expected_build_count`.
    #[schema(minimum = 0)]
    pub expected: Option<u64>,
    /// `stabilising`: when the stabilisation window ends.
    #[schema(format = DateTime)]
    pub window_ends_at: Option<String>,
    /// `lease_held`: who holds the lease, since when.
    pub holder: Option<Holder>,
    /// `higher_priority`: the highest priority known.
    pub highest_priority: Option<i64>,
    /// `confirming`: further acquire calls before the grant (≥ 1).
    #[schema(minimum = 0)]
    pub confirmations_left: Option<u64>,
}

/// The answer to acquire and release. `fencing_token` and the times are repeated beside
/// `request` for clients that read either level.
#[derive(ToSchema)]
#[schema(example = json!({"request": {"head_sha": "abc", "head_ref": "gh-readonly-queue/main/pr-3-abc", "priority": 3, "status": "acquired", "fencing_token": 7, "first_seen_at": "2026-01-01T10:00:00Z", "last_seen_at": "2026-01-01T10:05:00Z", "acquired_at": "2026-01-01T10:05:00Z", "lease_expires_at": "2026-01-01T10:15:00Z"}, "stacked_pull_requests": [{"number": 1}, {"number": 2}, {"number": 3}], "fencing_token": 7, "first_seen_at": "2026-01-01T10:00:00Z", "last_seen_at": "2026-01-01T10:05:00Z", "acquired_at": "2026-01-01T10:05:00Z", "lease_expires_at": "2026-01-01T10:15:00Z"}))]
pub struct RequestContext {
    pub request: RequestView,
    /// Only when `acquired`: the PR numbers of the known requests with priority ≤ the
    /// holder's, ascending by priority.
    pub stacked_pull_requests: Option<Vec<PullRequest>>,
    /// Only when `acquired`: strictly increasing per provider, across restarts.
    #[schema(minimum = 0)]
    pub fencing_token: Option<u64>,
    /// Only when `pending`: why the run waits.
    pub waiting: Option<Waiting>,
    #[schema(format = DateTime)]
    pub first_seen_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    #[schema(format = DateTime)]
    pub acquired_at: Option<String>,
    #[schema(format = DateTime)]
    pub lease_expires_at: Option<String>,
}

/// The provider's settings; durations in whole seconds.
#[derive(ToSchema)]
pub struct ProviderConfig {
    #[schema(minimum = 0)]
    pub stabilize_duration: u64,
    #[schema(minimum = 0)]
    pub ttl: u64,
    #[schema(minimum = 0)]
    pub expected_request_count: u64,
    #[schema(minimum = 0)]
    pub delay_assignment_count: u64,
    /// For a holder that called acquire after its grant; 0 = off.
    #[schema(minimum = 0)]
    pub lease_timeout: u64,
    /// For a holder silent since its grant; 0 = off (it keeps the lease).
    #[schema(minimum = 0)]
    pub silent_holder_timeout: u64,
}

/// One merge queue: the holder, the known requests, the settings. More fields may be
/// added; none is renamed or removed.
#[derive(ToSchema)]
pub struct ProviderView {
    #[schema(format = DateTime)]
    pub last_updated_at: String,
    /// An admin paused grants (`POST …/pause`).
    pub paused: bool,
    /// The holder's request context, `null` when nobody holds the lease.
    #[schema(required = true)]
    pub acquired: Option<RequestContext>,
    /// Every known request, ascending by priority.
    pub known: Vec<RequestContext>,
    /// Long-poll callers held open right now.
    #[schema(minimum = 0)]
    pub waiting: u64,
    /// The last fencing token handed out (0 before the first grant).
    #[schema(minimum = 0)]
    pub last_fencing_token: u64,
    pub config: ProviderConfig,
}

/// `GET /`: every provider the caller may see, by `owner:repo:base_ref`.
#[derive(ToSchema)]
pub struct ProviderList(pub BTreeMap<String, ProviderView>);

/// What happened to a provider.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventKind {
    Registered,
    Granted,
    ReleasedSuccess,
    ReleasedFailure,
    Completed,
    Evicted,
    LeaseExpired,
    Revoked,
    Cleared,
    LeaseRevoked,
    Paused,
    Resumed,
}

/// One history event; the fields beyond `at` and `kind` are present when they apply.
#[derive(ToSchema)]
pub struct Event {
    #[schema(format = DateTime)]
    pub at: String,
    pub kind: EventKind,
    pub head_sha: Option<String>,
    pub priority: Option<i64>,
    #[schema(minimum = 0)]
    pub fencing_token: Option<u64>,
    /// `granted`: how long the run waited.
    #[schema(minimum = 0)]
    pub waited_ms: Option<u64>,
    #[schema(minimum = 0)]
    pub batch_size: Option<u64>,
    pub reason: Option<String>,
    /// Admin actions: who (`user <name>`, `bearer token`, `anonymous`).
    pub by: Option<String>,
}

/// `GET …/events`.
#[derive(ToSchema)]
pub struct EventList {
    /// `owner:repo:base_ref`.
    pub provider: String,
    /// Newest first.
    pub events: Vec<Event>,
}

/// Liveness and readiness: `ok`, `ready`, or `not ready` with the reason in `error`.
#[derive(ToSchema)]
pub struct HealthStatus {
    pub status: String,
    pub error: Option<String>,
}
