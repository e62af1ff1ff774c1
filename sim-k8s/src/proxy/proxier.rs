//! One node's iptables proxier over time: it keeps what it last programmed, decides between a
//! full and a partial sync, loads the rendered text with `iptables-restore --noflush
//! --counters` (the flags kube-proxy uses) into the node's netfilter, installs the jump rules
//! from the built-in chains on full syncs, and clears stale UDP conntrack entries
//! (`pkg/proxy/conntrack/cleanup.go`): a UDP flow to a Service address whose DNAT target is no
//! longer one of the Service's endpoints, or that was never DNATed while the Service had no
//! endpoints, is deleted so the next datagram is load-balanced afresh.
//!
//! Each sync applies the changes recorded since the last one ([`ProxyChanges`], upstream's
//! change trackers) to the proxier's Service and endpoint maps in place and re-renders only
//! the Service ports of the Services that changed: the proxier keeps every Service port's
//! [`ServicePortRules`] from its last sync (valid while the [`ProxierConfig`] and
//! large-cluster mode stay as they were; otherwise all are rendered again), and lays them out
//! with the shared chains in full, as upstream writes them on every sync. The restore text is
//! byte for byte what [`render_on`](super::iptables::render_on) gives for the same state and
//! scope. [`Proxier::sync`] takes the whole state instead and diffs it into changes first.
//!
//! A change of the [`ProxierConfig`] between syncs (the node's zone label: the caller
//! writes [`Proxier::config`]) makes the next sync full, as upstream's `OnTopologyChange`
//! does.
//!
//! Stale per-Service chains are looked for (every nat chain listed, as upstream's
//! `iptables-save -t nat`) and deleted on every sync, except in large-cluster mode, where
//! upstream does it at most once per `iptables.syncPeriod` ("Delete chains no longer in
//! use" in `syncProxyRules`): a deleted Service's chains then linger, unreferenced, until
//! then.
//!
//! Timing (`BoundedFrequencyRunner`, `minSyncPeriod`, and the hourly `FullSyncPeriod`) is the
//! caller's: [`Proxier::sync`] runs one sync at the instant it is called. A sync takes no
//! simulated time. Simplified: upstream compares the cleanup time with the wall clock; here
//! with the sync's `now`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use sim_core::{SimDuration, SimTime};
use sim_net::netfilter::conntrack::L4Proto;
use sim_net::netfilter::{Netfilter, RestoreError, RestoreOptions, Rule, Ruleset, TableName};

use super::change_tracker::{ProxyChanges, ProxyState, ServiceName};
use super::endpoint::{EndpointsMap, endpoints_map};
use super::iptables::{
    JUMP_CHAINS, KUBE_PROXY_CANARY, LARGE_CLUSTER_ENDPOINTS_THRESHOLD, ProxierConfig, Rendered,
    restore_text, stale_chains,
};
use super::service_port::{Protocol, ServicePort, ServicePortName, ports_of, service_ports};
use super::service_rules::ServicePortRules;

/// `proxyutil.FullSyncPeriod`: a full resync at least this often.
pub const FULL_SYNC_PERIOD: SimDuration = SimDuration::from_secs(3600);

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub at: SimTime,
    pub full: bool,
    /// Services whose chains were rewritten (all of them on a full sync).
    pub changed: BTreeSet<ServiceName>,
    pub rendered: Rendered,
    /// Stale chains were looked for (and those found deleted).
    pub cleaned_up: bool,
    /// Stale UDP conntrack entries deleted.
    pub conntrack_deleted: usize,
}

/// Every Service port's rules as of the last sync, and what they were rendered for.
#[derive(Debug, Clone, Default)]
struct RulesCache {
    by_port: BTreeMap<ServicePortName, ServicePortRules>,
    /// The bytes of their shared lines, and of their own chains.
    shared_len: usize,
    own_len: usize,
    /// The configuration and large-cluster mode they were rendered with (none yet).
    rendered_for: Option<(ProxierConfig, bool)>,
}

