//! The model-based property test (`--model-cases N`): proptest-state-machine
//! generates random sequences of connect (random organizations and users),
//! subscribe and unsubscribe (valid and hostile ids), publish (random rooms,
//! types and payloads), disconnect and token expiry. A reference model
//! predicts which sockets receive each event; after every step each socket
//! must have received exactly the predicted events, in order, with one
//! identical envelope on every socket, and hostile input must be rejected
//! with `INVALID_ID`. Token expiry: `ConnectShortLived` opens a socket whose
//! token expires 0.8–1.8 s later (at most one per sequence, beside a live
//! one), and within three steps `Expire` waits for its `exp`: that socket
//! must get `system:error` `TOKEN_EXPIRED`, then a Socket.IO DISCONNECT and
//! the close, and nothing else; it leaves every room of the model, and the
//! other sockets carry on unaffected (a live socket of the model that is
//! closed fails the test).
//! A failure is shrunk to a minimal sequence and printed with the `--seed`
//! that replays it.

use crate::client::WsClient;
use crate::ctx::{CheckFailure, Ctx, RunConfig};
use crate::expect;
use crate::tokens::{client_claims, Minter};
use crate::transcript::Transcript;
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use proptest_state_machine::ReferenceStateMachine;
use protocol::socketio::PacketData;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ORGS: u8 = 2;
const USERS: u8 = 3;
const IDS: u8 = 2;
const MAX_SOCKETS: usize = 5;
const TYPES: [&str; 3] = ["dash:update", "lobby:room_list", "a1:b_C"];
const HOSTILE: [&str; 5] = ["a:b", "", "x y", "é", "org:x:site:y"];
/// Short-lived sockets per sequence (each costs an `exp` wait of 0.8–1.8 s).
const MAX_SHORT_LIVED: u8 = 1;
/// How many other steps may run between `ConnectShortLived` and its `Expire`.
const STEPS_BEFORE_EXPIRY: u8 = 3;
/// A short-lived token's `exp` (whole seconds) lies at least this far ahead.
const SHORT_LIFE_MS: i64 = 800;
/// A step other than `Expire` starts only this long before the short-lived
/// socket's `exp`; later, the case is rejected as too slow (not failed).
const EXPIRY_GUARD_MS: i64 = 300;
/// After `exp`, the `system:error`, DISCONNECT and close must have come within this.
const EXPIRY_SLACK_MS: i64 = 1500;

/// A subscription argument.
#[derive(Debug, Clone, PartialEq)]
pub enum IdArg {
    /// `s0`..`s2`.
    Valid(u8),
    /// One of the hostile strings, or a number when the index is out of range.
    Hostile(u8),
    /// 65 characters.
    TooLong,
}

/// A room of the model.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomSel {
    /// `org:{org}`.
    Org,
    /// `org:{org}:site:s{i}`.
    Site(u8),
    /// `org:{org}:unit:s{i}`.
    Unit(u8),
    /// `org:{org}:user:u{i}`.
    User(u8),
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A new socket of `user` in `org`.
    Connect {
        /// organization index
        org: u8,
        /// user index
        user: u8,
    },
    /// subscribe:site / subscribe:unit.
    Subscribe {
        /// socket index
        sock: usize,
        /// unit instead of site
        unit: bool,
        /// the argument
        id: IdArg,
    },
    /// unsubscribe:site / unsubscribe:unit.
    Unsubscribe {
        /// socket index
        sock: usize,
        /// unit instead of site
        unit: bool,
        /// the argument
        id: IdArg,
    },
    /// POST /v1/publish.
    Publish {
        /// organization index
        org: u8,
        /// the room
        room: RoomSel,
        /// index into the types
        ty: u8,
        /// the payload
        payload: Value,
    },
    /// Client-side close.
    Disconnect {
        /// socket index
        sock: usize,
    },
    /// A new socket of `user` in `org` whose token expires 0.8–1.8 s from now.
    ConnectShortLived {
        /// organization index
        org: u8,
        /// user index
        user: u8,
    },
    /// Waits until the short-lived socket's `exp` has passed: it gets
    /// `system:error` TOKEN_EXPIRED, a DISCONNECT and the close. (There is at
    /// most one such socket at a time, so the step names no index: the
    /// shrinker may then delete the steps before it.)
    Expire,
}

