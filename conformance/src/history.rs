//! The history checker of the FAULT group: a sans-io judge of what a cluster
//! delivered, in the manner of Jepsen's queue checkers.
//!
//! Input is a recorded history: every publish (through which instance, into
//! which room, when it was sent and answered, its status and `eventId`) and,
//! per socket, what it received (with arrival times) and its membership over
//! time (connected, rooms joined and left). Times are milliseconds since the
//! scenario began, passed in; nothing here reads a clock or a socket.
//!
//! ```text
//!  publishes ─┐
//!  sockets ───┼─▶ check(history, bounds) ─▶ Report { lost, duplicated, reordered,
//!  bounds ────┘                                      unexpected, cross-tenant, late }
//! ```
//!
//! The rules:
//! - a publish answered 202 is **required** at a socket that was in its room
//!   (and connected) from before the publish was sent until its deadline;
//!   required and never received is **lost**;
//! - a publish received twice by one socket is **duplicated**;
//! - two publishes through one instance, the first answered before the second
//!   was sent, received second-first is **reordered**;
//! - an event of a room whose organization is not the socket's is
//!   **cross-tenant**; an event of a room the socket was not in at any time
//!   between the publish and the arrival, an event matching no publish, or an
//!   event of a publish refused with a 4xx status is **unexpected**;
//! - a required event that arrives after its deadline is **late**. The
//!   deadline is the delivery bound after the answer; for a publish answered
//!   during a fault it is at least the recovery time plus the resume bound.
//!
//! A publish with no answer (a timeout, a reset) is indeterminate: it need not
//! arrive, and may. So is one answered 5xx: an instance that lost Redis while
//! writing the event cannot know whether it was stored (Jepsen's `:info`); the
//! report counts such events. Only a 4xx answer is a definite refusal.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};

/// One publish, as the harness sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Unique per history; carried in the payload so that an event is matched
    /// to its publish even when the answer (and its `eventId`) never came.
    pub seq: u64,
    /// Index of the instance the publish went through.
    pub instance: usize,
    /// The room, `org:{org}:site:{id}`.
    pub room: String,
    /// When the request was sent (ms).
    pub sent: u64,
    /// When the answer arrived (ms), if it did.
    pub answered: Option<u64>,
    /// The HTTP status, if an answer arrived.
    pub status: Option<u16>,
    /// The `eventId` of a 202 answer.
    pub event_id: Option<String>,
}

impl Publish {
    /// Whether the publish was accepted (202 with an `eventId`).
    pub fn accepted(&self) -> bool {
        self.status == Some(202) && self.answered.is_some()
    }
}

/// One event a socket received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receive {
    /// Its `eventId`.
    pub event_id: String,
    /// Its `type`.
    pub ty: String,
    /// Its `timestamp` text.
    pub timestamp: String,
    /// The `seq` found in its payload, if any.
    pub seq: Option<u64>,
    /// Arrival time (ms).
    pub at: u64,
}

/// A change of a socket's membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The socket connected (CONNECT answered).
    Connected,
    /// The socket joined a room (its subscribe ack arrived).
    Joined(String),
    /// The socket left a room (its unsubscribe ack arrived).
    Left(String),
    /// The connection ended.
    Disconnected,
}

/// Everything recorded of one socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketLog {
    /// A name for the report, `a1@i0`.
    pub name: String,
    /// The instance it is connected to.
    pub instance: usize,
    /// Its organization.
    pub org: String,
    /// Membership changes in time order: (ms, change).
    pub changes: Vec<(u64, Change)>,
    /// Events received, in arrival order.
    pub received: Vec<Receive>,
}

impl SocketLog {
    /// Whether the socket was connected and in `room` at time `t`.
    pub fn member_at(&self, room: &str, t: u64) -> bool {
        let (mut connected, mut inside) = (false, false);
        for (at, c) in &self.changes {
            if *at > t {
                break;
            }
            match c {
                Change::Connected => connected = true,
                Change::Disconnected => connected = false,
                Change::Joined(r) if r == room => inside = true,
                Change::Left(r) if r == room => inside = false,
                _ => {}
            }
        }
        connected && inside
    }

    /// Whether the socket was connected and in `room` throughout `[from, to]`.
    pub fn member_throughout(&self, room: &str, from: u64, to: u64) -> bool {
        self.member_at(room, from)
            && !self.changes.iter().any(|(at, c)| {
                *at > from
                    && *at <= to
                    && match c {
                        Change::Disconnected => true,
                        Change::Left(r) => r == room,
                        _ => false,
                    }
            })
    }

