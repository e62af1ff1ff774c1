//! Kernel differential tests: the same topology and rules in the simulator and in real network
//! namespaces, the same probes, the same observations (see `sim_net::emulate`).
//!
//! Built only with `--features emulate`; every test prints a note and passes without checking
//! when the machine cannot run them (not root, tools missing). `scripts/kernel-difftest.sh`
//! installs the tools and runs this file.
//!
//! Cases are [`Spec`]s: one or two kubenet-style nodes (a bridge, pods on veth pairs, hairpin
//! per port, br_netfilter on or off), joined by routes or a flannel-style VXLAN overlay, an
//! outside host `ext` behind node-0, kube-proxy-shaped iptables rules (ClusterIP, NodePort,
//! masquerade, no-endpoint REJECTs, random endpoint choice) on each node or not, FORWARD
//! rejects and drops, and probes (ping, TCP, UDP) between pods, nodes, Services and `ext`.
//! The hand-written cases below are fixed specs; the generated ones come from a proptest
//! strategy over the same space, run in parallel and shrunk on failure, the shrunk case saved
//! under `tests/fixtures/difftest/` and replayed by `regression_fixtures` ever after.
//!
//! Knobs (environment): `KNS_DIFFTEST_CASES` (generated cases, default 96),
//! `KNS_DIFFTEST_SEED` (generator seed, default fixed), `KNS_DIFFTEST_JOBS` (cases run at
//! once, default 4; most of a case is waiting for timeouts, not CPU), `KNS_DIFFTEST_ONLY=N` (run generated case N alone),
//! `KNS_IPTABLES=nft|legacy`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sim_net::emulate::{Case, Env, ProbeKind, Report, difftest};
use sim_net::route::Route;
use sim_net::topology::{ip, node, pod};
use sim_net::{LinkProps, Network, SocketProto, VxlanConfig};

const HELPER: &str = env!("CARGO_BIN_EXE_kns-probe");
/// Simulator seeds tried for a case with random branches.
const MAX_SEEDS: u64 = 256;
const SERVER_PORT: u16 = 8080;
const CLOSED_PORT: u16 = 9090;
const SERVICE_PORT: u16 = 80;

