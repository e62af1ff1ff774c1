//! `kube-netsim matrix` and `kube-netsim explain` as a user runs them, on the seed's example
//! NetworkPolicy (`scenarios/examples/network-policy.yaml`: its manifests and the policy its
//! steps apply, handed over as one manifest file): the truth table's cells follow the
//! documented semantics, the dataplane's table is the oracle's, `explain` names the policy and
//! rule of both directions, and bad input is exit 2 with the place named.

mod common;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use common::{Out, run};

/// Writes `text` to a file of this test process named `name`; returns its path.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kns-policy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The seed example's objects as one manifest file (a `List`) named `name` (each test writes
/// its own: tests run in parallel): its `manifests`, then the NetworkPolicy its steps `apply`.
fn seed_example(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/network-policy.yaml");
    let scenario: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut items = scenario["manifests"].as_array().unwrap().clone();
    let applied: Vec<Value> = scenario["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("apply").cloned())
        .collect();
    assert_eq!(applied.len(), 1, "the example applies one policy");
    assert_eq!(applied[0]["metadata"]["name"], "test-network-policy");
    items.extend(applied);
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    temp_file(name, &serde_json::to_string_pretty(&list).unwrap())
}

fn matrix(file: &Path, args: &[&str]) -> Out {
    let mut all = vec!["matrix", "-f", file.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all)
}

const PODS: [&str; 5] = [
    "default/db",
    "default/frontend",
    "default/other",
    "elsewhere/stranger",
    "myproject/reporter",
];

/// What the seed notes say of test-network-policy on `port`/`protocol`: into role=db only
/// TCP 6379 from role=frontend of "default" or any pod of a project=myproject namespace;
/// out of role=db only TCP 5978 to 10.0.0.0/24 (no pod); other pods unisolated.
fn documented(from: &str, to: &str, port: u16, protocol: &str) -> bool {
    if from == "default/db" {
        return false;
    }
    if to == "default/db" {
        return protocol == "TCP"
            && port == 6379
            && matches!(from, "default/frontend" | "myproject/reporter");
    }
    true
}

#[test]
fn the_seed_examples_table_follows_the_semantics_and_the_dataplane_is_the_oracle() {
    let seed = seed_example("matrix.json");
    let out = matrix(&seed, &["--port", "6379"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The e2e grid: rows from, columns to.
    assert_eq!(
        out.stdout,
        "-\tdefault/db\tdefault/frontend\tdefault/other\telsewhere/stranger\tmyproject/reporter\n\
         default/db\t-\tX\tX\tX\tX\n\
         default/frontend\t.\t-\t.\t.\t.\n\
         default/other\tX\t.\t-\t.\t.\n\
         elsewhere/stranger\tX\t.\t.\t-\t.\n\
         myproject/reporter\t.\t.\t.\t.\t-\n"
    );
    for (port, protocol) in [(6379, "TCP"), (80, "TCP"), (6379, "UDP"), (5978, "TCP")] {
        let port_s = port.to_string();
        let base = ["--port", port_s.as_str(), "--protocol", protocol, "--json"];
        let dataplane = matrix(&seed, &base);
        assert_eq!(dataplane.code, Some(0), "{}", dataplane.stderr);
        let mut oracle_args = base.to_vec();
        oracle_args.extend(["--via", "oracle"]);
        let oracle = matrix(&seed, &oracle_args);
        assert_eq!(oracle.code, Some(0), "{}", oracle.stderr);
        let d: Value = serde_json::from_str(&dataplane.stdout).unwrap();
        let o: Value = serde_json::from_str(&oracle.stdout).unwrap();
        assert_eq!(d, o, "{protocol}/{port}: dataplane vs oracle");
        assert_eq!(d["port"], port);
        assert_eq!(d["protocol"], protocol);
        assert_eq!(d["pods"], json!(PODS));
        for from in PODS {
            let row = d["allowed"][from].as_object().unwrap();
            assert_eq!(row.len(), PODS.len() - 1, "no cell for {from} to itself");
            for to in PODS.iter().filter(|t| **t != from) {
                assert_eq!(
                    row[*to],
                    json!(documented(from, to, port, protocol)),
                    "{from} -> {to} {protocol}/{port}"
                );
            }
        }
    }
    // SCTP: the oracle answers (role=db is isolated for SCTP too), the dataplane does not.
    let out = matrix(
        &seed,
        &["--protocol", "SCTP", "--port", "6379", "--via", "oracle"],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("default/frontend\tX\t-\t.\t.\t.\n"),
        "{}",
        out.stdout
    );
    let out = matrix(&seed, &["--protocol", "SCTP", "--port", "6379"]);
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr,
        "error: SCTP is not probed: the dataplane probes TCP and UDP only (use --via oracle)\n"
    );
}

fn explain(file: &Path, from: &str, to: &str, port: &str, more: &[&str]) -> Out {
    let mut all = vec![
        "explain",
        "-f",
        file.to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
        "--port",
        port,
    ];
    all.extend_from_slice(more);
    run(&all)
}

#[test]
fn explain_names_the_policy_and_rule_of_both_directions_and_the_dataplane_agrees() {
    let seed = seed_example("explain.json");
    let mut text = String::new();
    for (from, to, port) in [
        ("default/frontend", "default/db", "6379"),
        ("myproject/reporter", "default/db", "6379"),
        ("default/other", "default/db", "6379"),
        ("default/frontend", "default/db", "80"),
        ("default/db", "default/frontend", "8080"),
        ("elsewhere/stranger", "default/frontend", "8080"),
    ] {
        let out = explain(&seed, from, to, port, &[]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(out.stdout.contains(": agrees\n"), "{}", out.stdout);
        text.push_str(&out.stdout);
    }
    insta::assert_snapshot!("explain_seed_example", text);

    let out = explain(&seed, "default/other", "default/db", "6379", &["--json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["egress"]["verdict"], "not-isolated");
    assert_eq!(
        v["ingress"],
        json!({"verdict": "denied", "isolatedBy": ["default/test-network-policy"]})
    );
    assert_eq!(v["dataplane"]["outcome"], "refused");
    assert_eq!(v["dataplane"]["fate"], "drop(filtered)");
    assert_eq!(v["dataplane"]["agrees"], true);
    let note = v["dataplane"]["note"].as_str().unwrap();
    assert!(
        note.contains("rule to DROP ingress traffic destined to POD name: db namespace: default"),
        "{note}"
    );

    // SCTP: the oracle's verdict, no probe.
    let out = explain(
        &seed,
        "default/frontend",
        "default/db",
        "6379",
        &["--protocol", "SCTP"],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("default/frontend -> default/db SCTP/6379: DENIED\n")
    );
    assert!(
        out.stdout.ends_with("  dataplane: SCTP is not probed\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn bad_input_is_exit_2_with_the_place_named() {
    let seed = seed_example("bad-input.json");
    let seed_s = seed.to_str().unwrap();
    // Not NAMESPACE/NAME, and a pod the cluster does not have.
    let out = explain(&seed, "db", "default/frontend", "80", &[]);
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr,
        "error: \"db\": expected NAMESPACE/NAME of a pod\n"
    );
    let out = explain(&seed, "default/ghost", "default/frontend", "80", &[]);
    assert_eq!(out.code, Some(2));
    assert_eq!(
        out.stderr,
        "error: pod default/ghost is not in the cluster (expected NAMESPACE/NAME of a pod)\n"
    );
    // Flags clap checks.
    for args in [
        vec!["matrix", "-f", seed_s, "--protocol", "ICMP"],
        vec!["matrix", "-f", seed_s, "--port", "0"],
        vec!["matrix", "-f", seed_s, "--via", "packets"],
        vec!["explain", "-f", seed_s, "--from", "a/b", "--to", "a/c"],
    ] {
        let out = run(&args);
        assert_eq!(out.code, Some(2), "{args:?}");
        assert!(
            out.stderr.starts_with("error: "),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = run(&["matrix", "-f", seed_s, "--protocol", "tcp"]);
    assert!(
        out.stderr
            .contains("expected TCP, UDP or SCTP, not \"tcp\""),
        "{}",
        out.stderr
    );
    // A manifest the loader refuses: file, line and column.
    let typo = temp_file(
        "typo.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  ingress:\n    - ports: [{port: [80]}]\n",
    );
    let out = matrix(&typo, &[]);
    assert_eq!(out.code, Some(2));
    let at = format!("error: {}:7:", typo.display());
    assert!(out.stderr.starts_with(&at), "{}", out.stderr);
    assert!(
        out.stderr.contains("spec.ingress[0].ports[0].port"),
        "{}",
        out.stderr
    );
    // A policy the API server would refuse: the document's place, the policy and the field.
    let invalid = temp_file(
        "invalid.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  ingress:\n    - from: [{ipBlock: {cidr: 10.0.0.0/33}}]\n",
    );
    let out = matrix(&invalid, &["--via", "oracle"]);
    assert_eq!(out.code, Some(2));
    let at = format!("error: {}:5:1: NetworkPolicy a/p: ", invalid.display());
    assert!(out.stderr.starts_with(&at), "{}", out.stderr);
    assert!(out.stderr.contains("ipBlock.cidr"), "{}", out.stderr);
    // A file that is not there.
    let out = run(&["matrix", "-f", "/nonexistent/policy.yaml"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("/nonexistent/policy.yaml"),
        "{}",
        out.stderr
    );
}
