//! Probes, run on both sides: a [`Case`] (a network, its rules as written, servers, probes,
//! captured devices) is run in the simulator ([`run_sim`]) and in emulated namespaces
//! ([`run_kernel`]), each giving an [`Observation`] in the same terms.
//!
//! | probe | simulator | kernel |
//! | --- | --- | --- |
//! | ICMP echo | an echo request entering `ip_local_out` in the source namespace; the echo reply or ICMP error delivered back | `ping -c1 -W0.4 -n`; source address from `ip route get` |
//! | TCP | agnhost-like client, `GET /clientip` to the netexec server | `kns-probe tcp`, the same request to `kns-probe serve` |
//! | UDP | `clientip` datagram to the netexec UDP server | `kns-probe udp` on a connected socket |
//!
//! Servers run in the namespaces the case names, answering on every address with the peer
//! address they saw. Probes run one after another; each gets [`PROBE_TIMEOUT_MS`] on both sides
//! (shorter than the first SYN retransmission and than ARP giving up, so neither side retries
//! within a probe). Then every namespace's conntrack table is listed (`conntrack -L`; in the
//! model [`Conntrack::dump_entries`](crate::netfilter::conntrack::Conntrack::dump_entries)) and
//! the captured devices' frames are read (dumpcap's pcapng; in the model
//! [`NetSim::capture`]).
//!
//! Simplified: the simulator's UDP server answers from the address the request was sent to
//! (smoltcp keeps the local address), Go's and `kns-probe`'s from the address routing picks
//! (the same for a namespace with one address, which is where cases put servers).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use sim_core::{SimDuration, SimTime};
use smoltcp::wire::IpProtocol;

use crate::SocketProto;
use crate::device::DeviceKind;
use crate::emulate::compare::{ct_line, wire_signature};
use crate::emulate::helper::wait_ready;
use crate::emulate::plan::{Plan, PlanOptions};
use crate::emulate::run::{EmulateError, Emulation, Env, Tool};
use crate::netfilter::RestoreOptions;
use crate::netfilter::conntrack::parse_dump;
use crate::netfilter::matches::{Match, StatisticMode};
use crate::network::Network;
use crate::packet;
use crate::sim::{NetSim, Scheduled};
use crate::socket::{ClientSpec, Outcome, Request, ServerSpec, Service};

/// How long a probe waits for its answer, on both sides.
pub const PROBE_TIMEOUT_MS: u64 = 400;
/// Simulated time between two probes (each is over well before the next). Not a multiple
/// of the 1 s ARP retransmission time, so a later probe never lands on the instant an earlier
/// probe's neighbour resolution gives up.
const SPACING: SimDuration = SimDuration::from_millis(1250);
/// How long after the last probe starts both sides keep watching: past a neighbour
/// resolution giving up (3 requests 1 s apart, then ICMP host unreachable), which the kernel
/// run, whose probes follow each other closely, would otherwise miss.
const SETTLE: SimDuration = SimDuration::from_millis(3500);
/// When the first probe starts in the simulator.
const FIRST_AT: SimTime = SimTime::from_nanos(100_000_000);

/// What a probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeKind {
    Ping,
    Tcp,
    Udp,
}

/// One probe: from a namespace to an address (and port, for TCP and UDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub from: String,
    pub kind: ProbeKind,
    pub dst: Ipv4Addr,
    pub port: u16,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ProbeKind::Ping => write!(f, "ping {} -> {}", self.from, self.dst),
            ProbeKind::Tcp => write!(f, "tcp {} -> {}:{}", self.from, self.dst, self.port),
            ProbeKind::Udp => write!(f, "udp {} -> {}:{}", self.from, self.dst, self.port),
        }
    }
}

/// A server listening on every address of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub netns: String,
    pub proto: SocketProto,
    pub port: u16,
}

