//! Comparing what the kernel did with what the simulator did, and the differential test of
//! one [`Case`] ([`difftest`]).
//!
//! Compared, per probe: delivered or how it failed; the client's source address; where the
//! answer came from (after reverse NAT); the address the server saw and whether the port was
//! the client's own; which server answered. Per namespace: the conntrack table, normalised.
//! Per captured device: the set of frame signatures (addresses, protocol, ports, VXLAN VNI and
//! the inner frame's MACs and addresses).
//!
//! Normalisation: a port that is not the case's own ([`Case::known_ports`]: servers, probe
//! destinations, VXLAN) is an ephemeral choice of either side (a client's port, a MASQUERADE
//! port, the VXLAN source-port hash) and prints as `*`; ICMP ids likewise. What NAT did to
//! the source port is kept as a relation (`sport=kept|changed`: the reply tuple's destination
//! port equals the original source port, or not). Timeouts, `use=`, counters, timings and TCP
//! windows are not compared.
//!
//! Random branches (`-m statistic --mode random`): the kernel picks one; the simulator picks
//! with its seed. When the rules have such branches, [`difftest`] runs the simulator with
//! seeds 0, 1, 2… until one reproduces the kernel's run exactly, up to a bound — so a case
//! passes when the kernel's behaviour is in the simulator's branch set, and the report names
//! the seed that matched.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

use crate::emulate::probe::{Case, Observation, run_kernel, run_sim};
use crate::emulate::run::{EmulateError, Env};
use crate::netfilter::conntrack::{DumpEntry, L4Proto, Tuple};
use crate::packet;

fn port(p: u16, known: &BTreeSet<u16>) -> String {
    if known.contains(&p) {
        p.to_string()
    } else {
        "*".into()
    }
}

fn tuple(t: &Tuple, known: &BTreeSet<u16>) -> String {
    if t.proto.has_ports() {
        format!(
            "src={} dst={} sport={} dport={}",
            t.src,
            t.dst,
            port(t.sport, known),
            port(t.dport, known)
        )
    } else if t.proto.is_icmp() {
        format!(
            "src={} dst={} type={} code={} id=*",
            t.src,
            t.dst,
            t.icmp_type(),
            t.icmp_code()
        )
    } else {
        format!("src={} dst={}", t.src, t.dst)
    }
}

/// One `conntrack -L` entry, normalised (see the module doc).
pub fn ct_line(e: &DumpEntry, known: &BTreeSet<u16>) -> String {
    let mut s = format!("{} ", e.proto.name());
    if let Some(st) = e.tcp_state {
        let _ = write!(s, "{st} ");
    }
    s.push_str(&tuple(&e.original, known));
    if e.unreplied {
        s.push_str(" [UNREPLIED]");
    }
    s.push(' ');
    s.push_str(&tuple(&e.reply, known));
    if e.assured {
        s.push_str(" [ASSURED]");
    }
    if let Some(m) = e.mark {
        let _ = write!(s, " mark={m}");
    }
    let kept = if e.proto.has_ports() {
        Some(e.reply.dport == e.original.sport)
    } else if e.proto == L4Proto::ICMP {
        Some(e.reply.sport == e.original.sport)
    } else {
        None
    };
    if let Some(k) = kept {
        let _ = write!(s, " sport={}", if k { "kept" } else { "changed" });
    }
    s
}

fn l4_words(protocol: u8, ports: Option<(u16, u16)>, known: &BTreeSet<u16>) -> String {
    match (protocol, ports) {
        (1, Some((t, c))) => format!("icmp type={t} code={c}"),
        (6, Some((sp, dp))) => format!("tcp sport={} dport={}", port(sp, known), port(dp, known)),
        (17, Some((sp, dp))) => format!("udp sport={} dport={}", port(sp, known), port(dp, known)),
        (p, _) => format!("proto {p}"),
    }
}

