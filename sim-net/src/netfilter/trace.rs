//! The explained trace of one new connection through a node's rules (`kube-netsim trace`):
//! a single-node model whose local addresses are given, a packet arriving from outside on
//! `eth0`, and the walk through nat PREROUTING, the routing decision (local if the
//! destination after DNAT is one of the node's addresses, else forwarded back out `eth0`),
//! filter INPUT or FORWARD, and nat POSTROUTING — every rule evaluated, what matched, the NAT
//! applied.
//!
//! Where the rules choose (`statistic`, `recent --rcheck/--update/--remove`), the trace
//! explores every branch: the walk is replayed with each choice forced both ways (taken
//! first, so branches come out in rule order), and outcomes are deduplicated by (verdict,
//! destination, masquerade). `--set` always matches, so it is no choice; a probability of 0
//! or 1 has one side only.

use std::net::{Ipv4Addr, SocketAddrV4};

use sim_core::{SimRng, SimTime};
use smoltcp::wire::IpProtocol;

use crate::netfilter::chain::Hook;
use crate::netfilter::eval::Step;
use crate::netfilter::hooks::{
    Decider, HookIfaces, HookReport, HookVerdict, Host, Netfilter, NfSkb,
};
use crate::netfilter::matches::{AddrTypes, Probability, RecentCommand, RecentMatch};
use crate::netfilter::recent::RecentTables;
use crate::netfilter::table::TableName;
use crate::netfilter::target::Target;
use crate::packet::{self, Ipv4Header};

/// Branches beyond this many are not explored (a guard against pathological rule sets).
pub const MAX_BRANCHES: usize = 4096;

/// The connection to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRequest {
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
    /// `tcp`, `udp` or `sctp` (IANA numbers 6, 17, 132).
    pub proto: u8,
    /// The node's addresses (127.0.0.1 is always local).
    pub local_ips: Vec<Ipv4Addr>,
}

/// How a branch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BranchVerdict {
    Accept,
    Drop,
    Reject,
}

impl BranchVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            BranchVerdict::Accept => "ACCEPT",
            BranchVerdict::Drop => "DROP",
            BranchVerdict::Reject => "REJECT",
        }
    }
}

/// One distinct outcome and the walk that led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub verdict: BranchVerdict,
    /// Where the packet is headed after DNAT.
    pub destination: SocketAddrV4,
    /// Marked for masquerade (kube-proxy's KUBE-MARK-MASQ bit) or hit SNAT/MASQUERADE.
    pub masquerade: bool,
    /// Delivered to the node itself (INPUT) rather than forwarded.
    pub local: bool,
    pub walk: Vec<Step>,
    /// Conntrack and NAT events, per hook.
    pub events: Vec<String>,
}

/// The node as the trace's host: its addresses are local, everything else is unicast.
struct TraceHost<'a> {
    locals: &'a [Ipv4Addr],
}

impl Host for TraceHost<'_> {
    fn addr_type(&self, addr: Ipv4Addr, _iface: Option<&str>) -> u16 {
        if addr.is_unspecified() || addr.is_broadcast() {
            AddrTypes::BROADCAST
        } else if addr.is_multicast() {
            AddrTypes::MULTICAST
        } else if addr.is_loopback() || self.locals.contains(&addr) {
            AddrTypes::LOCAL
        } else {
            AddrTypes::UNICAST
        }
    }

    fn iface_addr(&self, _iface: &str, _dst: Ipv4Addr) -> Option<Ipv4Addr> {
        self.locals.first().copied()
    }
}

/// Replays a script of choices and notes where another choice was possible.
struct Explorer {
    script: Vec<bool>,
    made: Vec<(bool, bool)>,
    rng: SimRng,
}

impl Explorer {
    fn decide(&mut self, feasible: [bool; 2]) -> bool {
        // feasible = [can match, can miss]; prefer matching (rule order).
        let i = self.made.len();
        let pick = match self.script.get(i) {
            Some(&b) => b,
            None => feasible[0],
        };
        let alternative = if pick { feasible[1] } else { feasible[0] };
        self.made.push((pick, alternative));
        pick
    }
}

impl Decider for Explorer {
    fn random(&mut self, p: Probability) -> bool {
        self.decide([p.0 > 0, p.0 < Probability::ONE])
    }

    fn nth(&mut self, _every: u32, _counter: &mut u32) -> bool {
        self.decide([true, true])
    }

    fn recent(&mut self, _: &mut RecentTables, m: &RecentMatch, _: Ipv4Addr, _: SimTime) -> bool {
        match m.command {
            RecentCommand::Set => true,
            _ => self.decide([true, true]),
        }
    }

    fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }
}

