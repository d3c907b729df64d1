//! WIRE-17: the browser `socket.io-client` bundle with default options (long-polling
//! first, then the upgrade to WebSocket) works against the reference server.
//!
//! The test serves `fixtures/clients/browser/` (index.html, test.js) and the unmodified
//! bundle `fixtures/clients/node/node_modules/socket.io-client/dist/socket.io.min.js` from
//! its own tiny HTTP server on 127.0.0.1:0 (a different origin than the Socket.IO server,
//! so the server's CORS answers are exercised too), and runs headless Chromium with
//! `--dump-dom`. The page POSTs progress signals to the static server: on `ready`
//! (connected, upgraded, subscribed) the test publishes over HTTP, on `done` it releases
//! `/hold.js`, a parser-blocking script that keeps the page's load event — and so the
//! DOM dump — waiting for the outcome (no virtual time, so the client's real timers run).
//! The dumped DOM must show the polling open, the upgrade to WebSocket and the envelope.
//!
//! Prerequisites: `/usr/bin/chromium` (or `ROOMCAST_CHROMIUM`) and
//! `npm ci` in `fixtures/clients/node`. Missing ones FAIL the test; it never skips.
#![forbid(unsafe_code)]

#[path = "it/common.rs"]
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::{client_token, publish_ok, repo_root, TestServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Wait for the page to connect, upgrade and subscribe (Chromium start included).
const READY_WAIT: Duration = Duration::from_secs(45);
/// Wait for one step after that.
const STEP_WAIT: Duration = Duration::from_secs(15);

/// The files the static server serves: URL path → (file, content type).
struct Files {
    index: PathBuf,
    script: PathBuf,
    bundle: PathBuf,
}

/// The test's static HTTP server: the page, its script, the bundle, `/hold.js` and
/// `/signal/<name>`. Stopped on drop.
struct Site {
    addr: SocketAddr,
    signals: mpsc::UnboundedReceiver<(String, Value)>,
    release: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Site {
    async fn start(files: Files) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("site binds");
        let addr = listener.local_addr().expect("site address");
        let (sig_tx, signals) = mpsc::unbounded_channel();
        let (release, release_rx) = watch::channel(false);
        let files = Arc::new(files);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let files = Arc::clone(&files);
                let sig_tx = sig_tx.clone();
                let release_rx = release_rx.clone();
                tokio::spawn(async move {
                    let _ = serve_static(stream, &files, sig_tx, release_rx).await;
                });
            }
        });
        Site {
            addr,
            signals,
            release,
            task,
        }
    }

    /// Waits for the next signal; `None` on timeout.
    async fn signal(&mut self, wait: Duration) -> Option<(String, Value)> {
        tokio::time::timeout(wait, self.signals.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.release.send_replace(true);
        self.task.abort();
    }
}

/// Serves one request on `stream` (`Connection: close`).
async fn serve_static(
    mut stream: TcpStream,
    files: &Files,
    signals: mpsc::UnboundedSender<(String, Value)>,
    mut release: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("/").to_owned();
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let content_length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(1024 * 1024);
    let mut body = buf[head_end..].to_vec();
    while body.len() < content_length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }

    let file = |p: &Path, ct: &'static str| match std::fs::read(p) {
        Ok(b) => (200, ct, b),
        Err(_) => (404, "text/plain", b"not found".to_vec()),
    };
    let (status, ct, content): (u16, &str, Vec<u8>) = match (method.as_str(), path.as_str()) {
        ("GET", "/" | "/index.html") => file(&files.index, "text/html; charset=utf-8"),
        ("GET", "/test.js") => file(&files.script, "text/javascript; charset=utf-8"),
        ("GET", "/socket.io.min.js") => file(&files.bundle, "text/javascript; charset=utf-8"),
        ("GET", "/hold.js") => {
            let _ = tokio::time::timeout(Duration::from_secs(120), release.wait_for(|r| *r)).await;
            (
                200,
                "text/javascript",
                b"/* released by the test */".to_vec(),
            )
        }
        ("POST", p) if p.starts_with("/signal/") => {
            let name = p.trim_start_matches("/signal/").to_owned();
            let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let _ = signals.send((name, v));
            (204, "text/plain", Vec::new())
        }
        _ => (404, "text/plain", b"not found".to_vec()),
    };
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        _ => "Not Found",
    };
    let resp_head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        content.len()
    );
    stream.write_all(resp_head.as_bytes()).await?;
    stream.write_all(&content).await?;
    stream.shutdown().await
}

/// Headless Chromium dumping the DOM of `url`, in its own process group. Dropping it
/// kills the whole group (browser, zygotes, renderers) unless it already exited.
struct Chromium {
    child: Child,
    pgid: Option<u32>,
}

impl Chromium {
    fn spawn(chromium: &Path, profile: &Path, url: &str) -> Chromium {
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--no-first-run",
                "--no-default-browser-check",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--dump-dom")
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", chromium.display()));
        let pgid = child.id();
        Chromium { child, pgid }
    }

