//! What a check gets: the run's configuration, its own transcript, a token
//! minter, and helpers that turn wire-level errors into check failures.

use crate::client::{ClientError, OpenOptions, WsClient};
use crate::http::{self, HttpError, HttpResponse};
use crate::spawn::{LogBuffer, SpawnSpec};
use crate::tokens::{Minter, TokenError};
use crate::transcript::Transcript;
use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Why a check did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The implementation did not do what the requirement says.
    Failed,
    /// The check could not run here (missing key material, feature, spawn mode).
    Skipped,
    /// The harness's own setup kept the check from running (a driver not
    /// installed, a private instance that did not start, a setting the
    /// implementation did not apply): neither PASS nor FAIL of the requirement.
    Error,
}

/// A check's failure (or skip) with expected-versus-actual detail.
#[derive(Debug, Clone)]
pub struct CheckFailure {
    /// Failed or skipped.
    pub kind: FailureKind,
    /// One-line description.
    pub message: String,
    /// What the requirement expects.
    pub expected: Option<String>,
    /// What the implementation did.
    pub actual: Option<String>,
}

impl CheckFailure {
    /// A failure with a message.
    pub fn fail(message: impl Into<String>) -> Self {
        CheckFailure {
            kind: FailureKind::Failed,
            message: message.into(),
            expected: None,
            actual: None,
        }
    }

    /// A skip with its reason.
    pub fn skip(reason: impl Into<String>) -> Self {
        CheckFailure {
            kind: FailureKind::Skipped,
            message: reason.into(),
            expected: None,
            actual: None,
        }
    }

    /// An ERROR: what is missing in the harness's own setup, and the command
    /// (or option) that fixes it.
    pub fn error(missing: impl std::fmt::Display, fix: impl std::fmt::Display) -> Self {
        CheckFailure {
            kind: FailureKind::Error,
            message: format!("{missing}; fix: {fix}"),
            expected: None,
            actual: None,
        }
    }

    /// Adds the expected value.
    pub fn expected(mut self, e: impl std::fmt::Display) -> Self {
        self.expected = Some(e.to_string());
        self
    }

    /// Adds the actual value.
    pub fn actual(mut self, a: impl std::fmt::Display) -> Self {
        self.actual = Some(a.to_string());
        self
    }
}

impl From<ClientError> for CheckFailure {
    fn from(e: ClientError) -> Self {
        CheckFailure::fail(e.to_string())
    }
}

impl From<HttpError> for CheckFailure {
    fn from(e: HttpError) -> Self {
        CheckFailure::fail(e.to_string())
    }
}

impl From<TokenError> for CheckFailure {
    fn from(e: TokenError) -> Self {
        CheckFailure::skip(format!("cannot mint the token this check needs: {e}"))
    }
}

/// The result type of checks.
pub type CheckResult = Result<(), CheckFailure>;

/// Fails with expected/actual unless `cond` holds.
pub fn ensure(
    cond: bool,
    message: impl Into<String>,
    expected: impl std::fmt::Display,
    actual: impl std::fmt::Display,
) -> CheckResult {
    if cond {
        Ok(())
    } else {
        Err(CheckFailure::fail(message)
            .expected(expected)
            .actual(actual))
    }
}

/// Fails unless `actual == expected` (compared as JSON).
pub fn ensure_json(message: &str, expected: &Value, actual: &Value) -> CheckResult {
    ensure(expected == actual, message, expected, actual)
}

/// The configuration every check sees.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Base URLs, one per instance (`http://127.0.0.1:3000`).
    pub targets: Vec<String>,
    /// Base URL for `POST /v1/publish`.
    pub publish_url: String,
    /// Engine.IO path, `/socket.io/`.
    pub path: String,
    /// The profile's namespace.
    pub namespace: String,
    /// Declared optional features.
    pub features: BTreeSet<String>,
    /// Per-step timeout (also the delivery bound).
    pub step: Duration,
    /// Seed for random choices.
    pub seed: u64,
    /// How the target was spawned, if it was (lets checks start private instances).
    pub spawn: Option<SpawnSpec>,
    /// Logs of the spawned instances (empty unless spawned).
    pub logs: Vec<LogBuffer>,
    /// The JWT secret given to spawned instances.
    pub spawn_secret: Option<String>,
    /// `node` driver script for real-client checks (WIRE-15, WIRE-17).
    pub node_driver: Option<String>,
    /// `(python, driver.py)` for the python-socketio check (WIRE-16).
    pub python_driver: Option<(String, String)>,
    /// The `redis-server` program for clusters the harness provisions (FAN).
    pub redis_server: String,
    /// `--env-name SPEC=YOURS`: the implementation's own names of the spec's
    /// settings; private instances get each setting under both names.
    pub env_names: std::collections::BTreeMap<String, String>,
    /// Where the FAULT scenarios get their Redis (`--redis`).
    pub redis: crate::redis::RedisMode,
}

