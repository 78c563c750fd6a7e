pub mod cli;
pub mod config;
pub mod domain;
pub mod healthcheck;
pub mod store;
