//! Descriptions for the OpenAPI document (`crate::openapi`) of what has no wire type of its
//! own: the path and query parameters, the error body, the bodies the handlers build in
//! place (the provider list, the event list, health), and the error responses the routes
//! share. The request bodies and the views are described by their real types in
//! [`super::dto`].

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::dto::{EventView, ProviderView};

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

/// `GET /`: every provider the caller may see, by `owner:repo:base_ref`.
#[derive(ToSchema)]
pub struct ProviderList(pub BTreeMap<String, ProviderView<'static>>);

/// `GET …/events`.
#[derive(ToSchema)]
pub struct EventList {
    /// `owner:repo:base_ref`.
    pub provider: String,
    /// Newest first.
    pub events: Vec<EventView<'static>>,
}

/// Liveness and readiness: `ok`, `ready`, or `not ready` with the reason in `error`.
#[derive(ToSchema)]
pub struct HealthStatus {
    pub status: String,
    pub error: Option<String>,
}

/// An error answer the routes share: its status and what it means. The body is always
/// [`ErrorBody`].
struct ErrorRow(u16, &'static str);

const UNAUTHORIZED: ErrorRow = ErrorRow(401, "Credentials are required and missing or wrong");
const FORBIDDEN: ErrorRow = ErrorRow(
    403,
    "A repository's OIDC token may not use this provider or route",
);
const FORBIDDEN_ASSET: ErrorRow = ErrorRow(403, "A repository's OIDC token may not fetch it");
const UNKNOWN_PROVIDER: ErrorRow = ErrorRow(
    404,
    "Unknown provider (not configured, auto-registration off)",
);
const TOO_LARGE: ErrorRow = ErrorRow(413, "The body is larger than 64 KiB");
const NOT_THE_SHAPE: ErrorRow = ErrorRow(422, "The body is not JSON of the right shape");
const TOO_MANY_PROVIDERS: ErrorRow =
    ErrorRow(429, "Too many providers: a new one is not registered");
const UNAVAILABLE: ErrorRow = ErrorRow(503, "Storage is unusable now; retry later");

/// `rows` as a `responses(...)` map.
fn error_responses(rows: &[ErrorRow]) -> BTreeMap<String, RefOr<Response>> {
    rows.iter()
        .map(|ErrorRow(status, description)| {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// A set of shared error rows, for a route's `responses(...)`.
macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident: $($row:ident),+) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                error_responses(&[$($row),+])
            }
        }
    };
}

error_set!(
    /// Every route on a provider (`/{owner}/{repo}/{base_ref}…`): 401, 403, 404, 429, 503.
    ProviderErrors: UNAUTHORIZED, FORBIDDEN, UNKNOWN_PROVIDER, TOO_MANY_PROVIDERS, UNAVAILABLE
);
error_set!(
    /// Every route that reads a body: 413, 422.
    BodyErrors: TOO_LARGE, NOT_THE_SHAPE
);
error_set!(
    /// 401: credentials are required and missing or wrong.
    Unauthorized: UNAUTHORIZED
);
error_set!(
    /// 429: a new provider is not registered.
    TooManyProviders: TOO_MANY_PROVIDERS
);
error_set!(
    /// 503: storage is unusable now.
    Unavailable: UNAVAILABLE
);
error_set!(
    /// The status page's static files: 401, 403.
    AssetErrors: UNAUTHORIZED, FORBIDDEN_ASSET
);
