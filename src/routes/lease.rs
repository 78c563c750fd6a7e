//! `POST …/acquire` and `POST …/release`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::dto::{answer_body, AcquireBody, ReleaseBody};
use super::error::ApiError;
use super::input::{json_body, provider_key, wait};
use super::schema;
use crate::domain::{AcquireRequest, Answer, HeadRef, HeadSha, Outcome, Priority};
use crate::service::{hold, LeaseService};

#[utoipa::path(
    post,
    path = "/{owner}/{repo}/{base_ref}/acquire",
    tag = "lease",
    params(schema::ProviderPath, schema::WaitQuery),
    request_body(content = AcquireBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The request context: `acquired`, or `pending` with `waiting`", body = super::dto::RequestContext),
        (status = 400, description = "A value fails validation (`error_context.field` names it), or `wait` is not a duration", body = schema::ErrorBody),
        (status = 409, description = "The run may not acquire now (`error_context.holder` names the holder and since when)", body = schema::ErrorBody),
        schema::BodyErrors,
        schema::ProviderErrors,
    )
)]
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
    let answer = hold(&req, wait, service.acquire(&key, call, wait)).await??;
    respond(&answer)
}

#[utoipa::path(
    post,
    path = "/{owner}/{repo}/{base_ref}/release",
    tag = "lease",
    params(schema::ProviderPath),
    request_body(content = ReleaseBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The request context after the release; for a run told `completed` (or of a round whose holder succeeded), `completed` again whatever status it sends, and nothing changes", body = super::dto::RequestContext),
        (status = 400, description = "A value fails validation, or the caller is not the holder (and was not told `completed`)", body = schema::ErrorBody),
        (status = 409, description = "No live lease (`error_context.holder`), or a stale fencing token (`error_context.current_fencing_token`)", body = schema::ErrorBody),
        schema::BodyErrors,
        schema::ProviderErrors,
    )
)]
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
    respond(&answer)
}

/// 200 with the request context (docs/rules.md §4), as `HttpResponse::json` sends it.
fn respond(answer: &Answer) -> Result<HttpResponse, ApiError> {
    let body = answer_body(answer).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the answer could not be written: {e}"),
        )
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(body))
}
