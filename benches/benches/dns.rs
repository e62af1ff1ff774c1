//! The cluster DNS server in-process (DESIGN.md §8): queries per second of
//! `DnsServer::handle` with the kubeadm Corefile, over a view of 1,000 ClusterIP Services
//! (one named TCP port `http`, 10 ready endpoints each) and 10 headless Services of 10
//! endpoints with hostnames, in namespace `bench`. Each iteration is one UDP query in wire
//! format to its encoded reply (decode, plugin chain, encode with truncation check); the
//! throughput is reported in elements (queries) per second.
//!
//! - `dns/a_clusterip`: A of a ClusterIP Service in the middle of the set.
//! - `dns/srv_named_port`: SRV `_http._tcp` of that Service.
//! - `dns/a_headless`: A of a headless Service (10 records).
//! - `dns/nxdomain`: A of a Service that does not exist (NXDOMAIN with SOA).
//! - `dns/ptr_clusterip`: PTR of that ClusterIP.
//! - `dns/ptr_endpoint`: PTR of a headless endpoint's address.
//!
//! kubeadm's Corefile disables the `cache` plugin for `cluster.local` only, so the forward
//! names are looked up by the `kubernetes` plugin every time while the PTR cases are served
//! from the cache after the first query, as in a kubeadm cluster: they measure the cache hit
//! path (decode, cache lookup, encode).

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sim_core::SimTime;
use sim_k8s::dns::corefile::KUBEADM_COREFILE;
use sim_k8s::dns::view::{EndpointView, PortView, ServiceKind, ServiceView};
use sim_k8s::dns::{DnsServer, DnsView, Outcome, Transport};
use sim_net::netfilter::fixture::{cluster_ip, endpoint_ip};

const SERVICES: usize = 1_000;
const HEADLESS: usize = 10;
const ENDPOINTS: usize = 10;
/// The Service asked for.
const ASKED: usize = SERVICES / 2;

fn http() -> PortView {
    PortView {
        name: "http".into(),
        protocol: "TCP".into(),
        port: 80,
    }
}

fn service(i: usize, kind: ServiceKind, hostnames: bool) -> ServiceView {
    ServiceView {
        namespace: "bench".into(),
        name: format!("svc-{i:05}"),
        kind,
        ports: vec![http()],
        endpoints: (0..ENDPOINTS)
            .map(|j| EndpointView {
                addresses: vec![endpoint_ip(i, j, ENDPOINTS).into()],
                hostname: hostnames.then(|| format!("host-{j}")),
                pod_name: Some(format!("svc-{i:05}-{j}")),
                ready: true,
                ports: vec![http()],
            })
            .collect(),
    }
}

fn view() -> DnsView {
    let mut services = BTreeMap::new();
    for i in 0..SERVICES + HEADLESS {
        let s = if i < SERVICES {
            service(i, ServiceKind::ClusterIp(vec![cluster_ip(i).into()]), false)
        } else {
            service(i, ServiceKind::Headless, true)
        };
        services.insert((s.namespace.clone(), s.name.clone()), s);
    }
    DnsView {
        namespaces: BTreeSet::from(["bench".to_string(), "default".to_string()]),
        services,
        pods: Vec::new(),
        serial: 1,
    }
}

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 1;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    m.set_edns(edns);
    m.to_vec().unwrap()
}

fn dns(c: &mut Criterion) {
    let view = view();
    let files = BTreeMap::from([(
        "/etc/resolv.conf".to_string(),
        "nameserver 192.168.0.2\n".to_string(),
    )]);
    let mut server = DnsServer::from_corefile(KUBEADM_COREFILE, 53, &files).unwrap();
    let headless = SERVICES + HEADLESS / 2;
    let endpoint = endpoint_ip(headless, 3, ENDPOINTS).octets();
    let cases = [
        (
            "a_clusterip",
            query(
                &format!("svc-{ASKED:05}.bench.svc.cluster.local."),
                RecordType::A,
            ),
        ),
        (
            "srv_named_port",
            query(
                &format!("_http._tcp.svc-{ASKED:05}.bench.svc.cluster.local."),
                RecordType::SRV,
            ),
        ),
        (
            "a_headless",
            query(
                &format!("svc-{headless:05}.bench.svc.cluster.local."),
                RecordType::A,
            ),
        ),
        (
            "nxdomain",
            query("nope.bench.svc.cluster.local.", RecordType::A),
        ),
        ("ptr_clusterip", {
            let [a, b, c, d] = cluster_ip(ASKED).octets();
            query(&format!("{d}.{c}.{b}.{a}.in-addr.arpa."), RecordType::PTR)
        }),
        ("ptr_endpoint", {
            let [a, b, c, d] = endpoint;
            query(&format!("{d}.{c}.{b}.{a}.in-addr.arpa."), RecordType::PTR)
        }),
    ];
    let mut g = c.benchmark_group("dns");
    g.throughput(Throughput::Elements(1));
    for (name, bytes) in &cases {
        // Every case is answered by the server itself, never forwarded, and answers what
        // it says.
        let Outcome::Reply(reply) = server.handle(SimTime::ZERO, &view, Transport::Udp, bytes)
        else {
            panic!("{name}: not answered by the server");
        };
        let reply = Message::from_vec(&reply).unwrap();
        let expected = match *name {
            "nxdomain" => (ResponseCode::NXDomain, 0),
            "a_headless" => (ResponseCode::NoError, ENDPOINTS),
            _ => (ResponseCode::NoError, 1),
        };
        assert_eq!(
            (reply.metadata.response_code, reply.answers.len()),
            expected,
            "{name}"
        );
        g.bench_function(*name, |b| {
            b.iter(|| server.handle(SimTime::ZERO, &view, Transport::Udp, black_box(bytes)))
        });
    }
    g.finish();
}

criterion_group!(benches, dns);
criterion_main!(benches);
