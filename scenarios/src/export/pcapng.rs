//! The run's capture as pcapng: sim-net's [`Capture`] (one interface per device that saw a
//! frame, in the order they first did; Ethernet; nanosecond timestamps of simulated time)
//! with each interface renamed to say where it is: `node/device` for a node's own devices,
//! `node/netns/device` for a pod sandbox's, `netns/device` for the segment and the router.

use sim_net::pcapng::Capture;

use super::{Owner, Placement};

/// The interface name for a capture interface named `netns/device`.
pub fn interface_name(placement: &Placement, name: &str) -> String {
    let Some((netns, device)) = name.split_once('/') else {
        return name.to_string();
    };
    match placement.owner(netns) {
        Owner::Node(node) => format!("{node}/{device}"),
        Owner::Pod { node, .. } => format!("{node}/{netns}/{device}"),
        Owner::Other => name.to_string(),
    }
}

/// The capture renamed, as pcapng bytes.
pub fn write(capture: &Capture, placement: &Placement) -> Result<Vec<u8>, String> {
    let mut named = Capture::new();
    let mut index = Vec::with_capacity(capture.interfaces().len());
    for i in capture.interfaces() {
        index.push(named.interface_with_snaplen(
            &interface_name(placement, &i.name),
            i.link_type,
            i.snaplen,
        ));
    }
    for p in capture.packets() {
        let mut p = p.clone();
        // An index out of range is kept as is: write_pcapng reports it.
        p.interface = index.get(p.interface).copied().unwrap_or(p.interface);
        named.record(p);
    }
    let mut buf = Vec::new();
    named
        .write_pcapng(&mut buf)
        .map_err(|e| format!("pcapng: {e}"))?;
    Ok(buf)
}
