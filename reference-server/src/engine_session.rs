//! One Engine.IO session ([`EngineSession`]): its id, outbound queue, the channel to
//! its driver ([`Inbound`]), and which transport carries it ([`TransportState`]).
//! The engine's transports and the driver both hold it; neither knows the other.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};

use base64::Engine as _;
use protocol::engineio;
use tokio::sync::{Mutex, Notify};

use crate::hub::{CloseReason, Outbox, OutboxRx};

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
#[repr(u8)]
pub(crate) enum TransportState {
    /// HTTP long-polling.
    Polling,
    /// A WebSocket answered the probe; pending polls get a noop.
    Upgrading,
    /// WebSocket (direct or upgraded).
    Websocket,
}

impl TransportState {
    const ALL: [TransportState; 3] = [
        TransportState::Polling,
        TransportState::Upgrading,
        TransportState::Websocket,
    ];
}

/// The session's current [`TransportState`], which the transports change and the
/// driver and polling requests read or wait on: one atomic byte and one [`Notify`] (a
/// `watch` channel's shared state is ~350 bytes, and every session has one).
#[derive(Debug)]
pub(crate) struct TransportCell {
    state: AtomicU8,
    changed: Notify,
}

/// The transport at the time of [`TransportCell::borrow`] (a copy: holding it locks
/// nothing).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TransportNow(TransportState);

impl std::ops::Deref for TransportNow {
    type Target = TransportState;

    fn deref(&self) -> &TransportState {
        &self.0
    }
}

impl TransportCell {
    /// A cell holding `state`.
    pub(crate) fn new(state: TransportState) -> TransportCell {
        TransportCell {
            state: AtomicU8::new(state as u8),
            changed: Notify::new(),
        }
    }

    fn get(&self) -> TransportState {
        let i = usize::from(self.state.load(Ordering::Acquire));
        TransportState::ALL
            .get(i)
            .copied()
            .unwrap_or(TransportState::Polling)
    }

    /// The current transport.
    pub(crate) fn borrow(&self) -> TransportNow {
        TransportNow(self.get())
    }

    /// Sets the transport, wakes every waiter and returns the previous one.
    pub(crate) fn send_replace(&self, state: TransportState) -> TransportState {
        let old = self.state.swap(state as u8, Ordering::AcqRel);
        self.changed.notify_waiters();
        TransportState::ALL
            .get(usize::from(old))
            .copied()
            .unwrap_or(TransportState::Polling)
    }

    /// Waits until the transport satisfies `pred` (at once if it already does).
    pub(crate) async fn wait_for(&self, pred: impl Fn(TransportState) -> bool) -> TransportState {
        loop {
            let notified = self.changed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check: a change in between still wakes it.
            notified.as_mut().enable();
            let now = self.get();
            if pred(now) {
                return now;
            }
            notified.await;
        }
    }
}

/// Input to the driver task.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// One Engine.IO packet from the client (boxed: a queued item stays small).
    Packet(Box<engineio::Packet>),
    /// The transport ended.
    Closed(CloseReason),
}

/// The sending end of a session's [`Inbound`] queue (the transport's reader, a polling
/// POST).
///
/// A bounded queue under a mutex instead of a tokio channel, whose first block of 32
/// slots and cache-padded state cost ~1 KiB per connection: this one holds nothing until
/// the first packet and gives a burst's capacity back once drained. A full queue makes
/// the sender wait (a flooding client is read no faster than its driver works).
#[derive(Debug)]
pub(crate) struct InboundTx {
    shared: Arc<InboundShared>,
}

/// The receiving end of a session's [`Inbound`] queue: the driver.
#[derive(Debug)]
pub(crate) struct InboundRx {
    shared: Arc<InboundShared>,
}

#[derive(Debug)]
struct InboundShared {
    queue: std::sync::Mutex<InboundQueue>,
    capacity: usize,
    /// Wakes senders waiting for room.
    room: Notify,
}

#[derive(Debug, Default)]
struct InboundQueue {
    items: VecDeque<Inbound>,
    receiver: Option<Waker>,
    receiver_gone: bool,
}

/// The driver is gone: the packet was not queued.
#[derive(Debug, thiserror::Error)]
#[error("the session's driver is gone")]
pub(crate) struct DriverGone;

/// A drained queue keeps at most this many slots.
const INBOUND_KEEP: usize = 8;

