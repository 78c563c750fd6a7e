//! Every route of the service, in one table: [`ROUTES`]. Each row says the method and path,
//! which handler answers ([`Endpoint`]), who may call it ([`Who`]) and which replica answers
//! it ([`Answered`]). Everything else reads it:
//!
//! - the router: [`mount`] mounts the rows in order (`startup` gives it the handlers of
//!   `routes`, `ui` and `openapi`, each module naming its own in a `handler` function);
//! - auth: [`access`] finds the row of a request to say what it asks for, and [`is_open`]
//!   which paths need no credentials;
//! - forwarding: [`answered_here`], the rows every replica answers itself;
//! - the OpenAPI document: each operation's credentials come from its row, and a test
//!   holds the document's operations to the rows.
//!
//! Adding a route is one row here and one handler (plus its name in [`Endpoint`], which the
//! compiler then asks of the module's `handler`).

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{guard, web, HttpRequest, ResponseError, Route};
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::error::ApiError;

/// A handler, by name: the module that owns it gives the [`Route`] for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Acquire,
    Release,
    List,
    Details,
    Clear,
    Events,
    Revoke,
    Pause,
    Resume,
    Live,
    Ready,
    Metrics,
    OpenApi,
    UiIndex,
    UiQueue,
    UiCss,
    UiJs,
    UiIcon,
}

/// Who may call a route (docs/http-api.md, "Credentials").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Anyone, without credentials: the probes and this API's description.
    Anyone,
    /// Anyone, unless `[server] metrics_auth = true`: then admin credentials.
    AnyoneUnlessMetricsAuth,
    /// Admin credentials, or a repository's token for the providers of its own
    /// `{owner}/{repo}` (the path's).
    OwnRepository,
    /// Admin credentials, or a repository's token (the handler shows it its own providers).
    Listing,
    /// Admin credentials: a change to a provider other than acquire and release.
    Admin,
    /// Admin credentials: the page of every queue (a token is pointed to its own page).
    AdminPage,
    /// Admin credentials: anything else (the status page's files).
    AdminOther,
}

/// Which replica answers a route when there are several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// The replica that owns the state (a follower forwards the request).
    ByOwner,
    /// Every replica itself: it describes this replica, or never changes.
    Here,
}

/// One route.
pub struct Row {
    pub method: Method,
    /// The router's pattern: `{name}` is one segment, `{name:.+}` one or more.
    pub path: &'static str,
    pub endpoint: Endpoint,
    pub who: Who,
    pub answered: Answered,
    /// Other methods on this path fall through to the rows after it instead of a 405
    /// (the status page of a queue shares its paths with the provider routes).
    pub falls_through: bool,
}

const fn row(
    method: Method,
    path: &'static str,
    endpoint: Endpoint,
    who: Who,
    answered: Answered,
) -> Row {
    Row {
        method,
        path,
        endpoint,
        who,
        answered,
        falls_through: false,
    }
}

impl Row {
    /// This row, with its path's other methods falling through ([`Row::falls_through`]).
    const fn falling_through(mut self) -> Row {
        self.falls_through = true;
        self
    }
}

use Answered::{ByOwner, Here};
use Endpoint as E;

/// Every route, in the order the router tries them: the ones every run polls come first
/// (no other path has four segments or more ending in `/acquire` or `/release`, so they
/// take nothing from the rows below); the other provider routes take `base_ref` with
/// slashes, so they come last.
#[rustfmt::skip]
pub static ROUTES: &[Row] = &[
    row(Method::POST, "/{owner}/{repo}/{base_ref:.+}/acquire", E::Acquire, Who::OwnRepository, ByOwner),
    row(Method::POST, "/{owner}/{repo}/{base_ref:.+}/release", E::Release, Who::OwnRepository, ByOwner),
    row(Method::GET, "/healthz", E::Live, Who::Anyone, Here),
    row(Method::GET, "/k8s/liveness", E::Live, Who::Anyone, Here),
    row(Method::GET, "/readyz", E::Ready, Who::Anyone, Here),
    row(Method::GET, "/k8s/readiness", E::Ready, Who::Anyone, Here),
    row(Method::GET, "/metrics", E::Metrics, Who::AnyoneUnlessMetricsAuth, Here),
    row(Method::GET, "/openapi.json", E::OpenApi, Who::Anyone, Here),
    row(Method::GET, "/ui", E::UiIndex, Who::AdminPage, ByOwner),
    row(Method::GET, "/ui.css", E::UiCss, Who::AdminOther, Here),
    row(Method::GET, "/ui.js", E::UiJs, Who::AdminOther, Here),
    row(Method::GET, "/ui.svg", E::UiIcon, Who::AdminOther, Here),
    row(Method::GET, "/", E::List, Who::Listing, ByOwner),
    row(Method::POST, "/{owner}/{repo}/{base_ref:.+}/revoke", E::Revoke, Who::Admin, ByOwner),
    row(Method::POST, "/{owner}/{repo}/{base_ref:.+}/pause", E::Pause, Who::Admin, ByOwner),
    row(Method::POST, "/{owner}/{repo}/{base_ref:.+}/resume", E::Resume, Who::Admin, ByOwner),
    row(Method::GET, "/{owner}/{repo}/{base_ref:.+}/events", E::Events, Who::OwnRepository, ByOwner),
    row(Method::GET, "/ui/{owner}/{repo}/{base_ref:.+}", E::UiQueue, Who::OwnRepository, ByOwner).falling_through(),
    row(Method::GET, "/{owner}/{repo}/{base_ref:.+}", E::Details, Who::OwnRepository, ByOwner),
    row(Method::DELETE, "/{owner}/{repo}/{base_ref:.+}", E::Clear, Who::Admin, ByOwner),
];

