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

use crate::netfilter::chain::{Chain, Policy, RuleLines};
use crate::netfilter::command::{Command, DeleteWhich, parse_command};
use crate::netfilter::error::{NetfilterError, RestoreError};
use crate::netfilter::rule::{Counters, Rule};
use crate::netfilter::ruleset::Ruleset;
use crate::netfilter::table::{CHAIN_NAME_MAX_LEN, Table, TableName};
use crate::netfilter::tokenize::{Token, lines, tokenize_into};
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
        let mut tokens = Vec::with_capacity(32);
        let mut last_line = 0;
        for (idx, line) in lines(input).enumerate() {
            let lineno = idx + 1;
            last_line = lineno;
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
                let end = line.as_ptr() as usize - input.as_ptr() as usize + line.len();
                let rest = input.get(end + 1..).unwrap_or("");
                table.reserve_chains(declared_chains(rest));
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
                rule_line(table, line, opts, &mut resent, &mut tokens)
                    .map_err(|(k, c)| err(k, c))?;
            }
        }
        if let Some(t) = current {
            return Err(RestoreError {
                line: last_line + 1,
                column: None,
                kind: NetfilterError::MissingCommit(t.to_string()),
            });
        }
        Ok(())
    }
}

/// How many chain declarations (`:` lines) open the table section that starts at `rest`:
/// room is made for that many chains at once rather than as they come (kube-proxy's first
/// sync declares 120,000).
fn declared_chains(rest: &str) -> usize {
    lines(rest).take_while(|l| l.starts_with(':')).count()
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
    // Columns are worked out only for errors.
    let col = |w: &str| column_of(line, w.as_ptr() as usize - line.as_ptr() as usize);
    let mut fields = rest.split([' ', '\t']).filter(|w| !w.is_empty());
    let bad_line = || (NetfilterError::BadChainLine(line.to_string()), Some(1));
    let name = fields.next().ok_or_else(bad_line)?;
    let policy = fields.next().ok_or_else(bad_line)?;
    let counters_text = fields.next();
    if let Some(extra) = fields.next() {
        return Err((
            NetfilterError::UnexpectedArgument(extra.to_string()),
            Some(col(extra)),
        ));
    }
    let counters = match counters_text {
        Some(text) => Some(
            parse_counters(text)
                .map(|(p, b)| Counters::new(p, b))
                .ok_or_else(|| {
                    (
                        NetfilterError::BadCounters(text.to_string()),
                        Some(col(text)),
                    )
                })?,
        ),
        None => None,
    };
    if name.len() > CHAIN_NAME_MAX_LEN {
        return Err((
            NetfilterError::BadChainName {
                name: name.to_string(),
                reason: "at most 28 characters (XT_EXTENSION_MAXNAMELEN - 1)",
            },
            Some(col(name)),
        ));
    }
    let at = |e| (e, Some(col(name)));
    match table.chain(name).map(|c| c.is_builtin()) {
        Some(true) => {
            if policy == "-" {
                return Ok(());
            }
            let p = Policy::from_name(policy).ok_or_else(|| {
                (
                    NetfilterError::BadPolicy(policy.to_string()),
                    Some(col(policy)),
                )
            })?;
            let counters = if opts.counters {
                counters.ok_or_else(|| {
                    (
                        NetfilterError::MissingCounters(name.to_string()),
                        Some(col(name)),
                    )
                })?
            } else {
                Counters::default()
            };
            table.set_policy(name, p, Some(counters)).map_err(at)
        }
        Some(false) | None if policy != "-" => Err((
            NetfilterError::NotBuiltin(name.to_string()),
            Some(col(policy)),
        )),
        Some(false) if opts.noflush => {
            resent.settle(table, name);
            match table.user.get(name).filter(|c| c.lines.is_some()) {
                Some(chain) => {
                    resent.declare(name, Arc::clone(chain));
                    Ok(())
                }
                None => table.flush_chain(name).map_err(at),
            }
        }
        _ => table.new_chain(name).map_err(at),
    }
}

