//! NetworkPolicy in the dataplane: the agent's rules rendered for every node of a kubenet
//! cluster and loaded into its netfilter, then real packets — a TCP SYN or a UDP datagram
//! walked from one pod's namespace, and the reply walked back — compared with the oracle.
//!
//! The main property: for random namespaces, pods (labels, container ports, nodes) and
//! policies, on every ordered pair of pods and a few ports, the oracle's verdict is the
//! dataplane's, and every allowed connection's reply comes back.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Container, ContainerPort, Namespace, Pod, PodSpec};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use sim_core::SimTime;
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::object::Object;
use sim_k8s::policy::probe::{answer_packet, opening_packet};
use sim_k8s::policy::{
    self, Endpoint, Flow, Grouping, Outcome, PolicyView, Protocol, dataplane_matrix, evaluate,
    matrix, matrix_by, render_node, sync_cluster,
};
use sim_net::packet;
use sim_net::{DropReason, SocketProto, Verdict};

/// `probe` at time zero, failing on a probe that cannot be sent.
fn probe(
    c: &mut Cluster,
    from: &str,
    to: &str,
    port: u16,
    protocol: Protocol,
    sport: u16,
) -> Outcome {
    policy::probe(c, SimTime::ZERO, from, to, port, protocol, sport)
        .unwrap_or_else(|e| panic!("{from} -> {to} {protocol}/{port}: {e}"))
}

/// Syncs the agent on every node, failing with the rules that did not load.
fn enforce(c: &mut Cluster) -> PolicyView {
    sync_cluster(c).unwrap_or_else(|e| panic!("{e}"))
}

fn oracle(view: &PolicyView, from: &str, to: &str, port: u16, protocol: Protocol) -> bool {
    evaluate(
        view,
        &Flow {
            from: Endpoint::Pod(from.into()),
            to: Endpoint::Pod(to.into()),
            port,
            protocol,
        },
    )
    .unwrap()
    .allowed
}

