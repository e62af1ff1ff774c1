//! kube-proxy's iptables rules against upstream's own expectations: the rules for the
//! Services of upstream's `TestOverallIPTablesRules` must be the rules its test expects,
//! compared chain by chain after both go through our `iptables-restore`/`iptables-save`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use sim_core::{SimDuration, SimTime};
use sim_k8s::Typed;
use sim_k8s::manifest::{LoadOptions, Manifests, load_path};
use sim_k8s::proxy::iptables::{
    LARGE_CLUSTER_ENDPOINTS_THRESHOLD, ProxierConfig, Rendered, SyncScope, render,
};
use sim_k8s::proxy::local_detector::LocalDetector;
use sim_k8s::proxy::node_port_addresses::NodePortAddresses;
use sim_k8s::proxy::{Proxier, ProxyChanges, proxy_state};
use sim_net::netfilter::{Netfilter, RestoreOptions, Ruleset, TableName};

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
        sync_period: SimDuration::from_secs(30),
    }
}

/// A full sync's text for `svcs` and `slices` on `test-node`, configured as in the tests.
fn render_full(svcs: &[Service], slices: &[EndpointSlice]) -> Rendered {
    let (ports, eps) = proxy_state(svcs, slices, "test-node");
    render(
        &fake_proxier_config(),
        &ports,
        &eps,
        &SyncScope::Full,
        &BTreeSet::new(),
    )
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
    let out = render_full(&svcs, &slices);
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
    let out = render_full(&svcs, &slices);
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

/// `makeTestService` for a ClusterIP Service with one TCP port.
fn cluster_ip_service(ns: &str, name: &str, ip: &str, port_name: &str, port: u16) -> Service {
    let y = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{type: ClusterIP, clusterIP: {ip}, ports: [{{name: {port_name}, port: {port}, protocol: TCP}}]}}\n"
    );
    let m = sim_k8s::manifest::load_str("svc.yaml", &y, &LoadOptions::default()).unwrap();
    all(&m).pop().unwrap()
}

/// `makeTestEndpointSlice` with one TCP port and these addresses.
fn slice_of(ns: &str, name: &str, addrs: &[String], port_name: &str, port: u16) -> EndpointSlice {
    let eps: Vec<String> = addrs
        .iter()
        .map(|a| format!("{{addresses: [{a}]}}"))
        .collect();
    let y = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-1, namespace: {ns}, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nendpoints: [{}]\nports: [{{name: {port_name}, port: {port}, protocol: TCP}}]\n",
        eps.join(", ")
    );
    let m = sim_k8s::manifest::load_str("slice.yaml", &y, &LoadOptions::default()).unwrap();
    all(&m).pop().unwrap()
}

/// `countEndpointsAndComments`: the DNAT line of `endpoint`, the DNAT lines and those of
/// them with a comment.
fn count_endpoints_and_comments(restore: &str, endpoint: &str) -> (String, usize, usize) {
    let dnat: Vec<&str> = restore
        .lines()
        .filter(|l| l.starts_with("-A KUBE-SEP-") && l.contains("-j DNAT"))
        .collect();
    let matched = dnat
        .iter()
        .find(|l| l.contains(&format!("--to-destination {endpoint}:")))
        .map_or(String::new(), |l| l.to_string());
    let comments = dnat.iter().filter(|l| l.contains("--comment")).count();
    (matched, dnat.len(), comments)
}

fn has_nat_chain(nf: &Netfilter, chain: &str) -> bool {
    nf.ruleset
        .table(TableName::Nat)
        .is_some_and(|t| t.chain(chain).is_some())
}

