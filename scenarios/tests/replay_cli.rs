//! `kube-netsim replay` end to end: a client pod's HTTP GET to a pod on the other node is
//! captured in one run (on every device, written as pcapng), then replayed from the same
//! client against the same cluster (delivered to the same pod, the server answers) and
//! against one without the server pod (dropped, and the diff names the flow).

use std::path::{Path, PathBuf};
use std::process::Command;

use sim_core::{Engine, SimDuration, SimTime};
use sim_k8s::cluster::control::{ClusterEvent, ClusterSim};
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::manifest::{LoadOptions, load_paths};
use sim_k8s::store::watch::DEFAULT_WATCH_LAG;
use sim_net::pcapng::Capture;
use sim_net::socket::{ClientSpec, Request};
use sim_net::{SimEvent, SocketProto};

use scenarios::scenario::netexec::{Served, serve_new};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/replay")
        .join(name)
}

/// A working directory with `get.pcapng`: demo/client's GET /hostname to demo/server.
fn captured_get() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay_cli");
    std::fs::create_dir_all(&dir).unwrap();
    let paths = [fixture("nodes.yaml"), fixture("server.yaml")];
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let m = load_paths(&paths, &LoadOptions::default()).unwrap();
    let cluster = Cluster::build(m.objects(), ClusterConfig::default()).unwrap();
    let server = cluster.pods["demo/server"].ip;
    let client = cluster.pod_netns("demo/client").unwrap();
    let mut sim = ClusterSim::new(cluster, 0, DEFAULT_WATCH_LAG);
    sim.sim.capture = Some(Capture::new());
    let mut engine = Engine::new(sim, 0);
    serve_new(engine.world_mut(), &mut Served::new());
    let spec = ClientSpec {
        proto: SocketProto::Tcp,
        dst: std::net::SocketAddrV4::new(server, 8080),
        request: Request::HttpGet {
            path: "/hostname".into(),
        },
        timeout: SimDuration::from_secs(5),
    };
    let sched = engine
        .world_mut()
        .sim
        .request(SimTime::from_nanos(1_000_000), client, spec);
    assert!(matches!(sched.event, SimEvent::Request { .. }));
    engine.schedule_at(sched.at, ClusterEvent::Net(sched.event));
    engine
        .run_until(SimTime::from_nanos(2_000_000_000))
        .unwrap();
    let world = engine.world();
    assert!(world.sim.results()[0].outcome.is_success());
    let mut out = Vec::new();
    world
        .sim
        .capture
        .as_ref()
        .unwrap()
        .write_pcapng(&mut out)
        .unwrap();
    std::fs::write(dir.join("get.pcapng"), out).unwrap();
    dir
}

fn replay(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .current_dir(dir)
        .arg("replay")
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
fn a_captured_get_replays_to_the_same_pod_and_the_diff_names_the_flow_without_it() {
    let dir = captured_get();
    let nodes = fixture("nodes.yaml");
    let server = fixture("server.yaml");
    let (nodes, server) = (nodes.to_str().unwrap(), server.to_str().unwrap());
    let common = ["--pcap", "get.pcapng", "--from", "demo/client"];

    let (code, same, err) = replay(&dir, &[&common[..], &["-f", nodes, "-f", server]].concat());
    assert_eq!(code, Some(0), "{err}");
    assert!(same.contains("delivered to demo/server"), "{same}");
    insta::assert_snapshot!("same_cluster", same);

    let what_if = [
        &common[..],
        &["-f", nodes, "--baseline-f", nodes, "--baseline-f", server],
    ]
    .concat();
    let (code, changed, err) = replay(&dir, &what_if);
    assert_eq!(code, Some(0), "{err}");
    assert!(changed.contains("1 of 1 flow(s) differ"), "{changed}");
    insta::assert_snapshot!("server_deleted", changed);

    let (code, json, err) = replay(&dir, &[&what_if[..], &["--json"]].concat());
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["baseline"]["changes"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["baseline"]["flows"][0]["outcome"]["fates"][0]["netns"],
        "demo/server"
    );
    insta::assert_json_snapshot!("server_deleted_json", v);
}

#[test]
fn a_missing_or_corrupt_capture_is_an_input_error_naming_the_file_and_offset() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay_cli_bad");
    std::fs::create_dir_all(&dir).unwrap();
    let nodes = fixture("nodes.yaml");
    let nodes = nodes.to_str().unwrap();
    let (code, _, err) = replay(
        &dir,
        &["--pcap", "nope.pcap", "--from", "demo/client", "-f", nodes],
    );
    assert_eq!(code, Some(2));
    assert!(err.starts_with("error: nope.pcap: "), "{err}");
    let good = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../sim-net/tests/fixtures/pcapng/sample-usec.pcapng"),
    )
    .unwrap();
    std::fs::write(dir.join("cut.pcapng"), &good[..good.len() - 10]).unwrap();
    let (code, _, err) = replay(
        &dir,
        &["--pcap", "cut.pcapng", "--from", "demo/client", "-f", nodes],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("error: cut.pcapng: ") && err.contains("byte offset"),
        "{err}"
    );
    let (code, _, err) = replay(
        &dir,
        &["--pcap", "cut.pcapng", "--from", "demo", "-f", nodes],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("NAMESPACE/NAME, node:NAME or external:NAME|IP"),
        "{err}"
    );
}

#[test]
fn a_replay_step_with_a_bad_capture_or_origin_is_refused_at_load() {
    let text = |pcap: &str, from: &str| {
        format!("name: r\nsteps:\n  - replay: {{pcap: {pcap}, from: {from}}}\n")
    };
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let e = scenarios::scenario::load_text("s.yaml", &text("nope.pcap", "demo/client"), &base)
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("s.yaml:3:5: steps[0].replay.pcap: ")
            && e.to_string().contains("nope.pcap"),
        "{e}"
    );
    let e = scenarios::scenario::load_text(
        "s.yaml",
        &text("captures/client-get.pcapng", "pod:x"),
        &base,
    )
    .unwrap_err();
    assert!(e.to_string().contains("steps[0].replay.from"), "{e}");
    let ok = scenarios::scenario::load_text(
        "s.yaml",
        &text("captures/client-get.pcapng", "node:node-a"),
        &base,
    );
    assert!(ok.is_ok(), "{ok:?}");
}
