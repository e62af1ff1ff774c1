//! `iptables-restore`: applying a dump to a ruleset, with the semantics of iptables 1.8's
//! `ip46tables_restore_main` (iptables/iptables-restore.c):
//!
//! - `# …` lines are comments; empty lines are skipped (so are whitespace-only lines, which
//!   iptables would reject).
//! - `*TABLE` opens a table. Without `--noflush` the table is flushed first: every chain
//!   emptied, every user chain deleted; built-in policies stay until a `:` line sets them.
//! - `:CHAIN POLICY [PACKETS:BYTES]`: for a built-in chain sets the policy (`-` leaves it);
//!   for a user chain (policy `-`) creates it, or with `--noflush`, if it exists, flushes it.
//!   Counters are applied only with `--counters` (then they are required for built-in chains);
//!   without it the policy line zeroes them, as iptables does.
//! - Other lines are commands (`-A`, `-I`, `-D`, `-N`, `-X`, `-F`, `-P`), optionally preceded
//!   by `[PACKETS:BYTES]`, which sets the rule's counters only with `--counters`.
//! - `COMMIT` runs the kernel's table checks ([`Table::validate`]); a missing COMMIT is an
//!   error at the line after the last.
//!
//! Declaring an existing user chain again under `--noflush` flushes it, as in iptables; when
//! the lines that follow re-send the chain's rules as they were (the same text, the same
//! counters), the chain is left as it is instead of being emptied and filled with equal rules
//! ([`Resent`]). Only the speed differs: kube-proxy re-sends `KUBE-SERVICES` (a rule per
//! Service) on every sync, and parsing 10,000 unchanged rules would cost most of a partial
//! sync.
//!
//! Simplified: the whole input is one transaction — on any error the ruleset is left as it
//! was, where iptables keeps the tables committed before the failing one. Tables change in
//! place under a journal (see `journal`) that undoes them on error.

use std::collections::btree_map::Entry;

use std::sync::Arc;

use crate::netfilter::chain::{Chain, Policy};
use crate::netfilter::command::{Command, DeleteWhich, parse_command};
use crate::netfilter::error::{NetfilterError, RestoreError};
use crate::netfilter::rule::Counters;
use crate::netfilter::ruleset::Ruleset;
use crate::netfilter::table::{CHAIN_NAME_MAX_LEN, Table, TableName};
use crate::netfilter::tokenize::tokenize;
use crate::netfilter::value::parse_counters;
use sim_core::hash::FastHashMap;

/// The switches of `iptables-restore` the model has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RestoreOptions {
    /// `--noflush`: keep what the input does not mention.
    pub noflush: bool,
    /// `--counters`: take counters from the input.
    pub counters: bool,
}

impl RestoreOptions {
    /// `iptables-restore --noflush --counters`, as kube-proxy's iptables proxier runs it.
    pub fn kube_proxy() -> Self {
        RestoreOptions {
            noflush: true,
            counters: true,
        }
    }
}

/// 1-based column of byte offset `at` in `line`.
fn column_of(line: &str, at: usize) -> usize {
    line[..at].chars().count() + 1
}

impl Ruleset {
    /// Applies `input` as `iptables-restore` would. On error nothing changes.
    pub fn restore(&mut self, input: &str, opts: RestoreOptions) -> Result<(), RestoreError> {
        let mut opened = Vec::new();
        let mut created = Vec::new();
        let result = self.apply(input, opts, &mut opened, &mut created);
        for t in opened {
            if let Some(table) = self.tables.get_mut(&t) {
                if result.is_ok() {
                    table.commit();
                } else {
                    table.rollback();
                }
            }
        }
        if result.is_err() {
            for t in created {
                self.tables.remove(&t);
            }
        }
        result
    }