/// A network, the rules it was loaded with, and what to do in it.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub net: Network,
    /// `iptables-restore` input per namespace, exactly as loaded into the model.
    pub rules: BTreeMap<String, String>,
    pub servers: Vec<Server>,
    pub probes: Vec<Probe>,
    /// Devices (`netns`, `device`) whose frames are compared.
    pub captures: Vec<(String, String)>,
}

impl Case {
    pub fn new(name: &str, net: Network) -> Case {
        Case {
            name: name.to_string(),
            net,
            rules: BTreeMap::new(),
            servers: Vec::new(),
            probes: Vec::new(),
            captures: Vec::new(),
        }
    }

    /// `iptables-restore` of `text` into namespace `ns` of the model; the same text goes to
    /// the kernel.
    pub fn load_rules(&mut self, ns: &str, text: &str) -> Result<(), String> {
        let id = self.net.netns_id(ns).map_err(|e| e.to_string())?;
        self.net
            .netns_mut(id)
            .netfilter
            .restore(text, RestoreOptions::default())
            .map_err(|e| format!("{ns}: {e}"))?;
        self.rules.insert(ns.to_string(), text.to_string());
        Ok(())
    }

    /// `ipset restore` of `text` into namespace `ns` of the model (the kernel gets the model's
    /// `ipset save`). Load sets before the rules that use them.
    pub fn load_ipsets(&mut self, ns: &str, text: &str) -> Result<(), String> {
        let id = self.net.netns_id(ns).map_err(|e| e.to_string())?;
        self.net
            .netns_mut(id)
            .netfilter
            .ipsets
            .restore(text, false)
            .map_err(|e| format!("{ns}: {e}"))
    }

    pub fn serve(&mut self, ns: &str, proto: SocketProto, port: u16) {
        self.servers.push(Server {
            netns: ns.to_string(),
            proto,
            port,
        });
    }

    pub fn probe(&mut self, from: &str, kind: ProbeKind, dst: Ipv4Addr, port: u16) {
        self.probes.push(Probe {
            from: from.to_string(),
            kind,
            dst,
            port,
        });
    }

    pub fn capture(&mut self, ns: &str, dev: &str) {
        self.captures.push((ns.to_string(), dev.to_string()));
    }

    /// The tools the kernel side needs.
    pub fn tools(&self) -> Vec<Tool> {
        let mut t = vec![Tool::Ip, Tool::Sysctl, Tool::Conntrack];
        if self.net.all_netns().any(|(_, n)| n.netfilter.active()) {
            t.push(Tool::IptablesRestore);
        }
        if self
            .net
            .all_netns()
            .any(|(_, n)| n.netfilter.ipsets.iter().next().is_some())
        {
            t.push(Tool::Ipset);
        }
        if self.net.all_netns().any(|(_, n)| {
            n.devices
                .iter()
                .any(|&d| matches!(self.net.device(d).kind, DeviceKind::Vxlan(_)))
        }) {
            t.push(Tool::Bridge);
        }
        if self.probes.iter().any(|p| p.kind == ProbeKind::Ping) {
            t.push(Tool::Ping);
        }
        if !self.captures.is_empty() {
            t.push(Tool::Dumpcap);
        }
        t
    }

    /// Whether a rule chooses at random (`-m statistic --mode random`), so the simulator's
    /// seed picks a branch.
    pub fn has_random_rules(&self) -> bool {
        self.net.all_netns().any(|(_, n)| {
            n.netfilter.ruleset.tables().any(|t| {
                t.chains()
                    .any(|c| c.rules.iter().any(|r| r.matches.iter().any(is_random)))
            })
        })
    }

    /// Ports that are the case's own (servers, probe destinations, VXLAN): kept in the
    /// normalised views; every other port is ephemeral and shown as `*`.
    pub fn known_ports(&self) -> BTreeSet<u16> {
        let mut k: BTreeSet<u16> = self.servers.iter().map(|s| s.port).collect();
        k.extend(self.probes.iter().filter(|p| p.port != 0).map(|p| p.port));
        k.extend(self.vxlan_ports());
        k
    }

