//! Replaying a capture into a running cluster: where the packets come from (a pod, a node,
//! or an external client on the cluster's network), reading the file with errors that name
//! it and the byte offset, and running the injection in the cluster's engine. Shared by
//! `kube-netsim replay` and the scenario runner's `replay` step; the dataplane side
//! (flows, fates, diff) is [`sim_net::replay`]; where packets come from is
//! [`crate::source`].

use std::collections::BTreeMap;
use std::path::Path;

use sim_core::{Engine, SimDuration, SimTime};
use sim_k8s::cluster::control::{ClusterEvent, ClusterSim};
use sim_net::replay::{FlowReport, Plan, ReplayOptions, plan};

use crate::source::{Source, resolve};

/// How long the run goes on after the last injected packet, so that answers, retransmits
/// and timeouts play out (a Linux client's SYN retransmits start at 1 s).
pub const DRAIN: SimDuration = SimDuration::from_secs(3);

/// Reads and plans a capture file; errors name the file (and the byte offset, for a
/// corrupt one).
pub fn read_plan(path: &Path, opts: &ReplayOptions) -> Result<Plan, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    plan(&data, opts).map_err(|e| format!("{}: {e}", path.display()))
}

/// Injects `plan` from `from` at `start` (or now, if later) into the running cluster,
/// runs until [`DRAIN`] after the last packet, and reports what became of each flow (pod
/// sandboxes named as their pods, `NAMESPACE/NAME`).
/// `opts.source` and `opts.start` are set here.
pub fn replay_in(
    engine: &mut Engine<ClusterSim>,
    plan: &Plan,
    from: &Source,
    opts: &ReplayOptions,
    start: SimTime,
) -> Result<Vec<FlowReport>, String> {
    let (ns, ip) = resolve(engine.world_mut(), from)?;
    let opts = ReplayOptions {
        source: Some(ip),
        start: start.max(engine.now()),
        ..opts.clone()
    };
    let world = engine.world_mut();
    world.sim.hops.clear();
    let (injection, events) = plan.inject(&mut world.sim, ns, &opts);
    for e in events {
        engine.schedule_at(e.at, ClusterEvent::Net(e.event));
    }
    engine
        .run_until(
            injection
                .last_at()
                .checked_add(DRAIN)
                .unwrap_or(SimTime::MAX),
        )
        .map_err(|e| e.to_string())?;
    let world = engine.world_mut();
    let mut reports = injection.report(&world.sim);
    injection.release(&mut world.sim);
    world.sim.hops.clear();
    // A pod's sandbox namespace is named after the pod.
    let pods: BTreeMap<String, String> = world
        .cluster
        .pods
        .iter()
        .map(|(key, p)| {
            (
                world.sim.net.netns(p.sandbox.netns).name.clone(),
                key.clone(),
            )
        })
        .collect();
    for r in &mut reports {
        r.rename_netns(|ns| pods.get(ns).cloned());
    }
    Ok(reports)
}