fn meta(ns: Option<&str>, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: ns.map(Into::into),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn pod(
    ns: &str,
    name: &str,
    labels: &[(&str, &str)],
    node: &str,
    ports: &[(&str, i32, &str)],
) -> Object {
    host_pod(ns, name, labels, node, ports, false)
}

fn host_pod(
    ns: &str,
    name: &str,
    labels: &[(&str, &str)],
    node: &str,
    ports: &[(&str, i32, &str)],
    host_network: bool,
) -> Object {
    Object::Pod(Pod {
        metadata: meta(Some(ns), name, labels),
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            host_network: Some(host_network),
            containers: vec![Container {
                name: "c".into(),
                image: Some("agnhost".into()),
                ports: Some(
                    ports
                        .iter()
                        .map(|(n, p, proto)| ContainerPort {
                            name: Some((*n).into()),
                            container_port: *p,
                            protocol: Some((*proto).into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn namespace(name: &str, labels: &[(&str, &str)]) -> Object {
    Object::Namespace(Namespace {
        metadata: meta(None, name, labels),
        ..Default::default()
    })
}

fn netpol(ns: &str, name: &str, spec: NetworkPolicySpec) -> Object {
    Object::NetworkPolicy(NetworkPolicy {
        metadata: meta(Some(ns), name, &[]),
        spec: Some(spec),
    })
}

fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

/// The paths a policy must cover: same node (bridged, br_netfilter's FORWARD), other node
/// (routed through both nodes' FORWARD), node to pod (OUTPUT), replies through conntrack.
#[test]
fn the_agent_enforces_on_bridged_and_routed_paths_and_replies_pass() {
    let objects = [
        namespace("shop", &[("team", "shop")]),
        namespace("ops", &[("team", "ops")]),
        pod(
            "shop",
            "db",
            &[("app", "db")],
            "node-1",
            &[("pg", 5432, "TCP")],
        ),
        pod(
            "shop",
            "web",
            &[("app", "web")],
            "node-1",
            &[("http", 80, "TCP")],
        ),
        pod(
            "shop",
            "web2",
            &[("app", "web")],
            "node-2",
            &[("http", 8080, "TCP")],
        ),
        pod("ops", "probe", &[("app", "probe")], "node-2", &[]),
        netpol(
            "shop",
            "db-from-web",
            NetworkPolicySpec {
                pod_selector: Some(match_labels(&[("app", "db")])),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![NetworkPolicyPeer {
                        pod_selector: Some(match_labels(&[("app", "web")])),
                        ..Default::default()
                    }]),
                    ports: Some(vec![NetworkPolicyPort {
                        port: Some(IntOrString::String("pg".into())),
                        ..Default::default()
                    }]),
                }]),
                ..Default::default()
            },
        ),
        netpol(
            "shop",
            "web-egress",
            NetworkPolicySpec {
                pod_selector: Some(match_labels(&[("app", "web")])),
                policy_types: Some(vec!["Egress".into()]),
                egress: Some(vec![NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(match_labels(&[("team", "shop")])),
                        ..Default::default()
                    }]),
                    ports: None,
                }]),
                ..Default::default()
            },
        ),
    ];
    let mut c = Cluster::build(objects.iter(), ClusterConfig::default()).unwrap();
    let view = enforce(&mut c);
    let save = c
        .net
        .netns(c.nodes["node-1"].netns)
        .netfilter
        .ruleset
        .save();
    assert!(save.contains("-A FORWARD -m comment --comment \"kube-router netpol - network policy chain\" -j KUBE-ROUTER-FORWARD"), "{save}");
    assert!(save.contains("--physdev-is-bridged"), "{save}");
    let mut sport = 40000;
    // `want`: allowed, or the pod whose firewall chain drops it ("egress"/"ingress", pod).
    let mut check =
        |c: &mut Cluster, from: &str, to: &str, port: u16, want: Option<(&str, &str)>| {
            sport += 1;
            assert_eq!(
                oracle(&view, from, to, port, Protocol::Tcp),
                want.is_none(),
                "oracle {from} -> {to}:{port}"
            );
            let got = probe(c, from, to, port, Protocol::Tcp, sport);
            match (want, got) {
                (None, Outcome::Connected) => {}
                (
                    Some((dir, pod)),
                    Outcome::Refused {
                        fate: Some(Verdict::Drop(DropReason::Filtered)),
                        note,
                    },
                ) => {
                    let (ns, name) = pod.split_once('/').unwrap();
                    let to_from = if dir == "ingress" {
                        "destined to"
                    } else {
                        "from"
                    };
                    let want = format!(
                        "rule to DROP {dir} traffic {to_from} POD name: {name} namespace: {ns}"
                    );
                    assert!(note.contains(&want), "{from} -> {to}:{port}: {note}");
                }
                (want, got) => panic!("dataplane {from} -> {to}:{port}: {got:?}, want {want:?}"),
            }
        };
    // Same node, bridged: web → db on the named port pg (5432) only.
    check(&mut c, "shop/web", "shop/db", 5432, None);
    check(
        &mut c,
        "shop/web",
        "shop/db",
        80,
        Some(("ingress", "shop/db")),
    );
    // Other node, routed: web2 → db; probe (ops) → db denied by db's ingress.
    check(&mut c, "shop/web2", "shop/db", 5432, None);
    check(
        &mut c,
        "ops/probe",
        "shop/db",
        5432,
        Some(("ingress", "shop/db")),
    );
    // web's egress: only to namespaces labelled team=shop.
    check(
        &mut c,
        "shop/web",
        "ops/probe",
        80,
        Some(("egress", "shop/web")),
    );
    check(&mut c, "shop/web2", "shop/web", 80, None);
    // Unisolated both ways.
    check(&mut c, "ops/probe", "shop/web", 80, None);
    // The node itself reaches db (its own node), on any port.
    let node1 = c.nodes["node-1"].clone();
    let db = c.pods["shop/db"].clone();
    c.net.listen(db.sandbox.netns, SocketProto::Tcp, 9999);
    c.net.listen(node1.netns, SocketProto::Tcp, 45000);
    let src = Ipv4Addr::new(10, 244, 0, 1);
    assert!(c.net.is_local(node1.netns, src), "cbr0's address on node-1");
    let syn = opening_packet(Protocol::Tcp, src, 45000, db.ip, 9999).unwrap();
    let w = c.net.walk_output(SimTime::ZERO, node1.netns, syn);
    assert_eq!(w.fate(), Some(Verdict::Deliver), "{}", w.render());
}

// ---- the main property -------------------------------------------------------------------

const NAMESPACES: [&str; 3] = ["n0", "n1", "n2"];

fn label_selector() -> impl Strategy<Value = LabelSelector> {
    let expr = |key: &str, op: &str, values: &[&str]| LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).into()).collect()),
        }]),
        ..Default::default()
    };
    prop_oneof![
        Just(LabelSelector::default()),
        Just(match_labels(&[("app", "web")])),
        Just(match_labels(&[("app", "db")])),
        Just(expr("tier", "In", &["front"])),
        Just(expr("app", "NotIn", &["web"])),
        Just(expr("tier", "Exists", &[])),
        Just(expr("app", "DoesNotExist", &[])),
    ]
}

