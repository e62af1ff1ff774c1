//! Network devices (`struct net_device`): what kind each is, its MAC, MTU, state, addresses and
//! bridge master.
//!
//! Kinds modelled: loopback, veth pair ends, Linux bridge, dummy (swallows what it sends, as
//! `drivers/net/dummy.c` does; kube-proxy's IPVS mode parks Service IPs on one), VXLAN, and a
//! physical NIC attached to a point-to-point [`Link`](crate::link::Link).

use std::fmt;
use std::net::Ipv4Addr;

use smoltcp::wire::EthernetAddress;

use crate::addr::IfAddr;
use crate::bridge::Bridge;
use crate::link::LinkId;
use crate::netns::NetNsId;

/// Index of a device in its [`Network`](crate::network::Network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(pub(crate) u32);

impl DeviceId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Linux's default MTU for Ethernet-like devices.
pub const ETH_MTU: u32 = 1500;
/// Loopback MTU since Linux 3.6.
pub const LOOPBACK_MTU: u32 = 65536;

/// A VXLAN device's configuration (`ip link add vxlan0 type vxlan id VNI local IP dstport P
/// dev UNDERLAY`) and its FDB of remote tunnel endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vxlan {
    pub vni: u32,
    /// The outer source address.
    pub local: Ipv4Addr,
    /// UDP destination port (the kernel's default, if unset, is 8472).
    pub dstport: u16,
    /// `bridge fdb append 00:00:00:00:00:00 dst IP` entries: where unknown or broadcast
    /// frames are flooded.
    pub default_remotes: Vec<Ipv4Addr>,
    /// `bridge fdb add MAC dst IP`: per-MAC remote endpoints (flannel writes one per node).
    pub fdb: std::collections::BTreeMap<[u8; 6], Ipv4Addr>,
}

/// What a device is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKind {
    Loopback,
    /// One end of a veth pair; frames sent here arrive at `peer`.
    Veth {
        peer: DeviceId,
    },
    Bridge(Bridge),
    Dummy,
    Vxlan(Box<Vxlan>),
    /// A physical NIC; frames sent go onto its link, if any.
    Nic {
        link: Option<LinkId>,
    },
}

impl DeviceKind {
    /// The `ip -d link` type word.
    pub fn type_name(&self) -> &'static str {
        match self {
            DeviceKind::Loopback => "loopback",
            DeviceKind::Veth { .. } => "veth",
            DeviceKind::Bridge(_) => "bridge",
            DeviceKind::Dummy => "dummy",
            DeviceKind::Vxlan(_) => "vxlan",
            DeviceKind::Nic { .. } => "ether",
        }
    }
}

/// One device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub ns: NetNsId,
    /// Per-namespace interface index, as `ip link` numbers them (lo is 1).
    pub ifindex: u32,
    pub kind: DeviceKind,
    pub mac: EthernetAddress,
    pub mtu: u32,
    pub up: bool,
    pub addrs: Vec<IfAddr>,
    /// The bridge this device is a port of.
    pub master: Option<DeviceId>,
    /// Bridge port flag `hairpin on`: frames may go back out of the port they came in on.
    pub hairpin: bool,
}

impl Device {
    pub fn is_bridge(&self) -> bool {
        matches!(self.kind, DeviceKind::Bridge(_))
    }

    /// The device's first IPv4 address, if any.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.ipv4_addrs().next()
    }

    pub fn ipv4_addrs(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.addrs.iter().filter_map(|a| match a.addr() {
            std::net::IpAddr::V4(v4) => Some(v4),
            std::net::IpAddr::V6(_) => None,
        })
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dev#{}", self.0)
    }
}
