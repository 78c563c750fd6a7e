//! Validated value types. Wire structs keep raw types; past the handler only these exist.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::text::{self, TextProblem};

/// Why a request value was refused; `field` names the JSON field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub message: &'static str,
}

/// Wall-clock time in milliseconds since the Unix epoch. The rules take it as an argument.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Time(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    pub fn plus(self, d: Duration) -> Self {
        Time(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// RFC 3339 with second precision, as the provider view shows it.
    pub fn rfc3339(self) -> String {
        humantime::format_rfc3339_seconds(self.to_system_time()).to_string()
    }
}

/// A run's identity (the merge group's head commit). 1–255 characters.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct HeadSha(Arc<str>);

impl HeadSha {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let message = match text::check(raw) {
            None => return Ok(Self(raw.into())),
            Some(TextProblem::Empty | TextProblem::TooLong) => "must be 1-255 characters",
            Some(TextProblem::ControlCharacter) => "must not contain control characters",
        };
        Err(InvalidValue {
            field: "head_sha",
            message,
        })
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HeadSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The merge group's branch, e.g. `gh-readonly-queue/main/pr-42-<sha>`. At most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct HeadRef(Arc<str>);

impl HeadRef {
    /// An empty string means "no head_ref" (older clients send `""`).
    pub fn parse(raw: &str) -> Result<Option<Self>, InvalidValue> {
        let message = match text::check(raw) {
            None => return Ok(Some(Self(raw.into()))),
            Some(TextProblem::Empty) => return Ok(None),
            Some(TextProblem::TooLong) => "must be at most 255 characters",
            Some(TextProblem::ControlCharacter) => "must not contain control characters",
        };
        Err(InvalidValue {
            field: "head_ref",
            message,
        })
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PR number of a merge-queue ref whose last segment is `pr-<number>-<hex>`.
    pub fn pull_request_number(&self) -> Option<u64> {
        // A byte search: this runs for every run the holder stacks, on every poll.
        let last = match self.0.bytes().rposition(|b| b == b'/') {
            Some(slash) => self.0.get(slash + 1..)?,
            None => &self.0,
        };
        let rest = last.strip_prefix("pr-")?;
        let (number, hex) = rest.split_once('-')?;
        let all_digits = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        let all_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if all_digits && all_hex {
            number.parse().ok()
        } else {
            None
        }
    }
}

/// Commits ahead of the base: higher includes more. Integer ≥ 1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Priority(i64);

impl Priority {
    pub fn parse(raw: i64) -> Result<Self, InvalidValue> {
        if raw < 1 {
            return Err(InvalidValue {
                field: "priority",
                message: "must be an integer >= 1",
            });
        }
        Ok(Self(raw))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Where a request stands (docs/rules.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Acquired,
    Success,
    Failure,
    Completed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Acquired => "acquired",
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Completed => "completed",
        }
    }
}

/// How a holder ended its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    /// `success`; `failure` or `cancelled` (a cancelled job counts as a failure).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "success" => Ok(Outcome::Success),
            "failure" | "cancelled" | "canceled" => Ok(Outcome::Failure),
            _ => Err(InvalidValue {
                field: "status",
                message: "must be one of success, failure, cancelled",
            }),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_number_is_parsed_from_the_last_segment_of_a_merge_queue_ref() {
        let r = |s: &str| HeadRef::parse(s).unwrap().unwrap().pull_request_number();
        assert_eq!(r("gh-readonly-queue/main/pr-42-abc123"), Some(42));
        assert_eq!(r("gh-readonly-queue/release/1.x/pr-7-deadBEEF"), Some(7));
        assert_eq!(r("pr-3-0a"), Some(3));
        assert_eq!(r("gh-readonly-queue/main/pr-42-xyz"), None);
        assert_eq!(r("gh-readonly-queue/main/pr--abc"), None);
        assert_eq!(r("feature/pr-1"), None);
    }

    #[test]
    fn values_outside_their_range_are_refused_with_the_field_named() {
        assert_eq!(Priority::parse(0).unwrap_err().field, "priority");
        assert!(Priority::parse(1).is_ok());
        assert_eq!(HeadSha::parse("").unwrap_err().field, "head_sha");
        assert!(HeadSha::parse(&"a".repeat(255)).is_ok());
        assert!(HeadSha::parse(&"a".repeat(256)).is_err());
        assert_eq!(
            HeadRef::parse(&"r".repeat(256)).unwrap_err().field,
            "head_ref"
        );
        assert_eq!(HeadRef::parse("").unwrap(), None);
    }

    #[test]
    fn cancelled_counts_as_failure_and_unknown_outcomes_are_refused() {
        assert_eq!(Outcome::parse("cancelled").unwrap(), Outcome::Failure);
        assert_eq!(Outcome::parse("success").unwrap(), Outcome::Success);
        assert_eq!(Outcome::parse("skipped").unwrap_err().field, "status");
    }

    #[test]
    fn time_renders_as_rfc3339() {
        assert_eq!(Time(1_767_261_600_000).rfc3339(), "2026-01-01T10:00:00Z");
    }
}
