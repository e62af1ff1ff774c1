//! The neighbour table (`ip neigh`): IPv4 → MAC per device, resolved with ARP
//! (`net/core/neighbour.c`, `net/ipv4/arp.c`).
//!
//! Modelled states: INCOMPLETE (request sent, packets queued), REACHABLE (confirmed by a reply
//! or by a request from the neighbour), STALE (older than `reachable_time`, still used),
//! FAILED (no answer after `mcast_solicit` requests `retrans_time` apart; queued packets are
//! dropped and their senders told "host unreachable"; the next packet starts over) and
//! PERMANENT (static entries).
//! Simplified: STALE entries are used without the DELAY/PROBE re-confirmation; reachable_time
//! is the base value, not the kernel's random 0.5–1.5× of it. NDP for IPv6 comes later.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use sim_core::{SimDuration, SimTime};
use smoltcp::wire::EthernetAddress;

use crate::device::DeviceId;

/// Linux default `base_reachable_time_ms`: 30 s.
pub const REACHABLE_TIME: SimDuration = SimDuration::from_secs(30);
/// Linux default `retrans_time_ms`: 1 s between ARP requests.
pub const RETRANS_TIME: SimDuration = SimDuration::from_secs(1);
/// Linux default `mcast_solicit`: 3 broadcast requests before FAILED.
pub const MCAST_SOLICIT: u8 = 3;
/// Linux default `unres_qlen_bytes`: 212992 bytes (SK_WMEM_MAX) queued per unresolved entry.
pub const UNRES_QLEN_BYTES: usize = 212_992;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Failed,
    Permanent,
}

impl fmt::Display for NeighState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NeighState::Incomplete => "INCOMPLETE",
            NeighState::Reachable => "REACHABLE",
            NeighState::Stale => "STALE",
            NeighState::Failed => "FAILED",
            NeighState::Permanent => "PERMANENT",
        })
    }
}

/// A packet waiting for its next hop's MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The IPv4 packet, ready to be framed.
    pub packet: Vec<u8>,
    /// Which traced packet it is.
    pub tag: u32,
    /// Set when the packet is a bridged DNAT waiting for this neighbour (br_netfilter): it
    /// goes back onto the bridge rather than out of the device.
    pub bridged: Option<BridgedResume>,
}

/// Where a bridged DNAT resumes once its neighbour is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgedResume {
    /// The bridge port the frame came in on.
    pub port: crate::device::DeviceId,
    /// The frame's own source MAC (bridging keeps it).
    pub src_mac: EthernetAddress,
    pub skb: crate::netfilter::hooks::NfSkb,
}

/// One neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighEntry {
    pub mac: Option<EthernetAddress>,
    state: NeighState,
    /// When it was last confirmed (or created, while incomplete).
    pub updated: SimTime,
    /// ARP requests sent while incomplete.
    pub probes: u8,
    pub queue: Vec<Queued>,
}

impl NeighEntry {
    /// The state at `now` (REACHABLE turns STALE once `reachable_time` has passed).
    pub fn state(&self, now: SimTime) -> NeighState {
        match self.state {
            NeighState::Reachable
                if now.saturating_duration_since(self.updated) > REACHABLE_TIME =>
            {
                NeighState::Stale
            }
            s => s,
        }
    }
}

/// What the caller must do with a packet for a next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Send it to this MAC now.
    Ready(EthernetAddress),
    /// Queued; send the first ARP request now (a new INCOMPLETE entry).
    QueuedSendRequest,
    /// Queued behind an ARP request already in flight.
    Queued,
    /// Dropped: the entry is FAILED, or the unresolved queue is full.
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighTable {
    entries: BTreeMap<(DeviceId, Ipv4Addr), NeighEntry>,
}

impl NeighTable {
    /// Looks up `ip` on `dev` for an outgoing `packet`; queues it if unresolved.
    pub fn resolve(
        &mut self,
        now: SimTime,
        dev: DeviceId,
        ip: Ipv4Addr,
        packet: Queued,
    ) -> Resolution {
        match self.entries.get_mut(&(dev, ip)) {
            Some(e) => match (e.state, e.mac) {
                (NeighState::Incomplete, _) => {
                    let queued: usize = e.queue.iter().map(|q| q.packet.len()).sum();
                    if queued + packet.packet.len() > UNRES_QLEN_BYTES {
                        return Resolution::Failed;
                    }
                    e.queue.push(packet);
                    Resolution::Queued
                }
                // `__neigh_event_send`: a FAILED entry is not a verdict for the next packet; it
                // starts resolving again (INCOMPLETE, fresh probes). Found by the kernel
                // differential tests: the model answered "host unreachable" at once.
                (NeighState::Failed, _) => {
                    e.state = NeighState::Incomplete;
                    e.mac = None;
                    e.updated = now;
                    e.probes = 1;
                    e.queue = vec![packet];
                    Resolution::QueuedSendRequest
                }
                (_, Some(mac)) => Resolution::Ready(mac),
                (_, None) => Resolution::Failed,
            },
            None => {
                self.entries.insert(
                    (dev, ip),
                    NeighEntry {
                        mac: None,
                        state: NeighState::Incomplete,
                        updated: now,
                        probes: 1,
                        queue: vec![packet],
                    },
                );
                Resolution::QueuedSendRequest
            }
        }
    }

