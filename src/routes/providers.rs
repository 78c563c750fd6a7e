//! Provider views: details, clear, list, history; admin revoke, pause and resume.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use actix_web::http::StatusCode;

use super::auth::Caller;
use super::dto::{event_view, provider_view, RevokeBody};
use super::error::ApiError;
use super::input::{caller_name, limit, optional_json_body, provider_key, MAX_REASON};
use super::schema;
use crate::service::LeaseService;

#[utoipa::path(
    get,
    path = "/{owner}/{repo}/{base_ref}",
    tag = "providers",
    params(schema::ProviderPath),
    responses(
        (status = 200, description = "The provider view", body = super::dto::ProviderView),
        (status = 400, description = "A value fails validation (`error_context.field` names it)", body = schema::ErrorBody),
        schema::ProviderErrors,
    )
)]
pub async fn details(
    req: HttpRequest,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let view = service.view(&key).await?;
    Ok(HttpResponse::Ok().json(provider_view(&view)))
}

#[utoipa::path(
    delete,
    path = "/{owner}/{repo}/{base_ref}",
    tag = "admin",
    params(schema::ProviderPath),
    responses(
        (status = 200, description = "The provider view after clearing", body = super::dto::ProviderView),
        (status = 400, description = "A value fails validation (`error_context.field` names it)", body = schema::ErrorBody),
        schema::ProviderErrors,
    )
)]
pub async fn clear(
    req: HttpRequest,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let view = service.clear(&key).await?;
    Ok(HttpResponse::Ok().json(provider_view(&view)))
}

/// Every provider the caller may see: all of them, or for a repository's OIDC token only
/// that repository's.
#[utoipa::path(
    get,
    path = "/",
    tag = "providers",
    responses(
        (status = 200, description = "Every provider the caller may see, by `owner:repo:base_ref`", body = schema::ProviderList),
        schema::Unauthorized,
        schema::Unavailable,
    )
)]
pub async fn list(
    req: HttpRequest,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let caller = Caller::of(&req);
    let views = service.list().await?;
    let all: Map<String, Value> = views
        .iter()
        .filter(|v| {
            caller
                .as_ref()
                .is_some_and(|c| c.may_use(v.key.owner(), v.key.repo()))
        })
        .map(|v| (v.key.to_string(), provider_view(v)))
        .collect();
    Ok(HttpResponse::Ok().json(all))
}

#[utoipa::path(
    get,
    path = "/{owner}/{repo}/{base_ref}/events",
    tag = "providers",
    params(schema::ProviderPath, schema::LimitQuery),
    responses(
        (status = 200, description = "Recent events, newest first", body = schema::EventList),
        (status = 400, description = "A path value or `limit` fails validation", body = schema::ErrorBody),
        schema::ProviderErrors,
    )
)]
pub async fn events(
    req: HttpRequest,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let limit = limit(&req)?;
    let events = service.history(&key, limit).await?;
    let events: Vec<Value> = events.iter().map(event_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "provider": key.to_string(), "events": events })))
}

/// `POST …/revoke` (admin): the holder's lease ends as a failure; the view after it.
#[utoipa::path(
    post,
    path = "/{owner}/{repo}/{base_ref}/revoke",
    tag = "admin",
    params(schema::ProviderPath),
    request_body(content = Option<RevokeBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "The provider view after the holder lost the lease", body = super::dto::ProviderView),
        (status = 400, description = "A value fails validation (`error_context.field` names it)", body = schema::ErrorBody),
        (status = 409, description = "Nobody holds a live lease (`error_context.holder`)", body = schema::ErrorBody),
        schema::BodyErrors,
        schema::ProviderErrors,
    )
)]
pub async fn revoke(
    req: HttpRequest,
    body: web::Payload,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let body: RevokeBody = optional_json_body(body).await?;
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("reason must be at most {MAX_REASON} characters"),
        )
        .with_context(json!({ "field": "reason" })));
    }
    let view = service
        .revoke_lease(&key, reason, caller_name(&req))
        .await?;
    Ok(HttpResponse::Ok().json(provider_view(&view)))
}

/// `POST …/pause` (admin): nobody is granted until resumed; idempotent.
#[utoipa::path(
    post,
    path = "/{owner}/{repo}/{base_ref}/pause",
    tag = "admin",
    params(schema::ProviderPath),
    responses(
        (status = 200, description = "The provider view, paused", body = super::dto::ProviderView),
        (status = 400, description = "A value fails validation (`error_context.field` names it)", body = schema::ErrorBody),
        schema::ProviderErrors,
    )
)]
pub async fn pause(
    req: HttpRequest,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let view = service.set_paused(&key, true, caller_name(&req)).await?;
    Ok(HttpResponse::Ok().json(provider_view(&view)))
}

/// `POST …/resume` (admin): grants allowed again, the election re-runs at once.
#[utoipa::path(
    post,
    path = "/{owner}/{repo}/{base_ref}/resume",
    tag = "admin",
    params(schema::ProviderPath),
    responses(
        (status = 200, description = "The provider view, resumed", body = super::dto::ProviderView),
        (status = 400, description = "A value fails validation (`error_context.field` names it)", body = schema::ErrorBody),
        schema::ProviderErrors,
    )
)]
pub async fn resume(
    req: HttpRequest,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let view = service.set_paused(&key, false, caller_name(&req)).await?;
    Ok(HttpResponse::Ok().json(provider_view(&view)))
}
