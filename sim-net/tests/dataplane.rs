//! Scenario tests of the packet path, each checked against what Linux does, with the hop
//! lists pinned as insta snapshots.

mod common;

use common::*;
use sim_core::SimTime;
use sim_net::packet::{self, Ipv4Header, TCP_RST, TCP_SYN};
use sim_net::route::Route;
use sim_net::{DropReason, LinkProps, Network, Point, SocketProto, Verdict};
use smoltcp::wire::IpProtocol;

const T0: SimTime = SimTime::ZERO;

/// Every packet the walk saw ended in a delivery, a consumption or a drop with a reason.
fn assert_conserved(w: &sim_net::Walk) {
    assert!(!w.truncated);
    let tags: std::collections::BTreeSet<u32> = w.hops.iter().map(|h| h.tag).collect();
    for t in tags {
        assert!(
            w.fates.contains_key(&t),
            "packet #{t} has no fate:\n{}",
            w.render()
        );
    }
}

#[test]
fn two_pods_on_one_bridge_ping_with_arp_first() {
    let mut net = Network::new();
    let (node, br) = node(&mut net, "node-1", Some("10.244.1.1/24"));
    let a = pod(
        &mut net,
        node,
        br.unwrap(),
        "pod-a",
        "veth-a",
        "10.244.1.2/24",
        "10.244.1.1",
    );
    let _b = pod(
        &mut net,
        node,
        br.unwrap(),
        "pod-b",
        "veth-b",
        "10.244.1.3/24",
        "10.244.1.1",
    );
    let w = net.walk_output(T0, a, ping("10.244.1.2", "10.244.1.3", 8, false));
    assert_conserved(&w);
    assert_eq!(
        w.fate(),
        Some(Verdict::Consume),
        "the kernel answers the echo"
    );
    // The reply reaches pod-a's socket.
    assert_eq!(w.delivered.len(), 1);
    let reply = packet::describe_ipv4(&w.delivered[0].packet);
    assert!(
        reply.starts_with("10.244.1.3 > 10.244.1.2: ICMP echo reply"),
        "{reply}"
    );
    insta::assert_snapshot!(w.render());
    // Second ping: neighbours are known now, no ARP.
    let w2 = net.walk_output(T0, a, ping("10.244.1.2", "10.244.1.3", 8, false));
    assert!(
        w2.hops.iter().all(|h| h.point != Point::Arp),
        "{}",
        w2.render()
    );
    assert_eq!(w2.delivered.len(), 1);
}

#[test]
fn pods_on_two_routed_nodes_ping_across_the_link() {
    let mut t = two_nodes_routed(LinkProps::default());
    let w = t
        .net
        .walk_output(T0, t.pod_a, ping("10.244.1.2", "10.244.2.3", 8, false));
    assert_conserved(&w);
    assert_eq!(w.delivered.len(), 1, "{}", w.render());
    // Forwarded twice each way: TTL 64 - 2 on arrival.
    let reply = packet::parse_ipv4(&w.delivered[0].packet).unwrap();
    assert_eq!(
        (reply.src, reply.dst, reply.ttl),
        (ip("10.244.2.3"), ip("10.244.1.2"), 62)
    );
    insta::assert_snapshot!(w.render());
}

#[test]
fn vxlan_overlay_carries_pod_traffic() {
    let mut t = two_nodes_vxlan(1500, None);
    assert_eq!(
        t.net
            .device(t.net.device_id(t.node1, "flannel.1").unwrap())
            .mtu,
        1450
    );
    let w = t
        .net
        .walk_output(T0, t.pod_a, ping("10.244.1.2", "10.244.2.3", 56, true));
    assert_conserved(&w);
    assert_eq!(w.delivered.len(), 1, "{}", w.render());
    let encaps: Vec<_> = w
        .hops
        .iter()
        .filter(|h| h.point == Point::VxlanEncap)
        .collect();
    assert_eq!(encaps.len(), 2, "request and reply are both encapsulated");
    assert!(
        encaps[0].note.contains("vni 1 to 192.168.0.12:8472"),
        "{}",
        encaps[0].note
    );
    insta::assert_snapshot!(w.render());
}

