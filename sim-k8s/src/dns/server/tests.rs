//! Server tests: the kubeadm Corefile end to end on the wire, forward with resume and
//! timeouts, FORMERR/drop, truncation, cache staleness, rewrite, REFUSED, log lines.

use std::collections::BTreeMap;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sim_core::SimTime;

use super::*;
use crate::dns::corefile::KUBEADM_COREFILE;
use crate::dns::kubernetes::tests::spec_view;
use crate::dns::view::{EndpointView, ServiceKind};

fn files() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "/etc/resolv.conf".to_owned(),
        "nameserver 192.168.0.2\nnameserver 192.168.0.3\n".to_owned(),
    )])
}

fn query(name: &str, qtype: RecordType, edns_size: Option<u16>) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 4242;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns_size {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

fn reply_of(outcome: Outcome) -> Message {
    match outcome {
        Outcome::Reply(bytes) => Message::from_vec(&bytes).expect("every reply parses back"),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn at(s: u64) -> SimTime {
    SimTime::from_nanos(s * 1_000_000_000)
}

fn kubeadm() -> DnsServer {
    DnsServer::from_corefile(KUBEADM_COREFILE, 53, &files()).unwrap()
}

#[test]
fn kubeadm_corefile_answers_on_the_wire() {
    let mut s = kubeadm();
    let view = spec_view();
    let m = reply_of(s.handle(
        at(1),
        &view,
        Transport::Udp,
        &query(
            "kubernetes.default.svc.cluster.local.",
            RecordType::A,
            Some(1232),
        ),
    ));
    assert_eq!(m.metadata.id, 4242);
    assert!(m.metadata.authoritative && m.metadata.recursion_desired);
    assert_eq!(
        m.queries[0].name.to_string(),
        "kubernetes.default.svc.cluster.local."
    );
    // kubeadm's Corefile sets `ttl 30`.
    assert_eq!(
        m.answers[0].to_string(),
        "kubernetes.default.svc.cluster.local. 30 IN A 10.3.0.1"
    );
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232);
    // Unknown PTR falls through to forward (fallthrough in-addr.arpa ip6.arpa).
    let out = s.handle(
        at(1),
        &view,
        Transport::Udp,
        &query("7.7.168.192.in-addr.arpa.", RecordType::PTR, None),
    );
    assert!(
        matches!(out, Outcome::Forward(ref f) if f.upstream == "192.168.0.2:53".parse().unwrap())
    );
    // Unknown service: NXDOMAIN with SOA, not forwarded.
    let m = reply_of(s.handle(
        at(1),
        &view,
        Transport::Udp,
        &query("nope.default.svc.cluster.local.", RecordType::A, None),
    ));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities.len(), 1);
    assert!(m.edns.is_none(), "no OPT when the query had none");
}

#[test]
fn forward_resume_and_timeouts() {
    let mut s = kubeadm();
    let view = spec_view();
    let Outcome::Forward(f) = s.handle(
        at(1),
        &view,
        Transport::Udp,
        &query("www.example.com.", RecordType::A, None),
    ) else {
        panic!()
    };
    assert_eq!(s.pending_count(), 1);
    let sent = Message::from_vec(&f.query).unwrap();
    assert_eq!(sent.queries[0].name.to_string(), "www.example.com.");
    let mut upstream = Message::response(sent.metadata.id, hickory_proto::op::OpCode::Query);
    upstream.metadata.recursion_available = true;
    upstream.queries = sent.queries.clone();
    upstream.answers.push(Record::from_rdata(
        Name::from_ascii("www.example.com.").unwrap(),
        300,
        RData::A(A("192.0.2.53".parse().unwrap())),
    ));
    let m = reply_of(
        s.resume(at(2), f.token, Some(&upstream.to_vec().unwrap()))
            .unwrap(),
    );
    assert_eq!(
        m.answers[0].to_string(),
        "www.example.com. 300 IN A 192.0.2.53"
    );
    assert!(m.metadata.recursion_available && !m.metadata.authoritative);
    assert_eq!(s.pending_count(), 0);
    assert!(
        s.resume(at(2), f.token, None).is_none(),
        "a token is used once"
    );

    // ExternalName: the CNAME target is chased through the server itself — here answered by
    // the cache from the forward above (`cache 30` caps the 300 s TTL; 1 s has passed) — and
    // the answer is CNAME + A (spec §2.5).
    let m = reply_of(s.handle(
        at(3),
        &view,
        Transport::Udp,
        &query("foo.default.svc.cluster.local.", RecordType::A, None),
    ));
    let lines: Vec<String> = m.answers.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        lines,
        [
            "foo.default.svc.cluster.local. 30 IN CNAME www.example.com.",
            "www.example.com. 29 IN A 192.0.2.53"
        ]
    );
    // A target not cached goes upstream, and the CNAME waits for it.
    let Outcome::Forward(f) = s.handle(
        at(3),
        &view,
        Transport::Udp,
        &query("foo.default.svc.cluster.local.", RecordType::AAAA, None),
    ) else {
        panic!()
    };
    let sent = Message::from_vec(&f.query).unwrap();
    assert_eq!(sent.queries[0].name.to_string(), "www.example.com.");
    let mut upstream6 = Message::response(sent.metadata.id, hickory_proto::op::OpCode::Query);
    upstream6.queries = sent.queries.clone();
    let m = reply_of(
        s.resume(at(3), f.token, Some(&upstream6.to_vec().unwrap()))
            .unwrap(),
    );
    let lines: Vec<String> = m.answers.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        lines,
        ["foo.default.svc.cluster.local. 30 IN CNAME www.example.com."]
    );

    // Timeouts: the second upstream, then SERVFAIL and an errors line.
    let Outcome::Forward(f1) = s.handle(
        at(4),
        &view,
        Transport::Udp,
        &query("x.example.", RecordType::A, None),
    ) else {
        panic!()
    };
    let Some(Outcome::Forward(f2)) = s.resume(at(6), f1.token, None) else {
        panic!()
    };
    assert_eq!(f2.upstream, "192.168.0.3:53".parse().unwrap());
    let m = reply_of(s.resume(at(8), f2.token, None).unwrap());
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        s.log().last().unwrap().line,
        "[ERROR] plugin/errors: 2 x.example. A: read udp 192.168.0.3:53: i/o timeout"
    );
}

