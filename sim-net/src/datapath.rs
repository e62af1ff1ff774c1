//! The packet path, in the order Linux takes it. One unit of work ([`Job`]) is one frame or
//! packet at one place; processing it records [`Hop`]s and produces follow-up jobs (the next
//! device, a reply, an ARP request), so the same code runs under both drivers: the engine
//! (follow-ups at their due times) and the synchronous walk (everything at one frozen instant).
//!
//! | Linux | here |
//! | --- | --- |
//! | `netif_receive_skb`, PACKET_OTHERHOST | [`Network::rx`] |
//! | `br_handle_frame`, `br_forward`, `br_flood`, `br_pass_frame_up`, `br_dev_xmit` | `bridge_*` |
//! | `arp_process` (arp_ignore=0, arp_accept=0) | `arp_input` |
//! | `ip_rcv`, martian checks, `ip_route_input_slow`, `ip_error` | `ip_input` |
//! | `ip_forward` (TTL, DF/MTU) | `ip_forward` |
//! | `ip_local_deliver`, `icmp_echo`, UDP port unreachable, TCP RST | `local_deliver` |
//! | `ip_local_out`, `ip_route_output` | `local_out` |
//! | `neigh_resolve_output`, `arp_solicit` | `neigh_output` |
//! | `dev_queue_xmit` per device kind | `xmit` |
//! | `vxlan_xmit` (incl. `skb_tunnel_check_pmtu`), `vxlan_rcv` | `vxlan_*` |
//! | `icmp_send` | `icmp_error` |
//!
//! Netfilter runs at the hooks as Linux places them ([`crate::nf_hook`]): PREROUTING in
//! `ip_input` (or at the bridge, for bridged IPv4 when `bridge-nf-call-iptables=1`, with the
//! "bridged DNAT" that keeps a Service's same-bridge backend on the bridge), INPUT in
//! `local_deliver`, FORWARD and POSTROUTING in `ip_forward` (and `br_nf_forward` for bridged
//! frames), OUTPUT, re-routing and POSTROUTING in `local_out`. Simplified for now: no IPv4
//! fragmentation (a packet that would need it is dropped with `mtu`), no ICMP redirects, no
//! rp_filter, IPv6 frames are dropped as `unsupported`; flooded frames skip br_netfilter's
//! FORWARD and POSTROUTING.

use std::net::Ipv4Addr;

use sim_core::{SimRng, SimTime};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol,
    Ipv4Packet,
};

use crate::device::{DeviceId, DeviceKind};
use crate::hop::{DropReason, Hop, Point, Verdict};
use crate::neigh::{BridgedResume, Queued, RETRANS_TIME, Resolution};
use crate::netfilter::chain::Hook;
use crate::netfilter::conntrack::{Direction, EntryId};
use crate::netfilter::eval::Physdev;
use crate::netfilter::hooks::{HookIfaces, NfSkb};
use crate::netns::{NetNsId, SocketProto};
use crate::network::Network;
use crate::packet::{self, ETH_HLEN, Ipv4Header, Ipv4Summary};
use crate::route::RouteType;
use crate::wire::vxlan;

/// A unit of work for the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// A frame arrives on a device.
    Rx { dev: DeviceId, frame: Vec<u8> },
    /// A frame leaves through a device.
    Xmit { dev: DeviceId, frame: Vec<u8> },
    /// A locally generated IPv4 packet enters `ip_local_out` in a namespace.
    Output { ns: NetNsId, packet: Vec<u8> },
    /// An INCOMPLETE neighbour's retransmit timer (engine driver only).
    ArpTimer { dev: DeviceId, ip: Ipv4Addr },
}

/// Work due at a time, for a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub at: SimTime,
    pub tag: u32,
    pub work: Work,
}

/// A packet handed to a local socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub time: SimTime,
    pub tag: u32,
    pub ns: NetNsId,
    pub packet: Vec<u8>,
}

/// How time behaves while processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Links delay, queue and lose; timers are set.
    Timed,
    /// Everything happens at one instant: links only report their latency, nothing is lost,
    /// no timers are set.
    Frozen,
}

/// What processing produced; the driver owns it across jobs.
pub struct Effects<'r> {
    pub now: SimTime,
    pub clock: Clock,
    pub rng: &'r mut SimRng,
    pub jobs: Vec<Job>,
    pub hops: Vec<Hop>,
    pub delivered: Vec<Delivered>,
    /// Frames seen on devices, when capturing: (device, inbound?, bytes).
    pub captured: Option<Vec<(DeviceId, bool, Vec<u8>)>>,
    /// Locally generated packets netfilter dropped or rejected in OUTPUT or POSTROUTING,
    /// as (namespace, tag): in Linux that verdict reaches the sending socket at once
    /// (`ip_local_out` returns `-EPERM`, which `sendmsg` of a datagram returns).
    pub local_out_refused: Vec<(NetNsId, u32)>,
    next_tag: u32,
}

impl<'r> Effects<'r> {
    pub fn new(now: SimTime, clock: Clock, rng: &'r mut SimRng, next_tag: u32) -> Self {
        Effects {
            now,
            clock,
            rng,
            jobs: Vec::new(),
            hops: Vec::new(),
            delivered: Vec::new(),
            captured: None,
            local_out_refused: Vec::new(),
            next_tag,
        }
    }

    /// A tag for a packet the path creates.
    pub fn new_tag(&mut self) -> u32 {
        let t = self.next_tag;
        self.next_tag += 1;
        t
    }

    pub fn next_tag(&self) -> u32 {
        self.next_tag
    }

    fn now_job(&mut self, tag: u32, work: Work) {
        self.jobs.push(Job {
            at: self.now,
            tag,
            work,
        });
    }
}

/// ICMP (type, code) pairs the path sends.
const ICMP_NET_UNREACH: (u8, u8) = (3, 0);
const ICMP_HOST_UNREACH: (u8, u8) = (3, 1);
const ICMP_PROT_UNREACH: (u8, u8) = (3, 2);
const ICMP_PORT_UNREACH: (u8, u8) = (3, 3);
const ICMP_FRAG_NEEDED: (u8, u8) = (3, 4);
const ICMP_PKT_FILTERED: (u8, u8) = (3, 13);
const ICMP_TIME_EXCEEDED: (u8, u8) = (11, 0);
/// What a rejecting route type does to a packet: its drop reason and the ICMP error
/// `ip_error` sends about a forwarded one (`blackhole` is silent). A local sender gets the
/// error code from the syscall instead, so `local_out` uses only the reason.
fn route_rejection(kind: RouteType) -> Option<(DropReason, Option<(u8, u8)>)> {
    match kind {
        RouteType::Blackhole => Some((DropReason::Blackhole, None)),
        RouteType::Unreachable => Some((DropReason::Unreachable, Some(ICMP_HOST_UNREACH))),
        RouteType::Prohibit => Some((DropReason::Prohibit, Some(ICMP_PKT_FILTERED))),
        RouteType::Unicast | RouteType::Local | RouteType::Broadcast => None,
    }
}

/// `icmp_send` quotes at most this much of the offending packet (576 - 20 - 8).
const ICMP_QUOTE_MAX: usize = 548;

impl Network {
    pub(crate) fn hop(
        &self,
        fx: &mut Effects<'_>,
        tag: u32,
        (ns, dev): (NetNsId, Option<DeviceId>),
        point: Point,
        verdict: Verdict,
        note: impl Into<String>,
    ) {
        fx.hops.push(Hop {
            time: fx.now,
            tag,
            netns: self.netns(ns).name.clone(),
            device: dev.map(|d| self.device(d).name.clone()),
            point,
            verdict,
            note: note.into(),
        });
    }

    pub(crate) fn dev_hop(
        &self,
        fx: &mut Effects<'_>,
        tag: u32,
        dev: DeviceId,
        point: Point,
        verdict: Verdict,
        note: impl Into<String>,
    ) {
        let ns = self.device(dev).ns;
        self.hop(fx, tag, (ns, Some(dev)), point, verdict, note);
    }

