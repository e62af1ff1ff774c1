//! The discrete-event engine: it owns the clock, the pending events, the random streams and the
//! trace, and drives a [`World`] by handing it one event at a time with a [`Ctx`].
//!
//! Model components never read a clock or schedule anything themselves: a `World::handle`
//! reacts to an event by changing its state and asking the `Ctx` to schedule follow-ups. Runs
//! end when the queue is empty, at a chosen time, or — for a runaway model that keeps
//! scheduling — at the event budget, with a [`EngineError::BudgetExhausted`] that says when it
//! happened and what was about to run.

use std::collections::BTreeMap;
use std::fmt;

use crate::queue::{EventQueue, Token};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::trace::{Trace, TraceRecord};

/// The simulated system: everything that changes when events happen.
pub trait World {
    type Event: fmt::Debug;
    fn handle(&mut self, ctx: &mut Ctx<'_, Self::Event>, event: Self::Event);
}

/// Named random streams split from one root seed, created on first use.
#[derive(Debug, Clone)]
pub struct RngStreams {
    seed: u64,
    streams: BTreeMap<String, SimRng>,
}

impl RngStreams {
    pub fn new(seed: u64) -> Self {
        RngStreams {
            seed,
            streams: BTreeMap::new(),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The stream named `name`, continuing where its last draw left off.
    pub fn get(&mut self, name: &str) -> &mut SimRng {
        if !self.streams.contains_key(name) {
            self.streams
                .insert(name.to_string(), SimRng::stream(self.seed, name));
        }
        self.streams.get_mut(name).expect("inserted above")
    }
}

/// What a `World` may do while it handles an event.
pub struct Ctx<'a, E> {
    now: SimTime,
    queue: &'a mut EventQueue<E>,
    rngs: &'a mut RngStreams,
    trace: &'a mut Trace,
}

impl<E> Ctx<'_, E> {
    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `time`.
    ///
    /// # Panics
    /// If `time` is in the past.
    pub fn schedule_at(&mut self, time: SimTime, event: E) -> Token {
        assert!(
            time >= self.now,
            "scheduled at {time}, before now ({})",
            self.now
        );
        self.queue.push(time, event)
    }

    /// Schedules `event` after `delay` from now.
    pub fn schedule_after(&mut self, delay: SimDuration, event: E) -> Token {
        let at = self.now + delay;
        self.queue.push(at, event)
    }

    /// Cancels a pending event; `false` if it already ran or was cancelled.
    pub fn cancel(&mut self, token: Token) -> bool {
        self.queue.cancel(token)
    }

    /// The named random stream (e.g. `"node-1/kube-proxy"`).
    pub fn rng(&mut self, name: &str) -> &mut SimRng {
        self.rngs.get(name)
    }

    /// The run's root seed, for components that derive their own streams.
    pub fn seed(&self) -> u64 {
        self.rngs.seed()
    }

    /// Whether records pushed with [`Ctx::trace`] are kept (skip building them if not).
    pub fn tracing(&self) -> bool {
        self.trace.is_enabled()
    }

    /// Appends a record to the run's trace.
    pub fn trace(&mut self, record: TraceRecord) {
        self.trace.push(record);
    }

    /// A record stamped with the current time, to fill and pass to [`Ctx::trace`].
    pub fn record(
        &self,
        component: impl Into<String>,
        kind: impl Into<std::borrow::Cow<'static, str>>,
    ) -> TraceRecord {
        TraceRecord::new(self.now, component, kind)
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error(
        "event budget of {budget} events exhausted at {now} with {pending} events pending; \
         next would have been {next_event} at {next_time} (a model that keeps scheduling \
         without end, or a budget too small for this run)"
    )]
    BudgetExhausted {
        budget: u64,
        now: SimTime,
        pending: usize,
        next_time: SimTime,
        next_event: String,
    },
}

/// What a run call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Events delivered by this call.
    pub events: u64,
    /// The clock when the call returned.
    pub now: SimTime,
}

/// Drives a [`World`] through time.
pub struct Engine<W: World> {
    world: W,
    queue: EventQueue<W::Event>,
    now: SimTime,
    rngs: RngStreams,
    trace: Trace,
    delivered: u64,
    budget: Option<u64>,
}

impl<W: World> Engine<W> {
    /// An engine at time zero with an enabled trace and no budget.
    pub fn new(world: W, seed: u64) -> Self {
        Engine {
            world,
            queue: EventQueue::new(),
            now: SimTime::ZERO,
            rngs: RngStreams::new(seed),
            trace: Trace::new(),
            delivered: 0,
            budget: None,
        }
    }

    /// Caps the number of events this engine will ever deliver.
    pub fn with_budget(mut self, max_events: u64) -> Self {
        self.budget = Some(max_events);
        self
    }

