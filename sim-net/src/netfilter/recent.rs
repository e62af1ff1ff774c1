//! The lists of `-m recent` (`xt_recent`): per list name, the addresses seen and when. This is
//! how kube-proxy's iptables mode keeps ClientIP session affinity: a backend's KUBE-SEP chain
//! `--set`s the client into list `KUBE-SEP-…`, and the service chain `--rcheck --seconds
//! 10800 --reap`s it first.
//!
//! Modelled (`net/netfilter/xt_recent.c`): `--set` adds or refreshes the address and matches;
//! `--rcheck` matches if the address is listed (within `--seconds`, with at least
//! `--hitcount` hits in that window when given); `--update` is `--rcheck` that also records a
//! hit when it matches; `--remove` drops the address and matches if it was there; `--reap`
//! forgets hits as old as `--seconds` or older; `--mask` is applied to the address first. Each list
//! keeps the last 20 hits per address (`ip_pkt_list_tot` default) and 200 addresses
//! (`ip_list_tot` default; the oldest is evicted).
//!
//! Not modelled: `--rttl`.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

use sim_core::{SimDuration, SimTime};

use crate::netfilter::matches::{RecentCommand, RecentMatch};

/// `ip_pkt_list_tot`: hits remembered per address.
pub const PKT_LIST_TOT: usize = 20;
/// `ip_list_tot`: addresses per list.
pub const LIST_TOT: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Seen {
    hits: VecDeque<SimTime>,
    /// When the address was first added, for evicting the oldest.
    added: u64,
}

/// Every `recent` list of one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentTables {
    lists: BTreeMap<String, BTreeMap<Ipv4Addr, Seen>>,
    counter: u64,
}

impl RecentTables {
    /// Runs the match for `addr` at `now`; true if it matches (before `!`).
    pub fn check(&mut self, m: &RecentMatch, addr: Ipv4Addr, now: SimTime) -> bool {
        let addr = Ipv4Addr::from(u32::from(addr) & u32::from(m.mask));
        let list = self.lists.entry(m.name.clone()).or_default();
        match m.command {
            RecentCommand::Set => {
                self.counter += 1;
                let counter = self.counter;
                if !list.contains_key(&addr) && list.len() >= LIST_TOT {
                    let oldest = list
                        .iter()
                        .min_by_key(|(_, s)| s.added)
                        .map(|(a, _)| *a)
                        .expect("a full list is not empty");
                    list.remove(&oldest);
                }
                let seen = list.entry(addr).or_insert_with(|| Seen {
                    hits: VecDeque::new(),
                    added: counter,
                });
                record(seen, now);
                true
            }
            RecentCommand::Remove => list.remove(&addr).is_some(),
            RecentCommand::Rcheck | RecentCommand::Update => {
                let window = m.seconds.map(|s| SimDuration::from_secs(u64::from(s)));
                let Some(seen) = list.get_mut(&addr) else {
                    return false;
                };
                if m.reap
                    && let Some(w) = window
                {
                    seen.hits.retain(|&t| now.saturating_duration_since(t) < w);
                    if seen.hits.is_empty() {
                        list.remove(&addr);
                        return false;
                    }
                }
                let seen = list.get_mut(&addr).expect("still listed");
                let in_window = seen
                    .hits
                    .iter()
                    .filter(|&&t| window.is_none_or(|w| now.saturating_duration_since(t) < w))
                    .count();
                let need = m.hitcount.map_or(1, |h| h.max(1) as usize);
                let hit = in_window >= need;
                if hit && m.command == RecentCommand::Update {
                    record(seen, now);
                }
                hit
            }
        }
    }

    /// Addresses in list `name`, with their hit times (for dumps: `/proc/net/xt_recent/NAME`).
    pub fn list(&self, name: &str) -> Vec<(Ipv4Addr, Vec<SimTime>)> {
        self.lists
            .get(name)
            .map(|l| {
                l.iter()
                    .map(|(a, s)| (*a, s.hits.iter().copied().collect()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn record(seen: &mut Seen, now: SimTime) {
    if seen.hits.len() == PKT_LIST_TOT {
        seen.hits.pop_front();
    }
    seen.hits.push_back(now);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(command: RecentCommand, seconds: Option<u32>, reap: bool) -> RecentMatch {
        RecentMatch {
            seconds,
            reap,
            ..RecentMatch::new(command, "KUBE-SEP-A")
        }
    }

    fn t(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    #[test]
    fn affinity_holds_for_the_window_then_lapses() {
        let mut r = RecentTables::default();
        let client = Ipv4Addr::new(10, 244, 1, 2);
        let rcheck = m(RecentCommand::Rcheck, Some(10800), true);
        assert!(!r.check(&rcheck, client, t(0)), "unknown client");
        assert!(r.check(&m(RecentCommand::Set, None, false), client, t(1)));
        assert!(r.check(&rcheck, client, t(10_000)));
        // A hit counts while it is younger than --seconds (`time_after(stamp, now - seconds)`).
        assert!(
            r.check(&rcheck, client, t(10_800)),
            "window counts from the last hit (t=1)"
        );
        assert!(!r.check(&rcheck, client, t(10_801)));
        assert!(r.list("KUBE-SEP-A").is_empty(), "--reap forgot the client");
    }

    #[test]
    fn update_refreshes_remove_forgets_and_hitcount_counts() {
        let mut r = RecentTables::default();
        let a = Ipv4Addr::new(1, 2, 3, 4);
        let set = m(RecentCommand::Set, None, false);
        r.check(&set, a, t(0));
        let update = m(RecentCommand::Update, Some(60), false);
        assert!(r.check(&update, a, t(50)));
        assert!(
            r.check(&update, a, t(100)),
            "the update at 50 moved the window"
        );
        let two = RecentMatch {
            hitcount: Some(4),
            ..m(RecentCommand::Rcheck, Some(1000), false)
        };
        assert!(!r.check(&two, a, t(100)), "three hits so far");
        r.check(&set, a, t(101));
        assert!(r.check(&two, a, t(102)));
        assert!(r.check(&m(RecentCommand::Remove, None, false), a, t(103)));
        assert!(!r.check(&m(RecentCommand::Remove, None, false), a, t(104)));
    }

    #[test]
    fn lists_are_bounded() {
        let mut r = RecentTables::default();
        let set = m(RecentCommand::Set, None, false);
        for i in 0..(LIST_TOT as u32 + 5) {
            r.check(&set, Ipv4Addr::from(0x0a00_0000 + i), t(u64::from(i)));
        }
        let l = r.list("KUBE-SEP-A");
        assert_eq!(l.len(), LIST_TOT);
        assert_eq!(
            l[0].0,
            Ipv4Addr::new(10, 0, 0, 5),
            "the five oldest were evicted"
        );
        for i in 0..30 {
            r.check(&set, Ipv4Addr::new(10, 0, 0, 5), t(1000 + i));
        }
        assert_eq!(r.list("KUBE-SEP-A")[0].1.len(), PKT_LIST_TOT);
    }
}
