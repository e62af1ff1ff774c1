//! The `send` ping and bulk steps, `expect: {minThroughput}` and `wait: {until}`, run
//! against real clusters: the values they report are checked against what the links and
//! the control plane make of them.

use std::path::Path;

use scenarios::scenario::{RunReport, Status, load_text, run};

/// Two nodes, a client pod on node-a and a netexec pod on node-b, an external host, and
/// the given `links:` and steps.
fn two_pods(links: &str, steps: &str) -> RunReport {
    let text = format!(
        r#"name: t
cluster:
  nodes: [node-a, node-b]
  links: {links}
  external: [{{name: internet-1}}]
manifests:
  - apiVersion: v1
    kind: Pod
    metadata: {{name: client, namespace: demo}}
    spec:
      nodeName: node-a
      containers: [{{name: agnhost, image: agnhost, args: ["netexec"]}}]
  - apiVersion: v1
    kind: Pod
    metadata: {{name: server, namespace: demo}}
    spec:
      nodeName: node-b
      containers: [{{name: agnhost, image: agnhost, args: ["netexec"]}}]
steps:
{steps}"#
    );
    let scenario = load_text("t.yaml", &text, Path::new(".")).unwrap();
    run(&scenario, None).unwrap()
}

fn measured(r: &RunReport, step: usize) -> serde_json::Value {
    r.steps[step]
        .measured
        .clone()
        .expect("the step measured something")
}

fn rtts_ns(r: &RunReport, step: usize) -> Vec<Option<u64>> {
    measured(r, step)["echoes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rtt_ns"].as_u64())
        .collect()
}

/// A pod on node-a pinging one on node-b crosses the cloud router (kubenet's cloud
/// routes): pod → node-a → router → node-b, each segment crossing being the sender's link
/// and the receiver's, so 4 links each way. The kernel model takes no time, so a warm RTT
/// is exactly 8 link latencies, plus 8 serialisations of the frame when the links have a
/// bandwidth; the first echo also waits for ARP on every hop.
#[test]
fn ping_rtts_are_the_link_latencies_plus_serialisation() {
    let r = two_pods(
        "{latency: 1ms}",
        "  - send: {from: demo/client, to: pod/demo/server, ping: true, count: 3}\n",
    );
    let rtts = rtts_ns(&r, 0);
    assert_eq!(rtts[1], Some(8_000_000), "{}", r.text());
    assert_eq!(rtts[2], Some(8_000_000));
    assert!(rtts[0].unwrap() > 8_000_000, "ARP first: {rtts:?}");
    let text = r.text();
    assert!(
        text.contains("icmp_seq=2: echo reply (64 bytes, ttl 61) time=8.000ms"),
        "{text}"
    );
    assert!(
        text.contains("3 transmitted, 3 received, 0% packet loss"),
        "{text}"
    );
    // `--json` carries the same values.
    let json = r.json();
    assert_eq!(
        json["steps"][0]["measured"]["echoes"][2]["rtt_ns"],
        8_000_000
    );
    assert_eq!(json["steps"][0]["measured"]["echoes"][2]["seq"], 3);

    // 100Mbit: a 56-byte echo is a 98-byte frame, 7.84us on each of the 8 links; with
    // 1000 data bytes a 1042-byte frame, 83.36us.
    let r = two_pods(
        "{latency: 1ms, bandwidth: 100Mbit}",
        "  - send: {from: demo/client, to: pod/demo/server, ping: true, count: 2}\n  \
         - send: {from: demo/client, to: pod/demo/server, ping: true, size: 1000}\n",
    );
    assert_eq!(rtts_ns(&r, 0)[1], Some(8_000_000 + 8 * 7_840));
    assert_eq!(rtts_ns(&r, 1)[0], Some(8_000_000 + 8 * 83_360));
    assert!(r.text().contains("echo reply (1008 bytes, ttl 61)"));
}

#[test]
fn max_latency_and_succeeded_hold_on_pings() {
    let r = two_pods(
        "{latency: 1ms}",
        "  - send: {from: demo/client, to: pod/demo/server, ping: true, count: 3}\n  \
         - expect: {reachable: true, succeeded: 3, maxLatency: 17ms}\n  \
         - expect: {maxLatency: 8ms}\n",
    );
    assert!(r.json()["steps"][1].get("measured").is_none());
    assert_eq!(r.steps[1].status, Status::Passed, "{}", r.text());
    // The first echo waited for ARP.
    assert_eq!(r.steps[2].status, Status::Failed, "{}", r.text());
}

