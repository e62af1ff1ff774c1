//! Chains: a built-in chain sits on a netfilter hook and has a policy and counters; a user
//! chain is entered only by `-j`/`-g` and has neither (iptables-save prints it as
//! `:NAME - [0:0]`).

use std::fmt;
use std::sync::Arc;

use crate::netfilter::rule::{Counters, Rule};

/// The five IPv4 netfilter hooks, in `NF_INET_*` order — the order built-in chains print in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    pub const ALL: [Hook; 5] = [
        Hook::Prerouting,
        Hook::Input,
        Hook::Forward,
        Hook::Output,
        Hook::Postrouting,
    ];

    /// The built-in chain's name.
    pub fn chain_name(&self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }

    pub fn from_chain_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.chain_name() == name)
    }

    /// This hook as a bit of a hook set.
    pub(crate) fn bit(&self) -> u8 {
        1 << (*self as u8)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.chain_name())
    }
}

/// A built-in chain's verdict when no rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Policy {
    Accept,
    Drop,
}

impl Policy {
    pub fn from_name(s: &str) -> Option<Policy> {
        match s {
            "ACCEPT" => Some(Policy::Accept),
            "DROP" => Some(Policy::Drop),
            _ => None,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Accept => "ACCEPT",
            Policy::Drop => "DROP",
        })
    }
}

/// Built-in or user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainKind {
    /// Linux default policy: ACCEPT, counters `[0:0]`.
    Builtin {
        hook: Hook,
        policy: Policy,
        counters: Counters,
    },
    User,
}

/// A chain and its rules, in order.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Shared with the table's index of chains by name.
    pub name: Arc<str>,
    pub kind: ChainKind,
    pub rules: Vec<Arc<Rule>>,
    /// The `iptables-restore` lines that added the rules, one per rule, while every rule came
    /// from one (`None` once a rule came another way): a restore that declares the chain again
    /// and sends the same lines leaves it as it is (see `restore`).
    pub(crate) lines: Option<RuleLines>,
}

/// Chains are equal when their names, kinds and rules are: the lines are a cache.
impl PartialEq for Chain {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.kind == other.kind && self.rules == other.rules
    }
}

impl Eq for Chain {}

impl std::hash::Hash for Chain {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.kind.hash(state);
        self.rules.hash(state);
    }
}

/// Rule lines, as one text and where each ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RuleLines {
    text: String,
    ends: Vec<usize>,
}

impl RuleLines {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Line `i`, without its newline.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p]);
        Some(&self.text[start..end])
    }

    pub fn push(&mut self, line: &str) {
        if self.text.capacity() == 0 {
            // Room for a few lines: kube-proxy's chains mostly hold two to eleven.
            self.text.reserve(4 * line.len());
            self.ends.reserve(4);
        }
        self.text.push_str(line);
        self.ends.push(self.text.len());
    }

    /// The first `n` lines.
    pub fn prefix(&self, n: usize) -> RuleLines {
        let ends = self.ends[..n.min(self.ends.len())].to_vec();
        let text = self.text[..ends.last().copied().unwrap_or(0)].to_string();
        RuleLines { text, ends }
    }
}

impl Chain {
    pub(crate) fn builtin(hook: Hook) -> Self {
        Chain {
            name: hook.chain_name().into(),
            kind: ChainKind::Builtin {
                hook,
                policy: Policy::Accept,
                counters: Counters::default(),
            },
            rules: Vec::new(),
            lines: Some(RuleLines::default()),
        }
    }

    pub(crate) fn user(name: &str) -> Self {
        Chain {
            name: name.into(),
            kind: ChainKind::User,
            rules: Vec::new(),
            lines: Some(RuleLines::default()),
        }
    }

    /// This chain without its rules (policy and counters kept).
    pub(crate) fn emptied(&self) -> Self {
        Chain {
            name: Arc::clone(&self.name),
            kind: self.kind,
            rules: Vec::new(),
            lines: Some(RuleLines::default()),
        }
    }

    pub fn is_builtin(&self) -> bool {
        matches!(self.kind, ChainKind::Builtin { .. })
    }

    /// The hook of a built-in chain.
    pub fn hook(&self) -> Option<Hook> {
        match self.kind {
            ChainKind::Builtin { hook, .. } => Some(hook),
            ChainKind::User => None,
        }
    }

    /// The policy of a built-in chain.
    pub fn policy(&self) -> Option<Policy> {
        match self.kind {
            ChainKind::Builtin { policy, .. } => Some(policy),
            ChainKind::User => None,
        }
    }

    /// The `:NAME POLICY [p:b]` line without its newline, as iptables-save prints it.
    pub fn header_line(&self) -> String {
        match self.kind {
            ChainKind::Builtin {
                policy, counters, ..
            } => format!(":{} {policy} {counters}", self.name),
            ChainKind::User => format!(":{} - [0:0]", self.name),
        }
    }
}
