//! One middleware, outermost, that sees every request once it is answered (a held
//! long-poll when its answer is ready, a 401 from the auth middleware as well): it writes
//! one access-log line (target `mq_lease::access`) and records the HTTP metrics.
//!
//! The line has `method`, `route` (the route pattern), `path`, `status`, `duration_ms`,
//! `provider` (when the route names one), `peer`, and for a 401 a `reason`. It never
//! contains a header value, so no credential reaches the log. Levels ([`level_of`]): `warn`
//! for 401, 403 and 5xx, `debug` for a successful acquire or GET, `info` otherwise, so
//! `RUST_LOG=info,mq_lease::access=warn` keeps only the first and
//! `RUST_LOG=info,mq_lease::access=debug` shows every request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use log::kv::Value;
use log::Level;
use percent_encoding::percent_decode_str;

use crate::domain::ProviderKey;
use crate::metrics::Metrics;
use crate::routes::input;

/// The log target of access lines, for `RUST_LOG` filters.
pub const TARGET: &str = "mq_lease::access";
/// The `route` of a request that matched no route.
pub const UNMATCHED: &str = "UNKNOWN";
/// The common prefix of the provider routes.
const PROVIDER_PATTERN: &str = "/{owner}/{repo}/{base_ref}";

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().clone();
    let path = req.path().to_owned();
    // Only a request with a query can ask to wait; the route is checked once it is known.
    let asked_to_wait = !req.query_string().is_empty()
        && input::wait(req.request()).is_ok_and(|wait| !wait.is_zero());
    let had_credentials = req.headers().contains_key(header::AUTHORIZATION);
    let peer = req.peer_addr();

    let result = next.call(req).await;

    let seconds = started.elapsed().as_secs_f64();
    let (status, route) = match &result {
        // Once routed, the request knows its resource: the pattern is looked up by it, not
        // matched against every route again. A request refused before routing (a 401 of
        // the auth middleware) is matched by its path here.
        Ok(res) => (res.status(), route_label(res.request().match_pattern())),
        // No middleware of ours fails this way (refusals are responses); nothing to match.
        Err(e) => (e.as_response_error().status_code(), UNMATCHED.to_owned()),
    };
    let long_poll = asked_to_wait && route.ends_with("/acquire");
    if let Some(m) = &metrics {
        let labels = [method.as_str(), route.as_str(), status.as_str()];
        m.http.requests.with_label_values(&labels).inc();
        if long_poll {
            m.http
                .acquire_wait
                .with_label_values(&[status.as_str()])
                .observe(seconds);
        } else {
            m.http.duration.with_label_values(&labels).observe(seconds);
        }
    }

    let level = level_of(&method, &route, status);
    if log::log_enabled!(target: TARGET, level) {
        let provider = provider_of(&route, &path);
        let reason = (status == StatusCode::UNAUTHORIZED).then_some(if had_credentials {
            "wrong credentials"
        } else {
            "no credentials"
        });
        let duration_ms = (seconds * 1000.0 * 10.0).round() / 10.0;
        let mut fields: Vec<(&str, Value<'_>)> = vec![
            ("method", Value::from(method.as_str())),
            ("route", Value::from(route.as_str())),
            ("path", Value::from(path.as_str())),
            ("status", Value::from(status.as_u16())),
            ("duration_ms", Value::from(duration_ms)),
        ];
        if let Some(p) = &provider {
            fields.push(("provider", Value::from(p.as_str())));
        }
        let peer = peer.map(|a| a.ip().to_string());
        if let Some(p) = &peer {
            fields.push(("peer", Value::from(p.as_str())));
        }
        if let Some(r) = reason {
            fields.push(("reason", Value::from(r)));
        }
        let suffix = reason.map(|r| format!(" ({r})")).unwrap_or_default();
        log::logger().log(
            &log::Record::builder()
                .args(format_args!(
                    "{method} {path} {} {duration_ms}ms{suffix}",
                    status.as_u16()
                ))
                .level(level)
                .target(TARGET)
                .module_path_static(Some(module_path!()))
                .key_values(&fields)
                .build(),
        );
    }
    result
}

