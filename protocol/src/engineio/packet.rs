//! One Engine.IO packet: its text form (WebSocket text frame, one polling
//! segment) and its WebSocket frame form.

use base64::Engine as _;
use bytes::Bytes;

use super::{EngineError, OpenPacket};

/// Base64 as engine.io-parser writes it (standard alphabet, padded), read
/// leniently about padding because clients differ.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// An Engine.IO v4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0{…}`: the handshake, sent by the server.
    Open(OpenPacket),
    /// `1`: close the session.
    Close,
    /// `2` + data: heartbeat from the server, or `2probe` from a client
    /// testing a new WebSocket during an upgrade. `Ping(String::new())` is `2`.
    Ping(String),
    /// `3` + data: the answer to a ping (`3`, `3probe`).
    Pong(String),
    /// `4` + text: a message carrying a Socket.IO text packet.
    Message(String),
    /// A binary message: a WebSocket binary frame, or `b` + base64 on polling.
    Binary(Bytes),
    /// `5`: the client completes an upgrade to WebSocket.
    Upgrade,
    /// `6`: no operation (answers a pending poll during an upgrade).
    Noop,
}

/// A packet in WebSocket form: one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
}

impl Packet {
    /// The type digit of this packet (`'4'` for `Binary`, whose polling form
    /// is nevertheless `b…`).
    pub fn type_char(&self) -> char {
        match self {
            Packet::Open(_) => '0',
            Packet::Close => '1',
            Packet::Ping(_) => '2',
            Packet::Pong(_) => '3',
            Packet::Message(_) | Packet::Binary(_) => '4',
            Packet::Upgrade => '5',
            Packet::Noop => '6',
        }
    }

    /// Decodes a WebSocket text frame or one segment of a polling body.
    ///
    /// A segment starting with `b` is base64 binary data and decodes to
    /// [`Packet::Binary`].
    pub fn decode_text(s: &str) -> Result<Packet, EngineError> {
        let mut chars = s.chars();
        let first = chars.next().ok_or(EngineError::Empty)?;
        let data = chars.as_str();
        match first {
            '0' => OpenPacket::parse(data).map(Packet::Open),
            '1' => bare(data, "close", Packet::Close),
            '2' => Ok(Packet::Ping(data.to_owned())),
            '3' => Ok(Packet::Pong(data.to_owned())),
            '4' => Ok(Packet::Message(data.to_owned())),
            '5' => bare(data, "upgrade", Packet::Upgrade),
            '6' => bare(data, "noop", Packet::Noop),
            'b' => BASE64
                .decode(data)
                .map(|v| Packet::Binary(Bytes::from(v)))
                .map_err(|_| EngineError::InvalidBase64),
            found => Err(EngineError::UnknownType { found }),
        }
    }

    /// Decodes a WebSocket binary frame: always a binary message.
    pub fn decode_ws_binary(b: Bytes) -> Packet {
        Packet::Binary(b)
    }

    /// Encodes for WebSocket: binary data as a binary frame (no copy, the
    /// `Bytes` is shared), everything else as a text frame.
    pub fn encode_ws(&self) -> WsFrame {
        match self {
            Packet::Binary(b) => WsFrame::Binary(b.clone()),
            other => WsFrame::Text(other.encode_text()),
        }
    }

    /// Encodes in text form, as used in a polling body: binary data becomes
    /// `b` + base64.
    pub fn encode_text(&self) -> String {
        let mut out = String::with_capacity(self.encoded_len_hint());
        self.encode_text_into(&mut out);
        out
    }

    /// Appends the text form to `out` (see [`Packet::encode_text`]).
    pub fn encode_text_into(&self, out: &mut String) {
        match self {
            Packet::Binary(b) => {
                out.push('b');
                BASE64.encode_string(b, out);
            }
            other => {
                out.push(other.type_char());
                match other {
                    Packet::Open(open) => open.encode_into(out),
                    Packet::Ping(d) | Packet::Pong(d) | Packet::Message(d) => out.push_str(d),
                    _ => {}
                }
            }
        }
    }

    fn encoded_len_hint(&self) -> usize {
        match self {
            Packet::Open(_) => 128,
            Packet::Ping(d) | Packet::Pong(d) | Packet::Message(d) => 1 + d.len(),
            Packet::Binary(b) => 1 + b.len().div_ceil(3) * 4,
            _ => 1,
        }
    }
}

fn bare(data: &str, name: &'static str, packet: Packet) -> Result<Packet, EngineError> {
    if data.is_empty() {
        Ok(packet)
    } else {
        Err(EngineError::UnexpectedData { packet: name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_with_and_without_probe() {
        assert_eq!(Packet::Ping("probe".into()).encode_text(), "2probe");
        assert_eq!(Packet::Ping(String::new()).encode_text(), "2");
        assert_eq!(
            Packet::decode_text("2").unwrap(),
            Packet::Ping(String::new())
        );
        assert_eq!(
            Packet::decode_text("3probe").unwrap(),
            Packet::Pong("probe".into())
        );
    }

    #[test]
    fn binary_is_base64_on_polling_and_raw_on_websocket() {
        let p = Packet::Binary(Bytes::from_static(&[1, 2, 3, 4]));
        assert_eq!(p.encode_text(), "bAQIDBA==");
        assert_eq!(
            p.encode_ws(),
            WsFrame::Binary(Bytes::from_static(&[1, 2, 3, 4]))
        );
        assert_eq!(Packet::decode_text("bAQIDBA==").unwrap(), p);
        assert_eq!(Packet::decode_text("bAQIDBA").unwrap(), p);
        assert_eq!(Packet::decode_text("b!!"), Err(EngineError::InvalidBase64));
    }

    #[test]
    fn open_packet_keys_in_node_order() {
        let p = Packet::Open(OpenPacket {
            sid: "abc".into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1000000,
        });
        let s = p.encode_text();
        assert_eq!(
            s,
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        assert_eq!(Packet::decode_text(&s).unwrap(), p);
    }

    #[test]
    fn open_packet_with_unknown_or_missing_key_is_rejected() {
        assert!(matches!(
            Packet::decode_text(r#"0{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":1}"#),
            Err(EngineError::InvalidOpen { .. })
        ));
        assert!(matches!(
            Packet::decode_text(
                r#"0{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":1,"x":1}"#
            ),
            Err(EngineError::InvalidOpen { .. })
        ));
    }

    #[test]
    fn bad_first_character_is_an_error() {
        assert_eq!(Packet::decode_text(""), Err(EngineError::Empty));
        assert_eq!(
            Packet::decode_text("7"),
            Err(EngineError::UnknownType { found: '7' })
        );
        assert_eq!(
            Packet::decode_text("é"),
            Err(EngineError::UnknownType { found: 'é' })
        );
        assert_eq!(
            Packet::decode_text("1x"),
            Err(EngineError::UnexpectedData { packet: "close" })
        );
    }

    #[test]
    fn message_keeps_its_text_verbatim() {
        assert_eq!(
            Packet::decode_text("42[\"a\"]").unwrap(),
            Packet::Message("2[\"a\"]".into())
        );
        assert_eq!(
            Packet::decode_text("4").unwrap(),
            Packet::Message(String::new())
        );
        assert_eq!(Packet::decode_text("5").unwrap(), Packet::Upgrade);
        assert_eq!(Packet::decode_text("6").unwrap(), Packet::Noop);
        assert_eq!(Packet::decode_text("1").unwrap(), Packet::Close);
    }
}
