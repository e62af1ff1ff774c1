//! The checks iptables and the kernel make before a rule or a table is accepted.
//!
//! When a rule is added (`check_rule`): `-i` is refused in OUTPUT/POSTROUTING and `-o` in
//! PREROUTING/INPUT (iptables' "Can't use -o with INPUT"); NAT targets only in `nat`, NOTRACK
//! and CT only in `raw` (each target's `.table` in the kernel); DROP not in `nat` (iptables);
//! the `tcp`/`udp`/`sctp`/`icmp` matches need the matching `-p`, `multiport` one of its
//! protocols, NAT port ranges a `-p`, and `REJECT --reject-with tcp-reset` needs `-p tcp`
//! (`xt_check_match`/`xt_check_target` and each extension's `checkentry`).
//!
//! When a table is committed ([`Table::validate`]): every `-j`/`-g` names an existing user
//! chain (iptables-nft-restore v1.8.9 reports this at COMMIT), no loop is reachable from a
//! built-in chain (`mark_source_chains` in ip_tables.c), and targets restricted to some hooks
//! (DNAT, SNAT, MASQUERADE, REDIRECT, REJECT) are only reachable from those hooks.
//!
//! A restore's COMMIT ([`Table::validate_commit`]) gives the same verdict and error, but when
//! the table passed before the restore and held no loop at all, it looks only at what the
//! restore changed: the kernel checks the whole table on every commit, which at kube-proxy's
//! scale (100,000 chains) would cost more than the rest of a partial sync.

use std::collections::BTreeSet;
use std::sync::Arc;

use sim_core::hash::FastHashSet;

use crate::netfilter::chain::{Chain, Hook};
use crate::netfilter::error::NetfilterError;
use crate::netfilter::matches::Match;
use crate::netfilter::rule::{Protocol, Rule};
use crate::netfilter::table::{Table, TableName};
use crate::netfilter::target::{RejectWith, Target};

/// Whether `rule` may be added to `chain` of `table`.
pub(crate) fn check_rule(
    table: TableName,
    chain: &Chain,
    rule: &Rule,
) -> Result<(), NetfilterError> {
    if let Some(hook) = chain.hook() {
        if rule.in_interface.is_some() && matches!(hook, Hook::Output | Hook::Postrouting) {
            return Err(NetfilterError::InterfaceNotAllowed {
                flag: "-i",
                chain: chain.name.to_string(),
            });
        }
        if rule.out_interface.is_some() && matches!(hook, Hook::Prerouting | Hook::Input) {
            return Err(NetfilterError::InterfaceNotAllowed {
                flag: "-o",
                chain: chain.name.to_string(),
            });
        }
    }
    let proto = rule
        .protocol
        .filter(|p| !p.invert)
        .map(|p| p.value.number());
    for m in &rule.matches {
        let (what, needs, ok): (&'static str, &'static str, bool) = match m {
            Match::Tcp(_) => ("the tcp match", "-p tcp", proto == Some(6)),
            Match::Udp(_) => ("the udp match", "-p udp", proto == Some(17)),
            Match::Sctp(_) => ("the sctp match", "-p sctp", proto == Some(132)),
            Match::Icmp(_) => ("the icmp match", "-p icmp", proto == Some(1)),
            Match::Multiport(_) => (
                "multiport",
                "-p tcp, -p udp, -p udplite, -p sctp or -p dccp",
                matches!(proto, Some(6 | 17 | 136 | 132 | 33)),
            ),
            _ => continue,
        };
        if !ok {
            return Err(NetfilterError::ProtocolRequired { what, needs });
        }
    }
    let Some(target) = &rule.target else {
        return Ok(());
    };
    let only_in = |t: &'static str, want: TableName| {
        if table == want {
            Ok(())
        } else {
            Err(NetfilterError::TargetWrongTable {
                target: t,
                table: want.as_str(),
            })
        }
    };
    let nat_ports = match target {
        Target::Dnat(d) => {
            only_in("DNAT", TableName::Nat)?;
            d.to.ports.is_some()
        }
        Target::Snat(s) => {
            only_in("SNAT", TableName::Nat)?;
            s.to.ports.is_some()
        }
        Target::Masquerade(m) => {
            only_in("MASQUERADE", TableName::Nat)?;
            m.to_ports.is_some()
        }
        Target::Redirect(r) => {
            only_in("REDIRECT", TableName::Nat)?;
            r.to_ports.is_some()
        }
        Target::Notrack => {
            only_in("NOTRACK", TableName::Raw)?;
            false
        }
        Target::Ct { .. } => {
            only_in("CT", TableName::Raw)?;
            false
        }
        Target::Drop if table == TableName::Nat => return Err(NetfilterError::DropInNat),
        Target::Reject(RejectWith::TcpReset) if proto != Some(Protocol::Tcp.number()) => {
            return Err(NetfilterError::ProtocolRequired {
                what: "REJECT --reject-with tcp-reset",
                needs: "-p tcp",
            });
        }
        Target::Jump(c) | Target::Goto(c)
            if Hook::from_chain_name(c).is_some_and(|h| table.builtin_hooks().contains(&h)) =>
        {
            return Err(NetfilterError::BuiltinChain(c.to_string()));
        }
        _ => false,
    };
    if nat_ports && proto.is_none_or(|p| p == 0) {
        return Err(NetfilterError::ProtocolRequired {
            what: "a port specification",
            needs: "-p tcp, -p udp, -p sctp or -p dccp",
        });
    }
    Ok(())
}