#[test]
fn mtu_mismatch_across_vxlan_yields_fragmentation_needed() {
    // flannel.1 left at 1500 over a 1500 underlay: a full-size DF packet cannot be carried.
    let mut t = two_nodes_vxlan(1500, Some(1500));
    let w = t
        .net
        .walk_output(T0, t.pod_a, ping("10.244.1.2", "10.244.2.3", 1472, true));
    assert_conserved(&w);
    assert_eq!(
        w.fate(),
        Some(Verdict::Drop(DropReason::Mtu)),
        "{}",
        w.render()
    );
    assert_eq!(
        w.delivered.len(),
        1,
        "the sender gets the ICMP error:\n{}",
        w.render()
    );
    let icmp = packet::describe_ipv4(&w.delivered[0].packet);
    assert!(icmp.contains("frag needed, mtu 1450"), "{icmp}");
}

#[test]
fn ttl_loop_between_two_routers_ends_in_time_exceeded() {
    let mut net = Network::new();
    let (r1, _) = node(&mut net, "r1", None);
    let (r2, _) = node(&mut net, "r2", None);
    let (h, _) = node(&mut net, "host", None);
    let (a, b) = net.add_veth(r1, "to-r2", r2, "to-r1").unwrap();
    let (hh, hr) = net.add_veth(h, "eth0", r1, "to-host").unwrap();
    for (d, c) in [
        (a, "10.0.12.1/30"),
        (b, "10.0.12.2/30"),
        (hh, "10.0.1.2/24"),
        (hr, "10.0.1.1/24"),
    ] {
        net.add_addr(d, c).unwrap();
        net.set_up(d);
    }
    net.add_route(
        h,
        Route::unicast("0.0.0.0/0".parse().unwrap(), Some(ip("10.0.1.1")), hh),
    )
    .unwrap();
    // Each router sends 203.0.113.0/24 to the other.
    net.add_route(
        r1,
        Route::unicast("203.0.113.0/24".parse().unwrap(), Some(ip("10.0.12.2")), a),
    )
    .unwrap();
    net.add_route(
        r2,
        Route::unicast("203.0.113.0/24".parse().unwrap(), Some(ip("10.0.12.1")), b),
    )
    .unwrap();
    net.add_route(
        r2,
        Route::unicast("10.0.1.0/24".parse().unwrap(), Some(ip("10.0.12.1")), b),
    )
    .unwrap();
    let w = net.walk_output(T0, h, ping("10.0.1.2", "203.0.113.9", 8, false));
    assert_conserved(&w);
    assert_eq!(w.fate(), Some(Verdict::Drop(DropReason::TtlExceeded)));
    let forwards = w
        .hops
        .iter()
        .filter(|h| h.tag == 0 && h.point == Point::Forward)
        .count();
    assert_eq!(
        forwards, 64,
        "TTL 64 allows 63 forwards, the 64th router drops it"
    );
    assert_eq!(w.delivered.len(), 1);
    let err = packet::describe_ipv4(&w.delivered[0].packet);
    assert!(err.contains("time exceeded in-transit"), "{err}");
}

#[test]
fn closed_ports_answer_like_the_kernel() {
    let mut t = two_nodes_routed(LinkProps::default());
    let udp = packet::ipv4(
        Ipv4Header {
            src: ip("10.244.1.2"),
            dst: ip("10.244.2.3"),
            protocol: IpProtocol::Udp,
            ttl: 64,
            ident: 9,
            dont_frag: false,
        },
        &packet::udp(ip("10.244.1.2"), 40000, ip("10.244.2.3"), 53, b"x"),
    );
    let w = t.net.walk_output(T0, t.pod_a, udp.clone());
    assert_eq!(w.fate(), Some(Verdict::Drop(DropReason::NoSocket)));
    assert!(packet::describe_ipv4(&w.delivered[0].packet).contains("port unreachable"));
    // Once a socket listens, the datagram is delivered instead.
    t.net.listen(t.pod_b, SocketProto::Udp, 53);
    let w = t.net.walk_output(T0, t.pod_a, udp);
    assert_eq!(w.fate(), Some(Verdict::Deliver));

    let syn = packet::ipv4(
        Ipv4Header {
            src: ip("10.244.1.2"),
            dst: ip("10.244.2.3"),
            protocol: IpProtocol::Tcp,
            ttl: 64,
            ident: 10,
            dont_frag: true,
        },
        &packet::tcp(
            ip("10.244.1.2"),
            40001,
            ip("10.244.2.3"),
            80,
            1000,
            0,
            TCP_SYN,
            64240,
        ),
    );
    // The connecting socket in pod-a is bound to its source port.
    t.net.listen(t.pod_a, SocketProto::Tcp, 40001);
    let w = t.net.walk_output(T0, t.pod_a, syn);
    assert_eq!(w.fate(), Some(Verdict::Drop(DropReason::NoSocket)));
    let rst = &w.delivered[0].packet;
    assert_eq!(rst[packet::IPV4_HLEN + 13] & TCP_RST, TCP_RST);
    // RST|ACK acknowledging the SYN: ack = seq + 1.
    assert_eq!(
        u32::from_be_bytes(
            rst[packet::IPV4_HLEN + 8..packet::IPV4_HLEN + 12]
                .try_into()
                .unwrap()
        ),
        1001
    );
}

