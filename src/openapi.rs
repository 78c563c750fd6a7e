//! The OpenAPI 3.1 description of the HTTP API, generated from the handlers'
//! `#[utoipa::path]` attributes, the wire types in [`crate::routes::dto`] and the
//! descriptions in [`crate::routes::schema`].
//!
//! Served at `GET /openapi.json` (without credentials: it describes the API, not its
//! state) and checked in as `openapi.json` at the repository root; `tests/openapi.rs`
//! fails when the two differ. Regenerate with
//! `cargo run --quiet -- openapi > openapi.json`.
//!
//! Routes served by one handler under two paths (`/k8s/liveness`), and those whose
//! handlers live outside `routes` (the status page, `/metrics`), are described by the
//! attribute-only functions below.

use actix_web::{web, HttpResponse, Route};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

use crate::routes::table::{Endpoint, Who, ROUTES};
use crate::routes::{health, lease, providers, schema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mq-lease-service",
        description = "One lease per GitHub merge queue: the run with the most pull requests wins. \
Provider paths are `/{owner}/{repo}/{base_ref}`; a `/` in `base_ref` is sent as `%2F` \
(the raw form `/acme/shop/release/1.x/acquire` is accepted too). Every error is JSON: \
`{\"error\": \"…\", \"error_context\": …}`. Credentials: HTTP Basic or a Bearer token from \
`[auth]` (admin: every route), or a GitHub Actions OIDC token as Bearer (its repository's \
providers only; admin routes answer 403). Without `[auth]` every route is open.",
        license(name = "MIT"),
    ),
    paths(
        providers::list,
        lease::acquire,
        lease::release,
        providers::details,
        providers::clear,
        providers::events,
        providers::revoke,
        providers::pause,
        providers::resume,
        health::live,
        liveness,
        health::ready,
        readiness,
        metrics,
        openapi_json,
        ui_index,
        ui_queue,
        ui_css,
        ui_js,
        ui_icon,
    ),
    components(schemas(schema::ErrorBody)),
    modifiers(&SecuritySchemes, &WhoMayCall, &OptionalRevokeBody),
    security(("basic" = []), ("bearer" = [])),
    tags(
        (name = "lease", description = "Acquire and release the lease"),
        (name = "providers", description = "Read the queues"),
        (name = "admin", description = "Clear, revoke, pause, resume (admin credentials)"),
        (name = "health", description = "Liveness, readiness, metrics (no credentials)"),
        (name = "ui", description = "The status page (HTML)"),
    )
)]
pub struct ApiDoc;

/// The `basic` and `bearer` schemes the operations' `security` names.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("A user of `[auth] basic` (admin)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token of `[auth] bearer_tokens` (admin), or a GitHub Actions OIDC \
                         token when `[auth.github_oidc]` is set (its repository's providers only)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Each operation's credentials, from its row of the route table: none for the rows
/// anyone may call, none or admin for `/metrics`; the others keep the document's
/// `basic` or `bearer`.
struct WhoMayCall;

impl Modify for WhoMayCall {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let none = SecurityRequirement::default;
        let admin = |scheme: &str| SecurityRequirement::new(scheme, Vec::<String>::new());
        for row in ROUTES {
            let security = match row.who {
                Who::Anyone => vec![none()],
                Who::AnyoneUnlessMetricsAuth => vec![none(), admin("basic"), admin("bearer")],
                _ => continue,
            };
            let operation = openapi
                .paths
                .paths
                .get_mut(&row.doc_path())
                .and_then(|item| match row.method.as_str() {
                    "GET" => item.get.as_mut(),
                    "POST" => item.post.as_mut(),
                    "DELETE" => item.delete.as_mut(),
                    _ => None,
                });
            if let Some(operation) = operation {
                operation.security = Some(security);
            }
        }
    }
}

/// Revoke's body may be left out, but when sent it must be an object: utoipa writes
/// `Option<T>` as "T or null", and `null` is refused (422), so say "optional T" instead.
struct OptionalRevokeBody;

