//! The Redis Streams fan-out backend: one stream is the cluster's ordered event log.
//!
//! ```text
//!   publish ──EVAL append──▶ {prefix}:events (XADD MAXLEN ~ N, field s = INCR {prefix}:seq)
//!                                  │
//!        every instance: one reader task, XREAD BLOCK from its last id
//!                                  ▼
//!                 hub.publish(room, one shared frame) ──▶ local outboxes
//! ```
//!
//! - A 202 is answered only once the append is acknowledged (PUB-24); while this
//!   instance cannot deliver, publishes answer 503 at once.
//! - Local sockets are served from the same ordered read as remote ones, so every
//!   instance delivers the stream's one order (FAN-4) and the publishing instance
//!   delivers once (FAN-2).
//! - The reader resumes from its last id after any reconnect (`CLIENT KILL`, a paused
//!   or restarted Redis): nothing retained is lost. Each entry carries a cluster-wide
//!   sequence number, so a gap (the reader fell behind `MAXLEN`) or a reset (Redis came
//!   back without its data) is detected, logged and counted.
//! - Readiness is probed through the read loop itself: the link task appends a probe
//!   entry every `probe_interval`; the instance is ready only while its own latest
//!   probe was read back within `probe_stale` (a stalled reader turns `/readyz` red).
//!
//! Keys share one hash tag, `{prefix}`, so the stream and its counter live in one
//! Redis Cluster slot.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo as _, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::{info, warn};

use crate::config::RedisConfig;
use crate::hub::{Frame, Hub};
use crate::metrics::Metrics;

/// This instance cannot hand the event to fan-out now (PUB-24: answer 503, never 202).
/// Only the Redis backend can be unavailable; [`crate::fanout`] re-exports it.
#[derive(Debug, thiserror::Error)]
#[error("fan-out unavailable: {0}")]
pub struct Unavailable(pub &'static str);

/// Appends one entry with the next cluster-wide sequence number; returns `{id, seq}`.
/// With a third key (an event's outcome key), appends only if that key did not exist
/// yet (it is set to `a`, appended) and returns `false` otherwise (the publish was
/// cancelled by [`RESOLVE`]). Every key carries the same hash tag (one Redis Cluster slot).
const APPEND: &str = "if #KEYS == 3 and not redis.call('SET', KEYS[3], 'a', 'NX', 'PX', ARGV[5]) then return false end \
local seq = redis.call('INCR', KEYS[2]) \
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', seq, 'k', ARGV[2], 'a', ARGV[3], 'b', ARGV[4]) \
return {id, seq}";

/// Settles an append whose answer was lost: cancels it (`c`) unless it was appended
/// (`a`). Whichever of the two scripts runs first wins, so an event answered 503 is
/// never delivered and one answered 202 always is.
const RESOLVE: &str =
    "if redis.call('SET', KEYS[1], 'c', 'NX', 'PX', ARGV[1]) then return 'c' end \
return redis.call('GET', KEYS[1])";

/// How long an event's outcome key lives (ms): longer than any append can stay in flight.
const OUTCOME_TTL_MS: u64 = 60_000;

/// Entries read per XREAD.
const READ_BATCH: usize = 1000;
/// How long one XREAD blocks on the server.
const READ_BLOCK: Duration = Duration::from_millis(1000);

/// The Redis key names of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The stream: `{prefix}:events`.
    pub stream: String,
    /// The sequence counter: `{prefix}:seq`.
    pub seq: String,
    prefix: String,
}

impl Keys {
    /// The keys for `prefix` (the hash tag).
    pub fn new(prefix: &str) -> Keys {
        Keys {
            stream: format!("{{{prefix}}}:events"),
            seq: format!("{{{prefix}}}:seq"),
            prefix: prefix.to_owned(),
        }
    }

    /// The outcome key of one event: `{prefix}:ev:<eventId>` (`a` appended, `c`
    /// cancelled; expires after a minute).
    pub fn outcome(&self, event_id: &str) -> String {
        format!("{{{}}}:ev:{event_id}", self.prefix)
    }
}

