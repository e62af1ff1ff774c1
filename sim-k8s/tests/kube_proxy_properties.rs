//! Properties of kube-proxy's iptables rules, for random Services and endpoints: a new
//! connection from a pod to a ClusterIP may land on exactly the endpoints upstream's rules
//! pick (ready ones; with none ready, serving-and-terminating ones; with
//! `internalTrafficPolicy: Local`, only this node's) — every one of them on some branch of
//! the `-m statistic` ladder and nothing else — and is REJECTed when the Service has no usable
//! endpoint at all, DROPped when it has some but none local under Local policy. Each random
//! set is programmed twice, once all at once and once by a partial sync after a first state,
//! and both must give the same tables.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use k8s_openapi::api::core::v1::{Service, ServicePort as ApiPort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{
    Endpoint as ApiEndpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;
use sim_core::SimTime;
use sim_k8s::proxy::iptables::ProxierConfig;
use sim_k8s::proxy::local_detector::LocalDetector;
use sim_k8s::proxy::node_port_addresses::NodePortAddresses;
use sim_k8s::proxy::{Proxier, proxy_state};
use sim_net::netfilter::trace::{BranchVerdict, TraceRequest, trace_new_connection};
use sim_net::netfilter::{Netfilter, SaveOptions};

const NODE: &str = "node-a";
const NODE_IP: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 10);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 5);

#[derive(Debug, Clone)]
struct Ep {
    host: u8,
    ready: bool,
    serving: bool,
    terminating: bool,
    /// 0: this node, 1: another, 2: unset.
    node: u8,
}

#[derive(Debug, Clone)]
struct Svc {
    udp: bool,
    local: bool,
    endpoints: Vec<Ep>,
}

fn ep() -> impl Strategy<Value = Ep> {
    (1u8..40, any::<bool>(), any::<bool>(), any::<bool>(), 0u8..3).prop_map(
        |(host, ready, serving, terminating, node)| Ep {
            host,
            ready,
            serving,
            terminating,
            node,
        },
    )
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::collection::vec(ep(), 0..6),
    )
        .prop_map(|(udp, local, endpoints)| Svc {
            udp,
            local,
            endpoints,
        })
}

