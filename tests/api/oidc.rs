//! `[auth.github_oidc]`: GitHub Actions ID tokens, checked against a real JWKS server
//! started here (actix-web on 127.0.0.1:0) with RSA keys generated here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{web, App, HttpResponse, HttpServer};
use awc::http::StatusCode;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use crate::helpers::{body, release_body, spawn_app_adjusted, spawn_app_with, Answer, TestApp};

const AUDIENCE: &str = "mq-lease-test";
/// The admin bearer token of `[auth] bearer_tokens` (`${TEST_TOKEN}`).
const ADMIN: &str = "s3cret-token";

/// One signing key: what the issuer signs with and what its JWKS publishes.
struct TestKey {
    kid: &'static str,
    encoding: EncodingKey,
    jwk: Value,
    public_pem: String,
}

/// Two 2048-bit keys, generated once per test binary (keygen is the slow part).
fn keys() -> &'static [TestKey; 2] {
    static KEYS: OnceLock<[TestKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| [test_key("k1"), test_key("k2")])
}

fn test_key(kid: &'static str) -> TestKey {
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("keygen");
    let public = private.to_public_key();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    TestKey {
        kid,
        encoding: EncodingKey::from_rsa_der(private.to_pkcs1_der().expect("der").as_bytes()),
        jwk: json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": b64.encode(public.n().to_bytes_be()),
            "e": b64.encode(public.e().to_bytes_be()),
        }),
        public_pem: public.to_public_key_pem(LineEnding::LF).expect("pem"),
    }
}

/// A token issuer: serves `/.well-known/jwks` and counts how often it is fetched.
struct Issuer {
    url: String,
    published: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
}

