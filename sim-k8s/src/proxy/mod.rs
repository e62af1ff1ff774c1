//! kube-proxy (Kubernetes 1.35), iptables mode (DESIGN.md §5).
//!
//! | module | holds | upstream |
//! | --- | --- | --- |
//! | [`service_port`] | a Service port as the proxy sees it; which Services it skips | `pkg/proxy/serviceport.go`, `service.go` |
//! | [`endpoint`] | EndpointSlices folded into per-port endpoint lists | `pkg/proxy/endpointslicecache.go`, `endpoint.go` |
//! | [`topology`] | Cluster/Local endpoint selection, topology hints, terminating fallback | `pkg/proxy/topology.go` |
//! | [`local_detector`] | `detectLocalMode`: what counts as pod traffic | `pkg/proxy/util/localdetector.go` |
//! | [`node_port_addresses`] | `nodePortAddresses` | `pkg/proxy/util/nodeport_addresses.go` |
//! | [`chain_name`] | the hashed `KUBE-SVC-`/`SVL-`/`EXT-`/`FW-`/`SEP-` names | `pkg/proxy/iptables/proxier.go` |
//! | `chain_set` | a set of chain names for fast membership tests | — |
//! | [`service_rules`] | one Service port's share of a sync's rules | `syncProxyRules`' per-Service loop |
//! | [`iptables`] | one sync's `iptables-restore` text | `syncProxyRules` |
//! | [`change_tracker`] | per-Service changes since the last sync, applied in place | `pkg/proxy/servicechangetracker.go`, `endpointschangetracker.go` |
//! | [`proxier`] | a node's proxier over time: full/partial syncs, cached rules, stale chains, jumps, stale UDP conntrack | `Proxier` |
//! | [`healthcheck`] | the health check server of Local LoadBalancer Services (200/503, JSON) | `pkg/proxy/healthcheck/service_health.go` |
//! | [`config`] | a [`ProxierConfig`](iptables::ProxierConfig) from a `KubeProxyConfiguration` and a Node | `cmd/kube-proxy/app` |
//!
//! IPv4 only for now; the types keep the family out of their names so IPv6 can join.

pub mod chain_name;
mod chain_set;
pub mod change_tracker;
pub mod config;
pub mod endpoint;
pub mod healthcheck;
pub mod iptables;
pub mod local_detector;
pub mod node_port_addresses;
pub mod proxier;
pub mod service_port;
pub mod service_rules;
pub mod topology;

pub use change_tracker::ProxyChanges;
pub use iptables::{ProxierConfig, Rendered, SyncScope, render, render_on};
pub use proxier::{Proxier, SyncOutcome, proxy_state};
pub use service_rules::ServicePortRules;
