//! One node's iptables proxier over time: it keeps what it last programmed, decides between a
//! full and a partial sync, loads the rendered text with `iptables-restore --noflush
//! --counters` (the flags kube-proxy uses) into the node's netfilter, installs the jump rules
//! from the built-in chains on full syncs, and clears stale UDP conntrack entries
//! (`pkg/proxy/conntrack/cleanup.go`): a UDP flow to a Service address whose DNAT target is no
//! longer one of the Service's endpoints, or that was never DNATed while the Service had no
//! endpoints, is deleted so the next datagram is load-balanced afresh.
//!
//! Timing (`BoundedFrequencyRunner`, `minSyncPeriod`, and the hourly `FullSyncPeriod`) is the
//! caller's: [`Proxier::sync`] runs one sync at the instant it is called. A sync takes no
//! simulated time.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use sim_core::{SimDuration, SimTime};
use sim_net::netfilter::conntrack::L4Proto;
use sim_net::netfilter::{Netfilter, RestoreError, RestoreOptions, Rule, Ruleset, TableName};

use super::endpoint::{EndpointsMap, endpoints_map};
use super::iptables::{
    JUMP_CHAINS, KUBE_PROXY_CANARY, ProxierConfig, Rendered, SyncScope, render_on,
};
use super::service_port::{Protocol, ServicePort, ServicePortName, service_ports};

/// `proxyutil.FullSyncPeriod`: a full resync at least this often.
pub const FULL_SYNC_PERIOD: SimDuration = SimDuration::from_secs(3600);

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub at: SimTime,
    pub full: bool,
    /// Services whose chains were rewritten (all of them on a full sync).
    pub changed: BTreeSet<(String, String)>,
    pub rendered: Rendered,
    /// Stale UDP conntrack entries deleted.
    pub conntrack_deleted: usize,
}

/// A node's kube-proxy in iptables mode.
#[derive(Debug, Clone)]
pub struct Proxier {
    pub config: ProxierConfig,
    services: BTreeMap<ServicePortName, ServicePort>,
    endpoints: EndpointsMap,
    need_full_sync: bool,
    last_full_sync: Option<SimTime>,
    /// When it last synced.
    pub last_sync: Option<SimTime>,
}

/// The per-port Services and the endpoints of `objects` as the proxy on `node` sees them.
pub fn proxy_state<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &str,
) -> (BTreeMap<ServicePortName, ServicePort>, EndpointsMap) {
    let ports = services
        .into_iter()
        .flat_map(service_ports)
        .map(|p| (p.name.clone(), p))
        .collect();
    (ports, endpoints_map(slices, node))
}

impl Proxier {
    pub fn new(config: ProxierConfig) -> Self {
        Proxier {
            config,
            services: BTreeMap::new(),
            endpoints: EndpointsMap::new(),
            need_full_sync: true,
            last_full_sync: None,
            last_sync: None,
        }
    }

    /// The Services (per port) it last programmed.
    pub fn services(&self) -> &BTreeMap<ServicePortName, ServicePort> {
        &self.services
    }

    /// The endpoints it last programmed.
    pub fn endpoints(&self) -> &EndpointsMap {
        &self.endpoints
    }

    /// Forces the next sync to be full (as the iptables monitor does when a canary vanishes).
    pub fn force_full_sync(&mut self) {
        self.need_full_sync = true;
    }

