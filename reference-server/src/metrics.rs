//! Process metrics as atomics, rendered in the Prometheus text exposition format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

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
    }
}
