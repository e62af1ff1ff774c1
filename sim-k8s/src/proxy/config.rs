//! A [`ProxierConfig`] from what kube-proxy reads at start (`cmd/kube-proxy/app/server.go`):
//! its `KubeProxyConfiguration`, its Node object (name, InternalIP, podCIDR, zone label) and
//! the node's interface addresses.
//!
//! The node is taken to run iptables ≥ 1.8 on a kernel with nfacct, so `--random-fully` and
//! the nfacct counters are on, as on any current distribution.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Node;

use super::iptables::ProxierConfig;
use super::local_detector::LocalDetector;
use super::node_port_addresses::NodePortAddresses;
use super::topology::ZONE_LABEL;
use crate::config::kube_proxy_configuration::KubeProxyConfiguration;

/// The node's first InternalIP (then ExternalIP) IPv4 address.
pub fn node_ip(node: &Node) -> Option<Ipv4Addr> {
    let addrs = node.status.as_ref()?.addresses.as_ref()?;
    ["InternalIP", "ExternalIP"].iter().find_map(|t| {
        addrs
            .iter()
            .filter(|a| a.type_ == *t)
            .find_map(|a| a.address.parse().ok())
    })
}

/// The proxier configuration for `node`; `interface_ips` are every address on the node
/// (loopback included). Errors name the bad `nodePortAddresses` entry.
pub fn proxier_config(
    cfg: &KubeProxyConfiguration,
    node: &Node,
    interface_ips: &[Ipv4Addr],
) -> Result<ProxierConfig, String> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let node_name = if cfg.hostname_override.is_empty() {
        name
    } else {
        cfg.hostname_override.to_lowercase()
    };
    let node_ip = node_ip(node)
        .or_else(|| interface_ips.iter().copied().find(|ip| !ip.is_loopback()))
        .unwrap_or(Ipv4Addr::LOCALHOST);
    let pod_cidr = node
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidr.as_deref())
        .and_then(|c| c.parse::<Ipv4Net>().ok());
    let npa = NodePortAddresses::parse(
        cfg.node_port_addresses.as_deref().unwrap_or_default(),
        &[node_ip],
    )?;
    let bit = cfg.iptables_masquerade_bit();
    if !(0..=31).contains(&bit) {
        return Err(format!(
            "iptables.masqueradeBit: {bit}: expected a bit number from 0 to 31"
        ));
    }
    Ok(ProxierConfig {
        node_name,
        node_ip,
        interface_ips: interface_ips.to_vec(),
        zone: node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(ZONE_LABEL))
            .cloned()
            .unwrap_or_default(),
        masquerade_all: cfg.iptables.masquerade_all,
        masquerade_mark: 1u32 << bit,
        localhost_node_ports: cfg.iptables.localhost_node_ports.unwrap_or(true)
            && npa.contains_loopback(),
        local_detector: LocalDetector::from_config(cfg, pod_cidr),
        node_port_addresses: npa,
        random_fully: true,
        nfacct: true,
        conntrack_tcp_liberal: cfg.conntrack.tcp_be_liberal,
        sync_period: cfg.iptables_sync_period(),
    })
}

/// The conntrack sysctls kube-proxy writes at start (`setupConntrack` in
/// `cmd/kube-proxy/app/server_linux.go`): `nf_conntrack_max` = max(`maxPerCore` × CPUs,
/// `min`) when `maxPerCore` > 0, the TCP established and close-wait timeouts, the UDP
/// timeouts when set, and `nf_conntrack_tcp_be_liberal` when asked. `cpus` comes from the
/// Node's `status.capacity.cpu` (2 when it does not say).
pub fn conntrack_sysctls(cfg: &KubeProxyConfiguration, node: &Node) -> Vec<(&'static str, String)> {
    let cpus = node
        .status
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("cpu"))
        .and_then(|q| q.0.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2);
    let mut out = Vec::new();
    let per_core = i64::from(cfg.conntrack_max_per_core());
    if per_core > 0 {
        let max = (per_core * cpus).max(i64::from(cfg.conntrack_min()));
        out.push(("net.netfilter.nf_conntrack_max", max.to_string()));
    }
    let secs = |d: sim_core::SimDuration| (d.as_nanos() / 1_000_000_000).to_string();
    let established = cfg.conntrack_tcp_established_timeout();
    if established > sim_core::SimDuration::ZERO {
        out.push((
            "net.netfilter.nf_conntrack_tcp_timeout_established",
            secs(established),
        ));
    }
    let close_wait = cfg.conntrack_tcp_close_wait_timeout();
    if close_wait > sim_core::SimDuration::ZERO {
        out.push((
            "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
            secs(close_wait),
        ));
    }
    if let Some(udp) = cfg
        .conntrack
        .udp_timeout
        .filter(|d| *d > sim_core::SimDuration::ZERO)
    {
        out.push(("net.netfilter.nf_conntrack_udp_timeout", secs(udp)));
    }
    if let Some(udp) = cfg
        .conntrack
        .udp_stream_timeout
        .filter(|d| *d > sim_core::SimDuration::ZERO)
    {
        out.push(("net.netfilter.nf_conntrack_udp_timeout_stream", secs(udp)));
    }
    if cfg.conntrack.tcp_be_liberal {
        out.push(("net.netfilter.nf_conntrack_tcp_be_liberal", "1".into()));
    }
    out
}
