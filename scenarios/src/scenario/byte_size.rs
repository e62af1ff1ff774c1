//! Byte counts as people write them for transfers: `10MB`, `512KiB`, `1500B`. SI units are
//! powers of 1000 (`kB`/`KB`, `MB`, `GB`), IEC units powers of 1024 (`KiB`, `MiB`, `GiB`),
//! as `iperf3 -n` and `dd` spell them; a whole number, then the unit, no space.

/// A byte count: `10MB` is 10 000 000 bytes, `1MiB` 1 048 576.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let mult: u64 = match unit {
        "B" => 1,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "{s:?}: expected a size such as 10MB, 512KiB or 1500B (units B, kB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    n.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?}: expected a positive whole number before the unit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_si_and_iec_units() {
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("1500B"), Ok(1500));
        assert_eq!(parse_bytes("64kB"), Ok(64_000));
        assert_eq!(parse_bytes("512KiB"), Ok(524_288));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert!(parse_bytes("10 MB").is_err());
        assert!(parse_bytes("0MB").is_err());
        assert!(parse_bytes("10").is_err());
        assert!(parse_bytes("10mb").is_err());
        assert!(parse_bytes("99999999999999GB").is_err());
    }
}
