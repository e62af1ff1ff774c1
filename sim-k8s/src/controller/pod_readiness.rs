//! Pod readiness with readiness gates (KEP-580, "pod ready++"): a pod is Ready when all its
//! containers are ready *and* every condition named in `spec.readinessGates` is `True`.
//!
//! This is what kubelet writes into the `Ready` condition
//! (`pkg/kubelet/status/generate.go`: `GenerateContainersReadyCondition`,
//! `GeneratePodReadyCondition`, with the same reasons and messages), and what the endpoint
//! controllers read back through `podutil.IsPodReady`. [`pod_ready`] reads the `Ready`
//! condition as written — so the node lifecycle controller's `MarkPodsNotReady` takes effect
//! — and, for a pod whose hand-written status has no `Ready` condition, computes it from the
//! inputs (container statuses, readiness-gate conditions, phase) as kubelet would.
//!
//! [`set_pod_condition`] is `podutil.UpdatePodCondition` (the transition time moves only when
//! the status does) followed by kubelet's regeneration of `ContainersReady` and `Ready`.

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// `v1.PodReady`.
pub const POD_READY: &str = "Ready";
/// `v1.ContainersReady`.
pub const CONTAINERS_READY: &str = "ContainersReady";

/// Kubelet's condition reasons.
pub const REASON_UNKNOWN_CONTAINER_STATUSES: &str = "UnknownContainerStatuses";
pub const REASON_POD_COMPLETED: &str = "PodCompleted";
pub const REASON_POD_FAILED: &str = "PodFailed";
pub const REASON_CONTAINERS_NOT_READY: &str = "ContainersNotReady";
pub const REASON_READINESS_GATES_NOT_READY: &str = "ReadinessGatesNotReady";

fn condition(type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.map(str::to_owned),
        message,
        ..Default::default()
    }
}

/// Go's `%s` of a `[]string`: `[a b]`.
fn go_list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

/// `GenerateContainersReadyCondition`: True when every container — and every sidecar (init
/// container with `restartPolicy: Always`) — reports ready.
pub fn containers_ready_condition(pod: &Pod) -> PodCondition {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    let statuses: Option<Vec<_>> = match (
        status.and_then(|s| s.init_container_statuses.as_ref()),
        status.and_then(|s| s.container_statuses.as_ref()),
    ) {
        (None, None) => None,
        (init, regular) => Some(init.into_iter().chain(regular).flatten().collect()),
    };
    let Some(statuses) = statuses else {
        return condition(
            CONTAINERS_READY,
            false,
            Some(REASON_UNKNOWN_CONTAINER_STATUSES),
            None,
        );
    };
    let mut unknown = Vec::new();
    let mut unready = Vec::new();
    let spec = pod.spec.as_ref();
    let sidecars = spec
        .and_then(|s| s.init_containers.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    for c in sidecars.chain(containers) {
        match statuses.iter().find(|s| s.name == c.name) {
            Some(s) if !s.ready => unready.push(c.name.as_str()),
            Some(_) => {}
            None => unknown.push(c.name.as_str()),
        }
    }
    if (phase == "Succeeded" && unknown.is_empty()) || phase == "Failed" {
        let reason = if phase == "Failed" {
            REASON_POD_FAILED
        } else {
            REASON_POD_COMPLETED
        };
        return condition(CONTAINERS_READY, false, Some(reason), None);
    }
    let mut messages = Vec::new();
    if !unknown.is_empty() {
        messages.push(format!(
            "containers with unknown status: {}",
            go_list(&unknown)
        ));
    }
    if !unready.is_empty() {
        messages.push(format!(
            "containers with unready status: {}",
            go_list(&unready)
        ));
    }
    if messages.is_empty() {
        condition(CONTAINERS_READY, true, None, None)
    } else {
        condition(
            CONTAINERS_READY,
            false,
            Some(REASON_CONTAINERS_NOT_READY),
            Some(messages.join(", ")),
        )
    }
}

/// `GeneratePodReadyCondition`: `ContainersReady`, then every readiness gate's condition must
/// exist and be `True`.
pub fn ready_condition(pod: &Pod) -> PodCondition {
    let containers = containers_ready_condition(pod);
    if containers.status != "True" {
        return PodCondition {
            type_: POD_READY.to_owned(),
            ..containers
        };
    }
    let conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let mut messages = Vec::new();
    for gate in pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .into_iter()
        .flatten()
    {
        match conditions.iter().find(|c| c.type_ == gate.condition_type) {
            None => messages.push(format!(
                "corresponding condition of pod readiness gate \"{}\" does not exist.",
                gate.condition_type
            )),
            Some(c) if c.status != "True" => messages.push(format!(
                "the status of pod readiness gate \"{}\" is not \"True\", but {}",
                gate.condition_type, c.status
            )),
            Some(_) => {}
        }
    }
    if messages.is_empty() {
        condition(POD_READY, true, None, None)
    } else {
        condition(
            POD_READY,
            false,
            Some(REASON_READINESS_GATES_NOT_READY),
            Some(messages.join(", ")),
        )
    }
}

/// Whether the pod is Ready: its `Ready` condition as written (`podutil.IsPodReady`), or,
/// without one, what kubelet would write: all containers ready and every readiness gate
/// `True`.
pub fn pod_ready(pod: &Pod) -> bool {
    let written = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == POD_READY));
    match written {
        Some(c) => c.status == "True",
        None => ready_condition(pod).status == "True",
    }
}

