//! `IPAllocator` of host-local (`backend/allocator/allocator.go`): `Get` and `Release` over
//! one range set, and the round-robin iterator.
//!
//! The iterator starts after the range set's last reserved address (if that address is
//! still inside the set), otherwise at the first range's `rangeStart`; it steps through each
//! range up to `rangeEnd` inclusive, moves on to the next range's `rangeStart` (wrapping to
//! the first range), skips each range's gateway, and stops when it comes back to where it
//! started — so the last reserved address itself is the final candidate.

use std::net::IpAddr;

use ipnet::IpNet;

use super::error::IpamError;
use super::ip;
use super::range_set::RangeSet;
use super::store::Store;

/// An allocated address: `address` carries the subnet's prefix length (`10.1.0.5/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpConfig {
    pub address: IpNet,
    pub gateway: IpAddr,
}

/// The allocator for one range set (`range_id` is its index in the config).
#[derive(Debug)]
pub struct Allocator<'a> {
    rangeset: &'a RangeSet,
    store: &'a mut Store,
    range_id: usize,
}

fn with_prefix(addr: IpAddr, subnet: IpNet) -> IpNet {
    IpNet::new(addr, subnet.prefix_len()).expect("a subnet's prefix fits its own family")
}

impl<'a> Allocator<'a> {
    pub fn new(rangeset: &'a RangeSet, store: &'a mut Store, range_id: usize) -> Self {
        Allocator {
            rangeset,
            store,
            range_id,
        }
    }

    /// `Get`: reserves `requested` if given, else the next free address in round-robin order.
    pub fn get(
        &mut self,
        container_id: &str,
        ifname: &str,
        requested: Option<IpAddr>,
    ) -> Result<IpConfig, IpamError> {
        if let Some(ip) = requested {
            let Some(r) = self.rangeset.range_for(ip) else {
                return Err(IpamError::RequestedOutside {
                    ip,
                    rangeset: self.rangeset.to_string(),
                });
            };
            let r = *r;
            if ip == r.gateway {
                return Err(IpamError::RequestedIsGateway(ip));
            }
            if !self.store.reserve(container_id, ifname, ip, self.range_id) {
                return Err(IpamError::RequestedUnavailable {
                    ip,
                    rangeset: self.rangeset.to_string(),
                });
            }
            return Ok(IpConfig {
                address: with_prefix(ip, r.subnet),
                gateway: r.gateway,
            });
        }
        // The CNI spec forbids a second ADD for the same container and interface.
        if let Some(ip) = self
            .store
            .get_by_id(container_id, ifname)
            .into_iter()
            .find(|ip| self.rangeset.contains(*ip))
        {
            return Err(IpamError::Duplicate {
                ip,
                id: container_id.to_string(),
            });
        }
        let mut iter = self.iter();
        while let Some((ip, idx)) = iter.next_candidate() {
            if self.store.reserve(container_id, ifname, ip, self.range_id) {
                let r = self.rangeset.ranges()[idx];
                return Ok(IpConfig {
                    address: with_prefix(ip, r.subnet),
                    gateway: r.gateway,
                });
            }
        }
        Err(IpamError::Exhausted(self.rangeset.to_string()))
    }

    /// `Release`: frees what the container's interface holds; returns the freed addresses.
    pub fn release(&mut self, container_id: &str, ifname: &str) -> Vec<IpAddr> {
        self.store.release_by_id(container_id, ifname)
    }

    /// `GetIter`: the candidate order the next `get` will try.
    pub fn iter(&self) -> RangeIter<'a> {
        let mut it = RangeIter {
            rangeset: self.rangeset,
            range_idx: 0,
            cur: None,
            start_ip: None,
        };
        match self.store.last_reserved_ip(self.range_id) {
            Some(last) if self.rangeset.contains(last) => {
                it.range_idx = self
                    .rangeset
                    .ranges()
                    .iter()
                    .position(|r| r.contains(last))
                    .unwrap_or(0);
                it.cur = Some(last);
            }
            _ => {
                it.start_ip = Some(self.rangeset.ranges()[0].range_start);
            }
        }
        it
    }
}

