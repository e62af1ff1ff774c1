//! The explained trace of a new connection (`kube-netsim trace`) against kube-proxy-shaped
//! rules: every endpoint is an outcome, in rule order; off-cluster sources are marked for
//! masquerade; a Service without endpoints is rejected; and the indexed evaluator walks
//! exactly as the plain one does.

use std::net::Ipv4Addr;

use sim_net::netfilter::fixture::{cluster_ip, endpoint_ip, kube_proxy_like};
use sim_net::netfilter::trace::{BranchVerdict, TraceRequest, trace_new_connection};
use sim_net::netfilter::{Netfilter, RestoreOptions};

fn load(text: &str) -> Netfilter {
    let mut nf = Netfilter::default();
    nf.restore(text, RestoreOptions::default()).unwrap();
    nf
}

fn to(dst: Ipv4Addr, src: &str) -> TraceRequest {
    TraceRequest {
        src: src.parse().unwrap(),
        sport: 40000,
        dst,
        dport: 80,
        proto: 6,
        local_ips: vec!["192.168.0.11".parse().unwrap()],
    }
}

#[test]
fn every_endpoint_is_an_outcome_in_rule_order() {
    let mut nf = load(&kube_proxy_like(50, 4));
    let branches = trace_new_connection(&mut nf, &to(cluster_ip(17), "10.244.3.3"));
    let dests: Vec<String> = branches.iter().map(|b| b.destination.to_string()).collect();
    let want: Vec<String> = (0..4)
        .map(|j| format!("{}:8080", endpoint_ip(17, j, 4)))
        .collect();
    assert_eq!(dests, want);
    for b in &branches {
        assert_eq!(b.verdict, BranchVerdict::Accept);
        assert!(!b.masquerade, "pod sources are not masqueraded");
        assert!(!b.local);
        // The walk shows the statistic rules that were passed over and the one taken.
        assert!(
            b.walk
                .iter()
                .any(|s| s.matched && s.action.starts_with("jump KUBE-SEP-"))
        );
    }
    assert!(
        branches[1]
            .walk
            .iter()
            .any(|s| !s.matched && s.text.contains("--probability 0.25000000000"))
    );
}

#[test]
fn off_cluster_sources_are_masqueraded() {
    let mut nf = load(&kube_proxy_like(5, 1));
    let branches = trace_new_connection(&mut nf, &to(cluster_ip(2), "192.168.0.50"));
    assert_eq!(branches.len(), 1);
    assert!(branches[0].masquerade);
    assert_eq!(
        branches[0]
            .events
            .iter()
            .filter(|e| e.contains("SNAT"))
            .count(),
        1,
        "{:?}",
        branches[0].events
    );
}

#[test]
fn unknown_destinations_pass_untouched_and_rejects_are_reported() {
    let mut nf = load(&kube_proxy_like(3, 2));
    let other: Ipv4Addr = "10.96.200.200".parse().unwrap();
    let b = trace_new_connection(&mut nf, &to(other, "10.244.1.1"));
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].destination.to_string(), "10.96.200.200:80");
    assert_eq!(b[0].verdict, BranchVerdict::Accept);
    // kube-proxy's partial sync style: one rule inserted with --noflush.
    nf.restore(
        "*filter\n-I FORWARD -d 10.96.200.200/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n",
        RestoreOptions { noflush: true, counters: false },
    )
    .unwrap();
    let b = trace_new_connection(&mut nf, &to(other, "10.244.1.1"));
    assert_eq!(b[0].verdict, BranchVerdict::Reject);
    let last = b[0].walk.last().unwrap();
    assert_eq!(last.action, "REJECT icmp-port-unreachable", "{last:?}");
    assert_eq!((last.chain.as_str(), last.rule), ("FORWARD", Some(1)));
}

#[test]
fn the_indexed_and_the_plain_evaluator_walk_alike() {
    let text = kube_proxy_like(300, 3);
    for svc in [0, 150, 299] {
        let mut fast = load(&text);
        let mut slow = load(&text);
        slow.set_linear(true);
        let req = to(cluster_ip(svc), "10.244.9.9");
        assert_eq!(
            trace_new_connection(&mut fast, &req),
            trace_new_connection(&mut slow, &req)
        );
    }
}
