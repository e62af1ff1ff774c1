//! What an `iptables-restore` changed in a table: the chains as they were before their first
//! change, so that the COMMIT checks can look at the changed chains only, and so that a failed
//! restore can put the table back as it was ("on error nothing changes").
//!
//! A restore changes the live table in place; the journal keeps the old `Arc<Chain>` of each
//! user chain on its first change (chains are copy-on-write, so that costs one pointer), the
//! built-in chains as they were when it opened, and, when every chain changes at once (`-F`,
//! `-X` without a name, a restore without `--noflush`), the whole table at that moment, after
//! which it records nothing more. The jump references are not journaled: they follow from the
//! chains and are recomputed for the chains put back.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::netfilter::chain::Chain;
use crate::netfilter::table::{Refs, Table, add_ref, drop_ref};
use crate::netfilter::user_chains::UserChains;

/// The whole table at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    builtin: Vec<Arc<Chain>>,
    user: UserChains,
    refs: Refs,
}

/// The table as it was before an open restore changed it.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    /// The built-in chains when the restore opened the table.
    pub builtin: Vec<Arc<Chain>>,
    /// Each user chain changed before `whole` was taken, as it was (`None`: it did not exist).
    pub user: BTreeMap<String, Option<Arc<Chain>>>,
    /// The table when every chain changed at once; later changes are not recorded.
    pub whole: Option<Snapshot>,
    /// Whether the table was verified (see [`Table`]) when the restore opened it.
    pub verified: bool,
}

impl Journal {
    /// Keeps user chain `name` as it is in `user`, unless already kept.
    pub fn keep(&mut self, name: &str, user: &UserChains) {
        self.keep_chain(name, user.get(name));
    }

    /// Keeps user chain `name`, which is `chain` now, unless already kept.
    pub fn keep_chain(&mut self, name: &str, chain: Option<&Arc<Chain>>) {
        if self.whole.is_none() && !self.user.contains_key(name) {
            self.user.insert(name.to_string(), chain.cloned());
        }
    }

    /// Keeps the whole table as it is now, unless a snapshot was taken already.
    pub fn keep_all(&mut self, builtin: &[Arc<Chain>], user: &UserChains, refs: &Refs) {
        if self.whole.is_none() {
            self.whole = Some(Snapshot {
                builtin: builtin.to_vec(),
                user: user.clone(),
                refs: refs.clone(),
            });
        }
    }
}

impl Table {
    /// Opens a restore of this table: from now on its changes can be undone.
    pub(crate) fn begin(&mut self) {
        if self.journal.is_none() {
            let mut j = Journal {
                builtin: self.builtin.clone(),
                user: BTreeMap::new(),
                whole: None,
                verified: self.verified,
            };
            // A table without user chains (before a node's first sync) is cheaper to keep
            // whole than chain by chain as the restore fills it.
            if self.user.is_empty() {
                j.keep_all(&self.builtin, &self.user, &self.refs);
            }
            self.journal = Some(Box::new(j));
        }
    }

    /// Keeps the restore's changes.
    pub(crate) fn commit(&mut self) {
        self.journal = None;
    }

    /// Undoes every change since [`Table::begin`].
    pub(crate) fn rollback(&mut self) {
        let Some(j) = self.journal.take() else {
            return;
        };
        let j = *j;
        if let Some(whole) = j.whole {
            self.builtin = whole.builtin;
            self.user = whole.user;
            self.refs = whole.refs;
        }
        let builtin = std::mem::replace(&mut self.builtin, j.builtin);
        for (now, old) in builtin.iter().zip(&self.builtin) {
            if !Arc::ptr_eq(now, old) {
                swap_refs(&mut self.refs, Some(now), Some(old));
            }
        }
        for (name, old) in j.user {
            let now = match &old {
                Some(c) => self.user.insert(Arc::clone(c)),
                None => self.user.remove(&name),
            };
            let same = matches!((&now, &old), (Some(a), Some(b)) if Arc::ptr_eq(a, b));
            if !same {
                swap_refs(&mut self.refs, now.as_ref(), old.as_ref());
            }
        }
        self.verified = j.verified;
    }
}

