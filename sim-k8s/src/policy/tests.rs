//! One test per semantic rule, with the expectation taken from the upstream documentation
//! ("Network Policies" on kubernetes.io, the `NetworkPolicySpec` API reference) or the
//! upstream e2e suite (`test/e2e/network/netpol/network_policy.go`, named per test). The e2e
//! model is used throughout: namespaces x, y, z (label `ns`, and `kubernetes.io/metadata.name`
//! as the API server sets it), pods a, b, c (label `pod`), each serving `serve-80-tcp`,
//! `serve-81-tcp`, `serve-80-udp`, `serve-81-udp` and `serve-80-sctp`.

use super::*;
use crate::manifest::{LoadOptions, load_str};

const NODE_IPS: [&str; 2] = ["172.18.0.10", "172.18.0.11"];

/// The x/y/z × a/b/c model (or the given pods), pods on node-1 then node-2 alternately, then
/// `extra` (policies, more pods) in YAML.
fn model(pods: &[&str], extra: &str) -> PolicyView {
    let mut y = String::new();
    for (i, n) in NODE_IPS.iter().enumerate() {
        y.push_str(&format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: node-{}}}\nstatus: {{addresses: [{{type: InternalIP, address: {n}}}]}}\n---\n",
            i + 1
        ));
    }
    for ns in ["x", "y", "z"] {
        y.push_str(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: \"{ns}\", labels: {{ns: \"{ns}\"}}}}\n---\n"
        ));
    }
    for (i, key) in pods.iter().enumerate() {
        let (ns, name) = key.split_once('/').unwrap();
        let nsi = ["x", "y", "z"].iter().position(|n| *n == ns).unwrap();
        let pi = ["a", "b", "c"].iter().position(|n| *n == name).unwrap();
        y.push_str(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: \"{name}\", namespace: \"{ns}\", labels: {{pod: \"{name}\"}}}}\n\
             spec:\n  nodeName: node-{}\n  containers:\n  - name: c\n    image: agnhost\n    ports:\n\
             \x20   - {{name: serve-80-tcp, containerPort: 80}}\n\
             \x20   - {{name: serve-81-tcp, containerPort: 81}}\n\
             \x20   - {{name: serve-80-udp, containerPort: 80, protocol: UDP}}\n\
             \x20   - {{name: serve-81-udp, containerPort: 81, protocol: UDP}}\n\
             \x20   - {{name: serve-80-sctp, containerPort: 80, protocol: SCTP}}\n\
             status: {{podIP: 10.244.{nsi}.{}}}\n---\n",
            i % 2 + 1,
            pi + 2
        ));
    }
    y.push_str(extra);
    let m = load_str("model.yaml", &y, &LoadOptions::default()).unwrap();
    PolicyView::from_objects(m.objects()).unwrap()
}

const ALL: [&str; 9] = [
    "x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c",
];

fn policy(ns: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: \"{ns}\"}}\nspec: {spec}\n---\n"
    )
}

fn flow(from: &str, to: &str, port: u16, protocol: Protocol) -> Flow {
    Flow {
        from: Endpoint::Pod(from.into()),
        to: Endpoint::Pod(to.into()),
        port,
        protocol,
    }
}

fn allowed(v: &PolicyView, from: &str, to: &str, port: u16, protocol: Protocol) -> bool {
    evaluate(v, &flow(from, to, port, protocol))
        .unwrap()
        .allowed
}

