//! [`PolicyView`]: the read-only slice of the cluster NetworkPolicy depends on — namespaces
//! with their labels, pods with labels, address, node, container ports and `hostNetwork`,
//! nodes with their addresses, and the compiled policies — built from stored objects.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Pod;

use super::error::PolicyError;
use super::spec::{NamespaceScope, Peer, Policy, Protocol};
use crate::cluster::internal_ip;
use crate::object::Object;
use crate::store::Store;

/// The label the API server puts on every namespace, valued with its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A container port a named policy port can resolve to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

/// A pod as policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `status.podIP` (a hostNetwork pod's is its node's).
    pub ip: Option<Ipv4Addr>,
    /// `spec.nodeName`.
    pub node: Option<String>,
    pub host_network: bool,
    /// Every container's ports (init containers too, as named-port lookup does upstream).
    pub ports: Vec<ContainerPort>,
}

impl PodInfo {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The container port named `name` for `protocol`, if the pod has one.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.protocol == protocol && p.name.as_deref() == Some(name))
            .map(|p| p.port)
    }
}

/// The cluster as NetworkPolicy reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyView {
    /// Namespace name → labels.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// `namespace/name` → pod. Pods that finished (Succeeded, Failed) are left out.
    pub pods: BTreeMap<String, PodInfo>,
    /// Node name → InternalIP.
    pub nodes: BTreeMap<String, Ipv4Addr>,
    /// By `namespace/name`.
    pub policies: Vec<Policy>,
}

impl PolicyView {
    /// The view of what `store` holds.
    pub fn from_store(store: &Store) -> Result<PolicyView, PolicyError> {
        PolicyView::from_objects(store.iter())
    }

    /// The view of `objects` (other kinds are ignored). Every namespace carries the
    /// immutable label `kubernetes.io/metadata.name` with its name, as the API server sets it
    /// (`NamespaceDefaultLabelName`, GA in 1.22) — policies select namespaces by it — including
    /// namespaces that pods or policies use without a Namespace object.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a Object>,
    ) -> Result<PolicyView, PolicyError> {
        let mut view = PolicyView::default();
        let mut pods: Vec<&Pod> = Vec::new();
        for o in objects {
            match o {
                Object::Namespace(_) => {
                    view.namespaces
                        .insert(o.name().to_string(), o.labels().clone());
                }
                Object::Node(n) => {
                    if let Some(ip) = internal_ip(n) {
                        view.nodes.insert(o.name().to_string(), ip);
                    }
                }
                Object::Pod(p) => pods.push(p),
                Object::NetworkPolicy(np) => view.policies.push(Policy::compile(np)?),
                _ => {}
            }
        }
        for p in pods {
            let info = view.pod_info(p);
            if let Some(info) = info {
                view.namespaces.entry(info.namespace.clone()).or_default();
                view.pods.insert(info.key(), info);
            }
        }
        for p in &view.policies {
            view.namespaces.entry(p.namespace.clone()).or_default();
        }
        for (name, labels) in view.namespaces.iter_mut() {
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
        }
        view.policies.sort_by_key(Policy::key);
        Ok(view)
    }

    fn pod_info(&self, p: &Pod) -> Option<PodInfo> {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            return None;
        }
        let spec = p.spec.clone().unwrap_or_default();
        let host_network = spec.host_network.unwrap_or(false);
        let node = spec.node_name.clone();
        let ip = p
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok())
            .or_else(|| {
                host_network
                    .then(|| node.as_ref().and_then(|n| self.nodes.get(n)).copied())
                    .flatten()
            });
        let mut ports = Vec::new();
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            for cp in c.ports.iter().flatten() {
                let protocol = Protocol::parse(cp.protocol.as_deref().unwrap_or("TCP"));
                if let (Some(protocol), Ok(port)) = (protocol, u16::try_from(cp.container_port)) {
                    ports.push(ContainerPort {
                        name: cp.name.clone(),
                        port,
                        protocol,
                    });
                }
            }
        }
        Some(PodInfo {
            namespace: p
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: p.metadata.name.clone().unwrap_or_default(),
            labels: p.metadata.labels.clone().unwrap_or_default(),
            ip,
            node,
            host_network,
            ports,
        })
    }

    /// The pod `namespace/name`.
    pub fn pod(&self, key: &str) -> Result<&PodInfo, PolicyError> {
        self.pods
            .get(key)
            .ok_or_else(|| PolicyError::UnknownPod(key.to_string()))
    }

    /// The labels of namespace `ns` (empty if unknown).
    pub fn namespace_labels(&self, ns: &str) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.namespaces.get(ns).unwrap_or(&EMPTY)
    }

    /// Whether `policy` applies to `pod`: same namespace, podSelector matches. hostNetwork
    /// pods are never selected (they are node traffic, see the module docs).
    pub fn selects(&self, policy: &Policy, pod: &PodInfo) -> bool {
        !pod.host_network
            && pod.namespace == policy.namespace
            && policy.pod_selector.matches(&pod.labels)
    }

    /// Whether the selector `peer` takes in `pod` (always false for ipBlocks and hostNetwork
    /// pods).
    pub fn peer_selects(&self, peer: &Peer, pod: &PodInfo) -> bool {
        let Peer::Pods { namespaces, pods } = peer else {
            return false;
        };
        let ns_ok = match namespaces {
            NamespaceScope::Own(ns) => &pod.namespace == ns,
            NamespaceScope::Selected(sel) => sel.matches(self.namespace_labels(&pod.namespace)),
        };
        !pod.host_network && ns_ok && pods.matches(&pod.labels)
    }

    /// The non-hostNetwork pod with address `ip`, if any.
    pub fn pod_by_ip(&self, ip: Ipv4Addr) -> Option<&PodInfo> {
        self.pods
            .values()
            .find(|p| !p.host_network && p.ip == Some(ip))
    }

    /// The node whose address is `ip`, if any.
    pub fn node_by_ip(&self, ip: Ipv4Addr) -> Option<&str> {
        self.nodes
            .iter()
            .find(|(_, a)| **a == ip)
            .map(|(n, _)| n.as_str())
    }
}
