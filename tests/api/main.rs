//! One test binary for the HTTP API: the real server on a real port, driven over awc.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod auth;
mod drop_in;
mod errors;
mod helpers;
mod lease_flow;
mod metrics;
mod oidc;
mod providers;
mod schema_fixes;
mod waiting;
mod waiting_reasons;