/// Hooks a target may be reached from, as `(name, hook bits, printable list)`.
fn hook_restriction(t: &Target) -> Option<(&'static str, u8, &'static str)> {
    let bits = |hs: &[Hook]| hs.iter().fold(0u8, |b, h| b | h.bit());
    Some(match t {
        Target::Dnat(_) => (
            "DNAT",
            bits(&[Hook::Prerouting, Hook::Output]),
            "PREROUTING, OUTPUT",
        ),
        Target::Snat(_) => (
            "SNAT",
            bits(&[Hook::Postrouting, Hook::Input]),
            "POSTROUTING, INPUT",
        ),
        Target::Masquerade(_) => ("MASQUERADE", bits(&[Hook::Postrouting]), "POSTROUTING"),
        Target::Redirect(_) => (
            "REDIRECT",
            bits(&[Hook::Prerouting, Hook::Output]),
            "PREROUTING, OUTPUT",
        ),
        Target::Reject(_) => (
            "REJECT",
            bits(&[Hook::Input, Hook::Forward, Hook::Output]),
            "INPUT, FORWARD, OUTPUT",
        ),
        _ => return None,
    })
}

/// How far ahead a changed chain's target is looked for among the old ones in order.
const ALIGN_WINDOW: usize = 8;

/// Walk marks of [`Graph::find_loop`].
const NEW: u8 = 0;
const ON_PATH: u8 = 1;
const DONE: u8 = 2;

/// The table's chains as a graph: built-in chains first (hook order), then user chains as
/// the table stores them (in no order: sorting 100,000 names would cost more than the
/// checks), each with the indices of the user chains its rules enter (chain `i`'s are
/// `targets[starts[i]..starts[i + 1]]`). Which loop a walk from the built-in chains meets
/// does not depend on the numbering; where a check could name one of several chains, the
/// first in iptables-save's order is found afterwards ([`Graph::save_order`]).
struct Graph<'a> {
    chains: Vec<&'a Chain>,
    starts: Vec<usize>,
    targets: Vec<usize>,
}

