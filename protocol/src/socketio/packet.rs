//! One Socket.IO packet: its text encoding and the parse of one text part
//! (the attachments are joined by [`super::Decoder`]).

use std::io::Write as _;

use bytes::Bytes;
use serde_json::Value;

use super::{DecodeError, MAX_ATTACHMENTS, RESERVED_EVENTS};

/// The seven Socket.IO packet types, with their wire digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`
    Connect = 0,
    /// `1`
    Disconnect = 1,
    /// `2`
    Event = 2,
    /// `3`
    Ack = 3,
    /// `4`
    ConnectError = 4,
    /// `5`
    BinaryEvent = 5,
    /// `6`
    BinaryAck = 6,
}

impl PacketType {
    /// The type for a wire digit (`b'0'`..=`b'6'`).
    pub fn from_digit(b: u8) -> Option<PacketType> {
        Some(match b {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit.
    pub fn digit(self) -> u8 {
        b'0' + self as u8
    }

    /// Whether packets of this type carry `N-` binary attachments.
    pub fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// A Socket.IO v5 packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The namespace, `"/"` by default. Written on the wire only when it is
    /// not `"/"`; it must start with `/` and hold no `,`
    /// (see [`super::is_valid_namespace`]) to be read back unchanged.
    pub nsp: String,
    /// The type and its payload.
    pub data: PacketData,
}

/// The type-specific part of a packet.
#[derive(Debug, Clone, PartialEq)]
pub enum PacketData {
    /// CONNECT: from the client, the auth payload (an object) or none;
    /// from the server, `{"sid": …}`.
    Connect(Option<Value>),
    /// DISCONNECT.
    Disconnect,
    /// EVENT: `args[0]` is the event name; `ack` asks for an ACK.
    Event {
        /// Event name followed by its arguments.
        args: Vec<Value>,
        /// Ack id, if the sender waits for an answer.
        ack: Option<u64>,
    },
    /// ACK: the answer to the event with id `ack`.
    Ack {
        /// The answer's arguments.
        args: Vec<Value>,
        /// The id of the acknowledged event.
        ack: u64,
    },
    /// CONNECT_ERROR: `{"message": …, "data": …}`, or a string.
    ConnectError(Value),
    /// BINARY_EVENT: an event whose args hold placeholders
    /// `{"_placeholder":true,"num":N}` for `attachments[N]`.
    BinaryEvent {
        /// Event name followed by its arguments (with placeholders).
        args: Vec<Value>,
        /// Ack id, if the sender waits for an answer.
        ack: Option<u64>,
        /// The binary attachments, in order.
        attachments: Vec<Bytes>,
    },
    /// BINARY_ACK: an ack whose args hold placeholders.
    BinaryAck {
        /// The answer's arguments (with placeholders).
        args: Vec<Value>,
        /// The id of the acknowledged event.
        ack: u64,
        /// The binary attachments, in order.
        attachments: Vec<Bytes>,
    },
}

impl PacketData {
    /// The packet type of this data.
    pub fn packet_type(&self) -> PacketType {
        match self {
            PacketData::Connect(_) => PacketType::Connect,
            PacketData::Disconnect => PacketType::Disconnect,
            PacketData::Event { .. } => PacketType::Event,
            PacketData::Ack { .. } => PacketType::Ack,
            PacketData::ConnectError(_) => PacketType::ConnectError,
            PacketData::BinaryEvent { .. } => PacketType::BinaryEvent,
            PacketData::BinaryAck { .. } => PacketType::BinaryAck,
        }
    }
}

/// An encoded packet: one text part, then one binary message per attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The text part (without the Engine.IO `4` message prefix).
    pub text: String,
    /// The attachments, to be sent as binary messages after `text`.
    pub attachments: Vec<Bytes>,
}

impl Encoded {
    /// The Engine.IO messages that carry this packet, in sending order.
    pub fn into_engineio(self) -> Vec<crate::engineio::Packet> {
        let mut out = Vec::with_capacity(1 + self.attachments.len());
        out.push(crate::engineio::Packet::Message(self.text));
        out.extend(
            self.attachments
                .into_iter()
                .map(crate::engineio::Packet::Binary),
        );
        out
    }
}

impl Packet {
    /// A packet on namespace `nsp`.
    pub fn new(nsp: &str, data: PacketData) -> Packet {
        Packet {
            nsp: nsp.to_owned(),
            data,
        }
    }

    /// An EVENT named `name` with `args` after the name.
    pub fn event(nsp: &str, name: &str, args: Vec<Value>, ack: Option<u64>) -> Packet {
        let mut all = Vec::with_capacity(1 + args.len());
        all.push(Value::String(name.to_owned()));
        all.extend(args);
        Packet::new(nsp, PacketData::Event { args: all, ack })
    }

    /// The event name of an EVENT or BINARY_EVENT (`args[0]` when it is a
    /// string).
    pub fn event_name(&self) -> Option<&str> {
        match &self.data {
            PacketData::Event { args, .. } | PacketData::BinaryEvent { args, .. } => {
                args.first().and_then(Value::as_str)
            }
            _ => None,
        }
    }

    /// The ack id, for events that ask for one and for acks.
    pub fn ack_id(&self) -> Option<u64> {
        match &self.data {
            PacketData::Event { ack, .. } | PacketData::BinaryEvent { ack, .. } => *ack,
            PacketData::Ack { ack, .. } | PacketData::BinaryAck { ack, .. } => Some(*ack),
            _ => None,
        }
    }

    /// Encodes the packet: `"2/nsp,12[...]"`, the namespace omitted for
    /// `"/"` (and when empty). Attachments are shared, not copied.
    pub fn encode(&self) -> Encoded {
        let mut buf = Vec::with_capacity(64);
        let attachments = self.write_text(&mut buf);
        Encoded {
            text: into_string(buf),
            attachments,
        }
    }

    /// The text part as an Engine.IO message, `4` + packet text, built in
    /// one buffer (one allocation for the frame a broadcast shares).
    /// Attachments are not included: send them as binary messages after it.
    pub fn encode_message_text(&self) -> String {
        let mut buf = Vec::with_capacity(64);
        buf.push(b'4');
        self.write_text(&mut buf);
        into_string(buf)
    }

    fn write_text(&self, buf: &mut Vec<u8>) -> Vec<Bytes> {
        buf.push(self.data.packet_type().digit());
        if let PacketData::BinaryEvent { attachments, .. }
        | PacketData::BinaryAck { attachments, .. } = &self.data
        {
            // Writing to a Vec cannot fail.
            let _ = write!(buf, "{}-", attachments.len());
        }
        if !self.nsp.is_empty() && self.nsp != "/" {
            buf.extend_from_slice(self.nsp.as_bytes());
            buf.push(b',');
        }
        if let Some(id) = self.ack_id() {
            let _ = write!(buf, "{id}");
        }
        // Serializing a serde_json::Value into a Vec cannot fail.
        match &self.data {
            PacketData::Connect(None) | PacketData::Disconnect => {}
            PacketData::Connect(Some(v)) | PacketData::ConnectError(v) => {
                let _ = serde_json::to_writer(&mut *buf, v);
            }
            PacketData::Event { args, .. }
            | PacketData::Ack { args, .. }
            | PacketData::BinaryEvent { args, .. }
            | PacketData::BinaryAck { args, .. } => {
                let _ = serde_json::to_writer(&mut *buf, args);
            }
        }
        match &self.data {
            PacketData::BinaryEvent { attachments, .. }
            | PacketData::BinaryAck { attachments, .. } => attachments.clone(),
            _ => Vec::new(),
        }
    }
}

fn into_string(buf: Vec<u8>) -> String {
    // Every piece written is UTF-8 (digits, a &str namespace, serde_json
    // output), so this never takes the lossy branch.
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The result of parsing one text part.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) packet: Packet,
    /// Attachments still to come (0 for non-binary packets).
    pub(crate) attachments: usize,
}

/// Parses and validates one text part like socket.io-parser's
/// `decodeString` + `isPayloadValid`, strictly: the attachment count and
/// ack id are digits only, the JSON must be valid with nothing after it.
pub(crate) fn parse(s: &str) -> Result<Parsed, DecodeError> {
    let bytes = s.as_bytes();
    let ty = match bytes.first() {
        None => return Err(DecodeError::Empty),
        Some(&b) => PacketType::from_digit(b).ok_or(DecodeError::UnknownType)?,
    };
    let mut i = 1;

    let mut attachments = 0;
    if ty.is_binary() {
        let digits = digit_run(bytes, i);
        if digits == 0 || bytes.get(i + digits) != Some(&b'-') {
            return Err(DecodeError::InvalidAttachments);
        }
        let count = s.get(i..i + digits).unwrap_or("");
        // An overflowing count is certainly above the maximum.
        attachments = count
            .parse::<usize>()
            .map_err(|_| DecodeError::TooManyAttachments)?;
        if attachments > MAX_ATTACHMENTS {
            return Err(DecodeError::TooManyAttachments);
        }
        i += digits + 1;
    }

    let rest = s.get(i..).unwrap_or("");
    let (nsp, rest) = if rest.starts_with('/') {
        match rest.split_once(',') {
            Some((nsp, after)) => (nsp, after),
            None => (rest, ""),
        }
    } else {
        ("/", rest)
    };

    let digits = digit_run(rest.as_bytes(), 0);
    let ack = if digits > 0 {
        let id = rest.get(..digits).unwrap_or("");
        Some(id.parse::<u64>().map_err(|_| DecodeError::InvalidAckId)?)
    } else {
        None
    };
    let json = rest.get(digits..).unwrap_or("");
    let payload = if json.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Value>(json).map_err(|_| DecodeError::InvalidJson)?)
    };

    let data = match ty {
        PacketType::Connect => match payload {
            None => PacketData::Connect(None),
            Some(v @ Value::Object(_)) => PacketData::Connect(Some(v)),
            Some(_) => return Err(DecodeError::InvalidPayload),
        },
        PacketType::Disconnect => match payload {
            None => PacketData::Disconnect,
            Some(_) => return Err(DecodeError::InvalidPayload),
        },
        PacketType::ConnectError => match payload {
            Some(v @ (Value::String(_) | Value::Object(_))) => PacketData::ConnectError(v),
            _ => return Err(DecodeError::InvalidPayload),
        },
        PacketType::Event | PacketType::BinaryEvent => {
            let args = event_args(payload)?;
            if ty == PacketType::Event {
                PacketData::Event { args, ack }
            } else {
                PacketData::BinaryEvent {
                    args,
                    ack,
                    attachments: Vec::with_capacity(attachments),
                }
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            let args = match payload {
                Some(Value::Array(args)) => args,
                _ => return Err(DecodeError::InvalidPayload),
            };
            let ack = ack.ok_or(DecodeError::InvalidAckId)?;
            if ty == PacketType::Ack {
                PacketData::Ack { args, ack }
            } else {
                PacketData::BinaryAck {
                    args,
                    ack,
                    attachments: Vec::with_capacity(attachments),
                }
            }
        }
    };
    // Only events and acks carry an ack id.
    if ack.is_some()
        && matches!(
            ty,
            PacketType::Connect | PacketType::Disconnect | PacketType::ConnectError
        )
    {
        return Err(DecodeError::InvalidAckId);
    }
    Ok(Parsed {
        packet: Packet {
            nsp: nsp.to_owned(),
            data,
        },
        attachments,
    })
}