/// Upstream's `Reachability`: every pair allowed, then `deny(from, to)` for the exceptions;
/// compared with the oracle's matrix on every ordered pair of distinct pods.
fn check_table(v: &PolicyView, port: u16, protocol: Protocol, denied: &dyn Fn(&str, &str) -> bool) {
    let m = matrix(v, port, protocol).unwrap();
    let mut wrong = Vec::new();
    for from in &m.pods {
        for to in &m.pods {
            if from == to {
                continue;
            }
            let want = !denied(from, to);
            if m.get(from, to) != Some(want) {
                wrong.push(format!("{from} -> {to}: want {want}"));
            }
            assert_eq!(
                allowed(v, from, to, port, protocol),
                want,
                "pair evaluation {from} -> {to}"
            );
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}\n{}", m.grid());
}

fn ns(p: &str) -> &str {
    p.split('/').next().unwrap()
}

#[test]
fn no_policy_no_isolation() {
    // Docs, "Isolated and Non-isolated Pods": by default, pods are non-isolated.
    let v = model(&ALL, "");
    check_table(&v, 80, Protocol::Tcp, &|_, _| false);
    let verdict = evaluate(&v, &flow("x/a", "y/b", 80, Protocol::Tcp)).unwrap();
    assert_eq!(verdict.egress, DirectionVerdict::NotIsolated);
    assert_eq!(verdict.ingress, DirectionVerdict::NotIsolated);
}

#[test]
fn default_deny_ingress() {
    // e2e "should support a 'default-deny-ingress' policy": ExpectPeer(any, x/*, false).
    let v = model(&ALL, &policy("x", "deny-ingress", "{podSelector: {}}"));
    check_table(&v, 80, Protocol::Tcp, &|_, to| ns(to) == "x");
    let verdict = evaluate(&v, &flow("y/a", "x/b", 80, Protocol::Tcp)).unwrap();
    assert_eq!(
        verdict.ingress,
        DirectionVerdict::Denied {
            isolated_by: vec!["x/deny-ingress".into()]
        }
    );
    // Only ingress: policyTypes defaults to [Ingress] without egress rules.
    assert_eq!(verdict.egress, DirectionVerdict::NotIsolated);
}

#[test]
fn default_deny_all() {
    // e2e "should support a 'default-deny-all' policy": nothing into x, nothing out of x.
    let v = model(
        &ALL,
        &policy(
            "x",
            "deny-all",
            "{podSelector: {}, policyTypes: [Ingress, Egress]}",
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|from, to| {
        ns(from) == "x" || ns(to) == "x"
    });
}

#[test]
fn empty_rule_allows_all_and_empty_list_denies_all() {
    // Docs, "Default allow all ingress traffic": `ingress: [{}]` allows everything even with a
    // deny-all next to it (policies are additive).
    let v = model(
        &ALL,
        &(policy("x", "deny", "{podSelector: {}, ingress: []}")
            + &policy("x", "allow", "{podSelector: {}, ingress: [{}]}")),
    );
    check_table(&v, 80, Protocol::Tcp, &|_, _| false);
    // `ingress: [{from: []}]`: an empty `from` is every source too.
    let v = model(
        &ALL,
        &policy(
            "x",
            "allow",
            "{podSelector: {}, ingress: [{from: [], ports: []}]}",
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|_, _| false);
}

#[test]
fn egress_rules_without_policy_types_isolate_both_directions() {
    // API reference, policyTypes: without it, Ingress always, and Egress when there are egress
    // rules. This policy has only egress rules and so also denies all ingress to x/a.
    let v = model(
        &ALL,
        &policy(
            "x",
            "egress-only-rules",
            "{podSelector: {matchLabels: {pod: a}}, egress: [{to: [{namespaceSelector: {matchLabels: {ns: 'y'}}}]}]}",
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|from, to| {
        to == "x/a" || (from == "x/a" && ns(to) != "y")
    });
    // With policyTypes [Egress] only, ingress stays open.
    let v = model(
        &ALL,
        &policy(
            "x",
            "egress-only",
            "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {ns: 'y'}}}]}]}",
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|from, to| {
        from == "x/a" && ns(to) != "y"
    });
}

#[test]
fn pod_selector_alone_means_the_policy_namespace() {
    // e2e "should enforce policy to allow traffic from pods within server namespace based on
    // PodSelector": only x/b reaches x/a (not y/b).
    let v = model(
        &ALL,
        &policy(
            "x",
            "x-a-allows-x-b",
            "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]}",
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|from, to| {
        to == "x/a" && from != "x/b"
    });
}

#[test]
fn namespace_selector_alone_means_every_pod_there() {
    // e2e "should enforce policy to allow traffic only from a different namespace, based on
    // NamespaceSelector": x/* and z/* cannot reach x/a; y/* can.
    let v = model(
        &ALL,
        &policy(
            "x",
            "allow-client-a-via-ns-selector",
            "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}}]}]}",
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|from, to| {
        to == "x/a" && ns(from) != "y"
    });
}

#[test]
fn both_selectors_in_one_peer_are_and_separate_peers_are_or() {
    let not_x =
        "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]}";
    // e2e "should enforce policy based on PodSelector and NamespaceSelector": only pods b
    // outside x reach x/a.
    let v = model(
        &ALL,
        &policy(
            "x",
            "and",
            &format!(
                "{{podSelector: {{matchLabels: {{pod: a}}}}, ingress: [{{from: [{{namespaceSelector: {not_x}, podSelector: {{matchLabels: {{pod: b}}}}}}]}}]}}"
            ),
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|from, to| {
        to == "x/a" && !(ns(from) != "x" && from.ends_with("/b"))
    });
    // e2e "should enforce policy based on PodSelector or NamespaceSelector": everything but
    // x/c (and x/a itself) reaches x/a.
    let v = model(
        &ALL,
        &policy(
            "x",
            "or",
            &format!(
                "{{podSelector: {{matchLabels: {{pod: a}}}}, ingress: [{{from: [{{namespaceSelector: {not_x}}}, {{podSelector: {{matchLabels: {{pod: b}}}}}}]}}]}}"
            ),
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|from, to| {
        to == "x/a" && from == "x/c"
    });
}

#[test]
fn numeric_ports_protocols_and_ranges() {
    // e2e "should enforce policy based on Ports": allow only TCP 81 into x/a.
    let v = model(
        &ALL,
        &policy(
            "x",
            "allow-81",
            "{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 81}]}]}",
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|_, to| to == "x/a");
    check_table(&v, 81, Protocol::Tcp, &|_, _| false);
    // The protocol defaults to TCP: UDP 81 is not allowed (e2e "should not allow access by
    // TCP when a policy specifies only UDP", the other way round).
    check_table(&v, 81, Protocol::Udp, &|_, to| to == "x/a");
    // Docs, "Targeting a range of ports": port..endPort inclusive.
    let v = model(
        &ALL,
        &policy(
            "x",
            "range",
            "{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{protocol: UDP, port: 80, endPort: 81}]}]}",
        ),
    );
    assert!(allowed(&v, "y/b", "x/a", 80, Protocol::Udp));
    assert!(allowed(&v, "y/b", "x/a", 81, Protocol::Udp));
    assert!(!allowed(&v, "y/b", "x/a", 82, Protocol::Udp));
    assert!(!allowed(&v, "y/b", "x/a", 80, Protocol::Tcp));
    // A protocol without a port: every port of it.
    let v = model(
        &ALL,
        &policy(
            "x",
            "sctp",
            "{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{protocol: SCTP}]}]}",
        ),
    );
    assert!(allowed(&v, "y/b", "x/a", 4242, Protocol::Sctp));
    assert!(!allowed(&v, "y/b", "x/a", 80, Protocol::Tcp));
}

#[test]
fn named_ports_resolve_against_the_destination_pod() {
    // e2e "should allow ingress access on one named port": serve-81-tcp opens 81 only.
    let v = model(
        &ALL,
        &policy(
            "x",
            "named",
            "{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}",
        ),
    );
    check_table(&v, 81, Protocol::Tcp, &|_, _| false);
    check_table(&v, 80, Protocol::Tcp, &|_, to| ns(to) == "x");
    // The name is per protocol: serve-81-tcp with protocol UDP names nothing.
    let v = model(
        &ALL,
        &policy(
            "x",
            "named-udp",
            "{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp, protocol: UDP}]}]}",
        ),
    );
    check_table(&v, 81, Protocol::Udp, &|_, to| ns(to) == "x");
    // Egress: the name resolves against the *destination* (e2e "should allow egress access on
    // one named port"); a pod without the name is not reachable through it.
    let v = model(
        &["x/a", "y/a"],
        &(policy(
            "x",
            "egress-named",
            "{podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: web}]}]}",
        ) + "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: 'y', labels: {pod: b}}\n\
             spec: {nodeName: node-1, containers: [{name: c, image: x, ports: [{name: web, containerPort: 8080}]}]}\n\
             status: {podIP: 10.244.1.9}\n"),
    );
    assert!(allowed(&v, "x/a", "y/b", 8080, Protocol::Tcp));
    assert!(!allowed(&v, "x/a", "y/b", 80, Protocol::Tcp));
    assert!(
        !allowed(&v, "x/a", "y/a", 8080, Protocol::Tcp),
        "y/a has no port named web"
    );
}

#[test]
fn ip_blocks_cover_pod_addresses_with_except() {
    // e2e "should enforce except clause while egress access to server in CIDR block": the
    // block is built from pod addresses. y's pods are 10.244.1.2-4; except y/b (.3).
    let v = model(
        &ALL,
        &policy(
            "x",
            "cidr",
            "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 10.244.1.0/24, except: [10.244.1.3/32]}}]}]}",
        ),
    );
    check_table(&v, 80, Protocol::Tcp, &|from, to| {
        from == "x/a" && (ns(to) != "y" || to == "y/b")
    });
    // Addresses outside the cluster (the seed's example: egress to 10.0.0.0/24 on TCP 5978).
    let v = model(
        &ALL,
        &policy(
            "x",
            "test-network-policy",
            "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 10.0.0.0/24}}], ports: [{protocol: TCP, port: 5978}]}]}",
        ),
    );
    let to = |ip: &str, port: u16| {
        evaluate(
            &v,
            &Flow {
                from: Endpoint::Pod("x/a".into()),
                to: Endpoint::Ip(ip.parse().unwrap()),
                port,
                protocol: Protocol::Tcp,
            },
        )
        .unwrap()
        .allowed
    };
    assert!(to("10.0.0.5", 5978));
    assert!(!to("10.0.0.5", 5979));
    assert!(!to("10.0.1.5", 5978));
}

#[test]
fn policies_are_a_union() {
    // e2e "should enforce multiple, stacked policies with overlapping podSelectors": two
    // policies on x/a, one allowing y, one allowing z; both work.
    let v = model(
        &ALL,
        &(policy(
            "x",
            "from-y",
            "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: 'y'}}}]}]}",
        ) + &policy(
            "x",
            "from-z",
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}}]}]}",
        )),
    );
    check_table(&v, 80, Protocol::Tcp, &|from, to| {
        ns(to) == "x" && ns(from) != "z" && !(to == "x/a" && ns(from) == "y")
    });
    let verdict = evaluate(&v, &flow("z/c", "x/a", 80, Protocol::Tcp)).unwrap();
    let DirectionVerdict::Allowed { by } = &verdict.ingress else {
        panic!("{verdict}")
    };
    assert_eq!(by.len(), 1);
    assert_eq!(by[0].policy, "x/from-z");
}

#[test]
fn egress_of_the_client_and_ingress_of_the_server_must_both_allow() {
    // e2e "should support denying of egress traffic on the client side (even if the server
    // explicitly allows this traffic)": y/a denies egress to x; x/a allows from y.
    let v = model(
        &ALL,
        &(policy(
            "x",
            "allow-y",
            "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: {matchLabels: {ns: 'y'}}}]}]}",
        ) + &policy(
            "y",
            "deny-egress-to-x",
            "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {ns: z}}}]}]}",
        )),
    );
    let verdict = evaluate(&v, &flow("y/a", "x/a", 80, Protocol::Tcp)).unwrap();
    assert!(!verdict.allowed);
    assert!(verdict.ingress.allows());
    assert_eq!(
        verdict.egress,
        DirectionVerdict::Denied {
            isolated_by: vec!["y/deny-egress-to-x".into()]
        }
    );
    let text = verdict.to_string();
    assert!(text.contains("DENIED"), "{text}");
    assert!(
        text.contains(
            "ingress of x/a: allowed by x/allow-y rule 0: namespaceSelector {ns=y} on any port"
        ),
        "{text}"
    );
    assert!(
        text.contains("egress of y/a: denied: isolated by y/deny-egress-to-x"),
        "{text}"
    );
    assert_eq!(
        verdict.to_json(),
        serde_json::json!({
            "from": "y/a", "to": "x/a", "port": 80, "protocol": "TCP", "allowed": false,
            "egress": {"verdict": "denied", "isolatedBy": ["y/deny-egress-to-x"]},
            "ingress": {"verdict": "allowed", "by": [{
                "policy": "x/allow-y", "rule": 0, "peer": "namespaceSelector {ns=y}", "port": null
            }]},
        })
    );
}

#[test]
fn nodes_host_network_pods_self_and_outside_addresses() {
    let host = "apiVersion: v1\nkind: Pod\nmetadata: {name: h, namespace: x, labels: {pod: a}}\n\
                spec: {nodeName: node-1, hostNetwork: true, containers: [{name: c, image: x}]}\n---\n";
    let v = model(
        &ALL,
        &(policy(
            "x",
            "deny-all",
            "{podSelector: {}, policyTypes: [Ingress, Egress]}",
        ) + host),
    );
    let x_a = v.pod("x/a").unwrap().clone();
    assert_eq!(x_a.node.as_deref(), Some("node-1"));
    // API reference, NetworkPolicySpec.ingress: allowed "if the traffic source is the pod's
    // local node" — the node itself or a hostNetwork pod there.
    let node1: std::net::Ipv4Addr = NODE_IPS[0].parse().unwrap();
    let node2: std::net::Ipv4Addr = NODE_IPS[1].parse().unwrap();
    let from = |e: Endpoint, to: &str| {
        evaluate(
            &v,
            &Flow {
                from: e,
                to: Endpoint::Pod(to.into()),
                port: 80,
                protocol: Protocol::Tcp,
            },
        )
        .unwrap()
    };
    let verdict = from(Endpoint::Ip(node1), "x/a");
    assert!(verdict.allowed);
    assert_eq!(
        verdict.ingress,
        DirectionVerdict::FromLocalNode {
            node: "node-1".into()
        }
    );
    assert!(from(Endpoint::Pod("x/h".into()), "x/a").allowed);
    assert!(
        !from(Endpoint::Ip(node2), "x/a").allowed,
        "another node is an address"
    );
    assert!(
        !from(Endpoint::Pod("x/h".into()), "x/b").allowed,
        "x/b is on node-2"
    );
    // The hostNetwork pod has pod=a and lives in x, yet deny-all does not isolate it.
    let verdict = evaluate(&v, &flow("y/a", "x/h", 80, Protocol::Tcp)).unwrap();
    assert!(verdict.allowed);
    assert!(matches!(
        verdict.ingress,
        DirectionVerdict::NotPoliced { .. }
    ));
    // A pod to itself is not policed.
    let verdict = evaluate(&v, &flow("x/a", "x/a", 80, Protocol::Tcp)).unwrap();
    assert!(verdict.allowed);
    assert_eq!(verdict.egress, DirectionVerdict::SamePod);
    // An outside address reached from x is subject to x's egress; from outside into y is not
    // policed at all.
    let out: std::net::Ipv4Addr = "203.0.113.7".parse().unwrap();
    let verdict = evaluate(
        &v,
        &Flow {
            from: Endpoint::Pod("x/b".into()),
            to: Endpoint::Ip(out),
            port: 443,
            protocol: Protocol::Tcp,
        },
    )
    .unwrap();
    assert!(!verdict.allowed);
    assert!(from(Endpoint::Ip(out), "y/a").allowed);
    // An address that is a pod's is that pod.
    let verdict = evaluate(
        &v,
        &Flow {
            from: Endpoint::Ip("10.244.1.2".parse().unwrap()),
            to: Endpoint::Pod("x/b".into()),
            port: 80,
            protocol: Protocol::Tcp,
        },
    )
    .unwrap();
    assert!(!verdict.allowed);
    assert!(matches!(verdict.ingress, DirectionVerdict::Denied { .. }));
}

#[test]
fn invalid_policies_are_refused_with_the_field() {
    let cases = [
        (
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}",
            "spec.ingress[0].from[0].ipBlock.cidr",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.1.0.0/24]}}]}]}",
            "must be a strict subset",
        ),
        (
            "{podSelector: {}, egress: [{ports: [{port: http, endPort: 90}]}]}",
            "spec.egress[0].ports[0].endPort",
        ),
        (
            "{podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}",
            "must be greater than or equal to `port`",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{}]}]}",
            "must specify a peer",
        ),
        (
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}",
            "may not specify more than 1 peer",
        ),
        (
            "{podSelector: {}, ingress: [{ports: [{protocol: ICMP}]}]}",
            "supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ),
        (
            "{podSelector: {}, policyTypes: [Both]}",
            "spec.policyTypes[0]",
        ),
    ];
    for (spec, want) in cases {
        let y = policy("x", "bad", spec);
        let m = load_str("bad.yaml", &y, &LoadOptions::default()).unwrap();
        let err = PolicyView::from_objects(m.objects())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want) && err.contains("x/bad"), "{spec}: {err}");
    }
    let v = model(&["x/a"], "");
    assert_eq!(
        evaluate(&v, &flow("x/a", "x/nope", 80, Protocol::Tcp)).unwrap_err(),
        PolicyError::UnknownPod("x/nope".into())
    );
}

