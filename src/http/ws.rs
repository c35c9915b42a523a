//! Subscriptions over WebSocket (`graphql-transport-ws`, and the legacy
//! `subscriptions-transport-ws`). The token travels in the `connection_init` payload as
//! `{"Authorization": "Bearer <jwt>"}`; a bad one closes the socket with 4403.

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response as HttpResponse};
use futures_util::{SinkExt as _, StreamExt as _};
use http::HeaderMap;
use tokio::sync::Mutex;

use super::client;
use super::AppState;
use crate::graphql::context::RequestInfo;
use crate::graphql::loaders::Loaders;

/// The message our `connection_init` refusal carries; it is rewritten to close code 4403.
const FORBIDDEN: &str = "Forbidden";

/// True for a WebSocket upgrade request.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Accepts the upgrade and serves the GraphQL WebSocket protocol on it.
pub async fn upgrade(state: AppState, request: axum::extract::Request) -> HttpResponse {
    let (mut parts, _body) = request.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let request_id = client::request_id(&parts.headers);
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| {
        client::client_ip(
            peer,
            &parts.headers,
            &state.services.settings.limits.trusted_proxies,
        )
    });
    ws.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(state, socket, protocol, request_id, ip))
}

/// Serves one GraphQL WebSocket until the client leaves or the server stops.
async fn serve(
    state: AppState,
    socket: WebSocket,
    protocol: GraphQLProtocol,
    request_id: String,
    ip: IpAddr,
) {
    let (sink, stream) = socket.split();
    let sink = Arc::new(Mutex::new(sink));
    let outgoing = futures_util::sink::unfold(sink.clone(), |sink, message: Message| async move {
        sink.lock().await.send(forbidden_as_4403(message)).await?;
        Ok::<_, axum::Error>(sink)
    });
    // On shutdown the incoming side ends, which ends the protocol loop; then we close.
    let services = state.services.clone();
    let incoming = stream.take_until(async move { services.lifecycle.stopped().await });
    // Keep-alive: a WebSocket ping every `GATEHOUSE_WS_KEEPALIVE_SECS` keeps idle subscriptions open through
    // proxies and load balancers that drop quiet connections (clients answer pings on their
    // own); a failed send means the socket is gone.
    let pinger = {
        let sink = sink.clone();
        let every = state.services.settings.ws_keepalive;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if sink
                    .lock()
                    .await
                    .send(Message::Ping(Default::default()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    let services = state.services.clone();
    GraphQLWebSocket::new_with_pair(outgoing, incoming, state.schemas.full.clone(), protocol)
        .on_connection_init(move |payload| async move {
            let viewer = client::viewer_from_authorization(authorization(&payload), &services.jwt)
                .await
                .map_err(|_| async_graphql::Error::new(FORBIDDEN))?;
            let mut data = Data::default();
            data.insert(RequestInfo {
                viewer,
                request_id,
                budget_key: client::budget_key(viewer.as_ref(), ip),
                budget: Default::default(),
            });
            data.insert(Loaders::new(
                services.db.clone(),
                viewer,
                services.caches.clone(),
                true,
                None,
            ));
            Ok(data)
        })
        .serve()
        .await;
    pinger.abort();
    if state.services.lifecycle.is_draining() {
        let close = Message::Close(Some(CloseFrame {
            code: 1001,
            reason: "server shutting down".into(),
        }));
        let _ = sink.lock().await.send(close).await;
    }
}

/// async-graphql closes a refused `connection_init` with 1002; the protocol (and our
/// contract) says 4403 Forbidden.
fn forbidden_as_4403(message: Message) -> Message {
    match message {
        Message::Close(Some(frame)) if frame.reason.as_str() == FORBIDDEN => {
            Message::Close(Some(CloseFrame {
                code: 4403,
                reason: FORBIDDEN.into(),
            }))
        }
        other => other,
    }
}

/// The `Authorization` value of a `connection_init` payload (any capitalisation, at the
/// top level or under `headers`, as different clients send it).
fn authorization(payload: &serde_json::Value) -> Option<&str> {
    fn find(object: &serde_json::Value) -> Option<&str> {
        object
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
    }
    find(payload).or_else(|| payload.get("headers").and_then(find))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_is_found_in_common_payload_shapes() {
        let a = serde_json::json!({"Authorization": "Bearer x"});
        let b = serde_json::json!({"headers": {"authorization": "Bearer y"}});
        assert_eq!(authorization(&a), Some("Bearer x"));
        assert_eq!(authorization(&b), Some("Bearer y"));
        assert_eq!(authorization(&serde_json::json!({})), None);
    }
}
