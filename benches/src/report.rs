//! The figures of one scenario run and how they are shown: a one-line summary for the
//! progress output, a markdown table per server, a side-by-side markdown table with
//! ratios against the first server, and JSON (`--json`).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
    /// Samples.
    pub count: u64,
}

impl Latency {
    /// The percentiles of a histogram of microseconds, or `None` if it is empty.
    pub fn of(h: &Histogram<u32>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            count: h.len(),
        })
    }
}

/// Everything measured in one scenario against one server. `None`: not measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Scenario name (`fanout-1x1000-max`, …).
    pub scenario: String,
    /// Server label.
    pub server: String,
    /// Clients the scenario asked for.
    pub clients: usize,
    /// Clients that could not connect.
    pub connect_failures: usize,
    /// Clients whose connection the server closed before the end.
    pub disconnected: usize,
    /// Publish requests sent.
    pub published: u64,
    /// Publishes answered 202.
    pub accepted: u64,
    /// Publishes answered otherwise.
    pub rejected: u64,
    /// Deliveries received (duplicates included).
    pub deliveries: u64,
    /// Deliveries per second over the run (publishing and draining).
    pub deliveries_per_s: Option<f64>,
    /// Accepted events per second.
    pub events_per_s: Option<f64>,
    /// The fixed rate asked for (events/s), `None` at max rate.
    pub target_events_per_s: Option<f64>,
    /// At a fixed rate: whether deliveries kept up (≥ 95 % of the scheduled rate).
    pub sustained: Option<bool>,
    /// Publish → deliver latency (from the intended send time).
    pub latency_ms: Option<Latency>,
    /// Accepted events a connected client never received.
    pub lost: u64,
    /// Clients that lost at least one event.
    pub clients_with_loss: usize,
    /// Deliveries of an event a client already had.
    pub duplicated: u64,
    /// Deliveries older than one already received.
    pub reordered: u64,
    /// Server CPU time per delivery, µs.
    pub server_cpu_us_per_delivery: Option<f64>,
    /// Server CPU over the run, % of one core.
    pub server_cpu_pct: Option<f64>,
    /// The load generator's CPU, % of the CPUs it may use.
    pub load_cpu_pct: Option<f64>,
    /// The load generator was saturated: the rate is its limit, not the server's.
    pub load_bound: bool,
    /// Share of the wall time the server's or the generator's threads waited for a
    /// CPU (the larger), % — other processes on the machine.
    pub cpu_wait_pct: Option<f64>,
    /// `cpu_wait_pct` above 10 %: the machine was shared, figures are pessimistic.
    pub contended: bool,
    /// Server resident memory per connection, KiB.
    pub rss_per_conn_kb: Option<f64>,
    /// Server resident memory at the end, MB.
    pub server_rss_mb: Option<f64>,
    /// Completed handshakes per second.
    pub handshakes_per_s: Option<f64>,
    /// Handshake latency (TCP connect to `system:connected`).
    pub handshake_ms: Option<Latency>,
    /// Wall time of the measured part, s.
    pub duration_s: f64,
    /// Anything that went wrong.
    pub notes: Vec<String>,
}

fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

impl Figures {
    /// One line for the progress output.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = self.deliveries_per_s {
            parts.push(format!("{} deliveries/s", si(d)));
        }
        if let Some(l) = self.latency_ms {
            parts.push(format!(
                "p50 {:.2} ms p99 {:.2} ms max {:.1} ms",
                l.p50, l.p99, l.max
            ));
        }
        if let Some(c) = self.server_cpu_us_per_delivery {
            parts.push(format!("server {c:.2} µs CPU/delivery"));
        }
        if let Some(r) = self.rss_per_conn_kb {
            parts.push(format!("{r:.1} KiB/conn"));
        }
        if let Some(h) = self.handshakes_per_s {
            parts.push(format!("{} handshakes/s", si(h)));
        }
        if let Some(l) = self.handshake_ms {
            parts.push(format!("handshake p99 {:.1} ms", l.p99));
        }
        if self.deliveries > 0 || self.lost > 0 {
            parts.push(format!(
                "lost {} dup {} reordered {}",
                self.lost, self.duplicated, self.reordered
            ));
        }
        if let Some(p) = self.load_cpu_pct {
            parts.push(format!("load CPU {p:.0}%"));
        }
        if self.load_bound {
            parts.push("LOAD-BOUND".to_owned());
        }
        if let Some(w) = self.cpu_wait_pct {
            parts.push(format!("CPU wait {w:.0}%"));
        }
        if self.connect_failures > 0 {
            parts.push(format!("{} connect failures", self.connect_failures));
        }
        parts.join(", ")
    }
}