/// `RangeIter`: candidates in round-robin order.
#[derive(Debug, Clone)]
pub struct RangeIter<'a> {
    rangeset: &'a RangeSet,
    range_idx: usize,
    cur: Option<IpAddr>,
    start_ip: Option<IpAddr>,
}

impl RangeIter<'_> {
    /// The next candidate and the index of its range, or `None` once the set is exhausted.
    pub fn next_candidate(&mut self) -> Option<(IpAddr, usize)> {
        let ranges = self.rangeset.ranges();
        loop {
            let r = ranges[self.range_idx];
            let Some(cur) = self.cur else {
                // First call, not resuming: rangeStart is inclusive.
                self.cur = Some(r.range_start);
                self.start_ip = Some(r.range_start);
                if r.range_start == r.gateway {
                    continue;
                }
                return Some((r.range_start, self.range_idx));
            };
            let next = if cur == r.range_end {
                self.range_idx = (self.range_idx + 1) % ranges.len();
                ranges[self.range_idx].range_start
            } else {
                ip::next_ip(cur)
            };
            self.cur = Some(next);
            match self.start_ip {
                None => self.start_ip = Some(next),
                Some(s) if s == next => return None,
                Some(_) => {}
            }
            if next == ranges[self.range_idx].gateway {
                continue;
            }
            return Some((next, self.range_idx));
        }
    }

    /// Where the iteration stops (set after the first candidate when resuming).
    pub fn start_ip(&self) -> Option<IpAddr> {
        self.start_ip
    }
}

impl Iterator for RangeIter<'_> {
    type Item = IpAddr;
    fn next(&mut self) -> Option<IpAddr> {
        self.next_candidate().map(|(ip, _)| ip)
    }
}

#[cfg(test)]
mod tests {
    //! The cases of upstream's `allocator_test.go`, with their expected values.

    use super::*;
    use crate::ipam::range::RangeSpec;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn set(subnets: &[&str]) -> RangeSet {
        let specs: Vec<_> = subnets
            .iter()
            .map(|s| RangeSpec::new(s.parse().unwrap()))
            .collect();
        RangeSet::canonicalize(&specs).unwrap()
    }

    /// `AllocatorTestCase.run`: `ipmap` reserved by "id", `last_ip` as the last reserved.
    fn run(subnets: &[&str], ipmap: &[&str], last_ip: Option<&str>) -> Result<IpConfig, IpamError> {
        let rs = set(subnets);
        let mut store = Store::new();
        for a in ipmap {
            assert!(store.reserve("id", "eth0", ip(a), 99));
        }
        if let Some(l) = last_ip {
            store.set_last_reserved_ip(0, ip(l));
        }
        Allocator::new(&rs, &mut store, 0).get("ID", "eth0", None)
    }

    #[test]
    fn iterator_loops_from_the_beginning_end_and_middle() {
        let rs = set(&["192.168.1.0/29"]);
        let mut store = Store::new();
        let all: Vec<IpAddr> = Allocator::new(&rs, &mut store, 0).iter().collect();
        let want: Vec<IpAddr> = [2, 3, 4, 5, 6]
            .iter()
            .map(|i| ip(&format!("192.168.1.{i}")))
            .collect();
        assert_eq!(all, want, "from the beginning");

        // Reserve .6 then release it: the marker stays, so the loop starts after it.
        store.reserve("ID", "eth0", ip("192.168.1.6"), 0);
        store.release_by_id("ID", "eth0");
        let all: Vec<IpAddr> = Allocator::new(&rs, &mut store, 0).iter().collect();
        assert_eq!(all, want, "from the end: wraps to .2 and ends on .6");

        store.reserve("ID", "eth0", ip("192.168.1.3"), 0);
        store.release_by_id("ID", "eth0");
        let all: Vec<IpAddr> = Allocator::new(&rs, &mut store, 0).iter().collect();
        let mid: Vec<IpAddr> = [4, 5, 6, 2, 3]
            .iter()
            .map(|i| ip(&format!("192.168.1.{i}")))
            .collect();
        assert_eq!(all, mid, "from the middle");
    }

