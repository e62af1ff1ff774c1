//! kube-proxy on every node of a running cluster: each node's proxier works from its own
//! informer cache (the Services, EndpointSlices and its Node that its watch has delivered),
//! and syncs at most once per `minSyncPeriod` (`BoundedFrequencyRunner`: a change arriving
//! sooner than that after the last sync is programmed at last sync + minSyncPeriod, several
//! changes in between are programmed together). So network programming latency — a pod Ready
//! in the API before its node's rules send traffic to it — is the watch lag plus up to
//! `minSyncPeriod`, as on a real cluster.
//!
//! Its informer handlers record each change as it arrives ([`KubeProxy::observe`]: a
//! Service's ports, a Service's endpoints from all its EndpointSlices, as upstream's change
//! trackers do), and a sync applies what they recorded ([`Proxier::sync_changes`]); only the
//! first sync and the one after a relist compare the whole cache with what was programmed.
//!
//! At start kube-proxy writes its conntrack sysctls (`nf_conntrack_max`, TCP timeouts) and,
//! with localhost NodePorts, `route_localnet`; at build time every node then syncs once at
//! t = 0 with the settled objects. A failed node's
//! kube-proxy hears nothing; when the node heals it relists and syncs.
//! Simplified: a sync takes no time; the hourly forced resync (`FullSyncPeriod`) is not
//! scheduled (a sync after an hour without one is still full); `iptables-restore` failures
//! are recorded, not retried.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::Node;
use sim_core::SimTime;

use super::{Cluster, ClusterError};
use crate::config::kube_proxy_configuration::KubeProxyConfiguration;
use crate::object::{Kind, Object, ObjectKey};
use crate::proxy::config::{conntrack_sysctls, proxier_config};
use crate::proxy::endpoint::{EndpointsMap, SERVICE_NAME_LABEL};
use crate::proxy::service_port::{ServicePort, ServicePortName};
use crate::proxy::{Proxier, ProxyChanges, SyncOutcome, proxy_state};

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
    /// What its informer handlers recorded since the last sync.
    pub changes: ProxyChanges,
    /// The cache was (re)listed since the last sync: the next one compares all of it with
    /// what was programmed.
    pub relisted: bool,
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
    /// A kube-proxy whose informers have listed `cache`.
    pub fn new(proxier: Proxier, cache: BTreeMap<ObjectKey, Object>) -> Self {
        KubeProxy {
            proxier,
            cache,
            pending: None,
            changes: ProxyChanges::default(),
            relisted: true,
            syncs: Vec::new(),
        }
    }

    /// A watch event: `object` changed (`deleted` or not). The cache takes it and the change
    /// trackers record it: a Service as it is now, or, for an EndpointSlice, the endpoints of
    /// its Service (and of the Service it belonged to before, if that differs) from all the
    /// Service's slices in the cache.
    pub fn observe(&mut self, deleted: bool, object: Object) {
        let key = object.key();
        let before = if deleted {
            self.cache.remove(&key)
        } else {
            self.cache.insert(key, object.clone())
        };
        match &object {
            Object::Service(svc) if deleted => {
                let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
                let name = svc.metadata.name.as_deref().unwrap_or_default();
                self.changes.service_deleted(ns, name);
            }
            Object::Service(svc) => self.changes.service_updated(svc),
            Object::EndpointSlice(_) => {
                let owners: BTreeSet<(String, String)> = [before.as_ref(), Some(&object)]
                    .into_iter()
                    .flatten()
                    .filter_map(slice_owner)
                    .map(|(ns, service)| (ns.to_string(), service.to_string()))
                    .collect();
                for (ns, service) in owners {
                    // The cached slices of the namespace, then those of the Service.
                    let slices = self
                        .cache
                        .range(ObjectKey::new(Kind::EndpointSlice, ns.as_str(), "")..)
                        .take_while(|(k, _)| k.kind == Kind::EndpointSlice && k.namespace == ns)
                        .filter(|(_, o)| slice_owner(o).is_some_and(|(_, s)| s == service))
                        .filter_map(|(_, o)| match o {
                            Object::EndpointSlice(e) => Some(e),
                            _ => None,
                        });
                    let node = &self.proxier.config.node_name;
                    self.changes.endpoint_slices(&ns, &service, slices, node);
                }
            }
            _ => {}
        }
    }

    /// The Service ports and endpoints its whole cache holds, seen from its node.
    fn cached_state(&self) -> (BTreeMap<ServicePortName, ServicePort>, EndpointsMap) {
        let services = self.cache.values().filter_map(|o| match o {
            Object::Service(s) => Some(s),
            _ => None,
        });
        let slices = self.cache.values().filter_map(|o| match o {
            Object::EndpointSlice(e) => Some(e),
            _ => None,
        });
        proxy_state(services, slices, &self.proxier.config.node_name)
    }

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
                KubeProxy::new(Proxier::new(pc), cache.clone()),
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
        if let Some(Object::Node(n)) = kp.cache.get(&ObjectKey::new(Kind::Node, "", node)) {
            kp.proxier.config.zone = zone_of(n);
        }
        let nf = &mut self.net.netns_mut(ns).netfilter;
        let changes = std::mem::take(&mut kp.changes);
        let synced = if std::mem::replace(&mut kp.relisted, false) {
            let (ports, eps) = kp.cached_state();
            kp.proxier.sync(now, ports, eps, nf)
        } else {
            kp.proxier.sync_changes(now, changes, nf)
        };
        let outcome = synced.map_err(|e| ClusterError::KubeProxy {
            node: node.to_string(),
            why: format!("iptables-restore: {e}"),
        })?;
        kp.syncs.push(outcome);
        Ok(())
    }
}

