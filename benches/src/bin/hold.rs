//! `hold`: the hold-model benchmark as a command, printing the same lines as
//! `shared/anchors/ns3-hold.cc` so the two can be compared side by side:
//!
//! ```text
//! cargo run --release -p benches --bin hold -- --pop 1e5 --total 1e6
//! /tmp/anchors-work/ns3-hold --pop 1e5 --total 1e6
//! ```

use std::process::ExitCode;
use std::time::Instant;

use benches::hold::{DelayTable, hold_engine, run_engine, run_queue};
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Scheduler {
    /// The full engine: `Engine::step` delivering to a `World` (what ns-3's Simulator::Run does).
    Engine,
    /// The bare `EventQueue`: pop + push only.
    Queue,
}

/// Hold-model benchmark of kube-netsim's event engine (compare with ns3-hold).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Pending events kept in the queue (accepts 1e5).
    #[arg(long, default_value = "1e5", value_parser = parse_count)]
    pop: u64,
    /// Events delivered per run; default max(10·pop, 1e6).
    #[arg(long, value_parser = parse_count)]
    total: Option<u64>,
    /// Timed runs; the medians are reported.
    #[arg(long, default_value = "5", value_parser = parse_count)]
    runs: u64,
    /// Mean of the exponential delay, in ns.
    #[arg(long, default_value_t = 100.0)]
    mean_ns: f64,
    /// What to time.
    #[arg(long, value_enum, default_value = "engine")]
    scheduler: Scheduler,
}

/// A positive count, written as an integer or in exponent form (`1e6`), like ns3-hold.
fn parse_count(s: &str) -> Result<u64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("expected a count such as 100000 or 1e5, got {s:?}"))?;
    if !(1.0..1e15).contains(&v) {
        return Err(format!("count {s} must be between 1 and 1e15"));
    }
    Ok((v + 0.5) as u64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.mean_ns > 0.0 && args.mean_ns.is_finite()) {
        eprintln!("error: --mean-ns must be a positive number of nanoseconds");
        return ExitCode::from(2);
    }
    let pop = args.pop;
    let total = args.total.unwrap_or((10 * pop).max(1_000_000));
    let table = DelayTable::new(pop, total, args.mean_ns, 42);
    let name = match args.scheduler {
        Scheduler::Engine => "engine",
        Scheduler::Queue => "queue",
    };
    let mut ns_per_event = Vec::new();
    for r in 0..args.runs {
        let (init_ns, run_ns) = match args.scheduler {
            Scheduler::Engine => {
                let t0 = Instant::now();
                let mut engine = hold_engine(&table, pop);
                let t1 = Instant::now();
                std::hint::black_box(run_engine(&mut engine, total));
                let t2 = Instant::now();
                ((t1 - t0).as_nanos() as f64, (t2 - t1).as_nanos() as f64)
            }
            Scheduler::Queue => {
                let t0 = Instant::now();
                std::hint::black_box(run_queue(&table, pop, total));
                (0.0, (Instant::now() - t0).as_nanos() as f64)
            }
        };
        let nspe = run_ns / total as f64;
        ns_per_event.push(nspe);
        println!(
            "run {r} scheduler={name} pop={pop} total={total} init_ms={:.1} run_ms={:.1} \
             ns_per_event={nspe:.1} events_per_s={:.0}",
            init_ns / 1e6,
            run_ns / 1e6,
            1e9 / nspe
        );
    }
    let med = median(ns_per_event);
    // Same keys in the same order as ns3-hold's closing line.
    println!(
        "{{\"anchor\":\"kube-netsim\",\"scheduler\":\"{name}\",\"pop\":{pop},\"total\":{total},\
         \"runs\":{},\"mean_delay_ns\":{},\"ns_per_event_median\":{med:.1},\
         \"events_per_s_median\":{:.0}}}",
        args.runs,
        args.mean_ns,
        1e9 / med
    );
    ExitCode::SUCCESS
}