    #[test]
    fn round_robin_cases() {
        /// (subnets, reserved by another container, last reserved, expected address)
        type Case = (
            &'static [&'static str],
            &'static [&'static str],
            Option<&'static str>,
            &'static str,
        );
        let cases: &[Case] = &[
            // fresh start
            (&["10.0.0.0/29"], &[], None, "10.0.0.2"),
            (&["2001:db8:1::0/64"], &[], None, "2001:db8:1::2"),
            (&["10.0.0.0/30"], &[], None, "10.0.0.2"),
            (&["10.0.0.0/29"], &["10.0.0.2"], None, "10.0.0.3"),
            // next ip of last reserved ip
            (&["10.0.0.0/29"], &[], Some("10.0.0.5"), "10.0.0.6"),
            (
                &["10.0.0.0/29"],
                &["10.0.0.4", "10.0.0.5"],
                Some("10.0.0.3"),
                "10.0.0.6",
            ),
            // round robin to the beginning
            (
                &["10.0.0.0/29"],
                &["10.0.0.6"],
                Some("10.0.0.5"),
                "10.0.0.2",
            ),
            // lastIP is out of range
            (
                &["10.0.0.0/29"],
                &["10.0.0.2"],
                Some("10.0.0.128"),
                "10.0.0.3",
            ),
            // subnet is completely full except for lastip: wrap around and reserve lastIP
            (
                &["10.0.0.0/29"],
                &["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
                Some("10.0.0.3"),
                "10.0.0.3",
            ),
            // allocate from multiple subnets
            (&["10.0.0.0/30", "10.0.1.0/30"], &[], None, "10.0.0.2"),
            // advance to next subnet
            (
                &["10.0.0.0/30", "10.0.1.0/30"],
                &[],
                Some("10.0.0.2"),
                "10.0.1.2",
            ),
            // roll to start subnet
            (
                &["10.0.0.0/30", "10.0.1.0/30", "10.0.2.0/30"],
                &[],
                Some("10.0.2.2"),
                "10.0.0.2",
            ),
        ];
        for (i, (subnets, ipmap, last, want)) in cases.iter().enumerate() {
            let got = run(subnets, ipmap, *last).unwrap();
            assert_eq!(got.address.addr(), ip(want), "case {i}");
        }
    }

    #[test]
    fn never_hands_out_the_broadcast_and_then_runs_out() {
        let rs = set(&["192.168.1.0/29"]);
        let mut store = Store::new();
        let mut a = Allocator::new(&rs, &mut store, 0);
        for i in 2..7 {
            let r = a.get(&format!("ID{i}"), "eth0", None).unwrap();
            assert_eq!(r.address.to_string(), format!("192.168.1.{i}/29"));
            assert_eq!(r.gateway, ip("192.168.1.1"));
        }
        assert_eq!(
            a.get("ID8", "eth0", None).unwrap_err().to_string(),
            "no IP addresses available in range set: 192.168.1.1-192.168.1.6"
        );
    }

    #[test]
    fn release_then_next_not_lowest_free() {
        let rs = set(&["192.168.1.0/29"]);
        let mut store = Store::new();
        let mut a = Allocator::new(&rs, &mut store, 0);
        assert_eq!(
            a.get("ID", "eth0", None).unwrap().address.to_string(),
            "192.168.1.2/29"
        );
        assert_eq!(a.release("ID", "eth0"), vec![ip("192.168.1.2")]);
        assert_eq!(
            a.get("ID", "eth0", None).unwrap().address.to_string(),
            "192.168.1.3/29",
            "round robin: .2 is free again but .3 comes next"
        );
    }

    #[test]
    fn requested_addresses() {
        let rs = set(&["192.168.1.0/29"]);
        let mut store = Store::new();
        let mut a = Allocator::new(&rs, &mut store, 0);
        let r = a.get("ID", "eth0", Some(ip("192.168.1.5"))).unwrap();
        assert_eq!(r.address.addr(), ip("192.168.1.5"));
        assert_eq!(
            a.get("ID", "eth0", Some(ip("192.168.1.5")))
                .unwrap_err()
                .to_string(),
            "requested IP address 192.168.1.5 is not available in range set 192.168.1.1-192.168.1.6"
        );
        assert_eq!(
            a.get("X", "eth0", Some(ip("192.168.1.1"))),
            Err(IpamError::RequestedIsGateway(ip("192.168.1.1")))
        );
        assert!(matches!(
            a.get("X", "eth0", Some(ip("192.168.1.7"))),
            Err(IpamError::RequestedOutside { .. })
        ));
        // A second ADD for the same container and interface is refused.
        assert_eq!(
            a.get("ID", "eth0", None).unwrap_err().to_string(),
            "192.168.1.5 has been allocated to ID, duplicate allocation is not allowed"
        );
    }

    #[test]
    fn out_of_addresses() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["10.0.0.0/30"], &["10.0.0.2"]),
            (
                &["10.0.0.0/29"],
                &["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
            ),
            (&["10.0.0.0/30", "10.0.1.0/30"], &["10.0.0.2", "10.0.1.2"]),
        ];
        for (subnets, ipmap) in cases {
            let e = run(subnets, ipmap, None).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("no IP addresses available in range set"),
                "{e}"
            );
        }
    }

    #[test]
    fn start_ip_after_first_next_with_multiple_ranges() {
        let specs = vec![
            RangeSpec {
                range_start: Some(ip("192.168.1.0")),
                range_end: Some(ip("192.168.1.3")),
                ..RangeSpec::new("192.168.1.0/30".parse().unwrap())
            },
            RangeSpec {
                range_start: Some(ip("192.168.2.0")),
                range_end: Some(ip("192.168.2.3")),
                ..RangeSpec::new("192.168.2.0/30".parse().unwrap())
            },
        ];
        let rs = RangeSet::canonicalize(&specs).unwrap();
        let mut store = Store::new();
        // No last reserved: the loop ends at the first range's start.
        let mut it = Allocator::new(&rs, &mut store, 0).iter();
        assert!(it.next().is_some());
        assert_eq!(it.start_ip(), Some(ip("192.168.1.0")));
        // Last reserved at the end of the first range: the next range's start.
        assert!(store.reserve("ID", "eth0", ip("192.168.1.3"), 0));
        let mut it = Allocator::new(&rs, &mut store, 0).iter();
        assert_eq!(it.next(), Some(ip("192.168.2.0")));
        assert_eq!(it.start_ip(), Some(ip("192.168.2.0")));
    }
}

