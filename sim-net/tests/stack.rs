//! The local stack end to end: processes in pods talk TCP and UDP across nodes through the
//! kernel model, and what they see is what agnhost and a Linux client would see.

mod common;

use common::*;
use sim_core::{SimDuration, SimTime};
use sim_net::socket::http::Response;
use sim_net::socket::{ClientResult, ClientSpec, Outcome, Request, ServerSpec, Service};
use sim_net::{DropReason, LinkProps, NetSim, SocketProto, Verdict};

fn netexec(sim: &mut NetSim, ns: sim_net::NetNsId, hostname: &str) {
    for (proto, port) in [(SocketProto::Tcp, 8080), (SocketProto::Udp, 8081)] {
        sim.serve(
            ns,
            ServerSpec {
                proto,
                port,
                service: Service::NetExec {
                    hostname: hostname.into(),
                },
            },
        )
        .unwrap();
    }
}

fn get(dst: &str, path: &str) -> ClientSpec {
    ClientSpec {
        proto: SocketProto::Tcp,
        dst: dst.parse().unwrap(),
        request: Request::HttpGet { path: path.into() },
        timeout: SimDuration::from_secs(30),
    }
}

fn run(sim: NetSim, seed: u64, events: Vec<sim_net::Scheduled>) -> (Vec<ClientResult>, NetSim) {
    let mut e = sim.into_engine(seed, events).with_budget(2_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let results = world.results().into_iter().cloned().collect();
    (results, world)
}

fn body(r: &ClientResult) -> &str {
    match &r.outcome {
        Outcome::Http(Response { status: 200, body }) => body,
        other => panic!("request {} failed: {other}", r.id),
    }
}

#[test]
fn http_get_across_nodes_returns_the_servers_hostname_and_the_clients_address() {
    let t = two_nodes_routed(LinkProps {
        latency: SimDuration::from_micros(100),
        ..LinkProps::default()
    });
    let (a, b) = (t.pod_a, t.pod_b);
    let mut sim = NetSim::new(t.net, 1);
    netexec(&mut sim, b, "pod-b");
    let events = vec![
        sim.request(SimTime::ZERO, a, get("10.244.2.3:8080", "/hostname")),
        sim.request(
            SimTime::from_nanos(1_000_000),
            a,
            get("10.244.2.3:8080", "/clientip"),
        ),
        sim.request(
            SimTime::from_nanos(2_000_000),
            a,
            get("10.244.2.3:8080", "/echo?msg=hi+there"),
        ),
    ];
    let (results, world) = run(sim, 1, events);
    assert_eq!(results.len(), 3, "{results:?}");
    assert_eq!(body(&results[0]), "pod-b");
    // Without NAT the server sees the pod's own address and ephemeral port.
    let client = results[1].local;
    assert_eq!(client.ip().to_string(), "10.244.1.2");
    assert!((32768..=60999).contains(&client.port()) && client.port() % 2 == 0);
    assert_eq!(body(&results[1]), client.to_string());
    assert_eq!(body(&results[2]), "hi there");
    // The first request paid for ARP on three hops plus the handshake; later ones only the
    // round trips over the 100us link (handshake, request/response, close).
    assert!(results[0].elapsed() > results[1].elapsed(), "{results:?}");
    assert!(results[1].elapsed() >= SimDuration::from_micros(400));
    // Every socket was released: the kernel's view of the client namespace is empty again.
    assert!(world.net.netns(a).stack_ports.is_empty());
}

#[test]
fn a_closed_port_refuses_and_an_unrouted_destination_fails_at_once() {
    let t = two_nodes_routed(LinkProps::default());
    let (a, b) = (t.pod_a, t.pod_b);
    let mut sim = NetSim::new(t.net, 1);
    netexec(&mut sim, b, "pod-b");
    let events = vec![
        sim.request(SimTime::ZERO, a, get("10.244.2.3:9999", "/")),
        sim.request(SimTime::ZERO, b, get("10.99.0.1:80", "/")),
        sim.request(
            SimTime::ZERO,
            a,
            ClientSpec {
                proto: SocketProto::Udp,
                dst: "10.244.2.3:9999".parse().unwrap(),
                request: Request::Send {
                    payload: b"hostname".to_vec(),
                },
                timeout: SimDuration::from_secs(5),
            },
        ),
    ];
    let (results, _) = run(sim, 1, events);
    let outcome = |id| &results.iter().find(|r| r.id == id).unwrap().outcome;
    // TCP: the node's kernel answers the SYN with RST|ACK.
    assert_eq!(outcome(0), &Outcome::Refused);
    // Pod b has only a route to its own subnet and the default via its node... which has no
    // route to 10.99.0.0: the node answers net unreachable.
    assert_eq!(
        outcome(1),
        &Outcome::Unreachable {
            errno: "ENETUNREACH"
        }
    );
    // UDP: ICMP port unreachable fails the connected socket.
    assert_eq!(outcome(2), &Outcome::Refused);
}

#[test]
fn udp_netexec_answers_its_commands() {
    let t = two_nodes_vxlan(1500, None);
    let (a, b) = (t.pod_a, t.pod_b);
    let mut sim = NetSim::new(t.net, 1);
    netexec(&mut sim, b, "pod-b");
    let udp = |msg: &str| ClientSpec {
        proto: SocketProto::Udp,
        dst: "10.244.2.3:8081".parse().unwrap(),
        request: Request::Send {
            payload: msg.as_bytes().to_vec(),
        },
        timeout: SimDuration::from_secs(5),
    };
    let events = vec![
        sim.request(SimTime::ZERO, a, udp("hostname")),
        sim.request(SimTime::from_nanos(1_000_000), a, udp("echo hello")),
        sim.request(SimTime::from_nanos(2_000_000), a, udp("nonsense")),
    ];
    let (results, _) = run(sim, 1, events);
    let by_id = |id| results.iter().find(|r| r.id == id).unwrap();
    assert_eq!(by_id(0).outcome, Outcome::Reply(b"pod-b".to_vec()));
    assert_eq!(by_id(1).outcome, Outcome::Reply(b"hello".to_vec()));
    // agnhost ignores unknown commands: the client waits out its timeout.
    assert_eq!(by_id(2).outcome, Outcome::TimedOut);
    assert_eq!(by_id(2).elapsed(), SimDuration::from_secs(5));
}

fn echo_transfer(seed: u64, loss_ppm: u32) -> (ClientResult, usize) {
    let t = two_nodes_routed(LinkProps {
        latency: SimDuration::from_millis(1),
        loss_ppm,
        ..LinkProps::default()
    });
    let (a, b) = (t.pod_a, t.pod_b);
    let mut sim = NetSim::new(t.net, seed);
    sim.serve(
        b,
        ServerSpec {
            proto: SocketProto::Tcp,
            port: 7,
            service: Service::Echo,
        },
    )
    .unwrap();
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let events = vec![sim.request(
        SimTime::ZERO,
        a,
        ClientSpec {
            proto: SocketProto::Tcp,
            dst: "10.244.2.3:7".parse().unwrap(),
            request: Request::Send {
                payload: payload.clone(),
            },
            timeout: SimDuration::from_secs(600),
        },
    )];
    let (results, world) = run(sim, seed, events);
    let lost = world
        .hops
        .iter()
        .filter(|h| h.verdict == Verdict::Drop(DropReason::Loss))
        .count();
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].outcome,
        Outcome::Reply(payload),
        "the echo came back whole"
    );
    (results[0].clone(), lost)
}

