//! Exports of a scenario run: what a person or their tools read afterwards.
//!
//! | kind      | file             | what                                                        |
//! |-----------|------------------|-------------------------------------------------------------|
//! | `pcapng`  | `capture.pcapng` | every frame on every device ([`pcapng`])                    |
//! | `dot`     | `topology.dot`   | Graphviz topology, nodes as clusters ([`dot`])              |
//! | `svg`     | `topology.svg`   | that graph drawn by Graphviz `dot`, when it is on `PATH`    |
//! | `mermaid` | `flow-S.R.mmd`   | one request's packets hop by hop, a sequence diagram ([`mermaid`]) |
//! | `jsonl`   | `trace.jsonl`    | the engine's trace (one record per hop) as JSON Lines       |
//! | `flows`   | `flows.jsonl`    | Hubble-style flow records, one per packet ([`flows`])       |
//! | `html`    | `report.html`    | one self-contained page: steps, topology, flows ([`html`])  |
//!
//! Every exporter is a pure function of the run ([`RunView`]) except the SVG, which runs the
//! `dot` program. Same scenario and seed ⇒ the same bytes for every file: times are simulated,
//! maps are ordered, nothing reads the wall clock or the host. The SVG and the HTML that
//! inlines it are as deterministic as the installed Graphviz.
//!
//! Simplified: the topology is the network as the run ended (a pod deleted mid-run is gone
//! from it; its flows still name it); a request's flow is every hop recorded while it ran,
//! which includes the ARP it caused.

pub mod dot;
pub mod flows;
pub mod html;
pub mod mermaid;
pub mod pcapng;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use sim_core::Trace;
use sim_k8s::cluster::Cluster;
use sim_net::Network;
use sim_net::pcapng::Capture;

use crate::scenario::{FlowRecord, RunOutput, RunReport};

/// One kind of export, as `exports:` and `--export` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExportKind {
    Pcapng,
    Dot,
    Svg,
    Mermaid,
    Jsonl,
    Flows,
    Html,
}

impl ExportKind {
    /// Every kind, in the order they are written.
    pub const ALL: [ExportKind; 7] = [
        ExportKind::Pcapng,
        ExportKind::Dot,
        ExportKind::Svg,
        ExportKind::Mermaid,
        ExportKind::Jsonl,
        ExportKind::Flows,
        ExportKind::Html,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Pcapng => "pcapng",
            ExportKind::Dot => "dot",
            ExportKind::Svg => "svg",
            ExportKind::Mermaid => "mermaid",
            ExportKind::Jsonl => "jsonl",
            ExportKind::Flows => "flows",
            ExportKind::Html => "html",
        }
    }

    /// `pcapng, dot, ...`: for error messages.
    pub fn valid_list() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for ExportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown export {s:?}; expected one of {}",
                    Self::valid_list()
                )
            })
    }
}

/// `TCP` or `UDP`.
pub fn proto_name(p: sim_net::SocketProto) -> &'static str {
    match p {
        sim_net::SocketProto::Tcp => "TCP",
        sim_net::SocketProto::Udp => "UDP",
    }
}

/// Which request the Mermaid diagram follows: `STEP` (its first request) or `STEP.REQ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSelector {
    pub step: usize,
    pub request: Option<u32>,
}

impl FromStr for FlowSelector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: expected STEP or STEP.REQUEST, e.g. 0 or 2.1");
        let (step, request) = match s.split_once('.') {
            Some((a, b)) => (a, Some(b.parse().map_err(|_| bad())?)),
            None => (s, None),
        };
        Ok(FlowSelector {
            step: step.parse().map_err(|_| bad())?,
            request,
        })
    }
}

impl FlowSelector {
    /// The selected flow of `flows`; `None` selects the first of the run.
    pub fn pick(sel: Option<FlowSelector>, flows: &[FlowRecord]) -> Result<&FlowRecord, String> {
        let found = match sel {
            None => flows.first(),
            Some(s) => flows
                .iter()
                .find(|f| f.step == s.step && s.request.is_none_or(|r| r == f.request)),
        };
        found.ok_or_else(|| {
            if flows.is_empty() {
                "the run sent no requests: no flow to draw".to_string()
            } else {
                let ids: Vec<String> = flows.iter().map(FlowRecord::id).collect();
                format!("no such flow; the run's flows are {}", ids.join(", "))
            }
        })
    }
}

/// Who a network namespace belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A node's root namespace.
    Node(String),
    /// A pod's sandbox on a node (`namespace/name`).
    Pod { node: String, pod: String },
    /// Neither: the segment's switch, the cloud router.
    Other,
}

/// Which namespace is whose, and which address is whose: the Kubernetes names the network
/// knows nothing of.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    by_netns: BTreeMap<String, Owner>,
    pods_by_ip: BTreeMap<Ipv4Addr, String>,
    nodes_by_ip: BTreeMap<Ipv4Addr, String>,
}

