//! The dataplane's answer: a connection attempt between two running pods walked through the
//! simulated nodes, as the upstream e2e suite's prober (`agnhost connect` from one pod to a
//! server on every port of another, `test/e2e/network/netpol/probe.go`) asks it — and the
//! truth table built from such probes ([`dataplane_matrix`]).
//!
//! A probe sends the attempt's first packet — a TCP SYN, or a UDP datagram — from the source
//! pod's network namespace to the destination pod's address and port; if the destination
//! receives it, the destination answers the packet as it saw it (a SYN-ACK, or a datagram
//! back, to whatever source NAT left on it), and the answer must reach the source. Both legs
//! go through every hook of every namespace on the path (bridge, br_netfilter, routing,
//! conntrack), so the policy agent's chains and conntrack's ESTABLISHED accept are what
//! decide.
//!
//! Simplified: a socket listens on the destination port (and on the source port, for the
//! answer) only while the probe runs, as the e2e servers listen on every probed port; a
//! probe leaves conntrack entries behind, as a real connection attempt does, so each probe of
//! one cluster must use its own source port ([`dataplane_matrix`] takes them from Linux's
//! ephemeral range in turn). SCTP is not probed (no SCTP stack in the model).

use std::fmt;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use sim_core::SimTime;
use sim_net::packet::{self, IpProtocol, Ipv4Header, TCP_ACK, TCP_SYN};
use sim_net::{DropReason, NetNsId, SocketProto, Verdict, Walk};
use thiserror::Error;

use super::error::PolicyError;
use super::matrix::{Grouping, Matrix, matrix_by};
use super::spec::Protocol;
use super::view::PolicyView;
use crate::cluster::Cluster;

/// `net.ipv4.ip_local_port_range`, Linux's default (32768–60999): the source ports
/// [`dataplane_matrix`] probes from.
pub const EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

/// What the dataplane did with a connection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered to the destination, and its answer came back to the source.
    Connected,
    /// The attempt did not reach the destination: how it ended (`None`: still travelling when
    /// the walk's budget ran out) and the note of the hop that ended it (a filter rule's
    /// comment names the policy chain that dropped it).
    Refused { fate: Option<Verdict>, note: String },
    /// The attempt was delivered, but the answer did not come back.
    NoReply { fate: Option<Verdict>, note: String },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ended = |fate: &Option<Verdict>, note: &str| {
            let fate = fate.map_or_else(|| "still travelling".to_string(), |v| v.to_string());
            if note.is_empty() {
                fate
            } else {
                format!("{fate} at {note}")
            }
        };
        match self {
            Outcome::Connected => f.write_str("connected (the reply came back)"),
            Outcome::Refused { fate, note } => write!(f, "refused: {}", ended(fate, note)),
            Outcome::NoReply { fate, note } => {
                write!(f, "no reply: the reply ended {}", ended(fate, note))
            }
        }
    }
}

impl Outcome {
    /// `{"outcome": "connected"}`, or `refused` / `no-reply` with `fate` (`drop(filtered)`…)
    /// and the deciding hop's `note`.
    pub fn to_json(&self) -> Value {
        let ended = |fate: &Option<Verdict>| fate.map(|v| v.to_string());
        match self {
            Outcome::Connected => json!({"outcome": "connected"}),
            Outcome::Refused { fate, note } => {
                json!({"outcome": "refused", "fate": ended(fate), "note": note})
            }
            Outcome::NoReply { fate, note } => {
                json!({"outcome": "no-reply", "fate": ended(fate), "note": note})
            }
        }
    }

    /// Whether the connection was made.
    pub fn connected(&self) -> bool {
        *self == Outcome::Connected
    }

    /// Whether a filter rule dropped the attempt.
    pub fn filtered(&self) -> bool {
        matches!(
            self,
            Outcome::Refused {
                fate: Some(Verdict::Drop(DropReason::Filtered)),
                ..
            }
        )
    }
}

