//! What changed since a proxier's last sync, per Service, and how it is applied: kube-proxy's
//! `ServiceChangeTracker` and `EndpointsChangeTracker` (`pkg/proxy/servicechangetracker.go`,
//! `endpointschangetracker.go`, Kubernetes 1.35) with `ServicePortMap.Update` and
//! `EndpointsMap.Update`.
//!
//! Upstream's informer handlers record, per Service (namespace, name), its ports as they are
//! now (`serviceToServiceMap`; none when it is deleted or one the proxy skips) and, through
//! the `EndpointSliceCache`, its endpoints per port as they are now (from all its
//! EndpointSlices). A sync applies them in place — a Service's old ports and endpoints are
//! replaced by the new ones — and rewrites the chains of exactly the Services whose state
//! differs from what it last applied (`UpdatedServices`; a change undone before the sync is no
//! change). [`ProxyChanges`] holds those records; its builders use the same code as
//! [`proxy_state`](super::proxier::proxy_state) ([`service_ports`], [`endpoints_map`]).
//!
//! Simplified: one record per Service holds its latest state (upstream keeps the state before
//! the first change too, to compare; here the proxier compares with what it applied, which is
//! the same thing). Change metrics and trigger times (network programming latency) are not
//! modelled.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::endpoint::{EndpointsMap, endpoints_map};
use super::service_port::{ServicePort, ServicePortName, ports_of, service_ports};

/// A Service's namespace and name (`types.NamespacedName`).
pub type ServiceName = (String, String);

/// Changes to Services and their endpoints not yet synced, keyed by Service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyChanges {
    /// `ServiceChangeTracker`: a Service's ports now; empty when it was deleted or is one the
    /// proxy skips. Keys of other Services are ignored.
    pub services: BTreeMap<ServiceName, BTreeMap<ServicePortName, ServicePort>>,
    /// `EndpointsChangeTracker`: a Service's endpoints per port now; empty when its last
    /// EndpointSlice went. Keys of other Services are ignored.
    pub endpoints: BTreeMap<ServiceName, EndpointsMap>,
}

impl ProxyChanges {
    /// No change recorded.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.endpoints.is_empty()
    }

    /// `OnServiceAdd`/`OnServiceUpdate`: `svc` as it is now.
    pub fn service_updated(&mut self, svc: &Service) {
        let namespace = svc.metadata.namespace.as_deref().unwrap_or("default");
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let ports = service_ports(svc)
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
        self.services
            .insert((namespace.to_string(), name.to_string()), ports);
    }

    /// `OnServiceDelete`.
    pub fn service_deleted(&mut self, namespace: &str, name: &str) {
        self.services
            .insert((namespace.to_string(), name.to_string()), BTreeMap::new());
    }

    /// `OnEndpointSlice*`: the EndpointSlices of Service `namespace`/`name` are now `slices`
    /// (all of them, as the `EndpointSliceCache` holds them; none when the last was deleted),
    /// seen from `node`. Slices of other Services are ignored.
    pub fn endpoint_slices<'a>(
        &mut self,
        namespace: &str,
        name: &str,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
        node: &str,
    ) {
        let mut eps = endpoints_map(slices, node);
        eps.retain(|k, _| k.namespace == namespace && k.name == name);
        self.endpoints
            .insert((namespace.to_string(), name.to_string()), eps);
    }

    /// The changes that take a proxier from state (`old_services`, `old_endpoints`) to
    /// (`services`, `endpoints`): a record for every Service with a port or an endpoint list
    /// that differs (missing on one side counts).
    pub fn between(
        old_services: &BTreeMap<ServicePortName, ServicePort>,
        old_endpoints: &EndpointsMap,
        services: BTreeMap<ServicePortName, ServicePort>,
        endpoints: EndpointsMap,
    ) -> ProxyChanges {
        ProxyChanges {
            services: changed_groups(old_services, services),
            endpoints: changed_groups(old_endpoints, endpoints),
        }
    }
}

