//! Who is calling and what a request asks for: [`Caller`], the request's [`Access`]
//! (from its method and path alone) and whether the caller is permitted it.

use std::borrow::Cow;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest};
use percent_encoding::percent_decode_str;
use serde_json::json;

use crate::routes::error::ApiError;

/// Who is calling, as the auth middleware decided. Every request past the middleware
/// has one in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `[auth]` basic or bearer credentials: every route.
    Admin,
    /// A verified GitHub OIDC token: the providers of this repository only.
    Repository { owner: String, repo: String },
    /// Auth is off.
    Anonymous,
}

impl Caller {
    /// The caller the middleware put on `req`; `None` if it did not run (then nothing
    /// should be shown).
    pub fn of(req: &HttpRequest) -> Option<Caller> {
        req.extensions().get::<Caller>().cloned()
    }

    /// May acquire, release and read the providers of `owner/repo` (GitHub names ignore
    /// ASCII case).
    pub fn may_use(&self, owner: &str, repo: &str) -> bool {
        match self {
            Caller::Admin | Caller::Anonymous => true,
            Caller::Repository {
                owner: own,
                repo: own_repo,
            } => own.eq_ignore_ascii_case(owner) && own_repo.eq_ignore_ascii_case(repo),
        }
    }

    /// May clear, revoke, pause and resume, and see every queue at once.
    pub fn may_administer(&self) -> bool {
        !matches!(self, Caller::Repository { .. })
    }

    /// Whether the request `access` describes is allowed; the error is the 403 body.
    pub(super) fn permits(&self, access: &Access<'_>) -> Result<(), ApiError> {
        let Caller::Repository { owner, repo } = self else {
            return Ok(());
        };
        let repository = format!("{owner}/{repo}");
        let forbidden = |message: String, reason: &str| {
            Err(ApiError::new(StatusCode::FORBIDDEN, message)
                .with_context(json!({ "repository": repository, "reason": reason })))
        };
        match access {
            // The handler shows only the caller's own providers.
            Access::List => Ok(()),
            Access::Use { owner, repo } if self.may_use(owner, repo) => Ok(()),
            Access::Use { owner, repo } => forbidden(
                format!("a token of {repository} may not use the providers of {owner}/{repo}"),
                "other_repository",
            ),
            Access::Admin => forbidden(
                format!("this route needs admin credentials; a token of {repository} may only acquire, release and read"),
                "admin_only",
            ),
            Access::UiList => forbidden(
                format!("the page of every queue needs admin credentials; open /ui/{owner}/{repo}/<base_ref> instead"),
                "admin_only",
            ),
            Access::Other => forbidden(
                format!("a token of {repository} may only acquire, release and read its own providers"),
                "admin_only",
            ),
        }
    }
}

/// What a request asks for, from its method and path alone: the middleware runs before
/// routing, so routes other parts of the service add later are classified here too.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Access<'a> {
    /// `GET /`: every provider.
    List,
    /// `/ui` or `/ui/`: the status page of every queue.
    UiList,
    /// Acquire, release or read a provider of `owner/repo`.
    Use {
        owner: Cow<'a, str>,
        repo: Cow<'a, str>,
    },
    /// Clear (`DELETE`), revoke, pause, resume, or any other change to a provider.
    Admin,
    /// Anything else.
    Other,
}

pub(super) fn classify<'a>(method: &Method, path: &'a str) -> Access<'a> {
    if path == "/" {
        return Access::List;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let reading = method == Method::GET || method == Method::HEAD;
    let decode = |s: &'a str| percent_decode_str(s).decode_utf8_lossy();
    match segments.as_slice() {
        ["ui"] | ["ui", ""] => Access::UiList,
        // `/ui/{owner}/{repo}/{base_ref…}`: a page about one provider.
        ["ui", owner, repo, _, ..] if reading && !owner.is_empty() && !repo.is_empty() => {
            Access::Use {
                owner: decode(owner),
                repo: decode(repo),
            }
        }
        ["ui", ..] => Access::Other,
        // `/{owner}/{repo}/{base_ref…}[/action]`
        [owner, repo, _, ..] if !owner.is_empty() && !repo.is_empty() => {
            let last = segments.last().copied().unwrap_or_default();
            let lease_call = method == Method::POST
                && segments.len() >= 4
                && matches!(last, "acquire" | "release");
            if reading || lease_call {
                Access::Use {
                    owner: decode(owner),
                    repo: decode(repo),
                }
            } else {
                Access::Admin
            }
        }
        _ => Access::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_of(owner: &'static str, repo: &'static str) -> Access<'static> {
        Access::Use {
            owner: owner.into(),
            repo: repo.into(),
        }
    }

    #[test]
    fn lease_calls_and_reads_are_use_of_the_owner_and_repo() {
        let post = Method::POST;
        let get = Method::GET;
        assert_eq!(
            classify(&post, "/acme/shop/main/acquire"),
            use_of("acme", "shop")
        );
        assert_eq!(
            classify(&post, "/acme/shop/release/1.x/release"),
            use_of("acme", "shop")
        );
        assert_eq!(classify(&get, "/acme/shop/main"), use_of("acme", "shop"));
        assert_eq!(
            classify(&get, "/acme/shop/main/events"),
            use_of("acme", "shop")
        );
        assert_eq!(classify(&get, "/ui/acme/shop/main"), use_of("acme", "shop"));
        assert_eq!(classify(&get, "/%61cme/shop/main"), use_of("acme", "shop"));
    }

    #[test]
    fn changes_other_than_acquire_and_release_are_admin() {
        for (method, path) in [
            (Method::DELETE, "/acme/shop/main"),
            (Method::POST, "/acme/shop/main/revoke"),
            (Method::POST, "/acme/shop/main/pause"),
            (Method::POST, "/acme/shop/main/resume"),
            (Method::POST, "/acme/shop/release/1.x/pause"),
            (Method::PUT, "/acme/shop/main/acquire"),
            (Method::POST, "/acme/shop/acquire"),
        ] {
            assert_eq!(classify(&method, path), Access::Admin, "{method} {path}");
        }
    }

    #[test]
    fn the_lists_and_unknown_paths_are_told_apart() {
        assert_eq!(classify(&Method::GET, "/"), Access::List);
        assert_eq!(classify(&Method::GET, "/ui"), Access::UiList);
        assert_eq!(classify(&Method::GET, "/ui/"), Access::UiList);
        assert_eq!(classify(&Method::GET, "/ui/acme/shop"), Access::Other);
        assert_eq!(classify(&Method::GET, "/metrics"), Access::Other);
        assert_eq!(classify(&Method::GET, "//shop/main"), Access::Other);
    }

    #[test]
    fn a_repository_caller_uses_only_its_own_providers_whatever_the_case() {
        let caller = Caller::Repository {
            owner: "Acme".into(),
            repo: "Shop".into(),
        };
        assert!(caller.permits(&use_of("acme", "shop")).is_ok());
        assert!(caller.permits(&Access::List).is_ok());
        for denied in [
            use_of("acme", "other"),
            use_of("other", "shop"),
            Access::Admin,
            Access::UiList,
            Access::Other,
        ] {
            let error = caller.permits(&denied).unwrap_err();
            assert_eq!(error.status, StatusCode::FORBIDDEN, "{denied:?}");
        }
        for everything in [Caller::Admin, Caller::Anonymous] {
            assert!(everything.permits(&Access::Admin).is_ok());
            assert!(everything.may_use("x", "y") && everything.may_administer());
        }
    }
}
