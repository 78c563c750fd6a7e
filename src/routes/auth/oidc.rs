//! GitHub Actions OIDC ID tokens: who is calling, as `owner/repo`.
//!
//! A token is accepted when its RS256 signature checks against a key of the issuer's
//! JWKS, `iss` and `aud` match the settings, `exp` and `nbf` hold (60 s leeway) and its
//! `repository` claim passes the allow-list. The algorithm is pinned: the token
//! header's `alg` must be `RS256` and is never used to pick how to verify.
//!
//! The JWKS is fetched with awc when first needed, kept in memory, and fetched again
//! when a token names a `kid` the cache does not have, at most once per
//! `refetch_after` (10 s). Requests wait for a fetch asynchronously; one fetch runs at a
//! time. Nothing here logs or returns the token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use log::{info, warn};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use crate::config::GithubOidcSettings;

/// The longest a JWKS fetch may take before the request that waits for it gets 503.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS larger than this is refused (GitHub's is a few KiB).
const MAX_JWKS: usize = 256 * 1024;
/// A token longer than this is refused before it is decoded (GitHub's are ~1–2 KiB).
const MAX_TOKEN: usize = 16 * 1024;
/// `exp` and `nbf` may be off by this much (clock skew between GitHub and us).
const LEEWAY_SECS: u64 = 60;

/// Why a token was not accepted. `reason()` is a short code for logs and the error body;
/// none of these carries the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// 401: the token is not one we accept.
    Invalid(Invalid),
    /// 403: a valid token of a repository the allow-list does not name.
    NotAllowed { repository: String },
    /// 503: the token could not be checked because the JWKS could not be fetched.
    KeysUnavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    UnsupportedAlgorithm,
    MissingKid,
    UnknownKid,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    MissingClaim,
    BadRepositoryClaim,
}

impl Invalid {
    pub fn reason(self) -> &'static str {
        match self {
            Invalid::Malformed => "malformed",
            Invalid::UnsupportedAlgorithm => "unsupported_algorithm",
            Invalid::MissingKid => "missing_kid",
            Invalid::UnknownKid => "unknown_kid",
            Invalid::BadSignature => "bad_signature",
            Invalid::Expired => "expired",
            Invalid::NotYetValid => "not_yet_valid",
            Invalid::WrongIssuer => "wrong_issuer",
            Invalid::WrongAudience => "wrong_audience",
            Invalid::MissingClaim => "missing_claim",
            Invalid::BadRepositoryClaim => "bad_repository_claim",
        }
    }
}

impl From<Invalid> for Rejection {
    fn from(i: Invalid) -> Self {
        Rejection::Invalid(i)
    }
}

/// The repository a verified token speaks for, as its `repository` claim spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub owner: String,
    pub repo: String,
}

/// The claims we read; `iss`, `aud`, `exp` and `nbf` are checked by `jsonwebtoken`.
#[derive(Deserialize)]
struct Claims {
    repository: Option<String>,
}

/// The part of the JOSE header we look at before verifying.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// When the last fetch ended and whether it succeeded.
    last_fetch: Option<(Instant, bool)>,
}

/// Verifies tokens; one per app, shared by every worker (it lives in `web::Data`).
pub struct OidcVerifier {
    settings: GithubOidcSettings,
    validation: Validation,
    tls: Arc<rustls::ClientConfig>,
    cache: RwLock<KeyCache>,
    /// Held while a fetch runs, so concurrent misses wait for one fetch.
    fetching: Mutex<()>,
}

