//! Builders for controller tests: pods, Services and Nodes as a cluster would hold them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, ContainerStatus, Node, Pod, PodIP, PodSpec, PodStatus, Service,
    ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sim_core::SimTime;

use crate::object::Object;
use crate::store::{Change, Store};

pub const T0: SimTime = SimTime::ZERO;

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A running pod of `app`, on `node`, with IPs `ips`, one container `app` with port `http`
/// 8080/TCP, ready or not.
pub fn pod(name: &str, app: &str, node: &str, ips: &[&str], ready: bool) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            labels: Some(labels(&[("app", app)])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: (!node.is_empty()).then(|| node.to_owned()),
            containers: vec![Container {
                name: "app".into(),
                ports: Some(vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: 8080,
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: ips.first().map(|s| (*s).to_owned()),
            pod_ips: (!ips.is_empty())
                .then(|| ips.iter().map(|ip| PodIP { ip: (*ip).into() }).collect()),
            container_statuses: Some(vec![ContainerStatus {
                name: "app".into(),
                ready,
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

pub fn service_port(name: &str, port: i32, target: IntOrString) -> ServicePort {
    ServicePort {
        name: (!name.is_empty()).then(|| name.to_owned()),
        port,
        target_port: Some(target),
        ..Default::default()
    }
}

/// A ClusterIP Service selecting `app`, with port `http` 80 → `http`.
pub fn service(name: &str, app: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            labels: Some(labels(&[("app", app)])),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("10.96.0.20".into()),
            ip_families: Some(vec!["IPv4".into()]),
            selector: Some(labels(&[("app", app)])),
            ports: Some(vec![service_port(
                "http",
                80,
                IntOrString::String("http".into()),
            )]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn node(name: &str, zone: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: (!zone.is_empty()).then(|| labels(&[("topology.kubernetes.io/zone", zone)])),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A store holding `objects`, created in order.
pub fn store_with(objects: impl IntoIterator<Item = Object>) -> Store {
    let mut store = Store::new();
    for o in objects {
        store.create(T0, o).expect("test object is valid");
    }
    store
}

/// Applies `changes`, panicking on a refusal.
pub fn apply(store: &mut Store, changes: Vec<Change>) {
    store
        .apply_changes(T0, changes)
        .expect("controller writes apply");
}