#[test]
fn drops_name_their_reason() {
    let mut t = two_nodes_routed(LinkProps::default());
    // No route on node-2 back to an unknown source: node-1 has no route to 172.16/12 at all.
    let w = t
        .net
        .walk_output(T0, t.node1, ping("192.168.0.11", "172.16.0.1", 8, false));
    assert_eq!(w.fate(), Some(Verdict::Drop(DropReason::NoRoute)));
    // A silent neighbour: ARP fails, and the sender hears "host unreachable".
    let w = t
        .net
        .walk_output(T0, t.pod_a, ping("10.244.1.2", "10.244.1.77", 8, false));
    assert_eq!(
        w.fate(),
        Some(Verdict::Drop(DropReason::NeighFailed)),
        "{}",
        w.render()
    );
    // Forwarding off on node-1.
    t.net.sysctl(t.node1, "net.ipv4.ip_forward", "0").unwrap();
    let w = t
        .net
        .walk_output(T0, t.pod_a, ping("10.244.1.2", "10.244.2.3", 8, false));
    assert_eq!(
        w.fate(),
        Some(Verdict::Drop(DropReason::ForwardingDisabled)),
        "{}",
        w.render()
    );
    // Link down, once the neighbours are known: the frame dies on the wire.
    t.net.sysctl(t.node1, "net.ipv4.ip_forward", "1").unwrap();
    let w = t
        .net
        .walk_output(T0, t.pod_a, ping("10.244.1.2", "10.244.2.3", 8, false));
    assert_eq!(w.delivered.len(), 1, "{}", w.render());
    let link = t.net.all_links().next().unwrap().0;
    t.net.link_mut(link).up = false;
    let w = t
        .net
        .walk_output(T0, t.pod_a, ping("10.244.1.2", "10.244.2.3", 8, false));
    assert_eq!(
        w.fate(),
        Some(Verdict::Drop(DropReason::LinkDown)),
        "{}",
        w.render()
    );
}

#[test]
fn hairpin_decides_whether_a_frame_may_return_to_its_port() {
    let mut net = Network::new();
    let (node, br) = node(&mut net, "node-1", Some("10.244.1.1/24"));
    let br = br.unwrap();
    let a = pod(
        &mut net,
        node,
        br,
        "pod-a",
        "veth-a",
        "10.244.1.2/24",
        "10.244.1.1",
    );
    // Learn pod-a's MAC on veth-a, then send a frame to that MAC back in through veth-a.
    net.walk_output(T0, a, ping("10.244.1.2", "10.244.1.1", 8, false));
    let veth_a = net.device_id(node, "veth-a").unwrap();
    let pod_eth0 = net.device_id(a, "eth0").unwrap();
    let frame = packet::ethernet(
        smoltcp::wire::EthernetAddress([2, 0, 0, 0, 0x99, 1]),
        net.device(pod_eth0).mac,
        smoltcp::wire::EthernetProtocol::Ipv4,
        &ping("10.244.1.9", "10.244.1.2", 8, false),
    );
    let w = net.walk_frame(T0, veth_a, frame.clone());
    assert_eq!(
        w.fate(),
        Some(Verdict::Drop(DropReason::BridgeSamePort)),
        "{}",
        w.render()
    );
    net.set_hairpin(veth_a, true);
    let w = net.walk_frame(T0, veth_a, frame);
    assert!(
        w.hops
            .iter()
            .any(|h| h.tag == 0 && h.netns == "pod-a" && h.point == Point::Rx),
        "{}",
        w.render()
    );
}

