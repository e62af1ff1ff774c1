//! # sim-net — the Linux dataplane model
//!
//! Network namespaces with devices, addresses, routing tables, neighbours and sysctls, and the
//! packet path between them, as Linux has them (DESIGN.md §4). Packets are real bytes
//! (`smoltcp::wire`), and every step a packet takes is recorded as a [`Hop`].
//!
//! | module | holds |
//! | --- | --- |
//! | [`network`] | [`Network`]: namespaces, devices, links, and the `ip`-like operations that build them |
//! | [`netns`], [`device`], [`addr`] | a namespace, a device (loopback, veth, bridge, dummy, VXLAN, NIC), an address |
//! | [`route`], [`neigh`], [`bridge`], [`sysctl`] | routing tables, the ARP neighbour table, the bridge FDB, sysctls |
//! | [`link`] | point-to-point links: latency, bandwidth, queue, loss |
//! | [`netfilter`] | tables and rules, conntrack and NAT, IP sets, run at the hooks of the path |
//! | [`segment`] | switched segments (a learning switch) that many NICs attach to |
//! | [`datapath`] | the packet path: rx, bridge, ARP, IPv4 input/forward/local/output, ICMP, VXLAN, xmit |
//! | [`nf_hook`] | where the path calls netfilter, and REJECT |
//! | [`walk`] | the synchronous driver: one packet at a frozen instant, every hop |
//! | [`sim`] | the engine driver: [`NetSim`] as a sim-core `World` |
//! | [`socket`] | the local stack per namespace (smoltcp) and the processes on it: echo, agnhost netexec, clients |
//! | [`hop`] | [`Hop`] records, observation points, verdicts, the closed set of drop reasons |
//! | [`packet`], [`wire`] | building and describing packets; the VXLAN header |
//! | [`pcapng`] | captures written as pcapng, and pcapng/pcap read back |
//! | [`replay`] | a capture injected from a namespace, its flows' fates reported and diffed |
//! | [`topology`] | ready-made topologies (one bridge; two nodes routed or over VXLAN) |
//! | [`dump`] | `ip addr`, `ip route`, `ip neigh`, `bridge fdb` text |
//! | [`dot`] | the topology as Graphviz DOT (petgraph) |
//! | `emulate` | (feature `emulate`) the topology in real network namespaces; kernel differential tests |
//!
//! Not yet modelled: IPv6 forwarding, IPv4 fragmentation.

pub mod addr;
pub mod bridge;
pub mod datapath;
pub mod device;
pub mod dot;
pub mod dump;
#[cfg(feature = "emulate")]
pub mod emulate;
pub mod error;
pub mod hop;
pub mod link;
pub mod neigh;
pub mod netfilter;
pub mod netns;
pub mod network;
pub mod nf_hook;
pub mod packet;
pub mod pcapng;
pub mod replay;
pub mod route;
pub mod segment;
pub mod sim;
pub mod socket;
pub mod sysctl;
pub mod topology;
pub mod walk;
pub mod wire;

pub use device::DeviceId;
pub use error::TopologyError;
pub use hop::{DropReason, Hop, Point, Verdict};
pub use link::{LinkId, LinkProps};
pub use netns::{NetNsId, SocketProto};
pub use network::{Network, VxlanConfig};
pub use segment::SegmentId;
pub use sim::{NetSim, Scheduled, SimEvent};
pub use walk::Walk;
