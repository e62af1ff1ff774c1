//! FNV-1a, 64 bits: the one stable, unseeded hash of the workspace. It names RNG streams (so
//! it must never change), stands in for the kernel's flow hashes, and keys the hash maps that
//! hot paths use for lookups at scale (100,000 iptables chains) where SipHash costs more than
//! the lookup. A map keyed by it has the same order in every run, but nothing may let that
//! order reach an output anyway: such maps are for lookups only.

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

/// FNV-1a as a [`Hasher`].
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(OFFSET)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fold(self.0, bytes);
    }
}

/// A `HashMap` keyed through FNV-1a (lookups only; see the module doc).
pub type FnvHashMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv1a>>;
/// A `HashSet` hashed through FNV-1a (lookups only; see the module doc).
pub type FnvHashSet<T> = HashSet<T, BuildHasherDefault<Fnv1a>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_fnv1a_64_vectors() {
        // From the FNV reference test suite (Fowler/Noll/Vo).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        let mut h = Fnv1a::default();
        h.write(b"foo");
        h.write(b"bar");
        assert_eq!(h.finish(), fnv1a64(b"foobar"));
    }
}
