//! Builds a kubenet cluster of N nodes and P pods (D Deployments) from manifests generated in
//! memory and reports the build time and the process's peak memory as one JSON line.
//!
//! `cargo run --release -p benches --bin cluster_scale -- --nodes 1000 --pods 30000`

use std::time::Instant;

use clap::Parser;
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::manifest::{LoadOptions, load_str};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    #[arg(long, default_value_t = 30_000)]
    pods: usize,
    /// Deployments the pods are spread over.
    #[arg(long, default_value_t = 100)]
    deployments: usize,
}

fn manifests(a: &Args) -> String {
    let mut y = String::new();
    let per = a.pods / a.deployments;
    for d in 0..a.deployments {
        y += &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{d}\n  namespace: default\nspec:\n  replicas: {per}\n  selector:\n    matchLabels:\n      app: app{d}\n  template:\n    metadata:\n      labels:\n        app: app{d}\n    spec:\n      containers:\n      - name: c\n        image: agnhost\n        ports:\n        - containerPort: 8080\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app{d}\n  namespace: default\nspec:\n  selector:\n    app: app{d}\n  ports:\n  - port: 80\n    targetPort: 8080\n---\n"
        );
    }
    y
}

/// Peak resident set size in KiB (`VmHWM` in /proc/self/status), if the kernel tells.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let a = Args::parse();
    let text = manifests(&a);
    let start = Instant::now();
    let m = load_str("generated.yaml", &text, &LoadOptions::default()).expect("valid manifests");
    let loaded = start.elapsed();
    let config = ClusterConfig {
        default_nodes: a.nodes,
        // Room for every node's pods: /16 per node would not fit 1000 nodes in a /8.
        cluster_cidr: "10.0.0.0/8".parse().expect("literal"),
        node_subnet: "172.16.0.0/12".parse().expect("literal"),
        ..ClusterConfig::default()
    };
    let c = Cluster::build(m.objects(), config).expect("cluster builds");
    let built = start.elapsed();
    println!(
        "{{\"bench\":\"cluster_scale\",\"nodes\":{},\"pods\":{},\"load_s\":{:.3},\"build_s\":{:.3},\"peak_rss_mib\":{}}}",
        c.nodes.len(),
        c.pods.len(),
        loaded.as_secs_f64(),
        built.as_secs_f64(),
        peak_rss_kib().map_or("null".into(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
}
