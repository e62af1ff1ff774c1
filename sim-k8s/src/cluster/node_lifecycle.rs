//! Node failure as the control plane sees it: the kubelet's heartbeat stops, and the node
//! lifecycle controller (`pkg/controller/nodelifecycle`) notices a grace period later.
//!
//! Modelled (upstream 1.35):
//! - the kubelet renews its node Lease every [`LEASE_RENEW_INTERVAL`] (10 s: a quarter of
//!   the 40 s `nodeLeaseDurationSeconds`), on multiples of it from the start of the run;
//! - the controller checks every node every [`NODE_MONITOR_PERIOD`] (5 s,
//!   `--node-monitor-period`) and, once nothing has been heard for longer than
//!   [`NODE_MONITOR_GRACE_PERIOD`] (50 s, `--node-monitor-grace-period` since 1.32), sets the
//!   Node's `Ready` condition to `Unknown` (reason `NodeStatusUnknown`) and every pod on it
//!   to `Ready=False` (`MarkPodsNotReady`) — which is what takes them out of Endpoints;
//! - a healed node's kubelet posts `Ready=True` again and its status manager recomputes each
//!   pod's readiness from its containers;
//! - the scheduler does not bind pods to a failed node (the `unreachable` NoSchedule taint).
//!
//! Not modelled: taint-based eviction after `tolerationSeconds` (300 s by default), the
//! zone-level eviction rates, and the `node-startup-grace-period` of new nodes.

use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus, Pod};
use sim_core::{SimDuration, SimTime};

use crate::controller::pod_readiness::{refresh_readiness_conditions, set_pod_condition};
use crate::object::{Kind, Object};
use crate::store::{Change, Store};

/// The kubelet's Lease renewal interval (`nodeLeaseDurationSeconds` 40 s × 0.25).
pub const LEASE_RENEW_INTERVAL: SimDuration = SimDuration::from_secs(10);
/// kube-controller-manager `--node-monitor-period` default.
pub const NODE_MONITOR_PERIOD: SimDuration = SimDuration::from_secs(5);
/// kube-controller-manager `--node-monitor-grace-period` default (50 s since 1.32).
pub const NODE_MONITOR_GRACE_PERIOD: SimDuration = SimDuration::from_secs(50);

/// The last Lease renewal at or before `t`.
pub fn last_heartbeat(t: SimTime) -> SimTime {
    let every = LEASE_RENEW_INTERVAL.as_nanos();
    SimTime::from_nanos(t.as_nanos() / every * every)
}

/// The first node-monitor pass that finds a node silent since `heartbeat` for longer than
/// the grace period.
pub fn detection_time(heartbeat: SimTime) -> SimTime {
    let deadline = (heartbeat + NODE_MONITOR_GRACE_PERIOD).as_nanos();
    let every = NODE_MONITOR_PERIOD.as_nanos();
    SimTime::from_nanos((deadline / every + 1) * every)
}

fn set_ready(
    node: &mut Node,
    status: &str,
    reason: &str,
    message: &str,
    store: &Store,
    t: SimTime,
) {
    let now = store.time_at(t);
    let conditions = node
        .status
        .get_or_insert_with(NodeStatus::default)
        .conditions
        .get_or_insert_with(Vec::new);
    conditions.retain(|c| c.type_ != "Ready");
    conditions.push(NodeCondition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(now),
    });
}

fn pods_on<'a>(store: &'a Store, node: &'a str) -> impl Iterator<Item = &'a Pod> + 'a {
    store.list_as::<Pod>(None).filter(move |p| {
        p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
            && p.metadata.deletion_timestamp.is_none()
    })
}

fn node(store: &Store, name: &str) -> Option<Node> {
    store
        .get(&crate::object::ObjectKey::cluster(Kind::Node, name))
        .and_then(|o| match o {
            Object::Node(n) => Some(n.clone()),
            _ => None,
        })
}

/// What the node lifecycle controller writes when it finds `name` silent at `t`.
pub fn mark_unknown(store: &Store, name: &str, t: SimTime) -> Vec<Change> {
    let Some(mut n) = node(store, name) else {
        return Vec::new();
    };
    set_ready(
        &mut n,
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
        store,
        t,
    );
    let mut changes = vec![Change::Update(Object::Node(n))];
    let now = store.time_at(t);
    for p in pods_on(store, name) {
        let mut p = p.clone();
        if set_pod_condition(&mut p, "Ready", false, &now) {
            p.metadata.resource_version = None;
            changes.push(Change::Update(Object::Pod(p)));
        }
    }
    changes
}

/// What a healed node's kubelet writes at `t`: the node Ready, its pods' readiness
/// recomputed from their containers.
pub fn mark_ready(store: &Store, name: &str, t: SimTime) -> Vec<Change> {
    let Some(mut n) = node(store, name) else {
        return Vec::new();
    };
    set_ready(
        &mut n,
        "True",
        "KubeletReady",
        "kubelet is posting ready status",
        store,
        t,
    );
    let mut changes = vec![Change::Update(Object::Node(n))];
    let now = store.time_at(t);
    for p in pods_on(store, name) {
        let mut p = p.clone();
        // The status manager regenerates Ready from the containers and gates.
        let before = p.status.clone();
        refresh_readiness_conditions(&mut p, &now);
        if p.status != before {
            p.metadata.resource_version = None;
            changes.push(Change::Update(Object::Pod(p)));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_failing_at_23s_is_noticed_at_75s() {
        // Last renewal at 20 s; silent for longer than 50 s after 70 s: the next monitor
        // pass is at 75 s.
        let hb = last_heartbeat(SimTime::ZERO + SimDuration::from_secs(23));
        assert_eq!(hb, SimTime::ZERO + SimDuration::from_secs(20));
        assert_eq!(
            detection_time(hb),
            SimTime::ZERO + SimDuration::from_secs(75)
        );
        // A renewal exactly on a monitor tick: 50 s later is not yet "longer than" 50 s.
        assert_eq!(
            detection_time(SimTime::ZERO),
            SimTime::ZERO + SimDuration::from_secs(55)
        );
    }
}