impl Row {
    /// The path as OpenAPI writes it: `{base_ref}`, without the router's regex.
    pub fn doc_path(&self) -> String {
        self.path.replace(":.+}", "}")
    }

    /// Whether this row's pattern matches `path` (the raw path) as the router matches it:
    /// `{name}` is one segment, not empty; `{name:.+}` is one segment or more, not all
    /// empty. What it took is its `{owner}` and `{repo}` (its first two parameters), for a
    /// row that has them. Allocates nothing and walks the path once: the forwarding
    /// middleware asks this of every request.
    fn matches<'a>(&self, shape: &Shape, path: &'a str) -> Option<Taken<'a>> {
        let Shape { head, tail, after } = shape;
        if head.is_empty() && !tail {
            return (self.path == path).then_some(None);
        }
        let given = path.strip_prefix('/')?;
        let mut params = Params::default();
        let mut segments = given.split('/');
        let mut front = 0;
        for p in head {
            let segment = segments.next()?;
            params.check(p, segment)?;
            front += segment.len() + 1;
        }
        if !tail {
            return segments.next().is_none().then_some(params.taken());
        }
        // The segments after the tail from the back, and between them and the head the
        // tail: one segment or more, not all empty.
        let rest = given.get(front..)?;
        let mut back = 0;
        let mut segments = rest.rsplit('/');
        for p in after {
            let segment = segments.next()?;
            params.check(p, segment)?;
            back += segment.len() + 1;
        }
        let taken = rest.get(..rest.len().checked_sub(back)?)?;
        taken.bytes().any(|b| b != b'/').then_some(params.taken())
    }
}

/// A row's pattern cut into segments once: those before a `{name:.+}` tail, whether
/// there is one, and those after it (last first). A literal path has neither.
struct Shape {
    head: Vec<&'static str>,
    tail: bool,
    after: Vec<&'static str>,
}

impl Shape {
    fn of(path: &'static str) -> Shape {
        if !path.contains('{') {
            return Shape {
                head: Vec::new(),
                tail: false,
                after: Vec::new(),
            };
        }
        let segments: Vec<&'static str> = path.trim_start_matches('/').split('/').collect();
        match segments.iter().position(|p| p.ends_with(":.+}")) {
            Some(at) => Shape {
                head: segments[..at].to_vec(),
                tail: true,
                after: segments[at + 1..].iter().rev().copied().collect(),
            },
            None => Shape {
                head: segments,
                tail: false,
                after: Vec::new(),
            },
        }
    }
}

/// Every row's [`Shape`], in the table's order, cut on first use.
fn shapes() -> &'static [Shape] {
    static SHAPES: std::sync::OnceLock<Vec<Shape>> = std::sync::OnceLock::new();
    SHAPES.get_or_init(|| ROUTES.iter().map(|r| Shape::of(r.path)).collect())
}

/// The parameters a row takes from a path as it matches: the first two are kept.
#[derive(Default)]
struct Params<'a> {
    found: [&'a str; 2],
    count: usize,
}

impl<'a> Params<'a> {
    /// Whether `segment` fits the pattern's segment `p` (a parameter takes any segment but
    /// an empty one); a parameter's segment is kept.
    fn check(&mut self, p: &str, segment: &'a str) -> Option<()> {
        if !p.starts_with('{') {
            return (p == segment).then_some(());
        }
        if segment.is_empty() {
            return None;
        }
        if let Some(slot) = self.found.get_mut(self.count) {
            *slot = segment;
        }
        self.count += 1;
        Some(())
    }

    fn taken(&self) -> Taken<'a> {
        (self.count >= 2).then_some((self.found[0], self.found[1]))
    }
}

