//! The Endpoints controller (`pkg/controller/endpoint/endpoints_controller.go`, `syncService`):
//! for every Service with a selector, one Endpoints object of the same name listing the
//! selected pods' addresses and ports.
//!
//! Carried over:
//! * Services of type ExternalName and Services without a selector are left alone (their
//!   Endpoints, if any, are someone else's); Endpoints whose Service is gone are deleted,
//!   except leader-election records (`control-plane.alpha.kubernetes.io/leader`);
//! * pods: terminal, IP-less pods are skipped; terminating pods are skipped unless the Service
//!   sets `publishNotReadyAddresses`; the address is the pod IP of the Service's first IP family;
//! * ready pods (or all, with `publishNotReadyAddresses`) go to `addresses`, the others to
//!   `notReadyAddresses`; each address has `nodeName`, `targetRef` (kind, namespace, name,
//!   uid) and `hostname` when the pod's `hostname` is set and its `subdomain` is the Service;
//! * ports: per Service port, `FindPort` on the pod — a pod lacking a named port is left out
//!   of that port only; a headless Service without ports lists addresses with no ports;
//! * subsets are repacked ([`super::repack`]); labels are the Service's plus
//!   `endpoints.kubernetes.io/managed-by: endpoint-controller` (1.33, kubernetes#130564) and
//!   `service.kubernetes.io/headless` for headless Services; more than 1000 addresses are
//!   truncated, ready ones first, with `endpoints.kubernetes.io/over-capacity: truncated`;
//! * no write when nothing changed (subsets compared ignoring target resourceVersions, and
//!   after truncation, so an over-capacity object is not rewritten on every pass).
//!
//! Left out: the `endpoints.kubernetes.io/last-change-trigger-time` annotation (it is cleared
//! on update, as upstream does when it has no trigger time); batching delays.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::membership::{
    AddressType, find_port, is_headless, is_service_ip_set, pod_ips_of, should_pod_be_in_endpoints,
    should_set_hostname,
};
use super::pod_readiness::pod_ready;
use super::repack::repack_subsets;
use crate::object::{Kind, ObjectKey};
use crate::selector::Selector;
use crate::store::{Change, Store};

/// `endpoints.kubernetes.io/managed-by`.
pub const LABEL_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
/// The controller's name in that label.
pub const CONTROLLER_NAME: &str = "endpoint-controller";
/// `v1.IsHeadlessService`.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// `v1.EndpointsOverCapacity`.
pub const ANNOTATION_OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// `v1.EndpointsLastChangeTriggerTime`.
pub const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// `resourcelock.LeaderElectionRecordAnnotationKey`.
pub const ANNOTATION_LEADER: &str = "control-plane.alpha.kubernetes.io/leader";
/// `maxCapacity`: addresses an Endpoints object holds at most.
pub const MAX_CAPACITY: usize = 1000;

/// Whether the controller manages Endpoints for this Service: it has a selector and is not
/// ExternalName.
pub fn manages(service: &Service) -> bool {
    let external_name =
        service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName");
    !external_name && Selector::for_service(service).is_some()
}

/// `podToEndpointAddressForService`.
fn endpoint_address(service: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let spec = service.spec.as_ref();
    let family = match spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
    {
        Some(f) => AddressType::parse(f).unwrap_or(AddressType::IPv4),
        None if is_service_ip_set(service) => {
            AddressType::of(spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or(""))
                .unwrap_or(AddressType::IPv4)
        }
        None => pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(AddressType::of)
            .unwrap_or(AddressType::IPv4),
    };
    // The first pod IP of that family, as written (the slice controller normalizes; this one
    // does not).
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .map(|p| p.ip.clone())
        .find(|ip| AddressType::of(ip) == Some(family))
        .or_else(|| pod_ips_of(pod, family).into_iter().next())?;
    Some(EndpointAddress {
        ip,
        hostname: should_set_hostname(pod, service)
            .then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone()))
            .flatten(),
        node_name: Some(
            pod.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
        ),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
    })
}

