//! Netfilter on the packet path, end to end: kube-proxy-shaped rules (the layout of upstream
//! `pkg/proxy/iptables/proxier.go`) loaded with `iptables-restore` into two nodes, and pods
//! talking HTTP to Services through them. The expectations are kube-proxy's documented
//! behaviour: ClusterIP traffic is DNATed without SNAT (the backend sees the client pod), a
//! pod reaching itself through its Service is masqueraded (hairpin) and needs hairpin mode on
//! its bridge port, NodePort traffic from outside is masqueraded to the node, a Service
//! without endpoints is REJECTed with port unreachable, and a FORWARD DROP silences a flow.

mod common;

use common::*;
use sim_core::{SimDuration, SimTime};
use sim_net::netfilter::{RestoreOptions, SaveOptions};
use sim_net::route::Route;
use sim_net::socket::http::Response;
use sim_net::socket::{ClientResult, ClientSpec, Outcome, Request, ServerSpec, Service};
use sim_net::{DropReason, LinkProps, NetNsId, NetSim, SocketProto, Verdict};

const VIP: &str = "10.96.0.10";

/// nat + filter tables as kube-proxy writes them for one TCP Service `VIP:80` (NodePort
/// 30080) whose endpoints are `endpoints` (port 8080), plus a Service `10.96.0.99:80` with no
/// endpoints.
fn kube_proxy_rules(endpoints: &[&str]) -> String {
    let mut nat = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
         :KUBE-EXT-WEB - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n\
         :KUBE-SERVICES - [0:0]\n:KUBE-SVC-WEB - [0:0]\n",
    );
    for i in 0..endpoints.len() {
        nat += &format!(":KUBE-SEP-WEB{i} - [0:0]\n");
    }
    nat += "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
            -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
            -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
            -A KUBE-EXT-WEB -m comment --comment \"masquerade traffic for default/web:http external destinations\" -j KUBE-MARK-MASQ\n\
            -A KUBE-EXT-WEB -j KUBE-SVC-WEB\n\
            -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n\
            -A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web:http\" -m tcp --dport 30080 -j KUBE-EXT-WEB\n\
            -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
            -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n\
            -A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n";
    nat += &format!(
        "-A KUBE-SERVICES -d {VIP}/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-WEB\n"
    );
    nat += "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n";
    nat += &format!(
        "-A KUBE-SVC-WEB ! -s 10.244.0.0/16 -d {VIP}/32 -p tcp -m comment --comment \"default/web:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n"
    );
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
        let left = n - i;
        if left > 1 {
            let p = 1.0 / left as f64;
            nat += &format!(
                "-A KUBE-SVC-WEB -m comment --comment \"default/web:http -> {ep}:8080\" -m statistic --mode random --probability {p:.11} -j KUBE-SEP-WEB{i}\n"
            );
        } else {
            nat += &format!(
                "-A KUBE-SVC-WEB -m comment --comment \"default/web:http -> {ep}:8080\" -j KUBE-SEP-WEB{i}\n"
            );
        }
    }
    for (i, ep) in endpoints.iter().enumerate() {
        nat += &format!(
            "-A KUBE-SEP-WEB{i} -s {ep}/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ\n\
             -A KUBE-SEP-WEB{i} -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination {ep}:8080\n"
        );
    }
    nat += "COMMIT\n";
    let filter = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        :KUBE-FORWARD - [0:0]\n:KUBE-SERVICES - [0:0]\n\
        -A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n\
        -A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
        -A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
        -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n\
        -A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n\
        -A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
        -A KUBE-SERVICES -d 10.96.0.99/32 -p tcp -m comment --comment \"default/empty:http has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable\n\
        COMMIT\n";
    format!("{filter}{nat}")
}

struct Cluster {
    sim: NetSim,
    t_pod_a: NetNsId,
    t_pod_b: NetNsId,
    node1: NetNsId,
    node2: NetNsId,
}