/// A frame's signature, or `None` if it is not IPv4: `SRC>DST PROTO PORTS`, and for VXLAN
/// (UDP to one of `vxlan_ports`) also the VNI and the inner frame's MACs, addresses,
/// protocol and ports.
pub fn wire_signature(
    frame: &[u8],
    known: &BTreeSet<u16>,
    vxlan_ports: &BTreeSet<u16>,
) -> Option<String> {
    let mac = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let s = packet::parse_ipv4(ip)?;
    let proto = u8::from(s.protocol);
    let mut sig = format!("{}>{} {}", s.src, s.dst, l4_words(proto, s.ports, known));
    if let (17, Some((_, dport))) = (proto, s.ports)
        && vxlan_ports.contains(&dport)
    {
        let vx = ip.get(s.header_len + 8..s.total_len.min(ip.len()))?;
        let vni = u32::from_be_bytes([0, *vx.get(4)?, *vx.get(5)?, *vx.get(6)?]);
        let inner = vx.get(8..)?;
        let _ = write!(sig, " vxlan vni={vni} |");
        if inner.len() >= 14 {
            let _ = write!(sig, " {}>{}", mac(&inner[6..12]), mac(&inner[0..6]));
            match wire_signature(inner, known, &BTreeSet::new()) {
                Some(i) => {
                    let _ = write!(sig, " {i}");
                }
                None => {
                    let _ = write!(sig, " ethertype 0x{:02x}{:02x}", inner[12], inner[13]);
                }
            }
        }
    }
    Some(sig)
}

/// One difference between the kernel and the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// What was compared: a probe, a namespace's conntrack table, a device's frames.
    pub what: String,
    pub kernel: String,
    pub sim: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.what)?;
        writeln!(f, "  kernel: {}", self.kernel.replace('\n', "\n          "))?;
        write!(f, "  sim:    {}", self.sim.replace('\n', "\n          "))
    }
}

/// Multiset difference of two sorted line lists: (only in `a`, only in `b`).
fn diff_lines(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    let count = |v: &[String]| {
        let mut m: BTreeMap<String, i64> = BTreeMap::new();
        for l in v {
            *m.entry(l.clone()).or_default() += 1;
        }
        m
    };
    let (ca, cb) = (count(a), count(b));
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    let keys: BTreeSet<&String> = ca.keys().chain(cb.keys()).collect();
    for k in keys {
        let d = ca.get(k).copied().unwrap_or(0) - cb.get(k).copied().unwrap_or(0);
        for _ in 0..d.max(0) {
            only_a.push(k.clone());
        }
        for _ in 0..(-d).max(0) {
            only_b.push(k.clone());
        }
    }
    (only_a, only_b)
}

/// Everything that differs between the kernel's and the simulator's observations.
pub fn compare(case: &Case, kernel: &Observation, sim: &Observation) -> Vec<Divergence> {
    let mut out = Vec::new();
    for (i, p) in case.probes.iter().enumerate() {
        let (k, s) = (kernel.probes.get(i), sim.probes.get(i));
        if k != s {
            let show = |r: Option<&crate::emulate::probe::ProbeResult>| {
                r.map_or_else(|| "(missing)".to_string(), |r| r.to_string())
            };
            out.push(Divergence {
                what: format!("probe {i}: {p}"),
                kernel: show(k),
                sim: show(s),
            });
        }
    }
    let names: BTreeSet<&String> = kernel
        .conntrack
        .keys()
        .chain(sim.conntrack.keys())
        .collect();
    for ns in names {
        let empty = Vec::new();
        let k = kernel.conntrack.get(ns).unwrap_or(&empty);
        let s = sim.conntrack.get(ns).unwrap_or(&empty);
        let (only_k, only_s) = diff_lines(k, s);
        if !only_k.is_empty() || !only_s.is_empty() {
            let show = |v: &[String]| {
                if v.is_empty() {
                    "(nothing else)".to_string()
                } else {
                    v.join("\n")
                }
            };
            out.push(Divergence {
                what: format!("conntrack in {ns} (entries only one side has)"),
                kernel: show(&only_k),
                sim: show(&only_s),
            });
        }
    }
    let devs: BTreeSet<&String> = kernel.wire.keys().chain(sim.wire.keys()).collect();
    for dev in devs {
        let empty = BTreeSet::new();
        let k = kernel.wire.get(dev).unwrap_or(&empty);
        let s = sim.wire.get(dev).unwrap_or(&empty);
        if k != s {
            let show = |v: Vec<&String>| {
                if v.is_empty() {
                    "(nothing else)".to_string()
                } else {
                    v.iter().map(|x| x.as_str()).collect::<Vec<_>>().join("\n")
                }
            };
            out.push(Divergence {
                what: format!("frames on {dev} (signatures only one side has)"),
                kernel: show(k.difference(s).collect()),
                sim: show(s.difference(k).collect()),
            });
        }
    }
    out
}

