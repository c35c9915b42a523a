//! Production hardening of the HTTP surface: security headers, CORS allow-list, CSRF
//! prevention for `GET /graphql`, and a last-resort panic handler.

use std::any::Any;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use tower::util::MapResponseLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Settings;
use crate::error::{coded_error, Code};

/// Headers every response carries (set only where a handler did not set its own, so the
/// playground keeps its stricter Content-Security-Policy).
pub fn security_headers(settings: &Settings) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ),
    ];
    if settings.is_production() {
        // Meaningful only over TLS, which production terminates in front of us.
        headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    headers
}

/// The [`security_headers`] as one layer.
pub fn security_headers_layer(
    settings: &Settings,
) -> MapResponseLayer<impl Fn(Response) -> Response + Clone> {
    let headers: Arc<[(HeaderName, HeaderValue)]> = security_headers(settings).into();
    MapResponseLayer::new(move |mut response: Response| {
        let target = response.headers_mut();
        for (name, value) in headers.iter() {
            if !target.contains_key(name) {
                target.insert(name.clone(), value.clone());
            }
        }
        response
    })
}

/// CORS for the configured origins (`GATEHOUSE_CORS_ORIGINS`); `None` keeps the API
/// same-origin.
pub fn cors(settings: &Settings) -> Option<CorsLayer> {
    if settings.cors_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = settings
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                HeaderName::from_static("apollo-require-preflight"),
                HeaderName::from_static("x-apollo-operation-name"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("ratelimit-limit"),
                HeaderName::from_static("ratelimit-remaining"),
                HeaderName::from_static("ratelimit-reset"),
                header::RETRY_AFTER,
                HeaderName::from_static("x-request-id"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Apollo's CSRF rule: a request a browser could send cross-site without a preflight (a GET
/// or a "simple" content type) must carry a header that forces one. JSON POSTs always
/// force a preflight, so only GETs (and simple POSTs, which we refuse anyway) are checked.
pub fn forces_preflight(headers: &HeaderMap) -> bool {
    let named = ["apollo-require-preflight", "x-apollo-operation-name"]
        .iter()
        .any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()));
    let non_simple_type = super::content_type(headers).is_some_and(|v| {
        !matches!(
            v.as_str(),
            "text/plain" | "multipart/form-data" | "application/x-www-form-urlencoded"
        )
    });
    named || non_simple_type
}

/// The response for a panic that escaped everything else (the GraphQL handler catches its
/// own, with the request id); the panic itself is logged, never sent.
pub fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let detail = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic");
    tracing::error!(panic = detail, "a request panicked");
    let body = serde_json::json!({ "errors": [coded_error(Code::Internal, "internal error")] });
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_is_forced_by_apollo_headers_or_a_non_simple_type() {
        let mut h = HeaderMap::new();
        assert!(!forces_preflight(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!forces_preflight(&h));
        h.insert("apollo-require-preflight", "true".parse().unwrap());
        assert!(forces_preflight(&h));
        let mut j = HeaderMap::new();
        j.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(forces_preflight(&j));
    }
}
