//! Resolver tests: the `ndots:5` search expansion of a ClusterFirst pod (names with 0–5 dots,
//! trailing dot) driven against the real server, attempts × nameservers with glibc's waits,
//! rotate, TC → TCP, SERVFAIL failover, `/etc/hosts` first.

use std::collections::BTreeMap;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sim_core::SimTime;

use super::*;
use crate::dns::corefile::KUBEADM_COREFILE;
use crate::dns::forward::StaticUpstream;
use crate::dns::kubernetes::tests::spec_view;
use crate::dns::server::{DnsServer, Outcome};

/// What kubelet writes for a ClusterFirst pod in `default`.
const POD_RESOLV_CONF: &str = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

fn cluster_dns() -> DnsServer {
    let files = BTreeMap::from([(
        "/etc/resolv.conf".to_owned(),
        "nameserver 192.168.0.2\n".to_owned(),
    )]);
    let mut s = DnsServer::from_corefile(KUBEADM_COREFILE, 53, &files).unwrap();
    let mut table = StaticUpstream::default();
    table.add(Record::from_rdata(
        Name::from_ascii("www.example.com.").unwrap(),
        300,
        RData::A(A("93.184.216.34".parse().unwrap())),
    ));
    s.set_static_upstream(table);
    s
}

/// Runs a lookup against the cluster DNS server; returns the result and the names asked.
fn run(name: &str) -> (LookupResult, Vec<String>) {
    let conf = ResolverConf::parse(POD_RESOLV_CONF);
    let mut server = cluster_dns();
    let view = spec_view();
    let (mut lookup, mut step) = Lookup::start(&conf, "", name, RecordType::A, 100, 0);
    loop {
        match step {
            Step::Done(result) => {
                let names = lookup.sent().iter().map(|q| q.name.to_string()).collect();
                return (result, names);
            }
            Step::Send(q) => {
                let Outcome::Reply(bytes) =
                    server.handle(SimTime::ZERO, &view, q.transport, &q.message)
                else {
                    panic!("the static upstream answers synchronously")
                };
                step = lookup.on_reply(&bytes);
            }
        }
    }
}

fn answered(result: &LookupResult) -> String {
    match result {
        LookupResult::Answer { name, reply } => format!("{name} {}", reply.answers.last().unwrap()),
        other => format!("{other:?}"),
    }
}

#[test]
fn ndots_5_fan_out() {
    // 0 dots: the search list first; found on the first try.
    let (r, names) = run("kubernetes");
    assert_eq!(names, ["kubernetes.default.svc.cluster.local."]);
    assert!(answered(&r).ends_with("IN A 10.3.0.1"));
    // 1 dot (< 5): `kubernetes.default` + each domain; the second is the Service.
    let (r, names) = run("kubernetes.default");
    assert_eq!(
        names,
        [
            "kubernetes.default.default.svc.cluster.local.",
            "kubernetes.default.svc.cluster.local."
        ]
    );
    assert!(matches!(r, LookupResult::Answer { .. }));
    // 2 dots, an outside name: three NXDOMAINs from the cluster zone, then as is.
    let (r, names) = run("www.example.com");
    assert_eq!(
        names,
        [
            "www.example.com.default.svc.cluster.local.",
            "www.example.com.svc.cluster.local.",
            "www.example.com.cluster.local.",
            "www.example.com.",
        ]
    );
    assert_eq!(
        answered(&r),
        "www.example.com. www.example.com. 300 IN A 93.184.216.34"
    );
    // 4 dots: still below ndots — search first (and the pod zone is in-cluster NXDOMAIN).
    let (_, names) = run("a.b.c.d.e");
    assert_eq!(names.len(), 4);
    assert_eq!(names[3], "a.b.c.d.e.");
    // 5 dots: as is first, then the search list.
    let (r, names) = run("a.b.c.d.e.f");
    assert_eq!(names[0], "a.b.c.d.e.f.");
    assert_eq!(names.len(), 4);
    assert_eq!(r, LookupResult::Failed(ResolveError::HostNotFound));
    // The full cluster name has 4 dots: it too is searched first (the famous waste).
    let (_, names) = run("kubernetes.default.svc.cluster.local");
    assert_eq!(
        names[0],
        "kubernetes.default.svc.cluster.local.default.svc.cluster.local."
    );
    assert_eq!(names.len(), 4);
    // A trailing dot: exactly one query.
    let (r, names) = run("kubernetes.default.svc.cluster.local.");
    assert_eq!(names, ["kubernetes.default.svc.cluster.local."]);
    assert!(matches!(r, LookupResult::Answer { .. }));
}

