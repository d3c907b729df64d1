//! A Redis the harness provisions itself (`redis-server` on a free port, no
//! persistence), so that cluster checks can stop it and bring it back.

use crate::spawn::free_port;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    program: String,
}

impl RedisServer {
    /// Starts `program` (usually `redis-server`) on a free port.
    pub async fn start(program: &str) -> Result<RedisServer, String> {
        let port = free_port().map_err(|e| e.to_string())?;
        let mut r = RedisServer {
            child: None,
            port,
            program: program.to_string(),
        };
        r.up().await?;
        Ok(r)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port and waits until it accepts connections.
    pub async fn up(&mut self) -> Result<(), String> {
        let child = Command::new(&self.program)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
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
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        Err(format!(
            "redis-server did not listen on {} within 3 s",
            self.port
        ))
    }

    /// Stops the server (SIGKILL: an outage, not a shutdown).
    pub async fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
            let _ = c.wait().await;
        }
    }
}
