//! The Linux bridge's forwarding database (`net/bridge/br_fdb.c`): source-MAC learning per
//! port, ageing, and the permanent `local` entries for the bridge's own and its ports' MACs.
//!
//! Modelled: learning on ingress, lookup honouring `ageing_time` (an entry older than it is
//! treated as absent, as the kernel's gc would have removed it), flooding when unknown.
//! Simplified: no VLAN filtering, no STP (ports are always forwarding), no `static` entries
//! added by hand yet.

use std::collections::BTreeMap;

use sim_core::{SimDuration, SimTime};
use smoltcp::wire::EthernetAddress;

use crate::device::DeviceId;

/// Linux default bridge `ageing_time`: 300 s (`BR_DEFAULT_AGEING_TIME`).
pub const DEFAULT_AGEING_TIME: SimDuration = SimDuration::from_secs(300);

/// One FDB entry, as `bridge fdb show` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbEntry {
    pub port: DeviceId,
    /// Permanent entry for a MAC owned by the bridge or one of its ports.
    pub local: bool,
    pub updated: SimTime,
}

/// Per-bridge state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    pub ageing_time: SimDuration,
    fdb: BTreeMap<[u8; 6], FdbEntry>,
}

impl Default for Bridge {
    fn default() -> Self {
        Bridge {
            ageing_time: DEFAULT_AGEING_TIME,
            fdb: BTreeMap::new(),
        }
    }
}

impl Bridge {
    /// Learns that `mac` is behind `port` (a no-op for group addresses and local entries).
    pub fn learn(&mut self, now: SimTime, mac: EthernetAddress, port: DeviceId) {
        if !mac.is_unicast() {
            return;
        }
        match self.fdb.get_mut(&mac.0) {
            Some(e) if e.local => {}
            Some(e) => {
                e.port = port;
                e.updated = now;
            }
            None => {
                self.fdb.insert(
                    mac.0,
                    FdbEntry {
                        port,
                        local: false,
                        updated: now,
                    },
                );
            }
        }
    }

    /// Adds a permanent local entry (the bridge's own MAC, or a port's).
    pub fn add_local(&mut self, mac: EthernetAddress, port: DeviceId) {
        self.fdb.insert(
            mac.0,
            FdbEntry {
                port,
                local: true,
                updated: SimTime::ZERO,
            },
        );
    }

    /// The entry for `mac`, if it exists and has not aged out.
    pub fn lookup(&self, now: SimTime, mac: EthernetAddress) -> Option<FdbEntry> {
        let e = *self.fdb.get(&mac.0)?;
        let fresh = e.local || now.saturating_duration_since(e.updated) <= self.ageing_time;
        fresh.then_some(e)
    }

    /// Forgets every learned entry behind `port` (port removed or down).
    pub fn flush_port(&mut self, port: DeviceId) {
        self.fdb.retain(|_, e| e.local || e.port != port);
    }

    /// Entries in MAC order, skipping aged-out ones.
    pub fn entries(&self, now: SimTime) -> impl Iterator<Item = (EthernetAddress, FdbEntry)> + '_ {
        self.fdb
            .iter()
            .map(|(m, e)| (EthernetAddress(*m), *e))
            .filter(move |(m, _)| self.lookup(now, *m).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);

    #[test]
    fn learns_moves_and_ages() {
        let mut b = Bridge::default();
        let (p1, p2) = (DeviceId(1), DeviceId(2));
        b.learn(SimTime::ZERO, A, p1);
        assert_eq!(b.lookup(SimTime::ZERO, A).unwrap().port, p1);
        b.learn(SimTime::from_nanos(5), A, p2);
        assert_eq!(b.lookup(SimTime::from_nanos(5), A).unwrap().port, p2);
        let later = SimTime::from_nanos(5) + DEFAULT_AGEING_TIME;
        assert!(
            b.lookup(later, A).is_some(),
            "exactly at ageing_time it is still there"
        );
        let aged = later + SimDuration::from_nanos(1);
        assert!(b.lookup(aged, A).is_none());
        assert_eq!(b.entries(aged).count(), 0);
    }

    #[test]
    fn local_entries_never_age_or_move_and_broadcast_is_not_learned() {
        let mut b = Bridge::default();
        b.add_local(A, DeviceId(0));
        b.learn(SimTime::ZERO, A, DeviceId(3));
        let far = SimTime::from_nanos(u64::MAX / 2);
        assert_eq!(b.lookup(far, A).unwrap().port, DeviceId(0));
        b.learn(SimTime::ZERO, EthernetAddress::BROADCAST, DeviceId(3));
        assert!(
            b.lookup(SimTime::ZERO, EthernetAddress::BROADCAST)
                .is_none()
        );
        b.flush_port(DeviceId(0));
        assert!(
            b.lookup(SimTime::ZERO, A).is_some(),
            "flush keeps local entries"
        );
    }
}
