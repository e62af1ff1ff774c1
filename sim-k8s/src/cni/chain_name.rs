//! The names the CNI plugins give their iptables chains and comments, computed exactly as
//! `containernetworking/plugins` `pkg/utils/utils.go` does: `"CNI-" + prefix` followed by the
//! hex SHA-512 of `network name + container ID`, cut to 28 characters (iptables' chain-name
//! limit is 28 usable characters). Upstream's own test vectors are checked below.

use std::fmt::Write as _;

use sha2::{Digest, Sha512};

/// `maxChainLength` in upstream.
pub const MAX_CHAIN_LENGTH: usize = 28;
/// `chainPrefix` in upstream.
pub const CHAIN_PREFIX: &str = "CNI-";
/// `MaxHashLen`: 128 hex digits of SHA-512.
pub const MAX_HASH_LEN: usize = 128;

/// `MustFormatHashWithPrefix`: `prefix` followed by the hex SHA-512 of `to_hash`, `length`
/// characters in all. Upstream panics on a prefix as long as `length`; here the prefix is cut
/// short instead (every caller in this crate passes a fixed, short prefix).
pub fn format_hash_with_prefix(length: usize, prefix: &str, to_hash: &str) -> String {
    let length = length.min(MAX_HASH_LEN);
    let mut s = String::with_capacity(prefix.len() + MAX_HASH_LEN);
    s.push_str(prefix);
    for b in Sha512::digest(to_hash.as_bytes()) {
        let _ = write!(s, "{b:02x}");
    }
    s.truncate(length);
    s
}

/// `FormatChainName(name, id)`: the per-container chain of the bridge plugin's `ipMasq`.
pub fn format_chain_name(network: &str, container_id: &str) -> String {
    format_chain_name_with_prefix(network, container_id, "")
}

/// `MustFormatChainNameWithPrefix(name, id, prefix)`: e.g. portmap's `CNI-DN-…` chain.
pub fn format_chain_name_with_prefix(network: &str, container_id: &str, prefix: &str) -> String {
    format_hash_with_prefix(
        MAX_CHAIN_LENGTH,
        &format!("{CHAIN_PREFIX}{prefix}"),
        &format!("{network}{container_id}"),
    )
}

/// `FormatComment(name, id)`: `name: "NAME" id: "ID"` (Go's `%q` quoting).
pub fn format_comment(network: &str, container_id: &str) -> String {
    format!("name: {} id: {}", go_quote(network), go_quote(container_id))
}

/// Go's `%q` for the printable strings these names are: `"` and `\` escaped, control
/// characters as `\n`, `\t`, `\r` or `\xNN`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pkg/utils/utils_test.go`.
    #[test]
    fn upstream_vectors() {
        assert_eq!(
            format_chain_name("test", "1234"),
            "CNI-2bbe0c48b91a7d1b8a6753a8"
        );
        assert_eq!(
            format_chain_name("testalongnamethatdoesnotmakesense", "1234"),
            "CNI-374f33fe84ab0ed84dcdebe3"
        );
        assert_eq!(
            format_chain_name_with_prefix("test", "1234", "PREFIX-"),
            "CNI-PREFIX-2bbe0c48b91a7d1b8"
        );
        assert_eq!(
            format_chain_name_with_prefix("testalongnamethatdoesnotmakesense", "1234", "PREFIX-"),
            "CNI-PREFIX-374f33fe84ab0ed84"
        );
        assert_ne!(
            format_chain_name("testalongnamethatdoesnotmakesense", "1235"),
            "CNI-374f33fe84ab0ed84dcdebe3"
        );
        assert_eq!(format_hash_with_prefix(10, "AAA", "some string").len(), 10);
        assert_eq!(
            format_comment("mynet", "abc\"d"),
            r#"name: "mynet" id: "abc\"d""#
        );
    }
}
