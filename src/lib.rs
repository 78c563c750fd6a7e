//! mq-lease-service: one lease per merge queue, the run with the most commits wins.

pub mod access_log;
pub mod actors;
pub mod cli;
pub mod config;
pub mod domain;
pub mod healthcheck;
pub mod logging;
pub mod metrics;
pub mod routes;
pub mod service;
pub mod startup;
pub mod store;
pub mod ui;
