//! kube-proxy's iptables rules against upstream's own expectations: the rules for the
//! Services of upstream's `TestOverallIPTablesRules` must be the rules its test expects,
//! compared chain by chain after both go through our `iptables-restore`/`iptables-save`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use sim_k8s::Object;
use sim_k8s::manifest::{LoadOptions, load_path};
use sim_k8s::proxy::iptables::{ProxierConfig, SyncScope, render};
use sim_k8s::proxy::local_detector::LocalDetector;
use sim_k8s::proxy::node_port_addresses::NodePortAddresses;
use sim_k8s::proxy::proxy_state;
use sim_net::netfilter::{RestoreOptions, Ruleset, SaveOptions};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kube-proxy")
        .join(name)
}

fn objects(name: &str) -> (Vec<Service>, Vec<EndpointSlice>) {
    let m = load_path(&fixture(name), &LoadOptions::default()).unwrap();
    let mut svcs = Vec::new();
    let mut slices = Vec::new();
    for o in m.objects() {
        match o {
            Object::Service(s) => svcs.push(s.clone()),
            Object::EndpointSlice(e) => slices.push(e.clone()),
            _ => {}
        }
    }
    (svcs, slices)
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
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut table = String::new();
    for line in rs.save_with(SaveOptions::default()).lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if let Some(c) = line.strip_prefix(':') {
            let chain = c.split(' ').next().unwrap().to_string();
            out.entry((table.clone(), chain)).or_default();
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let chain = rest.split(' ').next().unwrap().to_string();
            out.entry((table.clone(), chain))
                .or_default()
                .push(line.to_string());
        }
    }
    out
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