/// What a matching row took from the path: its `{owner}` and `{repo}`, when it has them.
pub(crate) type Taken<'a> = Option<(&'a str, &'a str)>;

/// The row the router takes for `path`: the first whose pattern matches (whatever the
/// method), and its `{owner}` and `{repo}`. The status page's paths (`/ui/…`) are only
/// ever its own rows, never a provider whose owner is `ui`.
pub(crate) fn find(path: &str) -> Option<(&'static Row, Taken<'_>)> {
    let page = path.starts_with("/ui/");
    ROUTES
        .iter()
        .zip(shapes())
        .filter(|(r, _)| !page || r.path.starts_with("/ui/"))
        .find_map(|(r, shape)| r.matches(shape, path).map(|taken| (r, taken)))
}

/// Whether `path` is served without credentials (docs/http-api.md, "Credentials").
pub fn is_open(path: &str, metrics_needs_auth: bool) -> bool {
    match find(path).map(|(r, _)| r.who) {
        Some(Who::Anyone) => true,
        Some(Who::AnyoneUnlessMetricsAuth) => !metrics_needs_auth,
        _ => false,
    }
}

/// Whether every replica answers `path` itself (it is not sent to the owner).
pub fn answered_here(path: &str) -> bool {
    find(path).is_some_and(|(r, _)| r.answered == Here)
}

/// What a request asks for, from its method and path alone: the auth middleware runs
/// before routing.
#[derive(Debug, PartialEq, Eq)]
pub enum Access<'a> {
    /// `GET /`: every provider.
    List,
    /// `/ui` or `/ui/`: the status page of every queue.
    UiList,
    /// Acquire, release or read a provider of `owner/repo`.
    Use {
        owner: Cow<'a, str>,
        repo: Cow<'a, str>,
    },
    /// Clear (`DELETE`), revoke, pause, resume, or any other change to a provider.
    Admin,
    /// Anything else.
    Other,
}

/// The [`Access`] of `method` on `path`: its row's [`Who`]. A method the path does not
/// serve (the router answers 405) on a provider's path is a read of that provider if it
/// reads, else a change.
pub fn access<'a>(method: &Method, path: &'a str) -> Access<'a> {
    // No route, but a token that asks for it is pointed to its own page as for `/ui`.
    if path == "/ui/" {
        return Access::UiList;
    }
    let Some((found, taken)) = find(path) else {
        return Access::Other;
    };
    let reading = method == Method::GET || method == Method::HEAD;
    let provider = taken.is_some();
    let served = ROUTES
        .iter()
        .find(|r| r.path == found.path && r.method == method);
    let who = match served {
        Some(row) => row.who,
        None if provider && reading => Who::OwnRepository,
        None if found.path.starts_with("/ui/") => Who::AdminOther,
        None if provider => Who::Admin,
        None => found.who,
    };
    let decode = |s: &'a str| percent_decode_str(s).decode_utf8_lossy();
    match (who, taken) {
        (Who::OwnRepository, Some((owner, repo))) => Access::Use {
            owner: decode(owner),
            repo: decode(repo),
        },
        (Who::Listing, _) => Access::List,
        (Who::Admin, _) => Access::Admin,
        (Who::AdminPage, _) => Access::UiList,
        _ => Access::Other,
    }
}

/// Mounts every row, in order, each with the route `handler` gives for its endpoint; a
/// path's other methods answer 405 with `Allow`, unless the row falls through.
/// Rows without a handler are left out (a test holds every endpoint to one).
pub fn mount(cfg: &mut web::ServiceConfig, handler: &dyn Fn(Endpoint) -> Option<Route>) {
    let mut at = 0;
    while let Some(first) = ROUTES.get(at) {
        let same: Vec<&Row> = ROUTES[at..]
            .iter()
            .take_while(|r| r.path == first.path)
            .collect();
        at += same.len();
        let mut resource = web::resource(first.path);
        if first.falls_through {
            resource = resource.guard(guard::Method(first.method.clone()));
        }
        for r in &same {
            if let Some(route) = handler(r.endpoint) {
                resource = resource.route(route.method(r.method.clone()));
            }
        }
        if !first.falls_through {
            let allow: Vec<&str> = same.iter().map(|r| r.method.as_str()).collect();
            resource = resource.default_service(method_not_allowed(allow.join(", ")));
        }
        cfg.service(resource);
    }
}

/// 404 for a request no row takes.
pub async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// 405 with the `Allow` header (RFC 9110 requires it) naming the methods `allow` lists.
fn method_not_allowed(allow: String) -> Route {
    web::to(move |req: HttpRequest| {
        let allow = allow.clone();
        async move {
            let mut response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed on {}", req.method(), req.path()),
            )
            .with_context(json!({ "allow": allow }))
            .error_response();
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
    })
}