/// `new` grouped by Service, keeping only the Services with an entry that differs from
/// `old`'s (a Service missing from `new` gets an empty group).
fn changed_groups<V: PartialEq>(
    old: &BTreeMap<ServicePortName, V>,
    new: BTreeMap<ServicePortName, V>,
) -> BTreeMap<ServiceName, BTreeMap<ServicePortName, V>> {
    let mut changed: BTreeSet<ServiceName> = BTreeSet::new();
    differing_keys(old, &new, &mut |k| {
        if !changed
            .last()
            .is_some_and(|(ns, n)| *ns == k.namespace && *n == k.name)
        {
            changed.insert((k.namespace.clone(), k.name.clone()));
        }
    });
    let mut groups: BTreeMap<ServiceName, BTreeMap<ServicePortName, V>> = changed
        .into_iter()
        .map(|name| (name, BTreeMap::new()))
        .collect();
    for (k, v) in new {
        if let Some(group) = groups.get_mut(&(k.namespace.clone(), k.name.clone())) {
            group.insert(k, v);
        }
    }
    groups
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

/// What a proxier has applied: `svcPortMap` and `endpointsMap`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProxyState {
    pub services: BTreeMap<ServicePortName, ServicePort>,
    pub endpoints: EndpointsMap,
    /// The endpoints of the Service ports in `services` (large-cluster mode's count), kept
    /// up to date as changes are applied.
    pub total_endpoints: usize,
}

impl ProxyState {
    /// Applies `changes` in place; returns the Services whose ports or endpoints now differ
    /// from before (`UpdatedServices` of both trackers).
    pub fn apply(&mut self, changes: ProxyChanges) -> BTreeSet<ServiceName> {
        let ProxyChanges {
            services,
            endpoints,
        } = changes;
        let names: BTreeSet<ServiceName> =
            services.keys().chain(endpoints.keys()).cloned().collect();
        let (mut services, mut endpoints) = (services, endpoints);
        let mut changed = BTreeSet::new();
        for name in names {
            let (ns, n) = (&name.0, &name.1);
            let before = self.endpoint_count(ns, n);
            let mut differs = false;
            if let Some(ports) = services.remove(&name) {
                differs |= replace(&mut self.services, ns, n, ports);
            }
            if let Some(eps) = endpoints.remove(&name) {
                differs |= replace(&mut self.endpoints, ns, n, eps);
            }
            if differs {
                self.total_endpoints = self.total_endpoints - before + self.endpoint_count(ns, n);
                changed.insert(name);
            }
        }
        changed
    }

    /// The endpoints of Service `namespace`/`name`'s ports.
    fn endpoint_count(&self, namespace: &str, name: &str) -> usize {
        ports_of(&self.services, namespace, name)
            .map(|(k, _)| self.endpoints.get(k).map_or(0, Vec::len))
            .sum()
    }
}

