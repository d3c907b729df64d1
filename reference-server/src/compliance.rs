//! Compliance mode (`--compliance`, for the upstream socket.io-protocol test suite): the
//! echo and ack handlers that suite expects in place of the Roomcast rules, without
//! sockets. [`ComplianceEcho`] turns each packet of a connected namespace into the packet
//! to answer with, and remembers the acks it asked the client for.

use bytes::Bytes;
use protocol::socketio::{Packet, PacketData};
use serde_json::{json, Value};

/// The echo handlers of one Engine.IO connection in compliance mode.
#[derive(Debug, Default)]
pub(crate) struct ComplianceEcho {
    next_ack: u64,
    /// `(namespace, ack id)` of each `emit-with-ack` the client has not acked yet.
    pending_acks: Vec<(String, u64)>,
}

impl ComplianceEcho {
    /// The answer to a CONNECT of `nsp` (always accepted): the CONNECT with the socket
    /// id, then an `auth` event that echoes the CONNECT payload.
    pub(crate) fn on_connect(nsp: &str, sid: &str, auth: Option<Value>) -> [Packet; 2] {
        let auth = auth.unwrap_or_else(|| json!({}));
        [
            Packet::new(nsp, PacketData::Connect(Some(json!({ "sid": sid })))),
            Packet::event(nsp, "auth", vec![auth], None),
        ]
    }

    /// The answer to one packet of a connected namespace, if any:
    /// - `message` → the same arguments back as `message-back`;
    /// - `message-with-ack` → its arguments as the ack;
    /// - `emit-with-ack` → the same event back, with an ack id of the server's;
    /// - the client's ack of that id → an `emit-with-ack` event with the ack's arguments.
    pub(crate) fn on_packet(&mut self, nsp: &str, data: PacketData) -> Option<Packet> {
        let data = match data {
            PacketData::Event { args, ack } => self.on_event(nsp, args, ack, Vec::new()),
            PacketData::BinaryEvent {
                args,
                ack,
                attachments,
            } => self.on_event(nsp, args, ack, attachments),
            PacketData::Ack { args, ack } => self.on_ack(nsp, args, ack, Vec::new()),
            PacketData::BinaryAck {
                args,
                ack,
                attachments,
            } => self.on_ack(nsp, args, ack, attachments),
            _ => None,
        }?;
        Some(Packet::new(nsp, data))
    }

    /// The client left `nsp`: its pending acks are forgotten.
    pub(crate) fn on_disconnect(&mut self, nsp: &str) {
        self.pending_acks.retain(|(n, _)| n != nsp);
    }

    fn on_event(
        &mut self,
        nsp: &str,
        mut args: Vec<Value>,
        ack: Option<u64>,
        attachments: Vec<Bytes>,
    ) -> Option<PacketData> {
        match args.first().and_then(Value::as_str)? {
            "message" => {
                args[0] = Value::String("message-back".into());
                Some(event(args, None, attachments))
            }
            "message-with-ack" => {
                let ack = ack?;
                let rest: Vec<Value> = args.into_iter().skip(1).collect();
                Some(if attachments.is_empty() {
                    PacketData::Ack { args: rest, ack }
                } else {
                    PacketData::BinaryAck {
                        args: rest,
                        ack,
                        attachments,
                    }
                })
            }
            "emit-with-ack" => {
                let id = self.next_ack;
                self.next_ack += 1;
                self.pending_acks.push((nsp.to_owned(), id));
                Some(event(args, Some(id), attachments))
            }
            _ => None,
        }
    }

    fn on_ack(
        &mut self,
        nsp: &str,
        args: Vec<Value>,
        ack: u64,
        attachments: Vec<Bytes>,
    ) -> Option<PacketData> {
        let pos = self
            .pending_acks
            .iter()
            .position(|(n, id)| n == nsp && *id == ack)?;
        self.pending_acks.swap_remove(pos);
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(Value::String("emit-with-ack".into()));
        all.extend(args);
        Some(event(all, None, attachments))
    }
}

/// An EVENT, or a BINARY_EVENT when there are attachments.
fn event(args: Vec<Value>, ack: Option<u64>, attachments: Vec<Bytes>) -> PacketData {
    if attachments.is_empty() {
        PacketData::Event { args, ack }
    } else {
        PacketData::BinaryEvent {
            args,
            ack,
            attachments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(args: Vec<Value>, ack: Option<u64>) -> PacketData {
        PacketData::Event { args, ack }
    }

    #[test]
    fn message_is_echoed_as_message_back() {
        let mut c = ComplianceEcho::default();
        let out = c.on_packet("/", ev(vec![json!("message"), json!(1)], None));
        assert_eq!(
            out.map(|p| p.data),
            Some(ev(vec![json!("message-back"), json!(1)], None))
        );
        assert_eq!(c.on_packet("/", ev(vec![json!("other")], None)), None);
    }

    #[test]
    fn emit_with_ack_round_trip() {
        let mut c = ComplianceEcho::default();
        let out = c.on_packet("/", ev(vec![json!("emit-with-ack"), json!(1)], None));
        assert_eq!(
            out.map(|p| p.data),
            Some(ev(vec![json!("emit-with-ack"), json!(1)], Some(0)))
        );
        let ack = PacketData::Ack {
            args: vec![json!(2)],
            ack: 0,
        };
        let out = c.on_packet("/", ack.clone());
        assert_eq!(
            out.map(|p| p.data),
            Some(ev(vec![json!("emit-with-ack"), json!(2)], None))
        );
        // Each ack id is answered once.
        assert_eq!(c.on_packet("/", ack), None);
    }

    #[test]
    fn a_disconnect_forgets_the_pending_acks() {
        let mut c = ComplianceEcho::default();
        c.on_packet("/x", ev(vec![json!("emit-with-ack")], None));
        c.on_disconnect("/x");
        let ack = PacketData::Ack {
            args: vec![],
            ack: 0,
        };
        assert_eq!(c.on_packet("/x", ack), None);
    }

    #[test]
    fn message_with_ack_answers_with_the_arguments() {
        let mut c = ComplianceEcho::default();
        let out = c.on_packet(
            "/",
            ev(vec![json!("message-with-ack"), json!("a")], Some(7)),
        );
        assert_eq!(
            out.map(|p| p.data),
            Some(PacketData::Ack {
                args: vec![json!("a")],
                ack: 7
            })
        );
    }
}