fn namespace_selector() -> impl Strategy<Value = LabelSelector> {
    prop_oneof![
        Just(LabelSelector::default()),
        Just(match_labels(&[("team", "red")])),
        Just(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: "Exists".into(),
                values: None,
            }]),
            ..Default::default()
        }),
    ]
}

fn ip_block(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.into(),
            except: (!except.is_empty()).then(|| except.iter().map(|e| (*e).into()).collect()),
        }),
        ..Default::default()
    }
}

fn peer() -> impl Strategy<Value = NetworkPolicyPeer> {
    prop_oneof![
        label_selector().prop_map(|p| NetworkPolicyPeer {
            pod_selector: Some(p),
            ..Default::default()
        }),
        namespace_selector().prop_map(|n| NetworkPolicyPeer {
            namespace_selector: Some(n),
            ..Default::default()
        }),
        (label_selector(), namespace_selector()).prop_map(|(p, n)| NetworkPolicyPeer {
            pod_selector: Some(p),
            namespace_selector: Some(n),
            ..Default::default()
        }),
        // Node podCIDRs are 10.244.0.0/24, .1.0/24, .2.0/24; pods get .2 upwards.
        Just(ip_block("10.244.0.0/16", &["10.244.1.0/24"])),
        Just(ip_block("10.244.2.0/24", &[])),
        Just(ip_block("0.0.0.0/0", &["10.244.0.0/24", "10.244.2.3/32"])),
        Just(ip_block("10.244.1.2/31", &[])),
        // The nodes (hostNetwork pods' traffic): 172.18.0.10 is node-1.
        Just(ip_block("172.18.0.0/16", &["172.18.0.10/32"])),
        Just(ip_block("172.18.0.10/32", &[])),
    ]
}

fn port() -> impl Strategy<Value = NetworkPolicyPort> {
    let p = |proto: &str, port: Option<IntOrString>, end: Option<i32>| NetworkPolicyPort {
        protocol: Some(proto.into()),
        port,
        end_port: end,
    };
    prop_oneof![
        Just(p("TCP", Some(IntOrString::Int(80)), None)),
        Just(p("TCP", Some(IntOrString::Int(8080)), None)),
        Just(p("TCP", Some(IntOrString::Int(79)), Some(81))),
        Just(p("UDP", Some(IntOrString::Int(53)), None)),
        Just(p("TCP", Some(IntOrString::String("http".into())), None)),
        Just(p("UDP", Some(IntOrString::String("dns".into())), None)),
        Just(p("UDP", Some(IntOrString::String("http".into())), None)),
        Just(p("UDP", None, None)),
        // No protocol: the API default, TCP.
        Just(NetworkPolicyPort {
            port: Some(IntOrString::Int(81)),
            ..Default::default()
        }),
    ]
}

type RuleParts = (
    Option<Vec<NetworkPolicyPeer>>,
    Option<Vec<NetworkPolicyPort>>,
);

fn rule() -> impl Strategy<Value = RuleParts> {
    (
        proptest::option::of(proptest::collection::vec(peer(), 0..=2)),
        proptest::option::of(proptest::collection::vec(port(), 0..=2)),
    )
}

fn policy_spec() -> impl Strategy<Value = (usize, NetworkPolicySpec)> {
    let types = prop_oneof![
        Just(None),
        Just(Some(vec!["Ingress".to_string()])),
        Just(Some(vec!["Egress".to_string()])),
        Just(Some(vec!["Ingress".to_string(), "Egress".to_string()])),
    ];
    (
        0..NAMESPACES.len(),
        proptest::option::of(label_selector()),
        types,
        proptest::option::of(proptest::collection::vec(rule(), 0..=2)),
        proptest::option::of(proptest::collection::vec(rule(), 0..=2)),
    )
        .prop_map(|(ns, sel, types, ingress, egress)| {
            let spec = NetworkPolicySpec {
                pod_selector: sel,
                policy_types: types,
                ingress: ingress.map(|rs| {
                    rs.into_iter()
                        .map(|(from, ports)| NetworkPolicyIngressRule { from, ports })
                        .collect()
                }),
                egress: egress.map(|rs| {
                    rs.into_iter()
                        .map(|(to, ports)| NetworkPolicyEgressRule { to, ports })
                        .collect()
                }),
            };
            (ns, spec)
        })
}

