//! Liveness, readiness and the metrics scrape (which checks readiness as `/readyz` does).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::schema;
use crate::metrics::Metrics;
use crate::service::{LeaseService, Readiness};

/// Liveness: 200 while the process serves. Open without credentials.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    security(()),
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
    security(()),
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = schema::HealthStatus),
        (status = 503, description = "`{\"status\": \"not ready\", \"error\": reason}`", body = schema::HealthStatus),
    )
)]
pub async fn ready(
    service: web::Data<LeaseService>,
    readiness: web::Data<Readiness>,
) -> HttpResponse {
    let problem = if !readiness.is_loaded() {
        Some("state is still loading")
    } else if !service.store_ok().await {
        Some("the store does not answer")
    } else if readiness.last_write_failed() {
        Some("the last state change could not be saved")
    } else {
        None
    };
    match problem {
        None => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Some(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "error": reason })),
    }
}

/// `GET /metrics`. Readiness is checked here as `/readyz` does, so `mq_lease_ready` is
/// right at scrape time; a failing store probe counts as a store error.
pub async fn metrics(
    metrics: web::Data<Metrics>,
    service: web::Data<LeaseService>,
    readiness: web::Data<Readiness>,
) -> Result<HttpResponse, ApiError> {
    let store_ok = service.store_ok().await;
    if !store_ok {
        metrics
            .lease
            .store_errors
            .with_label_values(&["probe"])
            .inc();
    }
    let ready = readiness.is_loaded() && store_ok && !readiness.last_write_failed();
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