    fn vxlan_ports(&self) -> BTreeSet<u16> {
        self.net
            .all_netns()
            .flat_map(|(_, n)| n.devices.iter().copied())
            .filter_map(|d| match &self.net.device(d).kind {
                DeviceKind::Vxlan(v) => Some(v.dstport),
                _ => None,
            })
            .collect()
    }
}

fn is_random(m: &Match) -> bool {
    matches!(m, Match::Statistic(s) if matches!(s.mode, StatisticMode::Random { .. }))
}

/// When probe `i` starts in the simulator.
fn probe_at(i: usize) -> SimTime {
    SimTime::from_nanos(FIRST_AT.as_nanos() + SPACING.as_nanos() * i as u64)
}

/// How a probe ended, in the words both sides share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    /// A reply (echo reply, HTTP response, UDP answer).
    Delivered,
    /// ECONNREFUSED: a RST, or ICMP port unreachable.
    Refused,
    /// ECONNRESET after the connection was up.
    Reset,
    /// Another ICMP error or a local routing failure, by errno.
    Unreachable(String),
    /// No answer within the probe's time.
    TimedOut,
    /// Anything else, described.
    Other(String),
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Delivered => f.write_str("delivered"),
            Delivery::Refused => f.write_str("refused"),
            Delivery::Reset => f.write_str("reset"),
            Delivery::Unreachable(e) => write!(f, "unreachable ({e})"),
            Delivery::TimedOut => f.write_str("timed out"),
            Delivery::Other(s) => f.write_str(s),
        }
    }
}

/// What the errno of an ICMP destination unreachable code is (`icmp_err_convert`), as both
/// `ping`'s words and the simulator's packets are mapped.
pub fn unreachable_code(code: u8) -> Delivery {
    match code {
        3 => Delivery::Refused,
        0 | 6 | 11 => Delivery::Unreachable("ENETUNREACH".into()),
        2 => Delivery::Unreachable("ENOPROTOOPT".into()),
        4 => Delivery::Other("fragmentation needed".into()),
        _ => Delivery::Unreachable("EHOSTUNREACH".into()),
    }
}

/// What one probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub delivery: Delivery,
    /// The source address the client used.
    pub client_ip: Option<Ipv4Addr>,
    /// Where the answer came from as the client got it: the reply's source (after reverse
    /// NAT), or the sender of the ICMP error. Port 0 for ICMP.
    pub reply_from: Option<SocketAddrV4>,
    /// The peer the server saw: its address, and whether its port was the client's own.
    pub server_saw: Option<(Ipv4Addr, bool)>,
    /// Which namespace's server answered.
    pub served_by: Option<String>,
}

impl std::fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
        write!(
            f,
            "{}; client {}; reply from {}; server saw {}; served by {}",
            self.delivery,
            opt(self.client_ip.map(|i| i.to_string())),
            opt(self.reply_from.map(|a| a.to_string())),
            opt(self.server_saw.map(|(ip, kept)| format!(
                "{ip} (port {})",
                if kept { "kept" } else { "changed" }
            ))),
            opt(self.served_by.clone()),
        )
    }
}

/// Everything one side observed for a case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    pub probes: Vec<ProbeResult>,
    /// Normalised `conntrack -L` lines per namespace, sorted.
    pub conntrack: BTreeMap<String, Vec<String>>,
    /// Normalised frame signatures per captured device (`netns/device`).
    pub wire: BTreeMap<String, BTreeSet<String>>,
}

fn parse_addr(s: &str) -> Option<SocketAddrV4> {
    s.trim().parse().ok()
}

// ---- the simulator -------------------------------------------------------------------------

