//! `ProviderKey`: which merge queue a provider serves (`owner:repo:base_ref`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Why a path segment cannot be part of a provider key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be 1-255 characters without ':' or control characters")]
pub struct InvalidKey {
    pub field: &'static str,
}

/// Identity of one merge queue. `base_ref` may contain `/` (`release/1.x`).
///
/// Held as its text form in one shared string: the registry, the directory, the metrics and
/// the actor each keep the key of every provider, and a clone costs a reference count, not
/// three strings. Owner and repo contain no `:`, so the parts are found again by splitting.
#[derive(Clone)]
pub struct ProviderKey {
    text: Arc<str>,
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
            text: format!("{owner}:{repo}:{base_ref}").into(),
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

    /// The parts; `new` made sure owner and repo hold no `:` and that all three are there.
    fn parts(&self) -> (&str, &str, &str) {
        let mut parts = self.text.splitn(3, ':');
        let owner = parts.next().unwrap_or_default();
        let repo = parts.next().unwrap_or_default();
        let base_ref = parts.next().unwrap_or_default();
        (owner, repo, base_ref)
    }

    pub fn owner(&self) -> &str {
        self.parts().0
    }
    pub fn repo(&self) -> &str {
        self.parts().1
    }
    pub fn base_ref(&self) -> &str {
        self.parts().2
    }

    /// The `owner:repo:base_ref` form (what `Display` writes), without allocating.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ProviderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (owner, repo, base_ref) = self.parts();
        f.debug_struct("ProviderKey")
            .field("owner", &owner)
            .field("repo", &repo)
            .field("base_ref", &base_ref)
            .finish()
    }
}

/// The text form is one-to-one with the parts (none of them may hold a `:`), so equal texts
/// are equal keys.
impl PartialEq for ProviderKey {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ProviderKey {}

impl Hash for ProviderKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

/// By owner, then repo, then base ref, as the parts compare (not the text: `a-b:…` sorts
/// after `a:…` here, as `a-b` after `a`), so lists keep the order they always had.
impl Ord for ProviderKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl PartialOrd for ProviderKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
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

    #[test]
    fn keys_order_by_owner_then_repo_then_base_ref_not_by_their_text() {
        let a = ProviderKey::new("a", "z", "main").unwrap();
        let ab = ProviderKey::new("a-b", "a", "main").unwrap();
        // As text, "a-b:a:main" < "a:z:main" (':' sorts after '-').
        assert!(ab.to_string() < a.to_string());
        assert!(a < ab, "owner \"a\" comes before owner \"a-b\"");
        let k = ProviderKey::new("acme", "shop", "release/1.x").unwrap();
        assert_eq!(
            (k.owner(), k.repo(), k.base_ref()),
            ("acme", "shop", "release/1.x")
        );
        assert_eq!(k.as_str(), "acme:shop:release/1.x");
    }
}