impl Issuer {
    fn start(published: &[&TestKey]) -> Issuer {
        let keys = Arc::new(Mutex::new(
            published.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>(),
        ));
        let hits = Arc::new(AtomicUsize::new(0));
        let (state, counter) = (keys.clone(), hits.clone());
        let server = HttpServer::new(move || {
            let (state, counter) = (state.clone(), counter.clone());
            App::new().route(
                "/.well-known/jwks",
                web::get().to(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let keys = state.lock().expect("jwks lock").clone();
                    async move { HttpResponse::Ok().json(json!({ "keys": keys })) }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("jwks server binds");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Issuer {
            url: format!("http://127.0.0.1:{port}"),
            published: keys,
            hits,
        }
    }

    fn publish(&self, keys: &[&TestKey]) {
        *self.published.lock().expect("jwks lock") = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Claims of a token GitHub would issue to a workflow run of `repository`.
    fn claims(&self, repository: &str) -> Value {
        let now = now();
        json!({
            "iss": self.url, "aud": AUDIENCE, "sub": format!("repo:{repository}:ref:refs/heads/main"),
            "repository": repository, "repository_owner": repository.split('/').next(),
            "iat": now, "nbf": now - 5, "exp": now + 300,
        })
    }

    fn token(&self, repository: &str) -> String {
        sign(&keys()[0], &self.claims(repository))
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
}

fn config(issuer: &Issuer, extra: &str) -> String {
    format!(
        r#"
[server]
auto_register = true

[auth]
bearer_tokens = ["${{TEST_TOKEN}}"]

[auth.github_oidc]
audience = "{AUDIENCE}"
issuer = "{}"
{extra}
"#,
        issuer.url
    )
}

async fn spawn(issuer: &Issuer) -> TestApp {
    spawn_app_with(&["--expected-build-count", "1"], Some(&config(issuer, ""))).await
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    json: Option<&Value>,
) -> Answer {
    let req = app
        .client
        .request(method.parse().expect("method"), app.url(path))
        .insert_header(("Authorization", format!("Bearer {token}")));
    app.send(req, json).await
}

async fn acquire(app: &TestApp, key: &str, token: &str) -> Answer {
    call(
        app,
        "POST",
        &format!("/{key}/acquire"),
        token,
        Some(&body("sha1", 1)),
    )
    .await
}

#[actix_web::test]
async fn a_valid_token_acquires_reads_and_releases_its_own_repositorys_lease() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;
    let token = issuer.token("acme/shop");

    let acquired = acquire(&app, "acme/shop/main", &token).await;
    let view = call(&app, "GET", "/acme/shop/main", &token, None).await;
    let events = call(&app, "GET", "/acme/shop/main/events", &token, None).await;
    let released = call(
        &app,
        "POST",
        "/acme/shop/main/release",
        &token,
        Some(&release_body("sha1", "success")),
    )
    .await;

    assert_eq!(acquired.status, StatusCode::OK, "{}", acquired.json);
    assert_eq!(acquired.lease(), "acquired");
    assert_eq!(view.status, StatusCode::OK, "{}", view.json);
    assert_eq!(events.status, StatusCode::OK, "{}", events.json);
    assert_eq!(released.status, StatusCode::OK, "{}", released.json);
}

#[actix_web::test]
async fn tokens_that_fail_a_check_get_401_naming_the_reason_but_never_the_token() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;
    let good = issuer.claims("acme/shop");
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        claims
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let valid = issuer.token("acme/shop");
    let (head, _, signature) = {
        let mut parts = valid.split('.');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let other_payload = b64.encode(issuer.claims("acme/other").to_string());
    let none_header = b64.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some("k1".into());
    let mut no_repository = good.clone();
    no_repository.as_object_mut().unwrap().remove("repository");
    let mut no_audience = good.clone();
    no_audience.as_object_mut().unwrap().remove("aud");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong audience",
            sign(&keys()[0], &with("aud", json!("someone-else"))),
            "wrong_audience",
        ),
        (
            "no audience",
            sign(&keys()[0], &no_audience),
            "missing_claim",
        ),
        (
            "wrong issuer",
            sign(&keys()[0], &with("iss", json!("https://evil.example"))),
            "wrong_issuer",
        ),
        (
            "expired beyond the leeway",
            sign(&keys()[0], &with("exp", json!(now() - 120))),
            "expired",
        ),
        (
            "not yet valid beyond the leeway",
            sign(&keys()[0], &with("nbf", json!(now() + 300))),
            "not_yet_valid",
        ),
        (
            "no repository claim",
            sign(&keys()[0], &no_repository),
            "missing_claim",
        ),
        (
            "payload swapped under a valid signature",
            format!("{head}.{other_payload}.{signature}"),
            "bad_signature",
        ),
        (
            "signed by a key the issuer never published",
            sign(&test_key("k1"), &good),
            "bad_signature",
        ),
        (
            "alg none",
            format!("{none_header}.{}.", b64.encode(good.to_string())),
            "unsupported_algorithm",
        ),
        (
            "HS256 with the public key as the secret",
            jsonwebtoken::encode(
                &hs256,
                &good,
                &EncodingKey::from_secret(keys()[0].public_pem.as_bytes()),
            )
            .unwrap(),
            "unsupported_algorithm",
        ),
    ];

    let mut wrong = Vec::new();
    for (what, token, reason) in &cases {
        let res = acquire(&app, "acme/shop/main", token).await;

        let refused = res.status == StatusCode::UNAUTHORIZED
            && res.json["error_context"]["reason"] == *reason;
        if !refused {
            wrong.push(format!("{what}: {} {}", res.status, res.json));
        }
        assert!(
            !res.json.to_string().contains(token.as_str()),
            "{what}: the token leaked"
        );
    }
    assert!(
        wrong.is_empty(),
        "expected 401 with the reason:\n{}",
        wrong.join("\n")
    );
    let view = call(&app, "GET", "/", ADMIN, None).await;
    assert_eq!(view.json, json!({}), "no refused token created a provider");
}

#[actix_web::test]
async fn a_token_just_past_its_exp_is_still_accepted_within_the_60_s_leeway() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;
    let mut claims = issuer.claims("acme/shop");
    claims["exp"] = json!(now() - 20);
    claims["nbf"] = json!(now() + 20);

    let res = acquire(&app, "acme/shop/main", &sign(&keys()[0], &claims)).await;

    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
}

#[actix_web::test]
async fn a_missing_or_non_jwt_bearer_gets_401_with_a_bearer_challenge() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;

    let mut raw = app
        .client
        .post(app.url("/acme/shop/main/acquire"))
        .send_json(&body("a", 1))
        .await
        .unwrap();
    let wrong = acquire(&app, "acme/shop/main", "not-a-jwt").await;
    let invalid = acquire(&app, "acme/shop/main", "a.b.c").await;

    assert_eq!(raw.status(), StatusCode::UNAUTHORIZED);
    let challenge = raw
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    let _ = raw.body().await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(invalid.status, StatusCode::UNAUTHORIZED);
    assert_eq!(invalid.json["error_context"]["reason"], "malformed");
    assert_eq!(
        issuer.hits(),
        0,
        "nothing was fetched for tokens that cannot be verified"
    );
}

#[actix_web::test]
async fn a_repository_token_gets_403_for_another_repository_and_for_admin_routes() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;
    let token = issuer.token("acme/shop");
    assert_eq!(
        acquire(&app, "acme/other/main", ADMIN).await.status,
        StatusCode::OK
    );
    assert_eq!(
        acquire(&app, "acme/shop/main", &token).await.status,
        StatusCode::OK
    );

