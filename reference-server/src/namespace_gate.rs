//! The namespace gate of one Socket.IO connection ([`NamespaceGate`]), a state machine
//! without sockets: which namespaces are connected and what a decoded packet means in
//! that state ([`Gate`]). (Its connect timeout is a
//! timer of [`crate::timers`].)
//!
//! Rules (Socket.IO v5 server behaviour):
//! - CONNECT to a served namespace that is not connected → attempt a connect;
//! - CONNECT to a namespace that is not served → "Invalid namespace" CONNECT_ERROR;
//! - a second CONNECT to a connected namespace → close the connection;
//! - any other packet for a namespace that is not connected → close the connection;
//! - DISCONNECT of a connected namespace → that namespace only;
//! - a CONNECT_ERROR from a client → close.

use protocol::socketio::{Packet, PacketData};
use serde_json::Value;

/// What the connection does with one decoded Socket.IO packet.
#[derive(Debug, PartialEq)]
pub enum Gate {
    /// Attempt a namespace connect with this auth payload.
    Connect {
        /// The namespace.
        nsp: String,
        /// The CONNECT payload.
        auth: Option<Value>,
    },
    /// Answer `44[nsp,]{"message":"Invalid namespace"}` and stay open.
    InvalidNamespace {
        /// The namespace asked for.
        nsp: String,
    },
    /// A packet for a connected namespace.
    Deliver(Packet),
    /// The client left a connected namespace.
    Disconnect {
        /// The namespace.
        nsp: String,
    },
    /// Close the whole connection.
    Close(&'static str),
}

/// Namespace bookkeeping for one Engine.IO connection.
#[derive(Debug)]
pub struct NamespaceGate {
    served: Vec<String>,
    connected: Vec<String>,
}

impl NamespaceGate {
    /// A connection serving `served` namespaces.
    pub fn new(served: Vec<String>) -> NamespaceGate {
        NamespaceGate {
            served,
            connected: Vec::new(),
        }
    }

    /// Is `nsp` connected?
    pub fn is_connected(&self, nsp: &str) -> bool {
        self.connected.iter().any(|n| n == nsp)
    }

    /// The connected namespaces.
    pub fn connected(&self) -> &[String] {
        &self.connected
    }

    /// Records a successful connect.
    pub fn mark_connected(&mut self, nsp: &str) {
        if !self.is_connected(nsp) {
            self.connected.push(nsp.to_owned());
        }
    }

    /// Records that a namespace left.
    pub fn mark_disconnected(&mut self, nsp: &str) {
        self.connected.retain(|n| n != nsp);
    }

    /// Classifies one decoded packet.
    pub fn on_packet(&self, packet: Packet) -> Gate {
        let connected = self.is_connected(&packet.nsp);
        match packet.data {
            PacketData::Connect(auth) => {
                if connected {
                    Gate::Close("second CONNECT to a connected namespace")
                } else if self.served.contains(&packet.nsp) {
                    Gate::Connect {
                        nsp: packet.nsp,
                        auth,
                    }
                } else {
                    Gate::InvalidNamespace { nsp: packet.nsp }
                }
            }
            _ if !connected => Gate::Close("packet for a namespace that is not connected"),
            PacketData::Disconnect => Gate::Disconnect { nsp: packet.nsp },
            PacketData::ConnectError(_) => Gate::Close("CONNECT_ERROR sent by a client"),
            _ => Gate::Deliver(packet),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gate() -> NamespaceGate {
        NamespaceGate::new(vec!["/".into()])
    }

    fn pkt(nsp: &str, data: PacketData) -> Packet {
        Packet {
            nsp: nsp.into(),
            data,
        }
    }

    #[test]
    fn connect_then_second_connect_closes() {
        let mut g = gate();
        let auth = Some(json!({"token": "t"}));
        assert_eq!(
            g.on_packet(pkt("/", PacketData::Connect(auth.clone()))),
            Gate::Connect {
                nsp: "/".into(),
                auth: auth.clone()
            }
        );
        g.mark_connected("/");
        assert!(matches!(
            g.on_packet(pkt("/", PacketData::Connect(auth))),
            Gate::Close(_)
        ));
    }

    #[test]
    fn invalid_namespace_and_unconnected_packets() {
        let g = gate();
        assert_eq!(
            g.on_packet(pkt("/x", PacketData::Connect(None))),
            Gate::InvalidNamespace { nsp: "/x".into() }
        );
        let ev = PacketData::Event {
            args: vec![json!("a")],
            ack: None,
        };
        assert!(matches!(g.on_packet(pkt("/", ev)), Gate::Close(_)));
        assert!(matches!(
            g.on_packet(pkt("/", PacketData::Disconnect)),
            Gate::Close(_)
        ));
    }

    #[test]
    fn connected_namespace_gets_events_and_disconnect() {
        let mut g = gate();
        g.mark_connected("/");
        let ev = PacketData::Event {
            args: vec![json!("a")],
            ack: Some(1),
        };
        assert!(matches!(g.on_packet(pkt("/", ev)), Gate::Deliver(_)));
        assert_eq!(
            g.on_packet(pkt("/", PacketData::Disconnect)),
            Gate::Disconnect { nsp: "/".into() }
        );
        assert!(matches!(
            g.on_packet(pkt("/", PacketData::ConnectError(json!("x")))),
            Gate::Close(_)
        ));
    }

    #[test]
    fn a_namespace_that_left_is_not_connected() {
        let mut g = gate();
        g.mark_connected("/");
        assert_eq!(g.connected(), ["/"]);
        g.mark_disconnected("/");
        assert!(!g.is_connected("/"));
    }
}