    /// Waits for Chromium to exit and returns its stdout (the DOM) and stderr.
    async fn finish(&mut self) -> (String, String) {
        let mut out = self.child.stdout.take().expect("piped stdout");
        let mut err = self.child.stderr.take().expect("piped stderr");
        let child = &mut self.child;
        let collect = async {
            let mut dom = Vec::new();
            let mut log = Vec::new();
            let (a, b) = tokio::join!(out.read_to_end(&mut dom), err.read_to_end(&mut log));
            let _ = (a, b);
            let _ = child.wait().await;
            (
                String::from_utf8_lossy(&dom).into_owned(),
                String::from_utf8_lossy(&log).into_owned(),
            )
        };
        match tokio::time::timeout(Duration::from_secs(30), collect).await {
            Ok(r) => r,
            Err(_) => (
                String::new(),
                "chromium did not exit within 30 s".to_owned(),
            ),
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        if let (Some(pgid), Ok(None)) = (self.pgid, self.child.try_wait()) {
            // Still running (the test failed early): kill the whole process group.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

/// Minimal HTML text unescaping for the `<pre id="log">` content.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The JSON lines of `<pre id="log">` in the dumped DOM.
fn log_entries(dom: &str) -> Vec<Value> {
    let Some(start) = dom.find("<pre id=\"log\">") else {
        return Vec::new();
    };
    let rest = &dom[start + "<pre id=\"log\">".len()..];
    let end = rest.find("</pre>").unwrap_or(rest.len());
    unescape(&rest[..end])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!({"unparsed": l})))
        .collect()
}

fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    let mut i = start;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_17_browser_bundle_with_default_options_works() {
    let root = repo_root();
    let chromium = std::env::var_os("ROOMCAST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.exists(),
        "prerequisite missing: Chromium at {} (set ROOMCAST_CHROMIUM to another binary); \
         this test never skips",
        chromium.display()
    );
    let bundle =
        root.join("fixtures/clients/node/node_modules/socket.io-client/dist/socket.io.min.js");
    assert!(
        bundle.exists(),
        "prerequisite missing: {} — run `npm ci` in fixtures/clients/node; this test never skips",
        bundle.display()
    );
    let page_dir = root.join("fixtures/clients/browser");
    let files = Files {
        index: page_dir.join("index.html"),
        script: page_dir.join("test.js"),
        bundle,
    };
    assert!(
        files.index.exists() && files.script.exists(),
        "page files missing in {}",
        page_dir.display()
    );

    let mut site = Site::start(files).await;
    let site_origin = format!("http://{}", site.addr);
    let mut config = common::config();
    config.cors_origins = vec![site_origin.clone()];
    let server = TestServer::start(config).await;

    let client = client_token("u1", "acme");
    let url = format!(
        "{site_origin}/index.html?server=http%3A%2F%2F{}&token={client}&site=s1",
        server.addr
    );
    let profile = tempfile::tempdir().expect("profile dir");
    let mut browser = Chromium::spawn(&chromium, profile.path(), &url);

    // 1. connected over polling, upgraded, subscribed.
    let first = site.signal(READY_WAIT).await;
    let ready_ok = matches!(&first, Some((name, _)) if name == "ready");
    let mut published = Value::Null;
    let mut outcome = format!("first signal: {first:?}");
    if ready_ok {
        // 2. publish over HTTP; the page signals `done` once the event arrived.
        published = publish_ok(
            server.addr,
            "org:acme:site:s1",
            "site:updated",
            json!({"from": "http"}),
        )
        .await;
        let second = site.signal(STEP_WAIT).await;
        outcome = format!("second signal: {second:?}");
    }
    // 3. release the page's load event; Chromium dumps the DOM and exits.
    site.release.send_replace(true);
    let (dom, stderr) = browser.finish().await;
    let entries = log_entries(&dom);
    let context = format!(
        "{outcome}\npage log: {entries:#?}\nchromium stderr (tail): {}\nDOM (tail): {}",
        tail(&stderr, 2000),
        tail(&dom, 2000)
    );
    assert!(
        ready_ok,
        "the page never became ready (connect + upgrade + subscribe)\n{context}"
    );
    assert!(
        dom.contains("<span id=\"status\">done</span>"),
        "status is not done\n{context}"
    );

    let find = |ev: &str| entries.iter().find(|e| e["ev"] == ev).cloned();
    let open = find("open").unwrap_or_else(|| panic!("no open in the DOM\n{context}"));
    assert_eq!(
        open["transport"], "polling",
        "default options start with polling\n{context}"
    );
    let upgrade = find("upgrade").unwrap_or_else(|| panic!("no upgrade in the DOM\n{context}"));
    assert_eq!(upgrade["transport"], "websocket", "\n{context}");
    let connect = find("connect").unwrap_or_else(|| panic!("no connect in the DOM\n{context}"));
    assert!(
        connect["socketId"].as_str().is_some_and(|s| !s.is_empty()),
        "\n{context}"
    );
    let ack = find("ack").unwrap_or_else(|| panic!("no subscribe ack in the DOM\n{context}"));
    assert_eq!(
        ack["args"][0],
        json!({"ok": true, "room": "org:acme:site:s1"}),
        "\n{context}"
    );
    let hello = entries
        .iter()
        .find(|e| e["ev"] == "event" && e["name"] == "system:connected")
        .unwrap_or_else(|| panic!("no system:connected in the DOM\n{context}"));
    assert_eq!(
        hello["args"][0]["payload"]["sid"], connect["socketId"],
        "\n{context}"
    );

    let got = entries
        .iter()
        .find(|e| e["ev"] == "event" && e["name"] == "site:updated")
        .unwrap_or_else(|| panic!("the published event is not in the DOM\n{context}"));
    assert_eq!(
        got["transport"], "websocket",
        "delivered after the upgrade\n{context}"
    );
    let env = &got["args"][0];
    assert_eq!(env["eventId"], published["eventId"], "\n{context}");
    assert_eq!(env["timestamp"], published["timestamp"], "\n{context}");
    assert_eq!(env["type"], "site:updated", "\n{context}");
    assert_eq!(env["payload"], json!({"from": "http"}), "\n{context}");
    assert!(
        !entries
            .iter()
            .any(|e| e["ev"] == "connect_error" || e["ev"] == "disconnect"),
        "no connect_error or disconnect expected\n{context}"
    );
}
