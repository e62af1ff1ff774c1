//! The topology as Graphviz DOT: one cluster per namespace, one node per device (labelled with
//! its name and addresses), and edges for veth pairs, links (with their latency) and bridge
//! ports. The graph is built with petgraph and written in a fixed order, so the same network
//! gives the same bytes.

use std::fmt::Write;

use petgraph::graph::{NodeIndex, UnGraph};

use crate::device::{DeviceId, DeviceKind};
use crate::network::Network;

/// What an edge stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edge {
    Veth,
    Link(String),
    Port,
}

/// Devices as nodes, their connections as edges.
pub fn graph(net: &Network) -> UnGraph<DeviceId, Edge> {
    let mut g = UnGraph::new_undirected();
    let nodes: Vec<NodeIndex> = (0..net.devices.len())
        .map(|i| g.add_node(DeviceId(i as u32)))
        .collect();
    for (i, d) in net.devices.iter().enumerate() {
        if let DeviceKind::Veth { peer } = d.kind
            && i < peer.index()
        {
            g.add_edge(nodes[i], nodes[peer.index()], Edge::Veth);
        }
        if let Some(m) = d.master {
            g.add_edge(nodes[i], nodes[m.index()], Edge::Port);
        }
    }
    for (_, l) in net.all_links() {
        let [a, b] = l.ends;
        g.add_edge(
            nodes[a.index()],
            nodes[b.index()],
            Edge::Link(l.props.latency.to_string()),
        );
    }
    g
}

/// The DOT text: an undirected `graph topology { ... }`.
pub fn to_dot(net: &Network) -> String {
    let g = graph(net);
    let id = |d: DeviceId| format!("d{}", d.0);
    let mut out = String::from(
        "graph topology {\n  compound=true;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for (ns_id, ns) in net.all_netns() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{} {{\n    label=\"{}\";",
            ns_id.index(),
            ns.name
        );
        for &d in &ns.devices {
            let dev = net.device(d);
            let mut label = format!("{} ({})", dev.name, dev.kind.type_name());
            for a in &dev.addrs {
                let _ = write!(label, "\\n{}", a.net);
            }
            let style = if dev.up { "" } else { ", style=dashed" };
            let _ = writeln!(out, "    {} [label=\"{label}\"{style}];", id(d));
        }
        out.push_str("  }\n");
    }
    for e in g.edge_indices() {
        let (a, b) = g.edge_endpoints(e).expect("edge exists");
        let attrs = match &g[e] {
            Edge::Veth => "style=bold, label=\"veth\"".to_string(),
            Edge::Link(lat) => format!("style=bold, color=blue, label=\"link {lat}\""),
            Edge::Port => "style=dotted".to_string(),
        };
        let _ = writeln!(out, "  {} -- {} [{attrs}];", id(g[a]), id(g[b]));
    }
    out.push_str("}\n");
    out
}