#[cfg(test)]
mod properties {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::ipam::range::RangeSpec;

    proptest! {
        /// Any sequence of ADDs and DELs on a /28 with a gateway in the middle: every address
        /// handed out is in the range, never the gateway, never held twice; an ADD fails only
        /// when every allocatable address is held.
        #[test]
        fn allocations_stay_valid(ops in proptest::collection::vec((any::<bool>(), 0u8..20), 1..200)) {
            let spec = RangeSpec {
                gateway: Some("10.9.0.7".parse().unwrap()),
                ..RangeSpec::new("10.9.0.0/28".parse().unwrap())
            };
            let rs = RangeSet::canonicalize(&[spec]).unwrap();
            let mut store = Store::new();
            let mut held: BTreeSet<(u8, IpAddr)> = BTreeSet::new();
            for (add, who) in ops {
                let id = format!("c{who}");
                let mut a = Allocator::new(&rs, &mut store, 0);
                if add {
                    match a.get(&id, "eth0", None) {
                        Ok(c) => {
                            let ip = c.address.addr();
                            prop_assert!(rs.contains(ip));
                            prop_assert_ne!(ip, c.gateway);
                            prop_assert!(held.iter().all(|(_, h)| *h != ip));
                            held.insert((who, ip));
                        }
                        Err(IpamError::Duplicate { .. }) => {
                            prop_assert!(held.iter().any(|(w, _)| *w == who));
                        }
                        Err(e) => {
                            // .1 to .14 minus the gateway: 13 addresses.
                            prop_assert_eq!(held.len(), 13, "{}", e);
                        }
                    }
                } else {
                    let freed: BTreeSet<IpAddr> = a.release(&id, "eth0").into_iter().collect();
                    let mine: BTreeSet<IpAddr> =
                        held.iter().filter(|(w, _)| *w == who).map(|(_, ip)| *ip).collect();
                    prop_assert_eq!(freed, mine);
                    held.retain(|(w, _)| *w != who);
                }
            }
        }
    }
}
