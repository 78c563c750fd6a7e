use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mq_lease_service::cli::{Cli, Command};
use mq_lease_service::config::convert::convert_go_config;
use mq_lease_service::config::Settings;
use mq_lease_service::healthcheck;
use mq_lease_service::logging;
use mq_lease_service::startup::Application;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = &cli.command {
        print!("{}", mq_lease_service::openapi::document());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::ConvertConfig { path }) = &cli.command {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("convert-config: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        return match convert_go_config(&text, &path.display().to_string()) {
            Ok(toml) => {
                print!("{toml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("convert-config: {}: {e}", path.display());
                ExitCode::from(2)
            }
        };
    }
    if let Some(Command::Healthcheck { url }) = &cli.command {
        // The same settings as serving, so the probe finds the configured port.
        let url = match url {
            Some(url) => url.clone(),
            None => match Settings::load(&cli, &|name| std::env::var(name).ok()) {
                Ok(settings) => healthcheck::local_url(&settings.bind, settings.port),
                Err(e) => {
                    eprintln!("healthcheck failed: configuration error: {e}");
                    return ExitCode::from(2);
                }
            },
        };
        return match actix_web::rt::System::new()
            .block_on(healthcheck::run(&url, Duration::from_secs(5)))
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("healthcheck failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    logging::init(cli.log_format.unwrap_or_default());
    let settings = match Settings::load(&cli, &|name| std::env::var(name).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mq-lease-service: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    log::info!("starting with {settings:?}");
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)
            .await
            .map_err(|e| e.to_string())?;
        app.run_until_signalled().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mq-lease-service: {e}");
            ExitCode::FAILURE
        }
    }
}