/// Two kubenet-style nodes with kube-proxy rules on both, a default route on each node (the
/// Service range is not routed anywhere, as in a real cluster), and agnhost netexec in both
/// pods.
fn cluster(endpoints: &[&str], hairpin: bool) -> Cluster {
    let mut t = two_nodes_routed(LinkProps {
        latency: SimDuration::from_micros(100),
        ..LinkProps::default()
    });
    let rules = kube_proxy_rules(endpoints);
    for (ns, eth, gw) in [
        (t.node1, t.eth1, "192.168.0.12"),
        (t.node2, t.eth2, "192.168.0.11"),
    ] {
        t.net
            .add_route(
                ns,
                Route::unicast("0.0.0.0/0".parse().unwrap(), Some(ip(gw)), eth),
            )
            .unwrap();
        t.net
            .netns_mut(ns)
            .netfilter
            .restore(&rules, RestoreOptions::default())
            .unwrap();
    }
    if hairpin {
        for (ns, veth) in [(t.node1, "veth-a"), (t.node2, "veth-b")] {
            let dev = t
                .net
                .netns(ns)
                .devices
                .iter()
                .copied()
                .find(|&d| t.net.device(d).name == veth)
                .unwrap();
            t.net.set_hairpin(dev, true);
        }
    }
    let mut sim = NetSim::new(t.net, 1);
    for (ns, name) in [(t.pod_a, "pod-a"), (t.pod_b, "pod-b")] {
        sim.serve(
            ns,
            ServerSpec {
                proto: SocketProto::Tcp,
                port: 8080,
                service: Service::NetExec {
                    hostname: name.into(),
                },
            },
        )
        .unwrap();
    }
    Cluster {
        sim,
        t_pod_a: t.pod_a,
        t_pod_b: t.pod_b,
        node1: t.node1,
        node2: t.node2,
    }
}

fn get(dst: &str, path: &str) -> ClientSpec {
    ClientSpec {
        proto: SocketProto::Tcp,
        dst: dst.parse().unwrap(),
        request: Request::HttpGet { path: path.into() },
        timeout: SimDuration::from_secs(5),
    }
}

fn run(c: Cluster, requests: Vec<(NetNsId, ClientSpec)>) -> (Vec<ClientResult>, NetSim) {
    let mut sim = c.sim;
    let events: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(i, (ns, spec))| sim.request(SimTime::from_nanos(i as u64 * 50_000_000), ns, spec))
        .collect();
    let mut e = sim.into_engine(1, events).with_budget(2_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let mut results: Vec<ClientResult> = world.results().into_iter().cloned().collect();
    results.sort_by_key(|r| r.id);
    (results, world)
}

fn body(r: &ClientResult) -> &str {
    match &r.outcome {
        Outcome::Http(Response { status: 200, body }) => body,
        other => panic!("request {} failed: {other}", r.id),
    }
}

#[test]
fn cluster_ip_is_dnated_to_the_backend_which_sees_the_client_pod() {
    let c = cluster(&["10.244.2.3"], false);
    let (a, node1) = (c.t_pod_a, c.node1);
    let vip = format!("{VIP}:80");
    let (results, world) = run(
        c,
        vec![(a, get(&vip, "/hostname")), (a, get(&vip, "/clientip"))],
    );
    assert_eq!(body(&results[0]), "pod-b");
    // No SNAT for pod-to-Service traffic: the backend sees the pod's own address and port.
    assert_eq!(body(&results[1]), results[1].local.to_string());
    // The client talked to the VIP the whole time: its socket's peer is the VIP.
    assert_eq!(results[1].dst.to_string(), vip);
    // node-1's conntrack holds the DNAT: original to the VIP, reply from the backend.
    let ct = world
        .net
        .netns(node1)
        .netfilter
        .conntrack
        .dump(SimTime::from_nanos(200_000_000));
    let line = ct
        .lines()
        .find(|l| l.contains(&format!("sport={}", results[1].local.port())))
        .unwrap_or_else(|| panic!("no entry for the second request in:\n{ct}"));
    assert!(
        line.contains(&format!(
            "dst={VIP} sport={} dport=80 src=10.244.2.3 dst=10.244.1.2",
            results[1].local.port()
        )),
        "{line}"
    );
    assert!(line.contains("[ASSURED]"), "{line}");
}

#[test]
fn a_pod_reaching_itself_through_its_service_is_masqueraded_and_needs_hairpin() {
    let vip = format!("{VIP}:80");
    let c = cluster(&["10.244.1.2"], true);
    let a = c.t_pod_a;
    let (results, _) = run(c, vec![(a, get(&vip, "/clientip"))]);
    // Hairpin: KUBE-SEP marks for masquerade because source == endpoint; POSTROUTING
    // rewrites the source to the bridge's address, so the reply comes back through the node.
    let seen = body(&results[0]);
    assert!(seen.starts_with("10.244.1.1:"), "server saw {seen}");

    let c = cluster(&["10.244.1.2"], false);
    let a = c.t_pod_a;
    let (results, world) = run(c, vec![(a, get(&vip, "/clientip"))]);
    assert_eq!(results[0].outcome, Outcome::TimedOut);
    assert!(
        world
            .hops
            .iter()
            .any(|h| h.verdict == Verdict::Drop(DropReason::BridgeSamePort)),
        "without hairpin mode the bridge drops the frame going back out its own port"
    );
}

