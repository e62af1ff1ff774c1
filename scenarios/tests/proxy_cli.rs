//! `kube-netsim proxy render|trace` as a user runs them, on the Services and EndpointSlices of
//! upstream's `TestOverallIPTablesRules` with two Nodes and a `KubeProxyConfiguration`: the
//! rendered rules are upstream's expected rules, traces show the DNAT, the masquerade and the
//! REJECT kube-proxy programs, and bad input is exit 2 with the place named.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use sim_net::netfilter::Ruleset;

use common::{Out, run};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn overall() -> PathBuf {
    manifest_dir().join("../sim-k8s/tests/fixtures/kube-proxy/overall.yaml")
}

/// The directory of `nodes.yaml` (test-node and other-node) and `config.yaml` (the
/// KubeProxyConfiguration), loaded as `-f DIR` loads it.
fn nodes() -> PathBuf {
    manifest_dir().join("tests/fixtures/kube-proxy")
}

/// `proxy SUB -f overall.yaml -f tests/fixtures/kube-proxy --node test-node ARGS...`.
fn on_test_node(sub: &str, args: &[&str]) -> Out {
    let overall = overall();
    let nodes = nodes();
    let mut all = vec![
        "proxy",
        sub,
        "-f",
        overall.to_str().unwrap(),
        "-f",
        nodes.to_str().unwrap(),
        "--node",
        "test-node",
    ];
    all.extend_from_slice(args);
    run(&all)
}

/// Each chain's `-A` lines by (table, chain).
fn by_chain(save: &str) -> BTreeMap<(String, String), Vec<String>> {
    Ruleset::parse(save).expect("a valid dump").saved_by_chain()
}