#[test]
fn nodata_is_remembered_over_nxdomain() {
    // AAAA for a v4-only Service: NODATA at the search name that exists, NXDOMAIN elsewhere.
    let conf = ResolverConf::parse(POD_RESOLV_CONF);
    let mut server = cluster_dns();
    let view = spec_view();
    let (mut l, mut step) = Lookup::start(&conf, "", "kubernetes", RecordType::AAAA, 1, 0);
    while let Step::Send(q) = &step {
        let Outcome::Reply(b) = server.handle(SimTime::ZERO, &view, q.transport, &q.message) else {
            panic!()
        };
        step = l.on_reply(&b);
    }
    assert_eq!(step, Step::Done(LookupResult::Failed(ResolveError::NoData)));
    assert_eq!(l.sent().len(), 4);
}

fn reply_to(q: &SentQuery, rcode: ResponseCode, tc: bool) -> Vec<u8> {
    let mut m = Message::new(q.id, MessageType::Response, OpCode::Query);
    m.metadata.response_code = rcode;
    m.metadata.truncation = tc;
    m.queries
        .push(hickory_proto::op::Query::query(q.name.clone(), q.qtype));
    if rcode == ResponseCode::NoError && !tc {
        m.answers.push(Record::from_rdata(
            q.name.clone(),
            5,
            RData::A(A("10.0.0.1".parse().unwrap())),
        ));
    }
    m.to_vec().unwrap()
}

fn sent_line(q: &SentQuery) -> String {
    let t = match q.transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    format!("{} {} {t} {}", q.name, q.server, q.timeout)
}

#[test]
fn attempts_nameservers_and_timeouts() {
    let conf = ResolverConf::parse(
        "nameserver 10.0.0.1\nnameserver 10.0.0.2\nsearch ns.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n",
    );
    let (mut l, mut step) = Lookup::start(&conf, "", "web", RecordType::A, 1, 0);
    while let Step::Send(_) = step {
        step = l.on_timeout();
    }
    // Timeouts end the search after the first name (glibc: done), TRY_AGAIN.
    assert_eq!(
        step,
        Step::Done(LookupResult::Failed(ResolveError::TryAgain))
    );
    let lines: Vec<String> = l.sent().iter().map(sent_line).collect();
    assert_eq!(
        lines,
        [
            "web.ns.svc.cluster.local. 10.0.0.1:53 udp 2.000s",
            "web.ns.svc.cluster.local. 10.0.0.2:53 udp 2.000s",
            "web.ns.svc.cluster.local. 10.0.0.1:53 udp 5.000s",
            "web.ns.svc.cluster.local. 10.0.0.2:53 udp 5.000s",
        ]
    );
}

