//! kube-proxy in a running kubenet cluster: a pod's connections to a ClusterIP reach the
//! Service's ready endpoints across nodes, DNATed by its node's rules, and the backend sees
//! the client pod's own address (no masquerade for pod-to-Service traffic).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use proptest::prelude::*;
use sim_core::{SimDuration, SimTime};
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::manifest::{LoadOptions, load_path, load_str};
use sim_net::socket::http::Response;
use sim_net::socket::{ClientSpec, Outcome, Request, ServerSpec, Service};
use sim_net::{NetSim, SocketProto};

fn cluster() -> Cluster {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubenet/web.yaml");
    let m = load_path(&path, &LoadOptions::default()).unwrap();
    Cluster::build(m.objects(), ClusterConfig::default()).unwrap()
}

#[test]
fn cluster_ip_connections_land_on_ready_endpoints_with_the_client_address_kept() {
    let c = cluster();
    // Every node programmed the Service at build time, after kube-proxy's conntrack
    // sysctls: max(32768 per core × 2 CPUs, 131072) entries, 24 h established, 1 h close-wait.
    for (node, kp) in &c.kube_proxies {
        let ct = c
            .net
            .netns(c.nodes[node].netns)
            .netfilter
            .conntrack
            .config();
        assert_eq!(ct.max, 131_072);
        assert_eq!(ct.timeouts.tcp_established, SimDuration::from_secs(86_400));
        assert_eq!(ct.timeouts.tcp_close_wait, SimDuration::from_secs(3_600));
        assert_eq!(kp.syncs.len(), 1, "{node}");
        assert!(kp.syncs[0].full);
        let save = c.net.netns(c.nodes[node].netns).netfilter.ruleset.save();
        assert!(
            save.contains("-A KUBE-SERVICES -d 10.96.0.80/32 -p tcp -m comment --comment \"shop/web:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-"),
            "{save}"
        );
    }
    let client = c.pods["shop/gated"].clone();
    let web: Vec<(String, sim_net::NetNsId)> = c
        .pods
        .iter()
        .filter(|(k, _)| k.starts_with("shop/web-"))
        .map(|(k, p)| (k.split('/').nth(1).unwrap().to_string(), p.sandbox.netns))
        .collect();
    let mut sim = NetSim::new(c.net, 3);
    for (hostname, ns) in &web {
        sim.serve(
            *ns,
            ServerSpec {
                proto: SocketProto::Tcp,
                port: 8080,
                service: Service::NetExec {
                    hostname: hostname.clone(),
                },
            },
        )
        .unwrap();
    }
    let get = |path: &str| ClientSpec {
        proto: SocketProto::Tcp,
        dst: "10.96.0.80:80".parse().unwrap(),
        request: Request::HttpGet { path: path.into() },
        timeout: SimDuration::from_secs(5),
    };
    let mut events = Vec::new();
    for i in 0..30u64 {
        let path = if i % 2 == 0 { "/hostname" } else { "/clientip" };
        events.push(sim.request(
            SimTime::from_nanos(i * 20_000_000),
            client.sandbox.netns,
            get(path),
        ));
    }
    let mut e = sim.into_engine(3, events).with_budget(2_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let mut results: Vec<_> = world.results().into_iter().cloned().collect();
    results.sort_by_key(|r| r.id);
    assert_eq!(results.len(), 30);
    let names: BTreeSet<String> = web.iter().map(|(n, _)| n.clone()).collect();
    let mut served = BTreeSet::new();
    for (i, r) in results.iter().enumerate() {
        let Outcome::Http(Response { status: 200, body }) = &r.outcome else {
            panic!("request {i}: {}", r.outcome);
        };
        if i % 2 == 0 {
            assert!(names.contains(body), "{body} is not a ready web pod");
            served.insert(body.clone());
        } else {
            assert_eq!(
                body,
                &r.local.to_string(),
                "the backend sees the client pod"
            );
            assert_eq!(r.local.ip(), &client.ip);
        }
    }
    assert!(
        served.len() >= 2,
        "load-balanced over endpoints: {served:?}"
    );
}

/// `ready` serving pods and `gated` ones whose readiness gate is unset, behind one Service,
/// and a client; UDP to the ClusterIP from the client `requests` times.
fn udp_round(
    ready: usize,
    gated: usize,
    requests: u64,
    seed: u64,
) -> (Vec<Outcome>, BTreeSet<String>) {
    let mut y = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: p}\nspec:\n  clusterIP: 10.96.0.50\n  selector: {app: echo}\n  ports: [{port: 53, targetPort: 8081, protocol: UDP}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: p}\nspec: {containers: [{name: c, image: x}]}\n",
    );
    for i in 0..ready + gated {
        let gate = if i >= ready {
            "  readinessGates: [{conditionType: example.com/gate}]\n"
        } else {
            ""
        };
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: e{i}, namespace: p, labels: {{app: echo}}}}\nspec:\n{gate}  containers: [{{name: c, image: x, ports: [{{containerPort: 8081, protocol: UDP}}]}}]\n"
        );
    }
    let m = load_str("t.yaml", &y, &LoadOptions::default()).unwrap();
    let c = Cluster::build(m.objects(), ClusterConfig::default()).unwrap();
    let ready_names: BTreeSet<String> = (0..ready).map(|i| format!("e{i}")).collect();
    let client = c.pods["p/client"].sandbox.netns;
    let servers: Vec<(String, sim_net::NetNsId)> = (0..ready + gated)
        .map(|i| (format!("e{i}"), c.pods[&format!("p/e{i}")].sandbox.netns))
        .collect();
    let mut sim = NetSim::new(c.net, seed);
    for (name, ns) in servers {
        sim.serve(
            ns,
            ServerSpec {
                proto: SocketProto::Udp,
                port: 8081,
                service: Service::NetExec { hostname: name },
            },
        )
        .unwrap();
    }
    let events: Vec<_> = (0..requests)
        .map(|i| {
            sim.request(
                SimTime::from_nanos(i * 10_000_000),
                client,
                ClientSpec {
                    proto: SocketProto::Udp,
                    dst: "10.96.0.50:53".parse().unwrap(),
                    request: Request::Send {
                        payload: b"hostname".to_vec(),
                    },
                    timeout: SimDuration::from_secs(1),
                },
            )
        })
        .collect();
    let mut e = sim.into_engine(seed, events).with_budget(1_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let mut results: Vec<_> = world.results().into_iter().cloned().collect();
    results.sort_by_key(|r| r.id);
    (
        results.into_iter().map(|r| r.outcome).collect(),
        ready_names,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    /// Every datagram to the ClusterIP reaches a ready endpoint and its answer comes back
    /// from the ClusterIP (the client's UDP socket is connected to it, as agnhost's is, and
    /// takes nothing from any other address) — or, without ready endpoints, is refused.
    #[test]
    fn udp_to_a_cluster_ip_is_answered_by_ready_endpoints_from_the_cluster_ip(
        ready in 0usize..4,
        gated in 0usize..3,
        seed in 0u64..1000,
    ) {
        let (outcomes, ready_names) = udp_round(ready, gated, 6, seed);
        prop_assert_eq!(outcomes.len(), 6);
        for o in outcomes {
            match o {
                Outcome::Reply(body) if ready > 0 => {
                    let name = String::from_utf8(body).unwrap();
                    prop_assert!(ready_names.contains(&name), "{name}");
                }
                Outcome::Refused if ready == 0 => {}
                o => prop_assert!(false, "ready {ready}: {o}"),
            }
        }
    }
}

/// When an endpoint of a UDP Service goes away, its node's kube-proxy deletes the conntrack
/// entries that still DNAT the Service's flows to it (else a client reusing its source port
/// would keep sending into the void until the entry's 30 s timeout).
#[test]
fn a_removed_udp_endpoint_loses_its_conntrack_entries_at_the_next_sync() {
    use sim_k8s::cluster::control::{ClusterEvent, ClusterSim};
    use sim_k8s::object::{Kind, ObjectKey};
    use sim_k8s::store::Change;
    use sim_net::netfilter::conntrack::Direction;

    let y = "apiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: p}\nspec:\n  clusterIP: 10.96.0.53\n  selector: {app: dns}\n  ports: [{port: 53, targetPort: 8081, protocol: UDP}]\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: p}\nspec: {nodeName: node-1, containers: [{name: c, image: x}]}\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {name: d0, namespace: p, labels: {app: dns}}\nspec: {nodeName: node-2, containers: [{name: c, image: x}]}\n";
    let m = load_str("t.yaml", y, &LoadOptions::default()).unwrap();
    let c = Cluster::build(m.objects(), ClusterConfig::default()).unwrap();
    let d0 = c.pods["p/d0"].clone();
    let client = c.pods["p/client"].sandbox.netns;
    let node1 = c.nodes["node-1"].netns;
    let lag = SimDuration::from_millis(10);
    let mut sim = ClusterSim::new(c, 5, lag);
    sim.sim
        .serve(
            d0.sandbox.netns,
            ServerSpec {
                proto: SocketProto::Udp,
                port: 8081,
                service: Service::NetExec {
                    hostname: "d0".into(),
                },
            },
        )
        .unwrap();
    let req = sim.sim.request(
        SimTime::ZERO,
        client,
        ClientSpec {
            proto: SocketProto::Udp,
            dst: "10.96.0.53:53".parse().unwrap(),
            request: Request::Send {
                payload: b"hostname".to_vec(),
            },
            timeout: SimDuration::from_secs(1),
        },
    );
    let delete = ClusterEvent::Api(Box::new(Change::Delete(ObjectKey::new(
        Kind::Pod,
        "p",
        "d0",
    ))));
    let t1 = SimTime::from_nanos(2_000_000_000);
    let mut e = sim.into_engine(5, [(req.at, ClusterEvent::Net(req.event)), (t1, delete)]);
    let to_d0 = |e: &sim_core::Engine<ClusterSim>| {
        e.world()
            .sim
            .net
            .netns(node1)
            .netfilter
            .conntrack
            .iter()
            .filter(|(_, en)| {
                en.tuple(Direction::Reply).src == std::net::IpAddr::V4(d0.ip)
                    && en.tuple(Direction::Original).dport == 53
            })
            .count()
    };
    e.run_until(SimTime::from_nanos(1_000_000_000)).unwrap();
    assert_eq!(to_d0(&e), 1, "the datagram's flow is tracked, DNATed to d0");
    // Well before the entry's 30 s UDP timeout.
    e.run_until(t1 + SimDuration::from_secs(2)).unwrap();
    let w = e.world();
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    let last = w.cluster.kube_proxies["node-1"].syncs.last().unwrap();
    assert!(last.at > t1 && !last.full);
    assert_eq!(last.conntrack_deleted, 1);
    assert_eq!(to_d0(&e), 0, "deleted by kube-proxy, not expired");
}

/// Network programming latency: after a scale-up the new pods are in the API's
/// EndpointSlices a few watch lags later, but a node's rules send traffic to them only once
/// its kube-proxy has synced — right away for the first change after a quiet period, then at
/// most once per minSyncPeriod (1 s), so later changes wait for the next window.
#[test]
fn scaled_up_endpoints_are_programmed_after_the_watch_lag_and_min_sync_period() {
    use sim_k8s::cluster::control::{ClusterEvent, ClusterSim};
    use sim_k8s::store::Change;

    let c = cluster();
    let mut d: k8s_openapi::api::apps::v1::Deployment =
        c.store.get_as("shop", "web").cloned().unwrap();
    d.spec.as_mut().unwrap().replicas = Some(5);
    let lag = SimDuration::from_millis(10);
    let t1 = SimTime::from_nanos(5_000_000_000);
    let mut e = ClusterSim::new(c, 1, lag).into_engine(
        1,
        [(
            t1,
            ClusterEvent::Api(Box::new(Change::Update(sim_k8s::Object::Deployment(d)))),
        )],
    );
    let endpoints_in_rules = |e: &sim_core::Engine<ClusterSim>| {
        let w = e.world();
        let ns = w.cluster.nodes["node-1"].netns;
        w.sim
            .net
            .netns(ns)
            .netfilter
            .ruleset
            .save()
            .lines()
            .filter(|l| l.contains("-j DNAT") && l.contains("shop/web:http"))
            .count()
    };
    assert_eq!(endpoints_in_rules(&e), 3);
    e.run_to_quiescence().unwrap();
    let w = e.world();
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    let syncs: Vec<SimTime> = w.cluster.kube_proxies["node-1"]
        .syncs
        .iter()
        .map(|s| s.at)
        .collect();
    // Build, then the first slice change (pods created, not yet ready: +3 lags for the
    // controllers, +1 for the slice to reach kube-proxy), then one window later.
    assert_eq!(syncs.len(), 3, "{syncs:?}");
    assert_eq!(syncs[0], SimTime::ZERO);
    assert!(
        syncs[1] > t1 && syncs[1] <= t1 + SimDuration::from_millis(60),
        "{syncs:?}"
    );
    assert_eq!(syncs[2], syncs[1] + SimDuration::from_secs(1));
    assert_eq!(endpoints_in_rules(&e), 5);
    assert!(
        !w.cluster.kube_proxies["node-1"].syncs[2].full,
        "a partial sync"
    );
}