#[derive(Debug, Clone)]
struct PodGen {
    ns: usize,
    app: Option<&'static str>,
    tier: Option<&'static str>,
    node: usize,
    http: Option<i32>,
    dns: bool,
    host_network: bool,
}

fn pod_gen() -> impl Strategy<Value = PodGen> {
    (
        0..NAMESPACES.len(),
        proptest::option::of(prop_oneof![Just("web"), Just("db")]),
        proptest::option::of(prop_oneof![Just("front"), Just("back")]),
        1..=3usize,
        proptest::option::of(prop_oneof![Just(80), Just(8080)]),
        any::<bool>(),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(ns, app, tier, node, http, dns, host_network)| PodGen {
            ns,
            app,
            tier,
            node,
            http,
            dns,
            host_network,
        })
}

fn objects(
    ns_labels: &[(bool, bool)],
    pods: &[PodGen],
    policies: &[(usize, NetworkPolicySpec)],
) -> Vec<Object> {
    let mut out = Vec::new();
    for (i, (red, env)) in ns_labels.iter().enumerate() {
        let mut labels = vec![("team", if *red { "red" } else { "blue" })];
        if *env {
            labels.push(("env", "prod"));
        }
        out.push(namespace(NAMESPACES[i], &labels));
    }
    for (i, p) in pods.iter().enumerate() {
        let mut labels = Vec::new();
        if let Some(a) = p.app {
            labels.push(("app", a));
        }
        if let Some(t) = p.tier {
            labels.push(("tier", t));
        }
        let mut ports = Vec::new();
        if let Some(h) = p.http {
            ports.push(("http", h, "TCP"));
        }
        if p.dns {
            ports.push(("dns", 53, "UDP"));
        }
        out.push(host_pod(
            NAMESPACES[p.ns],
            &format!("p{i}"),
            &labels,
            &format!("node-{}", p.node),
            &ports,
            p.host_network,
        ));
    }
    for (i, (ns, spec)) in policies.iter().enumerate() {
        out.push(netpol(NAMESPACES[*ns], &format!("np{i}"), spec.clone()));
    }
    out
}

const PROBES: [(u16, Protocol); 4] = [
    (80, Protocol::Tcp),
    (8080, Protocol::Tcp),
    (81, Protocol::Tcp),
    (53, Protocol::Udp),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The oracle's verdict equals the dataplane's on every ordered pair of pods and two
    /// probe ports, allowed connections' replies come back, and the truth tables computed
    /// over equivalence classes — the oracle's, and the dataplane's probed per class pair —
    /// agree with both.
    #[test]
    fn oracle_equals_dataplane(
        ns_labels in proptest::collection::vec((any::<bool>(), any::<bool>()), 3),
        pods in proptest::collection::vec(pod_gen(), 2..=6),
        policies in proptest::collection::vec(policy_spec(), 0..=3),
        probes in proptest::sample::subsequence(PROBES.to_vec(), 2),
    ) {
        let objects = objects(&ns_labels, &pods, &policies);
        let mut c = Cluster::build(objects.iter(), ClusterConfig::default()).unwrap();
        let view = enforce(&mut c);
        let keys: Vec<String> = c.pods.keys().cloned().collect();
        let mut sport = 40000;
        for (port, protocol) in probes {
            // The truth table over equivalence classes says the same as each pair's verdict.
            let table = matrix(&view, port, protocol).unwrap();
            for from in &keys {
                for to in &keys {
                    if from == to {
                        continue;
                    }
                    sport += 1;
                    let want = oracle(&view, from, to, port, protocol);
                    prop_assert_eq!(table.get(from, to), Some(want), "class table {} -> {}", from, to);
                    let got = probe(&mut c, from, to, port, protocol, sport);
                    // Never delivered without its reply coming back, never lost elsewhere.
                    prop_assert!(got.connected() || got.filtered(), "{} -> {}: {:?}", from, to, got);
                    prop_assert_eq!(
                        got.connected(),
                        want,
                        "{} -> {} {}/{}: dataplane {:?}\n{}",
                        from, to, protocol, port, got,
                        evaluate(&view, &Flow {
                            from: Endpoint::Pod(from.clone()),
                            to: Endpoint::Pod(to.clone()),
                            port,
                            protocol,
                        }).unwrap()
                    );
                }
            }
            // The dataplane's own table, one probe per pair of per-node classes.
            let probed = dataplane_matrix(&mut c, SimTime::ZERO, port, protocol).unwrap();
            prop_assert_eq!(probed.to_json(), table.to_json());
        }
    }
}

