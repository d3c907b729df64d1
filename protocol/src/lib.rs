//! Sans-io codec for Engine.IO v4 / Socket.IO v5 and the Roomcast v1 types.
//!
//! This crate turns bytes into values and values into bytes. It owns no
//! socket, no task, no timer and no clock: whoever drives it (the reference
//! server, the conformance harness, a benchmark) reads the network, feeds the
//! frames in, and passes the current time as a plain number where a check
//! needs one ([`roomcast::claims::check_time`]).
//!
//! # The byte pipe
//!
//! ```text
//!  WebSocket frame            HTTP long-polling body
//!  (text | binary)            "4hello\x1e2\x1ebAQID"
//!        |                              |
//!        |                     engineio::payload::decode
//!        |                     (split on '\x1e', "b" = base64)
//!        v                              v
//!  engineio::Packet::decode_text / decode_ws_binary
//!        |
//!        v
//!  engineio::Packet  -- Open(OpenPacket) | Close | Ping | Pong | Upgrade | Noop
//!        |                                  (heartbeat, upgrade: handled by the driver)
//!        | Message(String) / Binary(Bytes)
//!        v
//!  socketio::Decoder::decode_text / decode_binary
//!        |   (owned state: a BINARY_EVENT waits here for its attachments)
//!        v
//!  socketio::Packet { nsp, data: PacketData }  -- CONNECT, EVENT, ACK, ...
//!        |
//!        v
//!  roomcast types: EventType, Room, Envelope, claims::Identity, codes::ErrorCode
//! ```
//!
//! The way back is symmetric: [`socketio::Packet::encode`] gives one text
//! part plus binary attachments, each wrapped in an [`engineio::Packet`]
//! (`Message` / `Binary`) and written either as WebSocket frames
//! ([`engineio::Packet::encode_ws`]) or as a polling body
//! ([`engineio::payload::encode`]).
//!
//! # Errors
//!
//! Every layer has its own `#[non_exhaustive]` error enum
//! ([`engineio::EngineError`], [`engineio::handshake::HandshakeError`],
//! [`socketio::DecodeError`], and one per Roomcast type). Decoding never
//! panics on any input: malformed input is an `Err`, which the driver turns
//! into closing that one connection.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod engineio;
pub mod roomcast;
pub mod socketio;
