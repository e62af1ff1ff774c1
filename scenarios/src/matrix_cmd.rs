//! `kube-netsim matrix`: the NetworkPolicy truth table of the cluster the manifests describe —
//! every pod to every other pod on one port and protocol — as the upstream e2e suite prints
//! it (`test/e2e/network/netpol/truthtable.go`: rows from, columns to, `.` allowed, `X`
//! denied, `-` a pod to itself), or as JSON
//! (`{"port":80,"protocol":"TCP","pods":[…],"allowed":{"x/a":{"x/b":true,…},…}}`).
//!
//! The cluster is built and settled as `kube-netsim get` builds it, then the policy agent
//! (kube-router style, [`sim_k8s::policy`]) syncs every node once, as it does after its
//! watches have caught up. `--via dataplane` (the default) answers each cell with a
//! connection attempt walked through the nodes and its reply walked back
//! ([`sim_k8s::policy::dataplane_matrix`]); `--via oracle` evaluates the API semantics only
//! ([`sim_k8s::policy::matrix`]). Both compute over equivalence classes of pods, so large
//! clusters take one decision per pair of classes; the dataplane's classes also tell nodes
//! apart. SCTP is answered by the oracle only.

use std::path::PathBuf;
use std::process::ExitCode;

use sim_core::SimTime;
use sim_k8s::cluster::Cluster;
use sim_k8s::manifest::{Content, Manifests};
use sim_k8s::object::Kind;
use sim_k8s::policy::{self, PolicyView, Protocol, SyncError, dataplane_matrix, sync_cluster};

use crate::cluster_cmd::{Sources, build_files};

/// Which side answers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Connection attempts through the simulated nodes (the policy agent's rules, conntrack).
    Dataplane,
    /// The API semantics alone.
    Oracle,
}

/// Arguments of `kube-netsim matrix`.
#[derive(clap::Args, Debug)]
pub struct MatrixArgs {
    #[command(flatten)]
    pub sources: Sources,
    /// The destination port probed on every pod.
    #[arg(long, default_value_t = 80, value_name = "PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// TCP, UDP or SCTP (the API's spelling).
    #[arg(long, default_value = "TCP", value_name = "PROTOCOL", value_parser = parse_protocol)]
    pub protocol: Protocol,
    /// Who answers each cell.
    #[arg(long, value_enum, default_value = "dataplane")]
    pub via: Via,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--protocol` in the API's spelling.
pub fn parse_protocol(s: &str) -> Result<Protocol, String> {
    Protocol::parse(s).ok_or_else(|| format!("expected TCP, UDP or SCTP, not {s:?}"))
}

/// Builds the cluster the manifests describe and syncs the policy agent on every node; the
/// view the agents rendered from. A policy the API server would refuse is named with the
/// place it was loaded from.
pub fn enforced_cluster(files: &[PathBuf]) -> Result<(Cluster, PolicyView), String> {
    let (m, mut cluster) = build_files(files)?;
    for w in &m.warnings {
        eprintln!("{w}");
    }
    let view = sync_cluster(&mut cluster).map_err(|e| locate(&m, &e))?;
    Ok((cluster, view))
}

/// `e`, prefixed with the place of the NetworkPolicy it names.
fn locate(m: &Manifests, e: &SyncError) -> String {
    let SyncError::Policy(pe) = e else {
        return e.to_string();
    };
    let place = pe.policy().and_then(|key| {
        m.documents.iter().find_map(|d| match &d.content {
            Content::Object(o)
                if o.kind() == Kind::NetworkPolicy
                    && format!("{}/{}", o.namespace(), o.name()) == key =>
            {
                Some(&d.location)
            }
            _ => None,
        })
    });
    match place {
        Some(at) => format!("{at}: {e}"),
        None => e.to_string(),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// `kube-netsim matrix`.
pub fn run(args: MatrixArgs) -> ExitCode {
    let (mut cluster, view) = match enforced_cluster(&args.sources.files) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let table = match args.via {
        Via::Oracle => policy::matrix(&view, args.port, args.protocol).map_err(|e| e.to_string()),
        Via::Dataplane => dataplane_matrix(&mut cluster, SimTime::ZERO, args.port, args.protocol)
            .map_err(|e| e.to_string()),
    };
    let table = match table {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&table.to_json()).expect("plain JSON")
        );
    } else {
        print!("{}", table.grid());
    }
    ExitCode::SUCCESS
}