/// `[PACKETS:BYTES] COMMAND …`, split into `tokens`.
fn rule_line<'a>(
    table: &mut Table,
    line: &'a str,
    opts: RestoreOptions,
    resent: &mut Resent,
    tokens: &mut Vec<Token<'a>>,
) -> LineResult {
    let (counters, rest, offset) = split_counters(line)?;
    tokenize_into(rest, tokens).map_err(|(e, col)| (e, Some(col + offset)))?;
    let cmd = parse_command(tokens).map_err(|(e, col)| (e, col.map(|c| c + offset)))?;
    match &cmd {
        Command::Append { chain, .. } if resent.holds(chain) => {}
        Command::Append { chain, .. }
        | Command::Insert { chain, .. }
        | Command::Delete { chain, .. }
        | Command::Flush(Some(chain))
        | Command::Policy { chain, .. } => resent.settle(table, chain),
        Command::NewChain(_) => {}
        // Deleting a chain asks whether rules still jump to it.
        Command::DeleteChain(Some(chain)) => resent.settle_for_delete(table, chain),
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
            let text = rest.trim_start_matches([' ', '\t']);
            if resent.holds(chain) {
                resent.append(table, chain, rule, text).map_err(none)
            } else {
                table.append_line(chain, rule, text).map_err(none)
            }
        }
        Command::Insert {
            chain,
            pos,
            mut rule,
        } => {
            rule.counters = counters.unwrap_or_default();
            table.insert(chain, pos, rule).map_err(none)
        }
        Command::Delete { chain, which } => match which {
            DeleteWhich::Position(n) => table.delete_rule_at(chain, n).map(drop).map_err(none),
            DeleteWhich::Spec(rule) => table.delete_rule(chain, &rule).map(drop).map_err(none),
        },
        Command::NewChain(c) => table.new_chain(c).map_err(none),
        Command::DeleteChain(Some(c)) => table.delete_chain(c).map_err(none),
        Command::DeleteChain(None) => table.delete_user_chains().map_err(none),
        Command::Flush(Some(c)) => table.flush_chain(c).map_err(none),
        Command::Flush(None) => {
            table.flush_all();
            Ok(())
        }
        Command::Policy { chain, policy } => {
            let p = Policy::from_name(policy)
                .ok_or_else(|| (NetfilterError::BadPolicy(policy.to_string()), None))?;
            table.set_policy(chain, p, None).map_err(none)
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
                .ok_or_else(|| (NetfilterError::BadCounters(line.to_string()), Some(1)))?;
            let text = &line[..=end];
            let c = parse_counters(text)
                .ok_or_else(|| (NetfilterError::BadCounters(text.to_string()), Some(1)))?;
            Ok((
                Some(Counters::new(c.0, c.1)),
                &line[end + 1..],
                column_of(line, end + 1) - 1,
            ))
        }
        None => Ok((None, line, 0)),
    }
}

/// User chains declared again under `--noflush` whose flush is put off. Such a chain still
/// holds all its old rules while the lines that follow are matched against its old lines:
/// while they re-send them in order (same text, same counters) only a count moves; once they
/// differ, the chain's new content is planned as runs of old rules kept and new rules parsed,
/// a line that equals one of the next few old lines counting as the old lines before it
/// deleted. Before anything else touches a declared chain, and at COMMIT, it is settled: it
/// becomes what the flush and the appends would have made of it, with the jump references of
/// its dropped rules removed and of its new ones added. A chain whose lines are all re-sent is
/// never touched at all; a Service added to kube-proxy's `KUBE-SERVICES` costs the parse of
/// its own line and a copy of the chain.
#[derive(Default)]
struct Resent {
    declared: Vec<Declared>,
    by_name: FastHashMap<String, usize>,
    /// The declared chain the last line went to (lines come in runs per chain: a run needs
    /// no lookup).
    run: Option<usize>,
}