impl<'a> Graph<'a> {
    /// `Err((missing, from))` for a jump to a chain that does not exist (the first such rule
    /// in iptables-save's order).
    fn of(table: &'a Table) -> Result<Self, (&'a str, &'a str)> {
        let builtin = table.builtin.len();
        let chains: Vec<&Chain> = table
            .builtin
            .iter()
            .chain(table.user.slots())
            .map(|c| &**c)
            .collect();
        let mut starts = Vec::with_capacity(chains.len() + 1);
        let mut targets = Vec::new();
        for c in &chains {
            starts.push(targets.len());
            for to in c.rules.iter().filter_map(|r| r.target.as_ref()?.chain()) {
                match table.user.slot_of(to) {
                    Some(s) => targets.push(builtin + s),
                    None => return Err(first_missing_jump(table)),
                }
            }
        }
        starts.push(targets.len());
        Ok(Graph {
            chains,
            starts,
            targets,
        })
    }

    /// The chain indices in iptables-save's order.
    fn save_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.chains.len()).collect();
        // Built-in chains first, in hook order (the sort is stable), then user chains by name.
        order.sort_by_key(|&i| {
            let c = self.chains[i];
            (!c.is_builtin(), if c.is_builtin() { "" } else { &*c.name })
        });
        order
    }

    /// The chains chain `i` enters, in rule order.
    fn edges(&self, i: usize) -> &[usize] {
        &self.targets[self.starts[i]..self.starts[i + 1]]
    }

    /// For each chain, the hooks (as bits) from which it is reachable.
    fn hooks_reaching(&self) -> Vec<u8> {
        let mut bits = vec![0u8; self.chains.len()];
        let mut work = Vec::new();
        for (i, c) in self.chains.iter().enumerate() {
            if let Some(h) = c.hook() {
                bits[i] = h.bit();
                work.push(i);
            }
        }
        while let Some(i) = work.pop() {
            let b = bits[i];
            for &j in self.edges(i) {
                if bits[j] | b != bits[j] {
                    bits[j] |= b;
                    work.push(j);
                }
            }
        }
        bits
    }

    /// A depth-first walk from each of `roots` not walked yet (`mark` remembers the walks so
    /// far); a chain met again on the current path is a loop.
    fn find_loop(&self, mark: &mut [u8], roots: impl Iterator<Item = usize>) -> Option<&'a str> {
        for root in roots {
            if mark[root] != NEW {
                continue;
            }
            // (chain, index of the next edge to follow)
            let mut stack = vec![(root, 0usize)];
            mark[root] = ON_PATH;
            while let Some((i, e)) = stack.pop() {
                let Some(&j) = self.edges(i).get(e) else {
                    mark[i] = DONE;
                    continue;
                };
                stack.push((i, e + 1));
                match mark[j] {
                    ON_PATH => return Some(&*self.chains[j].name),
                    NEW => {
                        mark[j] = ON_PATH;
                        stack.push((j, 0));
                    }
                    _ => {}
                }
            }
        }
        None
    }
}

/// The first rule, in iptables-save's order, that jumps or goes to a chain `table` lacks, as
/// `(missing, from)`; there must be one.
fn first_missing_jump(table: &Table) -> (&str, &str) {
    table
        .chains()
        .flat_map(|c| {
            c.rules
                .iter()
                .filter_map(|r| r.target.as_ref()?.chain())
                .map(|to| (to, &*c.name))
        })
        .find(|&(to, _)| !table.user.contains_key(to))
        .expect("a rule jumps to a missing chain")
}

/// The error for the first rule of `chain` whose target may not be reached from one of the
/// hooks `reached` (as bits) reaching the chain.
fn wrong_hook(chain: &Chain, reached: u8) -> Option<NetfilterError> {
    if reached == 0 {
        return None;
    }
    chain.rules.iter().find_map(|rule| {
        let (target, allowed, valid) = rule.target.as_ref().and_then(hook_restriction)?;
        let bad = Hook::ALL
            .into_iter()
            .find(|h| reached & h.bit() != 0 && allowed & h.bit() == 0)?;
        Some(NetfilterError::TargetWrongHook {
            target,
            chain: chain.name.to_string(),
            hook: bad.chain_name(),
            valid,
        })
    })
}

