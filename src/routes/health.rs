//! Liveness, readiness and the metrics scrape (which checks readiness as `/readyz` does).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::forward::Forwarder;
use super::schema;
use crate::metrics::Metrics;
use crate::service::{LeaseService, Readiness, Route};

/// Liveness: 200 while the process serves. Open without credentials.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = schema::HealthStatus))
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 once state is loaded and while the store answers and the last write succeeded.
/// Open without credentials.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = schema::HealthStatus),
        (status = 503, description = "`{\"status\": \"not ready\", \"error\": reason}`", body = schema::HealthStatus),
    )
)]
pub async fn ready(
    req: HttpRequest,
    service: web::Data<LeaseService>,
    readiness: web::Data<Readiness>,
) -> HttpResponse {
    match problem(&req, &service, &readiness).await {
        None => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "error": reason })),
    }
}

/// Why this replica cannot serve, if it cannot. With several replicas a follower is ready
/// when the owner answers its `/healthz`: it can serve every route by forwarding.
async fn problem(
    req: &HttpRequest,
    service: &LeaseService,
    readiness: &Readiness,
) -> Option<&'static str> {
    let my_url = req
        .app_data::<Forwarder>()
        .and_then(|f| f.my_url.as_deref());
    match service.seat().route(my_url) {
        Route::Local => {}
        Route::Refuse(reason) => return Some(reason),
        Route::Forward(owner) => {
            return match req.app_data::<Forwarder>() {
                Some(f) if f.reaches(&owner).await => None,
                _ => Some("the replica that owns the state does not answer"),
            }
        }
    }
    if !readiness.is_loaded() {
        Some("state is still loading")
    } else if !service.store_ok().await {
        Some("the store does not answer")
    } else if readiness.last_write_failed() {
        Some("the last state change could not be saved")
    } else {
        None
    }
}

/// `GET /metrics`. Readiness is checked here as `/readyz` does, so `mq_lease_ready` is
/// right at scrape time; a failing store probe counts as a store error.
pub async fn metrics(
    req: HttpRequest,
    metrics: web::Data<Metrics>,
    service: web::Data<LeaseService>,
    readiness: web::Data<Readiness>,
) -> Result<HttpResponse, ApiError> {
    let ready = match problem(&req, &service, &readiness).await {
        None => true,
        Some(reason) => {
            if reason == "the store does not answer" {
                metrics
                    .lease
                    .store_errors
                    .with_label_values(&["probe"])
                    .inc();
            }
            false
        }
    };
    metrics.set_ready(ready);
    let text = metrics.render().map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("metrics could not be rendered: {e}"),
        )
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(text))
}
