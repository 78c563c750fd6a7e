//! Parsing at the edge: path, query and body into validated values, or an `ApiError`.

use std::borrow::Cow;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::ApiError;
use crate::domain::ProviderKey;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;
/// The longest a waiting acquire may be held.
pub const MAX_WAIT: Duration = Duration::from_secs(120);

/// A path segment, percent-decoded (borrowed when there was nothing to decode).
fn segment<'a>(req: &'a HttpRequest, name: &str) -> Cow<'a, str> {
    let raw = req.match_info().get(name).unwrap_or_default();
    percent_decode_str(raw).decode_utf8_lossy()
}

/// `{owner}/{repo}/{base_ref}` from the path; `base_ref` raw with slashes or `%2F`-encoded.
pub fn provider_key(req: &HttpRequest) -> Result<ProviderKey, ApiError> {
    Ok(ProviderKey::new(
        &segment(req, "owner"),
        &segment(req, "repo"),
        &segment(req, "base_ref"),
    )?)
}

/// Reads a JSON body whatever its Content-Type says (old clients send `json`).
pub async fn json_body<T: DeserializeOwned>(payload: web::Payload) -> Result<T, ApiError> {
    let body = read_body(payload).await?;
    parse_json(&body)
}

/// Like [`json_body`], but an empty body (or only whitespace) is `T::default()`.
pub async fn optional_json_body<T: DeserializeOwned + Default>(
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = read_body(payload).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(&body)
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::unprocessable(format!(
            "request body is not JSON of the expected shape: {e}"
        ))
        .with_context(json!({ "line": e.line(), "column": e.column() }))
    })
}

/// Who is calling, for the history and the logs of admin actions: the HTTP Basic user
/// name, `bearer token`, or `anonymous`. Never a password or a token.
pub fn caller_name(req: &HttpRequest) -> String {
    use base64::Engine;
    let Some(value) = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return "anonymous".into();
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return "bearer token".into();
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return "unknown credentials".into();
    }
    let user = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|raw| {
            let text = String::from_utf8_lossy(&raw).into_owned();
            text.split_once(':').map(|(user, _)| user.to_owned())
        })
        .unwrap_or_default();
    let user: String = user.chars().filter(|c| !c.is_control()).take(64).collect();
    if user.is_empty() {
        "basic user".into()
    } else {
        format!("user {user}")
    }
}

/// The most a revoke reason may hold.
pub const MAX_REASON: usize = 255;

async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {MAX_BODY} bytes"),
        )
        .with_context(json!({ "limit": MAX_BODY }))
    };
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => too_large(),
            other => ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("request body could not be read: {other}"),
            ),
        })?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The value of `name` in the query string, percent-decoded.
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    req.query_string().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// `?wait=30` or `?wait=30s` / `1m`: how long a pending answer may be held (≤ 120 s).
pub fn wait(req: &HttpRequest) -> Result<Duration, ApiError> {
    let Some(raw) = query_param(req, "wait") else {
        return Ok(Duration::ZERO);
    };
    let raw = raw.trim();
    let parsed = if raw.is_empty() {
        Ok(Duration::ZERO)
    } else if raw.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a whole number of seconds: the longest wait.
        Ok(raw.parse::<u64>().map_or(MAX_WAIT, Duration::from_secs))
    } else {
        humantime::parse_duration(raw).map_err(|_| ())
    };
    parsed.map(|d| d.min(MAX_WAIT)).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "wait must be seconds or a duration like 30s, at most 120s",
        )
        .with_context(json!({ "field": "wait" }))
    })
}

/// `?limit=N` for the history (default 50, at most 500).
pub fn limit(req: &HttpRequest) -> Result<usize, ApiError> {
    match query_param(req, "limit") {
        None => Ok(50),
        // Too many digits for a usize is still a whole number: the most events.
        Some(raw) if is_digits(raw.trim()) => {
            Ok(raw.trim().parse::<usize>().map_or(500, |n| n.min(500)))
        }
        Some(_) => Err(
            ApiError::new(StatusCode::BAD_REQUEST, "limit must be a whole number")
                .with_context(json!({ "field": "limit" })),
        ),
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}
