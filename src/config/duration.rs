//! Durations as people write them in the config file and on the command line.
//!
//! Accepted: `"30s"`, `"5m"`, `"1h30m"`, `"250ms"` (anything [`humantime`] reads), or a
//! whole number of seconds, either as a TOML integer (`ttl = 30`) or as digits in a
//! string (`"30"`, `--ttl 30`). `0` is zero, which for `lease_timeout` means "off".
//! Negative numbers, fractions and unknown units are rejected.

use std::fmt;
use std::time::Duration;

/// Longest duration accepted anywhere: one year. Far beyond any useful window, and it
/// keeps `now + duration` from overflowing in the timers.
pub const MAX: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Why a duration was rejected. The message never repeats the input, so it is safe to
/// show even when the text came from an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration must not be empty")]
    Empty,
    #[error("a duration must not be negative")]
    Negative,
    #[error("a duration must be at most 365 days")]
    TooLong,
    #[error(
        "not a duration ({0}); write e.g. \"30s\", \"5m\", \"1h30m\", \"250ms\" or whole seconds"
    )]
    Invalid(String),
}

/// Bounds of `silent_holder_timeout` besides 0 (off): under a second it would take the
/// lease from a client that cannot notice almost at once, and beyond a week no job still
/// runs (GitHub ends a self-hosted job after 5 days), so it would be "off" by another name.
pub const SILENT_HOLDER_TIMEOUT_MIN: Duration = Duration::from_secs(1);
pub const SILENT_HOLDER_TIMEOUT_MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Checks a `silent_holder_timeout`: 0 (off) or within the bounds above.
pub fn check_silent_holder_timeout(d: Duration) -> Result<Duration, &'static str> {
    if d.is_zero() || (SILENT_HOLDER_TIMEOUT_MIN..=SILENT_HOLDER_TIMEOUT_MAX).contains(&d) {
        Ok(d)
    } else {
        Err("must be 0 (off) or between 1s and 7d")
    }
}

/// Parses the text form: digits are seconds, anything else goes to humantime.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative);
    }
    let duration = if text.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = text.parse().map_err(|_| DurationError::TooLong)?;
        Duration::from_secs(secs)
    } else {
        humantime::parse_duration(text).map_err(|e| DurationError::Invalid(describe(&e)))?
    };
    check_max(duration)
}

/// A TOML integer: whole seconds.
pub fn from_seconds(secs: i64) -> Result<Duration, DurationError> {
    let secs = u64::try_from(secs).map_err(|_| DurationError::Negative)?;
    check_max(Duration::from_secs(secs))
}

/// clap value parser for the duration flags (`--ttl 30s`); same rules as the file.
pub fn parse_arg(text: &str) -> Result<Duration, String> {
    parse(text).map_err(|e| e.to_string())
}

fn check_max(duration: Duration) -> Result<Duration, DurationError> {
    if duration > MAX {
        Err(DurationError::TooLong)
    } else {
        Ok(duration)
    }
}

/// humantime's messages quote the input back; keep only the kind of problem.
fn describe(error: &humantime::DurationError) -> String {
    use humantime::DurationError as H;
    match error {
        H::InvalidCharacter(_) => "invalid character".to_owned(),
        H::NumberExpected(_) => "number expected".to_owned(),
        H::UnknownUnit { .. } => "unknown unit".to_owned(),
        H::NumberOverflow => "number too large".to_owned(),
        H::Empty => "empty".to_owned(),
    }
}

/// A duration as it appears in the file, before `${VAR}` substitution and parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawDuration {
    Seconds(i64),
    Text(String),
}

impl<'de> serde::Deserialize<'de> for RawDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like \"30s\", \"5m\", \"1h30m\" or whole seconds")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawDuration, E> {
                i64::try_from(v)
                    .map(RawDuration::Seconds)
                    .map_err(|_| E::custom(DurationError::TooLong))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn seconds_minutes_and_compound_forms_parse() {
        assert_eq!(parse("30s"), Ok(secs(30)));
        assert_eq!(parse("5m"), Ok(secs(300)));
        assert_eq!(parse("1h30m"), Ok(secs(5400)));
        assert_eq!(parse("1h 30m"), Ok(secs(5400)));
        assert_eq!(parse(" 10m "), Ok(secs(600)));
    }

    #[test]
    fn milliseconds_parse() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn a_string_of_digits_is_seconds() {
        assert_eq!(parse("42"), Ok(secs(42)));
    }

    #[test]
    fn an_integer_is_seconds() {
        assert_eq!(from_seconds(42), Ok(secs(42)));
    }

    #[test]
    fn zero_is_zero_in_both_forms() {
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(from_seconds(0), Ok(Duration::ZERO));
    }

    #[test]
    fn negative_values_are_rejected() {
        assert_eq!(parse("-5"), Err(DurationError::Negative));
        assert_eq!(parse("-5s"), Err(DurationError::Negative));
        assert_eq!(from_seconds(-1), Err(DurationError::Negative));
    }

    #[test]
    fn garbage_is_rejected_without_echoing_it() {
        for text in ["soon", "5 parsecs", "1.5", "5x", "s30"] {
            let err = parse(text).unwrap_err();
            assert!(matches!(err, DurationError::Invalid(_)), "{text}: {err:?}");
            assert!(!err.to_string().contains(text), "{text} echoed in {err}");
        }
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("   "), Err(DurationError::Empty));
    }

    #[test]
    fn absurdly_long_durations_are_rejected() {
        assert_eq!(parse("366d"), Err(DurationError::TooLong));
        assert_eq!(
            parse("99999999999999999999999"),
            Err(DurationError::TooLong)
        );
        assert_eq!(from_seconds(i64::MAX), Err(DurationError::TooLong));
        assert_eq!(parse("365d"), Ok(MAX));
    }

    #[test]
    fn the_flag_parser_follows_the_same_rules() {
        assert_eq!(parse_arg("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_arg("90"), Ok(secs(90)));
        assert!(parse_arg("-1").unwrap_err().contains("negative"));
    }
}
