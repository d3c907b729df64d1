//! One socket's outbound queue ([`Outbox`]): a bounded queue of [`Frame`]s and a kill
//! switch carrying the [`CloseReason`]. The hub pushes into it; the transport's writer
//! drains it. (Re-exported from [`crate::hub`].)
//!
//! Both live in one small allocation, because every connection has one: the queue is a
//! `VecDeque` under a mutex (no slots until the first frame; a drained burst gives its
//! capacity back), the writer takes everything queued under one lock, and a push wakes
//! the writer only when it is parked. The kill switch is one atomic byte (the hub reads
//! it once per member per publish, without a lock) and one [`Notify`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use bytes::Bytes;
use tokio::sync::Notify;
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
    const ALL: [CloseReason; 12] = [
        CloseReason::TransportClose,
        CloseReason::ClientClose,
        CloseReason::TransportError,
        CloseReason::PingTimeout,
        CloseReason::ConnectTimeout,
        CloseReason::ParseError,
        CloseReason::PayloadTooLarge,
        CloseReason::SlowConsumer,
        CloseReason::TokenExpired,
        CloseReason::ServerShutdown,
        CloseReason::ClientDisconnect,
        CloseReason::ConnectFailures,
    ];

    /// `1 + ` the index in [`Self::ALL`] (0 is "not killed").
    fn code(self) -> u8 {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .map_or(1, |i| i as u8 + 1)
    }

    fn from_code(code: u8) -> Option<CloseReason> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }

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
    shared: Arc<Shared>,
}

/// What the outbox, its receiver and every kill watcher share (one allocation).
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    capacity: usize,
    /// 0 while alive, else [`CloseReason::code`] of the first reason.
    reason: AtomicU8,
    killed: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Frame>,
    /// The receiver's task, parked on an empty queue; taken by the push that wakes it
    /// (later pushes before it runs wake nothing).
    waker: Option<Waker>,
    receiver_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reason(&self) -> Option<CloseReason> {
        CloseReason::from_code(self.reason.load(Ordering::Acquire))
    }
}

/// A queue drained to empty keeps at most this many slots (a burst's capacity is given
/// back; an idle socket holds little).
const KEEP_SLOTS: usize = 64;

/// The receiving end of an [`Outbox`]: the transport's writer drains it.
#[derive(Debug)]
pub struct OutboxRx {
    shared: Arc<Shared>,
}

/// Nothing is queued.
#[derive(Debug, thiserror::Error)]
#[error("outbound queue empty")]
pub struct Empty;

