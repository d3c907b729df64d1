//! The HTTP long-polling body: several packets joined by `'\x1e'`.
//!
//! Binary packets appear as `b` + base64 segments. engine.io does not escape
//! the separator, so a text packet containing `'\x1e'` cannot travel over
//! polling (Socket.IO's JSON encoding never produces a raw `'\x1e'`).

use super::{EngineError, Packet};

/// The record separator between two packets of one polling body.
pub const SEPARATOR: char = '\x1e';

/// Decodes a polling body into its packets.
///
/// An empty body, or an empty segment (two separators in a row, a leading or
/// trailing separator), is [`EngineError::Empty`], as in engine.io-parser.
pub fn decode(body: &str) -> Result<Vec<Packet>, EngineError> {
    body.split(SEPARATOR).map(Packet::decode_text).collect()
}

/// Encodes packets into one polling body. An empty slice gives `""`, which
/// is not itself a decodable body: send at least one packet (e.g. a noop).
pub fn encode(packets: &[Packet]) -> String {
    let mut out = String::new();
    for (i, p) in packets.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        p.encode_text_into(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn several_packets_with_binary() {
        let packets = vec![
            Packet::Message("hello".into()),
            Packet::Ping(String::new()),
            Packet::Binary(Bytes::from_static(&[1, 2, 3])),
        ];
        let body = encode(&packets);
        assert_eq!(body, "4hello\x1e2\x1ebAQID");
        assert_eq!(decode(&body).unwrap(), packets);
    }

    #[test]
    fn empty_body_and_empty_segments_are_errors() {
        assert_eq!(decode(""), Err(EngineError::Empty));
        assert_eq!(decode("4a\x1e\x1e4b"), Err(EngineError::Empty));
        assert_eq!(decode("4a\x1e"), Err(EngineError::Empty));
    }
}
