//! Ready-made topologies, built the way CNI plugins build them: a node namespace with a
//! bridge, pods on veth pairs, and two nodes joined either by routes (kubenet: each node's pod
//! CIDR routed via the other node) or by a VXLAN overlay (flannel's vxlan backend: `flannel.1`
//! with onlink routes, permanent neighbours and FDB entries). Used by the tests, benchmarks
//! and demos; every call here uses fixed, valid input, so a failure is a bug in this module.

use std::net::Ipv4Addr;

use smoltcp::wire::IpProtocol;

use crate::route::Route;
use crate::{DeviceId, LinkProps, NetNsId, Network, VxlanConfig};

/// Parses a literal IPv4 address.
///
/// # Panics
/// On a malformed literal (only literals are passed here).
pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("literal IPv4 address")
}

/// A node namespace with forwarding on and, if given, a bridge with the gateway address.
pub fn node(
    net: &mut Network,
    name: &str,
    bridge_cidr: Option<&str>,
) -> (NetNsId, Option<DeviceId>) {
    let ns = net.add_netns(name).expect(OK);
    net.sysctl(ns, "net.ipv4.ip_forward", "1").expect(OK);
    let br = bridge_cidr.map(|cidr| {
        let br = net.add_bridge(ns, "cbr0").expect(OK);
        net.add_addr(br, cidr).expect(OK);
        net.set_up(br);
        br
    });
    (ns, br)
}

/// A pod: its own namespace, `eth0` with `cidr`, the host end of the veth on `bridge`, and a
/// default route via `gw` (what the CNI bridge plugin sets up).
pub fn pod(
    net: &mut Network,
    node: NetNsId,
    bridge: DeviceId,
    name: &str,
    host_if: &str,
    cidr: &str,
    gw: &str,
) -> NetNsId {
    let ns = net.add_netns(name).expect(OK);
    let (eth0, host) = net.add_veth(ns, "eth0", node, host_if).expect(OK);
    net.add_addr(eth0, cidr).expect(OK);
    net.set_up(eth0);
    net.set_up(host);
    net.set_master(host, bridge).expect(OK);
    net.add_route(
        ns,
        Route::unicast("0.0.0.0/0".parse().expect(OK), Some(ip(gw)), eth0),
    )
    .expect(OK);
    ns
}

/// Two nodes on one link (192.168.0.11 and .12), each with a bridge and one pod.
pub struct TwoNodes {
    pub net: Network,
    pub node1: NetNsId,
    pub node2: NetNsId,
    pub pod_a: NetNsId,
    pub pod_b: NetNsId,
    pub eth1: DeviceId,
    pub eth2: DeviceId,
}

const OK: &str = "fixed, valid topology";

/// The shared part: two nodes with bridges, `eth0` NICs on one link with the given underlay
/// MTU and addresses 192.168.0.11/.12; `join` then connects the pod networks, and each node
/// gets one pod.
fn two_nodes(
    props: LinkProps,
    underlay_mtu: u32,
    join: impl FnOnce(&mut Network, [(NetNsId, DeviceId, Ipv4Addr); 2]),
) -> TwoNodes {
    let mut net = Network::new();
    let (node1, br1) = node(&mut net, "node-1", Some("10.244.1.1/24"));
    let (node2, br2) = node(&mut net, "node-2", Some("10.244.2.1/24"));
    let eth1 = net.add_nic(node1, "eth0").expect(OK);
    let eth2 = net.add_nic(node2, "eth0").expect(OK);
    net.connect(eth1, eth2, props).expect(OK);
    for (d, a) in [(eth1, "192.168.0.11/24"), (eth2, "192.168.0.12/24")] {
        net.set_mtu(d, underlay_mtu).expect(OK);
        net.add_addr(d, a).expect(OK);
        net.set_up(d);
    }
    join(
        &mut net,
        [
            (node1, eth1, ip("192.168.0.11")),
            (node2, eth2, ip("192.168.0.12")),
        ],
    );
    let pod_a = pod(
        &mut net,
        node1,
        br1.expect(OK),
        "pod-a",
        "veth-a",
        "10.244.1.2/24",
        "10.244.1.1",
    );
    let pod_b = pod(
        &mut net,
        node2,
        br2.expect(OK),
        "pod-b",
        "veth-b",
        "10.244.2.3/24",
        "10.244.2.1",
    );
    TwoNodes {
        net,
        node1,
        node2,
        pod_a,
        pod_b,
        eth1,
        eth2,
    }
}

/// The other node's pod CIDR, from node `i`'s point of view (node 0 has 10.244.1.0/24).
fn other_pod_cidr(i: usize) -> ipnet::Ipv4Net {
    format!("10.244.{}.0/24", 2 - i).parse().expect(OK)
}

/// kubenet-style: the pod CIDRs are routed to each other's node address.
pub fn two_nodes_routed(props: LinkProps) -> TwoNodes {
    two_nodes(props, crate::device::ETH_MTU, |net, nodes| {
        for i in 0..2 {
            let (ns, eth, _) = nodes[i];
            let peer = nodes[1 - i].2;
            net.add_route(ns, Route::unicast(other_pod_cidr(i), Some(peer), eth))
                .expect(OK);
        }
    })
}

/// flannel-vxlan-style: each node has `flannel.1` (VNI 1, port 8472) with a /32 address from
/// its pod CIDR, an onlink route to the other pod CIDR via the other flannel.1 address, and
/// permanent neighbour + FDB entries for the other node's VTEP.
pub fn two_nodes_vxlan(underlay_mtu: u32, vxlan_mtu: Option<u32>) -> TwoNodes {
    two_nodes(LinkProps::default(), underlay_mtu, |net, nodes| {
        let vteps: Vec<(DeviceId, Ipv4Addr)> = nodes
            .iter()
            .enumerate()
            .map(|(i, &(ns, eth, local))| {
                let cfg = VxlanConfig {
                    vni: 1,
                    local,
                    dstport: None,
                    dev: Some(eth),
                };
                let vx = net.add_vxlan(ns, "flannel.1", cfg).expect(OK);
                if let Some(m) = vxlan_mtu {
                    net.set_mtu(vx, m).expect(OK);
                }
                let addr = ip(&format!("10.244.{}.0", i + 1));
                net.add_addr(vx, &format!("{addr}/32")).expect(OK);
                net.set_up(vx);
                (vx, addr)
            })
            .collect();
        for i in 0..2 {
            let (vx, _) = vteps[i];
            let (peer_vx, peer_addr) = vteps[1 - i];
            let peer_mac = net.device(peer_vx).mac;
            let route = Route {
                onlink: true,
                ..Route::unicast(other_pod_cidr(i), Some(peer_addr), vx)
            };
            net.add_route(nodes[i].0, route).expect(OK);
            net.add_neigh(vx, peer_addr, peer_mac);
            net.vxlan_fdb_add(vx, peer_mac, nodes[1 - i].2).expect(OK);
        }
    })
}

/// An ICMP echo request from `src` to `dst` as a socket in the source namespace sends it.
pub fn ping(src: &str, dst: &str, size: usize, dont_frag: bool) -> Vec<u8> {
    let body = crate::packet::icmp_echo(false, 0x1234, 1, &vec![0x61; size]);
    crate::packet::ipv4(
        crate::packet::Ipv4Header {
            src: ip(src),
            dst: ip(dst),
            protocol: IpProtocol::Icmp,
            ttl: 64,
            ident: 1,
            dont_frag,
        },
        &body,
    )
}
