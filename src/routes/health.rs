//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::schema;
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
