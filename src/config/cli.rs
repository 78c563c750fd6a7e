//! Command-line flags. Every serving flag is an `Option` so that "a flag beats the file"
//! is a single merge in [`crate::config::Settings::load`]; the defaults live there.
//!
//! Every flag can also be set by an environment variable `MQ_LEASE_<FLAG>` (`--port` is
//! `MQ_LEASE_PORT`, `--stabilisation-window` is `MQ_LEASE_STABILISATION_WINDOW`). clap reads
//! it into the same `Option`, so the order is: flag, then environment, then the config
//! file, then the built-in default.
//!
//! ```no_run
//! use clap::Parser;
//! use mq_lease_service::cli::{Cli, Command};
//! use mq_lease_service::config::Settings;
//! use mq_lease_service::healthcheck;
//!
//! let cli = Cli::parse(); // reads MQ_LEASE_* too
//! let settings = Settings::load(&cli, &|name| std::env::var(name).ok());
//! if let (Some(Command::Healthcheck { url: None }), Ok(settings)) = (&cli.command, &settings) {
//!     let url = healthcheck::local_url(&settings.bind, settings.port);
//!     // actix_web::rt::System::new().block_on(healthcheck::run(&url, timeout))
//! }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::duration;
use crate::logging::LogFormat;

/// `--version`: the Cargo.toml version and the git revision it was built from (`build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MQ_LEASE_REVISION"),
    ")"
);

/// Merge-queue lease service: one shared resource, the run with the most commits wins.
///
/// Flags override the config file. Durations: "30s", "5m", "1h30m", "250ms" or whole seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "mq-lease-service", version = VERSION, about)]
pub struct Cli {
    /// TOML config file (see config/example.toml). Without it, any owner/repo/base_ref is accepted.
    #[arg(long, value_name = "PATH", env = "MQ_LEASE_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Port to listen on [default: 8080]. Also the port `healthcheck` probes.
    #[arg(long, value_name = "N", env = "MQ_LEASE_PORT", global = true)]
    pub port: Option<u16>,

    /// Address to listen on [default: 0.0.0.0].
    #[arg(long, value_name = "ADDR", env = "MQ_LEASE_BIND", global = true)]
    pub bind: Option<String>,

    /// Directory of the state store; created if missing [default: ./data].
    #[arg(long, value_name = "DIR", env = "MQ_LEASE_DATA")]
    pub data: Option<PathBuf>,

    /// How long the set of runs must stay unchanged before the highest priority wins [default: 5m].
    #[arg(long, value_name = "DUR", env = "MQ_LEASE_STABILISATION_WINDOW", value_parser = duration::parse_arg)]
    pub stabilisation_window: Option<Duration>,

    /// A pending run not heard from this long is dropped [default: 30s]; must be > 0.
    #[arg(long, value_name = "DUR", env = "MQ_LEASE_TTL", value_parser = parse_ttl)]
    pub ttl: Option<Duration>,

    /// Once this many runs are known, the election need not wait for stability [default: 4].
    #[arg(long, value_name = "N", env = "MQ_LEASE_EXPECTED_BUILD_COUNT", value_parser = clap::value_parser!(u32).range(1..))]
    pub expected_build_count: Option<u32>,

    /// The winner must be found the winner this many extra times before it is granted [default: 0].
    #[arg(long, value_name = "N", env = "MQ_LEASE_DELAY_ASSIGNMENT_COUNT")]
    pub delay_assignment_count: Option<u32>,

    /// A holder that called acquire after its grant and is then silent this long loses the
    /// lease as if it released `failure`; 0 = off [default: 10m].
    #[arg(long, value_name = "DUR", env = "MQ_LEASE_LEASE_TIMEOUT", value_parser = duration::parse_arg)]
    pub lease_timeout: Option<Duration>,

    /// Opt-in: a holder silent since its grant (a client that never calls again, like the Go
    /// project's action) loses the lease after this long; 0 = never, it keeps the lease until
    /// it releases or an admin revokes it [default: 0]. Otherwise between 1s and 7d.
    #[arg(long, value_name = "DUR", env = "MQ_LEASE_SILENT_HOLDER_TIMEOUT", value_parser = parse_silent_holder_timeout)]
    pub silent_holder_timeout: Option<Duration>,

    /// Create a provider with the defaults for any unknown owner/repo/base_ref
    /// [default: true without --config, false with one]. `--auto-register=false` turns it off.
    #[arg(
        long,
        value_name = "BOOL",
        env = "MQ_LEASE_AUTO_REGISTER",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub auto_register: Option<bool>,