/// The subsets the controller computes for `service` from `pods` (already filtered by the
/// selector), repacked.
pub fn desired_subsets(service: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let spec = service.spec.as_ref();
    let publish_not_ready = spec
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
    let mut subsets = Vec::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, publish_not_ready) {
            continue;
        }
        let Some(addr) = endpoint_address(service, pod) else {
            continue;
        };
        let ready = publish_not_ready || pod_ready(pod);
        let mut add = |ports: Option<Vec<EndpointPort>>| {
            subsets.push(EndpointSubset {
                addresses: ready.then(|| vec![addr.clone()]),
                not_ready_addresses: (!ready).then(|| vec![addr.clone()]),
                ports,
            });
        };
        if ports.is_empty() {
            if is_headless(service) {
                add(None);
            }
            continue;
        }
        for sp in ports {
            let Some(n) = find_port(pod, sp) else {
                continue;
            };
            add(Some(vec![EndpointPort {
                name: sp.name.clone().filter(|n| !n.is_empty()),
                port: n,
                protocol: sp.protocol.clone(),
                app_protocol: sp.app_protocol.clone(),
            }]));
        }
    }
    repack_subsets(&subsets)
}

/// `truncateEndpoints`: keeps at most [`MAX_CAPACITY`] addresses, ready ones first, each
/// subset keeping a share proportional to its size (rounded up). Returns whether it cut.
fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let total_ready: usize = subsets
        .iter()
        .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
        .sum();
    let total_not_ready: usize = subsets
        .iter()
        .map(|s| s.not_ready_addresses.as_ref().map_or(0, Vec::len))
        .sum();
    if total_ready + total_not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = total_ready > MAX_CAPACITY;
    let (max, num_total) = if truncate_ready {
        (MAX_CAPACITY, total_ready)
    } else {
        (MAX_CAPACITY - total_ready, total_not_ready)
    };
    let mut can_be_added = max;
    for s in subsets.iter_mut() {
        let in_subset = if truncate_ready {
            s.addresses.as_ref().map_or(0, Vec::len)
        } else {
            s.not_ready_addresses.as_ref().map_or(0, Vec::len)
        };
        // ceil(in_subset / num_total * max), in integers.
        let share = (in_subset * max).div_ceil(num_total).min(can_be_added);
        if truncate_ready {
            if let Some(a) = s.addresses.as_mut() {
                a.truncate(share);
                can_be_added -= a.len();
            }
            s.not_ready_addresses = None;
        } else if let Some(a) = s.not_ready_addresses.as_mut() {
            a.truncate(share);
            can_be_added -= a.len();
        }
    }
    true
}

/// The labels the controller writes: the Service's, plus managed-by, plus headless.
fn desired_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    if is_service_ip_set(service) {
        labels.remove(LABEL_HEADLESS);
    } else {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels
}

/// Subsets with empty lists written as absent and target resourceVersions dropped, for
/// comparison (apimachinery's semantic equality treats nil and empty alike).
fn normalized(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let fix_addrs = |v: &Option<Vec<EndpointAddress>>| {
        v.as_ref().filter(|v| !v.is_empty()).map(|v| {
            v.iter()
                .map(|a| {
                    let mut a = a.clone();
                    if let Some(r) = a.target_ref.as_mut() {
                        r.resource_version = None;
                    }
                    a
                })
                .collect()
        })
    };
    subsets
        .iter()
        .map(|s| EndpointSubset {
            addresses: fix_addrs(&s.addresses),
            not_ready_addresses: fix_addrs(&s.not_ready_addresses),
            ports: s.ports.clone().filter(|p| !p.is_empty()),
        })
        .collect()
}

