//! Snapshot tests (insta): the exact bytes of every packet kind and of the
//! Roomcast JSON bodies. A change to any of these is a wire change and
//! shows up as a snapshot diff to review.

use bytes::Bytes;
use protocol::engineio::{self, handshake::HandshakeError, payload, OpenPacket, WsFrame};
use protocol::roomcast::codes::{self, AuthReason, ErrorCode};
use protocol::roomcast::{Envelope, EventType, Room, Timestamp};
use protocol::socketio::{self, placeholder, Packet, PacketData};
use serde_json::json;

fn open() -> OpenPacket {
    OpenPacket {
        sid: "lv_VI97HAXpY6yYWAAAC".into(),
        upgrades: vec!["websocket".into()],
        ping_interval: OpenPacket::DEFAULT_PING_INTERVAL,
        ping_timeout: OpenPacket::DEFAULT_PING_TIMEOUT,
        max_payload: OpenPacket::DEFAULT_MAX_PAYLOAD,
    }
}

/// One line per packet: its text (polling) form and its WebSocket form.
#[test]
fn engineio_packet_kinds() {
    let packets = [
        engineio::Packet::Open(open()),
        engineio::Packet::Close,
        engineio::Packet::Ping(String::new()),
        engineio::Packet::Ping("probe".into()),
        engineio::Packet::Pong(String::new()),
        engineio::Packet::Pong("probe".into()),
        engineio::Packet::Message(r#"2["hello",1]"#.into()),
        engineio::Packet::Binary(Bytes::from_static(&[0, 1, 2, 3, 255])),
        engineio::Packet::Upgrade,
        engineio::Packet::Noop,
    ];
    let mut out = String::new();
    for p in &packets {
        let ws = match p.encode_ws() {
            WsFrame::Text(t) => format!("ws text   {t}"),
            WsFrame::Binary(b) => format!("ws binary {:?}", b.as_ref()),
        };
        out.push_str(&format!(
            "{:?}\n  polling   {}\n  {ws}\n",
            kind(p),
            p.encode_text()
        ));
        assert_eq!(
            engineio::Packet::decode_text(&p.encode_text()).as_ref(),
            Ok(p)
        );
    }
    insta::assert_snapshot!(out);
}

fn kind(p: &engineio::Packet) -> &'static str {
    match p {
        engineio::Packet::Open(_) => "open",
        engineio::Packet::Close => "close",
        engineio::Packet::Ping(_) => "ping",
        engineio::Packet::Pong(_) => "pong",
        engineio::Packet::Message(_) => "message",
        engineio::Packet::Binary(_) => "binary",
        engineio::Packet::Upgrade => "upgrade",
        engineio::Packet::Noop => "noop",
    }
}

