//! Netfilter at kube-proxy scale: 10,000 ClusterIP services × 10 endpoints (320,023 rules,
//! 110,017 chains), the shape of `../shared/anchors/kube-proxy-rules.py`.
//!
//! - `new_connection/*`: the first packet of a new TCP connection from a pod on another
//!   node through nat PREROUTING (KUBE-SERVICES → KUBE-SVC → KUBE-SEP, DNAT), filter
//!   FORWARD and nat POSTROUTING, with conntrack, as the engine runs it. The indexed
//!   evaluator (the default) against the plain linear walk of the same rules, for the last
//!   service in KUBE-SERVICES (the linear worst case) and the first. Target: < 10 µs median
//!   indexed. The kernel anchor times `connect()` to the last service at 5,000 services as
//!   ~70 µs (a whole SYN/SYN-ACK round trip, not only netfilter).
//! - `restore`: `iptables-restore` of the whole dump into an empty namespace (the anchor:
//!   the kernel's `iptables-restore` of the same size, ~15 s with iptables-nft 1.8.9).

use std::net::Ipv4Addr;

use criterion::{Criterion, criterion_group, criterion_main};
use sim_core::{SimRng, SimTime};
use sim_net::netfilter::fixture::{cluster_ip, kube_proxy_like};
use sim_net::netfilter::hooks::{HookIfaces, HookReport, HookVerdict, Host, Seeded};
use sim_net::netfilter::matches::AddrTypes;
use sim_net::netfilter::{Hook, Netfilter, NfSkb, RestoreOptions};
use sim_net::packet::{self, Ipv4Header};
use smoltcp::wire::IpProtocol;

const SERVICES: usize = 10_000;
const ENDPOINTS: usize = 10;

struct Node;

impl Host for Node {
    fn addr_type(&self, addr: Ipv4Addr, _: Option<&str>) -> u16 {
        if addr == Ipv4Addr::new(192, 168, 0, 11) {
            AddrTypes::LOCAL
        } else {
            AddrTypes::UNICAST
        }
    }

    fn iface_addr(&self, _: &str, _: Ipv4Addr) -> Option<Ipv4Addr> {
        Some(Ipv4Addr::new(192, 168, 0, 11))
    }
}

fn syn(dst: Ipv4Addr) -> Vec<u8> {
    let src = Ipv4Addr::new(10, 250, 1, 2);
    packet::ipv4(
        Ipv4Header {
            src,
            dst,
            protocol: IpProtocol::Tcp,
            ttl: 64,
            ident: 1,
            dont_frag: true,
        },
        &packet::tcp(src, 1024, dst, 80, 1, 0, packet::TCP_SYN, 64240),
    )
}

/// One new connection through PREROUTING, FORWARD and POSTROUTING; `n` picks its source
/// port so every call is a new conntrack entry.
fn new_connection(nf: &mut Netfilter, template: &[u8], n: u64, rng: &mut SimRng) -> bool {
    let mut pkt = template.to_vec();
    let sport = 1024 + (n % 64_000) as u16;
    pkt[20..22].copy_from_slice(&sport.to_be_bytes());
    if n.is_multiple_of(64_000) {
        nf.conntrack.flush();
    }
    let mut skb = NfSkb::default();
    let eth0 = || Some("eth0".to_string());
    let mut ok = true;
    for (hook, ifs) in [
        (
            Hook::Prerouting,
            HookIfaces {
                in_iface: eth0(),
                ..HookIfaces::default()
            },
        ),
        (
            Hook::Forward,
            HookIfaces {
                in_iface: eth0(),
                out_iface: eth0(),
                physdev: None,
            },
        ),
        (
            Hook::Postrouting,
            HookIfaces {
                out_iface: eth0(),
                ..HookIfaces::default()
            },
        ),
    ] {
        let mut report = HookReport {
            quiet: true,
            ..HookReport::default()
        };
        let v = nf.hook(
            hook,
            &mut pkt,
            &mut skb,
            &ifs,
            &Node,
            &mut Seeded(rng),
            SimTime::ZERO,
            None,
            &mut report,
        );
        ok &= v == HookVerdict::Accept;
    }
    ok
}

fn netfilter(c: &mut Criterion) {
    let dump = kube_proxy_like(SERVICES, ENDPOINTS);
    let mut g = c.benchmark_group("netfilter");
    g.sample_size(10);
    g.bench_function("restore_10k_services", |b| {
        b.iter(|| {
            let mut nf = Netfilter::default();
            nf.restore(&dump, RestoreOptions::default())
                .expect("valid dump");
            nf
        })
    });
    g.finish();

    let mut nf = Netfilter::default();
    nf.restore(&dump, RestoreOptions::default())
        .expect("valid dump");
    let mut rng = SimRng::new(1);
    let mut g = c.benchmark_group("new_connection");
    g.sample_size(20);
    for (name, svc, linear) in [
        ("indexed_last_service", SERVICES - 1, false),
        ("indexed_first_service", 0, false),
        ("linear_last_service", SERVICES - 1, true),
        ("linear_first_service", 0, true),
    ] {
        nf.set_linear(linear);
        let template = syn(cluster_ip(svc));
        let mut n = 0u64;
        assert!(
            new_connection(&mut nf, &template, 1, &mut rng),
            "{name}: accepted"
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                new_connection(&mut nf, &template, n, &mut rng)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, netfilter);
criterion_main!(benches);