/// The outcome of one differential test.
#[derive(Debug, Clone)]
pub struct Report {
    pub case: String,
    /// Empty when the kernel and the simulator agree.
    pub divergences: Vec<Divergence>,
    /// The simulator seed compared (the one that matched, or the closest).
    pub seed: u64,
    pub seeds_tried: u64,
    /// The kernel run diverged once but agreed when repeated (a timing hiccup): what the
    /// first run differed in.
    pub kernel_retried: Option<Vec<Divergence>>,
    pub kernel: Observation,
    pub sim: Observation,
    /// The simulator's hops for `seed`, to explain a divergence.
    pub sim_hops: String,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.divergences.is_empty()
    }

    /// The divergences (or "agrees"), then each probe's result on both sides.
    pub fn render(&self, case: &Case) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "case {}: {} (simulator seed {}, {} tried)",
            self.case,
            if self.ok() {
                "kernel and simulator agree".to_string()
            } else {
                format!("{} divergence(s)", self.divergences.len())
            },
            self.seed,
            self.seeds_tried
        );
        for d in &self.divergences {
            let _ = writeln!(s, "{d}");
        }
        for (i, p) in case.probes.iter().enumerate() {
            let _ = writeln!(s, "  probe {i}: {p}");
            if let Some(k) = self.kernel.probes.get(i) {
                let _ = writeln!(s, "    kernel: {k}");
            }
            if let Some(m) = self.sim.probes.get(i) {
                let _ = writeln!(s, "    sim:    {m}");
            }
        }
        s
    }
}

