//! Several replicas: a follower sends every request that needs the state to the replica
//! that owns it, and returns its answer as is (status, headers, body). The rows of the
//! route table answered `Here` (`/healthz`, `/readyz`, `/metrics`, the static files) are
//! answered by every replica itself.
//!
//! Credentials travel with the request and are checked by the owner (this middleware runs
//! before auth); no header value is ever logged. A held long-poll is forwarded as such,
//! with a timeout longer than its wait, and the caller hanging up drops the forwarded
//! request, which the owner then sees as its own caller hanging up.
//!
//! A forwarded call never waits on a replica that lost the state (docs/rules.md §12): while it is
//! in flight the seat is watched, and once it names another owner (or this replica) the
//! call is dropped and sent again where the state is now (acquire, release and reads,
//! which are safe to repeat), or answered 503 (admin changes). A paused or cut-off old
//! owner is thus left behind as soon as this replica learns of the new one.

use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse, ResponseError};
use futures_util::StreamExt;
use log::warn;
use serde_json::json;

use super::error::ApiError;
use super::input::{self, MAX_BODY};
use super::table;
use crate::metrics::Metrics;
use crate::service::{hold, LeaseService, Route};

/// Marks a request one replica sent to another, so it is never forwarded twice.
pub const FORWARDED: &str = "x-mq-lease-forwarded";
/// How long a forwarded call that does not wait may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// A held call's timeout is its wait plus this.
const WAIT_SLACK: Duration = Duration::from_secs(15);
/// How often an in-flight forwarded call looks whether the owner changed.
const WATCH_EVERY: Duration = Duration::from_millis(50);
/// How long a call whose owner changed waits for the new one to be known and serving.
const SETTLE: Duration = Duration::from_secs(2);

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
        (Some(service), Some(f)) if !table::answered_here(req.path()) => {
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
            let (http, mut payload) = req.into_parts();
            let body = match read_body(&mut payload).await {
                Ok(body) => body,
                Err(e) => return Ok(ServiceResponse::new(http, e.error_response())),
            };
            let received = Instant::now();
            let mut owner = owner;
            let mut resend = false;
            loop {
                match to_owner(&http, body.clone(), &owner, received, resend).await {
                    Ok(Sent::Answered(res)) => return Ok(ServiceResponse::new(http, res)),
                    Err(e) => return Ok(ServiceResponse::new(http, e.error_response())),
                    Ok(Sent::OwnerChanged) => {}
                }
                // The replica this call was with lost the state: it will not answer (paused,
                // cut off) or may answer from a past it no longer owns. A call that is safe
                // to repeat (docs/rules.md §3) goes where the state is now; any other is answered 503.
                if !safe_to_repeat(&http) {
                    let e = unavailable(
                        "the replica that owned the state lost it while this call was with it; \
                         it may or may not have been applied: read the state and try again"
                            .into(),
                        Some(&owner),
                    );
                    return Ok(ServiceResponse::new(http, e.error_response()));
                }
                match settled_route(&http, &owner).await {
                    Route::Forward(next_owner) => {
                        log::info!(
                            "forwarding: {owner} no longer owns the state; {} {} goes to {next_owner}",
                            http.method(),
                            http.path()
                        );
                        owner = next_owner;
                        resend = true;
                    }
                    Route::Local => {
                        log::info!(
                            "forwarding: {owner} no longer owns the state; this replica answers {} {}",
                            http.method(),
                            http.path()
                        );
                        let req = ServiceRequest::from_parts(http, Payload::from(body));
                        return next
                            .call(req)
                            .await
                            .map(ServiceResponse::map_into_boxed_body);
                    }
                    Route::Refuse(reason) => {
                        let e = unavailable(reason.to_owned(), None);
                        return Ok(ServiceResponse::new(http, e.error_response()));
                    }
                }
            }
        }
    }
}

/// Acquire, release and reads may be sent again to a new owner: acquire and release are
/// idempotent (docs/rules.md §3), and the new owner's state holds every change the old one committed.
/// Admin changes (clear, revoke, pause, resume) are not: a second clear or revoke could hit a
/// later round.
fn safe_to_repeat(http: &actix_web::HttpRequest) -> bool {
    let method = http.method();
    method == actix_web::http::Method::GET
        || method == actix_web::http::Method::HEAD
        || (method == actix_web::http::Method::POST
            && (http.path().ends_with("/acquire") || http.path().ends_with("/release")))
}

