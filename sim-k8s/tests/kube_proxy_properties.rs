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

use k8s_openapi::api::core::v1::{
    LoadBalancerIngress, LoadBalancerStatus, Service, ServicePort as ApiPort, ServiceSpec,
    ServiceStatus,
};
use k8s_openapi::api::discovery::v1::{
    Endpoint as ApiEndpoint, EndpointConditions, EndpointHints, EndpointPort, EndpointSlice,
    ForZone,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;
use sim_core::{SimDuration, SimTime};
use sim_k8s::proxy::endpoint::Endpoint;
use sim_k8s::proxy::iptables::{ProxierConfig, SyncScope, render_on};
use sim_k8s::proxy::local_detector::LocalDetector;
use sim_k8s::proxy::node_port_addresses::NodePortAddresses;
use sim_k8s::proxy::service_port::{ServicePort, ServicePortName};
use sim_k8s::proxy::{Proxier, ProxyChanges, proxy_state};
use sim_net::netfilter::trace::{BranchVerdict, TraceRequest, trace_new_connection};
use sim_net::netfilter::{Netfilter, SaveOptions, TableName};

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
        sync_period: SimDuration::from_secs(30),
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

// Services of every kind, changed one at a time: the proxier's cached partial syncs against
// `render_on` of the same state.

/// Service slots in the random cluster.
const SLOTS: usize = 5;

#[derive(Debug, Clone)]
struct Backend {
    host: u8,
    ready: bool,
    serving: bool,
    terminating: bool,
    /// 0: this node, 1: another, 2: unset.
    node: u8,
    /// 0: no hint, 1: a hint for zone-a, 2: for zone-b.
    zone: u8,
}

#[derive(Debug, Clone)]
struct Spec {
    /// 0: ClusterIP, 1: NodePort, 2: LoadBalancer.
    kind: u8,
    udp: bool,
    second_port: bool,
    external_ip: bool,
    external_local: bool,
    internal_local: bool,
    sticky: bool,
    /// 0: none, 1: a range holding the node, 2: one that does not.
    source_ranges: u8,
    backends: Vec<Backend>,
}

fn backend() -> impl Strategy<Value = Backend> {
    (
        1u8..12,
        prop::bool::weighted(0.7),
        any::<bool>(),
        prop::bool::weighted(0.3),
        0u8..3,
        prop::sample::select(vec![0u8, 0, 1, 2]),
    )
        .prop_map(|(host, ready, serving, terminating, node, zone)| Backend {
            host,
            ready,
            serving,
            terminating,
            node,
            zone,
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (0u8..3, any::<bool>(), prop::bool::weighted(0.3)),
        (
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
            0u8..3,
        ),
        prop::collection::vec(backend(), 0..5),
    )
        .prop_map(
            |(
                (kind, udp, second_port),
                (external_ip, external_local, internal_local, sticky, source_ranges),
                backends,
            )| Spec {
                kind,
                udp,
                second_port,
                external_ip,
                external_local,
                internal_local,
                sticky,
                source_ranges,
                backends,
            },
        )
}

/// One change to the cluster.
#[derive(Debug, Clone)]
enum Op {
    /// The Service in a slot and its EndpointSlice are created or replaced (none: both
    /// deleted).
    Set(usize, Option<Spec>),
    /// Only the Service is deleted; its EndpointSlice stays.
    DeleteService(usize),
    /// The slot's EndpointSlice gets these endpoints.
    Endpoints(usize, Vec<Backend>),
    /// One endpoint turns ready or not ready.
    Flip(usize, usize),
    /// The node's zone label changes (zone-a or zone-b).
    Zone(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..SLOTS, prop::option::weighted(0.8, spec())).prop_map(|(i, s)| Op::Set(i, s)),
        1 => (0..SLOTS).prop_map(Op::DeleteService),
        3 => (0..SLOTS, prop::collection::vec(backend(), 0..5)).prop_map(|(i, b)| Op::Endpoints(i, b)),
        3 => (0..SLOTS, 0usize..5).prop_map(|(i, j)| Op::Flip(i, j)),
        1 => any::<bool>().prop_map(Op::Zone),
    ]
}

/// A slot's Service and the Spec its EndpointSlice was made from.
#[derive(Debug, Clone, Default)]
struct Slot {
    service: Option<Spec>,
    slice: Option<Spec>,
}

fn slot_name(i: usize) -> String {
    format!("k{i}")
}

fn service_object(i: usize, s: &Spec) -> Service {
    let proto = if s.udp { "UDP" } else { "TCP" };
    let node_port = |base: i32| (s.kind > 0).then_some(base + i as i32);
    let mut ports = vec![ApiPort {
        name: Some("p".into()),
        port: 80,
        protocol: Some(proto.into()),
        node_port: node_port(30000),
        ..Default::default()
    }];
    if s.second_port {
        ports.push(ApiPort {
            name: Some("q".into()),
            port: 81,
            protocol: Some(proto.into()),
            node_port: node_port(31000),
            ..Default::default()
        });
    }
    let load_balancer = s.kind == 2;
    Service {
        metadata: ObjectMeta {
            name: Some(slot_name(i)),
            namespace: Some("q".into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(["ClusterIP", "NodePort", "LoadBalancer"][s.kind as usize].into()),
            cluster_ip: Some(format!("10.96.1.{}", i + 10)),
            external_ips: s.external_ip.then(|| vec![format!("192.0.2.{}", i + 1)]),
            external_traffic_policy: s.external_local.then(|| "Local".to_string()),
            internal_traffic_policy: s.internal_local.then(|| "Local".to_string()),
            health_check_node_port: (load_balancer && s.external_local).then_some(32000 + i as i32),
            session_affinity: s.sticky.then(|| "ClientIP".to_string()),
            load_balancer_source_ranges: match s.source_ranges {
                1 => Some(vec!["172.18.0.0/16".into()]),
                2 => Some(vec!["203.0.113.0/24".into()]),
                _ => None,
            },
            ports: Some(ports),
            ..Default::default()
        }),
        status: load_balancer.then(|| ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(vec![LoadBalancerIngress {
                    ip: Some(format!("198.51.100.{}", i + 1)),
                    ..Default::default()
                }]),
            }),
            ..Default::default()
        }),
    }
}