/// The append of one entry: `EVAL` of [`APPEND`] on the stream and counter of `keys`
/// (and an event's `outcome` key), with fields `k` = `kind` (`e` event, `p` probe),
/// `a` and `b` (room and frame text of an event; the instance of a probe). Sans-io: the
/// caller sends it; [`decode_entry`] reads the entry back.
pub fn append_cmd(
    keys: &Keys,
    maxlen: usize,
    kind: &str,
    a: &str,
    b: &str,
    outcome: Option<&str>,
) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(APPEND)
        .arg(if outcome.is_some() { 3 } else { 2 })
        .arg(&keys.stream)
        .arg(&keys.seq);
    if let Some(key) = outcome {
        cmd.arg(key);
    }
    cmd.arg(maxlen).arg(kind).arg(a).arg(b).arg(OUTCOME_TTL_MS);
    cmd
}

/// What one stream entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A published event: its room and its Socket.IO frame text.
    Event {
        /// The room.
        room: String,
        /// The frame text, as every socket receives it.
        frame: String,
    },
    /// A delivery probe appended by the instance `instance`.
    Probe {
        /// The appending instance's id.
        instance: String,
    },
}

/// One decoded stream entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stream id, `ms-n`.
    pub id: String,
    /// The cluster-wide sequence number.
    pub seq: u64,
    /// The content.
    pub body: Body,
}

impl Entry {
    /// The millisecond part of the id (Redis server time at the append).
    pub fn id_ms(&self) -> Option<u64> {
        self.id.split('-').next()?.parse().ok()
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn pairs(v: &Value) -> Vec<(&Value, &Value)> {
    match v {
        Value::Array(items) => items.chunks_exact(2).map(|c| (&c[0], &c[1])).collect(),
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    }
}

/// Decodes one `[id, [field, value, ...]]` entry. An entry this code did not write is
/// `None` (and skipped by the reader).
pub fn decode_entry(v: &Value) -> Option<Entry> {
    let Value::Array(parts) = v else { return None };
    let id = text(parts.first()?)?;
    let mut seq = None;
    let (mut kind, mut a, mut b) = (None, None, None);
    for (k, val) in pairs(parts.get(1)?) {
        match text(k)?.as_str() {
            "s" => seq = text(val)?.parse::<u64>().ok(),
            "k" => kind = text(val),
            "a" => a = text(val),
            "b" => b = text(val),
            _ => {}
        }
    }
    let body = match kind?.as_str() {
        "e" => Body::Event {
            room: a?,
            frame: b?,
        },
        "p" => Body::Probe { instance: a? },
        _ => return None,
    };
    Some(Entry {
        id,
        seq: seq?,
        body,
    })
}

/// Decodes an XREAD / XREVRANGE reply into its entries (RESP2 arrays or RESP3 maps).
pub fn decode_entries(v: &Value) -> Vec<Entry> {
    let list = match v {
        Value::Nil => return Vec::new(),
        // XREAD: [[key, [entries]]] (RESP2) or {key: [entries]} (RESP3)
        Value::Array(streams) if streams.first().is_some_and(is_stream_pair) => streams
            .iter()
            .filter_map(|s| match s {
                Value::Array(kv) => kv.get(1),
                _ => None,
            })
            .collect::<Vec<_>>(),
        Value::Map(m) => m.iter().map(|(_, v)| v).collect(),
        // XREVRANGE: [entries]
        other => vec![other],
    };
    list.into_iter()
        .flat_map(|l| match l {
            Value::Array(entries) => entries.iter().filter_map(decode_entry).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn is_stream_pair(v: &Value) -> bool {
    // [key, [entries]]: the key is a string, the second element an array of arrays
    matches!(v, Value::Array(kv) if kv.len() == 2
        && matches!(kv[0], Value::BulkString(_) | Value::SimpleString(_))
        && matches!(&kv[1], Value::Array(e) if e.iter().all(|x| matches!(x, Value::Array(_)))))
}

/// What the next sequence number says about the log (sans-io: the reader's bookkeeping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqStep {
    /// The first entry this reader sees.
    First,
    /// The next entry, as expected.
    Next,
    /// `n` entries were never read: trimmed before this reader got to them.
    Gap(u64),
    /// The sequence went backwards: Redis lost its data (restart without persistence).
    Reset,
}

/// Tracks the last sequence number read.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqCursor {
    last: Option<u64>,
}

impl SeqCursor {
    /// Observes the next entry's sequence number.
    pub fn observe(&mut self, seq: u64) -> SeqStep {
        let step = match self.last {
            None => SeqStep::First,
            Some(l) if seq == l + 1 => SeqStep::Next,
            Some(l) if seq > l => SeqStep::Gap(seq - l - 1),
            Some(_) => SeqStep::Reset,
        };
        self.last = Some(seq);
        step
    }
}

/// Exponential reconnect delay, 50 ms doubling to 1 s.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    const MIN: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_millis(1000);

    fn new() -> Backoff {
        Backoff(Backoff::MIN)
    }

    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Backoff::MAX);
        d
    }