/// `podutil.IsPodReady`: the `Ready` condition as currently written in the status.
pub fn is_pod_ready_condition_true(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == POD_READY))
        .is_some_and(|c| c.status == "True")
}

/// `podutil.UpdatePodCondition`: adds or replaces the condition of the same type; the
/// transition time is `now` when the status changes and kept otherwise. Returns whether
/// anything changed.
pub fn update_pod_condition(
    status: &mut PodStatus,
    mut condition: PodCondition,
    now: &Time,
) -> bool {
    condition.last_transition_time = Some(now.clone());
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let Some(old) = conditions.iter_mut().find(|c| c.type_ == condition.type_) else {
        conditions.push(condition);
        return true;
    };
    if condition.status == old.status {
        condition.last_transition_time = old.last_transition_time.clone();
    }
    let equal = condition.status == old.status
        && condition.reason == old.reason
        && condition.message == old.message
        && condition.last_probe_time == old.last_probe_time
        && condition.last_transition_time == old.last_transition_time;
    *old = condition;
    !equal
}

/// Regenerates `ContainersReady` and `Ready` as kubelet's status manager does after any
/// change. Returns whether either changed.
pub fn refresh_readiness_conditions(pod: &mut Pod, now: &Time) -> bool {
    let containers = containers_ready_condition(pod);
    let ready = ready_condition(pod);
    let status = pod.status.get_or_insert_with(PodStatus::default);
    let a = update_pod_condition(status, containers, now);
    let b = update_pod_condition(status, ready, now);
    a || b
}

/// Sets condition `condition_type` (a readiness gate such as
/// `target-health.elbv2.k8s.aws/...`, set by whoever owns the gate) to True or False, then
/// regenerates `ContainersReady` and `Ready`. Setting `Ready` or `ContainersReady` directly
/// writes it as given without regenerating. Returns whether the pod changed.
pub fn set_pod_condition(pod: &mut Pod, condition_type: &str, status: bool, now: &Time) -> bool {
    let cond = condition(condition_type, status, None, None);
    let changed =
        update_pod_condition(pod.status.get_or_insert_with(PodStatus::default), cond, now);
    if condition_type == POD_READY || condition_type == CONTAINERS_READY {
        return changed;
    }
    refresh_readiness_conditions(pod, now) || changed
}