    /// Whether the socket was in `room` at any time in `[from, to]`.
    pub fn member_during(&self, room: &str, from: u64, to: u64) -> bool {
        self.member_at(room, from)
            || self.changes.iter().any(|(at, c)| {
                *at > from && *at <= to && matches!(c, Change::Joined(r) if r == room)
            })
    }
}

/// The time limits a history is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The delivery bound after the 202 (ms).
    pub delivery_ms: u64,
    /// The fault window `(start, recovered)` (ms), if the scenario had one.
    pub fault: Option<(u64, u64)>,
    /// How long after the recovery delivery must have resumed (ms).
    pub resume_ms: u64,
}

impl Bounds {
    /// The time by which an accepted publish must have arrived.
    pub fn deadline(&self, p: &Publish) -> u64 {
        let answered = p.answered.unwrap_or(p.sent);
        let normal = answered + self.delivery_ms;
        match self.fault {
            Some((start, recovered)) if answered + self.delivery_ms >= start => {
                normal.max(recovered + self.resume_ms)
            }
            _ => normal,
        }
    }
}

/// The anomaly classes, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anomaly {
    /// Required and never received.
    Lost,
    /// Received more than once by one socket.
    Duplicated,
    /// Received out of the order of one instance's publishes.
    Reordered,
    /// Not for this socket (no membership, no such publish, refused publish).
    Unexpected,
    /// From another organization's room.
    CrossTenant,
    /// Arrived after its deadline.
    Late,
}

impl Anomaly {
    /// Every class, in report order.
    pub const ALL: [Anomaly; 6] = [
        Anomaly::Lost,
        Anomaly::Duplicated,
        Anomaly::Reordered,
        Anomaly::Unexpected,
        Anomaly::CrossTenant,
        Anomaly::Late,
    ];

    /// Its name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Anomaly::Lost => "lost",
            Anomaly::Duplicated => "duplicated",
            Anomaly::Reordered => "reordered",
            Anomaly::Unexpected => "unexpected",
            Anomaly::CrossTenant => "cross-tenant",
            Anomaly::Late => "late",
        }
    }
}

/// How many examples of each class a report keeps.
pub const EXAMPLES: usize = 3;

/// The verdict of the checker on one history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Publishes sent.
    pub publishes: usize,
    /// Publishes answered 202.
    pub accepted: usize,
    /// Publishes answered with another status.
    pub refused: usize,
    /// Publishes without an answer.
    pub unanswered: usize,
    /// Deliveries of publishes answered 5xx (indeterminate, not an anomaly).
    pub delivered_after_5xx: usize,
    /// Sockets observed.
    pub sockets: usize,
    /// (publish, socket) pairs that had to arrive.
    pub required: usize,
    /// Events received in all.
    pub received: usize,
    /// Per class: count and the first examples.
    pub anomalies: BTreeMap<Anomaly, (usize, Vec<String>)>,
}

impl Report {
    /// The count of one class.
    pub fn count(&self, a: Anomaly) -> usize {
        self.anomalies.get(&a).map(|(n, _)| *n).unwrap_or(0)
    }

    /// Whether the history has no anomaly at all.
    pub fn clean(&self) -> bool {
        Anomaly::ALL.iter().all(|a| self.count(*a) == 0)
    }

    /// The classes with a non-zero count, `lost 3, late 1`.
    pub fn summary(&self) -> String {
        let v: Vec<String> = Anomaly::ALL
            .iter()
            .filter(|a| self.count(**a) > 0)
            .map(|a| format!("{} {}", a.as_str(), self.count(*a)))
            .collect();
        if v.is_empty() {
            "no anomaly".into()
        } else {
            v.join(", ")
        }
    }

