//! Real Socket.IO clients (Node `socket.io-client`, `python-socketio`) driven
//! through the JSON-lines driver protocol of `fixtures/clients/node/README.md`.

use crate::ctx::{CheckFailure, Ctx};
use crate::transcript::Dir;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A running driver process.
pub struct Driver {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    queue: VecDeque<Value>,
    ctx: Ctx,
    chan: String,
}

impl Driver {
    /// Starts `program args…` and waits for its `ready` event. A driver that
    /// cannot start, exits or stays silent before `ready` is an ERROR (the
    /// harness's setup), never a FAIL of the implementation.
    pub async fn start(ctx: &Ctx, program: &str, args: &[&str]) -> Result<Driver, CheckFailure> {
        let fix = install_hint(program);
        let cmdline = format!("{program} {}", args.join(" "));
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                CheckFailure::error(
                    format!("cannot start the client driver `{cmdline}`: {e}"),
                    fix,
                )
            })?;
        // keep the driver's last stderr lines: they say why it did not start
        let stderr_tail = Arc::new(Mutex::new(VecDeque::<String>::new()));
        if let Some(err) = child.stderr.take() {
            let tail = stderr_tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    if t.len() < 40 && !l.trim().is_empty() {
                        t.push_back(l);
                    }
                }
            });
        }
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| CheckFailure::fail("driver stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| CheckFailure::fail("driver stdout"))?;
        let mut d = Driver {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            queue: VecDeque::new(),
            ctx: ctx.clone(),
            chan: ctx.tr.channel("client"),
        };
        if let Err(e) = d
            .wait(
                |v| v["ev"] == "ready",
                Duration::from_secs(15),
                "the driver's ready event",
            )
            .await
        {
            // give a dying driver a moment to finish its stderr
            tokio::time::sleep(Duration::from_millis(100)).await;
            let lines = stderr_tail
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            // the line that names the problem (`Error: Cannot find module …`), else the last ones
            let tail: Vec<String> = match lines.iter().find(|l| l.contains("Error")) {
                Some(l) => vec![l.trim().to_string()],
                None => lines.iter().rev().take(3).rev().cloned().collect(),
            };
            return Err(CheckFailure::error(
                format!(
                    "the client driver `{cmdline}` did not get ready ({}){}",
                    e.message,
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; its stderr: {}", tail.join(" | "))
                    }
                ),
                fix,
            ));
        }
        Ok(d)
    }

    /// Sends one command.
    pub async fn send(&mut self, cmd: Value) -> Result<(), CheckFailure> {
        let line = cmd.to_string();
        self.ctx.tr.push(Dir::Sent, &self.chan, &line);
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| CheckFailure::fail(format!("driver stdin: {e}")))
    }

    /// Waits for the first event matching `pred` (others stay queued).
    pub async fn wait(
        &mut self,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
        what: &str,
    ) -> Result<Value, CheckFailure> {
        if let Some(pos) = self.queue.iter().position(&pred) {
            if let Some(v) = self.queue.remove(pos) {
                return Ok(v);
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(CheckFailure::fail(format!(
                    "the real client did not report {what} within {} ms",
                    timeout.as_millis()
                )));
            }
            match tokio::time::timeout(deadline - now, self.lines.next_line()).await {
                Err(_) => continue,
                Ok(Ok(Some(line))) => {
                    self.ctx.tr.push(Dir::Recv, &self.chan, &line);
                    let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    if v["ev"] == "connect_error" || v["ev"] == "error" {
                        if pred(&v) {
                            return Ok(v);
                        }
                        return Err(CheckFailure::fail(format!(
                            "the real client reported an error while waiting for {what}"
                        ))
                        .actual(line));
                    }
                    if pred(&v) {
                        return Ok(v);
                    }
                    self.queue.push_back(v);
                }
                Ok(_) => {
                    return Err(CheckFailure::fail(format!(
                        "the driver exited while waiting for {what}"
                    )))
                }
            }
        }
    }

    /// Stops the driver.
    pub async fn stop(mut self) {
        let _ = self.send(json!({"cmd": "exit"})).await;
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The command that installs what the driver `program` needs.
pub fn install_hint(program: &str) -> &'static str {
    if program.contains("python") {
        "run `fixtures/clients/python/install.sh` (or `cargo xtask prereqs`), or give --python-driver"
    } else {
        "run `npm ci` in fixtures/clients/node (or `cargo xtask prereqs`), or give --node-driver"
    }
}

/// The scenario of WIRE-15/16/17 with a real client: connect, subscribe with
/// an ack, receive a published event, disconnect.
pub async fn scenario(
    ctx: &Ctx,
    program: &str,
    args: &[&str],
    opts: Value,
) -> Result<(), CheckFailure> {
    let org = ctx.uniq("org");
    let user = ctx.uniq("u");
    let token = ctx.token(&org, &user)?;
    let mut d = Driver::start(ctx, program, args).await?;
    let r = async {
        let mut o = opts.clone();
        o["auth"] = json!({ "token": token });
        d.send(json!({"cmd": "connect", "id": "c1", "url": ctx.target(), "nsp": ctx.nsp(), "opts": o})).await?;
        let t = Duration::from_secs(10);
        d.wait(|v| v["ev"] == "connect", t, "connect").await?;
        d.wait(|v| v["ev"] == "event" && v["name"] == "system:connected", t, "system:connected").await?;
        if opts.get("transports").is_none() {
            d.wait(|v| v["ev"] == "upgrade", t, "the upgrade to websocket").await?;
        }
        d.send(json!({"cmd": "emit", "id": "c1", "event": "subscribe:site", "args": ["s1"], "ack": true, "ackId": "a1"})).await?;
        let ack = d.wait(|v| v["ev"] == "ack" || v["ev"] == "ack_timeout", t, "the subscribe ack").await?;
        let want = json!([{"ok": true, "room": format!("org:{org}:site:s1")}]);
        if ack["args"] != want {
            return Err(CheckFailure::fail("the real client got a wrong ack").expected(want).actual(ack));
        }
        let b = ctx.publish_ok(&format!("org:{org}:site:s1"), "site:updated", json!({"n": 1})).await?;
        let ev = d.wait(|v| v["ev"] == "event" && v["name"] == "site:updated", t, "the published event").await?;
        if ev["args"][0]["eventId"] != b["eventId"] {
            return Err(CheckFailure::fail("the real client got another event").expected(&b).actual(ev));
        }
        d.send(json!({"cmd": "disconnect", "id": "c1"})).await?;
        d.wait(|v| v["ev"] == "disconnect", t, "disconnect").await?;
        Ok(())
    }
    .await;
    d.stop().await;
    r
}
