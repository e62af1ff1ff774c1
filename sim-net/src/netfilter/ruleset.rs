//! A namespace's IPv4 ruleset: the tables that exist. A table exists once something names it
//! (as the kernel loads `iptable_nat` on first use), and iptables-save prints only those.

use std::collections::BTreeMap;

use crate::netfilter::error::{NetfilterError, RestoreError};
use crate::netfilter::matches::Match;
use crate::netfilter::restore::RestoreOptions;
use crate::netfilter::table::{Table, TableName};
use crate::netfilter::target::Target;

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

    /// Whether a rule needs connection tracking, which the kernel then turns on in the
    /// namespace (the extension's `checkentry` calls `nf_ct_netns_get`): the `conntrack` and
    /// `state` matches, the NAT targets (DNAT, SNAT, MASQUERADE, REDIRECT), CONNMARK and
    /// `CT` without `--notrack`. Tables alone — even an empty nat table — and every other
    /// match or target (mark, addrtype, set, REJECT, NOTRACK...) leave it off.
    pub fn needs_conntrack(&self) -> bool {
        self.tables().any(|t| {
            t.chains().any(|c| {
                c.rules.iter().any(|r| {
                    r.matches
                        .iter()
                        .any(|m| matches!(m, Match::Conntrack(_) | Match::State(_)))
                        || matches!(
                            r.target,
                            Some(
                                Target::Dnat(_)
                                    | Target::Snat(_)
                                    | Target::Masquerade(_)
                                    | Target::Redirect(_)
                                    | Target::Connmark(_)
                                    | Target::Ct { notrack: false }
                            )
                        )
                })
            })
        })
    }

    /// [`Table::validate`] for every table.
    pub fn validate(&self) -> Result<(), NetfilterError> {
        self.tables().try_for_each(Table::validate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_some_rules_turn_conntrack_on() {
        let needs = |text: &str| Ruleset::parse(text).unwrap().needs_conntrack();
        assert!(!needs(""));
        assert!(!needs(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
        ));
        assert!(!needs(
            "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp -j REJECT --reject-with tcp-reset\n-A FORWARD -m mark --mark 0x1 -j DROP\nCOMMIT\n"
        ));
        assert!(!needs(
            "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j NOTRACK\nCOMMIT\n"
        ));
        assert!(needs(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n"
        ));
        assert!(needs(
            "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n"
        ));
    }
}
