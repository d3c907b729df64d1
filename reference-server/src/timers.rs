//! The timers of one connection as a sans-io state machine, quinn-proto style: the
//! heartbeat (WIRE-4 ping interval, WIRE-5 ping timeout), the connect timeout (AUTH-35),
//! the first-poll deadline (LIM-18) and each namespace's token expiry (LIFE-1, LIFE-2,
//! LIFE-4).
//!
//! Time is always passed in. The driver sleeps until [`ConnectionTimers::poll_timeout`],
//! calls [`ConnectionTimers::handle_timeout`] with the current instant, and acts on each
//! [`TimerEvent`] that [`ConnectionTimers::poll_event`] hands out; inputs that move a
//! timer (a pong, a CONNECT, a refresh, a namespace leaving) are methods too. Its tests
//! run on instants they construct: nothing here sleeps or reads a clock.

use std::time::{Duration, Instant};

/// How long each timer of a connection runs.
#[derive(Debug, Clone, Copy)]
pub struct TimerSettings {
    /// Engine.IO `pingInterval`: from the open (or the last pong) to the next ping.
    pub ping_interval: Duration,
    /// Engine.IO `pingTimeout`: from a ping to the pong it is owed.
    pub ping_timeout: Duration,
    /// Socket.IO `connectTimeout`, or `None` when no namespace is expected (raw
    /// Engine.IO sessions).
    pub connect_timeout: Option<Duration>,
    /// The first-poll window of a polling session (LIM-18), or `None` (WebSocket).
    pub first_poll_timeout: Option<Duration>,
}

/// What a timer that ran out asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerEvent {
    /// The first-poll window passed (LIM-18): end the session if no request came.
    FirstPollDeadline,
    /// No namespace connected within `connectTimeout` (AUTH-35): close.
    ConnectTimeout,
    /// No pong within `pingTimeout` of the ping (WIRE-5): close.
    PingTimeout,
    /// Send an Engine.IO ping now (WIRE-4).
    SendPing,
    /// The tokens of these namespaces expired (LIFE-1, LIFE-2).
    TokenExpired(Vec<String>),
}

/// The timers of one Engine.IO connection.
#[derive(Debug)]
pub struct ConnectionTimers {
    ping_interval: Duration,
    ping_timeout: Duration,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    connect_deadline: Option<Instant>,
    first_poll_deadline: Option<Instant>,
    /// `(namespace, exp + leeway as an instant)` of each connected socket with a token.
    token_expiries: Vec<(Box<str>, Instant)>,
    /// The events fired and not yet polled: one bit per unit event (`FIRED_*`), and
    /// the namespaces whose tokens expired. (No queue: an idle connection keeps no
    /// allocation for its timers.)
    fired: u8,
    expired: Vec<String>,
}

const FIRED_FIRST_POLL: u8 = 1;
const FIRED_CONNECT_TIMEOUT: u8 = 2;
const FIRED_PING_TIMEOUT: u8 = 4;
const FIRED_SEND_PING: u8 = 8;

impl ConnectionTimers {
    /// The timers of a connection opened at `opened`.
    pub fn new(opened: Instant, settings: TimerSettings) -> ConnectionTimers {
        ConnectionTimers {
            ping_interval: settings.ping_interval,
            ping_timeout: settings.ping_timeout,
            next_ping: Some(opened + settings.ping_interval),
            pong_deadline: None,
            connect_deadline: settings.connect_timeout.map(|t| opened + t),
            first_poll_deadline: settings.first_poll_timeout.map(|t| opened + t),
            token_expiries: Vec::new(),
            fired: 0,
            expired: Vec::new(),
        }
    }