/// One declared chain.
struct Declared {
    /// The chain as declared, unchanged in the table until settled.
    chain: Arc<Chain>,
    /// Its old lines consumed so far (matched, or skipped as deleted).
    next: usize,
    /// Its new content once the lines stopped re-sending the old ones in order; `None` while
    /// they are exactly its first `next` old lines.
    plan: Option<Vec<Piece>>,
    settled: bool,
}

/// Part of a declared chain's new content.
enum Piece {
    /// Old rules kept, by index.
    Old(std::ops::Range<usize>),
    /// A rule parsed from a new line, and the line.
    New(Box<(Rule, String)>),
}

/// How many old lines a line may skip to match: an edit of kube-proxy's `KUBE-SERVICES`
/// deletes one Service's lines, a few at most.
const SKIP_WINDOW: usize = 8;

impl Declared {
    /// Whether old line `i` is `cmd` with `counters`.
    fn old_is(&self, i: usize, cmd: &str, counters: Counters) -> bool {
        self.chain.lines.as_ref().and_then(|l| l.get(i)) == Some(cmd)
            && self
                .chain
                .rules
                .get(i)
                .is_some_and(|r| r.counters == counters)
    }

    /// The plan, started from the old lines matched so far.
    fn plan(&mut self) -> &mut Vec<Piece> {
        let next = self.next;
        self.plan.get_or_insert_with(|| vec![Piece::Old(0..next)])
    }
}

impl Resent {
    fn declare(&mut self, name: &str, chain: Arc<Chain>) {
        self.by_name.insert(name.to_string(), self.declared.len());
        self.declared.push(Declared {
            chain,
            next: 0,
            plan: None,
            settled: false,
        });
    }

    /// The unsettled declared chain `name`.
    fn find(&self, name: &str) -> Option<usize> {
        if self.declared.is_empty() {
            return None;
        }
        if let Some(i) = self.run
            && *self.declared[i].chain.name == *name
        {
            return Some(i);
        }
        self.by_name
            .get(name)
            .copied()
            .filter(|&i| !self.declared[i].settled)
    }

