//! kube-proxy's iptables mode: the `iptables-restore` input one sync writes
//! (`syncProxyRules` in `pkg/proxy/iptables/proxier.go`, Kubernetes 1.35), rule for rule —
//! same chains, names, comments, matches and order within a Service — so that loading it
//! through our `iptables-restore` gives the tables a real node has.
//!
//! Modelled: `KUBE-SERVICES`/`KUBE-EXTERNAL-SERVICES`/`KUBE-FORWARD`/`KUBE-NODEPORTS`/
//! `KUBE-PROXY-FIREWALL` in filter and `KUBE-SERVICES`/`KUBE-NODEPORTS`/`KUBE-POSTROUTING`/
//! `KUBE-MARK-MASQ` in nat; per Service port the `KUBE-SVC-`, `KUBE-SVL-`, `KUBE-EXT-`,
//! `KUBE-FW-` and `KUBE-SEP-` chains; ClusterIP, externalIPs, load balancer VIPs with
//! `loadBalancerSourceRanges`, NodePorts (also on 127.0.0.0/8 with `localhostNodePorts`, and
//! per address with `nodePortAddresses`), health check NodePorts, REJECT for Services without
//! endpoints and DROP without local ones, Local/Cluster policies with the pod and LOCAL
//! short-circuits, session affinity (`-m recent`), `masqueradeAll`, the `KUBE-FIREWALL`
//! localnet rule, INVALID drops (unless `nf_conntrack_tcp_be_liberal`), nfacct counters,
//! "large cluster mode" (no per-endpoint comments past 1,000 endpoints), partial syncs (only
//! changed Services' chains rewritten) and deletion of stale chains.
//!
//! Each Service port's lines come from [`ServicePortRules`] (the loop body); this module lays
//! them out between the shared chains' declarations and fixed rules, as upstream's four
//! buffers (filter/nat chains, filter/nat rules) concatenate, so a proxier that keeps each
//! Service port's rules between syncs writes the same bytes as a render from scratch.
//!
//! Differences: upstream walks its Service map in Go's random order, so the order of Services
//! within `KUBE-SERVICES` (and of the other shared chains) changes from sync to sync; here it
//! is sorted by Service port name, as upstream's own tests sort it before comparing. The
//! jump rules from the built-in chains are not part of this text (upstream installs them
//! with single `iptables -I` calls): see [`JUMP_CHAINS`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use sim_core::SimDuration;

use super::chain_name::is_service_chain;
use super::chain_set::ChainSet;
use super::endpoint::EndpointsMap;
use super::local_detector::LocalDetector;
use super::node_port_addresses::NodePortAddresses;
use super::service_port::{ServicePort, ServicePortName, ports_of};
use super::service_rules::ServicePortRules;

pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";
pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
pub const KUBE_FIREWALL: &str = "KUBE-FIREWALL";
/// The empty chain `iptables.Monitor` watches in mangle, nat and filter.
pub const KUBE_PROXY_CANARY: &str = "KUBE-PROXY-CANARY";

/// Past this many endpoints the proxier drops per-endpoint comments
/// (`largeClusterEndpointsThreshold`).
pub const LARGE_CLUSTER_ENDPOINTS_THRESHOLD: usize = 1000;

/// nfacct counter of INVALID packets dropped in `KUBE-FORWARD`.
pub const NFACCT_CT_INVALID: &str = "ct_state_invalid_dropped_pkts";
/// nfacct counter of packets accepted to localhost NodePorts.
pub const NFACCT_LOCALHOST_NODEPORTS: &str = "localhost_nps_accepted_pkts";

/// A jump from a built-in chain to one of kube-proxy's (`iptablesJumpChains` and
/// `iptablesKubeletJumpChains`): table, kube-proxy's chain, built-in chain, comment, extra
/// match arguments. Each is inserted at the top of the built-in chain when missing, in this
/// order, so the last listed ends up first.
pub const JUMP_CHAINS: [(&str, &str, &str, &str, &str); 14] = [
    (
        "filter",
        KUBE_EXTERNAL_SERVICES,
        "INPUT",
        "kubernetes externally-visible service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        KUBE_EXTERNAL_SERVICES,
        "FORWARD",
        "kubernetes externally-visible service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        KUBE_NODEPORTS,
        "INPUT",
        "kubernetes health check service ports",
        "",
    ),
    (
        "filter",
        KUBE_SERVICES,
        "FORWARD",
        "kubernetes service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        KUBE_SERVICES,
        "OUTPUT",
        "kubernetes service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        KUBE_FORWARD,
        "FORWARD",
        "kubernetes forwarding rules",
        "",
    ),
    (
        "filter",
        KUBE_PROXY_FIREWALL,
        "INPUT",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        KUBE_PROXY_FIREWALL,
        "OUTPUT",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        KUBE_PROXY_FIREWALL,
        "FORWARD",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW",
    ),
    (
        "nat",
        KUBE_SERVICES,
        "OUTPUT",
        "kubernetes service portals",
        "",
    ),
    (
        "nat",
        KUBE_SERVICES,
        "PREROUTING",
        "kubernetes service portals",
        "",
    ),
    (
        "nat",
        KUBE_POSTROUTING,
        "POSTROUTING",
        "kubernetes postrouting rules",
        "",
    ),
    ("filter", KUBE_FIREWALL, "INPUT", "", ""),
    ("filter", KUBE_FIREWALL, "OUTPUT", "", ""),
];

