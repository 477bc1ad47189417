//! Kubernetes' time formats: Time (RFC 3339 in UTC, seconds), MicroTime (microseconds) and
//! Duration as Go's `time.Duration.String` prints it and `time.ParseDuration` reads it.

use chrono::{DateTime, SecondsFormat, Utc};

/// `seconds` (and `nanos`) since the epoch as Time (`micro = false`) or MicroTime prints them.
pub fn format_time(seconds: i64, nanos: i32, micro: bool) -> Option<String> {
    let t = DateTime::<Utc>::from_timestamp(seconds, if micro { u32::try_from(nanos).ok()? } else { 0 })?;
    Some(if micro {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    })
}

/// An RFC 3339 time as seconds and nanoseconds since the epoch.
pub fn parse_time(s: &str) -> Option<(i64, i32)> {
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    Some((t.timestamp(), i32::try_from(t.timestamp_subsec_nanos()).ok()?))
}

/// Nanoseconds as Go prints a Duration: `0s`, `1.5µs`, `100ms`, `1h2m3.5s`.
pub fn format_duration(nanos: i64) -> String {
    let mut u = nanos.unsigned_abs();
    let sign = if nanos < 0 { "-" } else { "" };
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        let (digits, unit) = match u {
            0..1_000 => return format!("{sign}{u}ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        return format!("{sign}{}{unit}", frac(u, digits));
    }
    let secs = frac(u, 9);
    u /= 1_000_000_000;
    let s = format!("{}{}", u % 60, &secs[secs.find('.').unwrap_or(secs.len())..]);
    u /= 60;
    if u == 0 {
        return format!("{sign}{s}s");
    }
    let m = u % 60;
    u /= 60;
    if u == 0 {
        return format!("{sign}{m}m{s}s");
    }
    format!("{sign}{u}h{m}m{s}s")
}

/// `v / 10^digits` with the fraction's trailing zeros (and a bare point) dropped.
fn frac(v: u64, digits: u32) -> String {
    let p = 10u64.pow(digits);
    let f = format!("{:0width$}", v % p, width = digits as usize);
    let f = f.trim_end_matches('0');
    if f.is_empty() { format!("{}", v / p) } else { format!("{}.{f}", v / p) }
}

/// Go's `time.ParseDuration`: `[-+]` then numbers with units ns, us, µs, ms, s, m, h (`0` alone).
pub fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += num * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let v = total.round() as i64;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_and_parse_as_go_does() {
        for (n, s) in [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (4 * 60_000_000_000 + 5_000_000_000, "4m5s"),
            (3_600_000_000_000, "1h0m0s"),
            (-(90 * 60_000_000_000), "-1h30m0s"),
        ] {
            assert_eq!(format_duration(n), s);
            assert_eq!(parse_duration(s), Some(n), "{s}");
        }
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("10us"), Some(10_000));
        for bad in ["", "1", "h", "1x", "--1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_in_utc() {
        assert_eq!(format_time(1_009_846_861, 5, false).unwrap(), "2002-01-01T01:01:01Z");
        assert_eq!(format_time(1_009_846_861, 2_000, true).unwrap(), "2002-01-01T01:01:01.000002Z");
        assert_eq!(parse_time("2002-01-01T02:01:01+01:00"), Some((1_009_846_861, 0)));
        assert_eq!(parse_time("2002-01-01T01:01:01.000002Z"), Some((1_009_846_861, 2_000)));
        assert_eq!(parse_time("yesterday"), None);
    }
}