/// Upstream's `TestSyncProxyRulesLargeClusterMode`: past 1,000 endpoints the comments go
/// (from the Services a sync rewrites: crossing the threshold forces no full sync), and a
/// deleted Service's chains are not deleted by a sync right after a cleanup, but are once
/// `syncPeriod` has passed since.
#[test]
fn large_cluster_mode_deletes_stale_chains_at_most_once_per_sync_period() {
    let half = LARGE_CLUSTER_ENDPOINTS_THRESHOLD / 2 - 1;
    let mut cfg = fake_proxier_config();
    cfg.masquerade_all = true;
    let sync_period = cfg.sync_period;
    assert_eq!(sync_period, SimDuration::from_secs(30));
    let mut nf = Netfilter::default();
    let mut fp = Proxier::new(cfg);
    let t = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
    let addrs = |a: u8| -> Vec<String> {
        (0..half)
            .map(|i| format!("10.{a}.{}.{}", i % 256, i / 256))
            .collect()
    };

    let mut c = ProxyChanges::default();
    for (ns, name, ip, port_name, port) in [
        ("ns1", "svc1", "172.30.0.41", "p80", 80),
        ("ns2", "svc2", "172.30.0.42", "p8080", 8080),
        ("ns3", "svc3", "172.30.0.43", "p8081", 8081),
    ] {
        c.service_updated(&cluster_ip_service(ns, name, ip, port_name, port));
    }
    c.endpoint_slices(
        "ns1",
        "svc1",
        [&slice_of("ns1", "svc1", &addrs(0), "p80", 80)],
        "test-node",
    );
    c.endpoint_slices(
        "ns2",
        "svc2",
        [&slice_of("ns2", "svc2", &addrs(1), "p8080", 8080)],
        "test-node",
    );
    let out = fp.sync_changes(t(0), c, &mut nf).unwrap();
    let mut expected_endpoints = 2 * half;
    let (first, n, comments) = count_endpoints_and_comments(&out.rendered.restore, "10.0.0.0");
    assert_eq!(
        first,
        "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80"
    );
    assert_eq!((n, comments), (expected_endpoints, expected_endpoints));
    assert!(!out.rendered.large_cluster_mode && out.cleaned_up);

    // svc3 gets endpoints: over the threshold, only svc3 is rewritten, without comments.
    let addrs3: Vec<String> = ["203.0.113.4", "203.0.113.8", "203.0.113.12"]
        .map(String::from)
        .to_vec();
    let mut c = ProxyChanges::default();
    c.endpoint_slices(
        "ns3",
        "svc3",
        [&slice_of("ns3", "svc3", &addrs3, "p8081", 8081)],
        "test-node",
    );
    let out = fp.sync_changes(t(1), c, &mut nf).unwrap();
    let (first, n, comments) = count_endpoints_and_comments(&out.rendered.restore, "203.0.113.4");
    assert_eq!(
        first,
        "-A KUBE-SEP-RUVVH7YV3PHQBDOS -m tcp -p tcp -j DNAT --to-destination 203.0.113.4:8081"
    );
    assert_eq!((n, comments), (3, 0));
    assert!(out.rendered.large_cluster_mode && !out.full && !out.cleaned_up);

    // A full sync rewrites the older Services without comments too.
    fp.force_full_sync();
    let out = fp
        .sync_changes(t(2), ProxyChanges::default(), &mut nf)
        .unwrap();
    expected_endpoints += 3;
    let (first, n, comments) = count_endpoints_and_comments(&out.rendered.restore, "10.0.0.0");
    assert_eq!(
        first,
        "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80"
    );
    assert_eq!((n, comments), (expected_endpoints, 0));

    // svc4 comes (and is the only Service rewritten) ...
    let mut c = ProxyChanges::default();
    c.service_updated(&cluster_ip_service(
        "ns4",
        "svc4",
        "172.30.0.44",
        "p8082",
        8082,
    ));
    c.endpoint_slices(
        "ns4",
        "svc4",
        [&slice_of(
            "ns4",
            "svc4",
            &["10.4.0.1".to_string()],
            "p8082",
            8082,
        )],
        "test-node",
    );
    let out = fp.sync_changes(t(3), c, &mut nf).unwrap();
    let (svc4_endpoint, n, _) = count_endpoints_and_comments(&out.rendered.restore, "10.4.0.1");
    assert_eq!(
        svc4_endpoint,
        "-A KUBE-SEP-SU5STNODRYEWJAUF -m tcp -p tcp -j DNAT --to-destination 10.4.0.1:8082"
    );
    assert_eq!(n, 1);

    // ... and goes right after a cleanup: its chains stay, unreferenced.
    fp.set_last_iptables_cleanup(Some(t(4)));
    let mut c = ProxyChanges::default();
    c.service_deleted("ns4", "svc4");
    let out = fp.sync_changes(t(4), c, &mut nf).unwrap();
    let (svc4_endpoint, n, _) = count_endpoints_and_comments(&out.rendered.restore, "10.4.0.1");
    assert_eq!((svc4_endpoint.as_str(), n), ("", 0));
    assert!(!out.rendered.restore.contains("-X "));
    assert!(!out.cleaned_up);
    assert!(has_nat_chain(&nf, "KUBE-SVC-EBDQOQU5SJFXRIL3"));
    assert!(has_nat_chain(&nf, "KUBE-SEP-SU5STNODRYEWJAUF"));

    // A sync at exactly one syncPeriod after the cleanup still waits ...
    let out = fp
        .sync_changes(t(4) + sync_period, ProxyChanges::default(), &mut nf)
        .unwrap();
    assert!(!out.cleaned_up && !out.rendered.restore.contains("-X "));
    // ... one a nanosecond later deletes them.
    let later = t(4) + sync_period + SimDuration::from_nanos(1);
    let out = fp
        .sync_changes(later, ProxyChanges::default(), &mut nf)
        .unwrap();
    let (svc4_endpoint, n, _) = count_endpoints_and_comments(&out.rendered.restore, "10.4.0.1");
    assert_eq!((svc4_endpoint.as_str(), n), ("", 0));
    assert!(out.cleaned_up);
    assert!(
        out.rendered
            .restore
            .contains("-X KUBE-SVC-EBDQOQU5SJFXRIL3\n")
    );
    assert!(
        out.rendered
            .restore
            .contains("-X KUBE-SEP-SU5STNODRYEWJAUF\n")
    );
    assert!(!has_nat_chain(&nf, "KUBE-SVC-EBDQOQU5SJFXRIL3"));
    assert!(!has_nat_chain(&nf, "KUBE-SEP-SU5STNODRYEWJAUF"));
    // Exactly svc4's two chains were stale.
    assert_eq!(out.rendered.restore.matches("-X ").count(), 2);

    // Right after that cleanup the next one waits again.
    let out = fp
        .sync_changes(later + sync_period, ProxyChanges::default(), &mut nf)
        .unwrap();
    assert!(!out.cleaned_up);

    fp.force_full_sync();
    let out = fp
        .sync_changes(later + sync_period, ProxyChanges::default(), &mut nf)
        .unwrap();
    let (_, n, _) = count_endpoints_and_comments(&out.rendered.restore, "10.0.0.0");
    assert_eq!(n, expected_endpoints);
}

