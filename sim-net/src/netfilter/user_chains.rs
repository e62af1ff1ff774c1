//! A table's user chains: found by name through a hash map, since a restore looks one up for
//! every line and kube-proxy's nat table holds 100,000 of them, and listed in the byte order of
//! their names (iptables-save's order). The chains sit in one vector in no order; the sorted
//! order is worked out on the first ordered walk after a change and kept until the next
//! insert or removal, so a restore that creates 100,000 chains sorts their names once instead
//! of keeping a sorted set up to date on every line.

use std::collections::hash_map::Entry;
use std::sync::{Arc, OnceLock};

use sim_core::hash::FastHashMap;

use crate::netfilter::chain::Chain;

/// User chains by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserChains {
    /// The chains, in no order.
    slots: Vec<Arc<Chain>>,
    /// Each chain's slot, by its name (the key shares the chain's name).
    index: FastHashMap<Arc<str>, usize>,
    /// The slots in name order, once an ordered walk needed it.
    order: OnceLock<Vec<usize>>,
    /// The slot [`UserChains::get_mut`] found last: a restore adds a chain's rules one line
    /// after another, so most lines find their chain here without hashing its name.
    last: usize,
}

/// Equal when they hold the same chains (the order follows from the names).
impl PartialEq for UserChains {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .slots
                .iter()
                .all(|c| other.get(&c.name).is_some_and(|o| o == c))
    }
}

impl Eq for UserChains {}

impl UserChains {
    pub fn get(&self, name: &str) -> Option<&Arc<Chain>> {
        self.index.get(name).map(|&i| &self.slots[i])
    }

    /// Chain `name` for replacing or changing; it must keep its name.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Arc<Chain>> {
        let last = self.last;
        if self.slots.get(last).is_some_and(|c| *c.name == *name) {
            return Some(&mut self.slots[last]);
        }
        let i = *self.index.get(name)?;
        self.last = i;
        Some(&mut self.slots[i])
    }

    /// Where chain `name` sits among [`UserChains::slots`].
    pub fn slot_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The chains as stored, in no order (their order changes only when one is inserted or
    /// removed).
    pub fn slots(&self) -> &[Arc<Chain>] {
        &self.slots
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Puts `chain` under its name; returns the chain it replaces.
    pub fn insert(&mut self, chain: Arc<Chain>) -> Option<Arc<Chain>> {
        match self.index.entry(Arc::clone(&chain.name)) {
            Entry::Occupied(e) => Some(std::mem::replace(&mut self.slots[*e.get()], chain)),
            Entry::Vacant(e) => {
                e.insert(self.slots.len());
                self.slots.push(chain);
                self.order.take();
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<Chain>> {
        let i = self.index.remove(name)?;
        let chain = self.slots.swap_remove(i);
        if let Some(moved) = self.slots.get(i) {
            *self
                .index
                .get_mut(&*moved.name)
                .expect("every slot is indexed") = i;
        }
        self.order.take();
        Some(chain)
    }

    /// Makes room for `n` more chains.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve(n);
        self.index.reserve(n);
    }

    pub fn clear(&mut self) {
        self.slots.clear();
        self.index.clear();
        self.order.take();
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The chains in name order.
    pub fn values(&self) -> impl Iterator<Item = &Arc<Chain>> {
        let order = self.order.get_or_init(|| {
            let mut names: Vec<(&str, usize)> = self
                .slots
                .iter()
                .enumerate()
                .map(|(i, c)| (&*c.name, i))
                .collect();
            names.sort_unstable_by(|a, b| a.0.cmp(b.0));
            names.into_iter().map(|(_, i)| i).collect()
        });
        order.iter().map(|&i| &self.slots[i])
    }

    /// The chains in no particular order, for changes that do not depend on it.
    pub fn values_mut_unordered(&mut self) -> impl Iterator<Item = &mut Arc<Chain>> {
        self.slots.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn names(u: &UserChains) -> Vec<&str> {
        u.values().map(|c| &*c.name).collect()
    }

    #[test]
    fn lists_in_byte_order_and_replaces_in_place() {
        let mut u = UserChains::default();
        for n in ["KUBE-Z", "KUBE-A", "B", "a", "_x"] {
            assert!(u.insert(Arc::new(Chain::user(n))).is_none());
        }
        assert_eq!(names(&u), ["B", "KUBE-A", "KUBE-Z", "_x", "a"]);
        let old = u.insert(Arc::new(Chain::user("B")));
        assert!(old.is_some());
        assert_eq!(
            u.remove("KUBE-A").map(|c| c.name.to_string()),
            Some("KUBE-A".into())
        );
        assert!(u.remove("KUBE-A").is_none());
        assert_eq!(u.len(), 4);
        assert_eq!(names(&u), ["B", "KUBE-Z", "_x", "a"]);
        // The chain moved into the removed one's slot is still found by name.
        for n in ["B", "KUBE-Z", "_x", "a"] {
            assert_eq!(u.get(n).map(|c| &*c.name), Some(n));
        }
        u.insert(Arc::new(Chain::user("C")));
        assert_eq!(names(&u), ["B", "C", "KUBE-Z", "_x", "a"]);
    }

    proptest! {
        /// After any inserts and removals, the chains are found by name and listed in the
        /// order of a sorted set of their names.
        #[test]
        fn agrees_with_a_sorted_set(
            ops in prop::collection::vec((any::<bool>(), "[A-C]{1,3}", any::<bool>()), 0..64),
        ) {
            let mut u = UserChains::default();
            let mut model = BTreeSet::new();
            for (insert, name, walk) in ops {
                if insert {
                    let old = u.insert(Arc::new(Chain::user(&name)));
                    prop_assert_eq!(old.is_some(), !model.insert(name.clone()));
                } else {
                    let old = u.remove(&name);
                    prop_assert_eq!(old.is_some(), model.remove(&name));
                }
                if walk {
                    prop_assert_eq!(names(&u), model.iter().map(String::as_str).collect::<Vec<_>>());
                }
                prop_assert_eq!(u.len(), model.len());
                for n in &model {
                    prop_assert_eq!(u.get(n).map(|c| &*c.name), Some(n.as_str()));
                    prop_assert_eq!(u.get_mut(n).map(|c| c.name.to_string()), Some(n.clone()));
                }
                prop_assert_eq!(u.get_mut(&name).is_some(), model.contains(&name));
            }
            prop_assert_eq!(names(&u), model.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