/// Where the state is after the owner `old` lost it: waits (at most [`SETTLE`]) while this
/// replica is still loading it or still names `old`, so a call is not refused for a moment's
/// hand-over.
async fn settled_route(http: &actix_web::HttpRequest, old: &str) -> Route {
    let started = Instant::now();
    loop {
        let route = current_route(http);
        let passing = match &route {
            Route::Forward(url) => url == old,
            Route::Local => false,
            Route::Refuse(_) => true,
        };
        if !passing || started.elapsed() >= SETTLE {
            return match route {
                Route::Forward(url) if url == old => {
                    Route::Refuse("the replica that owned the state stopped answering")
                }
                route => route,
            };
        }
        actix_web::rt::time::sleep(WATCH_EVERY).await;
    }
}

fn current_route(http: &actix_web::HttpRequest) -> Route {
    match (
        http.app_data::<web::Data<LeaseService>>(),
        http.app_data::<Forwarder>(),
    ) {
        (Some(service), Some(f)) => service.route(f.my_url.as_deref()),
        _ => Route::Refuse("forwarding is not set up"),
    }
}

/// Resolves once this replica no longer sends calls to `owner`: it claimed the state
/// itself, learned of another owner, or lost sight of any.
async fn owner_changed(http: &actix_web::HttpRequest, owner: &str) {
    loop {
        actix_web::rt::time::sleep(WATCH_EVERY).await;
        match current_route(http) {
            Route::Forward(url) if url == owner => {}
            _ => return,
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

/// The request body, read whole (at most [`MAX_BODY`]) so it can be sent again.
async fn read_body(payload: &mut Payload) -> Result<web::Bytes, ApiError> {
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
    Ok(body.freeze())
}

/// How a forwarded call ended.
enum Sent {
    /// The owner answered (or the call failed in a way that is the caller's answer).
    Answered(HttpResponse),
    /// This replica learned that `owner` no longer owns the state before it answered; the
    /// call to it was dropped.
    OwnerChanged,
}

/// Sends the request to `owner` and turns its answer into ours; gives up on it the moment
/// this replica's seat names another owner (or none), so no call waits on a replica that
/// lost the state (docs/rules.md §12). A held call sent again waits only what is left of its wait
/// (counted from `received`).
async fn to_owner(
    http: &actix_web::HttpRequest,
    body: web::Bytes,
    owner: &str,
    received: Instant,
    resend: bool,
) -> Result<Sent, ApiError> {
    let Some(f) = http.app_data::<Forwarder>() else {
        return Err(unavailable("forwarding is not set up".into(), None));
    };
    // A wrong `wait` is the owner's to refuse; here it only sizes the timeout.
    let asked = input::wait(http).unwrap_or_default();
    let wait = asked.saturating_sub(received.elapsed());
    let path = http
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let path = if asked.is_zero() || !resend {
        path.to_owned()
    } else {
        with_wait(path, wait)
    };
    let mut request = f
        .client
        .request(http.method().clone(), format!("{owner}{path}"))
        .timeout(
            wait + if asked.is_zero() {
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
    let call = async {
        tokio::select! {
            sent = request.send_body(body) => sent.map(Some).map_err(|e| {
                warn!(
                    "forwarding {} {} to {owner} failed: {e}",
                    http.method(),
                    http.path()
                );
                unavailable(
                    format!("the replica that owns the state did not answer: {e}"),
                    Some(owner),
                )
            }),
            () = owner_changed(http, owner) => Ok(None),
        }
    };
    let sent = hold(http, wait, call)
        .await
        .unwrap_or_else(|hung_up| Err(hung_up.into()));
    if let Some(metrics) = http.app_data::<web::Data<Metrics>>() {
        let outcome = match &sent {
            Ok(Some(res)) => res.status().as_str().to_owned(),
            Ok(None) => "owner_changed".to_owned(),
            Err(_) => "error".to_owned(),
        };
        metrics
            .cluster
            .forward_seconds
            .with_label_values(&[outcome.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    let Some(res) = sent? else {
        return Ok(Sent::OwnerChanged);
    };
    let mut answer = HttpResponse::build(res.status());
    for (name, value) in res.headers() {
        if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
            answer.append_header((name.clone(), value.clone()));
        }
    }
    Ok(Sent::Answered(answer.streaming(res)))
}

/// `path` with its `wait` parameter set to `wait` (in milliseconds).
fn with_wait(path: &str, wait: Duration) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("wait=") && *p != "wait")
        .map(str::to_owned)
        .collect();
    pairs.push(format!("wait={}ms", wait.as_millis()));
    format!("{base}?{}", pairs.join("&"))
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