    /// Replaces the trace (e.g. with [`Trace::disabled`]).
    pub fn with_trace(mut self, trace: Trace) -> Self {
        self.trace = trace;
        self
    }

    /// Pre-sizes the event queue.
    pub fn with_queue_capacity(mut self, n: usize) -> Self {
        self.queue = EventQueue::with_capacity(n);
        self
    }

    pub fn now(&self) -> SimTime {
        self.now
    }
    pub fn world(&self) -> &W {
        &self.world
    }
    pub fn world_mut(&mut self) -> &mut W {
        &mut self.world
    }
    pub fn trace(&self) -> &Trace {
        &self.trace
    }
    /// Events delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    /// Events waiting.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
    /// When the next event is due, if any is pending.
    pub fn next_event_time(&mut self) -> Option<SimTime> {
        self.queue.peek_time()
    }
    /// The named random stream, outside of event handling (e.g. to set up the world).
    pub fn rng(&mut self, name: &str) -> &mut SimRng {
        self.rngs.get(name)
    }

    /// Ends the run: the world and its trace.
    pub fn into_parts(self) -> (W, Trace) {
        (self.world, self.trace)
    }

    /// Schedules an event from outside the world (initial conditions, scenario steps).
    ///
    /// # Panics
    /// If `time` is before now.
    pub fn schedule_at(&mut self, time: SimTime, event: W::Event) -> Token {
        assert!(
            time >= self.now,
            "scheduled at {time}, before now ({})",
            self.now
        );
        self.queue.push(time, event)
    }

    pub fn schedule_after(&mut self, delay: SimDuration, event: W::Event) -> Token {
        let at = self.now + delay;
        self.queue.push(at, event)
    }

    pub fn cancel(&mut self, token: Token) -> bool {
        self.queue.cancel(token)
    }

    fn budget_exhausted(&self) -> bool {
        self.budget.is_some_and(|b| self.delivered >= b)
    }

    fn budget_error(&mut self) -> EngineError {
        let (next_time, next_event) = self
            .queue
            .peek()
            .map(|(t, e)| (t, format!("{e:?}")))
            .unwrap_or((self.now, "nothing".to_string()));
        EngineError::BudgetExhausted {
            budget: self.budget.unwrap_or(0),
            now: self.now,
            pending: self.queue.len(),
            next_time,
            next_event,
        }
    }

    fn deliver(&mut self, time: SimTime, event: W::Event) {
        self.now = time;
        self.delivered += 1;
        let mut ctx = Ctx {
            now: time,
            queue: &mut self.queue,
            rngs: &mut self.rngs,
            trace: &mut self.trace,
        };
        self.world.handle(&mut ctx, event);
    }

    /// Delivers the next event. Returns its time, or `None` if nothing is pending.
    pub fn step(&mut self) -> Result<Option<SimTime>, EngineError> {
        if self.queue.is_empty() {
            return Ok(None);
        }
        if self.budget_exhausted() {
            return Err(self.budget_error());
        }
        let (time, event) = self.queue.pop().expect("queue is not empty");
        self.deliver(time, event);
        Ok(Some(time))
    }

