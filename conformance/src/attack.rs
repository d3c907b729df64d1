//! Hostile-client primitives over raw TCP, for the LIM checks of issue 11 and the soak
//! run: a POST whose body trickles in one byte per segment, a flood of Engine.IO
//! handshakes over keep-alive connections, and readings of a local process's resident
//! memory and open descriptors from `/proc`. Loopback only; every loop is bounded in
//! count and time by its caller.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `http://host:port/...` → `host:port`.
pub fn host_port(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// The resident memory of process `pid` in KiB (Linux `/proc`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The open descriptors of process `pid` (Linux `/proc`).
pub fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// How a trickled request ended.
#[derive(Debug, Clone)]
pub struct TrickleEnd {
    /// When the server answered or closed, from the first body byte; `None`: it did
    /// neither within the time allowed.
    pub cut_after: Option<Duration>,
    /// The status of the answer, if there was one.
    pub status: Option<u16>,
    /// Body bytes sent.
    pub sent: usize,
}

/// The status code of an HTTP/1.1 response head.
fn status_of(buf: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(buf.get(..buf.len().min(64))?).ok()?;
    text.strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))?
        .get(..3)?
        .parse()
        .ok()
}

/// Sends `POST path` with `Content-Length: length`, then the body one byte per
/// segment every `every`, until the server answers or closes, the body is complete, or
/// `max` has passed.
pub async fn trickle_post(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: usize,
    every: Duration,
    max: Duration,
) -> std::io::Result<TrickleEnd> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {length}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    wr.write_all(head.as_bytes()).await?;
    let start = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    let reader = async {
        let mut buf = vec![0u8; 256];
        match rd.read(&mut buf).await {
            Ok(n) if n > 0 => status_of(&buf[..n]),
            _ => None,
        }
    };
    let counter = Arc::clone(&sent);
    let writer = async move {
        let mut n = 0;
        while n < length && start.elapsed() < max {
            if wr.write_all(b" ").await.is_err() {
                // the server closed: let the reader see it
                std::future::pending::<()>().await;
            }
            n += 1;
            counter.store(n, Ordering::Relaxed);
            tokio::time::sleep(every).await;
        }
        if n >= length {
            // complete: wait for the answer
            std::future::pending::<()>().await;
        }
    };
    let end = tokio::select! {
        status = reader => TrickleEnd { cut_after: Some(start.elapsed()), status, sent: 0 },
        _ = writer => TrickleEnd { cut_after: None, status: None, sent: 0 },
    };
    Ok(TrickleEnd {
        sent: sent.load(Ordering::Relaxed),
        ..end
    })
}

/// What a handshake flood got.
#[derive(Debug, Clone, Default)]
pub struct FloodEnd {
    /// Handshakes answered 200.
    pub accepted: usize,
    /// Handshakes answered 503.
    pub refused: usize,
    /// A 503 carried `Retry-After`.
    pub retry_after: bool,
    /// Other answers (or failed connections).
    pub other: usize,
    /// Time taken.
    pub elapsed: Duration,
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) from `s`, keeping
/// leftovers in `buf`: `(status, has Retry-After)`.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u16, bool)> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = status_of(head.to_uppercase().as_bytes())?;
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let retry = head.lines().any(|l| l.starts_with("retry-after:"));
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..end + 4 + len);
            return Some((status, retry));
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Opens up to `total` polling handshakes at `path` over `conns` keep-alive
/// connections, within `max`; stops at the first 503 when `stop_at_refusal`.
pub async fn handshake_flood(
    addr: &str,
    path: &str,
    total: usize,
    conns: usize,
    max: Duration,
    stop_at_refusal: bool,
) -> FloodEnd {
    let start = Instant::now();
    let issued = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let request = format!(
        "GET {path}?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive\r\n\r\n"
    );
    let workers = (0..conns.max(1)).map(|_| {
        let (issued, stop, request) = (Arc::clone(&issued), Arc::clone(&stop), request.clone());
        let addr = addr.to_string();
        async move {
            let mut out = FloodEnd::default();
            let mut conn: Option<(TcpStream, Vec<u8>)> = None;
            while !stop.load(Ordering::Relaxed)
                && start.elapsed() < max
                && issued.fetch_add(1, Ordering::Relaxed) < total
            {
                if conn.is_none() {
                    match TcpStream::connect(&addr).await {
                        Ok(s) => conn = Some((s, Vec::new())),
                        Err(_) => {
                            out.other += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let Some((s, buf)) = conn.as_mut() else {
                    continue;
                };
                let answer = match s.write_all(request.as_bytes()).await {
                    Ok(()) => tokio::time::timeout(Duration::from_secs(10), read_response(s, buf))
                        .await
                        .ok()
                        .flatten(),
                    Err(_) => None,
                };
                match answer {
                    Some((200, _)) => out.accepted += 1,
                    Some((503, retry)) => {
                        out.refused += 1;
                        out.retry_after |= retry;
                        if stop_at_refusal {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    Some(_) => out.other += 1,
                    None => {
                        out.other += 1;
                        conn = None;
                    }
                }
            }
            out
        }
    });
    let mut end = FloodEnd::default();
    for w in futures_util::future::join_all(workers).await {
        end.accepted += w.accepted;
        end.refused += w.refused;
        end.retry_after |= w.retry_after;
        end.other += w.other;
    }
    end.elapsed = start.elapsed();
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_statuses() {
        assert_eq!(host_port("http://127.0.0.1:3000/x"), "127.0.0.1:3000");
        assert_eq!(host_port("127.0.0.1:1"), "127.0.0.1:1");
        assert_eq!(status_of(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
        assert_eq!(status_of(b"garbage"), None);
    }
}
