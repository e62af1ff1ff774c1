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
//! Simplified: the whole input is one transaction — on any error the ruleset is left as it
//! was, where iptables keeps the tables committed before the failing one. Tables change in
//! place under a journal (see `journal`) that undoes them on error.

use std::collections::btree_map::Entry;

use crate::netfilter::chain::Policy;
use crate::netfilter::command::{Command, DeleteWhich, parse_command};
use crate::netfilter::error::{NetfilterError, RestoreError};
use crate::netfilter::rule::Counters;
use crate::netfilter::ruleset::Ruleset;
use crate::netfilter::table::{CHAIN_NAME_MAX_LEN, Table, TableName};
use crate::netfilter::tokenize::tokenize;
use crate::netfilter::value::parse_counters;

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
                chain_line(table, line, rest, opts).map_err(|(k, c)| err(k, c))?;
            } else {
                rule_line(table, line, opts).map_err(|(k, c)| err(k, c))?;
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

type LineResult = Result<(), (NetfilterError, Option<usize>)>;

/// `:CHAIN POLICY [PACKETS:BYTES]`.
fn chain_line(table: &mut Table, line: &str, rest: &str, opts: RestoreOptions) -> LineResult {
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
        Some(false) if opts.noflush => table.flush_chain(name).map_err(at),
        _ => table.new_chain(name).map_err(at),
    }
}

/// `[PACKETS:BYTES] COMMAND …`.
fn rule_line(table: &mut Table, line: &str, opts: RestoreOptions) -> LineResult {
    let (counters, rest, offset) = match line.strip_prefix('[') {
        Some(_) => {
            let end = line
                .find(']')
                .ok_or((NetfilterError::BadCounters(line.to_string()), Some(1)))?;
            let text = &line[..=end];
            let c = parse_counters(text)
                .ok_or((NetfilterError::BadCounters(text.to_string()), Some(1)))?;
            (
                Some(Counters::new(c.0, c.1)),
                &line[end + 1..],
                column_of(line, end + 1) - 1,
            )
        }
        None => (None, line, 0),
    };
    let tokens = tokenize(rest).map_err(|(e, col)| (e, Some(col + offset)))?;
    let cmd = parse_command(&tokens).map_err(|(e, col)| (e, col.map(|c| c + offset)))?;
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
            table.append(&chain, rule).map_err(none)
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
