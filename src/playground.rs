//! The `GraphiQL` playground, served by Gatehouse itself.
//!
//! `GET /` answers the playground page and `GET /assets/graphiql/{file}` its scripts
//! and styles. Every file is embedded in the binary at compile time from
//! `assets/graphiql/` (a pinned build of the npm `graphiql` package and React 18, made by
//! `scripts/build-graphiql.sh`), so the page needs no CDN, works offline, and runs under
//! a strict Content-Security-Policy: no inline script, no `eval`, no third-party origin.
//! The page sends its queries with `POST /graphql`.
//!
//! Caching: the vendor files are referenced from `index.html` as `name?v=<content hash>`
//! and served with a one-year `immutable` `Cache-Control`; the page and its small
//! hand-written bootstrap (`init.js`, `init.css`) are served with `no-cache` and an
//! `ETag`, so a deploy is picked up at once and an unchanged file costs a `304`.

use std::sync::OnceLock;

use axum::{
    extract::Path,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

/// The Content-Security-Policy sent with the playground page.
///
/// Everything comes from the page's own origin. `data:` is allowed for images and fonts
/// only, because `graphiql.min.css` embeds its fonts and a few icons as `data:` URLs.
/// `style-src` needs no `'unsafe-inline'`: React and `CodeMirror` set element styles
/// through the CSSOM, which CSP does not restrict (checked in headless Chromium by
/// `tests/browser/graphiql.mjs`, which fails on any CSP violation).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self'; \
     style-src 'self'; \
     img-src 'self' data:; \
     font-src 'self' data:; \
     connect-src 'self'; \
     object-src 'none'; \
     base-uri 'none'; \
     form-action 'self'; \
     frame-ancestors 'none'";

/// URL prefix under which the playground's assets are served.
pub const ASSET_PREFIX: &str = "/assets/graphiql/";

/// `Cache-Control` of the vendor files, whose URLs carry a content hash.
const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of the page and the hand-written files: always revalidate.
const CACHE_REVALIDATE: &str = "no-cache";

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// One embedded file.
struct Asset {
    /// File name under `assets/graphiql/` (and under [`ASSET_PREFIX`]).
    name: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static [u8],
    /// Strong `ETag`, computed on first use.
    etag: OnceLock<HeaderValue>,
}

macro_rules! asset {
    ($name:literal, $content_type:expr, $cache_control:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            cache_control: $cache_control,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/graphiql/",
                $name
            )),
            etag: OnceLock::new(),
        }
    };
}

/// The page itself, served at `/`.
static INDEX: Asset = asset!("index.html", HTML, CACHE_REVALIDATE);

/// The files served under [`ASSET_PREFIX`].
static ASSETS: [Asset; 6] = [
    asset!("graphiql.min.js", JS, CACHE_IMMUTABLE),
    asset!("graphiql.min.css", CSS, CACHE_IMMUTABLE),
    asset!("react.production.min.js", JS, CACHE_IMMUTABLE),
    asset!("react-dom.production.min.js", JS, CACHE_IMMUTABLE),
    asset!("init.js", JS, CACHE_REVALIDATE),
    asset!("init.css", CSS, CACHE_REVALIDATE),
];

/// Routes of the playground: `GET /` (the page) and `GET /assets/graphiql/{file}`.
///
/// `HEAD` is answered too. An unknown file is a `404`. Merge it into the application
/// router, e.g. `Router::new().merge(playground::router())`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route(&format!("{ASSET_PREFIX}{{file}}"), get(asset))
}

