//! The workspace's unseeded hashes.
//!
//! - FNV-1a, 64 bits ([`fnv1a64`], [`fold`]): stable forever. It names RNG streams, and
//!   stands in for the kernel's flow hashes.
//! - [`FastHasher`]: the hasher of lookup-only maps on hot paths ([`FastHashMap`],
//!   [`FastHashSet`]), e.g. 100,000 iptables chains looked up by name for every rule a
//!   restore adds, where SipHash, or FNV's byte-at-a-time loop, costs more than the lookup. It
//!   takes eight bytes per step and folds the high half of its state into the low half at the
//!   end, so bucket indices depend on every byte. Its values may change between versions.
//!
//! A map keyed by either has the same order in every run, but nothing may let that order reach
//! an output anyway: such maps are for lookups only.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a 64 offset basis.
pub const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64 prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Folds `bytes` into the FNV-1a state `state` (start from [`OFFSET`]).
pub fn fold(state: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(state, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fold(OFFSET, bytes)
}

/// Odd, with bits spread over the word (2^64 / φ).
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// A word-at-a-time multiplicative hasher for lookup maps (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct FastHasher(u64);

impl FastHasher {
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(26) ^ w).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        let mut tail = [0u8; 8];
        tail[..rest.len()].copy_from_slice(rest);
        // The length keeps "a" and "a\0" apart.
        self.word(u64::from_le_bytes(tail) ^ ((bytes.len() as u64) << 56));
    }

    fn write_u8(&mut self, n: u8) {
        self.word(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.word(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.word(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.word(n as u64);
    }
}

/// A `HashMap` for lookups only (see the module doc).
pub type FastHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` for lookups only (see the module doc).
pub type FastHashSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn fnv_matches_the_published_fnv1a_64_vectors() {
        // From the FNV reference test suite (Fowler/Noll/Vo).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fold(fold(OFFSET, b"foo"), b"bar"), fnv1a64(b"foobar"));
    }

    #[test]
    fn fast_hashes_spread_chain_names_over_buckets() {
        // kube-proxy's chain names differ only in their hashed tails; every byte must reach
        // the low bits a table indexes by.
        let b = BuildHasherDefault::<FastHasher>::default();
        let mut buckets = [0u32; 1024];
        for i in 0..100_000u32 {
            let name = format!("KUBE-SEP-{:016X}", u64::from(i).wrapping_mul(K));
            buckets[(b.hash_one(name.as_str()) % 1024) as usize] += 1;
        }
        // 97.7 expected per bucket; a hash that ignored bytes would pile them up.
        let max = *buckets.iter().max().expect("buckets");
        assert!(max < 160, "fullest bucket holds {max}");
        assert_ne!(b.hash_one("a"), b.hash_one("a\0"));
        assert_ne!(b.hash_one("ab"), b.hash_one("ba"));
    }
}