/// A socket of the model.
#[derive(Debug, Clone)]
pub struct SockModel {
    org: u8,
    user: u8,
    rooms: BTreeSet<String>,
}

/// The model: every socket ever opened (None once disconnected).
#[derive(Debug, Clone, Default)]
pub struct Model {
    socks: Vec<Option<SockModel>>,
    /// Every (org, unit, id) ever subscribed: publishes aim there often, so
    /// that unsubscribes and disconnects are put to the test.
    ever: BTreeSet<(u8, bool, u8)>,
    /// The short-lived socket that has not expired yet, and how many more
    /// steps may run before its `Expire` must come.
    doomed: Option<(usize, u8)>,
    /// Short-lived sockets opened so far.
    short_lived: u8,
}

fn room_key(unit: bool, i: u8) -> String {
    format!("{}:s{i}", if unit { "unit" } else { "site" })
}

impl Model {
    fn live(&self) -> Vec<usize> {
        self.socks
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i)
            .collect()
    }

    /// Which sockets an event into (`org`, `room`) reaches.
    fn recipients(&self, org: u8, room: &RoomSel) -> Vec<usize> {
        self.socks
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
            .filter(|(_, s)| {
                s.org == org
                    && match room {
                        RoomSel::Org => true,
                        RoomSel::Site(k) => s.rooms.contains(&room_key(false, *k)),
                        RoomSel::Unit(k) => s.rooms.contains(&room_key(true, *k)),
                        RoomSel::User(u) => s.user == *u,
                    }
            })
            .map(|(i, _)| i)
            .collect()
    }
}

fn payload_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-zA-Z0-9 ✓]{0,12}".prop_map(Value::from),
        (any::<i16>(), "[a-z]{0,6}")
            .prop_map(|(n, s)| json!({"n": n, "s": s, "nested": [n, {"k": s}]})),
    ]
}

fn id_strategy() -> impl Strategy<Value = IdArg> {
    prop_oneof![
        4 => (0..IDS).prop_map(IdArg::Valid),
        1 => (0..(HOSTILE.len() as u8 + 1)).prop_map(IdArg::Hostile),
        1 => Just(IdArg::TooLong),
    ]
}

