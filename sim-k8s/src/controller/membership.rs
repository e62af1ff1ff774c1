//! Which pods back a Service and on which port — the predicates the Endpoints and
//! EndpointSlice controllers share (`staging/src/k8s.io/endpointslice/util/controller_utils.go`:
//! `ShouldPodBeInEndpoints`, `ShouldSetHostname`; `staging/src/k8s.io/endpointslice/utils.go`:
//! `FindPort`, `isServiceIPSet`, `getAddressTypesForService`).

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// An IP family / EndpointSlice `addressType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddressType {
    IPv4,
    IPv6,
}

impl AddressType {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::IPv4 => "IPv4",
            AddressType::IPv6 => "IPv6",
        }
    }

    pub fn parse(s: &str) -> Option<AddressType> {
        match s {
            "IPv4" => Some(AddressType::IPv4),
            "IPv6" => Some(AddressType::IPv6),
            _ => None,
        }
    }

    /// The family of an address written as text (`None` if it does not parse).
    pub fn of(ip: &str) -> Option<AddressType> {
        match ip.parse::<IpAddr>().ok()? {
            IpAddr::V4(_) => Some(AddressType::IPv4),
            IpAddr::V6(_) => Some(AddressType::IPv6),
        }
    }
}

/// `ShouldPodBeInEndpoints`: not terminal (Succeeded/Failed), has an IP, and — unless
/// `include_terminating` — not being deleted.
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") {
        return false;
    }
    let has_ip = status.is_some_and(|s| {
        s.pod_ip.as_deref().is_some_and(|ip| !ip.is_empty())
            || s.pod_ips.as_ref().is_some_and(|ips| !ips.is_empty())
    });
    if !has_ip {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// `ShouldSetHostname`: the pod sets `hostname`, its `subdomain` is the Service's name, and
/// both are in the same namespace.
pub fn should_set_hostname(pod: &Pod, service: &Service) -> bool {
    let spec = pod.spec.as_ref();
    let hostname = spec.and_then(|s| s.hostname.as_deref()).unwrap_or("");
    let subdomain = spec.and_then(|s| s.subdomain.as_deref()).unwrap_or("");
    !hostname.is_empty()
        && Some(subdomain) == service.metadata.name.as_deref()
        && service.metadata.namespace == pod.metadata.namespace
}

/// `isServiceIPSet`: a cluster IP other than `None`. A Service without one is headless.
pub fn is_service_ip_set(service: &Service) -> bool {
    let ip = service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .unwrap_or("");
    !ip.is_empty() && ip != "None"
}

/// Whether the Service is headless (`clusterIP: None`).
pub fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

fn protocol(p: Option<&str>) -> &str {
    match p {
        Some(p) if !p.is_empty() => p,
        _ => "TCP",
    }
}

/// `FindPort`: a numeric `targetPort` is the port; a named one is looked up among the pod's
/// container ports (then its sidecars, init containers with `restartPolicy: Always`) by name
/// *and* protocol. `None` when the pod has no such port — the pod is then skipped for this
/// Service port.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let name = match &port.target_port {
        None => return Some(port.port),
        Some(IntOrString::Int(n)) => return Some(*n),
        Some(IntOrString::String(name)) => name,
    };
    let proto = protocol(port.protocol.as_deref());
    let spec = pod.spec.as_ref()?;
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name.as_deref() == Some(name.as_str()) && protocol(p.protocol.as_deref()) == proto
        })
        .map(|p| p.container_port)
}

/// `getAddressTypesForService`: the Service's `ipFamilies`; failing those the family of its
/// cluster IP; failing that (headless, families not yet set) both.
pub fn address_types(service: &Service) -> BTreeSet<AddressType> {
    let spec = service.spec.as_ref();
    let families: BTreeSet<AddressType> = spec
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|f| AddressType::parse(f))
        .collect();
    if !families.is_empty() {
        return families;
    }
    if is_service_ip_set(service) {
        let ip = spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or("");
        return BTreeSet::from([AddressType::of(ip).unwrap_or(AddressType::IPv4)]);
    }
    BTreeSet::from([AddressType::IPv4, AddressType::IPv6])
}