impl OutboxRx {
    /// Waits for at least one frame, then moves up to `limit` queued frames (in order)
    /// to the end of `buf` under one lock; returns how many.
    pub async fn recv_many(&mut self, buf: &mut Vec<Frame>, limit: usize) -> usize {
        std::future::poll_fn(|cx| {
            let mut q = self.shared.lock();
            if q.frames.is_empty() {
                if !q.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    q.waker = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            let n = q.frames.len().min(limit.max(1));
            buf.extend(q.frames.drain(..n));
            if q.frames.is_empty() && q.frames.capacity() > KEEP_SLOTS {
                q.frames.shrink_to(KEEP_SLOTS);
            }
            Poll::Ready(n)
        })
        .await
    }

    /// The next queued frame, without waiting.
    pub fn try_recv(&mut self) -> Result<Frame, Empty> {
        self.shared.lock().frames.pop_front().ok_or(Empty)
    }
}

impl Drop for OutboxRx {
    fn drop(&mut self) {
        let mut q = self.shared.lock();
        q.receiver_gone = true;
        q.frames = VecDeque::new();
    }
}

/// Sees an [`Outbox`]'s kill: [`wait_killed`] waits for it.
#[derive(Debug, Clone)]
pub struct KillSignal(Arc<Shared>);

/// The queue is full: the connection has been killed as a slow consumer.
#[derive(Debug, thiserror::Error)]
#[error("outbound queue full")]
pub struct QueueFull;

impl Outbox {
    /// A new outbox with a queue of `capacity` frames, and the queue's receiving end.
    /// Nothing is allocated for the frames until the first one is queued.
    pub fn new(id: u64, capacity: usize) -> (Arc<Outbox>, OutboxRx) {
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            capacity: capacity.max(1),
            reason: AtomicU8::new(0),
            killed: Notify::new(),
        });
        let rx = OutboxRx {
            shared: Arc::clone(&shared),
        };
        (Arc::new(Outbox { id, shared }), rx)
    }

    /// Queues a frame without waiting. A full queue kills the connection
    /// ([`CloseReason::SlowConsumer`]); a queue whose receiver is gone is ignored (the
    /// connection is gone). Wakes the receiver only if it is parked.
    pub fn push(&self, frame: Frame) -> Result<(), QueueFull> {
        let waker = {
            let mut q = self.shared.lock();
            if q.receiver_gone {
                return Ok(());
            }
            if q.frames.len() >= self.shared.capacity {
                drop(q);
                self.kill(CloseReason::SlowConsumer);
                return Err(QueueFull);
            }
            q.frames.push_back(frame);
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Kills the connection now (first reason wins).
    pub fn kill(&self, reason: CloseReason) {
        let first = self
            .shared
            .reason
            .compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if first {
            self.shared.killed.notify_waiters();
        }
    }

    /// The kill reason, if killed (one atomic load).
    pub fn killed(&self) -> Option<CloseReason> {
        self.shared.reason()
    }

    /// A handle that sees the kill.
    pub fn subscribe_kill(&self) -> KillSignal {
        KillSignal(Arc::clone(&self.shared))
    }
}

/// Waits until the connection is killed; returns the reason.
pub async fn wait_killed(signal: &mut KillSignal) -> CloseReason {
    let shared = &signal.0;
    loop {
        let notified = shared.killed.notified();
        let mut notified = std::pin::pin!(notified);
        // Registered before the check: a kill between the check and the await wakes it.
        notified.as_mut().enable();
        if let Some(r) = shared.reason() {
            return r;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_close_reason_round_trips_through_its_code() {
        for r in CloseReason::ALL {
            assert_eq!(CloseReason::from_code(r.code()), Some(r));
        }
        assert_eq!(CloseReason::from_code(0), None);
    }

    #[tokio::test]
    async fn frames_come_out_in_order_and_a_full_queue_kills_the_socket() {
        let (outbox, mut rx) = Outbox::new(1, 3);
        for i in 0..3 {
            outbox.push(Frame::Close(i)).unwrap();
        }
        assert!(outbox.push(Frame::Close(9)).is_err());
        assert_eq!(outbox.killed(), Some(CloseReason::SlowConsumer));
        let mut got = Vec::new();
        assert_eq!(rx.recv_many(&mut got, 2).await, 2);
        assert_eq!(rx.recv_many(&mut got, 8).await, 1);
        let codes: Vec<u16> = got
            .iter()
            .map(|f| match f {
                Frame::Close(c) => *c,
                _ => u16::MAX,
            })
            .collect();
        assert_eq!(codes, [0, 1, 2]);
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_push_wakes_the_parked_receiver_and_pushes_after_it_is_gone_are_ignored() {
        let (outbox, mut rx) = Outbox::new(1, 8);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            rx.recv_many(&mut got, 8).await;
            got.len()
        });
        tokio::task::yield_now().await;
        outbox.push(Frame::Close(1)).unwrap();
        assert_eq!(reader.await.unwrap(), 1);
        for _ in 0..20 {
            outbox.push(Frame::Close(1)).unwrap();
        }
        assert_eq!(outbox.killed(), None);
    }

    #[tokio::test]
    async fn the_first_kill_wins_and_wakes_every_waiter() {
        let (outbox, _rx) = Outbox::new(1, 4);
        let mut a = outbox.subscribe_kill();
        let mut b = outbox.subscribe_kill();
        let wa = tokio::spawn(async move { wait_killed(&mut a).await });
        let wb = tokio::spawn(async move { wait_killed(&mut b).await });
        tokio::task::yield_now().await;
        assert_eq!(outbox.killed(), None);
        outbox.kill(CloseReason::SlowConsumer);
        outbox.kill(CloseReason::PingTimeout);
        assert_eq!(wa.await.unwrap(), CloseReason::SlowConsumer);
        assert_eq!(wb.await.unwrap(), CloseReason::SlowConsumer);
        // A waiter that starts after the kill returns at once.
        let mut c = outbox.subscribe_kill();
        assert_eq!(wait_killed(&mut c).await, CloseReason::SlowConsumer);
    }
}
