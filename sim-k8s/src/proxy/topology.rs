//! Which endpoints a node's kube-proxy sends a Service's traffic to (`CategorizeEndpoints` in
//! `pkg/proxy/topology.go`, Kubernetes 1.35).
//!
//! - Cluster policy: the ready endpoints, narrowed by topology hints when every ready endpoint
//!   has hints and one is for this node (`PreferSameNode`, node hints) or this node's zone
//!   (`PreferSameZone`, zone hints); with no ready endpoint anywhere, the serving-and-terminating
//!   ones instead (KEP-1669's fallback).
//! - Local policy: this node's ready endpoints, or failing that its serving-and-terminating ones.
//! - The endpoints that get `KUBE-SEP-` chains: the union of both.
//!
//! Upstream builds the union from a Go map, so its order varies run to run; here it is sorted
//! by `ip:port` string like every other endpoint list.

use std::collections::BTreeMap;

use super::endpoint::Endpoint;
use super::service_port::ServicePort;

/// The zone label on the Node kube-proxy reads.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The outcome of [`categorize`]: the endpoints, borrowed, in `ip:port` string order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Categorized<'a> {
    pub cluster: Vec<&'a Endpoint>,
    pub local: Vec<&'a Endpoint>,
    pub all_reachable: Vec<&'a Endpoint>,
    /// The Service has usable endpoints anywhere (not only here).
    pub has_any: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    None,
    SameNode,
    SameZone,
}

fn topology_mode(endpoints: &[Endpoint], node: &str, zone: &str) -> Mode {
    let ready = endpoints.iter().filter(|e| e.ready);
    let (mut all_node, mut for_node, mut all_zone, mut for_zone) = (true, false, true, false);
    for e in ready {
        if e.node_hints.is_empty() {
            all_node = false;
        } else if e.node_hints.contains(node) {
            for_node = true;
        }
        if e.zone_hints.is_empty() {
            all_zone = false;
        } else if e.zone_hints.contains(zone) {
            for_zone = true;
        }
    }
    if all_node && for_node {
        Mode::SameNode
    } else if all_zone && for_zone {
        Mode::SameZone
    } else {
        Mode::None
    }
}

/// Splits `endpoints` for `svc` as the proxy on `node` (in `zone`, maybe empty) sees them.
pub fn categorize<'a>(
    endpoints: &'a [Endpoint],
    svc: &ServicePort,
    node: &str,
    zone: &str,
) -> Categorized<'a> {
    let mut out = Categorized::default();
    let serving_terminating = |e: &&Endpoint| e.serving && e.terminating;
    if svc.uses_cluster_endpoints() {
        let mode = topology_mode(endpoints, node, zone);
        out.cluster = endpoints
            .iter()
            .filter(|e| e.ready)
            .filter(|e| match mode {
                Mode::None => true,
                Mode::SameNode => e.node_hints.contains(node),
                Mode::SameZone => e.zone_hints.contains(zone),
            })
            .collect();
        if out.cluster.is_empty() {
            out.cluster = endpoints.iter().filter(serving_terminating).collect();
        }
        out.has_any = !out.cluster.is_empty();
    }
    if !svc.uses_local_endpoints() {
        out.all_reachable = out.cluster.clone();
        return out;
    }
    let usable = |e: &&Endpoint| e.ready || (e.serving && e.terminating);
    out.has_any |= endpoints.iter().any(|e| usable(&e));
    let local_ready = endpoints.iter().any(|e| e.local && e.ready);
    out.local = endpoints
        .iter()
        .filter(|e| {
            e.local
                && if local_ready {
                    e.ready
                } else {
                    e.serving && e.terminating
                }
        })
        .collect();
    if !svc.uses_cluster_endpoints() {
        out.all_reachable = out.local.clone();
        return out;
    }
    let mut union: BTreeMap<String, &Endpoint> = BTreeMap::new();
    for e in out.cluster.iter().chain(&out.local) {
        union.insert(e.addr(), *e);
    }
    out.all_reachable = union.into_values().collect();
    out
}
