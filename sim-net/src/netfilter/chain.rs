//! Chains: a built-in chain sits on a netfilter hook and has a policy and counters; a user
//! chain is entered only by `-j`/`-g` and has neither (iptables-save prints it as
//! `:NAME - [0:0]`).

use std::fmt;

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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chain {
    pub name: String,
    pub kind: ChainKind,
    pub rules: Vec<Rule>,
}

impl Chain {
    pub(crate) fn builtin(hook: Hook) -> Self {
        Chain {
            name: hook.chain_name().to_string(),
            kind: ChainKind::Builtin {
                hook,
                policy: Policy::Accept,
                counters: Counters::default(),
            },
            rules: Vec::new(),
        }
    }

    pub(crate) fn user(name: &str) -> Self {
        Chain {
            name: name.to_string(),
            kind: ChainKind::User,
            rules: Vec::new(),
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
