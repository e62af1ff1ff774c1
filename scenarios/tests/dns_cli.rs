//! `kube-netsim dns` and `kube-netsim dns serve` as a user runs them, on the manifests of the
//! dns-records example: dig's layout, the JSON shape and values, truncation and the TCP
//! retry, bad input (exit 2, place named), a served socket answering over UDP and TCP and
//! surviving garbage, and a fuzz of the packet path the socket feeds.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use proptest::prelude::*;
use scenarios::dns::Responder;
use scenarios::pod_files::NODE_RESOLV_CONF;
use serde_json::Value;
use sim_core::SimTime;
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::dns::corefile::KUBEADM_COREFILE;
use sim_k8s::dns::{DnsServer, DnsView, Transport};
use sim_k8s::manifest::{LoadOptions, load_paths};

use common::run;

fn manifests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/dns-records/manifests.yaml")
}

/// `dns -f manifests.yaml ARGS...`, exit 0 expected.
fn dns(args: &[&str]) -> String {
    let m = manifests();
    let mut all = vec!["dns", "-f", m.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
    out.stdout
}

fn dns_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&dns(&all)).unwrap()
}

/// The `data` of every answer record of type `rtype`.
fn answer_data(v: &Value, rtype: &str) -> Vec<String> {
    v["answer"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == rtype)
        .map(|r| r["data"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dig_output_for_each_kind_of_record() {
    let mut all = String::new();
    for args in [
        &["web.shop.svc.cluster.local"][..],
        &["_http._tcp.web.shop.svc.cluster.local", "SRV"],
        &["-x", "10.96.0.80"],
        &["db.shop.svc.cluster.local"],
        &["_pg._tcp.db.shop.svc.cluster.local", "srv"],
        &["billing.shop.svc.cluster.local", "CNAME"],
        &["dns-version.cluster.local", "TXT"],
        &["nope.shop.svc.cluster.local"],
        &["web.shop.svc.cluster.local", "AAAA"],
        &["web.shop.svc.cluster.local", "--noedns", "--tcp"],
    ] {
        all.push_str(&format!("$ kube-netsim dns {}\n", args.join(" ")));
        all.push_str(&dns(args));
        all.push('\n');
    }
    // dig's column layout (as dig 9.18 prints this very reply): a name past column 24 is
    // followed by one space, the TTL by a tab to the class column 32, the type by a tab to
    // column 48.
    assert!(
        all.contains("web.shop.svc.cluster.local. 30\tIN\tA\t10.96.0.80\n"),
        "{all}"
    );
    assert!(
        all.contains(";; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1\n"),
        "{all}"
    );
    // The question's `;` does not count for the columns: the 38-character name reaches
    // column 39, one space short of 40, as dig prints it.
    assert!(
        all.contains(";_http._tcp.web.shop.svc.cluster.local. IN SRV\n"),
        "{all}"
    );
    insta::assert_snapshot!("dig_output", all);
}

#[test]
fn json_shape_and_values() {
    let web = dns_json(&["web.shop.svc.cluster.local"]);
    assert_eq!(web["rcode"], "NOERROR");
    assert_eq!(web["flags"], serde_json::json!(["qr", "aa", "rd"]));
    assert_eq!(
        web["answer"],
        serde_json::json!([{
            "name": "web.shop.svc.cluster.local.",
            "ttl": 30,
            "class": "IN",
            "type": "A",
            "data": "10.96.0.80",
        }])
    );
    assert_eq!(web["authority"], serde_json::json!([]));
    assert_eq!(web["additional"], serde_json::json!([]));

    // Headless: one A per ready endpoint, the same addresses the per-hostname names give.
    let db = dns_json(&["db.shop.svc.cluster.local"]);
    let mut ips = answer_data(&db, "A");
    ips.sort();
    assert_eq!(ips.len(), 2, "{db}");
    let mut by_hostname: Vec<String> = ["db-0", "db-1"]
        .iter()
        .flat_map(|h| answer_data(&dns_json(&[&format!("{h}.db.shop.svc.cluster.local")]), "A"))
        .collect();
    by_hostname.sort();
    assert_eq!(ips, by_hostname);
    // SRV per endpoint, targeting the hostname names; PTR of an endpoint names it back.
    let srv = dns_json(&["_pg._tcp.db.shop.svc.cluster.local", "SRV"]);
    let mut targets: Vec<String> = answer_data(&srv, "SRV")
        .iter()
        .map(|d| d.split(' ').skip(2).collect::<Vec<_>>().join(" "))
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            "5432 db-0.db.shop.svc.cluster.local.",
            "5432 db-1.db.shop.svc.cluster.local."
        ]
    );
    let db0 = &answer_data(&dns_json(&["db-0.db.shop.svc.cluster.local"]), "A")[0];
    let ptr = dns_json(&["-x", db0]);
    assert_eq!(
        answer_data(&ptr, "PTR"),
        ["db-0.db.shop.svc.cluster.local."]
    );

    // NXDOMAIN and NODATA both carry the SOA.
    for (name, rtype, rcode) in [
        ("nope.shop.svc.cluster.local", "A", "NXDOMAIN"),
        ("web.shop.svc.cluster.local", "AAAA", "NOERROR"),
    ] {
        let v = dns_json(&[name, rtype]);
        assert_eq!(v["rcode"], rcode, "{v}");
        assert_eq!(v["answer"], serde_json::json!([]), "{v}");
        assert_eq!(v["authority"][0]["type"], "SOA", "{v}");
        assert!(
            v["authority"][0]["data"]
                .as_str()
                .unwrap()
                .starts_with("ns.dns.cluster.local. hostmaster.cluster.local. "),
            "{v}"
        );
    }
    // Outside the cluster zone: forwarded to the node's resolver, which cannot be reached.
    let out = dns_json(&["www.example.com"]);
    assert_eq!(out["rcode"], "SERVFAIL");
}

#[test]
fn truncated_udp_replies_set_tc_and_are_retried_over_tcp() {
    let name = "fleet.shop.svc.cluster.local";
    let cut = dns_json(&[name, "--bufsize", "512", "--ignore"]);
    assert!(
        cut["flags"].as_array().unwrap().contains(&"tc".into()),
        "{cut}"
    );
    let kept = cut["answer"].as_array().unwrap().len();
    assert!(kept < 40, "{kept} records in 512 bytes");
    let retried = dns(&[name, "--bufsize", "512"]);
    assert!(
        retried.starts_with(";; Truncated, retrying in TCP mode.\n"),
        "{retried}"
    );
    assert!(retried.contains("ANSWER: 40,"), "{retried}");
    assert!(!retried.contains(" tc"), "{retried}");
    // 1232 bytes (dig's default) hold all 40.
    let whole = dns_json(&[name]);
    assert_eq!(whole["answer"].as_array().unwrap().len(), 40);
}

#[test]
fn bad_input_exits_2_naming_the_place() {
    let m = manifests();
    let m = m.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("kns-dns-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("Corefile");
    std::fs::write(
        &bad,
        ".:53 {\n    errors\n    kubernetes cluster.local\n    bogus\n}\n",
    )
    .unwrap();
    let other_port = dir.join("Corefile.1053");
    std::fs::write(&other_port, ".:1053 {\n    kubernetes cluster.local\n}\n").unwrap();
    let bad = bad.to_str().unwrap();
    let other_port = other_port.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["dns", "-f", m, "--corefile", bad, "web.shop"],
            format!("error: {bad}:4:5: bogus: unknown plugin 'bogus'"),
        ),
        (
            vec!["dns", "-f", m, "--corefile", other_port, "web.shop"],
            format!("error: {other_port}: no server block listens on port 53"),
        ),
        (
            vec!["dns", "-f", m, "web.shop", "FOO"],
            "error: unknown record type \"FOO\"".to_string(),
        ),
        (
            vec!["dns", "-f", m, &"x".repeat(64)],
            format!("error: bad name \"{}\"", "x".repeat(64)),
        ),
        (
            vec!["dns", "-f", m, "a..b"],
            "error: bad name \"a..b\"".to_string(),
        ),
        (
            vec!["dns", "-f", "/nonexistent.yaml", "web.shop"],
            "/nonexistent.yaml".to_string(),
        ),
        (
            vec!["dns", "serve", "-f", m, "--listen", "localhost"],
            "invalid value 'localhost' for '--listen <ADDR>'".to_string(),
        ),
        (vec!["dns", "-f", m], "NAME".to_string()),
    ] {
        let out = run(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(&expected),
            "{args:?}: expected {expected:?} in\n{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn query_bytes(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    m.set_edns(edns);
    m.to_vec().unwrap()
}

/// A `dns serve` child on a free loopback port; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Server {
    let m = manifests();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-netsim"))
        .args([
            "dns",
            "serve",
            "-f",
            m.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("first stderr line: {line:?}"))
        .parse()
        .unwrap();
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    Server { child, addr }
}

fn udp_ask(socket: &UdpSocket, addr: SocketAddr, bytes: &[u8]) -> Option<Message> {
    socket.send_to(bytes, addr).unwrap();
    let mut buf = [0u8; 65535];
    match socket.recv_from(&mut buf) {
        Ok((n, _)) => Some(Message::from_vec(&buf[..n]).unwrap()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn tcp_send(stream: &mut TcpStream, bytes: &[u8]) {
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).unwrap();
}

fn tcp_read(stream: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).unwrap();
    Message::from_vec(&buf).unwrap()
}

fn a_data(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn serve_answers_over_udp_and_tcp_and_survives_garbage() {
    let server = serve();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let m = udp_ask(
        &udp,
        server.addr,
        &query_bytes(7, "web.shop.svc.cluster.local.", RecordType::A),
    )
    .unwrap();
    assert_eq!(m.metadata.id, 7);
    assert_eq!(a_data(&m), ["10.96.0.80"]);

    // Garbage: too short for a header gets nothing; a header with junk after it gets
    // FORMERR with the id; the server goes on answering.
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(udp_ask(&udp, server.addr, &[1, 2, 3]).is_none());
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut junk = vec![0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    junk.extend_from_slice(&[0xff; 9]);
    let m = udp_ask(&udp, server.addr, &junk).unwrap();
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (0x1234, ResponseCode::FormErr)
    );

    // UDP over 512 bytes without EDNS: truncated; TCP: all 40 records, several queries on
    // one connection, in order.
    let mut no_edns = Message::new(9, MessageType::Query, OpCode::Query);
    no_edns.add_query(Query::query(
        Name::from_ascii("fleet.shop.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let no_edns = no_edns.to_vec().unwrap();
    let m = udp_ask(&udp, server.addr, &no_edns).unwrap();
    assert!(m.metadata.truncation);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp_send(&mut tcp, &no_edns);
    tcp_send(
        &mut tcp,
        &query_bytes(10, "nope.shop.svc.cluster.local.", RecordType::A),
    );
    let first = tcp_read(&mut tcp);
    assert_eq!((first.metadata.id, first.answers.len()), (9, 40));
    assert!(!first.metadata.truncation);
    let second = tcp_read(&mut tcp);
    assert_eq!(
        (second.metadata.id, second.metadata.response_code),
        (10, ResponseCode::NXDomain)
    );
    // A response sent as a query gets no reply; the connection stays usable.
    let mut response = query_bytes(11, "web.shop.svc.cluster.local.", RecordType::A);
    response[2] |= 0x80;
    tcp_send(&mut tcp, &response);
    tcp_send(
        &mut tcp,
        &query_bytes(12, "web.shop.svc.cluster.local.", RecordType::A),
    );
    let m = tcp_read(&mut tcp);
    assert_eq!(m.metadata.id, 12);
    // A connection that ends mid-message leaves the server serving.
    let mut cut = TcpStream::connect(server.addr).unwrap();
    cut.write_all(&[0x00, 0x40, 0x01]).unwrap();
    drop(cut);
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let m = udp_ask(
        &udp,
        server.addr,
        &query_bytes(13, "db-0.db.shop.svc.cluster.local.", RecordType::A),
    )
    .unwrap();
    assert_eq!(m.answers.len(), 1);
}

/// The dns-records cluster's DNS, as `dns serve` runs it.
static RESPONDER: LazyLock<Responder> = LazyLock::new(|| {
    let m = load_paths(&[manifests()], &LoadOptions::default()).unwrap();
    let cluster = Cluster::build(m.objects(), ClusterConfig::default()).unwrap();
    let files = [("/etc/resolv.conf".to_string(), NODE_RESOLV_CONF.to_string())].into();
    let server = DnsServer::from_corefile(KUBEADM_COREFILE, 53, &files).unwrap();
    Responder::new(server, DnsView::from_store(&cluster.store), SimTime::ZERO)
});

fn transport() -> impl Strategy<Value = Transport> {
    prop_oneof![Just(Transport::Udp), Just(Transport::Tcp)]
}

/// What every answer must be: a response to the packet's id, or no reply exactly when
/// the packet has no header or is itself a response.
fn check_answer(packet: &[u8], transport: Transport) -> Result<(), TestCaseError> {
    let mut r = RESPONDER.clone();
    match r.answer(transport, packet) {
        Ok(reply) => {
            prop_assert!(packet.len() >= 12 && packet[2] & 0x80 == 0);
            let m = Message::from_vec(&reply).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(m.metadata.message_type, MessageType::Response);
            prop_assert_eq!(m.metadata.id, u16::from_be_bytes([packet[0], packet[1]]));
        }
        Err(_) => prop_assert!(packet.len() < 12 || packet[2] & 0x80 != 0),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(packet in prop::collection::vec(any::<u8>(), 0..600), t in transport()) {
        check_answer(&packet, t)?;
    }

    #[test]
    fn mutated_queries_never_panic(
        name in prop::sample::select(vec![
            "web.shop.svc.cluster.local.",
            "_pg._tcp.db.shop.svc.cluster.local.",
            "80.0.96.10.in-addr.arpa.",
            "billing.shop.svc.cluster.local.",
            "www.example.com.",
        ]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
        t in transport(),
    ) {
        let mut packet = query_bytes(99, name, RecordType::ANY);
        for (at, byte) in edits {
            let i = at.index(packet.len());
            packet[i] = byte;
        }
        if let Some(cut) = cut {
            let keep = cut.index(packet.len() + 1);
            packet.truncate(keep);
        }
        check_answer(&packet, t)?;
    }
}

#[test]
fn from_a_pod_the_search_list_runs_through_the_dataplane_and_the_addon_is_optional() {
    let out = dns(&["--from", "shop/db-0", "web"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with(
            ";; +0ns A web.shop.svc.cluster.local. → 10.96.0.10:53 udp: NOERROR, 1 answer"
        ),
        "{out}"
    );
    assert!(
        out.contains("web.shop.svc.cluster.local. 30\tIN\tA\t10.96.0.80"),
        "{out}"
    );
    // A name with a dot but fewer than ndots: every search domain, then as is.
    let v = dns_json(&["--from", "shop/db-0", "nothing.example"]);
    assert_eq!(v["queries"].as_array().unwrap().len(), 4, "{v}");
    assert!(
        v["result"]
            .as_str()
            .unwrap()
            .starts_with("failed: HOST_NOT_FOUND"),
        "{v}"
    );
    // The add-on brings the apiserver's Service; without it there is none.
    let with = dns_json(&["kubernetes.default.svc.cluster.local"]);
    assert_eq!(with["answer"][0]["data"], "10.96.0.1");
    let without = dns_json(&["--addon", "none", "kubernetes.default.svc.cluster.local"]);
    assert_eq!(without["rcode"], "NXDOMAIN");
    let m = manifests();
    let bad = run(&[
        "dns",
        "-f",
        m.to_str().unwrap(),
        "--from",
        "shop/nope",
        "web",
    ]);
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr.contains("shop/nope: no such running pod"),
        "{}",
        bad.stderr
    );
    let bad = run(&["dns", "-f", m.to_str().unwrap(), "--addon", "bind", "web"]);
    assert_eq!(bad.code, Some(2));
    assert!(bad.stderr.contains("expected v1|skydns"), "{}", bad.stderr);
}