impl InboundShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, InboundQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A bounded queue of `capacity` packets from a session's transports to its driver.
pub(crate) fn inbound_queue(capacity: usize) -> (InboundTx, InboundRx) {
    let shared = Arc::new(InboundShared {
        queue: std::sync::Mutex::default(),
        capacity: capacity.max(1),
        room: Notify::new(),
    });
    (
        InboundTx {
            shared: Arc::clone(&shared),
        },
        InboundRx { shared },
    )
}

impl InboundTx {
    /// Queues `item`, waiting while the queue is full; `Err` once the driver is gone.
    pub(crate) async fn send(&self, item: Inbound) -> Result<(), DriverGone> {
        let shared = &self.shared;
        let mut item = Some(item);
        loop {
            let room = shared.room.notified();
            let mut room = std::pin::pin!(room);
            // Registered before the check: room made in between still wakes it.
            room.as_mut().enable();
            let receiver = {
                let mut q = shared.lock();
                if q.receiver_gone {
                    return Err(DriverGone);
                }
                if q.items.len() < shared.capacity {
                    q.items.extend(item.take());
                    Some(q.receiver.take())
                } else {
                    None
                }
            };
            if let Some(waker) = receiver {
                if let Some(w) = waker {
                    w.wake();
                }
                return Ok(());
            }
            room.await;
        }
    }
}

impl InboundRx {
    /// The next packet, waiting for one. (`None` is never returned while a sender lives;
    /// the session holds one for as long as its driver runs.)
    pub(crate) async fn recv(&mut self) -> Option<Inbound> {
        std::future::poll_fn(|cx| {
            let shared = &self.shared;
            let mut q = shared.lock();
            let was_full = q.items.len() >= shared.capacity;
            match q.items.pop_front() {
                Some(item) => {
                    if q.items.is_empty() && q.items.capacity() > INBOUND_KEEP {
                        q.items.shrink_to(INBOUND_KEEP);
                    }
                    drop(q);
                    if was_full {
                        shared.room.notify_waiters();
                    }
                    Poll::Ready(Some(item))
                }
                None => {
                    if !q.receiver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        q.receiver = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for InboundRx {
    fn drop(&mut self) {
        {
            let mut q = self.shared.lock();
            q.receiver_gone = true;
            q.items = VecDeque::new();
        }
        self.shared.room.notify_waiters();
    }
}

/// One Engine.IO session.
pub(crate) struct EngineSession {
    /// Engine.IO session id.
    pub sid: Arc<str>,
    /// The outbound queue and kill switch.
    pub outbox: Arc<Outbox>,
    /// The queue's receiving end, held by the active writer.
    pub rx: Arc<Mutex<OutboxRx>>,
    /// Packets to the driver.
    pub inbound: InboundTx,
    /// The current transport.
    pub transport: TransportCell,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_inbound_queue_makes_the_sender_wait_and_keeps_the_order() {
        let (tx, mut rx) = inbound_queue(2);
        let sender = tokio::spawn(async move {
            for r in [
                CloseReason::ClientClose,
                CloseReason::ParseError,
                CloseReason::PingTimeout,
            ] {
                tx.send(Inbound::Closed(r)).await.unwrap();
            }
            tx
        });
        tokio::task::yield_now().await;
        assert!(!sender.is_finished(), "the third send waits for room");
        let mut got = Vec::new();
        for _ in 0..3 {
            match rx.recv().await {
                Some(Inbound::Closed(r)) => got.push(r),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            got,
            [
                CloseReason::ClientClose,
                CloseReason::ParseError,
                CloseReason::PingTimeout
            ]
        );
        let tx = sender.await.unwrap();
        drop(rx);
        assert!(tx
            .send(Inbound::Closed(CloseReason::ClientClose))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn a_transport_change_wakes_its_waiters_and_reads_back() {
        let cell = Arc::new(TransportCell::new(TransportState::Polling));
        assert_eq!(*cell.borrow(), TransportState::Polling);
        let waiter = {
            let cell = Arc::clone(&cell);
            tokio::spawn(async move { cell.wait_for(|t| t != TransportState::Polling).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(
            cell.send_replace(TransportState::Upgrading),
            TransportState::Polling
        );
        assert_eq!(waiter.await.unwrap(), TransportState::Upgrading);
        cell.send_replace(TransportState::Websocket);
        assert_eq!(*cell.borrow(), TransportState::Websocket);
        assert_eq!(
            cell.wait_for(|t| t == TransportState::Websocket).await,
            TransportState::Websocket
        );
    }
}
