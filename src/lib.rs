//! mq-lease-service: one lease per merge queue, the run with the most commits wins.
//!
//! # Layers
//!
//! Each layer imports only the ones below it, and no two modules import each other
//! (checked by `layers_tests`, which knows every module):
//!
//! | layer | may import |
//! |---|---|
//! | `main`, `startup` | everything (they wire the app; `startup` mounts `routes`, `ui` and `openapi` on the route table) |
//! | `openapi` | `routes` (the handlers' descriptions) |
//! | `ui`, `access_log` | `routes`, `service`, `domain` / `routes`, `metrics`, `domain` |
//! | `routes` | `service` (the facade and what it re-exports), `domain` (to parse input), `config`, `metrics` |
//! | `service` | `actors`, `domain`, `store`, `health` |
//! | `actors` | `store`, `metrics`, `health`, `config`, `domain` |
//! | `store`, `metrics`, `health` | `domain` |
//! | `config` | `domain`, `logging` (the command line is `config::cli`) |
//! | `domain`, `logging`, `healthcheck` | nothing in the crate (`domain`: pure rules, no I/O) |
//!
//! Handlers never reach into `actors` or `store`: what they need (`ProviderSnapshot`,
//! `ServiceError`, `Readiness`) is re-exported by `service`.

pub mod access_log;
pub mod actors;
pub mod config;
pub mod domain;
pub mod health;
pub mod healthcheck;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod service;
pub mod startup;
pub mod store;
pub mod ui;

/// The command line: part of `config` (it is where settings come from), here as well
/// so `mq_lease_service::cli::Cli` reads as the binary's own interface.
pub use config::cli;

#[cfg(test)]
mod layers_tests;
#[cfg(test)]
mod route_table_tests;
