//! The names kube-proxy gives its per-Service chains, computed as `pkg/proxy/iptables/proxier.go`
//! does: the prefix, then the first 16 characters of the standard (padded, upper-case) base32
//! of the SHA-256 of `servicePortName + protocol` (`KUBE-SVC-`, `KUBE-SVL-`, `KUBE-EXT-`,
//! `KUBE-FW-`) or of `servicePortName + protocol + endpoint` (`KUBE-SEP-`). The protocol is
//! lower case; the endpoint is `ip:port`. Upstream's own test vectors are checked below.

use sha2::{Digest, Sha256};

/// `KUBE-SVC-`: the Cluster-policy chain.
pub const SVC: &str = "KUBE-SVC-";
/// `KUBE-SVL-`: the Local-policy chain.
pub const SVL: &str = "KUBE-SVL-";
/// `KUBE-FW-`: the loadBalancerSourceRanges firewall chain.
pub const FW: &str = "KUBE-FW-";
/// `KUBE-EXT-`: the external-destinations chain.
pub const EXT: &str = "KUBE-EXT-";
/// `KUBE-SEP-`: one endpoint.
pub const SEP: &str = "KUBE-SEP-";

/// Whether a chain is one of the per-Service chains kube-proxy deletes when stale
/// (`isServiceChainName`).
pub fn is_service_chain(name: &str) -> bool {
    [SVC, SVL, SEP, FW, EXT].iter().any(|p| name.starts_with(p))
}

/// The first 16 characters of base32(sha256(`input`)), RFC 4648 alphabet.
pub fn hash16(input: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let sum = Sha256::digest(input.as_bytes());
    // 16 characters are 80 bits: the first ten bytes.
    let bits = sum[..10]
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    (0..16)
        .map(|i| ALPHABET[((bits >> (75 - 5 * i)) & 31) as usize] as char)
        .collect()
}

/// `portProtoHash`-based name of a per-Service-port chain: `prefix` is one of [`SVC`],
/// [`SVL`], [`FW`], [`EXT`].
pub fn service_chain(prefix: &str, service_port_name: &str, protocol: &str) -> String {
    format!(
        "{prefix}{}",
        hash16(&format!("{service_port_name}{protocol}"))
    )
}

/// `servicePortEndpointChainName`: the `KUBE-SEP-` chain of `endpoint` (`ip:port`).
pub fn endpoint_chain(service_port_name: &str, protocol: &str, endpoint: &str) -> String {
    format!(
        "{SEP}{}",
        hash16(&format!("{service_port_name}{protocol}{endpoint}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain names in `TestOverallIPTablesRules` (pkg/proxy/iptables/proxier_test.go).
    #[test]
    fn names_match_upstream_test_vectors() {
        assert_eq!(
            service_chain(SVC, "ns1/svc1:p80", "tcp"),
            "KUBE-SVC-XPGD46QRK7WJZT7O"
        );
        assert_eq!(
            service_chain(EXT, "ns2/svc2:p80", "tcp"),
            "KUBE-EXT-GNZBNJ2PO5MGZ6GT"
        );
        assert_eq!(
            service_chain(FW, "ns5/svc5:p80", "tcp"),
            "KUBE-FW-NUKIZ6OKUXPJNT4C"
        );
        assert_eq!(
            endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80"),
            "KUBE-SEP-SXIVWICOYRO3J4NJ"
        );
        assert_eq!(
            endpoint_chain("ns5/svc5:p80", "tcp", "10.180.0.3:80"),
            "KUBE-SEP-I77PXRDZVX7PMWMN"
        );
        assert!(is_service_chain("KUBE-SVL-GNZBNJ2PO5MGZ6GT"));
        assert!(!is_service_chain("KUBE-SERVICES"));
    }
}
