//! `kube-netsim get` and `kube-netsim files` on a manifest a user would write.

use std::path::PathBuf;
use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sim-k8s/tests/fixtures/kubenet/web.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .args(args)
        .arg("-f")
        .arg(fixture)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn get_pods_nodes_and_endpoints_as_kubectl_prints_them() {
    let (code, pods, err) = run(&["get", "pods"]);
    assert_eq!(code, Some(0), "{err}");
    let (_, nodes, _) = run(&["get", "nodes"]);
    let (_, eps, _) = run(&["get", "endpoints"]);
    insta::assert_snapshot!(format!("{pods}\n{nodes}\n{eps}"));
    let (_, json, _) = run(&["get", "endpointslices", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kind"], "List");
    let eps = v["items"][0]["endpoints"].as_array().unwrap();
    // Three ready web pods and the gated one, which is serving but not ready.
    assert_eq!(eps.len(), 4);
    let not_ready = eps
        .iter()
        .filter(|e| e["conditions"]["ready"] == false)
        .count();
    assert_eq!(not_ready, 1);
    let (_, yaml, _) = run(&["get", "services", "-o", "yaml"]);
    assert!(
        yaml.contains("clusterIP: ") && yaml.contains("10.96.0.80"),
        "{yaml}"
    );
}

#[test]
fn files_prints_the_kubelets_bytes() {
    let (code, resolv, err) = run(&["files", "--pod", "shop/gated", "--resolv-conf"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        resolv,
        "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    );
    let (_, hosts, _) = run(&["files", "--pod", "shop/gated", "--hosts"]);
    assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
    assert!(hosts.ends_with("10.244.0.2\tgated\n"), "{hosts}");
    let (code, _, err) = run(&["files", "--pod", "shop/nope", "--hosts"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("shop/nope"), "{err}");
    let (code, _, _) = run(&["files", "--pod", "shop/gated"]);
    assert_eq!(code, Some(2), "--hosts or --resolv-conf is required");
}