    /// Whether `line` re-sends an old line of a declared chain (then it is taken).
    fn matches(&mut self, line: &str, opts: RestoreOptions) -> bool {
        if self.by_name.is_empty() {
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
        let Some(i) = self.find(name) else {
            return false;
        };
        self.run = Some(i);
        let counters = counters.filter(|_| opts.counters).unwrap_or_default();
        let d = &mut self.declared[i];
        if d.plan.is_none() && d.old_is(d.next, cmd, counters) {
            d.next += 1;
            return true;
        }
        let Some(at) = (d.next..d.next + SKIP_WINDOW).find(|&j| d.old_is(j, cmd, counters)) else {
            return false;
        };
        let plan = d.plan();
        match plan.last_mut() {
            Some(Piece::Old(r)) if r.end == at => r.end = at + 1,
            _ => plan.push(Piece::Old(at..at + 1)),
        }
        d.next = at + 1;
        true
    }

    /// Whether chain `name` is declared and unsettled.
    fn holds(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// `-A NAME RULE` as the new line `line` of declared chain `name`.
    fn append(
        &mut self,
        table: &Table,
        name: &str,
        rule: Rule,
        line: &str,
    ) -> Result<(), NetfilterError> {
        let i = self
            .find(name)
            .expect("appends go here only to declared chains");
        let d = &mut self.declared[i];
        crate::netfilter::check::check_rule(table.name(), &d.chain, &rule)?;
        d.plan()
            .push(Piece::New(Box::new((rule, line.to_string()))));
        Ok(())
    }

    /// Settles chain `name` if it is declared (see [`Resent`]).
    fn settle(&mut self, table: &mut Table, name: &str) {
        if let Some(i) = self.find(name) {
            self.settle_at(table, i);
        }
    }

    fn settle_at(&mut self, table: &mut Table, i: usize) {
        self.run = None;
        let d = &mut self.declared[i];
        d.settled = true;
        let name = d.chain.name.clone();
        let Some(plan) = d.plan.take() else {
            table
                .truncate_chain(&name, d.next)
                .expect("a declared chain exists until it is settled");
            return;
        };
        let old = Arc::clone(&d.chain);
        let old_lines = old
            .lines
            .as_ref()
            .expect("declared chains have their lines");
        let mut rules = Vec::new();
        let mut lines = RuleLines::default();
        let mut kept = vec![false; old.rules.len()];
        let mut added = Vec::new();
        for piece in plan {
            match piece {
                Piece::Old(r) => {
                    for j in r {
                        kept[j] = true;
                        rules.push(old.rules[j].clone());
                        lines.push(old_lines.get(j).expect("a line per rule"));
                    }
                }
                Piece::New(new) => {
                    let (rule, line) = *new;
                    added.push(rules.len());
                    rules.push(Arc::new(rule));
                    lines.push(&line);
                }
            }
        }
        let gone = old.rules.iter().zip(&kept).filter(|(_, k)| !**k);
        table
            .replace_rules(&name, rules, Some(lines), gone.map(|(r, _)| &**r), &added)
            .expect("a declared chain exists until it is settled");
    }

    /// Settles what a deletion of chain `target` must see as it is: `target` itself, the
    /// declared chains whose old rules jump or go to it, and those with new rules.
    fn settle_for_delete(&mut self, table: &mut Table, target: &str) {
        self.settle(table, target);
        let from: Vec<usize> = table
            .referrers(target)
            .filter_map(|c| self.find(c))
            .chain((0..self.declared.len()).filter(|&i| self.declared[i].plan.is_some()))
            .collect();
        for i in from {
            if !self.declared[i].settled {
                self.settle_at(table, i);
            }
        }
    }

    /// Settles every declared chain, in the order declared.
    fn settle_all(&mut self, table: &mut Table) {
        for i in 0..self.declared.len() {
            if !self.declared[i].settled {
                self.settle_at(table, i);
            }
        }
        self.declared.clear();
        self.by_name.clear();
        self.run = None;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

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
            6 => (chain(), 0..4usize, 0..ARGS.len(), 0..3usize, 0..4usize)
                .prop_map(|(c, at, a, n, edit)| format!("@resend {c} {at} {a} {n} {edit}")),
        ]
    }

    /// `@resend CHAIN AT ARGS COUNTERS EDIT` → `:CHAIN - [0:0]` and the chain's lines as they
    /// are in `r`, with no counters (0), `[0:0]` (1) or `[3:120]` (2) before each, and line
    /// `AT` (if any) replaced by `ARGS` (EDIT 0), preceded by a new line of `ARGS` (1),
    /// deleted (2), or moved to the end (3).
    fn expand(input: &str, r: &Ruleset) -> String {
        let mut out = String::new();
        for l in input.lines() {
            let Some(spec) = l.strip_prefix("@resend ") else {
                out.push_str(l);
                out.push('\n');
                continue;
            };
            let w: Vec<&str> = spec.split(' ').collect();
            let edit: usize = w[4].parse().unwrap();
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
            let mut sent: Vec<String> = (0..lines.len())
                .map(|i| lines.get(i).unwrap().to_string())
                .collect();
            let new = format!("-A {name} {}", ARGS[args]);
            if at < sent.len() {
                match edit {
                    0 => sent[at] = new,
                    1 => sent.insert(at, new),
                    2 => {
                        sent.remove(at);
                    }
                    _ => {
                        let moved = sent.remove(at);
                        sent.push(moved);
                    }
                }
            }
            for line in sent {
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
                    prop_assert_eq!(&t.refs, &t.counted_refs(), "input:\n{}", input);
                    for c in t.chains() {
                        let Some(lines) = &c.lines else { continue };
                        prop_assert_eq!(lines.len(), c.rules.len(), "{}", c.name);
                        for (i, rule) in c.rules.iter().enumerate() {
                            let line = lines.get(i).expect("a line per rule");
                            let mut alone = Table::new(t.name());
                            for other in t.chains().filter(|o| !o.is_builtin()) {
                                alone.new_chain(&other.name).expect("a user chain");
                            }
                            rule_line(&mut alone, line, RestoreOptions::default(), &mut Resent::default(), &mut Vec::new())
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
