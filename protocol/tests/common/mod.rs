//! Proptest strategies shared by the integration tests: packets of every
//! kind, JSON values, and wire-flavoured random text.
#![allow(dead_code)]

use bytes::Bytes;
use proptest::prelude::*;
use protocol::engineio::{self, OpenPacket};
use protocol::socketio::{self, PacketData, RESERVED_EVENTS};
use serde_json::{Map, Value};

/// JSON values without floats (serde_json's float parsing is not
/// guaranteed to round-trip every bit; the codec adds nothing there).
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z0-9_ ]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Any JSON value, floats included, for the never-panics tests.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z:_0-9-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("eventId".to_owned()),
                    Just("type".to_owned()),
                    Just("timestamp".to_owned()),
                    Just("payload".to_owned()),
                    Just("userId".to_owned()),
                    Just("sub".to_owned()),
                    Just("organizationId".to_owned()),
                    Just("exp".to_owned()),
                    Just("nbf".to_owned()),
                    Just("scope".to_owned()),
                    Just("role".to_owned()),
                    "[a-z]{0,4}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

pub fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-zA-Z0-9_]{0,6}", json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

fn bytes() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..32).prop_map(Bytes::from)
}

/// Text that can travel in a polling body (no record separator).
pub fn text_without_separator() -> impl Strategy<Value = String> + Clone {
    any::<String>().prop_map(|s| s.replace(engineio::payload::SEPARATOR, ""))
}

fn open_packet() -> impl Strategy<Value = OpenPacket> {
    (
        any::<String>(),
        prop::collection::vec("[a-z]{0,10}", 0..3),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(sid, upgrades, ping_interval, ping_timeout, max_payload)| OpenPacket {
                sid,
                upgrades,
                ping_interval,
                ping_timeout,
                max_payload,
            },
        )
}

/// Every Engine.IO packet kind; `text` generates the data of ping, pong and
/// message packets.
pub fn engineio_packet_with(
    text: impl Strategy<Value = String> + Clone + 'static,
) -> impl Strategy<Value = engineio::Packet> {
    prop_oneof![
        open_packet().prop_map(engineio::Packet::Open),
        Just(engineio::Packet::Close),
        text.clone().prop_map(engineio::Packet::Ping),
        text.clone().prop_map(engineio::Packet::Pong),
        text.prop_map(engineio::Packet::Message),
        bytes().prop_map(engineio::Packet::Binary),
        Just(engineio::Packet::Upgrade),
        Just(engineio::Packet::Noop),
    ]
}

pub fn engineio_packet() -> impl Strategy<Value = engineio::Packet> {
    engineio_packet_with(any::<String>())
}

/// Namespaces that survive the wire: `/` or `/` + text without `,`.
pub fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-zA-Z0-9_/é.-]{1,12}"]
}

fn event_head() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>()
            .prop_filter("reserved event name", |s| !RESERVED_EVENTS
                .contains(&s.as_str()))
            .prop_map(Value::String),
        "[a-z]{1,8}:[a-zA-Z]{1,10}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
    ]
}

fn event_args() -> impl Strategy<Value = Vec<Value>> {
    (event_head(), prop::collection::vec(json_value(), 0..4)).prop_map(|(head, rest)| {
        let mut args = vec![head];
        args.extend(rest);
        args
    })
}

/// Args with a placeholder for each of `n` attachments appended.
fn with_placeholders(mut args: Vec<Value>, n: usize) -> Vec<Value> {
    args.extend((0..n).map(socketio::placeholder));
    args
}

fn attachments() -> impl Strategy<Value = Vec<Bytes>> {
    prop::collection::vec(bytes(), 0..=socketio::MAX_ATTACHMENTS)
}

/// Every Socket.IO packet kind, with namespaces, ack ids and attachments.
pub fn socketio_packet() -> impl Strategy<Value = socketio::Packet> {
    let data = prop_oneof![
        prop::option::of(json_object()).prop_map(PacketData::Connect),
        Just(PacketData::Disconnect),
        (event_args(), prop::option::of(any::<u64>()))
            .prop_map(|(args, ack)| PacketData::Event { args, ack }),
        (prop::collection::vec(json_value(), 0..4), any::<u64>())
            .prop_map(|(args, ack)| PacketData::Ack { args, ack }),
        prop_oneof![any::<String>().prop_map(Value::String), json_object()]
            .prop_map(PacketData::ConnectError),
        (event_args(), prop::option::of(any::<u64>()), attachments()).prop_map(
            |(args, ack, attachments)| PacketData::BinaryEvent {
                args: with_placeholders(args, attachments.len()),
                ack,
                attachments,
            }
        ),
        (
            prop::collection::vec(json_value(), 0..3),
            any::<u64>(),
            attachments()
        )
            .prop_map(|(args, ack, attachments)| PacketData::BinaryAck {
                args: with_placeholders(args, attachments.len()),
                ack,
                attachments,
            }),
    ];
    (namespace(), data).prop_map(|(nsp, data)| socketio::Packet { nsp, data })
}

/// Strings that look like wire packets often enough to reach deep into
/// the parsers: a type character, then characters the grammar cares about.
pub fn wire_like_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(vec![
            "0", "1", "2", "3", "4", "5", "6", "7", "b", "-", "/", ",", "[", "]", "{", "}",
            "\"", ":", "_placeholder", "true", "num", "null", "1-", "10-", "11-", "/admin,",
            "\u{1e}", "connect", "\"a\"", "AQID", "==", " ", "é", "\\", "99999999999999999999",
        ])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

/// One frame fed to a Socket.IO decoder.
#[derive(Debug, Clone)]
pub enum Frame {
    Text(String),
    Binary(Bytes),
}

pub fn frames() -> impl Strategy<Value = Vec<Frame>> {
    prop::collection::vec(
        prop_oneof![
            3 => wire_like_text().prop_map(Frame::Text),
            1 => any::<String>().prop_map(Frame::Text),
            2 => bytes().prop_map(Frame::Binary),
        ],
        0..8,
    )
}