/// A probe that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProbeError {
    #[error("{0} is not probed: the dataplane probes TCP and UDP only (use --via oracle)")]
    NotProbed(Protocol),
    #[error("pod {0} is not running in the cluster (no sandbox to probe from or to)")]
    NotRunning(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// The first packet of a connection attempt from `src:sport` to `dst:dport`: a TCP SYN, or
/// a UDP datagram.
pub fn opening_packet(
    protocol: Protocol,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
) -> Result<Vec<u8>, ProbeError> {
    probe_packet(protocol, (src, sport), (dst, dport), false)
}

/// The server's answer from `src:sport` to an opening packet from `dst:dport`: a SYN-ACK, or
/// a UDP datagram.
pub fn answer_packet(
    protocol: Protocol,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
) -> Result<Vec<u8>, ProbeError> {
    probe_packet(protocol, (src, sport), (dst, dport), true)
}

/// The opening packet, or with `answer` the server's answer to it.
fn probe_packet(
    protocol: Protocol,
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    answer: bool,
) -> Result<Vec<u8>, ProbeError> {
    let (ip_protocol, l4) = match (protocol, answer) {
        (Protocol::Tcp, false) => (
            IpProtocol::Tcp,
            packet::tcp(src, sport, dst, dport, 1000, 0, TCP_SYN, 64240),
        ),
        (Protocol::Tcp, true) => (
            IpProtocol::Tcp,
            packet::tcp(src, sport, dst, dport, 7000, 1001, TCP_SYN | TCP_ACK, 64240),
        ),
        (Protocol::Udp, answer) => (
            IpProtocol::Udp,
            packet::udp(src, sport, dst, dport, if answer { b"r" } else { b"q" }),
        ),
        (Protocol::Sctp, _) => return Err(ProbeError::NotProbed(protocol)),
    };
    let header = Ipv4Header {
        src,
        dst,
        protocol: ip_protocol,
        ttl: 64,
        ident: 1,
        dont_frag: true,
    };
    Ok(packet::ipv4(header, &l4))
}

/// The note of the hop that ended the injected packet's journey.
fn deciding_note(w: &Walk) -> String {
    w.hops
        .iter()
        .rev()
        .find(|h| h.verdict.is_final())
        .map(|h| h.note.clone())
        .unwrap_or_default()
}

/// Runs `f` with a socket listening on `port` of `ns`, then closes it again if the probe
/// opened it.
fn with_listener<T>(
    c: &mut Cluster,
    ns: NetNsId,
    sock: SocketProto,
    port: u16,
    f: impl FnOnce(&mut Cluster) -> T,
) -> T {
    let opened = c.net.netns_mut(ns).listening.insert((sock, port));
    let out = f(c);
    if opened {
        c.net.netns_mut(ns).listening.remove(&(sock, port));
    }
    out
}

/// Attempts a connection from pod `from` (`namespace/name`) from source port `sport` to pod
/// `to` on `port`/`protocol`, at `now`, and reports what the dataplane did with it.
pub fn probe(
    c: &mut Cluster,
    now: SimTime,
    from: &str,
    to: &str,
    port: u16,
    protocol: Protocol,
    sport: u16,
) -> Result<Outcome, ProbeError> {
    let running = |key: &str| {
        c.pods
            .get(key)
            .map(|p| (p.sandbox.netns, p.ip))
            .ok_or_else(|| ProbeError::NotRunning(key.to_string()))
    };
    let (s_ns, s_ip) = running(from)?;
    let (d_ns, d_ip) = running(to)?;
    let first = opening_packet(protocol, s_ip, sport, d_ip, port)?;
    let sock = match protocol {
        Protocol::Udp => SocketProto::Udp,
        _ => SocketProto::Tcp,
    };
    with_listener(c, d_ns, sock, port, |c| {
        with_listener(c, s_ns, sock, sport, |c| {
            let w = c.net.walk_output(now, s_ns, first);
            let seen = (w.fate() == Some(Verdict::Deliver))
                .then(|| w.delivered.iter().find(|d| d.tag == 0 && d.ns == d_ns))
                .flatten()
                .and_then(|d| packet::parse_ipv4(&d.packet))
                .and_then(|s| s.ports.map(|(peer, me)| (s.src, peer, s.dst, me)));
            let Some((peer_ip, peer_port, my_ip, my_port)) = seen else {
                return Ok(Outcome::Refused {
                    fate: w.fate(),
                    note: deciding_note(&w),
                });
            };
            let reply = answer_packet(protocol, my_ip, my_port, peer_ip, peer_port)?;
            let back = c.net.walk_output(now, d_ns, reply);
            let returned = back.fate() == Some(Verdict::Deliver)
                && back.delivered.iter().any(|d| d.tag == 0 && d.ns == s_ns);
            Ok(if returned {
                Outcome::Connected
            } else {
                Outcome::NoReply {
                    fate: back.fate(),
                    note: deciding_note(&back),
                }
            })
        })
    })
}

/// The truth table of the running cluster's dataplane on `port`/`protocol`: one probe per
/// pair of equivalence classes that also tell nodes apart ([`Grouping::ClassesPerNode`]: a
/// bridged and a routed path are different dataplane paths), from source ports taken in turn
/// from [`EPHEMERAL_PORTS`]. A cell is allowed when the connection was made. The nodes' policy
/// rules must be loaded first ([`super::sync_cluster`], or a cluster built with
/// `policy_agent`).
pub fn dataplane_matrix(
    c: &mut Cluster,
    now: SimTime,
    port: u16,
    protocol: Protocol,
) -> Result<Matrix, ProbeError> {
    if protocol == Protocol::Sctp {
        return Err(ProbeError::NotProbed(protocol));
    }
    let view = PolicyView::from_store(&c.store)?;
    let (low, high) = EPHEMERAL_PORTS;
    let mut sport = low;
    matrix_by(
        &view,
        port,
        protocol,
        Grouping::ClassesPerNode,
        |from, to| {
            let out = probe(c, now, from, to, port, protocol, sport)?;
            sport = if sport == high { low } else { sport + 1 };
            Ok(out.connected())
        },
    )
}