/// Sets a container's `ready` flag (a readiness probe's verdict), then regenerates
/// `ContainersReady` and `Ready`. Returns whether the pod changed; false if the pod has no
/// status for that container.
pub fn set_container_ready(pod: &mut Pod, container: &str, ready: bool, now: &Time) -> bool {
    let Some(status) = pod.status.as_mut() else {
        return false;
    };
    let Some(cs) = status
        .container_statuses
        .iter_mut()
        .flatten()
        .chain(status.init_container_statuses.iter_mut().flatten())
        .find(|c| c.name == container)
    else {
        return false;
    };
    let changed = cs.ready != ready;
    cs.ready = ready;
    refresh_readiness_conditions(pod, now) || changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerStatus, PodReadinessGate, PodSpec};
    use k8s_openapi::jiff::Timestamp;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn pod(containers: &[(&str, Option<bool>)], gates: &[&str]) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: containers
                    .iter()
                    .map(|(n, _)| Container {
                        name: (*n).into(),
                        ..Default::default()
                    })
                    .collect(),
                readiness_gates: (!gates.is_empty()).then(|| {
                    gates
                        .iter()
                        .map(|g| PodReadinessGate {
                            condition_type: (*g).into(),
                        })
                        .collect()
                }),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                container_statuses: Some(
                    containers
                        .iter()
                        .filter_map(|(n, r)| {
                            r.map(|ready| ContainerStatus {
                                name: (*n).into(),
                                ready,
                                ..Default::default()
                            })
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    // Cases from pkg/kubelet/status/generate_test.go (TestGenerateContainersReadyCondition,
    // TestGeneratePodReadyCondition).
    #[test]
    fn containers_ready_reasons_and_messages() {
        let mut p = pod(&[("a", Some(true)), ("b", Some(false)), ("c", None)], &[]);
        let c = containers_ready_condition(&p);
        assert_eq!(c.status, "False");
        assert_eq!(c.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            c.message.as_deref(),
            Some("containers with unknown status: [c], containers with unready status: [b]")
        );
        p.status.as_mut().unwrap().container_statuses = None;
        assert_eq!(
            containers_ready_condition(&p).reason.as_deref(),
            Some("UnknownContainerStatuses")
        );
        let mut done = pod(&[("a", Some(false))], &[]);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert_eq!(
            ready_condition(&done).reason.as_deref(),
            Some("PodCompleted")
        );
        assert!(!pod_ready(&done));
        assert!(pod_ready(&pod(
            &[("a", Some(true)), ("b", Some(true))],
            &[]
        )));
    }

    #[test]
    fn readiness_gates_hold_the_pod_back_until_true() {
        let mut p = pod(
            &[("a", Some(true))],
            &["example.com/feature-1", "example.com/feature-2"],
        );
        let c = ready_condition(&p);
        assert_eq!(c.reason.as_deref(), Some("ReadinessGatesNotReady"));
        assert_eq!(
            c.message.as_deref(),
            Some(
                "corresponding condition of pod readiness gate \"example.com/feature-1\" does not exist., corresponding condition of pod readiness gate \"example.com/feature-2\" does not exist."
            )
        );
        assert!(set_pod_condition(
            &mut p,
            "example.com/feature-1",
            true,
            &t(10)
        ));
        assert!(set_pod_condition(
            &mut p,
            "example.com/feature-2",
            false,
            &t(11)
        ));
        assert!(!pod_ready(&p));
        assert_eq!(
            ready_condition(&p).message.as_deref(),
            Some(
                "the status of pod readiness gate \"example.com/feature-2\" is not \"True\", but False"
            )
        );
        assert!(!is_pod_ready_condition_true(&p));
        assert!(set_pod_condition(
            &mut p,
            "example.com/feature-2",
            true,
            &t(12)
        ));
        assert!(pod_ready(&p));
        assert!(is_pod_ready_condition_true(&p), "Ready regenerated");
        // Setting the same status again changes nothing and keeps the transition time.
        assert!(!set_pod_condition(
            &mut p,
            "example.com/feature-2",
            true,
            &t(20)
        ));
        let conds = p.status.as_ref().unwrap().conditions.as_ref().unwrap();
        let ready = conds.iter().find(|c| c.type_ == POD_READY).unwrap();
        assert_eq!(ready.last_transition_time, Some(t(12)));
    }

    #[test]
    fn container_readiness_drives_ready() {
        let mut p = pod(&[("a", Some(true)), ("b", Some(true))], &[]);
        assert!(refresh_readiness_conditions(&mut p, &t(1)));
        assert!(is_pod_ready_condition_true(&p));
        assert!(set_container_ready(&mut p, "b", false, &t(2)));
        assert!(!pod_ready(&p));
        assert!(!is_pod_ready_condition_true(&p));
        assert!(!set_container_ready(&mut p, "nope", false, &t(3)));
    }

    #[test]
    fn update_pod_condition_moves_transition_time_only_on_status_change() {
        let mut status = PodStatus::default();
        assert!(update_pod_condition(
            &mut status,
            condition("X", true, None, None),
            &t(1)
        ));
        assert!(!update_pod_condition(
            &mut status,
            condition("X", true, None, None),
            &t(2)
        ));
        assert_eq!(
            status.conditions.as_ref().unwrap()[0].last_transition_time,
            Some(t(1))
        );
        assert!(update_pod_condition(
            &mut status,
            condition("X", true, Some("Why"), None),
            &t(3)
        ));
        assert_eq!(
            status.conditions.as_ref().unwrap()[0].last_transition_time,
            Some(t(1))
        );
        assert!(update_pod_condition(
            &mut status,
            condition("X", false, None, None),
            &t(4)
        ));
        assert_eq!(
            status.conditions.as_ref().unwrap()[0].last_transition_time,
            Some(t(4))
        );
    }
}
