//! Properties over random topologies: conservation (every packet ends delivered, consumed or
//! dropped with a reason), termination (no walk runs out of budget), determinism.

use proptest::prelude::*;
use sim_core::SimTime;
use sim_net::route::Route;
use sim_net::topology::{ip, node, ping, pod};
use sim_net::{LinkProps, Network};

/// A random cluster: 1 to 3 nodes on a chain of links, each with 1 to 3 pods, some routes,
/// hairpin and forwarding switches flipped, some links down.
#[derive(Debug, Clone)]
struct Spec {
    pods_per_node: Vec<u8>,
    missing_routes: Vec<bool>,
    forwarding_off: Vec<bool>,
    hairpin: Vec<bool>,
    link_down: Vec<bool>,
    pings: Vec<(usize, usize)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=3).prop_flat_map(|n| {
        (
            prop::collection::vec(1u8..=3, n),
            prop::collection::vec(prop::bool::weighted(0.2), n * n),
            prop::collection::vec(prop::bool::weighted(0.15), n),
            prop::collection::vec(prop::bool::weighted(0.3), n),
            prop::collection::vec(prop::bool::weighted(0.15), n),
            prop::collection::vec((0usize..16, 0usize..16), 1..6),
        )
            .prop_map(
                |(pods_per_node, missing_routes, forwarding_off, hairpin, link_down, pings)| Spec {
                    pods_per_node,
                    missing_routes,
                    forwarding_off,
                    hairpin,
                    link_down,
                    pings,
                },
            )
    })
}

/// Builds the cluster; returns it with every pod's (namespace, address), plus two addresses
/// nobody has.
fn build(s: &Spec) -> (Network, Vec<(sim_net::NetNsId, String)>) {
    let mut net = Network::new();
    let n = s.pods_per_node.len();
    let mut nodes = Vec::new();
    for i in 0..n {
        let (ns, br) = node(
            &mut net,
            &format!("node-{i}"),
            Some(&format!("10.244.{i}.1/24")),
        );
        nodes.push((ns, br.unwrap()));
    }
    // A chain: node i's eth-right to node i+1's eth-left, on 192.168.i.0/30.
    let mut nics = vec![(None, None); n];
    for i in 0..n.saturating_sub(1) {
        let a = net.add_nic(nodes[i].0, "eth-right").unwrap();
        let b = net.add_nic(nodes[i + 1].0, "eth-left").unwrap();
        let l = net.connect(a, b, LinkProps::default()).unwrap();
        net.add_addr(a, &format!("192.168.{i}.1/30")).unwrap();
        net.add_addr(b, &format!("192.168.{i}.2/30")).unwrap();
        net.set_up(a);
        net.set_up(b);
        nics[i].1 = Some(a);
        nics[i + 1].0 = Some(b);
        if s.link_down[i] {
            net.link_mut(l).up = false;
        }
    }
    for i in 0..n {
        for j in 0..n {
            if i == j || s.missing_routes[i * n + j] {
                continue;
            }
            let (dev, via) = if j > i {
                (nics[i].1.unwrap(), format!("192.168.{i}.2"))
            } else {
                (nics[i].0.unwrap(), format!("192.168.{}.1", i - 1))
            };
            net.add_route(
                nodes[i].0,
                Route::unicast(
                    format!("10.244.{j}.0/24").parse().unwrap(),
                    Some(ip(&via)),
                    dev,
                ),
            )
            .unwrap();
        }
        if s.forwarding_off[i] {
            net.sysctl(nodes[i].0, "net.ipv4.ip_forward", "0").unwrap();
        }
    }
    let mut pods = Vec::new();
    for (i, &count) in s.pods_per_node.iter().enumerate() {
        for k in 0..count {
            let addr = format!("10.244.{i}.{}", 10 + k);
            let host_if = format!("veth{i}{k}");
            let p = pod(
                &mut net,
                nodes[i].0,
                nodes[i].1,
                &format!("pod-{i}-{k}"),
                &host_if,
                &format!("{addr}/24"),
                &format!("10.244.{i}.1"),
            );
            if s.hairpin[i] {
                let h = net.device_id(nodes[i].0, &host_if).unwrap();
                net.set_hairpin(h, true);
            }
            pods.push((p, addr));
        }
    }
    (net, pods)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_packet_is_delivered_consumed_or_dropped_with_a_reason(s in spec()) {
        let (mut net, pods) = build(&s);
        let mut targets: Vec<String> = pods.iter().map(|(_, a)| a.clone()).collect();
        targets.push("10.244.0.250".into());
        targets.push("203.0.113.1".into());
        for &(from, to) in &s.pings {
            let (src_ns, src) = &pods[from % pods.len()];
            let dst = &targets[to % targets.len()];
            let mut twin = net.clone();
            let w = net.walk_output(SimTime::ZERO, *src_ns, ping(src, dst, 8, false));
            prop_assert!(!w.truncated, "walk ran out of budget:\n{}", w.render());
            let tags: std::collections::BTreeSet<u32> = w.hops.iter().map(|h| h.tag).collect();
            for t in &tags {
                prop_assert!(w.fates.contains_key(t), "packet #{} has no fate:\n{}", t, w.render());
            }
            prop_assert!(w.fate().is_some());
            // Determinism: the same network state walks the same way.
            let w2 = twin.walk_output(SimTime::ZERO, *src_ns, ping(src, dst, 8, false));
            prop_assert_eq!(&w.hops, &w2.hops);
            prop_assert_eq!(&net, &twin, "same side effects");
        }
    }
}