/// A full sync after a change: the policy's chains and sets go away, the jumps from the
/// built-in chains are not duplicated, traffic flows again; and the rendered rules are in
/// the canonical form `iptables-save` prints them back in.
#[test]
fn resync_removes_stale_chains_and_sets_and_text_round_trips() {
    let deny = netpol(
        "shop",
        "deny",
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![ip_block("10.244.0.0/16", &["10.244.1.0/24"])]),
                ports: None,
            }]),
            ..Default::default()
        },
    );
    let objects = [
        namespace("shop", &[]),
        pod("shop", "a", &[], "node-1", &[]),
        pod("shop", "b", &[], "node-2", &[]),
        deny.clone(),
    ];
    let mut c = Cluster::build(objects.iter(), ClusterConfig::default()).unwrap();
    let view = enforce(&mut c);
    let node1 = c.nodes["node-1"].netns;
    let rules = render_node(&view, "node-1").unwrap();
    let save = c.net.netns(node1).netfilter.ruleset.save();
    for line in rules.filter.lines().filter(|l| l.starts_with("-A ")) {
        assert!(save.contains(line), "{line} not in\n{save}");
    }
    assert_eq!(rules.sets.len(), 1);
    let ipsets = c.net.netns(node1).netfilter.ipsets.save();
    assert!(ipsets.contains(" 10.244.1.0/24 nomatch"), "{ipsets}");
    // b (10.244.1.x) is excepted; loading the same rules again changes nothing.
    assert!(matches!(
        probe(&mut c, "shop/b", "shop/a", 80, Protocol::Tcp, 41000),
        Outcome::Refused { .. }
    ));
    // (Only the filter table: the probe's mangle and nat counters are folded in on a
    // restore.)
    let filter = |c: &Cluster| {
        let save = c.net.netns(node1).netfilter.ruleset.save();
        let from_filter = save.split("*filter").nth(1).unwrap().to_string();
        from_filter.split("*nat").next().unwrap().to_string()
    };
    let before = filter(&c);
    rules.load(&mut c.net.netns_mut(node1).netfilter).unwrap();
    assert_eq!(filter(&c), before);
    // The policy is deleted: a sync from the new view.
    c.store
        .delete(SimTime::ZERO, &deny.key(), None)
        .expect("stored policy");
    let view = enforce(&mut c);
    assert!(view.policies.is_empty());
    let save = c.net.netns(node1).netfilter.ruleset.save();
    assert!(
        !save.contains("KUBE-POD-FW-") && !save.contains("KUBE-NWPLCY-"),
        "{save}"
    );
    assert_eq!(save.matches("-j KUBE-ROUTER-FORWARD").count(), 1, "{save}");
    assert_eq!(c.net.netns(node1).netfilter.ipsets.save(), "");
    assert_eq!(
        probe(&mut c, "shop/b", "shop/a", 80, Protocol::Tcp, 41001),
        Outcome::Connected
    );
}

