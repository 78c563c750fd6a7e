//! One test binary for the HTTP API: the real server on a real port, driven over awc.

mod auth;
mod errors;
mod helpers;
mod lease_flow;
mod oidc;
mod providers;
mod waiting;
