//! A `Segment`: a switched Ethernet segment that any number of NICs attach to, each over its
//! own link (latency, bandwidth, queue, loss), as a cluster's nodes share one L2 network.
//!
//! The switch is modelled as what it behaves like: a learning bridge (FDB with ageing,
//! flooding of unknown unicast and broadcast) in a namespace of its own, named after the
//! segment, with one port per attachment (`port1`, `port2`...). It has no addresses, so it only
//! ever switches; its hops show in traces and captures under its name.

use crate::device::DeviceId;
use crate::error::TopologyError;
use crate::link::{LinkId, LinkProps};
use crate::netns::NetNsId;
use crate::network::Network;

/// A switch: its namespace and its bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId {
    pub ns: NetNsId,
    pub bridge: DeviceId,
}

impl Network {
    /// Creates an empty switched segment named `name` (a namespace name: unique, no `/`).
    pub fn add_segment(&mut self, name: &str) -> Result<SegmentId, TopologyError> {
        let ns = self.add_netns(name)?;
        let bridge = self.add_bridge(ns, "switch")?;
        self.set_up(bridge);
        Ok(SegmentId { ns, bridge })
    }

    /// Plugs `nic` into the segment over a new link with `props`; returns the link.
    pub fn attach(
        &mut self,
        nic: DeviceId,
        seg: SegmentId,
        props: LinkProps,
    ) -> Result<LinkId, TopologyError> {
        let n = self.netns(seg.ns).devices.len() - 1;
        let port = self.add_nic(seg.ns, &format!("port{n}"))?;
        let link = self.connect(nic, port, props)?;
        self.set_master(port, seg.bridge)?;
        self.set_up(port);
        Ok(link)
    }
}
