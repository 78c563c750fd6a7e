//! `mq-lease-service healthcheck`: a tiny HTTP client for the container HEALTHCHECK, so
//! the runtime image needs no curl. Without `--url`, `main` loads the same settings as
//! serving (flags, `MQ_LEASE_*`, `--config`) and probes [`local_url`], so the image's
//! `HEALTHCHECK` follows whatever port is configured.
//!
//! ```no_run
//! # use std::time::Duration;
//! let result = actix_web::rt::System::new().block_on(mq_lease_service::healthcheck::run(
//!     "http://127.0.0.1:8080/healthz",
//!     Duration::from_secs(5),
//! ));
//! ```

use std::io::ErrorKind;
use std::net::IpAddr;
use std::time::Duration;

use awc::error::{ConnectError, SendRequestError};

/// `/healthz` of the service listening on `bind`:`port`, reached from the same machine.
/// A wildcard address (`0.0.0.0`, `::`) is probed on loopback of the same family; any
/// other address or host name is probed as it is.
pub fn local_url(bind: &str, port: u16) -> String {
    let host = match bind.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => "[::1]".to_owned(),
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        Ok(IpAddr::V4(ip)) => ip.to_string(),
        Err(_) => bind.to_owned(),
    };
    format!("http://{host}:{port}/healthz")
}

/// GETs `url` and succeeds only on a 2xx answer within `timeout` (connect included).
/// The error says what failed: connection refused, the status, or the timeout.
pub async fn run(url: &str, timeout: Duration) -> Result<(), String> {
    let uri: awc::http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    if uri.scheme().is_none() || uri.host().is_none() {
        return Err(format!(
            "invalid URL {url:?}: expected http://host:port/path"
        ));
    }
    let client = awc::Client::builder()
        .timeout(timeout)
        .disable_redirects()
        .finish();
    let request = client.get(uri).send();
    let response = match actix_web::rt::time::timeout(timeout, request).await {
        Err(_elapsed) => return Err(timed_out(url, timeout)),
        Ok(Err(error)) => return Err(describe(url, timeout, &error)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("GET {url}: status {}", status.as_u16()))
    }
}

fn timed_out(url: &str, timeout: Duration) -> String {
    format!(
        "GET {url}: timeout, no answer within {}",
        humantime::format_duration(timeout)
    )
}

fn describe(url: &str, timeout: Duration, error: &SendRequestError) -> String {
    match error {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
            timed_out(url, timeout)
        }
        SendRequestError::Connect(ConnectError::Io(io))
            if io.kind() == ErrorKind::ConnectionRefused =>
        {
            format!("GET {url}: connection refused")
        }
        SendRequestError::Url(_) => format!("invalid URL {url:?}: {error}"),
        other => format!("GET {url}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{web, App, HttpResponse, HttpServer};

    /// Serves `/ok` (200) and `/down` (503) on a free port; returns the base URL.
    fn spawn_server() -> String {
        let server = HttpServer::new(|| {
            App::new()
                .route("/ok", web::get().to(HttpResponse::Ok))
                .route("/down", web::get().to(HttpResponse::ServiceUnavailable))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.run());
        format!("http://{addr}")
    }

    #[test]
    fn local_url_probes_loopback_for_a_wildcard_bind_and_the_address_otherwise() {
        for (bind, url) in [
            ("0.0.0.0", "http://127.0.0.1:8080/healthz"),
            ("::", "http://[::1]:8080/healthz"),
            ("127.0.0.2", "http://127.0.0.2:8080/healthz"),
            ("::1", "http://[::1]:8080/healthz"),
            ("localhost", "http://localhost:8080/healthz"),
        ] {
            assert_eq!(local_url(bind, 8080), url, "{bind}");
        }
    }

    #[actix_rt::test]
    async fn a_2xx_answer_is_healthy() {
        let base = spawn_server();
        assert_eq!(
            run(&format!("{base}/ok"), Duration::from_secs(5)).await,
            Ok(())
        );
    }

    #[actix_rt::test]
    async fn another_status_is_reported_by_number() {
        let base = spawn_server();
        let err = run(&format!("{base}/down"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.contains("status 503"), "{err}");
    }

    #[actix_rt::test]
    async fn a_closed_port_is_reported_as_connection_refused() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let err = run(
            &format!("http://127.0.0.1:{port}/healthz"),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(err.contains("connection refused"), "{err}");
    }

    #[actix_rt::test]
    async fn a_server_that_never_answers_is_reported_as_a_timeout() {
        // The kernel accepts the connection into the backlog; nobody ever reads it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = run(
            &format!("http://127.0.0.1:{port}/healthz"),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(err.contains("timeout"), "{err}");
        drop(listener);
    }

    #[test]
    fn it_runs_inside_a_fresh_actix_system_as_main_calls_it() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/healthz");

        let result = actix_web::rt::System::new().block_on(run(&url, Duration::from_secs(2)));

        assert!(result.is_err());
    }

    #[actix_rt::test]
    async fn a_malformed_url_is_an_error_not_a_panic() {
        for url in ["not a url", "/healthz", "127.0.0.1:8080/healthz", ""] {
            let err = run(url, Duration::from_secs(1)).await.unwrap_err();
            assert!(err.contains("invalid URL"), "{url}: {err}");
        }
    }
}
