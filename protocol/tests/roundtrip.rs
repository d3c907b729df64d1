//! Encode-then-decode is the identity, for every Engine.IO packet kind (text
//! form, WebSocket form, polling payloads) and every Socket.IO packet kind
//! (namespaces, ack ids, binary attachments), and for the whole pipe.

mod common;

use common::*;
use proptest::prelude::*;
use protocol::engineio::{self, payload, WsFrame};
use protocol::socketio::{self, Decoder};

/// Feeds the parts of an encoded Socket.IO packet to a fresh decoder; the
/// packet must come out with the last part, not before.
fn decode_parts(
    text: &str,
    attachments: &[bytes::Bytes],
) -> Result<socketio::Packet, TestCaseError> {
    let mut d = Decoder::new();
    let mut out = d
        .decode_text(text)
        .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
    for (i, a) in attachments.iter().enumerate() {
        prop_assert!(out.is_none(), "packet complete before attachment {i}");
        out = d
            .decode_binary(a.clone())
            .map_err(|e| TestCaseError::fail(format!("attachment {i}: {e}")))?;
    }
    prop_assert!(!d.is_waiting());
    out.ok_or_else(|| TestCaseError::fail("packet incomplete after all attachments"))
}

proptest! {
    #[test]
    fn engineio_text_form_round_trips(p in engineio_packet()) {
        let text = p.encode_text();
        prop_assert_eq!(engineio::Packet::decode_text(&text), Ok(p));
    }

    #[test]
    fn engineio_websocket_form_round_trips(p in engineio_packet()) {
        let decoded = match p.encode_ws() {
            WsFrame::Text(t) => {
                prop_assert!(!matches!(p, engineio::Packet::Binary(_)));
                engineio::Packet::decode_text(&t)
            }
            WsFrame::Binary(b) => Ok(engineio::Packet::decode_ws_binary(b)),
        };
        prop_assert_eq!(decoded, Ok(p));
    }

    #[test]
    fn polling_payload_round_trips(
        packets in prop::collection::vec(engineio_packet_with(text_without_separator()), 1..8)
    ) {
        let body = payload::encode(&packets);
        prop_assert_eq!(payload::decode(&body), Ok(packets));
    }

    #[test]
    fn socketio_packet_round_trips(p in socketio_packet()) {
        let encoded = p.encode();
        let n = match &p.data {
            socketio::PacketData::BinaryEvent { attachments, .. }
            | socketio::PacketData::BinaryAck { attachments, .. } => attachments.len(),
            _ => 0,
        };
        prop_assert_eq!(encoded.attachments.len(), n);
        prop_assert_eq!(decode_parts(&encoded.text, &encoded.attachments)?, p);
    }

    #[test]
    fn message_text_is_engineio_prefix_plus_packet_text(p in socketio_packet()) {
        let frame = p.encode_message_text();
        prop_assert_eq!(
            engineio::Packet::decode_text(&frame),
            Ok(engineio::Packet::Message(p.encode().text))
        );
    }

    /// Socket.IO packet → Engine.IO messages → polling body → back.
    #[test]
    fn whole_pipe_over_polling_round_trips(p in socketio_packet()) {
        let body = payload::encode(&p.encode().into_engineio());
        let packets = payload::decode(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut d = Decoder::new();
        let mut out = None;
        for (i, ep) in packets.into_iter().enumerate() {
            prop_assert!(out.is_none(), "packet complete before message {i}");
            out = match ep {
                engineio::Packet::Message(t) => d.decode_text(&t),
                engineio::Packet::Binary(b) => d.decode_binary(b),
                other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
            }
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        prop_assert_eq!(out, Some(p));
    }
}
