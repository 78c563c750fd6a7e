//! Identity at the edge: one middleware turns a request into a [`Caller`] before routing.
//!
//! * `[auth]` basic users and bearer tokens (compared in constant time) are **admin**
//!   credentials: every route.
//! * A GitHub Actions OIDC token (`[auth.github_oidc]`, see [`oidc`]) makes the caller a
//!   **repository**: it may acquire, release and read the providers of its own
//!   `owner/repo` only. Another repository's provider, an admin route (clear, revoke,
//!   pause, resume) and the status page of every queue answer 403; `GET /` lists only
//!   its own providers.
//! * Without `[auth]` every caller is **anonymous** and may do everything.
//!
//! Health and readiness always stay open; `/metrics` stays open unless
//! `metrics_needs_auth` is set. The caller goes into the request extensions, so handlers
//! can ask it whether it may see a key ([`Caller::of`], [`Caller::may_use`]).

mod caller;
pub mod oidc;

pub use caller::Caller;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse, ResponseError};
use base64::Engine;
use log::info;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::AuthSettings;
use caller::classify;
use oidc::{OidcVerifier, Rejection};

/// Which paths need no credentials is the route table's to say.
pub use super::table::is_open;

/// The accepted credentials: pre-rendered admin `Authorization` values and, with
/// `[auth.github_oidc]`, the token verifier.
pub struct Authenticator {
    accepted: Vec<Vec<u8>>,
    has_basic: bool,
    oidc: Option<OidcVerifier>,
    /// `/metrics` needs credentials too (`[server] metrics_auth`); false until set.
    pub metrics_needs_auth: bool,
}

/// Why a request got no caller.
enum Refusal {
    /// No or wrong credentials; `Some` with the reason when a token was checked.
    Unauthorized(Option<&'static str>),
    Oidc(Rejection),
}

impl Authenticator {
    pub fn new(auth: &AuthSettings) -> Result<Self, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let basic = auth
            .basic
            .iter()
            .map(|(user, pw)| format!("Basic {}", b64.encode(format!("{user}:{pw}"))));
        let bearer = auth.bearer_tokens.iter().map(|t| format!("Bearer {t}"));
        let oidc = match &auth.github_oidc {
            Some(settings) => Some(OidcVerifier::new(settings.clone())?),
            None => None,
        };
        Ok(Self {
            accepted: basic.chain(bearer).map(String::into_bytes).collect(),
            has_basic: !auth.basic.is_empty(),
            oidc,
            metrics_needs_auth: false,
        })
    }

    /// Every accepted value is compared, so the time taken does not tell which came close.
    pub fn allows(&self, presented: Option<&[u8]>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        let presented = normalise_scheme(presented);
        self.accepted
            .iter()
            .fold(0u8, |ok, a| ok | a.as_slice().ct_eq(&presented).unwrap_u8())
            == 1
    }

    async fn identify(&self, authorization: Option<&HeaderValue>) -> Result<Caller, Refusal> {
        let presented = authorization.map(HeaderValue::as_bytes);
        if self.allows(presented) {
            return Ok(Caller::Admin);
        }
        let (Some(verifier), Some(token)) = (&self.oidc, presented.and_then(bearer_jwt)) else {
            return Err(Refusal::Unauthorized(None));
        };
        match verifier.verify(token).await {
            Ok(repository) => Ok(Caller::Repository {
                owner: repository.owner,
                repo: repository.repo,
            }),
            Err(Rejection::Invalid(why)) => Err(Refusal::Unauthorized(Some(why.reason()))),
            Err(other) => Err(Refusal::Oidc(other)),
        }
    }

