//! kube-proxy on every node of a running cluster: each node's proxier works from its own
//! informer cache (the Services, EndpointSlices and its Node that its watch has delivered),
//! and syncs at most once per `minSyncPeriod` (`BoundedFrequencyRunner`: a change arriving
//! sooner than that after the last sync is programmed at last sync + minSyncPeriod, several
//! changes in between are programmed together). So network programming latency — a pod Ready
//! in the API before its node's rules send traffic to it — is the watch lag plus up to
//! `minSyncPeriod`, as on a real cluster.
//!
//! At start kube-proxy writes its conntrack sysctls (`nf_conntrack_max`, TCP timeouts) and,
//! with localhost NodePorts, `route_localnet`; at build time every node then syncs once at
//! t = 0 with the settled objects. A failed node's
//! kube-proxy hears nothing; when the node heals it relists and syncs.
//! Simplified: a sync takes no time; the hourly forced resync (`FullSyncPeriod`) is not
//! scheduled (a sync after an hour without one is still full); `iptables-restore` failures
//! are recorded, not retried.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Node;
use sim_core::SimTime;

use super::{Cluster, ClusterError};
use crate::config::kube_proxy_configuration::KubeProxyConfiguration;
use crate::object::{Kind, Object, ObjectKey};
use crate::proxy::config::{conntrack_sysctls, proxier_config};
use crate::proxy::{Proxier, SyncOutcome, proxy_state};

/// The kinds a kube-proxy watches.
pub const WATCHED: [Kind; 3] = [Kind::Service, Kind::EndpointSlice, Kind::Node];

/// A node's kube-proxy: its proxier, informer cache and sync runner.
#[derive(Debug, Clone)]
pub struct KubeProxy {
    pub proxier: Proxier,
    /// What its watch has delivered: Services, EndpointSlices, Nodes.
    pub cache: BTreeMap<ObjectKey, Object>,
    /// A sync scheduled by the runner and not run yet.
    pub pending: Option<SimTime>,
    /// Every sync it ran.
    pub syncs: Vec<SyncOutcome>,
}

/// What the runner decided for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunDecision {
    /// Sync now.
    Now,
    /// A sync is due at this time (schedule it).
    At(SimTime),
    /// One is already scheduled.
    AlreadyPending,
}

impl KubeProxy {
    /// `BoundedFrequencyRunner.Run`: when the change at `now` gets programmed.
    pub fn request(&mut self, now: SimTime, config: &KubeProxyConfiguration) -> RunDecision {
        if self.pending.is_some() {
            return RunDecision::AlreadyPending;
        }
        let earliest = self
            .proxier
            .last_sync
            .map_or(now, |t| t + config.iptables_min_sync_period());
        if earliest <= now {
            RunDecision::Now
        } else {
            self.pending = Some(earliest);
            RunDecision::At(earliest)
        }
    }
}

/// Every address on the node's interfaces, in `ip addr` order (loopback first).
fn interface_ips(c: &Cluster, node: &str) -> Vec<Ipv4Addr> {
    let Some(n) = c.nodes.get(node) else {
        return Vec::new();
    };
    let ns = c.net.netns(n.netns);
    ns.devices
        .iter()
        .flat_map(|d| c.net.device(*d).addrs.iter())
        .filter_map(|a| match a.net.addr() {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })
        .collect()
}

impl Cluster {
    /// Starts kube-proxy on every node (when configured) and runs each one's first sync.
    pub(crate) fn start_kube_proxies(&mut self, now: SimTime) -> Result<(), ClusterError> {
        let Some(config) = self.config.kube_proxy.clone() else {
            return Ok(());
        };
        let cache = self.kube_proxy_list();
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for name in names {
            let node_obj = match self
                .store
                .get(&ObjectKey::new(Kind::Node, "", name.clone()))
            {
                Some(Object::Node(n)) => n.clone(),
                _ => continue,
            };
            let pc =
                proxier_config(&config, &node_obj, &interface_ips(self, &name)).map_err(|why| {
                    ClusterError::KubeProxy {
                        node: name.clone(),
                        why,
                    }
                })?;
            let ns = self.nodes[&name].netns;
            let ct = self.net.netns_mut(ns).netfilter.conntrack.config_mut();
            for (key, value) in conntrack_sysctls(&config, &node_obj) {
                ct.set(key, &value).map_err(|e| ClusterError::KubeProxy {
                    node: name.clone(),
                    why: e.to_string(),
                })?;
            }
            if pc.localhost_node_ports {
                self.net
                    .sysctl(ns, "net.ipv4.conf.all.route_localnet", "1")
                    .expect("known sysctl");
            }
            self.kube_proxies.insert(
                name.clone(),
                KubeProxy {
                    proxier: Proxier::new(pc),
                    cache: cache.clone(),
                    pending: None,
                    syncs: Vec::new(),
                },
            );
            self.sync_kube_proxy(&name, now)?;
        }
        Ok(())
    }

    /// What a kube-proxy's informers list from the API: every Service, EndpointSlice, Node.
    pub fn kube_proxy_list(&self) -> BTreeMap<ObjectKey, Object> {
        WATCHED
            .iter()
            .flat_map(|k| self.store.creation_order(*k))
            .map(|o| (o.key(), o.clone()))
            .collect()
    }

    /// One sync of `node`'s kube-proxy from its cache, at `now`.
    pub fn sync_kube_proxy(&mut self, node: &str, now: SimTime) -> Result<(), ClusterError> {
        let Some(ns) = self.nodes.get(node).map(|n| n.netns) else {
            return Ok(());
        };
        let Some(kp) = self.kube_proxies.get_mut(node) else {
            return Ok(());
        };
        kp.pending = None;
        let services = kp.cache.values().filter_map(|o| match o {
            Object::Service(s) => Some(s),
            _ => None,
        });
        let slices = kp.cache.values().filter_map(|o| match o {
            Object::EndpointSlice(e) => Some(e),
            _ => None,
        });
        let (ports, eps) = proxy_state(services, slices, &kp.proxier.config.node_name);
        if let Some(Object::Node(n)) = kp.cache.get(&ObjectKey::new(Kind::Node, "", node)) {
            kp.proxier.config.zone = zone_of(n);
        }
        let nf = &mut self.net.netns_mut(ns).netfilter;
        let outcome =
            kp.proxier
                .sync(now, ports, eps, nf)
                .map_err(|e| ClusterError::KubeProxy {
                    node: node.to_string(),
                    why: format!("iptables-restore: {e}"),
                })?;
        kp.syncs.push(outcome);
        Ok(())
    }
}

fn zone_of(n: &Node) -> String {
    n.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(crate::proxy::topology::ZONE_LABEL))
        .cloned()
        .unwrap_or_default()
}
