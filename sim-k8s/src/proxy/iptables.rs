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
//! Differences: upstream walks its Service map in Go's random order, so the order of Services
//! within `KUBE-SERVICES` (and of the other shared chains) changes from sync to sync; here it
//! is sorted by Service port name, as upstream's own tests sort it before comparing. The
//! jump rules from the built-in chains are not part of this text (upstream installs them
//! with single `iptables -I` calls): see [`JUMP_CHAINS`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::chain_name::is_service_chain;
use super::chain_set::ChainSet;
use super::endpoint::{Endpoint, EndpointsMap};
use super::local_detector::LocalDetector;
use super::node_port_addresses::NodePortAddresses;
use super::service_port::{ServicePort, ServicePortName};
use super::topology::categorize;

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

/// A table's chain declarations and rule lines.
#[derive(Default)]
struct Buffers {
    chains: String,
    rules: String,
}

impl Buffers {
    fn chain(&mut self, name: &str) {
        let _ = writeln!(self.chains, ":{name} - [0:0]");
    }
    /// Writes one rule line straight into the buffer.
    fn rule(&mut self, line: std::fmt::Arguments<'_>) {
        let _ = self.rules.write_fmt(line);
        self.rules.push('\n');
    }
}

fn hex(mark: u32) -> String {
    format!("{mark:#x}")
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
    let mut filter = Buffers::default();
    let mut nat = Buffers::default();
    let mut out = Rendered::default();
    // Every per-Service nat chain that should exist after the sync (the rest of ours go).
    let mut active_nat_chains = ChainSet::default();
    let mark = hex(cfg.masquerade_mark);

    for c in [
        KUBE_SERVICES,
        KUBE_EXTERNAL_SERVICES,
        KUBE_FORWARD,
        KUBE_NODEPORTS,
        KUBE_PROXY_FIREWALL,
    ] {
        filter.chain(c);
    }
    for c in [
        KUBE_SERVICES,
        KUBE_NODEPORTS,
        KUBE_POSTROUTING,
        KUBE_MARK_MASQ,
    ] {
        nat.chain(c);
    }
    nat.rule(format_args!(
        "-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN"
    ));
    nat.rule(format_args!(
        "-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}"
    ));
    nat.rule(format_args!(
        "-A {KUBE_POSTROUTING} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE{}",
        if cfg.random_fully { " --random-fully" } else { "" }
    ));
    nat.rule(format_args!("-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}"));
    if cfg.localhost_node_ports {
        filter.chain(KUBE_FIREWALL);
        filter.rule(format_args!(
            "-A {KUBE_FIREWALL} -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
        ));
    }

    out.total_endpoints = services
        .keys()
        .map(|k| endpoints.get(k).map_or(0, Vec::len))
        .sum();
    out.large_cluster_mode = out.total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
    let comment = |name: &str| -> String {
        if out.large_cluster_mode {
            String::new()
        } else {
            format!(" -m comment --comment {}", quote(name))
        }
    };
    let no_endpoints: Vec<Endpoint> = Vec::new();

    for (key, svc) in services {
        let proto = svc.name.protocol.lower();
        let name = svc.name_string();
        let all = endpoints.get(key).unwrap_or(&no_endpoints);
        let cat = categorize(all, svc, &cfg.node_name, &cfg.zone);
        let cluster_chain = svc.cluster_policy_chain();
        let local_chain = svc.local_policy_chain();
        let uses_cluster_chain = !cat.cluster.is_empty() && svc.uses_cluster_endpoints();
        let uses_local_chain = !cat.local.is_empty() && svc.uses_local_endpoints();
        let has_endpoints = cat.has_any;

        let mut internal_chain = cluster_chain;
        let mut has_internal = has_endpoints;
        if svc.internal_policy_local {
            internal_chain = local_chain;
            has_internal &= !cat.local.is_empty();
        }
        let mut external_policy_chain = cluster_chain;
        let mut has_external = has_endpoints;
        if svc.external_policy_local {
            external_policy_chain = local_chain;
            has_external &= !cat.local.is_empty();
        }
        let external_chain = svc.external_chain();
        let uses_external_chain = has_endpoints && svc.externally_accessible();
        let fw_chain = svc.firewall_chain();
        let uses_fw_chain = has_endpoints
            && !svc.load_balancer_vips.is_empty()
            && !svc.load_balancer_source_ranges.is_empty();
        let lb_chain = if uses_fw_chain {
            &fw_chain
        } else {
            &external_chain
        };

        // The REJECT or DROP of internal and external traffic, and its comment's tail.
        let (internal_filter, external_filter, why) = if !has_endpoints {
            (Some("REJECT"), Some("REJECT"), "has no endpoints")
        } else {
            let drop = |has: bool| (!has).then_some("DROP");
            (
                drop(has_internal),
                drop(has_external),
                "has no local endpoints",
            )
        };
        let dst = |ip: Ipv4Addr, port: u16| Destination { proto, ip, port };

        // ClusterIP.
        if has_internal {
            nat.rule(format_args!(
                "-A {KUBE_SERVICES} -m comment --comment \"{name} cluster IP\" {} -j {internal_chain}",
                dst(svc.cluster_ip, svc.port)
            ));
        } else if let Some(target) = internal_filter {
            filter.rule(format_args!(
                "-A {KUBE_SERVICES} -m comment --comment \"{name} {why}\" {} -j {target}",
                dst(svc.cluster_ip, svc.port)
            ));
        }
        // External IPs.
        for ip in &svc.external_ips {
            if has_endpoints {
                nat.rule(format_args!(
                    "-A {KUBE_SERVICES} -m comment --comment \"{name} external IP\" {} -j {external_chain}",
                    dst(*ip, svc.port)
                ));
            }
            if let Some(target) = external_filter {
                filter.rule(format_args!(
                    "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment \"{name} {why}\" {} -j {target}",
                    dst(*ip, svc.port)
                ));
            }
        }
        // Load balancer VIPs.
        for ip in &svc.load_balancer_vips {
            if has_endpoints {
                nat.rule(format_args!(
                    "-A {KUBE_SERVICES} -m comment --comment \"{name} loadbalancer IP\" {} -j {lb_chain}",
                    dst(*ip, svc.port)
                ));
            }
            if uses_fw_chain {
                filter.rule(format_args!(
                    "-A {KUBE_PROXY_FIREWALL} -m comment --comment \"{name} traffic not accepted by {fw_chain}\" {} -j DROP",
                    dst(*ip, svc.port)
                ));
            }
        }
        if let Some(target) = external_filter {
            for ip in &svc.load_balancer_vips {
                filter.rule(format_args!(
                    "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment \"{name} {why}\" {} -j {target}",
                    dst(*ip, svc.port)
                ));
            }
        }
        // NodePorts.
        if svc.node_port != 0 {
            if has_endpoints {
                if cfg.localhost_node_ports && cfg.nfacct {
                    nat.rule(format_args!(
                        "-A {KUBE_NODEPORTS} -m comment --comment {} -m {proto} -p {proto} -d 127.0.0.0/8 --dport {} -m nfacct --nfacct-name {NFACCT_LOCALHOST_NODEPORTS} -j {external_chain}",
                        quote(&name),
                        svc.node_port
                    ));
                }
                nat.rule(format_args!(
                    "-A {KUBE_NODEPORTS} -m comment --comment {} -m {proto} -p {proto} --dport {} -j {external_chain}",
                    quote(&name),
                    svc.node_port
                ));
            }
            if let Some(target) = external_filter {
                filter.rule(format_args!(
                    "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment \"{name} {why}\" -m addrtype --dst-type LOCAL -m {proto} -p {proto} --dport {} -j {target}",
                    svc.node_port
                ));
            }
        }
        if svc.health_check_node_port != 0 {
            filter.rule(format_args!(
                "-A {KUBE_NODEPORTS} -m comment --comment \"{name} health check node port\" -m tcp -p tcp --dport {} -j ACCEPT",
                svc.health_check_node_port
            ));
        }

        let changed = match scope {
            SyncScope::Full => true,
            SyncScope::Partial(set) => {
                set.contains(&(svc.name.namespace.clone(), svc.name.name.clone()))
            }
        };
        if !changed {
            // Upstream writes an unchanged Service's chains into a discarded buffer; only
            // their names matter here (they stay active).
            let names = [
                (uses_external_chain, external_chain),
                (uses_fw_chain, fw_chain),
                (uses_cluster_chain, cluster_chain),
                (uses_local_chain, local_chain),
            ];
            for (used, name) in names {
                if used {
                    active_nat_chains.insert(name);
                }
            }
            for ep in &cat.all_reachable {
                active_nat_chains.insert(&ep.chain);
            }
            continue;
        }

        if has_internal {
            let args = format!(
                "-m comment --comment \"{name} cluster IP\" {}",
                dst(svc.cluster_ip, svc.port)
            );
            if cfg.masquerade_all {
                nat.rule(format_args!(
                    "-A {internal_chain} {args} -j {KUBE_MARK_MASQ}"
                ));
            } else if cfg.local_detector.is_implemented() {
                nat.rule(format_args!(
                    "-A {internal_chain} {args} {} -j {KUBE_MARK_MASQ}",
                    cfg.local_detector.if_not_local()
                ));
            }
        }
        if uses_external_chain {
            nat.chain(external_chain);
            active_nat_chains.insert(external_chain);
            if !svc.external_policy_local {
                nat.rule(format_args!(
                    "-A {external_chain} -m comment --comment \"masquerade traffic for {name} external destinations\" -j {KUBE_MARK_MASQ}"
                ));
            } else {
                if cfg.local_detector.is_implemented() {
                    nat.rule(format_args!(
                        "-A {external_chain} -m comment --comment \"pod traffic for {name} external destinations\" {} -j {cluster_chain}",
                        cfg.local_detector.if_local()
                    ));
                }
                nat.rule(format_args!(
                    "-A {external_chain} -m comment --comment \"masquerade LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}"
                ));
                nat.rule(format_args!(
                    "-A {external_chain} -m comment --comment \"route LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {cluster_chain}"
                ));
            }
            if has_external {
                nat.rule(format_args!(
                    "-A {external_chain} -j {external_policy_chain}"
                ));
            }
        }
        if uses_fw_chain {
            nat.chain(fw_chain);
            active_nat_chains.insert(fw_chain);
            let head = format!("-A {fw_chain} -m comment --comment \"{name} loadbalancer IP\"");
            let mut allow_from_node = false;
            for cidr in &svc.load_balancer_source_ranges {
                nat.rule(format_args!("{head} -s {cidr} -j {external_chain}"));
                allow_from_node |= cidr.contains(&cfg.node_ip);
            }
            if allow_from_node {
                for ip in &svc.load_balancer_vips {
                    nat.rule(format_args!("{head} -s {ip} -j {external_chain}"));
                }
            }
            nat.rule(format_args!(
                "-A {fw_chain} -m comment --comment \"other traffic to {name} will be dropped by {KUBE_PROXY_FIREWALL}\""
            ));
        }
        if uses_cluster_chain {
            nat.chain(cluster_chain);
            active_nat_chains.insert(cluster_chain);
            write_service_to_endpoints(&mut nat, svc, cluster_chain, &cat.cluster, &comment);
        }
        if uses_local_chain {
            nat.chain(local_chain);
            active_nat_chains.insert(local_chain);
            write_service_to_endpoints(&mut nat, svc, local_chain, &cat.local, &comment);
        }
        for ep in &cat.all_reachable {
            let chain = &ep.chain;
            nat.chain(chain);
            active_nat_chains.insert(chain);
            let head = format!("-A {chain}{}", comment(&name));
            nat.rule(format_args!("{head} -s {} -j {KUBE_MARK_MASQ}", ep.ip));
            let recent = match svc.sticky_seconds {
                Some(_) => format!(" -m recent --name {chain} --set"),
                None => String::new(),
            };
            nat.rule(format_args!(
                "{head}{recent} -m {proto} -p {proto} -j DNAT --to-destination {}",
                ep.addr()
            ));
        }
    }

    // Stale chains: ours, present, no longer used.
    for chain in existing_nat_chains {
        if is_service_chain(chain) && !active_nat_chains.contains(chain) {
            nat.chain(chain);
            let _ = writeln!(nat.rules, "-X {chain}");
        }
    }

    // The tail call to KUBE-NODEPORTS, last in KUBE-SERVICES.
    let last = "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"";
    if cfg.node_port_addresses.match_all() {
        let not_localhost = if cfg.localhost_node_ports {
            ""
        } else {
            " ! -d 127.0.0.0/8"
        };
        nat.rule(format_args!(
            "-A {KUBE_SERVICES} {last} -m addrtype --dst-type LOCAL{not_localhost} -j {KUBE_NODEPORTS}"
        ));
    } else {
        for ip in cfg.node_port_addresses.node_ips(&cfg.interface_ips) {
            if ip.is_loopback() && !cfg.localhost_node_ports {
                continue;
            }
            nat.rule(format_args!(
                "-A {KUBE_SERVICES} {last} -d {ip} -j {KUBE_NODEPORTS}"
            ));
        }
    }

    if !cfg.conntrack_tcp_liberal {
        let acct = if cfg.nfacct {
            format!(" -m nfacct --nfacct-name {NFACCT_CT_INVALID}")
        } else {
            String::new()
        };
        filter.rule(format_args!(
            "-A {KUBE_FORWARD} -m conntrack --ctstate INVALID{acct} -j DROP"
        ));
    }
    filter.rule(format_args!(
        "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {mark}/{mark} -j ACCEPT"
    ));
    filter.rule(format_args!(
        "-A {KUBE_FORWARD} -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    ));

    let mut text =
        String::with_capacity(filter.rules.len() + nat.rules.len() + nat.chains.len() + 64);
    text.push_str("*filter\n");
    text.push_str(&filter.chains);
    text.push_str(&filter.rules);
    text.push_str("COMMIT\n*nat\n");
    text.push_str(&nat.chains);
    text.push_str(&nat.rules);
    text.push_str("COMMIT\n");
    out.restore = text;
    out
}

/// `-m PROTO -p PROTO -d IP --dport PORT`.
struct Destination {
    proto: &'static str,
    ip: Ipv4Addr,
    port: u16,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Destination { proto, ip, port } = self;
        write!(f, "-m {proto} -p {proto} -d {ip} --dport {port}")
    }
}

/// `writeServiceToEndpointRules`: affinity checks first, then the probability ladder.
fn write_service_to_endpoints(
    nat: &mut Buffers,
    svc: &ServicePort,
    chain: &str,
    endpoints: &[&Endpoint],
    comment: &dyn Fn(&str) -> String,
) {
    let name = svc.name_string();
    if let Some(seconds) = svc.sticky_seconds {
        for ep in endpoints {
            let sep = &ep.chain;
            nat.rule(format_args!(
                "-A {chain}{} -m recent --name {sep} --rcheck --seconds {seconds} --reap -j {sep}",
                comment(&format!("{name} -> {}", ep.addr()))
            ));
        }
    }
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
        let sep = &ep.chain;
        let stat = if i + 1 < n {
            format!(
                " -m statistic --mode random --probability {}",
                probability(n - i)
            )
        } else {
            String::new()
        };
        nat.rule(format_args!(
            "-A {chain}{}{stat} -j {sep}",
            comment(&format!("{name} -> {}", ep.addr()))
        ));
    }
}

/// `computeProbability`: `1/n` with ten decimals (Go's `%0.10f`).
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

/// A comment argument as kube-proxy writes it: bare when it has no space, else double-quoted.
fn quote(s: &str) -> String {
    if s.contains(' ') {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}