    for (method, path) in [
        ("POST", "/acme/other/main/acquire"),
        ("POST", "/acme/other/main/release"),
        ("GET", "/acme/other/main"),
        ("GET", "/acme/other/main/events"),
        ("GET", "/other/shop/main"),
        ("DELETE", "/acme/shop/main"),
        ("POST", "/acme/shop/main/revoke"),
        ("POST", "/acme/shop/main/pause"),
        ("POST", "/acme/shop/main/resume"),
        ("GET", "/ui"),
        ("GET", "/ui/acme/other/main"),
    ] {
        let res = call(
            &app,
            method,
            path,
            &token,
            Some(&release_body("sha1", "success")),
        )
        .await;

        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            res.json
        );
        assert!(res.json["error"].is_string(), "{method} {path}");
        assert_eq!(res.json["error_context"]["repository"], "acme/shop");
    }
    let still_held = call(&app, "GET", "/acme/shop/main", &token, None).await;
    assert!(
        !still_held.json["acquired"].is_null(),
        "DELETE did not clear: {}",
        still_held.json
    );
}

#[actix_web::test]
async fn the_repository_claim_matches_the_path_whatever_the_case() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;

    let res = acquire(&app, "acme/shop/main", &issuer.token("Acme/Shop")).await;
    let page = call(
        &app,
        "GET",
        "/ui/ACME/shop/main",
        &issuer.token("acme/shop"),
        None,
    )
    .await;

    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert_ne!(
        page.status,
        StatusCode::FORBIDDEN,
        "its own queue's page is allowed"
    );
    assert_ne!(page.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn the_list_shows_a_repository_token_only_its_own_providers() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;
    for key in ["acme/shop/main", "acme/shop/release/1.x", "acme/other/main"] {
        assert_eq!(acquire(&app, key, ADMIN).await.status, StatusCode::OK);
    }

    let mine = call(&app, "GET", "/", &issuer.token("acme/shop"), None).await;
    let all = call(&app, "GET", "/", ADMIN, None).await;

    assert_eq!(mine.status, StatusCode::OK);
    let mut keys: Vec<&String> = mine.json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["acme:shop:main", "acme:shop:release/1.x"]);
    assert_eq!(all.json.as_object().unwrap().len(), 3);
}

#[actix_web::test]
async fn the_allow_list_refuses_a_valid_token_of_an_unlisted_repository_with_403() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let toml = config(&issuer, r#"repositories = ["acme/*", "tools/release-bot"]"#);
    let app = spawn_app_with(&[], Some(&toml)).await;

    let listed = acquire(&app, "acme/shop/main", &issuer.token("acme/shop")).await;
    let unlisted = acquire(&app, "evil/shop/main", &issuer.token("evil/shop")).await;
    let prefix = acquire(&app, "acmecorp/shop/main", &issuer.token("acmecorp/shop")).await;

    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    assert_eq!(unlisted.status, StatusCode::FORBIDDEN, "{}", unlisted.json);
    assert_eq!(unlisted.json["error_context"]["reason"], "not_allowed");
    assert_eq!(prefix.status, StatusCode::FORBIDDEN, "{}", prefix.json);
}

#[actix_web::test]
async fn admin_credentials_still_work_on_every_route() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;

    let other = acquire(&app, "acme/other/main", ADMIN).await;
    let view = call(&app, "GET", "/acme/other/main", ADMIN, None).await;
    let list = call(&app, "GET", "/", ADMIN, None).await;
    let cleared = call(&app, "DELETE", "/acme/other/main", ADMIN, None).await;

    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.json);
    assert!(cleared.json["acquired"].is_null());
    assert_eq!(issuer.hits(), 0, "admin calls never touch the JWKS");
}

#[actix_web::test]
async fn with_only_github_oidc_nothing_but_a_valid_token_gets_in() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let toml = format!(
        "[server]\nauto_register = true\n\n[auth.github_oidc]\naudience = \"{AUDIENCE}\"\nissuer = \"{}\"\n",
        issuer.url
    );
    let app = spawn_app_with(&[], Some(&toml)).await;

    let admin = acquire(&app, "acme/shop/main", "s3cret-token").await;
    let token = acquire(&app, "acme/shop/main", &issuer.token("acme/shop")).await;
    let health = app.get("/healthz").await;
    let metrics = app.metrics().await;

    assert_eq!(admin.status, StatusCode::UNAUTHORIZED);
    assert_eq!(token.status, StatusCode::OK, "{}", token.json);
    assert_eq!(health.status, StatusCode::OK);
    assert!(metrics.contains("# TYPE"), "metrics stay open");
}