/// Runs the case in the simulator with `seed`. The hops of the run come back too, for
/// explaining divergences.
pub fn run_sim(case: &Case, seed: u64) -> Result<(Observation, String), String> {
    let mut sim = NetSim::new(case.net.clone(), seed);
    if !case.captures.is_empty() {
        sim = sim.capture();
    }
    let ns_id = |name: &str| case.net.netns_id(name).map_err(|e| e.to_string());
    for s in &case.servers {
        sim.serve(
            ns_id(&s.netns)?,
            ServerSpec {
                proto: s.proto,
                port: s.port,
                service: Service::NetExec {
                    hostname: s.netns.clone(),
                },
            },
        )
        .map_err(|e| e.to_string())?;
    }
    let timeout = SimDuration::from_millis(PROBE_TIMEOUT_MS);
    let mut events: Vec<Scheduled> = Vec::new();
    // Per probe: the request id (TCP/UDP), or the ping's source address and ident.
    let mut handles: Vec<SimHandle> = Vec::new();
    for (i, p) in case.probes.iter().enumerate() {
        let at = probe_at(i);
        let ns = ns_id(&p.from)?;
        let dst = SocketAddrV4::new(p.dst, p.port);
        match p.kind {
            ProbeKind::Ping => {
                let ident = 0x4b00 + i as u16;
                match case.net.source_address(ns, p.dst) {
                    None => handles.push(SimHandle::NoRoute),
                    Some(src) => {
                        let body = packet::icmp_echo(false, ident, 1, &[0x61; 56]);
                        let pkt = packet::ipv4(
                            packet::Ipv4Header {
                                src,
                                dst: p.dst,
                                protocol: IpProtocol::Icmp,
                                ttl: case.net.netns(ns).sysctl.ip_default_ttl,
                                ident,
                                dont_frag: true,
                            },
                            &body,
                        );
                        events.push(sim.send(at, ns, pkt).into());
                        handles.push(SimHandle::Ping { src, ident });
                    }
                }
            }
            ProbeKind::Tcp | ProbeKind::Udp => {
                let (proto, request) = if p.kind == ProbeKind::Tcp {
                    (
                        SocketProto::Tcp,
                        Request::HttpGet {
                            path: "/clientip".into(),
                        },
                    )
                } else {
                    (
                        SocketProto::Udp,
                        Request::Send {
                            payload: b"clientip".to_vec(),
                        },
                    )
                };
                let ev = sim.request(
                    at,
                    ns,
                    ClientSpec {
                        proto,
                        dst,
                        request,
                        timeout,
                    },
                );
                let crate::sim::SimEvent::Request { id, .. } = ev.event else {
                    unreachable!("request() schedules a request");
                };
                events.push(ev);
                handles.push(SimHandle::Request(id));
            }
        }
    }
    let end = probe_at(case.probes.len().saturating_sub(1)) + SETTLE;
    let mut engine = sim.into_engine(seed, events).with_budget(20_000_000);
    engine.run_until(end).map_err(|e| e.to_string())?;
    let (world, _) = engine.into_parts();
    let known = case.known_ports();
    let mut obs = Observation::default();
    let results = world.results();
    for (i, (p, h)) in case.probes.iter().zip(&handles).enumerate() {
        let from = probe_at(i);
        let window = |t: SimTime| t >= from && t < from + SPACING;
        let ns = ns_id(&p.from)?;
        let r = match *h {
            SimHandle::NoRoute => ProbeResult {
                delivery: Delivery::Unreachable("ENETUNREACH".into()),
                client_ip: None,
                reply_from: None,
                server_saw: None,
                served_by: None,
            },
            SimHandle::Ping { src, ident } => {
                let mut r = ProbeResult {
                    delivery: Delivery::TimedOut,
                    client_ip: Some(src),
                    reply_from: None,
                    server_saw: None,
                    served_by: None,
                };
                let timeout_at = from + timeout;
                for d in world
                    .delivered
                    .iter()
                    .filter(|d| d.ns == ns && d.time >= from && d.time < timeout_at)
                {
                    if let Some((delivery, sender)) = icmp_answer(&d.packet, ident) {
                        r.delivery = delivery;
                        r.reply_from = Some(SocketAddrV4::new(sender, 0));
                        break;
                    }
                }
                r
            }
            SimHandle::Request(id) => {
                let res = results
                    .iter()
                    .find(|r| r.id == id)
                    .ok_or_else(|| format!("probe {i} ({p}) never finished in the simulator"))?;
                let body = match &res.outcome {
                    Outcome::Http(h) => Some(h.body.clone()),
                    Outcome::Reply(b) => Some(String::from_utf8_lossy(b).into_owned()),
                    _ => None,
                };
                let saw = body.as_deref().and_then(parse_addr);
                let local = res.local;
                let proto = if p.kind == ProbeKind::Tcp {
                    IpProtocol::Tcp
                } else {
                    IpProtocol::Udp
                };
                let reply_from = world.delivered.iter().find_map(|d| {
                    let s = packet::parse_ipv4(&d.packet)?;
                    let (sport, dport) = s.ports?;
                    (d.ns == ns
                        && window(d.time)
                        && s.protocol == proto
                        && s.dst == *local.ip()
                        && dport == local.port())
                    .then(|| SocketAddrV4::new(s.src, sport))
                });
                let served_by = saw.and_then(|saw| {
                    world.delivered.iter().find_map(|d| {
                        let s = packet::parse_ipv4(&d.packet)?;
                        let (sport, dport) = s.ports?;
                        let name = &case.net.netns(d.ns).name;
                        let serves = case.servers.iter().any(|sv| {
                            &sv.netns == name
                                && sv.port == dport
                                && sv.proto == socket_proto(p.kind)
                        });
                        (serves
                            && window(d.time)
                            && s.protocol == proto
                            && SocketAddrV4::new(s.src, sport) == saw)
                            .then(|| name.clone())
                    })
                });
                let delivery = sim_delivery(&res.outcome);
                // A failed socket does not tell a process who answered (RST or ICMP).
                let reply_from = reply_from.filter(|_| delivery == Delivery::Delivered);
                ProbeResult {
                    delivery,
                    client_ip: (!local.ip().is_unspecified()).then(|| *local.ip()),
                    reply_from,
                    server_saw: saw.map(|a| (*a.ip(), a.port() == local.port())),
                    served_by,
                }
            }
        };
        obs.probes.push(r);
    }
    for (_, n) in world.net.all_netns() {
        let mut lines: Vec<String> = n
            .netfilter
            .conntrack
            .dump_entries(end)
            .iter()
            .filter(|e| e.timeout_s != Some(0))
            .map(|e| ct_line(e, &known))
            .collect();
        lines.sort();
        obs.conntrack.insert(n.name.clone(), lines);
    }
    if let Some(cap) = &world.capture {
        let vx = case.vxlan_ports();
        for (ns, dev) in &case.captures {
            let name = format!("{ns}/{dev}");
            let set: BTreeSet<String> = match cap.interface_index(&name) {
                Some(idx) => cap
                    .packets()
                    .iter()
                    .filter(|p| p.interface == idx)
                    .filter_map(|p| wire_signature(&p.data, &known, &vx))
                    .collect(),
                None => BTreeSet::new(),
            };
            obs.wire.insert(name, set);
        }
    }
    let hops: String = world.hops.iter().map(|h| format!("{h}\n")).collect();
    Ok((obs, hops))
}

