//! The status page (docs/rules.md §8): `GET /ui` (every queue) and `GET /ui/{owner}/{repo}/{base_ref}`
//! (one queue), rendered on the server with askama from the same `LeaseService` calls
//! as the JSON routes. A few lines of JS fetch the page's `live` block every second
//! (`?fragment=live`) and swap it in, so the page follows changes without a reload.
//! CSS and JS are compiled in and served from `/ui.css` and `/ui.js`, so the strict
//! Content-Security-Policy can forbid inline script.

pub mod model;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, Route};
use askama::Template;
use serde_json::Value;

use crate::domain::Time;
use crate::routes::auth::Caller;
use crate::routes::dto::{event_view, provider_view};
use crate::routes::error::ApiError;
use crate::routes::input::{provider_key, query_param};
use crate::routes::table::Endpoint;
use crate::service::{LeaseService, ServiceError};
use model::{EventRow, QueueDetail, QueueRow, Window};

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");
const ICON: &str = include_str!("assets/icon.svg");

/// How many history events the queue page shows.
const EVENTS_SHOWN: usize = 20;

/// No inline script, no other origin: escaping mistakes cannot run script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// The route of each status-page endpoint of the route table.
pub fn handler(endpoint: Endpoint) -> Option<Route> {
    match endpoint {
        Endpoint::UiIndex => Some(web::to(index)),
        Endpoint::UiQueue => Some(web::to(queue)),
        Endpoint::UiCss => Some(web::to(stylesheet)),
        Endpoint::UiJs => Some(web::to(script)),
        Endpoint::UiIcon => Some(web::to(icon)),
        _ => None,
    }
}

/// May this caller see and use the admin controls (revoke, pause, resume, clear)?
/// The auth middleware's [`Caller`] decides: admin credentials and an open service
/// (no `[auth]`) may; a repository's OIDC token may not (docs/rules.md §9), and neither may a
/// request the middleware never saw.
pub fn is_admin(req: &HttpRequest) -> bool {
    Caller::of(req).is_some_and(|caller| caller.may_administer())
}

#[derive(Template)]
#[template(path = "ui/index.html", blocks = ["live"])]
struct IndexPage {
    queues: Vec<QueueRow>,
    now: String,
}

#[derive(Template)]
#[template(path = "ui/queue.html", blocks = ["live"])]
struct QueuePage {
    q: QueueDetail,
    events: Vec<EventRow>,
    /// Why the history is not shown (it is read from the store; the queue is shown anyway).
    events_unavailable: Option<String>,
    show_admin: bool,
    now: String,
}

/// `?fragment=live`: only the part the page's script swaps in.
fn wants_fragment(req: &HttpRequest) -> bool {
    query_param(req, "fragment").as_deref() == Some("live")
}

fn html(body: Result<String, askama::Error>) -> Result<HttpResponse, ApiError> {
    let body = body.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page could not be rendered: {e}"),
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(body))
}

/// `GET /ui`: every queue at a glance.
pub async fn index(
    req: HttpRequest,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let snapshots = service.list().await?;
    let now = Time::now();
    let page = IndexPage {
        queues: snapshots
            .iter()
            .map(|s| model::queue_row(s, &provider_view(s), now))
            .collect(),
        now: now.rfc3339(),
    };
    html(if wants_fragment(&req) {
        page.as_live().render()
    } else {
        page.render()
    })
}

/// `GET /ui/{owner}/{repo}/{base_ref}`: one queue.
pub async fn queue(
    req: HttpRequest,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let snapshot = service.view(&key).await?;
    // The queue itself comes from the provider; only its history is read from the store,
    // so a store that cannot be read costs the page its events, not the whole page.
    let (events, events_unavailable) = match service.history(&key, EVENTS_SHOWN).await {
        Ok(events) => (events, None),
        Err(e @ ServiceError::Unreadable(_)) => (Vec::new(), Some(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let events: Vec<Value> = events.iter().map(event_view).collect();
    let now = Time::now();
    let page = QueuePage {
        q: model::queue_detail(&snapshot, &provider_view(&snapshot), now),
        events: model::event_rows(&events),
        events_unavailable,
        show_admin: is_admin(&req),
        now: now.rfc3339(),
    };
    html(if wants_fragment(&req) {
        page.as_live().render()
    } else {
        page.render()
    })
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", CSS)
}

pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", JS)
}

pub async fn icon() -> HttpResponse {
    asset("image/svg+xml", ICON)
}
