//! The bridge plugin's `ipMasq` rules (`pkg/ip/ipmasq_iptables_linux.go` `SetupIPMasq`,
//! `TeardownIPMasq`): a per-container chain `CNI-<hash>` in nat that accepts traffic to the
//! pod's own subnet and masquerades everything else except multicast, jumped to from
//! POSTROUTING for the pod's address. Chain name and comment are
//! [`format_chain_name`](super::chain_name::format_chain_name) and
//! [`format_comment`](super::chain_name::format_comment) of the network name and container ID.
//! IPv4 only (IPv6 rules go to ip6tables, which is not tracked).

use ipnet::Ipv4Net;

use super::iptables::{NatTable, Restore, save_string};

/// Multicast is not masqueraded, so pods can use it on the local network.
pub const IPV4_MULTICAST: &str = "224.0.0.0/4";

fn rules(ipn: Ipv4Net, chain: &str, comment: &str) -> [String; 3] {
    let c = save_string(comment);
    [
        format!("-d {} -m comment --comment {c} -j ACCEPT", ipn.trunc()),
        format!("! -d {IPV4_MULTICAST} -m comment --comment {c} -j MASQUERADE"),
        format!("-s {}/32 -m comment --comment {c} -j {chain}", ipn.addr()),
    ]
}

/// `SetupIPMasq(ipn, chain, comment)`; `ipn` is the pod address with its prefix.
pub fn setup_ip_masq(
    nat: &mut NatTable,
    r: &mut Restore,
    ipn: Ipv4Net,
    chain: &str,
    comment: &str,
) {
    let [accept, masq, jump] = rules(ipn, chain, comment);
    nat.ensure_chain(r, chain);
    nat.append_unique(r, chain, &accept);
    nat.append_unique(r, chain, &masq);
    nat.append_unique(r, "POSTROUTING", &jump);
}

/// `TeardownIPMasq`: the POSTROUTING jump (also in its older `-s ADDR/PREFIX` form), then
/// the chain.
pub fn teardown_ip_masq(
    nat: &mut NatTable,
    r: &mut Restore,
    ipn: Ipv4Net,
    chain: &str,
    comment: &str,
) {
    let [_, _, jump] = rules(ipn, chain, comment);
    nat.delete_rule(r, "POSTROUTING", &jump);
    let old = format!(
        "-s {} -m comment --comment {} -j {chain}",
        ipn.trunc(),
        save_string(comment)
    );
    nat.delete_rule(r, "POSTROUTING", &old);
    nat.clear_chain(r, chain);
    nat.delete_chain(r, chain);
}
