//! Criterion bench of the `protocol` codec on the fan-out hot path.
//!
//! - `envelope_event/encode`: envelope → JSON value → Socket.IO EVENT → Engine.IO
//!   WebSocket text frame, through the generic packet API.
//! - `envelope_event/encode_direct`: the same frame written in one buffer by
//!   `Envelope::encode_event_message`, Engine.IO prefix included (what the
//!   reference server does once per published event).
//! - `envelope_event/decode`: that frame → Engine.IO packet → Socket.IO packet →
//!   strict envelope (what a client or the harness does per received event).
//! - `polling_payload/decode`: a long-polling body of 16 such events plus a ping.
//! - `packet_kind/{encode,decode}/<kind>`: one Engine.IO + Socket.IO text frame per
//!   packet kind the profile uses (CONNECT with a token, CONNECT reply, CONNECT_ERROR,
//!   EVENT with an ack id, ACK, DISCONNECT, ping).
//! - `envelope/to_json_string`: the envelope alone as JSON (the 202 body and Redis
//!   messages carry the same fields).
//!
//! The input is built once, outside the timed loop; the numbers are what they
//! are, nothing is asserted about speed.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use protocol::engineio::{self, WsFrame};
use protocol::roomcast::envelope::Envelope;
use protocol::roomcast::event_type::EventType;
use protocol::roomcast::timestamp::Timestamp;
use protocol::socketio::{self, Decoder, PacketData};
use serde_json::json;

/// A realistic envelope: a dashboard update with a small nested payload.
fn sample_envelope() -> Envelope {
    Envelope {
        event_id: uuid::Uuid::parse_str("9b2f8c1e-4d5a-4c3b-9e7f-1a2b3c4d5e6f")
            .expect("valid uuid"),
        event_type: EventType::parse("dashboard:summaryUpdated").expect("valid event type"),
        timestamp: Timestamp(1_795_321_521_123),
        payload: json!({
            "siteId": "s1",
            "open": 12,
            "closed": 340,
            "alerts": [{"id": "a-1", "level": "warn", "text": "Door 3 open"}],
        }),
    }
}

/// The Engine.IO text form of one envelope EVENT on the default namespace.
fn encode_event(env: &Envelope) -> String {
    let packet = socketio::Packet::event("/", env.event_type.as_str(), vec![env.to_json()], None);
    let encoded = packet.encode();
    match engineio::Packet::Message(encoded.text).encode_ws() {
        WsFrame::Text(text) => text,
        WsFrame::Binary(_) => unreachable!("an EVENT without attachments is a text frame"),
    }
}

/// Decodes one WebSocket text frame back into the envelope it carries.
fn decode_event(frame: &str) -> Option<Envelope> {
    let engineio::Packet::Message(msg) = engineio::Packet::decode_text(frame).ok()? else {
        return None;
    };
    let packet = Decoder::new().decode_text(&msg).ok()??;
    let PacketData::Event { args, .. } = packet.data else {
        return None;
    };
    Envelope::from_json_strict(args.get(1)?).ok()
}

fn envelope_event(c: &mut Criterion) {
    let env = sample_envelope();
    let frame = encode_event(&env);
    assert!(
        decode_event(&frame).is_some(),
        "the bench input must round-trip: {frame}"
    );

    assert_eq!(
        decode_event(&env.encode_event_message("/")),
        decode_event(&frame),
        "both encoders must carry the same envelope"
    );

    let mut group = c.benchmark_group("envelope_event");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("encode", |b| b.iter(|| encode_event(black_box(&env))));
    group.bench_function("encode_direct", |b| {
        b.iter(|| black_box(&env).encode_event_message("/"))
    });
    group.bench_function("decode", |b| b.iter(|| decode_event(black_box(&frame))));
    group.finish();
}

fn polling_payload(c: &mut Criterion) {
    let env = sample_envelope();
    let packet = socketio::Packet::event("/", env.event_type.as_str(), vec![env.to_json()], None);
    let mut packets: Vec<engineio::Packet> = (0..16)
        .map(|_| engineio::Packet::Message(packet.encode().text))
        .collect();
    packets.push(engineio::Packet::Ping(String::new()));
    let body = engineio::payload::encode(&packets);
    assert_eq!(
        engineio::payload::decode(&body).map(|p| p.len()).ok(),
        Some(17),
        "the bench input must decode"
    );

    let mut group = c.benchmark_group("polling_payload");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| engineio::payload::decode(black_box(&body)))
    });
    group.finish();
}

/// One text frame per packet kind, as the server or a client writes it.
fn packet_samples() -> Vec<(&'static str, socketio::Packet)> {
    use socketio::Packet;
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSIsIm9yZ2FuaXphdGlvbklkIjoiYWNtZSIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJlLWJ5dGVzLWdvLWhlcmUtYWJjZGVmZ2hpams";
    vec![
        (
            "connect",
            Packet::new("/", PacketData::Connect(Some(json!({"token": token})))),
        ),
        (
            "connect_reply",
            Packet::new(
                "/",
                PacketData::Connect(Some(json!({"sid": "Xh3kQ9v2Lm8pR4tYAAAB"}))),
            ),
        ),
        (
            "connect_error",
            Packet::new(
                "/",
                PacketData::ConnectError(
                    json!({"message": "Invalid or expired token", "data": {"code": "AUTH_FAILED", "reason": "token_expired"}}),
                ),
            ),
        ),
        (
            "event_ack",
            Packet::event("/", "subscribe:site", vec![json!("s1")], Some(1)),
        ),
        (
            "ack",
            Packet::new(
                "/",
                PacketData::Ack {
                    args: vec![json!({"ok": true, "room": "org:acme:site:s1"})],
                    ack: 1,
                },
            ),
        ),
        ("disconnect", Packet::new("/", PacketData::Disconnect)),
    ]
}

fn packet_kind(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet_kind");
    for (name, packet) in packet_samples() {
        let frame = packet.encode_message_text();
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| black_box(&packet).encode_message_text())
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                let engineio::Packet::Message(text) =
                    engineio::Packet::decode_text(black_box(&frame)).ok()?
                else {
                    return None;
                };
                Decoder::new().decode_text(&text).ok()?
            })
        });
    }
    group.bench_function("decode/ping", |b| {
        b.iter(|| engineio::Packet::decode_text(black_box("2")))
    });
    group.finish();
}

fn envelope(c: &mut Criterion) {
    let env = sample_envelope();
    let mut group = c.benchmark_group("envelope");
    group.bench_function("to_json_string", |b| {
        b.iter(|| black_box(&env).to_json_string())
    });
    group.finish();
}

criterion_group!(
    benches,
    envelope_event,
    polling_payload,
    packet_kind,
    envelope
);
criterion_main!(benches);
