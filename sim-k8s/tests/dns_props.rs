//! Property tests of the DNS engine through its public API: random Services and endpoints
//! answer as the specification says (headless A = the ready endpoint IPs, ClusterIP A = the
//! ClusterIP), every reply parses back with hickory, and no packet makes the server panic.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use proptest::prelude::*;
use sim_core::SimTime;
use sim_k8s::dns::corefile::KUBEADM_COREFILE;
use sim_k8s::dns::view::{EndpointView, PortView, ServiceKind, ServiceView};
use sim_k8s::dns::{DnsServer, DnsView, Outcome, Transport};

fn server() -> DnsServer {
    let files = BTreeMap::from([(
        "/etc/resolv.conf".to_owned(),
        "nameserver 192.168.0.2\n".to_owned(),
    )]);
    DnsServer::from_corefile(KUBEADM_COREFILE, 53, &files).unwrap()
}

fn query(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 7;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m.to_vec().unwrap()
}

#[derive(Debug, Clone)]
struct Svc {
    headless: bool,
    cluster_ip: Ipv4Addr,
    endpoints: Vec<(Ipv4Addr, bool)>,
}

fn svc_strategy() -> impl Strategy<Value = Svc> {
    (
        any::<bool>(),
        any::<[u8; 2]>(),
        prop::collection::vec((any::<[u8; 2]>(), any::<bool>()), 0..12),
    )
        .prop_map(|(headless, ip, eps)| Svc {
            headless,
            cluster_ip: Ipv4Addr::new(10, 96, ip[0], ip[1]),
            endpoints: eps
                .into_iter()
                .map(|(a, ready)| (Ipv4Addr::new(10, 244, a[0], a[1]), ready))
                .collect(),
        })
}

fn view_of(svcs: &[Svc]) -> DnsView {
    let mut view = DnsView::default();
    view.namespaces.insert("default".into());
    for (i, s) in svcs.iter().enumerate() {
        let name = format!("svc-{i}");
        let endpoints = s
            .endpoints
            .iter()
            .map(|(ip, ready)| EndpointView {
                addresses: vec![IpAddr::V4(*ip)],
                hostname: None,
                pod_name: None,
                ready: *ready,
                ports: vec![PortView {
                    name: "http".into(),
                    protocol: "TCP".into(),
                    port: 80,
                }],
            })
            .collect();
        let kind = if s.headless {
            ServiceKind::Headless
        } else {
            ServiceKind::ClusterIp(vec![IpAddr::V4(s.cluster_ip)])
        };
        view.services.insert(
            ("default".into(), name.clone()),
            ServiceView {
                namespace: "default".into(),
                name,
                kind,
                ports: Vec::new(),
                endpoints,
            },
        );
    }
    view
}

fn answer(server: &mut DnsServer, view: &DnsView, name: &str, qtype: RecordType) -> Message {
    match server.handle(SimTime::ZERO, view, Transport::Tcp, &query(name, qtype)) {
        Outcome::Reply(bytes) => Message::from_vec(&bytes).expect("replies parse back"),
        other => panic!("{other:?}"),
    }
}

proptest! {
    #[test]
    fn a_answers_follow_the_spec(svcs in prop::collection::vec(svc_strategy(), 1..6)) {
        let view = view_of(&svcs);
        let mut s = server();
        for (i, svc) in svcs.iter().enumerate() {
            let name = format!("svc-{i}.default.svc.cluster.local.");
            let m = answer(&mut s, &view, &name, RecordType::A);
            let got: BTreeSet<Ipv4Addr> = m.answers.iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            }).collect();
            let want: BTreeSet<Ipv4Addr> = if svc.headless {
                svc.endpoints.iter().filter(|(_, ready)| *ready).map(|(ip, _)| *ip).collect()
            } else {
                BTreeSet::from([svc.cluster_ip])
            };
            prop_assert_eq!(&got, &want);
            // Headless without ready endpoints: NXDOMAIN (spec §2.4.1).
            let nx = want.is_empty();
            prop_assert_eq!(m.metadata.response_code == ResponseCode::NXDomain, nx);
            // Every ready endpoint answers PTR with a name under its Service.
            for (ip, ready) in svc.endpoints.iter().filter(|(_, r)| *r).take(2) {
                let o = ip.octets();
                let rev = format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0]);
                let m = answer(&mut s, &view, &rev, RecordType::PTR);
                prop_assert!(*ready);
                prop_assert!(!m.answers.is_empty());
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let view = view_of(&[]);
        let mut s = server();
        for transport in [Transport::Udp, Transport::Tcp] {
            if let Outcome::Reply(reply) = s.handle(SimTime::ZERO, &view, transport, &bytes) {
                prop_assert!(reply.len() >= 12);
                prop_assert_eq!(&reply[..2], &bytes[..2]);
            }
        }
    }

    #[test]
    fn mutated_queries_never_panic(
        which in 0usize..4,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let names = [
            ("kubernetes.default.svc.cluster.local.", RecordType::A),
            ("_https._tcp.kubernetes.default.svc.cluster.local.", RecordType::SRV),
            ("1.0.3.10.in-addr.arpa.", RecordType::PTR),
            ("dns-version.cluster.local.", RecordType::TXT),
        ];
        let (name, qtype) = names[which];
        let mut q = query(name, qtype);
        for (at, byte) in &flips {
            let i = at.index(q.len());
            q[i] ^= byte;
        }
        q.truncate(cut.index(q.len() + 1));
        let view = view_of(&[]);
        let mut s = server();
        if let Outcome::Reply(reply) = s.handle(SimTime::ZERO, &view, Transport::Udp, &q) {
            prop_assert!(Message::from_vec(&reply).is_ok() || reply.len() == 12);
            if Message::from_vec(&q).is_ok_and(|m| m.edns.is_none()) {
                prop_assert!(reply.len() <= 512);
            }
        }
    }
}