#[test]
fn servfail_failover_truncation_and_rotate() {
    let conf = ResolverConf::parse(
        "nameserver 10.0.0.1\nnameserver 10.0.0.2\nsearch a.example b.example\noptions rotate\n",
    );
    // rotate with the process counter at 1: this res_send starts at the second server.
    let (mut l, step) = Lookup::start(&conf, "", "web", RecordType::A, 1, 1);
    let Step::Send(q1) = step else { panic!() };
    assert_eq!(q1.server, "10.0.0.2:53".parse().unwrap());
    // SERVFAIL → the other server; TC → the same server over TCP; then an answer.
    let Step::Send(q2) = l.on_reply(&reply_to(&q1, ResponseCode::ServFail, false)) else {
        panic!()
    };
    assert_eq!(
        (q2.server, q2.transport),
        ("10.0.0.1:53".parse().unwrap(), Transport::Udp)
    );
    let Step::Send(q3) = l.on_reply(&reply_to(&q2, ResponseCode::NoError, true)) else {
        panic!()
    };
    assert_eq!(
        (q3.server, q3.transport),
        ("10.0.0.1:53".parse().unwrap(), Transport::Tcp)
    );
    assert!(matches!(
        l.on_reply(&reply_to(&q3, ResponseCode::NoError, false)),
        Step::Done(LookupResult::Answer { .. })
    ));
    assert_eq!(l.rotate_next(), 2);

    // Every server SERVFAIL for a search name: go on with the next one.
    let conf = ResolverConf::parse(
        "nameserver 10.0.0.1\nsearch a.example b.example\noptions attempts:1\n",
    );
    let (mut l, mut step) = Lookup::start(&conf, "", "web", RecordType::A, 1, 0);
    while let Step::Send(q) = &step {
        step = l.on_reply(&reply_to(q, ResponseCode::ServFail, false));
    }
    assert_eq!(
        step,
        Step::Done(LookupResult::Failed(ResolveError::TryAgain))
    );
    let names: Vec<String> = l.sent().iter().map(|q| q.name.to_string()).collect();
    assert_eq!(names, ["web.a.example.", "web.b.example.", "web."]);
    // A reply with the wrong id counts as no reply.
    let (mut l, step) = Lookup::start(&conf, "", "web.", RecordType::A, 1, 0);
    let Step::Send(mut q) = step else { panic!() };
    q.id = 999;
    assert_eq!(
        l.on_reply(&reply_to(&q, ResponseCode::NoError, false)),
        Step::Done(LookupResult::Failed(ResolveError::TryAgain))
    );
}

#[test]
fn etc_hosts_first() {
    let conf = ResolverConf::parse(POD_RESOLV_CONF);
    // As kubelet writes it, with a hostAliases entry.
    let hosts = "127.0.0.1\tlocalhost\n10.244.1.5\tclient\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n";
    let (l, step) = Lookup::start(&conf, hosts, "bar.local", RecordType::A, 1, 0);
    assert_eq!(
        step,
        Step::Done(LookupResult::Hosts(vec!["10.1.2.3".parse().unwrap()]))
    );
    assert!(l.sent().is_empty());
    let (_, step) = Lookup::start(&conf, hosts, "bar.local", RecordType::AAAA, 1, 0);
    assert!(matches!(step, Step::Send(_)));
}

/// `res_search`'s order for 1–5 dots under `ndots:5` with the brief's search list: below 5
/// dots the three domains come first and the name as is last; at 5 it is asked first.
#[test]
fn search_order_by_dots() {
    let conf = ResolverConf::parse(
        "search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
    );
    let names = ["a.b", "a.b.c", "a.b.c.d", "a.b.c.d.e", "a.b.c.d.e.f"];
    for (dots, name) in (1..=5).zip(names) {
        let got: Vec<String> = search_candidates(&conf, name)
            .iter()
            .map(|n| n.to_string())
            .collect();
        let searched: Vec<String> = ["ns.svc.cluster.local", "svc.cluster.local", "cluster.local"]
            .iter()
            .map(|d| format!("{name}.{d}."))
            .collect();
        let as_is = format!("{name}.");
        let want: Vec<String> = if dots >= 5 {
            std::iter::once(as_is).chain(searched).collect()
        } else {
            searched.into_iter().chain(std::iter::once(as_is)).collect()
        };
        assert_eq!(got, want, "{dots} dots");
    }
    assert_eq!(search_candidates(&conf, "a.b.").len(), 1);
    assert!(search_candidates(&conf, "").is_empty());
}
