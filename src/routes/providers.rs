//! Provider views: details, clear, list, history.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::dto::{event_view, provider_view};
use super::error::ApiError;
use super::input::{limit, provider_key};
use crate::service::LeaseService;

pub async fn details(
    req: HttpRequest,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let view = service.view(&key).await?;
    Ok(HttpResponse::Ok().json(provider_view(&view)))
}

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
