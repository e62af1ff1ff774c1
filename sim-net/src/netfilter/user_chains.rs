//! A table's user chains: found by name through a hash map, since a restore looks one up for
//! every line and kube-proxy's nat table holds 100,000 of them, and listed in the byte order of
//! their names (iptables-save's order) through the sorted set of names kept beside it.

use std::collections::BTreeSet;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use sim_core::hash::FastHashMap;

use crate::netfilter::chain::Chain;

/// User chains by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserChains {
    by_name: FastHashMap<String, Arc<Chain>>,
    order: BTreeSet<String>,
}

/// Equal when they hold the same chains (the order follows from the names).
impl PartialEq for UserChains {
    fn eq(&self, other: &Self) -> bool {
        self.by_name == other.by_name
    }
}

impl Eq for UserChains {}

impl UserChains {
    pub fn get(&self, name: &str) -> Option<&Arc<Chain>> {
        self.by_name.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Arc<Chain>> {
        self.by_name.get_mut(name)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Puts `chain` under `name`; returns the chain it replaces.
    pub fn insert(&mut self, name: String, chain: Arc<Chain>) -> Option<Arc<Chain>> {
        match self.by_name.entry(name) {
            Entry::Occupied(mut e) => Some(e.insert(chain)),
            Entry::Vacant(e) => {
                self.order.insert(e.key().clone());
                e.insert(chain);
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<Chain>> {
        let chain = self.by_name.remove(name)?;
        self.order.remove(name);
        Some(chain)
    }

    pub fn clear(&mut self) {
        self.by_name.clear();
        self.order.clear();
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The chains in name order.
    pub fn values(&self) -> impl Iterator<Item = &Arc<Chain>> {
        self.order.iter().map(|name| &self.by_name[name])
    }

    /// The chains in no particular order, for changes that do not depend on it.
    pub fn values_mut_unordered(&mut self) -> impl Iterator<Item = &mut Arc<Chain>> {
        self.by_name.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_in_byte_order_and_replaces_in_place() {
        let mut u = UserChains::default();
        for n in ["KUBE-Z", "KUBE-A", "B", "a", "_x"] {
            assert!(u.insert(n.into(), Arc::new(Chain::user(n))).is_none());
        }
        let old = u.insert("B".into(), Arc::new(Chain::user("B")));
        assert!(old.is_some());
        let names: Vec<&str> = u.values().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["B", "KUBE-A", "KUBE-Z", "_x", "a"]);
        assert_eq!(
            u.remove("KUBE-A").map(|c| c.name.clone()),
            Some("KUBE-A".into())
        );
        assert!(u.remove("KUBE-A").is_none());
        assert_eq!(u.len(), 4);
        let names: Vec<&str> = u.values().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["B", "KUBE-Z", "_x", "a"]);
    }
}
