//! Command-line flags. Every serving flag is an `Option` so that "a flag beats the file"
//! is a single merge in [`crate::config::Settings::load`]; the defaults live there.
//!
//! ```no_run
//! use clap::Parser;
//! use mq_lease_service::cli::{Cli, Command};
//! use mq_lease_service::config::Settings;
//!
//! let cli = Cli::parse();
//! if let Some(Command::Healthcheck { url }) = &cli.command {
//!     let url = mq_lease_service::cli::healthcheck_url(url.as_deref(), cli.port);
//!     // actix_web::rt::System::new().block_on(healthcheck::run(&url, timeout))
//! } else {
//!     let settings = Settings::load(&cli, &|name| std::env::var(name).ok());
//! }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::duration;
use crate::logging::LogFormat;

/// Merge-queue lease service: one shared resource, the run with the most commits wins.
///
/// Flags override the config file. Durations: "30s", "5m", "1h30m", "250ms" or whole seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "mq-lease-service", version, about)]
pub struct Cli {
    /// TOML config file (see config/example.toml). Without it, any owner/repo/base_ref is accepted.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Port to listen on [default: 8080]. Also the port `healthcheck` probes.
    #[arg(long, value_name = "N", global = true)]
    pub port: Option<u16>,

    /// Address to listen on [default: 0.0.0.0].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,

    /// Directory of the state store; created if missing [default: ./data].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// How long the set of runs must stay unchanged before the highest priority wins [default: 5m].
    #[arg(long, value_name = "DUR", value_parser = duration::parse_arg)]
    pub stabilisation_window: Option<Duration>,

    /// A pending run not heard from this long is dropped [default: 30s]; must be > 0.
    #[arg(long, value_name = "DUR", value_parser = parse_ttl)]
    pub ttl: Option<Duration>,

    /// Once this many runs are known, the election need not wait for stability [default: 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub expected_build_count: Option<u32>,

    /// The winner must be found the winner this many extra times before it is granted [default: 0].
    #[arg(long, value_name = "N")]
    pub delay_assignment_count: Option<u32>,

    /// A holder silent this long loses the lease as if it released `failure`; 0 = off [default: 10m].
    #[arg(long, value_name = "DUR", value_parser = duration::parse_arg)]
    pub lease_timeout: Option<Duration>,

    /// Create a provider with the defaults for any unknown owner/repo/base_ref
    /// [default: true without --config, false with one]. `--auto-register=false` turns it off.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub auto_register: Option<bool>,

    /// Log lines as `text` or `json` (one object per line) [default: text]. `RUST_LOG` filters.
    #[arg(long, value_name = "FORMAT", value_enum, env = "MQ_LEASE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Probe a running service (for a container HEALTHCHECK); exit 0 only on a 2xx answer.
    Healthcheck {
        /// URL to GET [default: http://127.0.0.1:<--port or 8080>/healthz].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

/// The URL `healthcheck` probes: `--url` if given, else `/healthz` on localhost at
/// `--port` (or 8080).
pub fn healthcheck_url(url: Option<&str>, port: Option<u16>) -> String {
    match url {
        Some(url) => url.to_owned(),
        None => format!("http://127.0.0.1:{}/healthz", port.unwrap_or(8080)),
    }
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    match duration::parse_arg(text)? {
        Duration::ZERO => Err("the ttl must be greater than 0".to_owned()),
        ttl => Ok(ttl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mq-lease-service").chain(args.iter().copied()))
    }

    #[test]
    fn the_clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn no_flags_leave_everything_unset() {
        assert_eq!(parse(&[]).unwrap(), Cli::default());
    }

    #[test]
    fn every_serving_flag_parses() {
        let cli = parse(&[
            "--config",
            "c.toml",
            "--port",
            "9000",
            "--bind",
            "127.0.0.1",
            "--data",
            "/var/lib/mq",
            "--stabilisation-window",
            "1h30m",
            "--ttl",
            "45",
            "--expected-build-count",
            "3",
            "--delay-assignment-count",
            "2",
            "--lease-timeout",
            "0",
            "--auto-register",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("c.toml")));
        assert_eq!(cli.port, Some(9000));
        assert_eq!(cli.bind.as_deref(), Some("127.0.0.1"));
        assert_eq!(cli.data, Some(PathBuf::from("/var/lib/mq")));
        assert_eq!(cli.stabilisation_window, Some(Duration::from_secs(5400)));
        assert_eq!(cli.ttl, Some(Duration::from_secs(45)));
        assert_eq!(cli.expected_build_count, Some(3));
        assert_eq!(cli.delay_assignment_count, Some(2));
        assert_eq!(cli.lease_timeout, Some(Duration::ZERO));
        assert_eq!(cli.auto_register, Some(true));
        assert_eq!(cli.log_format, Some(LogFormat::Json));
        assert_eq!(cli.command, None);
    }

    #[test]
    fn auto_register_can_be_turned_off_explicitly() {
        assert_eq!(
            parse(&["--auto-register=false"]).unwrap().auto_register,
            Some(false)
        );
    }

    #[test]
    fn a_bare_auto_register_before_the_subcommand_does_not_swallow_it() {
        let cli = parse(&["--auto-register", "healthcheck"]).unwrap();
        assert_eq!(cli.auto_register, Some(true));
        assert_eq!(cli.command, Some(Command::Healthcheck { url: None }));
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        for args in [
            &["--ttl", "0"][..],
            &["--ttl", "-5s"],
            &["--stabilisation-window", "soon"],
            &["--expected-build-count", "0"],
            &["--delay-assignment-count", "-1"],
            &["--port", "70000"],
            &["--log-format", "yaml"],
        ] {
            assert!(parse(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn healthcheck_defaults_to_localhost_8080() {
        let cli = parse(&["healthcheck"]).unwrap();
        let Some(Command::Healthcheck { url }) = &cli.command else {
            panic!("no healthcheck: {cli:?}");
        };
        assert_eq!(
            healthcheck_url(url.as_deref(), cli.port),
            "http://127.0.0.1:8080/healthz"
        );
    }

    #[test]
    fn healthcheck_uses_the_port_flag_before_or_after_the_subcommand() {
        for args in [
            &["--port", "9000", "healthcheck"],
            &["healthcheck", "--port", "9000"],
        ] {
            let cli = parse(args).unwrap();
            let Some(Command::Healthcheck { url }) = &cli.command else {
                panic!("no healthcheck: {cli:?}");
            };
            assert_eq!(
                healthcheck_url(url.as_deref(), cli.port),
                "http://127.0.0.1:9000/healthz"
            );
        }
    }

    #[test]
    fn healthcheck_url_beats_the_port() {
        let cli = parse(&[
            "--port",
            "9000",
            "healthcheck",
            "--url",
            "http://x:1/readyz",
        ])
        .unwrap();
        let Some(Command::Healthcheck { url }) = &cli.command else {
            panic!("no healthcheck: {cli:?}");
        };
        assert_eq!(
            healthcheck_url(url.as_deref(), cli.port),
            "http://x:1/readyz"
        );
    }
}
