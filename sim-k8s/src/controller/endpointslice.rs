//! The EndpointSlice controller (`pkg/controller/endpointslice/endpointslice_controller.go`
//! `syncService`, and its reconciler `staging/src/k8s.io/endpointslice/reconciler.go` with
//! `utils.go`): for every Service with a selector, EndpointSlices per address family listing
//! the selected pods.
//!
//! Carried over:
//! * which Services: not ExternalName, with a selector; slices are those labelled
//!   `kubernetes.io/service-name: <svc>` and `endpointslice.kubernetes.io/managed-by:
//!   endpointslice-controller.k8s.io`, not being deleted;
//! * address types from `ipFamilies` (else the cluster IP's family, else both); slices of a
//!   type the Service no longer has are deleted, so are slices not owned by the Service (its
//!   uid in an ownerReference);
//! * endpoints: every pod with an IP that is not terminal — terminating pods included — with
//!   `ready = publishNotReadyAddresses || (podReady && !terminating)`, `serving = podReady`,
//!   `terminating = deletionTimestamp set`, `nodeName`, `zone` from the node's
//!   `topology.kubernetes.io/zone` label, `hostname` when hostname/subdomain match, `targetRef`;
//!   a pod whose node does not exist is left out unless the Service publishes not-ready
//!   addresses;
//! * ports per pod (`FindPort`), so pods resolving a named port differently land in different
//!   slices; slices are grouped by their port set;
//! * the packing algorithm of `reconcileByPortMapping`: keep endpoints in the slices that
//!   have them, update changed ones in place, delete emptied slices, fill slices being updated
//!   (fullest first), then the unchanged slice that comes closest to full, then new slices,
//!   at most `maxEndpointsPerSlice` (default 100) each; a placeholder slice (no endpoints, no
//!   ports) when a Service has none; `finalize` turns a create plus a delete into an update;
//!   no new slices for a Service being deleted;
//! * labels: the Service's (minus the reserved ones), `service.kubernetes.io/headless` for a
//!   Service without a cluster IP, the service-name and managed-by labels; ownerReference to
//!   the Service (controller, blockOwnerDeletion).
//!
//! Made deterministic: upstream draws endpoints from a hash map (`PopAny`) and names new slices
//! with `generateName: <svc>-` plus 5 random characters. Here endpoints are taken in order of
//! (addresses, hostname, namespace, name), ties between slices of equal size go to the first by
//! name, ports are ordered by (name, port, protocol, appProtocol), and the store derives the name
//! suffix from a hash of namespace, kind and prefix (see [`crate::store::Store::create`]).
//!
//! Garbage collection of slices whose owning Service is gone — the garbage collector's job
//! upstream — is done here, in [`EndpointSliceController::reconcile`].
//!
//! Left out: topology hints (`trafficDistribution`, the topology-aware-hints annotation), the
//! last-change-trigger-time annotation, metrics, batching delays.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::membership::{
    AddressType, address_types, find_port, is_service_ip_set, pod_ips_of,
    should_pod_be_in_endpoints, should_set_hostname,
};
use super::pod_readiness::pod_ready;
use crate::object::{Kind, ObjectKey};
use crate::selector::Selector;
use crate::store::{Change, Store};

/// `discovery.LabelServiceName`.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// `discovery.LabelManagedBy`.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The controller's name in that label.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// `v1.IsHeadlessService`.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// `v1.LabelTopologyZone`.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";
/// kube-controller-manager `--max-endpoints-per-slice` default (the flag allows 1..=1000).
pub const DEFAULT_MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// A port set as a comparable key.
type PortMapKey = Vec<(String, i32, String, String)>;
/// `endpointHash`: sorted addresses, hostname, target namespace and name.
type EndpointKey = (Vec<String>, String, String, String);

fn port_tuple(p: &EndpointPort) -> (String, i32, String, String) {
    (
        p.name.clone().unwrap_or_default(),
        p.port.unwrap_or_default(),
        p.protocol.clone().unwrap_or_default(),
        p.app_protocol.clone().unwrap_or_default(),
    )
}

fn port_map_key(ports: &[EndpointPort]) -> PortMapKey {
    let mut key: PortMapKey = ports.iter().map(port_tuple).collect();
    key.sort();
    key
}

fn endpoint_key(ep: &Endpoint) -> EndpointKey {
    let mut addresses = ep.addresses.clone();
    addresses.sort();
    let target = ep.target_ref.as_ref();
    (
        addresses,
        ep.hostname.clone().unwrap_or_default(),
        target.and_then(|t| t.namespace.clone()).unwrap_or_default(),
        target.and_then(|t| t.name.clone()).unwrap_or_default(),
    )
}