    /// The earliest instant at which [`Self::handle_timeout`] has something to do, or
    /// `None` when no timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timers = [
            self.next_ping,
            self.pong_deadline,
            self.connect_deadline,
            self.first_poll_deadline,
        ];
        let expiries = self.token_expiries.iter().map(|(_, at)| Some(*at));
        timers.into_iter().chain(expiries).flatten().min()
    }

    /// Runs every timer due at `now`, firing its [`TimerEvent`] for
    /// [`Self::poll_event`]. A timer that ran out is disarmed, so [`Self::poll_timeout`] moves on.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| now >= t);
        if due(self.first_poll_deadline) {
            self.first_poll_deadline = None;
            self.fired |= FIRED_FIRST_POLL;
        }
        if due(self.connect_deadline) {
            self.connect_deadline = None;
            self.fired |= FIRED_CONNECT_TIMEOUT;
        }
        if due(self.pong_deadline) {
            self.pong_deadline = None;
            self.fired |= FIRED_PING_TIMEOUT;
        }
        if let Some(scheduled) = self.next_ping.filter(|t| now >= *t) {
            self.next_ping = None;
            // Counted from when the ping was due, so timer lateness does not add up.
            self.pong_deadline = Some(scheduled + self.ping_timeout);
            self.fired |= FIRED_SEND_PING;
        }
        let expired = &mut self.expired;
        self.token_expiries.retain(|(nsp, at)| {
            let due = now >= *at;
            if due {
                expired.push(nsp.to_string());
            }
            !due
        });
    }

    /// The next event that [`Self::handle_timeout`] fired, in the order of the
    /// [`TimerEvent`] variants; `None` when all are handed out.
    pub fn poll_event(&mut self) -> Option<TimerEvent> {
        let unit = [
            (FIRED_FIRST_POLL, TimerEvent::FirstPollDeadline),
            (FIRED_CONNECT_TIMEOUT, TimerEvent::ConnectTimeout),
            (FIRED_PING_TIMEOUT, TimerEvent::PingTimeout),
            (FIRED_SEND_PING, TimerEvent::SendPing),
        ];
        for (bit, event) in unit {
            if self.fired & bit != 0 {
                self.fired &= !bit;
                return Some(event);
            }
        }
        (!self.expired.is_empty())
            .then(|| TimerEvent::TokenExpired(std::mem::take(&mut self.expired)))
    }

    /// The client's pong arrived at `now`: the ping timeout stops and the next ping is
    /// due one interval later (WIRE-4). A pong nobody asked for changes nothing.
    pub fn on_pong(&mut self, now: Instant) {
        if self.pong_deadline.take().is_some() {
            self.next_ping = Some(now + self.ping_interval);
        }
    }

    /// A namespace connected: the connect timeout (AUTH-35) and the first-poll window
    /// (LIM-18) no longer apply.
    pub fn on_connected(&mut self) {
        self.connect_deadline = None;
        self.first_poll_deadline = None;
    }

    /// Sets (on CONNECT) or replaces (on a refresh, LIFE-4) the instant at which the
    /// token of `nsp` expires.
    pub fn set_token_expiry(&mut self, nsp: &str, at: Instant) {
        match self.token_expiries.iter_mut().find(|(n, _)| **n == *nsp) {
            Some((_, old)) => *old = at,
            None => {
                // Most connections hold one namespace: no room for four.
                self.token_expiries.reserve_exact(1);
                self.token_expiries.push((nsp.into(), at));
            }
        }
    }

    /// The socket of `nsp` left: its token no longer expires.
    pub fn clear_token_expiry(&mut self, nsp: &str) {
        self.token_expiries.retain(|(n, _)| **n != *nsp);
    }
}