/// A polling body with text, heartbeat and binary packets; the separator
/// is shown as `<RS>`.
#[test]
fn polling_payload() {
    let body = payload::encode(&[
        engineio::Packet::Message(r#"0{"token":"t"}"#.into()),
        engineio::Packet::Message(r#"51-["upload",{"_placeholder":true,"num":0}]"#.into()),
        engineio::Packet::Binary(Bytes::from_static(b"\x01\x02\x03")),
        engineio::Packet::Pong(String::new()),
    ]);
    insta::assert_snapshot!(body.replace(payload::SEPARATOR, "<RS>"));
}

#[test]
fn open_packet_json() {
    let direct_ws = OpenPacket {
        upgrades: vec![],
        ..open()
    };
    insta::assert_json_snapshot!(json!({
        "polling": serde_json::to_value(open()).unwrap(),
        "websocket": serde_json::to_value(direct_ws).unwrap(),
    }));
}

#[test]
fn handshake_error_bodies() {
    let out: Vec<String> = (0..=5)
        .filter_map(HandshakeError::from_code)
        .map(|e| format!("{} {}", e.http_status(), e.json_body()))
        .collect();
    insta::assert_snapshot!(out.join("\n"));
}

/// Every Socket.IO packet kind, on `/` and on a namespace, with and without
/// ack ids, and binary packets with their attachments.
#[test]
fn socketio_packet_kinds() {
    let bin = |n: u8| Bytes::from(vec![n; 3]);
    let packets = [
        Packet::new("/", PacketData::Connect(None)),
        Packet::new("/", PacketData::Connect(Some(json!({"token": "<jwt>"})))),
        Packet::new("/admin", PacketData::Connect(None)),
        Packet::new(
            "/",
            PacketData::Connect(Some(json!({"sid": "oSO0OpakmV4moXIkAAAB"}))),
        ),
        Packet::new("/", PacketData::Disconnect),
        Packet::new("/admin", PacketData::Disconnect),
        Packet::event("/", "subscribe:site", vec![json!("s1")], None),
        Packet::event("/", "subscribe:site", vec![json!("s1")], Some(1)),
        Packet::event("/admin", "system:ping", vec![], Some(12)),
        Packet::new(
            "/",
            PacketData::Ack {
                args: vec![json!({"ok": true, "room": "org:acme:site:s1"})],
                ack: 1,
            },
        ),
        Packet::new(
            "/admin",
            PacketData::Ack {
                args: vec![],
                ack: 12,
            },
        ),
        Packet::new(
            "/",
            PacketData::ConnectError(codes::connect_error_payload(AuthReason::MissingToken)),
        ),
        Packet::new(
            "/x",
            PacketData::ConnectError(json!({"message": "Invalid namespace"})),
        ),
        Packet::new("/", PacketData::ConnectError(json!("plain string"))),
        Packet::new(
            "/",
            PacketData::BinaryEvent {
                args: vec![json!("upload"), placeholder(0)],
                ack: None,
                attachments: vec![bin(1)],
            },
        ),
        Packet::new(
            "/admin",
            PacketData::BinaryEvent {
                args: vec![
                    json!("upload"),
                    json!({"a": placeholder(0), "b": [placeholder(1)]}),
                ],
                ack: Some(7),
                attachments: vec![bin(1), bin(2)],
            },
        ),
        Packet::new(
            "/",
            PacketData::BinaryAck {
                args: vec![placeholder(0)],
                ack: 3,
                attachments: vec![bin(9)],
            },
        ),
        Packet::new(
            "/admin",
            PacketData::BinaryAck {
                args: vec![],
                ack: 4,
                attachments: vec![],
            },
        ),
    ];
    let mut out = String::new();
    for p in &packets {
        let e = p.encode();
        out.push_str(&e.text);
        for a in &e.attachments {
            out.push_str(&format!("\n  + binary {:?}", a.as_ref()));
        }
        out.push('\n');
        // The snapshot shows what the decoder reads back, too.
        let mut d = socketio::Decoder::new();
        let mut back = d.decode_text(&e.text).unwrap();
        for a in &e.attachments {
            back = d.decode_binary(a.clone()).unwrap();
        }
        assert_eq!(back.as_ref(), Some(p));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn connect_error_payloads() {
    let all: serde_json::Map<String, serde_json::Value> = AuthReason::ALL
        .into_iter()
        .map(|r| (r.as_str().to_owned(), codes::connect_error_payload(r)))
        .collect();
    insta::assert_json_snapshot!(all);
}

#[test]
fn ack_and_error_bodies() {
    let room = Room::parse("org:acme:site:s1").unwrap();
    insta::assert_json_snapshot!(json!({
        "ack_ok": codes::ack_ok(&room),
        "ack_err": codes::ack_err(ErrorCode::InvalidId, "Site id must match ^[A-Za-z0-9_-]{1,64}$"),
        "ack_auth_err": codes::ack_auth_err(AuthReason::TokenExpired),
        "refresh_ok": codes::refresh_ok(1_795_322_121),
        "system_error": codes::error_body(ErrorCode::UnknownEvent, "Unknown event: foo:bar"),
        "http_error": codes::http_error_body(ErrorCode::Forbidden, "Token lacks the realtime:publish scope"),
    }));
}

#[test]
fn error_codes() {
    let lines: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| format!("{} {}", c.http_status(), c.as_str()))
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

/// An envelope in its wire order; the EVENT frame a server sends with it
/// (`encode_event_message`, wire order); the same EVENT built generically
/// from `to_json()` (a `serde_json::Map`: alphabetical key order).
#[test]
fn envelope_and_its_event_frame() {
    let env = Envelope {
        event_id: uuid::Uuid::parse_str("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b").unwrap(),
        event_type: EventType::parse("dashboard:summaryUpdated").unwrap(),
        timestamp: Timestamp(1_795_322_121_123),
        payload: json!({"open": 3, "closed": [1, 2]}),
    };
    let text = env.to_json_string();
    let frame = env.encode_event_message("/");
    let generic = Packet::event("/", env.event_type.as_str(), vec![env.to_json()], None)
        .encode_message_text();
    insta::assert_snapshot!(format!("{text}\n{frame}\n{generic}"));
}