impl Placement {
    pub fn new(cluster: &Cluster, net: &Network) -> Self {
        let mut p = Placement::default();
        for (name, n) in &cluster.nodes {
            p.by_netns
                .insert(net.netns(n.netns).name.clone(), Owner::Node(name.clone()));
            p.nodes_by_ip.insert(n.ip, name.clone());
        }
        for (key, pod) in &cluster.pods {
            if !pod.sandbox.host_network {
                p.by_netns.insert(
                    net.netns(pod.sandbox.netns).name.clone(),
                    Owner::Pod {
                        node: pod.node.clone(),
                        pod: key.clone(),
                    },
                );
                p.pods_by_ip.insert(pod.ip, key.clone());
            }
        }
        p
    }

    pub fn owner(&self, netns: &str) -> &Owner {
        self.by_netns.get(netns).unwrap_or(&Owner::Other)
    }

    /// The node a namespace is on, or the namespace's own name when it is on none.
    pub fn node_of<'a>(&'a self, netns: &'a str) -> &'a str {
        match self.owner(netns) {
            Owner::Node(n) | Owner::Pod { node: n, .. } => n,
            Owner::Other => netns,
        }
    }

    /// The pod (`namespace/name`) with this IP.
    pub fn pod_by_ip(&self, ip: Ipv4Addr) -> Option<&str> {
        self.pods_by_ip.get(&ip).map(String::as_str)
    }

    /// The node with this IP.
    pub fn node_by_ip(&self, ip: Ipv4Addr) -> Option<&str> {
        self.nodes_by_ip.get(&ip).map(String::as_str)
    }
}

/// What the exporters read: a finished run.
#[derive(Clone, Copy)]
pub struct RunView<'a> {
    pub report: &'a RunReport,
    pub cluster: &'a Cluster,
    /// The network as the run ended (the cluster's own `net` is moved into the engine).
    pub net: &'a Network,
    pub capture: Option<&'a Capture>,
    pub trace: &'a Trace,
}

impl<'a> RunView<'a> {
    pub fn new(out: &'a RunOutput) -> Self {
        RunView {
            report: &out.report,
            cluster: &out.world.cluster,
            net: &out.world.sim.net,
            capture: out.world.sim.capture.as_ref(),
            trace: &out.trace,
        }
    }

    pub fn placement(&self) -> Placement {
        Placement::new(self.cluster, self.net)
    }
}

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The flow the Mermaid diagram follows (default: the run's first).
    pub mermaid_flow: Option<FlowSelector>,
}

/// Rendered exports: files (name, bytes) in [`ExportKind::ALL`] order, and what was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub files: Vec<(String, Vec<u8>)>,
    /// Exports not written, and why (no Graphviz, no flow to draw).
    pub skipped: Vec<String>,
}

/// Renders every kind in `kinds` (duplicates ignored). Errors are the user's: a
/// `--mermaid-flow` naming no flow.
pub fn render(
    kinds: &[ExportKind],
    view: &RunView<'_>,
    opts: &ExportOptions,
) -> Result<Rendered, String> {
    let mut out = Rendered::default();
    let wanted = |k: ExportKind| kinds.contains(&k);
    let dot_text = dot::topology(view);
    // The HTML inlines the SVG when Graphviz can draw one.
    let svg = if wanted(ExportKind::Svg) || wanted(ExportKind::Html) {
        dot::svg(&dot_text)
    } else {
        Err(String::new())
    };
    for kind in ExportKind::ALL.into_iter().filter(|k| wanted(*k)) {
        match kind {
            ExportKind::Pcapng => match view.capture {
                Some(c) => out.files.push((
                    "capture.pcapng".into(),
                    pcapng::write(c, &view.placement())?,
                )),
                None => out.skipped.push("pcapng: the run was not captured".into()),
            },
            ExportKind::Dot => out
                .files
                .push(("topology.dot".into(), dot_text.clone().into_bytes())),
            ExportKind::Svg => match &svg {
                Ok(s) => out
                    .files
                    .push(("topology.svg".into(), s.clone().into_bytes())),
                Err(why) => out.skipped.push(format!("svg: {why}")),
            },
            ExportKind::Mermaid => {
                if view.report.flows.is_empty() && opts.mermaid_flow.is_none() {
                    out.skipped
                        .push("mermaid: the run sent no requests, no flow to draw".into());
                    continue;
                }
                let flow = FlowSelector::pick(opts.mermaid_flow, &view.report.flows)
                    .map_err(|e| format!("--mermaid-flow: {e}"))?;
                out.files.push((
                    format!("flow-{}.mmd", flow.id()),
                    mermaid::sequence(flow).into_bytes(),
                ));
            }
            ExportKind::Jsonl => {
                let mut buf = Vec::new();
                view.trace
                    .write_jsonl(&mut buf)
                    .expect("writing to a Vec cannot fail");
                out.files.push(("trace.jsonl".into(), buf));
            }
            ExportKind::Flows => out
                .files
                .push(("flows.jsonl".into(), flows::hubble_jsonl(view).into_bytes())),
            ExportKind::Html => {
                let picture = match &svg {
                    Ok(s) => html::Topology::Svg(s),
                    Err(_) => html::Topology::Dot(&dot_text),
                };
                out.files.push((
                    "report.html".into(),
                    html::report(view, picture).into_bytes(),
                ));
            }
        }
    }
    Ok(out)
}
