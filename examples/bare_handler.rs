//! The baseline of the acquire-poll figure in `benches/scale.rs`: a bare actix-web JSON
//! handler, with none of the service in its way. It answers `POST` on any path by
//! parsing a JSON body of the acquire's shape and answering 200 with a fixed JSON
//! document (serialised per request, as a real handler does).
//!
//! ```sh
//! cargo run --release --example bare_handler -- 8081 answer.json
//! ```
//!
//! The port defaults to 8081; the document defaults to a small acquire answer. The scale
//! bench runs this same code in a child process with the document of the real poll's answer,
//! so both sides send the same number of bytes.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::Value;

/// The acquire body's shape (unknown fields ignored, like the service does).
#[derive(Deserialize)]
struct AcquireBody {
    head_sha: String,
    head_ref: Option<String>,
    priority: i64,
}

async fn answer(body: web::Json<AcquireBody>, doc: web::Data<Value>) -> HttpResponse {
    let body = body.into_inner();
    std::hint::black_box((&body.head_sha, &body.head_ref, body.priority));
    HttpResponse::Ok().json(doc.get_ref())
}

/// Serves `doc` on `127.0.0.1:port` with actix-web's default worker count until the process
/// is stopped.
pub fn serve(port: u16, doc: Value) -> std::io::Result<()> {
    let doc = web::Data::new(doc);
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(doc.clone())
                .app_data(web::JsonConfig::default().content_type_required(false))
                .route("/{tail:.*}", web::post().to(answer))
        })
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })
}

/// A holder's answer of about the size the service sends.
fn default_doc() -> Value {
    serde_json::json!({
        "request": {
            "head_sha": "0".repeat(40),
            "head_ref": "gh-readonly-queue/main/pr-4-0123abcd",
            "priority": 4,
            "status": "acquired",
            "fencing_token": 1,
        },
        "stacked_pull_requests": [1, 2, 3],
    })
}

#[allow(dead_code)] // the scale bench includes this file for `serve` only
fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port = match args.next() {
        Some(p) => p
            .parse()
            .map_err(|e| std::io::Error::other(format!("port {p:?}: {e}")))?,
        None => 8081,
    };
    let doc = match args.next() {
        Some(path) => serde_json::from_slice(&std::fs::read(&path)?)
            .map_err(|e| std::io::Error::other(format!("{path}: {e}")))?,
        None => default_doc(),
    };
    println!("bare handler on 127.0.0.1:{port}");
    serve(port, doc)
}
