//! Every scenario in `scenarios/examples/` runs, holds, and reports the same step outcomes
//! as its snapshot; runs are deterministic; bad files are refused with their location.

use std::path::{Path, PathBuf};
use std::process::Command;

use scenarios::scenario::{load_file, load_text, run};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_holds_and_matches_its_snapshot() {
    let files = examples();
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let scenario = load_file(&path).unwrap();
        assert!(
            !scenario.description.trim().is_empty(),
            "{}: every example says what it teaches",
            path.display()
        );
        let report = run(&scenario, None).unwrap();
        let text = report.text();
        assert!(report.passed(), "{}:\n{text}", path.display());
        let again = run(&scenario, None).unwrap().text();
        assert_eq!(text, again, "{}: two runs differ", path.display());
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(format!("example-{name}"), text);
    }
}

fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_prints_json_and_exits_zero_when_all_hold() {
    let dir = std::env::temp_dir().join(format!("kns-examples-{}", std::process::id()));
    let (code, out, err) = cli(&[
        "run",
        "scenarios/examples/quickstart.yaml",
        "--json",
        "--seed",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    // The exports the file lists, announced on stderr so stdout stays one JSON document.
    assert!(dir.join("quickstart/report.html").is_file(), "{err}");
    assert!(err.contains("wrote "), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["name"], "quickstart");
    assert_eq!(v[0]["seed"], 3);
    assert_eq!(v[0]["passed"], true);
    assert_eq!(v[0]["steps"][1]["status"], "passed");
}

#[test]
fn a_failed_expectation_shows_expected_and_happened_and_exits_one() {
    let (code, out, _) = cli(&["run", "scenarios/tests/fixtures/failing.yaml"]);
    assert_eq!(code, Some(1), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn invalid_input_exits_two_with_its_location() {
    let (code, _, err) = cli(&["run", "scenarios/tests/fixtures/no-such-file.yaml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no-such-file.yaml"), "{err}");
}

fn load_err(text: &str) -> String {
    load_text("s.yaml", text, Path::new("."))
        .unwrap_err()
        .to_string()
}

#[test]
fn parser_errors_name_the_place_and_what_was_expected() {
    let errors = [
        // An unknown top-level field.
        load_err("name: x\nstep: []\n"),
        // An unknown field in a step.
        load_err("name: x\nsteps:\n  - sned: {from: a/b, to: \"1.2.3.4:80\", httpGet: /}\n"),
        // A bad duration.
        load_err("name: x\nsteps:\n  - at: 2 seconds\n    wait: 1s\n"),
        // Two actions in one step.
        load_err("name: x\nsteps:\n  - wait: 1s\n    expect: {reachable: true}\n"),
        // A bad target.
        load_err("name: x\nsteps:\n  - send: {from: default/a, to: \"web!:80\", httpGet: /}\n"),
        // No request kind.
        load_err("name: x\nsteps:\n  - send: {from: default/a, to: \"10.0.0.1:80\"}\n"),
        // An expectation about a send that never happened.
        load_err("name: x\nsteps:\n  - expect: {reachable: true}\n"),
        // A bad pod name.
        load_err("name: x\nsteps:\n  - setCondition: {pod: gated, type: a/b, status: True}\n"),
        // A bad inline manifest.
        load_err(
            "name: x\nmanifests:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: p}\n    spec: {containerz: []}\n",
        ),
        // A missing include.
        load_err("name: x\nmanifests:\n  - include: nope.yaml\n"),
        // A bad cluster section.
        load_err("name: x\ncluster: {networkPlugin: calico}\n"),
        // A node step naming something that is not a node name.
        load_err("name: x\nsteps:\n  - failNode: default/node-1\n"),
        // A probe step without NAMESPACE/NAME.
        load_err("name: x\nsteps:\n  - unready: web\n"),
        // A snapshot of a table nobody dumps.
        load_err("name: x\nsteps:\n  - snapshot: {node: n, tables: [arp]}\n"),
        // A file the kubelet does not write.
        load_err(
            "name: x\nsteps:\n  - expect: {file: {pod: a/b, path: /etc/passwd, contains: [x]}}\n",
        ),
        // A node condition status that does not exist.
        load_err("name: x\nsteps:\n  - expect: {node: {name: n, ready: Maybe}}\n"),
        // Link settings in the wrong units.
        load_err("name: x\ncluster: {links: {bandwidth: 1GB}}\n"),
        load_err("name: x\ncluster: {links: {loss: 0.1}}\n"),
        // A node listed twice, and a bad node address.
        load_err("name: x\ncluster: {nodes: [a, {name: a}]}\n"),
        load_err("name: x\ncluster: {nodes: [{name: a, address: 10.0.0}]}\n"),
        // A sender that is neither a pod, a node nor an external host.
        load_err(
            "name: x\nsteps:\n  - send: {from: \"pod:web\", to: \"1.2.3.4:80\", tcpConnect: true}\n",
        ),
        // A latency bound that is not a duration.
        load_err(
            "name: x\nsteps:\n  - send: {from: a/b, to: \"1.2.3.4:80\", tcpConnect: true}\n  - expect: {maxLatency: fast}\n",
        ),
    ];
    insta::assert_snapshot!(errors.join("\n"));
}

#[test]
fn dns_errors_name_the_field_and_what_was_expected() {
    let errors = [
        load_err("name: x\ncluster: {dns: bind9}\n"),
        load_err("name: x\nsteps:\n  - dns: {from: \"node:n1\", name: web}\n"),
        load_err("name: x\nsteps:\n  - dns: {from: a/b, name: \"web..x\"}\n"),
        load_err("name: x\nsteps:\n  - dns: {from: a/b, name: web, type: MX}\n"),
        load_err("name: x\nsteps:\n  - dns: {from: a/b, name: web, ttl: 5}\n"),
        load_err("name: x\nsteps:\n  - expect: {queries: 1}\n"),
        load_err(
            "name: x\nsteps:\n  - dns: {from: a/b, name: web}\n  - expect: {resolveError: NXDOMAIN}\n",
        ),
        load_err("name: x\nsteps:\n  - send: {from: a/b, to: \"10.0.0:80\", tcpConnect: true}\n"),
    ];
    insta::assert_snapshot!(errors.join("\n"));
}

#[test]
fn includes_are_relative_to_the_scenario_file() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sim-k8s/tests/fixtures/kubenet");
    let s = load_text(
        "s.yaml",
        "name: x\nmanifests:\n  - include: web.yaml\nsteps:\n  - expect: {endpoints: {service: shop/web, ready: 3, notReady: 1}}\n",
        &base,
    )
    .unwrap();
    let report = run(&s, None).unwrap();
    assert!(report.passed(), "{}", report.text());
}

#[test]
fn apply_and_delete_go_through_the_control_plane() {
    let s = load_text(
        "s.yaml",
        r#"name: apply-delete
cluster: {nodes: 2}
manifests:
  - {apiVersion: v1, kind: Pod, metadata: {name: client}, spec: {containers: [{name: c, image: busybox}]}}
  - apiVersion: v1
    kind: Service
    metadata: {name: late}
    spec: {selector: {app: late}, ports: [{port: 80, targetPort: 8080}]}
steps:
  - expect: {endpoints: {service: default/late, ready: 0}}
  - at: 1s
    apply:
      apiVersion: v1
      kind: Pod
      metadata: {name: late, namespace: default, labels: {app: late}}
      spec: {containers: [{name: agnhost, image: agnhost, args: [netexec]}]}
  - wait: 100ms
  - expect: {endpoints: {service: default/late, ready: 1}}
  - send: {from: default/client, to: "pod/default/late:8080", httpGet: /hostname}
  - expect: {body: late}
  - apply:
      apiVersion: v1
      kind: Pod
      metadata: {name: late, namespace: default}
      spec: {containers: [{name: c, image: x}]}
  - at: 2s
    delete: {kind: Pod, name: default/late}
  - wait: 100ms
  - expect: {endpoints: {service: default/late, ready: 0}}
  - delete: {kind: Pod, name: default/late}
"#,
        Path::new("."),
    )
    .unwrap();
    let report = run(&s, None).unwrap();
    assert!(!report.passed(), "the second apply and delete fail");
    insta::assert_snapshot!(report.text());
    let errors = [
        load_err("name: x\nsteps:\n  - delete: {kind: Pdo, name: a/b}\n"),
        load_err("name: x\nsteps:\n  - delete: {kind: Node, name: a/b}\n"),
        load_err(
            "name: x\nsteps:\n  - apply: {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containerz: []}}\n",
        ),
    ];
    insta::assert_snapshot!("apply_delete_errors", errors.join("\n"));
}

#[test]
fn check_determinism_runs_twice_and_names_the_digest() {
    let out = std::env::temp_dir().join(format!("kns-det-{}", std::process::id()));
    let (code, stdout, err) = cli(&[
        "run",
        "scenarios/examples/node-failure.yaml",
        "--check-determinism",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}{err}");
    assert!(
        err.contains("deterministic: two runs with seed 0, trace digest "),
        "{err}"
    );
    let digest = err.rsplit(' ').next().unwrap().trim().to_string();
    assert_eq!(digest.len(), 32, "{err}");
    let _ = std::fs::remove_dir_all(out);
}

/// DNS queries are flows of their step: a `dns` step's queries numbered from 0, a send to a
/// name's after the send's own requests.
#[test]
fn dns_queries_are_flow_records_for_the_exports() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dns.yaml");
    let report = run(&load_file(&path).unwrap(), None).unwrap();
    let dns53 = |f: &&scenarios::scenario::FlowRecord| f.dst.to_string() == "10.96.0.10:53";
    // Step 1: `dns web` — one query.
    let step1: Vec<_> = report.flows.iter().filter(|f| f.step == 1).collect();
    assert_eq!(step1.len(), 1);
    assert!(dns53(&step1[0]) && step1[0].success && !step1[0].hops.is_empty());
    // Step 3: `send ×4 to web:80` — four HTTP requests, then its lookup as request 4.
    let step3: Vec<(u32, bool)> = report
        .flows
        .iter()
        .filter(|f| f.step == 3)
        .map(|f| (f.request, dns53(&f)))
        .collect();
    assert_eq!(
        step3,
        [(4, true), (0, false), (1, false), (2, false), (3, false)]
    );
    // The example.com lookup: the ndots fan-out is four flows.
    assert_eq!(report.flows.iter().filter(|f| f.step == 11).count(), 4);
}