fn slice_object(i: usize, s: &Spec) -> EndpointSlice {
    let proto = if s.udp { "UDP" } else { "TCP" };
    let port = |name: &str, n: i32| EndpointPort {
        name: Some(name.into()),
        port: Some(n),
        protocol: Some(proto.into()),
        ..Default::default()
    };
    let mut ports = vec![port("p", 8080)];
    if s.second_port {
        ports.push(port("q", 8081));
    }
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!("{}-x", slot_name(i))),
            namespace: Some("q".into()),
            labels: Some(BTreeMap::from([(
                "kubernetes.io/service-name".to_string(),
                slot_name(i),
            )])),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: s
            .backends
            .iter()
            .map(|b| ApiEndpoint {
                addresses: vec![format!("10.244.{}.{}", i + 1, b.host)],
                conditions: Some(EndpointConditions {
                    ready: Some(b.ready),
                    serving: Some(b.serving),
                    terminating: Some(b.terminating),
                }),
                node_name: match b.node {
                    0 => Some(NODE.into()),
                    1 => Some("node-b".into()),
                    _ => None,
                },
                hints: (b.zone > 0).then(|| EndpointHints {
                    for_zones: Some(vec![ForZone {
                        name: format!("zone-{}", if b.zone == 1 { 'a' } else { 'b' }),
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(ports),
    }
}

/// Applies `op` to `slots` (and the proxier's zone), recording the informers' changes.
fn apply(op: &Op, slots: &mut [Slot], proxier: &mut Proxier, changes: &mut ProxyChanges) {
    let name = |i: usize| slot_name(i);
    let slices_now = |slot: &Slot, i: usize| {
        slot.slice
            .iter()
            .map(|s| slice_object(i, s))
            .collect::<Vec<_>>()
    };
    match op {
        Op::Set(i, spec) => {
            let slot = &mut slots[*i];
            slot.service = spec.clone();
            slot.slice = spec.clone();
            match spec {
                Some(s) => changes.service_updated(&service_object(*i, s)),
                None => changes.service_deleted("q", &name(*i)),
            }
            changes.endpoint_slices("q", &name(*i), &slices_now(slot, *i), NODE);
        }
        Op::DeleteService(i) => {
            slots[*i].service = None;
            changes.service_deleted("q", &name(*i));
        }
        Op::Endpoints(i, backends) => {
            let slot = &mut slots[*i];
            let Some(base) = slot.slice.clone().or_else(|| slot.service.clone()) else {
                return;
            };
            slot.slice = Some(Spec {
                backends: backends.clone(),
                ..base
            });
            changes.endpoint_slices("q", &name(*i), &slices_now(slot, *i), NODE);
        }
        Op::Flip(i, j) => {
            let slot = &mut slots[*i];
            let Some(b) = slot.slice.as_mut().and_then(|s| s.backends.get_mut(*j)) else {
                return;
            };
            b.ready = !b.ready;
            changes.endpoint_slices("q", &name(*i), &slices_now(slot, *i), NODE);
        }
        Op::Zone(a) => proxier.config.zone = if *a { "zone-a" } else { "zone-b" }.into(),
    }
}

/// The slots' objects as the proxy on this node sees them.
fn slots_state(
    slots: &[Slot],
) -> (
    BTreeMap<ServicePortName, ServicePort>,
    BTreeMap<ServicePortName, Vec<Endpoint>>,
) {
    let services: Vec<Service> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some(service_object(i, s.service.as_ref()?)))
        .collect();
    let slices: Vec<EndpointSlice> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some(slice_object(i, s.slice.as_ref()?)))
        .collect();
    proxy_state(&services, &slices, NODE)
}

/// The Services whose ports or endpoints differ between two states, compared Service by
/// Service.
fn changed_between(
    a: &(
        BTreeMap<ServicePortName, ServicePort>,
        BTreeMap<ServicePortName, Vec<Endpoint>>,
    ),
    b: &(
        BTreeMap<ServicePortName, ServicePort>,
        BTreeMap<ServicePortName, Vec<Endpoint>>,
    ),
) -> BTreeSet<(String, String)> {
    (0..SLOTS)
        .map(slot_name)
        .filter(|n| {
            let of = |m: &BTreeMap<ServicePortName, _>| -> Vec<ServicePortName> {
                m.keys().filter(|k| k.name == *n).cloned().collect()
            };
            let ports = |s: &(BTreeMap<ServicePortName, ServicePort>, _)| {
                s.0.iter()
                    .filter(|(k, _)| k.name == *n)
                    .map(|(_, v)| v.clone())
                    .collect::<Vec<_>>()
            };
            let eps = |s: &(_, BTreeMap<ServicePortName, Vec<Endpoint>>)| {
                s.1.iter()
                    .filter(|(k, _)| k.name == *n)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Vec<_>>()
            };
            of(&a.0) != of(&b.0) || ports(a) != ports(b) || eps(a) != eps(b)
        })
        .map(|n| ("q".to_string(), n))
        .collect()
}

fn rich_config(masquerade_all: bool) -> ProxierConfig {
    ProxierConfig {
        zone: "zone-a".into(),
        masquerade_all,
        ..config()
    }
}

/// The node's nat chains, in the order the proxier lists them.
fn nat_chains(nf: &Netfilter) -> Vec<String> {
    nf.ruleset
        .table(TableName::Nat)
        .into_iter()
        .flat_map(|t| t.chains().map(|c| c.name.to_string()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every sync through the change trackers and the cached rules writes what `render_on`
    /// writes for the same state, scope and node chains; the changed Services are exactly
    /// those whose state differs; a new zone makes a full sync; and after the whole sequence
    /// the tables are those of one full sync of the final state.
    #[test]
    fn cached_partial_syncs_write_what_render_on_writes(
        start in prop::collection::vec(prop::option::weighted(0.7, spec()), SLOTS),
        ops in prop::collection::vec(op(), 1..12),
        masquerade_all in prop::bool::weighted(0.2),
    ) {
        let mut nf = Netfilter::default();
        let mut proxier = Proxier::new(rich_config(masquerade_all));
        let mut slots = vec![Slot::default(); SLOTS];
        let mut before = slots_state(&slots);
        for step in 0..=ops.len() {
            let mut changes = ProxyChanges::default();
            let zone = proxier.config.zone.clone();
            match step.checked_sub(1) {
                None => {
                    for (i, s) in start.iter().enumerate() {
                        apply(&Op::Set(i, s.clone()), &mut slots, &mut proxier, &mut changes);
                    }
                }
                Some(k) => apply(&ops[k], &mut slots, &mut proxier, &mut changes),
            }
            let existing = nat_chains(&nf);
            let out = proxier
                .sync_changes(SimTime::ZERO + SimDuration::from_secs(step as u64), changes, &mut nf)
                .expect("kube-proxy's rules load");
            let now = slots_state(&slots);
            prop_assert_eq!(proxier.services(), &now.0);
            prop_assert_eq!(proxier.endpoints(), &now.1);
            // The first sync is full, and so is one after the zone label changed.
            prop_assert_eq!(out.full, step == 0 || proxier.config.zone != zone);
            let scope = if out.full {
                SyncScope::Full
            } else {
                let want = changed_between(&before, &now);
                prop_assert_eq!(&out.changed, &want);
                SyncScope::Partial(want)
            };
            let want = render_on(&proxier.config, &now.0, &now.1, &scope, existing.iter().map(String::as_str));
            prop_assert!(!want.large_cluster_mode);
            prop_assert!(out.cleaned_up);
            prop_assert_eq!(&out.rendered, &want);
            before = now;
        }

        let mut fresh_nf = Netfilter::default();
        let mut fresh = Proxier::new(proxier.config.clone());
        fresh.sync(SimTime::ZERO, before.0, before.1, &mut fresh_nf).expect("loads");
        prop_assert_eq!(
            nf.save_with(SaveOptions::default()),
            fresh_nf.save_with(SaveOptions::default())
        );
    }
}
