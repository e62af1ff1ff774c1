//! [`DnsView`]: the read-only picture of the cluster the DNS engine answers from — what
//! CoreDNS's `kubernetes` plugin keeps in its informer caches (`plugin/kubernetes/object/`):
//! Services, their EndpointSlices flattened into endpoints, Pods with their IPs, Namespaces.
//!
//! Built from a [`Store`] by [`DnsView::from_store`], or by hand in tests. The engine depends
//! only on this view, not on how the store iterates.
//!
//! Modelled after CoreDNS `object/service.go`, `object/endpoint.go`, `object/pod.go`:
//! * a Service is headless when `spec.clusterIP` is `None`; `spec.clusterIPs` (or
//!   `spec.clusterIP`) give the ClusterIP addresses; type `ExternalName` gives a CNAME target;
//! * EndpointSlices (`discovery.k8s.io/v1`) belong to the Service named by their
//!   `kubernetes.io/service-name` label; an endpoint is ready unless `conditions.ready` is
//!   `false` (unset counts as ready, as in `EndpointSliceToEndpoints`);
//! * a Pod is indexed by its `status.podIPs` (or `status.podIP`); pods being deleted are left
//!   out, as CoreDNS's pod cache drops them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::store::Store;

/// The label an EndpointSlice names its Service with (`discovery.LabelServiceName`).
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// How a Service answers for its own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// ClusterIP (also NodePort, LoadBalancer): the `spec.clusterIPs`.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: the ready endpoints answer.
    Headless,
    /// `type: ExternalName`: a CNAME to `spec.externalName`.
    ExternalName(String),
}

/// A Service or EndpointSlice port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    /// `name`, empty when unnamed.
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    pub port: u16,
}

/// One endpoint of an EndpointSlice, with the slice's ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    pub addresses: Vec<IpAddr>,
    /// `hostname` (set by the EndpointSlice controller from pod hostname/subdomain).
    pub hostname: Option<String>,
    /// `targetRef.name` when it refers to a Pod (for `endpoint_pod_names`).
    pub pod_name: Option<String>,
    pub ready: bool,
    pub ports: Vec<PortView>,
}

/// A Service and its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    pub namespace: String,
    pub name: String,
    pub kind: ServiceKind,
    pub ports: Vec<PortView>,
    pub endpoints: Vec<EndpointView>,
}

/// A Pod with addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub namespace: String,
    pub name: String,
    pub ips: Vec<IpAddr>,
}

/// What the DNS engine reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsView {
    pub namespaces: BTreeSet<String>,
    /// Keyed by `(namespace, name)`.
    pub services: BTreeMap<(String, String), ServiceView>,
    pub pods: Vec<PodView>,
    /// The SOA serial: CoreDNS uses the time of the last informer change; we use the store's
    /// resourceVersion (truncated), which moves exactly when the data may have changed.
    pub serial: u32,
}

impl DnsView {
    /// The view of the objects in `store` now.
    pub fn from_store(store: &Store) -> DnsView {
        let mut view = DnsView {
            serial: store.resource_version() as u32,
            ..DnsView::default()
        };
        for ns in store.list_as::<Namespace>(None) {
            if let Some(name) = &ns.metadata.name {
                view.namespaces.insert(name.clone());
            }
        }
        for svc in store.list_as::<Service>(None) {
            if let Some(s) = service_view(svc) {
                view.services
                    .insert((s.namespace.clone(), s.name.clone()), s);
            }
        }
        for slice in store.list_as::<EndpointSlice>(None) {
            let ns = slice.metadata.namespace.clone().unwrap_or_default();
            let Some(svc_name) = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_SERVICE_NAME))
            else {
                continue;
            };
            if let Some(svc) = view.services.get_mut(&(ns, svc_name.clone())) {
                svc.endpoints.extend(endpoint_views(slice));
            }
        }
        for pod in store.list_as::<Pod>(None) {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let ips = pod_ips(pod);
            if !ips.is_empty() {
                view.pods.push(PodView {
                    namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                    name: pod.metadata.name.clone().unwrap_or_default(),
                    ips,
                });
            }
        }
        view
    }

    /// The Service `namespace/name`, compared case-insensitively.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceView> {
        self.services
            .get(&(namespace.to_ascii_lowercase(), name.to_ascii_lowercase()))
    }

    /// Whether the namespace exists (case-insensitive).
    pub fn namespace_exists(&self, namespace: &str) -> bool {
        self.namespaces.contains(&namespace.to_ascii_lowercase())
    }
}