/// Replaces Service `namespace`/`name`'s entries in `map` with `new`'s (those of other
/// Services dropped); whether anything changed.
fn replace<V: PartialEq>(
    map: &mut BTreeMap<ServicePortName, V>,
    namespace: &str,
    name: &str,
    mut new: BTreeMap<ServicePortName, V>,
) -> bool {
    new.retain(|k, _| k.namespace == namespace && k.name == name);
    if ports_of(map, namespace, name).eq(new.iter()) {
        return false;
    }
    let old: Vec<ServicePortName> = ports_of(map, namespace, name)
        .map(|(k, _)| k.clone())
        .collect();
    for k in &old {
        map.remove(k);
    }
    map.extend(new);
    true
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{ServicePort as ApiPort, ServiceSpec};
    use k8s_openapi::api::discovery::v1::{Endpoint as ApiEndpoint, EndpointPort};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::proxy::endpoint::SERVICE_NAME_LABEL;

    const NODE: &str = "node-a";

    fn service(name: &str, ports: &[&str]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("10.96.0.10".into()),
                ports: Some(
                    ports
                        .iter()
                        .enumerate()
                        .map(|(i, p)| ApiPort {
                            name: Some(p.to_string()),
                            port: 80 + i as i32,
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            status: None,
        }
    }

    /// A slice of Service `name` with `hosts` endpoints on port `port`.
    fn slice(name: &str, port: &str, hosts: usize) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                name: Some(format!("{name}-{port}")),
                namespace: Some("ns".into()),
                labels: Some(BTreeMap::from([(
                    SERVICE_NAME_LABEL.to_string(),
                    name.to_string(),
                )])),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: (0..hosts)
                .map(|h| ApiEndpoint {
                    addresses: vec![format!("10.244.0.{}", h + 1)],
                    ..Default::default()
                })
                .collect(),
            ports: Some(vec![EndpointPort {
                name: Some(port.into()),
                port: Some(8080),
                ..Default::default()
            }]),
        }
    }

    /// The endpoint count computed from scratch.
    fn counted(state: &ProxyState) -> usize {
        state
            .services
            .keys()
            .map(|k| state.endpoints.get(k).map_or(0, Vec::len))
            .sum()
    }

    fn name(n: &str) -> ServiceName {
        ("ns".into(), n.into())
    }

    #[test]
    fn applies_per_service_changes_in_place_and_keeps_the_endpoint_count() {
        let mut state = ProxyState::default();
        let mut c = ProxyChanges::default();
        c.service_updated(&service("a", &["p", "q"]));
        c.endpoint_slices("ns", "a", [&slice("a", "p", 3), &slice("a", "q", 2)], NODE);
        c.service_updated(&service("b", &["p"]));
        c.endpoint_slices("ns", "b", [&slice("b", "p", 4)], NODE);
        assert_eq!(state.apply(c), BTreeSet::from([name("a"), name("b")]));
        assert_eq!((state.services.len(), state.total_endpoints), (3, 9));

        // The same state again is no change.
        let mut c = ProxyChanges::default();
        c.service_updated(&service("a", &["p", "q"]));
        c.endpoint_slices("ns", "b", [&slice("b", "p", 4)], NODE);
        assert!(state.apply(c).is_empty());

        // A port goes: its endpoints no longer count, and b is untouched.
        let mut c = ProxyChanges::default();
        c.service_updated(&service("a", &["p"]));
        assert_eq!(state.apply(c), BTreeSet::from([name("a")]));
        assert_eq!(state.total_endpoints, 7);
        assert_eq!(state.total_endpoints, counted(&state));

        // The Service goes, its slices stay; then it comes back.
        let mut c = ProxyChanges::default();
        c.service_deleted("ns", "b");
        assert_eq!(state.apply(c), BTreeSet::from([name("b")]));
        assert_eq!((state.total_endpoints, state.endpoints.len()), (3, 3));
        let mut c = ProxyChanges::default();
        c.service_updated(&service("b", &["p"]));
        c.endpoint_slices("ns", "a", [&slice("a", "p", 1)], NODE);
        assert_eq!(state.apply(c), BTreeSet::from([name("a"), name("b")]));
        assert_eq!(state.total_endpoints, 5);
        assert_eq!(state.total_endpoints, counted(&state));
        // a's slice for port q was not listed: its endpoints are gone.
        assert_eq!(state.endpoints.len(), 2);
    }

    #[test]
    fn changes_between_states_name_only_the_differing_services() {
        let objects = |b_hosts: usize| {
            let services = [service("a", &["p"]), service("b", &["p"])];
            let slices = [slice("a", "p", 2), slice("b", "p", b_hosts)];
            crate::proxy::proxy_state(&services, &slices, NODE)
        };
        let (s1, e1) = objects(2);
        let (s2, e2) = objects(3);
        let c = ProxyChanges::between(&s1, &e1, s2.clone(), e2);
        assert!(c.services.is_empty());
        assert_eq!(c.endpoints.keys().collect::<Vec<_>>(), vec![&name("b")]);
        assert_eq!(
            c.endpoints[&name("b")].values().next().map(Vec::len),
            Some(3)
        );
        let gone = ProxyChanges::between(&s2, &e1, BTreeMap::new(), e1.clone());
        assert_eq!(gone.services.len(), 2);
        assert!(gone.services.values().all(BTreeMap::is_empty));
    }
}