#[test]
fn malformed_input() {
    let mut s = kubeadm();
    let view = spec_view();
    assert_eq!(
        s.handle(at(0), &view, Transport::Udp, &[1, 2, 3]),
        Outcome::Drop(DropReason::NoHeader)
    );
    let mut q = query("kubernetes.default.svc.cluster.local.", RecordType::A, None);
    q.truncate(20);
    let Outcome::Reply(bytes) = s.handle(at(0), &view, Transport::Udp, &q) else {
        panic!()
    };
    assert_eq!(bytes.len(), 12);
    let m = Message::from_vec(&bytes).unwrap();
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (4242, ResponseCode::FormErr)
    );
    assert!(m.metadata.recursion_desired);
    let mut response = query("a.", RecordType::A, None);
    response[2] |= 0x80;
    assert_eq!(
        s.handle(at(0), &view, Transport::Udp, &response),
        Outcome::Drop(DropReason::NotAQuery)
    );
    // Not in any server block's zones.
    let mut only_cluster =
        DnsServer::from_corefile("cluster.local {\n kubernetes\n}", 53, &files()).unwrap();
    let m = reply_of(only_cluster.handle(
        at(0),
        &view,
        Transport::Udp,
        &query("example.com.", RecordType::A, None),
    ));
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn udp_truncation_and_edns_size() {
    let mut view = spec_view();
    let svc = view
        .services
        .get_mut(&("default".into(), "headless".into()))
        .unwrap();
    assert_eq!(svc.kind, ServiceKind::Headless);
    svc.endpoints = (1..=60u8)
        .map(|i| EndpointView {
            addresses: vec![format!("10.4.0.{i}").parse().unwrap()],
            hostname: None,
            pod_name: None,
            ready: true,
            ports: Vec::new(),
        })
        .collect();
    let mut s = kubeadm();
    let name = "headless.default.svc.cluster.local.";
    let bytes = |o| match o {
        Outcome::Reply(b) => b,
        other => panic!("{other:?}"),
    };
    let udp = bytes(s.handle(
        at(0),
        &view,
        Transport::Udp,
        &query(name, RecordType::A, None),
    ));
    let m = Message::from_vec(&udp).unwrap();
    assert!(udp.len() <= 512 && m.metadata.truncation);
    assert!(m.answers.len() < 60);
    let big = bytes(s.handle(
        at(0),
        &view,
        Transport::Udp,
        &query(name, RecordType::A, Some(4096)),
    ));
    let m = Message::from_vec(&big).unwrap();
    assert!(
        !m.metadata.truncation && m.answers.len() == 60,
        "{}",
        big.len()
    );
    let tcp = bytes(s.handle(
        at(0),
        &view,
        Transport::Tcp,
        &query(name, RecordType::A, None),
    ));
    let m = Message::from_vec(&tcp).unwrap();
    assert!(!m.metadata.truncation && m.answers.len() == 60);
}

