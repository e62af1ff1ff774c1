//! Record tests per section of the Kubernetes DNS specification (kubernetes/dns
//! `docs/specification.md`) and CoreDNS's `plugin/kubernetes` behaviour (handler_test.go,
//! README). Expected answers are written as `dig` prints records.

use std::collections::BTreeSet;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use super::*;
use crate::dns::view::{EndpointView, PodView, PortView, ServiceKind, ServiceView};

fn port(name: &str, protocol: &str, port: u16) -> PortView {
    PortView {
        name: name.into(),
        protocol: protocol.into(),
        port,
    }
}

fn endpoint(ip: &str, hostname: Option<&str>, pod: Option<&str>, ready: bool) -> EndpointView {
    EndpointView {
        addresses: vec![ip.parse().unwrap()],
        hostname: hostname.map(str::to_owned),
        pod_name: pod.map(str::to_owned),
        ready,
        ports: vec![port("https", "TCP", 443)],
    }
}

fn service(ns: &str, name: &str, kind: ServiceKind, endpoints: Vec<EndpointView>) -> ServiceView {
    ServiceView {
        namespace: ns.into(),
        name: name.into(),
        kind,
        ports: vec![port("https", "TCP", 443), port("", "UDP", 53)],
        endpoints,
    }
}

/// The spec's example cluster: `kubernetes` (10.3.0.1), `headless` with three ready
/// endpoints plus `my-pet` (10.3.0.100), an ExternalName `foo`, a pod.
pub(crate) fn spec_view() -> DnsView {
    let mut view = DnsView {
        serial: 42,
        ..DnsView::default()
    };
    for ns in ["default", "kube-system", "other"] {
        view.namespaces.insert(ns.into());
    }
    let svcs = [
        service(
            "default",
            "kubernetes",
            ServiceKind::ClusterIp(vec!["10.3.0.1".parse().unwrap()]),
            vec![endpoint("192.168.0.10", None, None, true)],
        ),
        service(
            "default",
            "headless",
            ServiceKind::Headless,
            vec![
                endpoint("10.3.0.1", None, None, true),
                endpoint("10.3.0.2", None, Some("web-1"), true),
                endpoint("10.3.0.3", None, None, true),
                endpoint("10.3.0.100", Some("my-pet"), None, true),
                endpoint("10.3.0.9", Some("sick"), None, false),
            ],
        ),
        service("default", "empty", ServiceKind::Headless, vec![]),
        service(
            "default",
            "foo",
            ServiceKind::ExternalName("www.example.com".into()),
            vec![],
        ),
        service(
            "default",
            "alias",
            ServiceKind::ExternalName("kubernetes.default.svc.cluster.local".into()),
            vec![],
        ),
        service(
            "other",
            "svc",
            ServiceKind::ClusterIp(vec!["10.3.0.50".parse().unwrap()]),
            vec![],
        ),
    ];
    for s in svcs {
        view.services
            .insert((s.namespace.clone(), s.name.clone()), s);
    }
    view.pods.push(PodView {
        namespace: "default".into(),
        name: "client".into(),
        ips: vec!["10.244.1.5".parse().unwrap()],
    });
    view
}

pub(crate) fn cluster_local() -> KubernetesConfig {
    let zones = ["cluster.local.", "in-addr.arpa.", "ip6.arpa."];
    KubernetesConfig::new(zones.iter().map(|z| Name::from_ascii(z).unwrap()).collect())
}

/// The reply, with its records as `dig` lines.
struct Answer {
    rcode: ResponseCode,
    answer: Vec<String>,
    authority: Vec<String>,
    additional: Vec<String>,
}