/// `warn` for 401, 403 and 5xx; `debug` for a successful `acquire` (a run polls every few
/// seconds, and every grant, release, eviction and expiry has its own `info` line) and a
/// successful GET (views, probes, metrics scrapes); `info` for everything else: other
/// refusals, and the answers to release and the admin actions.
fn level_of(method: &Method, route: &str, status: StatusCode) -> Level {
    match status.as_u16() {
        401 | 403 | 500.. => Level::Warn,
        200..=399 if *method == Method::GET || route.ends_with("/acquire") => Level::Debug,
        _ => Level::Info,
    }
}

/// The route pattern without its regex parts (`{base_ref:.+}` → `{base_ref}`), or
/// [`UNMATCHED`]: a label value per route, never per path. Stripped in place: it runs for
/// every request.
pub fn route_label(pattern: Option<String>) -> String {
    let Some(mut pattern) = pattern else {
        return UNMATCHED.to_owned();
    };
    if !pattern.contains(':') {
        return pattern;
    }
    let mut depth = 0usize;
    let mut in_regex = false;
    pattern.retain(|c| match c {
        '{' => {
            depth += 1;
            !in_regex
        }
        '}' => {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                in_regex = false;
                true
            } else {
                false
            }
        }
        ':' if depth == 1 => {
            in_regex = true;
            false
        }
        _ => !in_regex,
    });
    pattern
}

/// `owner:repo:base_ref` for a provider route, read from the path (routing may not have
/// happened, e.g. for a 401).
fn provider_of(route: &str, path: &str) -> Option<String> {
    let suffix = route.strip_prefix(PROVIDER_PATTERN)?;
    let rest = path.strip_suffix(suffix)?.strip_prefix('/')?;
    let mut parts = rest.splitn(3, '/');
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let owner = decode(parts.next()?);
    let repo = decode(parts.next()?);
    let base_ref = decode(parts.next()?);
    ProviderKey::new(&owner, &repo, &base_ref)
        .ok()
        .map(|k| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_drop_the_regex_of_a_segment() {
        let label = |p: &str| route_label(Some(p.to_owned()));
        assert_eq!(
            label("/{owner}/{repo}/{base_ref:.+}/acquire"),
            "/{owner}/{repo}/{base_ref}/acquire"
        );
        assert_eq!(label("/{id:\\d{2,3}}/x"), "/{id}/x");
        assert_eq!(label("/metrics"), "/metrics");
        assert_eq!(route_label(None), UNMATCHED);
    }

    #[test]
    fn a_successful_poll_or_get_is_debug_and_a_refusal_or_a_release_is_not() {
        let acquire = "/{owner}/{repo}/{base_ref}/acquire";
        let release = "/{owner}/{repo}/{base_ref}/release";
        let level = |method: Method, route: &str, status: u16| {
            level_of(&method, route, StatusCode::from_u16(status).unwrap())
        };
        assert_eq!(level(Method::POST, acquire, 200), Level::Debug);
        assert_eq!(level(Method::GET, "/metrics", 200), Level::Debug);
        assert_eq!(level(Method::POST, acquire, 409), Level::Info);
        assert_eq!(level(Method::POST, acquire, 400), Level::Info);
        assert_eq!(level(Method::POST, release, 200), Level::Info);
        assert_eq!(
            level(Method::DELETE, "/{owner}/{repo}/{base_ref}", 200),
            Level::Info
        );
        assert_eq!(level(Method::POST, acquire, 401), Level::Warn);
        assert_eq!(level(Method::GET, "/metrics", 403), Level::Warn);
        assert_eq!(level(Method::POST, acquire, 503), Level::Warn);
    }

    #[test]
    fn the_provider_is_read_from_the_path_of_a_provider_route() {
        let acquire = "/{owner}/{repo}/{base_ref}/acquire";
        assert_eq!(
            provider_of(acquire, "/acme/shop/release/1.x/acquire").as_deref(),
            Some("acme:shop:release/1.x")
        );
        assert_eq!(
            provider_of(acquire, "/acme/shop/release%2F1.x/acquire").as_deref(),
            Some("acme:shop:release/1.x")
        );
        assert_eq!(
            provider_of("/{owner}/{repo}/{base_ref}", "/acme/shop/main").as_deref(),
            Some("acme:shop:main")
        );
        assert_eq!(provider_of("/metrics", "/metrics"), None);
        assert_eq!(provider_of(UNMATCHED, "/a/b"), None);
    }
}
