//! One Service port as kube-proxy sees it (`BaseServicePortInfo` in `pkg/proxy/serviceport.go`
//! and `service.go`'s `newBaseServiceInfo`), built from the Service as the API server stored it:
//! no defaulting here, so a Service without a clusterIP or nodePort stays without one.
//!
//! Skipped as upstream skips them (`ShouldSkipService`): headless Services (`clusterIP: None`),
//! Services with no clusterIP, and ExternalName Services. Addresses of the other family are
//! dropped (IPv4 only for now). LoadBalancer ingress IPs count only for `type: LoadBalancer`
//! and only when their `ipMode` is unset or `VIP` (with `Proxy` the load balancer delivers to
//! the node, KEP-1860). Unparsable `loadBalancerSourceRanges` entries are skipped after
//! trimming spaces, as upstream does for backward compatibility.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Service;

use super::chain_name::{self, EXT, FW, SVC, SVL};

/// `v1.ServiceAffinityClientIP`'s default `timeoutSeconds` (`DefaultClientIPServiceAffinitySeconds`).
pub const DEFAULT_STICKY_SECONDS: u32 = 10_800;

pub use crate::object::protocol::Protocol;

/// `ServicePortName`: namespace, name, port name and protocol. Its display form
/// (`ns/name:port`, or `ns/name` for an unnamed port) is what chain hashes and comments use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    pub namespace: String,
    pub name: String,
    pub port: String,
    pub protocol: Protocol,
}

impl std::fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// The entries of `map` that belong to Service `namespace`/`name`, in key order (a range of
/// the map: its keys sort by namespace and name first).
pub fn ports_of<'a, V>(
    map: &'a BTreeMap<ServicePortName, V>,
    namespace: &'a str,
    name: &'a str,
) -> impl Iterator<Item = (&'a ServicePortName, &'a V)> + 'a {
    let first = ServicePortName {
        namespace: namespace.to_string(),
        name: name.to_string(),
        port: String::new(),
        protocol: Protocol::Tcp,
    };
    map.range(first..)
        .take_while(move |(k, _)| k.namespace == namespace && k.name == name)
}

/// One port of a Service, with what kube-proxy derives from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub name: ServicePortName,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    /// 0 when none.
    pub node_port: u16,
    pub external_ips: Vec<Ipv4Addr>,
    pub load_balancer_vips: Vec<Ipv4Addr>,
    pub load_balancer_source_ranges: Vec<Ipv4Net>,
    /// `externalTrafficPolicy: Local` on an externally accessible Service.
    pub external_policy_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_policy_local: bool,
    /// 0 when none; only kept for `type: LoadBalancer` with `externalTrafficPolicy: Local`.
    pub health_check_node_port: u16,
    /// `sessionAffinity: ClientIP`, with its timeout.
    pub sticky_seconds: Option<u32>,
    /// `spec.trafficDistribution` (`PreferClose`, `PreferSameZone`, `PreferSameNode`).
    pub traffic_distribution: Option<String>,
    /// The chain names, hashed once (upstream caches them on its `servicePortInfo` too).
    chains: [String; 4],
}

impl ServicePort {
    /// `ExternallyAccessible`: a NodePort, a load balancer VIP or an external IP.
    pub fn externally_accessible(&self) -> bool {
        self.node_port != 0 || !self.load_balancer_vips.is_empty() || !self.external_ips.is_empty()
    }
    /// `UsesClusterEndpoints`: internal traffic with Cluster policy, or any external traffic
    /// (even with Local external policy: pods and the node itself short-circuit to the
    /// Cluster endpoints through the `KUBE-EXT-` chain).
    pub fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || self.externally_accessible()
    }
    /// `UsesLocalEndpoints`.
    pub fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || self.external_policy_local
    }
    /// The display form, e.g. `ns1/svc1:p80`.
    pub fn name_string(&self) -> String {
        self.name.to_string()
    }
    /// `KUBE-SVC-…`.
    pub fn cluster_policy_chain(&self) -> &str {
        &self.chains[0]
    }
    /// `KUBE-SVL-…`.
    pub fn local_policy_chain(&self) -> &str {
        &self.chains[1]
    }
    /// `KUBE-EXT-…`.
    pub fn external_chain(&self) -> &str {
        &self.chains[2]
    }
    /// `KUBE-FW-…`.
    pub fn firewall_chain(&self) -> &str {
        &self.chains[3]
    }
}

