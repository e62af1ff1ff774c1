//! Where traffic comes from — a pod, a node, or a host outside the cluster — in the one
//! syntax that `send.from`, the `replay` step and `kube-netsim replay --from` share:
//! `NAMESPACE/NAME`, `node:NAME` or `external:NAME|IP`.
//!
//! `external:` names a host of `cluster.external` (by name or address). Any other IPv4
//! address gets an ad-hoc client: a namespace `external-IP` on the cluster's segment (the
//! VPC), with `eth0` holding IP — in the node subnet if IP is in it, else as a /32 with a
//! link route to the cloud router, which gets a route back — and a default route via the
//! cloud router, like a VM next to the nodes. Created on first use.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use sim_k8s::cluster::control::ClusterSim;
use sim_net::NetNsId;
use sim_net::route::Route;

/// A sender of traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `NAMESPACE/NAME`: a running pod, from its sandbox with its pod IP.
    Pod { namespace: String, name: String },
    /// `node:NAME`: a node's own namespace (a hostNetwork process), with its InternalIP.
    Node(String),
    /// `external:NAME` or `external:IP`: a host outside the cluster.
    External(String),
}

const EXPECTED: &str = "expected NAMESPACE/NAME, node:NAME or external:NAME|IP";

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Source, String> {
        let named = |n: &str, make: fn(String) -> Source| {
            if n.is_empty() || n.contains('/') || n.contains(':') {
                Err(format!("{s:?}: {EXPECTED}"))
            } else {
                Ok(make(n.to_string()))
            }
        };
        if let Some(n) = s.strip_prefix("node:") {
            return named(n, Source::Node);
        }
        if let Some(n) = s.strip_prefix("external:") {
            return named(n, Source::External);
        }
        match s.split_once('/') {
            Some((ns, n))
                if !ns.is_empty() && !n.is_empty() && !n.contains('/') && !s.contains(':') =>
            {
                Ok(Source::Pod {
                    namespace: ns.into(),
                    name: n.into(),
                })
            }
            _ => Err(format!("{s:?}: {EXPECTED}")),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Source::Node(n) => write!(f, "node:{n}"),
            Source::External(n) => write!(f, "external:{n}"),
        }
    }
}

/// The namespace and source address of `source` in the running cluster (creating an
/// ad-hoc external client, see the module doc).
pub fn resolve(world: &mut ClusterSim, source: &Source) -> Result<(NetNsId, Ipv4Addr), String> {
    let c = &world.cluster;
    match source {
        Source::Pod { namespace, name } => c
            .pods
            .get(&format!("{namespace}/{name}"))
            .map(|p| (p.sandbox.netns, p.ip))
            .ok_or_else(|| format!("pod {namespace}/{name} is not running")),
        Source::Node(n) => c
            .nodes
            .get(n)
            .map(|r| (r.netns, r.ip))
            .ok_or_else(|| format!("node {n} does not exist")),
        Source::External(n) => {
            if let Some(&host) = c.externals.get(n) {
                return Ok(host);
            }
            let Ok(ip) = n.parse::<Ipv4Addr>() else {
                return Err(format!(
                    "no external host {n} in cluster.external (and {n:?} is not an IPv4 address)"
                ));
            };
            if let Some(&host) = c.externals.values().find(|(_, a)| *a == ip) {
                return Ok(host);
            }
            external_client(world, ip).map(|ns| (ns, ip))
        }
    }
}

/// The `external-IP` namespace (see the module doc), created on first use.
fn external_client(world: &mut ClusterSim, ip: Ipv4Addr) -> Result<NetNsId, String> {
    let name = format!("external-{ip}");
    let (segment, router, subnet, link) = {
        let c = &world.cluster;
        (c.segment, c.router, c.config.node_subnet, c.config.link)
    };
    let net = &mut world.sim.net;
    if let Ok(ns) = net.netns_id(&name) {
        return Ok(ns);
    }
    let taken = net
        .all_netns()
        .any(|(id, _)| id != router && net.is_local(id, ip))
        || net.is_local(router, ip);
    if taken {
        return Err(format!("external:{ip}: {ip} is an address in the cluster"));
    }
    let router_ip = Ipv4Addr::from(u32::from(subnet.network()) + 1);
    let e = |e: sim_net::TopologyError| format!("external:{ip}: {e}");
    let ns = net.add_netns(&name).map_err(e)?;
    let eth0 = net.add_nic(ns, "eth0").map_err(e)?;
    net.attach(eth0, segment, link).map_err(e)?;
    net.set_up(eth0);
    let host = |a: Ipv4Addr| format!("{a}/32").parse().expect("an address is a /32");
    if subnet.contains(&ip) {
        net.add_addr(eth0, &format!("{ip}/{}", subnet.prefix_len()))
            .map_err(e)?;
    } else {
        net.add_addr(eth0, &format!("{ip}/32")).map_err(e)?;
        net.add_route(ns, Route::unicast(host(router_ip), None, eth0))
            .map_err(e)?;
        let r_eth = net.device_id(router, "eth0").map_err(e)?;
        net.add_route(router, Route::unicast(host(ip), None, r_eth))
            .map_err(e)?;
    }
    let default = "0.0.0.0/0".parse().expect("literal");
    net.add_route(ns, Route::unicast(default, Some(router_ip), eth0))
        .map_err(e)?;
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_in_their_three_forms() {
        assert_eq!(
            "demo/client".parse::<Source>().unwrap(),
            Source::Pod {
                namespace: "demo".into(),
                name: "client".into()
            }
        );
        assert_eq!(
            "node:node-a".parse::<Source>().unwrap(),
            Source::Node("node-a".into())
        );
        for s in [
            "demo/client",
            "node:node-a",
            "external:203.0.113.7",
            "external:laptop",
        ] {
            assert_eq!(s.parse::<Source>().unwrap().to_string(), s);
        }
        for bad in [
            "client",
            "a/b/c",
            "node:",
            "external:",
            "node:a/b",
            "pod:web",
            "/x",
        ] {
            let e = bad.parse::<Source>().unwrap_err();
            assert!(e.contains(EXPECTED), "{bad}: {e}");
        }
    }
}
