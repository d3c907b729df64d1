//! The process's open-file limit (`RLIMIT_NOFILE`): every connection is a descriptor,
//! and many systems start processes with a soft limit of 1 024. At start the server
//! raises its soft limit to the hard limit (unprivileged processes may do that), so that
//! 10 000 connections need no `ulimit -n` from the operator.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The open-file limits before and after [`raise_to_hard`]; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimits {
    /// The soft limit the process started with.
    pub soft_before: Option<u64>,
    /// The soft limit now.
    pub soft: Option<u64>,
    /// The hard limit (the ceiling for the soft limit without privileges).
    pub hard: Option<u64>,
}

/// The soft limit to ask for: the hard limit, unless the soft one is already at least
/// as high (sans-io: the decision without the system calls).
pub fn wanted_soft(soft: Option<u64>, hard: Option<u64>) -> Option<Option<u64>> {
    let higher = match (soft, hard) {
        (_, None) => soft.is_some(),
        (None, Some(_)) => false,
        (Some(s), Some(h)) => s < h,
    };
    higher.then_some(hard)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the limits before and
/// after, or the error of the `setrlimit` call together with the unchanged limits.
pub fn raise_to_hard() -> Result<FdLimits, (std::io::Error, FdLimits)> {
    let cur = getrlimit(Resource::Nofile);
    let mut limits = FdLimits {
        soft_before: cur.current,
        soft: cur.current,
        hard: cur.maximum,
    };
    let Some(soft) = wanted_soft(cur.current, cur.maximum) else {
        return Ok(limits);
    };
    let wanted = Rlimit {
        current: soft,
        maximum: cur.maximum,
    };
    if let Err(e) = setrlimit(Resource::Nofile, wanted) {
        return Err((e.into(), limits));
    }
    limits.soft = getrlimit(Resource::Nofile).current;
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one_and_never_lowered() {
        assert_eq!(wanted_soft(Some(1024), Some(20_000)), Some(Some(20_000)));
        assert_eq!(wanted_soft(Some(1024), None), Some(None));
        assert_eq!(wanted_soft(Some(20_000), Some(20_000)), None);
        assert_eq!(wanted_soft(None, None), None);
        assert_eq!(wanted_soft(None, Some(20_000)), None);
    }

    #[test]
    fn raising_keeps_the_hard_limit() {
        let got = raise_to_hard().map_err(|(e, _)| e).unwrap();
        assert_eq!(got.soft, got.hard);
        assert_eq!(getrlimit(Resource::Nofile).maximum, got.hard);
    }
}