/// One row of a side-by-side table: a figure of a scenario.
struct Metric {
    name: &'static str,
    get: fn(&Figures) -> Option<f64>,
    fmt: fn(f64) -> String,
}

fn metrics_for(scenario: &str) -> Vec<Metric> {
    let lat = |name, get| Metric {
        name,
        get,
        fmt: |v| format!("{v:.2} ms"),
    };
    if scenario.starts_with("fanout-") {
        let mut m = vec![Metric {
            name: "deliveries/s",
            get: |f| f.deliveries_per_s,
            fmt: si,
        }];
        if !scenario.ends_with("-max") {
            m.push(lat("p50", |f| f.latency_ms.map(|l| l.p50)));
            m.push(lat("p90", |f| f.latency_ms.map(|l| l.p90)));
            m.push(lat("p99", |f| f.latency_ms.map(|l| l.p99)));
            m.push(lat("max", |f| f.latency_ms.map(|l| l.max)));
        } else {
            m.push(lat("p99", |f| f.latency_ms.map(|l| l.p99)));
        }
        m.push(Metric {
            name: "server CPU/delivery",
            get: |f| f.server_cpu_us_per_delivery,
            fmt: |v| format!("{v:.2} µs"),
        });
        m.push(Metric {
            name: "lost+dup+reordered",
            get: |f| Some((f.lost + f.duplicated + f.reordered) as f64),
            fmt: |v| format!("{v:.0}"),
        });
        m
    } else if scenario.starts_with("idle-") {
        vec![
            Metric {
                name: "RSS/connection",
                get: |f| f.rss_per_conn_kb,
                fmt: |v| format!("{v:.1} KiB"),
            },
            Metric {
                name: "server RSS",
                get: |f| f.server_rss_mb,
                fmt: |v| format!("{v:.0} MB"),
            },
        ]
    } else {
        vec![
            Metric {
                name: "handshakes/s",
                get: |f| f.handshakes_per_s,
                fmt: si,
            },
            lat("handshake p50", |f| f.handshake_ms.map(|l| l.p50)),
            lat("handshake p99", |f| f.handshake_ms.map(|l| l.p99)),
        ]
    }
}

/// Flags that qualify a cell: load-bound, not sustained, failures, losses.
fn flags(f: &Figures) -> String {
    let mut s = Vec::new();
    if f.load_bound {
        s.push("load-bound".to_owned());
    }
    if f.contended {
        s.push("contended".to_owned());
    }
    if f.sustained == Some(false) {
        s.push("not sustained".to_owned());
    }
    if f.connect_failures > 0 {
        s.push(format!("{} connect failures", f.connect_failures));
    }
    if f.disconnected > 0 {
        s.push(format!("{} dropped", f.disconnected));
    }
    if f.rejected > 0 {
        s.push(format!("{} rejected", f.rejected));
    }
    s.join(", ")
}

/// A markdown table: one row per figure of each scenario, one column per server, each
/// cell the absolute figure and its ratio to the first server's.
pub fn side_by_side(runs: &[Vec<Figures>]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let servers: Vec<&str> = runs
        .iter()
        .map(|r| r.first().map_or("?", |f| f.server.as_str()))
        .collect();
    let mut out = String::new();
    out.push_str("| scenario | figure |");
    for s in &servers {
        out.push_str(&format!(" {s} |"));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(servers.len()));
    out.push('\n');
    for base in first {
        let row_of = |run: &Vec<Figures>| run.iter().find(|f| f.scenario == base.scenario).cloned();
        let cells: Vec<Option<Figures>> = runs.iter().map(row_of).collect();
        for m in metrics_for(&base.scenario) {
            out.push_str(&format!("| {} | {} |", base.scenario, m.name));
            let reference = (m.get)(base);
            for (col, cell) in cells.iter().enumerate() {
                let text = match cell.as_ref().and_then(|f| (m.get)(f).map(|v| (f, v))) {
                    None => "—".to_owned(),
                    Some((f, v)) => {
                        let mut t = (m.fmt)(v);
                        if let Some(r) = reference.filter(|r| *r > 0.0) {
                            if col > 0 && !m.name.starts_with("lost") {
                                t.push_str(&format!(" (×{:.2})", v / r));
                            }
                        }
                        if m.name == "deliveries/s" || m.name == "handshakes/s" {
                            let fl = flags(f);
                            if !fl.is_empty() {
                                t.push_str(&format!(" [{fl}]"));
                            }
                        }
                        t
                    }
                };
                out.push_str(&format!(" {text} |"));
            }
            out.push('\n');
        }
    }
    // The first column's ratios are against itself: say so once.
    out.push_str(&format!(
        "\nRatios are against {}; \"load-bound\": the load generator was saturated (≥ 90 % of its CPUs), so the rate is its limit, not the server's; \"contended\": the server's or the generator's threads waited for a CPU more than 10 % of the time (other processes on the machine), so the figures are pessimistic.\n",
        servers[0]
    ));
    out
}