    /// Syncs the node's rules to `services` and `endpoints` at `now`.
    pub fn sync(
        &mut self,
        now: SimTime,
        services: BTreeMap<ServicePortName, ServicePort>,
        endpoints: EndpointsMap,
        nf: &mut Netfilter,
    ) -> Result<SyncOutcome, RestoreError> {
        let full = self.need_full_sync
            || self
                .last_full_sync
                .is_none_or(|t| now.saturating_duration_since(t) > FULL_SYNC_PERIOD);
        let changed = if full {
            services
                .keys()
                .map(|k| (k.namespace.clone(), k.name.clone()))
                .collect()
        } else {
            changed_services(&self.services, &services, &self.endpoints, &endpoints)
        };
        if full {
            ensure_jumps(nf)?;
        }
        let existing = nf
            .ruleset
            .table(TableName::Nat)
            .into_iter()
            .flat_map(|t| t.chains().map(|c| c.name.as_str()));
        let scope = if full {
            SyncScope::Full
        } else {
            SyncScope::Partial(changed.clone())
        };
        let rendered = render_on(&self.config, &services, &endpoints, &scope, existing);
        if let Err(e) = nf.restore(&rendered.restore, RestoreOptions::kube_proxy()) {
            // Upstream loses its change trackers here and retries with a full sync.
            self.need_full_sync = true;
            return Err(e);
        }
        let conntrack_deleted = clear_stale_udp(nf, &services, &endpoints, &self.config);
        self.need_full_sync = false;
        if full {
            self.last_full_sync = Some(now);
        }
        self.last_sync = Some(now);
        self.services = services;
        self.endpoints = endpoints;
        Ok(SyncOutcome {
            at: now,
            full,
            changed,
            rendered,
            conntrack_deleted,
        })
    }
}

/// The Services whose ports or endpoints differ between two states.
fn changed_services(
    old_svc: &BTreeMap<ServicePortName, ServicePort>,
    new_svc: &BTreeMap<ServicePortName, ServicePort>,
    old_ep: &EndpointsMap,
    new_ep: &EndpointsMap,
) -> BTreeSet<(String, String)> {
    let mut changed = BTreeSet::new();
    let mut note = |k: &ServicePortName| {
        changed.insert((k.namespace.clone(), k.name.clone()));
    };
    differing_keys(old_svc, new_svc, &mut note);
    differing_keys(old_ep, new_ep, &mut note);
    changed
}