    /// Applies `input` to the tables in place; `opened` gets the tables that existed (each with
    /// an open journal), `created` those it made.
    fn apply(
        &mut self,
        input: &str,
        opts: RestoreOptions,
        opened: &mut Vec<TableName>,
        created: &mut Vec<TableName>,
    ) -> Result<(), RestoreError> {
        let mut current: Option<TableName> = None;
        let mut resent = Resent::default();
        let mut lines = 0;
        for (idx, raw) in input.split_inclusive('\n').enumerate() {
            let lineno = idx + 1;
            lines = lineno;
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let err = |kind, column| RestoreError {
                line: lineno,
                column,
                kind,
            };
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if line == "COMMIT" {
                let Some(t) = current.take() else {
                    return Err(err(NetfilterError::OutsideTable(line.to_string()), Some(1)));
                };
                if let Some(table) = self.tables.get_mut(&t) {
                    resent.settle_all(table);
                    table.validate_commit().map_err(|e| err(e, None))?;
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix('*') {
                if let Some(open) = current {
                    return Err(err(
                        NetfilterError::TableInsideTable {
                            open: open.to_string(),
                            new: rest.to_string(),
                        },
                        Some(1),
                    ));
                }
                let mut words = rest.split([' ', '\t']).filter(|w| !w.is_empty());
                let name = words
                    .next()
                    .ok_or_else(|| err(NetfilterError::MissingTableName, Some(1)))?;
                if let Some(extra) = words.next() {
                    let at = line.find(extra).map(|b| column_of(line, b));
                    return Err(err(
                        NetfilterError::TrailingAfterTable(extra.to_string()),
                        at,
                    ));
                }
                let t = TableName::from_name(name)
                    .ok_or_else(|| err(NetfilterError::UnknownTable(name.to_string()), Some(2)))?;
                let table = match self.tables.entry(t) {
                    Entry::Occupied(e) => {
                        let table = e.into_mut();
                        if table.journal.is_none() {
                            table.begin();
                            opened.push(t);
                        }
                        table
                    }
                    Entry::Vacant(e) => {
                        created.push(t);
                        e.insert(Table::new(t))
                    }
                };
                if !opts.noflush {
                    table.reset();
                }
                current = Some(t);
                continue;
            }
            let Some(t) = current else {
                return Err(err(NetfilterError::OutsideTable(line.to_string()), Some(1)));
            };
            let table = self.tables.get_mut(&t).expect("an open table exists");
            if let Some(rest) = line.strip_prefix(':') {
                chain_line(table, line, rest, opts, &mut resent).map_err(|(k, c)| err(k, c))?;
            } else if !resent.matches(line, opts) {
                rule_line(table, line, opts, &mut resent).map_err(|(k, c)| err(k, c))?;
            }
        }
        if let Some(t) = current {
            return Err(RestoreError {
                line: lines + 1,
                column: None,
                kind: NetfilterError::MissingCommit(t.to_string()),
            });
        }
        Ok(())
    }
}

/// An error and the 1-based column it points at, if any.
type Located = (NetfilterError, Option<usize>);
type LineResult = Result<(), Located>;

/// `:CHAIN POLICY [PACKETS:BYTES]`.
fn chain_line(
    table: &mut Table,
    line: &str,
    rest: &str,
    opts: RestoreOptions,
    resent: &mut Resent,
) -> LineResult {
    let mut fields = Vec::new();
    let mut start = None;
    for (i, c) in rest.char_indices().chain([(rest.len(), ' ')]) {
        match (c == ' ' || c == '\t', start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                fields.push((&rest[s..i], column_of(line, 1 + s)));
                start = None;
            }
            _ => {}
        }
    }
    let bad_line = || (NetfilterError::BadChainLine(line.to_string()), Some(1));
    let &(name, name_col) = fields.first().ok_or_else(bad_line)?;
    let &(policy, policy_col) = fields.get(1).ok_or_else(bad_line)?;
    if let Some(&(extra, col)) = fields.get(3) {
        return Err((
            NetfilterError::UnexpectedArgument(extra.to_string()),
            Some(col),
        ));
    }
    let counters = match fields.get(2) {
        Some(&(text, col)) => Some(
            parse_counters(text)
                .map(|(p, b)| Counters::new(p, b))
                .ok_or((NetfilterError::BadCounters(text.to_string()), Some(col)))?,
        ),
        None => None,
    };
    if name.len() > CHAIN_NAME_MAX_LEN {
        return Err((
            NetfilterError::BadChainName {
                name: name.to_string(),
                reason: "at most 28 characters (XT_EXTENSION_MAXNAMELEN - 1)",
            },
            Some(name_col),
        ));
    }
    let at = |e| (e, Some(name_col));
    match table.chain(name).map(|c| c.is_builtin()) {
        Some(true) => {
            if policy == "-" {
                return Ok(());
            }
            let p = Policy::from_name(policy).ok_or((
                NetfilterError::BadPolicy(policy.to_string()),
                Some(policy_col),
            ))?;
            let counters = if opts.counters {
                counters.ok_or((
                    NetfilterError::MissingCounters(name.to_string()),
                    Some(name_col),
                ))?
            } else {
                Counters::default()
            };
            table.set_policy(name, p, Some(counters)).map_err(at)
        }
        Some(false) | None if policy != "-" => Err((
            NetfilterError::NotBuiltin(name.to_string()),
            Some(policy_col),
        )),
        Some(false) if opts.noflush => {
            resent.settle(table, name);
            match table.user.get(name).filter(|c| c.lines.is_some()) {
                Some(chain) => {
                    resent
                        .declared
                        .insert(name.to_string(), (0, Arc::clone(chain)));
                    Ok(())
                }
                None => table.flush_chain(name).map_err(at),
            }
        }
        _ => table.new_chain(name).map_err(at),
    }
}

/// `[PACKETS:BYTES] COMMAND …`.
fn rule_line(
    table: &mut Table,
    line: &str,
    opts: RestoreOptions,
    resent: &mut Resent,
) -> LineResult {
    let (counters, rest, offset) = split_counters(line)?;
    let tokens = tokenize(rest).map_err(|(e, col)| (e, Some(col + offset)))?;
    let cmd = parse_command(&tokens).map_err(|(e, col)| (e, col.map(|c| c + offset)))?;
    match &cmd {
        Command::Append { chain, .. }
        | Command::Insert { chain, .. }
        | Command::Delete { chain, .. }
        | Command::Flush(Some(chain))
        | Command::Policy { chain, .. } => resent.settle(table, chain),
        Command::NewChain(_) => {}
        // Deleting a chain asks whether rules still jump to it.
        Command::DeleteChain(Some(chain)) => {
            resent.settle(table, chain);
            resent.settle_referrers(table, chain);
        }
        Command::DeleteChain(None) | Command::Flush(None) => resent.settle_all(table),
    }
    if counters.is_some() && !matches!(cmd, Command::Append { .. } | Command::Insert { .. }) {
        let text = &line[..offset.min(line.len())];
        return Err((
            NetfilterError::UnexpectedArgument(text.to_string()),
            Some(1),
        ));
    }
    let counters = counters.filter(|_| opts.counters);
    let none = |e| (e, None);
    match cmd {
        Command::Append { chain, mut rule } => {
            rule.counters = counters.unwrap_or_default();
            table
                .append_line(&chain, rule, rest.trim_start_matches([' ', '\t']))
                .map_err(none)
        }
        Command::Insert {
            chain,
            pos,
            mut rule,
        } => {
            rule.counters = counters.unwrap_or_default();
            table.insert(&chain, pos, rule).map_err(none)
        }
        Command::Delete { chain, which } => match which {
            DeleteWhich::Position(n) => table.delete_rule_at(&chain, n).map(drop).map_err(none),
            DeleteWhich::Spec(rule) => table.delete_rule(&chain, &rule).map(drop).map_err(none),
        },
        Command::NewChain(c) => table.new_chain(&c).map_err(none),
        Command::DeleteChain(Some(c)) => table.delete_chain(&c).map_err(none),
        Command::DeleteChain(None) => table.delete_user_chains().map_err(none),
        Command::Flush(Some(c)) => table.flush_chain(&c).map_err(none),
        Command::Flush(None) => {
            table.flush_all();
            Ok(())
        }
        Command::Policy { chain, policy } => {
            let p = Policy::from_name(&policy)
                .ok_or((NetfilterError::BadPolicy(policy.clone()), None))?;
            table.set_policy(&chain, p, None).map_err(none)
        }
    }
}

/// `[PACKETS:BYTES]` before a command: the counters, the command, and the command's offset in
/// characters.
fn split_counters(line: &str) -> Result<(Option<Counters>, &str, usize), Located> {
    match line.strip_prefix('[') {
        Some(_) => {
            let end = line
                .find(']')
                .ok_or((NetfilterError::BadCounters(line.to_string()), Some(1)))?;
            let text = &line[..=end];
            let c = parse_counters(text)
                .ok_or((NetfilterError::BadCounters(text.to_string()), Some(1)))?;
            Ok((
                Some(Counters::new(c.0, c.1)),
                &line[end + 1..],
                column_of(line, end + 1) - 1,
            ))
        }
        None => Ok((None, line, 0)),
    }
}

/// User chains declared again under `--noflush` whose flush is put off: each with how many of
/// its rules the lines since have re-sent, in order, with the same text and counters. Such a
/// chain still holds all its old rules. Before anything else touches it, and at COMMIT, it is
/// settled: cut to the re-sent rules, which is what the flush and the re-sent appends would
/// have made of it. A chain whose lines are all re-sent is never touched at all. Each is
/// held with the chain itself, which does not change until it is settled (a lookup per line
/// less).
#[derive(Default)]
struct Resent {
    declared: FastHashMap<String, (usize, Arc<Chain>)>,
    /// The chain the last re-sent line went to, with its count (lines come in runs per chain:
    /// a run needs no lookup). Its count in `declared` is stale until the run ends.
    run: Option<(Arc<Chain>, usize)>,
}

impl Resent {
    /// Whether `line` is the next rule of a declared chain, re-sent (then it is counted).
    fn matches(&mut self, line: &str, opts: RestoreOptions) -> bool {
        if self.declared.is_empty() {
            return false;
        }
        let Ok((counters, cmd, _)) = split_counters(line) else {
            return false;
        };
        let cmd = cmd.trim_start_matches([' ', '\t']);
        let Some(name) = cmd
            .strip_prefix("-A ")
            .and_then(|rest| rest.split(' ').next())
        else {
            return false;
        };
        if self.run.as_ref().is_none_or(|(c, _)| c.name != name) {
            self.end_run();
            let Some((next, chain)) = self.declared.get(name) else {
                return false;
            };
            self.run = Some((Arc::clone(chain), *next));
        }
        let Some((chain, next)) = &mut self.run else {
            return false;
        };
        let counters = counters.filter(|_| opts.counters).unwrap_or_default();
        let same = chain.lines.as_ref().and_then(|l| l.get(*next)) == Some(cmd)
            && chain
                .rules
                .get(*next)
                .is_some_and(|r| r.counters == counters);
        if same {
            *next += 1;
        }
        same
    }

