//! `--redis docker`: the FAULT scenarios' Redis as a Redis 7 container
//! (testcontainers and its `redis` module), built with the `docker` feature.
//! The container publishes Redis on a fixed free host port, so a restart keeps
//! the address the instances were given; "SIGKILL" is a stop without grace,
//! "SIGSTOP"/"SIGCONT" are a pause and an unpause (the connections stay open).
//! With an append-only file the data lives in the container's `/data`, which
//! survives a stop and a start. The container is removed when dropped.

use testcontainers_modules::redis::Redis;
use testcontainers_modules::testcontainers::core::IntoContainerPort;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

/// The Redis image tag (Redis 7).
pub const TAG: &str = "7.2";

/// A Redis container on `port` of the host.
pub struct RedisContainer {
    container: Option<ContainerAsync<Redis>>,
    port: u16,
    aof: bool,
}

impl std::fmt::Debug for RedisContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisContainer")
            .field("id", &self.container.as_ref().map(|c| c.id().to_string()))
            .field("port", &self.port)
            .field("aof", &self.aof)
            .finish()
    }
}

fn engine(what: &str, e: impl std::fmt::Display) -> String {
    format!(
        "--redis docker: {what} failed: {e} (is the Docker engine running and can it pull redis:{TAG}? else use --redis process)"
    )
}

impl RedisContainer {
    /// A container that is not created yet (`up` creates and starts it).
    pub fn new(port: u16, aof: bool) -> RedisContainer {
        RedisContainer {
            container: None,
            port,
            aof,
        }
    }

    /// Creates and starts the container, or starts it again after `down`.
    pub async fn up(&mut self) -> Result<(), String> {
        if let Some(c) = &self.container {
            return c.start().await.map_err(|e| engine("container start", e));
        }
        let fsync: &[&str] = if self.aof {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let cmd = ["redis-server", "--save", ""]
            .iter()
            .chain(fsync)
            .map(|s| s.to_string());
        let c = Redis::default()
            .with_tag(TAG)
            .with_cmd(cmd)
            .with_mapped_port(self.port, 6379.tcp())
            .start()
            .await
            .map_err(|e| engine("container run", e))?;
        self.container = Some(c);
        Ok(())
    }

    /// Stops the container at once (no grace period: an outage).
    pub async fn down(&mut self) {
        if let Some(c) = &self.container {
            let _ = c.stop_with_timeout(Some(0)).await;
        }
    }

    /// `STOP` pauses the container, `CONT` unpauses it.
    pub async fn signal(&self, sig: &str) -> Result<(), String> {
        let c = self
            .container
            .as_ref()
            .ok_or("the Redis container is not running")?;
        match sig {
            "STOP" => c.pause().await.map_err(|e| engine("container pause", e)),
            "CONT" => c
                .unpause()
                .await
                .map_err(|e| engine("container unpause", e)),
            other => Err(format!(
                "--redis docker: no container action for SIG{other}"
            )),
        }
    }
}