fn objects(svcs: &[Svc]) -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut services = Vec::new();
    let mut slices = Vec::new();
    for (i, s) in svcs.iter().enumerate() {
        let name = format!("s{i}");
        let proto = if s.udp { "UDP" } else { "TCP" };
        services.push(Service {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some("p".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(format!("10.96.0.{}", i + 10)),
                internal_traffic_policy: s.local.then(|| "Local".to_string()),
                ports: Some(vec![ApiPort {
                    name: Some("p".into()),
                    port: 80,
                    protocol: Some(proto.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        slices.push(EndpointSlice {
            metadata: ObjectMeta {
                name: Some(format!("{name}-x")),
                namespace: Some("p".into()),
                labels: Some(BTreeMap::from([(
                    "kubernetes.io/service-name".to_string(),
                    name.clone(),
                )])),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: s
                .endpoints
                .iter()
                .map(|e| ApiEndpoint {
                    addresses: vec![format!("10.244.{}.{}", i + 1, e.host)],
                    conditions: Some(EndpointConditions {
                        ready: Some(e.ready),
                        serving: Some(e.serving),
                        terminating: Some(e.terminating),
                    }),
                    node_name: match e.node {
                        0 => Some(NODE.into()),
                        1 => Some("node-b".into()),
                        _ => None,
                    },
                    ..Default::default()
                })
                .collect(),
            ports: Some(vec![EndpointPort {
                name: Some("p".into()),
                port: Some(8080),
                protocol: Some(proto.into()),
                ..Default::default()
            }]),
        });
    }
    (services, slices)
}

fn config() -> ProxierConfig {
    ProxierConfig {
        node_name: NODE.into(),
        node_ip: NODE_IP,
        interface_ips: vec![Ipv4Addr::LOCALHOST, NODE_IP],
        zone: String::new(),
        masquerade_all: false,
        masquerade_mark: 0x4000,
        localhost_node_ports: true,
        local_detector: LocalDetector::Cidr("10.244.0.0/16".parse().unwrap()),
        node_port_addresses: NodePortAddresses::parse(&[], &[]).unwrap(),
        random_fully: true,
        nfacct: true,
        conntrack_tcp_liberal: false,
    }
}

/// What upstream documents the rules do, written independently of the proxier: the
/// endpoints a connection may land on, or the verdict when there are none.
fn expected(i: usize, s: &Svc) -> Result<BTreeSet<SocketAddrV4>, BranchVerdict> {
    // The same address listed twice is one endpoint (the local copy wins).
    let mut uniq: BTreeMap<u8, Ep> = BTreeMap::new();
    for e in &s.endpoints {
        if !uniq.contains_key(&e.host) || e.node == 0 {
            uniq.insert(e.host, e.clone());
        }
    }
    let addr = |e: &Ep| SocketAddrV4::new(Ipv4Addr::new(10, 244, i as u8 + 1, e.host), 8080);
    let usable = |e: &&Ep| e.ready || (e.serving && e.terminating);
    let any_usable = uniq.values().any(|e| usable(&e));
    let pool: Vec<&Ep> = if s.local {
        uniq.values().filter(|e| e.node == 0).collect()
    } else {
        uniq.values().collect()
    };
    let ready: BTreeSet<_> = pool.iter().filter(|e| e.ready).map(|e| addr(e)).collect();
    let chosen = if ready.is_empty() {
        pool.iter()
            .filter(|e| e.serving && e.terminating)
            .map(|e| addr(e))
            .collect()
    } else {
        ready
    };
    match (chosen.is_empty(), any_usable) {
        (false, _) => Ok(chosen),
        (true, false) => Err(BranchVerdict::Reject),
        (true, true) => Err(BranchVerdict::Drop),
    }
}

fn sync_into(nf: &mut Netfilter, proxier: &mut Proxier, at: u64, svcs: &[Svc]) {
    let (services, slices) = objects(svcs);
    let (ports, eps) = proxy_state(&services, &slices, NODE);
    proxier
        .sync(SimTime::from_nanos(at), ports, eps, nf)
        .expect("kube-proxy's rules load");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn cluster_ip_connections_land_only_on_the_endpoints_upstream_picks(
        svcs in prop::collection::vec(svc(), 1..5),
        first in prop::collection::vec(svc(), 1..5),
    ) {
        let mut nf = Netfilter::default();
        let mut proxier = Proxier::new(config());
        sync_into(&mut nf, &mut proxier, 0, &svcs);
        let save = |nf: &mut Netfilter| nf.save_with(SaveOptions::default());
        let programmed = save(&mut nf);

        for (i, s) in svcs.iter().enumerate() {
            let req = TraceRequest {
                src: CLIENT,
                sport: 40000,
                dst: Ipv4Addr::new(10, 96, 0, i as u8 + 10),
                dport: 80,
                proto: if s.udp { 17 } else { 6 },
                local_ips: vec![NODE_IP],
            };
            let branches = trace_new_connection(&mut nf, &req);
            match expected(i, s) {
                Ok(want) => {
                    let got: BTreeSet<SocketAddrV4> = branches.iter().map(|b| b.destination).collect();
                    prop_assert!(branches.iter().all(|b| b.verdict == BranchVerdict::Accept), "{branches:?}");
                    prop_assert_eq!(got, want);
                    // Pod to Service: DNAT only, the client's address kept.
                    prop_assert!(branches.iter().all(|b| !b.masquerade));
                }
                Err(verdict) => {
                    prop_assert!(branches.iter().all(|b| b.verdict == verdict), "{branches:?}");
                }
            }
        }

        // A partial sync from another state reaches the same tables as a full one.
        let mut nf2 = Netfilter::default();
        let mut p2 = Proxier::new(config());
        sync_into(&mut nf2, &mut p2, 0, &first);
        sync_into(&mut nf2, &mut p2, 2_000_000_000, &svcs);
        prop_assert_eq!(save(&mut nf2), programmed);
    }
}
