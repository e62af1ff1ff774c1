//! One table (`raw`, `mangle`, `nat`, `filter`, `security`): its built-in chains in hook order,
//! its user chains by name, and the chain operations of `iptables -N/-X/-F/-A/-I/-D/-P`.
//!
//! User chains are kept sorted by name (byte order), which is the order iptables-save prints
//! them in: libiptc inserts user chains alphabetically, and iptables-nft-save v1.8.9 prints
//! them the same way (checked against both). Chains are shared copy-on-write (`Arc`), so a
//! restore that touches a few chains of a large table copies only those. The table counts the
//! rules that jump to each chain, as the kernel does, so `-X` of a referenced chain fails, and
//! keeps which chains they sit in, so the COMMIT checks can walk from a chain back to the
//! built-in chains. A restore changes a table in place under a [`Journal`] that can undo it.

use std::fmt;
use std::sync::Arc;

use sim_core::hash::FastHashMap;

use crate::netfilter::chain::{Chain, ChainKind, Hook, Policy, RuleLines};
use crate::netfilter::error::NetfilterError;
use crate::netfilter::journal::Journal;
use crate::netfilter::rule::{Counters, Rule};
use crate::netfilter::user_chains::UserChains;

/// The IPv4 tables. The declaration order is the order iptables-save prints them in: the
/// fixed order of `enum nft_table_type` in iptables/nft.h (mangle, security, raw, filter, nat),
/// as iptables-nft-save v1.8.9 prints. (iptables-legacy-save instead follows
/// `/proc/net/ip_tables_names`, i.e. the reverse of the order the kernel modules loaded.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableName {
    Mangle,
    Security,
    Raw,
    Filter,
    Nat,
}