/// The reference state machine.
pub struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let connect = (0..ORGS, 0..USERS).prop_map(|(org, user)| Step::Connect { org, user });
        let publish = (
            0..ORGS,
            prop_oneof![
                Just(RoomSel::Org),
                (0..IDS).prop_map(RoomSel::Site),
                (0..IDS).prop_map(RoomSel::Unit),
                (0..USERS).prop_map(RoomSel::User)
            ],
            0..(TYPES.len() as u8),
            payload_strategy(),
        )
            .prop_map(|(org, room, ty, payload)| Step::Publish {
                org,
                room,
                ty,
                payload,
            });
        let publish = if state.ever.is_empty() {
            publish.boxed()
        } else {
            let ever: Vec<(u8, bool, u8)> = state.ever.iter().copied().collect();
            let aimed = (
                proptest::sample::select(ever),
                0..(TYPES.len() as u8),
                payload_strategy(),
            )
                .prop_map(|((org, unit, i), ty, payload)| Step::Publish {
                    org,
                    room: if unit {
                        RoomSel::Unit(i)
                    } else {
                        RoomSel::Site(i)
                    },
                    ty,
                    payload,
                });
            prop_oneof![1 => publish, 1 => aimed].boxed()
        };
        let short_lived = (0..ORGS, 0..USERS)
            .prop_map(|(org, user)| Step::ConnectShortLived { org, user })
            .boxed();
        let may_short_live = state.doomed.is_none() && state.short_lived < MAX_SHORT_LIVED;
        let expire = match state.doomed {
            Some((_, 0)) => return Just(Step::Expire).boxed(),
            Some(_) => Some(Just(Step::Expire).boxed()),
            None => None,
        };
        let live = state.live();
        if live.is_empty() {
            // a short-lived socket comes only beside a live one, whose
            // events must be unaffected by its expiry
            return prop_oneof![3 => connect, 1 => publish].boxed();
        }
        let held: Vec<(usize, bool, u8)> = state
            .socks
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
            .flat_map(|(i, s)| {
                s.rooms.iter().filter_map(move |r| {
                    let (kind, id) = r.split_once(":s")?;
                    Some((i, kind == "unit", id.parse::<u8>().ok()?))
                })
            })
            .collect();
        let unsubscribe_held = if held.is_empty() {
            Just(Step::Publish {
                org: 0,
                room: RoomSel::Org,
                ty: 0,
                payload: Value::Null,
            })
            .boxed()
        } else {
            proptest::sample::select(held)
                .prop_map(|(sock, unit, i)| Step::Unsubscribe {
                    sock,
                    unit,
                    id: IdArg::Valid(i),
                })
                .boxed()
        };
        let pick = proptest::sample::select(live);
        // weights doubled so that a short-lived socket (1) is rare: each costs about 1.3 s
        let mut arms = vec![
            (4, connect.boxed()),
            (
                6,
                (pick.clone(), any::<bool>(), id_strategy())
                    .prop_map(|(sock, unit, id)| Step::Subscribe { sock, unit, id })
                    .boxed(),
            ),
            (
                4,
                (pick.clone(), any::<bool>(), id_strategy())
                    .prop_map(|(sock, unit, id)| Step::Unsubscribe { sock, unit, id })
                    .boxed(),
            ),
            (10, publish),
            (4, unsubscribe_held),
            (2, pick.prop_map(|sock| Step::Disconnect { sock }).boxed()),
        ];
        if may_short_live {
            arms.push((1, short_lived));
        }
        if let Some(expire) = expire {
            arms.push((6, expire));
        }
        Union::new_weighted(arms).boxed()
    }

    fn apply(mut state: Model, t: &Step) -> Model {
        if let Some((_, left)) = &mut state.doomed {
            *left = left.saturating_sub(1);
        }
        match t {
            Step::Connect { org, user } => state.socks.push(Some(SockModel {
                org: *org,
                user: *user,
                rooms: BTreeSet::new(),
            })),
            Step::ConnectShortLived { org, user } => {
                state.doomed = Some((state.socks.len(), STEPS_BEFORE_EXPIRY));
                state.short_lived += 1;
                state.socks.push(Some(SockModel {
                    org: *org,
                    user: *user,
                    rooms: BTreeSet::new(),
                }));
            }
            Step::Subscribe {
                sock,
                unit,
                id: IdArg::Valid(i),
            } => {
                if let Some(Some(s)) = state.socks.get_mut(*sock) {
                    s.rooms.insert(room_key(*unit, *i));
                    let org = s.org;
                    state.ever.insert((org, *unit, *i));
                }
            }
            Step::Unsubscribe {
                sock,
                unit,
                id: IdArg::Valid(i),
            } => {
                if let Some(Some(s)) = state.socks.get_mut(*sock) {
                    s.rooms.remove(&room_key(*unit, *i));
                }
            }
            Step::Disconnect { sock } => {
                if let Some(s) = state.socks.get_mut(*sock) {
                    *s = None;
                }
                if matches!(state.doomed, Some((d, _)) if d == *sock) {
                    state.doomed = None;
                }
            }
            Step::Expire => {
                if let Some((d, _)) = state.doomed.take() {
                    if let Some(s) = state.socks.get_mut(d) {
                        *s = None;
                    }
                }
            }
            _ => {}
        }
        state
    }

    fn preconditions(state: &Model, t: &Step) -> bool {
        if let Some((_, left)) = state.doomed {
            match t {
                Step::Expire => return true,
                _ if left == 0 => return false,
                _ => {}
            }
        }
        let capacity = state.socks.len() < MAX_SOCKETS * 2 && state.live().len() < MAX_SOCKETS;
        match t {
            Step::Connect { .. } => capacity,
            Step::ConnectShortLived { .. } => {
                capacity && state.doomed.is_none() && state.short_lived < MAX_SHORT_LIVED
            }
            // only with a short-lived socket (checked above)
            Step::Expire => false,
            Step::Subscribe { sock, .. }
            | Step::Unsubscribe { sock, .. }
            | Step::Disconnect { sock } => {
                matches!(state.socks.get(*sock), Some(Some(_)))
            }
            Step::Publish { .. } => true,
        }
    }
}

/// The live system: one client per model socket.
struct Sut {
    ctx: Ctx,
    tag: String,
    clients: Vec<Option<WsClient>>,
    /// The short-lived socket not yet expired and its token's `exp` (seconds).
    expiring: Option<(usize, i64)>,
}

