//! # Replaying a capture into the simulated network
//!
//! The "what would change if…" workflow: take a pcap or pcapng file (a real capture, or one
//! [`NetSim::capture`] exported), inject its packets from one namespace (a pod, a node, an
//! external client) at their recorded relative times, and report per flow what became of
//! them — delivered where and as which tuple after DNAT/SNAT, or dropped where and why —
//! and which replies came back. Replaying the same capture against two networks and
//! [`diff`]ing the reports names the flows whose fate changed.
//!
//! | step | where |
//! | --- | --- |
//! | read the file ([`crate::pcapng::parse_capture`]: pcapng, classic pcap µs/ns) | [`plan`] |
//! | IPv4 out of Ethernet (802.1Q skipped), Linux cooked SLL/SLL2, raw IP frames | [`link`] |
//! | flows: 5-tuple, direction-normalised, keyed by the first packet's orientation | [`flow`] |
//! | source rewritten to the injecting endpoint, checksums refreshed | [`rewrite_source`] |
//! | injection through `ip_local_out` ([`NetSim::send`]) at start + recorded offset | [`Plan::inject`] |
//! | per-flow fates and replies from the hops and deliveries | [`outcome`] |
//! | flow-by-flow comparison of two reports | [`diff`] |
//!
//! ## Which packets are injected
//!
//! The client side: by default, the packets of each flow in the direction of its first
//! packet; the replies are the network's job (the simulated servers answer for
//! themselves). [`ReplayOptions::all_packets`] injects every packet instead, each from the
//! injecting namespace. A capture of several interfaces (an export of a whole simulation
//! holds each packet once per device it crossed) is replayed from one: the one named in
//! [`ReplayOptions::interface`], else the interface of the first IPv4 packet.
//!
//! ## What is modelled, what is simplified
//!
//! * Packets enter as locally generated (nat OUTPUT, routing, filter OUTPUT, POSTROUTING),
//!   like a raw socket's `sendto` in the injecting namespace; TTL, IP options and payload
//!   are kept; only the source address changes (ports kept), then every checksum is
//!   recomputed (so captures taken with checksum offload replay cleanly).
//! * Servers answer as they would: a mid-stream TCP segment that matches no connection is
//!   answered with a RST, and that is reported. The injecting namespace holds the flows'
//!   source ports as a packet sink ([`crate::netns::NetNs::sink_ports`]): what comes back
//!   is counted as a reply and never answered by its kernel or local stack.
//! * A packet's fate is that of its own tag: copies made by flooding or by VXLAN to several
//!   remotes are not followed. A reply is a packet delivered to the injecting namespace
//!   with the reverse tuple, or an ICMP error quoting an injected packet.
//! * Not handled: IPv6 (skipped, counted), IPv4 fragments are injected but form one flow per
//!   address pair, packets truncated by the capture's snaplen are skipped (counted).

pub mod diff;
pub mod flow;
pub mod link;
pub mod outcome;

use std::net::Ipv4Addr;

use sim_core::{SimDuration, SimTime};

use crate::netfilter::manip::{ManipSide, manip};
use crate::netns::{NetNsId, SocketProto};
use crate::pcapng::{CaptureInterface, CapturedPacket, PcapngError, parse_capture};
use crate::sim::{NetSim, Scheduled};

pub use diff::{FlowChange, diff};
pub use flow::{Flow, FlowKey, FlowPacket};
pub use outcome::{Fate, FlowOutcome, FlowReport};

/// How to replay.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayOptions {
    /// Replay the packets of the capture interface with this name only; `None`: those of
    /// the interface the first IPv4 packet was captured on.
    pub interface: Option<String>,
    /// Inject every packet, not only each flow's client side.
    pub all_packets: bool,
    /// Rewrite the injected packets' source address to this one (ports kept); `None` keeps
    /// the captured source.
    pub source: Option<Ipv4Addr>,
    /// When the capture's first packet is injected.
    pub start: SimTime,
}

/// Why a capture cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file is not a readable capture (the error names the byte offset).
    #[error(transparent)]
    Capture(#[from] PcapngError),
    /// [`ReplayOptions::interface`] names no interface of the capture.
    #[error("the capture has no interface {name:?} (it has: {})", known.join(", "))]
    NoSuchInterface { name: String, known: Vec<String> },
}

/// Packets of the capture that are not replayed, by why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Skipped {
    /// Captured on another interface than the one replayed.
    pub other_interface: usize,
    /// Not IPv4 (ARP, IPv6, other EtherTypes).
    pub not_ipv4: usize,
    /// IPv4 with a bad header or cut short by the snaplen.
    pub malformed: usize,
}

/// A capture read and grouped into flows, ready to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The interface replayed (`None` when the capture holds no IPv4 packet).
    pub interface: Option<String>,
    pub flows: Vec<Flow>,
    pub skipped: Skipped,
}

