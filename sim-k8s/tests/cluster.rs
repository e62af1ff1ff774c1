//! A kubenet cluster built from manifests, end to end: three nodes (created by default),
//! a Deployment's pods spread over them with addresses from each node's podCIDR, pod to pod
//! across nodes through the cloud router's routes without NAT, containers of one pod
//! talking over localhost, and a pod whose readiness gate is unset kept out of the ready
//! Endpoints.

use std::path::Path;

use k8s_openapi::api::core::v1::Endpoints;
use sim_core::{SimDuration, SimTime};
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::manifest::{LoadOptions, load_path};
use sim_net::socket::http::Response;
use sim_net::socket::{ClientSpec, Outcome, Request, ServerSpec, Service};
use sim_net::{NetSim, SocketProto};

fn cluster() -> Cluster {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubenet/web.yaml");
    let m = load_path(&path, &LoadOptions::default()).unwrap();
    Cluster::build(m.objects(), ClusterConfig::default()).unwrap()
}

#[test]
fn deployment_pods_are_spread_and_addressed_from_their_nodes_cidrs() {
    let c = cluster();
    assert_eq!(c.nodes.len(), 3);
    let web: Vec<_> = c
        .pods
        .iter()
        .filter(|(k, _)| k.starts_with("shop/web-"))
        .collect();
    assert_eq!(web.len(), 3);
    let mut nodes: Vec<&str> = web.iter().map(|(_, p)| p.node.as_str()).collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "one per node");
    for (_, p) in &web {
        let node = &c.nodes[&p.node];
        assert!(
            node.pod_cidr.contains(&p.ip),
            "{} in {}",
            p.ip,
            node.pod_cidr
        );
        // kubenet: .1 is cbr0 (the gateway), host-local hands out from .2 in order (the
        // gated pod, created first, took .2 on its node).
        assert!((2..=3).contains(&p.ip.octets()[3]), "{}", p.ip);
    }
    let cidrs: Vec<String> = c.nodes.values().map(|n| n.pod_cidr.to_string()).collect();
    assert_eq!(cidrs, ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]);
}