    /// Delivers every event due at or before `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: SimTime) -> Result<RunStats, EngineError> {
        let start = self.delivered;
        loop {
            if self.budget_exhausted() {
                if self.queue.peek_time().is_some_and(|t| t <= until) {
                    return Err(self.budget_error());
                }
                break;
            }
            let Some((time, event)) = self.queue.pop_at_or_before(until) else {
                break;
            };
            self.deliver(time, event);
        }
        self.now = self.now.max(until);
        Ok(RunStats {
            events: self.delivered - start,
            now: self.now,
        })
    }

    /// Delivers events until none is pending.
    pub fn run_to_quiescence(&mut self) -> Result<RunStats, EngineError> {
        let start = self.delivered;
        while self.step()?.is_some() {}
        Ok(RunStats {
            events: self.delivered - start,
            now: self.now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::determinism::check_determinism;
    use proptest::prelude::*;

    /// Ping-pong between two parties with random delays; a cancellable timeout.
    #[derive(Default)]
    struct PingPong {
        log: Vec<(SimTime, &'static str, u32)>,
        timeout: Option<Token>,
    }

    #[derive(Debug)]
    enum Ev {
        Ping(u32),
        Pong(u32),
        Timeout,
    }

    impl World for PingPong {
        type Event = Ev;
        fn handle(&mut self, ctx: &mut Ctx<'_, Ev>, ev: Ev) {
            match ev {
                Ev::Ping(n) => {
                    self.log.push((ctx.now(), "ping", n));
                    let d = SimDuration::from_nanos(1 + ctx.rng("pong").below(100));
                    ctx.schedule_after(d, Ev::Pong(n));
                    let rec = ctx.record("a", "ping").with("n", n);
                    ctx.trace(rec);
                }
                Ev::Pong(n) => {
                    self.log.push((ctx.now(), "pong", n));
                    if n < 5 {
                        let d = SimDuration::from_nanos(1 + ctx.rng("ping").below(100));
                        ctx.schedule_after(d, Ev::Ping(n + 1));
                    } else if let Some(t) = self.timeout.take() {
                        assert!(ctx.cancel(t));
                    }
                }
                Ev::Timeout => self.log.push((ctx.now(), "timeout", 0)),
            }
        }
    }

    #[test]
    fn ping_pong_runs_to_quiescence_and_cancels_timeout() {
        let mut e = Engine::new(PingPong::default(), 1);
        e.schedule_at(SimTime::ZERO, Ev::Ping(0));
        let tok = e.schedule_at(SimTime::from_nanos(1_000_000), Ev::Timeout);
        e.world_mut().timeout = Some(tok);
        let stats = e.run_to_quiescence().unwrap();
        assert_eq!(stats.events, 12);
        let w = e.world();
        assert!(w.log.iter().all(|(_, k, _)| *k != "timeout"));
        assert!(w.log.windows(2).all(|p| p[0].0 <= p[1].0));
        assert_eq!(e.trace().len(), 6);
        assert_eq!(e.pending(), 0);
    }

    #[test]
    fn run_until_stops_at_the_bound_and_advances_clock() {
        let mut e = Engine::new(PingPong::default(), 1);
        e.schedule_at(SimTime::from_nanos(10), Ev::Timeout);
        e.schedule_at(SimTime::from_nanos(20), Ev::Timeout);
        let s = e.run_until(SimTime::from_nanos(15)).unwrap();
        assert_eq!(s.events, 1);
        assert_eq!(e.now(), SimTime::from_nanos(15));
        let s = e.run_until(SimTime::from_nanos(20)).unwrap();
        assert_eq!((s.events, s.now), (1, SimTime::from_nanos(20)));
        assert_eq!(e.step().unwrap(), None);
    }

    /// Schedules itself forever.
    struct Runaway;
    impl World for Runaway {
        type Event = u64;
        fn handle(&mut self, ctx: &mut Ctx<'_, u64>, n: u64) {
            ctx.schedule_after(SimDuration::from_micros(1), n + 1);
        }
    }

    #[test]
    fn budget_ends_a_runaway_run_with_where_it_was() {
        let mut e = Engine::new(Runaway, 0).with_budget(1000);
        e.schedule_at(SimTime::ZERO, 0);
        let err = e.run_to_quiescence().unwrap_err();
        let EngineError::BudgetExhausted {
            budget,
            now,
            pending,
            next_time,
            ref next_event,
        } = err;
        assert_eq!(budget, 1000);
        assert_eq!(now, SimTime::from_nanos(999_000));
        assert_eq!(pending, 1);
        assert_eq!(next_time, SimTime::from_nanos(1_000_000));
        assert_eq!(next_event, "1000");
        assert!(err.to_string().contains("999.000us"), "{err}");
        assert_eq!(e.delivered(), 1000);
    }

    #[test]
    #[should_panic(expected = "before now")]
    fn scheduling_in_the_past_is_a_bug() {
        let mut e = Engine::new(Runaway, 0);
        e.run_until(SimTime::from_nanos(10)).unwrap();
        e.schedule_at(SimTime::from_nanos(5), 1);
    }

    /// A random program: each event traces itself and schedules a random number of children at
    /// random delays, some of which it cancels again.
    struct RandomProgram {
        fanout: u64,
    }
    impl World for RandomProgram {
        type Event = u32;
        fn handle(&mut self, ctx: &mut Ctx<'_, u32>, depth: u32) {
            let rec = ctx.record("prog", "ev").with("depth", depth);
            ctx.trace(rec);
            if depth >= 6 {
                return;
            }
            let n = ctx.rng("fanout").below(self.fanout + 1);
            for _ in 0..n {
                let d = SimDuration::from_nanos(ctx.rng("delay").below(50));
                let tok = ctx.schedule_after(d, depth + 1);
                if ctx.rng("cancel").chance(0.3) {
                    ctx.cancel(tok);
                }
            }
        }
    }

    fn run_program(seed: u64, fanout: u64) -> Trace {
        let mut e = Engine::new(RandomProgram { fanout }, seed).with_budget(200_000);
        e.schedule_at(SimTime::ZERO, 0);
        e.run_to_quiescence().unwrap();
        e.into_parts().1
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn same_random_program_twice_same_digest(seed: u64, fanout in 0u64..4) {
            let d = check_determinism(seed, |s| run_program(s, fanout));
            prop_assert!(d.is_ok(), "{}", d.unwrap_err());
        }
    }

    #[test]
    fn different_seeds_give_different_runs() {
        assert_ne!(run_program(1, 3).digest(), run_program(2, 3).digest());
    }
}