fn ask(config: &KubernetesConfig, view: &DnsView, name: &str, qtype: RecordType) -> Answer {
    let qname = Name::from_ascii(name).unwrap();
    let reply = match config.serve(view, &qname, qtype) {
        KubernetesOutcome::Reply(r) => r,
        KubernetesOutcome::Chase { reply, .. } => reply,
        other => panic!("{name} {qtype}: {other:?}"),
    };
    let lines = |rs: &Vec<hickory_proto::rr::Record>| rs.iter().map(|r| r.to_string()).collect();
    Answer {
        rcode: reply.rcode,
        answer: lines(&reply.answers),
        authority: lines(&reply.authorities),
        additional: lines(&reply.additionals),
    }
}

fn answers(name: &str, qtype: RecordType) -> Vec<String> {
    let a = ask(&cluster_local(), &spec_view(), name, qtype);
    assert_eq!(a.rcode, ResponseCode::NoError, "{name} {qtype}");
    a.answer
}

fn rcode(name: &str, qtype: RecordType) -> (ResponseCode, usize) {
    let a = ask(&cluster_local(), &spec_view(), name, qtype);
    (a.rcode, a.answer.len())
}

const NXDOMAIN: (ResponseCode, usize) = (ResponseCode::NXDomain, 0);
const NODATA: (ResponseCode, usize) = (ResponseCode::NoError, 0);

/// §2.2: `dns-version.cluster.local. IN TXT`; CoreDNS answers "1.1.0" with TTL 28800.
#[test]
fn schema_version_txt() {
    assert_eq!(
        answers("dns-version.cluster.local.", RecordType::TXT),
        ["dns-version.cluster.local. 28800 IN TXT 1.1.0"]
    );
}

/// §2.3.1: `kubernetes.default.svc.cluster.local. IN A` → the ClusterIP, TTL 5 (CoreDNS).
#[test]
fn cluster_ip_a() {
    assert_eq!(
        answers("kubernetes.default.svc.cluster.local.", RecordType::A),
        ["kubernetes.default.svc.cluster.local. 5 IN A 10.3.0.1"]
    );
}