    /// PostgreSQL URL: keep the state there and let several replicas share it (docs/rules.md §10)
    /// [default: none, the embedded store under --data]. The password never reaches a log.
    #[arg(
        long,
        value_name = "URL",
        env = "MQ_LEASE_POSTGRES_URL",
        hide_env_values = true
    )]
    pub postgres_url: Option<String>,

    /// File holding the PostgreSQL password (a mounted secret); it beats a password in the URL
    /// and `PGPASSWORD`. One trailing newline is ignored.
    #[arg(long, value_name = "PATH", env = "MQ_LEASE_POSTGRES_PASSWORD_FILE")]
    pub postgres_password_file: Option<PathBuf>,

    /// How the other replicas reach this one (with --postgres-url) [default: http://127.0.0.1:<port>].
    #[arg(long, value_name = "URL", env = "MQ_LEASE_ADVERTISE_URL")]
    pub advertise_url: Option<String>,

    /// How long a replica owns the state without renewing it (with --postgres-url) [default: 5s].
    #[arg(long, value_name = "DUR", env = "MQ_LEASE_LEADER_LEASE", value_parser = parse_leader_lease)]
    pub leader_lease: Option<Duration>,

    /// Log lines as `text` or `json` (one object per line) [default: text]. `RUST_LOG` filters.
    #[arg(long, value_name = "FORMAT", value_enum, env = "MQ_LEASE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Probe a running service (for a container HEALTHCHECK); exit 0 only on a 2xx answer.
    ///
    /// Without `--url` it reads the same flags, environment and config file as serving
    /// and probes `/healthz` on the port (and address) the service listens on.
    Healthcheck {
        /// URL to GET [default: /healthz on the configured bind address and port].
        #[arg(long, value_name = "URL", env = "MQ_LEASE_HEALTHCHECK_URL")]
        url: Option<String>,
    },
    /// Print the OpenAPI 3.1 description of the HTTP API (what `GET /openapi.json` serves)
    /// and exit: `mq-lease-service openapi > openapi.json`.
    Openapi,
    /// Turn the Go mq-lease-service's YAML config into this service's TOML on standard
    /// output: `mq-lease-service convert-config config.yaml > config.toml`. Anything without
    /// an equivalent becomes a comment that says so.
    ConvertConfig {
        /// The Go service's YAML config file.
        #[arg(value_name = "OLD.yaml")]
        path: PathBuf,
    },
}

fn parse_leader_lease(text: &str) -> Result<Duration, String> {
    match duration::parse_arg(text)? {
        lease if lease < super::MIN_LEADER_LEASE => {
            Err("the leader lease must be at least 500ms".to_owned())
        }
        lease => Ok(lease),
    }
}

fn parse_silent_holder_timeout(text: &str) -> Result<Duration, String> {
    duration::check_silent_holder_timeout(duration::parse_arg(text)?)
        .map_err(|e| format!("the silent holder timeout {e}"))
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
            "--postgres-url",
            "postgres://mq@db/mq",
            "--advertise-url",
            "http://10.0.0.7:8080",
            "--leader-lease",
            "3s",
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
        assert_eq!(cli.postgres_url.as_deref(), Some("postgres://mq@db/mq"));
        assert_eq!(cli.advertise_url.as_deref(), Some("http://10.0.0.7:8080"));
        assert_eq!(cli.leader_lease, Some(Duration::from_secs(3)));
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
            &["--leader-lease", "100ms"],
        ] {
            assert!(parse(args).is_err(), "{args:?} was accepted");
        }
    }

    fn healthcheck_url(cli: &Cli) -> Option<String> {
        match &cli.command {
            Some(Command::Healthcheck { url }) => url.clone(),
            _ => panic!("no healthcheck: {cli:?}"),
        }
    }

    #[test]
    fn healthcheck_takes_the_serving_flags_before_or_after_the_subcommand() {
        for args in [
            &[
                "--port",
                "9000",
                "--config",
                "c.toml",
                "--bind",
                "::1",
                "healthcheck",
            ][..],
            &[
                "healthcheck",
                "--port",
                "9000",
                "--config",
                "c.toml",
                "--bind",
                "::1",
            ],
        ] {
            let cli = parse(args).unwrap();
            assert_eq!(cli.port, Some(9000), "{args:?}");
            assert_eq!(cli.config, Some(PathBuf::from("c.toml")), "{args:?}");
            assert_eq!(cli.bind.as_deref(), Some("::1"), "{args:?}");
            assert_eq!(healthcheck_url(&cli), None, "{args:?}");
        }
    }

    #[test]
    fn healthcheck_takes_an_explicit_url() {
        let cli = parse(&["healthcheck", "--url", "http://x:1/readyz"]).unwrap();
        assert_eq!(healthcheck_url(&cli).as_deref(), Some("http://x:1/readyz"));
    }

    /// docs/configuration.md promises `MQ_LEASE_<FLAG>` for every flag; a flag added without its
    /// variable (or with another name) fails here.
    #[test]
    fn every_flag_has_its_mq_lease_environment_variable() {
        use clap::CommandFactory;
        let command = Cli::command();
        let subcommands = command.get_subcommands().cloned().collect::<Vec<_>>();
        let mut checked = 0;
        for cmd in std::iter::once(&command).chain(subcommands.iter()) {
            let prefix = match cmd.get_name() {
                "mq-lease-service" => "MQ_LEASE_".to_owned(),
                sub => format!("MQ_LEASE_{}_", sub.to_uppercase()),
            };
            for arg in cmd.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if ["help", "version"].contains(&long)
                    || arg.is_global_set() && cmd.get_name() != "mq-lease-service"
                {
                    continue;
                }
                let expected = format!("{prefix}{}", long.replace('-', "_").to_uppercase());
                let actual = arg.get_env().map(|v| v.to_string_lossy().into_owned());
                assert_eq!(actual.as_deref(), Some(expected.as_str()), "--{long}");
                checked += 1;
            }
        }
        assert!(checked >= 11, "only {checked} flags seen");
    }
}
