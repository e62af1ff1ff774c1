//! `kube-netsim explain`: why NetworkPolicy allows or denies one connection between two pods
//! of the cluster the manifests describe — the oracle's verdict for both directions (the
//! source's egress and the destination's ingress, naming the policies that isolate each pod
//! and the rules, peers and ports that allowed the traffic), then what the dataplane did with
//! a connection attempt and its reply, and whether the two agree.
//!
//! The cluster is built and the policy agent synced as for `kube-netsim matrix`
//! ([`crate::matrix_cmd::enforced_cluster`]). SCTP is explained by the oracle only (the
//! dataplane does not probe it). Exit 0 whatever the verdict, 1 when the dataplane disagrees
//! with the oracle, 2 on bad input.

use std::process::ExitCode;

use serde_json::json;
use sim_core::SimTime;
use sim_k8s::policy::probe::EPHEMERAL_PORTS;
use sim_k8s::policy::{Endpoint, Flow, ProbeError, Protocol, evaluate, probe};

use crate::cluster_cmd::Sources;
use crate::matrix_cmd::{enforced_cluster, parse_protocol};

/// Arguments of `kube-netsim explain`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub sources: Sources,
    /// The pod that opens the connection, as NAMESPACE/NAME.
    #[arg(long, value_name = "NS/POD")]
    pub from: String,
    /// The pod it connects to, as NAMESPACE/NAME.
    #[arg(long, value_name = "NS/POD")]
    pub to: String,
    /// The destination port.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// TCP, UDP or SCTP (the API's spelling).
    #[arg(long, default_value = "TCP", value_name = "PROTOCOL", value_parser = parse_protocol)]
    pub protocol: Protocol,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// `kube-netsim explain`.
pub fn run(args: ExplainArgs) -> ExitCode {
    for pod in [&args.from, &args.to] {
        if pod
            .split_once('/')
            .is_none_or(|(ns, name)| ns.is_empty() || name.is_empty())
        {
            return fail(format!("{pod:?}: expected NAMESPACE/NAME of a pod"));
        }
    }
    let (mut cluster, view) = match enforced_cluster(&args.sources.files) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let flow = Flow {
        from: Endpoint::Pod(args.from.clone()),
        to: Endpoint::Pod(args.to.clone()),
        port: args.port,
        protocol: args.protocol,
    };
    let verdict = match evaluate(&view, &flow) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let probed = probe(
        &mut cluster,
        SimTime::ZERO,
        &args.from,
        &args.to,
        args.port,
        args.protocol,
        EPHEMERAL_PORTS.0,
    );
    let outcome = match probed {
        Ok(o) => Some(o),
        Err(ProbeError::NotProbed(_)) => None,
        Err(e) => return fail(e),
    };
    let agrees = outcome.as_ref().map(|o| o.connected() == verdict.allowed);
    if args.json {
        let mut v = verdict.to_json();
        v["dataplane"] = match &outcome {
            Some(o) => {
                let mut d = o.to_json();
                d["agrees"] = json!(agrees);
                d
            }
            None => json!({"outcome": "not-probed"}),
        };
        println!("{}", serde_json::to_string_pretty(&v).expect("plain JSON"));
    } else {
        print!("{verdict}");
        match (&outcome, agrees) {
            (Some(o), Some(true)) => println!("  dataplane: {o}: agrees"),
            (Some(o), _) => println!("  dataplane: {o}: DISAGREES with the oracle"),
            (None, _) => println!("  dataplane: {} is not probed", args.protocol),
        }
    }
    if agrees == Some(false) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