/// §2.3.2: `_https._tcp.kubernetes...` SRV; CoreDNS: priority 0, weight 100, the Service A
/// record in additional. The unnamed UDP port has no SRV record (NXDOMAIN in CoreDNS, since
/// no port matches); the wrong protocol neither.
#[test]
fn cluster_ip_srv() {
    let a = ask(
        &cluster_local(),
        &spec_view(),
        "_https._tcp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        a.answer,
        [
            "_https._tcp.kubernetes.default.svc.cluster.local. 5 IN SRV 0 100 443 kubernetes.default.svc.cluster.local."
        ]
    );
    assert_eq!(
        a.additional,
        ["kubernetes.default.svc.cluster.local. 5 IN A 10.3.0.1"]
    );
    assert_eq!(
        rcode(
            "_https._udp.kubernetes.default.svc.cluster.local.",
            RecordType::SRV
        ),
        NXDOMAIN
    );
    // Without the port labels an SRV query lists every port, the unnamed one too (CoreDNS).
    let all = answers("kubernetes.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[1].ends_with("IN SRV 0 50 53 kubernetes.default.svc.cluster.local."));
}

/// §2.3.3: `1.0.3.10.in-addr.arpa. IN PTR` → the Service name.
#[test]
fn cluster_ip_ptr() {
    assert_eq!(
        answers("1.0.3.10.in-addr.arpa.", RecordType::PTR),
        ["1.0.3.10.in-addr.arpa. 5 IN PTR kubernetes.default.svc.cluster.local."]
    );
}

/// §2.4.1: headless A — one record per *ready* endpoint (10.3.0.9 is not ready).
#[test]
fn headless_a() {
    assert_eq!(
        answers("headless.default.svc.cluster.local.", RecordType::A),
        [
            "headless.default.svc.cluster.local. 5 IN A 10.3.0.1",
            "headless.default.svc.cluster.local. 5 IN A 10.3.0.2",
            "headless.default.svc.cluster.local. 5 IN A 10.3.0.3",
            "headless.default.svc.cluster.local. 5 IN A 10.3.0.100",
        ]
    );
    // §2.4.1: "If there are no ready endpoints for the headless Service, the answer should
    // be NXDOMAIN."
    assert_eq!(
        rcode("empty.default.svc.cluster.local.", RecordType::A),
        NXDOMAIN
    );
}

/// §2.4.1: per-endpoint A by hostname; CoreDNS's generated label from the IP for endpoints
/// without one; a not-ready endpoint has no name.
#[test]
fn headless_endpoint_a() {
    assert_eq!(
        answers("my-pet.headless.default.svc.cluster.local.", RecordType::A),
        ["my-pet.headless.default.svc.cluster.local. 5 IN A 10.3.0.100"]
    );
    assert_eq!(
        answers(
            "10-3-0-2.headless.default.svc.cluster.local.",
            RecordType::A
        ),
        ["10-3-0-2.headless.default.svc.cluster.local. 5 IN A 10.3.0.2"]
    );
    assert_eq!(
        rcode("sick.headless.default.svc.cluster.local.", RecordType::A),
        NXDOMAIN
    );
    // CoreDNS answers endpoint names of ClusterIP Services too.
    assert_eq!(
        answers(
            "192-168-0-10.kubernetes.default.svc.cluster.local.",
            RecordType::A
        ),
        ["192-168-0-10.kubernetes.default.svc.cluster.local. 5 IN A 192.168.0.10"]
    );
}

/// CoreDNS README `endpoint_pod_names`: the pod name replaces the IP label.
#[test]
fn endpoint_pod_names() {
    let mut config = cluster_local();
    config.endpoint_pod_names = true;
    let a = ask(
        &config,
        &spec_view(),
        "web-1.headless.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        a.answer,
        ["web-1.headless.default.svc.cluster.local. 5 IN A 10.3.0.2"]
    );
    let a = ask(
        &config,
        &spec_view(),
        "10-3-0-2.headless.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(a.rcode, ResponseCode::NXDomain);
}

/// §2.4.2: headless SRV, one per ready endpoint and named port, target the endpoint name;
/// CoreDNS weight ⌊100/4⌋ = 25 and the targets' A records in additional.
#[test]
fn headless_srv() {
    let a = ask(
        &cluster_local(),
        &spec_view(),
        "_https._tcp.headless.default.svc.cluster.local.",
        RecordType::SRV,
    );
    let owner = "_https._tcp.headless.default.svc.cluster.local. 5 IN SRV 0 25 443";
    assert_eq!(
        a.answer,
        [
            format!("{owner} 10-3-0-1.headless.default.svc.cluster.local."),
            format!("{owner} 10-3-0-2.headless.default.svc.cluster.local."),
            format!("{owner} 10-3-0-3.headless.default.svc.cluster.local."),
            format!("{owner} my-pet.headless.default.svc.cluster.local."),
        ]
    );
    assert_eq!(
        a.additional[3],
        "my-pet.headless.default.svc.cluster.local. 5 IN A 10.3.0.100"
    );
}

/// §2.4.3: endpoint PTR names the endpoint's hostname under its Service.
#[test]
fn headless_ptr() {
    assert_eq!(
        answers("100.0.3.10.in-addr.arpa.", RecordType::PTR),
        ["100.0.3.10.in-addr.arpa. 14 IN PTR my-pet.headless.default.svc.cluster.local."]
            .map(|s| s.replace(" 14 ", " 5 "))
    );
    // Not-ready endpoint and unknown IP: NXDOMAIN with the SOA of the reverse zone.
    let a = ask(
        &cluster_local(),
        &spec_view(),
        "9.0.3.10.in-addr.arpa.",
        RecordType::PTR,
    );
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    assert_eq!(
        a.authority,
        [
            "in-addr.arpa. 5 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. 42 7200 1800 86400 5"
        ]
    );
}

/// §2.5: ExternalName → CNAME; outside the zone the server chases the target.
#[test]
fn external_name() {
    let config = cluster_local();
    let view = spec_view();
    let qname = Name::from_ascii("foo.default.svc.cluster.local.").unwrap();
    match config.serve(&view, &qname, RecordType::A) {
        KubernetesOutcome::Chase { reply, target } => {
            assert_eq!(target.to_string(), "www.example.com.");
            assert_eq!(
                reply.answers[0].to_string(),
                "foo.default.svc.cluster.local. 5 IN CNAME www.example.com."
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        answers("foo.default.svc.cluster.local.", RecordType::CNAME),
        ["foo.default.svc.cluster.local. 5 IN CNAME www.example.com."]
    );
    // Inside the zone CoreDNS follows the CNAME itself.
    assert_eq!(
        answers("alias.default.svc.cluster.local.", RecordType::A),
        [
            "alias.default.svc.cluster.local. 5 IN CNAME kubernetes.default.svc.cluster.local.",
            "kubernetes.default.svc.cluster.local. 5 IN A 10.3.0.1",
        ]
    );
}

/// §2.6 and CoreDNS `pods`: disabled by default (NXDOMAIN), insecure answers any IP label,
/// verified only existing pods in that namespace.
#[test]
fn pod_records() {
    let name = "10-244-1-5.default.pod.cluster.local.";
    assert_eq!(rcode(name, RecordType::A), NXDOMAIN);
    let mut config = cluster_local();
    config.pods = PodMode::Insecure;
    let a = ask(
        &config,
        &spec_view(),
        "1-2-3-4.default.pod.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        a.answer,
        ["1-2-3-4.default.pod.cluster.local. 5 IN A 1.2.3.4"]
    );
    assert_eq!(
        ask(
            &config,
            &spec_view(),
            "1-2-3-4.nosuchns.pod.cluster.local.",
            RecordType::A
        )
        .rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(
            &config,
            &spec_view(),
            "not-an-ip.default.pod.cluster.local.",
            RecordType::A
        )
        .rcode,
        ResponseCode::NXDomain
    );
    config.pods = PodMode::Verified;
    assert_eq!(
        ask(&config, &spec_view(), name, RecordType::A).answer,
        ["10-244-1-5.default.pod.cluster.local. 5 IN A 10.244.1.5"]
    );
    assert_eq!(
        ask(
            &config,
            &spec_view(),
            "1-2-3-4.default.pod.cluster.local.",
            RecordType::A
        )
        .rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(
            &config,
            &spec_view(),
            "10-244-1-5.other.pod.cluster.local.",
            RecordType::A
        )
        .rcode,
        ResponseCode::NXDomain
    );
}

/// CoreDNS handler_test.go cases: where NXDOMAIN and where NODATA, with the SOA.
#[test]
fn nxdomain_and_nodata() {
    // Existing name, other type: NODATA.
    assert_eq!(
        rcode("kubernetes.default.svc.cluster.local.", RecordType::AAAA),
        NODATA
    );
    assert_eq!(
        rcode("kubernetes.default.svc.cluster.local.", RecordType::MX),
        NODATA
    );
    assert_eq!(
        rcode("kubernetes.default.svc.cluster.local.", RecordType::HINFO),
        NODATA
    );
    // Every TXT other than dns-version is NODATA, even for missing names (CoreDNS).
    assert_eq!(
        rcode("nosuch.default.svc.cluster.local.", RecordType::TXT),
        NODATA
    );
    // The apex, `svc`, and an existing namespace: NODATA.
    assert_eq!(rcode("cluster.local.", RecordType::A), NODATA);
    assert_eq!(rcode("svc.cluster.local.", RecordType::A), NODATA);
    assert_eq!(rcode("pod.cluster.local.", RecordType::A), NODATA);
    assert_eq!(rcode("default.svc.cluster.local.", RecordType::A), NODATA);
    // Missing namespace, Service, shape: NXDOMAIN.
    assert_eq!(
        rcode("nosuchns.svc.cluster.local.", RecordType::A),
        NXDOMAIN
    );
    assert_eq!(
        rcode("nosuch.default.svc.cluster.local.", RecordType::A),
        NXDOMAIN
    );
    assert_eq!(
        rcode("nosuch.default.svc.cluster.local.", RecordType::HINFO),
        NXDOMAIN
    );
    assert_eq!(
        rcode("kubernetes.default.cluster.local.", RecordType::A),
        NXDOMAIN
    );
    assert_eq!(
        rcode("a.b.c.kubernetes.default.svc.cluster.local.", RecordType::A),
        NXDOMAIN
    );
    // SOA in authority of both; SOA query at the apex answers it.
    let a = ask(
        &cluster_local(),
        &spec_view(),
        "nosuch.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        a.authority,
        [
            "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5"
        ]
    );
    let a = ask(
        &cluster_local(),
        &spec_view(),
        "default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(a.authority.len(), 1);
    assert_eq!(
        answers("cluster.local.", RecordType::SOA),
        [
            "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5"
        ]
    );
}

/// Spec §2.1: comparisons are case-insensitive; CoreDNS echoes the query's case in the owner
/// name and in names it builds from the zone.
#[test]
fn case_insensitive_echoing_case() {
    let a = answers("KuBeRnEtEs.Default.SVC.Cluster.Local.", RecordType::A);
    assert_eq!(a, ["KuBeRnEtEs.Default.SVC.Cluster.Local. 5 IN A 10.3.0.1"]);
    let a = ask(
        &cluster_local(),
        &spec_view(),
        "NOSUCH.default.svc.Cluster.Local.",
        RecordType::A,
    );
    assert!(a.authority[0].starts_with("Cluster.Local. 5 IN SOA ns.dns.Cluster.Local."));
}

/// `ttl` option: records and SOA minimum follow it; the SOA's own TTL is capped at 300.
#[test]
fn ttl_option() {
    let mut config = cluster_local();
    config.ttl_s = 3600;
    let a = ask(
        &config,
        &spec_view(),
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        a.answer,
        ["kubernetes.default.svc.cluster.local. 3600 IN A 10.3.0.1"]
    );
    let a = ask(
        &config,
        &spec_view(),
        "x.default.svc.cluster.local.",
        RecordType::A,
    );
    assert!(
        a.authority[0].starts_with("cluster.local. 300 IN SOA"),
        "{:?}",
        a.authority
    );
    assert!(a.authority[0].ends_with(" 3600"));
}

/// `namespaces`: other namespaces are NXDOMAIN, also for PTR of their ClusterIPs.
#[test]
fn namespaces_option() {
    let mut config = cluster_local();
    config.namespaces = BTreeSet::from(["default".to_owned()]);
    let view = spec_view();
    assert_eq!(
        ask(
            &config,
            &view,
            "svc.other.svc.cluster.local.",
            RecordType::A
        )
        .rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(&config, &view, "other.svc.cluster.local.", RecordType::A).rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(&config, &view, "50.0.3.10.in-addr.arpa.", RecordType::PTR).rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(
            &config,
            &view,
            "kubernetes.default.svc.cluster.local.",
            RecordType::A
        )
        .answer
        .len(),
        1
    );
}

/// `fallthrough [zones]`: name errors under the listed zones go on; others stay NXDOMAIN.
#[test]
fn fallthrough_option() {
    let mut config = cluster_local();
    config.fallthrough = Fallthrough::Zones(vec![
        Name::from_ascii("in-addr.arpa.").unwrap(),
        Name::from_ascii("ip6.arpa.").unwrap(),
    ]);
    let view = spec_view();
    let ptr = Name::from_ascii("1.1.168.192.in-addr.arpa.").unwrap();
    assert_eq!(
        config.serve(&view, &ptr, RecordType::PTR),
        KubernetesOutcome::FallThrough
    );
    let missing = Name::from_ascii("nosuch.default.svc.cluster.local.").unwrap();
    assert!(matches!(
        config.serve(&view, &missing, RecordType::A),
        KubernetesOutcome::Reply(r) if r.rcode == ResponseCode::NXDomain
    ));
    let outside = Name::from_ascii("example.com.").unwrap();
    assert_eq!(
        config.serve(&view, &outside, RecordType::A),
        KubernetesOutcome::NotMine
    );
}

/// Dual stack (spec 1.1.0 AAAA; CoreDNS): AAAA answers the IPv6 ClusterIP, `ip6.arpa` PTR
/// names the Service, an IPv6 endpoint's generated label replaces colons with dashes.
#[test]
fn ipv6_records() {
    let mut view = spec_view();
    let mut dual = service(
        "default",
        "dual",
        ServiceKind::ClusterIp(vec![
            "10.3.0.60".parse().unwrap(),
            "fd00::60".parse().unwrap(),
        ]),
        vec![],
    );
    dual.endpoints = vec![endpoint("fd00:10::5", None, None, true)];
    view.services
        .insert(("default".into(), "dual".into()), dual);
    let config = cluster_local();
    let a = ask(
        &config,
        &view,
        "dual.default.svc.cluster.local.",
        RecordType::AAAA,
    );
    assert_eq!(
        a.answer,
        ["dual.default.svc.cluster.local. 5 IN AAAA fd00::60"]
    );
    let a = ask(
        &config,
        &view,
        "dual.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(
        a.answer,
        ["dual.default.svc.cluster.local. 5 IN A 10.3.0.60"]
    );
    let ptr = "0.6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    let a = ask(&config, &view, ptr, RecordType::PTR);
    assert_eq!(
        a.answer,
        [format!("{ptr} 5 IN PTR dual.default.svc.cluster.local.")]
    );
    let a = ask(
        &config,
        &view,
        "fd00-10--5.dual.default.svc.cluster.local.",
        RecordType::AAAA,
    );
    assert_eq!(
        a.answer,
        ["fd00-10--5.dual.default.svc.cluster.local. 5 IN AAAA fd00:10::5"]
    );
}

/// CoreDNS `ns.go`: with the server's own pod IP behind `kube-dns`, NS at the apex names that
/// Service (its ClusterIP in additional) and `ns.dns.<zone>` has its address; without a
/// matching endpoint the own address answers as `ns.dns.<zone>`.
#[test]
fn ns_records() {
    let mut view = spec_view();
    let kube_dns = service(
        "kube-system",
        "kube-dns",
        ServiceKind::ClusterIp(vec!["10.96.0.10".parse().unwrap()]),
        vec![endpoint("10.244.0.2", None, None, true)],
    );
    view.services
        .insert(("kube-system".into(), "kube-dns".into()), kube_dns);
    let mut config = cluster_local();
    config.local_ips = vec!["10.244.0.2".parse().unwrap()];
    let a = ask(&config, &view, "cluster.local.", RecordType::NS);
    assert_eq!(
        a.answer,
        ["cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local."]
    );
    assert_eq!(
        a.additional,
        ["kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10"]
    );
    let a = ask(&config, &view, "ns.dns.cluster.local.", RecordType::A);
    assert_eq!(a.answer, ["ns.dns.cluster.local. 5 IN A 10.96.0.10"]);
    config.local_ips = vec!["192.0.2.9".parse().unwrap()];
    let a = ask(&config, &view, "cluster.local.", RecordType::NS);
    assert_eq!(a.answer, ["cluster.local. 5 IN NS ns.dns.cluster.local."]);
    assert_eq!(a.additional, ["ns.dns.cluster.local. 5 IN A 192.0.2.9"]);
    // Not at the apex: NS is a fake A lookup (NXDOMAIN for a missing name).
    assert_eq!(
        ask(
            &config,
            &view,
            "nosuch.default.svc.cluster.local.",
            RecordType::NS
        )
        .rcode,
        ResponseCode::NXDomain
    );
}
