//! The fan-out hub: room name → set of socket outboxes.
//!
//! A published event is encoded once into one shared [`Frame`] whose clones share the
//! bytes; [`Hub::publish`] pushes a clone into each member's bounded queue with
//! `try_send` under a shard's read lock (no socket I/O happens under any lock). A member
//! whose queue is full is disconnected as a slow consumer and counted: a delivery is
//! never dropped silently. Membership is a set, so a socket gets one copy per event.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};

use crate::metrics::Metrics;
pub use crate::outbox::{
    wait_killed, CloseReason, Empty, Frame, KillSignal, Outbox, OutboxRx, QueueFull,
};

type Members = HashMap<u64, Arc<Outbox>>;
type Shard = RwLock<HashMap<Box<str>, Members>>;

/// Room registry and fan-out.
#[derive(Debug)]
pub struct Hub {
    shards: Box<[Shard]>,
    hasher: RandomState,
    metrics: Arc<Metrics>,
}

impl Hub {
    /// A hub with `shards` lock shards.
    pub fn new(shards: usize, metrics: Arc<Metrics>) -> Hub {
        let shards = (0..shards.max(1))
            .map(|_| RwLock::new(HashMap::new()))
            .collect();
        Hub {
            shards,
            hasher: RandomState::new(),
            metrics,
        }
    }

    fn shard(&self, room: &str) -> &Shard {
        let h = self.hasher.hash_one(room) as usize;
        // `shards` is never empty (see `new`), so the modulo index is in range.
        &self.shards[h % self.shards.len()]
    }

    /// Adds a socket to a room (idempotent).
    pub fn join(&self, room: &str, outbox: &Arc<Outbox>) {
        let mut map = self.shard(room).write().unwrap_or_else(|e| e.into_inner());
        let members = match map.get_mut(room) {
            Some(m) => m,
            None => {
                self.metrics.rooms.fetch_add(1, Relaxed);
                map.entry(room.into()).or_default()
            }
        };
        members.insert(outbox.id, Arc::clone(outbox));
    }

    /// Removes a socket from a room (idempotent); empty rooms are dropped.
    pub fn leave(&self, room: &str, id: u64) {
        let mut map = self.shard(room).write().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = map.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                map.remove(room);
                self.metrics.rooms.fetch_sub(1, Relaxed);
            }
        }
    }

    /// Number of members of a room.
    pub fn members(&self, room: &str) -> usize {
        let map = self.shard(room).read().unwrap_or_else(|e| e.into_inner());
        map.get(room).map_or(0, HashMap::len)
    }

    /// Pushes one shared frame to every member of `room`; returns how many got it.
    /// Members whose queue is full are killed as slow consumers and counted.
    pub fn publish(&self, room: &str, frame: &Frame) -> usize {
        let mut delivered = 0usize;
        let mut slow = 0u64;
        {
            let map = self.shard(room).read().unwrap_or_else(|e| e.into_inner());
            if let Some(members) = map.get(room) {
                for outbox in members.values() {
                    if outbox.killed().is_some() {
                        continue;
                    }
                    match outbox.push(frame.clone()) {
                        Ok(()) => delivered += 1,
                        Err(QueueFull) => slow += 1,
                    }
                }
            }
        }
        self.metrics
            .events_delivered
            .fetch_add(delivered as u64, Relaxed);
        if slow > 0 {
            self.metrics.slow_consumers_dropped.fetch_add(slow, Relaxed);
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_is_a_set_and_publish_reaches_each_member_once() {
        let m = Arc::new(Metrics::default());
        let hub = Hub::new(4, m.clone());
        let (a, mut ra) = Outbox::new(1, 8);
        let (b, mut rb) = Outbox::new(2, 8);
        hub.join("org:x", &a);
        hub.join("org:x", &a);
        hub.join("org:x", &b);
        assert_eq!(hub.members("org:x"), 2);
        assert_eq!(m.rooms.load(Relaxed), 1);
        let f = Frame::Text("42[\"a:b\",1]".into());
        assert_eq!(hub.publish("org:x", &f), 2);
        assert!(ra.try_recv().is_ok());
        assert!(ra.try_recv().is_err());
        assert!(rb.try_recv().is_ok());
        hub.leave("org:x", 1);
        hub.leave("org:x", 2);
        assert_eq!(m.rooms.load(Relaxed), 0);
        assert_eq!(hub.publish("org:x", &f), 0);
    }

    #[test]
    fn a_full_queue_kills_the_slow_consumer_and_counts_it() {
        let m = Arc::new(Metrics::default());
        let hub = Hub::new(1, m.clone());
        let (a, _ra) = Outbox::new(1, 1);
        hub.join("r", &a);
        let f = Frame::Text("4x".into());
        assert_eq!(hub.publish("r", &f), 1);
        assert_eq!(hub.publish("r", &f), 0);
        assert_eq!(a.killed(), Some(CloseReason::SlowConsumer));
        assert_eq!(m.slow_consumers_dropped.load(Relaxed), 1);
        // A killed member is skipped, not counted twice.
        assert_eq!(hub.publish("r", &f), 0);
        assert_eq!(m.slow_consumers_dropped.load(Relaxed), 1);
    }
}