    fn add(&mut self, a: Anomaly, example: impl FnOnce() -> String) {
        let e = self.anomalies.entry(a).or_default();
        e.0 += 1;
        if e.1.len() < EXAMPLES {
            e.1.push(example());
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} publishes ({} answered 202, {} refused, {} unanswered), {} sockets, {} deliveries required, {} events received{}",
            self.publishes,
            self.accepted,
            self.refused,
            self.unanswered,
            self.sockets,
            self.required,
            self.received,
            if self.delivered_after_5xx > 0 {
                format!(", {} of publishes answered 5xx (indeterminate)", self.delivered_after_5xx)
            } else {
                String::new()
            }
        )?;
        writeln!(f, "{:<13} {:>6}  first examples", "anomaly", "count")?;
        for a in Anomaly::ALL {
            let (n, ex) = self.anomalies.get(&a).cloned().unwrap_or((0, Vec::new()));
            let mut line = format!("{:<13} {:>6}", a.as_str(), n);
            for (i, e) in ex.iter().enumerate() {
                let _ = write!(line, "{}{e}", if i == 0 { "  " } else { "; " });
            }
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// The organization of a room name (`org:{org}:…`).
pub fn org_of(room: &str) -> &str {
    room.split(':').nth(1).unwrap_or("")
}

fn describe(p: &Publish) -> String {
    format!(
        "#{} via i{} to {} (sent {} ms, {})",
        p.seq,
        p.instance,
        p.room,
        p.sent,
        match (p.status, p.answered) {
            (Some(s), Some(a)) => format!("{s} at {a} ms"),
            _ => "no answer".into(),
        }
    )
}

/// Judges a history.
pub fn check(publishes: &[Publish], sockets: &[SocketLog], bounds: &Bounds) -> Report {
    let mut r = Report {
        publishes: publishes.len(),
        accepted: publishes.iter().filter(|p| p.accepted()).count(),
        refused: publishes
            .iter()
            .filter(|p| p.answered.is_some() && !p.accepted())
            .count(),
        unanswered: publishes.iter().filter(|p| p.answered.is_none()).count(),
        sockets: sockets.len(),
        ..Report::default()
    };
    let by_id: HashMap<&str, usize> = publishes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.event_id.as_deref().map(|id| (id, i)))
        .collect();
    let by_seq: HashMap<u64, usize> = publishes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.seq, i))
        .collect();
    for s in sockets {
        r.received += s.received.len();
        // index of the publish -> arrival times
        let mut got: HashMap<usize, Vec<u64>> = HashMap::new();
        // per instance: the received publish sent last so far
        let mut last_sent: HashMap<usize, usize> = HashMap::new();
        for e in &s.received {
            let idx = by_id
                .get(e.event_id.as_str())
                .copied()
                .or_else(|| e.seq.and_then(|q| by_seq.get(&q).copied()));
            let Some(idx) = idx else {
                r.add(Anomaly::Unexpected, || {
                    format!(
                        "{} got {} {} matching no publish at {} ms",
                        s.name, e.ty, e.event_id, e.at
                    )
                });
                continue;
            };
            let p = &publishes[idx];
            let times = got.entry(idx).or_default();
            times.push(e.at);
            if times.len() > 1 {
                r.add(Anomaly::Duplicated, || {
                    format!("{} got {} {} times", s.name, describe(p), times.len())
                });
                continue;
            }
            if org_of(&p.room) != s.org {
                r.add(Anomaly::CrossTenant, || {
                    format!("{} (org {}) got {}", s.name, s.org, describe(p))
                });
                continue;
            }
            let status = p.status.filter(|_| p.answered.is_some());
            if status.is_some_and(|c| (400..500).contains(&c)) {
                r.add(Anomaly::Unexpected, || {
                    format!("{} got refused {}", s.name, describe(p))
                });
            } else if !s.member_during(&p.room, p.sent, e.at) {
                r.add(Anomaly::Unexpected, || {
                    format!("{} not in the room got {}", s.name, describe(p))
                });
            }
            if status.is_some_and(|c| c >= 500) {
                r.delivered_after_5xx += 1;
            }
            if let Some(&prev) = last_sent.get(&p.instance) {
                let q = &publishes[prev];
                if q.sent > p.sent && p.answered.is_some_and(|a| a <= q.sent) {
                    r.add(Anomaly::Reordered, || {
                        format!(
                            "{} got #{} after #{} (both via i{})",
                            s.name, p.seq, q.seq, p.instance
                        )
                    });
                    continue;
                }
            }
            last_sent
                .entry(p.instance)
                .and_modify(|prev| {
                    if publishes[*prev].sent < p.sent {
                        *prev = idx;
                    }
                })
                .or_insert(idx);
        }
        for (idx, p) in publishes.iter().enumerate() {
            if !p.accepted() {
                continue;
            }
            let deadline = bounds.deadline(p);
            if !s.member_throughout(&p.room, p.sent, deadline) {
                continue;
            }
            r.required += 1;
            match got.get(&idx).and_then(|t| t.first()) {
                None => r.add(Anomaly::Lost, || {
                    format!("{} never got {}", s.name, describe(p))
                }),
                Some(&at) if at > deadline => r.add(Anomaly::Late, || {
                    format!(
                        "{} got #{} at {at} ms, deadline {deadline} ms",
                        s.name, p.seq
                    )
                }),
                Some(_) => {}
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds {
        delivery_ms: 2000,
        fault: None,
        resume_ms: 5000,
    };

    fn publish(seq: u64, instance: usize, room: &str, sent: u64, status: Option<u16>) -> Publish {
        Publish {
            seq,
            instance,
            room: room.into(),
            sent,
            answered: status.map(|_| sent + 5),
            status,
            event_id: (status == Some(202)).then(|| format!("e{seq}")),
        }
    }

    fn socket(name: &str, org: &str, rooms: &[&str]) -> SocketLog {
        let mut changes = vec![(0, Change::Connected)];
        changes.extend(rooms.iter().map(|r| (1, Change::Joined(r.to_string()))));
        SocketLog {
            name: name.into(),
            instance: 0,
            org: org.into(),
            changes,
            received: Vec::new(),
        }
    }

    fn recv(s: &mut SocketLog, seq: u64, at: u64) {
        s.received.push(Receive {
            event_id: format!("e{seq}"),
            ty: "test:fault".into(),
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            seq: Some(seq),
            at,
        });
    }

    const S1: &str = "org:a:site:s1";
    const S2: &str = "org:a:site:s2";
    const B1: &str = "org:b:site:s1";

    fn two_publishes() -> Vec<Publish> {
        vec![
            publish(1, 0, S1, 100, Some(202)),
            publish(2, 0, S1, 200, Some(202)),
        ]
    }

    #[test]
    fn a_clean_history_has_no_anomaly() {
        let ps = two_publishes();
        let mut s = socket("a1", "a", &[S1]);
        recv(&mut s, 1, 150);
        recv(&mut s, 2, 250);
        let r = check(&ps, &[s], &B);
        assert!(r.clean(), "{r}");
        assert_eq!((r.required, r.accepted, r.received), (2, 2, 2));
        assert_eq!(r.summary(), "no anomaly");
    }

    #[test]
    fn a_missing_event_is_lost() {
        let ps = two_publishes();
        let mut s = socket("a1", "a", &[S1]);
        recv(&mut s, 2, 250);
        let r = check(&ps, &[s], &B);
        assert_eq!(r.count(Anomaly::Lost), 1, "{r}");
        assert!(
            r.anomalies[&Anomaly::Lost].1[0].contains("#1 via i0"),
            "{r}"
        );
        assert_eq!(r.summary(), "lost 1");
    }

    #[test]
    fn a_second_copy_is_duplicated() {
        let ps = two_publishes();
        let mut s = socket("a1", "a", &[S1]);
        recv(&mut s, 1, 150);
        recv(&mut s, 1, 160);
        recv(&mut s, 2, 250);
        let r = check(&ps, &[s], &B);
        assert_eq!(r.count(Anomaly::Duplicated), 1, "{r}");
        assert_eq!(r.count(Anomaly::Lost), 0, "{r}");
    }

    #[test]
    fn an_inversion_through_one_instance_is_reordered() {
        let ps = two_publishes();
        let mut s = socket("a1", "a", &[S1]);
        recv(&mut s, 2, 250);
        recv(&mut s, 1, 260);
        let r = check(&ps, &[s], &B);
        assert_eq!(r.count(Anomaly::Reordered), 1, "{r}");
    }

    #[test]
    fn concurrent_publishes_or_other_instances_may_arrive_in_any_order() {
        // #2 was sent before #1 was answered: concurrent, no order required;
        // #3 went through another instance: not PUB-4's order
        let mut ps = two_publishes();
        ps[1].sent = 102;
        ps.push(publish(3, 1, S1, 50, Some(202)));
        let mut s = socket("a1", "a", &[S1]);
        recv(&mut s, 2, 250);
        recv(&mut s, 1, 260);
        recv(&mut s, 3, 270);
        let r = check(&ps, &[s], &B);
        assert!(r.clean(), "{r}");
    }

    #[test]
    fn events_outside_the_sockets_rooms_are_unexpected() {
        let mut ps = two_publishes();
        ps.push(publish(3, 0, S2, 300, Some(202)));
        ps.push(publish(4, 0, S1, 400, Some(400)));
        let mut s = socket("a1", "a", &[S1]);
        recv(&mut s, 1, 150);
        recv(&mut s, 2, 250);
        recv(&mut s, 3, 350); // not a member of s2
        recv(&mut s, 4, 450); // refused publish
        s.received.push(Receive {
            event_id: "nobody-sent-this".into(),
            ty: "test:fault".into(),
            timestamp: String::new(),
            seq: None,
            at: 500,
        });
        let r = check(&ps, &[s], &B);
        assert_eq!(r.count(Anomaly::Unexpected), 3, "{r}");
        assert_eq!(r.refused, 1);
    }

    #[test]
    fn another_organizations_event_is_cross_tenant() {
        let ps = vec![publish(1, 0, B1, 100, Some(202))];
        let mut a = socket("a1", "a", &[S1]);
        recv(&mut a, 1, 150);
        let mut b = socket("b1", "b", &[B1]);
        recv(&mut b, 1, 150);
        let r = check(&ps, &[a, b], &B);
        assert_eq!(r.count(Anomaly::CrossTenant), 1, "{r}");
        assert!(r.anomalies[&Anomaly::CrossTenant].1[0].starts_with("a1 (org a)"));
        assert_eq!(r.required, 1);
    }

    #[test]
    fn an_event_after_its_deadline_is_late() {
        let ps = two_publishes();
        let mut s = socket("a1", "a", &[S1]);
        recv(&mut s, 1, 150);
        recv(&mut s, 2, 205 + 2001);
        let r = check(&ps, &[s], &B);
        assert_eq!(r.count(Anomaly::Late), 1, "{r}");
        assert_eq!(r.summary(), "late 1");
    }

    #[test]
    fn a_fault_moves_the_deadline_to_recovery_plus_the_resume_bound() {
        let ps = vec![
            publish(1, 0, S1, 100, Some(202)),
            publish(2, 0, S1, 20_000, Some(202)),
        ];
        let b = Bounds {
            fault: Some((1000, 4000)),
            ..B
        };
        assert_eq!(b.deadline(&ps[0]), 9000);
        assert_eq!(b.deadline(&ps[1]), 22_005);
        let mut s = socket("a1", "a", &[S1]);
        recv(&mut s, 1, 8000);
        recv(&mut s, 2, 20_100);
        assert!(check(&ps, &[s.clone()], &b).clean());
        s.received[0].at = 9001;
        assert_eq!(check(&ps, &[s], &b).count(Anomaly::Late), 1);
    }

    #[test]
    fn membership_over_time_decides_what_is_required() {
        let ps = vec![
            publish(1, 0, S1, 100, Some(202)),
            publish(2, 0, S1, 5000, Some(202)),
            publish(3, 0, S1, 9000, Some(202)),
        ];
        // joined at 1, left at 3000, joined again at 6000, disconnected at 9500
        let mut s = socket("a1", "a", &[S1]);
        s.changes.push((3000, Change::Left(S1.into())));
        s.changes.push((6000, Change::Joined(S1.into())));
        s.changes.push((9500, Change::Disconnected));
        recv(&mut s, 1, 150);
        let r = check(&ps, &[s.clone()], &B);
        // #2 sent while out of the room, #3's deadline after the disconnect
        assert!(r.clean() && r.required == 1, "{r}");
        recv(&mut s, 2, 5100);
        assert_eq!(check(&ps, &[s], &B).count(Anomaly::Unexpected), 1);
    }

    #[test]
    fn a_publish_answered_5xx_may_arrive_and_is_counted() {
        let ps = vec![publish(1, 0, S1, 100, Some(503))];
        let mut s = socket("a1", "a", &[S1]);
        assert!(check(&ps, &[s.clone()], &B).clean());
        recv(&mut s, 1, 300);
        let r = check(&ps, &[s], &B);
        assert!(r.clean(), "{r}");
        assert_eq!((r.refused, r.delivered_after_5xx, r.required), (1, 1, 0));
        assert!(r.to_string().contains("1 of publishes answered 5xx"), "{r}");
    }

    #[test]
    fn an_unanswered_publish_may_arrive_or_not() {
        let ps = vec![publish(1, 0, S1, 100, None)];
        let mut s = socket("a1", "a", &[S1]);
        assert!(check(&ps, &[s.clone()], &B).clean());
        s.received.push(Receive {
            event_id: "unknown-id".into(),
            ty: "test:fault".into(),
            timestamp: String::new(),
            seq: Some(1),
            at: 300,
        });
        let r = check(&ps, &[s], &B);
        assert!(r.clean(), "{r}");
        assert_eq!(r.unanswered, 1);
    }

    #[test]
    fn the_table_lists_every_class_with_examples() {
        let ps = two_publishes();
        let s = socket("a1", "a", &[S1]);
        let text = check(&ps, &[s], &B).to_string();
        for a in Anomaly::ALL {
            assert!(text.contains(a.as_str()), "{text}");
        }
        assert!(
            text.contains("lost               2  a1 never got #1"),
            "{text}"
        );
        assert!(text.starts_with("2 publishes (2 answered 202"), "{text}");
    }
}