/// The upstream e2e model (namespaces x, y, z × pods a, b, c) through the dataplane: the
/// truth table probed with packets equals the oracle's matrix for "should enforce policy
/// based on PodSelector and NamespaceSelector" (only pods b outside x reach x/a) and its OR
/// twin (everything but x/c reaches x/a).
#[test]
fn e2e_and_or_cases_probed_through_the_dataplane_match_the_matrix() {
    let not_x = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "kubernetes.io/metadata.name".into(),
            operator: "NotIn".into(),
            values: Some(vec!["x".into()]),
        }]),
        ..Default::default()
    };
    let pod_b = match_labels(&[("pod", "b")]);
    let and = vec![NetworkPolicyPeer {
        namespace_selector: Some(not_x.clone()),
        pod_selector: Some(pod_b.clone()),
        ..Default::default()
    }];
    let or = vec![
        NetworkPolicyPeer {
            namespace_selector: Some(not_x),
            ..Default::default()
        },
        NetworkPolicyPeer {
            pod_selector: Some(pod_b),
            ..Default::default()
        },
    ];
    for (peers, denied_to_x_a) in [
        (and, vec!["x/b", "x/c", "y/a", "y/c", "z/a", "z/c"]),
        (or, vec!["x/c"]),
    ] {
        let mut objects = Vec::new();
        for (i, ns) in ["x", "y", "z"].iter().enumerate() {
            // `kubernetes.io/metadata.name` is the API server's; the view adds it.
            objects.push(namespace(ns, &[]));
            for (j, p) in ["a", "b", "c"].iter().enumerate() {
                let node = format!("node-{}", (i + j) % 3 + 1);
                objects.push(pod(
                    ns,
                    p,
                    &[("pod", p)],
                    &node,
                    &[("serve-80-tcp", 80, "TCP")],
                ));
            }
        }
        objects.push(netpol(
            "x",
            "allow-x-a",
            NetworkPolicySpec {
                pod_selector: Some(match_labels(&[("pod", "a")])),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(peers),
                    ports: None,
                }]),
                ..Default::default()
            },
        ));
        let mut c = Cluster::build(objects.iter(), ClusterConfig::default()).unwrap();
        let view = enforce(&mut c);
        let oracle = matrix(&view, 80, Protocol::Tcp).unwrap();
        let mut sport = 42000;
        let probed = matrix_by(&view, 80, Protocol::Tcp, Grouping::EveryPod, |from, to| {
            sport += 1;
            Ok::<_, String>(probe(&mut c, from, to, 80, Protocol::Tcp, sport).connected())
        })
        .unwrap();
        assert_eq!(probed.classes(), 9);
        // The library's table over classes that tell nodes apart says the same.
        let by_class = dataplane_matrix(&mut c, SimTime::ZERO, 80, Protocol::Tcp).unwrap();
        assert_eq!(by_class.to_json(), probed.to_json());
        assert_eq!(probed.grid(), oracle.grid());
        assert_eq!(probed.to_json(), oracle.to_json());
        for from in &probed.pods {
            for to in probed.pods.iter().filter(|t| *t != from) {
                let upstream = !(to == "x/a" && denied_to_x_a.contains(&from.as_str()));
                assert_eq!(
                    probed.get(from, to),
                    Some(upstream),
                    "{from} -> {to}\n{}",
                    probed.grid()
                );
            }
        }
    }
}