enum SimHandle {
    NoRoute,
    Ping { src: Ipv4Addr, ident: u16 },
    Request(u32),
}

fn socket_proto(k: ProbeKind) -> SocketProto {
    match k {
        ProbeKind::Udp => SocketProto::Udp,
        _ => SocketProto::Tcp,
    }
}

fn sim_delivery(o: &Outcome) -> Delivery {
    match o {
        Outcome::Connected | Outcome::Http(_) | Outcome::Reply(_) | Outcome::EchoReply { .. } => {
            Delivery::Delivered
        }
        Outcome::IcmpError { message, .. } => Delivery::Unreachable(message.to_string()),
        Outcome::Refused => Delivery::Refused,
        Outcome::Reset => Delivery::Reset,
        Outcome::Unreachable { errno } => Delivery::Unreachable(errno.to_string()),
        Outcome::NoRoute => Delivery::Unreachable("ENETUNREACH".into()),
        Outcome::TimedOut => Delivery::TimedOut,
        Outcome::BadResponse(why) => Delivery::Other(format!("bad response: {why}")),
    }
}

/// An echo reply with `ident`, or an ICMP destination unreachable quoting an echo request
/// with `ident`: what it means, and who sent it.
fn icmp_answer(pkt: &[u8], ident: u16) -> Option<(Delivery, Ipv4Addr)> {
    let s = packet::parse_ipv4(pkt)?;
    if s.protocol != IpProtocol::Icmp {
        return None;
    }
    let icmp = pkt.get(s.header_len..s.total_len)?;
    let id_at = |b: &[u8]| b.get(4..6).map(|x| u16::from_be_bytes([x[0], x[1]]));
    match *icmp.first()? {
        0 if id_at(icmp)? == ident => Some((Delivery::Delivered, s.src)),
        3 => {
            let quoted = icmp.get(8..)?;
            let ihl = usize::from(quoted.first()? & 0x0f) * 4;
            let inner = quoted.get(ihl..)?;
            (*quoted.get(9)? == 1 && *inner.first()? == 8 && id_at(inner)? == ident)
                .then(|| (unreachable_code(icmp[1]), s.src))
        }
        _ => None,
    }
}

