//! The Roomcast rules of one authenticated socket, without sockets or clocks:
//! client events in (`subscribe:*`, `unsubscribe:*`, `system:ping`, `auth:refresh`,
//! anything else), decisions out (ack value or server event, room to join or leave,
//! new expiry). The I/O shell applies the [`Outcome`].

use std::collections::BTreeSet;

use protocol::roomcast::claims::Identity;
use protocol::roomcast::codes::{self, AuthReason, ErrorCode};
use protocol::roomcast::id::Id;
use protocol::roomcast::room::Room;
use protocol::roomcast::timestamp::Timestamp;
use serde_json::{json, Map, Value};

/// `system:connected`.
pub const EV_CONNECTED: &str = "system:connected";
/// `system:error`.
pub const EV_ERROR: &str = "system:error";
/// `system:pong`.
pub const EV_PONG: &str = "system:pong";

/// Message of `TOKEN_EXPIRED` sent before the expiry disconnect.
pub const MSG_EXPIRED: &str = "Token expired";

/// What the server sends back for one client event.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The ack of the client's event, with this one argument.
    Ack(Value),
    /// A server event (an envelope of this type and payload) to this socket.
    Emit {
        /// The envelope type, e.g. `system:error`.
        event_type: &'static str,
        /// The envelope payload.
        payload: Value,
    },
}

/// The decisions for one client event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// What to send back, if anything.
    pub reply: Option<Reply>,
    /// A room to join.
    pub join: Option<String>,
    /// A room to leave.
    pub leave: Option<String>,
    /// A new token expiry (seconds since the epoch) after a successful refresh.
    pub new_exp: Option<i64>,
}

/// The two rooms every socket joins on connect: `org:{org}` and `org:{org}:user:{user}`.
pub fn automatic_rooms(identity: &Identity) -> [String; 2] {
    let org = Room::Org {
        org: identity.organization_id.clone(),
    };
    let user = Room::User {
        org: identity.organization_id.clone(),
        user: identity.user_id.clone(),
    };
    [org.to_string(), user.to_string()]
}

/// The payload of `system:connected` (decision 6).
pub fn connected_payload(sid: &str, identity: &Identity) -> Value {
    let mut m = Map::new();
    m.insert("sid".into(), Value::String(sid.to_owned()));
    m.insert("userId".into(), identity.user_id.as_str().into());
    m.insert(
        "organizationId".into(),
        identity.organization_id.as_str().into(),
    );
    if let Some(role) = &identity.role {
        m.insert("role".into(), Value::String(role.clone()));
    }
    let rooms: Vec<Value> = automatic_rooms(identity)
        .into_iter()
        .map(Value::String)
        .collect();
    m.insert("rooms".into(), Value::Array(rooms));
    Value::Object(m)
}

/// The payload of `system:error`: exactly `{code, message}` (decision 8).
pub fn error_payload(code: ErrorCode, message: &str) -> Value {
    json!({"code": code.as_str(), "message": message})
}

/// The state of one authenticated socket.
#[derive(Debug)]
pub struct SocketRules {
    /// Who the token says the socket is.
    pub identity: Identity,
    subscriptions: BTreeSet<String>,
    max_subscriptions: usize,
}

/// The kind of room a `subscribe:*` / `unsubscribe:*` event names.
#[derive(Clone, Copy)]
enum Kind {
    Site,
    Unit,
}

impl SocketRules {
    /// A socket with no site or unit subscriptions.
    pub fn new(identity: Identity, max_subscriptions: usize) -> SocketRules {
        SocketRules {
            identity,
            subscriptions: BTreeSet::new(),
            max_subscriptions,
        }
    }

    /// The site and unit rooms held.
    pub fn subscriptions(&self) -> impl Iterator<Item = &str> {
        self.subscriptions.iter().map(String::as_str)
    }

    /// Every room held: the automatic ones and the subscriptions.
    pub fn all_rooms(&self) -> Vec<String> {
        let mut v: Vec<String> = automatic_rooms(&self.identity).into();
        v.extend(self.subscriptions.iter().cloned());
        v
    }

