//! Credentials from `[auth]`: HTTP Basic users and Bearer tokens, compared in constant
//! time, checked before routing. Health, readiness and metrics stay open (metrics only
//! while `[server] metrics_auth` is off).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use base64::Engine;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::AuthSettings;

/// Paths that never need credentials.
const OPEN: &[&str] = &["/healthz", "/readyz", "/k8s/liveness", "/k8s/readiness"];

/// In app data when `[server] metrics_auth = true`: `/metrics` then needs credentials.
pub struct MetricsAuth;

/// The accepted `Authorization` header values, pre-rendered.
pub struct Authenticator {
    accepted: Vec<Vec<u8>>,
}

impl Authenticator {
    pub fn new(auth: &AuthSettings) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        let basic = auth
            .basic
            .iter()
            .map(|(user, pw)| format!("Basic {}", b64.encode(format!("{user}:{pw}"))));
        let bearer = auth.bearer_tokens.iter().map(|t| format!("Bearer {t}"));
        Self {
            accepted: basic.chain(bearer).map(String::into_bytes).collect(),
        }
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

pub async fn require_credentials(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let allowed = match req.app_data::<web::Data<Authenticator>>() {
        None => true,
        Some(_) if OPEN.contains(&req.path()) => true,
        Some(_) if req.path() == "/metrics" && req.app_data::<MetricsAuth>().is_none() => true,
        Some(auth) => auth.allows(
            req.headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        ),
    };
    if allowed {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let response = ApiError::unauthorized().error_response();
    Ok(req.into_response(response).map_into_right_body())
}