#[test]
fn node_port_from_outside_is_masqueraded_to_the_node() {
    let c = cluster(&["10.244.2.3"], false);
    let node2 = c.node2;
    // node-2's root namespace plays the outside client, talking to node-1's NodePort; the
    // backend lives on node-2, so the packet goes back out where it came from.
    let (results, _) = run(c, vec![(node2, get("192.168.0.11:30080", "/clientip"))]);
    let seen = body(&results[0]);
    assert!(seen.starts_with("192.168.0.11:"), "server saw {seen}");
    assert_eq!(results[0].local.ip().to_string(), "192.168.0.12");
}

#[test]
fn a_service_without_endpoints_is_rejected() {
    let c = cluster(&["10.244.2.3"], false);
    let a = c.t_pod_a;
    let (results, world) = run(c, vec![(a, get("10.96.0.99:80", "/"))]);
    assert_eq!(results[0].outcome, Outcome::Refused);
    assert!(
        results[0].elapsed() < SimDuration::from_millis(5),
        "refused at once"
    );
    let reject = world
        .hops
        .iter()
        .find(|h| h.verdict == Verdict::Drop(DropReason::Rejected))
        .expect("a REJECT hop");
    assert_eq!(reject.netns, "node-1");
    assert!(reject.note.contains("has no endpoints"), "{}", reject.note);
}

#[test]
fn a_forward_drop_silences_the_flow_and_names_the_rule() {
    let mut c = cluster(&["10.244.2.3"], false);
    c.sim
        .net
        .netns_mut(c.node2)
        .netfilter
        .restore(
            "*filter\n-I FORWARD -d 10.244.2.3/32 -p tcp -m tcp --dport 8080 -j DROP\nCOMMIT\n",
            RestoreOptions {
                noflush: true,
                counters: false,
            },
        )
        .unwrap();
    let (a, node2) = (c.t_pod_a, c.node2);
    let (results, mut world) = run(c, vec![(a, get(&format!("{VIP}:80"), "/"))]);
    assert_eq!(results[0].outcome, Outcome::TimedOut);
    let drop = world
        .hops
        .iter()
        .find(|h| h.verdict == Verdict::Drop(DropReason::Filtered))
        .expect("a filtered hop");
    assert_eq!(drop.netns, "node-2");
    let rule = "-A FORWARD -d 10.244.2.3/32 -p tcp -m tcp --dport 8080 -j DROP";
    assert!(drop.note.contains(&rule[13..]), "{}", drop.note);
    // The rule counted the SYN and its retransmissions (iptables-save -c).
    let save = world.net.netns_mut(node2).netfilter.save_with(SaveOptions {
        counters: true,
        ..SaveOptions::default()
    });
    let line = save.lines().find(|l| l.ends_with(rule)).expect("the rule");
    let packets: u64 = line[1..line.find(':').unwrap()].parse().unwrap();
    assert!(packets >= 3, "{line}");
}

/// Conntrack carries a connection after its first packet: the nat table sees only that
/// packet, and the filter table's RELATED,ESTABLISHED rule takes the rest.
#[test]
fn only_the_first_packet_of_a_connection_walks_the_nat_table() {
    let c = cluster(&["10.244.2.3"], false);
    let (a, node1) = (c.t_pod_a, c.node1);
    let (results, mut world) = run(c, vec![(a, get(&format!("{VIP}:80"), "/hostname"))]);
    assert_eq!(body(&results[0]), "pod-b");
    let save = world.net.netns_mut(node1).netfilter.save_with(SaveOptions {
        counters: true,
        ..SaveOptions::default()
    });
    let count = |needle: &str| -> u64 {
        let line = save
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in\n{save}"));
        line[1..line.find(':').unwrap()].parse().unwrap()
    };
    assert_eq!(count("-A KUBE-SERVICES -d 10.96.0.10/32"), 1, "{save}");
    assert_eq!(count("-A KUBE-SEP-WEB0 -p tcp"), 1, "{save}");
    // Both directions of the rest of the exchange: SYN-ACK, ACKs, request, response, FINs.
    assert!(count("kubernetes forwarding conntrack rule") >= 6, "{save}");
}