/// A node's kube-proxy in iptables mode.
#[derive(Debug, Clone)]
pub struct Proxier {
    pub config: ProxierConfig,
    state: ProxyState,
    rules: RulesCache,
    need_full_sync: bool,
    last_full_sync: Option<SimTime>,
    /// When stale chains were last looked for (`lastIPTablesCleanup`).
    last_iptables_cleanup: Option<SimTime>,
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
            state: ProxyState::default(),
            rules: RulesCache::default(),
            need_full_sync: true,
            last_full_sync: None,
            last_iptables_cleanup: None,
            last_sync: None,
        }
    }

    /// The Services (per port) it last programmed.
    pub fn services(&self) -> &BTreeMap<ServicePortName, ServicePort> {
        &self.state.services
    }

    /// The endpoints it last programmed.
    pub fn endpoints(&self) -> &EndpointsMap {
        &self.state.endpoints
    }

    /// Forces the next sync to be full (as the iptables monitor does when a canary vanishes).
    pub fn force_full_sync(&mut self) {
        self.need_full_sync = true;
    }

    /// Sets when stale chains were last looked for (as upstream's tests set
    /// `lastIPTablesCleanup`).
    pub fn set_last_iptables_cleanup(&mut self, at: Option<SimTime>) {
        self.last_iptables_cleanup = at;
    }

    /// Syncs the node's rules to `services` and `endpoints` at `now`: the difference from
    /// what it last applied goes through [`Proxier::sync_changes`].
    pub fn sync(
        &mut self,
        now: SimTime,
        services: BTreeMap<ServicePortName, ServicePort>,
        endpoints: EndpointsMap,
        nf: &mut Netfilter,
    ) -> Result<SyncOutcome, RestoreError> {
        let changes = ProxyChanges::between(
            &self.state.services,
            &self.state.endpoints,
            services,
            endpoints,
        );
        self.sync_changes(now, changes, nf)
    }

    /// `syncProxyRules` at `now` after `changes`: applies them, renders the changed Service
    /// ports (all on a full sync), and restores the result into `nf`. On an error the
    /// changes stay applied and the next sync is full, as upstream's.
    pub fn sync_changes(
        &mut self,
        now: SimTime,
        changes: ProxyChanges,
        nf: &mut Netfilter,
    ) -> Result<SyncOutcome, RestoreError> {
        let changed = self.state.apply(changes);
        // Whatever fails below, the changes are consumed: only a full sync can catch up.
        let need_full_sync = std::mem::replace(&mut self.need_full_sync, true);
        // A new configuration is a new zone label (`OnTopologyChange` forces a full sync:
        // every Service's endpoint choice may differ).
        let config_changed = self
            .rules
            .rendered_for
            .as_ref()
            .is_some_and(|(cfg, _)| *cfg != self.config);
        let full = need_full_sync
            || config_changed
            || self
                .last_full_sync
                .is_none_or(|t| now.saturating_duration_since(t) > FULL_SYNC_PERIOD);
        let total_endpoints = self.state.total_endpoints;
        let large_cluster_mode = total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
        self.update_rules(&changed, large_cluster_mode);
        if full {
            ensure_jumps(nf)?;
        }
        let cleaned_up = !large_cluster_mode
            || self
                .last_iptables_cleanup
                .is_none_or(|t| now.saturating_duration_since(t) > self.config.sync_period);
        let restore = {
            let stale = if cleaned_up {
                let existing = nf
                    .ruleset
                    .table(TableName::Nat)
                    .into_iter()
                    .flat_map(|t| t.chains().map(|c| &*c.name));
                stale_chains(self.rules.by_port.values(), existing)
            } else {
                Vec::new()
            };
            // The changed Service ports' keys (with their rules), in the map's order: the
            // changed Services sort as the keys' prefixes do.
            let rewrite: Vec<(&ServicePortName, &ServicePortRules)> = changed
                .iter()
                .flat_map(|(ns, name)| ports_of(&self.rules.by_port, ns, name))
                .collect();
            let capacity = self.rules.shared_len
                + if full {
                    self.rules.own_len
                } else {
                    rewrite
                        .iter()
                        .map(|(_, r)| r.len(true) - r.len(false))
                        .sum()
                };
            // One walk of the map per pass, telling the rewritten ports by address.
            let ports = self.rules.by_port.iter().scan(0, |next, (k, r)| {
                let own = full || rewrite.get(*next).is_some_and(|(w, _)| std::ptr::eq(*w, k));
                if own && !full {
                    *next += 1;
                }
                Some((r, own))
            });
            restore_text(&self.config, ports, &stale, capacity)
        };
        if cleaned_up {
            self.last_iptables_cleanup = Some(now);
        }
        nf.restore(&restore, RestoreOptions::kube_proxy())?;
        let conntrack_deleted = clear_stale_udp(
            nf,
            &self.state.services,
            &self.state.endpoints,
            &self.config,
        );
        self.need_full_sync = false;
        if full {
            self.last_full_sync = Some(now);
        }
        self.last_sync = Some(now);
        let changed = if full {
            self.state
                .services
                .keys()
                .map(|k| (k.namespace.clone(), k.name.clone()))
                .collect()
        } else {
            changed
        };
        Ok(SyncOutcome {
            at: now,
            full,
            changed,
            rendered: Rendered {
                restore,
                total_endpoints,
                large_cluster_mode,
            },
            cleaned_up,
            conntrack_deleted,
        })
    }

    /// Brings the cached rules up to date with the applied state: the `changed` Services'
    /// ports only, or every port when the configuration or large-cluster mode differs from
    /// what they were rendered for.
    fn update_rules(&mut self, changed: &BTreeSet<ServiceName>, large_cluster_mode: bool) {
        let render = |cfg: &ProxierConfig, k: &ServicePortName, svc: &ServicePort| {
            let eps = self.state.endpoints.get(k).map_or(&[][..], Vec::as_slice);
            ServicePortRules::render(cfg, large_cluster_mode, svc, eps)
        };
        let valid = self
            .rules
            .rendered_for
            .as_ref()
            .is_some_and(|(cfg, large)| *cfg == self.config && *large == large_cluster_mode);
        if !valid {
            let mut rules = RulesCache {
                rendered_for: Some((self.config.clone(), large_cluster_mode)),
                ..RulesCache::default()
            };
            for (k, svc) in &self.state.services {
                rules.insert(k.clone(), render(&self.config, k, svc));
            }
            self.rules = rules;
            return;
        }
        for (ns, name) in changed {
            let gone: Vec<ServicePortName> = ports_of(&self.rules.by_port, ns, name)
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                self.rules.remove(&k);
            }
            for (k, svc) in ports_of(&self.state.services, ns, name) {
                self.rules.insert(k.clone(), render(&self.config, k, svc));
            }
        }
    }
}

impl RulesCache {
    fn insert(&mut self, k: ServicePortName, rules: ServicePortRules) {
        self.count(&rules, true);
        if let Some(old) = self.by_port.insert(k, rules) {
            self.count(&old, false);
        }
    }

    fn remove(&mut self, k: &ServicePortName) {
        if let Some(old) = self.by_port.remove(k) {
            self.count(&old, false);
        }
    }

    /// Adds (or takes away) `rules`' bytes to the running sizes.
    fn count(&mut self, rules: &ServicePortRules, add: bool) {
        let (shared, own) = (rules.len(false), rules.len(true) - rules.len(false));
        if add {
            self.shared_len += shared;
            self.own_len += own;
        } else {
            self.shared_len -= shared;
            self.own_len -= own;
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
        .map(|r| Rule::clone(r))
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
    use sim_net::netfilter::conntrack::Direction;
    // Without a UDP flow there is nothing to look up (upstream walks its Services anyway;
    // the outcome is the same).
    if !nf
        .conntrack
        .iter()
        .any(|(_, e)| e.tuple(Direction::Original).proto == L4Proto::UDP)
    {
        return 0;
    }
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
            let orig = e.tuple(Direction::Original);
            let reply = e.tuple(Direction::Reply);
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