/// Reads a capture file's bytes into a [`Plan`].
pub fn plan(data: &[u8], opts: &ReplayOptions) -> Result<Plan, ReplayError> {
    let (interfaces, packets) = parse_capture(data)?;
    plan_packets(&interfaces, &packets, opts)
}

/// [`plan`] on a capture already read.
pub fn plan_packets(
    interfaces: &[CaptureInterface],
    packets: &[CapturedPacket],
    opts: &ReplayOptions,
) -> Result<Plan, ReplayError> {
    let wanted = match &opts.interface {
        Some(name) => Some(
            interfaces
                .iter()
                .position(|i| &i.name == name)
                .ok_or_else(|| ReplayError::NoSuchInterface {
                    name: name.clone(),
                    known: interfaces.iter().map(|i| i.name.clone()).collect(),
                })?,
        ),
        None => None,
    };
    let mut skipped = Skipped::default();
    let mut chosen = wanted;
    let mut first: Option<SimTime> = None;
    let mut ipv4 = Vec::new();
    for p in packets {
        let Some(iface) = interfaces.get(p.interface) else {
            skipped.malformed += 1;
            continue;
        };
        let Some(ip) = link::ipv4_payload(iface.link_type, &p.data) else {
            skipped.not_ipv4 += 1;
            continue;
        };
        if chosen.is_some_and(|c| c != p.interface) {
            skipped.other_interface += 1;
            continue;
        }
        let Some(ip) = link::normalise(ip).filter(|ip| FlowKey::of(ip).is_some()) else {
            skipped.malformed += 1;
            continue;
        };
        chosen = Some(p.interface);
        let t0 = *first.get_or_insert(p.time);
        ipv4.push((p.time.saturating_duration_since(t0), ip));
    }
    Ok(Plan {
        interface: chosen.map(|i| interfaces[i].name.clone()),
        flows: flow::group(ipv4),
        skipped,
    })
}

/// Sets the source address of an IPv4 packet (ports kept) and recomputes the IPv4 header
/// checksum and the TCP, UDP (unless 0, "no checksum") or ICMP checksum — also when the
/// address does not change, so a capture's offloaded checksums come out right. A packet
/// that is not valid IPv4 is left alone.
pub fn rewrite_source(pkt: &mut [u8], src: Ipv4Addr) {
    manip(pkt, ManipSide::Source, src, None);
}

/// One flow as injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Injected {
    pub key: FlowKey,
    /// The forward key as sent (source rewritten).
    pub sent_as: FlowKey,
    pub captured: usize,
    pub tags: Vec<u32>,
}

/// A capture injected into a network: what to look for when reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub(crate) ns: NetNsId,
    pub(crate) flows: Vec<Injected>,
    last: SimTime,
}

impl Injection {
    /// When the last packet is injected.
    pub fn last_at(&self) -> SimTime {
        self.last
    }
}

impl Plan {
    /// The packets to inject from `ns` into `sim`, as events to schedule in capture order
    /// (the engine keeps that order for equal times). The flows' source ports become
    /// packet-sink ports of `ns`.
    pub fn inject(
        &self,
        sim: &mut NetSim,
        ns: NetNsId,
        opts: &ReplayOptions,
    ) -> (Injection, Vec<Scheduled>) {
        let mut order: Vec<(usize, usize, &FlowPacket)> = Vec::new();
        let mut flows = Vec::new();
        for (f, flow) in self.flows.iter().enumerate() {
            let sent_as = opts.source.map_or(flow.key, |s| flow.key.with_src(s));
            flows.push(Injected {
                key: flow.key,
                sent_as,
                captured: flow.packets.len(),
                tags: Vec::new(),
            });
            let proto = match flow.key.protocol {
                6 => Some(SocketProto::Tcp),
                17 => Some(SocketProto::Udp),
                _ => None,
            };
            if let Some(proto) = proto {
                sim.net
                    .netns_mut(ns)
                    .sink_ports
                    .insert((proto, sent_as.sport));
            }
            for p in &flow.packets {
                if p.forward || opts.all_packets {
                    order.push((p.index, f, p));
                }
            }
        }
        order.sort_by_key(|(index, _, _)| *index);
        let mut events = Vec::new();
        let mut last = opts.start;
        for (_, f, p) in order {
            let mut packet = p.packet.clone();
            let own = crate::packet::parse_ipv4(&packet).map(|s| s.src);
            if let Some(src) = opts.source.or(own) {
                rewrite_source(&mut packet, src);
            }
            let at = opts.start + p.offset;
            let job = sim.send(at, ns, packet);
            flows[f].tags.push(job.tag);
            last = last.max(at);
            events.push(Scheduled::from(job));
        }
        (Injection { ns, flows, last }, events)
    }

    /// How long the capture lasts (first to last IPv4 packet).
    pub fn span(&self) -> SimDuration {
        self.flows
            .iter()
            .flat_map(|f| f.packets.iter().map(|p| p.offset))
            .max()
            .unwrap_or(SimDuration::ZERO)
    }
}