/// Settings a private instance is given beside the one a check needs when
/// that one has no visible effect of its own (connectTimeout, leeway): the
/// open packet shows whether the instance applied these, so a check that
/// sees the default behaviour can tell "setting not applied" (ERROR) from
/// "implementation broken" (FAIL). Far from any default, and harmless for
/// checks that last a few seconds.
pub const WITNESS_SETTINGS: [(&str, &str, &str); 2] = [
    ("ROOMCAST_PING_INTERVAL_MS", "24567", "pingInterval"),
    ("ROOMCAST_PING_TIMEOUT_MS", "19876", "pingTimeout"),
];

/// Context of one check run.
#[derive(Clone)]
pub struct Ctx {
    /// The run's configuration.
    pub cfg: Arc<RunConfig>,
    /// This check's transcript.
    pub tr: Transcript,
    /// Token minting.
    pub minter: Arc<Minter>,
    /// The requirement id being checked.
    pub id: &'static str,
}

impl Ctx {
    /// The step timeout.
    pub fn step(&self) -> Duration {
        self.cfg.step
    }

    /// The first target's base URL.
    pub fn target(&self) -> &str {
        self.cfg
            .targets
            .first()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1:0")
    }

    /// The namespace.
    pub fn nsp(&self) -> &str {
        &self.cfg.namespace
    }

    /// Whether a feature was declared.
    pub fn has_feature(&self, f: &str) -> bool {
        self.cfg.features.contains(f)
    }

    /// A fresh id unique to this check run (`auth3-k2x9q`), valid in the id grammar.
    pub fn uniq(&self, prefix: &str) -> String {
        let mut rng = rand::rng();
        let tag: String = (0..6)
            .map(|_| {
                let i = rng.random_range(0..36u8);
                char::from(if i < 10 { b'0' + i } else { b'a' + i - 10 })
            })
            .collect();
        let id: String = self
            .id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        format!("{}-{prefix}-{tag}", id.to_ascii_lowercase())
    }

    /// A valid client token.
    pub fn token(&self, org: &str, user: &str) -> Result<String, CheckFailure> {
        Ok(self.minter.client(org, user)?)
    }

    /// Opens a WebSocket to the first target (open packet received).
    pub async fn open(&self) -> Result<WsClient, CheckFailure> {
        self.open_at(0, &OpenOptions::default()).await
    }

    /// Opens a WebSocket to target `i` with options.
    pub async fn open_at(&self, i: usize, opts: &OpenOptions) -> Result<WsClient, CheckFailure> {
        let base = self
            .cfg
            .targets
            .get(i)
            .cloned()
            .unwrap_or_else(|| self.target().to_string());
        let mut c = WsClient::open(
            &self.tr,
            &base,
            &self.cfg.path,
            &self.cfg.namespace,
            opts,
            self.step(),
        )
        .await?;
        c.recovery_offsets = self.has_feature("recovery");
        Ok(c)
    }

    /// Opens, sends CONNECT with `{"token"}` and expects CONNECT then
    /// `system:connected`; returns the client and the `system:connected` envelope.
    pub async fn connect(&self, org: &str, user: &str) -> Result<(WsClient, Value), CheckFailure> {
        let token = self.token(org, user)?;
        self.connect_token(&token).await
    }

    /// Like [`Ctx::connect`] with a given token.
    pub async fn connect_token(&self, token: &str) -> Result<(WsClient, Value), CheckFailure> {
        let mut c = self.open().await?;
        let nsp = self.nsp().to_string();
        match c.connect_ns(&nsp, Some(json!({ "token": token }))).await? {
            Ok(_) => {}
            Err(e) => {
                return Err(CheckFailure::fail("a valid token was refused")
                    .expected("a CONNECT reply")
                    .actual(format!("CONNECT_ERROR {e}")))
            }
        }
        let env = c.expect_event("system:connected").await?;
        Ok((c, env))
    }

    /// Opens and sends CONNECT with this auth payload; returns the client and the reply.
    pub async fn try_connect(
        &self,
        auth: Option<Value>,
        opts: &OpenOptions,
    ) -> Result<(WsClient, Result<Value, Value>), CheckFailure> {
        let mut c = self.open_at(0, opts).await?;
        let nsp = self.nsp().to_string();
        let r = c.connect_ns(&nsp, auth).await?;
        Ok((c, r))
    }