#[actix_web::test]
async fn the_jwks_is_fetched_lazily_and_once_for_many_requests() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;
    assert_eq!(issuer.hits(), 0, "nothing is fetched at start");

    for n in 0..10 {
        let token = issuer.token(&format!("acme/repo{n}"));
        assert_eq!(
            acquire(&app, &format!("acme/repo{n}/main"), &token)
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "GET", &format!("/acme/repo{n}/main"), &token, None)
                .await
                .status,
            StatusCode::OK
        );
    }

    assert_eq!(issuer.hits(), 1);
}

#[actix_web::test]
async fn an_unknown_kid_is_refused_and_does_not_refetch_within_10_s() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;
    let rotated = sign(&keys()[1], &issuer.claims("acme/shop"));

    let first = acquire(&app, "acme/shop/main", &rotated).await;
    issuer.publish(&[&keys()[0], &keys()[1]]);
    let again = acquire(&app, "acme/shop/main", &rotated).await;
    let known = acquire(&app, "acme/shop/main", &issuer.token("acme/shop")).await;

    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    assert_eq!(first.json["error_context"]["reason"], "unknown_kid");
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "the refetch waits 10 s"
    );
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(
        issuer.hits(),
        1,
        "the first unknown kid fetched (nothing was cached); the second did not"
    );
}

#[actix_web::test]
async fn a_key_rotated_into_the_jwks_is_accepted_once_the_refetch_limit_has_passed() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn_app_adjusted(&config(&issuer, ""), |settings| {
        let oidc = settings
            .auth
            .as_mut()
            .unwrap()
            .github_oidc
            .as_mut()
            .unwrap();
        oidc.refetch_after = Duration::from_secs(1);
    })
    .await;
    assert_eq!(
        acquire(&app, "acme/shop/main", &issuer.token("acme/shop"))
            .await
            .status,
        StatusCode::OK
    );
    issuer.publish(&[&keys()[0], &keys()[1]]);
    let rotated = sign(&keys()[1], &issuer.claims("acme/shop"));

    let mut answers = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        let res = acquire(&app, "acme/shop/main", &rotated).await;
        answers.push(res.status);
        if res.status == StatusCode::OK {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }

    assert_eq!(answers.last(), Some(&StatusCode::OK), "{answers:?}");
    assert!(
        answers[..answers.len() - 1]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{answers:?}"
    );
    assert_eq!(
        issuer.hits(),
        2,
        "one fetch at first use, one for the rotated kid: {answers:?}"
    );
}

#[actix_web::test]
async fn an_unreachable_issuer_answers_503_not_401() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let issuer = Issuer::start(&[&keys()[0]]);
    let toml = config(&issuer, &format!("jwks_url = \"{url}/.well-known/jwks\""));
    let app = spawn_app_with(&[], Some(&toml)).await;
    let token = issuer.token("acme/shop");

    let res = acquire(&app, "acme/shop/main", &token).await;

    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.json);
    assert_eq!(res.json["error_context"]["reason"], "jwks_unavailable");
    assert!(!res.json.to_string().contains(&token));
    assert_eq!(issuer.hits(), 0);
}

/// The status page of a queue, as the given bearer token sees it.
async fn queue_page(app: &TestApp, key: &str, token: &str) -> (StatusCode, String) {
    let mut res = app
        .client
        .get(app.url(&format!("/ui/{key}")))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .send()
        .await
        .expect("request");
    let body = res.body().await.expect("body");
    (res.status(), String::from_utf8_lossy(&body).into_owned())
}

#[actix_web::test]
async fn a_repository_token_sees_its_queue_page_without_the_admin_controls() {
    let issuer = Issuer::start(&[&keys()[0]]);
    let app = spawn(&issuer).await;
    let token = issuer.token("acme/shop");
    assert_eq!(
        acquire(&app, "acme/shop/main", &token).await.lease(),
        "acquired"
    );

    let (own_status, own_page) = queue_page(&app, "acme/shop/main", &token).await;
    let (admin_status, admin_page) = queue_page(&app, "acme/shop/main", ADMIN).await;

    assert_eq!(own_status, StatusCode::OK, "{own_page}");
    assert!(own_page.contains("sha1"), "the holder is shown: {own_page}");
    assert!(
        !own_page.contains("/revoke"),
        "a repository token is offered admin controls: {own_page}"
    );
    assert_eq!(admin_status, StatusCode::OK);
    assert!(
        admin_page.contains("/revoke"),
        "admin credentials see the controls: {admin_page}"
    );
}