/// One server's figures as a markdown table, one row per scenario.
pub fn table(figs: &[Figures]) -> String {
    let mut out = String::from(
        "| scenario | deliveries/s | p50 / p99 / max ms | server µs CPU/delivery | lost / dup / reord | KiB/conn | handshakes/s (p99 ms) | load CPU (CPU wait) | notes |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map_or("—".to_owned(), f);
    for f in figs {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            f.scenario,
            opt(f.deliveries_per_s, si),
            f.latency_ms.map_or("—".to_owned(), |l| format!(
                "{:.2} / {:.2} / {:.1}",
                l.p50, l.p99, l.max
            )),
            opt(f.server_cpu_us_per_delivery, |v| format!("{v:.2}")),
            if f.scenario.starts_with("fanout") {
                format!("{} / {} / {}", f.lost, f.duplicated, f.reordered)
            } else {
                "—".to_owned()
            },
            opt(f.rss_per_conn_kb, |v| format!("{v:.1}")),
            match (f.handshakes_per_s, f.handshake_ms) {
                (Some(h), Some(l)) => format!("{} ({:.1})", si(h), l.p99),
                (Some(h), None) => si(h),
                _ => "—".to_owned(),
            },
            match (f.load_cpu_pct, f.cpu_wait_pct) {
                (Some(l), Some(w)) => format!("{l:.0}% ({w:.0}%)"),
                (Some(l), None) => format!("{l:.0}%"),
                _ => "—".to_owned(),
            },
            {
                let mut n = flags(f);
                for note in &f.notes {
                    if !n.is_empty() {
                        n.push_str("; ");
                    }
                    n.push_str(note);
                }
                n.replace('|', "/")
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(server: &str, scenario: &str, dps: f64) -> Figures {
        Figures {
            server: server.into(),
            scenario: scenario.into(),
            deliveries_per_s: Some(dps),
            ..Figures::default()
        }
    }

    #[test]
    fn side_by_side_shows_ratios_against_the_first_server() {
        let a = vec![fig("ref", "fanout-1x10-max", 1000.0)];
        let mut b = vec![fig("node", "fanout-1x10-max", 500.0)];
        b[0].load_bound = true;
        let t = side_by_side(&[a, b]);
        assert!(t.contains("| scenario | figure | ref | node |"), "{t}");
        assert!(
            t.contains("| fanout-1x10-max | deliveries/s | 1.0 k | 500 (×0.50) [load-bound] |"),
            "{t}"
        );
    }

    #[test]
    fn a_missing_scenario_is_a_dash() {
        let a = vec![fig("ref", "fanout-1x10-max", 1000.0)];
        let t = side_by_side(&[a, vec![fig("x", "idle-5", 1.0)]]);
        assert!(t.contains("| 1.0 k | — |"), "{t}");
    }

    #[test]
    fn latency_percentiles_are_in_milliseconds() {
        let mut h = Histogram::<u32>::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        for us in 1..=1000 {
            h.record(us).unwrap();
        }
        let l = Latency::of(&h).unwrap();
        assert!((l.p50 - 0.5).abs() < 0.01, "{l:?}");
        assert!((l.max - 1.0).abs() < 0.01, "{l:?}");
        assert_eq!(l.count, 1000);
        assert!(Latency::of(&Histogram::<u32>::new(2).unwrap()).is_none());
    }

    #[test]
    fn figures_serialize_to_json_and_back() {
        let f = fig("ref", "idle-10", 1.0);
        let j = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Figures>(&j).unwrap(), f);
        assert!(table(&[f]).contains("| idle-10 |"));
    }
}
