//! One socket's outbound queue ([`Outbox`]): a bounded queue of [`Frame`]s and a kill
//! switch carrying the [`CloseReason`]. The hub pushes into it; the transport's writer
//! drains it. (Re-exported from [`crate::hub`].)

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One item of a socket's outbound queue.
#[derive(Debug, Clone)]
pub enum Frame {
    /// An Engine.IO text packet (e.g. `42["type",{...}]`); shared between sockets.
    Text(Utf8Bytes),
    /// An Engine.IO binary message.
    Binary(Bytes),
    /// Flush what precedes, then close the transport (WebSocket close code).
    Close(u16),
}

/// Why a connection ended (for logs and for the transport's close code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The transport closed.
    TransportClose,
    /// The client sent an Engine.IO close packet (`1`).
    ClientClose,
    /// A read or write error on the transport.
    TransportError,
    /// No pong within pingTimeout.
    PingTimeout,
    /// No namespace connected within connectTimeout.
    ConnectTimeout,
    /// Malformed input.
    ParseError,
    /// A frame above maxPayload.
    PayloadTooLarge,
    /// The outbound queue was full.
    SlowConsumer,
    /// The token expired.
    TokenExpired,
    /// The server is shutting down.
    ServerShutdown,
    /// The client sent a Socket.IO DISCONNECT for the namespace (the socket ends; the
    /// Engine.IO connection stays).
    ClientDisconnect,
    /// Too many failed CONNECTs on one connection (LIM-19).
    ConnectFailures,
}

impl CloseReason {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::ClientClose => "client close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ConnectTimeout => "connect timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::PayloadTooLarge => "payload too large",
            CloseReason::SlowConsumer => "slow consumer",
            CloseReason::TokenExpired => "token expired",
            CloseReason::ServerShutdown => "server shutting down",
            CloseReason::ClientDisconnect => "client namespace disconnect",
            CloseReason::ConnectFailures => "too many failed connects",
        }
    }

    /// The WebSocket close code for this reason.
    pub fn ws_code(self) -> u16 {
        match self {
            CloseReason::PayloadTooLarge => 1009,
            CloseReason::ParseError => 1002,
            CloseReason::ServerShutdown => 1001,
            CloseReason::ConnectFailures => 1008,
            _ => 1000,
        }
    }
}

/// The sending side of one Engine.IO connection: its bounded queue and its kill switch.
#[derive(Debug)]
pub struct Outbox {
    /// Process-unique connection number.
    pub id: u64,
    tx: mpsc::Sender<Frame>,
    kill: watch::Sender<Option<CloseReason>>,
}

/// The queue is full: the connection has been killed as a slow consumer.
#[derive(Debug, thiserror::Error)]
#[error("outbound queue full")]
pub struct QueueFull;

impl Outbox {
    /// A new outbox with a queue of `capacity` frames, and the queue's receiving end.
    pub fn new(id: u64, capacity: usize) -> (Arc<Outbox>, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (kill, _) = watch::channel(None);
        (Arc::new(Outbox { id, tx, kill }), rx)
    }

    /// Queues a frame without waiting. A full queue kills the connection
    /// ([`CloseReason::SlowConsumer`]); a closed one is ignored (the connection is gone).
    pub fn push(&self, frame: Frame) -> Result<(), QueueFull> {
        match self.tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kill(CloseReason::SlowConsumer);
                Err(QueueFull)
            }
        }
    }

    /// Kills the connection now (first reason wins).
    pub fn kill(&self, reason: CloseReason) {
        self.kill.send_if_modified(|cur| {
            if cur.is_none() {
                *cur = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// The kill reason, if killed.
    pub fn killed(&self) -> Option<CloseReason> {
        *self.kill.borrow()
    }

    /// A receiver that sees the kill.
    pub fn subscribe_kill(&self) -> watch::Receiver<Option<CloseReason>> {
        self.kill.subscribe()
    }
}

/// Waits until the connection is killed; returns the reason. (Returns the `Ref`-free
/// value so that callers can hold it across awaits.)
pub async fn wait_killed(rx: &mut watch::Receiver<Option<CloseReason>>) -> CloseReason {
    match rx.wait_for(Option::is_some).await {
        Ok(v) => v.unwrap_or(CloseReason::TransportClose),
        Err(_) => CloseReason::TransportClose,
    }
}