// ---- the kernel ----------------------------------------------------------------------------

/// Runs the case in emulated namespaces. `helper` is the `kns-probe` binary.
pub fn run_kernel(case: &Case, env: &Env, helper: &Path) -> Result<Observation, EmulateError> {
    let plan = Plan::from_network_with(
        &case.net,
        &PlanOptions {
            rules: case.rules.clone(),
        },
    )?;
    let mut emu = Emulation::new(env)?;
    emu.apply(&plan)?;
    let helper = helper.to_string_lossy().into_owned();
    let exec_timeout = Duration::from_secs(10);
    // Servers: one helper per namespace, serving all its ports.
    let mut by_ns: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in &case.servers {
        let proto = if s.proto == SocketProto::Tcp {
            "tcp"
        } else {
            "udp"
        };
        by_ns
            .entry(&s.netns)
            .or_default()
            .push(format!("{proto}:{}", s.port));
    }
    let mut servers = Vec::new();
    for (ns, ports) in &by_ns {
        let mut argv = vec![helper.clone(), "serve".into(), ns.to_string()];
        argv.extend(ports.iter().cloned());
        let (id, out) = emu.spawn(ns, &argv, &format!("serve-{ns}.err"))?;
        let reader = wait_ready(out).map_err(|e| {
            let err =
                String::from_utf8_lossy(&emu.read_file(&format!("serve-{ns}.err"))).into_owned();
            EmulateError::Probe(format!("server in {ns}: {e}: {err}"))
        })?;
        servers.push((ns.to_string(), id, reader));
    }
    // Captures.
    let mut caps = Vec::new();
    for (i, (ns, dev)) in case.captures.iter().enumerate() {
        let file = emu.workdir().join(format!("cap{i}.pcapng"));
        let argv: Vec<String> = [
            "dumpcap",
            "-q",
            "-i",
            dev,
            "-f",
            "ip",
            "-w",
            &file.to_string_lossy(),
        ]
        .map(String::from)
        .to_vec();
        let errf = format!("cap{i}.err");
        let (id, _out) = emu.spawn(ns, &argv, &errf)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let err = String::from_utf8_lossy(&emu.read_file(&errf)).into_owned();
            if err.contains("Capturing on") {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(EmulateError::Probe(format!(
                    "dumpcap on {ns}/{dev} did not start: {err}"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        caps.push((format!("{ns}/{dev}"), id, file));
    }
    if !caps.is_empty() {
        // dumpcap says "Capturing on" a little before its filter is in place.
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut obs = Observation::default();
    let mut last_start = std::time::Instant::now();
    for (i, p) in case.probes.iter().enumerate() {
        last_start = std::time::Instant::now();
        obs.probes
            .push(kernel_probe(&emu, p, i, &helper, exec_timeout)?);
    }
    // Let the last connection's closing packets pass before looking; with a capture, also
    // what comes later — until every neighbour resolution started by a probe has given up
    // and sent its ICMP errors, as the simulator's run does ([`SETTLE`]).
    std::thread::sleep(Duration::from_millis(50));
    if !caps.is_empty() {
        let settle = Duration::from_nanos(SETTLE.as_nanos()) + Duration::from_millis(300);
        std::thread::sleep(settle.saturating_sub(last_start.elapsed()));
    }
    let known = case.known_ports();
    let vx = case.vxlan_ports();
    for (name, id, file) in caps {
        emu.stop(id, Duration::from_secs(3));
        let data = std::fs::read(&file).map_err(|e| EmulateError::Io(format!("{name}: {e}")))?;
        let (_, packets) = crate::pcapng::parse_capture(&data)
            .map_err(|e| EmulateError::Probe(format!("capture of {name}: {e}")))?;
        let set = packets
            .iter()
            .filter_map(|p| wire_signature(&p.data, &known, &vx))
            .collect();
        obs.wire.insert(name, set);
    }
    // Which server saw which probe.
    let mut served: BTreeMap<usize, String> = BTreeMap::new();
    for (ns, id, mut reader) in servers {
        emu.stop(id, Duration::from_millis(500));
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
        for line in rest.lines() {
            if let Some(i) = line.split_whitespace().next().and_then(|t| t.parse().ok()) {
                served.entry(i).or_insert_with(|| ns.clone());
            }
        }
    }
    for (i, r) in obs.probes.iter_mut().enumerate() {
        if r.server_saw.is_some() {
            r.served_by = served.get(&i).cloned();
        }
    }
    for (_, n) in case.net.all_netns() {
        let out = emu.exec(&n.name, &["conntrack".into(), "-L".into()], exec_timeout)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let entries = parse_dump(&text)
            .map_err(|e| EmulateError::Probe(format!("conntrack -L in {}: {e}", n.name)))?;
        let mut lines: Vec<String> = entries.iter().map(|e| ct_line(e, &known)).collect();
        lines.sort();
        obs.conntrack.insert(n.name.clone(), lines);
    }
    Ok(obs)
}

/// One probe in the kernel.
fn kernel_probe(
    emu: &Emulation,
    p: &Probe,
    i: usize,
    helper: &str,
    exec_timeout: Duration,
) -> Result<ProbeResult, EmulateError> {
    let mut r = ProbeResult {
        delivery: Delivery::TimedOut,
        client_ip: None,
        reply_from: None,
        server_saw: None,
        served_by: None,
    };
    // The source address routing picks (`ip route get`): what a socket that never learnt
    // its own address (a failed connect, a ping) would have used.
    let route_src = || -> Result<Option<Ipv4Addr>, EmulateError> {
        let route = emu.exec(
            &p.from,
            &["ip".into(), "route".into(), "get".into(), p.dst.to_string()],
            exec_timeout,
        )?;
        let route = String::from_utf8_lossy(&route.stdout).into_owned();
        let mut words = route.split_whitespace();
        while let Some(w) = words.next() {
            if w == "src" {
                return Ok(words.next().and_then(|a| a.parse().ok()));
            }
        }
        Ok(None)
    };
    match p.kind {
        ProbeKind::Ping => {
            r.client_ip = route_src()?;
            let wait = format!("{:.1}", PROBE_TIMEOUT_MS as f64 / 1000.0);
            let out = emu.exec(
                &p.from,
                &["ping", "-c1", "-n", "-W", &wait, &p.dst.to_string()].map(String::from),
                exec_timeout,
            )?;
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let (delivery, from) = parse_ping(&text);
            r.delivery = delivery;
            r.reply_from = from.map(|a| SocketAddrV4::new(a, 0));
            Ok(r)
        }
        ProbeKind::Tcp | ProbeKind::Udp => {
            let kind = if p.kind == ProbeKind::Tcp {
                "tcp"
            } else {
                "udp"
            };
            let argv = [
                helper.to_string(),
                kind.into(),
                format!("{}:{}", p.dst, p.port),
                i.to_string(),
                PROBE_TIMEOUT_MS.to_string(),
            ];
            let out = emu.exec(&p.from, &argv, exec_timeout)?;
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let field = |k: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                    .map(str::to_string)
            };
            let local = field("local").and_then(|l| parse_addr(&l));
            r.client_ip = match local {
                Some(l) => Some(*l.ip()),
                None => route_src()?,
            };
            r.delivery = match line.split_whitespace().next() {
                Some("ok") => Delivery::Delivered,
                Some("timeout") => Delivery::TimedOut,
                Some("err") => match field("errno").as_deref() {
                    Some("ECONNREFUSED") => Delivery::Refused,
                    Some("ECONNRESET") => Delivery::Reset,
                    Some(e) => Delivery::Unreachable(e.to_string()),
                    None => Delivery::Other(line.clone()),
                },
                _ => {
                    return Err(EmulateError::Probe(format!(
                        "kns-probe said {line:?} ({})",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
            };
            if r.delivery == Delivery::Delivered {
                r.reply_from = field("peer").and_then(|a| parse_addr(&a));
                let body = line.split_once("body=").map(|(_, b)| b.to_string());
                let saw = body.as_deref().and_then(parse_addr);
                r.server_saw = saw.map(|s| (*s.ip(), Some(s.port()) == local.map(|l| l.port())));
            }
            Ok(r)
        }
    }
}

/// Reads `ping -c1` output: a reply (`64 bytes from A:`), an ICMP error (`From A icmp_seq=1
/// Destination Host Unreachable`), a local failure (`connect: Network is unreachable`), or
/// silence.
pub fn parse_ping(text: &str) -> (Delivery, Option<Ipv4Addr>) {
    for line in text.lines() {
        if let Some(rest) = line.split_once(" bytes from ").map(|(_, r)| r) {
            let a = rest.split(':').next().and_then(|a| a.trim().parse().ok());
            return (Delivery::Delivered, a);
        }
        if let Some(rest) = line.strip_prefix("From ") {
            let a = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            let code = [
                ("Destination Net Unreachable", 0),
                ("Destination Host Unreachable", 1),
                ("Destination Protocol Unreachable", 2),
                ("Destination Port Unreachable", 3),
                ("Frag needed", 4),
                ("Destination Net Unknown", 6),
                ("Destination Host Unknown", 7),
                ("Destination Net Prohibited", 9),
                ("Destination Host Prohibited", 10),
                ("Packet filtered", 13),
            ]
            .iter()
            .find(|(words, _)| rest.contains(words))
            .map(|&(_, c)| c);
            return match code {
                Some(c) => (unreachable_code(c), a),
                None => (Delivery::Other(rest.trim().to_string()), a),
            };
        }
        if line.contains("Network is unreachable") {
            return (Delivery::Unreachable("ENETUNREACH".into()), None);
        }
    }
    (Delivery::TimedOut, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_output_is_read() {
        let ok = "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.\n64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.05 ms\n";
        assert_eq!(
            parse_ping(ok),
            (Delivery::Delivered, Some("10.0.0.2".parse().unwrap()))
        );
        let unreach = "From 10.244.1.1 icmp_seq=1 Destination Host Unreachable\n";
        assert_eq!(
            parse_ping(unreach),
            (
                Delivery::Unreachable("EHOSTUNREACH".into()),
                Some("10.244.1.1".parse().unwrap())
            )
        );
        assert_eq!(
            parse_ping("From 10.0.0.1 icmp_seq=1 Destination Port Unreachable").0,
            Delivery::Refused
        );
        assert_eq!(
            parse_ping("ping: connect: Network is unreachable\n").0,
            Delivery::Unreachable("ENETUNREACH".into())
        );
        assert_eq!(
            parse_ping("1 packets transmitted, 0 received").0,
            Delivery::TimedOut
        );
    }
}
