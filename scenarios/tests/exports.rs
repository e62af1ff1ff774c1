//! The exports of a run: snapshots of the text ones on a small fixture, the capture read back,
//! the HTML's content, byte-identical exports across runs, and `exports:` errors.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use scenarios::export::{
    ExportKind, ExportOptions, FlowSelector, RunView, flows, mermaid, pcapng, render,
};
use scenarios::scenario::{RunOutput, Scenario, load_file, load_text, run_with};

fn fixture(name: &str) -> Scenario {
    load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

fn run(s: &Scenario) -> RunOutput {
    let out = run_with(s, None, true, &mut |_, _| {}).unwrap();
    assert!(out.report.passed(), "{}", out.report.text());
    out
}

fn file<'r>(r: &'r scenarios::export::Rendered, name: &str) -> &'r [u8] {
    &r.files.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn the_file_lists_its_exports() {
    let s = fixture("tests/fixtures/exports.yaml");
    use ExportKind::*;
    assert_eq!(s.exports, vec![Pcapng, Dot, Mermaid, Jsonl, Flows, Html]);
}

#[test]
fn mermaid_flows_and_dot_match_their_snapshots() {
    let out = run(&fixture("tests/fixtures/exports.yaml"));
    let view = RunView::new(&out);
    insta::assert_snapshot!("mermaid", mermaid::sequence(&out.report.flows[0]));
    insta::assert_snapshot!("hubble-flows", flows::hubble_jsonl(&view));
    insta::assert_snapshot!("dot", scenarios::export::dot::topology(&view));
}

#[test]
fn hubble_records_carry_verdicts_and_pod_identities() {
    let out = run(&fixture("tests/fixtures/exports.yaml"));
    let text = flows::hubble_jsonl(&RunView::new(&out));
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = &records[0]["flow"];
    assert_eq!(first["verdict"], "FORWARDED");
    assert_eq!(first["source"]["pod_name"], "client");
    assert_eq!(first["destination"]["pod_name"], "server");
    assert_eq!(first["trace_observation_point"], "TO_ENDPOINT");
    assert_eq!(first["l4"]["UDP"]["destination_port"], 8081);
    let dropped: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["flow"]["verdict"] == "DROPPED")
        .collect();
    assert_eq!(dropped.len(), 1, "{text}");
    assert_eq!(dropped[0]["flow"]["drop_reason_desc"], "NO_SOCKET");
    assert_eq!(dropped[0]["flow"]["l4"]["TCP"]["flags"]["SYN"], true);
}

#[test]
fn pcapng_reads_back_with_one_interface_per_device_that_saw_traffic() {
    let out = run(&fixture("tests/fixtures/exports.yaml"));
    let view = RunView::new(&out);
    let r = render(&[ExportKind::Pcapng], &view, &ExportOptions::default()).unwrap();
    let (ifaces, packets) = sim_net::pcapng::parse_capture(file(&r, "capture.pcapng")).unwrap();
    let names: Vec<String> = ifaces.iter().map(|i| i.name.clone()).collect();
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    // Every device with an rx or tx hop in the trace, named node/netns/device.
    let placement = view.placement();
    let seen: BTreeSet<String> = out
        .trace
        .records()
        .iter()
        .filter(|t| t.kind == "rx" || t.kind == "tx")
        .map(|t| pcapng::interface_name(&placement, &t.component))
        .collect();
    assert_eq!(unique.into_iter().cloned().collect::<BTreeSet<_>>(), seen);
    assert!(
        names.contains(&"node-1/default_client/eth0".to_string()),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("node-1/veth")),
        "{names:?}"
    );
    assert!(!packets.is_empty());
}

