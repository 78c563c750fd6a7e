//! The route table is the only place routes are described: every row is mounted and
//! routed to itself, nothing is mounted that is not a row, and the OpenAPI document has
//! exactly the rows' operations.

use std::collections::BTreeSet;
use std::path::Path;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{test as http, web, App};
use utoipa::OpenApi;

use crate::routes::table::{self, Endpoint, ROUTES};

/// A path the row's pattern takes: `{owner}`, `{repo}` and a `base_ref` with a slash.
fn sample(path: &str) -> String {
    path.replace("{owner}", "acme")
        .replace("{repo}", "shop")
        .replace("{base_ref:.+}", "release/1.x")
}

#[test]
fn every_row_has_exactly_one_handler() {
    for row in ROUTES {
        let e: Endpoint = row.endpoint;
        let found = [
            crate::routes::handler(e).is_some(),
            crate::ui::handler(e).is_some(),
            crate::openapi::handler(e).is_some(),
        ];
        assert_eq!(
            found.iter().filter(|f| **f).count(),
            1,
            "{} {}: {e:?} has {found:?} handlers (routes, ui, openapi)",
            row.method,
            row.path
        );
    }
}

#[actix_web::test]
async fn every_row_is_mounted_and_a_request_for_it_is_routed_to_it() {
    let app = http::init_service(
        App::new()
            .configure(crate::startup::mount)
            .default_service(web::to(table::not_found)),
    )
    .await;
    for row in ROUTES {
        let path = sample(row.path);
        let req = http::TestRequest::default()
            .method(row.method.clone())
            .uri(&path)
            .to_request();
        let res = http::call_service(&app, req).await;
        assert_eq!(
            res.request().match_pattern().as_deref(),
            Some(row.path),
            "{} {path} is not routed to its row ({})",
            row.method,
            res.status()
        );
        assert_ne!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}

#[actix_web::test]
async fn a_method_a_path_does_not_serve_is_405_naming_the_rows_methods() {
    let app = http::init_service(
        App::new()
            .configure(crate::startup::mount)
            .default_service(web::to(table::not_found)),
    )
    .await;
    for row in ROUTES.iter().filter(|r| !r.falls_through) {
        let methods: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.path == row.path)
            .map(|r| r.method.as_str())
            .collect();
        let req = http::TestRequest::default()
            .method(Method::PUT)
            .uri(&sample(row.path))
            .to_request();
        let res = http::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{}", row.path);
        assert_eq!(
            res.headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some(methods.join(", ").as_str()),
            "{}",
            row.path
        );
    }
}

/// Mounting anything outside the table (a `web::resource`, a `.route`, a `.service`) in
/// the library's code fails here: the table is the only router.
#[test]
fn nothing_is_mounted_outside_the_route_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![src.clone()];
    let mut wrong = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.to_string_lossy().into_owned();
            if !name.ends_with(".rs") || name.ends_with("tests.rs") || name.ends_with("table.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // The code before a trailing test module.
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                for mounts in [
                    "web::resource(",
                    "web::scope(",
                    ".service(",
                    ".route(\"",
                    "web::get()",
                    "web::post()",
                    "web::delete()",
                    "web::put()",
                ] {
                    if line.contains(mounts) {
                        wrong.push(format!("{name}:{}: {line}", n + 1));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "mounted outside the route table:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_openapi_document_has_exactly_the_rows_operations() {
    let doc = crate::openapi::ApiDoc::openapi();
    let documented: BTreeSet<(String, String)> = doc
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("DELETE", item.delete.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("HEAD", item.head.is_some()),
            ]
            .into_iter()
            .filter(|(_, is)| *is)
            .map(move |(method, _)| (method.to_owned(), path.clone()))
        })
        .collect();
    let rows: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.doc_path()))
        .collect();
    assert_eq!(
        documented.difference(&rows).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented, but no row"
    );
    assert_eq!(
        rows.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "a row, but not documented"
    );
}

/// Auth and forwarding find a request's row without the router (they run before it):
/// for awkward paths too, they must find the row the router takes.
#[actix_web::test]
async fn the_table_finds_the_row_the_router_takes() {
    let app = http::init_service(
        App::new()
            .configure(crate::startup::mount)
            .default_service(web::to(table::not_found)),
    )
    .await;
    let paths = [
        "/",
        "/healthz",
        "/healthz/",
        "/ui",
        "/ui/",
        "/ui.css",
        "/acme/shop/main",
        "/acme/shop/main/",
        "/acme/shop/release/1.x",
        "/acme/shop/release%2F1.x/acquire",
        "/acme/shop/main/acquire",
        "/acme/shop/a/b/c/release",
        "/acme/shop/acquire",
        "/acme/shop//acquire",
        "/acme/shop/main/events",
        "/acme/shop/main/pause/x",
        "//shop/main",
        "/acme//main",
        "/ui/acme/shop/main",
        "/ui/acme/shop/release/1.x",
        "/metrics/x",
    ];
    for path in paths {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let req = http::TestRequest::default()
                .method(method.clone())
                .uri(path)
                .to_request();
            let res = http::call_service(&app, req).await;
            let router = res.request().match_pattern();
            let table = table::find(path).map(|(row, _)| row.path.to_owned());
            // The status page's row takes only GET; other methods fall through to the
            // provider rows, which auth sees as no route (docs: `table::find`).
            let falls_through =
                table.as_deref().is_some_and(|p| p.starts_with("/ui/")) && method != Method::GET;
            if !falls_through {
                assert_eq!(table, router, "{method} {path}");
            }
        }
    }
}
