//! A network namespace: its devices, routing tables, neighbour table, sysctls and the ports
//! that local sockets listen on.

use std::collections::BTreeSet;

use crate::device::DeviceId;
use crate::neigh::NeighTable;
use crate::netfilter::Netfilter;
use crate::route::RoutingTable;
use crate::sysctl::Sysctls;

/// Index of a namespace in its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetNsId(pub(crate) u32);

impl NetNsId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// IP protocols a local socket can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SocketProto {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetNs {
    pub name: String,
    /// Devices in creation order (`ip link` order).
    pub devices: Vec<DeviceId>,
    pub local: RoutingTable,
    pub main: RoutingTable,
    pub neigh: NeighTable,
    pub sysctl: Sysctls,
    /// Tables, conntrack, ipsets (inactive until a table is loaded).
    pub netfilter: Netfilter,
    /// Ports with a socket listening on any address (`ss -ltnu`).
    pub listening: BTreeSet<(SocketProto, u16)>,
    /// Ports the namespace's local stack has sockets bound to (its servers and clients).
    pub stack_ports: BTreeSet<(SocketProto, u16)>,
    /// Ports a packet sink holds (the injecting side of a [`crate::replay`], as a raw socket
    /// would): what arrives for them is delivered and counted, never answered with a RST or a
    /// port unreachable, and never handed to the local stack.
    pub sink_ports: BTreeSet<(SocketProto, u16)>,
    /// Next IPv4 identification for locally generated packets.
    pub(crate) ip_id: u16,
    /// The next ifindex to hand out.
    pub(crate) next_ifindex: u32,
}

impl NetNs {
    pub(crate) fn new(name: String) -> Self {
        NetNs {
            name,
            devices: Vec::new(),
            local: RoutingTable::default(),
            main: RoutingTable::default(),
            neigh: NeighTable::default(),
            sysctl: Sysctls::default(),
            netfilter: Netfilter::default(),
            listening: BTreeSet::new(),
            stack_ports: BTreeSet::new(),
            sink_ports: BTreeSet::new(),
            ip_id: 0,
            next_ifindex: 1,
        }
    }

    /// Whether a socket is bound to the port (`__inet_lookup`, reduced to the port).
    pub fn has_socket(&self, proto: SocketProto, port: u16) -> bool {
        self.listening.contains(&(proto, port))
            || self.stack_ports.contains(&(proto, port))
            || self.sink_ports.contains(&(proto, port))
    }

    pub(crate) fn next_ip_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        self.ip_id
    }
}