/// The cloud router's FORWARD rule keeps the internet from pod addresses: the echo request
/// is dropped there, no reply comes, and the report names the rule.
#[test]
fn a_ping_through_a_forward_drop_fails_naming_the_rule() {
    let r = two_pods(
        "{latency: 1ms}",
        "  - send: {from: \"external:internet-1\", to: pod/demo/server, ping: true, count: 2, timeout: 1s}\n  \
         - expect: {reachable: false, succeeded: 0}\n",
    );
    let text = r.text();
    assert_eq!(r.steps[1].status, Status::Passed, "{text}");
    let echoes = &measured(&r, 0)["echoes"];
    for e in echoes.as_array().unwrap() {
        assert_eq!(e["rtt_ns"], serde_json::Value::Null);
        assert_eq!(e["outcome"], "timed out");
        let at = e["dropped_at"].as_str().unwrap();
        assert!(
            at.starts_with("cloud-router ext0 netfilter: drop(filtered)"),
            "{at}"
        );
        assert!(at.contains("DROP in filter FORWARD"), "{at}");
        assert!(
            at.contains("--comment \"no route from the internet to pod addresses\" -j DROP"),
            "{at}"
        );
    }
    assert!(
        text.contains("2 transmitted, 0 received, 100% packet loss"),
        "{text}"
    );
    // The same host reaches the node's address: only pods are fenced off.
    let r = two_pods(
        "{latency: 1ms}",
        "  - send: {from: \"external:internet-1\", to: 172.18.0.11, ping: true}\n  \
         - expect: {reachable: true}\n",
    );
    assert_eq!(r.steps[1].status, Status::Passed, "{}", r.text());
}

/// An address no route knows: the cloud router answers net unreachable, and ping reports
/// the hop it came from.
#[test]
fn an_icmp_error_ends_the_echo_with_its_sender() {
    let r = two_pods(
        "{latency: 1ms}",
        "  - send: {from: demo/client, to: 10.99.0.1, ping: true}\n",
    );
    let e = &measured(&r, 0)["echoes"][0];
    assert_eq!(e["outcome"], "from 172.18.0.1: Destination Net Unreachable");
    assert!(
        e["dropped_at"]
            .as_str()
            .unwrap()
            .contains("no route to 10.99.0.1"),
        "{e}"
    );
}

fn upload(r: &RunReport, step: usize) -> (u64, u64, u64) {
    let u = &measured(r, step)["uploads"][0];
    (
        u["bytes"].as_u64().unwrap(),
        u["duration_ns"].as_u64().unwrap(),
        u["throughput_bps"].as_u64().unwrap(),
    )
}

/// With little latency the window is no limit and a bulk upload runs at the link's rate,
/// less the headers (1460 of 1514 bytes a frame carry data): within 15% of it, never above.
#[test]
fn bulk_throughput_follows_the_link_bandwidth() {
    for (bandwidth, bps) in [("100Mbit", 100_000_000u64), ("20Mbit", 20_000_000)] {
        let r = two_pods(
            &format!("{{latency: 50us, bandwidth: {bandwidth}}}"),
            "  - send: {from: demo/client, to: \"pod/demo/server:8080\", bulk: 2MB}\n  \
             - expect: {reachable: true, body: '{\"output\":\"/uploads/upload1\"}'}\n",
        );
        assert_eq!(r.steps[1].status, Status::Passed, "{}", r.text());
        let (bytes, ns, rate) = upload(&r, 0);
        assert_eq!(bytes, 2_000_000);
        assert_eq!(rate, bytes * 8 * 1_000_000_000 / ns);
        assert!(rate <= bps, "{bandwidth}: {rate}");
        assert!(rate >= bps * 85 / 100, "{bandwidth}: {rate}\n{}", r.text());
    }
}

/// 64 KiB of window over an 8 ms round trip cannot fill 100Mbit: the bandwidth-delay
/// product shows up, and minThroughput says so.
#[test]
fn min_throughput_checks_the_slowest_upload() {
    let r = two_pods(
        "{latency: 1ms, bandwidth: 100Mbit}",
        "  - send: {from: demo/client, to: \"pod/demo/server:8080\", bulk: 1MB, count: 2}\n  \
         - expect: {minThroughput: 40Mbit}\n  \
         - expect: {minThroughput: 80Mbit}\n",
    );
    let text = r.text();
    assert_eq!(r.steps[1].status, Status::Passed, "{text}");
    assert_eq!(r.steps[2].status, Status::Failed, "{text}");
    let (_, _, rate) = upload(&r, 0);
    assert!(rate < 65_536 * 8 * 1_000 / 8, "window-bound: {rate}");
    assert!(
        text.contains("✗ minThroughput: expected at least 80Mbit, slowest of 2: "),
        "{text}"
    );
}

const DEPLOYMENT: &str = r#"name: w
cluster:
  nodes: 2
manifests:
  - apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    spec:
      replicas: 1
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: agnhost, image: agnhost, args: ["netexec"]}]
steps:
  - at: 2s
    scale: {deployment: shop/web, replicas: 3}
"#;

