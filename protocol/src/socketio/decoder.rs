//! The Socket.IO decoder: text parts and binary attachments in, whole
//! packets out. Its only state is the binary packet waiting for attachments.

use bytes::Bytes;

use super::packet::{self, Packet, PacketData};

/// Why a Socket.IO packet was rejected. Any of these closes the connection
/// in the Node server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text part is empty.
    #[error("empty Socket.IO packet: expected a type digit 0-6")]
    Empty,
    /// The first character is not a packet type digit `0`..`6`.
    #[error("unknown Socket.IO packet type: expected a digit 0-6")]
    UnknownType,
    /// The namespace cannot be represented on the wire (it must start with
    /// `/` and hold no `,`). The decoder itself accepts every namespace it
    /// can read; this is for callers that check a namespace they build.
    #[error("invalid namespace: it must start with '/' and contain no ','")]
    InvalidNamespace,
    /// The ack id does not fit in a u64, is missing on an ACK, or appears on
    /// a packet that cannot carry one (CONNECT, DISCONNECT, CONNECT_ERROR).
    #[error("invalid ack id: expected digits fitting in 64 bits, on an EVENT or ACK only")]
    InvalidAckId,
    /// A binary packet whose attachment count is not `<digits>-`, or whose
    /// placeholders refer to attachments that do not exist.
    #[error("invalid attachments: expected '<count>-' and placeholders numbered below the count")]
    InvalidAttachments,
    /// More than [`super::MAX_ATTACHMENTS`] attachments announced.
    #[error("too many attachments: at most 10 per packet")]
    TooManyAttachments,
    /// The payload is not valid JSON, or has something after the JSON.
    #[error("invalid JSON payload")]
    InvalidJson,
    /// Valid JSON of the wrong shape for the packet type (CONNECT: object or
    /// none; DISCONNECT: none; CONNECT_ERROR: string or object; EVENT:
    /// non-empty array starting with a string or number; ACK: array).
    #[error("invalid payload for this packet type")]
    InvalidPayload,
    /// An EVENT named after a reserved event (`connect`, `disconnect`, …).
    #[error("reserved event name: connect, connect_error, disconnect, disconnecting, newListener and removeListener cannot be emitted")]
    ReservedEventName,
    /// A binary message arrived while no binary packet waits for one.
    #[error("unexpected binary message: no binary packet is waiting for attachments")]
    UnexpectedBinary,
    /// A text packet arrived while a binary packet still waits for its
    /// attachments.
    #[error("unexpected text packet: a binary packet is still waiting for attachments")]
    UnexpectedText,
}

/// Reassembles Socket.IO packets from Engine.IO messages, one decoder per
/// connection. After an error the pending packet (if any) is dropped; the
/// connection is expected to close.
#[derive(Debug, Default)]
pub struct Decoder {
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    packet: Packet,
    expected: usize,
}

