//! Wire shapes (docs/rules.md §4), each one type for both the bytes serde writes or reads
//! and the OpenAPI description (`crate::openapi`): the request bodies here, the answer to
//! acquire and release in [`answer`] (why a run waits in [`waiting`]), the other views in
//! [`views`], the names and times they are made of in [`parts`].
//!
//! Request bodies keep raw types and ignore unknown fields; validation happens in the
//! handler. Their schemas state the rules the handlers apply (`HeadSha::parse`,
//! `Priority::parse`, …) as JSON Schema constraints, so a generated client and a fuzzer see
//! the limits the server enforces; schemathesis checks in CI (`.ci/schemathesis.sh`) that
//! the server keeps to them.

mod answer;
mod parts;
mod views;
mod waiting;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

pub use answer::{answer_body, PullRequest, RequestContext, RequestView};
pub use parts::{EventKindName, StatusName, WaitingReason};
pub use views::{event_view, provider_view, EventView, ProviderConfig, ProviderView};
pub use waiting::{holder_view, HolderView, WaitingView};

/// Body of `POST …/acquire`. Unknown fields are ignored; the body is read as JSON whatever
/// its `Content-Type` says.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = AcquireRequest, example = json!({"head_sha": "3f2a9c", "head_ref": "gh-readonly-queue/main/pr-42-3f2a9c", "priority": 3}))]
pub struct AcquireBody {
    /// The merge group's head commit: 1–255 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub head_sha: String,
    /// The merge group's branch, `gh-readonly-queue/<base>/pr-<n>-<sha>`: at most 255
    /// characters, no control characters; `""` or absent means none.
    #[serde(default)]
    #[schema(max_length = 255, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub head_ref: Option<String>,
    /// How many pull requests the run carries; the highest wins. Integer ≥ 1.
    #[serde(deserialize_with = "whole_i64")]
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub priority: i64,
}

/// Body of `POST …/revoke` (optional; an empty body is the same as `{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = RevokeRequest, example = json!({"reason": "the runner is stuck"}))]
pub struct RevokeBody {
    /// Why, for the history: at most 255 characters once trimmed.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Body of `POST …/release`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ReleaseRequest, example = json!({"head_sha": "3f2a9c", "status": "success", "fencing_token": 7}))]
pub struct ReleaseBody {
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
    #[serde(default, deserialize_with = "optional_whole_i64")]
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    pub priority: Option<i64>,
    /// The token of the `acquired` answer; a stale one is refused with 409.
    #[serde(default, deserialize_with = "optional_whole_u64")]
    #[schema(minimum = 0)]
    pub fencing_token: Option<u64>,
}

/// A whole number as JSON may write it: `3` or `3.0`. JSON (and JSON Schema's `integer`)
/// does not tell them apart, and some encoders write every number with a fraction.
/// Anything else (`3.5`, out of range) is the usual type error, so 422.
fn whole<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D, what: &str) -> Result<T, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let whole = if let Some(i) = n.as_i64() {
        Some(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Some(i128::from(u))
    } else {
        // Below 2^64 a float with no fraction is exactly an integer.
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 18_446_744_073_709_551_616.0)
            .map(|f| f as i128)
    };
    whole
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| D::Error::custom(format!("invalid value: {n}, expected {what}")))
}

fn whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole(d, "an integer")
}

fn optional_whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => whole(n, "an integer").map(Some).map_err(D::Error::custom),
    }
}

fn optional_whole_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => whole(n, "a non-negative integer")
            .map(Some)
            .map_err(D::Error::custom),
    }
}
