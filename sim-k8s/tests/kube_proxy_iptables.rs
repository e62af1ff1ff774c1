//! kube-proxy's iptables rules against upstream's own expectations: the rules for the
//! Services of upstream's `TestOverallIPTablesRules` must be the rules its test expects,
//! compared chain by chain after both go through our `iptables-restore`/`iptables-save`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use sim_k8s::Typed;
use sim_k8s::manifest::{LoadOptions, Manifests, load_path};
use sim_k8s::proxy::iptables::{ProxierConfig, SyncScope, render};
use sim_k8s::proxy::local_detector::LocalDetector;
use sim_k8s::proxy::node_port_addresses::NodePortAddresses;
use sim_k8s::proxy::proxy_state;
use sim_net::netfilter::{RestoreOptions, Ruleset};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kube-proxy")
        .join(name)
}

/// The objects of kind `T` among `m`'s.
fn all<T: Typed + Clone>(m: &Manifests) -> Vec<T> {
    m.objects().filter_map(T::from_object).cloned().collect()
}

/// The Services and EndpointSlices among `m`'s objects.
fn split(m: &Manifests) -> (Vec<Service>, Vec<EndpointSlice>) {
    (all(m), all(m))
}

fn objects(name: &str) -> (Vec<Service>, Vec<EndpointSlice>) {
    split(&load_path(&fixture(name), &LoadOptions::default()).unwrap())
}

/// Upstream's `NewFakeProxier`: node `test-node` at 192.168.0.2, cluster CIDR 10.0.0.0/8,
/// localhost NodePorts and nfacct on, an iptables without `--random-fully`.
fn fake_proxier_config() -> ProxierConfig {
    ProxierConfig {
        node_name: "test-node".into(),
        node_ip: Ipv4Addr::new(192, 168, 0, 2),
        interface_ips: vec![Ipv4Addr::LOCALHOST, Ipv4Addr::new(192, 168, 0, 2)],
        zone: String::new(),
        masquerade_all: false,
        masquerade_mark: 0x4000,
        localhost_node_ports: true,
        local_detector: LocalDetector::Cidr("10.0.0.0/8".parse().unwrap()),
        node_port_addresses: NodePortAddresses::parse(&[], &[]).unwrap(),
        random_fully: false,
        nfacct: true,
        conntrack_tcp_liberal: false,
    }
}

/// Each chain's rules as `iptables-save` prints them, by table and chain (chain order aside).
fn by_chain(restore_text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut rs = Ruleset::new();
    rs.restore(restore_text, RestoreOptions::default()).unwrap();
    rs.saved_by_chain()
}

#[test]
fn overall_rules_are_the_rules_upstream_expects() {
    let (svcs, slices) = objects("overall.yaml");
    let (ports, eps) = proxy_state(&svcs, &slices, "test-node");
    let out = render(
        &fake_proxier_config(),
        &ports,
        &eps,
        &SyncScope::Full,
        &BTreeSet::new(),
    );
    let expected = std::fs::read_to_string(fixture("overall.expected")).unwrap();
    let ours = by_chain(&out.restore);
    let theirs = by_chain(&expected);
    for (k, rules) in &theirs {
        assert_eq!(ours.get(k), Some(rules), "chain {k:?}");
    }
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    assert!(!out.large_cluster_mode);
    assert_eq!(out.total_endpoints, 6);
}

/// The same Services on a node configured otherwise: `masqueradeAll`, NodePorts only on the
/// node's InternalIP and 127.0.0.1 (so one `-d` rule per address instead of the LOCAL one),
/// `--random-fully`, no nfacct, `nf_conntrack_tcp_be_liberal` (no INVALID drop), and
/// detect-local by bridge interface.
#[test]
fn configuration_variants_render_as_upstream_writes_them() {
    let (svcs, slices) = objects("overall.yaml");
    let (ports, eps) = proxy_state(&svcs, &slices, "test-node");
    let mut cfg = fake_proxier_config();
    cfg.masquerade_all = true;
    cfg.node_port_addresses = NodePortAddresses::parse(
        &["192.168.0.0/24".to_string(), "127.0.0.0/8".to_string()],
        &[],
    )
    .unwrap();
    cfg.random_fully = true;
    cfg.nfacct = false;
    cfg.conntrack_tcp_liberal = true;
    cfg.local_detector = LocalDetector::Interface("cbr0".into());
    let out = render(&cfg, &ports, &eps, &SyncScope::Full, &BTreeSet::new());
    insta::assert_snapshot!("configuration_variants", out.restore);
    // masqueradeAll marks every ClusterIP connection, whatever its source.
    assert!(out.restore.contains(
        "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ"
    ));
    assert!(out.restore.contains("-d 192.168.0.2 -j KUBE-NODEPORTS"));
    assert!(out.restore.contains("-d 127.0.0.1 -j KUBE-NODEPORTS"));
    assert!(!out.restore.contains("--dst-type LOCAL -j KUBE-NODEPORTS"));
    assert!(!out.restore.contains("INVALID"));
    assert!(out.restore.contains("-j MASQUERADE --random-fully"));
    assert!(out.restore.contains("-i cbr0 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT"));
}

/// Past 1,000 endpoints kube-proxy stops writing per-endpoint comments ("large cluster
/// mode"); the Service-level comments stay.
#[test]
fn large_clusters_drop_endpoint_comments() {
    let mut y = String::new();
    for i in 0..101 {
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: big}}\nspec: {{clusterIP: 10.96.{}.{}, ports: [{{port: 80}}]}}\n",
            i / 200,
            i % 200 + 1
        ));
        let eps: Vec<String> = (0..10)
            .map(|j| format!("{{addresses: [10.244.{i}.{}]}}", j + 1))
            .collect();
        y.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: s{i}-a, namespace: big, labels: {{kubernetes.io/service-name: s{i}}}}}\naddressType: IPv4\nendpoints: [{}]\nports: [{{name: \"\", port: 8080, protocol: TCP}}]\n",
            eps.join(", ")
        ));
    }
    let m = sim_k8s::manifest::load_str("big.yaml", &y, &LoadOptions::default()).unwrap();
    let (svcs, slices) = split(&m);
    let (ports, eps) = proxy_state(&svcs, &slices, "test-node");
    let out = render(
        &fake_proxier_config(),
        &ports,
        &eps,
        &SyncScope::Full,
        &BTreeSet::new(),
    );
    assert_eq!(out.total_endpoints, 1010);
    assert!(out.large_cluster_mode);
    let sep: Vec<&str> = out
        .restore
        .lines()
        .filter(|l| l.starts_with("-A KUBE-SEP-"))
        .collect();
    assert_eq!(sep.len(), 2020);
    assert!(sep.iter().all(|l| !l.contains("--comment")));
    assert!(
        out.restore
            .lines()
            .any(|l| l.starts_with("-A KUBE-SVC-") && l.contains("\"big/s0 cluster IP\""))
    );
    assert!(!out.restore.contains("big/s0 -> "));
}
