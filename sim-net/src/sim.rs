//! The engine driver: the network as a sim-core [`World`]. Links delay, queue and lose;
//! neighbour timers run; every hop is also written to the run's trace.

use sim_core::{Ctx, Engine, SimRng, SimTime, TraceRecord, World};

use crate::datapath::{Clock, Delivered, Effects, Job, Work};
use crate::hop::Hop;
use crate::netns::NetNsId;
use crate::network::Network;
use crate::pcapng::{Capture, CapturedPacket, Direction, LinkType};

/// A network running in the engine.
pub struct NetSim {
    pub net: Network,
    /// Every hop, in order (kept when `record_hops`).
    pub hops: Vec<Hop>,
    pub record_hops: bool,
    /// Packets handed to local sockets.
    pub delivered: Vec<Delivered>,
    /// Hops processed so far (counted even when not recorded).
    pub hop_count: u64,
    /// Every frame received or sent by every device, when enabled with [`NetSim::capture`].
    pub capture: Option<Capture>,
    next_tag: u32,
    rng: SimRng,
}

impl NetSim {
    /// `seed` feeds the `"sim-net/links"` stream (loss).
    pub fn new(net: Network, seed: u64) -> Self {
        NetSim {
            net,
            hops: Vec::new(),
            record_hops: true,
            delivered: Vec::new(),
            hop_count: 0,
            capture: None,
            next_tag: 0,
            rng: SimRng::stream(seed, "sim-net/links"),
        }
    }

    /// Starts capturing every frame on every device (one pcapng interface per device, named
    /// `netns/device`, created when it first sees a frame).
    pub fn capture(mut self) -> Self {
        self.capture = Some(Capture::new());
        self
    }

    /// An engine running this network (seeded with `seed`) with `jobs` scheduled.
    pub fn into_engine(self, seed: u64, jobs: impl IntoIterator<Item = Job>) -> Engine<NetSim> {
        let mut engine = Engine::new(self, seed);
        for j in jobs {
            engine.schedule_at(j.at, j);
        }
        engine
    }

    /// A job for an IPv4 packet a socket in `ns` sends at `at`; its tag is returned.
    pub fn send(&mut self, at: SimTime, ns: NetNsId, packet: Vec<u8>) -> Job {
        let tag = self.next_tag;
        self.next_tag += 1;
        Job {
            at,
            tag,
            work: Work::Output { ns, packet },
        }
    }
}

fn hop_record(h: &Hop) -> TraceRecord {
    let component = match &h.device {
        Some(d) => format!("{}/{d}", h.netns),
        None => h.netns.clone(),
    };
    TraceRecord::new(h.time, component, h.point.as_str())
        .with("tag", h.tag)
        .with("verdict", h.verdict.to_string())
        .with("note", h.note.clone())
}

impl World for NetSim {
    type Event = Job;

    fn handle(&mut self, ctx: &mut Ctx<'_, Job>, job: Job) {
        let now = ctx.now();
        let mut fx = Effects::new(now, Clock::Timed, &mut self.rng, self.next_tag);
        if self.capture.is_some() {
            fx.captured = Some(Vec::new());
        }
        self.net.process(job, &mut fx);
        self.next_tag = fx.next_tag();
        let Effects {
            jobs,
            hops,
            delivered,
            captured,
            ..
        } = fx;
        if let (Some(cap), Some(frames)) = (&mut self.capture, captured) {
            for (dev, inbound, data) in frames {
                let interface = cap.interface(&self.net.device_path(dev), LinkType::Ethernet);
                let direction = if inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                };
                cap.record(CapturedPacket {
                    time: now,
                    interface,
                    direction,
                    data,
                });
            }
        }
        self.hop_count += hops.len() as u64;
        for j in jobs {
            ctx.schedule_at(j.at, j);
        }
        if ctx.tracing() {
            for h in &hops {
                ctx.trace(hop_record(h));
            }
        }
        if self.record_hops {
            self.hops.extend(hops);
        }
        self.delivered.extend(delivered);
    }
}