#[test]
fn matrix_classes_grid_and_json() {
    let v = model(&ALL, &policy("x", "deny-ingress", "{podSelector: {}}"));
    let m = matrix(&v, 80, Protocol::Tcp).unwrap();
    // Every pod differs from every other by namespace or label: 9 classes.
    assert_eq!(m.classes(), 9);
    let grid = m.grid();
    let lines: Vec<&str> = grid.lines().collect();
    assert_eq!(lines[0], "-\tx/a\tx/b\tx/c\ty/a\ty/b\ty/c\tz/a\tz/b\tz/c");
    assert_eq!(lines[1], "x/a\t-\tX\tX\t.\t.\t.\t.\t.\t.");
    assert_eq!(lines[4], "y/a\tX\tX\tX\t-\t.\t.\t.\t.\t.");
    let json = m.to_json();
    assert_eq!(json["port"], 80);
    assert_eq!(json["protocol"], "TCP");
    assert_eq!(json["pods"].as_array().unwrap().len(), 9);
    assert_eq!(json["allowed"]["y/a"]["x/b"], false);
    assert_eq!(json["allowed"]["x/a"]["y/b"], true);
    assert!(json["allowed"]["x/a"].get("x/a").is_none(), "no self pairs");
    // Pods alike share a class: many unlabeled pods in one namespace are one class.
    let mut extra = String::new();
    for i in 0..50 {
        extra.push_str(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: w{i}, namespace: 'y'}}\nspec: {{nodeName: node-1, containers: [{{name: c, image: x}}]}}\nstatus: {{podIP: 10.244.5.{}}}\n---\n",
            i + 2
        ));
    }
    let v = model(
        &["x/a"],
        &(extra + &policy("y", "deny", "{podSelector: {}}")),
    );
    let m = matrix(&v, 80, Protocol::Tcp).unwrap();
    assert_eq!(m.classes(), 2);
    assert_eq!(m.get("y/w1", "y/w2"), Some(false));
    assert_eq!(m.get("y/w1", "x/a"), Some(true));
    assert_eq!(m.get("y/w1", "y/w1"), None);
}