fn deployment(steps: &str) -> RunReport {
    let text = format!("{DEPLOYMENT}{steps}");
    let scenario = load_text("w.yaml", &text, Path::new(".")).unwrap();
    run(&scenario, None).unwrap()
}

/// `wait: {until}` stops at the very event that made the Endpoints hold three ready
/// addresses: an `expect` one nanosecond earlier sees fewer, one at that time sees three.
#[test]
fn wait_until_returns_the_exact_time_the_endpoints_became_ready() {
    let r =
        deployment("  - wait: {until: {endpoints: {service: shop/web, ready: 3}}, timeout: 5s}\n");
    let text = r.text();
    assert_eq!(r.steps[1].status, Status::Passed, "{text}");
    let m = measured(&r, 1);
    let at = m["at_ns"].as_u64().unwrap();
    assert!(at > 2_000_000_000, "{text}");
    assert_eq!(m["waited_ns"].as_u64().unwrap(), at - 2_000_000_000);
    let expect_at = |t: u64| {
        let r = deployment(&format!(
            "  - at: {t}ns\n    expect: {{endpoints: {{service: shop/web, ready: 3}}}}\n"
        ));
        r.steps[1].status
    };
    assert_eq!(expect_at(at - 1), Status::Failed);
    assert_eq!(expect_at(at), Status::Passed);
    // The next step starts from there.
    let r = deployment(
        "  - wait: {until: {endpoints: {service: shop/web, ready: 3}}}\n  - wait: 1ms\n",
    );
    assert_eq!(r.steps[2].time.as_nanos(), at);
}

#[test]
fn wait_until_times_out_with_the_last_observed_value() {
    let r = deployment(
        "  - wait: {until: {endpoints: {service: shop/web, ready: 4}}, timeout: 1s}\n  - wait: 1ms\n",
    );
    let text = r.text();
    assert_eq!(r.steps[1].status, Status::Failed, "{text}");
    assert!(!r.passed());
    assert!(
        text.contains("still not held at 3.000s, the timeout; last observed:"),
        "{text}"
    );
    assert!(
        text.contains("✗ endpoints shop/web: expected ready 4, got ready 3, notReady 0"),
        "{text}"
    );
    assert_eq!(measured(&r, 1)["held"], false);
    // No event past the timeout ran early: the next step starts at the deadline.
    assert_eq!(r.steps[2].time.as_nanos(), 3_000_000_000);
}

fn load_err(steps: &str) -> String {
    load_text(
        "s.yaml",
        &format!("name: x\nsteps:\n{steps}"),
        Path::new("."),
    )
    .unwrap_err()
    .to_string()
}

/// Each mistake in the new fields is refused with the file, line and column, the step and
/// field, and what was expected.
#[test]
fn ping_bulk_and_wait_until_mistakes_name_the_field() {
    let errors = [
        // A ping to a port.
        load_err("  - send: {from: a/b, to: \"10.0.0.1:80\", ping: true}\n"),
        // A ping size without a ping, and one too large for IPv4.
        load_err("  - send: {from: a/b, to: \"10.0.0.1:80\", tcpConnect: true, size: 100}\n"),
        load_err("  - send: {from: a/b, to: 10.0.0.1, ping: true, size: 70000}\n"),
        // Two kinds at once.
        load_err("  - send: {from: a/b, to: \"10.0.0.1:80\", ping: true, bulk: 1MB}\n"),
        // A size in the wrong units, and a bulk upload without a port.
        load_err("  - send: {from: a/b, to: \"10.0.0.1:8080\", bulk: 10mb}\n"),
        load_err("  - send: {from: a/b, to: 10.0.0.1, bulk: 10MB}\n"),
        // A rate in the wrong units.
        load_err(
            "  - send: {from: a/b, to: \"10.0.0.1:8080\", bulk: 1MB}\n  - expect: {minThroughput: 50Mbps}\n",
        ),
        // A throughput check before any send.
        load_err("  - expect: {minThroughput: 50Mbit}\n"),
        // Waiting for the last send's results, which cannot change.
        load_err("  - wait: {until: {reachable: true}}\n"),
        // A misspelt key, no checks, a bad check, a zero or bad timeout, a bad duration.
        load_err("  - wait: {untill: {endpoints: {service: a/b, ready: 1}}}\n"),
        load_err("  - wait: {until: {}}\n"),
        load_err("  - wait: {until: {endpoints: {service: web, ready: 1}}}\n"),
        load_err("  - wait: {until: {endpoints: {service: a/b, ready: 1}}, timeout: 0s}\n"),
        load_err("  - wait: {until: {endpoints: {service: a/b, ready: 1}}, timeout: soon}\n"),
        load_err("  - wait: soon\n"),
        load_err("  - wait: [1s]\n"),
    ];
    insta::assert_snapshot!(errors.join("\n"));
}
