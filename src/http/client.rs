//! Who is calling: the viewer from `Authorization: Bearer`, the client address (through
//! trusted proxies only), and the request id.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use super::REQUEST_ID;
use crate::auth::jwt::JwtKeys;
use crate::auth::Viewer;

/// A presented token that is not valid (the request is refused with 401).
#[derive(Debug)]
pub struct InvalidToken;

/// The viewer from an `Authorization` header value; `Ok(None)` when there is none.
pub async fn viewer_from_authorization(
    value: Option<&str>,
    jwt: &JwtKeys,
) -> Result<Option<Viewer>, InvalidToken> {
    let Some(value) = value else {
        return Ok(None);
    };
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(InvalidToken)?;
    match jwt.verify(token).await {
        Ok(viewer) => Ok(Some(viewer)),
        Err(err) => {
            tracing::debug!(error = %err, "refused a token");
            Err(InvalidToken)
        }
    }
}

/// The viewer of an HTTP request.
pub async fn viewer(headers: &HeaderMap, jwt: &JwtKeys) -> Result<Option<Viewer>, InvalidToken> {
    let value = match headers.get(http::header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| InvalidToken)?),
    };
    viewer_from_authorization(value, jwt).await
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer_ip = peer.ip();
    if !trusted.contains(&peer_ip) {
        return peer_ip;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer_ip)
}

/// The budget key: per user when authenticated, per client address otherwise.
pub fn budget_key(viewer: Option<&Viewer>, ip: IpAddr) -> String {
    match viewer {
        Some(v) => format!("user:{}", v.id),
        None => format!("ip:{ip}"),
    }
}

/// The request id set by the request-id layer.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 10.0.0.9".parse().unwrap());
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let peer = SocketAddr::new(proxy, 4000);
        assert_eq!(client_ip(peer, &headers, &[]), proxy);
        assert_eq!(
            client_ip(peer, &headers, &[proxy]),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
    }
}
