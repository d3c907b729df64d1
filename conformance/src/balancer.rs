//! A TCP front for several instances, as a load balancer is: each new connection goes
//! to the first instance that accepts it. An instance that got SIGTERM stops
//! accepting, so a real client's reconnect lands on the next one (LIFE-11).

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running balancer; stopped on drop (its open connections end with their peers).
#[derive(Debug)]
pub struct Failover {
    /// Its address.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Failover {
    /// Listens on a free port of 127.0.0.1 in front of `ports` (127.0.0.1, in order).
    pub async fn start(ports: Vec<u16>) -> std::io::Result<Failover> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let ports = ports.clone();
                tokio::spawn(async move {
                    for p in ports {
                        if let Ok(mut out) = TcpStream::connect(("127.0.0.1", p)).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            return;
                        }
                    }
                });
            }
        });
        Ok(Failover { addr, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Failover {
    fn drop(&mut self) {
        self.task.abort();
    }
}