/// Replaces the references of chain `now`'s rules by those of `old`'s.
fn swap_refs(refs: &mut Refs, now: Option<&Arc<Chain>>, old: Option<&Arc<Chain>>) {
    if let Some(c) = now {
        for r in &c.rules {
            drop_ref(refs, &c.name, r);
        }
    }
    if let Some(c) = old {
        for r in &c.rules {
            add_ref(refs, &c.name, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::netfilter::error::NetfilterError;
    use crate::netfilter::restore::RestoreOptions;
    use crate::netfilter::ruleset::Ruleset;

    const USER: [&str; 3] = ["A", "B", "C"];
    const CHAINS: [&str; 7] = [
        "PREROUTING",
        "INPUT",
        "OUTPUT",
        "POSTROUTING",
        "A",
        "B",
        "C",
    ];
    const TARGETS: [&str; 9] = [
        "-j A",
        "-j B",
        "-j C",
        "-g A",
        "-j DNAT --to-destination 10.0.0.1",
        "-j MASQUERADE",
        "-j REJECT",
        "-j RETURN",
        "-j ACCEPT",
    ];

    /// One restore line over a nat table of three user chains.
    fn line() -> impl Strategy<Value = String> {
        let user = || prop::sample::select(&USER[..]);
        let chain = prop::sample::select(&CHAINS[..]);
        let target = prop::sample::select(&TARGETS[..]);
        prop_oneof![
            2 => user().prop_map(|c| format!(":{c} - [0:0]")),
            1 => user().prop_map(|c| format!("-N {c}")),
            6 => (chain.clone(), target.clone()).prop_map(|(c, t)| format!("-A {c} {t}")),
            2 => (chain.clone(), target).prop_map(|(c, t)| format!("-I {c} 1 {t}")),
            1 => chain.clone().prop_map(|c| format!("-D {c} 1")),
            1 => chain.prop_map(|c| format!("-F {c}")),
            1 => user().prop_map(|c| format!("-X {c}")),
            1 => Just("-F".to_string()),
            1 => Just("-X".to_string()),
        ]
    }

    /// An `iptables-restore` input of one or two nat sections, and whether it runs with
    /// `--noflush`.
    fn restore() -> impl Strategy<Value = (String, bool)> {
        let section = prop::collection::vec(line(), 0..4)
            .prop_map(|lines| format!("*nat\n{}COMMIT\n", lines.join("\n") + "\n"));
        (
            prop::collection::vec(section, 1..3),
            prop::bool::weighted(0.9),
        )
            .prop_map(|(sections, noflush)| (sections.concat(), noflush))
    }

    #[test]
    fn noflush_changes_are_checked_like_the_whole_table() {
        let base = "*nat\n:A - [0:0]\n:B - [0:0]\n:X - [0:0]\n-A A -j B\n\
                    -A X -j DNAT --to-destination 10.0.0.1\n-A PREROUTING -j A\nCOMMIT\n";
        let cases = [
            (
                "*nat\n-F A\n-X B\n-A A -j B\nCOMMIT\n",
                NetfilterError::JumpToMissingChain {
                    missing: "B".into(),
                    from: "A".into(),
                },
            ),
            (
                "*nat\n-A B -j A\nCOMMIT\n",
                NetfilterError::Loop("A".into()),
            ),
            (
                "*nat\n-A INPUT -j X\nCOMMIT\n",
                NetfilterError::TargetWrongHook {
                    target: "DNAT",
                    chain: "X".into(),
                    hook: "INPUT",
                    valid: "PREROUTING, OUTPUT",
                },
            ),
            (
                "*nat\n-A B -j X\n-A POSTROUTING -j A\nCOMMIT\n",
                NetfilterError::TargetWrongHook {
                    target: "DNAT",
                    chain: "X".into(),
                    hook: "POSTROUTING",
                    valid: "PREROUTING, OUTPUT",
                },
            ),
        ];
        for (input, want) in cases {
            let mut r = Ruleset::parse(base).expect("a valid table");
            let nat = r.tables.values().next().expect("nat");
            assert!(
                nat.verified,
                "the COMMIT checks will look at the changes only"
            );
            let before = r.clone();
            let got = r.restore(input, RestoreOptions::kube_proxy());
            assert_eq!(got.map_err(|e| e.kind), Err(want), "{input}");
            assert_eq!(r, before, "{input}");
        }
        let mut r = Ruleset::parse(base).expect("a valid table");
        r.restore(
            "*nat\n-A OUTPUT -j X\n-A B -j X\nCOMMIT\n",
            RestoreOptions::kube_proxy(),
        )
        .expect("DNAT is allowed in OUTPUT and PREROUTING");
        assert!(r.tables.values().all(|t| t.verified));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Restores checked at COMMIT over the changed chains only give the verdict, the error
        /// and the tables that checking the whole table gives, including loops and hook
        /// violations created through `--noflush`; a failed restore changes nothing, and the
        /// jump references always match the rules.
        #[test]
        fn incremental_commit_checks_agree_with_whole_table_checks(
            restores in prop::collection::vec(restore(), 1..16),
        ) {
            let chains = "*nat\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\nCOMMIT\n";
            let mut fast = Ruleset::parse(chains).expect("three empty chains");
            let mut whole = fast.clone();
            for (input, noflush) in &restores {
                let opts = RestoreOptions { noflush: *noflush, counters: false };
                for t in whole.tables.values_mut() {
                    t.verified = false;
                }
                let before = fast.clone();
                let got = fast.restore(input, opts);
                let want = whole.restore(input, opts);
                prop_assert_eq!(&got, &want, "input:\n{}", input);
                prop_assert_eq!(&fast, &whole, "input:\n{}", input);
                if got.is_err() {
                    prop_assert_eq!(&fast, &before, "a failed restore changes nothing");
                }
                for t in fast.tables.values() {
                    prop_assert!(t.journal.is_none());
                    prop_assert_eq!(&t.refs, &t.counted_refs(), "input:\n{}", input);
                    if t.verified {
                        prop_assert!(t.validate().is_ok());
                    }
                }
            }
        }
    }
}
