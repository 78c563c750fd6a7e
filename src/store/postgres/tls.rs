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

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode as DriverMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

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

fn roots_from_file(path: &Path) -> Result<RootCertStore, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("sslrootcert {}: cannot be read: {e}", path.display()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| {
            format!(
                "sslrootcert {}: not a PEM file of certificates: {e}",
                path.display()
            )
        })?;
        roots.add(cert).map_err(|e| {
            format!(
                "sslrootcert {}: a certificate cannot be used as a root: {e}",
                path.display()
            )
        })?;
    }
    if roots.is_empty() {
        return Err(format!(
            "sslrootcert {}: holds no PEM certificate",
            path.display()
        ));
    }
    Ok(roots)
}

/// The OS store (what `SSL_CERT_FILE` / `SSL_CERT_DIR` point at, else the distribution's
/// bundle); the compiled-in Mozilla roots when it has none.
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::debug!("store: reading the system's CA certificates: {e}");
    }
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        log::warn!(
            "store: no CA certificates in the system store; checking the PostgreSQL server \
             against the Mozilla roots built into the binary"
        );
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// `sslmode=verify-ca` (and `prefer`/`require` with `sslrootcert`): the chain must lead to a
/// root; the name in the certificate is not compared with the host. The WebPKI verifier
/// checks the chain before the name, so a name error means the chain held.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `sslmode=prefer`/`require` without `sslrootcert`: encrypted, the certificate not checked
/// (libpq's behaviour; it protects against listening, not against a man in the middle). The
/// handshake's signatures are still checked, so the session keys belong to the certificate.
#[derive(Debug)]
struct NoCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_a_url_and_the_rest_kept() {
        let (rest, tls) = split(
            "postgres://u:p@db:5432/x?application_name=a&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();

        assert_eq!(rest, "postgres://u:p@db:5432/x?application_name=a");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
    }

    #[test]
    fn a_key_value_string_gives_its_sslmode_and_no_sslmode_means_prefer() {
        let (rest, tls) = split("host=db user=u sslmode=verify-ca sslrootcert='/ca.pem'").unwrap();
        let (_, default) = split("postgres://db/x").unwrap();
        let (_, system) = split("postgres://db/x?sslmode=verify-full&sslrootcert=system").unwrap();

        assert_eq!(rest, "host=db user=u");
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(default.mode, SslMode::Prefer);
        assert_eq!(system.root_cert, None);
    }

    #[test]
    fn an_unknown_sslmode_is_refused_naming_the_choices() {
        let e = split("postgres://db/x?sslmode=allowed").unwrap_err();

        assert!(e.contains("verify-full") && e.contains("allowed"), "{e}");
    }

    #[test]
    fn require_with_a_root_certificate_checks_the_chain_as_libpq_does() {
        let with = Tls {
            mode: SslMode::Require,
            root_cert: Some("/ca.pem".into()),
        };
        let without = Tls {
            mode: SslMode::Require,
            root_cert: None,
        };

        assert!(
            with.describe().contains("chain checked"),
            "{}",
            with.describe()
        );
        assert!(without.describe().contains("not checked"));
    }

    #[test]
    fn a_missing_root_certificate_file_is_an_error_naming_it() {
        let tls = Tls {
            mode: SslMode::VerifyFull,
            root_cert: Some("/nonexistent/ca.pem".into()),
        };

        let e = tls.connector().err().unwrap();

        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
