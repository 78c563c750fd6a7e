//! HTTP: thin handlers that parse input, call `LeaseService` and shape the answer.

pub mod auth;
pub mod conn;
pub mod dto;
pub mod error;
pub mod health;
pub mod input;
pub mod lease;
pub mod providers;

use actix_web::http::StatusCode;
use actix_web::{guard, web, HttpRequest, HttpResponse};

use error::ApiError;

/// Every route. The provider routes take `base_ref` with slashes, so they come last.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::live))
        .route("/k8s/liveness", web::get().to(health::live))
        .route("/readyz", web::get().to(health::ready))
        .route("/k8s/readiness", web::get().to(health::ready))
        .route("/ui", web::get().to(crate::ui::index))
        .route("/ui.css", web::get().to(crate::ui::stylesheet))
        .route("/ui.js", web::get().to(crate::ui::script))
        .route("/ui.svg", web::get().to(crate::ui::icon))
        .service(
            web::resource("/")
                .route(web::get().to(providers::list))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/{owner}/{repo}/{base_ref:.+}/acquire")
                .route(web::post().to(lease::acquire))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/{owner}/{repo}/{base_ref:.+}/release")
                .route(web::post().to(lease::release))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/{owner}/{repo}/{base_ref:.+}/revoke")
                .route(web::post().to(providers::revoke))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/{owner}/{repo}/{base_ref:.+}/pause")
                .route(web::post().to(providers::pause))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/{owner}/{repo}/{base_ref:.+}/resume")
                .route(web::post().to(providers::resume))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/{owner}/{repo}/{base_ref:.+}/events")
                .route(web::get().to(providers::events))
                .default_service(web::to(method_not_allowed)),
        )
        // GET only (a resource guard): other methods fall through to the provider routes.
        .service(
            web::resource("/ui/{owner}/{repo}/{base_ref:.+}")
                .guard(guard::Get())
                .to(crate::ui::queue),
        )
        .service(
            web::resource("/{owner}/{repo}/{base_ref:.+}")
                .route(web::get().to(providers::details))
                .route(web::delete().to(providers::clear))
                .default_service(web::to(method_not_allowed)),
        );
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}
