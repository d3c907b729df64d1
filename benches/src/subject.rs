//! The server under test: either processes this tool starts (`--spawn CMD`, `--instances
//! N`, optionally a `redis-server` of its own) or running instances given by URL
//! (`--target`). Spawned processes get `PORT`, `JWT_SECRET` and, with Redis, `REDIS_URL`;
//! they are ready when `GET /healthz` answers 200, and are killed when the subject is
//! dropped. Their pids give the server's CPU time and resident memory.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::os;
use crate::publisher::PublishUrl;
use crate::wire_client::Endpoint;

/// How to reach and describe one server under test.
pub struct Subject {
    /// Name in the reports.
    pub label: String,
    /// One endpoint per instance.
    pub endpoints: Vec<Endpoint>,
    /// One publish URL per instance (publishes of one room go through one instance).
    pub publish: Vec<PublishUrl>,
    /// Pids whose CPU and memory are the server's (empty: not measured).
    pub pids: Vec<u32>,
    children: Vec<Child>,
    logs: Vec<PathBuf>,
}

/// Options shared by spawned subjects.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// Instances to start.
    pub instances: usize,
    /// Start a `redis-server` and give each instance its `REDIS_URL`.
    pub redis: bool,
    /// The HS256 secret handed over as `JWT_SECRET`.
    pub secret: String,
    /// Prefix the command with `taskset -c CPUS`.
    pub pin: Option<String>,
    /// The Socket.IO path.
    pub path: String,
    /// The profile namespace.
    pub namespace: String,
}

impl Subject {
    /// Starts `cmd` (run as `sh -c 'exec CMD'`) `instances` times on free ports and
    /// waits until each answers `GET /healthz` with 200.
    pub fn spawn(label: &str, cmd: &str, opts: &SpawnOptions) -> anyhow::Result<Subject> {
        let mut subject = Subject {
            label: label.to_owned(),
            endpoints: Vec::new(),
            publish: Vec::new(),
            pids: Vec::new(),
            children: Vec::new(),
            logs: Vec::new(),
        };
        let redis_url = if opts.redis {
            let port = free_port()?;
            // Redis belongs to the server side: pinned with the instances, so it never
            // takes the generator's CPU (a child of a generator started under
            // `taskset` would otherwise inherit the generator's CPUs).
            let mut redis = match &opts.pin {
                Some(cpus) => {
                    let mut c = Command::new("taskset");
                    c.args(["-c", cpus, "redis-server"]);
                    c
                }
                None => Command::new("redis-server"),
            };
            let child = redis
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start redis-server (is it installed? `cargo xtask prereqs`)")?;
            subject.children.push(child);
            wait_tcp(port, Duration::from_secs(10))
                .context("redis-server did not start (is it installed? `cargo xtask prereqs`)")?;
            Some(format!("redis://127.0.0.1:{port}"))
        } else {
            None
        };
        let full_cmd = match &opts.pin {
            Some(cpus) => format!("exec taskset -c {cpus} {cmd}"),
            None => format!("exec {cmd}"),
        };
        for i in 0..opts.instances {
            let port = free_port()?;
            let log = std::env::temp_dir().join(format!(
                "roomcast-bench-{}-{}-{i}.log",
                std::process::id(),
                label.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ));
            let log_file = std::fs::File::create(&log)
                .with_context(|| format!("cannot create {}", log.display()))?;
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(&full_cmd)
                .env("PORT", port.to_string())
                .env("JWT_SECRET", &opts.secret)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file);
            if let Some(url) = &redis_url {
                command.env("REDIS_URL", url);
            }
            let child = command
                .spawn()
                .with_context(|| format!("cannot start {cmd:?}"))?;
            subject.pids.push(child.id());
            subject.children.push(child);
            subject.logs.push(log.clone());
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            subject.wait_healthy(addr, Duration::from_secs(60))?;
            subject
                .endpoints
                .push(Endpoint::new(addr, &opts.path, &opts.namespace));
            subject.publish.push(PublishUrl {
                addr,
                path: "/v1/publish".to_owned(),
            });
        }
        Ok(subject)
    }

    /// Running instances: WebSocket URLs (`ws://host:port[/path]` or `http://…`), the
    /// publish URL (default: the first target's `/v1/publish`), and optionally the
    /// server's pid for CPU and memory figures.
    pub async fn target(
        label: &str,
        urls: &[String],
        publish: Option<&str>,
        pids: Vec<u32>,
        namespace: &str,
    ) -> anyhow::Result<Subject> {
        let mut endpoints = Vec::new();
        for url in urls {
            let uri: http::Uri = url
                .parse()
                .with_context(|| format!("invalid URL {url:?}"))?;
            let tls = matches!(uri.scheme_str(), Some("wss" | "https"));
            if tls {
                bail!("{url}: TLS is not supported; point --target at the plain ws:// port");
            }
            let addr = crate::publisher::resolve(&uri).await?;
            let path = match uri.path() {
                "" | "/" => "/socket.io/",
                p => p,
            };
            endpoints.push(Endpoint::new(addr, path, namespace));
        }
        if endpoints.is_empty() {
            bail!("--target needs at least one URL");
        }
        let publish = match publish {
            Some(u) => vec![PublishUrl::parse(u).await?],
            None => endpoints
                .iter()
                .map(|e| PublishUrl {
                    addr: e.addr,
                    path: "/v1/publish".to_owned(),
                })
                .collect(),
        };
        Ok(Subject {
            label: label.to_owned(),
            endpoints,
            publish,
            pids,
            children: Vec::new(),
            logs: Vec::new(),
        })
    }

    fn wait_healthy(&mut self, addr: SocketAddr, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            // Live (`/healthz` 200) and, where the server has `/readyz`, ready (a cluster
            // member subscribed to Redis); a server without `/readyz` (404) is ready when live.
            if status(addr, "/healthz").ok() == Some(200)
                && matches!(status(addr, "/readyz").ok(), Some(200 | 404))
            {
                return Ok(());
            }
            for (child, log) in self.children.iter_mut().zip(self.logs.iter()) {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!(
                        "the server exited before it was ready ({status}); its log {}:\n{}",
                        log.display(),
                        tail(log)
                    );
                }
            }
            if start.elapsed() > limit {
                bail!("{addr}: GET /healthz and /readyz did not answer 200 within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's CPU time so far (all instances), if it can be measured.
    pub fn cpu_time(&self) -> Option<Duration> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&p| os::cpu_time(p)).sum()
    }

    /// Time the server's threads waited for a CPU so far (all instances).
    pub fn run_delay(&self) -> Option<Duration> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&p| os::run_delay(p)).sum()
    }

    /// The server's resident memory (all instances), if it can be measured.
    pub fn rss(&self) -> Option<u64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&p| os::rss_bytes(p)).sum()
    }
}

impl Drop for Subject {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for log in &self.logs {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// A port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_tcp(port: u16, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > limit {
            bail!("port {port} did not open within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The status code of `GET path`.
fn status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf)?;
    parse_status(&buf[..n]).ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

/// The status code of an HTTP/1.x status line.
fn parse_status(head: &[u8]) -> Option<u16> {
    let head = std::str::from_utf8(head).ok()?;
    let rest = head.strip_prefix("HTTP/1.")?;
    rest.get(2..5)?.parse().ok()
}

/// The last lines of a log file.
fn tail(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_give_their_code() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503 Ser"), Some(503));
        assert_eq!(parse_status(b"SSH-2.0"), None);
    }
}