/// How long from now until `exp` (seconds) plus `extra_ms` (zero once past).
fn until_exp(exp: i64, extra_ms: i64) -> Duration {
    Duration::from_millis((exp * 1000 + extra_ms - expect::now_ms()).max(0) as u64)
}

/// `system:connected` must list the organization and user rooms.
fn check_auto_rooms(env: &Value, org: &str, user: &str) -> Result<(), CheckFailure> {
    let rooms = env
        .pointer("/payload/rooms")
        .cloned()
        .unwrap_or(Value::Null);
    let want = json!([format!("org:{org}"), format!("org:{org}:user:{user}")]);
    if rooms != want {
        return Err(CheckFailure::fail("system:connected rooms")
            .expected(want)
            .actual(rooms));
    }
    Ok(())
}

/// The expired socket: `system:error` TOKEN_EXPIRED next, then a DISCONNECT
/// and the close, nothing else.
async fn expect_expiry(c: &mut WsClient, nsp: &str, exp: i64) -> Result<(), CheckFailure> {
    let p = c
        .next_sio_within(
            until_exp(exp, EXPIRY_SLACK_MS),
            "system:error TOKEN_EXPIRED",
        )
        .await
        .map_err(|e| {
            CheckFailure::fail(format!(
                "no system:error TOKEN_EXPIRED within {EXPIRY_SLACK_MS} ms of exp"
            ))
            .expected("42[\"system:error\",{…\"code\":\"TOKEN_EXPIRED\"…}]")
            .actual(e)
        })?;
    let env = match p.data {
        PacketData::Event { args, .. }
            if p.nsp == nsp && args.len() == 2 && args.first() == Some(&json!("system:error")) =>
        {
            args.get(1).cloned().unwrap_or(Value::Null)
        }
        other => {
            return Err(
                CheckFailure::fail("expected system:error TOKEN_EXPIRED next")
                    .actual(format!("{:?} {other:?}", p.nsp)),
            )
        }
    };
    expect::envelope(&env, Some("system:error"))?;
    let code = env.pointer("/payload/code").unwrap_or(&Value::Null);
    if code != "TOKEN_EXPIRED" {
        return Err(CheckFailure::fail("system:error code")
            .expected("TOKEN_EXPIRED")
            .actual(code));
    }
    let (seen, close) = c
        .wait_closed(until_exp(exp, EXPIRY_SLACK_MS).max(Duration::from_millis(500)))
        .await
        .map_err(|e| {
            CheckFailure::fail("the expired socket's connection was not closed")
                .expected("41 then the connection closed")
                .actual(e)
        })?;
    match seen.as_slice() {
        [d] if d.nsp == nsp && matches!(d.data, PacketData::Disconnect) => Ok(()),
        _ => Err(
            CheckFailure::fail("expected exactly a DISCONNECT after the system:error")
                .expected("41 then the connection closed")
                .actual(format!("{seen:?} then {close}")),
        ),
    }
}

impl Sut {
    fn org(&self, i: u8) -> String {
        format!("m{}o{i}", self.tag)
    }

    fn id_arg(id: &IdArg) -> Value {
        match id {
            IdArg::Valid(i) => json!(format!("s{i}")),
            IdArg::Hostile(i) => HOSTILE
                .get(*i as usize)
                .map(|s| json!(s))
                .unwrap_or(json!(42)),
            IdArg::TooLong => json!("y".repeat(65)),
        }
    }

