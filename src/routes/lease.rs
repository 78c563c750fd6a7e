//! `POST …/acquire` and `POST …/release`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::conn::caller_gone;

use super::dto::{AcquireBody, ReleaseBody, RequestContext};
use super::error::ApiError;
use super::input::{json_body, provider_key, wait};
use crate::domain::{AcquireRequest, HeadRef, HeadSha, Outcome, Priority};
use crate::service::LeaseService;

pub async fn acquire(
    req: HttpRequest,
    body: web::Payload,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let wait = wait(&req)?;
    let body: AcquireBody = json_body(body).await?;
    let call = AcquireRequest {
        head_sha: HeadSha::parse(&body.head_sha)?,
        head_ref: HeadRef::parse(body.head_ref.as_deref().unwrap_or_default())?,
        priority: Priority::parse(body.priority)?,
    };
    let answer = if wait.is_zero() {
        service.acquire(&key, call, wait).await?
    } else {
        // Dropping the held call when its caller hangs up tells the provider (HangupGuard).
        tokio::select! {
            answer = service.acquire(&key, call, wait) => answer?,
            _ = caller_gone(&req) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "the caller hung up")),
        }
    };
    Ok(HttpResponse::Ok().json(RequestContext::from(answer)))
}

pub async fn release(
    req: HttpRequest,
    body: web::Payload,
    service: web::Data<LeaseService>,
) -> Result<HttpResponse, ApiError> {
    let key = provider_key(&req)?;
    let body: ReleaseBody = json_body(body).await?;
    let head_sha = HeadSha::parse(&body.head_sha)?;
    let outcome = Outcome::parse(&body.status)?;
    if let Some(p) = body.priority {
        Priority::parse(p)?;
    }
    let answer = service
        .release(&key, head_sha, outcome, body.fencing_token)
        .await?;
    Ok(HttpResponse::Ok().json(RequestContext::from(answer)))
}
