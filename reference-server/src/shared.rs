//! The state every connection of one server shares ([`Shared`]: configuration, the
//! hub and fan-out, metrics, the Engine.IO session table, the pending-session caps) and
//! the [`PendingSlot`] a session holds until it connects a namespace.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::auth::Verifier;
use crate::config::Config;
use crate::engine_session::EngineSession;
use crate::fanout::Fanout;
use crate::hub::Hub;
use crate::limits::{LogLimiter, Pending, PendingFull};
use crate::metrics::Metrics;

/// State shared by every connection of one server.
pub(crate) struct Shared {
    pub config: Config,
    pub verifier: Option<Verifier>,
    pub hub: Arc<Hub>,
    pub fanout: Fanout,
    pub metrics: Arc<Metrics>,
    pub served: Vec<String>,
    pub shutdown: watch::Sender<bool>,
    pub(crate) sessions: Mutex<HashMap<Arc<str>, Arc<EngineSession>>>,
    pub(crate) next_id: AtomicU64,
    pub(crate) pending: Mutex<Pending>,
    pub(crate) log_limiter: Mutex<LogLimiter>,
    /// WebSocket upgrades between the 3probe and the `5` (a shutdown waits for them).
    pub(crate) upgrades: Arc<AtomicU64>,
}

/// Counts one upgrade in [`Shared::upgrades`] until dropped.
pub(crate) struct UpgradeGuard(Arc<AtomicU64>);

impl Drop for UpgradeGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// One Engine.IO session without a connected namespace, counted against the caps of
/// [`crate::limits::Limits`] until it connects a namespace or ends (dropped).
pub(crate) struct PendingSlot {
    pub(crate) shared: Option<Arc<Shared>>,
    pub(crate) ip: IpAddr,
}

impl PendingSlot {
    /// The source address the slot counts against.
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.lock_pending().release(self.ip);
            shared.metrics.pending_sessions.fetch_sub(1, Relaxed);
        }
    }
}

impl Shared {
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    pub(crate) fn register(&self, s: &Arc<EngineSession>) {
        self.metrics.connections.fetch_add(1, Relaxed);
        self.lock_sessions()
            .insert(Arc::clone(&s.sid), Arc::clone(s));
    }

    pub(crate) fn unregister(&self, sid: &str) {
        if self.lock_sessions().remove(sid).is_some() {
            self.metrics.connections.fetch_sub(1, Relaxed);
        }
    }

    pub(crate) fn lookup(&self, sid: &str) -> Option<Arc<EngineSession>> {
        self.lock_sessions().get(sid).cloned()
    }

    pub(crate) fn session_count(&self) -> usize {
        self.lock_sessions().len()
    }

    pub(crate) fn lock_sessions(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<EngineSession>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an upgrade between the 3probe and the `5` until the guard is dropped.
    pub(crate) fn upgrade_started(&self) -> UpgradeGuard {
        self.upgrades.fetch_add(1, Relaxed);
        UpgradeGuard(Arc::clone(&self.upgrades))
    }

    /// Sessions plus upgrades in flight: what a graceful shutdown waits for.
    pub(crate) fn busy(&self) -> bool {
        self.session_count() > 0 || self.upgrades.load(Relaxed) > 0
    }

    pub(crate) fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub(crate) fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a pending-session slot for `ip`, or counts the refusal.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<PendingSlot, PendingFull> {
        match self.lock_pending().admit(ip, &self.config.limits) {
            Ok(()) => {
                self.metrics.pending_sessions.fetch_add(1, Relaxed);
                Ok(PendingSlot {
                    shared: Some(Arc::clone(self)),
                    ip,
                })
            }
            Err(full) => {
                self.metrics.handshake_refused(full);
                Err(full)
            }
        }
    }

    /// Whether a warn-level record about `ip` may be written now: `Some(suppressed
    /// since the last one)`, or `None` (rate-limited).
    pub(crate) fn warn_allowed(&self, ip: IpAddr) -> Option<u64> {
        self.log_limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(ip, std::time::Instant::now(), &self.config.limits)
    }

    pub(crate) fn shutting_down_public(&self) -> bool {
        self.shutting_down()
    }
}
