//! Limits against hostile clients, as settings and sans-io rules (time is a parameter):
//! the body-read deadline and minimum data rate, the caps on Engine.IO sessions that
//! have not connected a namespace (globally and per source address), the limit on failed
//! CONNECTs per connection, the Origin check of cookie-authenticated requests, and the
//! per-source rate limit of warn-level logs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The hostile-client limits of one server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request body (polling POST, publish) must be complete within this time.
    pub body_timeout: Duration,
    /// After [`Limits::body_grace`], a body must arrive at least this fast (bytes/s).
    pub body_min_rate: u64,
    /// Time before the minimum rate applies.
    pub body_grace: Duration,
    /// Engine.IO sessions without a connected namespace, in total.
    pub max_pending_sessions: usize,
    /// Engine.IO sessions without a connected namespace, per source address.
    pub max_pending_per_ip: usize,
    /// A polling session that makes no request within this time of its handshake is
    /// closed (abandoned handshakes do not wait for a full heartbeat).
    pub first_poll_timeout: Duration,
    /// Failed CONNECTs allowed on one connection; the last one's CONNECT_ERROR is
    /// followed by the close of the connection.
    pub max_connect_failures: u32,
    /// Warn-level records per source address per [`Limits::log_window`].
    pub log_burst: u32,
    /// The window of the warn-log limit.
    pub log_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_timeout: Duration::from_secs(10),
            body_min_rate: 1024,
            body_grace: Duration::from_secs(2),
            max_pending_sessions: 10_000,
            max_pending_per_ip: 256,
            first_poll_timeout: Duration::from_secs(10),
            max_connect_failures: 5,
            log_burst: 10,
            log_window: Duration::from_secs(10),
        }
    }
}

/// The flags of [`Limits`] (flattened into [`crate::Args`]).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Deadline for reading an HTTP request body (ms).
    #[arg(long, env = "ROOMCAST_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout: u64,
    /// Minimum HTTP body data rate after a 2 s grace (bytes/s; 0 disables).
    #[arg(long, env = "ROOMCAST_BODY_MIN_RATE", default_value_t = 1024)]
    pub body_min_rate: u64,
    /// Engine.IO sessions without a connected namespace, in total.
    #[arg(long, env = "ROOMCAST_MAX_PENDING_SESSIONS", default_value_t = 10_000)]
    pub max_pending_sessions: usize,
    /// Engine.IO sessions without a connected namespace, per source address.
    #[arg(long, env = "ROOMCAST_MAX_PENDING_PER_IP", default_value_t = 256)]
    pub max_pending_per_ip: usize,
    /// A polling session with no request within this time of its handshake is closed (ms).
    #[arg(long, env = "ROOMCAST_FIRST_POLL_TIMEOUT_MS", default_value_t = 10_000)]
    pub first_poll_timeout: u64,
    /// Failed CONNECTs allowed per connection before it is closed.
    #[arg(long, env = "ROOMCAST_MAX_CONNECT_FAILURES", default_value_t = 5)]
    pub max_connect_failures: u32,
}

impl LimitArgs {
    /// Validates the flags.
    pub fn into_limits(self) -> Result<Limits, String> {
        if self.body_timeout == 0 {
            return Err("ROOMCAST_BODY_TIMEOUT_MS must be positive".into());
        }
        if self.max_pending_sessions == 0 || self.max_pending_per_ip == 0 {
            return Err(
                "ROOMCAST_MAX_PENDING_SESSIONS and ROOMCAST_MAX_PENDING_PER_IP must be positive"
                    .into(),
            );
        }
        if self.max_connect_failures == 0 {
            return Err("ROOMCAST_MAX_CONNECT_FAILURES must be positive".into());
        }
        Ok(Limits {
            body_timeout: Duration::from_millis(self.body_timeout),
            body_min_rate: self.body_min_rate,
            max_pending_sessions: self.max_pending_sessions,
            max_pending_per_ip: self.max_pending_per_ip,
            first_poll_timeout: Duration::from_millis(self.first_poll_timeout.max(1)),
            max_connect_failures: self.max_connect_failures,
            ..Limits::default()
        })
    }
}

impl Limits {
    /// How long after the start of a body read, with `received` bytes so far, the read
    /// may wait for more: the earlier of the deadline and the moment the minimum rate
    /// would be missed.
    pub fn body_wait_until(&self, received: usize) -> Duration {
        if self.body_min_rate == 0 {
            return self.body_timeout;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.body_min_rate as f64);
        self.body_timeout.min(self.body_grace + earned)
    }
}

/// Why a handshake was refused by [`Pending::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingFull {
    /// The global cap.
    Global,
    /// The cap of the source address.
    PerSource,
}

