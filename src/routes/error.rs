//! `ApiError`: the only place that knows HTTP status codes and the error body.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use super::dto::holder_view;
use crate::domain::{InvalidKey, InvalidValue, LeaseError};
use crate::service::{HungUp, ServiceError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub context: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            context: None,
        }
    }
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "credentials are required: HTTP Basic or a Bearer token",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({ "error": self.message });
        if let Some(context) = &self.context {
            body["error_context"] = context.clone();
        }
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                "Basic realm=\"mq-lease-service\", Bearer",
            ));
        }
        response.json(body)
    }
}

impl From<InvalidValue> for ApiError {
    fn from(e: InvalidValue) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            .with_context(json!({ "field": e.field }))
    }
}

impl From<InvalidKey> for ApiError {
    fn from(e: InvalidKey) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
            .with_context(json!({ "field": e.field }))
    }
}

/// A held call whose caller hung up: the answer nobody will read.
impl From<HungUp> for ApiError {
    fn from(_: HungUp) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "the caller hung up")
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        match e {
            ServiceError::Lease(LeaseError::Conflict(busy)) => match &busy.holder {
                Some(h) => ApiError::new(StatusCode::CONFLICT, message)
                    .with_context(json!({ "holder": holder_view(h) })),
                None => ApiError::new(StatusCode::CONFLICT, message),
            },
            ServiceError::Lease(LeaseError::NoLiveLease { holder }) => {
                ApiError::new(StatusCode::CONFLICT, message)
                    .with_context(json!({ "holder": holder.as_ref().map(holder_view) }))
            }
            ServiceError::Lease(LeaseError::StaleFencingToken { given, current }) => {
                ApiError::new(StatusCode::CONFLICT, message).with_context(
                    json!({ "fencing_token": given, "current_fencing_token": current }),
                )
            }
            ServiceError::Lease(LeaseError::NotHolder { .. })
            | ServiceError::Lease(LeaseError::OutcomeMismatch { .. }) => {
                ApiError::new(StatusCode::BAD_REQUEST, message)
            }
            ServiceError::Lease(LeaseError::Invalid(v)) => v.into(),
            ServiceError::UnknownProvider(_) => ApiError::new(StatusCode::NOT_FOUND, message),
            ServiceError::TooManyProviders(max) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
                    .with_context(json!({ "max_providers": max }))
            }
            ServiceError::Unavailable(_)
            | ServiceError::Unreadable(_)
            | ServiceError::NotOwner(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
        }
    }
}