impl TableName {
    pub const ALL: [TableName; 5] = [
        TableName::Mangle,
        TableName::Security,
        TableName::Raw,
        TableName::Filter,
        TableName::Nat,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            TableName::Raw => "raw",
            TableName::Mangle => "mangle",
            TableName::Nat => "nat",
            TableName::Filter => "filter",
            TableName::Security => "security",
        }
    }

    pub fn from_name(s: &str) -> Option<TableName> {
        TableName::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The table's built-in chains in hook order (`iptable_*.c` `valid_hooks`).
    pub fn builtin_hooks(&self) -> &'static [Hook] {
        use Hook::*;
        match self {
            TableName::Raw => &[Prerouting, Output],
            TableName::Mangle => &[Prerouting, Input, Forward, Output, Postrouting],
            TableName::Nat => &[Prerouting, Input, Output, Postrouting],
            TableName::Filter | TableName::Security => &[Input, Forward, Output],
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `XT_EXTENSION_MAXNAMELEN - 1`: the longest chain name.
pub const CHAIN_NAME_MAX_LEN: usize = 28;

/// Target names a user chain may not take (iptables: "chain name may not clash with target name").
const RESERVED_CHAIN_NAMES: [&str; 15] = [
    "ACCEPT",
    "DROP",
    "RETURN",
    "QUEUE",
    "REJECT",
    "DNAT",
    "SNAT",
    "MASQUERADE",
    "REDIRECT",
    "MARK",
    "CONNMARK",
    "LOG",
    "NOTRACK",
    "CT",
    "NFQUEUE",
];

/// Whether `s` holds whitespace or a control character (byte by byte when it is ASCII:
/// there those are the bytes up to the space, and DEL).
fn has_space_or_control(s: &str) -> bool {
    if s.is_ascii() {
        s.bytes().any(|b| b <= b' ' || b == 0x7f)
    } else {
        s.chars().any(|c| c.is_whitespace() || c.is_control())
    }
}

/// Whether `name` can be a user chain's name.
pub(crate) fn check_chain_name(name: &str) -> Result<(), NetfilterError> {
    let bad = |reason| {
        Err(NetfilterError::BadChainName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        bad("empty")
    } else if name.len() > CHAIN_NAME_MAX_LEN {
        bad("at most 28 characters (XT_EXTENSION_MAXNAMELEN - 1)")
    } else if name.starts_with('-') || name.starts_with('!') {
        bad("must not start with '-' or '!'")
    } else if has_space_or_control(name) {
        bad("must not contain whitespace")
    } else if RESERVED_CHAIN_NAMES.contains(&name) {
        bad("clashes with a target name")
    } else {
        Ok(())
    }
}

/// For each chain name, the chains holding rules that jump (`-j`) or go (`-g`) to it, with
/// how many such rules each holds. Looked up per rule added; iterated only where the order
/// cannot reach an output. The names are shared with the rules' targets and the chains.
pub(crate) type Refs = FastHashMap<Arc<str>, Referrers>;

/// The chains holding rules that jump or go to one chain, each with how many such rules it
/// holds. Mostly one chain (each of kube-proxy's 100,000 endpoint chains is entered from its
/// Service's chain only), which is kept without a map of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Referrers {
    One(Arc<str>, u32),
    /// Two or more.
    Many(FastHashMap<Arc<str>, u32>),
}

impl Referrers {
    /// One rule more in chain `from`.
    fn add(&mut self, from: &Arc<str>) {
        match self {
            Referrers::One(name, n) if **name == **from => *n += 1,
            Referrers::One(name, n) => {
                let map = FastHashMap::from_iter([(Arc::clone(name), *n), (Arc::clone(from), 1)]);
                *self = Referrers::Many(map);
            }
            Referrers::Many(map) => match map.get_mut(&**from) {
                Some(n) => *n += 1,
                None => {
                    map.insert(Arc::clone(from), 1);
                }
            },
        }
    }

    /// One rule fewer in chain `from`; `false` when no rule is left.
    fn drop_one(&mut self, from: &str) -> bool {
        match self {
            Referrers::One(name, n) if **name == *from => {
                *n -= 1;
                *n > 0
            }
            Referrers::One(..) => true,
            Referrers::Many(map) => {
                if let Some(n) = map.get_mut(from) {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(from);
                    }
                }
                if map.len() == 1 {
                    let (name, n) = map.drain().next().expect("one left");
                    *self = Referrers::One(name, n);
                }
                true
            }
        }
    }

    /// How many rules in all.
    fn total(&self) -> u32 {
        match self {
            Referrers::One(_, n) => *n,
            Referrers::Many(map) => map.values().sum(),
        }
    }

    /// The chains, in no particular order.
    fn names(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Referrers::One(name, _) => (Some(&**name), None),
            Referrers::Many(map) => (None, Some(map.keys().map(|k| &**k))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

/// One table.
#[derive(Debug, Clone)]
pub struct Table {
    name: TableName,
    pub(crate) builtin: Vec<Arc<Chain>>,
    pub(crate) user: UserChains,
    pub(crate) refs: Refs,
    /// The chains and rules have passed [`Table::validate`] and hold no loop at all (not even
    /// one unreachable from the built-in chains) since the last change of a rule or chain.
    pub(crate) verified: bool,
    /// The open restore's record of what it changed, to check and to undo.
    pub(crate) journal: Option<Box<Journal>>,
}

/// Tables are equal when their chains are: the bookkeeping follows from them.
impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.builtin == other.builtin && self.user == other.user
    }
}

impl Eq for Table {}

impl Table {
    /// A table as the kernel creates it: its built-in chains, empty, policy ACCEPT.
    pub fn new(name: TableName) -> Self {
        Table {
            name,
            builtin: name
                .builtin_hooks()
                .iter()
                .map(|&h| Arc::new(Chain::builtin(h)))
                .collect(),
            user: UserChains::default(),
            refs: Refs::default(),
            verified: true,
            journal: None,
        }
    }

    pub fn name(&self) -> TableName {
        self.name
    }

    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.builtin
            .iter()
            .find(|c| *c.name == *name)
            .or_else(|| self.user.get(name))
            .map(|c| &**c)
    }

    /// Built-in chains in hook order, then user chains by name: iptables-save's order.
    pub fn chains(&self) -> impl Iterator<Item = &Chain> {
        self.builtin.iter().chain(self.user.values()).map(|c| &**c)
    }

    /// The built-in chain on `hook`, if this table has one.
    pub fn builtin_chain(&self, hook: Hook) -> Option<&Chain> {
        self.builtin
            .iter()
            .find(|c| c.hook() == Some(hook))
            .map(|c| &**c)
    }

    pub fn user_chain_count(&self) -> usize {
        self.user.len()
    }

    pub fn rule_count(&self) -> usize {
        self.chains().map(|c| c.rules.len()).sum()
    }

    /// How many rules jump or go to `chain`.
    pub fn references(&self, chain: &str) -> u32 {
        self.refs.get(chain).map_or(0, Referrers::total)
    }

    /// The chains holding rules that jump or go to `chain`.
    pub(crate) fn referrers(&self, chain: &str) -> impl Iterator<Item = &str> {
        self.refs.get(chain).into_iter().flat_map(Referrers::names)
    }

    /// Notes that a rule or chain is about to change: the table needs checking again, and an
    /// open journal keeps the chain as it was.
    fn changing(&mut self, name: &str) {
        self.verified = false;
        self.keep(name);
    }

    /// An open journal keeps user chain `name` as it was before its first change.
    fn keep(&mut self, name: &str) {
        if let Some(j) = &mut self.journal {
            j.keep(name, &self.user);
        }
    }

    /// A chain for writing (copying it first if a snapshot shares it).
    fn chain_mut(&mut self, name: &str) -> Result<&mut Chain, NetfilterError> {
        self.keep(name);
        chain_in(&mut self.builtin, &mut self.user, name)
    }

    /// Makes room for `n` more user chains and chains jumped to.
    pub(crate) fn reserve_chains(&mut self, n: usize) {
        self.user.reserve(n);
        self.refs.reserve(n);
    }

    /// `iptables -N NAME`.
    pub fn new_chain(&mut self, name: &str) -> Result<(), NetfilterError> {
        check_chain_name(name)?;
        if self.chain(name).is_some() {
            return Err(NetfilterError::ChainExists(name.to_string()));
        }
        self.changing(name);
        self.user.insert(Arc::new(Chain::user(name)));
        Ok(())
    }

    /// `iptables -X NAME`: the chain must be a user chain, empty and unreferenced.
    pub fn delete_chain(&mut self, name: &str) -> Result<(), NetfilterError> {
        let chain = self
            .chain(name)
            .ok_or_else(|| NetfilterError::NoSuchChain(name.to_string()))?;
        if chain.is_builtin() {
            return Err(NetfilterError::BuiltinChain(name.to_string()));
        }
        if !chain.rules.is_empty() {
            return Err(NetfilterError::ChainNotEmpty(name.to_string()));
        }
        let references = self.references(name);
        if references > 0 {
            return Err(NetfilterError::ChainInUse {
                chain: name.to_string(),
                references,
            });
        }
        self.changing(name);
        self.user.remove(name);
        Ok(())
    }

    /// An open journal keeps every chain as it is now, before they all change at once.
    fn changing_all(&mut self) {
        self.verified = false;
        if let Some(j) = &mut self.journal {
            j.keep_all(&self.builtin, &self.user, &self.refs);
        }
    }

    /// `iptables -X` without a name: every user chain, each empty and referenced by no rule.
    pub fn delete_user_chains(&mut self) -> Result<(), NetfilterError> {
        if let Some(c) = self.user.values().find(|c| !c.rules.is_empty()) {
            return Err(NetfilterError::ChainNotEmpty(c.name.to_string()));
        }
        if let Some((chain, from)) = self.refs.iter().min_by_key(|(chain, _)| *chain) {
            return Err(NetfilterError::ChainInUse {
                chain: chain.to_string(),
                references: from.total(),
            });
        }
        self.changing_all();
        self.user.clear();
        Ok(())
    }

    /// `iptables -F NAME`.
    pub fn flush_chain(&mut self, name: &str) -> Result<(), NetfilterError> {
        self.truncate_chain(name, 0)
    }

    /// Keeps the first `n` rules of chain `name` (all of them when it has fewer). A chain a
    /// snapshot shares is rebuilt from the kept rules rather than copied whole.
    pub(crate) fn truncate_chain(&mut self, name: &str, n: usize) -> Result<(), NetfilterError> {
        let old = Arc::clone(slot_in(&mut self.builtin, &mut self.user, name)?);
        if n >= old.rules.len() {
            return Ok(());
        }
        let lines = old.lines.as_ref().map(|l| l.prefix(n));
        let gone = old.rules[n..].iter().map(|r| &**r);
        self.replace_rules(name, old.rules[..n].to_vec(), lines, gone, &[])
    }

    /// Gives chain `name` the rules `rules` (added by `lines`, if known), of which those at
    /// `added` are new; `gone` are its rules that are not among them.
    pub(crate) fn replace_rules<'a>(
        &mut self,
        name: &str,
        rules: Vec<Arc<Rule>>,
        lines: Option<RuleLines>,
        gone: impl Iterator<Item = &'a Rule>,
        added: &[usize],
    ) -> Result<(), NetfilterError> {
        self.changing(name);
        let slot = slot_in(&mut self.builtin, &mut self.user, name)?;
        for r in gone {
            drop_ref(&mut self.refs, name, r);
        }
        for &i in added {
            add_ref(&mut self.refs, &slot.name, &rules[i]);
        }
        let mut c = slot.emptied();
        c.rules = rules;
        c.lines = lines;
        *slot = Arc::new(c);
        Ok(())
    }

    /// `iptables -F`: every chain's rules; chains and policies stay.
    pub fn flush_all(&mut self) {
        self.changing_all();
        for c in self
            .builtin
            .iter_mut()
            .chain(self.user.values_mut_unordered())
        {
            if !c.rules.is_empty() {
                *c = Arc::new(c.emptied());
            }
        }
        self.refs.clear();
    }

    /// What `iptables-restore` without `--noflush` does on `*TABLE`: flush every chain and
    /// delete the user chains; built-in policies and counters stay until a `:` line sets them.
    pub(crate) fn reset(&mut self) {
        self.flush_all();
        self.user.clear();
    }

    /// `iptables -A CHAIN RULE`.
    pub fn append(&mut self, chain: &str, rule: Rule) -> Result<(), NetfilterError> {
        self.insert_at(chain, None, rule, None)
    }

    /// `-A CHAIN RULE` as the restore line `line` (kept with the chain's lines).
    pub(crate) fn append_line(
        &mut self,
        chain: &str,
        rule: Rule,
        line: &str,
    ) -> Result<(), NetfilterError> {
        self.insert_at(chain, None, rule, Some(line))
    }

    /// `iptables -I CHAIN POS RULE` with a 1-based position (`len + 1` appends).
    pub fn insert(&mut self, chain: &str, pos: usize, rule: Rule) -> Result<(), NetfilterError> {
        self.insert_at(chain, Some(pos), rule, None)
    }

    fn insert_at(
        &mut self,
        chain: &str,
        pos: Option<usize>,
        rule: Rule,
        line: Option<&str>,
    ) -> Result<(), NetfilterError> {
        // One lookup: a kube-proxy restore adds 300,000 rules to 100,000 chains.
        let slot = slot_in(&mut self.builtin, &mut self.user, chain)?;
        crate::netfilter::check::check_rule(self.name, slot, &rule)?;
        let len = slot.rules.len();
        let pos = pos.unwrap_or(len + 1);
        if pos == 0 || pos > len + 1 {
            return Err(NetfilterError::RuleIndexOutOfRange {
                chain: chain.to_string(),
                index: pos,
                len,
            });
        }
        self.verified = false;
        if let (Some(j), false) = (&mut self.journal, slot.is_builtin()) {
            j.keep_chain(chain, Some(&*slot));
        }
        let c = Arc::make_mut(slot);
        add_ref(&mut self.refs, &c.name, &rule);
        c.rules.insert(pos - 1, Arc::new(rule));
        match (&mut c.lines, line) {
            (Some(lines), Some(line)) if pos == len + 1 => lines.push(line),
            (lines, _) => *lines = None,
        }
        Ok(())
    }

    /// `iptables -D CHAIN RULE`: the first rule with the same specification (counters aside).
    pub fn delete_rule(&mut self, chain: &str, spec: &Rule) -> Result<Rule, NetfilterError> {
        let c = self
            .chain(chain)
            .ok_or_else(|| NetfilterError::NoSuchChain(chain.to_string()))?;
        let pos = c
            .rules
            .iter()
            .position(|r| r.same_spec(spec))
            .ok_or_else(|| NetfilterError::NoSuchRule(chain.to_string()))?;
        self.delete_rule_at(chain, pos + 1)
    }

    /// `iptables -D CHAIN POS` with a 1-based position.
    pub fn delete_rule_at(&mut self, chain: &str, pos: usize) -> Result<Rule, NetfilterError> {
        let len = self
            .chain(chain)
            .ok_or_else(|| NetfilterError::NoSuchChain(chain.to_string()))?
            .rules
            .len();
        if pos == 0 || pos > len {
            return Err(NetfilterError::RuleIndexOutOfRange {
                chain: chain.to_string(),
                index: pos,
                len,
            });
        }
        self.changing(chain);
        let c = chain_in(&mut self.builtin, &mut self.user, chain)?;
        let rule = c.rules.remove(pos - 1);
        c.lines = None;
        drop_ref(&mut self.refs, chain, &rule);
        Ok(Arc::unwrap_or_clone(rule))
    }

    /// `iptables -P CHAIN POLICY`; `counters` also sets the chain's counters.
    pub fn set_policy(
        &mut self,
        chain: &str,
        policy: Policy,
        counters: Option<Counters>,
    ) -> Result<(), NetfilterError> {
        let c = self.chain_mut(chain)?;
        match &mut c.kind {
            ChainKind::Builtin {
                policy: p,
                counters: k,
                ..
            } => {
                *p = policy;
                if let Some(n) = counters {
                    *k = n;
                }
                Ok(())
            }
            ChainKind::User => Err(NetfilterError::NotBuiltin(chain.to_string())),
        }
    }

    /// Sets the counters of the `pos`-th (1-based) rule of `chain`.
    pub fn set_rule_counters(
        &mut self,
        chain: &str,
        pos: usize,
        counters: Counters,
    ) -> Result<(), NetfilterError> {
        let c = self.chain_mut(chain)?;
        let len = c.rules.len();
        match c.rules.get_mut(pos.wrapping_sub(1)) {
            Some(r) => {
                Arc::make_mut(r).counters = counters;
                Ok(())
            }
            None => Err(NetfilterError::RuleIndexOutOfRange {
                chain: chain.to_string(),
                index: pos,
                len,
            }),
        }
    }
}