/// `EndpointsEqualBeyondHash`: node, zone, the three conditions and the target (its
/// resourceVersion aside).
fn equal_beyond_hash(a: &Endpoint, b: &Endpoint) -> bool {
    let conds = |e: &Endpoint| {
        let c = e.conditions.clone().unwrap_or_default();
        (c.ready, c.serving, c.terminating)
    };
    let target = |e: &Endpoint| {
        e.target_ref.clone().map(|mut r| {
            r.resource_version = None;
            r
        })
    };
    a.node_name == b.node_name && a.zone == b.zone && conds(a) == conds(b) && target(a) == target(b)
}

/// `getEndpointPorts`, ordered by (name, port, protocol, appProtocol).
pub fn endpoint_ports(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let mut out: Vec<EndpointPort> = ports
        .iter()
        .filter_map(|sp| {
            let n = find_port(pod, sp)?;
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(n),
                protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect();
    out.sort_by_key(port_tuple);
    out
}

/// `podToEndpoint`.
pub fn pod_to_endpoint(
    pod: &Pod,
    node: Option<&Node>,
    service: &Service,
    address_type: AddressType,
) -> Endpoint {
    let serving = pod_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish_not_ready = service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    // For compatibility, "ready" is never true for a terminating pod unless the Service
    // publishes not-ready addresses.
    let ready = publish_not_ready || (serving && !terminating);
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    let zone = node
        .and_then(|n| n.metadata.labels.as_ref())
        .and_then(|l| l.get(LABEL_TOPOLOGY_ZONE))
        .filter(|z| !z.is_empty())
        .cloned();
    Endpoint {
        addresses: pod_ips_of(pod, address_type),
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: should_set_hostname(pod, service)
            .then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone()))
            .flatten(),
        node_name,
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        zone,
        ..Default::default()
    }
}

fn is_reserved_label(key: &str) -> bool {
    matches!(key, LABEL_SERVICE_NAME | LABEL_MANAGED_BY | LABEL_HEADLESS)
}

