//! HTTP: thin handlers that parse input, call `LeaseService` and shape the answer. Which
//! route each one answers, who may call it and where it is answered is in [`table`].

pub mod auth;
pub mod dto;
pub mod error;
pub mod forward;
pub mod health;
pub mod input;
pub mod lease;
pub mod providers;
pub mod schema;
pub mod table;

use actix_web::{web, Route};

use table::Endpoint;

/// The route of each endpoint whose handler is here; the status page's and the API
/// description's are in `ui` and `openapi` (`startup` mounts all three on the table).
pub fn handler(endpoint: Endpoint) -> Option<Route> {
    Some(match endpoint {
        Endpoint::Acquire => web::to(lease::acquire),
        Endpoint::Release => web::to(lease::release),
        Endpoint::List => web::to(providers::list),
        Endpoint::Details => web::to(providers::details),
        Endpoint::Clear => web::to(providers::clear),
        Endpoint::Events => web::to(providers::events),
        Endpoint::Revoke => web::to(providers::revoke),
        Endpoint::Pause => web::to(providers::pause),
        Endpoint::Resume => web::to(providers::resume),
        Endpoint::Live => web::to(health::live),
        Endpoint::Ready => web::to(health::ready),
        Endpoint::Metrics => web::to(health::metrics),
        Endpoint::OpenApi
        | Endpoint::UiIndex
        | Endpoint::UiQueue
        | Endpoint::UiCss
        | Endpoint::UiJs
        | Endpoint::UiIcon => return None,
    })
}
