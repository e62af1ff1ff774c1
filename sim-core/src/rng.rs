//! Seeded randomness: [`SimRng`], ChaCha8 behind our own small API.
//!
//! Every random choice in a run comes from one root seed split into named streams
//! ([`SimRng::stream`]): the stream for `"node-1/kube-proxy"` is ChaCha8 keyed by the root seed
//! with the ChaCha stream id set to a stable 64-bit hash of the name. Adding a component
//! therefore never perturbs the draws of the others, and a component's draws depend only on
//! the seed and its own name.
//!
//! The derived operations are ours, so a dependency bump cannot change them: `below(n)` is
//! Lemire's multiply-shift with rejection (unbiased), `chance(p)` compares 53 random bits with
//! `p`, `shuffle` is Fisher–Yates from the back. A golden-value test pins the first outputs.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::hash::fnv1a64;

/// A deterministic random stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The root stream of a run.
    pub fn new(seed: u64) -> Self {
        SimRng {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The named sub-stream of the run seeded with `seed`.
    pub fn stream(seed: u64, name: &str) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(fnv1a64(name.as_bytes()));
        SimRng { inner }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    pub fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    /// A uniform integer in `0..n`, without modulo bias.
    ///
    /// # Panics
    /// If `n == 0` (an empty range has no member to return).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "SimRng::below(0)");
        // Lemire, "Fast Random Integer Generation in an Interval" (2019).
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// A uniform float in `[0, 1)` with 53 bits of precision.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (clamped to `[0, 1]`; `chance(0.0)` never, `chance(1.0)`
    /// always).
    pub fn chance(&mut self, p: f64) -> bool {
        if p >= 1.0 {
            return true;
        }
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        self.unit_f64() < p
    }

    /// Shuffles `items` uniformly in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A uniformly chosen element, or `None` for an empty slice.
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len() as u64) as usize])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pins the first outputs for seed 42 and a named stream. If this fails after a dependency
    /// bump, every simulation result has changed: do not update the values, fix the cause.
    #[test]
    fn golden_values_seed_42() {
        let mut r = SimRng::new(42);
        let first: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        insta::assert_debug_snapshot!("root_seed_42", first);
        let mut s = SimRng::stream(42, "node-1/kube-proxy");
        let named: Vec<u64> = (0..4).map(|_| s.next_u64()).collect();
        insta::assert_debug_snapshot!("stream_seed_42_node1_kube_proxy", named);
        let mut d = SimRng::new(42);
        let derived = (
            (0..8).map(|_| d.below(10)).collect::<Vec<_>>(),
            (0..8).map(|_| d.chance(0.5)).collect::<Vec<_>>(),
        );
        insta::assert_debug_snapshot!("derived_seed_42", derived);
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a1: Vec<u64> = {
            let mut r = SimRng::stream(7, "a");
            (0..8).map(|_| r.next_u64()).collect()
        };
        let a2: Vec<u64> = {
            let mut r = SimRng::stream(7, "a");
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = SimRng::stream(7, "b");
            (0..8).map(|_| r.next_u64()).collect()
        };
        let a_other_seed: Vec<u64> = {
            let mut r = SimRng::stream(8, "a");
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, a_other_seed);
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut r = SimRng::new(1);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[r.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9_400..10_600).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn chance_edges_and_rate() {
        let mut r = SimRng::new(3);
        assert!((0..1000).all(|_| r.chance(1.0)));
        assert!((0..1000).all(|_| !r.chance(0.0)));
        assert!((0..1000).all(|_| !r.chance(f64::NAN)));
        let hits = (0..100_000).filter(|_| r.chance(0.25)).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
    }

    #[test]
    fn choose_and_empty() {
        let mut r = SimRng::new(5);
        assert_eq!(r.choose::<u8>(&[]), None);
        assert_eq!(r.choose(&[9]), Some(&9));
    }

    #[test]
    #[should_panic(expected = "below(0)")]
    fn below_zero_is_a_bug() {
        SimRng::new(0).below(0);
    }

    proptest! {
        #[test]
        fn below_stays_in_range(seed: u64, n in 1u64..u64::MAX) {
            let mut r = SimRng::new(seed);
            for _ in 0..16 { prop_assert!(r.below(n) < n); }
        }

        #[test]
        fn shuffle_is_a_permutation(seed: u64, len in 0usize..64) {
            let mut v: Vec<usize> = (0..len).collect();
            SimRng::new(seed).shuffle(&mut v);
            let mut sorted = v.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..len).collect::<Vec<_>>());
        }
    }
}