#[cfg(test)]
impl Table {
    /// The references the table's rules make, counted afresh (what `refs` must equal).
    pub(crate) fn counted_refs(&self) -> Refs {
        let mut refs = Refs::default();
        for c in self.chains() {
            for r in &c.rules {
                add_ref(&mut refs, &c.name, r);
            }
        }
        refs
    }
}

/// A chain for writing, copied first if a snapshot shares it.
fn chain_in<'a>(
    builtin: &'a mut [Arc<Chain>],
    user: &'a mut UserChains,
    name: &str,
) -> Result<&'a mut Chain, NetfilterError> {
    slot_in(builtin, user, name).map(Arc::make_mut)
}

/// Where chain `name` is held.
fn slot_in<'a>(
    builtin: &'a mut [Arc<Chain>],
    user: &'a mut UserChains,
    name: &str,
) -> Result<&'a mut Arc<Chain>, NetfilterError> {
    if let Some(c) = builtin.iter_mut().find(|c| *c.name == *name) {
        return Ok(c);
    }
    user.get_mut(name)
        .ok_or_else(|| NetfilterError::NoSuchChain(name.to_string()))
}

/// One rule more in chain `from` jumps to the chain `rule` enters.
pub(crate) fn add_ref(refs: &mut Refs, from: &Arc<str>, rule: &Rule) {
    let Some(to) = rule.target.as_ref().and_then(|t| t.chain_name()) else {
        return;
    };
    match refs.get_mut(&**to) {
        Some(r) => r.add(from),
        None => {
            refs.insert(Arc::clone(to), Referrers::One(Arc::clone(from), 1));
        }
    }
}

