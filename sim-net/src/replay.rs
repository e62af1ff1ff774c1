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
//! injecting namespace; the other side's packets keep their captured addresses (only the
//! client side's source becomes the origin's), so they test how the network treats that
//! side's packets entering at the origin. A capture of several interfaces (an export of a whole simulation
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
//! * Not handled: IPv6 (skipped, counted); packets truncated by the capture's snaplen
//!   (skipped, counted); IPv4 fragments are injected, but the non-first ones form their own
//!   flow per address pair (they carry no ports) and the model drops them at delivery
//!   (no reassembly); a capture on Linux's `any` device that holds a forwarded packet twice
//!   (in and out) injects it twice.

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
    /// Rewrite the source address of each flow's client-side packets to this one (ports
    /// kept); `None` keeps the captured source.
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
    let position = |name: &String| {
        interfaces
            .iter()
            .position(|i| &i.name == name)
            .ok_or_else(|| ReplayError::NoSuchInterface {
                name: name.clone(),
                known: interfaces.iter().map(|i| i.name.clone()).collect(),
            })
    };
    let wanted = opts.interface.as_ref().map(position).transpose()?;
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
    /// The packet-sink ports this injection added to the namespace.
    sinks: Vec<(SocketProto, u16)>,
    last: SimTime,
}

impl Injection {
    /// When the last packet is injected.
    pub fn last_at(&self) -> SimTime {
        self.last
    }

    /// Gives back the packet-sink ports the injection took, so the namespace's later traffic
    /// on those ports is its own stack's again. Call it after [`Injection::report`].
    pub fn release(&self, sim: &mut NetSim) {
        let sink = &mut sim.net.netns_mut(self.ns).sink_ports;
        for p in &self.sinks {
            sink.remove(p);
        }
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
        let mut sinks = Vec::new();
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
            if let Some(proto) = proto
                && sim
                    .net
                    .netns_mut(ns)
                    .sink_ports
                    .insert((proto, sent_as.sport))
            {
                sinks.push((proto, sent_as.sport));
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
            // Only the client side's address is the origin's; the other side's packets
            // (with `all_packets`) go as captured.
            let own = crate::packet::parse_ipv4(&packet).map(|s| s.src);
            if let Some(src) = opts.source.filter(|_| p.forward).or(own) {
                rewrite_source(&mut packet, src);
            }
            let at = opts.start.checked_add(p.offset).unwrap_or(SimTime::MAX);
            let job = sim.send(at, ns, packet);
            flows[f].tags.push(job.tag);
            last = last.max(at);
            events.push(Scheduled::from(job));
        }
        (
            Injection {
                ns,
                flows,
                sinks,
                last,
            },
            events,
        )
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket};

    use super::*;
    use crate::LinkProps;
    use crate::netfilter::RestoreOptions;
    use crate::packet::{self, Ipv4Header, TCP_ACK, TCP_SYN};
    use crate::pcapng::{Capture, CapturedPacket, Direction, LinkType};
    use crate::socket::{ClientSpec, Request, ServerSpec, Service};
    use crate::topology::{ip, two_nodes_routed};

