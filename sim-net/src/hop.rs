//! What the packet path records: one [`Hop`] per observation point a frame passes, in the
//! vocabulary of Hubble and Antrea Traceflow, ending in a delivery, a consumption by the
//! kernel, or a drop with a reason from a closed set.

use std::fmt;

use sim_core::SimTime;

/// Why a packet was dropped. Closed: every drop in the model has one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// No route matched (`ip route get` says "Network is unreachable").
    NoRoute,
    /// A `blackhole` route.
    Blackhole,
    /// An `unreachable` route.
    Unreachable,
    /// A `prohibit` route.
    Prohibit,
    /// TTL reached zero while forwarding.
    TtlExceeded,
    /// Larger than the path MTU with DF set (or a fragment would be needed).
    Mtu,
    /// The link is down.
    LinkDown,
    /// The device is down (or has no carrier).
    DeviceDown,
    /// The transmit queue was full (tail drop).
    QueueFull,
    /// Lost on the wire.
    Loss,
    /// No socket bound to the destination port.
    NoSocket,
    /// ARP got no answer.
    NeighFailed,
    /// Frame addressed to another host's MAC (PACKET_OTHERHOST).
    OtherHost,
    /// Martian source or destination (`fib_validate_source`, 127/8 off loopback...).
    Martian,
    /// Routed packet in a namespace with `ip_forward=0`.
    ForwardingDisabled,
    /// Not a valid frame or packet (short, bad checksum, bad header).
    Malformed,
    /// A protocol the model does not carry yet (e.g. IPv6 forwarding).
    Unsupported,
    /// Sent into a dummy device, which discards everything.
    Dummy,
    /// The bridge's destination is the port the frame came in on, and hairpin is off.
    BridgeSamePort,
    /// A VXLAN device has no FDB entry for the frame and no default destination.
    VxlanNoFdb,
    /// A veth end or NIC with nothing on the other side.
    NoCarrier,
    /// A netfilter rule or chain policy said DROP.
    Filtered,
    /// A netfilter REJECT: dropped, and an ICMP error or TCP reset sent back.
    Rejected,
    /// Conntrack refused the packet (`nf_conntrack_max` reached, insert clash).
    Conntrack,
}

impl DropReason {
    /// The kebab-case name used in traces and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NoRoute => "no-route",
            DropReason::Blackhole => "blackhole",
            DropReason::Unreachable => "unreachable",
            DropReason::Prohibit => "prohibit",
            DropReason::TtlExceeded => "ttl-exceeded",
            DropReason::Mtu => "mtu",
            DropReason::LinkDown => "link-down",
            DropReason::DeviceDown => "device-down",
            DropReason::QueueFull => "queue-full",
            DropReason::Loss => "loss",
            DropReason::NoSocket => "no-socket",
            DropReason::NeighFailed => "neigh-failed",
            DropReason::OtherHost => "other-host",
            DropReason::Martian => "martian",
            DropReason::ForwardingDisabled => "forwarding-disabled",
            DropReason::Malformed => "malformed",
            DropReason::Unsupported => "unsupported",
            DropReason::Dummy => "dummy",
            DropReason::BridgeSamePort => "bridge-same-port",
            DropReason::VxlanNoFdb => "vxlan-no-fdb",
            DropReason::NoCarrier => "no-carrier",
            DropReason::Filtered => "filtered",
            DropReason::Rejected => "rejected",
            DropReason::Conntrack => "conntrack",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the path an observation was made (the Linux function or hook it stands for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Point {
    /// `netif_receive_skb`: a frame arrives on a device.
    Rx,
    /// `br_handle_frame` / `br_forward`: the bridge decides.
    Bridge,
    /// `arp_process`.
    Arp,
    /// `ip_route_input` / `ip_route_output`: the routing decision.
    Route,
    /// `ip_local_deliver`: handed to the local stack.
    Local,
    /// `ip_forward`.
    Forward,
    /// `neigh_resolve_output`: next-hop MAC lookup.
    Neigh,
    /// `dev_queue_xmit`: a frame leaves a device.
    Tx,
    /// On the wire of a link.
    Link,
    /// `vxlan_xmit`: encapsulation.
    VxlanEncap,
    /// `vxlan_rcv`: decapsulation.
    VxlanDecap,
    /// `icmp_send` / `icmp_echo`: the kernel answers.
    Icmp,
    /// `NF_HOOK`: netfilter tables and conntrack at a hook.
    Netfilter,
}

impl Point {
    pub fn as_str(self) -> &'static str {
        match self {
            Point::Rx => "rx",
            Point::Bridge => "bridge",
            Point::Arp => "arp",
            Point::Route => "route",
            Point::Local => "local",
            Point::Forward => "forward",
            Point::Neigh => "neigh",
            Point::Tx => "tx",
            Point::Link => "link",
            Point::VxlanEncap => "vxlan-encap",
            Point::VxlanDecap => "vxlan-decap",
            Point::Icmp => "icmp",
            Point::Netfilter => "netfilter",
        }
    }
}

/// What happened at a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Passed on.
    Pass,
    /// Handed to a local socket: the end of this packet's journey.
    Deliver,
    /// Used up by the kernel itself (ARP processed, echo answered): the end of this packet.
    Consume,
    /// Dropped: the end of this packet.
    Drop(DropReason),
}

impl Verdict {
    /// Whether the packet's journey ends here.
    pub fn is_final(self) -> bool {
        !matches!(self, Verdict::Pass)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("pass"),
            Verdict::Deliver => f.write_str("deliver"),
            Verdict::Consume => f.write_str("consume"),
            Verdict::Drop(r) => write!(f, "drop({r})"),
        }
    }
}

/// One observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub time: SimTime,
    /// Which packet: the one injected is 0; packets the path creates (ARP, ICMP, copies made
    /// by flooding) get the next numbers in order.
    pub tag: u32,
    pub netns: String,
    pub device: Option<String>,
    pub point: Point,
    pub verdict: Verdict,
    /// What was decided, in the words `ip`/`bridge` would use.
    pub note: String,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} #{} {} {} {} {}",
            self.time,
            self.tag,
            self.netns,
            self.device.as_deref().unwrap_or("-"),
            self.point.as_str(),
            self.verdict
        )?;
        if !self.note.is_empty() {
            write!(f, ": {}", self.note)?;
        }
        Ok(())
    }
}
