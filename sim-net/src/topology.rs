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
    let ns = net.add_netns(name).expect("fixed, valid topology");
    net.sysctl(ns, "net.ipv4.ip_forward", "1")
        .expect("fixed, valid topology");
    let br = bridge_cidr.map(|cidr| {
        let br = net.add_bridge(ns, "cbr0").expect("fixed, valid topology");
        net.add_addr(br, cidr).expect("fixed, valid topology");
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
    let ns = net.add_netns(name).expect("fixed, valid topology");
    let (eth0, host) = net
        .add_veth(ns, "eth0", node, host_if)
        .expect("fixed, valid topology");
    net.add_addr(eth0, cidr).expect("fixed, valid topology");
    net.set_up(eth0);
    net.set_up(host);
    net.set_master(host, bridge).expect("fixed, valid topology");
    net.add_route(
        ns,
        Route::unicast(
            "0.0.0.0/0".parse().expect("fixed, valid topology"),
            Some(ip(gw)),
            eth0,
        ),
    )
    .expect("fixed, valid topology");
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

/// kubenet-style: the pod CIDRs are routed to each other's node address.
pub fn two_nodes_routed(props: LinkProps) -> TwoNodes {
    let mut net = Network::new();
    let (node1, br1) = node(&mut net, "node-1", Some("10.244.1.1/24"));
    let (node2, br2) = node(&mut net, "node-2", Some("10.244.2.1/24"));
    let eth1 = net.add_nic(node1, "eth0").expect("fixed, valid topology");
    let eth2 = net.add_nic(node2, "eth0").expect("fixed, valid topology");
    net.connect(eth1, eth2, props)
        .expect("fixed, valid topology");
    for (d, a) in [(eth1, "192.168.0.11/24"), (eth2, "192.168.0.12/24")] {
        net.add_addr(d, a).expect("fixed, valid topology");
        net.set_up(d);
    }
    net.add_route(
        node1,
        Route::unicast(
            "10.244.2.0/24".parse().expect("fixed, valid topology"),
            Some(ip("192.168.0.12")),
            eth1,
        ),
    )
    .expect("fixed, valid topology");
    net.add_route(
        node2,
        Route::unicast(
            "10.244.1.0/24".parse().expect("fixed, valid topology"),
            Some(ip("192.168.0.11")),
            eth2,
        ),
    )
    .expect("fixed, valid topology");
    let pod_a = pod(
        &mut net,
        node1,
        br1.expect("fixed, valid topology"),
        "pod-a",
        "veth-a",
        "10.244.1.2/24",
        "10.244.1.1",
    );
    let pod_b = pod(
        &mut net,
        node2,
        br2.expect("fixed, valid topology"),
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

/// flannel-vxlan-style: each node has `flannel.1` (VNI 1, port 8472) with a /32 address from
/// its pod CIDR, an onlink route to the other pod CIDR via the other flannel.1 address, and
/// permanent neighbour + FDB entries for the other node's VTEP.
pub fn two_nodes_vxlan(underlay_mtu: u32, vxlan_mtu: Option<u32>) -> TwoNodes {
    let mut net = Network::new();
    let (node1, br1) = node(&mut net, "node-1", Some("10.244.1.1/24"));
    let (node2, br2) = node(&mut net, "node-2", Some("10.244.2.1/24"));
    let eth1 = net.add_nic(node1, "eth0").expect("fixed, valid topology");
    let eth2 = net.add_nic(node2, "eth0").expect("fixed, valid topology");
    net.connect(eth1, eth2, LinkProps::default())
        .expect("fixed, valid topology");
    let mut vteps = Vec::new();
    for (ns, eth, addr, local, flannel_ip) in [
        (
            node1,
            eth1,
            "192.168.0.11/24",
            "192.168.0.11",
            "10.244.1.0/32",
        ),
        (
            node2,
            eth2,
            "192.168.0.12/24",
            "192.168.0.12",
            "10.244.2.0/32",
        ),
    ] {
        net.set_mtu(eth, underlay_mtu)
            .expect("fixed, valid topology");
        net.add_addr(eth, addr).expect("fixed, valid topology");
        net.set_up(eth);
        let vx = net
            .add_vxlan(
                ns,
                "flannel.1",
                VxlanConfig {
                    vni: 1,
                    local: ip(local),
                    dstport: None,
                    dev: Some(eth),
                },
            )
            .expect("fixed, valid topology");
        if let Some(m) = vxlan_mtu {
            net.set_mtu(vx, m).expect("fixed, valid topology");
        }
        net.add_addr(vx, flannel_ip).expect("fixed, valid topology");
        net.set_up(vx);
        vteps.push(vx);
    }
    let (vx1, vx2) = (vteps[0], vteps[1]);
    let (mac1, mac2) = (net.device(vx1).mac, net.device(vx2).mac);
    net.add_route(
        node1,
        Route {
            onlink: true,
            ..Route::unicast(
                "10.244.2.0/24".parse().expect("fixed, valid topology"),
                Some(ip("10.244.2.0")),
                vx1,
            )
        },
    )
    .expect("fixed, valid topology");
    net.add_route(
        node2,
        Route {
            onlink: true,
            ..Route::unicast(
                "10.244.1.0/24".parse().expect("fixed, valid topology"),
                Some(ip("10.244.1.0")),
                vx2,
            )
        },
    )
    .expect("fixed, valid topology");
    net.add_neigh(vx1, ip("10.244.2.0"), mac2);
    net.add_neigh(vx2, ip("10.244.1.0"), mac1);
    net.vxlan_fdb_add(vx1, mac2, ip("192.168.0.12"))
        .expect("fixed, valid topology");
    net.vxlan_fdb_add(vx2, mac1, ip("192.168.0.11"))
        .expect("fixed, valid topology");
    let pod_a = pod(
        &mut net,
        node1,
        br1.expect("fixed, valid topology"),
        "pod-a",
        "veth-a",
        "10.244.1.2/24",
        "10.244.1.1",
    );
    let pod_b = pod(
        &mut net,
        node2,
        br2.expect("fixed, valid topology"),
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