// ---- the space of cases ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeSpec {
    /// One entry per pod: hairpin mode on its bridge port.
    pods: Vec<bool>,
    kube_proxy: bool,
    br_nf: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SvcSpec {
    udp: bool,
    /// Pod indices (modulo the number of pods); duplicates collapse.
    endpoints: Vec<usize>,
    node_port: bool,
    /// `sessionAffinity: ClientIP` (`-m recent`).
    affinity: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FwdAction {
    Drop,
    Reject,
    /// REJECT --reject-with tcp-reset (TCP rules only; a UDP rule falls back to Reject).
    Reset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FwdSpec {
    node: usize,
    pod: usize,
    udp: bool,
    action: FwdAction,
    /// Match the pod through an IP set (`-m set --match-set kns-fwd dst`) instead of `-d`.
    set: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    Pod(usize),
    Node(usize),
    Ext,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dst {
    Pod(usize),
    Vip(usize),
    NodePort(usize, usize),
    NodeIp(usize),
    /// An unused address on a node's pod subnet (nobody answers ARP).
    Nowhere(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ProbeSpec {
    from: Src,
    /// 0 ping, 1 TCP, 2 UDP; to a Service, TCP/UDP follow the Service's protocol.
    kind: u8,
    to: Dst,
    closed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    nodes: Vec<NodeSpec>,
    vxlan: bool,
    services: Vec<SvcSpec>,
    forward: Vec<FwdSpec>,
    probes: Vec<ProbeSpec>,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        prop::collection::vec(prop::bool::weighted(0.4), 1..=3),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(pods, kube_proxy, br_nf)| NodeSpec {
            pods,
            kube_proxy,
            br_nf,
        })
}

fn svc_spec() -> impl Strategy<Value = SvcSpec> {
    (
        prop::bool::weighted(0.35),
        prop::collection::vec(0usize..6, 0..=3),
        prop::bool::weighted(0.4),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(udp, endpoints, node_port, affinity)| SvcSpec {
            udp,
            endpoints,
            node_port,
            affinity,
        })
}

fn fwd_spec() -> impl Strategy<Value = FwdSpec> {
    (
        0usize..2,
        0usize..6,
        any::<bool>(),
        prop_oneof![
            Just(FwdAction::Drop),
            Just(FwdAction::Reject),
            Just(FwdAction::Reset)
        ],
        prop::bool::weighted(0.3),
    )
        .prop_map(|(node, pod, udp, action, set)| FwdSpec {
            node,
            pod,
            udp,
            action,
            set,
        })
}

fn probe_spec() -> impl Strategy<Value = ProbeSpec> {
    let from = prop_oneof![
        4 => (0usize..6).prop_map(Src::Pod),
        1 => (0usize..2).prop_map(Src::Node),
        1 => Just(Src::Ext),
    ];
    let to = prop_oneof![
        3 => (0usize..6).prop_map(Dst::Pod),
        4 => (0usize..3).prop_map(Dst::Vip),
        2 => (0usize..3, 0usize..2).prop_map(|(s, n)| Dst::NodePort(s, n)),
        1 => (0usize..2).prop_map(Dst::NodeIp),
        1 => (0usize..2).prop_map(Dst::Nowhere),
    ];
    (
        from,
        prop_oneof![1 => Just(0u8), 3 => Just(1u8), 2 => Just(2u8)],
        to,
        prop::bool::weighted(0.15),
    )
        .prop_map(|(from, kind, to, closed)| ProbeSpec {
            from,
            kind,
            to,
            closed,
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=2).prop_flat_map(|n| {
        (
            prop::collection::vec(node_spec(), n),
            any::<bool>(),
            prop::collection::vec(svc_spec(), 0..=3),
            prop::collection::vec(fwd_spec(), 0..=2),
            prop::collection::vec(probe_spec(), 1..=5),
        )
            .prop_map(|(nodes, vxlan, services, forward, probes)| Spec {
                nodes,
                vxlan,
                services,
                forward,
                probes,
            })
    })
}

// ---- fixture text ------------------------------------------------------------------------------

impl Spec {
    /// One line per part, e.g. `node pods=1,0 kube-proxy=1 br-nf=1`.
    fn to_text(&self) -> String {
        let b = |v: bool| u8::from(v).to_string();
        let list = |v: &[usize]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut s = String::new();
        for n in &self.nodes {
            let pods = n.pods.iter().map(|&h| b(h)).collect::<Vec<_>>().join(",");
            let _ = writeln!(
                s,
                "node pods={pods} kube-proxy={} br-nf={}",
                b(n.kube_proxy),
                b(n.br_nf)
            );
        }
        let _ = writeln!(s, "join {}", if self.vxlan { "vxlan" } else { "routed" });
        for v in &self.services {
            let _ = writeln!(
                s,
                "service udp={} endpoints={} nodeport={} affinity={}",
                b(v.udp),
                list(&v.endpoints),
                b(v.node_port),
                b(v.affinity)
            );
        }
        for f in &self.forward {
            let action = match f.action {
                FwdAction::Drop => "drop",
                FwdAction::Reject => "reject",
                FwdAction::Reset => "reset",
            };
            let _ = writeln!(
                s,
                "forward node={} pod={} udp={} action={action} set={}",
                f.node,
                f.pod,
                b(f.udp),
                b(f.set)
            );
        }
        for p in &self.probes {
            let from = match p.from {
                Src::Pod(i) => format!("pod:{i}"),
                Src::Node(i) => format!("node:{i}"),
                Src::Ext => "ext".into(),
            };
            let to = match p.to {
                Dst::Pod(i) => format!("pod:{i}"),
                Dst::Vip(i) => format!("vip:{i}"),
                Dst::NodePort(s, n) => format!("nodeport:{s}:{n}"),
                Dst::NodeIp(i) => format!("node:{i}"),
                Dst::Nowhere(i) => format!("nowhere:{i}"),
            };
            let kind = ["ping", "tcp", "udp"][usize::from(p.kind.min(2))];
            let _ = writeln!(
                s,
                "probe from={from} kind={kind} to={to} closed={}",
                b(p.closed)
            );
        }
        s
    }

    fn from_text(text: &str) -> Result<Spec, String> {
        let mut spec = Spec {
            nodes: Vec::new(),
            vxlan: false,
            services: Vec::new(),
            forward: Vec::new(),
            probes: Vec::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
            let mut words = line.split_whitespace();
            let head = words.next().unwrap_or_default();
            let kv: std::collections::BTreeMap<&str, &str> =
                words.filter_map(|w| w.split_once('=')).collect();
            let get = |k: &str| kv.get(k).copied().ok_or_else(|| bad(&format!("no {k}=")));
            let flag = |k: &str| get(k).map(|v| v == "1");
            // Keys added later default to off, so older fixtures still read.
            let opt_flag = |k: &str| kv.get(k).is_some_and(|v| *v == "1");
            let num = |s: &str| s.parse::<usize>().map_err(|_| bad("not a number"));
            let nums = |s: &str| -> Result<Vec<usize>, String> {
                s.split(',').filter(|x| !x.is_empty()).map(num).collect()
            };
            match head {
                "node" => spec.nodes.push(NodeSpec {
                    pods: get("pods")?.split(',').map(|x| x == "1").collect(),
                    kube_proxy: flag("kube-proxy")?,
                    br_nf: flag("br-nf")?,
                }),
                "join" => spec.vxlan = line.ends_with("vxlan"),
                "service" => spec.services.push(SvcSpec {
                    udp: flag("udp")?,
                    endpoints: nums(get("endpoints")?)?,
                    node_port: flag("nodeport")?,
                    affinity: opt_flag("affinity"),
                }),
                "forward" => spec.forward.push(FwdSpec {
                    node: num(get("node")?)?,
                    pod: num(get("pod")?)?,
                    udp: flag("udp")?,
                    action: match get("action")? {
                        "drop" => FwdAction::Drop,
                        "reject" => FwdAction::Reject,
                        "reset" => FwdAction::Reset,
                        _ => return Err(bad("unknown action")),
                    },
                    set: opt_flag("set"),
                }),
                "probe" => {
                    let end = |s: &str| -> Result<(String, Vec<usize>), String> {
                        let mut parts = s.split(':');
                        let kind = parts.next().unwrap_or_default().to_string();
                        Ok((kind, parts.map(num).collect::<Result<_, _>>()?))
                    };
                    let (fk, fi) = end(get("from")?)?;
                    let from = match (fk.as_str(), fi.as_slice()) {
                        ("pod", [i]) => Src::Pod(*i),
                        ("node", [i]) => Src::Node(*i),
                        ("ext", []) => Src::Ext,
                        _ => return Err(bad("bad from=")),
                    };
                    let (tk, ti) = end(get("to")?)?;
                    let to = match (tk.as_str(), ti.as_slice()) {
                        ("pod", [i]) => Dst::Pod(*i),
                        ("vip", [i]) => Dst::Vip(*i),
                        ("nodeport", [s, n]) => Dst::NodePort(*s, *n),
                        ("node", [i]) => Dst::NodeIp(*i),
                        ("nowhere", [i]) => Dst::Nowhere(*i),
                        _ => return Err(bad("bad to=")),
                    };
                    let kind = match get("kind")? {
                        "ping" => 0,
                        "tcp" => 1,
                        "udp" => 2,
                        _ => return Err(bad("bad kind=")),
                    };
                    spec.probes.push(ProbeSpec {
                        from,
                        kind,
                        to,
                        closed: flag("closed")?,
                    });
                }
                _ => return Err(bad("unknown line")),
            }
        }
        if spec.nodes.is_empty() || spec.nodes.len() > 2 {
            return Err("a case has one or two nodes".into());
        }
        Ok(spec)
    }
}

// ---- building a case -----------------------------------------------------------------------

fn pod_cidr_gw(i: usize) -> String {
    format!("10.244.{}.1", i + 1)
}

/// The address of node `i` that others reach it by.
fn node_addr(spec: &Spec, i: usize) -> Ipv4Addr {
    if spec.nodes.len() == 2 {
        ip(&format!("192.168.0.{}", 11 + i))
    } else {
        ip("192.168.100.1")
    }
}

fn vip(i: usize) -> Ipv4Addr {
    ip(&format!("10.96.0.{}", 10 + i))
}

struct Svc {
    vip: Ipv4Addr,
    udp: bool,
    endpoints: Vec<Ipv4Addr>,
    node_port: Option<u16>,
    affinity: bool,
}

/// nat and filter tables as kube-proxy (iptables mode) writes them for `svcs`, cluster CIDR
/// 10.244.0.0/16, with `forward` rules first in FORWARD.
fn kube_proxy_rules(svcs: &[Svc], forward: &[String]) -> String {
    let mut nat = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
         :KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-SERVICES - [0:0]\n",
    );
    for (i, s) in svcs.iter().enumerate() {
        if s.endpoints.is_empty() {
            continue;
        }
        let _ = writeln!(nat, ":KUBE-SVC-S{i} - [0:0]");
        if s.node_port.is_some() {
            let _ = writeln!(nat, ":KUBE-EXT-S{i} - [0:0]");
        }
        for j in 0..s.endpoints.len() {
            let _ = writeln!(nat, ":KUBE-SEP-S{i}E{j} - [0:0]");
        }
    }
    nat += "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
            -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
            -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
            -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n\
            -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
            -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n\
            -A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n";
    let mut filter = String::from(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         :KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-SERVICES - [0:0]\n",
    );
    for f in forward {
        filter += f;
    }
    filter += "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n\
               -A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n\
               -A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
               -A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n\
               -A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
               -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n\
               -A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n\
               -A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
    for (i, s) in svcs.iter().enumerate() {
        let p = if s.udp { "udp" } else { "tcp" };
        let name = format!("default/svc{i}:p");
        let v = s.vip;
        if s.endpoints.is_empty() {
            let _ = writeln!(
                filter,
                "-A KUBE-SERVICES -d {v}/32 -p {p} -m comment --comment \"{name} has no endpoints\" -m {p} --dport {SERVICE_PORT} -j REJECT --reject-with icmp-port-unreachable"
            );
            if let Some(np) = s.node_port {
                let _ = writeln!(
                    filter,
                    "-A KUBE-EXTERNAL-SERVICES -p {p} -m comment --comment \"{name} has no endpoints\" -m addrtype --dst-type LOCAL -m {p} --dport {np} -j REJECT --reject-with icmp-port-unreachable"
                );
            }
            continue;
        }
        let _ = writeln!(
            nat,
            "-A KUBE-SERVICES -d {v}/32 -p {p} -m comment --comment \"{name} cluster IP\" -m {p} --dport {SERVICE_PORT} -j KUBE-SVC-S{i}"
        );
        if let Some(np) = s.node_port {
            let _ = writeln!(
                nat,
                "-A KUBE-NODEPORTS -p {p} -m comment --comment \"{name}\" -m {p} --dport {np} -j KUBE-EXT-S{i}\n\
                 -A KUBE-EXT-S{i} -m comment --comment \"masquerade traffic for {name} external destinations\" -j KUBE-MARK-MASQ\n\
                 -A KUBE-EXT-S{i} -j KUBE-SVC-S{i}"
            );
        }
        let _ = writeln!(
            nat,
            "-A KUBE-SVC-S{i} ! -s 10.244.0.0/16 -d {v}/32 -p {p} -m comment --comment \"{name} cluster IP\" -m {p} --dport {SERVICE_PORT} -j KUBE-MARK-MASQ"
        );
        if s.affinity {
            for (j, ep) in s.endpoints.iter().enumerate() {
                let _ = writeln!(
                    nat,
                    "-A KUBE-SVC-S{i} -m comment --comment \"{name} -> {ep}:{SERVER_PORT}\" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-S{i}E{j} --mask 255.255.255.255 --rsource -j KUBE-SEP-S{i}E{j}"
                );
            }
        }
        let n = s.endpoints.len();
        for (j, ep) in s.endpoints.iter().enumerate() {
            let left = n - j;
            let stat = if left > 1 {
                format!(
                    " -m statistic --mode random --probability {:.11}",
                    1.0 / left as f64
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                nat,
                "-A KUBE-SVC-S{i} -m comment --comment \"{name} -> {ep}:{SERVER_PORT}\"{stat} -j KUBE-SEP-S{i}E{j}"
            );
        }
        for (j, ep) in s.endpoints.iter().enumerate() {
            let recent = if s.affinity {
                format!(
                    " -m recent --set --name KUBE-SEP-S{i}E{j} --mask 255.255.255.255 --rsource"
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                nat,
                "-A KUBE-SEP-S{i}E{j} -s {ep}/32 -m comment --comment \"{name}\" -j KUBE-MARK-MASQ\n\
                 -A KUBE-SEP-S{i}E{j} -p {p} -m comment --comment \"{name}\"{recent} -m {p} -j DNAT --to-destination {ep}:{SERVER_PORT}"
            );
        }
    }
    nat += "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n";
    filter += "COMMIT\n";
    format!("{filter}{nat}")
}

/// The case a spec describes.
fn build(spec: &Spec, name: &str) -> Case {
    let mut net = Network::new();
    let two = spec.nodes.len() == 2;
    let mut nodes = Vec::new();
    for i in 0..spec.nodes.len() {
        let (ns, br) = node(
            &mut net,
            &format!("node-{i}"),
            Some(&format!("{}/24", pod_cidr_gw(i))),
        );
        let brnf = if spec.nodes[i].br_nf { "1" } else { "0" };
        net.sysctl(ns, "net.bridge.bridge-nf-call-iptables", brnf)
            .unwrap();
        nodes.push((ns, br.unwrap()));
    }
    let ext = net.add_netns("ext").unwrap();
    let ext_eth = net.add_nic(ext, "eth0").unwrap();
    let n0_eth1 = net.add_nic(nodes[0].0, "eth1").unwrap();
    net.connect(n0_eth1, ext_eth, LinkProps::default()).unwrap();
    for (d, a) in [(n0_eth1, "192.168.100.1/24"), (ext_eth, "192.168.100.2/24")] {
        net.add_addr(d, a).unwrap();
        net.set_up(d);
    }
    let default = |gw: &str, dev| Route::unicast("0.0.0.0/0".parse().unwrap(), Some(ip(gw)), dev);
    net.add_route(ext, default("192.168.100.1", ext_eth))
        .unwrap();
    net.add_route(nodes[0].0, default("192.168.100.2", n0_eth1))
        .unwrap();
    if two {
        let e0 = net.add_nic(nodes[0].0, "eth0").unwrap();
        let e1 = net.add_nic(nodes[1].0, "eth0").unwrap();
        net.connect(e0, e1, LinkProps::default()).unwrap();
        let eths = [e0, e1];
        for (i, d) in eths.iter().enumerate() {
            net.add_addr(*d, &format!("192.168.0.{}/24", 11 + i))
                .unwrap();
            net.set_up(*d);
        }
        net.add_route(nodes[1].0, default("192.168.0.11", e1))
            .unwrap();
        let other =
            |i: usize| -> ipnet::Ipv4Net { format!("10.244.{}.0/24", 2 - i).parse().unwrap() };
        if spec.vxlan {
            let mut vteps = Vec::new();
            for i in 0..2 {
                let cfg = VxlanConfig {
                    vni: 1,
                    local: ip(&format!("192.168.0.{}", 11 + i)),
                    dstport: None,
                    dev: Some(eths[i]),
                };
                let vx = net.add_vxlan(nodes[i].0, "flannel.1", cfg).unwrap();
                let addr = ip(&format!("10.244.{}.0", i + 1));
                net.add_addr(vx, &format!("{addr}/32")).unwrap();
                net.set_up(vx);
                vteps.push((vx, addr));
            }
            for i in 0..2 {
                let (vx, _) = vteps[i];
                let (peer_vx, peer_addr) = vteps[1 - i];
                let peer_mac = net.device(peer_vx).mac;
                let route = Route {
                    onlink: true,
                    ..Route::unicast(other(i), Some(peer_addr), vx)
                };
                net.add_route(nodes[i].0, route).unwrap();
                net.add_neigh(vx, peer_addr, peer_mac);
                net.vxlan_fdb_add(vx, peer_mac, ip(&format!("192.168.0.{}", 12 - i)))
                    .unwrap();
            }
        } else {
            for i in 0..2 {
                let via = ip(&format!("192.168.0.{}", 12 - i));
                net.add_route(nodes[i].0, Route::unicast(other(i), Some(via), eths[i]))
                    .unwrap();
            }
        }
    }
    // Pods, in node order; their global index is their position here.
    let mut pods: Vec<(String, Ipv4Addr, usize)> = Vec::new();
    for (i, n) in spec.nodes.iter().enumerate() {
        for (k, &hairpin) in n.pods.iter().enumerate() {
            let name = format!("pod-{i}-{k}");
            let addr = ip(&format!("10.244.{}.{}", i + 1, 10 + k));
            let host_if = format!("veth{i}{k}");
            pod(
                &mut net,
                nodes[i].0,
                nodes[i].1,
                &name,
                &host_if,
                &format!("{addr}/24"),
                &pod_cidr_gw(i),
            );
            if hairpin {
                let h = net.device_id(nodes[i].0, &host_if).unwrap();
                net.set_hairpin(h, true);
            }
            pods.push((name, addr, i));
        }
    }
    let pod_at = |i: usize| &pods[i % pods.len()];
    let svcs: Vec<Svc> = spec
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut eps = Vec::new();
            for &e in &s.endpoints {
                let a = pod_at(e).1;
                if !eps.contains(&a) {
                    eps.push(a);
                }
            }
            Svc {
                vip: vip(i),
                udp: s.udp,
                endpoints: eps,
                node_port: s.node_port.then_some(30080 + i as u16),
                affinity: s.affinity,
            }
        })
        .collect();
    let mut case = Case::new(name, net);
    for (i, n) in spec.nodes.iter().enumerate() {
        let forward: Vec<String> = spec
            .forward
            .iter()
            .filter(|f| f.node % spec.nodes.len() == i)
            .map(|f| {
                let p = if f.udp { "udp" } else { "tcp" };
                let target = match (f.action, f.udp) {
                    (FwdAction::Drop, _) => "DROP".to_string(),
                    (FwdAction::Reset, false) => "REJECT --reject-with tcp-reset".into(),
                    _ => "REJECT --reject-with icmp-port-unreachable".into(),
                };
                let dst = if f.set {
                    format!("-p {p} -m set --match-set kns-fwd dst")
                } else {
                    format!("-d {}/32 -p {p}", pod_at(f.pod).1)
                };
                format!("-A FORWARD {dst} -m {p} --dport {SERVER_PORT} -j {target}\n")
            })
            .collect();
        // The pods the set-matching rules are about, in an IP set of the node.
        let members: BTreeSet<Ipv4Addr> = spec
            .forward
            .iter()
            .filter(|f| f.set && f.node % spec.nodes.len() == i)
            .map(|f| pod_at(f.pod).1)
            .collect();
        if !members.is_empty() {
            let mut sets =
                String::from("create kns-fwd hash:ip family inet hashsize 1024 maxelem 65536\n");
            for m in &members {
                let _ = writeln!(sets, "add kns-fwd {m}");
            }
            case.load_ipsets(&format!("node-{i}"), &sets)
                .unwrap_or_else(|e| panic!("sets do not load: {e}\n{sets}"));
        }
        let rules = if n.kube_proxy {
            kube_proxy_rules(&svcs, &forward)
        } else if !forward.is_empty() {
            format!(
                "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{}COMMIT\n",
                forward.concat()
            )
        } else {
            continue;
        };
        case.load_rules(&format!("node-{i}"), &rules)
            .unwrap_or_else(|e| panic!("rules do not load: {e}\n{rules}"));
    }
    for (name, _, _) in &pods {
        case.serve(name, SocketProto::Tcp, SERVER_PORT);
        case.serve(name, SocketProto::Udp, SERVER_PORT);
    }
    for p in &spec.probes {
        let from = match p.from {
            Src::Pod(i) => pod_at(i).0.clone(),
            Src::Node(i) => format!("node-{}", i % spec.nodes.len()),
            Src::Ext => "ext".into(),
        };
        let svc = |s: usize| (!svcs.is_empty()).then(|| &svcs[s % svcs.len()]);
        let mut kind = match p.kind {
            0 => ProbeKind::Ping,
            1 => ProbeKind::Tcp,
            _ => ProbeKind::Udp,
        };
        let closed = |port: u16| if p.closed { CLOSED_PORT } else { port };
        let (dst, port) = match p.to {
            Dst::Pod(i) => (pod_at(i).1, closed(SERVER_PORT)),
            Dst::Vip(s) => match svc(s) {
                Some(v) => {
                    if kind != ProbeKind::Ping {
                        kind = if v.udp {
                            ProbeKind::Udp
                        } else {
                            ProbeKind::Tcp
                        };
                    }
                    (
                        v.vip,
                        if p.closed {
                            SERVICE_PORT + 1
                        } else {
                            SERVICE_PORT
                        },
                    )
                }
                None => (vip(0), SERVICE_PORT),
            },
            Dst::NodePort(s, n) => {
                let addr = node_addr(spec, n % spec.nodes.len());
                match svc(s) {
                    Some(v) => {
                        if kind != ProbeKind::Ping {
                            kind = if v.udp {
                                ProbeKind::Udp
                            } else {
                                ProbeKind::Tcp
                            };
                        }
                        (addr, v.node_port.unwrap_or(30080 + (s % svcs.len()) as u16))
                    }
                    None => (addr, 30080),
                }
            }
            Dst::NodeIp(n) => (node_addr(spec, n % spec.nodes.len()), closed(SERVER_PORT)),
            Dst::Nowhere(n) => (
                ip(&format!("10.244.{}.250", n % spec.nodes.len() + 1)),
                SERVER_PORT,
            ),
        };
        let port = if kind == ProbeKind::Ping { 0 } else { port };
        case.probe(&from, kind, dst, port);
    }
    if two {
        case.capture("node-0", "eth0");
    }
    case
}

// ---- running -----------------------------------------------------------------------------------

/// The machine's environment, or `None` (with the reason printed once) when it cannot run the
/// differential tests.
fn env() -> Option<&'static Env> {
    static ENV: OnceLock<Result<Env, String>> = OnceLock::new();
    match ENV.get_or_init(Env::detect) {
        Ok(e) => Some(e),
        Err(why) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| eprintln!("SKIP kernel differential tests: {why}"));
            None
        }
    }
}

enum Verdict {
    Agree(Report),
    Diverge(Report),
    Skipped(String),
}

fn run_case(env: &Env, case: &Case) -> Verdict {
    let missing = env.missing(&case.tools());
    if !missing.is_empty() {
        return Verdict::Skipped(format!("missing {}", missing.join(", ")));
    }
    match difftest(case, env, Path::new(HELPER), MAX_SEEDS) {
        Ok(r) if r.ok() => Verdict::Agree(r),
        Ok(r) => Verdict::Diverge(r),
        Err(e) => panic!("case {}: the harness failed: {e}", case.name),
    }
}

/// Runs a hand-written case and fails on any divergence.
fn check(spec_text: &str, name: &str) {
    let Some(env) = env() else { return };
    let spec = Spec::from_text(spec_text).unwrap();
    let case = build(&spec, name);
    match run_case(env, &case) {
        Verdict::Skipped(why) => eprintln!("SKIP {name}: {why}"),
        Verdict::Agree(r) => println!("{}", r.render(&case)),
        Verdict::Diverge(r) => panic!(
            "{}\nspec:\n{}\n--- simulator hops (seed {}) ---\n{}",
            r.render(&case),
            spec.to_text(),
            r.seed,
            r.sim_hops
        ),
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/difftest")
}

// ---- hand-written cases ----------------------------------------------------------------------

#[test]
fn two_pods_on_a_bridge() {
    check(
        "node pods=0,0 kube-proxy=0 br-nf=1\n\
         join routed\n\
         probe from=pod:0 kind=ping to=pod:1 closed=0\n\
         probe from=pod:0 kind=tcp to=pod:1 closed=0\n\
         probe from=pod:1 kind=udp to=pod:0 closed=0\n\
         probe from=pod:0 kind=tcp to=pod:1 closed=1\n\
         probe from=pod:0 kind=udp to=pod:1 closed=1\n\
         probe from=pod:0 kind=ping to=nowhere:0 closed=0\n",
        "two-pods-on-a-bridge",
    );
}

#[test]
fn routed_two_nodes() {
    check(
        "node pods=0 kube-proxy=0 br-nf=1\nnode pods=0 kube-proxy=0 br-nf=1\n\
         join routed\n\
         probe from=pod:0 kind=ping to=pod:1 closed=0\n\
         probe from=pod:0 kind=tcp to=pod:1 closed=0\n\
         probe from=node:1 kind=udp to=pod:0 closed=0\n\
         probe from=ext kind=tcp to=pod:1 closed=0\n",
        "routed-two-nodes",
    );
}

#[test]
fn vxlan_two_nodes_with_encapsulation() {
    check(
        "node pods=0 kube-proxy=0 br-nf=1\nnode pods=0 kube-proxy=0 br-nf=1\n\
         join vxlan\n\
         probe from=pod:0 kind=ping to=pod:1 closed=0\n\
         probe from=pod:0 kind=tcp to=pod:1 closed=0\n\
         probe from=pod:1 kind=udp to=pod:0 closed=0\n",
        "vxlan-two-nodes",
    );
}

#[test]
fn cluster_ip_dnat_across_nodes() {
    check(
        "node pods=0 kube-proxy=1 br-nf=1\nnode pods=0 kube-proxy=1 br-nf=1\n\
         join routed\n\
         service udp=0 endpoints=1 nodeport=0\n\
         service udp=1 endpoints=1 nodeport=0\n\
         service udp=0 endpoints= nodeport=0\n\
         probe from=pod:0 kind=tcp to=vip:0 closed=0\n\
         probe from=pod:0 kind=udp to=vip:1 closed=0\n\
         probe from=pod:0 kind=tcp to=vip:2 closed=0\n\
         probe from=node:0 kind=tcp to=vip:0 closed=0\n",
        "cluster-ip-dnat",
    );
}

#[test]
fn hairpin_masquerade() {
    check(
        "node pods=1,0 kube-proxy=1 br-nf=1\n\
         join routed\n\
         service udp=0 endpoints=0 nodeport=0\n\
         service udp=0 endpoints=0 nodeport=0\n\
         probe from=pod:0 kind=tcp to=vip:0 closed=0\n\
         probe from=pod:1 kind=tcp to=vip:1 closed=0\n",
        "hairpin-masquerade",
    );
}

#[test]
fn node_port_masquerade() {
    check(
        "node pods=0 kube-proxy=1 br-nf=1\nnode pods=0 kube-proxy=1 br-nf=1\n\
         join routed\n\
         service udp=0 endpoints=1 nodeport=1\n\
         service udp=1 endpoints=0 nodeport=1\n\
         probe from=ext kind=tcp to=nodeport:0:0 closed=0\n\
         probe from=ext kind=udp to=nodeport:1:0 closed=0\n\
         probe from=node:1 kind=tcp to=nodeport:0:0 closed=0\n",
        "node-port-masquerade",
    );
}

#[test]
fn forward_reject_and_drop() {
    check(
        "node pods=0 kube-proxy=1 br-nf=1\nnode pods=0,0 kube-proxy=1 br-nf=1\n\
         join vxlan\n\
         forward node=1 pod=1 udp=0 action=reject\n\
         forward node=1 pod=2 udp=0 action=reset\n\
         forward node=1 pod=1 udp=1 action=drop\n\
         probe from=pod:0 kind=tcp to=pod:1 closed=0\n\
         probe from=pod:0 kind=tcp to=pod:2 closed=0\n\
         probe from=pod:0 kind=udp to=pod:1 closed=0\n\
         probe from=pod:0 kind=udp to=pod:2 closed=0\n",
        "forward-reject",
    );
}

#[test]
fn reject_after_dnat() {
    // A Service's only endpoint is rejected by a FORWARD rule on its node: the RST (TCP) comes
    // back as the Service's reply; the ICMP error (UDP) quotes the DNATed packet.
    check(
        "node pods=0 kube-proxy=1 br-nf=1\nnode pods=0 kube-proxy=1 br-nf=1\n\
         join routed\n\
         service udp=0 endpoints=1 nodeport=1\n\
         service udp=1 endpoints=1 nodeport=0\n\
         forward node=1 pod=1 udp=0 action=reset\n\
         forward node=1 pod=1 udp=1 action=reject\n\
         probe from=pod:0 kind=tcp to=vip:0 closed=0\n\
         probe from=pod:0 kind=udp to=vip:1 closed=0\n\
         probe from=ext kind=tcp to=nodeport:0:0 closed=0\n",
        "reject-after-dnat",
    );
}

#[test]
fn session_affinity_and_ip_set_rules() {
    // ClientIP affinity (`-m recent`): the second connection goes where the first went. An IP
    // set (`ipset restore`, `-m set`) picks the pod a FORWARD rule rejects.
    check(
        "node pods=0 kube-proxy=1 br-nf=1\nnode pods=0,0 kube-proxy=1 br-nf=1\n\
         join routed\n\
         service udp=0 endpoints=1,2 nodeport=0 affinity=1\n\
         forward node=1 pod=2 udp=1 action=reject set=1\n\
         probe from=pod:0 kind=tcp to=vip:0 closed=0\n\
         probe from=pod:0 kind=tcp to=vip:0 closed=0\n\
         probe from=pod:0 kind=tcp to=vip:0 closed=0\n\
         probe from=pod:0 kind=udp to=pod:2 closed=0\n\
         probe from=pod:0 kind=udp to=pod:1 closed=0\n",
        "affinity-and-ipset",
    );
}

#[test]
fn random_endpoints_are_in_the_simulators_branch_set() {
    check(
        "node pods=0,0 kube-proxy=1 br-nf=1\nnode pods=0 kube-proxy=1 br-nf=1\n\
         join routed\n\
         service udp=0 endpoints=0,1,2 nodeport=0\n\
         probe from=pod:0 kind=tcp to=vip:0 closed=0\n\
         probe from=pod:1 kind=tcp to=vip:0 closed=0\n",
        "random-endpoints",
    );
}

#[test]
fn the_plan_also_exports_as_a_shell_script() {
    // No kernel needed: the script a person would run builds the same thing.
    let spec = Spec::from_text(
        "node pods=1 kube-proxy=1 br-nf=1\nnode pods=0 kube-proxy=0 br-nf=1\njoin vxlan\n\
         service udp=0 endpoints=0 nodeport=1\nprobe from=pod:0 kind=tcp to=vip:0 closed=0\n",
    )
    .unwrap();
    assert_eq!(Spec::from_text(&spec.to_text()).unwrap(), spec);
    let case = build(&spec, "script");
    let plan = sim_net::emulate::Plan::from_network_with(
        &case.net,
        &sim_net::emulate::PlanOptions {
            rules: case.rules.clone(),
        },
    )
    .unwrap();
    let script = plan.to_shell_script();
    for needle in [
        "ip netns add \"${PREFIX}node-0\"",
        "type vxlan id 1 local 192.168.0.11 dstport 8472 dev eth0 nolearning",
        "link set dev veth00 type bridge_slave hairpin on",
        "ip netns exec \"${PREFIX}node-0\" $IPTABLES_RESTORE <<'KNS_EOF'",
        "-j DNAT --to-destination 10.244.1.10:8080",
    ] {
        assert!(script.contains(needle), "no {needle:?} in\n{script}");
    }
}

// ---- regression fixtures and generated cases ------------------------------------------------

/// Every saved case: it must agree, unless its header says `# known-divergence: …` (then the
/// divergence is printed, and a fixture that agrees again is reported so the marker goes).
#[test]
fn regression_fixtures() {
    let Some(env) = env() else { return };
    let Ok(dir) = std::fs::read_dir(fixtures_dir()) else {
        return;
    };
    let mut files: Vec<PathBuf> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "case"))
        .collect();
    files.sort();
    let mut failed = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let known = text
            .lines()
            .find_map(|l| l.strip_prefix("# known-divergence:"))
            .map(str::trim);
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let spec = Spec::from_text(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let case = build(&spec, &name);
        match (run_case(env, &case), known) {
            (Verdict::Skipped(why), _) => eprintln!("SKIP fixture {name}: {why}"),
            (Verdict::Agree(_), None) => println!("fixture {name}: agrees"),
            (Verdict::Agree(_), Some(k)) => println!(
                "fixture {name}: agrees now although marked as a known divergence ({k}); drop the marker"
            ),
            (Verdict::Diverge(r), Some(k)) => {
                println!(
                    "fixture {name}: known divergence ({k}):\n{}",
                    r.render(&case)
                )
            }
            (Verdict::Diverge(r), None) => {
                failed.push(format!(
                    "{}\n{}--- simulator hops (seed {}) ---\n{}",
                    f.display(),
                    r.render(&case),
                    r.seed,
                    r.sim_hops
                ));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A short stable name for a spec (FNV-1a of its text).
fn spec_id(spec: &Spec) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in spec.to_text().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

#[test]
fn generated_cases_agree_with_the_kernel() {
    let Some(env) = env() else { return };
    let cases = env_num("KNS_DIFFTEST_CASES", 96) as usize;
    let seed = env_num("KNS_DIFFTEST_SEED", 0x6b6e_7364_6966_6674);
    let jobs = env_num("KNS_DIFFTEST_JOBS", 4).max(1) as usize;
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        max_shrink_iters: 24,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = spec();
    let mut trees = Vec::new();
    for _ in 0..cases {
        trees.push(
            strategy
                .new_tree(&mut runner)
                .expect("the strategy never rejects"),
        );
    }
    let specs: Vec<Spec> = trees.iter().map(|t| t.current()).collect();
    // `KNS_DIFFTEST_ONLY=N`: run generated case N alone (to look at one again).
    let only = std::env::var("KNS_DIFFTEST_ONLY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<(usize, Verdict)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(spec) = specs.get(i) else { break };
                    if only.is_some_and(|o| o != i) {
                        continue;
                    }
                    let case = build(spec, &format!("gen-{i}"));
                    let v = run_case(env, &case);
                    outcomes.lock().unwrap().push((i, v));
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|(i, _)| *i);
    let (mut agreed, mut skipped, mut retried, mut random) = (0, 0, 0, 0);
    let mut diverged = Vec::new();
    for (i, v) in &outcomes {
        match v {
            Verdict::Agree(r) => {
                agreed += 1;
                if let Some(first) = &r.kernel_retried {
                    retried += 1;
                    println!(
                        "case {i}: the kernel run agreed on the second try; the first differed in:"
                    );
                    for d in first {
                        println!("{d}");
                    }
                    print!("spec:\n{}", specs[*i].to_text());
                }
                random += usize::from(r.seeds_tried > 1);
            }
            Verdict::Skipped(_) => skipped += 1,
            Verdict::Diverge(_) => diverged.push(*i),
        }
    }
    println!(
        "generated cases: {cases} run (seed {seed:#x}), {agreed} agree ({random} with random branches, \
         {retried} after a kernel retry), {} diverge, {skipped} skipped",
        diverged.len()
    );
    // Shrink the first divergent cases (each shrink step runs the kernel) and save them.
    let mut reports = Vec::new();
    let shrink_started = std::time::Instant::now();
    for &i in diverged.iter().take(2) {
        let tree = &mut trees[i];
        let mut last = (tree.current(), i);
        let fails = |spec: &Spec| {
            let case = build(spec, &format!("shrink-{i}"));
            matches!(run_case(env, &case), Verdict::Diverge(_))
        };
        let mut steps = 0;
        if tree.simplify() {
            // Each step runs the kernel: a bound in steps and in time keeps the run short.
            while steps < 24 && shrink_started.elapsed() < std::time::Duration::from_secs(150) {
                steps += 1;
                let cur = tree.current();
                if fails(&cur) {
                    last = (cur, i);
                    if !tree.simplify() {
                        break;
                    }
                } else if !tree.complicate() {
                    break;
                }
            }
        }
        let spec = last.0;
        let case = build(&spec, &format!("gen-{}", spec_id(&spec)));
        let report = match run_case(env, &case) {
            Verdict::Diverge(r) => r.render(&case),
            _ => "(the shrunk case no longer diverged when run again)".into(),
        };
        let dir = fixtures_dir();
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("gen-{}.case", spec_id(&spec)));
        let mut text = String::from(
            "# A generated case on which the kernel and the simulator diverged (shrunk).\n",
        );
        for l in report.lines().take(40) {
            let _ = writeln!(text, "# {l}");
        }
        text += &spec.to_text();
        let _ = std::fs::write(&file, &text);
        reports.push(format!(
            "case {i} (shrunk in {steps} steps, saved as {}):\n{report}\nspec:\n{}",
            file.display(),
            spec.to_text()
        ));
    }
    let listed: BTreeSet<usize> = diverged.iter().copied().collect();
    assert!(
        diverged.is_empty(),
        "{} of {cases} generated cases diverge ({listed:?}):\n{}",
        diverged.len(),
        reports.join("\n")
    );
}