mod classes {
    //! The truth table over equivalence classes equals the one decided pod by pod, on views
    //! where many pods collide into classes (few labels, shared ports, hostNetwork pods on two
    //! nodes, ipBlocks that split classes by address).

    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::super::spec::{NamespaceScope, Peer, PolicyPort, PortMatch, Rule};
    use super::super::view::ContainerPort;
    use super::*;
    use crate::selector::Selector;

    fn selector() -> impl Strategy<Value = Selector> {
        prop_oneof![Just(""), Just("app=web"), Just("app!=web")]
            .prop_map(|s| Selector::parse(s).unwrap())
    }

    fn peer() -> impl Strategy<Value = Peer> {
        let block = |cidr: &str, except: &[&str]| Peer::IpBlock {
            cidr: cidr.parse().unwrap(),
            except: except.iter().map(|e| e.parse().unwrap()).collect(),
        };
        prop_oneof![
            selector().prop_map(|pods| Peer::Pods {
                namespaces: NamespaceScope::Own("n0".into()),
                pods
            }),
            (prop_oneof![Just("team=red"), Just("")], selector()).prop_map(|(ns, pods)| {
                Peer::Pods {
                    namespaces: NamespaceScope::Selected(Selector::parse(ns).unwrap()),
                    pods,
                }
            }),
            Just(block("10.244.1.0/24", &[])),
            Just(block("172.18.0.10/32", &[])),
            Just(block("10.244.0.0/16", &["10.244.0.4/32"])),
        ]
    }

