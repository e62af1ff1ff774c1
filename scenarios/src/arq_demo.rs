//! The engine demo: stop-and-wait ARQ over a lossy link, the textbook protocol that needs
//! every piece of sim-core — timed events, a retransmission timer that is cancelled when the
//! acknowledgement arrives, a seeded loss process, and a trace. It stands in as the main job
//! until the scenario runner exists.

use sim_core::{Ctx, Engine, EngineError, SimDuration, SimTime, Token, Trace, World};

/// Parameters of the demo link and protocol.
#[derive(Debug, Clone, Copy)]
pub struct ArqParams {
    pub frames: u32,
    pub latency: SimDuration,
    pub loss_percent: u64,
    pub rto: SimDuration,
}

impl Default for ArqParams {
    fn default() -> Self {
        ArqParams {
            frames: 10,
            latency: SimDuration::from_micros(200),
            loss_percent: 20,
            rto: SimDuration::from_millis(1),
        }
    }
}

#[derive(Debug)]
pub enum ArqEvent {
    /// The sender (re)transmits frame `seq`.
    Send(u32),
    /// Frame `seq` reaches the receiver.
    Data(u32),
    /// The acknowledgement for `seq` reaches the sender.
    Ack(u32),
    /// The retransmission timer for `seq` fires.
    Timeout(u32),
}

struct Arq {
    p: ArqParams,
    /// The frame the sender is waiting to have acknowledged.
    current: u32,
    timer: Option<Token>,
    next_expected: u32,
    transmissions: u32,
    done_at: Option<SimTime>,
}

impl Arq {
    /// The link: each direction loses a frame with the configured probability.
    fn transmit(&mut self, ctx: &mut Ctx<'_, ArqEvent>, what: &'static str, ev: ArqEvent) {
        let lost = ctx.rng("link/loss").below(100) < self.p.loss_percent;
        let seq = match ev {
            ArqEvent::Data(s) | ArqEvent::Ack(s) => s,
            _ => unreachable!("only frames cross the link"),
        };
        let rec = ctx
            .record("link", if lost { "drop" } else { "transmit" })
            .with("frame", what)
            .with("seq", seq);
        ctx.trace(rec);
        if !lost {
            ctx.schedule_after(self.p.latency, ev);
        }
    }
}

impl World for Arq {
    type Event = ArqEvent;
    fn handle(&mut self, ctx: &mut Ctx<'_, ArqEvent>, ev: ArqEvent) {
        match ev {
            ArqEvent::Send(seq) => {
                self.transmissions += 1;
                self.transmit(ctx, "data", ArqEvent::Data(seq));
                self.timer = Some(ctx.schedule_after(self.p.rto, ArqEvent::Timeout(seq)));
            }
            ArqEvent::Data(seq) => {
                let rec = ctx
                    .record("receiver", "data")
                    .with("seq", seq)
                    .with("duplicate", seq < self.next_expected);
                ctx.trace(rec);
                if seq == self.next_expected {
                    self.next_expected += 1;
                }
                self.transmit(ctx, "ack", ArqEvent::Ack(seq));
            }
            ArqEvent::Ack(seq) => {
                if seq != self.current || self.done_at.is_some() {
                    return; // a duplicate acknowledgement
                }
                if let Some(timer) = self.timer.take() {
                    ctx.cancel(timer);
                }
                self.current += 1;
                let rec = ctx.record("sender", "acked").with("seq", seq);
                ctx.trace(rec);
                if seq + 1 < self.p.frames {
                    ctx.schedule_after(SimDuration::ZERO, ArqEvent::Send(seq + 1));
                } else {
                    self.done_at = Some(ctx.now());
                }
            }
            ArqEvent::Timeout(seq) => {
                // A cancelled timer never fires, so this is always the frame in flight.
                debug_assert_eq!(seq, self.current);
                let rec = ctx.record("sender", "timeout").with("seq", seq);
                ctx.trace(rec);
                ctx.schedule_after(SimDuration::ZERO, ArqEvent::Send(seq));
            }
        }
    }
}

/// What a demo run produced.
pub struct ArqOutcome {
    pub trace: Trace,
    pub transmissions: u32,
    pub delivered_frames: u32,
    pub done_at: Option<SimTime>,
}

/// Runs the demo to completion.
pub fn run(seed: u64, p: ArqParams) -> Result<ArqOutcome, EngineError> {
    let world = Arq {
        p,
        current: 0,
        timer: None,
        next_expected: 0,
        transmissions: 0,
        done_at: None,
    };
    let mut engine = Engine::new(world, seed).with_budget(1_000_000);
    if p.frames > 0 {
        engine.schedule_at(SimTime::ZERO, ArqEvent::Send(0));
    }
    engine.run_to_quiescence()?;
    let (w, trace) = engine.into_parts();
    Ok(ArqOutcome {
        trace,
        transmissions: w.transmissions,
        delivered_frames: w.next_expected,
        done_at: w.done_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::check_determinism;

    #[test]
    fn lossless_link_takes_one_round_trip_per_frame() {
        let p = ArqParams {
            loss_percent: 0,
            ..ArqParams::default()
        };
        let o = run(1, p).unwrap();
        assert_eq!(o.transmissions, 10);
        assert_eq!(o.delivered_frames, 10);
        assert_eq!(o.done_at, Some(SimTime::from_nanos(10 * 400_000)));
    }

    #[test]
    fn lossy_link_retransmits_and_still_delivers_everything_in_order() {
        let o = run(7, ArqParams::default()).unwrap();
        assert_eq!(o.delivered_frames, 10);
        assert!(
            o.transmissions > 10,
            "20% loss should force retransmissions"
        );
        let timeouts = o
            .trace
            .records()
            .iter()
            .filter(|r| r.kind == "timeout")
            .count() as u32;
        assert_eq!(o.transmissions, 10 + timeouts);
    }

    #[test]
    fn total_loss_ends_at_the_budget() {
        let p = ArqParams {
            loss_percent: 100,
            ..ArqParams::default()
        };
        assert!(matches!(
            run(0, p),
            Err(EngineError::BudgetExhausted { .. })
        ));
    }

    #[test]
    fn demo_is_deterministic() {
        let d = check_determinism(42, |s| run(s, ArqParams::default()).unwrap().trace);
        assert!(d.is_ok(), "{}", d.unwrap_err());
    }
}
