//! kube-proxy's iptables mode at scale (DESIGN.md §8): 10,000 ClusterIP Services × 10
//! endpoints spread over 10 nodes, built as Service and EndpointSlice objects and seen by the
//! proxier on `node-0` (cluster CIDR 10.244.0.0/14, the defaults of `KubeProxyConfiguration`
//! otherwise).
//!
//! - `kube_proxy/render_full`: `syncProxyRules`' restore text for every Service.
//! - `kube_proxy/render_full_and_restore`: that text and `iptables-restore --noflush` of it
//!   into an empty netfilter (whose drop is left out of the timing: it is no part of a
//!   sync). Target: < 1 s.
//! - `kube_proxy/partial_sync_one_service`: `Proxier::sync_changes` after one EndpointSlice
//!   changed (one endpoint of the middle Service turns not ready, then ready again,
//!   alternately): applying the change, rendering that Service, the partial restore text (the
//!   shared chains in full, that Service's chains only) and its `--noflush` restore. The
//!   change is built outside the timing, as an informer handler builds it. Target: < 10 ms.
//! - `kube_proxy/partial_sync_add_remove_service`: the same for a Service (with its
//!   EndpointSlice) created, then deleted, alternately; it sorts in the middle of
//!   `KUBE-SERVICES`, so that chain changes in the middle.
//! - `kube_proxy_new_connection/*`: the first packet of a new connection from a pod on
//!   another node to the last Service in `KUBE-SERVICES` (the linear worst case), forwarded
//!   through the synced rules as in the `netfilter` bench; the indexed evaluator against the
//!   plain linear walk. Target: < 10 µs median indexed. `explained_trace_last_service` is
//!   what `kube-netsim proxy trace` does for the same connection: every one of the 10
//!   branches walked with the walk recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use benches::new_connection::{Node as BenchNode, new_connection, syn};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeStatus, Service, ServicePort as ApiServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sim_core::{SimRng, SimTime};
use sim_k8s::config::KubeProxyConfiguration;
use sim_k8s::proxy::config::proxier_config;
use sim_k8s::proxy::endpoint::SERVICE_NAME_LABEL;
use sim_k8s::proxy::{Proxier, ProxierConfig, ProxyChanges, SyncScope, proxy_state, render};
use sim_net::netfilter::fixture::{cluster_ip, endpoint_ip};
use sim_net::netfilter::trace::{TraceRequest, trace_new_connection};
use sim_net::netfilter::{Netfilter, RestoreOptions};

/// Services, 10,000 unless `KUBE_PROXY_BENCH_SERVICES` says otherwise (e.g. 1000, to set
/// against the kernel anchor's `--noflush` figure at that size).
fn service_count() -> usize {
    std::env::var("KUBE_PROXY_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}
const ENDPOINTS: usize = 10;
const NODES: usize = 10;
const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 10);

fn service(i: usize) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(format!("svc-{i:05}")),
            namespace: Some("bench".into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some(cluster_ip(i).to_string()),
            ports: Some(vec![ApiServicePort {
                name: Some("http".into()),
                port: 80,
                protocol: Some("TCP".into()),
                ..ApiServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Service `i`'s slice; endpoint `j` runs on `node-{(i + j) % 10}`. With `not_ready`, that
/// endpoint is not ready.
fn slice(i: usize, not_ready: Option<usize>) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!("svc-{i:05}-abcde")),
            namespace: Some("bench".into()),
            labels: Some(BTreeMap::from([(
                SERVICE_NAME_LABEL.to_string(),
                format!("svc-{i:05}"),
            )])),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".into(),
        endpoints: (0..ENDPOINTS)
            .map(|j| Endpoint {
                addresses: vec![endpoint_ip(i, j, ENDPOINTS).to_string()],
                conditions: Some(EndpointConditions {
                    ready: Some(not_ready != Some(j)),
                    ..EndpointConditions::default()
                }),
                node_name: Some(format!("node-{}", (i + j) % NODES)),
                ..Endpoint::default()
            })
            .collect(),
        ports: Some(vec![EndpointPort {
            name: Some("http".into()),
            port: Some(8080),
            protocol: Some("TCP".into()),
            ..EndpointPort::default()
        }]),
    }
}

/// Service `i` and its EndpointSlice, renamed `name`.
fn renamed(i: usize, name: &str) -> (Service, EndpointSlice) {
    let mut svc = service(i);
    svc.metadata.name = Some(name.into());
    let mut sl = slice(i, None);
    sl.metadata.name = Some(format!("{name}-abcde"));
    sl.metadata.labels = Some(BTreeMap::from([(
        SERVICE_NAME_LABEL.to_string(),
        name.to_string(),
    )]));
    (svc, sl)
}

fn config() -> ProxierConfig {
    let cfg = KubeProxyConfiguration {
        cluster_cidr: "10.244.0.0/14".into(),
        ..KubeProxyConfiguration::default()
    };
    let node = Node {
        metadata: ObjectMeta {
            name: Some("node-0".into()),
            ..ObjectMeta::default()
        },
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: NODE_IP.to_string(),
            }]),
            ..NodeStatus::default()
        }),
        ..Node::default()
    };
    proxier_config(&cfg, &node, &[Ipv4Addr::LOCALHOST, NODE_IP]).expect("valid configuration")
}