/// `GET /`: the playground page, with its Content-Security-Policy.
async fn index(request_headers: HeaderMap) -> Response {
    let mut response = serve(&INDEX, &request_headers);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
        .headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /assets/graphiql/{file}`: one embedded asset, or `404`.
async fn asset(Path(file): Path<String>, request_headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(found) => serve(found, &request_headers),
        None => (
            StatusCode::NOT_FOUND,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            "not found\n",
        )
            .into_response(),
    }
}

/// Answers `asset` in full, or `304 Not Modified` when `If-None-Match` matches its `ETag`.
fn serve(asset: &Asset, request_headers: &HeaderMap) -> Response {
    let etag = asset.etag.get_or_init(|| etag_of(asset.body)).clone();
    let not_modified = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .any(|value| if_none_match_hits(value, &etag));
    let common = [
        (header::ETAG, etag),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(asset.cache_control),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if not_modified {
        (StatusCode::NOT_MODIFIED, common).into_response()
    } else {
        (
            common,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    }
}

/// Strong `ETag` of a body: `"<FNV-1a 64 hex>-<length hex>"`.
fn etag_of(body: &[u8]) -> HeaderValue {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let text = format!("\"{hash:016x}-{:x}\"", body.len());
    // Hex digits, quotes and a dash are always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// Whether one `If-None-Match` header value (`*` or a list of tags) matches `etag`.
/// Comparison is weak, as RFC 9110 prescribes for `If-None-Match`.
fn if_none_match_hits(value: &HeaderValue, etag: &HeaderValue) -> bool {
    let (Ok(value), Ok(etag)) = (value.to_str(), etag.to_str()) else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::{Method, Request};
    use tower::ServiceExt;

    async fn send(method: Method, uri: &str, if_none_match: Option<&str>) -> Response {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        router::<()>()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn get_ok(uri: &str) -> (HeaderMap, Vec<u8>) {
        let response = send(Method::GET, uri, None).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {uri}");
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (headers, body.to_vec())
    }

    /// Values of every `src="..."` and `href="..."` attribute in `html`.
    fn referenced_urls(html: &str) -> Vec<String> {
        let mut urls = Vec::new();
        for attribute in ["src=\"", "href=\""] {
            for (start, _) in html.match_indices(attribute) {
                let rest = &html[start + attribute.len()..];
                let end = rest.find('"').unwrap();
                urls.push(rest[..end].to_owned());
            }
        }
        urls
    }

    #[tokio::test]
    async fn index_is_html_with_strict_csp() {
        let (headers, body) = get_ok("/").await;
        assert_eq!(headers[header::CONTENT_TYPE], HTML);
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert_eq!(csp, CONTENT_SECURITY_POLICY);
        for directive in [
            "default-src 'self'",
            "script-src 'self';",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");

        let html = String::from_utf8(body).unwrap();
        assert!(html.contains("id=\"graphiql\""));
        assert!(html.contains("data-endpoint=\"/graphql\""));
        // The CSP forbids inline scripts and styles: every script must be a file.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=\"").count()
        );
        assert!(!html.contains("<style") && !html.contains(" style="));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external URL"
        );
    }

    #[tokio::test]
    async fn every_referenced_asset_is_served() {
        let (_, body) = get_ok("/").await;
        let html = String::from_utf8(body).unwrap();
        let urls = referenced_urls(&html);
        let local: Vec<&String> = urls.iter().filter(|u| !u.starts_with("data:")).collect();
        assert_eq!(local.len(), 6, "{urls:?}");
        for url in local {
            assert!(url.starts_with(ASSET_PREFIX), "{url}");
            let (headers, body) = get_ok(url).await;
            assert!(!body.is_empty(), "{url}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let path = url.split('?').next().unwrap();
            let content_type = headers[header::CONTENT_TYPE].to_str().unwrap();
            if path.ends_with(".js") {
                assert_eq!(content_type, JS, "{url}");
            } else {
                assert!(path.ends_with(".css"), "{url}");
                assert_eq!(content_type, CSS, "{url}");
            }
            // Vendor files are cached for a year, so their URL must carry a version.
            let cache_control = headers[header::CACHE_CONTROL].to_str().unwrap();
            if cache_control == CACHE_IMMUTABLE {
                assert!(url.contains("?v="), "{url} is immutable but unversioned");
            }
        }
    }

    #[tokio::test]
    async fn every_embedded_asset_is_referenced_by_the_page() {
        let (_, body) = get_ok("/").await;
        let html = String::from_utf8(body).unwrap();
        for asset in &ASSETS {
            let url = format!("{ASSET_PREFIX}{}", asset.name);
            assert!(html.contains(&url), "{url} is embedded but unused");
        }
    }

    #[tokio::test]
    async fn unknown_asset_is_404() {
        for uri in [
            "/assets/graphiql/nope.js",
            "/assets/graphiql/index.html",
            "/assets/graphiql/..%2F..%2FCargo.toml",
            "/assets/graphiql/graphiql.min.js.map",
        ] {
            let response = send(Method::GET, uri, None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
        }
    }

    #[tokio::test]
    async fn etag_gives_304_and_head_has_no_body() {
        let (headers, _) = get_ok("/assets/graphiql/init.js").await;
        assert_eq!(headers[header::CACHE_CONTROL], CACHE_REVALIDATE);
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

        let response = send(Method::GET, "/assets/graphiql/init.js", Some(&etag)).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::ETAG], etag.as_str());
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert!(body.is_empty());

        let weak_list = format!("\"other\", W/{etag}");
        let response = send(Method::GET, "/assets/graphiql/init.js", Some(&weak_list)).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let response = send(Method::GET, "/assets/graphiql/init.js", Some("\"other\"")).await;
        assert_eq!(response.status(), StatusCode::OK);

        let response = send(Method::HEAD, "/", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response
            .headers()
            .contains_key(header::CONTENT_SECURITY_POLICY));
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert!(body.is_empty());
    }
}
