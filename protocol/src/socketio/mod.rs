//! Socket.IO v5: packets carried in Engine.IO messages.
//!
//! A text packet is `<type>[<attachments>-][<nsp>,][<ackId>][JSON]`:
//!
//! | digit | packet        | payload                                          |
//! |-------|---------------|--------------------------------------------------|
//! | `0`   | CONNECT       | optional object (the auth payload / `{"sid"}`)   |
//! | `1`   | DISCONNECT    | none                                             |
//! | `2`   | EVENT         | array: event name (non-reserved string) + args   |
//! | `3`   | ACK           | array                                            |
//! | `4`   | CONNECT_ERROR | string or object (`{"message","data"}`)          |
//! | `5`   | BINARY_EVENT  | like EVENT, with `N-` attachments after the type |
//! | `6`   | BINARY_ACK    | like ACK, with `N-` attachments after the type   |
//!
//! The namespace is omitted for `/`. Binary attachments travel as separate
//! Engine.IO binary messages after the text packet; the JSON holds
//! placeholders `{"_placeholder":true,"num":N}` in their place.
//! [`Decoder`] reassembles them; [`Packet::encode`] splits them.

mod decoder;
mod packet;

pub use decoder::{DecodeError, Decoder};
pub use packet::{placeholder, Encoded, Packet, PacketData, PacketType};

/// Event names a client may not emit: the decoder rejects an EVENT whose
/// name is one of these ([`DecodeError::ReservedEventName`]).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The most binary attachments one packet may announce (socket.io-parser's
/// default `maxAttachments`).
pub const MAX_ATTACHMENTS: usize = 10;

/// The namespace every connection starts with; omitted on the wire.
pub const DEFAULT_NAMESPACE: &str = "/";

/// Whether `nsp` can be written on the wire and read back unchanged: it
/// starts with `/` and holds no `,`.
pub fn is_valid_namespace(nsp: &str) -> bool {
    nsp.starts_with('/') && !nsp.contains(',')
}
