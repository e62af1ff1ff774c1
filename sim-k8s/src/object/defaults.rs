//! The defaults the API server fills in when an object is written (the `SetDefaults_*`
//! functions of `pkg/apis/core/v1/defaults.go`, `pkg/apis/discovery/v1/defaults.go`,
//! `pkg/apis/networking/v1/defaults.go`, `pkg/apis/apps/v1/defaults.go`), limited to the fields
//! the networking model reads. Controllers rely on them: `FindPort` compares a Service port's
//! protocol with a container port's, and both are `TCP` only after defaulting.
//!
//! Also here, because the v1 conversion does it on every write: `status.podIP` and
//! `status.podIPs[0]` fill each other, as do `spec.podCIDR` and `spec.podCIDRs[0]` of a Node;
//! a Namespace's `status.phase` defaults to `Active`.
//!
//! Not defaulted here: image pull policy, termination message paths, probes' timings, resource
//! requests, and everything that needs an allocator (Service cluster IPs and node ports,
//! `ipFamilies`/`ipFamilyPolicy`).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    ClientIPConfig, Container, Endpoints, NodeSpec, PodIP, PodSpec, PodStatus, Service,
    SessionAffinityConfig,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Object;

/// `v1.DefaultClientIPServiceAffinitySeconds`: 3 hours.
pub const DEFAULT_CLIENT_IP_SERVICE_AFFINITY_SECONDS: i32 = 10800;
/// `v1.DefaultTerminationGracePeriodSeconds`.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;

/// Applies the write-time defaults to `object` in place. Idempotent.
pub fn apply(object: &mut Object) {
    match object {
        Object::Service(s) => service(s),
        Object::Pod(p) => {
            if let Some(spec) = p.spec.as_mut() {
                pod_spec(spec);
            }
            if let Some(status) = p.status.as_mut() {
                pod_ips(status);
            }
        }
        Object::Node(n) => {
            if let Some(spec) = n.spec.as_mut() {
                node_pod_cidrs(spec);
            }
        }
        Object::Endpoints(e) => endpoints(e),
        Object::EndpointSlice(s) => endpoint_slice(s),
        Object::NetworkPolicy(n) => network_policy(n),
        Object::Deployment(d) => deployment(d),
        Object::ReplicaSet(r) => replica_set(r),
        Object::StatefulSet(s) => stateful_set(s),
        Object::DaemonSet(d) => daemon_set(d),
        Object::Namespace(ns) => {
            // SetDefaults_NamespaceStatus.
            let status = ns.status.get_or_insert_with(Default::default);
            set_if_empty(&mut status.phase, "Active");
        }
        Object::ConfigMap(_) => {}
    }
}

fn set_if_none<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn set_if_empty(slot: &mut Option<String>, value: &str) {
    if slot.as_deref().unwrap_or("").is_empty() {
        *slot = Some(value.to_owned());
    }
}

