//! The Socket.IO connection state machine, without sockets: which namespaces are
//! connected, what a decoded packet means in that state, and the connect timeout.
//!
//! Rules (Socket.IO v5 server behaviour):
//! - CONNECT to a served namespace that is not connected → attempt a connect;
//! - CONNECT to a namespace that is not served → "Invalid namespace" CONNECT_ERROR;
//! - a second CONNECT to a connected namespace → close the connection;
//! - any other packet for a namespace that is not connected → close the connection;
//! - DISCONNECT of a connected namespace → that namespace only;
//! - a CONNECT_ERROR from a client → close;
//! - no namespace connected within `connectTimeout` of the open → close.

use std::time::{Duration, Instant};

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
    connect_deadline: Option<Instant>,
}

impl NamespaceGate {
    /// A connection opened at `opened`, serving `served` namespaces.
    pub fn new(served: Vec<String>, opened: Instant, connect_timeout: Duration) -> NamespaceGate {
        NamespaceGate {
            served,
            connected: Vec::new(),
            connect_deadline: Some(opened + connect_timeout),
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

    /// Records a successful connect; the connect timeout no longer applies.
    pub fn mark_connected(&mut self, nsp: &str) {
        if !self.is_connected(nsp) {
            self.connected.push(nsp.to_owned());
        }
        self.connect_deadline = None;
    }

    /// Records that a namespace left.
    pub fn mark_disconnected(&mut self, nsp: &str) {
        self.connected.retain(|n| n != nsp);
    }

    /// When the connection must be closed if no namespace has connected.
    pub fn connect_deadline(&self) -> Option<Instant> {
        self.connect_deadline
    }

    /// Has the connect timeout passed at `now`?
    pub fn connect_timed_out(&self, now: Instant) -> bool {
        self.connect_deadline.is_some_and(|d| now >= d)
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

    fn gate() -> (NamespaceGate, Instant) {
        let t0 = Instant::now();
        (
            NamespaceGate::new(vec!["/".into()], t0, Duration::from_millis(1000)),
            t0,
        )
    }

    fn pkt(nsp: &str, data: PacketData) -> Packet {
        Packet {
            nsp: nsp.into(),
            data,
        }
    }

    #[test]
    fn connect_then_second_connect_closes() {
        let (mut g, _) = gate();
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
        let (g, _) = gate();
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
        let (mut g, _) = gate();
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
    fn connect_timeout_applies_until_the_first_connect() {
        let (mut g, t0) = gate();
        assert!(!g.connect_timed_out(t0 + Duration::from_millis(999)));
        assert!(g.connect_timed_out(t0 + Duration::from_millis(1000)));
        g.mark_connected("/");
        assert!(!g.connect_timed_out(t0 + Duration::from_secs(60)));
        g.mark_disconnected("/");
        assert!(!g.is_connected("/"));
        assert_eq!(g.connect_deadline(), None);
    }
}
