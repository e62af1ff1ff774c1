//! The CNI plugins' rules in a node's `nat` table, and the `iptables-restore` text of what
//! each plugin run changes.
//!
//! The plugins drive iptables through `go-iptables` one command at a time, with
//! "unique" semantics (`AppendUnique`, `InsertUnique`: check first, add only if missing).
//! [`NatTable`] remembers what they have installed so those checks come out as on a real
//! node, and every change is also written as `iptables-restore --noflush` text: chain
//! declarations first (`:CHAIN - [0:0]`, only for chains that did not exist), then the
//! commands in the order the plugin issued them (`-A`, `-I CHAIN 1`, `-D`, `-F`, `-X`).
//! Built-in chains are never declared, so loading the text flushes nothing.
//!
//! Rules are kept in the canonical form `iptables-save` prints — addresses with their prefix
//! length, `-s`/`-d` before `-p`, the implicit `-m tcp` after `-p tcp` with `--dport`,
//! `--dports` for multiport's `--destination-ports`, strings quoted by `xtables_save_string`'s
//! rules — so the text is byte-comparable with an `iptables-save` dump of the same node.
//! Only the nat table is tracked (the bridge and portmap plugins touch nothing else here).

use std::collections::BTreeMap;

/// The nat table's built-in chains, in `iptables-save` order.
pub const BUILTIN_CHAINS: [&str; 4] = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"];

/// `xtables_save_string`: a value of only `[A-Za-z0-9_-]` as is, else double-quoted with `"`,
/// `\` and `'` escaped.
pub fn save_string(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        return value.to_string();
    }
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '\'') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// The nat table as far as CNI plugins have written it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatTable {
    /// Rules per chain, in order; built-in chains appear once something is added to them.
    chains: BTreeMap<String, Vec<String>>,
}

/// The `iptables-restore` text of one plugin run, built up command by command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restore {
    declarations: Vec<String>,
    commands: Vec<String>,
}

impl Restore {
    pub fn is_empty(&self) -> bool {
        self.declarations.is_empty() && self.commands.is_empty()
    }

    /// Appends another run's changes after this one's.
    pub fn extend(&mut self, other: Restore) {
        self.declarations.extend(other.declarations);
        self.commands.extend(other.commands);
    }

    /// `*nat` … `COMMIT`, or the empty string when nothing changed.
    pub fn render(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut s = String::from("*nat\n");
        for d in self.declarations.iter().chain(&self.commands) {
            s.push_str(d);
            s.push('\n');
        }
        s.push_str("COMMIT\n");
        s
    }
}

fn is_builtin(chain: &str) -> bool {
    BUILTIN_CHAINS.contains(&chain)
}

impl NatTable {
    pub fn new() -> Self {
        NatTable::default()
    }

    pub fn chain_exists(&self, chain: &str) -> bool {
        is_builtin(chain) || self.chains.contains_key(chain)
    }

