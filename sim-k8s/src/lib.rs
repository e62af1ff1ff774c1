//! # sim-k8s — the Kubernetes layer
//!
//! API objects, controllers, kubelet, CNI plugins, kube-proxy, DNS and NetworkPolicy, as state
//! machines that program sim-net (DESIGN.md §5). Kubernetes semantics follow upstream 1.35.
//!
//! | module | holds |
//! | --- | --- |
//! | [`cluster`] | a running cluster from manifests: store, controllers, nodes and pods plumbed into sim-net (kubenet), the DNS add-on and pods' lookups through the dataplane |
//! | [`manifest`] | loading `kubectl apply -f`-style YAML/JSON into typed objects, with file:line:column errors |
//! | [`object`] | [`Object`]: the typed kinds we store, their [`Kind`] and [`ObjectKey`], name rules, API-server defaults |
//! | [`config`] | `KubeletConfiguration` and `KubeProxyConfiguration` files |
//! | [`selector`] | label selectors: `LabelSelector`, Service selectors, the `-l` string form |
//! | [`store`] | [`Store`]: objects with resourceVersions, create/update/delete, watches delivered with a lag |
//! | [`controller`] | pod readiness, the Endpoints and EndpointSlice controllers, node IPAM |
//! | [`dns`] | cluster DNS: the Kubernetes DNS specification's records, a CoreDNS-style plugin chain from a Corefile, a sans-IO server and stub resolver |
//! | [`kubelet`] | `/etc/hosts` and `resolv.conf` as kubelet writes them; the pod sandbox |
//! | [`cni`] | CNI configs and plugins (bridge, host-local, loopback, portmap, bandwidth), kubenet's config |
//! | [`ipam`] | host-local's address allocator |
//! | [`policy`] | NetworkPolicy: the declarative oracle, the per-node iptables+ipset agent, truth tables |
//! | [`proxy`] | kube-proxy: Service ports, endpoints, topology, the iptables proxier's rules and syncs |

pub mod cluster;
pub mod cni;
pub mod config;
pub mod controller;
pub mod dns;
pub mod ipam;
pub mod kubelet;
pub mod manifest;
pub mod object;
pub mod policy;
pub mod proxy;
pub mod selector;
pub mod store;

pub use object::{Kind, Object, ObjectKey, Typed};
pub use selector::Selector;
pub use store::{Change, Store, StoreError};
