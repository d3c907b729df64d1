//! What the load generator reads from and asks of Linux: CPU time and resident memory of
//! a process from `/proc/<pid>/stat` and `/proc/<pid>/status`, the CPUs this process may
//! run on, and raising its own `RLIMIT_NOFILE` (children inherit the raised limit).

use std::time::Duration;

/// CPU time (user + system) of a process so far, or `None` if it cannot be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_cpu_ticks(&stat)?;
    let hz = rustix::param::clock_ticks_per_second().max(1);
    Some(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000) / hz,
    ))
}

/// CPU time of this process so far.
pub fn own_cpu_time() -> Option<Duration> {
    cpu_time(std::process::id())
}

/// `utime + stime` (fields 14 and 15, in clock ticks) of a `/proc/<pid>/stat` line.
/// The command name (field 2) may hold spaces and parentheses, so fields are counted
/// after its last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After ')': field 3 (state) is index 0, so utime (14) is index 11, stime (15) is 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Time the threads of a process spent runnable but waiting for a CPU (the second
/// field of each `/proc/<pid>/task/<tid>/schedstat`, summed): on a shared machine this
/// is the time other processes took from it.
pub fn run_delay(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for t in tasks.flatten() {
        let text = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        total += parse_schedstat_wait(&text).unwrap_or(0);
    }
    Some(Duration::from_nanos(total))
}

/// The run-queue wait (ns) of a `schedstat` line: `<on-cpu ns> <waiting ns> <slices>`.
pub fn parse_schedstat_wait(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Resident set size of a process in bytes (`VmRSS`), or `None`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_rss(&status)
}

/// The `VmRSS:` line of `/proc/<pid>/status`, in bytes.
pub fn parse_status_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// How many CPUs this process may run on (its affinity mask, e.g. after `taskset`).
pub fn usable_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Raises this process's open-file limit to at least `want` (soft and, when allowed,
/// hard), so that many sockets fit; returns the soft limit in force afterwards.
/// Processes spawned later inherit it.
pub fn raise_fd_limit(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    let soft = cur.current.unwrap_or(u64::MAX);
    if soft >= want {
        return soft;
    }
    let hard = cur.maximum.unwrap_or(u64::MAX);
    // Raising the hard limit needs privileges; try it, then settle for the hard limit.
    if hard < want {
        let raised = Rlimit {
            current: Some(want),
            maximum: Some(want),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return want;
        }
    }
    let target = want.min(hard);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: cur.maximum,
        },
    );
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "1234 (my (odd) server) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn rss_is_read_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t    2048 kB\nThreads:\t4\n";
        assert_eq!(parse_status_rss(status), Some(2048 * 1024));
        assert_eq!(parse_status_rss("Name:\tx\n"), None);
    }

    #[test]
    fn schedstat_wait_is_the_second_field() {
        assert_eq!(parse_schedstat_wait("123 456 7\n"), Some(456));
        assert_eq!(parse_schedstat_wait(""), None);
    }

    #[test]
    fn this_process_can_be_measured() {
        assert!(run_delay(std::process::id()).is_some());
        assert!(own_cpu_time().is_some());
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(usable_cpus() >= 1);
    }
}