#[test]
fn render_is_the_rules_upstream_expects_plus_the_jumps_and_canaries() {
    let out = on_test_node("render", &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // svc4 is a NodePort Service stored without a nodePort: no NodePort rules, a warning.
    assert!(
        out.stderr.contains(
            "overall.yaml:34:1: warning: Service ns4/svc4 (NodePort): port 80 has no nodePort"
        ),
        "{}",
        out.stderr
    );
    // Upstream's expectations were written for an iptables without --random-fully; the
    // node here has it, as every current distribution does. Both sides in iptables-save's
    // canonical form.
    let expected = std::fs::read_to_string(
        manifest_dir().join("../sim-k8s/tests/fixtures/kube-proxy/overall.expected"),
    )
    .unwrap()
    .replace("-j MASQUERADE\n", "-j MASQUERADE --random-fully\n");
    let ours = by_chain(&out.stdout);
    let theirs = by_chain(&expected);
    let kube_chains = |m: &BTreeMap<(String, String), Vec<String>>| -> Vec<(String, String)> {
        m.keys()
            .filter(|(_, c)| c.starts_with("KUBE-"))
            .cloned()
            .collect()
    };
    let mut ours_kube = kube_chains(&ours);
    ours_kube.retain(|(_, c)| c != "KUBE-PROXY-CANARY");
    assert_eq!(ours_kube, kube_chains(&theirs));
    for (k, rules) in theirs.iter().filter(|((_, c), _)| c.starts_with("KUBE-")) {
        assert_eq!(ours.get(k), Some(rules), "chain {k:?}");
    }
    // The jumps from the built-in chains, newest first as `iptables -I` leaves them.
    let nat_prerouting = &ours[&("nat".to_string(), "PREROUTING".to_string())];
    assert_eq!(
        nat_prerouting,
        &["-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"]
    );
    for table in ["mangle", "nat", "filter"] {
        assert!(
            ours.contains_key(&(table.to_string(), "KUBE-PROXY-CANARY".to_string())),
            "{table}"
        );
    }
    insta::assert_snapshot!("render_test_node", out.stdout);
}

#[test]
fn render_needs_a_node_when_there_are_several_and_refuses_an_unknown_one() {
    let overall = overall();
    let nodes = nodes();
    let out = run(&[
        "proxy",
        "render",
        "-f",
        overall.to_str().unwrap(),
        "-f",
        nodes.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("error: 2 Nodes (other-node, test-node): pick one with --node"),
        "{}",
        out.stderr
    );
    let out = run(&[
        "proxy",
        "render",
        "-f",
        overall.to_str().unwrap(),
        "-f",
        nodes.to_str().unwrap(),
        "--node",
        "nosuch",
    ]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("error: node \"nosuch\" not found; the manifests have other-node, test-node"),
        "{}",
        out.stderr
    );
}

#[test]
fn hostname_override_picks_the_node_and_one_configuration_is_read() {
    let dir = std::env::temp_dir().join(format!("kube-netsim-proxy-hn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("proxy.yaml");
    std::fs::write(
        &cfg,
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nhostnameOverride: Test-Node\nclusterCIDR: 10.0.0.0/8\n",
    )
    .unwrap();
    let overall = overall();
    let nodes_only = nodes().join("nodes.yaml");
    // test-node's address is local there: its NodePort answers and masquerades to it.
    let out = run(&[
        "proxy",
        "trace",
        "-f",
        overall.to_str().unwrap(),
        "-f",
        nodes_only.to_str().unwrap(),
        "-f",
        cfg.to_str().unwrap(),
        "--src",
        "203.0.113.200",
        "--dst",
        "192.168.0.2",
        "--dport",
        "3003",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("POSTROUTING: SNAT 203.0.113.200:40000 -> 192.168.0.2:")
            && out.stdout.contains("ACCEPT -> 10.180.0.3:80 (masquerade)"),
        "{}",
        out.stdout
    );
    // With the fixture directory's configuration too, there are two.
    let both = run(&[
        "proxy",
        "render",
        "-f",
        nodes().to_str().unwrap(),
        "-f",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(both.code, Some(2));
    assert!(
        both.stderr.contains("error: 2 KubeProxyConfigurations (")
            && both.stderr.contains("config.yaml:3:1")
            && both.stderr.contains("proxy.yaml:1:1")
            && both.stderr.contains("): kube-proxy reads one"),
        "{}",
        both.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_nodes_kube_proxy_runs_on_a_node_without_its_node_object() {
    let overall = overall();
    let out = run(&["proxy", "render", "-f", overall.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "warning: node node-1 has no InternalIP or ExternalIP address; its node IP is taken to be 127.0.0.1"
        ),
        "{}",
        out.stderr
    );
    // No cluster CIDR configured: no pod short-circuit and no "! -s" on the masquerade rule.
    assert!(!out.stdout.contains("10.0.0.0/8"), "{}", out.stdout);
}

#[test]
fn a_service_stored_without_a_cluster_ip_is_skipped_with_a_warning() {
    let manifest = "\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.244.1.5]}]
ports: [{name: http, port: 8080}]
";
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .args(["proxy", "render", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "<stdin>:1:1: warning: Service shop/web has no clusterIP (the API server allocates \
             one; objects are taken as stored): kube-proxy skips it"
        ),
        "{stderr}"
    );
    assert!(!stdout.contains("shop/web"), "{stdout}");
    assert!(!stdout.contains("10.244.1.5"), "{stdout}");
    // kube-proxy's own chains are there all the same.
    assert!(
        stdout.contains("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports;"),
        "{stdout}"
    );
}

#[test]
fn a_cluster_ip_connection_from_a_pod_is_dnated_to_each_endpoint() {
    let out = on_test_node(
        "trace",
        &[
            "--src",
            "10.0.1.7",
            "--dst",
            "172.30.0.44",
            "--dport",
            "80",
            "--json",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let branches = v["branches"].as_array().unwrap();
    let dests: Vec<&str> = branches
        .iter()
        .map(|b| b["destination"].as_str().unwrap())
        .collect();
    assert_eq!(dests, ["10.180.0.4:80", "10.180.0.5:80"]);
    assert!(
        branches
            .iter()
            .all(|b| b["verdict"] == "ACCEPT" && b["masquerade"] == false && b["local"] == false),
        "{}",
        out.stdout
    );
    let text = on_test_node(
        "trace",
        &["--src", "10.0.1.7", "--dst", "172.30.0.44", "--dport", "80"],
    );
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    insta::assert_snapshot!("trace_cluster_ip", text.stdout);
}

#[test]
fn a_node_port_from_outside_is_masqueraded() {
    let out = on_test_node(
        "trace",
        &[
            "--src",
            "203.0.113.200",
            "--dst",
            "192.168.0.2",
            "--dport",
            "3003",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let outcomes = out.stdout.split("outcomes:").nth(1).unwrap();
    assert_eq!(
        outcomes.trim(),
        "ACCEPT -> 10.180.0.3:80 (masquerade)",
        "{}",
        out.stdout
    );
    insta::assert_snapshot!("trace_node_port", out.stdout);
}

#[test]
fn a_service_without_endpoints_rejects() {
    let out = on_test_node(
        "trace",
        &["--src", "10.0.1.7", "--dst", "172.30.0.46", "--dport", "80"],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let outcomes = out.stdout.split("outcomes:").nth(1).unwrap();
    assert_eq!(
        outcomes.trim(),
        "REJECT -> 172.30.0.46:80",
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("ns6/svc6:p80 has no endpoints"),
        "{}",
        out.stdout
    );
    insta::assert_snapshot!("trace_no_endpoints", out.stdout);
}

#[test]
fn bad_input_is_exit_2_with_the_place() {
    let dir = std::env::temp_dir().join(format!("kube-netsim-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.9\n  ports: [{port: eighty}]\n",
    )
    .unwrap();
    let out = run(&["proxy", "render", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("bad.yaml:6:") && out.stderr.contains("spec.ports[0].port"),
        "{}",
        out.stderr
    );
    let missing = run(&["proxy", "render", "-f", "/nonexistent/objects.yaml"]);
    assert_eq!(missing.code, Some(2));
    assert!(
        missing.stderr.contains("/nonexistent/objects.yaml"),
        "{}",
        missing.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn modes_other_than_iptables_are_not_modelled_yet() {
    let out = on_test_node("render", &["--mode", "ipvs"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("error: proxy mode ipvs (--mode) is not modelled yet; only iptables is"),
        "{}",
        out.stderr
    );
    let out = on_test_node("render", &["--mode", "bogus"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("expected one of iptables, ipvs, nftables"),
        "{}",
        out.stderr
    );
    // A configured mode counts when --mode is absent; --mode iptables overrides it.
    let dir = std::env::temp_dir().join(format!("kube-netsim-proxy-mode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("proxy.yaml");
    std::fs::write(
        &cfg,
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\n",
    )
    .unwrap();
    let overall = overall();
    let base = [
        "proxy",
        "render",
        "-f",
        overall.to_str().unwrap(),
        "-f",
        cfg.to_str().unwrap(),
    ];
    let out = run(&base);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains(
            "error: proxy mode nftables (the KubeProxyConfiguration's mode) is not modelled yet"
        ),
        "{}",
        out.stderr
    );
    let mut forced = base.to_vec();
    forced.extend(["--mode", "iptables"]);
    assert_eq!(run(&forced).code, Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}