#[test]
fn pods_reach_each_other_across_nodes_without_nat_and_localhost_within_a_pod() {
    let c = cluster();
    let web: Vec<(String, std::net::Ipv4Addr, sim_net::NetNsId)> = c
        .pods
        .iter()
        .filter(|(k, _)| k.starts_with("shop/web-"))
        .map(|(k, p)| (k.clone(), p.ip, p.sandbox.netns))
        .collect();
    let mut sim = NetSim::new(c.net, 7);
    for (k, _, ns) in &web {
        let hostname = k.split('/').nth(1).unwrap().to_string();
        sim.serve(
            *ns,
            ServerSpec {
                proto: SocketProto::Tcp,
                port: 8080,
                service: Service::NetExec { hostname },
            },
        )
        .unwrap();
    }
    let get = |ip: std::net::Ipv4Addr, path: &str| ClientSpec {
        proto: SocketProto::Tcp,
        dst: format!("{ip}:8080").parse().unwrap(),
        request: Request::HttpGet { path: path.into() },
        timeout: SimDuration::from_secs(5),
    };
    let (a, b) = (&web[0], &web[1]);
    let events = vec![
        sim.request(SimTime::ZERO, a.2, get(b.1, "/clientip")),
        sim.request(SimTime::from_nanos(10_000_000), a.2, get(b.1, "/hostname")),
        // The sidecar container shares the pod's namespace: localhost reaches agnhost.
        sim.request(
            SimTime::from_nanos(20_000_000),
            a.2,
            get("127.0.0.1".parse().unwrap(), "/hostname"),
        ),
    ];
    let mut e = sim.into_engine(7, events).with_budget(1_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let mut results: Vec<_> = world.results().into_iter().cloned().collect();
    results.sort_by_key(|r| r.id);
    let body = |i: usize| match &results[i].outcome {
        Outcome::Http(Response { status: 200, body }) => body.clone(),
        o => panic!("request {i}: {o}"),
    };
    assert_eq!(body(0), results[0].local.to_string(), "no NAT between pods");
    assert_eq!(results[0].local.ip(), &a.1);
    assert_eq!(body(1), b.0.split('/').nth(1).unwrap());
    assert_eq!(body(2), a.0.split('/').nth(1).unwrap());
    // The path went through the cloud router.
    assert!(
        world
            .hops
            .iter()
            .any(|h| h.netns == "cloud-router" && h.point.as_str() == "forward")
    );
}

#[test]
fn a_pod_with_an_unset_readiness_gate_is_not_a_ready_endpoint() {
    let c = cluster();
    let ep: &Endpoints = c
        .store
        .get_as("shop", "web")
        .expect("endpoints for the service");
    let subsets = ep.subsets.as_ref().unwrap();
    let ready: Vec<String> = subsets
        .iter()
        .flat_map(|s| s.addresses.iter().flatten())
        .map(|a| a.ip.clone())
        .collect();
    let not_ready: Vec<String> = subsets
        .iter()
        .flat_map(|s| s.not_ready_addresses.iter().flatten())
        .map(|a| a.ip.clone())
        .collect();
    assert_eq!(ready.len(), 3, "{subsets:?}");
    let gated_ip = c.pods["shop/gated"].ip.to_string();
    assert_eq!(not_ready, vec![gated_ip.clone()]);
    assert!(!ready.contains(&gated_ip));
    // The named targetPort resolved to each pod's containerPort.
    assert!(
        subsets
            .iter()
            .all(|s| s.ports.as_ref().unwrap()[0].port == 8080)
    );
}

fn build(yaml: &str) -> Result<Cluster, sim_k8s::cluster::ClusterError> {
    let m = sim_k8s::manifest::load_str("t.yaml", yaml, &LoadOptions::default()).unwrap();
    Cluster::build(m.objects(), ClusterConfig::default())
}

#[test]
fn services_get_cluster_ips_and_node_ports_and_conflicts_are_refused() {
    let c = build(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: kube-system}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: np}\nspec: {type: NodePort, ports: [{port: 80}]}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: headless}\nspec: {clusterIP: None, ports: [{port: 80}]}\n",
    )
    .unwrap();
    let svc = |ns: &str, n: &str| {
        c.store
            .get_as::<k8s_openapi::api::core::v1::Service>(ns, n)
            .unwrap()
            .spec
            .clone()
            .unwrap()
    };
    assert_eq!(svc("default", "a").cluster_ip.as_deref(), Some("10.96.0.1"));
    assert_eq!(
        svc("kube-system", "dns").cluster_ip.as_deref(),
        Some("10.96.0.10")
    );
    assert_eq!(
        svc("default", "np").cluster_ip.as_deref(),
        Some("10.96.0.2")
    );
    assert_eq!(
        svc("default", "np").ports.unwrap()[0].node_port,
        Some(30000)
    );
    assert_eq!(
        svc("default", "headless").cluster_ip.as_deref(),
        Some("None")
    );

    let err = build(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.7, ports: [{port: 80}]}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {clusterIP: 10.96.0.7, ports: [{port: 80}]}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("default/b") && err.contains("already allocated"),
        "{err}"
    );
    let err = build(
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 192.168.1.1, ports: [{port: 80}]}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("not in the service range 10.96.0.0/12"),
        "{err}"
    );
}

#[test]
fn an_exported_pod_ip_outside_its_nodes_cidr_is_refused() {
    let err = build(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.244.7.0/24}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: n1, containers: [{name: c, image: x}]}\nstatus: {podIP: 10.244.8.5}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("default/p") && err.contains("10.244.8.5") && err.contains("10.244.7.0/24"),
        "{err}"
    );
    // Consistent exports are kept.
    let c = build(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.244.7.0/24}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: n1, containers: [{name: c, image: x}]}\nstatus: {podIP: 10.244.7.77}\n",
    )
    .unwrap();
    assert_eq!(c.pods["default/p"].ip.to_string(), "10.244.7.77");
}

