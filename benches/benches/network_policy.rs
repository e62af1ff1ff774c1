//! NetworkPolicy truth tables at scale (issue 10): every pod to every other pod on TCP 80.
//!
//! The objects are generated: pods in 5 namespaces (labelled `team: t0|t1`), each pod
//! labelled `app: a0..a4` and `tier: front|back`, serving `http` on TCP 80, spread over the
//! nodes; policies in turn select one app of one namespace and admit TCP 80 (or the named
//! port `http`) from `tier: front` pods, from a `team` of namespaces, or from an ipBlock
//! (10.244.0.0/16 except 10.244.1.0/24); every third also isolates egress, allowing DNS and
//! its own namespace. So 1,000 pods fall into at most 5 × 5 × 2 classes by labels (more
//! where ipBlocks split them).
//!
//! - `network_policy/oracle_1000_pods_100_policies`: [`matrix`] over the view of a 1,000-pod,
//!   100-policy cluster (one [`evaluate`](sim_k8s::policy::evaluate) per pair of classes).
//! - `network_policy/dataplane_1000_pods_100_policies`: [`dataplane_matrix`] on the same
//!   cluster, built with the policy agent synced on its 4 nodes: one connection attempt and
//!   its reply walked through the nodes per pair of per-node classes. Conntrack is flushed in
//!   every namespace between runs (outside the timing), so each run opens new connections.
//! - `network_policy/oracle_10000_pods_100_policies`: [`matrix`] over a 10,000-pod view
//!   (pods given addresses from 10.244.0.0/16, no cluster built).
//!
//! The cluster build (1,000 pods plumbed, the agent's rules rendered and loaded) is outside
//! every timing.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::{Container, ContainerPort, Namespace, Pod, PodSpec, PodStatus};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sim_core::SimTime;
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::object::Object;
use sim_k8s::policy::{PolicyView, Protocol, dataplane_matrix, matrix};

const NAMESPACES: usize = 5;
const APPS: usize = 5;
const NODES: usize = 4;
const POLICIES: usize = 100;

fn labels(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

fn selector(pairs: &[(&str, String)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(pairs)),
        ..LabelSelector::default()
    }
}

/// Pod `i`: namespace `ns{i % 5}`, `app: a{(i / 5) % 5}`, `tier` by `(i / 25) % 2`, on node
/// `node-{(i / 7) % 4 + 1}`; with `ip`, `status.podIP` 10.244.(i / 250).(i % 250 + 2).
fn pod(i: usize, ip: bool) -> Object {
    let tier = if (i / (NAMESPACES * APPS)).is_multiple_of(2) {
        "front"
    } else {
        "back"
    };
    Object::Pod(Pod {
        metadata: ObjectMeta {
            name: Some(format!("p{i:05}")),
            namespace: Some(format!("ns{}", i % NAMESPACES)),
            labels: Some(labels(&[
                ("app", format!("a{}", (i / NAMESPACES) % APPS)),
                ("tier", tier.to_string()),
            ])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(format!("node-{}", (i / 7) % NODES + 1)),
            containers: vec![Container {
                name: "agnhost".into(),
                image: Some("registry.k8s.io/e2e-test-images/agnhost:2.53".into()),
                ports: Some(vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: 80,
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: ip.then(|| PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some(Ipv4Addr::new(10, 244, (i / 250) as u8, (i % 250 + 2) as u8).to_string()),
            ..PodStatus::default()
        }),
    })
}

/// Policy `j` (see the module docs).
fn policy(j: usize) -> Object {
    let peer = match j % 3 {
        0 => NetworkPolicyPeer {
            pod_selector: Some(selector(&[("tier", "front".into())])),
            ..NetworkPolicyPeer::default()
        },
        1 => NetworkPolicyPeer {
            namespace_selector: Some(selector(&[("team", format!("t{}", j % 2))])),
            ..NetworkPolicyPeer::default()
        },
        _ => NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: "10.244.0.0/16".into(),
                except: Some(vec!["10.244.1.0/24".into()]),
            }),
            ..NetworkPolicyPeer::default()
        },
    };
    let port = if j.is_multiple_of(2) {
        IntOrString::Int(80)
    } else {
        IntOrString::String("http".into())
    };
    let egress = j.is_multiple_of(3).then(|| {
        vec![
            NetworkPolicyEgressRule {
                to: None,
                ports: Some(vec![NetworkPolicyPort {
                    protocol: Some("UDP".into()),
                    port: Some(IntOrString::Int(53)),
                    end_port: None,
                }]),
            },
            NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(LabelSelector::default()),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: None,
            },
        ]
    });
    Object::NetworkPolicy(NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(format!("np{j:03}")),
            namespace: Some(format!("ns{}", j % NAMESPACES)),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(&[(
                "app",
                format!("a{}", (j / NAMESPACES) % APPS),
            )])),
            policy_types: Some(if egress.is_some() {
                vec!["Ingress".into(), "Egress".into()]
            } else {
                vec!["Ingress".into()]
            }),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![peer]),
                ports: Some(vec![NetworkPolicyPort {
                    protocol: Some("TCP".into()),
                    port: Some(port),
                    end_port: None,
                }]),
            }]),
            egress,
        }),
    })
}