/// What a proxier knows of its node and configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxierConfig {
    pub node_name: String,
    /// The node's primary IP (`nodeIP`, used by `loadBalancerSourceRanges`).
    pub node_ip: Ipv4Addr,
    /// Every address on the node's interfaces, in interface order (for `nodePortAddresses`).
    pub interface_ips: Vec<Ipv4Addr>,
    /// The node's `topology.kubernetes.io/zone` label, or empty.
    pub zone: String,
    pub masquerade_all: bool,
    /// `1 << masqueradeBit`.
    pub masquerade_mark: u32,
    /// `iptables.localhostNodePorts` (already off when `nodePortAddresses` excludes 127/8).
    pub localhost_node_ports: bool,
    pub local_detector: LocalDetector,
    pub node_port_addresses: NodePortAddresses,
    /// iptables supports `--random-fully` (iptables ≥ 1.6.2, kernel ≥ 3.14).
    pub random_fully: bool,
    /// The kernel has nfacct (kube-proxy created its counters).
    pub nfacct: bool,
    /// `net.netfilter.nf_conntrack_tcp_be_liberal` is set: no INVALID drop rule.
    pub conntrack_tcp_liberal: bool,
    /// `iptables.syncPeriod`: in large-cluster mode, stale chains are deleted at most this
    /// often.
    pub sync_period: SimDuration,
}

/// Which Services a sync rewrites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncScope {
    /// Every Service's chains.
    Full,
    /// Only these Services' (namespace, name) chains; the shared chains are always rewritten.
    Partial(BTreeSet<(String, String)>),
}

/// One sync's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The `iptables-restore --noflush` input.
    pub restore: String,
    /// Endpoints over all Services.
    pub total_endpoints: usize,
    /// Past [`LARGE_CLUSTER_ENDPOINTS_THRESHOLD`]: no per-endpoint comments.
    pub large_cluster_mode: bool,
}

/// Renders one sync of `services` (each Service's ports; any order) and `endpoints` for the
/// node in `cfg`; `existing_nat_chains` are the nat chains the node has now (for deleting
/// stale ones).
pub fn render(
    cfg: &ProxierConfig,
    services: &BTreeMap<ServicePortName, ServicePort>,
    endpoints: &EndpointsMap,
    scope: &SyncScope,
    existing_nat_chains: &BTreeSet<String>,
) -> Rendered {
    render_on(
        cfg,
        services,
        endpoints,
        scope,
        existing_nat_chains.iter().map(String::as_str),
    )
}

/// [`render`] for a node whose nat chains are `existing_nat_chains`, in name order.
pub fn render_on<'a>(
    cfg: &ProxierConfig,
    services: &BTreeMap<ServicePortName, ServicePort>,
    endpoints: &EndpointsMap,
    scope: &SyncScope,
    existing_nat_chains: impl IntoIterator<Item = &'a str>,
) -> Rendered {
    let total_endpoints = services
        .keys()
        .map(|k| endpoints.get(k).map_or(0, Vec::len))
        .sum();
    let large_cluster_mode = total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
    let rewrite: Option<BTreeSet<&ServicePortName>> = match scope {
        SyncScope::Full => None,
        SyncScope::Partial(changed) => Some(
            changed
                .iter()
                .flat_map(|(ns, name)| ports_of(services, ns, name).map(|(k, _)| k))
                .collect(),
        ),
    };
    let eps_of = |k| endpoints.get(k).map_or(&[][..], Vec::as_slice);
    let rules: Vec<(ServicePortRules, bool)> = match &rewrite {
        // Every Service port writes everything: straight into shared buffers, its own
        // chains' rules after its shared nat lines, as they are laid out.
        None => {
            let mut all = ServicePortRules::default();
            let mut sink = all.sink(false);
            for (k, svc) in services {
                ServicePortRules::render_into(cfg, large_cluster_mode, svc, eps_of(k), &mut sink);
            }
            vec![(all, true)]
        }
        // Upstream renders an unchanged Service's own chains too, into a buffer it discards.
        Some(set) => services
            .iter()
            .map(|(k, svc)| {
                let rules = ServicePortRules::render(cfg, large_cluster_mode, svc, eps_of(k));
                (rules, set.contains(k))
            })
            .collect(),
    };
    let stale = stale_chains(rules.iter().map(|(r, _)| r), existing_nat_chains);
    let capacity = rules.iter().map(|(r, own)| r.len(*own)).sum();
    let restore = restore_text(
        cfg,
        rules.iter().map(|(r, own)| (r, *own)),
        &stale,
        capacity,
    );
    Rendered {
        restore,
        total_endpoints,
        large_cluster_mode,
    }
}