    /// An HTTP request against a target-relative or absolute URL.
    pub async fn http(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<HttpResponse, CheckFailure> {
        let full = if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else {
            format!("{}{}", self.target().trim_end_matches('/'), url)
        };
        Ok(http::request(&self.tr, method, &full, headers, body, self.step()).await?)
    }

    /// `POST /v1/publish` with a bearer token and a JSON body.
    pub async fn publish(&self, token: &str, body: &Value) -> Result<HttpResponse, CheckFailure> {
        let url = format!("{}/v1/publish", self.cfg.publish_url.trim_end_matches('/'));
        let auth = format!("Bearer {token}");
        Ok(http::request(
            &self.tr,
            "POST",
            &url,
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            Some(Bytes::from(body.to_string())),
            self.step(),
        )
        .await?)
    }

    /// Publishes with an unscoped-to-org publisher token and expects 202; returns the body.
    pub async fn publish_ok(
        &self,
        room: &str,
        ty: &str,
        payload: Value,
    ) -> Result<Value, CheckFailure> {
        let token = self.minter.publisher(None)?;
        let r = self
            .publish(
                &token,
                &json!({ "room": room, "type": ty, "payload": payload }),
            )
            .await?;
        if r.status != 202 {
            return Err(CheckFailure::fail("publish was not accepted")
                .expected("202")
                .actual(format!("{} {}", r.status, r.text())));
        }
        r.json()
            .ok_or_else(|| CheckFailure::fail("publish 202 body is not JSON").actual(r.text()))
    }

    /// Sleeps.
    pub async fn sleep_ms(&self, ms: u64) {
        self.tr.note(format!("wait {ms} ms"));
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

impl Ctx {
    /// Starts a private instance of the spawned implementation with extra
    /// environment (for checks that need another configuration or that stop
    /// the process). Skips the check when the harness was not given `--spawn`.
    /// Each setting is also given under its `--env-name` mapping.
    pub async fn private_instance(
        &self,
        env: &[(&str, &str)],
    ) -> Result<crate::spawn::Instance, CheckFailure> {
        self.private_instance_named(env, true).await
    }

    /// Like [`Ctx::private_instance`], with the spec's names only (no
    /// `--env-name` mapping): for OPS-8, which checks the names themselves.
    pub async fn private_instance_spec_names(
        &self,
        env: &[(&str, &str)],
    ) -> Result<crate::spawn::Instance, CheckFailure> {
        self.private_instance_named(env, false).await
    }

    async fn private_instance_named(
        &self,
        env: &[(&str, &str)],
        mapped: bool,
    ) -> Result<crate::spawn::Instance, CheckFailure> {
        let Some(spec) = &self.cfg.spawn else {
            return Err(CheckFailure::skip(
                "needs a private instance with another configuration: run the harness with --spawn",
            ));
        };
        let mut spec = spec.clone();
        let own = env.iter().filter_map(|(k, v)| {
            let own = self.cfg.env_names.get(*k).filter(|_| mapped)?;
            Some((own.as_str(), *v))
        });
        let env: Vec<(&str, &str)> = env.iter().copied().chain(own).collect();
        for (k, v) in &env {
            spec.env.retain(|(ek, _)| ek != k);
            spec.env.push((k.to_string(), v.to_string()));
        }
        self.tr
            .note(format!("spawn a private instance with {env:?}"));
        crate::spawn::Instance::start(&spec).await.map_err(|e| {
            CheckFailure::error(
                format!("the private instance with {env:?} did not start: {e}"),
                "make the command start with these settings, or map their names with --env-name SPEC=YOURS",
            )
        })
    }

    /// The ERROR of a setting a private instance did not apply: `seen` is
    /// what showed it; the fix names `--env-name`.
    pub fn unapplied(&self, settings: &[(&str, &str)], seen: &str) -> CheckFailure {
        let list: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let fixes: Vec<String> = settings
            .iter()
            .map(|(k, _)| match self.cfg.env_names.get(*k) {
                Some(y) => format!("{k} was also given as {y} (--env-name {k}={y}) and not applied either: check that name and its unit"),
                None => format!("--env-name {k}=ITS_NAME"),
            })
            .collect();
        CheckFailure::error(
            format!(
                "the private instance did not apply {} ({seen}); this is the harness's configuration of the implementation, not a verdict on the requirement",
                list.join(", ")
            ),
            format!(
                "if the implementation names these settings otherwise, map them: {} (or an [env-name] table in roomcast.toml)",
                fixes.join(", ")
            ),
        )
    }

    /// The settings of `expected` (`(setting, value, open-packet key)`)
    /// that the instance at `base` did not apply, as its open packet shows:
    /// `(setting, value, what the open packet says)`.
    async fn unapplied_open_settings<'a>(
        &self,
        base: &str,
        expected: &[(&'a str, &'a str, &'a str)],
    ) -> Result<Vec<(&'a str, &'a str, String)>, CheckFailure> {
        let c = self.with_target(base).open().await?;
        let open = c.open.clone();
        c.close().await;
        Ok(expected
            .iter()
            .filter(|(_, v, key)| open.get(*key).map(Value::to_string).as_deref() != Some(*v))
            .map(|(k, v, key)| {
                let said = open.get(*key).unwrap_or(&Value::Null);
                (*k, *v, format!("its open packet says {key} {said}"))
            })
            .collect())
    }

    /// Whether the private instance at `base` applied `expected`
    /// (`(setting, value, open-packet key)`), read from its open packet;
    /// an ERROR naming each setting it did not apply.
    pub async fn verify_open_settings(
        &self,
        base: &str,
        expected: &[(&str, &str, &str)],
    ) -> CheckResult {
        let wrong = self.unapplied_open_settings(base, expected).await?;
        if wrong.is_empty() {
            return Ok(());
        }
        let seen: Vec<&str> = wrong.iter().map(|(_, _, s)| s.as_str()).collect();
        let settings: Vec<(&str, &str)> = wrong.iter().map(|(k, v, _)| (*k, *v)).collect();
        Err(self.unapplied(&settings, &seen.join(", ")))
    }

    /// After `failure` on a private instance started with `setting` and
    /// [`WITNESS_SETTINGS`]: an ERROR naming both when the instance did not
    /// apply the witnesses either (it does not take its settings under these
    /// names), else the failure itself.
    pub async fn unless_unapplied(
        &self,
        base: &str,
        setting: (&str, &str),
        failure: CheckFailure,
    ) -> CheckFailure {
        if failure.kind != FailureKind::Failed {
            return failure;
        }
        let wrong = match self.unapplied_open_settings(base, &WITNESS_SETTINGS).await {
            Ok(w) if !w.is_empty() => w,
            _ => return failure,
        };
        let mut settings = vec![setting];
        settings.extend(wrong.iter().map(|(k, v, _)| (*k, *v)));
        let seen: Vec<&str> = wrong.iter().map(|(_, _, s)| s.as_str()).collect();
        self.unapplied(
            &settings,
            &format!(
                "{}; the settings given with it as witnesses were not applied either: {}",
                failure.message,
                seen.join(", ")
            ),
        )
    }

    /// A private cluster: its own `redis-server` and `n` instances sharing it.
    /// Skips the check when the harness was not given `--spawn`.
    pub async fn private_cluster(
        &self,
        n: usize,
    ) -> Result<(crate::redis::RedisServer, Vec<crate::spawn::Instance>), CheckFailure> {
        let Some(spec) = &self.cfg.spawn else {
            return Err(CheckFailure::skip(
                "needs a Redis the harness controls: run the harness with --spawn",
            ));
        };
        let redis = crate::redis::RedisServer::start(&self.cfg.redis_server)
            .await
            .map_err(|e| {
                CheckFailure::error(
                    format!("cannot provision Redis: {e}"),
                    "install redis-server (`cargo xtask prereqs`) or give --redis-server PROG",
                )
            })?;
        let mut spec = spec.clone();
        spec.redis_url = Some(redis.url());
        self.tr
            .note(format!("private cluster of {n} on {}", redis.url()));
        let starts = (0..n).map(|_| crate::spawn::Instance::start(&spec));
        let mut out = Vec::new();
        for r in futures_util::future::join_all(starts).await {
            match r {
                Ok(i) => out.push(i),
                Err(e) => {
                    for i in out {
                        i.stop().await;
                    }
                    return Err(CheckFailure::fail(format!(
                        "a cluster instance did not start: {e}"
                    )));
                }
            }
        }
        Ok((redis, out))
    }

    /// A copy of this context whose first target is `base` (a private instance).
    pub fn with_target(&self, base: &str) -> Ctx {
        let mut cfg = (*self.cfg).clone();
        cfg.targets = vec![base.to_string()];
        cfg.publish_url = base.to_string();
        Ctx {
            cfg: Arc::new(cfg),
            tr: self.tr.clone(),
            minter: self.minter.clone(),
            id: self.id,
        }
    }
}