fn objects(pods: usize, ips: bool) -> Vec<Object> {
    let mut out: Vec<Object> = (0..NAMESPACES)
        .map(|n| {
            Object::Namespace(Namespace {
                metadata: ObjectMeta {
                    name: Some(format!("ns{n}")),
                    labels: Some(labels(&[("team", format!("t{}", n % 2))])),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            })
        })
        .collect();
    out.extend((0..pods).map(|i| pod(i, ips)));
    out.extend((0..POLICIES).map(policy));
    out
}

fn bench_network_policy(c: &mut Criterion) {
    let mut g = c.benchmark_group("network_policy");
    g.sample_size(10);

    let config = ClusterConfig {
        default_nodes: NODES,
        policy_agent: true,
        ..ClusterConfig::default()
    };
    let small = objects(1_000, false);
    let mut cluster = Cluster::build(small.iter(), config).expect("the generated cluster builds");
    let view = PolicyView::from_store(&cluster.store).expect("valid policies");
    let oracle = matrix(&view, 80, Protocol::Tcp).unwrap();
    eprintln!(
        "1,000 pods × {POLICIES} policies: {} oracle classes",
        oracle.classes()
    );
    g.bench_function("oracle_1000_pods_100_policies", |b| {
        b.iter(|| matrix(&view, 80, Protocol::Tcp).unwrap())
    });
    let probed = dataplane_matrix(&mut cluster, SimTime::ZERO, 80, Protocol::Tcp).unwrap();
    assert_eq!(probed.to_json(), oracle.to_json(), "dataplane == oracle");
    eprintln!(
        "1,000 pods × {POLICIES} policies: {} dataplane classes (per node)",
        probed.classes()
    );
    let namespaces: Vec<sim_net::NetNsId> = cluster.net.all_netns().map(|(id, _)| id).collect();
    g.bench_function("dataplane_1000_pods_100_policies", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for ns in &namespaces {
                    cluster.net.netns_mut(*ns).netfilter.conntrack.flush();
                }
                let start = Instant::now();
                let t = dataplane_matrix(&mut cluster, SimTime::ZERO, 80, Protocol::Tcp);
                total += start.elapsed();
                assert!(t.is_ok());
            }
            total
        })
    });

    let large = objects(10_000, true);
    let view = PolicyView::from_objects(large.iter()).expect("valid policies");
    eprintln!(
        "10,000 pods × {POLICIES} policies: {} oracle classes",
        matrix(&view, 80, Protocol::Tcp).unwrap().classes()
    );
    g.bench_function("oracle_10000_pods_100_policies", |b| {
        b.iter(|| matrix(&view, 80, Protocol::Tcp).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_network_policy);
criterion_main!(benches);
