//! The ceiling of any HTTP server on this machine: axum answering every request on every
//! path with the same fixed JSON body, no parsing, no database. The body is a small
//! GraphQL-shaped one, or the bytes of a file: the benchmark also runs it with the very
//! response the cached Gatehouse sends, so that the client's and the kernel's work per
//! response are the same on both sides of the ratio.
//!
//! Usage: `gatehouse-bench-ceiling [ADDR] [BODY_FILE]` (default 127.0.0.1:8090, small body).

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Router;

const SMALL: &str = r#"{"data":{"ok":true,"message":"fixed body from the bare axum ceiling"}}"#;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let body = match std::env::args().nth(2) {
        Some(path) => Bytes::from(
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading the body {path}: {e}")),
        ),
        None => Bytes::from_static(SMALL.as_bytes()),
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
    eprintln!("ceiling listening on {addr}");
    // A clone of `Bytes` shares the buffer: no copy per request.
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, "application/json")], body).into_response() }
    });
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| panic!("serving: {e}"));
}