#[test]
fn tcp_retransmits_through_loss_and_completes() {
    let (clean, lost) = echo_transfer(3, 0);
    assert_eq!(lost, 0);
    let (lossy, lost) = echo_transfer(3, 200_000);
    assert!(lost > 0, "20% loss each way dropped nothing");
    // Each loss costs at least one retransmission timeout (smoltcp's minimum RTO is 1 s).
    assert!(
        lossy.elapsed() >= clean.elapsed() + SimDuration::from_secs(1),
        "clean {} lossy {}",
        clean.elapsed(),
        lossy.elapsed()
    );
    // Same seed, same run.
    assert_eq!(echo_transfer(3, 200_000).0, lossy);
}

/// The whole life of one HTTP request over the VXLAN overlay, hop by hop: ARP, handshake,
/// request, response, and both closes.
#[test]
fn http_over_vxlan_hops_snapshot() {
    let t = two_nodes_vxlan(1500, None);
    let (a, b) = (t.pod_a, t.pod_b);
    let mut sim = NetSim::new(t.net, 1);
    netexec(&mut sim, b, "pod-b");
    let events = vec![sim.request(SimTime::ZERO, a, get("10.244.2.3:8080", "/clientip"))];
    let (results, world) = run(sim, 1, events);
    assert_eq!(body(&results[0]), results[0].local.to_string());
    let hops: Vec<String> = world.hops.iter().map(|h| h.to_string()).collect();
    insta::assert_snapshot!(hops.join("\n"));
}