/// `SetDefaults_Service`.
fn service(svc: &mut Service) {
    let spec = svc.spec.get_or_insert_with(Default::default);
    set_if_empty(&mut spec.session_affinity, "None");
    match spec.session_affinity.as_deref() {
        Some("None") => spec.session_affinity_config = None,
        Some("ClientIP") => {
            let has_timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .is_some();
            if !has_timeout {
                spec.session_affinity_config = Some(SessionAffinityConfig {
                    client_ip: Some(ClientIPConfig {
                        timeout_seconds: Some(DEFAULT_CLIENT_IP_SERVICE_AFFINITY_SECONDS),
                    }),
                });
            }
        }
        _ => {}
    }
    set_if_empty(&mut spec.type_, "ClusterIP");
    for port in spec.ports.iter_mut().flatten() {
        set_if_empty(&mut port.protocol, "TCP");
        let unset = match &port.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
    let type_ = spec.type_.clone().unwrap_or_default();
    // service.ExternallyAccessible: NodePort, LoadBalancer, or ClusterIP with externalIPs.
    let externally_accessible = type_ == "NodePort"
        || type_ == "LoadBalancer"
        || (type_ == "ClusterIP"
            && spec
                .external_ips
                .as_ref()
                .is_some_and(|ips| !ips.is_empty()));
    if externally_accessible {
        set_if_empty(&mut spec.external_traffic_policy, "Cluster");
    }
    if matches!(type_.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        set_if_empty(&mut spec.internal_traffic_policy, "Cluster");
    }
    if type_ == "LoadBalancer" {
        set_if_none(&mut spec.allocate_load_balancer_node_ports, true);
    }
}

fn container_ports(c: &mut Container, host_network: bool) {
    for port in c.ports.iter_mut().flatten() {
        // SetDefaults_ContainerPort.
        set_if_empty(&mut port.protocol, "TCP");
        // defaultHostNetworkPorts: with hostNetwork the host port is the container port.
        if host_network && port.host_port.unwrap_or(0) == 0 {
            port.host_port = Some(port.container_port);
        }
    }
}

/// `SetDefaults_PodSpec`, the container-port defaults and `SetDefaults_Pod`'s
/// `enableServiceLinks`.
pub(crate) fn pod_spec(spec: &mut PodSpec) {
    set_if_empty(&mut spec.dns_policy, "ClusterFirst");
    set_if_empty(&mut spec.restart_policy, "Always");
    set_if_empty(&mut spec.scheduler_name, "default-scheduler");
    set_if_none(
        &mut spec.termination_grace_period_seconds,
        DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
    );
    set_if_none(&mut spec.enable_service_links, true);
    let host_network = spec.host_network.unwrap_or(false);
    for c in spec.containers.iter_mut() {
        container_ports(c, host_network);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        container_ports(c, host_network);
    }
}

/// The v1 conversion keeps `podIP` and `podIPs[0]` the same: either one fills the other
/// (`Convert_v1_PodStatus_To_core_PodStatus` and back).
fn pod_ips(status: &mut PodStatus) {
    let ip = status.pod_ip.clone().unwrap_or_default();
    let ips_empty = status.pod_ips.as_ref().is_none_or(|v| v.is_empty());
    if ips_empty && !ip.is_empty() {
        status.pod_ips = Some(vec![PodIP { ip }]);
    } else if ip.is_empty()
        && let Some(first) = status.pod_ips.as_ref().and_then(|v| v.first())
    {
        status.pod_ip = Some(first.ip.clone());
    }
}

/// Likewise `podCIDR` and `podCIDRs[0]` (`Convert_v1_NodeSpec_To_core_NodeSpec`).
fn node_pod_cidrs(spec: &mut NodeSpec) {
    let cidr = spec.pod_cidr.clone().unwrap_or_default();
    let cidrs_empty = spec.pod_cidrs.as_ref().is_none_or(|v| v.is_empty());
    if cidrs_empty && !cidr.is_empty() {
        spec.pod_cidrs = Some(vec![cidr]);
    } else if cidr.is_empty()
        && let Some(first) = spec.pod_cidrs.as_ref().and_then(|v| v.first())
    {
        spec.pod_cidr = Some(first.clone());
    }
}

/// `SetDefaults_Endpoints`: ports without a protocol are TCP.
fn endpoints(e: &mut Endpoints) {
    for subset in e.subsets.iter_mut().flatten() {
        for port in subset.ports.iter_mut().flatten() {
            set_if_empty(&mut port.protocol, "TCP");
        }
    }
}

/// discovery/v1 `SetDefaults_EndpointPort`: name `""`, protocol TCP.
fn endpoint_slice(s: &mut EndpointSlice) {
    for port in s.ports.iter_mut().flatten() {
        set_if_none(&mut port.name, String::new());
        set_if_empty(&mut port.protocol, "TCP");
    }
}

/// networking/v1 `SetDefaults_NetworkPolicy` and `SetDefaults_NetworkPolicyPort`.
fn network_policy(np: &mut NetworkPolicy) {
    let Some(spec) = np.spec.as_mut() else {
        return;
    };
    for rule in spec.ingress.iter_mut().flatten() {
        for port in rule.ports.iter_mut().flatten() {
            set_if_empty(&mut port.protocol, "TCP");
        }
    }
    for rule in spec.egress.iter_mut().flatten() {
        for port in rule.ports.iter_mut().flatten() {
            set_if_empty(&mut port.protocol, "TCP");
        }
    }
    if spec.policy_types.as_ref().is_none_or(|t| t.is_empty()) {
        let mut types = vec!["Ingress".to_owned()];
        if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
            types.push("Egress".to_owned());
        }
        spec.policy_types = Some(types);
    }
}

