//! Replaying a capture into a running cluster: where the packets come from (a pod, a node,
//! or an external client on the cluster's network), reading the file with errors that name
//! it and the byte offset, and running the injection in the cluster's engine. Shared by
//! `kube-netsim replay` and the scenario runner's `replay` step; the dataplane side
//! (flows, fates, diff) is [`sim_net::replay`].
//!
//! An external client is a namespace `external-IP` on the cluster's segment (the VPC), with
//! `eth0` holding IP — in the node subnet if IP is in it, else as a /32 with a link route
//! to the cloud router, which gets a route back — and a default route via the cloud
//! router, like a VM next to the nodes. Created on first use.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;
use std::str::FromStr;

use sim_core::{Engine, SimDuration, SimTime};
use sim_k8s::cluster::control::{ClusterEvent, ClusterSim};
use sim_net::NetNsId;
use sim_net::replay::{FlowReport, Plan, ReplayOptions, plan};
use sim_net::route::Route;

/// How long the run goes on after the last injected packet, so that answers, retransmits
/// and timeouts play out (a Linux client's SYN retransmits start at 1 s).
pub const DRAIN: SimDuration = SimDuration::from_secs(3);

/// Where replayed packets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `NAMESPACE/NAME`: a running pod, from its sandbox with its pod IP.
    Pod { namespace: String, name: String },
    /// `node/NAME`: a node's own namespace, with its InternalIP.
    Node(String),
    /// `external/IP`: a client outside the cluster, on its network.
    External(Ipv4Addr),
}

impl FromStr for Origin {
    type Err = String;

    /// `NAMESPACE/NAME`, `node/NAME` or `external/IP` (the two prefixes win over a
    /// namespace of that name).
    fn from_str(s: &str) -> Result<Origin, String> {
        let expected = "expected NAMESPACE/POD, node/NAME or external/IP";
        match s.split_once('/') {
            Some(("node", n)) if !n.is_empty() && !n.contains('/') => Ok(Origin::Node(n.into())),
            Some(("external", ip)) => ip
                .parse()
                .map(Origin::External)
                .map_err(|_| format!("{s:?}: {ip:?} is not an IPv4 address; {expected}")),
            Some((ns, n)) if !ns.is_empty() && !n.is_empty() && !n.contains('/') => {
                Ok(Origin::Pod {
                    namespace: ns.into(),
                    name: n.into(),
                })
            }
            _ => Err(format!("{s:?}: {expected}")),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Origin::Node(n) => write!(f, "node/{n}"),
            Origin::External(ip) => write!(f, "external/{ip}"),
        }
    }
}

/// Reads and plans a capture file; errors name the file (and the byte offset, for a
/// corrupt one).
pub fn read_plan(path: &Path, opts: &ReplayOptions) -> Result<Plan, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    plan(&data, opts).map_err(|e| format!("{}: {e}", path.display()))
}

/// The namespace and source address of `origin` in the running cluster.
pub fn resolve(world: &mut ClusterSim, origin: &Origin) -> Result<(NetNsId, Ipv4Addr), String> {
    let c = &world.cluster;
    match origin {
        Origin::Pod { namespace, name } => c
            .pods
            .get(&format!("{namespace}/{name}"))
            .map(|p| (p.sandbox.netns, p.ip))
            .ok_or_else(|| format!("pod {namespace}/{name} is not running")),
        Origin::Node(n) => c
            .nodes
            .get(n)
            .map(|r| (r.netns, r.ip))
            .ok_or_else(|| format!("node {n} does not exist")),
        Origin::External(ip) => external_client(world, *ip).map(|ns| (ns, *ip)),
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
        return Err(format!("external/{ip}: {ip} is an address in the cluster"));
    }
    let router_ip = Ipv4Addr::from(u32::from(subnet.network()) + 1);
    let e = |e: sim_net::TopologyError| format!("external/{ip}: {e}");
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

/// Injects `plan` from `origin` at `start` (or now, if later) into the running cluster,
/// runs until [`DRAIN`] after the last packet, and reports what became of each flow (pod
/// sandboxes named as their pods, `NAMESPACE/NAME`).
/// `opts.source` and `opts.start` are set here.
pub fn replay_in(
    engine: &mut Engine<ClusterSim>,
    plan: &Plan,
    origin: &Origin,
    opts: &ReplayOptions,
    start: SimTime,
) -> Result<Vec<FlowReport>, String> {
    let (ns, ip) = resolve(engine.world_mut(), origin)?;
    let opts = ReplayOptions {
        source: Some(ip),
        start: start.max(engine.now()),
        ..opts.clone()
    };
    let world = engine.world_mut();
    world.sim.hops.clear();
    let (injection, events) = plan.inject(&mut world.sim, ns, &opts);
    for e in events {
        engine.schedule_at(e.at, ClusterEvent::Net(e.event));
    }
    engine
        .run_until(
            injection
                .last_at()
                .checked_add(DRAIN)
                .unwrap_or(SimTime::MAX),
        )
        .map_err(|e| e.to_string())?;
    let world = engine.world_mut();
    let mut reports = injection.report(&world.sim);
    injection.release(&mut world.sim);
    world.sim.hops.clear();
    // A pod's sandbox namespace is named after the pod.
    let pods: BTreeMap<String, String> = world
        .cluster
        .pods
        .iter()
        .map(|(key, p)| {
            (
                world.sim.net.netns(p.sandbox.netns).name.clone(),
                key.clone(),
            )
        })
        .collect();
    for r in &mut reports {
        r.rename_netns(|ns| pods.get(ns).cloned());
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_in_their_three_forms() {
        assert_eq!(
            "demo/client".parse::<Origin>().unwrap(),
            Origin::Pod {
                namespace: "demo".into(),
                name: "client".into()
            }
        );
        assert_eq!(
            "node/node-a".parse::<Origin>().unwrap(),
            Origin::Node("node-a".into())
        );
        assert_eq!(
            "external/203.0.113.7"
                .parse::<Origin>()
                .unwrap()
                .to_string(),
            "external/203.0.113.7"
        );
        assert!("external/nope".parse::<Origin>().is_err());
        assert!("client".parse::<Origin>().is_err());
        assert!("a/b/c".parse::<Origin>().is_err());
    }
}
