//! A set of chain names for membership tests at kube-proxy's scale (100,000 chains per
//! sync): each name is kept inline as its bytes (a chain name has at most 28), hashed with
//! sim-core's fast hasher, so a lookup neither follows a pointer nor runs SipHash. Never
//! iterated, so its order cannot reach an output. Not upstream's (`sets.Set[string]`); only
//! the speed differs.

use std::collections::HashSet;

use sim_core::hash::FastHashSet;

/// The longest chain name (`XT_EXTENSION_MAXNAMELEN - 1`).
const NAME_MAX_LEN: usize = 28;

/// A name's bytes, zero-padded, and its length.
type Key = ([u8; NAME_MAX_LEN], u8);

/// Chain names.
#[derive(Default)]
pub(crate) struct ChainSet {
    names: FastHashSet<Key>,
    /// Names too long to be a chain's, kept as they are.
    long: HashSet<String>,
}

fn key(name: &str) -> Option<Key> {
    let b = name.as_bytes();
    let mut k = [0u8; NAME_MAX_LEN];
    k.get_mut(..b.len())?.copy_from_slice(b);
    Some((k, b.len() as u8))
}

impl ChainSet {
    pub fn insert(&mut self, name: &str) {
        match key(name) {
            Some(k) => {
                self.names.insert(k);
            }
            None => {
                self.long.insert(name.to_string());
            }
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        match key(name) {
            Some(k) => self.names.contains(&k),
            None => self.long.contains(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_exactly_the_names_inserted() {
        let mut s = ChainSet::default();
        let long = "X".repeat(NAME_MAX_LEN + 1);
        for n in ["KUBE-SEP-ABC", "KUBE-SVC-ABC", "", &long] {
            s.insert(n);
        }
        for n in ["KUBE-SEP-ABC", "KUBE-SVC-ABC", "", &long] {
            assert!(s.contains(n), "{n}");
        }
        for n in ["KUBE-SEP-AB", "KUBE-SEP-ABC\0", "KUBE-SVC-ABD", &long[1..]] {
            assert!(!s.contains(n), "{n:?}");
        }
    }
}
