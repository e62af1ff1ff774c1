//! Generated rulesets of kube-proxy's shape, for tests and benchmarks.
//!
//! [`kube_proxy_like`] writes what `iptables-save` prints on a node after kube-proxy's
//! iptables proxier (Kubernetes 1.28+) has synced N ClusterIP services of M endpoints each:
//! the `filter` chains KUBE-FIREWALL/KUBE-FORWARD/… and, in `nat`, one `KUBE-SERVICES` rule
//! per service, a `KUBE-SVC-*` chain that masquerades off-cluster sources and picks an
//! endpoint with `-m statistic --mode random --probability 1/(M-j)`, and a `KUBE-SEP-*` chain
//! per endpoint that marks hairpin traffic and DNATs. The chain-name hashes are a
//! deterministic stand-in for kube-proxy's base32(sha256(…)), not the same values.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::netfilter::matches::Probability;

/// Pod CIDR used for the `! -s` masquerade rule.
const CLUSTER_CIDR: &str = "10.244.0.0/16";
const SERVICE_PORT: u16 = 80;
const TARGET_PORT: u16 = 8080;

/// 16 characters of base32 from a deterministic 80-bit hash of `s` (FNV-1a, then splitmix64).
pub fn chain_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let bits = (u128::from(h) << 16) | u128::from(z & 0xffff);
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..16)
        .map(|i| ALPHABET[((bits >> (75 - 5 * i)) & 31) as usize] as char)
        .collect()
}

/// The ClusterIP of service `i` (10.96.0.1 upwards; wraps after 65535 services).
pub fn cluster_ip(i: usize) -> Ipv4Addr {
    let n = (i % 65_535) + 1;
    Ipv4Addr::new(10, 96, (n >> 8) as u8, (n & 0xff) as u8)
}

/// The address of endpoint `j` of service `i` when every service has `m` endpoints
/// (10.244.0.1 upwards).
pub fn endpoint_ip(i: usize, j: usize, m: usize) -> Ipv4Addr {
    let k = i * m + j + 1;
    Ipv4Addr::new(
        10,
        244 + ((k >> 16) % 12) as u8,
        ((k >> 8) & 0xff) as u8,
        (k & 0xff) as u8,
    )
}

/// kube-proxy's `--probability` text for picking 1 of `n` (`%0.10f` of `1/n`), as
/// iptables-save prints it back after the kernel's rounding.
fn probability(n: usize) -> Probability {
    let text = format!("{:.10}", 1.0 / n as f64);
    Probability::from_f64(text.parse().unwrap_or(0.0))
}