    /// Writes the current run's count back.
    fn end_run(&mut self) {
        if let Some((chain, next)) = self.run.take()
            && let Some(entry) = self.declared.get_mut(&chain.name)
        {
            entry.0 = next;
        }
    }

    /// Settles chain `name` if it is declared (see [`Resent`]).
    fn settle(&mut self, table: &mut Table, name: &str) {
        self.end_run();
        if let Some((kept, chain)) = self.declared.remove(name) {
            drop(chain);
            table
                .truncate_chain(name, kept)
                .expect("a declared chain exists until it is settled");
        }
    }

    /// Settles the declared chains holding rules that jump or go to `target`, so that its
    /// reference count is the one the flushes would have left.
    fn settle_referrers(&mut self, table: &mut Table, target: &str) {
        if self.declared.is_empty() {
            return;
        }
        self.end_run();
        let mut from: Vec<String> = table
            .referrers(target)
            .filter(|c| self.declared.contains_key(*c))
            .map(str::to_string)
            .collect();
        from.sort();
        for c in from {
            self.settle(table, &c);
        }
    }

    /// Settles every declared chain, in name order.
    fn settle_all(&mut self, table: &mut Table) {
        self.end_run();
        let mut declared: Vec<(String, usize)> = self
            .declared
            .drain()
            .map(|(name, (kept, _))| (name, kept))
            .collect();
        declared.sort();
        for (name, kept) in declared {
            table
                .truncate_chain(&name, kept)
                .expect("a declared chain exists until it is settled");
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::netfilter::table::{Refs, add_ref};

    /// Rule lines over a nat table of three user chains, few enough that restores often
    /// re-send a chain's lines as they were.
    const ARGS: [&str; 8] = [
        "-j B",
        "-j C",
        "-p tcp -m tcp --dport 80 -j C",
        "-m comment --comment \"a b\" -j RETURN",
        "-j DNAT --to-destination 10.0.0.1",
        "-s 10.0.0.0/8 -j MARK --set-xmark 0x4000/0x4000",
        "-j ACCEPT",
        "-j A",
    ];
    const CHAINS: [&str; 4] = ["A", "B", "C", "OUTPUT"];

    fn line() -> impl Strategy<Value = String> {
        let chain = || prop::sample::select(&CHAINS[..3]);
        let any = prop::sample::select(&CHAINS[..]);
        let args = prop::sample::select(&ARGS[..]);
        let counters = prop_oneof![3 => Just(""), 1 => Just("[0:0] "), 1 => Just("[3:120] ")];
        prop_oneof![
            3 => chain().prop_map(|c| format!(":{c} - [0:0]")),
            8 => (counters, any.clone(), args.clone())
                .prop_map(|(n, c, a)| format!("{n}-A {c} {a}")),
            1 => (any.clone(), args).prop_map(|(c, a)| format!("-I {c} 1 {a}")),
            1 => any.clone().prop_map(|c| format!("-D {c} 1")),
            1 => any.prop_map(|c| format!("-F {c}")),
            1 => chain().prop_map(|c| format!("-X {c}")),
            1 => chain().prop_map(|c| format!("-N {c}")),
            // Expanded by `expand` into the chain's declaration and its lines now.
            6 => (chain(), 0..4usize, 0..ARGS.len(), 0..3usize)
                .prop_map(|(c, at, a, n)| format!("@resend {c} {at} {a} {n}")),
        ]
    }

    /// `@resend CHAIN AT ARGS COUNTERS` → `:CHAIN - [0:0]` and the chain's lines as they are
    /// in `r`, line `AT` (if any) replaced by `ARGS`, with no counters (0), `[0:0]` (1) or
    /// `[3:120]` (2) before each.
    fn expand(input: &str, r: &Ruleset) -> String {
        let mut out = String::new();
        for l in input.lines() {
            let Some(spec) = l.strip_prefix("@resend ") else {
                out.push_str(l);
                out.push('\n');
                continue;
            };
            let w: Vec<&str> = spec.split(' ').collect();
            let (name, at, args, n) = (
                w[0],
                w[1].parse::<usize>().unwrap(),
                w[2].parse::<usize>().unwrap(),
                w[3],
            );
            let prefix = ["", "[0:0] ", "[3:120] "][n.parse::<usize>().unwrap()];
            out.push_str(&format!(":{name} - [0:0]\n"));
            let chain = r.tables.values().next().and_then(|t| t.chain(name));
            let Some(lines) = chain.and_then(|c| c.lines.as_ref()) else {
                continue;
            };
            for i in 0..lines.len() {
                let line = if i == at {
                    format!("-A {name} {}", ARGS[args])
                } else {
                    lines.get(i).unwrap().to_string()
                };
                out.push_str(&format!("{prefix}{line}\n"));
            }
        }
        out
    }

    /// A nat section (sometimes two), with `--noflush` mostly and `--counters` at random.
    fn restore() -> impl Strategy<Value = (String, RestoreOptions)> {
        let section = prop::collection::vec(line(), 0..10)
            .prop_map(|lines| format!("*nat\n{}COMMIT\n", lines.join("\n") + "\n"));
        (
            prop::collection::vec(section, 1..3),
            prop::bool::weighted(0.9),
            any::<bool>(),
        )
            .prop_map(|(sections, noflush, counters)| {
                (sections.concat(), RestoreOptions { noflush, counters })
            })
    }

    /// The ruleset as a restore that flushes every declared chain at once would leave it: the
    /// same tables with no chain's lines kept.
    fn without_lines(r: &Ruleset) -> Ruleset {
        let mut r = r.clone();
        for t in r.tables.values_mut() {
            for c in t.builtin.iter_mut().chain(t.user.values_mut_unordered()) {
                std::sync::Arc::make_mut(c).lines = None;
            }
        }
        r
    }

    fn counted_refs(t: &Table) -> Refs {
        let mut refs = Refs::default();
        for c in t.chains() {
            for r in &c.rules {
                add_ref(&mut refs, &c.name, r);
            }
        }
        refs
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Leaving a re-sent chain as it is gives the verdict, the error, the rules and the
        /// counters that flushing it and adding the lines again gives; a chain's kept lines
        /// are always the lines of its rules; references always match the rules.
        #[test]
        fn resent_chains_end_as_flushed_and_refilled_chains(
            restores in prop::collection::vec(restore(), 1..12),
        ) {
            let base = "*nat\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n-A A -j B\n-A A -j C\n\
                        -A B -p tcp -m tcp --dport 80 -j C\n-A OUTPUT -j A\nCOMMIT\n";
            let mut lazy = Ruleset::parse(base).expect("a valid table");
            for (input, opts) in &restores {
                let input = &expand(input, &lazy);
                let mut eager = without_lines(&lazy);
                let want = eager.restore(input, *opts);
                let got = lazy.restore(input, *opts);
                prop_assert_eq!(&got, &want, "input:\n{}", input);
                prop_assert_eq!(&lazy, &eager, "input:\n{}", input);
                for t in lazy.tables.values() {
                    prop_assert_eq!(&t.refs, &counted_refs(t), "input:\n{}", input);
                    for c in t.chains() {
                        let Some(lines) = &c.lines else { continue };
                        prop_assert_eq!(lines.len(), c.rules.len(), "{}", c.name);
                        for (i, rule) in c.rules.iter().enumerate() {
                            let line = lines.get(i).expect("a line per rule");
                            let mut alone = Table::new(t.name());
                            for other in t.chains().filter(|o| !o.is_builtin()) {
                                alone.new_chain(&other.name).expect("a user chain");
                            }
                            rule_line(&mut alone, line, RestoreOptions::default(), &mut Resent::default())
                                .expect("a kept line parses");
                            let parsed = &alone.chain(&c.name).expect("chain").rules[0];
                            prop_assert!(parsed.same_spec(rule), "{}: {}", c.name, line);
                        }
                    }
                }
            }
        }
    }
}