    fn reset(&mut self) {
        self.0 = Backoff::MIN;
    }
}

/// State shared by the publish path and the two background tasks.
#[derive(Debug)]
struct Inner {
    client: redis::Client,
    keys: Keys,
    cfg: RedisConfig,
    instance: String,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    /// The append connection, while up.
    writer: RwLock<Option<MultiplexedConnection>>,
    /// Wakes the link task when a publish saw the append connection fail.
    writer_failed: Notify,
    reader_up: AtomicBool,
    started: Instant,
    /// When this instance's own probe was last read back (ms since `started`).
    probe_seen: AtomicU64,
    /// Highest sequence number this instance's appends were given.
    appended_seq: AtomicU64,
    /// Redis's clock less this instance's wall clock (ms), from `TIME` at each reader
    /// connect: the read lag compares stream ids (Redis's clock) with Redis's time.
    clock_offset_ms: AtomicI64,
}

const NEVER: u64 = u64::MAX;

impl Inner {
    fn since_start_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    fn probe_age(&self) -> Option<Duration> {
        let seen = self.probe_seen.load(Relaxed);
        (seen != NEVER).then(|| Duration::from_millis(self.since_start_ms().saturating_sub(seen)))
    }

    fn ready(&self) -> bool {
        self.reader_up.load(Relaxed)
            && self.writer_conn().is_some()
            && self.probe_age().is_some_and(|a| a <= self.cfg.probe_stale)
    }

