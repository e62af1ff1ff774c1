//! The synchronous driver: walk one packet (and everything it causes — ARP, replies, ICMP
//! errors, flooded copies) through the hosts at one frozen instant.
//!
//! Links report their latency but take no time and lose nothing; a neighbour still
//! INCOMPLETE when the instant runs dry counts as FAILED (what three unanswered requests
//! would give a few seconds later). The walk has the side effects the kernel would have —
//! neighbour and FDB learning — so clone the [`Network`] first for a pure look.

use std::collections::{BTreeMap, VecDeque};

use sim_core::{SimRng, SimTime};

use crate::datapath::{Clock, Delivered, Effects, Job, Work};
use crate::device::DeviceId;
use crate::hop::{Hop, Verdict};
use crate::netns::NetNsId;
use crate::network::Network;

/// At most this many jobs per walk: a broadcast storm (bridges in a loop) ends here.
pub const WALK_BUDGET: usize = 100_000;

/// The result of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub hops: Vec<Hop>,
    pub delivered: Vec<Delivered>,
    /// How each packet's journey ended, by tag (0 is the injected one). A tag missing here
    /// was still travelling when the budget ran out.
    pub fates: BTreeMap<u32, Verdict>,
    /// The budget ran out (a forwarding loop without TTL, such as bridged broadcast).
    pub truncated: bool,
}

impl Walk {
    /// The injected packet's fate.
    pub fn fate(&self) -> Option<Verdict> {
        self.fates.get(&0).copied()
    }

    /// Hops as text, one per line.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for h in &self.hops {
            s.push_str(&h.to_string());
            s.push('\n');
        }
        s
    }
}

impl Network {
    /// Walks a frame arriving on `ingress` from its wire.
    pub fn walk_frame(&mut self, now: SimTime, ingress: DeviceId, frame: Vec<u8>) -> Walk {
        self.walk(
            now,
            Work::Rx {
                dev: ingress,
                frame,
            },
        )
    }

    /// Walks an IPv4 packet sent by a local socket in `ns`.
    pub fn walk_output(&mut self, now: SimTime, ns: NetNsId, packet: Vec<u8>) -> Walk {
        self.walk(now, Work::Output { ns, packet })
    }

    fn walk(&mut self, now: SimTime, first: Work) -> Walk {
        // Frozen links draw nothing, but Effects wants a stream.
        let mut rng = SimRng::new(0);
        let mut fx = Effects::new(now, Clock::Frozen, &mut rng, 1);
        let mut queue = VecDeque::from([Job {
            at: now,
            tag: 0,
            work: first,
        }]);
        let mut done = 0usize;
        let mut truncated = false;
        loop {
            while let Some(job) = queue.pop_front() {
                if done == WALK_BUDGET {
                    truncated = true;
                    queue.clear();
                    break;
                }
                done += 1;
                self.process(job, &mut fx);
                queue.extend(fx.jobs.drain(..));
            }
            if truncated {
                break;
            }
            // The instant is over: unanswered ARP fails, which may send ICMP errors.
            let failed = self
                .netns
                .iter_mut()
                .flat_map(|n| n.neigh.fail_incomplete(now))
                .collect::<Vec<_>>();
            if failed.is_empty() {
                break;
            }
            for (dev, ip, dropped) in failed {
                self.neigh_failed(dev, ip, dropped, &mut fx);
            }
            queue.extend(fx.jobs.drain(..));
        }
        let mut fates = BTreeMap::new();
        for h in &fx.hops {
            if h.verdict.is_final() {
                fates.entry(h.tag).or_insert(h.verdict);
            }
        }
        Walk {
            hops: std::mem::take(&mut fx.hops),
            delivered: std::mem::take(&mut fx.delivered),
            fates,
            truncated,
        }
    }
}