/// The packet that opens the connection: a SYN, a datagram, or an SCTP INIT-sized header.
fn first_packet(req: &TraceRequest) -> Vec<u8> {
    let (protocol, l4) = match req.proto {
        6 => (
            IpProtocol::Tcp,
            packet::tcp(
                req.src,
                req.sport,
                req.dst,
                req.dport,
                1,
                0,
                packet::TCP_SYN,
                64240,
            ),
        ),
        17 => (
            IpProtocol::Udp,
            packet::udp(req.src, req.sport, req.dst, req.dport, b""),
        ),
        n => {
            let mut h = vec![0u8; 12];
            h[0..2].copy_from_slice(&req.sport.to_be_bytes());
            h[2..4].copy_from_slice(&req.dport.to_be_bytes());
            (IpProtocol::from(n), h)
        }
    };
    packet::ipv4(
        Ipv4Header {
            src: req.src,
            dst: req.dst,
            protocol,
            ttl: 64,
            ident: 1,
            dont_frag: req.proto == 6,
        },
        &l4,
    )
}

/// The mark KUBE-MARK-MASQ sets, if the nat table has that chain.
fn masquerade_mark(nf: &Netfilter) -> Option<u32> {
    let chain = nf.ruleset.table(TableName::Nat)?.chain("KUBE-MARK-MASQ")?;
    chain.rules.iter().find_map(|r| match &r.target {
        Some(Target::Mark(x)) => Some(x.value),
        _ => None,
    })
}

/// One replay under a script of choices.
fn run_once(nf: &mut Netfilter, req: &TraceRequest, explorer: &mut Explorer) -> Branch {
    // Each replay starts from an empty connection table.
    nf.conntrack.flush();
    let mut locals = req.local_ips.clone();
    locals.push(Ipv4Addr::LOCALHOST);
    let host = TraceHost {
        locals: &req.local_ips,
    };
    let masq_bit = masquerade_mark(nf);
    let mut pkt = first_packet(req);
    let mut skb = NfSkb::default();
    let mut walk = Vec::new();
    let mut events = Vec::new();
    let mut masquerade = false;
    let eth0 = || Some("eth0".to_string());
    let mut verdict = BranchVerdict::Accept;
    let mut local = false;
    let mut hooks = vec![Hook::Prerouting];
    let mut next = 0;
    while let Some(&hook) = hooks.get(next) {
        next += 1;
        let ifs = HookIfaces {
            in_iface: (hook != Hook::Postrouting).then(eth0).flatten(),
            out_iface: matches!(hook, Hook::Forward | Hook::Postrouting)
                .then(eth0)
                .flatten(),
            physdev: None,
        };
        let mut report = HookReport::default();
        let v = nf.hook(
            hook,
            &mut pkt,
            &mut skb,
            &ifs,
            &host,
            explorer,
            SimTime::ZERO,
            Some(&mut walk),
            &mut report,
        );
        masquerade |= report.masqueraded;
        events.extend(report.events.into_iter().map(|e| format!("{hook}: {e}")));
        match v {
            HookVerdict::Accept => {}
            HookVerdict::Drop { .. } | HookVerdict::Conntrack(_) => {
                verdict = BranchVerdict::Drop;
                break;
            }
            HookVerdict::Reject { .. } => {
                verdict = BranchVerdict::Reject;
                break;
            }
        }
        if hook == Hook::Prerouting {
            // The routing decision, on the destination DNAT left.
            masquerade |= masq_bit.is_some_and(|m| skb.mark & m != 0);
            let dst = packet::parse_ipv4(&pkt).map(|s| s.dst);
            local = dst.is_some_and(|d| locals.contains(&d));
            if local {
                hooks.push(Hook::Input);
            } else {
                hooks.extend([Hook::Forward, Hook::Postrouting]);
            }
        }
    }
    let s = packet::parse_ipv4(&pkt).expect("NAT keeps the packet valid");
    let dport = s.ports.map_or(0, |(_, d)| d);
    Branch {
        verdict,
        destination: SocketAddrV4::new(s.dst, dport),
        masquerade,
        local,
        walk,
        events,
    }
}

/// Every distinct outcome of a new connection `req` through `nf`'s rules, in rule order.
/// The walk updates rule counters and leaves the last replay's connection in conntrack.
pub fn trace_new_connection(nf: &mut Netfilter, req: &TraceRequest) -> Vec<Branch> {
    let mut out: Vec<Branch> = Vec::new();
    let mut todo: Vec<Vec<bool>> = vec![Vec::new()];
    let mut runs = 0;
    while let Some(script) = todo.pop() {
        runs += 1;
        if runs > MAX_BRANCHES {
            break;
        }
        let mut ex = Explorer {
            script,
            made: Vec::new(),
            rng: SimRng::new(0),
        };
        let branch = run_once(nf, req, &mut ex);
        // Alternatives after the scripted prefix, deepest last so the next popped script
        // continues in rule order.
        let fixed = ex.script.len();
        let mut alts = Vec::new();
        for k in fixed..ex.made.len() {
            if ex.made[k].1 {
                let mut next: Vec<bool> = ex.made[..k].iter().map(|m| m.0).collect();
                next.push(!ex.made[k].0);
                alts.push(next);
            }
        }
        todo.extend(alts.into_iter().rev());
        let same = |b: &Branch| {
            (b.verdict, b.destination, b.masquerade)
                == (branch.verdict, branch.destination, branch.masquerade)
        };
        if !out.iter().any(same) {
            out.push(branch);
        }
    }
    out
}
