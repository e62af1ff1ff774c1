//! `kube-netsim`: the command-line front end.
//!
//! Exit codes: 0 ok, 1 an expectation failed, 2 invalid input (clap's usage errors included).

mod arq_demo;
mod cluster_cmd;
mod dns_cmd;
mod explain_cmd;
mod matrix_cmd;
mod proxy_cmd;
mod replay_cmd;
mod run_cmd;
mod trace_cmd;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sim_core::SimDuration;

/// A deterministic simulator of Kubernetes networking.
#[derive(Parser, Debug)]
#[command(name = "kube-netsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenario files: build each cluster, run its steps in simulated time, and report
    /// every step's outcome (exit 0 when all expectations hold, 1 when one fails).
    Run(run_cmd::RunArgs),
    /// Run scenario files and write their exports (pcapng, DOT, SVG, Mermaid, trace and
    /// Hubble-style flows as JSON Lines, an HTML report), printing only the files written.
    Export(run_cmd::ExportArgs),
    /// Build the cluster the manifests describe and list objects as `kubectl get` would.
    Get(cluster_cmd::GetArgs),
    /// Print a pod's /etc/hosts or /etc/resolv.conf exactly as the kubelet writes it.
    Files(cluster_cmd::FilesArgs),
    /// Trace a new connection through a node's iptables rules (an iptables-save dump),
    /// rule by rule, exploring every random branch.
    Trace(trace_cmd::TraceArgs),
    /// What kube-proxy alone would program on a node for the given Services,
    /// EndpointSlices, Node and KubeProxyConfiguration (`render`), and where a new
    /// connection goes through it (`trace`).
    Proxy(proxy_cmd::ProxyArgs),
    /// Ask the cluster's DNS server for NAME and print the reply as dig does (or as JSON);
    /// `dns serve` answers on real UDP and TCP sockets instead.
    Dns(dns_cmd::DnsArgs),
    /// Print the NetworkPolicy truth table of the cluster the manifests describe: every pod
    /// to every other pod on one port, as the upstream e2e suite prints it (rows from,
    /// columns to, `.` allowed, `X` denied), answered by the dataplane or the oracle.
    Matrix(matrix_cmd::MatrixArgs),
    /// Explain why NetworkPolicy allows or denies a connection between two pods: the
    /// policies and rules of both directions, and what the dataplane did with it.
    Explain(explain_cmd::ExplainArgs),
    /// Print the JSON Schema of scenario files (what `scenarios/schema.json` holds), for
    /// editors to validate and complete them.
    Schema,
    /// Replay a capture's packets from a pod, node or external client into the cluster the
    /// manifests describe and report per flow what became of them (with --baseline-f, which
    /// flows would change).
    Replay(replay_cmd::ReplayArgs),
    /// Run the built-in engine demo: stop-and-wait ARQ over a lossy simulated link.
    Demo {
        /// Root seed of every random choice in the run.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Frames to deliver.
        #[arg(long, default_value_t = 10)]
        frames: u32,
        /// One-way link latency (Go-style duration: 200us, 1ms).
        #[arg(long, default_value = "200us")]
        latency: SimDuration,
        /// Loss probability on the link, in percent (0-100).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=100))]
        loss: u64,
        /// Write the trace as JSON Lines to this file.
        #[arg(long, value_name = "FILE")]
        trace_out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run_cmd::run_cmd(args),
        Command::Export(args) => run_cmd::export_cmd(args),
        Command::Trace(args) => trace_cmd::run(args),
        Command::Proxy(args) => proxy_cmd::run(args),
        Command::Get(args) => cluster_cmd::get(args),
        Command::Dns(args) => dns_cmd::run(args),
        Command::Matrix(args) => matrix_cmd::run(args),
        Command::Explain(args) => explain_cmd::run(args),
        Command::Files(args) => cluster_cmd::files(args),
        Command::Schema => {
            let schema = scenarios::scenario::file::schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).expect("plain JSON")
            );
            ExitCode::SUCCESS
        }
        Command::Replay(args) => replay_cmd::run(args),
        Command::Demo {
            seed,
            frames,
            latency,
            loss,
            trace_out,
        } => {
            let params = arq_demo::ArqParams {
                frames,
                latency,
                loss_percent: loss,
                rto: latency.saturating_mul(5),
            };
            let outcome = match arq_demo::run(seed, params) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            for r in outcome.trace.records() {
                println!("{r}");
            }
            println!(
                "delivered {}/{} frames in {} transmissions, done at {}; trace digest {}",
                outcome.delivered_frames,
                frames,
                outcome.transmissions,
                outcome
                    .done_at
                    .map_or_else(|| "-".to_string(), |t| t.to_string()),
                outcome.trace.digest()
            );
            if let Some(path) = trace_out {
                let written = File::create(&path).and_then(|f| {
                    let mut w = BufWriter::new(f);
                    outcome.trace.write_jsonl(&mut w)?;
                    w.flush()
                });
                if let Err(e) = written {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            ExitCode::SUCCESS
        }
    }
}