/// The namespace and Service of an EndpointSlice (by its `kubernetes.io/service-name` label).
fn slice_owner(o: &Object) -> Option<(&str, &str)> {
    let Object::EndpointSlice(e) = o else {
        return None;
    };
    let service = e.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    let ns = e.metadata.namespace.as_deref().unwrap_or("default");
    Some((ns, service))
}

fn zone_of(n: &Node) -> String {
    n.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(crate::proxy::topology::ZONE_LABEL))
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Service, ServicePort as ApiPort, ServiceSpec};
    use k8s_openapi::api::discovery::v1::{
        Endpoint as ApiEndpoint, EndpointConditions, EndpointPort, EndpointSlice,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use proptest::prelude::*;

    use super::*;
    use crate::proxy::change_tracker::ProxyState;

    fn meta(name: &str, labels: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            labels: labels.map(|s| BTreeMap::from([(SERVICE_NAME_LABEL.to_string(), s.into())])),
            ..Default::default()
        }
    }

    fn service(name: &str, port: i32) -> Object {
        Object::Service(Service {
            metadata: meta(name, None),
            spec: Some(ServiceSpec {
                cluster_ip: Some("10.96.0.10".into()),
                ports: Some(vec![ApiPort {
                    name: Some("p".into()),
                    port,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: None,
        })
    }

    /// Slice `slice` of Service `owner` with `hosts` endpoints, the first one not ready when
    /// `not_ready`.
    fn slice(slice: u8, owner: &str, hosts: u8, not_ready: bool) -> Object {
        Object::EndpointSlice(EndpointSlice {
            metadata: meta(&format!("slice-{slice}"), Some(owner)),
            address_type: "IPv4".into(),
            endpoints: (0..hosts)
                .map(|h| ApiEndpoint {
                    addresses: vec![format!("10.244.{slice}.{}", h + 1)],
                    conditions: Some(EndpointConditions {
                        ready: Some(!(not_ready && h == 0)),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ports: Some(vec![EndpointPort {
                name: Some("p".into()),
                port: Some(8080),
                ..Default::default()
            }]),
        })
    }

    /// A watch event over two Services and three slices that may move between them.
    fn event() -> impl Strategy<Value = (bool, Object)> {
        let owner = prop::sample::select(&["a", "b"][..]);
        prop_oneof![
            (any::<bool>(), owner.clone(), 80..82i32)
                .prop_map(|(deleted, name, port)| (deleted, service(name, port))),
            (any::<bool>(), 0..3u8, owner, 0..3u8, any::<bool>()).prop_map(
                |(deleted, s, owner, hosts, not_ready)| {
                    (deleted, slice(s, owner, hosts, not_ready))
                }
            ),
        ]
    }

    proptest! {
        /// Applying what the informer handlers recorded leaves the proxier's state as
        /// comparing its whole cache would: the same Service ports and endpoints, also when a
        /// slice moves to another Service.
        #[test]
        fn observed_changes_add_up_to_the_cache(
            events in prop::collection::vec(event(), 1..24),
        ) {
            let node = Node {
                metadata: ObjectMeta { name: Some("node-a".into()), ..Default::default() },
                ..Default::default()
            };
            let pc = proxier_config(&KubeProxyConfiguration::default(), &node, &[])
                .expect("a valid configuration");
            let mut kp = KubeProxy::new(Proxier::new(pc), BTreeMap::new());
            let mut state = ProxyState::default();
            for (deleted, object) in events {
                kp.observe(deleted, object);
                state.apply(std::mem::take(&mut kp.changes));
                let (ports, eps) = kp.cached_state();
                prop_assert_eq!(&state.services, &ports);
                let nonempty = |m: &EndpointsMap| {
                    m.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>()
                };
                prop_assert_eq!(nonempty(&state.endpoints), nonempty(&eps));
            }
        }
    }
}
