//! A TCP front for several instances, as a load balancer is: each new connection goes
//! to the first instance that accepts it. An instance that got SIGTERM stops
//! accepting, so a real client's reconnect lands on the next one (LIFE-11).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running balancer; stopped on drop (its open connections end with their peers).
#[derive(Debug)]
pub struct Failover {
    /// Its address.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    /// What it did, one line per connection event (for a check's transcript).
    log: Arc<Mutex<Vec<String>>>,
}

impl Failover {
    /// Listens on a free port of 127.0.0.1 in front of `ports` (127.0.0.1, in order).
    pub async fn start(ports: Vec<u16>) -> std::io::Result<Failover> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let note = {
            let log = log.clone();
            move |line: String| {
                let ms = started.elapsed().as_millis();
                log.lock()
                    .expect("balancer log")
                    .push(format!("{ms} ms: {line}"));
            }
        };
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while let Ok((mut inbound, _)) = listener.accept().await {
                n += 1;
                let ports = ports.clone();
                let note = note.clone();
                tokio::spawn(async move {
                    for p in ports {
                        match TcpStream::connect(("127.0.0.1", p)).await {
                            Ok(mut out) => {
                                note(format!("connection {n} -> port {p}"));
                                let r = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                                note(format!("connection {n} (port {p}) ended: {r:?}"));
                                return;
                            }
                            Err(e) => note(format!("connection {n}: port {p} refused ({e})")),
                        }
                    }
                    note(format!("connection {n}: no instance accepted"));
                });
            }
        });
        Ok(Failover { addr, task, log })
    }

    /// What it did so far, one line per connection event.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("balancer log").clone()
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
