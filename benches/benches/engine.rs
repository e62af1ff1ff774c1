//! Event-engine benchmarks: the hold model at N = 10^3 … 10^6 pending events, on the full
//! engine and on the bare queue. Throughput is reported in events per second. The ns-3
//! baseline runs out of process (`shared/anchors/ns3-hold-sweep.sh`); `--bin hold` prints the
//! matching JSON line for the side-by-side ratio.

use benches::hold::{DelayTable, hold_engine, run_engine, run_queue};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Deliveries timed per iteration.
const ROUNDS: u64 = 100_000;

fn hold(c: &mut Criterion) {
    let mut g = c.benchmark_group("hold");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROUNDS));
    for pop in [1_000u64, 10_000, 100_000, 1_000_000] {
        let table = DelayTable::new(pop, ROUNDS * 64, 100.0, 42);
        g.bench_with_input(BenchmarkId::new("engine", pop), &pop, |b, &pop| {
            let mut engine = hold_engine(&table, pop);
            // Warm the population into a steady state, then time ROUNDS deliveries per iter.
            run_engine(&mut engine, pop);
            b.iter(|| run_engine(&mut engine, ROUNDS));
        });
        if pop <= 100_000 {
            g.bench_with_input(BenchmarkId::new("queue", pop), &pop, |b, &pop| {
                b.iter(|| run_queue(&table, pop, ROUNDS));
            });
        }
    }
    g.finish();
}

criterion_group!(benches, hold);
criterion_main!(benches);