    fn writer_conn(&self) -> Option<MultiplexedConnection> {
        self.writer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_writer(&self, conn: Option<MultiplexedConnection>) {
        *self.writer.write().unwrap_or_else(|e| e.into_inner()) = conn;
        self.refresh_up();
    }

    fn refresh_up(&self) {
        let up = self.reader_up.load(Relaxed) && self.writer_conn().is_some();
        self.metrics.redis_up.store(i64::from(up), Relaxed);
    }

    /// A new connection whose commands time out after `response_timeout`.
    async fn connect(
        &self,
        response_timeout: Duration,
    ) -> redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.cfg.publish_timeout))
            .set_response_timeout(Some(response_timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// Appends one entry; returns its sequence number, or `None` when `outcome` (an
    /// event's outcome key) says the publish was cancelled.
    async fn append(
        &self,
        conn: &mut MultiplexedConnection,
        kind: &str,
        a: &str,
        b: &str,
        outcome: Option<&str>,
    ) -> redis::RedisResult<Option<u64>> {
        let cmd = append_cmd(&self.keys, self.cfg.maxlen, kind, a, b, outcome);
        let reply: Value = cmd.query_async(conn).await?;
        let seq = match &reply {
            Value::Array(v) => v.get(1).and_then(text).and_then(|s| s.parse().ok()),
            _ => return Ok(None),
        }
        .unwrap_or(0);
        self.appended_seq.fetch_max(seq, Relaxed);
        Ok(Some(seq))
    }

    /// Settles the outcome of an append whose answer was lost (see [`RESOLVE`]), on a
    /// fresh connection, retrying until Redis answers: `true` if it was appended. The
    /// publish waits meanwhile (unanswered, never a wrong answer).
    async fn resolve(&self, outcome: &str) -> bool {
        let mut backoff = Backoff::new();
        loop {
            if let Ok(mut conn) = self.connect(self.cfg.publish_timeout).await {
                let r: redis::RedisResult<Value> = redis::cmd("EVAL")
                    .arg(RESOLVE)
                    .arg(1)
                    .arg(outcome)
                    .arg(OUTCOME_TTL_MS)
                    .query_async(&mut conn)
                    .await;
                if let Ok(v) = r {
                    return text(&v).as_deref() == Some("a");
                }
            }
            tokio::time::sleep(backoff.next()).await;
        }
    }
}

/// The Redis backend of one instance: the publish path and the handles of its tasks.
#[derive(Debug)]
pub(crate) struct RedisFanout {
    inner: Arc<Inner>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl RedisFanout {
    /// Parses the URL and starts the link (append + probe) and reader tasks.
    pub(crate) fn start(
        cfg: &RedisConfig,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
    ) -> Result<RedisFanout, redis::RedisError> {
        // TCP_NODELAY (redis-rs leaves Nagle on): concurrent publishes share the append
        // connection, and with Nagle each append would wait for the previous reply's ACK.
        let info = cfg
            .url
            .as_str()
            .into_connection_info()?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info)?;
        metrics.redis_enabled.store(true, Relaxed);
        let instance = format!("{:016x}", rand::random::<u64>());
        let inner = Arc::new(Inner {
            client,
            keys: Keys::new(&cfg.key_prefix),
            cfg: cfg.clone(),
            instance,
            hub,
            metrics,
            writer: RwLock::new(None),
            writer_failed: Notify::new(),
            reader_up: AtomicBool::new(false),
            started: Instant::now(),
            probe_seen: AtomicU64::new(NEVER),
            appended_seq: AtomicU64::new(0),
            clock_offset_ms: AtomicI64::new(0),
        });
        info!(
            event = "fanout",
            backend = "redis",
            stream = inner.keys.stream.as_str(),
            instance = inner.instance.as_str(),
            "Redis Streams fan-out; not ready until Redis answers"
        );
        let tasks = vec![
            tokio::spawn(link_task(Arc::clone(&inner))),
            tokio::spawn(read_task(Arc::clone(&inner))),
        ];
        Ok(RedisFanout {
            inner,
            tasks: Mutex::new(tasks),
        })
    }

    /// Appends the event; `Ok` once Redis acknowledged the append. When the answer is
    /// lost (a killed connection, a paused Redis), the outcome is settled first: `Ok`
    /// if it was appended, else it is cancelled and never delivered.
    pub(crate) async fn publish(
        &self,
        room: &str,
        event_id: &str,
        frame_text: String,
    ) -> Result<(), Unavailable> {
        let inner = &self.inner;
        if !inner.ready() {
            return Err(Unavailable("this instance cannot deliver now"));
        }
        let Some(mut conn) = inner.writer_conn() else {
            return Err(Unavailable("no Redis connection"));
        };
        let outcome = inner.keys.outcome(event_id);
        match inner
            .append(&mut conn, "e", room, &frame_text, Some(&outcome))
            .await
        {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Unavailable("the publish was cancelled")),
            Err(e) => {
                // The append may or may not have run: settle it before answering. The
                // link task reconnects meanwhile.
                warn!(event = "redis_append_failed", error = %e, "publish append failed; settling its outcome");
                inner.set_writer(None);
                inner.writer_failed.notify_waiters();
                if inner.resolve(&outcome).await {
                    Ok(())
                } else {
                    Err(Unavailable("the Redis append failed and was cancelled"))
                }
            }
        }
    }

    pub(crate) fn ready(&self) -> bool {
        self.inner.ready()
    }

    pub(crate) fn observe(&self) {
        let inner = &self.inner;
        let age = inner
            .probe_age()
            .map_or(-1, |a| i64::try_from(a.as_millis()).unwrap_or(i64::MAX));
        inner.metrics.redis_probe_age_ms.store(age, Relaxed);
    }

    pub(crate) fn stop(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
        self.inner.set_writer(None);
        self.inner.reader_up.store(false, Relaxed);
    }
}

impl Drop for RedisFanout {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Keeps the append connection up and appends a probe every `probe_interval`.
async fn link_task(inner: Arc<Inner>) {
    let mut backoff = Backoff::new();
    let mut was_up = false;
    let mut logged_down = false;
    loop {
        let mut conn = match inner.connect(inner.cfg.publish_timeout).await {
            Ok(c) => c,
            Err(e) => {
                if !logged_down {
                    warn!(event = "redis_down", error = %e, "cannot reach Redis; not ready, retrying");
                    logged_down = true;
                }
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        };
        // a probe first: the connection is only handed to publishes once it answers
        if let Err(e) = inner
            .append(&mut conn, "p", &inner.instance, "", None)
            .await
        {
            warn!(event = "redis_down", error = %e, "Redis does not answer; retrying");
            tokio::time::sleep(backoff.next()).await;
            continue;
        }
        backoff.reset();
        logged_down = false;
        if was_up {
            inner.metrics.redis_reconnects.fetch_add(1, Relaxed);
        }
        was_up = true;
        info!(event = "redis_up", "Redis append connection up");
        inner.set_writer(Some(conn.clone()));
        let mut tick = tokio::time::interval(inner.cfg.probe_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = inner.append(&mut conn, "p", &inner.instance, "", None).await {
                        warn!(event = "redis_down", error = %e, "probe append failed; reconnecting");
                        break;
                    }
                }
                _ = inner.writer_failed.notified() => break,
            }
        }
        inner.set_writer(None);
        tokio::time::sleep(backoff.next()).await;
    }
}