fn kube_proxy(c: &mut Criterion) {
    let cfg = config();
    let count = service_count();
    // The Service whose EndpointSlice the partial sync changes.
    let changed = count / 2;
    let services: Vec<Service> = (0..count).map(service).collect();
    let slices: Vec<EndpointSlice> = (0..count).map(|i| slice(i, None)).collect();
    let (ports, eps) = proxy_state(&services, &slices, &cfg.node_name);
    let node = cfg.node_name.clone();
    // The informer's record of the middle Service's slice: one endpoint not ready, or all
    // ready again.
    let changed_name = format!("svc-{changed:05}");
    let flip = |not_ready: Option<usize>| {
        let mut c = ProxyChanges::default();
        c.endpoint_slices("bench", &changed_name, [&slice(changed, not_ready)], &node);
        c
    };
    let (not_ready, ready) = (flip(Some(0)), flip(None));
    // A Service that sorts in the middle of KUBE-SERVICES, created and deleted.
    let added_name = format!("svc-{changed:05}-new");
    let (added_svc, added_slice) = renamed(count, &added_name);
    let mut added = ProxyChanges::default();
    added.service_updated(&added_svc);
    added.endpoint_slices("bench", &added_name, [&added_slice], &node);
    let mut removed = ProxyChanges::default();
    removed.service_deleted("bench", &added_name);
    removed.endpoint_slices("bench", &added_name, [], &node);

    let mut g = c.benchmark_group("kube_proxy");
    g.sample_size(10);
    g.bench_function("render_full", |b| {
        b.iter(|| render(&cfg, &ports, &eps, &SyncScope::Full, &BTreeSet::new()))
    });
    g.bench_function("render_full_and_restore", |b| {
        b.iter_with_large_drop(|| {
            let out = render(&cfg, &ports, &eps, &SyncScope::Full, &BTreeSet::new());
            let mut nf = Netfilter::default();
            nf.restore(&out.restore, RestoreOptions::kube_proxy())
                .expect("kube-proxy's text loads");
            nf
        })
    });

    let mut nf = Netfilter::default();
    let mut proxier = Proxier::new(cfg.clone());
    let first = proxier
        .sync(SimTime::ZERO, ports.clone(), eps.clone(), &mut nf)
        .expect("full sync");
    assert!(first.full);
    let mut step = 0u64;
    for (name, on, off) in [
        ("partial_sync_one_service", &not_ready, &ready),
        ("partial_sync_add_remove_service", &added, &removed),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    step += 1;
                    let next = if step % 2 == 1 { on } else { off };
                    (SimTime::from_nanos(step * 1_000_000), next.clone())
                },
                |(now, changes)| {
                    let out = proxier
                        .sync_changes(now, changes, &mut nf)
                        .expect("partial sync");
                    assert!(!out.full && out.changed.len() == 1);
                    out
                },
                BatchSize::PerIteration,
            )
        });
        // Back to the base state for the next bench.
        if step % 2 == 1 {
            step += 1;
            proxier
                .sync_changes(SimTime::from_nanos(step * 1_000_000), off.clone(), &mut nf)
                .expect("sync");
        }
    }
    g.finish();

    // Back to every endpoint ready, then trace from a pod on another node.
    proxier
        .sync(
            SimTime::from_nanos((step + 1) * 1_000_000),
            ports.clone(),
            eps.clone(),
            &mut nf,
        )
        .expect("sync");
    let last = cluster_ip(count - 1);
    let client = Ipv4Addr::new(10, 247, 1, 2);
    let node = BenchNode { ip: NODE_IP };
    let template = syn(client, last, 80);
    let mut rng = SimRng::new(1);
    let mut g = c.benchmark_group("kube_proxy_new_connection");
    g.sample_size(20);
    for (name, linear) in [
        ("indexed_last_service", false),
        ("linear_last_service", true),
    ] {
        nf.set_linear(linear);
        assert!(
            new_connection(&mut nf, &node, &template, 1, &mut rng),
            "{name}: accepted"
        );
        let mut n = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                new_connection(&mut nf, &node, &template, n, &mut rng)
            })
        });
    }
    nf.set_linear(false);
    let req = TraceRequest {
        src: client,
        sport: 40000,
        dst: last,
        dport: 80,
        proto: 6,
        local_ips: vec![NODE_IP],
    };
    assert_eq!(trace_new_connection(&mut nf, &req).len(), ENDPOINTS);
    g.bench_function("explained_trace_last_service", |b| {
        b.iter(|| trace_new_connection(&mut nf, &req))
    });
    g.finish();
}

criterion_group!(benches, kube_proxy);
criterion_main!(benches);
