//! The benchmark's Socket.IO client, written against the wire through the sans-io
//! `protocol` crate: TCP (optionally from a chosen loopback source address), WebSocket
//! upgrade, Engine.IO open, Socket.IO CONNECT with a JWT, the CONNECT reply and
//! `system:connected` (after which the socket is in its rooms, ROOM-4/ENV-11).
//!
//! On the hot path (one call per delivery) [`bench_event`] reads only what the
//! benchmark needs from a `42[...]` frame — the sequence number and intended send time
//! that the publisher put in the payload — with a borrowed typed serde parse instead of
//! building a `serde_json::Value` tree, so that the generator stays cheaper per delivery
//! than the servers it measures.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use protocol::engineio::Packet as EioPacket;
use protocol::socketio::{Decoder, Packet as SioPacket, PacketData};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A client WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// Why a client could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP connect failed.
    #[error("TCP connect to {addr} failed: {source}")]
    Tcp {
        /// The server address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The WebSocket upgrade or a later read/write failed.
    #[error("WebSocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server sent something the handshake did not expect.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server refused the CONNECT (CONNECT_ERROR).
    #[error("CONNECT refused: {0}")]
    Refused(String),
    /// The server closed the connection during the handshake.
    #[error("the server closed the connection during the handshake")]
    Closed,
    /// The handshake took longer than the limit.
    #[error("the handshake took longer than {0:?}")]
    Timeout(Duration),
}

/// Where and how clients connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The server's socket address.
    pub addr: SocketAddr,
    /// `ws://host:port/socket.io/?EIO=4&transport=websocket`.
    pub ws_url: String,
    /// The profile namespace (`/` by default).
    pub namespace: String,
}

impl Endpoint {
    /// An endpoint for `addr` with the given Socket.IO path and namespace.
    pub fn new(addr: SocketAddr, path: &str, namespace: &str) -> Endpoint {
        Endpoint {
            addr,
            ws_url: format!("ws://{addr}{path}?EIO=4&transport=websocket"),
            namespace: namespace.to_owned(),
        }
    }
}

/// WebSocket buffers sized for many clients in one process: small reads for idle
/// connections, larger for fan-out receivers.
pub fn ws_config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(0)
}

/// Connects one client and completes the Socket.IO CONNECT with `token`; returns the
/// socket once `system:connected` has arrived.
pub async fn connect(
    ep: &Endpoint,
    source: Option<IpAddr>,
    token: &str,
    config: WebSocketConfig,
    limit: Duration,
) -> Result<Ws, ClientError> {
    tokio::time::timeout(limit, connect_inner(ep, source, token, config))
        .await
        .map_err(|_| ClientError::Timeout(limit))?
}

async fn connect_inner(
    ep: &Endpoint,
    source: Option<IpAddr>,
    token: &str,
    config: WebSocketConfig,
) -> Result<Ws, ClientError> {
    let tcp_err = |source| ClientError::Tcp {
        addr: ep.addr,
        source,
    };
    let socket = if ep.addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(tcp_err)?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).map_err(tcp_err)?;
    }
    let stream = socket.connect(ep.addr).await.map_err(tcp_err)?;
    stream.set_nodelay(true).map_err(tcp_err)?;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(ep.ws_url.as_str(), stream, Some(config))
            .await?;

    // Engine.IO open packet.
    match next_engine_packet(&mut ws).await? {
        EioPacket::Open(_) => {}
        other => {
            return Err(ClientError::Protocol(format!(
                "expected the open packet, got {other:?}"
            )))
        }
    }
    // Socket.IO CONNECT with the token in the auth payload (AUTH-1).
    let connect = SioPacket::new(
        &ep.namespace,
        PacketData::Connect(Some(serde_json::json!({ "token": token }))),
    );
    ws.send(Message::text(connect.encode_message_text()))
        .await?;

    let mut decoder = Decoder::new();
    let mut connected = false;
    loop {
        let packet = match next_engine_packet(&mut ws).await? {
            EioPacket::Ping(data) => {
                ws.send(Message::text(EioPacket::Pong(data).encode_text()))
                    .await?;
                continue;
            }
            EioPacket::Message(text) => decoder.decode_text(&text).map_err(|e| {
                ClientError::Protocol(format!("bad Socket.IO packet {text:?}: {e}"))
            })?,
            EioPacket::Close => return Err(ClientError::Closed),
            _ => continue,
        };
        let Some(packet) = packet else { continue };
        match packet.data {
            PacketData::Connect(_) => connected = true,
            PacketData::ConnectError(v) => return Err(ClientError::Refused(v.to_string())),
            PacketData::Event { .. }
                if connected && packet.event_name() == Some("system:connected") =>
            {
                return Ok(ws)
            }
            _ => {}
        }
    }
}

/// The next Engine.IO packet of a WebSocket in the handshake.
async fn next_engine_packet(ws: &mut Ws) -> Result<EioPacket, ClientError> {
    loop {
        match ws.next().await {
            None => return Err(ClientError::Closed),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(t))) => {
                return EioPacket::decode_text(t.as_str())
                    .map_err(|e| ClientError::Protocol(format!("bad Engine.IO packet {t:?}: {e}")))
            }
            Some(Ok(Message::Binary(b))) => return Ok(EioPacket::decode_ws_binary(b)),
            Some(Ok(Message::Close(_))) => return Err(ClientError::Closed),
            Some(Ok(_)) => continue,
        }
    }
}

/// What the publisher puts in each benchmark event's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct BenchPayload {
    /// The room's sequence number, dense from 0.
    pub seq: u64,
    /// Intended send time, nanoseconds since the run's epoch (coordinated-omission
    /// correction: latency is measured from here, not from the actual send).
    pub t: u64,
}

#[derive(Deserialize)]
struct EventFrame<'a>(#[allow(dead_code)] &'a str, EnvelopeView);

#[derive(Deserialize)]
struct EnvelopeView {
    payload: Option<BenchPayload>,
}

/// The benchmark payload of an Engine.IO text frame `42["type",{envelope}]` (default
/// namespace), or `None` for anything else (pings, `system:*` events, other payloads).
pub fn bench_event(frame: &str) -> Option<BenchPayload> {
    let json = frame.strip_prefix("42")?;
    serde_json::from_str::<EventFrame<'_>>(json).ok()?.1.payload
}

/// Whether a text frame is an Engine.IO ping (`2`), which must be answered with `3`.
pub fn is_ping(frame: &str) -> bool {
    frame == "2"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_events_are_read_from_the_envelope_payload() {
        let f = r#"42["bench:tick",{"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"bench:tick","timestamp":"2026-11-22T04:35:21.123Z","payload":{"seq":7,"t":123456}}]"#;
        assert_eq!(bench_event(f), Some(BenchPayload { seq: 7, t: 123_456 }));
    }

    #[test]
    fn other_frames_are_not_bench_events() {
        for f in [
            "2",
            "40{\"sid\":\"x\"}",
            r#"42["system:connected",{"eventId":"e","type":"system:connected","timestamp":"t","payload":{"sid":"x","rooms":[]}}]"#,
            r#"42["x:y",{"payload":null}]"#,
            "42[",
            "",
        ] {
            assert_eq!(bench_event(f), None, "{f}");
        }
        assert!(is_ping("2") && !is_ping("2probe") && !is_ping("3"));
    }

    #[test]
    fn endpoints_name_the_websocket_transport() {
        let ep = Endpoint::new("127.0.0.1:3000".parse().unwrap(), "/socket.io/", "/");
        assert_eq!(
            ep.ws_url,
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
        );
    }
}
