//! The fan-out seam: where a published event goes between the publish API and the
//! hub. Two backends behind one small enum:
//!
//! - [`Fanout::Memory`]: one instance; the event's frame goes straight to the local
//!   [`Hub`] (FAN-5).
//! - [`Fanout::Redis`]: a cluster; the frame is appended to one Redis stream and every
//!   instance, this one included, serves its local sockets from its own ordered read of
//!   that stream ([`crate::fanout_redis`]).
//!
//! The event is encoded once per cluster: the Socket.IO frame text (`42["type",{..}]`)
//! is what crosses Redis, and each instance pushes one shared copy of it to its local
//! members. Membership never leaves the instance; the hub and the outboxes know nothing
//! of Redis.

use std::sync::Arc;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::config::Config;
use crate::fanout_redis::RedisFanout;
use crate::hub::{Frame, Hub};
use crate::metrics::Metrics;

/// This instance cannot hand the event to fan-out now (PUB-24: answer 503, never 202).
#[derive(Debug, thiserror::Error)]
#[error("fan-out unavailable: {0}")]
pub struct Unavailable(pub &'static str);

/// The fan-out backend of one server.
#[derive(Debug)]
pub(crate) enum Fanout {
    /// Single instance, in-memory.
    Memory(Arc<Hub>),
    /// Several instances sharing one Redis stream.
    Redis(RedisFanout),
}

impl Fanout {
    /// The backend `config` asks for. With Redis, the background tasks start here (a
    /// Redis that is down is not an error: the instance starts not ready).
    pub(crate) fn start(
        config: &Config,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
    ) -> Result<Fanout, redis::RedisError> {
        match (&config.redis, config.compliance) {
            (Some(rc), false) => Ok(Fanout::Redis(RedisFanout::start(rc, hub, metrics)?)),
            _ => Ok(Fanout::Memory(hub)),
        }
    }

    /// Hands one encoded event to fan-out. `Ok` means it will be delivered to every
    /// member of `room` on every instance that stays up (with Redis: the stream append
    /// was acknowledged); an event answered with an error is never delivered.
    pub(crate) async fn publish(
        &self,
        room: &str,
        event_id: &str,
        frame_text: String,
    ) -> Result<(), Unavailable> {
        match self {
            Fanout::Memory(hub) => {
                hub.publish(room, &Frame::Text(Utf8Bytes::from(frame_text)));
                Ok(())
            }
            Fanout::Redis(r) => r.publish(room, event_id, frame_text).await,
        }
    }

    /// Whether this instance can deliver now (`/readyz`).
    pub(crate) fn ready(&self) -> bool {
        match self {
            Fanout::Memory(_) => true,
            Fanout::Redis(r) => r.ready(),
        }
    }

    /// Refreshes the gauges that are computed on demand (before `/metrics` renders).
    pub(crate) fn observe(&self) {
        if let Fanout::Redis(r) = self {
            r.observe();
        }
    }

    /// Stops the background tasks (at the end of a graceful shutdown).
    pub(crate) fn stop(&self) {
        if let Fanout::Redis(r) = self {
            r.stop();
        }
    }
}