fn udp(dst: &str, msg: &str) -> ClientSpec {
    ClientSpec {
        proto: SocketProto::Udp,
        dst: dst.parse().unwrap(),
        request: Request::Send {
            payload: msg.as_bytes().to_vec(),
        },
        timeout: SimDuration::from_secs(5),
    }
}

/// An unreplied-then-replied UDP flow lives `nf_conntrack_udp_timeout` (30 s): a packet
/// 40 s later finds it gone.
#[test]
fn udp_entries_expire_after_thirty_seconds() {
    let mut c = cluster(&["10.244.2.3"], false);
    c.sim
        .serve(
            c.t_pod_b,
            ServerSpec {
                proto: SocketProto::Udp,
                port: 8081,
                service: Service::NetExec {
                    hostname: "pod-b".into(),
                },
            },
        )
        .unwrap();
    let (a, node1) = (c.t_pod_a, c.node1);
    let mut sim = c.sim;
    let events = vec![
        sim.request(SimTime::ZERO, a, udp("10.244.2.3:8081", "hostname")),
        sim.request(
            SimTime::from_nanos(40_000_000_000),
            a,
            udp("10.244.2.3:8081", "hostname"),
        ),
    ];
    let mut e = sim.into_engine(1, events).with_budget(2_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let results = world.results();
    assert!(
        results
            .iter()
            .all(|r| r.outcome == Outcome::Reply(b"pod-b".to_vec()))
    );
    let ct = &world.net.netns(node1).netfilter.conntrack;
    let dump = ct.dump(SimTime::from_nanos(40_000_000_000));
    let udp_lines: Vec<&str> = dump.lines().filter(|l| l.starts_with("udp")).collect();
    assert_eq!(udp_lines.len(), 1, "{dump}");
    let second = results.iter().map(|r| r.local.port()).max().unwrap();
    assert!(udp_lines[0].contains(&format!("sport={second}")), "{dump}");
    assert!(udp_lines[0].starts_with("udp      17 30 "), "{dump}");
}

/// With `nf_conntrack_max` reached by an ASSURED connection, a new one is dropped (early
/// drop only evicts unassured or closing entries).
#[test]
fn a_full_conntrack_table_drops_new_connections() {
    // A slow link, so the first connection (pod-b -> pod-a) is still ESTABLISHED at node-1
    // while its data trickles in: node-1 sees its FIN only after the transfer.
    let mut t = two_nodes_routed(LinkProps {
        latency: SimDuration::from_millis(1),
        bandwidth_bps: Some(200_000),
        ..LinkProps::default()
    });
    t.net
        .netns_mut(t.node1)
        .netfilter
        .restore(
            "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n",
            RestoreOptions::default(),
        )
        .unwrap();
    t.net
        .netns_mut(t.node1)
        .netfilter
        .conntrack
        .config_mut()
        .max = 1;
    let (a, b) = (t.pod_a, t.pod_b);
    let mut sim = NetSim::new(t.net, 1);
    for ns in [a, b] {
        sim.serve(
            ns,
            ServerSpec {
                proto: SocketProto::Tcp,
                port: 7,
                service: Service::Echo,
            },
        )
        .unwrap();
    }
    let echo = |dst: &str, n: usize| ClientSpec {
        proto: SocketProto::Tcp,
        dst: dst.parse().unwrap(),
        request: Request::Send {
            payload: vec![7; n],
        },
        timeout: SimDuration::from_secs(60),
    };
    let events = vec![
        sim.request(SimTime::ZERO, b, echo("10.244.1.2:7", 20_000)),
        sim.request(
            SimTime::from_nanos(300_000_000),
            a,
            echo("10.244.2.3:7", 10),
        ),
    ];
    let mut e = sim.into_engine(1, events).with_budget(2_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let full = world
        .hops
        .iter()
        .find(|h| h.verdict == Verdict::Drop(DropReason::Conntrack))
        .expect("a conntrack-full drop");
    assert_eq!(full.netns, "node-1");
    assert_eq!(full.time, SimTime::from_nanos(300_000_000));
    assert!(full.note.contains("conntrack-full"), "{}", full.note);
    let results = world.results();
    let by_id = |id| results.iter().find(|r| r.id == id).unwrap();
    // The established connection was never disturbed; the new one got in once the first
    // was closing (its SYN retransmission after smoltcp's 1 s RTO).
    assert_eq!(by_id(0).outcome, Outcome::Reply(vec![7; 20_000]));
    assert_eq!(by_id(1).outcome, Outcome::Reply(vec![7; 10]));
    assert!(by_id(1).elapsed() >= SimDuration::from_secs(1));
}

/// `-I FORWARD` (or any chain) in `ns`, keeping the rest.
fn insert(c: &mut Cluster, ns: NetNsId, rule: &str) {
    c.sim
        .net
        .netns_mut(ns)
        .netfilter
        .restore(
            &format!("*filter\n{rule}\nCOMMIT\n"),
            RestoreOptions {
                noflush: true,
                counters: false,
            },
        )
        .unwrap();
}

// The cases below were found by the kernel differential tests (tests/kernel_difftest.rs,
// fixtures in tests/fixtures/difftest/); here they are pinned in the simulator alone.

#[test]
fn a_tcp_reset_reject_after_dnat_answers_from_the_service_unless_the_packet_was_bridged() {
    let reset =
        "-I FORWARD -d 10.244.2.3/32 -p tcp -m tcp --dport 8080 -j REJECT --reject-with tcp-reset";
    // node-2's root namespace reaches node-1's NodePort over a NIC: node-1's RST carries the
    // SYN's connection and leaves un-DNATed, from the NodePort: refused.
    let mut c = cluster(&["10.244.2.3"], false);
    let (node1, node2) = (c.node1, c.node2);
    insert(&mut c, node1, reset);
    let (results, _) = run(c, vec![(node2, get("192.168.0.11:30080", "/"))]);
    assert_eq!(results[0].outcome, Outcome::Refused);
    // pod-a's SYN came in through a bridge port (br_netfilter): the RST goes straight back
    // out of that port without NAT, from the backend's address, and the client ignores it.
    let mut c = cluster(&["10.244.2.3"], false);
    let (a, node1) = (c.t_pod_a, c.node1);
    insert(&mut c, node1, reset);
    let (results, world) = run(c, vec![(a, get(&format!("{VIP}:80"), "/"))]);
    assert_eq!(results[0].outcome, Outcome::TimedOut);
    assert!(
        world
            .hops
            .iter()
            .any(|h| h.netns == "pod-a" && h.note.contains("10.244.2.3:8080 > 10.244.1.2")),
        "the RST reached pod-a from the backend's address"
    );
}

#[test]
fn a_refused_connect_sends_no_rst_and_a_filter_only_namespace_tracks_nothing() {
    let mut c = cluster(&["10.244.2.3"], false);
    let (a, node2) = (c.t_pod_a, c.node2);
    // node-2: an empty nat table and a filter rule, neither of which needs conntrack.
    c.sim
        .net
        .netns_mut(node2)
        .netfilter
        .restore(
            "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -d 10.244.2.99/32 -j DROP\nCOMMIT\n\
             *nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n",
            RestoreOptions::default(),
        )
        .unwrap();
    let (results, world) = run(
        c,
        vec![
            (a, get("10.96.0.99:80", "/")),
            (a, get("10.244.2.3:8080", "/hostname")),
        ],
    );
    assert_eq!(results[0].outcome, Outcome::Refused);
    assert_eq!(body(&results[1]), "pod-b");
    // ICMP port unreachable aborts the SYN_SENT connection without a packet (tcp_v4_err).
    assert!(
        !world
            .hops
            .iter()
            .any(|h| h.netns == "pod-a" && h.note.contains("TCP [R")),
        "pod-a sent a RST"
    );
    assert_eq!(
        world
            .net
            .netns(node2)
            .netfilter
            .conntrack
            .dump(SimTime::from_nanos(100_000_000)),
        "",
        "no rule on node-2 needs conntrack, so the kernel does not track there"
    );
}

#[test]
fn a_datagram_rejected_on_its_way_out_fails_the_send_with_eperm() {
    let mut c = cluster(&["10.244.2.3"], false);
    let node1 = c.node1;
    insert(
        &mut c,
        node1,
        "-I OUTPUT -d 10.96.0.98/32 -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable",
    );
    let spec = ClientSpec {
        proto: SocketProto::Udp,
        dst: "10.96.0.98:53".parse().unwrap(),
        request: Request::Send {
            payload: b"x".to_vec(),
        },
        timeout: SimDuration::from_secs(1),
    };
    let (results, _) = run(c, vec![(node1, spec)]);
    assert_eq!(results[0].outcome, Outcome::Unreachable { errno: "EPERM" });
}
