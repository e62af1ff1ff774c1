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

use benches::new_connection::{Node, new_connection, syn};
use criterion::{Criterion, criterion_group, criterion_main};
use sim_core::SimRng;
use sim_net::netfilter::fixture::{cluster_ip, kube_proxy_like};
use sim_net::netfilter::{Netfilter, RestoreOptions};

const SERVICES: usize = 10_000;
const ENDPOINTS: usize = 10;

fn netfilter(c: &mut Criterion) {
    let dump = kube_proxy_like(SERVICES, ENDPOINTS);
    let mut g = c.benchmark_group("netfilter");
    g.sample_size(10);
    // The node's drop afterwards is not part of a restore.
    g.bench_function("restore_10k_services", |b| {
        b.iter_with_large_drop(|| {
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
    let node = Node {
        ip: Ipv4Addr::new(192, 168, 0, 11),
    };
    let mut g = c.benchmark_group("new_connection");
    g.sample_size(20);
    for (name, svc, linear) in [
        ("indexed_last_service", SERVICES - 1, false),
        ("indexed_first_service", 0, false),
        ("linear_last_service", SERVICES - 1, true),
        ("linear_first_service", 0, true),
    ] {
        nf.set_linear(linear);
        let template = syn(Ipv4Addr::new(10, 250, 1, 2), cluster_ip(svc), 80);
        let mut n = 0u64;
        assert!(
            new_connection(&mut nf, &node, &template, 1, &mut rng),
            "{name}: accepted"
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                new_connection(&mut nf, &node, &template, n, &mut rng)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, netfilter);
criterion_main!(benches);