#[test]
fn html_has_every_step_and_a_details_per_flow_all_escaped() {
    let out = run(&fixture("tests/fixtures/exports.yaml"));
    let r = render(
        &[ExportKind::Html],
        &RunView::new(&out),
        &ExportOptions::default(),
    )
    .unwrap();
    let html = String::from_utf8(file(&r, "report.html").to_vec()).unwrap();
    for s in &out.report.steps {
        let escaped = scenarios::export::html::escape(&s.what);
        assert!(html.contains(&escaped), "missing step {:?}", s.what);
    }
    assert!(
        html.contains("echo &lt;a&amp;b&gt;"),
        "user text is escaped"
    );
    assert!(!html.contains("<a&b>"));
    assert_eq!(
        html.matches("<details class=\"flow\"").count(),
        out.report.flows.len()
    );
    assert!(
        !html.contains("<link") && !html.contains(" src=") && !html.contains("@import"),
        "nothing fetched"
    );
}

#[test]
fn every_export_is_byte_identical_across_runs() {
    let s = fixture("examples/quickstart.yaml");
    let render_all = || {
        let out = run(&s);
        let opts = ExportOptions {
            mermaid_flow: Some("4".parse().unwrap()),
        };
        render(&ExportKind::ALL, &RunView::new(&out), &opts).unwrap()
    };
    let (a, b) = (render_all(), render_all());
    assert!(a.files.len() >= 6, "{:?}", a.skipped);
    for ((na, ba), (nb, bb)) in a.files.iter().zip(&b.files) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs between two runs");
    }
    assert!(a.files.iter().any(|(n, _)| n == "flow-4.0.mmd"));
}

#[test]
fn mermaid_flow_selection_names_the_flows_when_it_matches_none() {
    let out = run(&fixture("tests/fixtures/exports.yaml"));
    let flows = &out.report.flows;
    assert_eq!(FlowSelector::pick(None, flows).unwrap().id(), "0.0");
    let pick = |s: &str| FlowSelector::pick(Some(s.parse().unwrap()), flows).map(|f| f.id());
    assert_eq!(pick("2").unwrap(), "2.0");
    assert_eq!(pick("2.0").unwrap(), "2.0");
    assert_eq!(
        pick("1").unwrap_err(),
        "no such flow; the run's flows are 0.0, 2.0"
    );
    assert!("x.1".parse::<FlowSelector>().is_err());
}

#[test]
fn unknown_export_names_are_located_errors_with_the_valid_list() {
    let text = "name: x\nexports: [dot, pdf]\n";
    let e = load_text("x.yaml", text, Path::new(".")).unwrap_err();
    assert_eq!(e.location, "x.yaml:2:16");
    assert_eq!(
        e.message,
        "exports[1]: unknown export \"pdf\"; expected one of pcapng, dot, svg, mermaid, jsonl, flows, html"
    );
}

#[test]
fn run_writes_the_exports_into_out_and_says_where() {
    let dir = std::env::temp_dir().join(format!("kns-exports-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "tests/fixtures/exports.yaml",
            "--export",
            "svg",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for f in [
        "capture.pcapng",
        "topology.dot",
        "flow-0.0.mmd",
        "trace.jsonl",
        "flows.jsonl",
        "report.html",
    ] {
        let p = dir.join("exports").join(f);
        assert!(p.is_file(), "{} missing:\n{stdout}", p.display());
        assert!(
            stdout.contains(&format!("wrote {}", p.display())),
            "{stdout}"
        );
    }
    // The SVG is drawn when Graphviz is installed; the run says which.
    let svg = dir.join("exports/topology.svg");
    assert!(
        svg.is_file() || stdout.contains("skipped svg: Graphviz `dot` is not on PATH"),
        "{stdout}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "tests/fixtures/exports.yaml",
            "--mermaid-flow",
            "7",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--mermaid-flow: no such flow"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_prints_only_the_files_it_wrote() {
    let dir = std::env::temp_dir().join(format!("kns-export-cmd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "export",
            "tests/fixtures/exports.yaml",
            "--export",
            "dot",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // The file's exports plus dot (already listed): the same six files, and no step report.
    let written: Vec<&str> = stdout.lines().filter(|l| l.starts_with("wrote ")).collect();
    assert_eq!(written.len(), 6, "{stdout}");
    assert!(!stdout.contains("expect body"), "{stdout}");
    assert!(
        stdout.ends_with("exports: PASS: 2 of 2 expectations held\n"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