/// An iptables-save dump (filter and nat, no header, counters `[0:0]`) of kube-proxy's rules
/// for `services` TCP ClusterIP services with `endpoints_per_service` endpoints each.
pub fn kube_proxy_like(services: usize, endpoints_per_service: usize) -> String {
    let m = endpoints_per_service;
    let mut out = String::with_capacity(services * (600 + m * 420) + 4096);
    out.push_str(concat!(
        "*filter\n",
        ":INPUT ACCEPT [0:0]\n",
        ":FORWARD ACCEPT [0:0]\n",
        ":OUTPUT ACCEPT [0:0]\n",
        ":KUBE-EXTERNAL-SERVICES - [0:0]\n",
        ":KUBE-FIREWALL - [0:0]\n",
        ":KUBE-FORWARD - [0:0]\n",
        ":KUBE-NODEPORTS - [0:0]\n",
        ":KUBE-PROXY-FIREWALL - [0:0]\n",
        ":KUBE-SERVICES - [0:0]\n",
        "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n",
        "-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS\n",
        "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n",
        "-A INPUT -j KUBE-FIREWALL\n",
        "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n",
        "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n",
        "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n",
        "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n",
        "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n",
        "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n",
        "-A OUTPUT -j KUBE-FIREWALL\n",
        "-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n",
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n",
        "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n",
        "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n",
        "COMMIT\n",
        "*nat\n",
        ":PREROUTING ACCEPT [0:0]\n",
        ":INPUT ACCEPT [0:0]\n",
        ":OUTPUT ACCEPT [0:0]\n",
        ":POSTROUTING ACCEPT [0:0]\n",
    ));

    // User chains of nat, by name (iptables-save's order), each with its rules.
    let mut chains: BTreeMap<String, String> = BTreeMap::new();
    chains.insert(
        "KUBE-MARK-MASQ".into(),
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n".into(),
    );
    chains.insert("KUBE-NODEPORTS".into(), String::new());
    chains.insert(
        "KUBE-POSTROUTING".into(),
        concat!(
            "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n",
            "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n",
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n",
        )
        .into(),
    );
    let mut services_chain = String::with_capacity(services * 200 + 200);
    for i in 0..services {
        let name = format!("ns{}/svc{i}:http", i / 100);
        let vip = cluster_ip(i);
        let svc = format!("KUBE-SVC-{}", chain_hash(&format!("{name}/tcp")));
        let _ = writeln!(
            services_chain,
            "-A KUBE-SERVICES -d {vip}/32 -p tcp -m comment --comment \"{name} cluster IP\" -m tcp --dport {SERVICE_PORT} -j {svc}"
        );
        let mut svc_rules = format!(
            "-A {svc} ! -s {CLUSTER_CIDR} -d {vip}/32 -p tcp -m comment --comment \"{name} cluster IP\" -m tcp --dport {SERVICE_PORT} -j KUBE-MARK-MASQ\n"
        );
        for j in 0..m {
            let ep = endpoint_ip(i, j, m);
            let sep = format!(
                "KUBE-SEP-{}",
                chain_hash(&format!("{name}/tcp/{ep}:{TARGET_PORT}"))
            );
            let _ = write!(
                svc_rules,
                "-A {svc} -m comment --comment \"{name} -> {ep}:{TARGET_PORT}\""
            );
            if j + 1 < m {
                let _ = write!(
                    svc_rules,
                    " -m statistic --mode random --probability {}",
                    probability(m - j)
                );
            }
            let _ = writeln!(svc_rules, " -j {sep}");
            chains.insert(
                sep.clone(),
                format!(
                    "-A {sep} -s {ep}/32 -m comment --comment \"{name}\" -j KUBE-MARK-MASQ\n\
                     -A {sep} -p tcp -m comment --comment \"{name}\" -m tcp -j DNAT --to-destination {ep}:{TARGET_PORT}\n"
                ),
            );
        }
        chains.insert(svc, svc_rules);
    }
    services_chain.push_str(
        "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n",
    );
    chains.insert("KUBE-SERVICES".into(), services_chain);

    for name in chains.keys() {
        let _ = writeln!(out, ":{name} - [0:0]");
    }
    out.push_str(concat!(
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n",
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n",
    ));
    for rules in chains.values() {
        out.push_str(rules);
    }
    out.push_str("COMMIT\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_look_like_kube_proxy_chain_suffixes() {
        let h = chain_hash("ns1/svc1:p80/tcp");
        assert_eq!(h.len(), 16);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        assert_eq!(h, chain_hash("ns1/svc1:p80/tcp"));
        assert_ne!(h, chain_hash("ns1/svc2:p80/tcp"));
    }

    #[test]
    fn probabilities_are_kube_proxys_after_kernel_rounding() {
        assert_eq!(probability(2).to_string(), "0.50000000000");
        assert_eq!(probability(3).to_string(), "0.33333333349");
        assert_eq!(probability(10).to_string(), "0.10000000009");
    }

    #[test]
    fn generated_dump_has_the_expected_size() {
        let text = kube_proxy_like(3, 2);
        let rules = text.lines().filter(|l| l.starts_with("-A ")).count();
        // filter: 15; nat: 3 hooks + 1 mark + 3 postrouting + per service (1 + 1 + 2 + 2*2) + nodeports.
        assert_eq!(rules, 15 + 3 + 1 + 3 + 3 * 8 + 1);
        assert_eq!(kube_proxy_like(3, 2), text, "deterministic");
    }
}
