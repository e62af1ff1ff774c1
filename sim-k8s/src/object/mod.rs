//! # API objects
//!
//! The typed Kubernetes objects the simulator stores — k8s-openapi's types for Kubernetes 1.35
//! (`v1_35`) — behind one [`Object`] enum, with the identity ([`Kind`], [`ObjectKey`]), the
//! name rules ([`name`]) and the defaulting the API server applies on write ([`defaults`]).
//!
//! | kind | group/version |
//! | --- | --- |
//! | Namespace, Node, ConfigMap, Pod, Service, Endpoints | `v1` |
//! | EndpointSlice | `discovery.k8s.io/v1` |
//! | Deployment, ReplicaSet, StatefulSet, DaemonSet | `apps/v1` |
//! | NetworkPolicy | `networking.k8s.io/v1` |
//!
//! Not modelled: other kinds (Secrets, Ingress, CRDs), subresources (status is written with the
//! object), server-side apply field ownership.

pub mod defaults;
pub mod key;
pub mod kind;
pub mod name;
pub mod protocol;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::Serialize;

pub use key::ObjectKey;
pub use kind::Kind;

/// One stored object of any kind we model.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    Namespace(Namespace),
    Node(Node),
    ConfigMap(ConfigMap),
    Pod(Pod),
    Service(Service),
    Endpoints(Endpoints),
    EndpointSlice(EndpointSlice),
    Deployment(Deployment),
    ReplicaSet(ReplicaSet),
    StatefulSet(StatefulSet),
    DaemonSet(DaemonSet),
    NetworkPolicy(NetworkPolicy),
}

macro_rules! each_object {
    ($obj:expr, $o:ident => $e:expr) => {
        match $obj {
            Object::Namespace($o) => $e,
            Object::Node($o) => $e,
            Object::ConfigMap($o) => $e,
            Object::Pod($o) => $e,
            Object::Service($o) => $e,
            Object::Endpoints($o) => $e,
            Object::EndpointSlice($o) => $e,
            Object::Deployment($o) => $e,
            Object::ReplicaSet($o) => $e,
            Object::StatefulSet($o) => $e,
            Object::DaemonSet($o) => $e,
            Object::NetworkPolicy($o) => $e,
        }
    };
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Namespace(_) => Kind::Namespace,
            Object::Node(_) => Kind::Node,
            Object::ConfigMap(_) => Kind::ConfigMap,
            Object::Pod(_) => Kind::Pod,
            Object::Service(_) => Kind::Service,
            Object::Endpoints(_) => Kind::Endpoints,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Deployment(_) => Kind::Deployment,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::StatefulSet(_) => Kind::StatefulSet,
            Object::DaemonSet(_) => Kind::DaemonSet,
            Object::NetworkPolicy(_) => Kind::NetworkPolicy,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        each_object!(self, o => o.metadata())
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each_object!(self, o => o.metadata_mut())
    }

    /// `metadata.name`, or `""` if unset.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// `metadata.namespace`, or `""` if unset (always `""` for cluster-scoped kinds once stored).
    pub fn namespace(&self) -> &str {
        self.metadata().namespace.as_deref().unwrap_or("")
    }

    /// The object's key as it stands (namespace as set, even if empty).
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.kind(), self.namespace(), self.name())
    }

    /// `metadata.labels`, empty if unset.
    pub fn labels(&self) -> &std::collections::BTreeMap<String, String> {
        static EMPTY: std::collections::BTreeMap<String, String> =
            std::collections::BTreeMap::new();
        self.metadata().labels.as_ref().unwrap_or(&EMPTY)
    }

    /// The object as JSON, with `apiVersion` and `kind`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("k8s-openapi objects always serialize")
    }

    /// Borrows the typed object if it is a `T`.
    pub fn downcast_ref<T: Typed>(&self) -> Option<&T> {
        T::from_object(self)
    }
}

/// A k8s-openapi type the store holds, with the conversions to and from [`Object`].
pub trait Typed: Resource + Metadata<Ty = ObjectMeta> + Clone + Sized + 'static {
    const OBJECT_KIND: Kind;
    fn from_object(object: &Object) -> Option<&Self>;
    fn from_object_mut(object: &mut Object) -> Option<&mut Self>;
    fn into_object(self) -> Object;
}

macro_rules! typed {
    ($($t:ident),*) => {$(
        impl Typed for $t {
            const OBJECT_KIND: Kind = Kind::$t;
            fn from_object(object: &Object) -> Option<&Self> {
                match object {
                    Object::$t(o) => Some(o),
                    _ => None,
                }
            }
            fn from_object_mut(object: &mut Object) -> Option<&mut Self> {
                match object {
                    Object::$t(o) => Some(o),
                    _ => None,
                }
            }
            fn into_object(self) -> Object {
                Object::$t(self)
            }
        }
        impl From<$t> for Object {
            fn from(o: $t) -> Object {
                Object::$t(o)
            }
        }
    )*};
}

typed!(
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
    NetworkPolicy
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_serializes_with_type_meta() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web-0".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let obj = Object::from(pod);
        assert_eq!(obj.kind(), Kind::Pod);
        assert_eq!(obj.key(), ObjectKey::new(Kind::Pod, "default", "web-0"));
        assert_eq!(
            obj.to_json(),
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web-0", "namespace": "default"}
            })
        );
        assert!(obj.downcast_ref::<Pod>().is_some());
        assert!(obj.downcast_ref::<Service>().is_none());
    }
}