/// Counts Engine.IO sessions that have not connected a namespace, in total and per
/// source address.
#[derive(Debug, Default)]
pub struct Pending {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl Pending {
    /// Takes a slot for `ip`, or says which cap is reached.
    pub fn admit(&mut self, ip: IpAddr, limits: &Limits) -> Result<(), PendingFull> {
        if self.total >= limits.max_pending_sessions {
            return Err(PendingFull::Global);
        }
        let n = self.by_ip.entry(ip).or_insert(0);
        if *n >= limits.max_pending_per_ip {
            return Err(PendingFull::PerSource);
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    /// Gives back a slot of `ip`.
    pub fn release(&mut self, ip: IpAddr) {
        if let Some(n) = self.by_ip.get_mut(&ip) {
            *n -= 1;
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }

    /// Slots in use.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// Whether a request that a cookie can authenticate comes from an allowed origin:
/// without cookie auth or without a Cookie header there is nothing to protect; a request
/// without `Origin` is not a browser's cross-site request; otherwise the origin must be
/// in the allowlist (`*` allows any).
pub fn origin_allowed(
    cookie_auth: bool,
    has_cookie: bool,
    origin: Option<&str>,
    allowlist: &[String],
) -> bool {
    if !cookie_auth || !has_cookie {
        return true;
    }
    match origin {
        None => true,
        Some(o) => allowlist.iter().any(|a| a == "*" || a == o),
    }
}

/// Rate limit of warn-level records per source address: `burst` per window; the number
/// suppressed is reported with the next record let through.
#[derive(Debug, Default)]
pub struct LogLimiter {
    by_ip: HashMap<IpAddr, (Instant, u32, u64)>,
}

/// At most this many sources are tracked; beyond it the table is cleared.
const LOG_SOURCES: usize = 4096;

impl LogLimiter {
    /// `Some(suppressed since the last record)` when a record from `ip` may be written
    /// at `now`, `None` when it is suppressed.
    pub fn allow(&mut self, ip: IpAddr, now: Instant, limits: &Limits) -> Option<u64> {
        if self.by_ip.len() >= LOG_SOURCES && !self.by_ip.contains_key(&ip) {
            self.by_ip.clear();
        }
        let e = self.by_ip.entry(ip).or_insert((now, 0, 0));
        if now.duration_since(e.0) >= limits.log_window {
            *e = (now, 0, e.2);
        }
        if e.1 < limits.log_burst {
            e.1 += 1;
            let suppressed = e.2;
            e.2 = 0;
            Some(suppressed)
        } else {
            e.2 += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lim_14_body_wait_follows_the_rate_and_the_deadline() {
        let l = Limits::default();
        assert_eq!(l.body_wait_until(0), Duration::from_secs(2));
        assert_eq!(l.body_wait_until(1024), Duration::from_secs(3));
        assert_eq!(l.body_wait_until(1_000_000), Duration::from_secs(10));
        let no_rate = Limits {
            body_min_rate: 0,
            ..Limits::default()
        };
        assert_eq!(no_rate.body_wait_until(0), Duration::from_secs(10));
    }

    #[test]
    fn lim_17_pending_sessions_are_capped_globally_and_per_source() {
        let l = Limits {
            max_pending_sessions: 3,
            max_pending_per_ip: 2,
            ..Limits::default()
        };
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        let mut p = Pending::default();
        assert_eq!(p.admit(a, &l), Ok(()));
        assert_eq!(p.admit(a, &l), Ok(()));
        assert_eq!(p.admit(a, &l), Err(PendingFull::PerSource));
        assert_eq!(p.admit(b, &l), Ok(()));
        assert_eq!(p.admit(c, &l), Err(PendingFull::Global));
        p.release(a);
        assert_eq!(p.admit(c, &l), Ok(()));
        assert_eq!(p.total(), 3);
        p.release(c);
        p.release(c);
        assert_eq!(p.total(), 2);
    }

    #[test]
    fn auth_36_origin_is_checked_only_when_a_cookie_can_authenticate() {
        let allow = vec!["https://app.example".to_owned()];
        let evil = Some("https://evil.example");
        assert!(!origin_allowed(true, true, evil, &allow));
        assert!(origin_allowed(
            true,
            true,
            Some("https://app.example"),
            &allow
        ));
        assert!(origin_allowed(true, true, None, &allow));
        assert!(origin_allowed(false, true, evil, &allow));
        assert!(origin_allowed(true, false, evil, &allow));
        assert!(!origin_allowed(true, true, evil, &[]));
        assert!(origin_allowed(true, true, evil, &["*".to_owned()]));
    }

    #[test]
    fn lim_19_warn_logs_are_limited_per_source() {
        let l = Limits {
            log_burst: 2,
            ..Limits::default()
        };
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t = Instant::now();
        let mut g = LogLimiter::default();
        assert_eq!(g.allow(ip, t, &l), Some(0));
        assert_eq!(g.allow(ip, t, &l), Some(0));
        assert_eq!(g.allow(ip, t, &l), None);
        assert_eq!(g.allow(ip, t, &l), None);
        assert_eq!(g.allow(other, t, &l), Some(0));
        assert_eq!(g.allow(ip, t + l.log_window, &l), Some(2));
    }
}