/// The pod's IPs of one family, in `podIPs` order, written canonically.
pub fn pod_ips_of(pod: &Pod, family: AddressType) -> Vec<String> {
    let status = pod.status.as_ref();
    let listed: Vec<&str> = match status.and_then(|s| s.pod_ips.as_ref()) {
        Some(ips) if !ips.is_empty() => ips.iter().map(|p| p.ip.as_str()).collect(),
        _ => status
            .and_then(|s| s.pod_ip.as_deref())
            .into_iter()
            .collect(),
    };
    listed
        .into_iter()
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .filter(|ip| AddressType::of(&ip.to_string()) == Some(family))
        .map(|ip| ip.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, PodStatus, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod_with_ports(ports: Vec<ContainerPort>, sidecar: Vec<ContainerPort>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    ports: Some(ports),
                    ..Default::default()
                }],
                init_containers: Some(vec![Container {
                    name: "proxy".into(),
                    restart_policy: Some("Always".into()),
                    ports: Some(sidecar),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn cport(name: &str, port: i32, proto: &str) -> ContainerPort {
        ContainerPort {
            name: Some(name.into()),
            container_port: port,
            protocol: Some(proto.into()),
            ..Default::default()
        }
    }

    fn sport(target: IntOrString, proto: &str) -> ServicePort {
        ServicePort {
            port: 80,
            target_port: Some(target),
            protocol: Some(proto.into()),
            ..Default::default()
        }
    }

    // FindPort cases of endpointslice utils_test.go TestFindPort / pod util_test.go.
    #[test]
    fn find_port_by_number_name_and_protocol() {
        let pod = pod_with_ports(
            vec![cport("http", 8080, "TCP"), cport("dns", 53, "UDP")],
            vec![cport("metrics", 9090, "TCP")],
        );
        assert_eq!(
            find_port(&pod, &sport(IntOrString::Int(9376), "TCP")),
            Some(9376)
        );
        assert_eq!(
            find_port(&pod, &sport(IntOrString::String("http".into()), "TCP")),
            Some(8080)
        );
        assert_eq!(
            find_port(&pod, &sport(IntOrString::String("dns".into()), "UDP")),
            Some(53)
        );
        // Same name, other protocol: no match.
        assert_eq!(
            find_port(&pod, &sport(IntOrString::String("dns".into()), "TCP")),
            None
        );
        assert_eq!(
            find_port(&pod, &sport(IntOrString::String("nope".into()), "TCP")),
            None
        );
        // Named ports of sidecar containers count.
        assert_eq!(
            find_port(&pod, &sport(IntOrString::String("metrics".into()), "TCP")),
            Some(9090)
        );
        // A numeric string is a name, not a number.
        assert_eq!(
            find_port(&pod, &sport(IntOrString::String("8080".into()), "TCP")),
            None
        );
    }

    #[test]
    fn membership_predicates() {
        let mut pod = Pod {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: Some("10.0.0.1".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(should_pod_be_in_endpoints(&pod, false));
        pod.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        assert!(!should_pod_be_in_endpoints(&pod, false));
        assert!(should_pod_be_in_endpoints(&pod, true));
        pod.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!should_pod_be_in_endpoints(&pod, true));
        pod.status.as_mut().unwrap().phase = Some("Running".into());
        pod.status.as_mut().unwrap().pod_ip = None;
        assert!(!should_pod_be_in_endpoints(&pod, true));

        let svc = Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("None".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        pod.spec = Some(PodSpec {
            hostname: Some("web-0".into()),
            subdomain: Some("web".into()),
            ..Default::default()
        });
        assert!(should_set_hostname(&pod, &svc));
        pod.spec.as_mut().unwrap().subdomain = Some("other".into());
        assert!(!should_set_hostname(&pod, &svc));
        assert!(!is_service_ip_set(&svc));
        assert_eq!(
            address_types(&svc),
            BTreeSet::from([AddressType::IPv4, AddressType::IPv6])
        );
    }
}