/// Calls `f` with every key whose value differs between `a` and `b` (missing on one side
/// counts), walking both maps once in key order.
fn differing_keys<K: Ord, V: PartialEq>(
    a: &BTreeMap<K, V>,
    b: &BTreeMap<K, V>,
    f: &mut impl FnMut(&K),
) {
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return,
            (Some((k, _)), None) => {
                f(k);
                a.next();
            }
            (None, Some((k, _))) => {
                f(k);
                b.next();
            }
            (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => {
                    f(ka);
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    f(kb);
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    if va != vb {
                        f(ka);
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
}

/// `EnsureChain` + `EnsureRule(Prepend, …)` for every jump (checked as `iptables -C` checks:
/// the same rule spec already in the built-in chain), and the canary chains; what is missing
/// goes in one `iptables-restore --noflush`, the inserts in list order.
fn ensure_jumps(nf: &mut Netfilter) -> Result<(), RestoreError> {
    let has_chain = |nf: &Netfilter, table: &str, chain: &str| {
        TableName::from_name(table)
            .and_then(|t| nf.ruleset.table(t))
            .is_some_and(|t| t.chain(chain).is_some())
    };
    let mut per_table: BTreeMap<&str, String> = BTreeMap::new();
    for table in ["mangle", "nat", "filter"] {
        if !has_chain(nf, table, KUBE_PROXY_CANARY) {
            per_table
                .entry(table)
                .or_default()
                .push_str(&format!(":{KUBE_PROXY_CANARY} - [0:0]\n"));
        }
    }
    let mut created: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (table, chain, builtin, comment, extra) in JUMP_CHAINS {
        let mut args = String::new();
        if !extra.is_empty() {
            args.push_str(extra);
            args.push(' ');
        }
        if !comment.is_empty() {
            args.push_str(&format!("-m comment --comment \"{comment}\" "));
        }
        args.push_str(&format!("-j {chain}"));
        let jump = jump_rule(table, builtin, chain, &args)?;
        let present = TableName::from_name(table)
            .and_then(|t| nf.ruleset.table(t))
            .and_then(|t| t.chain(builtin))
            .is_some_and(|c| c.rules.iter().any(|r| r.same_spec(&jump)));
        let cmds = per_table.entry(table).or_default();
        if !has_chain(nf, table, chain) && created.insert((table, chain)) {
            cmds.push_str(&format!("-N {chain}\n"));
        }
        if !present {
            cmds.push_str(&format!("-I {builtin} 1 {args}\n"));
        }
    }
    let text: String = per_table
        .into_iter()
        .filter(|(_, cmds)| !cmds.is_empty())
        .map(|(table, cmds)| format!("*{table}\n{cmds}COMMIT\n"))
        .collect();
    if !text.is_empty() {
        nf.restore(&text, RestoreOptions::kube_proxy())?;
    }
    Ok(())
}

/// The jump `-A BUILTIN ARGS` as a rule (parsed with its target chain declared).
fn jump_rule(table: &str, builtin: &str, chain: &str, args: &str) -> Result<Rule, RestoreError> {
    let scratch = Ruleset::parse(&format!(
        "*{table}\n:{chain} - [0:0]\n-A {builtin} {args}\nCOMMIT\n"
    ))?;
    Ok(TableName::from_name(table)
        .and_then(|t| scratch.table(t))
        .and_then(|t| t.chain(builtin))
        .and_then(|c| c.rules.first())
        .cloned()
        .expect("the scratch table holds the one rule it was given"))
}

/// Deletes UDP conntrack entries that would keep sending a Service's traffic where it no
/// longer belongs; returns how many.
fn clear_stale_udp(
    nf: &mut Netfilter,
    services: &BTreeMap<ServicePortName, ServicePort>,
    endpoints: &EndpointsMap,
    cfg: &ProxierConfig,
) -> usize {
    // (service address, port) → the endpoints it may be DNATed to now.
    let mut by_vip: BTreeMap<(Ipv4Addr, u16), BTreeSet<(Ipv4Addr, u16)>> = BTreeMap::new();
    let mut by_node_port: BTreeMap<u16, BTreeSet<(Ipv4Addr, u16)>> = BTreeMap::new();
    for (k, svc) in services.iter().filter(|(k, _)| k.protocol == Protocol::Udp) {
        let eps: BTreeSet<(Ipv4Addr, u16)> = endpoints
            .get(k)
            .into_iter()
            .flatten()
            .filter(|e| e.ready || (e.serving && e.terminating))
            .map(|e| (e.ip, e.port))
            .collect();
        let vips = std::iter::once(svc.cluster_ip)
            .chain(svc.external_ips.iter().copied())
            .chain(svc.load_balancer_vips.iter().copied());
        for vip in vips {
            by_vip
                .entry((vip, svc.port))
                .or_default()
                .extend(eps.iter().copied());
        }
        if svc.node_port != 0 {
            by_node_port
                .entry(svc.node_port)
                .or_default()
                .extend(eps.iter().copied());
        }
    }
    let local: BTreeSet<Ipv4Addr> = cfg.interface_ips.iter().copied().collect();
    let stale: Vec<_> = nf
        .conntrack
        .iter()
        .filter(|(_, e)| {
            let orig = e.tuple(sim_net::netfilter::conntrack::Direction::Original);
            let reply = e.tuple(sim_net::netfilter::conntrack::Direction::Reply);
            if orig.proto != L4Proto::UDP {
                return false;
            }
            let (IpAddr::V4(dst), IpAddr::V4(target)) = (orig.dst, reply.src) else {
                return false;
            };
            let allowed = by_vip.get(&(dst, orig.dport)).or_else(|| {
                local
                    .contains(&dst)
                    .then(|| by_node_port.get(&orig.dport))
                    .flatten()
            });
            let Some(allowed) = allowed else {
                return false;
            };
            let dnated = (target, reply.sport) != (dst, orig.dport);
            if dnated {
                !allowed.contains(&(target, reply.sport))
            } else {
                !allowed.is_empty()
            }
        })
        .map(|(id, _)| id)
        .collect();
    for id in &stale {
        nf.conntrack.delete(*id);
    }
    stale.len()
}
