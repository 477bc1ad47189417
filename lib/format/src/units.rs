//! Sizes and durations as the tools and their options spell them: `64KiB`, `1.5MiB`, `4MB`;
//! `5s`, `1m30s`, or seconds.

/// Parse `5s`, `1m30s`, `500ms` (humantime), or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(n) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(n));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 5s, 1m, 500ms)"))
}

/// What `--help` says of sizes.
pub const SIZE_UNITS: &str = "KiB/MiB/GiB/TiB = 1024^n bytes, kB/MB/GB/TB = 1000^n";

/// Parse a size exactly: `1572864`, `64KiB`, `1.5MiB`, `4MB`, `1TiB`. Binary units (KiB, MiB,
/// GiB, TiB) are powers of 1024, decimal ones (kB, MB, GB, TB) powers of 1000; bare `K`, `M`,
/// `G`, `T` are refused as ambiguous, and so is a fraction that is not a whole number of bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("{s:?} is not a size (e.g. 1572864, 64KiB, 1.5MiB, 4MB)");
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') || frac.len() > 12 {
        return Err(bad());
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
    let mult: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        u @ ("k" | "m" | "g" | "t") => {
            let u = u.to_ascii_uppercase();
            return Err(format!("{s:?}: {u} is ambiguous: say {u}iB (1024-based) or {u}B (1000-based)"));
        }
        _ => return Err(format!("{s:?}: unknown size unit {unit:?} ({SIZE_UNITS})")),
    };
    let scale = 10u128.pow(frac.len() as u32);
    let frac_n: u128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| bad())? };
    let total = int.checked_mul(mult).ok_or_else(bad)?;
    let part = frac_n * mult;
    if !part.is_multiple_of(scale) {
        return Err(format!("{s:?} is not a whole number of bytes"));
    }
    usize::try_from(total + part / scale).map_err(|_| format!("{s:?} is too large"))
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("1.5MiB"), Ok(1572864));
        assert_eq!(super::parse_size("4MB"), Ok(4_000_000));
        assert_eq!(super::parse_size("10"), Ok(10));
        assert_eq!(super::parse_size("5MiB"), Ok(5 << 20));
        assert_eq!(super::parse_size("5 MB"), Ok(5_000_000));
        assert_eq!(super::parse_size("1TB"), Ok(1_000_000_000_000));
        assert_eq!(super::parse_size("1tib"), Ok(1 << 40));
        assert_eq!(super::parse_size("64kB"), Ok(64_000));
        assert_eq!(super::parse_size("0.5KiB"), Ok(512));
        assert_eq!(
            super::parse_size("5M"),
            Err("\"5M\": M is ambiguous: say MiB (1024-based) or MB (1000-based)".into())
        );
        assert!(super::parse_size("0.3KiB").is_err());
        assert!(super::parse_size("1.2.3MB").is_err());
        assert!(super::parse_size("99999999999999999999TiB").is_err());
        assert!(super::parse_size("x").is_err());
        assert!(super::parse_size("").is_err());
        assert!(super::parse_size(".").is_err());
    }
}
