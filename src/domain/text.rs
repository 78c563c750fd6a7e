//! The one text rule for names that come from callers (key segments, head_sha, head_ref):
//! 1–255 characters, no control characters.

/// Longest accepted text, in characters.
pub const MAX_CHARS: usize = 255;

/// What is wrong with a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    Empty,
    TooLong,
    ControlCharacter,
}

/// Checks `raw` against the rule; `None` if it is fine.
pub fn check(raw: &str) -> Option<TextProblem> {
    if raw.is_empty() {
        Some(TextProblem::Empty)
    } else if raw.chars().count() > MAX_CHARS {
        Some(TextProblem::TooLong)
    } else if raw.chars().any(char::is_control) {
        Some(TextProblem::ControlCharacter)
    } else {
        None
    }
}