/// Runs `case` in the kernel and in the simulator and compares. With random rules, tries up
/// to `max_seeds` simulator seeds for one that matches. A kernel run that diverges only by
/// probes timing out in the kernel is repeated once: if the repeat agrees, the first is
/// taken for a timing hiccup.
pub fn difftest(
    case: &Case,
    env: &Env,
    helper: &Path,
    max_seeds: u64,
) -> Result<Report, EmulateError> {
    let seeds = if case.has_random_rules() {
        max_seeds.max(1)
    } else {
        1
    };
    let sims: Vec<(Observation, String)> = (0..seeds)
        .map(|seed| run_sim(case, seed))
        .collect::<Result<_, _>>()
        .map_err(EmulateError::Probe)?;
    let against = |kernel: &Observation| -> (u64, Vec<Divergence>) {
        let mut best: Option<(u64, Vec<Divergence>)> = None;
        for (seed, (sim, _)) in sims.iter().enumerate() {
            let d = compare(case, kernel, sim);
            let better = best.as_ref().is_none_or(|(_, b)| d.len() < b.len());
            if better {
                best = Some((seed as u64, d));
            }
            if best.as_ref().is_some_and(|(_, b)| b.is_empty()) {
                break;
            }
        }
        best.expect("at least one seed")
    };
    let mut kernel = run_kernel(case, env, helper)?;
    let (mut seed, mut divergences) = against(&kernel);
    let mut kernel_retried = None;
    // Only what looks like the kernel being slow is retried: a probe that timed out there
    // and not in the simulator. Anything else — a refusal, a delivery, a conntrack entry only
    // one side has — is reported at once: with random rules a second kernel run may simply
    // take another branch and hide a real divergence.
    let slow = {
        let sim = &sims[seed as usize].0;
        let diverged: Vec<usize> = (0..case.probes.len())
            .filter(|&i| kernel.probes.get(i) != sim.probes.get(i))
            .collect();
        !diverged.is_empty()
            && diverged
                .iter()
                .all(|&i| kernel.probes[i].delivery == crate::emulate::probe::Delivery::TimedOut)
    };
    if slow {
        let again = run_kernel(case, env, helper)?;
        let (seed2, d2) = against(&again);
        if d2.is_empty() {
            kernel_retried = Some(std::mem::take(&mut divergences));
            kernel = again;
            seed = seed2;
        }
    }
    let (sim, sim_hops) = sims[seed as usize].clone();
    Ok(Report {
        case: case.name.clone(),
        divergences,
        seed,
        seeds_tried: seeds,
        kernel_retried,
        kernel,
        sim,
        sim_hops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfilter::conntrack::parse_dump;

    #[test]
    fn conntrack_lines_lose_ephemeral_ports_but_keep_nat() {
        let known: BTreeSet<u16> = [80, 8080].into();
        let e = &parse_dump(
            "tcp      6 117 TIME_WAIT src=10.244.1.2 dst=10.96.0.10 sport=40000 dport=80 src=10.244.1.2 dst=10.244.1.1 sport=8080 dport=51234 [ASSURED] mark=0 use=1",
        )
        .unwrap()[0];
        assert_eq!(
            ct_line(e, &known),
            "tcp TIME_WAIT src=10.244.1.2 dst=10.96.0.10 sport=* dport=80 src=10.244.1.2 dst=10.244.1.1 sport=8080 dport=* [ASSURED] mark=0 sport=changed"
        );
        let e = &parse_dump(
            "icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=4242 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=4242 mark=0 use=1",
        )
        .unwrap()[0];
        assert!(ct_line(e, &known).ends_with("type=0 code=0 id=* mark=0 sport=kept"));
    }

    #[test]
    fn multiset_differences() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (a, b) = diff_lines(&v(&["a", "a", "b"]), &v(&["a", "c"]));
        assert_eq!((a, b), (v(&["a", "b"]), v(&["c"])));
    }

    #[test]
    fn vxlan_frames_show_their_inner_packet() {
        let inner_ip = packet::ipv4(
            packet::Ipv4Header {
                src: "10.244.1.2".parse().unwrap(),
                dst: "10.244.2.3".parse().unwrap(),
                protocol: smoltcp::wire::IpProtocol::Icmp,
                ttl: 63,
                ident: 1,
                dont_frag: false,
            },
            &packet::icmp_echo(false, 7, 1, b"x"),
        );
        let m1 = smoltcp::wire::EthernetAddress([2, 0, 0, 0, 0, 1]);
        let m2 = smoltcp::wire::EthernetAddress([2, 0, 0, 0, 0, 2]);
        let inner = packet::ethernet(m1, m2, smoltcp::wire::EthernetProtocol::Ipv4, &inner_ip);
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend(&inner);
        let outer_ip = packet::ipv4(
            packet::Ipv4Header {
                src: "192.168.0.11".parse().unwrap(),
                dst: "192.168.0.12".parse().unwrap(),
                protocol: smoltcp::wire::IpProtocol::Udp,
                ttl: 64,
                ident: 2,
                dont_frag: false,
            },
            &packet::udp(
                "192.168.0.11".parse().unwrap(),
                40000,
                "192.168.0.12".parse().unwrap(),
                8472,
                &vx,
            ),
        );
        let frame = packet::ethernet(m1, m2, smoltcp::wire::EthernetProtocol::Ipv4, &outer_ip);
        let sig = wire_signature(&frame, &[8472].into(), &[8472].into()).unwrap();
        assert_eq!(
            sig,
            "192.168.0.11>192.168.0.12 udp sport=* dport=8472 vxlan vni=1 | 02:00:00:00:00:01>02:00:00:00:00:02 10.244.1.2>10.244.2.3 icmp type=8 code=0"
        );
    }
}