    fn fail(code: ErrorCode, message: &str, with_ack: bool) -> Outcome {
        let reply = if with_ack {
            Reply::Ack(codes::ack_err(code, message))
        } else {
            Reply::Emit {
                event_type: EV_ERROR,
                payload: error_payload(code, message),
            }
        };
        Outcome {
            reply: Some(reply),
            ..Outcome::default()
        }
    }

    fn invalid_id(kind: Kind, with_ack: bool) -> Outcome {
        let msg = match kind {
            Kind::Site => "Invalid site id",
            Kind::Unit => "Invalid unit id",
        };
        Self::fail(ErrorCode::InvalidId, msg, with_ack)
    }

    fn room(&self, kind: Kind, arg: Option<&Value>) -> Option<Room> {
        let id = Id::parse(arg?.as_str()?).ok()?;
        let org = self.identity.organization_id.clone();
        Some(match kind {
            Kind::Site => Room::Site { org, site: id },
            Kind::Unit => Room::Unit { org, unit: id },
        })
    }

    fn subscribe(&mut self, kind: Kind, args: &[Value], with_ack: bool) -> Outcome {
        let Some(room) = self.room(kind, args.first()) else {
            return Self::invalid_id(kind, with_ack);
        };
        let name = room.to_string();
        let mut out = Outcome::default();
        if !self.subscriptions.contains(&name) {
            if self.subscriptions.len() >= self.max_subscriptions {
                let msg = format!("Subscription limit of {} reached", self.max_subscriptions);
                return Self::fail(ErrorCode::LimitExceeded, &msg, with_ack);
            }
            self.subscriptions.insert(name.clone());
            out.join = Some(name);
        }
        if with_ack {
            out.reply = Some(Reply::Ack(codes::ack_ok(&room)));
        }
        out
    }

    fn unsubscribe(&mut self, kind: Kind, args: &[Value], with_ack: bool) -> Outcome {
        let Some(room) = self.room(kind, args.first()) else {
            return Self::invalid_id(kind, with_ack);
        };
        let name = room.to_string();
        let mut out = Outcome::default();
        if self.subscriptions.remove(&name) {
            out.leave = Some(name);
        }
        if with_ack {
            out.reply = Some(Reply::Ack(codes::ack_ok(&room)));
        }
        out
    }

    fn refresh(
        &mut self,
        args: &[Value],
        with_ack: bool,
        verify: &dyn Fn(&str) -> Result<Identity, AuthReason>,
    ) -> Outcome {
        let result = match args.first() {
            // The CONNECT's presence rule (LIFE-3, AUTH-9): no `token` or
            // `""` is `missing_token`, any other non-string is `invalid_token`.
            Some(Value::Object(m)) => match m.get("token") {
                Some(Value::String(t)) if !t.is_empty() => verify(t),
                None | Some(Value::String(_)) => Err(AuthReason::MissingToken),
                Some(_) => Err(AuthReason::InvalidToken),
            },
            _ => Err(AuthReason::MissingToken),
        }
        .and_then(|id| {
            if id.user_id == self.identity.user_id
                && id.organization_id == self.identity.organization_id
            {
                Ok(id)
            } else {
                Err(AuthReason::InvalidClaims)
            }
        });
        match result {
            Ok(id) => {
                let exp = id.exp;
                self.identity.exp = exp;
                self.identity.nbf = id.nbf;
                self.identity.role = id.role;
                self.identity.email = id.email;
                Outcome {
                    reply: with_ack.then(|| Reply::Ack(codes::refresh_ok(exp))),
                    new_exp: Some(exp),
                    ..Outcome::default()
                }
            }
            Err(reason) => {
                let reply = if with_ack {
                    Reply::Ack(codes::ack_auth_err(reason))
                } else {
                    Reply::Emit {
                        event_type: EV_ERROR,
                        payload: error_payload(ErrorCode::AuthFailed, reason.message()),
                    }
                };
                Outcome {
                    reply: Some(reply),
                    ..Outcome::default()
                }
            }
        }
    }