    async fn step(&mut self, before: &Model, t: &Step) -> Result<(), CheckFailure> {
        match t {
            Step::Connect { org, user } => {
                let (o, u) = (self.org(*org), format!("u{user}"));
                let (c, env) = self.ctx.connect(&o, &u).await?;
                check_auto_rooms(&env, &o, &u)?;
                self.clients.push(Some(c));
            }
            Step::ConnectShortLived { org, user } => {
                let (o, u) = (self.org(*org), format!("u{user}"));
                // whole seconds, at least SHORT_LIFE_MS ahead: 0.8–1.8 s of life
                let exp = (expect::now_ms() + SHORT_LIFE_MS + 999) / 1000;
                let mut claims = client_claims(&o, &u);
                claims.insert("exp".into(), json!(exp));
                let token = self.ctx.minter.sign(&claims)?;
                let (c, env) = self.ctx.connect_token(&token).await?;
                check_auto_rooms(&env, &o, &u)?;
                self.expiring = Some((self.clients.len(), exp));
                self.clients.push(Some(c));
            }
            Step::Expire => {
                let (sock, exp) = self
                    .expiring
                    .take()
                    .ok_or_else(|| CheckFailure::fail("model bug: no short-lived socket"))?;
                let mut c = self
                    .clients
                    .get_mut(sock)
                    .and_then(Option::take)
                    .ok_or_else(|| CheckFailure::fail("model bug: no client"))?;
                let nsp = self.ctx.nsp().to_string();
                let r = expect_expiry(&mut c, &nsp, exp).await;
                c.close().await;
                r.map_err(|mut e| {
                    e.message = format!("socket {sock}: {}", e.message);
                    e
                })?;
            }
            Step::Subscribe { sock, unit, id } | Step::Unsubscribe { sock, unit, id } => {
                let verb = if matches!(t, Step::Subscribe { .. }) {
                    "subscribe"
                } else {
                    "unsubscribe"
                };
                let kind = if *unit { "unit" } else { "site" };
                let org = before
                    .socks
                    .get(*sock)
                    .and_then(|s| s.as_ref())
                    .map(|s| s.org)
                    .unwrap_or(0);
                let org = self.org(org);
                let c = self
                    .clients
                    .get_mut(*sock)
                    .and_then(Option::as_mut)
                    .ok_or_else(|| CheckFailure::fail("model bug: no client"))?;
                let args = c
                    .emit_ack(&format!("{verb}:{kind}"), vec![Self::id_arg(id)])
                    .await?;
                match id {
                    IdArg::Valid(i) => expect::ack_ok(&args, &format!("org:{org}:{kind}:s{i}"))?,
                    _ => expect::ack_err(&args, "INVALID_ID")?,
                }
            }
            Step::Publish {
                org,
                room,
                ty,
                payload,
            } => {
                let o = self.org(*org);
                let name = match room {
                    RoomSel::Org => format!("org:{o}"),
                    RoomSel::Site(i) => format!("org:{o}:site:s{i}"),
                    RoomSel::Unit(i) => format!("org:{o}:unit:s{i}"),
                    RoomSel::User(u) => format!("org:{o}:user:u{u}"),
                };
                let ty = TYPES.get(*ty as usize).copied().unwrap_or("dash:update");
                let b = self.ctx.publish_ok(&name, ty, payload.clone()).await?;
                let mut first: Option<Value> = None;
                for i in before.recipients(*org, room) {
                    let c = self
                        .clients
                        .get_mut(i)
                        .and_then(Option::as_mut)
                        .ok_or_else(|| CheckFailure::fail("model bug: no client"))?;
                    let env = c
                        .expect_event(ty)
                        .await
                        .map_err(|e| CheckFailure::fail(format!("socket {i}: {e}")))?;
                    expect::envelope(&env, Some(ty))?;
                    if env.get("eventId") != b.get("eventId") || env.get("payload") != Some(payload)
                    {
                        return Err(CheckFailure::fail(format!("socket {i} got another event"))
                            .expected(&b)
                            .actual(&env));
                    }
                    match &first {
                        None => first = Some(env),
                        Some(f) if *f != env => {
                            return Err(CheckFailure::fail("envelopes differ between sockets")
                                .expected(f)
                                .actual(env))
                        }
                        Some(_) => {}
                    }
                }
            }
            Step::Disconnect { sock } => {
                if matches!(self.expiring, Some((s, _)) if s == *sock) {
                    self.expiring = None;
                }
                if let Some(slot) = self.clients.get_mut(*sock) {
                    if let Some(c) = slot.take() {
                        c.close().await;
                    }
                }
            }
        }
        Ok(())
    }

    /// Nothing unpredicted may be pending on any socket, and none may be closed.
    async fn quiet(&mut self) -> Result<(), CheckFailure> {
        // a short-lived socket whose Expire never came is closed unchecked:
        // it may expire at any moment now
        if let Some((s, _)) = self.expiring.take() {
            if let Some(c) = self.clients.get_mut(s).and_then(Option::take) {
                c.close().await;
            }
        }
        let waits = self
            .clients
            .iter_mut()
            .enumerate()
            .filter_map(|(i, c)| c.as_mut().map(|c| (i, c)))
            .map(|(i, c)| async move {
                c.expect_silence(Duration::from_millis(250))
                    .await
                    .map_err(|x| {
                        CheckFailure::fail(format!("socket {i} received an unpredicted packet"))
                            .actual(format!("{x:?}"))
                    })?;
                if c.is_closed() {
                    return Err(CheckFailure::fail(format!(
                        "socket {i} was closed by the server"
                    )));
                }
                Ok(())
            });
        for r in futures_util::future::join_all(waits).await {
            r?;
        }
        Ok(())
    }
}

