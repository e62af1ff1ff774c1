//! Determinism check in the style of madsim's `check_determinism`: run the same program twice
//! with the same seed and compare the traces record by record.

use std::fmt;

use crate::trace::{Digest, Trace, TraceRecord};

/// Where two runs with the same seed first disagreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub seed: u64,
    /// Index of the first record that differs (or that only one run has).
    pub index: usize,
    pub first: Option<TraceRecord>,
    pub second: Option<TraceRecord>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |r: &Option<TraceRecord>| match r {
            Some(r) => r.to_json_line(),
            None => "(end of trace)".to_string(),
        };
        writeln!(
            f,
            "nondeterminism with seed {}: runs diverge at record {}",
            self.seed, self.index
        )?;
        writeln!(f, "  run 1: {}", show(&self.first))?;
        write!(f, "  run 2: {}", show(&self.second))
    }
}

impl std::error::Error for Divergence {}

/// The first index where two traces differ, with both versions.
pub fn first_divergence(seed: u64, a: &Trace, b: &Trace) -> Option<Divergence> {
    let (ra, rb) = (a.records(), b.records());
    let n = ra.len().max(rb.len());
    (0..n)
        .find(|&i| ra.get(i) != rb.get(i))
        .map(|index| Divergence {
            seed,
            index,
            first: ra.get(index).cloned(),
            second: rb.get(index).cloned(),
        })
}

/// Runs `run(seed)` twice; returns the common digest, or the first divergent record.
pub fn check_determinism(
    seed: u64,
    mut run: impl FnMut(u64) -> Trace,
) -> Result<Digest, Box<Divergence>> {
    let a = run(seed);
    let b = run(seed);
    match first_divergence(seed, &a, &b) {
        None => Ok(a.digest()),
        Some(d) => Err(Box::new(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;
    use std::cell::Cell;

    fn trace_of(values: &[u64]) -> Trace {
        let mut t = Trace::new();
        for (i, v) in values.iter().enumerate() {
            t.push(TraceRecord::new(SimTime::from_nanos(i as u64), "p", "v").with("v", *v));
        }
        t
    }

    #[test]
    fn identical_runs_pass_with_their_digest() {
        let d = check_determinism(9, |seed| trace_of(&[seed, 1, 2])).unwrap();
        assert_eq!(d, trace_of(&[9, 1, 2]).digest());
    }

    #[test]
    fn reports_first_divergent_record_and_both_versions() {
        let calls = Cell::new(0u64);
        let err = check_determinism(3, |_| {
            calls.set(calls.get() + 1);
            trace_of(&[1, 2, calls.get(), 4])
        })
        .unwrap_err();
        assert_eq!(err.index, 2);
        assert_eq!(err.first.as_ref().unwrap().get("v"), Some(&1u64.into()));
        assert_eq!(err.second.as_ref().unwrap().get("v"), Some(&2u64.into()));
        let msg = err.to_string();
        assert!(msg.contains("seed 3") && msg.contains("record 2"), "{msg}");
    }

    #[test]
    fn a_shorter_run_diverges_where_it_ends() {
        let d = first_divergence(0, &trace_of(&[1, 2]), &trace_of(&[1, 2, 3])).unwrap();
        assert_eq!(d.index, 2);
        assert!(d.first.is_none());
        assert!(d.to_string().contains("(end of trace)"));
    }
}