/// A frame for `dst_mac` carrying an IPv4 header with a valid checksum (so it passes `ip_rcv`)
/// but arbitrary options, protocol, flags and a transport part of any length, padded or not.
fn hostile_frame(
    dst_mac: smoltcp::wire::EthernetAddress,
    dst: std::net::Ipv4Addr,
    (ihl, proto, frag, tail, pad): (u8, u8, u16, Vec<u8>, usize),
) -> Vec<u8> {
    let hlen = usize::from(ihl) * 4;
    let mut ip = vec![0u8; hlen + tail.len()];
    ip[0] = 0x40 | ihl;
    ip[2..4].copy_from_slice(&((hlen + tail.len()) as u16).to_be_bytes());
    ip[6..8].copy_from_slice(&frag.to_be_bytes());
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&[10, 244, 1, 2]);
    ip[16..20].copy_from_slice(&dst.octets());
    ip[hlen..].copy_from_slice(&tail);
    smoltcp::wire::Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
    ip.extend(std::iter::repeat_n(0, pad));
    sim_net::packet::ethernet(
        smoltcp::wire::EthernetAddress([2, 0, 0, 0, 0x77, 1]),
        dst_mac,
        smoltcp::wire::EthernetProtocol::Ipv4,
        &ip,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Malformed input from a wire (a replayed capture, a hostile peer) never panics the path:
    /// it is dropped with a reason or handled as Linux would.
    #[test]
    fn hostile_frames_never_panic(
        shape in (prop_oneof![3 => Just(5u8), 1 => 6u8..=15],
                  prop::sample::select(vec![1u8, 6, 17, 47]),
                  prop::sample::select(vec![0u16, 0x4000, 0x2000, 0x0001]),
                  prop::collection::vec(any::<u8>(), 0..28), 0usize..20),
        to_node in any::<bool>(),
        raw in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut t = sim_net::topology::two_nodes_vxlan(1500, None);
        // Arrives on node-2's eth0 (for the node itself, incl. its VXLAN port) or pod-b's eth0.
        let (dev, dst) = if to_node {
            (t.eth2, ip("192.168.0.12"))
        } else {
            (t.net.device_id(t.pod_b, "eth0").unwrap(), ip("10.244.2.3"))
        };
        let mac = t.net.device(dev).mac;
        let mut shape = shape;
        if to_node && shape.1 == 17 && shape.3.len() >= 4 {
            shape.3[2..4].copy_from_slice(&8472u16.to_be_bytes()); // aim at the VXLAN socket
        }
        let w = t.net.walk_frame(SimTime::ZERO, dev, hostile_frame(mac, dst, shape));
        prop_assert!(w.fate().is_some(), "{}", w.render());
        let w = t.net.walk_frame(SimTime::ZERO, dev, raw);
        prop_assert!(w.fate().is_some(), "{}", w.render());
    }
}
