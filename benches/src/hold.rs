//! The hold model (Jones, "An empirical comparison of priority-queue and event-set
//! implementations", CACM 1986), as `shared/anchors/ns3-hold.cc` runs it on ns-3:
//!
//! 1. schedule `pop` events at Exp(mean) offsets from time zero (the "init" phase);
//! 2. run: every delivered event schedules exactly one new event at now + Exp(mean), so `pop`
//!    events stay pending; stop after `total` deliveries.
//!
//! Delays are pre-drawn from [`SimRng`] into a power-of-two table (at least `pop + total`
//! entries, at most 2^24) and rounded to whole nanoseconds like ns-3's default 1 ns time
//! resolution, so ties occur as often as on the ns-3 side and the RNG is not timed.

use sim_core::{Ctx, Engine, EventQueue, SimDuration, SimRng, SimTime, Trace, World};

/// Pre-drawn exponential delays in whole nanoseconds.
pub struct DelayTable {
    delays: Vec<u64>,
    mask: usize,
}

impl DelayTable {
    /// A table for a run of `pop` pending events and `total` deliveries, drawn from the
    /// `"hold/delays"` stream of `seed`.
    pub fn new(pop: u64, total: u64, mean_ns: f64, seed: u64) -> Self {
        let want = (pop + total).clamp(1, 1 << 24);
        let size = want.next_power_of_two() as usize;
        let mut rng = SimRng::stream(seed, "hold/delays");
        let delays = (0..size)
            .map(|_| {
                // Inverse CDF of Exp(1/mean); 1 - u is in (0, 1], so ln is finite.
                let u = rng.unit_f64();
                (-mean_ns * (1.0 - u).ln() + 0.5) as u64
            })
            .collect();
        DelayTable {
            delays,
            mask: size - 1,
        }
    }

    #[inline]
    pub fn get(&self, i: u64) -> SimDuration {
        SimDuration::from_nanos(self.delays[i as usize & self.mask])
    }

    pub fn mean_ns(&self) -> f64 {
        self.delays.iter().sum::<u64>() as f64 / self.delays.len() as f64
    }
}

/// The hold model as a [`World`]: each event schedules its successor.
pub struct HoldWorld<'a> {
    table: &'a DelayTable,
    next: u64,
}

impl World for HoldWorld<'_> {
    type Event = ();
    #[inline]
    fn handle(&mut self, ctx: &mut Ctx<'_, ()>, _: ()) {
        let d = self.table.get(self.next);
        self.next += 1;
        ctx.schedule_after(d, ());
    }
}

/// An engine loaded with `pop` initial events (the init phase).
pub fn hold_engine(table: &DelayTable, pop: u64) -> Engine<HoldWorld<'_>> {
    let mut engine = Engine::new(HoldWorld { table, next: 0 }, 0)
        .with_trace(Trace::disabled())
        .with_queue_capacity(pop as usize + 1);
    for i in 0..pop {
        engine.schedule_at(SimTime::ZERO + table.get(i), ());
    }
    engine.world_mut().next = pop;
    engine
}

/// The run phase on the full engine: `total` deliveries. Returns the final time.
pub fn run_engine(engine: &mut Engine<HoldWorld<'_>>, total: u64) -> SimTime {
    for _ in 0..total {
        engine
            .step()
            .expect("hold model has no budget")
            .expect("hold model never runs dry");
    }
    engine.now()
}

/// The same model on the bare [`EventQueue`]: `pop` pending, `total` pop+push rounds.
/// Returns the final time.
pub fn run_queue(table: &DelayTable, pop: u64, total: u64) -> SimTime {
    let mut q = EventQueue::with_capacity(pop as usize + 1);
    for i in 0..pop {
        q.push(SimTime::ZERO + table.get(i), ());
    }
    let mut now = SimTime::ZERO;
    for next in pop..pop + total {
        let (t, ()) = q.pop().expect("never runs dry");
        now = t;
        q.push(t + table.get(next), ());
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_table_has_the_asked_mean() {
        let t = DelayTable::new(1 << 16, 1 << 16, 100.0, 42);
        let m = t.mean_ns();
        assert!((97.0..103.0).contains(&m), "mean {m}");
    }

    #[test]
    fn engine_and_bare_queue_reach_the_same_time() {
        let table = DelayTable::new(1000, 10_000, 100.0, 42);
        let mut e = hold_engine(&table, 1000);
        let t_engine = run_engine(&mut e, 10_000);
        assert_eq!(e.pending(), 1000, "the population holds");
        assert_eq!(t_engine, run_queue(&table, 1000, 10_000));
        assert!(t_engine > SimTime::ZERO);
    }
}