    /// Decides one client event. `name` is `None` for a non-string event name.
    pub fn on_event(
        &mut self,
        name: Option<&str>,
        args: &[Value],
        with_ack: bool,
        now_ms: i64,
        verify: &dyn Fn(&str) -> Result<Identity, AuthReason>,
    ) -> Outcome {
        match name {
            Some("subscribe:site") => self.subscribe(Kind::Site, args, with_ack),
            Some("subscribe:unit") => self.subscribe(Kind::Unit, args, with_ack),
            Some("unsubscribe:site") => self.unsubscribe(Kind::Site, args, with_ack),
            Some("unsubscribe:unit") => self.unsubscribe(Kind::Unit, args, with_ack),
            Some("system:ping") => {
                let payload = json!({"pong": true, "timestamp": Timestamp(now_ms).to_iso()});
                Outcome {
                    reply: Some(if with_ack {
                        Reply::Ack(payload)
                    } else {
                        Reply::Emit {
                            event_type: EV_PONG,
                            payload,
                        }
                    }),
                    ..Outcome::default()
                }
            }
            Some("auth:refresh") => self.refresh(args, with_ack, verify),
            Some(other) => {
                let msg = format!("Unknown event {other}");
                Self::fail(ErrorCode::UnknownEvent, &msg, with_ack)
            }
            None => Self::fail(ErrorCode::UnknownEvent, "Unknown event", with_ack),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(user: &str, org: &str, exp: i64) -> Identity {
        Identity {
            user_id: Id::parse(user).unwrap(),
            organization_id: Id::parse(org).unwrap(),
            role: None,
            email: None,
            exp,
            nbf: None,
        }
    }

    fn no_refresh(_: &str) -> Result<Identity, AuthReason> {
        Err(AuthReason::InvalidToken)
    }

    fn ev(r: &mut SocketRules, name: &str, args: Value, ack: bool) -> Outcome {
        let args = args.as_array().cloned().unwrap_or_default();
        r.on_event(Some(name), &args, ack, 0, &no_refresh)
    }

    #[test]
    fn automatic_rooms_and_connected_payload() {
        let id = identity("u1", "acme", 10);
        assert_eq!(automatic_rooms(&id), ["org:acme", "org:acme:user:u1"]);
        let p = connected_payload("S", &id);
        assert_eq!(
            p,
            json!({"sid":"S","userId":"u1","organizationId":"acme","rooms":["org:acme","org:acme:user:u1"]})
        );
    }

    #[test]
    fn subscribe_twice_joins_once_and_acks_ok_both_times() {
        let mut r = SocketRules::new(identity("u1", "acme", 10), 100);
        let o = ev(&mut r, "subscribe:site", json!(["s1"]), true);
        assert_eq!(o.join.as_deref(), Some("org:acme:site:s1"));
        assert_eq!(
            o.reply,
            Some(Reply::Ack(json!({"ok": true, "room": "org:acme:site:s1"})))
        );
        let o = ev(&mut r, "subscribe:site", json!(["s1"]), true);
        assert_eq!(o.join, None);
        assert!(matches!(o.reply, Some(Reply::Ack(ref v)) if v["ok"] == true));
    }

    #[test]
    fn unsubscribe_not_held_is_ok_and_leaves_nothing() {
        let mut r = SocketRules::new(identity("u1", "acme", 10), 100);
        let o = ev(&mut r, "unsubscribe:unit", json!(["x"]), true);
        assert_eq!(o.leave, None);
        assert_eq!(
            o.reply,
            Some(Reply::Ack(json!({"ok": true, "room": "org:acme:unit:x"})))
        );
        ev(&mut r, "subscribe:unit", json!(["x"]), false);
        let o = ev(&mut r, "unsubscribe:unit", json!(["x"]), false);
        assert_eq!(o.leave.as_deref(), Some("org:acme:unit:x"));
        assert_eq!(o.reply, None);
    }

    #[test]
    fn invalid_ids_and_unknown_events() {
        let mut r = SocketRules::new(identity("u1", "acme", 10), 100);
        for bad in [
            json!([]),
            json!([5]),
            json!(["a:b"]),
            json!(["x".repeat(65)]),
        ] {
            let o = ev(&mut r, "subscribe:site", bad, true);
            assert_eq!(
                o.reply.unwrap(),
                Reply::Ack(codes::ack_err(ErrorCode::InvalidId, "Invalid site id"))
            );
        }
        let o = ev(&mut r, "hello", json!([]), false);
        assert_eq!(
            o.reply.unwrap(),
            Reply::Emit {
                event_type: EV_ERROR,
                payload: json!({"code":"UNKNOWN_EVENT","message":"Unknown event hello"})
            }
        );
        let o = r.on_event(None, &[], true, 0, &no_refresh);
        assert!(
            matches!(o.reply, Some(Reply::Ack(ref v)) if v["error"]["code"] == "UNKNOWN_EVENT")
        );
    }

    #[test]
    fn limit_counts_site_and_unit_and_allows_resubscribe() {
        let mut r = SocketRules::new(identity("u1", "acme", 10), 2);
        ev(&mut r, "subscribe:site", json!(["a"]), true);
        ev(&mut r, "subscribe:unit", json!(["b"]), true);
        let o = ev(&mut r, "subscribe:site", json!(["c"]), true);
        assert!(
            matches!(o.reply, Some(Reply::Ack(ref v)) if v["error"]["code"] == "LIMIT_EXCEEDED")
        );
        assert_eq!(o.join, None);
        let o = ev(&mut r, "subscribe:site", json!(["a"]), true);
        assert!(matches!(o.reply, Some(Reply::Ack(ref v)) if v["ok"] == true));
    }

    #[test]
    fn ping_with_and_without_ack() {
        let mut r = SocketRules::new(identity("u1", "acme", 10), 2);
        let o = r.on_event(Some("system:ping"), &[], true, 0, &no_refresh);
        assert_eq!(
            o.reply,
            Some(Reply::Ack(
                json!({"pong": true, "timestamp": "1970-01-01T00:00:00.000Z"})
            ))
        );
        let o = r.on_event(Some("system:ping"), &[], false, 0, &no_refresh);
        assert!(matches!(
            o.reply,
            Some(Reply::Emit {
                event_type: EV_PONG,
                ..
            })
        ));
    }

    #[test]
    fn refresh_requires_same_user_and_org() {
        let mut r = SocketRules::new(identity("u1", "acme", 10), 2);
        let other = |_: &str| Ok(identity("u2", "acme", 99));
        let o = r.on_event(
            Some("auth:refresh"),
            &[json!({"token":"t"})],
            true,
            0,
            &other,
        );
        assert!(
            matches!(o.reply, Some(Reply::Ack(ref v)) if v["error"]["reason"] == "invalid_claims")
        );
        assert_eq!(o.new_exp, None);
        assert_eq!(r.identity.exp, 10);
        let same = |_: &str| Ok(identity("u1", "acme", 99));
        let o = r.on_event(
            Some("auth:refresh"),
            &[json!({"token":"t"})],
            true,
            0,
            &same,
        );
        assert_eq!(o.reply, Some(Reply::Ack(json!({"ok": true, "exp": 99}))));
        assert_eq!(o.new_exp, Some(99));
        for bad in [json!({"token": ""}), json!("t"), json!({})] {
            let o = r.on_event(Some("auth:refresh"), &[bad], true, 0, &same);
            assert_eq!(
                o.reply,
                Some(Reply::Ack(codes::ack_auth_err(AuthReason::MissingToken)))
            );
        }
        for bad in [
            json!({"token": 5}),
            json!({"token": null}),
            json!({"token": {}}),
        ] {
            let o = r.on_event(Some("auth:refresh"), &[bad], true, 0, &same);
            assert_eq!(
                o.reply,
                Some(Reply::Ack(codes::ack_auth_err(AuthReason::InvalidToken)))
            );
        }
        let o = r.on_event(Some("auth:refresh"), &[json!({})], false, 0, &same);
        assert_eq!(
            o.reply,
            Some(Reply::Emit {
                event_type: EV_ERROR,
                payload: json!({"code":"AUTH_FAILED","message":"Authentication token required"})
            })
        );
    }
}
