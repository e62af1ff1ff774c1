//! The agent's chain and ipset names, hashed the way kube-router's network policy controller
//! hashes them (`pkg/controllers/netpol`: `podFirewallChainName`, `networkPolicyChainName`,
//! `policySourcePodIPSetName`…): a fixed prefix and the first 16 characters of the standard
//! base32 (RFC 4648, `A-Z2-7`) of a digest of the identifying strings concatenated.
//!
//! The digest is SHA-256, as kube-router's (the same [`hash16`] kube-proxy's names use); what
//! is concatenated follows its shape but not byte for byte, so the names are stable and
//! unique, not kube-router's own values. 16 base32 characters are the first 80 bits of the
//! digest. Chain names stay within iptables' 28 characters, set names within ipset's 31.

pub use crate::proxy::chain_name::hash16;

/// `KUBE-POD-FW-…`: the firewall chain of one direction of one pod.
pub fn pod_firewall_chain(namespace: &str, pod: &str, direction: &str) -> String {
    format!(
        "KUBE-POD-FW-{}",
        hash16(&format!("{namespace}{pod}{direction}"))
    )
}

/// `KUBE-NWPLCY-…`: the chain of one direction of one policy.
pub fn policy_chain(namespace: &str, policy: &str, direction: &str) -> String {
    format!(
        "KUBE-NWPLCY-{}",
        hash16(&format!("{namespace}{policy}{direction}"))
    )
}

/// `KUBE-SRC-…` (ingress: the sources a peer allows) or `KUBE-DST-…` (egress: the
/// destinations) for peer `peer` of rule `rule`; `set_type` is part of the hash, so a peer
/// that changes from selectors to an ipBlock gets a new set.
pub fn peer_set(
    namespace: &str,
    policy: &str,
    direction: &str,
    rule: usize,
    peer: usize,
    set_type: &str,
) -> String {
    let prefix = if direction == "ingress" {
        "KUBE-SRC-"
    } else {
        "KUBE-DST-"
    };
    format!(
        "{prefix}{}",
        hash16(&format!(
            "{namespace}{policy}{direction}rule{rule}peer{peer}{set_type}"
        ))
    )
}

/// `KUBE-DST-…` of type hash:ip,port: every pod address with the port a named port resolves
/// to there (shared by every rule naming that port and protocol).
pub fn named_port_set(name: &str, protocol: &str) -> String {
    format!("KUBE-DST-{}", hash16(&format!("namedport{protocol}{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_of_sha256_prefix() {
        // Python: base64.b32encode(hashlib.sha256(b"abc").digest())[:16].
        assert_eq!(hash16("abc"), "XJ4BNP4PAHH6UQKB");
    }

    #[test]
    fn names_fit_the_kernel_limits_and_differ_by_direction() {
        let a = pod_firewall_chain("x", "a", "ingress");
        let b = pod_firewall_chain("x", "a", "egress");
        assert_ne!(a, b);
        assert_eq!(a.len(), 28);
        assert_eq!(policy_chain("x", "p", "ingress").len(), 28);
        assert!(peer_set("x", "p", "ingress", 0, 0, "hash:ip").starts_with("KUBE-SRC-"));
        assert!(peer_set("x", "p", "egress", 0, 0, "hash:ip").starts_with("KUBE-DST-"));
        assert!(named_port_set("http", "tcp").len() <= 31);
    }
}
