//! `kube-netsim replay`: inject a capture's packets from a pod, node or external client into
//! the cluster the manifests describe, and report per flow what became of them; with
//! `--baseline-f`, replay against a second cluster too and list the flows whose outcome
//! differs — "what would change if…" (exit 0 either way; 2 for invalid input).

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};
use sim_core::{Engine, SimTime};
use sim_k8s::cluster::control::ClusterSim;
use sim_k8s::store::watch::DEFAULT_WATCH_LAG;
use sim_net::replay::{FlowReport, Plan, ReplayOptions, diff};

use crate::cluster_cmd::{Sources, build_files};
use scenarios::replay::{read_plan, replay_in};
use scenarios::scenario::netexec::{Served, serve_new};
use scenarios::scenario::runner::EVENT_BUDGET;
use scenarios::source::Source;

/// Arguments of `kube-netsim replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The capture: pcapng, or classic pcap (µs or ns); Ethernet, Linux cooked (SLL,
    /// SLL2) or raw IP.
    #[arg(long, value_name = "FILE")]
    pub pcap: PathBuf,
    /// Where the packets come from: NAMESPACE/POD, node:NAME or external:NAME|IP. Their source
    /// address becomes its address (ports kept).
    #[arg(long, value_name = "ORIGIN")]
    pub from: Source,
    #[command(flatten)]
    pub sources: Sources,
    /// Manifests of a baseline cluster: replay against it too and list the flows whose
    /// outcome differs from it to the cluster of -f (repeatable, like -f).
    #[arg(long = "baseline-f", value_name = "FILE")]
    pub baseline: Vec<PathBuf>,
    /// Replay the packets captured on this interface (default: the interface of the first
    /// IPv4 packet).
    #[arg(long, value_name = "NAME")]
    pub interface: Option<String>,
    /// Inject every packet, not only each flow's client side (the other side's packets keep
    /// their captured addresses).
    #[arg(long)]
    pub all_packets: bool,
    /// Root seed of the runs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn run_against(
    files: &[PathBuf],
    plan: &Plan,
    args: &ReplayArgs,
    opts: &ReplayOptions,
) -> Result<Vec<FlowReport>, String> {
    let (_, cluster) = build_files(files)?;
    let sim = ClusterSim::new(cluster, args.seed, DEFAULT_WATCH_LAG);
    let mut engine = Engine::new(sim, args.seed).with_budget(EVENT_BUDGET);
    let mut served = Served::new();
    serve_new(engine.world_mut(), &mut served);
    replay_in(&mut engine, plan, &args.from, opts, SimTime::ZERO)
}

fn header(args: &ReplayArgs, plan: &Plan) -> String {
    let mut skipped = Vec::new();
    for (n, why) in [
        (plan.skipped.not_ipv4, "not IPv4"),
        (plan.skipped.other_interface, "on other interfaces"),
        (plan.skipped.malformed, "malformed or truncated"),
    ] {
        if n > 0 {
            skipped.push(format!("{n} {why}"));
        }
    }
    let mut h = format!(
        "replay of {} from {}: {} flow(s) captured on {}",
        args.pcap.display(),
        args.from,
        plan.flows.len(),
        plan.interface.as_deref().unwrap_or("-"),
    );
    if !skipped.is_empty() {
        h.push_str(&format!(" (skipped: {})", skipped.join(", ")));
    }
    h
}

/// `kube-netsim replay`.
pub fn run(args: ReplayArgs) -> ExitCode {
    let opts = ReplayOptions {
        interface: args.interface.clone(),
        all_packets: args.all_packets,
        ..ReplayOptions::default()
    };
    let plan = match read_plan(&args.pcap, &opts) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let after = match run_against(&args.sources.files, &plan, &args, &opts) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let before = if args.baseline.is_empty() {
        None
    } else {
        match run_against(&args.baseline, &plan, &args, &opts) {
            Ok(r) => Some(r),
            Err(e) => return fail(format!("baseline: {e}")),
        }
    };
    let changes = before.as_ref().map(|b| diff(b, &after));
    if args.json {
        let list = |r: &[FlowReport]| r.iter().map(FlowReport::json).collect::<Vec<Value>>();
        let mut out = json!({
            "pcap": args.pcap.display().to_string(),
            "from": args.from.to_string(),
            "interface": plan.interface,
            "skipped": {
                "notIpv4": plan.skipped.not_ipv4,
                "otherInterface": plan.skipped.other_interface,
                "malformed": plan.skipped.malformed,
            },
            "flows": list(&after),
        });
        if let (Some(b), Some(c)) = (&before, &changes) {
            out["baseline"] = json!({
                "flows": list(b),
                "changes": c.iter().map(|c| c.json()).collect::<Vec<Value>>(),
            });
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("plain JSON")
        );
    } else {
        println!("{}", header(&args, &plan));
        for r in &after {
            print!("\n{r}");
        }
        if let Some(c) = &changes {
            if c.is_empty() {
                println!("\nno flow's outcome differs from the baseline");
            } else {
                println!(
                    "\n{} of {} flow(s) differ from the baseline:",
                    c.len(),
                    after.len()
                );
                for change in c {
                    print!("\n{change}");
                }
            }
        }
    }
    ExitCode::SUCCESS
}

fn fail(e: String) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