/// Reads the stream in order from the last id and serves the local sockets.
async fn read_task(inner: Arc<Inner>) {
    let mut backoff = Backoff::new();
    // Set when Redis first answers: this instance's start time on Redis's clock.
    let mut last_id: Option<String> = None;
    let mut cursor = SeqCursor::default();
    let mut was_up = false;
    loop {
        let mut conn = match inner.connect(READ_BLOCK + inner.cfg.publish_timeout).await {
            Ok(c) => c,
            Err(_) => {
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        };
        match redis::cmd("TIME").query_async(&mut conn).await {
            Ok(now) => {
                let redis_ms = time_ms(now);
                let offset = i64::try_from(redis_ms)
                    .unwrap_or(i64::MAX)
                    .saturating_sub(crate::clock::now_ms());
                inner.clock_offset_ms.store(offset, Relaxed);
                if last_id.is_none() {
                    last_id = Some(start_id(redis_ms, inner.started.elapsed()));
                }
            }
            Err(e) => {
                warn!(event = "redis_down", error = %e, "Redis TIME failed; retrying");
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        }
        backoff.reset();
        if was_up {
            inner.metrics.redis_reconnects.fetch_add(1, Relaxed);
            info!(
                event = "redis_resume",
                from = last_id.as_deref().unwrap_or(""),
                "reader resumed from its last id"
            );
        }
        was_up = true;
        inner.reader_up.store(true, Relaxed);
        inner.refresh_up();
        loop {
            // (Always set above; `$`, the newest entry, would be the fallback.)
            let from = last_id.clone().unwrap_or_else(|| "$".to_owned());
            let r: redis::RedisResult<Value> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_BATCH)
                .arg("BLOCK")
                .arg(u64::try_from(READ_BLOCK.as_millis()).unwrap_or(1000))
                .arg("STREAMS")
                .arg(&inner.keys.stream)
                .arg(&from)
                .query_async(&mut conn)
                .await;
            let v = match r {
                Ok(v) => v,
                Err(e) => {
                    warn!(event = "redis_down", error = %e, "stream read failed; reconnecting");
                    break;
                }
            };
            for e in decode_entries(&v) {
                last_id = Some(deliver(&inner, &mut cursor, e));
            }
        }
        inner.reader_up.store(false, Relaxed);
        inner.refresh_up();
        tokio::time::sleep(backoff.next()).await;
    }
}

/// Redis `TIME` (seconds and microseconds) in milliseconds since the epoch.
fn time_ms((secs, micros): (u64, u64)) -> u64 {
    secs.saturating_mul(1000).saturating_add(micros / 1000)
}

/// The stream id from which a reader starts: the instance's start time on Redis's clock,
/// `redis_now_ms` (from `TIME`) less the time since the instance started. Not the newest
/// entry when Redis first answers: sockets may connect while Redis is still down, and the
/// events other instances accept meanwhile are theirs too (FAULT-6). Stream ids are
/// Redis's clock, so the instance's own wall clock, which may disagree with it, plays no
/// part.
fn start_id(redis_now_ms: u64, since_start: Duration) -> String {
    let since_ms = u64::try_from(since_start.as_millis()).unwrap_or(u64::MAX);
    format!("{}-0", redis_now_ms.saturating_sub(since_ms))
}

/// Serves one entry: an event to the local members of its room (its frame text moves
/// into the one frame every member shares), a probe to readiness. Returns the entry's id.
fn deliver(inner: &Inner, cursor: &mut SeqCursor, e: Entry) -> String {
    let m = &inner.metrics;
    match cursor.observe(e.seq) {
        SeqStep::First | SeqStep::Next => {}
        SeqStep::Gap(n) => {
            m.redis_gaps.fetch_add(1, Relaxed);
            m.redis_gap_events.fetch_add(n, Relaxed);
            warn!(event = "redis_gap", missed = n, at = e.id.as_str(), "fell behind the retained stream: entries were trimmed before this instance read them");
        }
        SeqStep::Reset => {
            m.redis_resets.fetch_add(1, Relaxed);
            warn!(
                event = "redis_reset",
                at = e.id.as_str(),
                "the stream's sequence went backwards: Redis lost its data"
            );
        }
    }
    if let Some(ms) = e.id_ms() {
        // Both on Redis's clock: the stream id and this instance's time plus the offset.
        let redis_now = crate::clock::now_ms().saturating_add(inner.clock_offset_ms.load(Relaxed));
        let lag = redis_now.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX));
        m.redis_read_lag_ms.store(lag.max(0), Relaxed);
    }
    let behind = inner.appended_seq.load(Relaxed).saturating_sub(e.seq);
    m.redis_read_lag_events
        .store(i64::try_from(behind).unwrap_or(i64::MAX), Relaxed);
    match e.body {
        Body::Event { room, frame } => {
            inner
                .hub
                .publish(&room, &Frame::Text(Utf8Bytes::from(frame)));
        }
        Body::Probe { instance } if instance == inner.instance => {
            inner.probe_seen.store(inner.since_start_ms(), Relaxed);
        }
        Body::Probe { .. } => {}
    }
    e.id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn entry(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    #[test]
    fn keys_share_one_hash_tag() {
        let k = Keys::new("roomcast");
        assert_eq!(k.stream, "{roomcast}:events");
        assert_eq!(k.seq, "{roomcast}:seq");
        assert_eq!(k.outcome("e1"), "{roomcast}:ev:e1");
    }

    #[test]
    fn decodes_xread_and_xrevrange_replies() {
        let e1 = entry(
            "5-0",
            &["s", "7", "k", "e", "a", "org:x", "b", "42[\"a:b\",1]"],
        );
        let e2 = entry("6-1", &["s", "8", "k", "p", "a", "abc", "b", ""]);
        let junk = entry("6-2", &["foo", "bar"]);
        let xread = Value::Array(vec![Value::Array(vec![
            bulk("{roomcast}:events"),
            Value::Array(vec![e1.clone(), e2.clone(), junk]),
        ])]);
        let got = decode_entries(&xread);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].body,
            Body::Event {
                room: "org:x".into(),
                frame: "42[\"a:b\",1]".into()
            }
        );
        assert_eq!((got[0].seq, got[0].id_ms()), (7, Some(5)));
        assert_eq!(
            got[1].body,
            Body::Probe {
                instance: "abc".into()
            }
        );
        let xrev = Value::Array(vec![e2]);
        assert_eq!(decode_entries(&xrev)[0].id, "6-1");
        assert!(decode_entries(&Value::Nil).is_empty());
        assert!(decode_entries(&Value::Array(vec![])).is_empty());
    }

    #[test]
    fn the_cursor_tells_next_gap_and_reset_apart() {
        let mut c = SeqCursor::default();
        assert_eq!(c.observe(10), SeqStep::First);
        assert_eq!(c.observe(11), SeqStep::Next);
        assert_eq!(c.observe(15), SeqStep::Gap(3));
        assert_eq!(c.observe(1), SeqStep::Reset);
        assert_eq!(c.observe(2), SeqStep::Next);
    }

    #[test]
    fn fault_6_the_reader_starts_at_the_instance_start_on_redis_clock() {
        // Redis says 1 700 000 000.250 s; the instance started 4.5 s ago.
        let redis_now = time_ms((1_700_000_000, 250_999));
        assert_eq!(redis_now, 1_700_000_000_250);
        let id = start_id(redis_now, Duration::from_millis(4500));
        assert_eq!(id, "1699999995750-0");
        assert_eq!(start_id(time_ms((1, 0)), Duration::from_secs(60)), "0-0");
    }

    #[test]
    fn backoff_doubles_to_a_ceiling_and_resets() {
        let mut b = Backoff::new();
        let seq: Vec<u64> = (0..7).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(seq, [50, 100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next(), Backoff::MIN);
    }
}