impl Table {
    /// The checks the kernel makes when the table is committed: jump targets exist, no loop is
    /// reachable from a built-in chain, and hook-restricted targets are only reached from
    /// their hooks.
    pub fn validate(&self) -> Result<(), NetfilterError> {
        self.validate_all().map(drop)
    }

    /// [`Table::validate`]; `Ok(true)` when no loop exists at all, not even one unreachable
    /// from the built-in chains.
    fn validate_all(&self) -> Result<bool, NetfilterError> {
        let graph =
            Graph::of(self).map_err(|(missing, from)| NetfilterError::JumpToMissingChain {
                missing: missing.to_string(),
                from: from.to_string(),
            })?;
        let mut mark = vec![NEW; graph.chains.len()];
        let builtin = (0..graph.chains.len()).filter(|&i| graph.chains[i].is_builtin());
        if let Some(chain) = graph.find_loop(&mut mark, builtin) {
            return Err(NetfilterError::Loop(chain.to_string()));
        }
        let hooks = graph.hooks_reaching();
        let wrong_at = |i: usize| wrong_hook(graph.chains[i], hooks[i]);
        if (0..graph.chains.len()).any(|i| wrong_at(i).is_some()) {
            let first = graph.save_order().into_iter().find_map(wrong_at);
            return Err(first.expect("a chain reaches a target from a wrong hook"));
        }
        Ok(graph.find_loop(&mut mark, 0..graph.chains.len()).is_none())
    }

    /// The checks of [`Table::validate`] at a restore's COMMIT, with its verdict and error.
    /// When the table was verified before the restore, the chains it changed are checked
    /// alone ([`Table::changes_pass`]); when they may fail, or the table was not verified, the
    /// whole table is.
    pub(crate) fn validate_commit(&mut self) -> Result<(), NetfilterError> {
        let incremental = self
            .journal
            .as_ref()
            .is_some_and(|j| j.verified && j.whole.is_none());
        if incremental && self.changes_pass() {
            self.verified = true;
            return Ok(());
        }
        self.verified = self.validate_all()?;
        Ok(())
    }

    /// Whether the chains changed since the journal opened keep the table valid and free of
    /// loops, given that it was before. `false` means "maybe not": the whole table must be
    /// checked.
    ///
    /// Why the changed chains suffice: a rule that jumps to a missing chain sits in a changed
    /// chain (`-X` refuses a referenced chain); a new loop, or a loop newly reachable, or a
    /// hook newly reaching a restricted target, needs a jump that is new — one a changed chain
    /// has and had not — or a restricted target that is new in a changed chain. So each
    /// changed chain's new jumps are walked (every chain they lead to, looking for the way
    /// back and checking its targets against the hooks reaching the changed chain), and its
    /// new restricted targets are checked against those hooks.
    fn changes_pass(&self) -> bool {
        let Some(j) = &self.journal else {
            return false;
        };
        // Chains the restore deleted (lookups only).
        let gone: FastHashSet<&str> = j
            .user
            .keys()
            .filter(|n| !self.user.contains_key(n))
            .map(String::as_str)
            .collect();
        let builtin = j
            .builtin
            .iter()
            .zip(&self.builtin)
            .filter(|(old, now)| !Arc::ptr_eq(old, now))
            .map(|(old, now)| (Some(&**old), &**now));
        let user = j.user.iter().filter_map(|(name, old)| {
            let now = self.user.get(name)?;
            let same = old.as_ref().is_some_and(|o| Arc::ptr_eq(o, now));
            (!same).then(|| (old.as_deref(), &**now))
        });
        builtin
            .chain(user)
            .all(|(old, now)| self.change_passes(old, now, &gone))
    }