    fn refusal_response(&self, refusal: Refusal) -> HttpResponse {
        match refusal {
            Refusal::Unauthorized(reason) => {
                let mut error = match (reason, self.accepted.is_empty()) {
                    (Some(reason), _) => ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "the bearer token is not a valid GitHub Actions OIDC token for this service",
                    )
                    .with_context(json!({ "reason": reason })),
                    (None, true) => ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "a GitHub Actions OIDC token is required: Authorization: Bearer <token>",
                    ),
                    (None, false) => ApiError::unauthorized(),
                };
                if reason.is_none() && self.oidc.is_some() && !self.accepted.is_empty() {
                    error.message.push_str(", or a GitHub Actions OIDC token");
                }
                let mut response = error.error_response();
                let bearer = if reason.is_some() {
                    "Bearer realm=\"mq-lease-service\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"mq-lease-service\""
                };
                let challenge = if self.has_basic {
                    format!("Basic realm=\"mq-lease-service\", {bearer}")
                } else {
                    bearer.to_owned()
                };
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            Refusal::Oidc(Rejection::NotAllowed { repository }) => ApiError::new(
                StatusCode::FORBIDDEN,
                format!("repository {repository} is not in [auth.github_oidc] repositories"),
            )
            .with_context(json!({ "repository": repository, "reason": "not_allowed" }))
            .error_response(),
            Refusal::Oidc(Rejection::KeysUnavailable) => {
                let mut response = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the token cannot be checked now: the issuer's signing keys could not be fetched",
                )
                .with_context(json!({ "reason": "jwks_unavailable" }))
                .error_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
                response
            }
            // Mapped to `Unauthorized` in `identify`.
            Refusal::Oidc(Rejection::Invalid(why)) => {
                self.refusal_response(Refusal::Unauthorized(Some(why.reason())))
            }
        }
    }
}

/// The token of `Bearer <token>` when it has the shape of a JWT (three dot-separated
/// parts); admin bearer tokens are compared before this.
fn bearer_jwt(value: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token.split('.').count() == 3).then_some(token)
}

/// `bearer xyz` and `Bearer xyz` are the same credentials: the scheme is case-insensitive.
fn normalise_scheme(value: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(value);
    let text = text.trim();
    match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => {
            format!("Basic {}", rest.trim()).into_bytes()
        }
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            format!("Bearer {}", rest.trim()).into_bytes()
        }
        _ => text.as_bytes().to_vec(),
    }
}

/// The auth middleware: decides the [`Caller`], refuses (401/403/503) or passes the
/// request on with the caller in its extensions.
pub async fn require_credentials(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(auth) = req.app_data::<web::Data<Authenticator>>().cloned() else {
        req.extensions_mut().insert(Caller::Anonymous);
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    if is_open(req.path(), auth.metrics_needs_auth) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let caller = match auth
        .identify(req.headers().get(header::AUTHORIZATION))
        .await
    {
        Ok(caller) => caller,
        Err(refusal) => {
            if let Refusal::Unauthorized(Some(reason)) = &refusal {
                info!(
                    "oidc: token rejected ({reason}) on {} {}",
                    req.method(),
                    req.path()
                );
            }
            if let Refusal::Oidc(rejection) = &refusal {
                info!(
                    "oidc: token refused ({rejection:?}) on {} {}",
                    req.method(),
                    req.path()
                );
            }
            let response = auth.refusal_response(refusal);
            return Ok(req.into_response(response).map_into_right_body());
        }
    };
    if let Err(forbidden) = caller.permits(&classify(req.method(), req.path())) {
        info!(
            "oidc: {caller:?} refused on {} {}: {forbidden}",
            req.method(),
            req.path()
        );
        let response = forbidden.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    req.extensions_mut().insert(caller);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_is_open_unless_it_needs_auth() {
        assert!(is_open("/metrics", false));
        assert!(!is_open("/metrics", true));
        assert!(is_open("/readyz", true));
        assert!(!is_open("/acme/shop/main", false));
    }

    #[test]
    fn only_jwt_shaped_bearer_values_go_to_the_verifier() {
        assert_eq!(bearer_jwt(b"Bearer a.b.c"), Some("a.b.c"));
        assert_eq!(bearer_jwt(b"bearer  a.b.c "), Some("a.b.c"));
        assert_eq!(bearer_jwt(b"Bearer wrong"), None);
        assert_eq!(bearer_jwt(b"Basic a.b.c"), None);
    }
}