impl OidcVerifier {
    pub fn new(settings: GithubOidcSettings) -> Result<Self, String> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        // Without these, a token lacking `iss` or `aud` would skip the comparison.
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        Ok(Self {
            validation,
            tls: Arc::new(tls_config()?),
            cache: RwLock::new(KeyCache::default()),
            fetching: Mutex::new(()),
            settings,
        })
    }

    /// Checks `token` and answers the repository it speaks for.
    pub async fn verify(&self, token: &str) -> Result<Repository, Rejection> {
        let header = read_header(token)?;
        if header.alg != "RS256" {
            return Err(Invalid::UnsupportedAlgorithm.into());
        }
        let kid = header.kid.ok_or(Invalid::MissingKid)?;
        let key = self.key(&kid).await?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| classify(e.kind()))?
            .claims;
        let repository = claims.repository.ok_or(Invalid::MissingClaim)?;
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or(Invalid::BadRepositoryClaim)?;
        if !self.settings.allows(&repository) {
            return Err(Rejection::NotAllowed { repository });
        }
        Ok(Repository {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
        })
    }

    /// The key named `kid`: from the cache, else from a fresh JWKS unless one was fetched
    /// less than `refetch_after` ago.
    async fn key(&self, kid: &str) -> Result<DecodingKey, Rejection> {
        if let Some(key) = self.cache.read().await.keys.get(kid) {
            return Ok(key.clone());
        }
        let _turn = self.fetching.lock().await;
        {
            let cache = self.cache.read().await;
            if let Some(key) = cache.keys.get(kid) {
                return Ok(key.clone());
            }
            if let Some((at, ok)) = cache.last_fetch {
                if at.elapsed() < self.settings.refetch_after {
                    return Err(if ok {
                        Invalid::UnknownKid.into()
                    } else {
                        Rejection::KeysUnavailable
                    });
                }
            }
        }
        let fetched = self.fetch().await;
        let mut cache = self.cache.write().await;
        match fetched {
            Ok(keys) => {
                info!(
                    "oidc: fetched {} signing key(s) from {}",
                    keys.len(),
                    self.settings.jwks_url
                );
                cache.keys = keys;
                cache.last_fetch = Some((Instant::now(), true));
            }
            Err(why) => {
                warn!(
                    "oidc: cannot fetch the JWKS from {}: {why}",
                    self.settings.jwks_url
                );
                cache.last_fetch = Some((Instant::now(), false));
                if !cache.keys.contains_key(kid) {
                    return Err(Rejection::KeysUnavailable);
                }
            }
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or(Invalid::UnknownKid.into())
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(self.tls.clone()))
            .timeout(FETCH_TIMEOUT)
            .finish();
        let mut response = client
            .get(&self.settings.jwks_url)
            .insert_header(("Accept", "application/json"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = response
            .body()
            .limit(MAX_JWKS)
            .await
            .map_err(|e| e.to_string())?;
        parse_jwks(&body)
    }
}

/// RS256 signing keys by `kid`. Keys of other types or uses are skipped, so one odd
/// entry does not make the whole set unusable.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, DecodingKey>, String> {
    #[derive(Deserialize)]
    struct Jwks {
        keys: Vec<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct RsaJwk {
        kty: String,
        kid: String,
        n: String,
        e: String,
        #[serde(rename = "use")]
        use_: Option<String>,
        alg: Option<String>,
    }
    let jwks: Jwks = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for value in jwks.keys {
        let Ok(jwk) = serde_json::from_value::<RsaJwk>(value) else {
            continue;
        };
        let usable = jwk.kty == "RSA"
            && jwk.use_.as_deref().is_none_or(|u| u == "sig")
            && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
        if !usable {
            continue;
        }
        match DecodingKey::from_rsa_components(&jwk.n, &jwk.e) {
            Ok(key) => {
                keys.insert(jwk.kid, key);
            }
            Err(e) => warn!("oidc: JWKS key {} is not a usable RSA key: {e}", jwk.kid),
        }
    }
    Ok(keys)
}

fn read_header(token: &str) -> Result<Header, Invalid> {
    if token.len() > MAX_TOKEN || token.split('.').count() != 3 {
        return Err(Invalid::Malformed);
    }
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| Invalid::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Invalid::Malformed)
}

fn classify(kind: &jsonwebtoken::errors::ErrorKind) -> Invalid {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature | K::InvalidRsaKey(_) => Invalid::BadSignature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::UnsupportedAlgorithm => {
            Invalid::UnsupportedAlgorithm
        }
        K::ExpiredSignature => Invalid::Expired,
        K::ImmatureSignature => Invalid::NotYetValid,
        K::InvalidIssuer => Invalid::WrongIssuer,
        K::InvalidAudience => Invalid::WrongAudience,
        K::MissingRequiredClaim(_) => Invalid::MissingClaim,
        _ => Invalid::Malformed,
    }
}

/// TLS for the JWKS fetch: ring and the Mozilla roots, chosen here rather than by a
/// process-wide default, so another TLS user in the process cannot change or break it.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS for the JWKS fetch: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_that_is_not_base64_json_is_malformed() {
        for token in ["", "a.b", "a.b.c", "e30.e30", "a.b.c.d", "!!!.e30.sig"] {
            assert!(read_header(token).is_err(), "{token}");
        }
        let none = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let header = read_header(&format!("{none}.e30.")).unwrap();
        assert_eq!(header.alg, "none");
    }

    #[test]
    fn jwks_entries_that_are_not_rs256_signing_keys_are_skipped() {
        let body = br#"{"keys":[
            {"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"ps","alg":"PS256","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"ok","alg":"RS256","use":"sig","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","n":"AQAB","e":"AQAB"}
        ]}"#;
        let keys = parse_jwks(body).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["ok"]);
        assert!(parse_jwks(b"<html>").is_err());
    }
}