/// A NodePort Service with both traffic policies Local still gets its `KUBE-SVC-` chain
/// (upstream's `UsesClusterEndpoints`: any externally accessible Service does), which the
/// pod and LOCAL short-circuits of its `KUBE-EXT-` chain jump to; the text loads.
#[test]
fn both_policies_local_keep_the_cluster_chain_the_short_circuits_use() {
    let y = "apiVersion: v1\nkind: Service\nmetadata: {name: both, namespace: ns}\nspec: {type: NodePort, clusterIP: 172.30.0.50, internalTrafficPolicy: Local, externalTrafficPolicy: Local, ports: [{name: p, port: 80, nodePort: 30050, protocol: TCP}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: both-1, namespace: ns, labels: {kubernetes.io/service-name: both}}\naddressType: IPv4\nendpoints: [{addresses: [10.180.0.1], nodeName: test-node}, {addresses: [10.180.1.1], nodeName: other}]\nports: [{name: p, port: 8080, protocol: TCP}]\n";
    let m = sim_k8s::manifest::load_str("both.yaml", y, &LoadOptions::default()).unwrap();
    let (svcs, slices) = split(&m);
    let out = render_full(&svcs, &slices);
    let svc_chain = "KUBE-SVC-";
    let ext: Vec<&str> = out
        .restore
        .lines()
        .filter(|l| l.starts_with("-A KUBE-EXT-") && l.contains(&format!("-j {svc_chain}")))
        .collect();
    assert_eq!(ext.len(), 2, "{ext:?}");
    let target = ext[0].rsplit(' ').next().unwrap();
    assert!(out.restore.contains(&format!(":{target} - [0:0]\n")));
    // The cluster chain balances over both endpoints; ClusterIP traffic stays local.
    assert_eq!(
        out.restore
            .lines()
            .filter(|l| l.starts_with(&format!("-A {target} ")) && l.contains("-j KUBE-SEP-"))
            .count(),
        2
    );
    assert!(
        out.restore.contains(
            "\"ns/both:p cluster IP\" -m tcp -p tcp -d 172.30.0.50 --dport 80 -j KUBE-SVL-"
        )
    );
    let mut rs = Ruleset::new();
    rs.restore(&out.restore, RestoreOptions::default())
        .expect("the text loads");
}