    /// Processes one job, appending hops and follow-ups to `fx`.
    pub fn process(&mut self, job: Job, fx: &mut Effects<'_>) {
        match job.work {
            Work::Rx { dev, frame } => self.rx(dev, frame, job.tag, fx),
            Work::Xmit { dev, frame } => self.xmit(dev, frame, job.tag, fx),
            Work::Output { ns, packet } => self.local_out(ns, packet, job.tag, fx),
            Work::ArpTimer { dev, ip } => self.arp_timer(dev, ip, fx),
        }
    }

    // ---- layer 2 -----------------------------------------------------------------------

    /// `netif_receive_skb`.
    fn rx(&mut self, dev: DeviceId, frame: Vec<u8>, tag: u32, fx: &mut Effects<'_>) {
        let d = self.device(dev);
        if !d.up {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Rx,
                Verdict::Drop(DropReason::DeviceDown),
                "",
            );
        }
        let Ok(eth) = EthernetFrame::new_checked(&frame[..]) else {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Rx,
                Verdict::Drop(DropReason::Malformed),
                "short frame",
            );
        };
        let dst = eth.dst_addr();
        if let Some(c) = &mut fx.captured {
            c.push((dev, true, frame.clone()));
        }
        self.dev_hop(
            fx,
            tag,
            dev,
            Point::Rx,
            Verdict::Pass,
            packet::describe_frame(&frame),
        );
        if let Some(br) = d.master {
            return self.bridge_input(br, dev, frame, tag, fx);
        }
        let for_us = matches!(d.kind, DeviceKind::Loopback)
            || dst == d.mac
            || dst.is_broadcast()
            || dst.is_multicast();
        if !for_us {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Rx,
                Verdict::Drop(DropReason::OtherHost),
                format!("dst {} is not {}", packet::mac(dst), packet::mac(d.mac)),
            );
        }
        self.l3_input(dev, frame, tag, fx, NfSkb::default());
    }

    /// Hands a frame accepted by `dev` to ARP or IPv4.
    fn l3_input(
        &mut self,
        dev: DeviceId,
        frame: Vec<u8>,
        tag: u32,
        fx: &mut Effects<'_>,
        skb: NfSkb,
    ) {
        let eth = EthernetFrame::new_unchecked(&frame[..]);
        match eth.ethertype() {
            EthernetProtocol::Arp => self.arp_input(dev, &frame, tag, fx),
            EthernetProtocol::Ipv4 => self.ip_input(dev, frame[ETH_HLEN..].to_vec(), tag, fx, skb),
            other => self.dev_hop(
                fx,
                tag,
                dev,
                Point::Rx,
                Verdict::Drop(DropReason::Unsupported),
                format!("ethertype {other}"),
            ),
        }
    }

    /// `br_handle_frame`: a frame entered bridge `br` through `port`.
    fn bridge_input(
        &mut self,
        br: DeviceId,
        port: DeviceId,
        frame: Vec<u8>,
        tag: u32,
        fx: &mut Effects<'_>,
    ) {
        if !self.device(br).up {
            return self.dev_hop(
                fx,
                tag,
                br,
                Point::Bridge,
                Verdict::Drop(DropReason::DeviceDown),
                "bridge is down",
            );
        }
        let src = EthernetFrame::new_unchecked(&frame[..]).src_addr();
        let now = fx.now;
        let DeviceKind::Bridge(b) = &mut self.device_mut(br).kind else {
            unreachable!("a master is always a bridge (set_master checks)");
        };
        b.learn(now, src, port);
        let mut skb = NfSkb::default();
        let frame = if self.br_netfilter(br, &frame) {
            match self.br_nf_pre_routing(br, port, frame, tag, &mut skb, fx) {
                Some(f) => f,
                None => return,
            }
        } else {
            frame
        };
        self.bridge_forward(br, port, frame, tag, skb, fx);
    }

    /// Whether br_netfilter hands this bridged frame to iptables: IPv4, with
    /// `bridge-nf-call-iptables=1` and rules loaded in the namespace.
    fn br_netfilter(&self, br: DeviceId, frame: &[u8]) -> bool {
        let ns = self.netns(self.device(br).ns);
        ns.sysctl.bridge_nf_call_iptables
            && ns.netfilter.active()
            && EthernetFrame::new_unchecked(frame).ethertype() == EthernetProtocol::Ipv4
            && packet::parse_ipv4(&frame[ETH_HLEN..]).is_some()
    }

    /// `br_nf_pre_routing` (+ `br_nf_pre_routing_finish`): PREROUTING as the bridge sees it
    /// (`-i` is the bridge, `--physdev-in` the port). If DNAT moved the destination, the
    /// new one is routed: off the bridge (or local), the frame goes up to IP addressed to the
    /// bridge; on the bridge's own subnet, it stays bridged with the new neighbour's MAC
    /// ("bridged DNAT", which is how a pod reaches a Service backend on the same bridge).
    /// Returns the frame to bridge on, or `None` if it was consumed here.
    fn br_nf_pre_routing(
        &mut self,
        br: DeviceId,
        port: DeviceId,
        frame: Vec<u8>,
        tag: u32,
        skb: &mut NfSkb,
        fx: &mut Effects<'_>,
    ) -> Option<Vec<u8>> {
        let ns = self.device(br).ns;
        let mut pkt = frame[ETH_HLEN..].to_vec();
        let len = packet::parse_ipv4(&pkt)?.total_len;
        pkt.truncate(len);
        let before = packet::parse_ipv4(&pkt)?.dst;
        let ifs = HookIfaces {
            in_iface: Some(self.device(br).name.clone()),
            out_iface: None,
            physdev: Some(Physdev {
                in_port: Some(self.device(port).name.clone()),
                out_port: None,
            }),
        };
        if !self.nf_hook(ns, Hook::Prerouting, &mut pkt, skb, ifs, tag, Some(br), fx) {
            return None;
        }
        skb.prerouting_done = true;
        let eth = EthernetFrame::new_unchecked(&frame[..]);
        let (src_mac, dst_mac) = (eth.src_addr(), eth.dst_addr());
        let after = packet::parse_ipv4(&pkt)?.dst;
        if after == before {
            return Some(packet::ethernet(
                src_mac,
                dst_mac,
                EthernetProtocol::Ipv4,
                &pkt,
            ));
        }
        let br_mac = self.device(br).mac;
        let bridged = !self.is_local(ns, after)
            && self
                .netns(ns)
                .main
                .lookup(after)
                .is_some_and(|r| r.dev == Some(br) && r.kind == RouteType::Unicast);
        if !bridged {
            // Up to IP, addressed to the bridge (PACKET_HOST).
            self.dev_hop(
                fx,
                tag,
                br,
                Point::Bridge,
                Verdict::Pass,
                format!(
                    "br_netfilter: DNAT to {after}, up to {}",
                    self.device(br).name
                ),
            );
            let f = packet::ethernet(src_mac, br_mac, EthernetProtocol::Ipv4, &pkt);
            self.l3_input(br, f, tag, fx, *skb);
            return None;
        }
        let nexthop = self
            .netns(ns)
            .main
            .lookup(after)
            .and_then(|r| r.via)
            .unwrap_or(after);
        let resume = BridgedResume {
            port,
            src_mac,
            skb: *skb,
        };
        let src_ip = packet::parse_ipv4(&pkt).map(|p| p.src);
        match self.netns_mut(ns).neigh.resolve(
            fx.now,
            br,
            nexthop,
            Queued {
                packet: pkt.clone(),
                tag,
                bridged: Some(resume),
            },
        ) {
            Resolution::Ready(mac) => {
                self.dev_hop(
                    fx,
                    tag,
                    br,
                    Point::Bridge,
                    Verdict::Pass,
                    format!(
                        "br_netfilter: bridged DNAT to {after} lladdr {}",
                        packet::mac(mac)
                    ),
                );
                Some(packet::ethernet(src_mac, mac, EthernetProtocol::Ipv4, &pkt))
            }
            Resolution::QueuedSendRequest => {
                let t = fx.new_tag();
                self.dev_hop(
                    fx,
                    tag,
                    br,
                    Point::Neigh,
                    Verdict::Pass,
                    format!("bridged DNAT to {after}: INCOMPLETE, queued, ARP who-has (as #{t})"),
                );
                self.arp_solicit(br, nexthop, src_ip, t, fx);
                if fx.clock == Clock::Timed {
                    fx.jobs.push(Job {
                        at: fx.now + RETRANS_TIME,
                        tag: t,
                        work: Work::ArpTimer {
                            dev: br,
                            ip: nexthop,
                        },
                    });
                }
                None
            }
            Resolution::Queued => {
                self.dev_hop(
                    fx,
                    tag,
                    br,
                    Point::Neigh,
                    Verdict::Pass,
                    format!("bridged DNAT to {after}: queued behind ARP"),
                );
                None
            }
            Resolution::Failed => {
                self.dev_hop(
                    fx,
                    tag,
                    br,
                    Point::Neigh,
                    Verdict::Drop(DropReason::NeighFailed),
                    format!("bridged DNAT to {after}: {nexthop} FAILED"),
                );
                None
            }
        }
    }

    /// `br_handle_frame_finish`: the FDB decides; bridged IPv4 passes FORWARD and
    /// POSTROUTING (br_netfilter) on its way to the port.
    fn bridge_forward(
        &mut self,
        br: DeviceId,
        port: DeviceId,
        frame: Vec<u8>,
        tag: u32,
        mut skb: NfSkb,
        fx: &mut Effects<'_>,
    ) {
        let dst = EthernetFrame::new_unchecked(&frame[..]).dst_addr();
        let now = fx.now;
        let DeviceKind::Bridge(b) = &mut self.device_mut(br).kind else {
            unreachable!("a master is always a bridge (set_master checks)");
        };
        let entry = if dst.is_unicast() {
            b.lookup(now, dst)
        } else {
            None
        };
        let port_name = self.device(port).name.clone();
        match entry {
            Some(e) if e.local => {
                self.dev_hop(
                    fx,
                    tag,
                    br,
                    Point::Bridge,
                    Verdict::Pass,
                    format!(
                        "fdb: {} is local, up to {} from {port_name}",
                        packet::mac(dst),
                        self.device(br).name
                    ),
                );
                self.l3_input(br, frame, tag, fx, skb);
            }
            Some(e) if e.port == port && !self.device(port).hairpin => {
                self.dev_hop(
                    fx,
                    tag,
                    br,
                    Point::Bridge,
                    Verdict::Drop(DropReason::BridgeSamePort),
                    format!(
                        "fdb: {} is behind {port_name}, where it came from (hairpin off)",
                        packet::mac(dst)
                    ),
                );
            }
            Some(e) => {
                let out = e.port;
                self.dev_hop(
                    fx,
                    tag,
                    br,
                    Point::Bridge,
                    Verdict::Pass,
                    format!("fdb: {} on {}", packet::mac(dst), self.device(out).name),
                );
                let frame = if skb.prerouting_done {
                    match self.br_nf_forward(br, port, out, frame, tag, &mut skb, fx) {
                        Some(f) => f,
                        None => return,
                    }
                } else {
                    frame
                };
                fx.now_job(tag, Work::Xmit { dev: out, frame });
            }
            None => {
                let to_host = !dst.is_unicast();
                self.bridge_flood(br, Some(port), frame, tag, to_host, fx);
            }
        }
    }

    /// `br_nf_forward_ip` + `br_nf_post_routing`: FORWARD then POSTROUTING for a bridged
    /// IPv4 frame, `-i`/`-o` the bridge, `--physdev-in`/`--physdev-out` the ports.
    #[allow(clippy::too_many_arguments)]
    fn br_nf_forward(
        &mut self,
        br: DeviceId,
        in_port: DeviceId,
        out_port: DeviceId,
        frame: Vec<u8>,
        tag: u32,
        skb: &mut NfSkb,
        fx: &mut Effects<'_>,
    ) -> Option<Vec<u8>> {
        let ns = self.device(br).ns;
        let eth = EthernetFrame::new_unchecked(&frame[..]);
        let (src_mac, dst_mac) = (eth.src_addr(), eth.dst_addr());
        let mut pkt = frame[ETH_HLEN..].to_vec();
        let len = packet::parse_ipv4(&pkt)?.total_len;
        pkt.truncate(len);
        let br_name = self.device(br).name.clone();
        let physdev = Physdev {
            in_port: Some(self.device(in_port).name.clone()),
            out_port: Some(self.device(out_port).name.clone()),
        };
        let ifs = HookIfaces {
            in_iface: Some(br_name.clone()),
            out_iface: Some(br_name.clone()),
            physdev: Some(physdev.clone()),
        };
        if !self.nf_hook(ns, Hook::Forward, &mut pkt, skb, ifs, tag, Some(br), fx) {
            return None;
        }
        let ifs = HookIfaces {
            in_iface: None,
            out_iface: Some(br_name),
            physdev: Some(physdev),
        };
        if !self.nf_hook(ns, Hook::Postrouting, &mut pkt, skb, ifs, tag, Some(br), fx) {
            return None;
        }
        Some(packet::ethernet(
            src_mac,
            dst_mac,
            EthernetProtocol::Ipv4,
            &pkt,
        ))
    }

    /// `br_flood` (+ `br_pass_frame_up` for broadcast and multicast): copies to every up port
    /// but the ingress one (unless it has hairpin on). The host gets the original tag, else the
    /// first port; every other copy is a new packet.
    fn bridge_flood(
        &mut self,
        br: DeviceId,
        ingress: Option<DeviceId>,
        frame: Vec<u8>,
        tag: u32,
        to_host: bool,
        fx: &mut Effects<'_>,
    ) {
        let ns = self.device(br).ns;
        let ports: Vec<DeviceId> = self
            .netns(ns)
            .devices
            .iter()
            .copied()
            .filter(|&p| {
                let d = self.device(p);
                d.master == Some(br) && d.up && (Some(p) != ingress || d.hairpin)
            })
            .collect();
        let names: Vec<&str> = ports
            .iter()
            .map(|&p| self.device(p).name.as_str())
            .collect();
        let why = if to_host {
            "broadcast"
        } else {
            "unknown unicast"
        };
        let mut note = format!("flood ({why}) to [{}]", names.join(", "));
        if to_host {
            note.push_str(" and up to the host");
        }
        if ports.is_empty() && !to_host {
            return self.dev_hop(
                fx,
                tag,
                br,
                Point::Bridge,
                Verdict::Drop(DropReason::NoCarrier),
                format!("{why}: no other port to flood to"),
            );
        }
        self.dev_hop(fx, tag, br, Point::Bridge, Verdict::Pass, note);
        // The original tag follows the copy that goes up to the host, else the first port's.
        let mut unused_tag = (!to_host).then_some(tag);
        for p in ports {
            let t = unused_tag.take().unwrap_or_else(|| fx.new_tag());
            fx.now_job(
                t,
                Work::Xmit {
                    dev: p,
                    frame: frame.clone(),
                },
            );
        }
        if to_host {
            self.l3_input(br, frame, tag, fx, NfSkb::default());
        }
    }

    /// `dev_queue_xmit`: a frame leaves `dev`.
    fn xmit(&mut self, dev: DeviceId, frame: Vec<u8>, tag: u32, fx: &mut Effects<'_>) {
        let d = self.device(dev);
        if !d.up {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Tx,
                Verdict::Drop(DropReason::DeviceDown),
                "",
            );
        }
        if frame.len().saturating_sub(ETH_HLEN) > d.mtu as usize
            && !matches!(d.kind, DeviceKind::Loopback)
        {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Tx,
                Verdict::Drop(DropReason::Mtu),
                format!("{} bytes > mtu {}", frame.len() - ETH_HLEN, d.mtu),
            );
        }
        if let Some(c) = &mut fx.captured {
            c.push((dev, false, frame.clone()));
        }
        match &d.kind {
            DeviceKind::Loopback => {
                self.dev_hop(fx, tag, dev, Point::Tx, Verdict::Pass, "");
                fx.now_job(tag, Work::Rx { dev, frame });
            }
            DeviceKind::Veth { peer } => {
                let peer = *peer;
                if !self.device(peer).up {
                    return self.dev_hop(
                        fx,
                        tag,
                        dev,
                        Point::Tx,
                        Verdict::Drop(DropReason::NoCarrier),
                        "veth peer is down",
                    );
                }
                self.dev_hop(
                    fx,
                    tag,
                    dev,
                    Point::Tx,
                    Verdict::Pass,
                    format!("veth peer {}", self.device_path(peer)),
                );
                fx.now_job(tag, Work::Rx { dev: peer, frame });
            }
            DeviceKind::Bridge(b) => {
                // br_dev_xmit: the host sends through the bridge.
                let dst = EthernetFrame::new_unchecked(&frame[..]).dst_addr();
                let known = if dst.is_unicast() {
                    b.lookup(fx.now, dst)
                } else {
                    None
                };
                match known {
                    Some(e) if !e.local => {
                        self.dev_hop(
                            fx,
                            tag,
                            dev,
                            Point::Tx,
                            Verdict::Pass,
                            format!("fdb: {} on {}", packet::mac(dst), self.device(e.port).name),
                        );
                        fx.now_job(tag, Work::Xmit { dev: e.port, frame });
                    }
                    _ => self.bridge_flood(dev, None, frame, tag, false, fx),
                }
            }
            DeviceKind::Dummy => {
                self.dev_hop(
                    fx,
                    tag,
                    dev,
                    Point::Tx,
                    Verdict::Drop(DropReason::Dummy),
                    "dummy devices discard what they send",
                );
            }
            DeviceKind::Vxlan(_) => self.vxlan_xmit(dev, frame, tag, fx),
            DeviceKind::Nic { link } => {
                let Some(link) = *link else {
                    return self.dev_hop(
                        fx,
                        tag,
                        dev,
                        Point::Tx,
                        Verdict::Drop(DropReason::NoCarrier),
                        "not attached to a link",
                    );
                };
                self.dev_hop(fx, tag, dev, Point::Tx, Verdict::Pass, "");
                let now = fx.now;
                let l = &mut self.links[link.0 as usize];
                let peer = l.peer_of(dev).expect("a NIC's link has it as an end");
                let arrival = match fx.clock {
                    Clock::Timed => l.transmit(now, dev, frame.len(), fx.rng),
                    Clock::Frozen if l.up => Ok(now),
                    Clock::Frozen => Err(DropReason::LinkDown),
                };
                let latency = l.props.latency;
                match arrival {
                    Ok(at) => {
                        self.dev_hop(
                            fx,
                            tag,
                            dev,
                            Point::Link,
                            Verdict::Pass,
                            format!("to {} (latency {latency})", self.device_path(peer)),
                        );
                        fx.jobs.push(Job {
                            at,
                            tag,
                            work: Work::Rx { dev: peer, frame },
                        });
                    }
                    Err(reason) => self.dev_hop(
                        fx,
                        tag,
                        dev,
                        Point::Link,
                        Verdict::Drop(reason),
                        format!("to {}", self.device_path(peer)),
                    ),
                }
            }
        }
    }

    // ---- ARP ---------------------------------------------------------------------------

    /// `arp_process` with arp_ignore=0 (answer for any local address) and arp_accept=0.
    fn arp_input(&mut self, dev: DeviceId, frame: &[u8], tag: u32, fx: &mut Effects<'_>) {
        let parsed = ArpPacket::new_checked(&frame[ETH_HLEN..])
            .ok()
            .and_then(|p| ArpRepr::parse(&p).ok());
        let Some(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: sha,
            source_protocol_addr: sip,
            target_protocol_addr: tip,
            ..
        }) = parsed
        else {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Arp,
                Verdict::Drop(DropReason::Malformed),
                "bad ARP",
            );
        };
        let ns = self.device(dev).ns;
        let for_us = self.is_local(ns, tip) && !tip.is_loopback() && !tip.is_multicast();
        let now = fx.now;
        let released = self.netns_mut(ns).neigh.confirm(
            now,
            dev,
            sip,
            sha,
            for_us && operation == ArpOperation::Request,
        );
        if operation == ArpOperation::Request && for_us {
            let mac = self.device(dev).mac;
            let reply = packet::arp(ArpOperation::Reply, mac, tip, sha, sip);
            let t = fx.new_tag();
            self.dev_hop(
                fx,
                tag,
                dev,
                Point::Arp,
                Verdict::Consume,
                format!(
                    "{tip} is ours: reply {tip} is-at {} (as #{t})",
                    packet::mac(mac)
                ),
            );
            fx.now_job(t, Work::Xmit { dev, frame: reply });
        } else if operation == ArpOperation::Request {
            self.dev_hop(
                fx,
                tag,
                dev,
                Point::Arp,
                Verdict::Consume,
                format!("who-has {tip}: not ours, ignored"),
            );
        } else {
            self.dev_hop(
                fx,
                tag,
                dev,
                Point::Arp,
                Verdict::Consume,
                format!("learned {sip} is-at {}", packet::mac(sha)),
            );
        }
        let mac = self.device(dev).mac;
        for q in released {
            if let Some(b) = q.bridged {
                // A bridged DNAT waiting for its neighbour: back onto the bridge.
                let f = packet::ethernet(b.src_mac, sha, EthernetProtocol::Ipv4, &q.packet);
                self.bridge_forward(dev, b.port, f, q.tag, b.skb, fx);
                continue;
            }
            let f = packet::ethernet(mac, sha, EthernetProtocol::Ipv4, &q.packet);
            self.dev_hop(
                fx,
                q.tag,
                dev,
                Point::Neigh,
                Verdict::Pass,
                format!(
                    "{sip} resolved to {}: sending queued packet",
                    packet::mac(sha)
                ),
            );
            fx.now_job(q.tag, Work::Xmit { dev, frame: f });
        }
    }

    /// `neigh_resolve_output`: frames an IPv4 packet for `nexthop` on `dev`.
    fn neigh_output(
        &mut self,
        dev: DeviceId,
        nexthop: Ipv4Addr,
        pkt: Vec<u8>,
        tag: u32,
        fx: &mut Effects<'_>,
    ) {
        let d = self.device(dev);
        let (mac, ns) = (d.mac, d.ns);
        // NOARP devices (loopback, dummy) skip resolution.
        if matches!(d.kind, DeviceKind::Loopback | DeviceKind::Dummy) || nexthop.is_broadcast() {
            let dst = if nexthop.is_broadcast() {
                EthernetAddress::BROADCAST
            } else {
                EthernetAddress([0; 6])
            };
            let f = packet::ethernet(mac, dst, EthernetProtocol::Ipv4, &pkt);
            return fx.now_job(tag, Work::Xmit { dev, frame: f });
        }
        let now = fx.now;
        let src = packet::parse_ipv4(&pkt).map(|s| s.src);
        match self.netns_mut(ns).neigh.resolve(
            now,
            dev,
            nexthop,
            Queued {
                packet: pkt.clone(),
                tag,
                bridged: None,
            },
        ) {
            Resolution::Ready(dst) => {
                self.dev_hop(
                    fx,
                    tag,
                    dev,
                    Point::Neigh,
                    Verdict::Pass,
                    format!("{nexthop} lladdr {}", packet::mac(dst)),
                );
                let f = packet::ethernet(mac, dst, EthernetProtocol::Ipv4, &pkt);
                fx.now_job(tag, Work::Xmit { dev, frame: f });
            }
            Resolution::QueuedSendRequest => {
                let t = fx.new_tag();
                self.dev_hop(
                    fx,
                    tag,
                    dev,
                    Point::Neigh,
                    Verdict::Pass,
                    format!("{nexthop} INCOMPLETE: queued, ARP who-has (as #{t})"),
                );
                self.arp_solicit(dev, nexthop, src, t, fx);
                if fx.clock == Clock::Timed {
                    fx.jobs.push(Job {
                        at: now + RETRANS_TIME,
                        tag: t,
                        work: Work::ArpTimer { dev, ip: nexthop },
                    });
                }
            }
            Resolution::Queued => {
                self.dev_hop(
                    fx,
                    tag,
                    dev,
                    Point::Neigh,
                    Verdict::Pass,
                    format!("{nexthop} INCOMPLETE: queued behind ARP"),
                );
            }
            Resolution::Failed => {
                self.dev_hop(
                    fx,
                    tag,
                    dev,
                    Point::Neigh,
                    Verdict::Drop(DropReason::NeighFailed),
                    format!("{nexthop} FAILED"),
                );
                self.icmp_error(ns, &pkt, ICMP_HOST_UNREACH, [0; 4], fx);
            }
        }
    }

    /// `arp_solicit`: the source is the packet's own if it is local, else the device's.
    fn arp_solicit(
        &mut self,
        dev: DeviceId,
        target: Ipv4Addr,
        pkt_src: Option<Ipv4Addr>,
        tag: u32,
        fx: &mut Effects<'_>,
    ) {
        let d = self.device(dev);
        let sip = pkt_src
            .filter(|&s| self.is_local(d.ns, s))
            .or_else(|| d.ipv4())
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let f = packet::arp(
            ArpOperation::Request,
            d.mac,
            sip,
            EthernetAddress::BROADCAST,
            target,
        );
        fx.now_job(tag, Work::Xmit { dev, frame: f });
    }

    /// An INCOMPLETE entry's timer: ask again, or give up after `mcast_solicit` requests.
    fn arp_timer(&mut self, dev: DeviceId, ip: Ipv4Addr, fx: &mut Effects<'_>) {
        let ns = self.device(dev).ns;
        let now = fx.now;
        match self.netns_mut(ns).neigh.retransmit(now, dev, ip) {
            None => {}
            Some(Ok(())) => {
                let t = fx.new_tag();
                self.arp_solicit(dev, ip, None, t, fx);
                fx.jobs.push(Job {
                    at: now + RETRANS_TIME,
                    tag: t,
                    work: Work::ArpTimer { dev, ip },
                });
            }
            Some(Err(dropped)) => self.neigh_failed(dev, ip, dropped, fx),
        }
    }

    /// Drops the packets that waited for `ip` and tells their senders.
    pub(crate) fn neigh_failed(
        &mut self,
        dev: DeviceId,
        ip: Ipv4Addr,
        dropped: Vec<Queued>,
        fx: &mut Effects<'_>,
    ) {
        let ns = self.device(dev).ns;
        for q in dropped {
            self.dev_hop(
                fx,
                q.tag,
                dev,
                Point::Neigh,
                Verdict::Drop(DropReason::NeighFailed),
                format!("no ARP answer for {ip}"),
            );
            self.icmp_error(ns, &q.packet, ICMP_HOST_UNREACH, [0; 4], fx);
        }
    }

    // ---- IPv4 --------------------------------------------------------------------------

    /// `ip_rcv` + `ip_route_input_slow` + `ip_error`.
    fn ip_input(
        &mut self,
        dev: DeviceId,
        mut pkt: Vec<u8>,
        tag: u32,
        fx: &mut Effects<'_>,
        mut skb: NfSkb,
    ) {
        let Some(s) = packet::parse_ipv4(&pkt) else {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Route,
                Verdict::Drop(DropReason::Malformed),
                "bad IPv4 header",
            );
        };
        // ip_rcv trims link-layer padding (short frames are padded to 60 bytes on the wire).
        pkt.truncate(s.total_len);
        let d = self.device(dev);
        let ns = d.ns;
        let on_lo = matches!(d.kind, DeviceKind::Loopback);
        let localnet = self.netns(ns).sysctl.route_localnet;
        let martian = if s.src.is_broadcast() || s.src.is_multicast() || s.src.is_unspecified() {
            Some("martian source")
        } else if !on_lo && self.is_local(ns, s.src) {
            Some("martian source (one of our own addresses)")
        } else if !on_lo && !localnet && (s.src.is_loopback() || s.dst.is_loopback()) {
            Some("127.0.0.0/8 off loopback (route_localnet=0)")
        } else {
            None
        };
        if let Some(why) = martian {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Route,
                Verdict::Drop(DropReason::Martian),
                why,
            );
        }
        if !skb.prerouting_done {
            let ifs = HookIfaces {
                in_iface: Some(self.device(dev).name.clone()),
                ..HookIfaces::default()
            };
            if !self.nf_hook(
                ns,
                Hook::Prerouting,
                &mut pkt,
                &mut skb,
                ifs,
                tag,
                Some(dev),
                fx,
            ) {
                return;
            }
        }
        // DNAT may have moved the destination: route what is there now.
        let s = packet::parse_ipv4(&pkt).expect("NAT keeps the packet valid");
        let local = self.netns(ns).local.lookup(s.dst).cloned();
        if s.dst.is_broadcast()
            || local
                .as_ref()
                .is_some_and(|r| matches!(r.kind, RouteType::Local | RouteType::Broadcast))
        {
            self.dev_hop(
                fx,
                tag,
                dev,
                Point::Route,
                Verdict::Pass,
                format!("{} is local", s.dst),
            );
            return self.local_deliver(dev, pkt, tag, fx, skb);
        }
        let forwarding = self.netns(ns).sysctl.ip_forward;
        let Some(route) = self.netns(ns).main.lookup(s.dst).cloned() else {
            self.dev_hop(
                fx,
                tag,
                dev,
                Point::Route,
                Verdict::Drop(DropReason::NoRoute),
                format!("no route to {}", s.dst),
            );
            if forwarding {
                let ct = skb.ct.map(|(id, dir, _)| (id, dir));
                self.icmp_error_ct(ns, &pkt, ICMP_NET_UNREACH, [0; 4], ct, fx);
            }
            return;
        };
        if let Some((reason, icmp)) = route_rejection(route.kind) {
            self.dev_hop(
                fx,
                tag,
                dev,
                Point::Route,
                Verdict::Drop(reason),
                format!("{} route {}", route.kind, route.dst),
            );
            if let (Some(icmp), true) = (icmp, forwarding) {
                let ct = skb.ct.map(|(id, dir, _)| (id, dir));
                self.icmp_error_ct(ns, &pkt, icmp, [0; 4], ct, fx);
            }
            return;
        }
        if !forwarding {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Route,
                Verdict::Drop(DropReason::ForwardingDisabled),
                format!("{} is not local and ip_forward=0", s.dst),
            );
        }
        self.ip_forward(dev, pkt, &route, tag, fx, skb);
    }

    /// `ip_forward`: TTL, MTU, then out.
    fn ip_forward(
        &mut self,
        in_dev: DeviceId,
        mut pkt: Vec<u8>,
        route: &crate::route::Route,
        tag: u32,
        fx: &mut Effects<'_>,
        mut skb: NfSkb,
    ) {
        let ns = self.device(in_dev).ns;
        let s = packet::parse_ipv4(&pkt).expect("validated by ip_input");
        if s.ttl <= 1 {
            self.dev_hop(
                fx,
                tag,
                in_dev,
                Point::Forward,
                Verdict::Drop(DropReason::TtlExceeded),
                format!("ttl {}", s.ttl),
            );
            let ct = skb.ct.map(|(id, dir, _)| (id, dir));
            return self.icmp_error_ct(ns, &pkt, ICMP_TIME_EXCEEDED, [0; 4], ct, fx);
        }
        let out = route.dev.expect("unicast routes have a device");
        let mtu = self.device(out).mtu as usize;
        if pkt.len() > mtu {
            let note = format!(
                "{} bytes > mtu {mtu} of {}",
                pkt.len(),
                self.device(out).name
            );
            self.dev_hop(
                fx,
                tag,
                in_dev,
                Point::Forward,
                Verdict::Drop(DropReason::Mtu),
                if s.dont_frag {
                    note
                } else {
                    note + " (fragmentation not modelled)"
                },
            );
            if s.dont_frag {
                let [m0, m1] = (mtu as u16).to_be_bytes();
                let ct = skb.ct.map(|(id, dir, _)| (id, dir));
                self.icmp_error_ct(ns, &pkt, ICMP_FRAG_NEEDED, [0, 0, m0, m1], ct, fx);
            }
            return;
        }
        {
            let mut p = Ipv4Packet::new_unchecked(&mut pkt[..]);
            p.set_hop_limit(s.ttl - 1);
            p.fill_checksum();
        }
        let ifs = HookIfaces {
            in_iface: Some(self.device(in_dev).name.clone()),
            out_iface: Some(self.device(out).name.clone()),
            physdev: None,
        };
        if !self.nf_hook(
            ns,
            Hook::Forward,
            &mut pkt,
            &mut skb,
            ifs,
            tag,
            Some(in_dev),
            fx,
        ) {
            return;
        }
        let nexthop = route.via.unwrap_or(s.dst);
        let via = route.via.map(|v| format!("via {v} ")).unwrap_or_default();
        self.dev_hop(
            fx,
            tag,
            in_dev,
            Point::Forward,
            Verdict::Pass,
            format!(
                "{} {via}dev {}, ttl {}",
                route.dst,
                self.device(out).name,
                s.ttl - 1
            ),
        );
        self.postrouting_out(ns, out, nexthop, pkt, skb, tag, fx);
    }

    /// `ip_local_deliver`: the kernel answers pings and refuses closed ports itself.
    fn local_deliver(
        &mut self,
        dev: DeviceId,
        mut pkt: Vec<u8>,
        tag: u32,
        fx: &mut Effects<'_>,
        mut skb: NfSkb,
    ) {
        let ns = self.device(dev).ns;
        let ifs = HookIfaces {
            in_iface: Some(self.device(dev).name.clone()),
            ..HookIfaces::default()
        };
        if !self.nf_hook(ns, Hook::Input, &mut pkt, &mut skb, ifs, tag, Some(dev), fx) {
            return;
        }
        let s = packet::parse_ipv4(&pkt).expect("validated by ip_input");
        let Some((sport, dport)) = s.ports else {
            let (reason, why) = match s.protocol {
                _ if !s.first_fragment => (
                    DropReason::Unsupported,
                    "fragment reassembly is not modelled".to_string(),
                ),
                IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Icmp => (
                    DropReason::Malformed,
                    format!("truncated {} header", s.protocol),
                ),
                other => {
                    self.icmp_error(ns, &pkt, ICMP_PROT_UNREACH, [0; 4], fx);
                    (DropReason::NoSocket, format!("no handler for {other}"))
                }
            };
            return self.dev_hop(fx, tag, dev, Point::Local, Verdict::Drop(reason), why);
        };
        match s.protocol {
            IpProtocol::Icmp if (sport, dport) == (8, 0) => self.icmp_echo(dev, &pkt, &s, tag, fx),
            IpProtocol::Icmp => {
                let note = packet::describe_ipv4(&pkt);
                self.deliver_to_socket(dev, pkt, tag, note, fx);
            }
            IpProtocol::Udp | IpProtocol::Tcp => {
                let udp = s.protocol == IpProtocol::Udp;
                if udp && let Some(vx) = self.vxlan_for_port(ns, dport) {
                    return self.vxlan_rcv(vx, &pkt, &s, tag, fx);
                }
                let (proto, name) = if udp {
                    (SocketProto::Udp, "udp")
                } else {
                    (SocketProto::Tcp, "tcp")
                };
                if self.netns(ns).has_socket(proto, dport) {
                    let what = if self.netns(ns).sink_ports.contains(&(proto, dport)) {
                        "packet sink"
                    } else {
                        "socket"
                    };
                    return self.deliver_to_socket(
                        dev,
                        pkt,
                        tag,
                        format!("{name} {what} :{dport}"),
                        fx,
                    );
                }
                self.dev_hop(
                    fx,
                    tag,
                    dev,
                    Point::Local,
                    Verdict::Drop(DropReason::NoSocket),
                    format!("no {name} socket on :{dport}"),
                );
                // UDP refuses with "port unreachable" (never for broadcast), TCP with a reset.
                if !udp {
                    self.tcp_reset(dev, &pkt, &s, fx);
                } else if !s.dst.is_broadcast() {
                    self.icmp_error(ns, &pkt, ICMP_PORT_UNREACH, [0; 4], fx);
                }
            }
            _ => self.dev_hop(
                fx,
                tag,
                dev,
                Point::Local,
                Verdict::Drop(DropReason::NoSocket),
                format!("no {} socket on :{dport} (not modelled)", s.protocol),
            ),
        }
    }

    /// Hands a packet to the socket that owns it: the end of its journey.
    fn deliver_to_socket(
        &mut self,
        dev: DeviceId,
        pkt: Vec<u8>,
        tag: u32,
        note: String,
        fx: &mut Effects<'_>,
    ) {
        let ns = self.device(dev).ns;
        self.dev_hop(fx, tag, dev, Point::Local, Verdict::Deliver, note);
        fx.delivered.push(Delivered {
            time: fx.now,
            tag,
            ns,
            packet: pkt,
        });
    }

    /// `icmp_echo`: the reply keeps the request's identifier, sequence and data.
    fn icmp_echo(
        &mut self,
        dev: DeviceId,
        pkt: &[u8],
        s: &Ipv4Summary,
        tag: u32,
        fx: &mut Effects<'_>,
    ) {
        let ns = self.device(dev).ns;
        if self.netns(ns).sysctl.icmp_echo_ignore_all {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::Icmp,
                Verdict::Consume,
                "echo request ignored (icmp_echo_ignore_all=1)",
            );
        }
        let src = if s.dst.is_broadcast() {
            self.device(dev).ipv4().unwrap_or(s.dst)
        } else {
            s.dst
        };
        let mut body = pkt[s.header_len..s.total_len].to_vec();
        body[0] = 0; // echo reply
        smoltcp::wire::Icmpv4Packet::new_unchecked(&mut body[..]).fill_checksum();
        let t = fx.new_tag();
        self.dev_hop(
            fx,
            tag,
            dev,
            Point::Icmp,
            Verdict::Consume,
            format!("echo request answered (reply #{t})"),
        );
        let reply = self.new_ipv4(ns, src, s.src, IpProtocol::Icmp, &body);
        fx.now_job(t, Work::Output { ns, packet: reply });
    }

    /// `tcp_v4_send_reset`: a segment to a closed port is answered with RST (if it carried
    /// an ACK) or RST|ACK acknowledging it; a RST is never answered.
    pub(crate) fn tcp_reset(
        &mut self,
        dev: DeviceId,
        pkt: &[u8],
        s: &Ipv4Summary,
        fx: &mut Effects<'_>,
    ) {
        self.tcp_reset_nat(dev, pkt, s, None, fx);
    }

    /// [`Network::tcp_reset`] for a packet of connection `ct` (in direction `dir`): the RST
    /// travels the other way and is rewritten through the connection's NAT bindings.
    pub(crate) fn tcp_reset_nat(
        &mut self,
        dev: DeviceId,
        pkt: &[u8],
        s: &Ipv4Summary,
        ct: Option<(EntryId, Direction)>,
        fx: &mut Effects<'_>,
    ) {
        let ns = self.device(dev).ns;
        let seg = &pkt[s.header_len..s.total_len];
        let Some((sport, dport)) = s.ports else {
            return;
        };
        let flags = seg[13];
        if flags & packet::TCP_RST != 0 {
            return;
        }
        let word = |at: usize| u32::from_be_bytes([seg[at], seg[at + 1], seg[at + 2], seg[at + 3]]);
        let body = if flags & packet::TCP_ACK != 0 {
            packet::tcp(s.dst, dport, s.src, sport, word(8), 0, packet::TCP_RST, 0)
        } else {
            let data_len = (seg.len() - usize::from(seg[12] >> 4) * 4) as u32;
            let syn_fin =
                u32::from(flags & packet::TCP_SYN != 0) + u32::from(flags & packet::TCP_FIN != 0);
            let ack = word(4).wrapping_add(data_len + syn_fin);
            packet::tcp(
                s.dst,
                dport,
                s.src,
                sport,
                0,
                ack,
                packet::TCP_RST | packet::TCP_ACK,
                0,
            )
        };
        let t = fx.new_tag();
        let mut rst = self.new_ipv4(ns, s.dst, s.src, IpProtocol::Tcp, &body);
        let mut note = String::from("tcp reset sent");
        if let Some((id, dir)) = ct
            && self.netns(ns).netfilter.attach_reply(id, dir, &mut rst)
        {
            note = format!(
                "tcp reset sent, as its connection's reply: {}",
                packet::describe_ipv4(&rst)
            );
        }
        self.dev_hop(fx, t, dev, Point::Local, Verdict::Pass, note);
        fx.now_job(t, Work::Output { ns, packet: rst });
    }

    /// A locally generated IPv4 packet with the namespace's TTL and next IP ID.
    pub(crate) fn new_ipv4(
        &mut self,
        ns: NetNsId,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload: &[u8],
    ) -> Vec<u8> {
        let ttl = self.netns(ns).sysctl.ip_default_ttl;
        let ident = self.netns_mut(ns).next_ip_id();
        packet::ipv4(
            Ipv4Header {
                src,
                dst,
                protocol,
                ttl,
                ident,
                dont_frag: protocol == IpProtocol::Tcp,
            },
            payload,
        )
    }

    /// `ip_local_out` + `ip_route_output`: route, OUTPUT, route again if NAT moved the
    /// destination (`ip_route_me_harder`), POSTROUTING, out.
    fn local_out(&mut self, ns: NetNsId, mut pkt: Vec<u8>, tag: u32, fx: &mut Effects<'_>) {
        let Some(s) = packet::parse_ipv4(&pkt) else {
            return self.hop(
                fx,
                tag,
                (ns, None),
                Point::Route,
                Verdict::Drop(DropReason::Malformed),
                "bad IPv4 header from the local stack",
            );
        };
        let Some((out, nexthop)) = self.output_route(ns, &pkt, tag, fx) else {
            return;
        };
        let mut skb = NfSkb::default();
        let ifs = HookIfaces {
            out_iface: Some(self.device(out).name.clone()),
            ..HookIfaces::default()
        };
        if !self.nf_hook(
            ns,
            Hook::Output,
            &mut pkt,
            &mut skb,
            ifs,
            tag,
            Some(out),
            fx,
        ) {
            fx.local_out_refused.push((ns, tag));
            return;
        }
        let (out, nexthop) = match packet::parse_ipv4(&pkt) {
            Some(after) if after.dst != s.dst => match self.output_route(ns, &pkt, tag, fx) {
                Some(r) => r,
                None => return,
            },
            _ => (out, nexthop),
        };
        self.postrouting_out(ns, out, nexthop, pkt, skb, tag, fx);
    }

    /// POSTROUTING out of `out`, then neighbour output to `nexthop` (the shared tail of
    /// `ip_forward` and `ip_local_out`).
    #[allow(clippy::too_many_arguments)]
    fn postrouting_out(
        &mut self,
        ns: NetNsId,
        out: DeviceId,
        nexthop: Ipv4Addr,
        mut pkt: Vec<u8>,
        mut skb: NfSkb,
        tag: u32,
        fx: &mut Effects<'_>,
    ) {
        let ifs = HookIfaces {
            out_iface: Some(self.device(out).name.clone()),
            ..HookIfaces::default()
        };
        if !self.nf_hook(
            ns,
            Hook::Postrouting,
            &mut pkt,
            &mut skb,
            ifs,
            tag,
            Some(out),
            fx,
        ) {
            fx.local_out_refused.push((ns, tag));
            return;
        }
        self.neigh_output(out, nexthop, pkt, tag, fx);
    }

    /// The output route of a local packet: the device and next hop, with its hop recorded,
    /// or `None` after recording why there is none.
    fn output_route(
        &mut self,
        ns: NetNsId,
        pkt: &[u8],
        tag: u32,
        fx: &mut Effects<'_>,
    ) -> Option<(DeviceId, Ipv4Addr)> {
        let s = packet::parse_ipv4(pkt)?;
        if self.is_local(ns, s.dst) {
            let lo = self.netns(ns).devices[0];
            self.hop(
                fx,
                tag,
                (ns, Some(lo)),
                Point::Route,
                Verdict::Pass,
                format!("local {} dev lo", s.dst),
            );
            return Some((lo, s.dst));
        }
        let Some(route) = self.netns(ns).main.lookup(s.dst).cloned() else {
            self.hop(
                fx,
                tag,
                (ns, None),
                Point::Route,
                Verdict::Drop(DropReason::NoRoute),
                format!("{}: Network is unreachable", s.dst),
            );
            return None;
        };
        if let Some((r, _)) = route_rejection(route.kind) {
            self.hop(
                fx,
                tag,
                (ns, None),
                Point::Route,
                Verdict::Drop(r),
                format!("{} route {}", route.kind, route.dst),
            );
            return None;
        }
        let out = route.dev.expect("unicast routes have a device");
        let mtu = self.device(out).mtu as usize;
        if pkt.len() > mtu {
            self.dev_hop(
                fx,
                tag,
                out,
                Point::Route,
                Verdict::Drop(DropReason::Mtu),
                format!("{} bytes > mtu {mtu} (EMSGSIZE)", pkt.len()),
            );
            return None;
        }
        let via = route.via.map(|v| format!("via {v} ")).unwrap_or_default();
        self.dev_hop(
            fx,
            tag,
            out,
            Point::Route,
            Verdict::Pass,
            format!("{} {via}dev {}", s.dst, self.device(out).name),
        );
        Some((out, route.via.unwrap_or(s.dst)))
    }

    /// `icmp_send`: an ICMP error about `offending`, unless the rules forbid one.
    pub(crate) fn icmp_error(
        &mut self,
        ns: NetNsId,
        offending: &[u8],
        (t, c): (u8, u8),
        rest: [u8; 4],
        fx: &mut Effects<'_>,
    ) {
        self.icmp_error_ct(ns, offending, (t, c), rest, None, fx);
    }

    /// [`Network::icmp_error`] about a packet of connection `ct`: the error is attached to it
    /// (`icmp_glue_bits` calls `nf_ct_attach`), so NAT rewrites it as the connection's reply —
    /// found by the kernel differential tests: a REJECT of a DNATed packet reaches the client
    /// as "port unreachable" from the Service, about the packet it sent.
    pub(crate) fn icmp_error_ct(
        &mut self,
        ns: NetNsId,
        offending: &[u8],
        (t, c): (u8, u8),
        rest: [u8; 4],
        ct: Option<(EntryId, Direction)>,
        fx: &mut Effects<'_>,
    ) {
        let Some(s) = packet::parse_ipv4(offending) else {
            return;
        };
        let is_error = s.protocol == IpProtocol::Icmp
            && s.ports
                .is_some_and(|(ty, _)| !matches!(ty, 0 | 8 | 13 | 14));
        if is_error
            || !s.first_fragment
            || s.dst.is_broadcast()
            || s.dst.is_multicast()
            || s.src.is_unspecified()
            || s.src.is_broadcast()
            || s.src.is_multicast()
        {
            return;
        }
        // Source: the offending packet's destination if it was ours, else the address of the
        // interface the error leaves by (icmp_errors_use_inbound_ifaddr=0).
        let src = if self.is_local(ns, s.dst) {
            s.dst
        } else {
            let route = self.netns(ns).main.lookup(s.src);
            match route.and_then(|r| r.src.or_else(|| r.dev.and_then(|d| self.device(d).ipv4()))) {
                Some(a) => a,
                None => return,
            }
        };
        let quote = &offending[..offending.len().min(ICMP_QUOTE_MAX)];
        let body = packet::icmp(t, c, rest, quote);
        let mut err = self.new_ipv4(ns, src, s.src, IpProtocol::Icmp, &body);
        if let Some((id, dir)) = ct {
            self.netns(ns).netfilter.attach_reply(id, dir, &mut err);
        }
        let tag = fx.new_tag();
        let what = packet::describe_ipv4(&err);
        self.hop(
            fx,
            tag,
            (ns, None),
            Point::Icmp,
            Verdict::Pass,
            format!("send {what}"),
        );
        fx.now_job(tag, Work::Output { ns, packet: err });
    }

    // ---- VXLAN -------------------------------------------------------------------------

    fn vxlan_for_port(&self, ns: NetNsId, port: u16) -> Option<DeviceId> {
        self.netns(ns).devices.iter().copied().find(|&d| {
            let dev = self.device(d);
            dev.up && matches!(&dev.kind, DeviceKind::Vxlan(v) if v.dstport == port)
        })
    }

    /// `vxlan_rcv`: strips the outer headers and receives the inner frame on the device with
    /// the packet's VNI.
    fn vxlan_rcv(
        &mut self,
        first: DeviceId,
        outer: &[u8],
        s: &Ipv4Summary,
        tag: u32,
        fx: &mut Effects<'_>,
    ) {
        let ns = self.device(first).ns;
        let port = match &self.device(first).kind {
            DeviceKind::Vxlan(v) => v.dstport,
            _ => unreachable!("vxlan_for_port returns VXLAN devices"),
        };
        // parse_ipv4 checked that the UDP length lies inside the packet.
        let udp = &outer[s.header_len..s.total_len];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        let udp_payload = &udp[8..udp_len];
        // Linux (unlike RFC 7348 §5) drops packets with reserved bits set.
        let parsed = vxlan::Packet::new_checked(udp_payload)
            .ok()
            .filter(|p| !p.reserved_bits_set())
            .and_then(|p| {
                vxlan::Repr::parse(&p)
                    .ok()
                    .map(|r| (r, p.payload().to_vec()))
            });
        let Some((repr, inner)) = parsed else {
            return self.dev_hop(
                fx,
                tag,
                first,
                Point::VxlanDecap,
                Verdict::Drop(DropReason::Malformed),
                "bad VXLAN header (no I flag, or reserved bits set)",
            );
        };
        let dev = self.netns(ns).devices.iter().copied().find(|&d| {
            let dv = self.device(d);
            dv.up && matches!(&dv.kind, DeviceKind::Vxlan(v) if v.dstport == port && v.vni == repr.vni)
        });
        let Some(dev) = dev else {
            return self.dev_hop(
                fx,
                tag,
                first,
                Point::VxlanDecap,
                Verdict::Drop(DropReason::NoSocket),
                format!("no VXLAN device for vni {}", repr.vni),
            );
        };
        let outer_src = s.src;
        self.dev_hop(
            fx,
            tag,
            dev,
            Point::VxlanDecap,
            Verdict::Pass,
            format!("vni {} from {outer_src}", repr.vni),
        );
        fx.now_job(tag, Work::Rx { dev, frame: inner });
    }

    /// `vxlan_xmit`: looks up the remote endpoint(s) and sends the frame inside UDP.
    fn vxlan_xmit(&mut self, dev: DeviceId, frame: Vec<u8>, tag: u32, fx: &mut Effects<'_>) {
        let DeviceKind::Vxlan(v) = &self.device(dev).kind else {
            unreachable!("called for VXLAN devices")
        };
        let (vni, local, dstport) = (v.vni, v.local, v.dstport);
        let dst_mac = EthernetFrame::new_unchecked(&frame[..]).dst_addr();
        let remotes: Vec<Ipv4Addr> = match v.fdb.get(&dst_mac.0) {
            Some(&ip) if dst_mac.is_unicast() => vec![ip],
            _ => v.default_remotes.clone(),
        };
        let ns = self.device(dev).ns;
        if remotes.is_empty() {
            return self.dev_hop(
                fx,
                tag,
                dev,
                Point::VxlanEncap,
                Verdict::Drop(DropReason::VxlanNoFdb),
                format!("no fdb entry for {}", packet::mac(dst_mac)),
            );
        }
        // skb_tunnel_check_pmtu: an inner DF packet too big for the underlay path is refused
        // with "fragmentation needed" as if from the tunnel.
        let inner_ip = &frame[ETH_HLEN..];
        let underlay_mtu = self
            .netns(ns)
            .main
            .lookup(remotes[0])
            .and_then(|r| r.dev)
            .map(|d| self.device(d).mtu as usize);
        if let (Some(mtu), Some(s)) = (underlay_mtu, packet::parse_ipv4(inner_ip))
            && inner_ip.len() + vxlan::OVERHEAD > mtu
        {
            let tunnel_mtu = mtu.saturating_sub(vxlan::OVERHEAD);
            self.dev_hop(
                fx,
                tag,
                dev,
                Point::VxlanEncap,
                Verdict::Drop(DropReason::Mtu),
                format!(
                    "{} bytes + {} overhead > underlay mtu {mtu}",
                    inner_ip.len(),
                    vxlan::OVERHEAD
                ),
            );
            if s.dont_frag {
                let eth = EthernetFrame::new_unchecked(&frame[..]);
                let [m0, m1] = (tunnel_mtu as u16).to_be_bytes();
                let body = packet::icmp(
                    ICMP_FRAG_NEEDED.0,
                    ICMP_FRAG_NEEDED.1,
                    [0, 0, m0, m1],
                    &inner_ip[..inner_ip.len().min(ICMP_QUOTE_MAX)],
                );
                let ip = packet::ipv4(
                    Ipv4Header {
                        src: s.dst,
                        dst: s.src,
                        protocol: IpProtocol::Icmp,
                        ttl: 64,
                        ident: 0,
                        dont_frag: false,
                    },
                    &body,
                );
                let back =
                    packet::ethernet(eth.dst_addr(), eth.src_addr(), EthernetProtocol::Ipv4, &ip);
                let t = fx.new_tag();
                self.dev_hop(
                    fx,
                    t,
                    dev,
                    Point::Icmp,
                    Verdict::Pass,
                    format!("send {}", packet::describe_ipv4(&ip)),
                );
                fx.now_job(t, Work::Rx { dev, frame: back });
            }
            return;
        }
        let sport = vxlan::udp_source_port(&frame, 32768, 60999);
        let mut vx = vec![0u8; vxlan::HEADER_LEN + frame.len()];
        let repr = vxlan::Repr::new(vni).expect("VNI checked at creation");
        repr.emit(&mut vxlan::Packet::new_unchecked(&mut vx[..]));
        vx[vxlan::HEADER_LEN..].copy_from_slice(&frame);
        for (i, remote) in remotes.into_iter().enumerate() {
            let t = if i == 0 { tag } else { fx.new_tag() };
            let udp = packet::udp(local, sport, remote, dstport, &vx);
            let ident = self.netns_mut(ns).next_ip_id();
            let outer = packet::ipv4(
                Ipv4Header {
                    src: local,
                    dst: remote,
                    protocol: IpProtocol::Udp,
                    ttl: 64,
                    ident,
                    dont_frag: false,
                },
                &udp,
            );
            self.dev_hop(
                fx,
                t,
                dev,
                Point::VxlanEncap,
                Verdict::Pass,
                format!("vni {vni} to {remote}:{dstport}"),
            );
            fx.now_job(t, Work::Output { ns, packet: outer });
        }
    }
}
