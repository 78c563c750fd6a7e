//! Several replicas: a follower sends every request that needs the state to the replica
//! that owns it, and returns its answer as is (status, headers, body). `/healthz`,
//! `/readyz`, `/metrics` and the static files are answered by every replica itself.
//!
//! Credentials travel with the request and are checked by the owner (this middleware runs
//! before auth); no header value is ever logged. A held long-poll is forwarded as such,
//! with a timeout longer than its wait, and the caller hanging up drops the forwarded
//! request, which the owner then sees as its own caller hanging up.

use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse, ResponseError};
use futures_util::StreamExt;
use log::warn;
use serde_json::json;

use super::conn;
use super::error::ApiError;
use super::input::{self, MAX_BODY};
use crate::metrics::Metrics;
use crate::service::{LeaseService, Route};

/// Marks a request one replica sent to another, so it is never forwarded twice.
pub const FORWARDED: &str = "x-mq-lease-forwarded";
/// How long a forwarded call that does not wait may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// A held call's timeout is its wait plus this.
const WAIT_SLACK: Duration = Duration::from_secs(15);

/// Answered by every replica itself: they describe this replica, or never change.
const LOCAL_PATHS: &[&str] = &[
    "/healthz",
    "/k8s/liveness",
    "/readyz",
    "/k8s/readiness",
    "/metrics",
    "/openapi.json",
    "/ui.css",
    "/ui.js",
    "/ui.svg",
];

/// One HTTP client per worker thread (awc clients are not `Send`), and this replica's
/// own URL (a request forwarded to it again is refused, not sent round in a loop).
pub struct Forwarder {
    client: awc::Client,
    pub my_url: Option<String>,
}

impl Forwarder {
    pub fn new(my_url: Option<String>) -> Self {
        Self {
            client: awc::Client::builder()
                .disable_redirects()
                .timeout(CALL_TIMEOUT)
                .finish(),
            my_url,
        }
    }
}

impl Forwarder {
    /// The owner at `url` answers its `/healthz` (within 2 s).
    pub async fn reaches(&self, url: &str) -> bool {
        let probe = self
            .client
            .get(format!("{url}/healthz"))
            .timeout(Duration::from_secs(2))
            .send();
        matches!(probe.await, Ok(res) if res.status().is_success())
    }
}

pub async fn forward(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let route = match (
        req.app_data::<web::Data<LeaseService>>(),
        req.app_data::<Forwarder>(),
    ) {
        (Some(service), Some(f)) if !LOCAL_PATHS.contains(&req.path()) => {
            service.route(f.my_url.as_deref())
        }
        _ => Route::Local,
    };
    match route {
        Route::Local => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body),
        Route::Refuse(reason) => Ok(refuse(req, reason)),
        Route::Forward(_) if req.headers().contains_key(FORWARDED) => Ok(refuse(
            req,
            "the replica this request was forwarded to does not own the state either",
        )),
        Route::Forward(owner) => {
            let (http, payload) = req.into_parts();
            let answer = match to_owner(&http, payload, &owner).await {
                Ok(res) => res,
                Err(e) => e.error_response(),
            };
            Ok(ServiceResponse::new(http, answer))
        }
    }
}

fn refuse(req: ServiceRequest, reason: &str) -> ServiceResponse<BoxBody> {
    let response = unavailable(reason.to_owned(), None).error_response();
    req.into_response(response)
}

fn unavailable(reason: String, owner: Option<&str>) -> ApiError {
    let error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason);
    match owner {
        Some(owner) => error.with_context(json!({ "owner": owner })),
        None => error,
    }
}

/// Sends the request to `owner` and turns its answer into ours.
async fn to_owner(
    http: &actix_web::HttpRequest,
    mut payload: actix_web::dev::Payload,
    owner: &str,
) -> Result<HttpResponse, ApiError> {
    let Some(f) = http.app_data::<Forwarder>() else {
        return Err(unavailable("forwarding is not set up".into(), None));
    };
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("request body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than {MAX_BODY} bytes"),
            )
            .with_context(json!({ "limit": MAX_BODY })));
        }
        body.extend_from_slice(&chunk);
    }
    // A wrong `wait` is the owner's to refuse; here it only sizes the timeout.
    let wait = input::wait(http).unwrap_or_default();
    let path = http
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut request = f
        .client
        .request(http.method().clone(), format!("{owner}{path}"))
        .timeout(
            wait + if wait.is_zero() {
                CALL_TIMEOUT
            } else {
                WAIT_SLACK
            },
        );
    for (name, value) in http.headers() {
        if !hop_by_hop(name) {
            request = request.append_header((name.clone(), value.clone()));
        }
    }
    request = request.insert_header((FORWARDED, f.my_url.as_deref().unwrap_or("1")));
    if let Some(peer) = http.peer_addr() {
        request = request.insert_header(("x-forwarded-for", peer.ip().to_string()));
    }

    let started = Instant::now();
    let sent = conn::hold(http, wait, async {
        request.send_body(body.freeze()).await.map_err(|e| {
            warn!(
                "forwarding {} {} to {owner} failed: {e}",
                http.method(),
                http.path()
            );
            unavailable(
                format!("the replica that owns the state did not answer: {e}"),
                Some(owner),
            )
        })
    })
    .await;
    if let Some(metrics) = http.app_data::<web::Data<Metrics>>() {
        let outcome = match &sent {
            Ok(res) => res.status().as_str().to_owned(),
            Err(_) => "error".to_owned(),
        };
        metrics
            .cluster
            .forward_seconds
            .with_label_values(&[outcome.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    let res = sent?;
    let mut answer = HttpResponse::build(res.status());
    for (name, value) in res.headers() {
        if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
            answer.append_header((name.clone(), value.clone()));
        }
    }
    Ok(answer.streaming(res))
}

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and the
/// ones awc sets itself.
fn hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == header::HOST
        || name == header::CONTENT_LENGTH
        || name == header::PROXY_AUTHORIZATION
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
        || name.as_str() == FORWARDED
}