/// The instant at which a token's `exp + leeway` (seconds since the epoch) passes, given
/// the same moment read from both clocks: `now` (monotonic) and `now_ms` (milliseconds
/// since the epoch). A deadline already past is `now`.
pub fn token_deadline(exp: i64, leeway: i64, now: Instant, now_ms: i64) -> Instant {
    let deadline_ms = exp.saturating_add(leeway).saturating_mul(1000);
    let delta = deadline_ms.saturating_sub(now_ms).max(0);
    now + Duration::from_millis(u64::try_from(delta).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn settings() -> TimerSettings {
        TimerSettings {
            ping_interval: 300 * MS,
            ping_timeout: 200 * MS,
            connect_timeout: Some(1000 * MS),
            first_poll_timeout: None,
        }
    }

    /// Settings whose heartbeat stays out of the way of the other timers.
    fn quiet() -> TimerSettings {
        TimerSettings {
            ping_interval: Duration::from_secs(3600),
            ..settings()
        }
    }

    /// The events that `handle_timeout(now)` queues.
    fn fire(t: &mut ConnectionTimers, now: Instant) -> Vec<TimerEvent> {
        t.handle_timeout(now);
        std::iter::from_fn(|| t.poll_event()).collect()
    }

    fn t0() -> Instant {
        // Any instant will do: the timers only compare instants they are given.
        Instant::now()
    }

    /// Timers whose connection has connected a namespace, and the instant it opened.
    fn connected(settings: TimerSettings) -> (Instant, ConnectionTimers) {
        let t0 = t0();
        let mut t = ConnectionTimers::new(t0, settings);
        t.on_connected();
        (t0, t)
    }

    #[test]
    fn wire_4_a_ping_is_due_one_interval_after_the_open() {
        let t0 = t0();
        let mut t = ConnectionTimers::new(t0, settings());
        assert_eq!(t.poll_timeout(), Some(t0 + 300 * MS));
        assert_eq!(fire(&mut t, t0 + 299 * MS), []);
        assert_eq!(fire(&mut t, t0 + 300 * MS), [TimerEvent::SendPing]);
        // The ping is sent once; now the pong is awaited.
        assert_eq!(fire(&mut t, t0 + 300 * MS), []);
        assert_eq!(t.poll_timeout(), Some(t0 + 500 * MS));
    }

    #[test]
    fn wire_4_a_pong_schedules_the_next_ping_one_interval_later() {
        let (t0, mut t) = connected(settings());
        assert_eq!(fire(&mut t, t0 + 300 * MS), [TimerEvent::SendPing]);
        t.on_pong(t0 + 350 * MS);
        assert_eq!(t.poll_timeout(), Some(t0 + 650 * MS));
        // A client that answers every ping stays connected indefinitely.
        let mut now = t0 + 350 * MS;
        for _ in 0..100 {
            now += 300 * MS;
            assert_eq!(fire(&mut t, now), [TimerEvent::SendPing]);
            now += 199 * MS;
            assert_eq!(fire(&mut t, now), []);
            t.on_pong(now);
        }
    }

    #[test]
    fn wire_4_an_unasked_pong_changes_nothing() {
        let t0 = t0();
        let mut t = ConnectionTimers::new(t0, settings());
        t.on_pong(t0 + 100 * MS);
        assert_eq!(t.poll_timeout(), Some(t0 + 300 * MS));
    }

    #[test]
    fn wire_5_no_pong_within_the_timeout_closes() {
        let (t0, mut t) = connected(settings());
        assert_eq!(fire(&mut t, t0 + 300 * MS), [TimerEvent::SendPing]);
        assert_eq!(fire(&mut t, t0 + 499 * MS), []);
        assert_eq!(fire(&mut t, t0 + 500 * MS), [TimerEvent::PingTimeout]);
        // Nothing runs after the timeout.
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn wire_5_a_pong_cancels_the_ping_timeout() {
        let (t0, mut t) = connected(settings());
        assert_eq!(fire(&mut t, t0 + 300 * MS), [TimerEvent::SendPing]);
        t.on_pong(t0 + 490 * MS);
        assert_eq!(fire(&mut t, t0 + 500 * MS), []);
        assert_eq!(fire(&mut t, t0 + 789 * MS), []);
        assert_eq!(fire(&mut t, t0 + 790 * MS), [TimerEvent::SendPing]);
    }

    #[test]
    fn wire_5_the_timeout_counts_from_when_the_ping_was_due() {
        let (t0, mut t) = connected(settings());
        // The driver woke 150 ms late: the pong is still owed 200 ms after the ping was
        // due, not after the late wake-up.
        assert_eq!(fire(&mut t, t0 + 450 * MS), [TimerEvent::SendPing]);
        assert_eq!(t.poll_timeout(), Some(t0 + 500 * MS));
        let (t0, mut late) = connected(settings());
        assert_eq!(fire(&mut late, t0 + 300 * MS), [TimerEvent::SendPing]);
        assert_eq!(fire(&mut late, t0 + 900 * MS), [TimerEvent::PingTimeout]);
    }

    #[test]
    fn auth_35_no_connect_within_connect_timeout_closes() {
        let t0 = t0();
        let mut t = ConnectionTimers::new(t0, settings());
        let mut now = t0;
        // The heartbeat keeps running, but a connection that never connects a
        // namespace is closed at connectTimeout.
        while now < t0 + 900 * MS {
            now += 100 * MS;
            let events = fire(&mut t, now);
            assert!(!events.contains(&TimerEvent::ConnectTimeout), "{events:?}");
            t.on_pong(now);
        }
        assert_eq!(fire(&mut t, t0 + 999 * MS), []);
        assert_eq!(fire(&mut t, t0 + 1000 * MS), [TimerEvent::ConnectTimeout]);
    }

    #[test]
    fn auth_35_a_connect_cancels_the_connect_timeout() {
        let (t0, mut t) = connected(settings());
        assert_eq!(fire(&mut t, t0 + 300 * MS), [TimerEvent::SendPing]);
        t.on_pong(t0 + 300 * MS);
        assert_eq!(fire(&mut t, t0 + 1000 * MS), [TimerEvent::SendPing]);
        // A raw Engine.IO session has no connect timeout at all.
        let raw = TimerSettings {
            connect_timeout: None,
            ..settings()
        };
        let mut t = ConnectionTimers::new(t0, raw);
        assert_eq!(fire(&mut t, t0 + 300 * MS), [TimerEvent::SendPing]);
        t.on_pong(t0 + 300 * MS);
        assert_eq!(fire(&mut t, t0 + 599 * MS), []);
    }

    #[test]
    fn auth_35_a_late_wake_up_hands_out_every_due_timer_in_order() {
        let t0 = t0();
        let all = TimerSettings {
            first_poll_timeout: Some(100 * MS),
            ..settings()
        };
        let mut t = ConnectionTimers::new(t0, all);
        t.set_token_expiry("/", t0 + 50 * MS);
        assert_eq!(
            fire(&mut t, t0 + 1000 * MS),
            [
                TimerEvent::FirstPollDeadline,
                TimerEvent::ConnectTimeout,
                TimerEvent::SendPing,
                TimerEvent::TokenExpired(vec!["/".into()]),
            ]
        );
        assert_eq!(t.poll_event(), None);
    }

    #[test]
    fn lim_18_the_first_poll_window_runs_until_a_namespace_connects() {
        let t0 = t0();
        let polling = TimerSettings {
            first_poll_timeout: Some(100 * MS),
            ..settings()
        };
        let mut t = ConnectionTimers::new(t0, polling);
        assert_eq!(t.poll_timeout(), Some(t0 + 100 * MS));
        assert_eq!(fire(&mut t, t0 + 100 * MS), [TimerEvent::FirstPollDeadline]);
        assert_eq!(t.poll_timeout(), Some(t0 + 300 * MS));
        let mut t = ConnectionTimers::new(t0, polling);
        t.on_connected();
        assert_eq!(t.poll_timeout(), Some(t0 + 300 * MS));
    }

    #[test]
    fn life_1_the_token_expires_at_its_deadline() {
        let (t0, mut t) = connected(quiet());
        t.set_token_expiry("/", t0 + 250 * MS);
        assert_eq!(t.poll_timeout(), Some(t0 + 250 * MS));
        assert_eq!(fire(&mut t, t0 + 249 * MS), []);
        assert_eq!(
            fire(&mut t, t0 + 250 * MS),
            [TimerEvent::TokenExpired(vec!["/".into()])]
        );
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(3600)));
    }

    #[test]
    fn life_1_token_deadline_is_exp_plus_leeway_on_the_monotonic_clock() {
        let t0 = t0();
        let now_ms = 1_000_000_000_000;
        let exp = now_ms / 1000 + 10;
        assert_eq!(
            token_deadline(exp, 5, t0, now_ms),
            t0 + Duration::from_secs(15)
        );
        assert_eq!(token_deadline(exp, 0, t0, now_ms + 2500), t0 + 7500 * MS);
        // Already past: due at once.
        assert_eq!(token_deadline(exp - 20, 5, t0, now_ms), t0);
        assert_eq!(token_deadline(i64::MIN, i64::MIN, t0, now_ms), t0);
    }

    #[test]
    fn life_2_every_expired_namespace_is_named_in_one_event() {
        let (t0, mut t) = connected(quiet());
        t.set_token_expiry("/", t0 + 100 * MS);
        t.set_token_expiry("/admin", t0 + 120 * MS);
        t.set_token_expiry("/late", t0 + 5000 * MS);
        assert_eq!(
            fire(&mut t, t0 + 150 * MS),
            [TimerEvent::TokenExpired(vec!["/".into(), "/admin".into()])]
        );
        assert_eq!(t.poll_timeout(), Some(t0 + 5000 * MS));
    }

    #[test]
    fn life_4_a_refresh_extends_the_token_expiry() {
        let (t0, mut t) = connected(quiet());
        t.set_token_expiry("/", t0 + 250 * MS);
        t.set_token_expiry("/", t0 + 2000 * MS);
        assert_eq!(fire(&mut t, t0 + 1999 * MS), []);
        assert_eq!(
            fire(&mut t, t0 + 2000 * MS),
            [TimerEvent::TokenExpired(vec!["/".into()])]
        );
    }

    #[test]
    fn life_8_a_namespace_that_left_does_not_expire() {
        let (t0, mut t) = connected(quiet());
        t.set_token_expiry("/", t0 + 100 * MS);
        t.clear_token_expiry("/");
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(3600)));
        assert_eq!(fire(&mut t, t0 + 200 * MS), []);
    }
}