/// The change, if any, `syncService` makes for one Service.
pub fn sync_service(store: &Store, service: &Service) -> Option<Change> {
    if !manages(service) {
        return None;
    }
    let selector = Selector::for_service(service)?;
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let name = service.metadata.name.as_deref().unwrap_or("");
    let pods: Vec<&Pod> = store
        .list(Kind::Pod, Some(namespace), &selector)
        .into_iter()
        .filter_map(|o| o.downcast_ref::<Pod>())
        .collect();
    let mut subsets = desired_subsets(service, &pods);
    let truncated = truncate(&mut subsets);
    let labels = desired_labels(service);
    let current = store.get_as::<Endpoints>(namespace, name);
    if let Some(cur) = current {
        // Compared after truncation (upstream compares before and rewrites an over-capacity
        // object on every sync; the API server then drops the no-op write).
        let annotated = cur
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_OVER_CAPACITY))
            .is_some_and(|v| v == "truncated");
        if normalized(cur.subsets.as_deref().unwrap_or_default()) == normalized(&subsets)
            && cur.metadata.labels.clone().unwrap_or_default() == labels
            && annotated == truncated
        {
            return None;
        }
    }
    let mut annotations = current
        .and_then(|c| c.metadata.annotations.clone())
        .unwrap_or_default();
    annotations.remove(ANNOTATION_TRIGGER_TIME);
    if truncated {
        annotations.insert(ANNOTATION_OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(ANNOTATION_OVER_CAPACITY);
    }
    let mut endpoints = current.cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    });
    endpoints.subsets = (!subsets.is_empty()).then_some(subsets);
    endpoints.metadata.labels = Some(labels);
    endpoints.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    Some(if current.is_some() {
        Change::Update(endpoints.into())
    } else {
        Change::Create(endpoints.into())
    })
}