    /// Whether chain `now`, formerly `old`, keeps the table valid and free of loops (see
    /// [`Table::changes_pass`]).
    fn change_passes(&self, old: Option<&Chain>, now: &Chain, gone: &FastHashSet<&str>) -> bool {
        let old_rules = old.map_or(&[][..], |c| &c.rules[..]);
        let old_targets: Vec<&Target> =
            old_rules.iter().filter_map(|r| r.target.as_ref()).collect();
        // The targets that do not line up with an equal old one, in order: a chain edited by
        // a restore keeps most of its targets in place, and those need no set of old jumps.
        let mut unaligned: Vec<&Target> = Vec::new();
        let mut at = 0;
        for target in now.rules.iter().filter_map(|r| r.target.as_ref()) {
            let window = at..old_targets.len().min(at + ALIGN_WINDOW);
            match window.into_iter().find(|&j| old_targets[j] == target) {
                Some(j) => {
                    at = j + 1;
                    if !gone.is_empty() && target.chain().is_some_and(|to| gone.contains(to)) {
                        return false;
                    }
                }
                None => unaligned.push(target),
            }
        }
        if unaligned.is_empty() {
            return true;
        }
        let old_jumps: FastHashSet<&str> = old_targets.iter().filter_map(|t| t.chain()).collect();
        let old_limits: BTreeSet<u8> = old_targets
            .iter()
            .filter_map(|t| Some(hook_restriction(t)?.1))
            .collect();
        let mut new_jumps: Vec<&str> = Vec::new();
        let mut new_limit = false;
        for target in unaligned {
            if let Some(to) = target.chain() {
                if old_jumps.contains(to) {
                    if gone.contains(to) {
                        return false;
                    }
                } else if self.user.contains_key(to) {
                    new_jumps.push(to);
                } else {
                    return false;
                }
            }
            if let Some((_, allowed, _)) = hook_restriction(target) {
                new_limit |= !old_limits.contains(&allowed);
            }
        }
        if new_jumps.is_empty() && !new_limit {
            return true;
        }
        let reached = self.hooks_reaching(&now.name);
        if !fits(now, reached) {
            return false;
        }
        let mut seen: FastHashSet<&str> = FastHashSet::default();
        while let Some(name) = new_jumps.pop() {
            if *name == *now.name {
                return false;
            }
            if !seen.insert(name) {
                continue;
            }
            let Some(c) = self.user.get(name) else {
                return false;
            };
            if !fits(c, reached) {
                return false;
            }
            new_jumps.extend(
                c.rules
                    .iter()
                    .filter_map(|r| r.target.as_ref()?.chain())
                    .filter(|to| !seen.contains(to)),
            );
        }
        true
    }

    /// The hooks (as bits) from which chain `name` is reachable, walking the jumps backwards.
    fn hooks_reaching(&self, name: &str) -> u8 {
        let mut bits = 0;
        let mut seen: FastHashSet<&str> = FastHashSet::default();
        let mut work = vec![name];
        while let Some(n) = work.pop() {
            if !seen.insert(n) {
                continue;
            }
            if let Some(h) = self
                .builtin
                .iter()
                .find(|c| &*c.name == n)
                .and_then(|c| c.hook())
            {
                bits |= h.bit();
            }
            work.extend(self.referrers(n).filter(|p| !seen.contains(p)));
        }
        bits
    }
}

