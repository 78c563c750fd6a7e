//! `${VAR}` substitution inside TOML string values.
//!
//! It runs on values after the file is parsed, so comments and keys are never touched.
//! `$${` is a literal `${`; a `$` not followed by `{` is kept as is. Replaced text is not
//! scanned again. The lookup is injected so tests never touch the process environment.

/// Why a string could not be expanded. Names the variable, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable `{0}` is not set")]
    Missing(String),
    #[error("`${{` without a closing `}}`")]
    Unterminated,
    #[error(
        "`${{...}}` must hold a variable name (letters, digits, `_`; not starting with a digit)"
    )]
    BadName,
}

/// Replaces every `${NAME}` in `raw` with `lookup(NAME)`.
pub fn substitute(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(EnvError::Unterminated)?;
            let name = &after[..end];
            if !is_name(name) {
                return Err(EnvError::BadName);
            }
            let value = lookup(name).ok_or_else(|| EnvError::Missing(name.to_owned()))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER" => Some("ci".to_owned()),
            "TOKEN" => Some("s3cr3t-${NOT_EXPANDED}".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn text_without_variables_is_unchanged() {
        assert_eq!(substitute("plain $5 text", &env).unwrap(), "plain $5 text");
    }

    #[test]
    fn every_variable_in_a_string_is_replaced() {
        assert_eq!(
            substitute("${USER}:${USER}@x${EMPTY}", &env).unwrap(),
            "ci:ci@x"
        );
    }

    #[test]
    fn replaced_text_is_not_expanded_again() {
        assert_eq!(
            substitute("${TOKEN}", &env).unwrap(),
            "s3cr3t-${NOT_EXPANDED}"
        );
    }

    #[test]
    fn a_doubled_dollar_escapes_the_variable() {
        assert_eq!(substitute("$${USER} ${USER}", &env).unwrap(), "${USER} ci");
    }

    #[test]
    fn a_missing_variable_is_named() {
        assert_eq!(
            substitute("a${USER}${NOPE}", &env),
            Err(EnvError::Missing("NOPE".to_owned()))
        );
        assert!(EnvError::Missing("NOPE".to_owned())
            .to_string()
            .contains("`NOPE`"));
    }

    #[test]
    fn malformed_references_are_rejected() {
        assert_eq!(substitute("${USER", &env), Err(EnvError::Unterminated));
        assert_eq!(substitute("${}", &env), Err(EnvError::BadName));
        assert_eq!(substitute("${1X}", &env), Err(EnvError::BadName));
        assert_eq!(substitute("${A B}", &env), Err(EnvError::BadName));
    }
}