fn event_args(payload: Option<Value>) -> Result<Vec<Value>, DecodeError> {
    let args = match payload {
        Some(Value::Array(args)) => args,
        _ => return Err(DecodeError::InvalidPayload),
    };
    match args.first() {
        Some(Value::Number(_)) => Ok(args),
        Some(Value::String(name)) if RESERVED_EVENTS.contains(&name.as_str()) => {
            Err(DecodeError::ReservedEventName)
        }
        Some(Value::String(_)) => Ok(args),
        _ => Err(DecodeError::InvalidPayload),
    }
}

fn digit_run(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .unwrap_or(&[])
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

/// Checks that every placeholder `{"_placeholder":true,"num":N}` in `args`
/// refers to one of `count` attachments, as socket.io-parser's
/// `reconstructPacket` does.
pub(crate) fn placeholders_valid(args: &[Value], count: usize) -> bool {
    fn walk(v: &Value, count: usize, depth: usize) -> bool {
        if depth > 256 {
            return false;
        }
        match v {
            Value::Array(items) => items.iter().all(|i| walk(i, count, depth + 1)),
            Value::Object(map) => {
                if map.get("_placeholder") == Some(&Value::Bool(true)) {
                    map.get("num")
                        .and_then(Value::as_u64)
                        .is_some_and(|n| n < count as u64)
                } else {
                    map.values().all(|i| walk(i, count, depth + 1))
                }
            }
            _ => true,
        }
    }
    args.iter().all(|a| walk(a, count, 0))
}

/// A placeholder for attachment `num`, as the encoder of socket.io-parser
/// writes it.
pub fn placeholder(num: usize) -> Value {
    serde_json::json!({ "_placeholder": true, "num": num })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(p: &Packet) -> String {
        p.encode().text
    }

    #[test]
    fn namespace_is_omitted_for_root() {
        assert_eq!(
            text(&Packet::event("/", "a", vec![json!(1)], None)),
            r#"2["a",1]"#
        );
        assert_eq!(
            text(&Packet::event("/admin", "a", vec![], Some(12))),
            r#"2/admin,12["a"]"#
        );
        assert_eq!(
            text(&Packet::new("/admin", PacketData::Connect(None))),
            "0/admin,"
        );
        assert_eq!(text(&Packet::new("", PacketData::Disconnect)), "1");
    }

    #[test]
    fn binary_event_announces_its_attachments() {
        let p = Packet::new(
            "/",
            PacketData::BinaryEvent {
                args: vec![json!("up"), placeholder(0)],
                ack: Some(3),
                attachments: vec![Bytes::from_static(b"\x01\x02")],
            },
        );
        let e = p.encode();
        assert_eq!(e.text, r#"51-3["up",{"_placeholder":true,"num":0}]"#);
        assert_eq!(e.attachments, vec![Bytes::from_static(b"\x01\x02")]);
        assert_eq!(p.encode_message_text(), format!("4{}", e.text));
    }

    #[test]
    fn parse_reads_every_field() {
        let p = parse(r#"61-/x,7[{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!(p.attachments, 1);
        assert_eq!(p.packet.nsp, "/x");
        assert_eq!(p.packet.ack_id(), Some(7));
        let p = parse("0/admin").unwrap();
        assert_eq!(p.packet, Packet::new("/admin", PacketData::Connect(None)));
    }

    #[test]
    fn event_name_only_for_events() {
        assert_eq!(
            Packet::event("/", "x:y", vec![], None).event_name(),
            Some("x:y")
        );
        assert_eq!(Packet::new("/", PacketData::Disconnect).event_name(), None);
        let numeric = Packet::new(
            "/",
            PacketData::Event {
                args: vec![json!(1)],
                ack: None,
            },
        );
        assert_eq!(numeric.event_name(), None);
    }

    #[test]
    fn placeholder_indices_are_checked() {
        assert!(placeholders_valid(&[json!({"a": [placeholder(1)]})], 2));
        assert!(!placeholders_valid(&[placeholder(2)], 2));
        assert!(!placeholders_valid(&[json!({"_placeholder": true})], 2));
        assert!(placeholders_valid(&[json!({"_placeholder": false})], 0));
    }
}