async fn run_case(
    cfg: Arc<RunConfig>,
    minter: Arc<Minter>,
    transitions: &[Step],
    seen: Option<&Arc<AtomicUsize>>,
) -> Result<(), TestCaseError> {
    let ctx = Ctx {
        cfg,
        tr: Transcript::new(),
        minter,
        id: "MODEL",
    };
    let mut sut = Sut {
        tag: ctx.uniq("t").replace('-', ""),
        ctx,
        clients: Vec::new(),
        expiring: None,
    };
    let mut model = Model::default();
    let mut result = Ok(());
    let mut rejected = None;
    for (n, t) in transitions.iter().enumerate() {
        if let (Some((_, exp)), false) = (sut.expiring, matches!(t, Step::Expire)) {
            if expect::now_ms() > exp * 1000 - EXPIRY_GUARD_MS {
                // the harness, not the server, was too slow to run the steps
                // before the short-lived token's exp: no verdict
                rejected = Some(format!(
                    "step {n} would start less than {EXPIRY_GUARD_MS} ms before exp"
                ));
                break;
            }
        }
        if let Some(s) = seen {
            s.fetch_add(1, Ordering::SeqCst);
        }
        if let Err(e) = sut.step(&model, t).await {
            result = Err(format!(
                "step {n} {t:?}: {}{}{}",
                e.message,
                e.expected
                    .map(|x| format!("\n  expected: {x}"))
                    .unwrap_or_default(),
                e.actual
                    .map(|x| format!("\n  actual:   {x}"))
                    .unwrap_or_default()
            ));
            break;
        }
        model = Reference::apply(model, t);
    }
    if result.is_ok() && rejected.is_none() {
        if let Err(e) = sut.quiet().await {
            result = Err(format!(
                "after the last step: {}{}",
                e.message,
                e.actual.map(|x| format!(" {x}")).unwrap_or_default()
            ));
        }
    }
    for c in sut.clients.into_iter().flatten() {
        c.close().await;
    }
    if let Some(why) = rejected {
        return Err(TestCaseError::reject(why));
    }
    if let Err(msg) = &result {
        let tail: Vec<String> = sut
            .ctx
            .tr
            .entries()
            .iter()
            .rev()
            .take(25)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(TestCaseError::fail(format!(
            "{msg}\n  transcript (last lines):\n    {}",
            tail.join("\n    ")
        )));
    }
    Ok(())
}

/// Runs `cases` random sequences; the error names the seed and the minimal failing sequence.
pub async fn run(cfg: Arc<RunConfig>, minter: Arc<Minter>, cases: u32) -> Result<(), String> {
    let seed = cfg.seed;
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut bytes = [0u8; 32];
        for (i, b) in seed.to_le_bytes().iter().cycle().take(32).enumerate() {
            bytes[i] = b.wrapping_add(i as u8);
        }
        let config = Config { cases, failure_persistence: None, max_shrink_iters: 200, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
        let strategy = Reference::sequential_strategy(1..24);
        let debug = std::env::var_os("ROOMCAST_MODEL_DEBUG").is_some();
        let result = runner.run(&strategy, |(_, transitions, seen)| {
            if debug {
                eprintln!("case: {transitions:?}");
            }
            handle
                .block_on(run_case(cfg.clone(), minter.clone(), &transitions, seen.as_ref()))
        });
        match result {
            Ok(()) => Ok(()),
            Err(TestError::Fail(why, (_, transitions, _))) => Err(format!(
                "{why}\nminimal failing sequence ({} steps):\n  {}\nreplay: roomcast-conformance … --model-cases {cases} --seed {seed}",
                transitions.len(),
                transitions.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join("\n  ")
            )),
            Err(TestError::Abort(why)) => Err(format!("aborted: {why} (seed {seed})")),
        }
    })
    .await
    .map_err(|e| format!("model task: {e}"))?
}