/// Policy sees Service traffic after DNAT: a kube-proxy-style DNAT of a ClusterIP to the db
/// backend (loaded by hand on every node: the cluster runs no kube-proxy yet) is judged by
/// db's ingress on the backend port, and by the client's egress against db's address; the
/// reply comes back from the ClusterIP.
#[test]
fn service_traffic_is_judged_against_the_backend_after_dnat() {
    let objects = [
        namespace("shop", &[("team", "shop")]),
        namespace("ops", &[("team", "ops")]),
        pod(
            "shop",
            "db",
            &[("app", "db")],
            "node-1",
            &[("pg", 5432, "TCP")],
        ),
        pod("shop", "web", &[("app", "web")], "node-2", &[]),
        pod("ops", "probe", &[("app", "probe")], "node-2", &[]),
        netpol(
            "shop",
            "db-from-web",
            NetworkPolicySpec {
                pod_selector: Some(match_labels(&[("app", "db")])),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![NetworkPolicyPeer {
                        pod_selector: Some(match_labels(&[("app", "web")])),
                        ..Default::default()
                    }]),
                    ports: Some(vec![NetworkPolicyPort {
                        port: Some(IntOrString::String("pg".into())),
                        ..Default::default()
                    }]),
                }]),
                ..Default::default()
            },
        ),
    ];
    let mut c = Cluster::build(objects.iter(), ClusterConfig::default()).unwrap();
    let view = enforce(&mut c);
    let db = c.pods["shop/db"].clone();
    let vip = Ipv4Addr::new(10, 96, 0, 50);
    let dnat = format!(
        "*nat\n-A PREROUTING -d {vip}/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination {}:5432\nCOMMIT\n",
        db.ip
    );
    let nodes: Vec<sim_net::NetNsId> = c.nodes.values().map(|n| n.netns).collect();
    for ns in nodes {
        c.net
            .netns_mut(ns)
            .netfilter
            .restore(
                &dnat,
                sim_net::netfilter::RestoreOptions {
                    noflush: true,
                    counters: false,
                },
            )
            .unwrap();
    }
    c.net.listen(db.sandbox.netns, SocketProto::Tcp, 5432);
    let connect = |c: &mut Cluster, from: &str, sport: u16| {
        let client = c.pods[from].clone();
        c.net.listen(client.sandbox.netns, SocketProto::Tcp, sport);
        let syn = opening_packet(Protocol::Tcp, client.ip, sport, vip, 80).unwrap();
        let w = c.net.walk_output(SimTime::ZERO, client.sandbox.netns, syn);
        if w.fate() != Some(Verdict::Deliver) {
            return (false, w);
        }
        let synack = answer_packet(Protocol::Tcp, db.ip, 5432, client.ip, sport).unwrap();
        let back = c.net.walk_output(SimTime::ZERO, db.sandbox.netns, synack);
        let seen = back
            .delivered
            .iter()
            .find(|d| d.tag == 0 && d.ns == client.sandbox.netns)
            .map(|d| packet::parse_ipv4(&d.packet).unwrap())
            .expect("the reply reaches the client");
        assert_eq!((seen.src, seen.ports.unwrap().0), (vip, 80), "un-DNATed");
        (true, w)
    };
    // The oracle, asked about the backend and its port, agrees with both.
    assert!(oracle(&view, "shop/web", "shop/db", 5432, Protocol::Tcp));
    assert!(!oracle(&view, "ops/probe", "shop/db", 5432, Protocol::Tcp));
    let (ok, w) = connect(&mut c, "shop/web", 46000);
    assert!(ok, "{}", w.render());
    let (ok, w) = connect(&mut c, "ops/probe", 46001);
    assert!(!ok);
    assert_eq!(w.fate(), Some(Verdict::Drop(DropReason::Filtered)));
    assert!(
        w.render()
            .contains("rule to DROP ingress traffic destined to POD name: db"),
        "{}",
        w.render()
    );
}

/// A pod reaching itself through a Service (DNAT back to its own address, hairpinned by the
/// bridge, masqueraded as kube-proxy does for hairpin traffic so the pod does not drop it as
/// a martian) is not policed, as the oracle says of a pod talking to itself — even under
/// default-deny both ways.
#[test]
fn a_pod_reaching_itself_through_a_service_is_not_policed() {
    let objects = [
        namespace("shop", &[]),
        pod("shop", "web", &[("app", "web")], "node-1", &[]),
        netpol(
            "shop",
            "deny-all",
            NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ..Default::default()
            },
        ),
    ];
    let mut c = Cluster::build(objects.iter(), ClusterConfig::default()).unwrap();
    let view = enforce(&mut c);
    assert!(oracle(&view, "shop/web", "shop/web", 80, Protocol::Tcp));
    let web = c.pods["shop/web"].clone();
    let vip = Ipv4Addr::new(10, 96, 0, 60);
    let node1 = c.nodes["node-1"].netns;
    c.net
        .netns_mut(node1)
        .netfilter
        .restore(
            &format!(
                "*nat\n-A PREROUTING -d {vip}/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination {ip}:80\n\
                 -A POSTROUTING -s {ip}/32 -d {ip}/32 -j MASQUERADE\nCOMMIT\n",
                ip = web.ip
            ),
            sim_net::netfilter::RestoreOptions {
                noflush: true,
                counters: false,
            },
        )
        .unwrap();
    c.net.listen(web.sandbox.netns, SocketProto::Tcp, 80);
    c.net.listen(web.sandbox.netns, SocketProto::Tcp, 47000);
    let syn = opening_packet(Protocol::Tcp, web.ip, 47000, vip, 80).unwrap();
    let w = c.net.walk_output(SimTime::ZERO, web.sandbox.netns, syn);
    assert_eq!(w.fate(), Some(Verdict::Deliver), "{}", w.render());
    assert!(
        w.render().contains("hairpin") || w.render().contains("bridged DNAT"),
        "{}",
        w.render()
    );
}
