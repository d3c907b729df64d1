//! One Engine.IO session ([`EngineSession`]): its id, outbound queue, the channel to
//! its driver ([`Inbound`]), and which transport carries it ([`TransportState`]).
//! The engine's transports and the driver both hold it; neither knows the other.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use protocol::engineio;
use tokio::sync::{mpsc, watch, Mutex};

use crate::hub::{CloseReason, Frame, Outbox};

/// What the session serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionKind {
    /// Socket.IO (the profile, or compliance namespaces).
    SocketIo,
    /// Raw Engine.IO echo (compliance mode, `/engine.io/`).
    EngineEcho,
}

/// Which transport currently carries the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportState {
    /// HTTP long-polling.
    Polling,
    /// A WebSocket answered the probe; pending polls get a noop.
    Upgrading,
    /// WebSocket (direct or upgraded).
    Websocket,
}

/// Input to the driver task.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// One Engine.IO packet from the client (boxed: the channel's blocks stay small,
    /// which keeps idle connections cheap).
    Packet(Box<engineio::Packet>),
    /// The transport ended.
    Closed(CloseReason),
}

/// One Engine.IO session.
pub(crate) struct EngineSession {
    /// Engine.IO session id.
    pub sid: Arc<str>,
    /// The outbound queue and kill switch.
    pub outbox: Arc<Outbox>,
    /// The queue's receiving end, held by the active writer.
    pub rx: Arc<Mutex<mpsc::Receiver<Frame>>>,
    /// Packets to the driver.
    pub inbound: mpsc::Sender<Inbound>,
    /// The current transport.
    pub transport: watch::Sender<TransportState>,
    /// Polling: a close packet is owed to the next GET (it is never sent in the same
    /// payload as other packets: socket.io-client handles a close at once but defers
    /// the packets before it, which would then be lost).
    pub close_next_poll: std::sync::atomic::AtomicBool,
    /// A WebSocket upgrade of this session is in progress or done (only one is allowed).
    pub upgrade_claimed: std::sync::atomic::AtomicBool,
    /// Write one frame per flush (compliance mode: the upstream test suite reads one
    /// message per event-loop tick), instead of batching.
    pub frame_per_write: bool,
    /// The source address of the opening request.
    pub peer: IpAddr,
    /// A request (GET, POST or upgrade) came on this sid after the handshake.
    pub polled: AtomicBool,
    /// A polling POST on this sid is being read (only one at a time, LIM-16).
    pub post_active: AtomicBool,
}

/// Holds [`EngineSession::post_active`] for one polling POST.
pub(crate) struct PostGuard<'a>(&'a EngineSession);

impl EngineSession {
    /// Claims the session's POST slot; `None` when a POST is already being read.
    pub(crate) fn begin_post(&self) -> Option<PostGuard<'_>> {
        (!self.post_active.swap(true, Ordering::AcqRel)).then_some(PostGuard(self))
    }
}

impl Drop for PostGuard<'_> {
    fn drop(&mut self) {
        self.0.post_active.store(false, Ordering::Release);
    }
}

/// A random 20-character base64url id (15 random bytes).
pub(crate) fn random_id() -> String {
    let bytes: [u8; 15] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
