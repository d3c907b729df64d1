//! A Redis the harness provisions itself (`redis-server` on a free port), so
//! that cluster checks can stop it, pause it, kill its clients and bring it
//! back. Without persistence by default; with an append-only file in a
//! temporary directory when a scenario restarts it and Redis must keep its data.
//! With `--redis docker` (feature `docker`) the same operations drive a Redis 7
//! container instead ([`crate::redis_docker`]).

use crate::spawn::free_port;
use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    program: String,
    /// The data directory of an AOF-backed server (removed on drop).
    dir: Option<PathBuf>,
    /// `--redis docker`: a container instead of a process.
    #[cfg(feature = "docker")]
    container: Option<crate::redis_docker::RedisContainer>,
}

impl RedisServer {
    /// Starts `program` (usually `redis-server`) on a free port, without persistence.
    pub async fn start(program: &str) -> Result<RedisServer, String> {
        let mut r = Self::stopped(program, false)?;
        r.up().await?;
        Ok(r)
    }

    /// A server on a free port that is not started yet (`up` starts it);
    /// with `aof`, its data lives in an append-only file in a fresh temporary
    /// directory, so a restart keeps it.
    pub fn stopped(program: &str, aof: bool) -> Result<RedisServer, String> {
        let port = free_port().map_err(|e| e.to_string())?;
        let dir = if aof {
            let d =
                std::env::temp_dir().join(format!("roomcast-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
            Some(d)
        } else {
            None
        };
        Ok(RedisServer {
            child: None,
            port,
            program: program.to_string(),
            dir,
            #[cfg(feature = "docker")]
            container: None,
        })
    }

    /// Like [`RedisServer::stopped`], for the given mode: a container with
    /// [`RedisMode::Docker`], else a `redis-server` process.
    pub fn stopped_for(mode: &RedisMode, program: &str, aof: bool) -> Result<RedisServer, String> {
        #[cfg(feature = "docker")]
        if *mode == RedisMode::Docker {
            let mut r = Self::stopped(program, false)?;
            r.container = Some(crate::redis_docker::RedisContainer::new(r.port, aof));
            return Ok(r);
        }
        let _ = mode;
        Self::stopped(program, aof)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// (Re)starts the server on its port and waits until it accepts connections.
    pub async fn up(&mut self) -> Result<(), String> {
        #[cfg(feature = "docker")]
        if let Some(c) = self.container.as_mut() {
            c.up().await?;
            // a container takes longer than a process
            for _ in 0..300 {
                if self.command(&["PING"]).await.is_ok() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            return Err(format!(
                "the Redis container did not answer PING on {} within 9 s",
                self.port
            ));
        }
        let port = self.port.to_string();
        let mut args = vec!["--port", &port, "--bind", "127.0.0.1", "--save", ""];
        let dir_text = self.dir.as_ref().map(|d| d.to_string_lossy().into_owned());
        match &dir_text {
            Some(d) => args.extend(["--appendonly", "yes", "--appendfsync", "always", "--dir", d]),
            None => args.extend(["--appendonly", "no"]),
        }
        let child = Command::new(&self.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {}: {e} (install redis-server or give --redis-server)",
                    self.program
                )
            })?;
        self.child = Some(child);
        for _ in 0..100 {
            if self.command(&["PING"]).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        Err(format!(
            "redis-server did not answer PING on {} within 3 s",
            self.port
        ))
    }

    /// Stops the server (SIGKILL: an outage, not a shutdown).
    pub async fn down(&mut self) {
        #[cfg(feature = "docker")]
        if let Some(c) = self.container.as_mut() {
            return c.down().await;
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
            let _ = c.wait().await;
        }
    }

    /// Sends a signal (`STOP`, `CONT`) to the running server (a container is
    /// paused and unpaused).
    pub async fn signal(&self, sig: &str) -> Result<(), String> {
        #[cfg(feature = "docker")]
        if let Some(c) = self.container.as_ref() {
            return c.signal(sig).await;
        }
        let pid = self.pid().ok_or("redis-server is not running")?;
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(format!("kill -{sig} {pid} failed"))
        }
    }

    /// Sends one command on a fresh connection and returns the reply: the
    /// first line (`+OK`, `:3`, `-ERR …`), or a bulk string's text.
    pub async fn command(&self, args: &[&str]) -> Result<String, String> {
        resp_command(self.port, args).await
    }
}

/// Sends one RESP command to 127.0.0.1:`port`; the first line of the reply,
/// or the text of a bulk string reply (`$N`).
pub async fn resp_command(port: u16, args: &[&str]) -> Result<String, String> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        loop {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".to_string());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                let first = String::from_utf8_lossy(&buf[..i]).into_owned();
                let Some(len) = first
                    .strip_prefix('$')
                    .and_then(|l| l.parse::<usize>().ok())
                else {
                    return Ok(first);
                };
                if buf.len() >= i + 2 + len {
                    return Ok(String::from_utf8_lossy(&buf[i + 2..i + 2 + len]).into_owned());
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_millis(500), io)
        .await
        .map_err(|_| "no answer within 500 ms".to_string())?
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Where the cluster scenarios get their Redis (`--redis`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisMode {
    /// `redis-server` processes on free ports, one per scenario.
    Process,
    /// Redis 7 containers through testcontainers (feature `docker`, engine reachable).
    Docker,
    /// `--redis docker` where it cannot work: the scenarios SKIP with this
    /// reason, which names the fix.
    DockerUnavailable(String),
    /// A server given by URL: scenarios that kill, pause or restart it SKIP.
    Url(String),
}

/// Resolves `--redis` (`auto` when absent). `program` is the `redis-server` to
/// probe; `docker_reachable` says whether a Docker engine answers.
pub fn resolve_mode(
    choice: Option<&str>,
    program: &str,
    docker_reachable: bool,
) -> Result<RedisMode, String> {
    let docker = || {
        if !cfg!(feature = "docker") {
            RedisMode::DockerUnavailable(
                "--redis docker: this harness was built without the `docker` feature (testcontainers); rebuild it with `cargo build -p conformance --features docker`, or use --redis process (redis-server on PATH)".into(),
            )
        } else if !docker_reachable {
            RedisMode::DockerUnavailable(
                "--redis docker: no Docker engine is reachable (no /var/run/docker.sock, DOCKER_HOST unset or naming a missing socket); start Docker, or use --redis process (redis-server on PATH)".into(),
            )
        } else {
            RedisMode::Docker
        }
    };
    match choice.unwrap_or("auto") {
        "process" => Ok(RedisMode::Process),
        "docker" => Ok(docker()),
        "auto" => {
            if program_runs(program) {
                Ok(RedisMode::Process)
            } else {
                Ok(docker())
            }
        }
        u if u.starts_with("redis://") || u.starts_with("rediss://") => {
            Ok(RedisMode::Url(u.to_string()))
        }
        other => Err(format!(
            "--redis {other}: use auto, process, docker or a redis:// URL"
        )),
    }
}

/// Whether `program --version` runs.
pub fn program_runs(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether a Docker engine looks reachable: `DOCKER_HOST` (a `unix://` one
/// whose socket exists, or any other scheme), else the default socket.
pub fn docker_reachable() -> bool {
    docker_host_reachable(
        std::env::var("DOCKER_HOST").ok().as_deref(),
        Path::new("/var/run/docker.sock").exists(),
    )
}

/// [`docker_reachable`] without the environment: `host` is `DOCKER_HOST`.
pub fn docker_host_reachable(host: Option<&str>, default_socket: bool) -> bool {
    match host.filter(|h| !h.is_empty()) {
        Some(h) => match h.strip_prefix("unix://") {
            Some(path) => Path::new(path).exists(),
            None => true,
        },
        None => default_socket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redis_choice_resolves() {
        assert_eq!(
            resolve_mode(Some("process"), "x", false),
            Ok(RedisMode::Process)
        );
        assert_eq!(
            resolve_mode(Some("redis://h:1"), "x", false),
            Ok(RedisMode::Url("redis://h:1".into()))
        );
        // docker without an engine (or without the feature): a reason with its fix
        let fix = if cfg!(feature = "docker") {
            "no Docker engine"
        } else {
            "--features docker"
        };
        assert!(
            matches!(resolve_mode(Some("docker"), "x", false), Ok(RedisMode::DockerUnavailable(r)) if r.contains(fix) && r.contains("--redis process"))
        );
        assert_eq!(
            resolve_mode(Some("docker"), "x", true).map(|m| m == RedisMode::Docker),
            Ok(cfg!(feature = "docker"))
        );
        // auto: a program that does not run, no engine: docker with its reason
        assert!(matches!(
            resolve_mode(None, "/nonexistent/redis-server", false),
            Ok(RedisMode::DockerUnavailable(_))
        ));
        // auto: redis-server runs (cargo, which answers --version, stands in for it): a process
        assert_eq!(
            resolve_mode(None, env!("CARGO"), false),
            Ok(RedisMode::Process)
        );
        assert!(resolve_mode(Some("mysql://x"), "x", false).is_err());
    }

    #[test]
    fn docker_host_decides_reachability() {
        assert!(!docker_host_reachable(
            Some("unix:///nonexistent/docker.sock"),
            true
        ));
        assert!(docker_host_reachable(Some("tcp://10.0.0.1:2375"), false));
        assert!(docker_host_reachable(None, true));
        assert!(!docker_host_reachable(Some(""), false));
    }
}