/// One rule fewer in chain `from` jumps to the chain `rule` enters.
pub(crate) fn drop_ref(refs: &mut Refs, from: &str, rule: &Rule) {
    let Some(to) = rule.target.as_ref().and_then(|t| t.chain()) else {
        return;
    };
    let Some(referrers) = refs.get_mut(to) else {
        return;
    };
    if !referrers.drop_one(from) {
        refs.remove(to);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The byte test for ASCII names agrees with the character test.
        #[test]
        fn space_or_control_bytes_are_those_characters(s in "[\\x00-\\x7f]{0,8}|[a-z\\u{85}\\u{a0}é]{0,4}") {
            let by_chars = s.chars().any(|c| c.is_whitespace() || c.is_control());
            prop_assert_eq!(has_space_or_control(&s), by_chars);
        }
    }

    #[test]
    fn user_chains_list_in_byte_order_after_builtins() {
        let mut t = Table::new(TableName::Nat);
        for c in ["KUBE-Z", "KUBE-A", "B", "a", "_x"] {
            t.new_chain(c).unwrap();
        }
        let names: Vec<&str> = t.chains().map(|c| &*c.name).collect();
        // The order iptables-legacy-save and iptables-nft-save v1.8.9 both print.
        assert_eq!(
            names,
            [
                "PREROUTING",
                "INPUT",
                "OUTPUT",
                "POSTROUTING",
                "B",
                "KUBE-A",
                "KUBE-Z",
                "_x",
                "a"
            ]
        );
    }

    #[test]
    fn chain_operations_follow_iptables() {
        let mut t = Table::new(TableName::Filter);
        t.new_chain("A").unwrap();
        t.new_chain("B").unwrap();
        assert_eq!(
            t.new_chain("A"),
            Err(NetfilterError::ChainExists("A".into()))
        );
        assert_eq!(
            t.new_chain("INPUT"),
            Err(NetfilterError::ChainExists("INPUT".into()))
        );
        assert!(matches!(
            t.new_chain("DROP"),
            Err(NetfilterError::BadChainName { .. })
        ));
        assert!(matches!(
            t.new_chain("A-VERY-LONG-CHAIN-NAME-OVER-28"),
            Err(NetfilterError::BadChainName { .. })
        ));
        t.append("A", Rule::new().jump("B")).unwrap();
        assert_eq!(t.references("B"), 1);
        assert_eq!(
            t.delete_chain("B"),
            Err(NetfilterError::ChainInUse {
                chain: "B".into(),
                references: 1
            })
        );
        assert_eq!(
            t.delete_chain("A"),
            Err(NetfilterError::ChainNotEmpty("A".into()))
        );
        assert_eq!(
            t.delete_chain("INPUT"),
            Err(NetfilterError::BuiltinChain("INPUT".into()))
        );
        t.flush_chain("A").unwrap();
        assert_eq!(t.references("B"), 0);
        t.delete_chain("B").unwrap();
        assert!(t.chain("B").is_none());
        assert_eq!(
            t.set_policy("A", Policy::Drop, None),
            Err(NetfilterError::NotBuiltin("A".into()))
        );
        t.set_policy("INPUT", Policy::Drop, None).unwrap();
        assert_eq!(t.chain("INPUT").unwrap().policy(), Some(Policy::Drop));
    }

    #[test]
    fn insert_and_delete_use_one_based_positions() {
        let mut t = Table::new(TableName::Filter);
        t.append(
            "INPUT",
            Rule::new().target(crate::netfilter::Target::Accept),
        )
        .unwrap();
        t.append("INPUT", Rule::new().target(crate::netfilter::Target::Drop))
            .unwrap();
        t.insert(
            "INPUT",
            1,
            Rule::new().target(crate::netfilter::Target::Return),
        )
        .unwrap();
        assert!(t.insert("INPUT", 5, Rule::new()).is_err());
        t.insert("INPUT", 4, Rule::new()).unwrap();
        let text: Vec<String> = t
            .chain("INPUT")
            .unwrap()
            .rules
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(text, ["-j RETURN", "-j ACCEPT", "-j DROP", ""]);
        t.delete_rule("INPUT", &Rule::new().target(crate::netfilter::Target::Drop))
            .unwrap();
        t.delete_rule_at("INPUT", 1).unwrap();
        assert!(t.delete_rule_at("INPUT", 3).is_err());
        assert_eq!(t.chain("INPUT").unwrap().rules.len(), 2);
    }
}
