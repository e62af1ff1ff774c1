//! A point-to-point link between two NICs: propagation latency, bandwidth (serialisation
//! delay with a bounded FIFO per direction, like a NIC's `txqueuelen`), seeded loss, up/down.

use std::collections::VecDeque;

use sim_core::{SimDuration, SimRng, SimTime};

use crate::device::DeviceId;
use crate::hop::DropReason;

/// Index of a link in its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub(crate) u32);

/// Linux default `txqueuelen` for Ethernet devices: 1000 packets.
pub const DEFAULT_TXQUEUELEN: usize = 1000;

/// What the wire is like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkProps {
    /// One-way propagation delay.
    pub latency: SimDuration,
    /// Bits per second; `None` is infinitely fast (no serialisation delay, no queue).
    pub bandwidth_bps: Option<u64>,
    /// Loss probability in parts per million (integer, so runs stay bit-exact).
    pub loss_ppm: u32,
    /// Frames that may wait per direction before tail drop.
    pub queue_packets: usize,
}

impl Default for LinkProps {
    fn default() -> Self {
        LinkProps {
            latency: SimDuration::from_micros(100),
            bandwidth_bps: None,
            loss_ppm: 0,
            queue_packets: DEFAULT_TXQUEUELEN,
        }
    }
}

/// One direction's transmitter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Transmitter {
    /// When each frame still in the transmitter finishes serialising, in order.
    finishing: VecDeque<SimTime>,
}

/// A link and its two transmitters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub ends: [DeviceId; 2],
    pub props: LinkProps,
    pub up: bool,
    tx: [Transmitter; 2],
}

impl Link {
    pub fn new(a: DeviceId, b: DeviceId, props: LinkProps) -> Self {
        Link {
            ends: [a, b],
            props,
            up: true,
            tx: Default::default(),
        }
    }

    /// The device at the other end from `dev`.
    pub fn peer_of(&self, dev: DeviceId) -> Option<DeviceId> {
        match self.ends {
            [a, b] if a == dev => Some(b),
            [a, b] if b == dev => Some(a),
            _ => None,
        }
    }

    /// Serialisation time of `len` bytes.
    pub fn serialisation(&self, len: usize) -> SimDuration {
        match self.props.bandwidth_bps {
            Some(bps) if bps > 0 => {
                let bits = len as u128 * 8;
                SimDuration::from_nanos(((bits * 1_000_000_000).div_ceil(u128::from(bps))) as u64)
            }
            _ => SimDuration::ZERO,
        }
    }

    /// Puts a frame of `len` bytes on the wire from `from` at `now`: when it arrives at the
    /// other end, or why it never will. `rng` decides loss.
    pub fn transmit(
        &mut self,
        now: SimTime,
        from: DeviceId,
        len: usize,
        rng: &mut SimRng,
    ) -> Result<SimTime, DropReason> {
        if !self.up {
            return Err(DropReason::LinkDown);
        }
        let dir = usize::from(self.ends[0] != from);
        let ser = self.serialisation(len);
        let tx = &mut self.tx[dir];
        while tx.finishing.front().is_some_and(|&t| t <= now) {
            tx.finishing.pop_front();
        }
        if ser > SimDuration::ZERO && tx.finishing.len() >= self.props.queue_packets {
            return Err(DropReason::QueueFull);
        }
        let start = tx.finishing.back().copied().unwrap_or(now).max(now);
        let done = start + ser;
        if ser > SimDuration::ZERO {
            tx.finishing.push_back(done);
        }
        if self.props.loss_ppm > 0 && rng.below(1_000_000) < u64::from(self.props.loss_ppm) {
            return Err(DropReason::Loss);
        }
        Ok(done + self.props.latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialisation_queueing_and_tail_drop() {
        let props = LinkProps {
            latency: SimDuration::from_micros(10),
            bandwidth_bps: Some(1_000_000_000),
            loss_ppm: 0,
            queue_packets: 2,
        };
        let (a, b) = (DeviceId(0), DeviceId(1));
        let mut l = Link::new(a, b, props);
        let mut rng = SimRng::new(0);
        // 1250 bytes at 1 Gbit/s = 10 us on the wire.
        let t0 = SimTime::ZERO;
        assert_eq!(
            l.transmit(t0, a, 1250, &mut rng),
            Ok(SimTime::from_nanos(20_000))
        );
        assert_eq!(
            l.transmit(t0, a, 1250, &mut rng),
            Ok(SimTime::from_nanos(30_000))
        );
        assert_eq!(
            l.transmit(t0, a, 1250, &mut rng),
            Err(DropReason::QueueFull)
        );
        // The other direction has its own transmitter.
        assert_eq!(
            l.transmit(t0, b, 1250, &mut rng),
            Ok(SimTime::from_nanos(20_000))
        );
        // Once the first frame is out, there is room again, behind the second.
        let t1 = SimTime::from_nanos(10_000);
        assert_eq!(
            l.transmit(t1, a, 1250, &mut rng),
            Ok(SimTime::from_nanos(40_000))
        );
        l.up = false;
        assert_eq!(l.transmit(t1, a, 1, &mut rng), Err(DropReason::LinkDown));
    }

    #[test]
    fn loss_rate_follows_ppm() {
        let props = LinkProps {
            loss_ppm: 100_000,
            ..LinkProps::default()
        };
        let mut l = Link::new(DeviceId(0), DeviceId(1), props);
        let mut rng = SimRng::new(9);
        let lost = (0..10_000)
            .filter(|_| {
                l.transmit(SimTime::ZERO, DeviceId(0), 100, &mut rng)
                    .is_err()
            })
            .count();
        assert!((900..1100).contains(&lost), "{lost}");
    }
}
