//! TLS to PostgreSQL over rustls (ring), with libpq's `sslmode` and `sslrootcert` (docs/rules.md §12).
//!
//! tokio-postgres knows `sslmode=disable|prefer|require` only, and no `sslrootcert`, so
//! [`split`] takes both out of the connection string first; [`Tls::connector`] then gives the
//! driver a connector whose certificate check follows the mode:
//!
//! | `sslmode`     | TLS                         | certificate check                                   |
//! |---------------|-----------------------------|-----------------------------------------------------|
//! | `disable`     | never                       | —                                                   |
//! | `prefer`      | if the server offers it     | none; with `sslrootcert`: the chain (as libpq)      |
//! | `require`     | always                      | none; with `sslrootcert`: the chain (as libpq)      |
//! | `verify-ca`   | always                      | the chain, against `sslrootcert` or the system roots |
//! | `verify-full` | always                      | the chain and the host name                         |
//!
//! `sslrootcert=system` (or no `sslrootcert`) means the system's roots (the OS store, as
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` may point elsewhere); if the OS store has none, the
//! Mozilla roots compiled into the binary. Unlike libpq, `prefer` does not retry without
//! TLS after a failed handshake: a failed check is an error, never a silent downgrade.
//! SCRAM channel binding is not offered (tokio-postgres' default, `channel_binding=prefer`,
//! then authenticates without it).
//!
//! This file holds the modes, [`split`], [`Tls::connector`] and the driver's connector and
//! stream; `tls/verify.rs` the roots and the verifiers that check less than the full chain and
//! name; `tls/tests.rs` the unit tests.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode as DriverMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

mod verify;

use verify::{roots_from_file, system_roots, ChainOnly, NoCheck};

/// libpq's `sslmode` values (`allow` is not offered: it only ever falls back to plain text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        match value {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(format!(
                "sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What the driver is told: whether TLS is tried and whether it is required.
    pub fn driver(self) -> DriverMode {
        match self {
            SslMode::Disable => DriverMode::Disable,
            SslMode::Prefer => DriverMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverMode::Require,
        }
    }
}

/// The TLS settings of one connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of CA certificates; `None` (or `system`) = the system roots.
    pub root_cert: Option<PathBuf>,
}

impl Tls {
    /// How the check is done, for messages: `sslmode=verify-full, CA certificates from …`.
    pub fn describe(&self) -> String {
        let roots = match &self.root_cert {
            Some(path) => format!("CA certificates from {}", path.display()),
            None => "the system's CA certificates".to_owned(),
        };
        match self.check() {
            Check::None if self.mode == SslMode::Disable => "sslmode=disable".to_owned(),
            Check::None => format!("sslmode={} (certificate not checked)", self.mode.as_str()),
            Check::Chain => format!(
                "sslmode={}, chain checked against {roots}",
                self.mode.as_str()
            ),
            Check::Full => format!(
                "sslmode={}, chain and host name checked against {roots}",
                self.mode.as_str()
            ),
        }
    }

    fn check(&self) -> Check {
        match (self.mode, &self.root_cert) {
            (SslMode::Disable, _) | (SslMode::Prefer | SslMode::Require, None) => Check::None,
            // libpq: with a root certificate file, `prefer` and `require` verify the chain.
            (SslMode::Prefer | SslMode::Require, Some(_)) | (SslMode::VerifyCa, _) => Check::Chain,
            (SslMode::VerifyFull, _) => Check::Full,
        }
    }

    /// The connector for the driver. Reads `sslrootcert` (or the system roots) now, so a file
    /// that is missing or holds no certificate stops the start with its path named.
    pub fn connector(&self) -> Result<MakeRustls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.check() {
            Check::None => Arc::new(NoCheck(provider)),
            check => {
                let roots = match &self.root_cert {
                    Some(path) => roots_from_file(path)?,
                    None => system_roots(),
                };
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| format!("TLS setup: {e}"))?;
                match check {
                    Check::Full => webpki,
                    _ => Arc::new(ChainOnly(webpki)),
                }
            }
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustls {
            config: Arc::new(config),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Chain,
    Full,
}

/// Takes `sslmode` and `sslrootcert` out of `url` (URL or `key=value` form); the rest goes to
/// the driver. Without `sslmode` the mode is libpq's default, `prefer`.
pub fn split(url: &str) -> Result<(String, Tls), String> {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: String| -> Result<bool, String> {
        match key {
            "sslmode" => mode = Some(SslMode::parse(&value)?),
            "sslrootcert" => root_cert = Some(value),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    let value = percent_encoding::percent_decode_str(value)
                        .decode_utf8_lossy()
                        .into_owned();
                    if !take(key, value)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for part in url.split_whitespace() {
            let taken = match part.split_once('=') {
                Some((key, value)) => take(key.trim(), value.trim_matches('\'').to_owned())?,
                None => false,
            };
            if !taken {
                kept.push(part);
            }
        }
        kept.join(" ")
    };
    let root_cert = match root_cert.as_deref() {
        None | Some("") | Some("system") => None,
        Some(path) => Some(PathBuf::from(path)),
    };
    Ok((
        rest,
        Tls {
            mode: mode.unwrap_or(SslMode::Prefer),
            root_cert,
        },
    ))
}

/// The driver's TLS maker: one rustls config, a connector per host.
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, io::Error> {
        // A Unix socket has no host name (""); PostgreSQL never offers TLS there, so the
        // name is only needed, and only checked, when a handshake happens.
        Ok(RustlsConnect {
            config: Arc::clone(&self.config),
            name: ServerName::try_from(domain.to_owned()).ok(),
        })
    }
}

pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: Option<ServerName<'static>>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, io::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self.name.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the host is not a name or address a certificate can be checked against",
                )
            })?;
            let stream = tokio_rustls::TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            Ok(RustlsStream(stream))
        })
    }
}

pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
