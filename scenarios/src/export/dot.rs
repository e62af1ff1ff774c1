//! The topology as Graphviz DOT, drawn the way the cluster is built: one cluster per node
//! (`subgraph "cluster_<node>"`) holding the node's root namespace and one inner cluster per
//! pod sandbox on it (`"cluster_pod_<netns>"`); the namespaces on no node (the segment's
//! switch, the cloud router) as clusters of their own (`"cluster_netns_<netns>"`). Devices are graph nodes labelled with name, type and addresses
//! (bridges filled, VXLAN devices with their VNI and port, devices that are down dashed);
//! edges are sim-net's ([`sim_net::dot::graph`]): veth pairs, bridge ports, links with latency.
//!
//! Simplified: loopback devices are left out (they connect nothing); a hostNetwork pod has
//! no sandbox of its own and shows only as its node.
//!
//! [`svg`] runs Graphviz `dot -Tsvg` on the text, when `dot` is on `PATH`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use sim_net::device::DeviceKind;
use sim_net::dot::{Edge, graph};
use sim_net::{NetNsId, Network};

use super::{Owner, RunView};

/// A DOT string literal's contents: `"` and `\` escaped, line breaks as `\n`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn device_id(i: usize) -> String {
    format!("d{i}")
}

fn netns_devices(out: &mut String, net: &Network, ns: NetNsId, indent: &str) {
    for &d in &net.netns(ns).devices {
        let dev = net.device(d);
        let mut label = format!("{} ({})", dev.name, dev.kind.type_name());
        let mut attrs = String::new();
        match &dev.kind {
            DeviceKind::Loopback => continue,
            DeviceKind::Bridge(_) => attrs.push_str(", style=\"filled\", fillcolor=\"#fff4c2\""),
            DeviceKind::Vxlan(v) => {
                let _ = write!(label, "\nvni {} port {}", v.vni, v.dstport);
                attrs.push_str(", shape=hexagon");
            }
            DeviceKind::Veth { .. } => attrs.push_str(", shape=ellipse"),
            DeviceKind::Nic { .. } | DeviceKind::Dummy => {}
        }
        for a in &dev.addrs {
            let _ = write!(label, "\n{}", a.net);
        }
        if !dev.up {
            attrs.push_str(", color=gray, style=dashed");
        }
        let _ = writeln!(
            out,
            "{indent}{} [label=\"{}\"{attrs}];",
            device_id(d.index()),
            escape(&label)
        );
    }
}

fn has_devices(net: &Network, ns: NetNsId) -> bool {
    net.netns(ns)
        .devices
        .iter()
        .any(|&d| !matches!(net.device(d).kind, DeviceKind::Loopback))
}

/// The DOT text of the run's topology.
pub fn topology(view: &RunView<'_>) -> String {
    let net = view.net;
    let placement = view.placement();
    let mut out = String::from(
        "graph topology {\n  compound=true;\n  rankdir=LR;\n  fontname=\"monospace\";\n  \
         node [shape=box, fontname=\"monospace\", fontsize=10];\n  edge [fontname=\"monospace\", fontsize=9];\n",
    );
    for (name, node) in &view.cluster.nodes {
        let _ = writeln!(
            out,
            "  subgraph \"cluster_{}\" {{\n    label=\"node {} ({} podCIDR {})\";\n    style=rounded;\n    color=\"#4a6fa5\";",
            escape(name),
            escape(name),
            node.ip,
            node.pod_cidr
        );
        netns_devices(&mut out, net, node.netns, "    ");
        for (key, pod) in view.cluster.pods.iter().filter(|(_, p)| &p.node == name) {
            if pod.sandbox.host_network {
                continue;
            }
            let ns = pod.sandbox.netns;
            let _ = writeln!(
                out,
                "    subgraph \"cluster_pod_{}\" {{\n      label=\"pod {}\\nnetns {}\";\n      style=\"rounded,filled\";\n      fillcolor=\"#eef5ea\";\n      color=\"#5a8f4e\";",
                escape(&net.netns(ns).name),
                escape(key),
                escape(&net.netns(ns).name)
            );
            netns_devices(&mut out, net, ns, "      ");
            out.push_str("    }\n");
        }
        out.push_str("  }\n");
    }
    for (ns_id, ns) in net.all_netns() {
        if *placement.owner(&ns.name) != Owner::Other || !has_devices(net, ns_id) {
            continue;
        }
        let _ = writeln!(
            out,
            "  subgraph \"cluster_netns_{}\" {{\n    label=\"{}\";\n    style=dashed;",
            escape(&ns.name),
            escape(&ns.name)
        );
        netns_devices(&mut out, net, ns_id, "    ");
        out.push_str("  }\n");
    }
    let g = graph(net);
    for e in g.edge_indices() {
        let Some((a, b)) = g.edge_endpoints(e) else {
            continue;
        };
        let attrs = match &g[e] {
            Edge::Veth => "style=bold, label=\"veth\"".to_string(),
            Edge::Link(lat) => format!(
                "style=bold, color=\"#1f5fbf\", label=\"link {}\"",
                escape(lat)
            ),
            Edge::Port => "style=dotted, label=\"port\"".to_string(),
        };
        let _ = writeln!(
            out,
            "  {} -- {} [{attrs}];",
            device_id(g[a].index()),
            device_id(g[b].index())
        );
    }
    out.push_str("}\n");
    out
}

/// The graph drawn as SVG by Graphviz `dot`, or why not (not on `PATH`, or it failed).
pub fn svg(dot_text: &str) -> Result<String, String> {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("Graphviz `dot` is not on PATH; not drawn".into());
        }
        Err(e) => return Err(format!("cannot run Graphviz `dot`: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot_text.as_bytes())
            .map_err(|e| format!("writing to Graphviz `dot`: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("Graphviz `dot`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "Graphviz `dot` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| "Graphviz `dot` wrote invalid UTF-8".into())
}