    /// The rules of a chain, in order (empty for a missing chain).
    pub fn rules(&self, chain: &str) -> &[String] {
        self.chains
            .get(chain)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// `EnsureChain` / `NewChain` when missing.
    pub fn ensure_chain(&mut self, r: &mut Restore, chain: &str) {
        if !self.chain_exists(chain) {
            self.chains.insert(chain.to_string(), Vec::new());
            r.declarations.push(format!(":{chain} - [0:0]"));
        }
    }

    fn chain_mut(&mut self, chain: &str) -> &mut Vec<String> {
        self.chains.entry(chain.to_string()).or_default()
    }

    /// `AppendUnique`.
    pub fn append_unique(&mut self, r: &mut Restore, chain: &str, rule: &str) {
        if !self.rules(chain).iter().any(|x| x == rule) {
            self.chain_mut(chain).push(rule.to_string());
            r.commands.push(format!("-A {chain} {rule}"));
        }
    }

    /// `InsertUnique` at position 1 (`prepend`) or at the end.
    pub fn insert_unique(&mut self, r: &mut Restore, chain: &str, rule: &str, prepend: bool) {
        if self.rules(chain).iter().any(|x| x == rule) {
            return;
        }
        if prepend {
            self.chain_mut(chain).insert(0, rule.to_string());
            r.commands.push(format!("-I {chain} 1 {rule}"));
        } else {
            self.chain_mut(chain).push(rule.to_string());
            r.commands.push(format!("-A {chain} {rule}"));
        }
    }

    /// `Delete` of the first identical rule, if there is one.
    pub fn delete_rule(&mut self, r: &mut Restore, chain: &str, rule: &str) {
        if let Some(rules) = self.chains.get_mut(chain)
            && let Some(i) = rules.iter().position(|x| x == rule)
        {
            rules.remove(i);
            r.commands.push(format!("-D {chain} {rule}"));
        }
    }

    /// `ClearChain` of an existing chain. (go-iptables would create a missing chain, which
    /// the teardowns here delete right after; a missing chain is left alone instead.)
    pub fn clear_chain(&mut self, r: &mut Restore, chain: &str) {
        if let Some(rules) = self.chains.get_mut(chain) {
            rules.clear();
            r.commands.push(format!("-F {chain}"));
        }
    }

    /// `DeleteChain` of an existing user chain.
    pub fn delete_chain(&mut self, r: &mut Restore, chain: &str) {
        if !is_builtin(chain) && self.chains.remove(chain).is_some() {
            r.commands.push(format!("-X {chain}"));
        }
    }

    /// The table as `iptables-save -t nat` prints it (built-in chains with policy ACCEPT and
    /// zero counters, then user chains by name).
    pub fn save(&self) -> String {
        let mut s = String::from("*nat\n");
        let user: Vec<&String> = self.chains.keys().filter(|c| !is_builtin(c)).collect();
        for c in BUILTIN_CHAINS {
            s.push_str(&format!(":{c} ACCEPT [0:0]\n"));
        }
        for c in &user {
            s.push_str(&format!(":{c} - [0:0]\n"));
        }
        let order = BUILTIN_CHAINS
            .iter()
            .copied()
            .chain(user.iter().map(|c| c.as_str()));
        for c in order {
            for rule in self.rules(c) {
                s.push_str(&format!("-A {c} {rule}\n"));
            }
        }
        s.push_str("COMMIT\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_like_iptables_save() {
        assert_eq!(save_string("CNI-abc_1"), "CNI-abc_1");
        assert_eq!(save_string("a b"), "\"a b\"");
        assert_eq!(
            save_string(r#"name: "n" id: "c""#),
            r#""name: \"n\" id: \"c\"""#
        );
        assert_eq!(save_string("it's"), r#""it\'s""#);
        assert_eq!(save_string(""), "\"\"");
    }

    #[test]
    fn unique_semantics_and_text() {
        let mut t = NatTable::new();
        let mut r = Restore::default();
        t.ensure_chain(&mut r, "CNI-X");
        t.ensure_chain(&mut r, "CNI-X");
        t.append_unique(&mut r, "CNI-X", "-j ACCEPT");
        t.append_unique(&mut r, "CNI-X", "-j ACCEPT");
        t.insert_unique(&mut r, "POSTROUTING", "-j CNI-X", true);
        assert_eq!(
            r.render(),
            "*nat\n:CNI-X - [0:0]\n-A CNI-X -j ACCEPT\n-I POSTROUTING 1 -j CNI-X\nCOMMIT\n"
        );
        let mut d = Restore::default();
        t.delete_rule(&mut d, "POSTROUTING", "-j CNI-X");
        t.clear_chain(&mut d, "CNI-X");
        t.delete_chain(&mut d, "CNI-X");
        t.delete_chain(&mut d, "CNI-X");
        assert_eq!(
            d.render(),
            "*nat\n-D POSTROUTING -j CNI-X\n-F CNI-X\n-X CNI-X\nCOMMIT\n"
        );
        assert_eq!(
            t.save(),
            "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             :POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
        );
    }
}