/// `setEndpointSliceLabels`: the labels a slice of `service` should carry, and whether its
/// non-reserved labels differ from the Service's.
fn slice_labels(
    slice: Option<&EndpointSlice>,
    service: &Service,
) -> (BTreeMap<String, String>, bool) {
    let strip = |m: Option<&BTreeMap<String, String>>| -> BTreeMap<String, String> {
        m.into_iter()
            .flatten()
            .filter(|(k, _)| !is_reserved_label(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let slice_own = strip(slice.and_then(|s| s.metadata.labels.as_ref()));
    let mut labels = strip(service.metadata.labels.as_ref());
    let changed = slice_own != labels;
    if !is_service_ip_set(service) {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels.insert(
        LABEL_SERVICE_NAME.into(),
        service.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    (labels, changed)
}

/// `ownedBy`: an ownerReference to this Service (by uid, kind Service, apiVersion v1).
fn owned_by(slice: &EndpointSlice, service: &Service) -> bool {
    slice.metadata.owner_references.iter().flatten().any(|o| {
        Some(&o.uid) == service.metadata.uid.as_ref()
            && o.kind == "Service"
            && o.api_version == "v1"
    })
}

/// `newEndpointSlice`: no name yet, `generateName: <svc>-`.
fn new_slice(
    service: &Service,
    ports: &[EndpointPort],
    address_type: AddressType,
) -> EndpointSlice {
    let name = service.metadata.name.clone().unwrap_or_default();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: service.metadata.namespace.clone(),
            labels: Some(slice_labels(None, service).0),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Service".into(),
                name,
                uid: service.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        address_type: address_type.as_str().to_owned(),
        endpoints: Vec::new(),
        ports: (!ports.is_empty()).then(|| ports.to_vec()),
    }
}

/// `placeholderSliceCompare`: namespace, labels, ownerReferences, address type, ports,
/// endpoints — nothing else of the metadata.
fn placeholder_equal(a: &EndpointSlice, b: &EndpointSlice) -> bool {
    a.metadata.namespace == b.metadata.namespace
        && a.metadata.labels.clone().unwrap_or_default()
            == b.metadata.labels.clone().unwrap_or_default()
        && a.metadata.owner_references.clone().unwrap_or_default()
            == b.metadata.owner_references.clone().unwrap_or_default()
        && a.address_type == b.address_type
        && a.ports.clone().unwrap_or_default() == b.ports.clone().unwrap_or_default()
        && a.endpoints == b.endpoints
}

/// `getSliceToFill`: the slice that comes closest to full when `n` endpoints are added.
fn slice_to_fill<'a>(
    slices: &[&'a EndpointSlice],
    n: usize,
    max: usize,
) -> Option<&'a EndpointSlice> {
    let mut closest_diff = max;
    let mut closest = None;
    for s in slices {
        let total = n + s.endpoints.len();
        if total <= max {
            let diff = max - total;
            if diff < closest_diff {
                closest_diff = diff;
                closest = Some(*s);
                if diff == 0 {
                    break;
                }
            }
        }
    }
    closest
}

fn pop_first(set: &mut BTreeMap<EndpointKey, Endpoint>) -> Option<Endpoint> {
    set.pop_first().map(|(_, e)| e)
}

#[derive(Default)]
struct Plan {
    create: Vec<EndpointSlice>,
    update: Vec<EndpointSlice>,
    delete: Vec<EndpointSlice>,
}

/// The EndpointSlice controller: stateless apart from its setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointSliceController {
    /// At most this many endpoints per slice.
    pub max_endpoints_per_slice: usize,
}

impl Default for EndpointSliceController {
    fn default() -> Self {
        EndpointSliceController {
            max_endpoints_per_slice: DEFAULT_MAX_ENDPOINTS_PER_SLICE,
        }
    }
}

impl EndpointSliceController {
    pub fn new(max_endpoints_per_slice: usize) -> Self {
        EndpointSliceController {
            max_endpoints_per_slice: max_endpoints_per_slice.max(1),
        }
    }

    /// One pass over every Service (in key order), then over slices whose owning Service is
    /// gone. Applying the result and reconciling again yields nothing.
    pub fn reconcile(&self, store: &Store) -> Vec<Change> {
        let mut changes: Vec<Change> = store
            .list_as::<Service>(None)
            .flat_map(|svc| self.sync_service(store, svc))
            .collect();
        let deleted: BTreeSet<ObjectKey> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Delete(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        for slice in store.list_as::<EndpointSlice>(None) {
            let managed = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_MANAGED_BY))
                .is_some_and(|m| m == CONTROLLER_NAME);
            let ns = slice.metadata.namespace.as_deref().unwrap_or("");
            let orphaned = slice.metadata.owner_references.iter().flatten().any(|o| {
                o.kind == "Service"
                    && o.controller == Some(true)
                    && store
                        .get_as::<Service>(ns, &o.name)
                        .is_none_or(|s| s.metadata.uid.as_deref() != Some(o.uid.as_str()))
            });
            let key = ObjectKey::new(
                Kind::EndpointSlice,
                ns,
                slice.metadata.name.as_deref().unwrap_or(""),
            );
            if managed && orphaned && !deleted.contains(&key) {
                changes.push(Change::Delete(key));
            }
        }
        changes
    }

    /// The changes `syncService` makes for one Service.
    pub fn sync_service(&self, store: &Store, service: &Service) -> Vec<Change> {
        if service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
            return Vec::new();
        }
        let Some(selector) = Selector::for_service(service) else {
            return Vec::new();
        };
        let ns = service.metadata.namespace.as_deref().unwrap_or("default");
        let name = service.metadata.name.as_deref().unwrap_or("");
        let pods: Vec<&Pod> = store
            .list(Kind::Pod, Some(ns), &selector)
            .into_iter()
            .filter_map(|o| o.downcast_ref::<Pod>())
            .collect();
        let slice_selector = Selector::from_set(&BTreeMap::from([
            (LABEL_SERVICE_NAME.to_owned(), name.to_owned()),
            (LABEL_MANAGED_BY.to_owned(), CONTROLLER_NAME.to_owned()),
        ]))
        .unwrap_or_else(|_| Selector::nothing());
        let existing: Vec<&EndpointSlice> = store
            .list(Kind::EndpointSlice, Some(ns), &slice_selector)
            .into_iter()
            .filter_map(|o| o.downcast_ref::<EndpointSlice>())
            .filter(|s| s.metadata.deletion_timestamp.is_none())
            .collect();

        let types = address_types(service);
        let mut by_type: BTreeMap<AddressType, Vec<&EndpointSlice>> = BTreeMap::new();
        let mut wrong_type = Vec::new();
        for s in existing {
            match AddressType::parse(&s.address_type) {
                Some(t) if types.contains(&t) => by_type.entry(t).or_default().push(s),
                _ => wrong_type.push(s),
            }
        }
        let mut changes = Vec::new();
        for t in types {
            let slices = by_type.remove(&t).unwrap_or_default();
            let plan = self.reconcile_by_address_type(store, service, &pods, &slices, t);
            changes.extend(finalize(service, plan));
        }
        changes.extend(wrong_type.into_iter().map(|s| Change::Delete(slice_key(s))));
        changes
    }

    fn reconcile_by_address_type(
        &self,
        store: &Store,
        service: &Service,
        pods: &[&Pod],
        existing: &[&EndpointSlice],
        address_type: AddressType,
    ) -> Plan {
        let mut plan = Plan::default();
        let mut existing_by_ports: BTreeMap<PortMapKey, Vec<&EndpointSlice>> = BTreeMap::new();
        for s in existing {
            if owned_by(s, service) {
                existing_by_ports
                    .entry(port_map_key(s.ports.as_deref().unwrap_or_default()))
                    .or_default()
                    .push(s);
            } else {
                plan.delete.push((*s).clone());
            }
        }

        let publish_not_ready = service
            .spec
            .as_ref()
            .and_then(|s| s.publish_not_ready_addresses)
            .unwrap_or(false);
        let mut desired_ports: BTreeMap<PortMapKey, Vec<EndpointPort>> = BTreeMap::new();
        let mut desired: BTreeMap<PortMapKey, BTreeMap<EndpointKey, Endpoint>> = BTreeMap::new();
        for pod in pods {
            if !should_pod_be_in_endpoints(pod, true) {
                continue;
            }
            let ports = endpoint_ports(service, pod);
            let key = port_map_key(&ports);
            desired.entry(key.clone()).or_default();
            desired_ports.entry(key.clone()).or_insert(ports);
            let node_name = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or("");
            let node = store.get_as::<Node>("", node_name);
            if node.is_none() && !publish_not_ready {
                // Upstream requeues the Service and leaves the pod out meanwhile.
                continue;
            }
            let ep = pod_to_endpoint(pod, node, service, address_type);
            if !ep.addresses.is_empty() {
                desired
                    .get_mut(&key)
                    .expect("entry made above")
                    .insert(endpoint_key(&ep), ep);
            }
        }

        for (key, set) in desired.iter_mut() {
            let slices = existing_by_ports.get(key).cloned().unwrap_or_default();
            let ports = &desired_ports[key];
            self.reconcile_by_port_mapping(
                service,
                &slices,
                std::mem::take(set),
                ports,
                address_type,
                &mut plan,
            );
        }
        for (key, slices) in &existing_by_ports {
            if !desired.contains_key(key) {
                plan.delete.extend(slices.iter().map(|s| (*s).clone()));
            }
        }

        // A Service with no endpoints keeps one empty placeholder slice.
        if existing.len() == plan.delete.len() && plan.create.is_empty() {
            let placeholder = new_slice(service, &[], address_type);
            if plan.delete.len() == 1 && placeholder_equal(&plan.delete[0], &placeholder) {
                plan.delete.clear();
            } else {
                plan.create.push(placeholder);
            }
        }
        plan
    }

    /// `reconcileByPortMapping`.
    fn reconcile_by_port_mapping(
        &self,
        service: &Service,
        existing: &[&EndpointSlice],
        mut desired: BTreeMap<EndpointKey, Endpoint>,
        ports: &[EndpointPort],
        address_type: AddressType,
        plan: &mut Plan,
    ) {
        let max = self.max_endpoints_per_slice;
        let mut by_name: BTreeMap<String, EndpointSlice> = BTreeMap::new();
        let mut unchanged: BTreeSet<String> = BTreeSet::new();
        let mut to_update: BTreeSet<String> = BTreeSet::new();
        let mut to_delete: BTreeSet<String> = BTreeSet::new();

        // 1. Keep desired endpoints where they are; drop the others; update changed ones.
        for s in existing {
            let name = s.metadata.name.clone().unwrap_or_default();
            let mut kept = Vec::new();
            let mut endpoint_updated = false;
            for ep in &s.endpoints {
                if let Some(want) = desired.remove(&endpoint_key(ep)) {
                    if !equal_beyond_hash(&want, ep) {
                        endpoint_updated = true;
                    }
                    kept.push(want);
                }
            }
            let (labels, labels_changed) = slice_labels(Some(s), service);
            if endpoint_updated || kept.len() != s.endpoints.len() {
                if kept.is_empty() {
                    to_delete.insert(name.clone());
                    by_name.insert(name, (*s).clone());
                } else {
                    let mut updated = (*s).clone();
                    updated.endpoints = kept;
                    updated.metadata.labels = Some(labels);
                    by_name.insert(name.clone(), updated);
                    to_update.insert(name);
                }
            } else if labels_changed {
                let mut updated = (*s).clone();
                updated.metadata.labels = Some(labels);
                by_name.insert(name.clone(), updated);
                to_update.insert(name);
            } else {
                by_name.insert(name.clone(), (*s).clone());
                unchanged.insert(name);
            }
        }

        // 2. Fill the slices being updated, fullest first.
        if !desired.is_empty() && !to_update.is_empty() {
            let mut order: Vec<String> = to_update.iter().cloned().collect();
            order.sort_by(|a, b| {
                by_name[b]
                    .endpoints
                    .len()
                    .cmp(&by_name[a].endpoints.len())
                    .then(a.cmp(b))
            });
            for name in order {
                let slice = by_name.get_mut(&name).expect("listed above");
                while slice.endpoints.len() < max {
                    let Some(ep) = pop_first(&mut desired) else {
                        break;
                    };
                    slice.endpoints.push(ep);
                }
            }
        }

        // 3. Put what is left in the unchanged slice closest to full, or in new slices.
        while !desired.is_empty() {
            let mut target = None;
            if desired.len() < max && !unchanged.is_empty() {
                let candidates: Vec<&EndpointSlice> =
                    unchanged.iter().map(|n| &by_name[n]).collect();
                target = slice_to_fill(&candidates, desired.len(), max).cloned();
            }
            let mut slice = target.unwrap_or_else(|| new_slice(service, ports, address_type));
            while slice.endpoints.len() < max {
                let Some(ep) = pop_first(&mut desired) else {
                    break;
                };
                slice.endpoints.push(ep);
            }
            match slice.metadata.name.clone() {
                Some(name) => {
                    unchanged.remove(&name);
                    to_update.insert(name.clone());
                    by_name.insert(name, slice);
                }
                None => plan.create.push(slice),
            }
        }

        plan.update
            .extend(to_update.iter().map(|n| by_name[n].clone()));
        plan.delete
            .extend(to_delete.iter().map(|n| by_name[n].clone()));
    }
}