fn service_view(svc: &Service) -> Option<ServiceView> {
    let spec = svc.spec.as_ref()?;
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        ServiceKind::ExternalName(spec.external_name.clone().unwrap_or_default())
    } else if spec.cluster_ip.as_deref() == Some("None") {
        ServiceKind::Headless
    } else {
        let ips = match &spec.cluster_ips {
            Some(ips) if !ips.is_empty() => ips.clone(),
            _ => spec.cluster_ip.iter().cloned().collect(),
        };
        ServiceKind::ClusterIp(ips.iter().filter_map(|ip| ip.parse().ok()).collect())
    };
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| port_view(p.name.as_ref(), p.protocol.as_ref(), Some(p.port)))
        .collect();
    Some(ServiceView {
        namespace: svc.metadata.namespace.clone().unwrap_or_default(),
        name: svc.metadata.name.clone().unwrap_or_default(),
        kind,
        ports,
        endpoints: Vec::new(),
    })
}

/// A Service or EndpointSlice port: unset name and protocol are the API defaults (`""`,
/// TCP); a port without a number or outside 0..=65535 is none.
fn port_view(
    name: Option<&String>,
    protocol: Option<&String>,
    port: Option<i32>,
) -> Option<PortView> {
    Some(PortView {
        name: name.cloned().unwrap_or_default(),
        protocol: protocol.cloned().unwrap_or_else(|| "TCP".into()),
        port: u16::try_from(port?).ok()?,
    })
}

fn endpoint_views(slice: &EndpointSlice) -> impl Iterator<Item = EndpointView> + '_ {
    let ports: Vec<PortView> = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| port_view(p.name.as_ref(), p.protocol.as_ref(), p.port))
        .collect();
    slice.endpoints.iter().map(move |e| EndpointView {
        addresses: e.addresses.iter().filter_map(|a| a.parse().ok()).collect(),
        hostname: e.hostname.clone(),
        pod_name: e
            .target_ref
            .as_ref()
            .filter(|r| r.kind.as_deref() == Some("Pod"))
            .and_then(|r| r.name.clone()),
        ready: e.conditions.as_ref().and_then(|c| c.ready) != Some(false),
        ports: ports.clone(),
    })
}

fn pod_ips(pod: &Pod) -> Vec<IpAddr> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    match &status.pod_ips {
        Some(ips) if !ips.is_empty() => ips.iter().filter_map(|p| p.ip.parse().ok()).collect(),
        _ => status
            .pod_ip
            .iter()
            .filter_map(|ip| ip.parse().ok())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use sim_core::SimTime;

    use super::*;
    use crate::manifest::{LoadOptions, load_str};

    const OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  clusterIPs: [10.96.0.20]
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: None, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: db.example.com}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-abc
  namespace: default
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
ports: [{name: "", port: 5432, protocol: TCP}]
endpoints:
- addresses: [10.244.0.5]
  hostname: db-0
  conditions: {ready: true}
  targetRef: {kind: Pod, name: db-0, namespace: default}
- addresses: [10.244.0.6]
  conditions: {ready: false}
- addresses: [10.244.0.7]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {containers: [{name: c, image: busybox}]}
status: {podIP: 10.244.1.9, podIPs: [{ip: 10.244.1.9}]}
"#;

    #[test]
    fn built_from_the_store() {
        let manifests = load_str("t.yaml", OBJECTS, &LoadOptions::default()).unwrap();
        let mut store = Store::new();
        for o in manifests.objects() {
            store.create(SimTime::ZERO, o.clone()).unwrap();
        }
        let view = DnsView::from_store(&store);
        assert!(view.namespace_exists("kube-system"));
        let web = view.service("default", "WEB").unwrap();
        assert_eq!(
            web.kind,
            ServiceKind::ClusterIp(vec!["10.96.0.20".parse().unwrap()])
        );
        assert_eq!(web.ports[0].name, "http");
        let db = view.service("default", "db").unwrap();
        assert_eq!(db.kind, ServiceKind::Headless);
        let ready: Vec<(String, bool, Option<String>)> = db
            .endpoints
            .iter()
            .map(|e| (e.addresses[0].to_string(), e.ready, e.pod_name.clone()))
            .collect();
        assert_eq!(
            ready,
            [
                ("10.244.0.5".into(), true, Some("db-0".into())),
                ("10.244.0.6".into(), false, None),
                // Unset `ready` counts as ready (CoreDNS EndpointSliceToEndpoints).
                ("10.244.0.7".into(), true, None),
            ]
        );
        assert_eq!(db.endpoints[0].hostname.as_deref(), Some("db-0"));
        assert_eq!(
            view.service("default", "ext").unwrap().kind,
            ServiceKind::ExternalName("db.example.com".into())
        );
        assert_eq!(view.pods.len(), 1);
        assert_eq!(view.pods[0].ips, ["10.244.1.9".parse::<IpAddr>().unwrap()]);
        assert_eq!(view.serial, store.resource_version() as u32);
    }
}
