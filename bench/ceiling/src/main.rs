//! The ceiling of any HTTP server on this machine: axum answering every request on every
//! path with the same small GraphQL-shaped JSON body, no parsing, no database.
//!
//! Usage: `gatehouse-bench-ceiling [ADDR]` (default 127.0.0.1:8090).

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Router;

const BODY: &str = r#"{"data":{"ok":true,"message":"fixed body from the bare axum ceiling"}}"#;

async fn fixed() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
    eprintln!("ceiling listening on {addr}");
    let app = Router::new().fallback(fixed);
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| panic!("serving: {e}"));
}