#[test]
fn text_dumps_after_a_vxlan_ping() {
    let mut t = two_nodes_vxlan(1500, None);
    t.net
        .walk_output(T0, t.pod_a, ping("10.244.1.2", "10.244.2.3", 8, false));
    let node1 = sim_net::dump::all(&t.net, t.node1, T0);
    let pod_a = sim_net::dump::all(&t.net, t.pod_a, T0);
    assert!(
        node1.contains("10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink\n"),
        "{node1}"
    );
    assert!(
        node1.contains("10.244.1.0/24 dev cbr0 proto kernel scope link src 10.244.1.1\n"),
        "{node1}"
    );
    assert!(
        pod_a.contains("default via 10.244.1.1 dev eth0\n"),
        "{pod_a}"
    );
    insta::assert_snapshot!("node1_dump", node1);
    insta::assert_snapshot!("pod_a_dump", pod_a);
}

mod engine {
    use super::*;
    use sim_core::SimDuration;
    use sim_net::NetSim;

    fn replies(sim: &NetSim) -> Vec<SimTime> {
        sim.delivered
            .iter()
            .filter(|d| packet::describe_ipv4(&d.packet).contains("echo reply"))
            .map(|d| d.time)
            .collect()
    }

    #[test]
    fn ping_across_a_link_takes_the_latencies_it_should() {
        let latency = SimDuration::from_micros(200);
        let t = two_nodes_routed(LinkProps {
            latency,
            ..LinkProps::default()
        });
        let pod_a = t.pod_a;
        let mut sim = NetSim::new(t.net, 1);
        let first = sim.send(
            SimTime::ZERO,
            pod_a,
            ping("10.244.1.2", "10.244.2.3", 56, false),
        );
        let second = sim.send(
            SimTime::from_nanos(1_000_000),
            pod_a,
            ping("10.244.1.2", "10.244.2.3", 56, false),
        );
        let mut e = sim.into_engine(1, [first, second]);
        e.run_to_quiescence().unwrap();
        // First: ARP across the link (2 x 200us), then request and reply (2 x 200us).
        // Second: neighbours known, one round trip.
        assert_eq!(
            replies(e.world()),
            vec![SimTime::from_nanos(800_000), SimTime::from_nanos(1_400_000)]
        );
        assert!(e.trace().len() > 40);
    }

    #[test]
    fn bandwidth_adds_serialisation_delay() {
        // 98-byte frames at 1 Mbit/s: 784us on the wire each way.
        let props = LinkProps {
            latency: SimDuration::ZERO,
            bandwidth_bps: Some(1_000_000),
            ..LinkProps::default()
        };
        let mut t = two_nodes_routed(props);
        t.net
            .walk_output(T0, t.pod_a, ping("10.244.1.2", "10.244.2.3", 56, false));
        let pod_a = t.pod_a;
        let mut sim = NetSim::new(t.net, 1);
        let job = sim.send(
            SimTime::ZERO,
            pod_a,
            ping("10.244.1.2", "10.244.2.3", 56, false),
        );
        let mut e = sim.into_engine(1, [job]);
        e.run_to_quiescence().unwrap();
        assert_eq!(replies(e.world()), vec![SimTime::from_nanos(2 * 784_000)]);
    }