fn slice_key(s: &EndpointSlice) -> ObjectKey {
    ObjectKey::new(
        Kind::EndpointSlice,
        s.metadata.namespace.as_deref().unwrap_or(""),
        s.metadata.name.as_deref().unwrap_or(""),
    )
}

/// `finalize`: a slice to create and one to delete (same type, owned) become one update of
/// the latter; no creates for a Service being deleted. Creates, then updates, then deletes.
fn finalize(service: &Service, mut plan: Plan) -> Vec<Change> {
    let mut i = 0;
    while i < plan.delete.len() && !plan.create.is_empty() {
        let doomed = &plan.delete[i];
        let last = plan.create.last().expect("non-empty");
        if doomed.address_type == last.address_type && owned_by(doomed, service) {
            let mut slice = plan.create.pop().expect("non-empty");
            slice.metadata.name = doomed.metadata.name.clone();
            plan.update.push(slice);
            plan.delete.remove(i);
        } else {
            i += 1;
        }
    }
    let mut changes = Vec::new();
    if service.metadata.deletion_timestamp.is_none() {
        changes.extend(plan.create.into_iter().map(|s| Change::Create(s.into())));
    }
    changes.extend(plan.update.into_iter().map(|s| Change::Update(s.into())));
    changes.extend(plan.delete.iter().map(|s| Change::Delete(slice_key(s))));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::testutil::*;
    use crate::object::Object;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn slices(store: &Store) -> Vec<EndpointSlice> {
        store
            .list_as::<EndpointSlice>(Some("default"))
            .cloned()
            .collect()
    }

    fn addrs(slice: &EndpointSlice) -> Vec<&str> {
        slice
            .endpoints
            .iter()
            .flat_map(|e| e.addresses.iter().map(String::as_str))
            .collect()
    }

    fn run(ctrl: &EndpointSliceController, store: &mut Store) -> Vec<Change> {
        let changes = ctrl.reconcile(store);
        apply(store, changes.clone());
        assert_eq!(
            ctrl.reconcile(store),
            vec![],
            "a second pass changes nothing"
        );
        changes
    }

    fn cond(e: &Endpoint) -> (Option<bool>, Option<bool>, Option<bool>) {
        let c = e.conditions.clone().unwrap();
        (c.ready, c.serving, c.terminating)
    }

    // TestPodToEndpoint (utils_test.go): ready / serving / terminating, zone, node, target.
    #[test]
    fn conditions_zone_and_target() {
        let mut store = store_with(vec![
            node("n1", "zone-a").into(),
            node("n2", "").into(),
            service("web", "web").into(),
            pod("ready", "web", "n1", &["10.0.0.1"], true).into(),
            pod("unready", "web", "n2", &["10.0.0.2"], false).into(),
            pod("leaving", "web", "n1", &["10.0.0.3"], true).into(),
        ]);
        store
            .delete(T0, &ObjectKey::new(Kind::Pod, "default", "leaving"), None)
            .unwrap();
        let ctrl = EndpointSliceController::default();
        let changes = run(&ctrl, &mut store);
        assert_eq!(changes.len(), 1);
        let s = &slices(&store)[0];
        assert_eq!(s.address_type, "IPv4");
        assert_eq!(addrs(s), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        assert_eq!(cond(&s.endpoints[0]), (Some(true), Some(true), Some(false)));
        assert_eq!(
            cond(&s.endpoints[1]),
            (Some(false), Some(false), Some(false))
        );
        // Terminating: serving still true, ready false.
        assert_eq!(cond(&s.endpoints[2]), (Some(false), Some(true), Some(true)));
        assert_eq!(s.endpoints[0].zone.as_deref(), Some("zone-a"));
        assert_eq!(s.endpoints[1].zone, None);
        assert_eq!(s.endpoints[0].node_name.as_deref(), Some("n1"));
        let t = s.endpoints[0].target_ref.as_ref().unwrap();
        assert_eq!(
            (t.kind.as_deref(), t.name.as_deref()),
            (Some("Pod"), Some("ready"))
        );
        let ports = s.ports.as_ref().unwrap();
        assert_eq!(
            (
                ports[0].name.as_deref(),
                ports[0].port,
                ports[0].protocol.as_deref()
            ),
            (Some("http"), Some(8080), Some("TCP"))
        );
        let l = s.metadata.labels.as_ref().unwrap();
        assert_eq!(l.get(LABEL_SERVICE_NAME).map(String::as_str), Some("web"));
        assert_eq!(
            l.get(LABEL_MANAGED_BY).map(String::as_str),
            Some(CONTROLLER_NAME)
        );
        assert_eq!(l.get("app").map(String::as_str), Some("web"));
        assert!(!l.contains_key(LABEL_HEADLESS));
        let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("Service", "web")
        );
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert!(s.metadata.name.as_deref().unwrap().starts_with("web-"));

        // publishNotReadyAddresses makes every endpoint ready.
        let mut svc = store.get_as::<Service>("default", "web").unwrap().clone();
        svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        store.update(T0, svc.into()).unwrap();
        run(&ctrl, &mut store);
        let s = &slices(&store)[0];
        assert!(s.endpoints.iter().all(|e| cond(e).0 == Some(true)));
    }

    // TestReconcile1EndpointSlice... / TestReconcileManyPods: packing at maxEndpointsPerSlice.
    #[test]
    fn packs_at_most_max_per_slice_and_updates_in_place() {
        let mut objects: Vec<Object> = vec![node("n1", "").into(), service("web", "web").into()];
        for i in 1..=5 {
            objects.push(
                pod(
                    &format!("p{i}"),
                    "web",
                    "n1",
                    &[&format!("10.0.0.{i}")],
                    true,
                )
                .into(),
            );
        }
        let mut store = store_with(objects);
        let ctrl = EndpointSliceController::new(2);
        let changes = run(&ctrl, &mut store);
        assert_eq!(
            changes
                .iter()
                .filter(|c| matches!(c, Change::Create(_)))
                .count(),
            3
        );
        let mut sizes: Vec<usize> = slices(&store).iter().map(|s| s.endpoints.len()).collect();
        sizes.sort();
        assert_eq!(sizes, [1, 2, 2]);

        // Removing one pod touches only the slice that held it.
        let holder = slices(&store)
            .into_iter()
            .find(|s| addrs(s).contains(&"10.0.0.3"))
            .unwrap();
        store
            .delete(T0, &ObjectKey::new(Kind::Pod, "default", "p3"), Some(0))
            .unwrap();
        let changes = run(&ctrl, &mut store);
        match changes.as_slice() {
            [Change::Update(Object::EndpointSlice(s))] => {
                assert_eq!(s.metadata.name, holder.metadata.name);
                assert!(!addrs(s).contains(&"10.0.0.3"));
            }
            [Change::Delete(k)] => assert_eq!(Some(&k.name), holder.metadata.name.as_ref()),
            other => panic!("one write expected: {other:?}"),
        }
        let total: usize = slices(&store).iter().map(|s| s.endpoints.len()).sum();
        assert_eq!(total, 4);
    }

    // TestReconcileEndpointSlicesSomePreexisting...: a new endpoint goes to the unchanged slice
    // closest to full rather than into a new slice.
    #[test]
    fn new_endpoints_fill_the_slice_closest_to_full() {
        let mut objects: Vec<Object> = vec![node("n1", "").into(), service("web", "web").into()];
        for i in 1..=3 {
            objects.push(
                pod(
                    &format!("p{i}"),
                    "web",
                    "n1",
                    &[&format!("10.0.0.{i}")],
                    true,
                )
                .into(),
            );
        }
        let mut store = store_with(objects);
        let ctrl = EndpointSliceController::new(2);
        run(&ctrl, &mut store);
        assert_eq!(slices(&store).len(), 2);
        store
            .create(T0, pod("p4", "web", "n1", &["10.0.0.4"], true).into())
            .unwrap();
        let changes = run(&ctrl, &mut store);
        assert!(
            matches!(changes.as_slice(), [Change::Update(_)]),
            "{changes:?}"
        );
        assert!(slices(&store).iter().all(|s| s.endpoints.len() == 2));
    }

    // Pods that resolve a named port to different numbers go to different slices.
    #[test]
    fn slices_group_by_port_set() {
        let mut old = pod("old", "web", "n1", &["10.0.0.1"], true);
        old.spec.as_mut().unwrap().containers[0]
            .ports
            .as_mut()
            .unwrap()[0]
            .container_port = 9090;
        let mut store = store_with(vec![
            node("n1", "").into(),
            service("web", "web").into(),
            old.into(),
            pod("new", "web", "n1", &["10.0.0.2"], true).into(),
        ]);
        run(&EndpointSliceController::default(), &mut store);
        let mut by_port: Vec<(i32, Vec<String>)> = slices(&store)
            .iter()
            .map(|s| {
                (
                    s.ports.as_ref().unwrap()[0].port.unwrap(),
                    addrs(s).iter().map(|a| a.to_string()).collect(),
                )
            })
            .collect();
        by_port.sort();
        assert_eq!(
            by_port,
            [
                (8080, vec!["10.0.0.2".to_owned()]),
                (9090, vec!["10.0.0.1".to_owned()])
            ]
        );
    }

    // TestReconcileEmpty: a Service without endpoints gets one placeholder slice, kept.
    #[test]
    fn placeholder_slice_for_a_service_without_pods() {
        let mut store = store_with(vec![service("idle", "idle").into()]);
        run(&EndpointSliceController::default(), &mut store);
        let s = slices(&store);
        assert_eq!(s.len(), 1);
        assert!(s[0].endpoints.is_empty());
        assert_eq!(s[0].ports, None);
        // A pod arriving reuses the placeholder.
        let name = s[0].metadata.name.clone();
        store.create(T0, node("n1", "").into()).unwrap();
        store
            .create(T0, pod("p", "idle", "n1", &["10.0.0.1"], true).into())
            .unwrap();
        let changes = run(&EndpointSliceController::default(), &mut store);
        assert!(
            matches!(changes.as_slice(), [Change::Update(_)]),
            "{changes:?}"
        );
        let s = slices(&store);
        assert_eq!((s.len(), s[0].metadata.name.clone()), (1, name));
        assert_eq!(addrs(&s[0]), ["10.0.0.1"]);
        assert_eq!(s[0].ports.as_ref().unwrap()[0].port, Some(8080));
    }

    // Dual stack: one slice per family; headless Services are labelled.
    #[test]
    fn dual_stack_headless() {
        let mut svc = service("db", "db");
        let spec = svc.spec.as_mut().unwrap();
        spec.cluster_ip = Some("None".into());
        spec.ip_families = Some(vec!["IPv4".into(), "IPv6".into()]);
        let mut store = store_with(vec![
            node("n1", "").into(),
            svc.into(),
            pod("db-0", "db", "n1", &["10.0.0.1", "fd00::1"], true).into(),
        ]);
        run(&EndpointSliceController::default(), &mut store);
        let s = slices(&store);
        let mut got: Vec<(String, Vec<String>)> = s
            .iter()
            .map(|s| {
                (
                    s.address_type.clone(),
                    addrs(s).iter().map(|a| a.to_string()).collect(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("IPv4".to_owned(), vec!["10.0.0.1".to_owned()]),
                ("IPv6".to_owned(), vec!["fd00::1".to_owned()])
            ]
        );
        assert!(s.iter().all(|s| {
            s.metadata
                .labels
                .as_ref()
                .unwrap()
                .contains_key(LABEL_HEADLESS)
        }));
    }

    // Reconciler: "skipping Pod for Service, Node not found" unless publishNotReadyAddresses.
    #[test]
    fn pods_on_missing_nodes_are_left_out() {
        let mut store = store_with(vec![
            node("n1", "").into(),
            service("web", "web").into(),
            pod("a", "web", "n1", &["10.0.0.1"], true).into(),
            pod("b", "web", "ghost", &["10.0.0.2"], true).into(),
        ]);
        run(&EndpointSliceController::default(), &mut store);
        assert_eq!(addrs(&slices(&store)[0]), ["10.0.0.1"]);
    }

    // Owned slices go with their Service. Slices owned by an earlier Service of the same name
    // are replaced by a new slice, not updated: finalize only reuses slices the Service owns
    // ("avoid updating EndpointSlices that are being garbage collected for an old Service").
    #[test]
    fn garbage_collection_and_foreign_slices() {
        let mut store = store_with(vec![
            node("n1", "").into(),
            service("web", "web").into(),
            pod("a", "web", "n1", &["10.0.0.1"], true).into(),
        ]);
        let ctrl = EndpointSliceController::default();
        run(&ctrl, &mut store);
        let old_name = slices(&store)[0].metadata.name.clone().unwrap();

        // Recreate the Service: a new uid, so the slice is no longer owned.
        let svc_key = ObjectKey::new(Kind::Service, "default", "web");
        store.delete(T0, &svc_key, None).unwrap();
        store.create(T0, service("web", "web").into()).unwrap();
        let changes = ctrl.reconcile(&store);
        let [
            Change::Create(Object::EndpointSlice(new)),
            Change::Delete(old),
        ] = changes.as_slice()
        else {
            panic!("a new slice and the old one deleted: {changes:?}");
        };
        assert_eq!(
            old,
            &ObjectKey::new(Kind::EndpointSlice, "default", old_name.as_str())
        );
        assert_eq!(addrs(new), ["10.0.0.1"]);
        apply(&mut store, changes);
        let new_uid = store
            .get_as::<Service>("default", "web")
            .unwrap()
            .metadata
            .uid
            .clone()
            .unwrap();
        let s = slices(&store);
        assert_eq!(s.len(), 1);
        assert_ne!(s[0].metadata.name.as_deref(), Some(old_name.as_str()));
        assert_eq!(
            s[0].metadata.owner_references.as_ref().unwrap()[0].uid,
            new_uid
        );
        assert_eq!(ctrl.reconcile(&store), vec![]);

        // Service gone: its slice is collected.
        let name = s[0].metadata.name.clone().unwrap();
        store.delete(T0, &svc_key, None).unwrap();
        assert_eq!(
            ctrl.reconcile(&store),
            vec![Change::Delete(ObjectKey::new(
                Kind::EndpointSlice,
                "default",
                name
            ))]
        );
    }

    // setEndpointSliceLabels: Service label changes reach the slices; reserved keys do not.
    #[test]
    fn service_labels_follow_to_slices() {
        let mut store = store_with(vec![service("web", "web").into()]);
        let ctrl = EndpointSliceController::default();
        run(&ctrl, &mut store);
        let mut svc = store.get_as::<Service>("default", "web").unwrap().clone();
        svc.metadata.labels = Some(labels(&[
            ("app", "web"),
            ("tier", "front"),
            (LABEL_SERVICE_NAME, "evil"),
        ]));
        store.update(T0, svc.into()).unwrap();
        run(&ctrl, &mut store);
        let l = slices(&store)[0].metadata.labels.clone().unwrap();
        assert_eq!(l.get("tier").map(String::as_str), Some("front"));
        assert_eq!(l.get(LABEL_SERVICE_NAME).map(String::as_str), Some("web"));
    }

    #[test]
    fn external_name_and_selectorless_services_are_left_alone() {
        let mut ext = service("ext", "x");
        ext.spec.as_mut().unwrap().type_ = Some("ExternalName".into());
        let mut manual = service("manual", "x");
        manual.spec.as_mut().unwrap().selector = Some(Default::default());
        manual.spec.as_mut().unwrap().ports =
            Some(vec![service_port("", 80, IntOrString::Int(8080))]);
        let store = store_with(vec![ext.into(), manual.into()]);
        assert_eq!(EndpointSliceController::default().reconcile(&store), vec![]);
    }
}
