//! Process metrics as atomics, rendered in the Prometheus text exposition format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

use protocol::roomcast::codes::AuthReason;

/// Counters and gauges of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open Engine.IO connections.
    pub connections: AtomicI64,
    /// Sockets connected to the profile namespace (authenticated).
    pub sockets_connected: AtomicI64,
    /// Rooms with at least one member.
    pub rooms: AtomicI64,
    /// Events accepted by `POST /v1/publish`.
    pub events_published: AtomicU64,
    /// Event frames queued to sockets.
    pub events_delivered: AtomicU64,
    /// Sockets dropped because their outbound queue was full.
    pub slow_consumers_dropped: AtomicU64,
    /// Auth failures by reason: missing_token, token_expired, invalid_token, invalid_claims.
    pub auth_failures: [AtomicU64; 4],
    /// Sockets disconnected at token expiry.
    pub token_expiries: AtomicU64,
    /// Publish requests by HTTP status (see [`PUBLISH_STATUSES`]).
    pub publish_requests: [AtomicU64; 10],
    /// Connections closed because of malformed input.
    pub protocol_errors: AtomicU64,
    /// Engine.IO sessions without a connected namespace.
    pub pending_sessions: AtomicI64,
    /// Handshakes refused at the pending-session caps: global, per source.
    pub handshakes_refused: [AtomicU64; 2],
    /// Request bodies cut for missing their deadline or minimum rate (408).
    pub body_timeouts: AtomicU64,
    /// Cookie-authenticable requests refused for their Origin (403).
    pub origin_refused: AtomicU64,
    /// Connections closed after too many failed CONNECTs.
    pub connect_failure_closes: AtomicU64,
    /// Polling sessions closed because no request followed their handshake.
    pub abandoned_sessions: AtomicU64,
    /// Redis fan-out is configured (the `roomcast_redis_*` families are rendered).
    pub redis_enabled: AtomicBool,
    /// 1 while both Redis connections (append and read) are up.
    pub redis_up: AtomicI64,
    /// Redis reconnections (append or read connection) after a loss.
    pub redis_reconnects: AtomicU64,
    /// Entries this instance appended that its reader has not read yet.
    pub redis_read_lag_events: AtomicI64,
    /// Age of the last entry read when it was read (ms, Redis time vs local time).
    pub redis_read_lag_ms: AtomicI64,
    /// Time since this instance last read back its own delivery probe (ms, -1: never).
    pub redis_probe_age_ms: AtomicI64,
    /// Times the reader found entries trimmed before it read them.
    pub redis_gaps: AtomicU64,
    /// Entries lost in those gaps.
    pub redis_gap_events: AtomicU64,
    /// Times the stream's sequence went backwards (Redis lost its data).
    pub redis_resets: AtomicU64,
}

#[allow(unreachable_patterns)]
fn reason_index(r: AuthReason) -> usize {
    match r {
        AuthReason::MissingToken => 0,
        AuthReason::TokenExpired => 1,
        AuthReason::InvalidToken => 2,
        AuthReason::InvalidClaims => 3,
        _ => 2,
    }
}

/// The statuses `/v1/publish` answers with, in the order of `publish_requests`.
pub const PUBLISH_STATUSES: [u16; 10] = [202, 400, 401, 403, 404, 405, 413, 415, 500, 503];

const REASONS: [&str; 4] = [
    "missing_token",
    "token_expired",
    "invalid_token",
    "invalid_claims",
];

impl Metrics {
    /// Counts one handshake refused at a pending-session cap.
    pub fn handshake_refused(&self, full: crate::limits::PendingFull) {
        let i = match full {
            crate::limits::PendingFull::Global => 0,
            crate::limits::PendingFull::PerSource => 1,
        };
        self.handshakes_refused[i].fetch_add(1, Relaxed);
    }

