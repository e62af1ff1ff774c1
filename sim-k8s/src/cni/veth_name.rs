//! The host-side name of a pod's veth.
//!
//! Upstream (`pkg/ip/link_linux.go` `RandomVethName`) uses `veth` followed by 8 hex digits
//! from 4 random bytes, retrying on a clash. Here the 8 hex digits are the start of the
//! SHA-512 of `<container ID>/<ifname>` (then `<container ID>/<ifname>/<n>` on a clash), so a
//! scenario names its devices the same way every run; the retry limit of 10 is upstream's.

use super::chain_name::format_hash_with_prefix;

/// Tries before giving up, as upstream's `makeVeth` does.
pub const MAX_TRIES: usize = 10;

/// The `attempt`-th candidate name (attempt 0 first).
pub fn veth_name(container_id: &str, ifname: &str, attempt: usize) -> String {
    let seed = if attempt == 0 {
        format!("{container_id}/{ifname}")
    } else {
        format!("{container_id}/{ifname}/{attempt}")
    };
    format_hash_with_prefix(12, "veth", &seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_characters_and_stable() {
        let a = veth_name("abc", "eth0", 0);
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("veth"));
        assert_eq!(a, veth_name("abc", "eth0", 0));
        assert_ne!(a, veth_name("abc", "eth0", 1));
        assert_ne!(a, veth_name("abd", "eth0", 0));
    }
}