#[test]
fn pod_traffic_leaving_the_cluster_cidr_is_masqueraded_by_kubenet() {
    let c = cluster();
    let node2 = c.nodes["node-2"].clone();
    let (key, pod) = c.pods.iter().find(|(_, p)| p.node == "node-1").unwrap();
    let (pod_ns, _) = (pod.sandbox.netns, key.clone());
    let mut sim = NetSim::new(c.net, 3);
    sim.serve(
        node2.netns,
        ServerSpec {
            proto: SocketProto::Tcp,
            port: 10250,
            service: Service::NetExec {
                hostname: "node-2".into(),
            },
        },
    )
    .unwrap();
    let spec = ClientSpec {
        proto: SocketProto::Tcp,
        dst: format!("{}:10250", node2.ip).parse().unwrap(),
        request: Request::HttpGet {
            path: "/clientip".into(),
        },
        timeout: SimDuration::from_secs(5),
    };
    let events = vec![sim.request(SimTime::ZERO, pod_ns, spec)];
    let mut e = sim.into_engine(3, events).with_budget(1_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let r = world.results()[0].clone();
    let Outcome::Http(Response { body, .. }) = &r.outcome else {
        panic!("{}", r.outcome)
    };
    // node-1 is 172.18.0.10: the node, not the pod, reaches node-2's kubelet port.
    assert!(body.starts_with("172.18.0.10:"), "{body}");
}

/// With the reference CNI plugins, a hostPort is published by portmap's DNAT chains on the
/// pod's node, and the bridge's ipMasq chains masquerade pod traffic leaving the pod subnet.
#[test]
fn bridge_plugin_publishes_host_ports_through_portmap() {
    let m = sim_k8s::manifest::load_str(
        "hp.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: hp}\nspec:\n  nodeName: node-2\n  containers:\n  - name: c\n    image: agnhost\n    ports: [{containerPort: 8080, hostPort: 9090}]\n",
        &LoadOptions::default(),
    )
    .unwrap();
    let config = ClusterConfig {
        plugin: sim_k8s::cluster::NetworkPlugin::Bridge,
        ..ClusterConfig::default()
    };
    let c = Cluster::build(m.objects(), config).unwrap();
    let pod = c.pods["default/hp"].clone();
    let (node1, node2) = (c.nodes["node-1"].clone(), c.nodes["node-2"].clone());
    let save = c.net.netns(node2.netns).netfilter.ruleset.save();
    assert!(save.contains(":CNI-HOSTPORT-DNAT - [0:0]"), "{save}");
    assert!(
        save.contains(&format!("-j DNAT --to-destination {}:8080", pod.ip)),
        "{save}"
    );
    let mut sim = NetSim::new(c.net, 5);
    sim.serve(
        pod.sandbox.netns,
        ServerSpec {
            proto: SocketProto::Tcp,
            port: 8080,
            service: Service::NetExec {
                hostname: "hp".into(),
            },
        },
    )
    .unwrap();
    let spec = ClientSpec {
        proto: SocketProto::Tcp,
        dst: format!("{}:9090", node2.ip).parse().unwrap(),
        request: Request::HttpGet {
            path: "/clientip".into(),
        },
        timeout: SimDuration::from_secs(5),
    };
    let events = vec![sim.request(SimTime::ZERO, node1.netns, spec)];
    let mut e = sim.into_engine(5, events).with_budget(1_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let r = world.results()[0].clone();
    let Outcome::Http(Response { body, .. }) = &r.outcome else {
        panic!("{}", r.outcome)
    };
    // From another node the source is kept (portmap's snat only covers hairpin/localhost).
    assert_eq!(body, &format!("{}:{}", node1.ip, r.local.port()));
}

/// The control plane over time: scaling a Deployment at 1 s creates pods that are bound,
/// plumbed and listed in the Service's Endpoints one watch lag after another — not before.
#[test]
fn scaling_up_reaches_the_endpoints_after_the_watch_lags() {
    use sim_k8s::cluster::control::{ClusterEvent, ClusterSim};
    use sim_k8s::object::Object;
    use sim_k8s::store::Change;

    let c = cluster();
    let k = |c: &Cluster| {
        let ep: &Endpoints = c.store.get_as("shop", "web").unwrap();
        ep.subsets
            .iter()
            .flatten()
            .flat_map(|s| s.addresses.iter().flatten())
            .count()
    };
    assert_eq!(k(&c), 3);
    let mut d: k8s_openapi::api::apps::v1::Deployment = c
        .store
        .get_as::<k8s_openapi::api::apps::v1::Deployment>("shop", "web")
        .unwrap()
        .clone();
    d.spec.as_mut().unwrap().replicas = Some(5);
    let lag = SimDuration::from_millis(10);
    let sim = ClusterSim::new(c, 1, lag);
    let t1 = SimTime::from_nanos(1_000_000_000);
    let mut e = sim.into_engine(
        1,
        [(
            t1,
            ClusterEvent::Api(Box::new(Change::Update(Object::Deployment(d)))),
        )],
    );
    // Workloads (+10ms) scale the ReplicaSet, (+20ms) create pods, scheduler (+30ms) binds,
    // kubelet (+40ms) runs them, endpoints (+50ms) list them.
    e.run_until(t1 + SimDuration::from_millis(45)).unwrap();
    assert_eq!(
        k(&e.world().cluster),
        3,
        "not yet: the endpoints controller has not heard"
    );
    assert_eq!(
        e.world().cluster.pods.len(),
        6,
        "the kubelets already started the two new pods"
    );
    e.run_until(t1 + SimDuration::from_millis(50)).unwrap();
    assert_eq!(k(&e.world().cluster), 5, "five watch lags after the change");
    e.run_to_quiescence().unwrap();
    let w = e.world();
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    assert_eq!(k(&w.cluster), 5);
    assert_eq!(w.cluster.pods.len(), 6);
    // Scale down to one: the extra pods are deleted and leave the Endpoints.
    let mut d: k8s_openapi::api::apps::v1::Deployment = w
        .cluster
        .store
        .get_as::<k8s_openapi::api::apps::v1::Deployment>("shop", "web")
        .unwrap()
        .clone();
    d.spec.as_mut().unwrap().replicas = Some(1);
    d.metadata.resource_version = None;
    // After kube-proxy's last rate-limited sync (minSyncPeriod 1 s after its first).
    let t2 = SimTime::from_nanos(3_000_000_000);
    assert!(e.now() < t2, "{}", e.now());
    e.schedule_at(
        t2,
        ClusterEvent::Api(Box::new(Change::Update(Object::Deployment(d)))),
    );
    e.run_to_quiescence().unwrap();
    let w = e.world();
    assert!(w.errors.is_empty(), "{:?}", w.errors);
    assert_eq!(k(&w.cluster), 1);
}

#[test]
fn statefulset_and_daemonset_pods_are_created() {
    let c = build(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  replicas: 2\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: c, image: x}]}\n---\n\
         apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, namespace: kube-system}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec: {containers: [{name: c, image: x}]}\n",
    )
    .unwrap();
    assert!(c.pods.contains_key("default/db-0") && c.pods.contains_key("default/db-1"));
    let mut agents: Vec<&str> = c
        .pods
        .iter()
        .filter(|(k, _)| k.starts_with("kube-system/agent-"))
        .map(|(_, p)| p.node.as_str())
        .collect();
    agents.sort();
    assert_eq!(agents, ["node-1", "node-2", "node-3"], "one per node");
    let db0: &k8s_openapi::api::core::v1::Pod = c.store.get_as("default", "db-0").unwrap();
    assert_eq!(db0.spec.as_ref().unwrap().subdomain.as_deref(), Some("db"));
}