    fn port() -> impl Strategy<Value = PolicyPort> {
        prop_oneof![
            Just(PolicyPort {
                protocol: Protocol::Tcp,
                port: PortMatch::Named("http".into())
            }),
            Just(PolicyPort {
                protocol: Protocol::Tcp,
                port: PortMatch::Range { from: 80, to: 80 }
            }),
            Just(PolicyPort {
                protocol: Protocol::Udp,
                port: PortMatch::All
            }),
        ]
    }

    fn rules() -> impl Strategy<Value = Option<Vec<Rule>>> {
        proptest::option::of(proptest::collection::vec(
            (
                proptest::option::of(proptest::collection::vec(peer(), 1..=2)),
                proptest::option::of(proptest::collection::vec(port(), 1..=2)),
            )
                .prop_map(|(peers, ports)| Rule { peers, ports }),
            0..=2,
        ))
    }

    fn policy() -> impl Strategy<Value = Policy> {
        (0..2usize, selector(), rules(), rules()).prop_map(|(ns, pod_selector, ingress, egress)| {
            Policy {
                namespace: format!("n{ns}"),
                name: "p".into(),
                pod_selector,
                ingress,
                egress,
            }
        })
    }

    type PodParts = (usize, bool, Option<u16>, bool, usize);

    fn view(pods: &[PodParts], mut policies: Vec<Policy>) -> PolicyView {
        let nodes: BTreeMap<String, Ipv4Addr> = [
            ("node-1".to_string(), Ipv4Addr::new(172, 18, 0, 10)),
            ("node-2".to_string(), Ipv4Addr::new(172, 18, 0, 11)),
        ]
        .into();
        let mut v = PolicyView {
            nodes: nodes.clone(),
            ..Default::default()
        };
        v.namespaces.insert(
            "n0".into(),
            [("team".to_string(), "red".to_string())].into(),
        );
        v.namespaces.insert(
            "n1".into(),
            [("team".to_string(), "blue".to_string())].into(),
        );
        for (i, (ns, web, http, host, node)) in pods.iter().enumerate() {
            let node_name = format!("node-{}", node + 1);
            let ip = if *host {
                nodes[&node_name]
            } else {
                Ipv4Addr::new(10, 244, *node as u8, i as u8 + 2)
            };
            let pod = PodInfo {
                namespace: format!("n{ns}"),
                name: format!("p{i}"),
                labels: if *web {
                    [("app".to_string(), "web".to_string())].into()
                } else {
                    BTreeMap::new()
                },
                ip: Some(ip),
                node: Some(node_name),
                host_network: *host,
                ports: http
                    .iter()
                    .map(|p| ContainerPort {
                        name: Some("http".into()),
                        port: *p,
                        protocol: Protocol::Tcp,
                    })
                    .collect(),
            };
            v.pods.insert(pod.key(), pod);
        }
        for (i, p) in policies.iter_mut().enumerate() {
            p.name = format!("p{i}");
        }
        v.policies = policies;
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn class_table_equals_pod_by_pod(
            pods in proptest::collection::vec(
                (0..2usize, any::<bool>(), proptest::option::of(prop_oneof![Just(80u16), Just(8080)]), proptest::bool::weighted(0.2), 0..2usize),
                2..14,
            ),
            policies in proptest::collection::vec(policy(), 0..=3),
            port in prop_oneof![Just(80u16), Just(8080)],
        ) {
            let v = view(&pods, policies);
            let classes = matrix(&v, port, Protocol::Tcp).unwrap();
            let each = matrix_by(&v, port, Protocol::Tcp, matrix::Grouping::EveryPod, |from, to| {
                let flow = flow(from, to, port, Protocol::Tcp);
                Ok::<_, PolicyError>(evaluate(&v, &flow)?.allowed)
            })
            .unwrap();
            prop_assert_eq!(each.classes(), v.pods.len());
            prop_assert_eq!(classes.grid(), each.grid());
        }
    }
}