/// The chains among `existing_nat_chains` that are per-Service chains (ours) and that none of
/// `rules` uses: the ones a sync deletes.
pub(crate) fn stale_chains<'a, 'r>(
    rules: impl IntoIterator<Item = &'r ServicePortRules>,
    existing_nat_chains: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let ours: Vec<&str> = existing_nat_chains
        .into_iter()
        .filter(|c| is_service_chain(c))
        .collect();
    if ours.is_empty() {
        return ours;
    }
    let mut active = ChainSet::default();
    for r in rules {
        for chain in r.active_nat_chains() {
            active.insert(chain);
        }
    }
    ours.into_iter().filter(|c| !active.contains(c)).collect()
}

/// Lays out one sync's `iptables-restore` text as `syncProxyRules` writes its four buffers:
/// the shared chains and their fixed rules, each Service port's lines in `ports`' order (the
/// Service ports in name order, each with whether its own chains are written), the deletion
/// of the `stale` chains, and the jump to `KUBE-NODEPORTS` last in nat's `KUBE-SERVICES`.
/// `capacity` is the size of the Service ports' share (a hint).
pub(crate) fn restore_text<'a, I>(
    cfg: &ProxierConfig,
    ports: I,
    stale: &[&str],
    capacity: usize,
) -> String
where
    I: Iterator<Item = (&'a ServicePortRules, bool)> + Clone,
{
    let mark = format!("{:#x}", cfg.masquerade_mark);
    let capacity = capacity + 4096 + stale.iter().map(|c| 2 * c.len() + 16).sum::<usize>();
    let mut text = String::with_capacity(capacity);
    let chain = |text: &mut String, name: &str| {
        let _ = writeln!(text, ":{name} - [0:0]");
    };
    let line = |text: &mut String, args: std::fmt::Arguments<'_>| {
        let _ = text.write_fmt(args);
        text.push('\n');
    };

    text.push_str("*filter\n");
    for c in [
        KUBE_SERVICES,
        KUBE_EXTERNAL_SERVICES,
        KUBE_FORWARD,
        KUBE_NODEPORTS,
        KUBE_PROXY_FIREWALL,
    ] {
        chain(&mut text, c);
    }
    if cfg.localhost_node_ports {
        chain(&mut text, KUBE_FIREWALL);
        line(
            &mut text,
            format_args!(
                "-A {KUBE_FIREWALL} -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
            ),
        );
    }
    for (r, _) in ports.clone() {
        text.push_str(&r.filter);
    }
    if !cfg.conntrack_tcp_liberal {
        let acct = if cfg.nfacct {
            format!(" -m nfacct --nfacct-name {NFACCT_CT_INVALID}")
        } else {
            String::new()
        };
        line(
            &mut text,
            format_args!("-A {KUBE_FORWARD} -m conntrack --ctstate INVALID{acct} -j DROP"),
        );
    }
    line(
        &mut text,
        format_args!(
            "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {mark}/{mark} -j ACCEPT"
        ),
    );
    line(
        &mut text,
        format_args!(
            "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        ),
    );
    text.push_str("COMMIT\n*nat\n");

    for c in [
        KUBE_SERVICES,
        KUBE_NODEPORTS,
        KUBE_POSTROUTING,
        KUBE_MARK_MASQ,
    ] {
        chain(&mut text, c);
    }
    for (r, _) in ports.clone().filter(|(_, own)| *own) {
        text.push_str(&r.nat_chains);
    }
    for c in stale {
        chain(&mut text, c);
    }
    line(
        &mut text,
        format_args!("-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN"),
    );
    line(
        &mut text,
        format_args!("-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}"),
    );
    line(
        &mut text,
        format_args!(
            "-A {KUBE_POSTROUTING} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE{}",
            if cfg.random_fully {
                " --random-fully"
            } else {
                ""
            }
        ),
    );
    line(
        &mut text,
        format_args!("-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}"),
    );
    for (r, own) in ports {
        text.push_str(&r.nat_shared);
        if own {
            text.push_str(&r.nat_rules);
        }
    }
    for c in stale {
        line(&mut text, format_args!("-X {c}"));
    }
    // The tail call to KUBE-NODEPORTS, last in KUBE-SERVICES.
    let last = "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"";
    if cfg.node_port_addresses.match_all() {
        let not_localhost = if cfg.localhost_node_ports {
            ""
        } else {
            " ! -d 127.0.0.0/8"
        };
        line(
            &mut text,
            format_args!(
                "-A {KUBE_SERVICES} {last} -m addrtype --dst-type LOCAL{not_localhost} -j {KUBE_NODEPORTS}"
            ),
        );
    } else {
        for ip in cfg.node_port_addresses.node_ips(&cfg.interface_ips) {
            if ip.is_loopback() && !cfg.localhost_node_ports {
                continue;
            }
            line(
                &mut text,
                format_args!("-A {KUBE_SERVICES} {last} -d {ip} -j {KUBE_NODEPORTS}"),
            );
        }
    }
    text.push_str("COMMIT\n");
    text
}
