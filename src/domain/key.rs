//! `ProviderKey`: which merge queue a provider serves (`owner:repo:base_ref`).

use std::fmt;

/// Why a path segment cannot be part of a provider key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be 1-255 characters without ':' or control characters")]
pub struct InvalidKey {
    pub field: &'static str,
}

/// Identity of one merge queue. `base_ref` may contain `/` (`release/1.x`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderKey {
    owner: String,
    repo: String,
    base_ref: String,
}

fn check(field: &'static str, value: &str, allow_slash: bool) -> Result<(), InvalidKey> {
    let bad = super::text::check(value).is_some()
        || value.len() > super::text::MAX_CHARS
        || value
            .chars()
            .any(|c| c == ':' || (!allow_slash && c == '/'));
    if bad {
        Err(InvalidKey { field })
    } else {
        Ok(())
    }
}

impl ProviderKey {
    pub fn new(owner: &str, repo: &str, base_ref: &str) -> Result<Self, InvalidKey> {
        check("owner", owner, false)?;
        check("repo", repo, false)?;
        check("base_ref", base_ref, true)?;
        Ok(Self {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            base_ref: base_ref.to_owned(),
        })
    }

    /// Parses the `owner:repo:base_ref` form used in the store and the list view.
    pub fn parse(s: &str) -> Result<Self, InvalidKey> {
        let mut parts = s.splitn(3, ':');
        let owner = parts.next().unwrap_or_default();
        let repo = parts.next().unwrap_or_default();
        let base_ref = parts.next().unwrap_or_default();
        Self::new(owner, repo, base_ref)
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }
    pub fn repo(&self) -> &str {
        &self.repo
    }
    pub fn base_ref(&self) -> &str {
        &self.base_ref
    }
}

impl fmt::Display for ProviderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.owner, self.repo, self.base_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_through_its_text_form_with_slashes_in_base_ref() {
        let key = ProviderKey::new("acme", "shop", "release/1.x").unwrap();
        assert_eq!(key.to_string(), "acme:shop:release/1.x");
        assert_eq!(ProviderKey::parse("acme:shop:release/1.x").unwrap(), key);
    }

    #[test]
    fn key_rejects_empty_parts_colons_and_slashes_in_owner() {
        assert!(ProviderKey::new("", "shop", "main").is_err());
        assert!(ProviderKey::new("ac/me", "shop", "main").is_err());
        assert!(ProviderKey::new("acme", "sh:op", "main").is_err());
        assert!(ProviderKey::parse("acme:shop").is_err());
    }
}
