//! A namespace's IPv4 ruleset: the tables that exist. A table exists once something names it
//! (as the kernel loads `iptable_nat` on first use), and iptables-save prints only those.

use std::collections::BTreeMap;

use crate::netfilter::error::{NetfilterError, RestoreError};
use crate::netfilter::restore::RestoreOptions;
use crate::netfilter::table::{Table, TableName};

/// All tables of one network namespace, in iptables-save's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    pub(crate) tables: BTreeMap<TableName, Table>,
}

impl Ruleset {
    /// No tables at all (a fresh namespace before any iptables command).
    pub fn new() -> Self {
        Ruleset::default()
    }

    /// The ruleset an iptables-save dump describes: restored into an empty ruleset with
    /// `--counters`, so `Ruleset::parse(&r.save_with(SaveOptions { counters: true, .. }))`
    /// gives back `r`.
    pub fn parse(text: &str) -> Result<Ruleset, RestoreError> {
        let mut r = Ruleset::new();
        r.restore(
            text,
            RestoreOptions {
                noflush: false,
                counters: true,
            },
        )?;
        Ok(r)
    }

    pub fn table(&self, name: TableName) -> Option<&Table> {
        self.tables.get(&name)
    }

    /// The table, created with empty built-in chains if it does not exist yet.
    pub fn table_mut(&mut self, name: TableName) -> &mut Table {
        self.tables.entry(name).or_insert_with(|| Table::new(name))
    }

    /// The tables that exist, in iptables-save's order.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.values()
    }

    /// [`Table::validate`] for every table.
    pub fn validate(&self) -> Result<(), NetfilterError> {
        self.tables().try_for_each(Table::validate)
    }
}
