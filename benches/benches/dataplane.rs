//! Dataplane throughput: packet-hops per second, engine-driven, through pod veth → bridge →
//! route → link → bridge → pod veth and back (two routed nodes, neighbours already resolved,
//! trace and hop recording off). Target: ≥ 1 M hops/s.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sim_core::{SimDuration, SimTime, Trace};
use sim_net::topology::{ping, two_nodes_routed};
use sim_net::{LinkProps, NetSim, Network};

const PINGS: u64 = 200;

fn warmed() -> (Network, sim_net::NetNsId) {
    let mut t = two_nodes_routed(LinkProps {
        latency: SimDuration::from_micros(50),
        ..LinkProps::default()
    });
    t.net.walk_output(
        SimTime::ZERO,
        t.pod_a,
        ping("10.244.1.2", "10.244.2.3", 56, false),
    );
    (t.net, t.pod_a)
}

fn run(net: Network, pod_a: sim_net::NetNsId) -> u64 {
    let mut sim = NetSim::new(net, 1);
    sim.record_hops = false;
    let jobs: Vec<_> = (0..PINGS)
        .map(|i| {
            sim.send(
                SimTime::from_nanos(i * 10_000),
                pod_a,
                ping("10.244.1.2", "10.244.2.3", 56, false),
            )
        })
        .collect();
    let mut e = sim.into_engine(1, jobs).with_trace(Trace::disabled());
    e.run_to_quiescence().expect("no budget");
    e.world().hop_count
}

fn hops(c: &mut Criterion) {
    let (net, pod_a) = warmed();
    let per_iter = run(net.clone(), pod_a);
    let mut g = c.benchmark_group("dataplane");
    g.sample_size(20);
    g.throughput(Throughput::Elements(per_iter));
    g.bench_function("ping_two_routed_nodes", |b| {
        b.iter_batched(|| net.clone(), |n| run(n, pod_a), BatchSize::SmallInput)
    });
    g.finish();
}

criterion_group!(benches, hops);
criterion_main!(benches);