/// Whether every hook-restricted target of `chain` may be reached from the hooks `reached`.
fn fits(chain: &Chain, reached: u8) -> bool {
    chain
        .rules
        .iter()
        .filter_map(|r| hook_restriction(r.target.as_ref()?))
        .all(|(_, allowed, _)| reached & !allowed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfilter::target::{DnatTarget, NatRange};
    use std::net::Ipv4Addr;

    fn dnat() -> Target {
        Target::Dnat(DnatTarget {
            to: NatRange::addr(Ipv4Addr::new(10, 0, 0, 1)),
            random: false,
            persistent: false,
        })
    }

    #[test]
    fn targets_are_checked_against_the_hooks_that_reach_them() {
        let mut t = Table::new(TableName::Nat);
        t.new_chain("X").unwrap();
        t.append("X", Rule::new().target(dnat())).unwrap();
        assert_eq!(t.validate(), Ok(()), "an unreachable chain is not checked");
        t.append("PREROUTING", Rule::new().jump("X")).unwrap();
        assert_eq!(t.validate(), Ok(()));
        t.append("INPUT", Rule::new().jump("X")).unwrap();
        assert_eq!(
            t.validate(),
            Err(NetfilterError::TargetWrongHook {
                target: "DNAT",
                chain: "X".into(),
                hook: "INPUT",
                valid: "PREROUTING, OUTPUT"
            })
        );
    }

    #[test]
    fn loops_reachable_from_a_builtin_chain_are_refused() {
        let mut t = Table::new(TableName::Filter);
        t.new_chain("A").unwrap();
        t.new_chain("B").unwrap();
        t.append("A", Rule::new().jump("B")).unwrap();
        t.append("B", Rule::new().jump("A")).unwrap();
        assert_eq!(t.validate(), Ok(()), "iptables accepts an unreachable loop");
        t.append("INPUT", Rule::new().jump("A")).unwrap();
        assert!(matches!(t.validate(), Err(NetfilterError::Loop(_))));
    }

    #[test]
    fn jumps_must_name_existing_chains() {
        let mut t = Table::new(TableName::Filter);
        t.append("INPUT", Rule::new().jump("NOPE")).unwrap();
        assert_eq!(
            t.validate(),
            Err(NetfilterError::JumpToMissingChain {
                missing: "NOPE".into(),
                from: "INPUT".into()
            })
        );
    }

    #[test]
    fn of_several_offending_chains_the_first_in_save_order_is_named() {
        // Created in reverse order, so the table stores them that way.
        let mut t = Table::new(TableName::Nat);
        for c in ["C", "B", "A"] {
            t.new_chain(c).unwrap();
        }
        t.append("C", Rule::new().jump("GONE-C")).unwrap();
        t.append("B", Rule::new().jump("GONE-B")).unwrap();
        assert_eq!(
            t.validate(),
            Err(NetfilterError::JumpToMissingChain {
                missing: "GONE-B".into(),
                from: "B".into()
            })
        );
        t.flush_chain("C").unwrap();
        t.flush_chain("B").unwrap();
        for c in ["C", "B"] {
            t.append(c, Rule::new().target(dnat())).unwrap();
            t.append("INPUT", Rule::new().jump(c)).unwrap();
        }
        assert_eq!(
            t.validate(),
            Err(NetfilterError::TargetWrongHook {
                target: "DNAT",
                chain: "B".into(),
                hook: "INPUT",
                valid: "PREROUTING, OUTPUT"
            })
        );
    }

    #[test]
    fn rule_checks_follow_iptables_and_the_kernel() {
        let mut t = Table::new(TableName::Filter);
        let tcp_only = Rule::new().matching(Match::Tcp(Default::default()));
        assert!(matches!(
            t.append("INPUT", tcp_only.clone()),
            Err(NetfilterError::ProtocolRequired { .. })
        ));
        t.append("INPUT", tcp_only.protocol(Protocol::Tcp)).unwrap();
        assert!(matches!(
            t.append("INPUT", Rule::new().out_interface("eth0")),
            Err(NetfilterError::InterfaceNotAllowed { flag: "-o", .. })
        ));
        assert!(matches!(
            t.append("INPUT", Rule::new().target(dnat())),
            Err(NetfilterError::TargetWrongTable { target: "DNAT", .. })
        ));
        let mut n = Table::new(TableName::Nat);
        assert_eq!(
            n.append("PREROUTING", Rule::new().target(Target::Drop)),
            Err(NetfilterError::DropInNat)
        );
        assert_eq!(
            n.append("PREROUTING", Rule::new().jump("INPUT")),
            Err(NetfilterError::BuiltinChain("INPUT".into()))
        );
    }
}