    /// Records `ip is-at mac` learned from ARP; returns the packets that were waiting.
    ///
    /// `create` is whether an absent entry may be created (a reply or a request addressed to
    /// us creates one; gratuitous traffic only updates existing entries, like `arp_process`).
    pub fn confirm(
        &mut self,
        now: SimTime,
        dev: DeviceId,
        ip: Ipv4Addr,
        mac: EthernetAddress,
        create: bool,
    ) -> Vec<Queued> {
        match self.entries.get_mut(&(dev, ip)) {
            Some(e) if e.state == NeighState::Permanent => Vec::new(),
            Some(e) => {
                e.mac = Some(mac);
                e.state = NeighState::Reachable;
                e.updated = now;
                e.probes = 0;
                std::mem::take(&mut e.queue)
            }
            None if create => {
                self.entries.insert(
                    (dev, ip),
                    NeighEntry {
                        mac: Some(mac),
                        state: NeighState::Reachable,
                        updated: now,
                        probes: 0,
                        queue: Vec::new(),
                    },
                );
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Adds a PERMANENT entry (`ip neigh add IP lladdr MAC dev DEV nud permanent`).
    pub fn add_permanent(&mut self, dev: DeviceId, ip: Ipv4Addr, mac: EthernetAddress) {
        self.entries.insert(
            (dev, ip),
            NeighEntry {
                mac: Some(mac),
                state: NeighState::Permanent,
                updated: SimTime::ZERO,
                probes: 0,
                queue: Vec::new(),
            },
        );
    }

    /// The retransmit timer of an INCOMPLETE entry fired: either send another request
    /// (`Ok(())`) or mark it FAILED and return its queue to be dropped.
    pub fn retransmit(
        &mut self,
        now: SimTime,
        dev: DeviceId,
        ip: Ipv4Addr,
    ) -> Option<Result<(), Vec<Queued>>> {
        let e = self.entries.get_mut(&(dev, ip))?;
        if e.state != NeighState::Incomplete {
            return None;
        }
        if e.probes < MCAST_SOLICIT {
            e.probes += 1;
            return Some(Ok(()));
        }
        e.state = NeighState::Failed;
        e.updated = now;
        Some(Err(std::mem::take(&mut e.queue)))
    }

    /// Marks every INCOMPLETE entry FAILED at once and returns the queued packets: what the
    /// synchronous walk does when an instant ends with requests unanswered.
    pub fn fail_incomplete(&mut self, now: SimTime) -> Vec<(DeviceId, Ipv4Addr, Vec<Queued>)> {
        let mut out = Vec::new();
        for (&(dev, ip), e) in self.entries.iter_mut() {
            if e.state == NeighState::Incomplete {
                e.state = NeighState::Failed;
                e.updated = now;
                out.push((dev, ip, std::mem::take(&mut e.queue)));
            }
        }
        out
    }

    /// Removes every entry on `dev` (device down or deleted).
    pub fn flush_dev(&mut self, dev: DeviceId) {
        self.entries.retain(|(d, _), _| *d != dev);
    }

    /// Entries in (device, address) order.
    pub fn entries(&self) -> impl Iterator<Item = (DeviceId, Ipv4Addr, &NeighEntry)> {
        self.entries.iter().map(|(&(d, ip), e)| (d, ip, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 9]);
    fn q(tag: u32) -> Queued {
        Queued {
            packet: vec![0; 100],
            tag,
            bridged: None,
        }
    }

    #[test]
    fn incomplete_queues_then_reply_releases_in_order() {
        let mut t = NeighTable::default();
        let (d, ip) = (DeviceId(1), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(
            t.resolve(SimTime::ZERO, d, ip, q(1)),
            Resolution::QueuedSendRequest
        );
        assert_eq!(t.resolve(SimTime::ZERO, d, ip, q(2)), Resolution::Queued);
        let released = t.confirm(SimTime::ZERO, d, ip, M, false);
        assert_eq!(
            released.iter().map(|q| q.tag).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(t.resolve(SimTime::ZERO, d, ip, q(3)), Resolution::Ready(M));
        let e = t.entries().next().unwrap().2;
        assert_eq!(e.state(SimTime::ZERO), NeighState::Reachable);
        let later = SimTime::ZERO + REACHABLE_TIME + SimDuration::from_nanos(1);
        assert_eq!(e.state(later), NeighState::Stale);
    }

    #[test]
    fn three_unanswered_requests_fail_the_entry() {
        let mut t = NeighTable::default();
        let (d, ip) = (DeviceId(1), Ipv4Addr::new(10, 0, 0, 3));
        t.resolve(SimTime::ZERO, d, ip, q(1));
        assert_eq!(t.retransmit(SimTime::ZERO, d, ip), Some(Ok(())));
        assert_eq!(t.retransmit(SimTime::ZERO, d, ip), Some(Ok(())));
        let Some(Err(dropped)) = t.retransmit(SimTime::ZERO, d, ip) else {
            panic!("the third timeout fails the entry");
        };
        assert_eq!(dropped.len(), 1);
        let e = t.entries().next().unwrap().2;
        assert_eq!(e.state(SimTime::ZERO), NeighState::Failed);
        // The next packet starts a new resolution, as Linux does (not an instant failure).
        let later = SimTime::ZERO + SimDuration::from_secs(4);
        assert_eq!(t.resolve(later, d, ip, q(2)), Resolution::QueuedSendRequest);
        assert_eq!(t.retransmit(later, d, ip), Some(Ok(())));
    }

    #[test]
    fn unsolicited_updates_only_existing_entries() {
        let mut t = NeighTable::default();
        let (d, ip) = (DeviceId(1), Ipv4Addr::new(10, 0, 0, 4));
        t.confirm(SimTime::ZERO, d, ip, M, false);
        assert_eq!(t.entries().count(), 0);
        t.confirm(SimTime::ZERO, d, ip, M, true);
        assert_eq!(t.entries().count(), 1);
    }
}
