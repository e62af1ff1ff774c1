//! `kube-netsim trace` as a user runs it: the JSON of a kube-proxy dump's outcomes, and a
//! line-numbered error (exit 2) for a bad dump.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sim-net/tests/fixtures/iptables/kube-proxy.save")
}

#[test]
fn trace_json_lists_each_backend_of_the_dns_service() {
    let out = bin()
        .args(["trace", "--iptables-save"])
        .arg(fixture())
        .args([
            "--local-ip",
            "192.168.49.2",
            "--src",
            "10.244.1.9",
            "--dst",
            "10.96.0.10",
            "--dport",
            "53",
            "--proto",
            "udp",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let branches = v["branches"].as_array().unwrap();
    let dests: Vec<&str> = branches
        .iter()
        .map(|b| b["destination"].as_str().unwrap())
        .collect();
    assert_eq!(dests, ["10.244.0.2:53", "10.244.0.3:53"]);
    assert!(
        branches
            .iter()
            .all(|b| b["verdict"] == "ACCEPT" && b["masquerade"] == false)
    );
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_node_port_from_outside_is_masqueraded_in_the_text_output() {
    let out = bin()
        .args(["trace", "--iptables-save"])
        .arg(fixture())
        .args([
            "--local-ip",
            "192.168.49.2",
            "--src",
            "198.51.100.7",
            "--dst",
            "192.168.49.2",
            "--dport",
            "30080",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let outcomes = text.split("outcomes:").nth(1).unwrap();
    assert!(
        outcomes
            .lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.contains("(masquerade)")),
        "{text}"
    );
    assert!(outcomes.contains("ACCEPT -> 10.244.1.5:8080"), "{text}");
}

#[test]
fn a_bad_dump_is_exit_2_with_the_line() {
    let dir = std::env::temp_dir().join(format!("kube-netsim-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.save");
    std::fs::write(
        &bad,
        "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m nosuch -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    let out = bin()
        .args(["trace", "--iptables-save"])
        .arg(&bad)
        .args(["--src", "10.0.0.1", "--dst", "10.0.0.2", "--dport", "80"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.save") && err.contains("line 3") && err.contains("nosuch"),
        "{err}"
    );
    let usage = bin().args(["trace", "--src", "nonsense"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