impl Modify for OptionalRevokeBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/{owner}/{repo}/{base_ref}/revoke")
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.request_body.as_mut());
        if let Some(RefOr::T(body)) = body {
            body.required = Some(Required::False);
            for content in body.content.values_mut() {
                let RefOr::T(content) = content else { continue };
                content.schema = Some(RefOr::Ref(Ref::from_schema_name("RevokeRequest")));
            }
        }
    }
}

/// The document as pretty JSON with a final newline: what `GET /openapi.json` serves,
/// `mq-lease-service openapi` prints, and `openapi.json` holds.
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the document could not be written: {e}\"}}"));
    text.push('\n');
    text
}

/// [`document`], built on first use and then served as is: it never changes while the
/// process runs, and the route is open, so it must not cost a rebuild per request.
fn served_document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(document)
}

/// The route of the route table's `/openapi.json`.
pub fn handler(endpoint: Endpoint) -> Option<Route> {
    (endpoint == Endpoint::OpenApi).then(|| web::to(openapi_json))
}

/// This description. Open without credentials: it tells how to call the API, not its state.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "health",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(served_document())
}

/// Liveness (the Kubernetes path of `/healthz`).
#[utoipa::path(
    get,
    path = "/k8s/liveness",
    tag = "health",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = schema::HealthStatus))
)]
#[allow(dead_code)]
fn liveness() {}

/// Readiness (the Kubernetes path of `/readyz`).
#[utoipa::path(
    get,
    path = "/k8s/readiness",
    tag = "health",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = schema::HealthStatus),
        (status = 503, description = "`{\"status\": \"not ready\", \"error\": reason}`", body = schema::HealthStatus),
    )
)]
#[allow(dead_code)]
fn readiness() {}

/// Prometheus metrics. Open unless `[server] metrics_auth = true`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "`metrics_auth` is on and credentials are missing or wrong", body = schema::ErrorBody),
    )
)]
#[allow(dead_code)]
fn metrics() {}

/// The status page of every queue (admin, or auth off).
#[utoipa::path(
    get,
    path = "/ui",
    tag = "ui",
    params(schema::FragmentQuery),
    responses(
        (status = 200, description = "HTML page", content_type = "text/html", body = String),
        (status = 403, description = "A repository's OIDC token may not see every queue", body = schema::ErrorBody),
        schema::Unauthorized,
        schema::Unavailable,
    )
)]
#[allow(dead_code)]
fn ui_index() {}

/// The status page of one queue.
#[utoipa::path(
    get,
    path = "/ui/{owner}/{repo}/{base_ref}",
    tag = "ui",
    params(schema::ProviderPath, schema::FragmentQuery),
    responses(
        (status = 200, description = "HTML page", content_type = "text/html", body = String),
        (status = 400, description = "A path value fails validation", body = schema::ErrorBody),
        (status = 403, description = "A repository's OIDC token may not use this provider", body = schema::ErrorBody),
        (status = 404, description = "Unknown provider", body = schema::ErrorBody),
        schema::Unauthorized,
        schema::TooManyProviders,
        schema::Unavailable,
    )
)]
#[allow(dead_code)]
fn ui_queue() {}

/// The status page's stylesheet.
#[utoipa::path(
    get,
    path = "/ui.css",
    tag = "ui",
    responses(
        (status = 200, description = "CSS", content_type = "text/css", body = String),
        schema::AssetErrors,
    )
)]
#[allow(dead_code)]
fn ui_css() {}

/// The status page's script.
#[utoipa::path(
    get,
    path = "/ui.js",
    tag = "ui",
    responses(
        (status = 200, description = "JavaScript", content_type = "text/javascript", body = String),
        schema::AssetErrors,
    )
)]
#[allow(dead_code)]
fn ui_js() {}

/// The status page's icon.
#[utoipa::path(
    get,
    path = "/ui.svg",
    tag = "ui",
    responses(
        (status = 200, description = "SVG", content_type = "image/svg+xml", body = String),
        schema::AssetErrors,
    )
)]
#[allow(dead_code)]
fn ui_icon() {}