/// With `cache 30` and no `disable`, an answer outlives a Service change for its TTL.
#[test]
fn cache_serves_stale_answers_until_expiry() {
    let corefile = ".:53 {\n  log\n  cache 30\n  kubernetes cluster.local {\n    ttl 10\n  }\n}\n";
    let mut s = DnsServer::from_corefile(corefile, 53, &BTreeMap::new()).unwrap();
    let mut view = spec_view();
    let name = "kubernetes.default.svc.cluster.local.";
    let ask = |s: &mut DnsServer, t, view: &DnsView| {
        reply_of(s.handle(
            at(t),
            view,
            Transport::Udp,
            &query(name, RecordType::A, None),
        ))
        .answers[0]
            .to_string()
    };
    assert_eq!(ask(&mut s, 100, &view), format!("{name} 10 IN A 10.3.0.1"));
    let svc = view
        .services
        .get_mut(&("default".into(), "kubernetes".into()))
        .unwrap();
    svc.kind = ServiceKind::ClusterIp(vec!["10.3.0.99".parse().unwrap()]);
    assert_eq!(
        ask(&mut s, 104, &view),
        format!("{name} 6 IN A 10.3.0.1"),
        "stale, from the cache"
    );
    assert_eq!(
        ask(&mut s, 110, &view),
        format!("{name} 10 IN A 10.3.0.99"),
        "expired: fresh"
    );
    assert_eq!(
        s.log()[0].line,
        format!("[INFO] 4242 \"A IN {name} udp 54 false 512\" NOERROR qr,aa,rd 70 0s")
    );
}

#[test]
fn rewrite_then_kubernetes_and_static_upstream() {
    let corefile = ".:53 {\n  rewrite name db.corp.example. kubernetes.default.svc.cluster.local.\n  kubernetes cluster.local\n  forward . 8.8.8.8\n}\n";
    let mut s = DnsServer::from_corefile(corefile, 53, &BTreeMap::new()).unwrap();
    let view = spec_view();
    let m = reply_of(s.handle(
        at(0),
        &view,
        Transport::Udp,
        &query("DB.corp.example.", RecordType::A, None),
    ));
    assert_eq!(
        m.queries[0].name.to_string(),
        "DB.corp.example.",
        "question restored"
    );
    assert_eq!(m.answers[0].to_string(), "db.corp.example. 5 IN A 10.3.0.1");
    let mut table = StaticUpstream::default();
    table.add(Record::from_rdata(
        Name::from_ascii("example.org.").unwrap(),
        60,
        RData::A(A("192.0.2.1".parse().unwrap())),
    ));
    s.set_static_upstream(table);
    let m = reply_of(s.handle(
        at(0),
        &view,
        Transport::Udp,
        &query("Example.org.", RecordType::A, None),
    ));
    assert_eq!(m.answers[0].to_string(), "Example.org. 60 IN A 192.0.2.1");
    let m = reply_of(s.handle(
        at(0),
        &view,
        Transport::Udp,
        &query("nope.org.", RecordType::A, None),
    ));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}