    fn tcp(src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Vec<u8> {
        let (s, d) = (ip(src), ip(dst));
        let seg = packet::tcp(s, sport, d, dport, 1000, 0, flags, 64240);
        packet::ipv4(
            Ipv4Header {
                src: s,
                dst: d,
                protocol: IpProtocol::Tcp,
                ttl: 64,
                ident: 1,
                dont_frag: true,
            },
            &seg,
        )
    }

    fn ms(n: u64) -> SimDuration {
        SimDuration::from_millis(n)
    }

    #[test]
    fn flows_are_keyed_by_their_first_packets_orientation() {
        let syn = tcp("10.0.0.1", 40000, "10.0.0.2", 80, TCP_SYN);
        let syn_ack = tcp("10.0.0.2", 80, "10.0.0.1", 40000, TCP_SYN | TCP_ACK);
        let other = tcp("10.0.0.3", 40001, "10.0.0.2", 80, TCP_SYN);
        let ack = tcp("10.0.0.1", 40000, "10.0.0.2", 80, TCP_ACK);
        let flows = flow::group([(ms(0), syn), (ms(1), syn_ack), (ms(2), other), (ms(3), ack)]);
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].key.to_string(), "tcp 10.0.0.1:40000 → 10.0.0.2:80");
        let dirs: Vec<(usize, bool)> = flows[0]
            .packets
            .iter()
            .map(|p| (p.index, p.forward))
            .collect();
        assert_eq!(dirs, [(0, true), (1, false), (3, true)]);
        assert_eq!(flows[1].key.src, ip("10.0.0.3"));
        assert_eq!(flows[1].packets[0].offset, ms(2));
    }

    #[test]
    fn an_icmp_error_joins_the_flow_it_quotes_as_the_network_side() {
        let dgram = packet::udp(ip("10.0.0.1"), 5000, ip("10.0.0.2"), 53, b"q");
        let hdr = |src: &str, dst: &str, protocol| Ipv4Header {
            src: ip(src),
            dst: ip(dst),
            protocol,
            ttl: 64,
            ident: 3,
            dont_frag: false,
        };
        let query = packet::ipv4(hdr("10.0.0.1", "10.0.0.2", IpProtocol::Udp), &dgram);
        let quote = &query[..28];
        let unreach = packet::ipv4(
            hdr("10.0.0.2", "10.0.0.1", IpProtocol::Icmp),
            &packet::icmp(3, 3, [0; 4], quote),
        );
        let flows = flow::group([(ms(0), query), (ms(1), unreach)]);
        assert_eq!(flows.len(), 1, "{flows:?}");
        assert!(!flows[0].packets[1].forward);
        assert_eq!(
            flow::brief(&flows[0].packets[1].packet),
            "icmp port unreachable"
        );
    }

    #[test]
    fn rewriting_the_source_keeps_ports_and_every_checksum_right() {
        let new = ip("10.244.7.9");
        let check_ip = |pkt: &[u8]| {
            let p = Ipv4Packet::new_checked(pkt).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(p.src_addr(), new);
            (IpAddress::Ipv4(p.src_addr()), IpAddress::Ipv4(p.dst_addr()))
        };
        let mut t = tcp("10.0.0.1", 40000, "10.0.0.2", 80, TCP_SYN);
        // A capture taken with checksum offload: the TCP checksum is garbage.
        t[36] ^= 0xFF;
        rewrite_source(&mut t, new);
        let (s, d) = check_ip(&t);
        let seg = TcpPacket::new_checked(&t[20..]).unwrap();
        assert!(seg.verify_checksum(&s, &d));
        assert_eq!((seg.src_port(), seg.dst_port()), (40000, 80));

        let udp = packet::udp(ip("10.0.0.1"), 5353, ip("10.0.0.2"), 53, b"q");
        let mut u = packet::ipv4(
            Ipv4Header {
                src: ip("10.0.0.1"),
                dst: ip("10.0.0.2"),
                protocol: IpProtocol::Udp,
                ttl: 64,
                ident: 2,
                dont_frag: false,
            },
            &udp,
        );
        rewrite_source(&mut u, new);
        let (s, d) = check_ip(&u);
        let dg = UdpPacket::new_checked(&u[20..]).unwrap();
        assert!(dg.verify_checksum(&s, &d));
        assert_eq!((dg.src_port(), dg.dst_port()), (5353, 53));

        let mut p = crate::topology::ping("10.0.0.1", "10.0.0.2", 56, false);
        rewrite_source(&mut p, new);
        check_ip(&p);
        let icmp = smoltcp::wire::Icmpv4Packet::new_checked(&p[20..]).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(FlowKey::of(&p).unwrap().src, new);
    }

    #[test]
    fn the_wireshark_fixture_replays_its_echo_requests_from_one_interface() {
        let data = include_bytes!("../tests/fixtures/pcapng/sample-usec.pcap");
        let plan = plan(data, &ReplayOptions::default()).unwrap();
        // Classic pcap: one interface; two ARP requests, two echo requests (one flow).
        assert_eq!(plan.interface.as_deref(), Some("if0"));
        assert_eq!(plan.skipped.not_ipv4, 2);
        assert_eq!(plan.flows.len(), 1);
        let f = &plan.flows[0];
        assert_eq!(f.key.protocol_name(), "icmp");
        assert_eq!(f.packets.len(), 2);
        assert!(f.packets.iter().all(|p| p.forward));
        // The nanosecond file gives the same flows.
        let nsec = include_bytes!("../tests/fixtures/pcapng/sample-nsec.pcap");
        let other = super::plan(nsec, &ReplayOptions::default()).unwrap();
        assert_eq!(other.flows[0].key, f.key);
        // Naming an interface the file does not have is an error that lists them.
        let e = super::plan(
            data,
            &ReplayOptions {
                interface: Some("eth9".into()),
                ..ReplayOptions::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the capture has no interface \"eth9\" (it has: if0)"
        );
    }

    #[test]
    fn a_real_capture_with_offloaded_checksums_is_injected_with_right_ones() {
        let data = include_bytes!("../tests/fixtures/pcapng/linux-lo-curl.pcap");
        let src = ip("10.244.1.2");
        let opts = ReplayOptions {
            source: Some(src),
            ..ReplayOptions::default()
        };
        let p = plan(data, &opts).unwrap();
        assert_eq!(p.flows.len(), 1);
        let f = &p.flows[0];
        assert_eq!(f.key.to_string(), "tcp 127.0.0.1:52932 → 127.0.0.1:8099");
        assert_eq!(f.packets.len(), 12);
        assert_eq!(f.packets.iter().filter(|p| p.forward).count(), 7);
        let mut sim = NetSim::new(two_nodes_routed(LinkProps::default()).net, 1);
        let ns = sim.net.netns_id("pod-a").unwrap();
        let (_, events) = p.inject(&mut sim, ns, &opts);
        assert_eq!(events.len(), 7);
        for e in events {
            let crate::SimEvent::Packet(crate::datapath::Job {
                work: crate::datapath::Work::Output { packet, .. },
                ..
            }) = e.event
            else {
                panic!("not a packet: {e:?}")
            };
            let ip4 = Ipv4Packet::new_checked(&packet[..]).unwrap();
            assert!(ip4.verify_checksum());
            assert_eq!(ip4.src_addr(), src);
            let seg = TcpPacket::new_checked(ip4.payload()).unwrap();
            let (s, d) = (IpAddress::Ipv4(src), IpAddress::Ipv4(ip4.dst_addr()));
            assert!(seg.verify_checksum(&s, &d));
            assert_eq!(seg.src_port(), 52932);
        }
    }

    #[test]
    fn a_corrupt_file_names_the_byte_offset() {
        let data = include_bytes!("../tests/fixtures/pcapng/sample-usec.pcapng");
        let e = plan(&data[..data.len() - 10], &ReplayOptions::default()).unwrap_err();
        let ReplayError::Capture(c) = &e else {
            panic!("{e}")
        };
        assert!(c.offset().is_some(), "{e}");
        assert!(e.to_string().contains("byte offset"), "{e}");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_reader(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = plan(&data, &ReplayOptions::default());
        }

        #[test]
        fn random_packets_in_a_valid_file_never_panic(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..8),
            link in 0usize..4,
        ) {
            let link = [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::LinuxSll2][link];
            let mut cap = Capture::new();
            let i = cap.interface("x", link);
            for (n, data) in frames.into_iter().enumerate() {
                cap.record(CapturedPacket {
                    time: SimTime::from_nanos(n as u64),
                    interface: i,
                    direction: Direction::Unknown,
                    data,
                });
            }
            let mut bytes = Vec::new();
            cap.write_pcapng(&mut bytes).unwrap();
            let p = plan(&bytes, &ReplayOptions { all_packets: true, ..ReplayOptions::default() }).unwrap();
            let mut sim = NetSim::new(two_nodes_routed(LinkProps::default()).net, 1);
            let ns = sim.net.netns_id("pod-a").unwrap();
            let (inj, ev) = p.inject(&mut sim, ns, &ReplayOptions::default());
            let mut e = sim.into_engine(1, ev).with_budget(100_000);
            let _ = e.run_until(SimTime::from_nanos(1_000_000_000));
            let _ = inj.report(e.world());
        }
    }

    #[test]
    fn a_ping_in_linux_cooked_v2_frames_is_answered_by_the_peers_kernel() {
        let mut cap = Capture::new();
        let any = cap.interface("any", LinkType::LinuxSll2);
        for (n, ping) in [
            crate::topology::ping("192.0.2.9", "10.244.2.3", 56, false),
            packet::ipv4(
                Ipv4Header {
                    src: ip("10.244.2.3"),
                    dst: ip("192.0.2.9"),
                    protocol: IpProtocol::Icmp,
                    ttl: 64,
                    ident: 9,
                    dont_frag: false,
                },
                &packet::icmp_echo(true, 0x1234, 1, &[0x61; 56]),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let mut frame = vec![0x08, 0x00];
            frame.extend([0u8; 18]);
            frame.extend(ping);
            cap.record(CapturedPacket {
                time: SimTime::from_nanos(n as u64 * 1_000),
                interface: any,
                direction: Direction::Unknown,
                data: frame,
            });
        }
        let mut bytes = Vec::new();
        cap.write_pcapng(&mut bytes).unwrap();
        let t = two_nodes_routed(LinkProps::default());
        let a = t.pod_a;
        let mut sim = NetSim::new(t.net, 1);
        let opts = ReplayOptions {
            source: Some(ip("10.244.1.2")),
            ..ReplayOptions::default()
        };
        let p = plan(&bytes, &opts).unwrap();
        assert_eq!(p.flows.len(), 1);
        assert_eq!(p.flows[0].packets.len(), 2);
        let (inj, ev) = p.inject(&mut sim, a, &opts);
        let mut e = sim.into_engine(1, ev);
        e.run_until(SimTime::from_nanos(1_000_000_000)).unwrap();
        let r = inj.report(e.world());
        assert_eq!(
            r[0].injected, 1,
            "the captured echo reply is the network's job"
        );
        assert_eq!(
            r[0].to_string(),
            "icmp 192.0.2.9 → 10.244.2.3 id 4660  sent as icmp 10.244.1.2 → 10.244.2.3 id 4660  \
             (1 of 2 captured packets injected)\n  \
             1× consumed by pod-b's kernel: echo request answered\n  \
             replies: 1× icmp echo reply\n"
        );
    }

    #[test]
    fn a_syn_to_a_dnatted_address_reports_the_nat_and_the_un_dnatted_reply() {
        let mut cap = Capture::new();
        let raw = cap.interface("eth0", LinkType::RawIp);
        cap.record(CapturedPacket {
            time: SimTime::ZERO,
            interface: raw,
            direction: Direction::Outbound,
            data: tcp("10.244.1.2", 40000, "10.96.0.10", 80, TCP_SYN),
        });
        let mut bytes = Vec::new();
        cap.write_pcapng(&mut bytes).unwrap();
        let t = two_nodes_routed(LinkProps::default());
        let (a, b, node1) = (t.pod_a, t.pod_b, t.node1);
        let mut sim = NetSim::new(t.net, 1);
        netexec(&mut sim, b);
        sim.net
            .netns_mut(node1)
            .netfilter
            .restore(
                "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 :POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp \
                 --dport 80 -j DNAT --to-destination 10.244.2.3:8080\nCOMMIT\n",
                RestoreOptions::default(),
            )
            .unwrap();
        let opts = ReplayOptions::default();
        let p = plan(&bytes, &opts).unwrap();
        let (inj, ev) = p.inject(&mut sim, a, &opts);
        let mut e = sim.into_engine(1, ev);
        e.run_until(SimTime::from_nanos(100_000_000)).unwrap();
        let r = inj.report(e.world());
        assert_eq!(
            r[0].outcome.fates,
            [(
                Fate::Delivered {
                    netns: "pod-b".into(),
                    to: "tcp socket :8080".into(),
                    arrived: FlowKey {
                        protocol: 6,
                        src: ip("10.244.1.2"),
                        sport: 40000,
                        dst: ip("10.244.2.3"),
                        dport: 8080
                    },
                    nat: vec!["PREROUTING DNAT 10.96.0.10:80 -> 10.244.2.3:8080".into()],
                },
                1
            )]
        );
        // The SYN-ACK comes back un-DNATed, from the address the client sent to.
        assert_eq!(r[0].outcome.replies, [("tcp [S.]".to_string(), 1)]);
    }

    /// A GET from pod-a to pod-b's netexec, captured on every device, written as pcapng.
    fn captured_get() -> Vec<u8> {
        let t = two_nodes_routed(LinkProps::default());
        let (a, b) = (t.pod_a, t.pod_b);
        let mut sim = NetSim::new(t.net, 3).capture();
        netexec(&mut sim, b);
        let get = ClientSpec {
            proto: SocketProto::Tcp,
            dst: "10.244.2.3:8080".parse().unwrap(),
            request: Request::HttpGet {
                path: "/hostname".into(),
            },
            timeout: SimDuration::from_secs(5),
        };
        let ev = vec![sim.request(SimTime::ZERO, a, get)];
        let mut e = sim.into_engine(3, ev);
        e.run_until(SimTime::from_nanos(2_000_000_000)).unwrap();
        assert!(e.world().results()[0].outcome.is_success());
        let mut out = Vec::new();
        e.world()
            .capture
            .as_ref()
            .unwrap()
            .write_pcapng(&mut out)
            .unwrap();
        out
    }

    fn netexec(sim: &mut NetSim, ns: NetNsId) {
        sim.serve(
            ns,
            ServerSpec {
                proto: SocketProto::Tcp,
                port: 8080,
                service: Service::NetExec {
                    hostname: "pod-b".into(),
                },
            },
        )
        .unwrap();
    }

    fn replay(data: &[u8], drop_rule: bool) -> Vec<FlowReport> {
        let t = two_nodes_routed(LinkProps::default());
        let (a, b, node2) = (t.pod_a, t.pod_b, t.node2);
        let mut sim = NetSim::new(t.net, 3);
        netexec(&mut sim, b);
        if drop_rule {
            sim.net
                .netns_mut(node2)
                .netfilter
                .restore(
                    "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -d 10.244.2.3/32 -p tcp --dport 8080 -m comment --comment \"what if\" -j DROP\nCOMMIT\n",
                    RestoreOptions::default(),
                )
                .unwrap();
        }
        let opts = ReplayOptions::default();
        let plan = plan(data, &opts).unwrap();
        let (inj, ev) = plan.inject(&mut sim, a, &opts);
        let mut e = sim.into_engine(3, ev);
        e.run_until(inj.last_at() + SimDuration::from_secs(3))
            .unwrap();
        inj.report(e.world())
    }

    #[test]
    fn a_captured_get_replays_to_the_same_pod_and_a_drop_rule_shows_in_the_diff() {
        let data = captured_get();
        let p = plan(&data, &ReplayOptions::default()).unwrap();
        assert_eq!(p.interface.as_deref(), Some("pod-a/eth0"));
        let before = replay(&data, false);
        assert_eq!(before.len(), 1, "{before:?}");
        let text = before[0].to_string();
        assert!(
            text.contains("delivered to pod-b (tcp socket :8080)"),
            "{text}"
        );
        assert!(text.contains("replies: "), "{text}");
        let after = replay(&data, true);
        let text = after[0].to_string();
        assert!(
            text.contains("dropped in node-2") && text.contains("what if"),
            "{text}"
        );
        assert_eq!(replay(&data, false), before, "a replay is deterministic");
        let changes = diff(&before, &after);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].key, before[0].key);
        assert!(diff(&before, &before).is_empty());
    }
}