/// One pass over every Service and Endpoints: the writes that bring Endpoints in line, in key
/// order. Applying them and reconciling again yields nothing.
pub fn reconcile(store: &Store) -> Vec<Change> {
    let mut changes: Vec<Change> = store
        .list_as::<Service>(None)
        .filter_map(|svc| sync_service(store, svc))
        .collect();
    // checkLeftoverEndpoints + the Service-deleted branch of syncService.
    for ep in store.list_as::<Endpoints>(None) {
        let ns = ep.metadata.namespace.as_deref().unwrap_or("");
        let name = ep.metadata.name.as_deref().unwrap_or("");
        let leader = ep
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ANNOTATION_LEADER));
        if !leader && store.get_as::<Service>(ns, name).is_none() {
            changes.push(Change::Delete(ObjectKey::new(Kind::Endpoints, ns, name)));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::testutil::*;
    use crate::object::Object;
    use k8s_openapi::api::core::v1::ContainerPort;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use sim_core::{SimDuration, SimTime};

    fn endpoints_of(store: &Store, name: &str) -> Endpoints {
        store
            .get_as::<Endpoints>("default", name)
            .expect("endpoints exist")
            .clone()
    }

    fn ips(addrs: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        addrs.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    fn reconciled(objects: Vec<Object>) -> Store {
        let mut store = store_with(objects);
        let changes = reconcile(&store);
        apply(&mut store, changes);
        assert_eq!(reconcile(&store), vec![], "a second pass changes nothing");
        store
    }

    // TestSyncEndpointsItemsPreexisting / TestSyncEndpointsItemsWithLabels and friends in
    // endpoints_controller_test.go: ready pods are addresses, unready ones notReadyAddresses,
    // IP-less and finished pods nowhere.
    #[test]
    fn ready_not_ready_and_ineligible_pods() {
        let mut done = pod("done", "web", "n1", &["10.0.0.9"], true);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let store = reconciled(vec![
            service("web", "web").into(),
            pod("b", "web", "n1", &["10.0.0.2"], true).into(),
            pod("a", "web", "n1", &["10.0.0.10"], true).into(),
            pod("c", "web", "n2", &["10.0.0.3"], false).into(),
            pod("no-ip", "web", "n2", &[], true).into(),
            done.into(),
            pod("other", "api", "n1", &["10.0.0.4"], true).into(),
        ]);
        let ep = endpoints_of(&store, "web");
        let subsets = ep.subsets.as_ref().unwrap();
        assert_eq!(subsets.len(), 1);
        // Sorted by IP bytes, as LessEndpointAddress does: "10.0.0.10" < "10.0.0.2".
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.10", "10.0.0.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.0.0.3"]);
        let port = &subsets[0].ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.port, port.protocol.as_deref()),
            (Some("http"), 8080, Some("TCP"))
        );
        let a = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(a.node_name.as_deref(), Some("n1"));
        let r = a.target_ref.as_ref().unwrap();
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref(), r.namespace.as_deref()),
            (Some("Pod"), Some("a"), Some("default"))
        );
        assert!(r.uid.is_some());
        assert_eq!(
            ep.metadata.labels.unwrap(),
            labels(&[
                ("app", "web"),
                ("endpoints.kubernetes.io/managed-by", "endpoint-controller")
            ])
        );
    }

    // TestSyncEndpointsItemsPreexistingLabelsChange / terminating handling: a terminating pod
    // is dropped unless the Service publishes not-ready addresses, and then it is "ready".
    #[test]
    fn terminating_pods_and_publish_not_ready_addresses() {
        let mut gone = pod("gone", "web", "n1", &["10.0.0.5"], true);
        gone.spec.as_mut().unwrap().node_name = Some("n1".into());
        let mut store = store_with(vec![
            service("web", "web").into(),
            pod("a", "web", "n1", &["10.0.0.1"], true).into(),
            gone.into(),
            pod("slow", "web", "n1", &["10.0.0.6"], false).into(),
        ]);
        store
            .delete(T0, &ObjectKey::new(Kind::Pod, "default", "gone"), Some(30))
            .unwrap();
        let changes = reconcile(&store);
        apply(&mut store, changes);
        let s = endpoints_of(&store, "web").subsets.unwrap();
        assert_eq!(ips(&s[0].addresses), ["10.0.0.1"]);
        assert_eq!(ips(&s[0].not_ready_addresses), ["10.0.0.6"]);

        let mut svc = store.get_as::<Service>("default", "web").unwrap().clone();
        svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        store.update(T0, svc.into()).unwrap();
        let changes = reconcile(&store);
        assert!(matches!(changes.as_slice(), [Change::Update(_)]));
        apply(&mut store, changes);
        let s = endpoints_of(&store, "web").subsets.unwrap();
        assert_eq!(ips(&s[0].addresses), ["10.0.0.1", "10.0.0.5", "10.0.0.6"]);
        assert_eq!(s[0].not_ready_addresses, None);
        assert_eq!(reconcile(&store), vec![]);
    }

    // TestSyncEndpointsMultiplePortsItems / FindPort: a pod without the named port is left
    // out of that port only, so the subsets split.
    #[test]
    fn pods_lacking_a_named_port_are_skipped_for_that_port() {
        let mut svc = service("web", "web");
        svc.spec.as_mut().unwrap().ports = Some(vec![
            service_port("http", 80, IntOrString::String("http".into())),
            service_port("metrics", 9090, IntOrString::String("metrics".into())),
        ]);
        let mut with_metrics = pod("a", "web", "n1", &["10.0.0.1"], true);
        with_metrics.spec.as_mut().unwrap().containers[0]
            .ports
            .as_mut()
            .unwrap()
            .push(ContainerPort {
                name: Some("metrics".into()),
                container_port: 9100,
                ..Default::default()
            });
        let store = reconciled(vec![
            svc.into(),
            with_metrics.into(),
            pod("b", "web", "n1", &["10.0.0.2"], true).into(),
        ]);
        let s = endpoints_of(&store, "web").subsets.unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(ips(&s[0].addresses), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(s[0].ports.as_ref().unwrap()[0].port, 8080);
        assert_eq!(ips(&s[1].addresses), ["10.0.0.1"]);
        let metrics = &s[1].ports.as_ref().unwrap()[0];
        assert_eq!(
            (metrics.name.as_deref(), metrics.port),
            (Some("metrics"), 9100)
        );
    }

    // TestPodToEndpointAddressForService hostname cases and the headless-without-ports case
    // ("Allow headless service not to have ports").
    #[test]
    fn headless_hostnames_and_no_ports() {
        let mut svc = service("db", "db");
        let spec = svc.spec.as_mut().unwrap();
        spec.cluster_ip = Some("None".into());
        spec.ports = None;
        let mut db0 = pod("db-0", "db", "n1", &["10.0.0.7"], true);
        let ps = db0.spec.as_mut().unwrap();
        ps.hostname = Some("db-0".into());
        ps.subdomain = Some("db".into());
        let mut other = pod("db-x", "db", "n1", &["10.0.0.8"], true);
        other.spec.as_mut().unwrap().hostname = Some("db-x".into());
        let store = reconciled(vec![svc.into(), db0.into(), other.into()]);
        let ep = endpoints_of(&store, "db");
        let s = ep.subsets.as_ref().unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].ports, None);
        let addrs = s[0].addresses.as_ref().unwrap();
        assert_eq!(addrs[0].hostname.as_deref(), Some("db-0"));
        assert_eq!(
            addrs[1].hostname, None,
            "subdomain does not name the Service"
        );
        assert_eq!(
            ep.metadata
                .labels
                .as_ref()
                .unwrap()
                .get(LABEL_HEADLESS)
                .map(String::as_str),
            Some("")
        );
    }

    // TestSyncEndpointsWithoutSelector / ExternalName (issue 105986) / TestCheckLeftoverEndpoints.
    #[test]
    fn manual_external_name_and_orphaned_endpoints() {
        let mut manual = service("manual", "x");
        manual.spec.as_mut().unwrap().selector = None;
        let mut ext = service("ext", "x");
        ext.spec.as_mut().unwrap().type_ = Some("ExternalName".into());
        let hand_written = Endpoints {
            metadata: ObjectMeta {
                name: Some("manual".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            subsets: Some(vec![EndpointSubset {
                addresses: Some(vec![EndpointAddress {
                    ip: "192.0.2.1".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
        };
        let orphan = Endpoints {
            metadata: ObjectMeta {
                name: Some("orphan".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut leader = orphan.clone();
        leader.metadata.name = Some("kube-scheduler".into());
        leader.metadata.annotations = Some(labels(&[(ANNOTATION_LEADER, "{}")]));
        let store = store_with(vec![
            manual.into(),
            ext.into(),
            hand_written.into(),
            orphan.into(),
            leader.into(),
            pod("p", "x", "n1", &["10.0.0.1"], true).into(),
        ]);
        assert_eq!(
            reconcile(&store),
            vec![Change::Delete(ObjectKey::new(
                Kind::Endpoints,
                "default",
                "orphan"
            ))]
        );
    }

    #[test]
    fn readiness_change_updates_and_stale_writes_conflict() {
        let mut store = reconciled(vec![
            service("web", "web").into(),
            pod("a", "web", "n1", &["10.0.0.1"], false).into(),
        ]);
        let mut p = store.get_as::<Pod>("default", "a").unwrap().clone();
        let now = store.time_at(SimTime::ZERO + SimDuration::from_secs(5));
        crate::controller::pod_readiness::set_container_ready(&mut p, "app", true, &now);
        let changes_before = reconcile(&store);
        assert_eq!(changes_before, vec![]);
        store.update(T0, p.into()).unwrap();
        let changes = reconcile(&store);
        let [Change::Update(Object::Endpoints(ep))] = changes.as_slice() else {
            panic!("one Endpoints update expected: {changes:?}");
        };
        assert_eq!(
            ips(&ep.subsets.as_ref().unwrap()[0].addresses),
            ["10.0.0.1"]
        );
        // The write names the resourceVersion it read: it conflicts if the object moved on.
        let mut moved = endpoints_of(&store, "web");
        moved.metadata.annotations = Some(labels(&[("x", "y")]));
        moved.metadata.resource_version = None;
        store.update(T0, moved.into()).unwrap();
        let err = store.apply_changes(T0, changes).unwrap_err();
        assert!(matches!(err, crate::store::StoreError::Conflict { .. }));
    }

    // TestTruncateEndpoints: over 1000 addresses, ready ones are kept first.
    #[test]
    fn truncates_at_one_thousand_addresses() {
        let mut objects: Vec<Object> = vec![service("big", "big").into()];
        for i in 0..1002u32 {
            let ip = format!("10.1.{}.{}", i / 250, i % 250 + 1);
            objects.push(pod(&format!("p{i}"), "big", "n1", &[ip.as_str()], i >= 2).into());
        }
        let store = reconciled(objects);
        let ep = endpoints_of(&store, "big");
        let s = ep.subsets.as_ref().unwrap();
        let ready: usize = s
            .iter()
            .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
            .sum();
        let not_ready: usize = s
            .iter()
            .map(|s| s.not_ready_addresses.as_ref().map_or(0, Vec::len))
            .sum();
        assert_eq!((ready, not_ready), (1000, 0));
        assert_eq!(
            ep.metadata
                .annotations
                .as_ref()
                .unwrap()
                .get(ANNOTATION_OVER_CAPACITY)
                .map(String::as_str),
            Some("truncated")
        );
    }
}