impl Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Whether a binary packet is waiting for attachments.
    pub fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Feeds one text message. `Ok(None)` means a binary packet now waits
    /// for its attachments ([`Decoder::decode_binary`]).
    pub fn decode_text(&mut self, s: &str) -> Result<Option<Packet>, DecodeError> {
        if self.pending.take().is_some() {
            return Err(DecodeError::UnexpectedText);
        }
        let parsed = packet::parse(s)?;
        if parsed.attachments == 0 {
            return Ok(Some(parsed.packet));
        }
        self.pending = Some(Pending {
            packet: parsed.packet,
            expected: parsed.attachments,
        });
        Ok(None)
    }

    /// Feeds one binary message: the next attachment of the waiting packet.
    /// Returns the packet once its last attachment arrived.
    pub fn decode_binary(&mut self, b: Bytes) -> Result<Option<Packet>, DecodeError> {
        let mut pending = self.pending.take().ok_or(DecodeError::UnexpectedBinary)?;
        let (args, attachments) = match &mut pending.packet.data {
            PacketData::BinaryEvent {
                args, attachments, ..
            }
            | PacketData::BinaryAck {
                args, attachments, ..
            } => (args, attachments),
            // Only binary packets are ever pending.
            _ => return Err(DecodeError::UnexpectedBinary),
        };
        attachments.push(b);
        if attachments.len() < pending.expected {
            self.pending = Some(pending);
            return Ok(None);
        }
        if !packet::placeholders_valid(args, attachments.len()) {
            return Err(DecodeError::InvalidAttachments);
        }
        Ok(Some(pending.packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(s: &str) -> Result<Option<Packet>, DecodeError> {
        Decoder::new().decode_text(s)
    }

    #[test]
    fn examples_that_must_close() {
        // WIRE-NOTES' `4abc`, `42{}`, `42abc[...]` are Engine.IO messages
        // (`4` prefix) holding these Socket.IO packets:
        assert_eq!(decode("abc"), Err(DecodeError::UnknownType));
        assert_eq!(decode("2{}"), Err(DecodeError::InvalidPayload));
        assert_eq!(decode(r#"2abc["a"]"#), Err(DecodeError::InvalidJson));
        assert_eq!(decode("4abc"), Err(DecodeError::InvalidJson));
        assert_eq!(decode("42{}"), Err(DecodeError::InvalidAckId));
        assert_eq!(decode(r#"2["a"]x"#), Err(DecodeError::InvalidJson));
        assert_eq!(decode(""), Err(DecodeError::Empty));
        assert_eq!(decode("7"), Err(DecodeError::UnknownType));
        assert_eq!(decode("2[]"), Err(DecodeError::InvalidPayload));
        assert_eq!(decode("2"), Err(DecodeError::InvalidPayload));
        assert_eq!(decode("2[null]"), Err(DecodeError::InvalidPayload));
        assert_eq!(
            decode(r#"2["connect"]"#),
            Err(DecodeError::ReservedEventName)
        );
        assert_eq!(
            decode(r#"2["removeListener"]"#),
            Err(DecodeError::ReservedEventName)
        );
        assert_eq!(decode("1{}"), Err(DecodeError::InvalidPayload));
        assert_eq!(decode("0[]"), Err(DecodeError::InvalidPayload));
        assert_eq!(decode("4"), Err(DecodeError::InvalidPayload));
        assert_eq!(decode("4[]"), Err(DecodeError::InvalidPayload));
        assert_eq!(decode("3[]"), Err(DecodeError::InvalidAckId));
        assert_eq!(decode("31{}"), Err(DecodeError::InvalidPayload));
        assert_eq!(
            decode("299999999999999999999[\"a\"]"),
            Err(DecodeError::InvalidAckId)
        );
        assert_eq!(decode("01{}"), Err(DecodeError::InvalidAckId));
        assert_eq!(decode("511-[\"a\"]"), Err(DecodeError::TooManyAttachments));
        assert_eq!(decode("5-[\"a\"]"), Err(DecodeError::InvalidAttachments));
        assert_eq!(decode("51[\"a\"]"), Err(DecodeError::InvalidAttachments));
    }

    #[test]
    fn valid_text_packets() {
        assert_eq!(
            decode(r#"2["a",{"b":1}]"#).unwrap(),
            Some(Packet::event("/", "a", vec![json!({"b": 1})], None))
        );
        assert_eq!(
            decode(r#"2/admin,42[7]"#).unwrap(),
            Some(Packet::new(
                "/admin",
                PacketData::Event {
                    args: vec![json!(7)],
                    ack: Some(42)
                }
            ))
        );
        assert_eq!(
            decode(r#"0{"token":"t"}"#).unwrap(),
            Some(Packet::new(
                "/",
                PacketData::Connect(Some(json!({"token": "t"})))
            ))
        );
        assert_eq!(
            decode(r#"4"nope""#).unwrap(),
            Some(Packet::new("/", PacketData::ConnectError(json!("nope"))))
        );
        assert_eq!(
            decode("35[]").unwrap(),
            Some(Packet::new(
                "/",
                PacketData::Ack {
                    args: vec![],
                    ack: 5
                }
            ))
        );
        assert_eq!(
            decode("38446744073709551615[]").unwrap(),
            Some(Packet::new(
                "/",
                PacketData::Ack {
                    args: vec![],
                    ack: 8446744073709551615
                }
            ))
        );
        assert_eq!(
            decode("218446744073709551615[\"a\"]")
                .unwrap()
                .and_then(|p| p.ack_id()),
            Some(u64::MAX)
        );
    }

    #[test]
    fn binary_event_waits_for_its_attachments() {
        let mut d = Decoder::new();
        let text = r#"52-/x,9["up",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#;
        assert_eq!(d.decode_text(text), Ok(None));
        assert!(d.is_waiting());
        assert_eq!(d.decode_binary(Bytes::from_static(b"a")), Ok(None));
        let p = d.decode_binary(Bytes::from_static(b"b")).unwrap().unwrap();
        assert!(!d.is_waiting());
        assert_eq!(p.nsp, "/x");
        assert_eq!(p.event_name(), Some("up"));
        match p.data {
            PacketData::BinaryEvent {
                attachments, ack, ..
            } => {
                assert_eq!(ack, Some(9));
                assert_eq!(
                    attachments,
                    vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
                );
            }
            other => panic!("expected a binary event, got {other:?}"),
        }
    }

    #[test]
    fn zero_attachments_complete_at_once() {
        let p = decode(r#"50-["a"]"#).unwrap().unwrap();
        assert!(
            matches!(p.data, PacketData::BinaryEvent { ref attachments, .. } if attachments.is_empty())
        );
    }

    #[test]
    fn out_of_order_frames_are_errors() {
        let mut d = Decoder::new();
        assert_eq!(
            d.decode_binary(Bytes::new()),
            Err(DecodeError::UnexpectedBinary)
        );
        assert_eq!(
            d.decode_text(r#"51-["a",{"_placeholder":true,"num":0}]"#),
            Ok(None)
        );
        assert_eq!(d.decode_text(r#"2["a"]"#), Err(DecodeError::UnexpectedText));
        // The pending packet was dropped with the error.
        assert_eq!(
            d.decode_binary(Bytes::new()),
            Err(DecodeError::UnexpectedBinary)
        );
    }

    #[test]
    fn dangling_placeholder_is_rejected() {
        let mut d = Decoder::new();
        assert_eq!(
            d.decode_text(r#"61-3[{"_placeholder":true,"num":1}]"#),
            Ok(None)
        );
        assert_eq!(
            d.decode_binary(Bytes::new()),
            Err(DecodeError::InvalidAttachments)
        );
    }
}
