//! Timestamps as JavaScript's `Date.prototype.toISOString` writes them:
//! `2026-11-22T04:35:21.123Z` (UTC, milliseconds, `Z`).
//!
//! The calendar arithmetic is the proleptic Gregorian calendar, as in
//! JavaScript (Howard Hinnant's `civil_from_days` / `days_from_civil`).

use std::fmt;

const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the Unix epoch, UTC. There is no clock here: the
/// caller reads one and builds a `Timestamp` from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

/// Why a string is not a strict ISO timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not of the shape `YYYY-MM-DDTHH:MM:SS.sssZ` (24 characters).
    #[error("timestamp must look like 2026-11-22T04:35:21.123Z (UTC, milliseconds, 'Z')")]
    InvalidFormat,
    /// The shape is right but a field is out of range (month 13, 31 April,
    /// 29 February in a common year, hour 24, …).
    #[error("timestamp names a date or time that does not exist")]
    OutOfRange,
}

impl Timestamp {
    /// The timestamp `ms` milliseconds after the Unix epoch.
    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(&self) -> i64 {
        self.0
    }

    /// Formats like JavaScript's `toISOString`: `YYYY-MM-DDTHH:MM:SS.sssZ`
    /// for years 0000 to 9999; outside them the expanded form with a sign
    /// and six year digits (`+010000-01-01T00:00:00.000Z`,
    /// `-000001-12-31T23:59:59.999Z`), as JavaScript does.
    pub fn to_iso(&self) -> String {
        let days = self.0.div_euclid(MS_PER_DAY);
        let ms_of_day = self.0.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
        let (min, rest) = (rest / 60_000, rest % 60_000);
        let (s, ms) = (rest / 1000, rest % 1000);
        let year = if (0..=9999).contains(&y) {
            format!("{y:04}")
        } else if y < 0 {
            format!("-{:06}", y.unsigned_abs())
        } else {
            format!("+{y:06}")
        };
        format!("{year}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SS.sssZ` (24 characters, a real
    /// calendar date, years 0000 to 9999). No offsets, no other precision,
    /// no leap seconds.
    pub fn parse_iso(s: &str) -> Result<Timestamp, TimestampError> {
        let b = s.as_bytes();
        if b.len() != 24 {
            return Err(TimestampError::InvalidFormat);
        }
        for (i, &c) in b.iter().enumerate() {
            let ok = match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'.',
                23 => c == b'Z',
                _ => c.is_ascii_digit(),
            };
            if !ok {
                return Err(TimestampError::InvalidFormat);
            }
        }
        let num = |from: usize, to: usize| -> i64 {
            b.get(from..to)
                .unwrap_or(&[])
                .iter()
                .fold(0, |acc, c| acc * 10 + i64::from(c - b'0'))
        };
        let (y, mo, d) = (num(0, 4), num(5, 7), num(8, 10));
        let (h, mi, sec, ms) = (num(11, 13), num(14, 16), num(17, 19), num(20, 23));
        if !(1..=12).contains(&mo)
            || d < 1
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || sec > 59
        {
            return Err(TimestampError::OutOfRange);
        }
        let days = days_from_civil(y, mo, d);
        Ok(Timestamp(
            days * MS_PER_DAY + h * 3_600_000 + mi * 60_000 + sec * 1000 + ms,
        ))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_iso())
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month 1-12, day 1-31) → days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(Timestamp(0).to_iso(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_795_322_121_123).to_iso(),
            "2026-11-22T04:35:21.123Z"
        );
        assert_eq!(Timestamp(-1).to_iso(), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            Timestamp(951_782_400_000).to_iso(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp(-62_167_219_200_000).to_iso(),
            "0000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp(253_402_300_799_999).to_iso(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp(253_402_300_800_000).to_iso(),
            "+010000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp(-62_167_219_200_001).to_iso(),
            "-000001-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp(8_640_000_000_000_000).to_iso(),
            "+275760-09-13T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp(-8_640_000_000_000_000).to_iso(),
            "-271821-04-20T00:00:00.000Z"
        );
    }

    #[test]
    fn extreme_values_do_not_panic() {
        assert!(Timestamp(i64::MIN).to_iso().starts_with('-'));
        assert!(Timestamp(i64::MAX).to_iso().starts_with('+'));
    }

    #[test]
    fn parse_is_strict() {
        assert_eq!(
            Timestamp::parse_iso("2026-11-22T04:35:21.123Z"),
            Ok(Timestamp(1_795_322_121_123))
        );
        for bad in [
            "2026-11-22T04:35:21Z",
            "2026-11-22T04:35:21.123+00:00",
            "2026-11-22T04:35:21.1234Z",
            "2026-11-22 04:35:21.123Z",
            "2026-11-22T04:35:21.123z",
            "+02026-11-22T04:35:21.123Z",
            "２026-11-22T04:35:21.123Z",
        ] {
            assert_eq!(
                Timestamp::parse_iso(bad),
                Err(TimestampError::InvalidFormat),
                "{bad}"
            );
        }
        for bad in [
            "2026-13-01T00:00:00.000Z",
            "2026-00-01T00:00:00.000Z",
            "2026-04-31T00:00:00.000Z",
            "2026-02-29T00:00:00.000Z",
            "1900-02-29T00:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T00:60:00.000Z",
            "2026-01-01T00:00:60.000Z",
        ] {
            assert_eq!(
                Timestamp::parse_iso(bad),
                Err(TimestampError::OutOfRange),
                "{bad}"
            );
        }
        assert!(Timestamp::parse_iso("2000-02-29T00:00:00.000Z").is_ok());
    }

    #[test]
    fn agrees_with_the_time_crate() {
        let fmt = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        for ms in [
            0i64,
            1,
            -1,
            1_795_322_121_123,
            -62_167_219_200_000,
            253_402_300_799_999,
            4_102_444_800_000,
        ] {
            let dt = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap();
            assert_eq!(Timestamp(ms).to_iso(), dt.format(&fmt).unwrap(), "{ms}");
        }
    }
}