/// apps/v1 `SetDefaults_Deployment` (replicas) and the pod template.
fn deployment(d: &mut Deployment) {
    if let Some(spec) = d.spec.as_mut() {
        set_if_none(&mut spec.replicas, 1);
        if let Some(pod) = spec.template.spec.as_mut() {
            pod_spec(pod);
        }
    }
}

fn replica_set(r: &mut ReplicaSet) {
    if let Some(spec) = r.spec.as_mut() {
        set_if_none(&mut spec.replicas, 1);
        if let Some(pod) = spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
            pod_spec(pod);
        }
    }
}

fn stateful_set(s: &mut StatefulSet) {
    if let Some(spec) = s.spec.as_mut() {
        set_if_none(&mut spec.replicas, 1);
        if let Some(pod) = spec.template.spec.as_mut() {
            pod_spec(pod);
        }
    }
}

fn daemon_set(d: &mut DaemonSet) {
    if let Some(spec) = d.spec.as_mut()
        && let Some(pod) = spec.template.spec.as_mut()
    {
        pod_spec(pod);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, Pod, ServicePort, ServiceSpec};

    #[test]
    fn service_ports_default_to_tcp_and_target_the_port() {
        let mut obj = Object::Service(Service {
            spec: Some(ServiceSpec {
                ports: Some(vec![
                    ServicePort {
                        port: 80,
                        ..Default::default()
                    },
                    ServicePort {
                        port: 53,
                        protocol: Some("UDP".into()),
                        target_port: Some(IntOrString::String("dns".into())),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        });
        apply(&mut obj);
        let Object::Service(svc) = &obj else {
            unreachable!()
        };
        let spec = svc.spec.as_ref().unwrap();
        let ports = spec.ports.as_ref().unwrap();
        assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
        assert_eq!(ports[0].target_port, Some(IntOrString::Int(80)));
        assert_eq!(ports[1].protocol.as_deref(), Some("UDP"));
        assert_eq!(
            ports[1].target_port,
            Some(IntOrString::String("dns".into()))
        );
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.session_affinity.as_deref(), Some("None"));
        assert_eq!(spec.internal_traffic_policy.as_deref(), Some("Cluster"));
        assert_eq!(spec.external_traffic_policy, None);
        let once = obj.clone();
        apply(&mut obj);
        assert_eq!(obj, once, "defaulting is idempotent");
    }

    #[test]
    fn client_ip_affinity_gets_three_hours() {
        let mut obj = Object::Service(Service {
            spec: Some(ServiceSpec {
                type_: Some("NodePort".into()),
                session_affinity: Some("ClientIP".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        apply(&mut obj);
        let Object::Service(svc) = &obj else {
            unreachable!()
        };
        let spec = svc.spec.as_ref().unwrap();
        let timeout = spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds);
        assert_eq!(timeout, Some(10800));
        assert_eq!(spec.external_traffic_policy.as_deref(), Some("Cluster"));
    }

    #[test]
    fn host_network_pods_publish_container_ports_on_the_host() {
        let mut obj = Object::Pod(Pod {
            spec: Some(PodSpec {
                host_network: Some(true),
                containers: vec![Container {
                    name: "dns".into(),
                    ports: Some(vec![ContainerPort {
                        container_port: 53,
                        protocol: Some("UDP".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        apply(&mut obj);
        let Object::Pod(pod) = &obj else {
            unreachable!()
        };
        let spec = pod.spec.as_ref().unwrap();
        let port = &spec.containers[0].ports.as_ref().unwrap()[0];
        assert_eq!(port.host_port, Some(53));
        assert_eq!(port.protocol.as_deref(), Some("UDP"));
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
    }
}
