//! The API kinds the simulator stores, with their group/version, resource name and scope as
//! the Kubernetes API serves them (k8s-openapi's `Resource` constants, Kubernetes 1.35).

use std::fmt;

use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;

/// A kind the store holds. The declaration order is the order objects of different kinds are
/// listed in (cluster-scoped first, then the order `kubectl get all`-style tools print).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Node,
    ConfigMap,
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    NetworkPolicy,
}

macro_rules! per_kind {
    ($kind:expr, $t:ident => $e:expr) => {
        match $kind {
            Kind::Namespace => {
                type $t = Namespace;
                $e
            }
            Kind::Node => {
                type $t = Node;
                $e
            }
            Kind::ConfigMap => {
                type $t = ConfigMap;
                $e
            }
            Kind::Pod => {
                type $t = Pod;
                $e
            }
            Kind::Service => {
                type $t = Service;
                $e
            }
            Kind::Endpoints => {
                type $t = Endpoints;
                $e
            }
            Kind::EndpointSlice => {
                type $t = EndpointSlice;
                $e
            }
            Kind::Deployment => {
                type $t = Deployment;
                $e
            }
            Kind::ReplicaSet => {
                type $t = ReplicaSet;
                $e
            }
            Kind::StatefulSet => {
                type $t = StatefulSet;
                $e
            }
            Kind::DaemonSet => {
                type $t = DaemonSet;
                $e
            }
            Kind::NetworkPolicy => {
                type $t = NetworkPolicy;
                $e
            }
        }
    };
}

impl Kind {
    /// Every kind, in [`Kind`]'s order.
    pub const ALL: [Kind; 12] = [
        Kind::Namespace,
        Kind::Node,
        Kind::ConfigMap,
        Kind::Pod,
        Kind::Service,
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::NetworkPolicy,
    ];

    /// `apiVersion` as written in manifests: `v1`, `apps/v1`, `discovery.k8s.io/v1`.
    pub fn api_version(self) -> &'static str {
        per_kind!(self, T => <T as Resource>::API_VERSION)
    }

    /// `kind` as written in manifests: `Pod`, `EndpointSlice`.
    pub fn as_str(self) -> &'static str {
        per_kind!(self, T => <T as Resource>::KIND)
    }

    /// The API group (`""` for the core group).
    pub fn group(self) -> &'static str {
        per_kind!(self, T => <T as Resource>::GROUP)
    }

    /// The resource as the API server names it in messages: `pods`,
    /// `endpointslices.discovery.k8s.io`, `deployments.apps`.
    pub fn resource(self) -> String {
        let plural = per_kind!(self, T => <T as Resource>::URL_PATH_SEGMENT);
        match self.group() {
            "" => plural.to_owned(),
            group => format!("{plural}.{group}"),
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Namespace | Kind::Node)
    }

    /// The kind a manifest's `apiVersion`/`kind` pair names, if we model it.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.api_version() == api_version && k.as_str() == kind)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_meta_and_resources_match_the_api() {
        assert_eq!(Kind::from_type("v1", "Pod"), Some(Kind::Pod));
        assert_eq!(
            Kind::from_type("apps/v1", "Deployment"),
            Some(Kind::Deployment)
        );
        assert_eq!(
            Kind::from_type("discovery.k8s.io/v1", "EndpointSlice"),
            Some(Kind::EndpointSlice)
        );
        assert_eq!(
            Kind::from_type("networking.k8s.io/v1", "NetworkPolicy"),
            Some(Kind::NetworkPolicy)
        );
        assert_eq!(Kind::from_type("extensions/v1beta1", "Deployment"), None);
        assert_eq!(Kind::Pod.resource(), "pods");
        assert_eq!(Kind::Endpoints.resource(), "endpoints");
        assert_eq!(
            Kind::EndpointSlice.resource(),
            "endpointslices.discovery.k8s.io"
        );
        assert_eq!(Kind::Deployment.resource(), "deployments.apps");
        assert!(!Kind::Node.namespaced());
        assert!(Kind::ConfigMap.namespaced());
    }
}
