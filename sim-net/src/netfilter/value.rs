//! Values as iptables reads and prints them: numbers the way `xtables_strtoui` reads them
//! (`strtoumax(…, 0)`: decimal, `0x` hex, a leading `0` for octal), ports and port ranges,
//! IPv4 addresses with a prefix length or a dotted mask, interface names, and the quoting rule
//! of `xtables_save_string` (libxtables/xtables.c).

use std::fmt::Write;
use std::net::Ipv4Addr;

/// `IFNAMSIZ - 1`: the longest interface name `xtables_parse_interface` accepts.
pub const IFNAME_MAX_LEN: usize = 15;

/// A number as `xtables_strtoul(s, NULL, …, 0, max)` reads it: the whole string, base 0, no
/// sign. `None` when it is not a number or is above `max`.
pub(crate) fn parse_uint(s: &str, max: u64) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|&v| v <= max)
}

/// A `u32` (marks, masks, counts) as `xtables_strtoui` reads it.
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    parse_uint(s, u64::from(u32::MAX)).map(|v| v as u32)
}

/// A port number (`xtables_parse_port` without `/etc/services` names).
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    parse_uint(s, u64::from(u16::MAX)).map(|v| v as u16)
}

/// `VALUE[/MASK]` as `xtables_parse_val_mask` reads it; the mask defaults to all ones.
pub(crate) fn parse_val_mask(s: &str) -> Option<(u32, u32)> {
    match s.split_once('/') {
        Some((v, m)) => Some((parse_u32(v)?, parse_u32(m)?)),
        None => Some((parse_u32(s)?, u32::MAX)),
    }
}

/// An IPv4 address in dotted-quad form. Host names and the short forms (`10.1`) that
/// `xtables_numeric_to_ipaddr` also takes are not accepted.
pub(crate) fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    plain_dotted_quad(s).or_else(|| s.parse().ok())
}

/// The usual spelling of an address — four decimal octets without leading zeros — read in
/// one pass (a kube-proxy restore reads 400,000 addresses); anything else is left to the
/// standard parser, which reads these the same way.
fn plain_dotted_quad(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let (mut k, mut n, mut digits) = (0, 0u32, 0);
    for &c in s.as_bytes() {
        match c {
            b'.' if digits > 0 && k < 3 => {
                octets[k] = n as u8;
                (k, n, digits) = (k + 1, 0, 0);
            }
            b'0'..=b'9' if !(digits > 0 && n == 0) => {
                n = n * 10 + u32::from(c - b'0');
                digits += 1;
                if n > 255 {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if digits == 0 || k != 3 {
        return None;
    }
    octets[3] = n as u8;
    Some(Ipv4Addr::from(octets))
}

/// `ADDR[/PREFIX|/DOTTED-MASK]` as `xtables_ipparse_any` reads it for `-s`/`-d`: a bare
/// address is `/32`, and the address is masked.
pub(crate) fn parse_addr_mask(s: &str) -> Result<(Ipv4Addr, u32), &'static str> {
    let (addr, mask) = match s.rsplit_once('/') {
        Some((a, m)) => (
            a,
            parse_mask(m).ok_or("invalid mask (0 to 32, or a dotted mask)")?,
        ),
        None => (s, u32::MAX),
    };
    let addr =
        parse_ipv4(addr).ok_or("not a dotted-quad IPv4 address (host names are not resolved)")?;
    Ok((Ipv4Addr::from(u32::from(addr) & mask), mask))
}

/// A mask written as a prefix length or in dotted form (`parse_ipmask`).
pub(crate) fn parse_mask(s: &str) -> Option<u32> {
    if s.contains('.') {
        return parse_ipv4(s).map(u32::from);
    }
    let bits = parse_uint(s, 32)? as u32;
    Some(prefix_to_mask(bits))
}

/// The mask with the top `bits` bits set.
pub fn prefix_to_mask(bits: u32) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    }
}

/// The prefix length of a contiguous mask, `None` for a mask such as `255.0.255.0`.
pub fn mask_to_prefix(mask: u32) -> Option<u32> {
    let ones = mask.leading_ones();
    (mask.checked_shl(ones).unwrap_or(0) == 0).then_some(ones)
}

/// An interface name for `-i`/`-o`/`--physdev-*`: at most 15 characters (`+` ends a wildcard).
pub(crate) fn check_iface(s: &str) -> Result<(), &'static str> {
    if s.len() > IFNAME_MAX_LEN {
        Err("interface names are at most 15 characters (IFNAMSIZ)")
    } else if s.chars().any(|c| c.is_whitespace() || c == '/') {
        Err("interface names contain no whitespace or '/'")
    } else {
        Ok(())
    }
}