    #[test]
    fn capture_names_interfaces_by_netns_and_device_and_reads_back() {
        let t = two_nodes_vxlan(1500, None);
        let pod_a = t.pod_a;
        let mut sim = NetSim::new(t.net, 1).capture();
        let job = sim.send(
            SimTime::ZERO,
            pod_a,
            ping("10.244.1.2", "10.244.2.3", 56, true),
        );
        let mut e = sim.into_engine(1, [job]);
        e.run_to_quiescence().unwrap();
        let cap = e.world().capture.as_ref().unwrap();
        let names: Vec<&str> = cap.interfaces().iter().map(|i| i.name.as_str()).collect();
        assert!(
            names.contains(&"pod-a/eth0")
                && names.contains(&"node-1/flannel.1")
                && names.contains(&"node-2/eth0"),
            "{names:?}"
        );
        let mut bytes = Vec::new();
        cap.write_pcapng(&mut bytes).unwrap();
        let (ifaces, pkts) = sim_net::pcapng::read_capture(&bytes[..]).unwrap();
        assert_eq!(ifaces.len(), cap.interfaces().len());
        assert_eq!(pkts.len(), cap.packets().len());
        // On the underlay, the ping travels inside UDP to 8472.
        let eth0 = names.iter().position(|n| *n == "node-2/eth0").unwrap();
        assert!(
            pkts.iter()
                .any(|p| p.interface == eth0
                    && packet::describe_frame(&p.data).contains(":8472: UDP"))
        );
    }

    fn lossy_run(seed: u64) -> (usize, sim_core::Digest) {
        let t = two_nodes_routed(LinkProps {
            loss_ppm: 300_000,
            ..LinkProps::default()
        });
        let pod_a = t.pod_a;
        let mut sim = NetSim::new(t.net, seed);
        let jobs: Vec<_> = (0..40u64)
            .map(|i| {
                sim.send(
                    SimTime::from_nanos(i * 5_000_000_000),
                    pod_a,
                    ping("10.244.1.2", "10.244.2.3", 8, false),
                )
            })
            .collect();
        let mut e = sim.into_engine(seed, jobs).with_budget(1_000_000);
        e.run_to_quiescence().unwrap();
        let n = replies(e.world()).len();
        (n, e.trace().digest())
    }

    #[test]
    fn loss_is_seeded_and_loses_some_not_all() {
        let (n, d) = lossy_run(7);
        // 30% loss each way: about half the pings come back.
        assert!((8..36).contains(&n), "{n} of 40 replies");
        assert_eq!(lossy_run(7), (n, d), "same seed, same run");
        assert_ne!(lossy_run(8).1, d, "another seed, another run");
    }
}

#[test]
fn dot_export_of_two_routed_nodes() {
    let t = two_nodes_routed(LinkProps::default());
    let dot = sim_net::dot::to_dot(&t.net);
    assert!(dot.starts_with("graph topology {") && dot.ends_with("}\n"));
    assert_eq!(
        dot.matches("subgraph cluster_").count(),
        4,
        "two nodes and two pods"
    );
    assert_eq!(dot.matches("label=\"veth\"").count(), 2);
    assert_eq!(dot.matches("label=\"link 100.000us\"").count(), 1);
    insta::assert_snapshot!(dot);
}

/// Three nodes on one switch: ARP floods to every port, the reply is switched to one, and
/// the switch learns where each node is.
#[test]
fn three_nodes_on_a_switched_segment_reach_each_other() {
    let mut net = Network::new();
    let lan = net.add_segment("lan").unwrap();
    let mut nodes = Vec::new();
    for i in 1..=3 {
        let (ns, _) = node(&mut net, &format!("node-{i}"), None);
        let eth = net.add_nic(ns, "eth0").unwrap();
        net.add_addr(eth, &format!("192.168.0.1{i}/24")).unwrap();
        net.set_up(eth);
        net.attach(eth, lan, LinkProps::default()).unwrap();
        nodes.push(ns);
    }
    let w = net.walk_output(T0, nodes[0], ping("192.168.0.11", "192.168.0.13", 8, false));
    assert_conserved(&w);
    assert_eq!(w.delivered.len(), 1, "{}", w.render());
    assert_eq!(w.delivered[0].ns, nodes[0], "the reply came home");
    // node-2 saw the ARP broadcast but not the unicast echo.
    let at_node2: Vec<&str> = w
        .hops
        .iter()
        .filter(|h| h.netns == "node-2")
        .map(|h| h.point.as_str())
        .collect();
    assert!(at_node2.contains(&"arp"), "{at_node2:?}");
    assert!(!at_node2.contains(&"icmp"), "{at_node2:?}");
    insta::assert_snapshot!(sim_net::dump::bridge_fdb(&net, lan.ns, T0));
    // Attaching a NIC that is already linked is refused.
    let eth = net.netns(nodes[0]).devices[1];
    assert!(net.attach(eth, lan, LinkProps::default()).is_err());
}
