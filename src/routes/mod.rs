//! HTTP: thin handlers that parse input, call `LeaseService` and shape the answer.

pub mod auth;
pub mod conn;
pub mod dto;
pub mod error;
pub mod forward;
pub mod health;
pub mod input;
pub mod lease;
pub mod providers;
pub mod schema;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{guard, web, HttpRequest, HttpResponse, Resource, ResponseError, Route};
use serde_json::json;

use error::ApiError;

/// Every route. Routes are tried in this order, so the ones every run polls come first:
/// no other path has four segments or more ending in `/acquire` or `/release`, so they
/// take nothing from the routes below. The other provider routes take `base_ref` with
/// slashes, so they come last.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/{owner}/{repo}/{base_ref:.+}/acquire")
            .route(web::post().to(lease::acquire))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/{owner}/{repo}/{base_ref:.+}/release")
            .route(web::post().to(lease::release))
            .default_service(method_not_allowed("POST")),
    )
    .service(get_only("/healthz", web::get().to(health::live)))
    .service(get_only("/k8s/liveness", web::get().to(health::live)))
    .service(get_only("/readyz", web::get().to(health::ready)))
    .service(get_only("/k8s/readiness", web::get().to(health::ready)))
    .service(get_only("/metrics", web::get().to(health::metrics)))
    .service(get_only(
        "/openapi.json",
        web::get().to(crate::openapi::openapi_json),
    ))
    .service(get_only("/ui", web::get().to(crate::ui::index)))
    .service(get_only("/ui.css", web::get().to(crate::ui::stylesheet)))
    .service(get_only("/ui.js", web::get().to(crate::ui::script)))
    .service(get_only("/ui.svg", web::get().to(crate::ui::icon)))
    .service(
        web::resource("/")
            .route(web::get().to(providers::list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/{owner}/{repo}/{base_ref:.+}/revoke")
            .route(web::post().to(providers::revoke))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/{owner}/{repo}/{base_ref:.+}/pause")
            .route(web::post().to(providers::pause))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/{owner}/{repo}/{base_ref:.+}/resume")
            .route(web::post().to(providers::resume))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/{owner}/{repo}/{base_ref:.+}/events")
            .route(web::get().to(providers::events))
            .default_service(method_not_allowed("GET")),
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
            .default_service(method_not_allowed("GET, DELETE")),
    );
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// A resource with only `route` (a GET); other methods answer 405.
fn get_only(path: &str, route: Route) -> Resource {
    web::resource(path)
        .route(route)
        .default_service(method_not_allowed("GET"))
}

/// 405 with the `Allow` header (RFC 9110 requires it) naming the methods `allow` lists.
fn method_not_allowed(allow: &'static str) -> Route {
    web::to(move |req: HttpRequest| async move {
        let mut response = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not allowed on {}", req.method(), req.path()),
        )
        .with_context(json!({ "allow": allow }))
        .error_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        response
    })
}