/// Appends ` VALUE` quoted as `xtables_save_string` does: bare when every character is one of
/// `[A-Za-z0-9_-]` (and the value is not empty), otherwise in double quotes with `"`, `\` and `'`
/// escaped by a backslash.
pub(crate) fn push_saved_string(out: &mut String, value: &str) {
    out.push(' ');
    let bare = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Appends ` 0xVALUE` (marks and masks print in lower-case hex).
pub(crate) fn push_hex(out: &mut String, value: u32) {
    let _ = write!(out, " 0x{value:x}");
}

/// Whether `s` parses as the `[PACKETS:BYTES]` of a chain line or rule prefix.
pub(crate) fn parse_counters(s: &str) -> Option<(u64, u64)> {
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    let (p, b) = inner.split_once(':')?;
    let num = |t: &str| -> Option<u64> {
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    Some((num(p)?, num(b)?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Addresses read in one pass are what the standard parser reads, and whatever the
        /// one pass leaves is left to it.
        #[test]
        fn dotted_quads_read_like_the_standard_parser(s in "[0-9.]{0,16}|([0-9]{1,3}\\.){3}[0-9]{1,3}") {
            let std = s.parse::<Ipv4Addr>().ok();
            if let Some(fast) = plain_dotted_quad(&s) {
                prop_assert_eq!(Some(fast), std, "{}", s);
            }
            prop_assert_eq!(parse_ipv4(&s), std, "{}", s);
        }
    }

    #[test]
    fn numbers_read_like_strtoul_base_0() {
        assert_eq!(parse_uint("80", 65535), Some(80));
        assert_eq!(parse_uint("0x50", 65535), Some(80));
        assert_eq!(parse_uint("010", 65535), Some(8));
        assert_eq!(parse_uint("080", 65535), None, "8 is not an octal digit");
        assert_eq!(parse_uint("0", 65535), Some(0));
        assert_eq!(parse_uint("65536", 65535), None);
        assert_eq!(parse_uint("-1", 65535), None);
        assert_eq!(parse_uint("0x", 65535), None);
        assert_eq!(parse_uint("", 65535), None);
        assert_eq!(parse_uint("99999999999999999999999", u64::MAX), None);
    }

    #[test]
    fn addresses_are_masked_and_masks_read_both_ways() {
        assert_eq!(
            parse_addr_mask("10.1.2.3/24"),
            Ok((Ipv4Addr::new(10, 1, 2, 0), 0xffff_ff00))
        );
        assert_eq!(
            parse_addr_mask("10.1.2.3/255.255.0.0"),
            Ok((Ipv4Addr::new(10, 1, 0, 0), 0xffff_0000))
        );
        assert_eq!(
            parse_addr_mask("10.1.2.3"),
            Ok((Ipv4Addr::new(10, 1, 2, 3), u32::MAX))
        );
        assert_eq!(
            parse_addr_mask("10.0.0.1/0"),
            Ok((Ipv4Addr::UNSPECIFIED, 0))
        );
        assert!(parse_addr_mask("10.0.0.1/33").is_err());
        assert!(parse_addr_mask("10.0.0.256").is_err());
        assert!(parse_addr_mask("localhost").is_err());
        assert_eq!(mask_to_prefix(0xffff_ff00), Some(24));
        assert_eq!(mask_to_prefix(0), Some(0));
        assert_eq!(mask_to_prefix(u32::MAX), Some(32));
        assert_eq!(mask_to_prefix(0xff00_ff00), None);
    }

    #[test]
    fn saved_strings_quote_like_xtables_save_string() {
        let q = |s: &str| {
            let mut out = String::new();
            push_saved_string(&mut out, s);
            out
        };
        assert_eq!(q("abc_-9"), " abc_-9");
        assert_eq!(q("ns1/svc1:p80"), " \"ns1/svc1:p80\"");
        assert_eq!(q("a.b"), " \"a.b\"");
        assert_eq!(q(""), " \"\"");
        assert_eq!(q("it's"), " \"it\\'s\"");
        assert_eq!(q("a\"b\\c"), " \"a\\\"b\\\\c\"");
    }

    #[test]
    fn counters_are_two_decimal_numbers_in_brackets() {
        assert_eq!(parse_counters("[0:0]"), Some((0, 0)));
        assert_eq!(parse_counters("[12:3456]"), Some((12, 3456)));
        for bad in ["[x:1]", "[1:]", "[1]", "1:2", "[1:2", "[-1:2]", "[1:2]x"] {
            assert_eq!(parse_counters(bad), None, "{bad}");
        }
    }
}