    /// Counts one auth failure.
    pub fn auth_failure(&self, reason: AuthReason) {
        if let Some(c) = self.auth_failures.get(reason_index(reason)) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Counts one publish request answered with `status`.
    pub fn publish_request(&self, status: u16) {
        let i = PUBLISH_STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(PUBLISH_STATUSES.len() - 2);
        if let Some(c) = self.publish_requests.get(i) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Renders the Prometheus text format.
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, v: i64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            "roomcast_connections",
            "Open Engine.IO connections.",
            self.connections.load(Relaxed),
        );
        gauge(
            "roomcast_sockets_connected",
            "Sockets connected to the profile namespace.",
            self.sockets_connected.load(Relaxed),
        );
        gauge(
            "roomcast_rooms",
            "Rooms with at least one member.",
            self.rooms.load(Relaxed),
        );
        gauge(
            "roomcast_pending_sessions",
            "Engine.IO sessions without a connected namespace.",
            self.pending_sessions.load(Relaxed),
        );
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            "roomcast_events_published_total",
            "Events accepted by POST /v1/publish.",
            self.events_published.load(Relaxed),
        );
        counter(
            "roomcast_events_delivered_total",
            "Event frames queued to sockets.",
            self.events_delivered.load(Relaxed),
        );
        counter(
            "roomcast_slow_consumer_disconnects_total",
            "Sockets disconnected because their outbound queue was full.",
            self.slow_consumers_dropped.load(Relaxed),
        );
        counter(
            "roomcast_token_expiry_disconnects_total",
            "Sockets disconnected at token expiry.",
            self.token_expiries.load(Relaxed),
        );
        counter(
            "roomcast_protocol_errors_total",
            "Connections closed because of malformed input.",
            self.protocol_errors.load(Relaxed),
        );
        counter(
            "roomcast_http_body_timeouts_total",
            "Request bodies cut for missing their deadline or minimum data rate.",
            self.body_timeouts.load(Relaxed),
        );
        counter(
            "roomcast_origin_refused_total",
            "Cookie-authenticable requests refused for their Origin.",
            self.origin_refused.load(Relaxed),
        );
        counter(
            "roomcast_connect_failure_closes_total",
            "Connections closed after too many failed CONNECTs.",
            self.connect_failure_closes.load(Relaxed),
        );
        counter(
            "roomcast_abandoned_sessions_total",
            "Polling sessions closed because no request followed their handshake.",
            self.abandoned_sessions.load(Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP roomcast_handshakes_refused_total Handshakes refused at the caps on sessions without a namespace.\n# TYPE roomcast_handshakes_refused_total counter"
        );
        for (name, c) in ["global", "source"]
            .iter()
            .zip(self.handshakes_refused.iter())
        {
            let _ = writeln!(
                s,
                "roomcast_handshakes_refused_total{{cap=\"{name}\"}} {}",
                c.load(Relaxed)
            );
        }
        if self.redis_enabled.load(Relaxed) {
            self.render_redis(&mut s);
        }
        let _ = writeln!(
            s,
            "# HELP roomcast_auth_failures_total Failed namespace CONNECTs by reason.\n# TYPE roomcast_auth_failures_total counter"
        );
        for (name, c) in REASONS.iter().zip(self.auth_failures.iter()) {
            let _ = writeln!(
                s,
                "roomcast_auth_failures_total{{reason=\"{name}\"}} {}",
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP roomcast_publish_requests_total Publish requests by HTTP status.\n# TYPE roomcast_publish_requests_total counter"
        );
        for (status, c) in PUBLISH_STATUSES.iter().zip(self.publish_requests.iter()) {
            let _ = writeln!(
                s,
                "roomcast_publish_requests_total{{status=\"{status}\"}} {}",
                c.load(Relaxed)
            );
        }
        s
    }

    fn render_redis(&self, s: &mut String) {
        let gauges = [
            (
                "roomcast_redis_up",
                "1 while the Redis append and read connections are up.",
                self.redis_up.load(Relaxed),
            ),
            (
                "roomcast_redis_read_lag_events",
                "Entries appended by this instance and not yet read back.",
                self.redis_read_lag_events.load(Relaxed),
            ),
            (
                "roomcast_redis_read_lag_ms",
                "Age of the last stream entry when this instance read it (ms).",
                self.redis_read_lag_ms.load(Relaxed),
            ),
            (
                "roomcast_redis_probe_age_ms",
                "Time since this instance read back its own delivery probe (ms, -1: never).",
                self.redis_probe_age_ms.load(Relaxed),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let counters = [
            (
                "roomcast_redis_reconnects_total",
                "Redis reconnections after a lost connection.",
                self.redis_reconnects.load(Relaxed),
            ),
            (
                "roomcast_redis_gaps_total",
                "Times entries were trimmed before this instance read them.",
                self.redis_gaps.load(Relaxed),
            ),
            (
                "roomcast_redis_gap_events_total",
                "Entries lost in gaps.",
                self.redis_gap_events.load(Relaxed),
            ),
            (
                "roomcast_redis_resets_total",
                "Times the stream sequence went backwards (Redis lost its data).",
                self.redis_resets.load(Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::default();
        m.auth_failure(AuthReason::TokenExpired);
        m.events_published.fetch_add(3, Relaxed);
        m.publish_request(413);
        let text = m.render();
        assert!(text.contains("roomcast_auth_failures_total{reason=\"token_expired\"} 1"));
        assert!(text.contains("roomcast_events_published_total 3"));
        assert!(text.contains("# TYPE roomcast_connections gauge"));
        assert!(text.contains("roomcast_publish_requests_total{status=\"413\"} 1"));
        assert!(text.contains("# TYPE roomcast_slow_consumer_disconnects_total counter"));
        assert!(text.contains("# TYPE roomcast_sockets_connected gauge"));
        assert!(!text.contains("roomcast_redis_up"));
        m.redis_enabled.store(true, Relaxed);
        m.redis_gap_events.fetch_add(4, Relaxed);
        let text = m.render();
        assert!(text.contains("# TYPE roomcast_redis_up gauge\nroomcast_redis_up 0"));
        assert!(text.contains("roomcast_redis_gap_events_total 4"));
        assert!(text.contains("# TYPE roomcast_redis_probe_age_ms gauge"));
    }
}
