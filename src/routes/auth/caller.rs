//! Who is calling ([`Caller`]) and whether it is permitted what a request asks for (its
//! [`Access`], read from the route table).

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest};
use serde_json::json;

use crate::routes::error::ApiError;
/// What a request asks for comes from its row in the route table.
pub(super) use crate::routes::table::{access as classify, Access};

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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::Method;

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
