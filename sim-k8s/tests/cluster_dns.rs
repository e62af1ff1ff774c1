//! Cluster DNS in a running cluster: the add-on's pods answer behind the kube-dns Service,
//! and a pod's lookups travel its resolv.conf's search list through the dataplane.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use sim_core::{Engine, SimDuration, SimTime};
use sim_k8s::cluster::control::{ClusterEvent, ClusterSim};
use sim_k8s::cluster::dns_addon::ClusterDns;
use sim_k8s::cluster::pod_lookup::{LookupReport, PodResolver, lookup};
use sim_k8s::cluster::{Cluster, ClusterConfig, ExternalHost};
use sim_k8s::dns::Transport;
use sim_k8s::dns::flavour::Flavour;
use sim_k8s::dns::resolver::{LookupResult, ResolverConf};
use sim_k8s::manifest::{LoadOptions, load_str};
use sim_k8s::object::{Kind, ObjectKey};
use sim_k8s::store::Change;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop}
spec:
  containers: [{name: c, image: agnhost}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: agnhost, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"#;

/// kubelet's resolv.conf for a ClusterFirst pod in `shop`.
const POD_RESOLV_CONF: &str = "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

fn engine(flavour: Flavour) -> Engine<ClusterSim> {
    let m = load_str("dns.yaml", MANIFESTS, &LoadOptions::default()).unwrap();
    let config = ClusterConfig {
        dns: Some(ClusterDns {
            flavour,
            ..ClusterDns::default()
        }),
        external_hosts: vec![ExternalHost {
            name: "example.com".into(),
            ip: None,
        }],
        ..ClusterConfig::default()
    };
    let c = Cluster::build(m.objects(), config).unwrap();
    ClusterSim::new(c, 1, SimDuration::from_millis(100)).into_engine(1, [])
}

fn ask(e: &mut Engine<ClusterSim>, at: SimTime, name: &str, qtype: RecordType) -> LookupReport {
    let ns = e.world().cluster.pods["shop/client"].sandbox.netns;
    let resolver = PodResolver {
        ns,
        conf: ResolverConf::parse(POD_RESOLV_CONF),
        hosts: String::new(),
    };
    lookup(e, at, &resolver, name, qtype, 100).unwrap()
}

fn answers(r: &LookupReport) -> Vec<String> {
    match &r.result {
        LookupResult::Answer { reply, .. } => reply.answers.iter().map(|a| a.to_string()).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_addon_runs_behind_kube_dns_and_the_kubernetes_service_takes_the_first_address() {
    let e = engine(Flavour::CoreDns);
    let c = &e.world().cluster;
    let svc = |ns: &str, name: &str| {
        let Some(sim_k8s::object::Object::Service(s)) =
            c.store.get(&ObjectKey::new(Kind::Service, ns, name))
        else {
            panic!("no service {ns}/{name}")
        };
        s.spec.clone().unwrap().cluster_ip.unwrap()
    };
    assert_eq!(svc("default", "kubernetes"), "10.96.0.1");
    assert_eq!(svc("kube-system", "kube-dns"), "10.96.0.10");
    // User Services take the next free addresses.
    assert_eq!(svc("shop", "web"), "10.96.0.2");
    let dns_pods: Vec<&String> = c
        .pods
        .keys()
        .filter(|k| k.starts_with("kube-system/coredns-"))
        .collect();
    assert_eq!(dns_pods.len(), 2, "{:?}", c.pods.keys());
    assert_eq!(e.world().dns.as_ref().unwrap().processes.len(), 2);
    // The apiserver's endpoint survives the endpoint controllers (no selector).
    let first_node = c.nodes["node-1"].ip.to_string();
    let Some(sim_k8s::object::Object::EndpointSlice(slice)) = c.store.get(&ObjectKey::new(
        Kind::EndpointSlice,
        "default",
        "kubernetes",
    )) else {
        panic!("no kubernetes EndpointSlice")
    };
    assert_eq!(slice.endpoints[0].addresses, [first_node]);
}

#[test]
fn a_short_name_walks_the_search_list_through_the_dataplane() {
    let mut e = engine(Flavour::CoreDns);
    let r = ask(&mut e, SimTime::ZERO, "web", RecordType::A);
    // `web` has no dot: the first search domain answers at once.
    assert_eq!(
        answers(&r),
        ["web.shop.svc.cluster.local. 30 IN A 10.96.0.2"]
    );
    assert_eq!(r.queries.len(), 1);
    let q = &r.queries[0];
    assert_eq!(q.query.server.to_string(), "10.96.0.10:53");
    // The answer came from the Service address the pod asked (kube-proxy's DNAT reversed).
    assert_eq!(q.result.dst.to_string(), "10.96.0.10:53");
    assert!(r.finished > r.started);

    // ndots:5 — a name with fewer than five dots tries every search domain first.
    let r = ask(
        &mut e,
        SimTime::from_nanos(1_000_000_000),
        "example.com",
        RecordType::A,
    );
    let asked: Vec<String> = r.queries.iter().map(|q| q.query.name.to_string()).collect();
    assert_eq!(
        asked,
        [
            "example.com.shop.svc.cluster.local.",
            "example.com.svc.cluster.local.",
            "example.com.cluster.local.",
            "example.com.",
        ]
    );
    let rcodes: Vec<ResponseCode> = r
        .queries
        .iter()
        .map(|q| q.reply.as_ref().unwrap().metadata.response_code)
        .collect();
    assert_eq!(
        rcodes,
        [
            ResponseCode::NXDomain,
            ResponseCode::NXDomain,
            ResponseCode::NXDomain,
            ResponseCode::NoError
        ]
    );
    let ext = e.world().cluster.externals["example.com"].1;
    assert_eq!(answers(&r), [format!("example.com. 300 IN A {ext}")]);
    let answered: u64 = e
        .world()
        .dns
        .as_ref()
        .unwrap()
        .processes
        .values()
        .map(|p| p.answered)
        .sum();
    assert_eq!(answered, 5);
}

#[test]
fn new_services_resolve_after_the_watch_lag_and_v1_adds_the_etcd_hop() {
    for (flavour, lag) in [(Flavour::CoreDns, 100u64), (Flavour::SkyDns, 200)] {
        let mut e = engine(flavour);
        let api = Change::Create(
            load_str(
                "late.yaml",
                "apiVersion: v1\nkind: Service\nmetadata: {name: late, namespace: shop}\nspec: {clusterIP: 10.96.0.77, ports: [{port: 80}]}\n",
                &LoadOptions::default(),
            )
            .unwrap()
            .objects()
            .next()
            .unwrap()
            .clone(),
        );
        e.schedule_at(SimTime::ZERO, ClusterEvent::Api(Box::new(api)));
        let before = ask(
            &mut e,
            SimTime::from_nanos((lag - 5) * 1_000_000),
            "late.shop.svc.cluster.local.",
            RecordType::A,
        );
        assert!(
            matches!(before.result, LookupResult::Failed(_)),
            "{flavour}: {:?}",
            before.result
        );
        let after = ask(
            &mut e,
            SimTime::from_nanos((lag + 5) * 1_000_000),
            "late.shop.svc.cluster.local.",
            RecordType::A,
        );
        assert_eq!(
            answers(&after),
            ["late.shop.svc.cluster.local. 30 IN A 10.96.0.77"],
            "{flavour}"
        );
    }
}

#[test]
fn a_truncated_udp_answer_is_asked_again_over_tcp_through_the_service() {
    let manifests = format!(
        "{MANIFESTS}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: big, namespace: shop}}\nspec:\n  replicas: 40\n  selector: {{matchLabels: {{app: big}}}}\n  template:\n    metadata: {{labels: {{app: big}}}}\n    spec:\n      containers: [{{name: c, image: agnhost}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: big, namespace: shop}}\nspec:\n  clusterIP: None\n  selector: {{app: big}}\n  ports: [{{port: 80}}]\n"
    );
    let m = load_str("big.yaml", &manifests, &LoadOptions::default()).unwrap();
    let config = ClusterConfig {
        dns: Some(ClusterDns::default()),
        ..ClusterConfig::default()
    };
    let c = Cluster::build(m.objects(), config).unwrap();
    let mut e = ClusterSim::new(c, 1, SimDuration::from_millis(100)).into_engine(1, []);
    let r = ask(&mut e, SimTime::ZERO, "big", RecordType::A);
    let transports: Vec<Transport> = r.queries.iter().map(|q| q.query.transport).collect();
    // 40 A records do not fit glibc's 512-byte UDP answer: TC, then the same question on TCP.
    assert_eq!(transports, [Transport::Udp, Transport::Tcp]);
    assert!(r.queries[0].reply.as_ref().unwrap().metadata.truncation);
    assert_eq!(answers(&r).len(), 40);
}