/// The four per-port chain names of `name`.
fn chains_of(name: &ServicePortName) -> [String; 4] {
    let (s, p) = (name.to_string(), name.protocol.lower());
    [SVC, SVL, EXT, FW].map(|prefix| chain_name::service_chain(prefix, &s, p))
}

/// The ports of `svc` kube-proxy programs, in the Service's port order; empty for the
/// Services it skips. Ports with an unknown protocol or an out-of-range number are skipped.
pub fn service_ports(svc: &Service) -> Vec<ServicePort> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let Some(cluster_ip) = spec
        .cluster_ip
        .as_deref()
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
    else {
        return Vec::new();
    };
    let namespace = svc
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = svc.metadata.name.clone().unwrap_or_default();
    let v4 = |list: Option<&Vec<String>>| -> Vec<Ipv4Addr> {
        list.into_iter()
            .flatten()
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    };
    let external_ips = v4(spec.external_ips.as_ref());
    let load_balancer = spec.type_.as_deref() == Some("LoadBalancer");
    let load_balancer_vips: Vec<Ipv4Addr> = if load_balancer {
        svc.status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter(|i| i.ip_mode.as_deref().is_none_or(|m| m == "VIP"))
            .filter_map(|i| i.ip.as_deref()?.parse().ok())
            .collect()
    } else {
        Vec::new()
    };
    let load_balancer_source_ranges: Vec<Ipv4Net> = if load_balancer {
        spec.load_balancer_source_ranges
            .iter()
            .flatten()
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    } else {
        Vec::new()
    };
    let sticky_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(DEFAULT_STICKY_SECONDS)
    });
    let mut out = Vec::new();
    for p in spec.ports.iter().flatten() {
        let Some(protocol) = Protocol::from_api(p.protocol.as_deref()) else {
            continue;
        };
        let Ok(port) = u16::try_from(p.port) else {
            continue;
        };
        let node_port = p.node_port.and_then(|n| u16::try_from(n).ok()).unwrap_or(0);
        let spn = ServicePortName {
            namespace: namespace.clone(),
            name: name.clone(),
            port: p.name.clone().unwrap_or_default(),
            protocol,
        };
        let mut sp = ServicePort {
            chains: chains_of(&spn),
            name: spn,
            cluster_ip,
            port,
            node_port,
            external_ips: external_ips.clone(),
            load_balancer_vips: load_balancer_vips.clone(),
            load_balancer_source_ranges: load_balancer_source_ranges.clone(),
            external_policy_local: false,
            internal_policy_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
            health_check_node_port: 0,
            sticky_seconds,
            traffic_distribution: spec.traffic_distribution.clone(),
        };
        sp.external_policy_local =
            sp.externally_accessible() && spec.external_traffic_policy.as_deref() == Some("Local");
        // `NeedsHealthCheck`: a LoadBalancer with Local external policy.
        if load_balancer && spec.external_traffic_policy.as_deref() == Some("Local") {
            sp.health_check_node_port = spec
                .health_check_node_port
                .and_then(|n| u16::try_from(n).ok())
                .unwrap_or(0);
        }
        out.push(sp);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(namespace: &str, name: &str, port: &str, protocol: Protocol) -> ServicePortName {
        ServicePortName {
            namespace: namespace.into(),
            name: name.into(),
            port: port.into(),
            protocol,
        }
    }

    #[test]
    fn ports_of_yields_exactly_one_services_entries() {
        let keys = [
            key("x", "a", "", Protocol::Udp),
            key("x", "a", "", Protocol::Tcp),
            key("x", "a", "http", Protocol::Sctp),
            key("x", "a-b", "", Protocol::Tcp),
            key("x", "ab", "", Protocol::Tcp),
            key("x", "", "a", Protocol::Tcp),
            key("xa", "", "", Protocol::Tcp),
            key("y", "a", "", Protocol::Tcp),
        ];
        let map: BTreeMap<ServicePortName, usize> = keys
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        let got: Vec<usize> = ports_of(&map, "x", "a").map(|(_, v)| *v).collect();
        assert_eq!(got, vec![1, 0, 2]);
        assert_eq!(ports_of(&map, "x", "b").count(), 0);
        assert_eq!(ports_of(&map, "y", "a").count(), 1);
    }
}
