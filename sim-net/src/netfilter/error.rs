//! Errors a ruleset operation or an `iptables-restore` input can cause. Each names what was
//! wrong and what was expected, in iptables' words; [`RestoreError`] adds the 1-based line and,
//! where one token is at fault, its 1-based column.

use std::fmt;

/// What went wrong, without a position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetfilterError {
    // ---- the restore file's structure ----
    #[error("unknown table {0:?} (tables: raw, mangle, nat, filter, security)")]
    UnknownTable(String),
    #[error("table name missing after '*'")]
    MissingTableName,
    #[error("unexpected {0:?} after the table name")]
    TrailingAfterTable(String),
    #[error("{0:?} outside a table: expected \"*TABLE\" first")]
    OutsideTable(String),
    #[error("\"*{new}\" inside table {open}: expected COMMIT first")]
    TableInsideTable { open: String, new: String },
    #[error("COMMIT expected: table {0} is not committed at the end of the input")]
    MissingCommit(String),
    #[error("chain line {0:?}: expected \":CHAIN POLICY [PACKETS:BYTES]\"")]
    BadChainLine(String),
    #[error("bad counters {0:?}: expected [PACKETS:BYTES] with decimal numbers")]
    BadCounters(String),
    #[error("counters missing for chain {0} (--counters needs \":CHAIN POLICY [PACKETS:BYTES]\")")]
    MissingCounters(String),
    #[error("unterminated quote")]
    UnterminatedQuote,
    #[error("expected a command (-A, -I, -D, -N, -X, -F or -P), found {0:?}")]
    ExpectedCommand(String),
    #[error(
        "the -t option cannot be used in iptables-restore input (the table is set by \"*TABLE\")"
    )]
    TableOption,

    // ---- chains ----
    #[error("invalid chain name {name:?}: {reason}")]
    BadChainName { name: String, reason: &'static str },
    #[error("chain {0} already exists")]
    ChainExists(String),
    #[error("no chain named {0} in this table")]
    NoSuchChain(String),
    #[error("chain {0} is built in: it cannot be deleted, jumped to, or created")]
    BuiltinChain(String),
    #[error("chain {0} is not a built-in chain: only built-in chains have a policy")]
    NotBuiltin(String),
    #[error("chain {0} is not empty (flush it or declare it with \":{0} - [0:0]\" before -X)")]
    ChainNotEmpty(String),
    #[error("chain {chain} is still referenced by {references} rule(s)")]
    ChainInUse { chain: String, references: u32 },
    #[error("bad policy {0:?}: expected ACCEPT or DROP")]
    BadPolicy(String),
    #[error("no rule in chain {0} matches that rule specification")]
    NoSuchRule(String),
    #[error("rule number {index} is out of range for chain {chain} ({len} rules)")]
    RuleIndexOutOfRange {
        chain: String,
        index: usize,
        len: usize,
    },

    // ---- rule options ----
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    #[error("unknown match module {0:?} (supported: {MATCH_MODULES})")]
    UnknownMatch(String),
    #[error("unsupported target {0} (supported: {TARGETS}, or a user chain)")]
    UnsupportedTarget(String),
    #[error("option {0} needs an argument")]
    MissingArgument(String),
    #[error("bad value {value:?} for {option}: expected {expected}")]
    BadValue {
        option: String,
        value: String,
        expected: String,
    },
    #[error("{0} may only be given once per rule (or per module instance)")]
    DuplicateOption(String),
    #[error("{0} cannot be inverted with '!'")]
    CannotInvert(String),
    #[error("'!' must be followed by an option")]
    DanglingInvert,
    #[error("unexpected argument {0:?}")]
    UnexpectedArgument(String),
    #[error("{module}: {expected}")]
    MissingModuleOption {
        module: &'static str,
        expected: &'static str,
    },
    #[error("{module}: {first} cannot be used together with {second}")]
    ConflictingOptions {
        module: &'static str,
        first: String,
        second: String,
    },
    #[error("{what} needs {needs}")]
    ProtocolRequired {
        what: &'static str,
        needs: &'static str,
    },

    // ---- where a rule may stand ----
    #[error("can't use {flag} with {chain}")]
    InterfaceNotAllowed { flag: &'static str, chain: String },
    #[error("target {target} is only valid in the {table} table")]
    TargetWrongTable {
        target: &'static str,
        table: &'static str,
    },
    #[error("the nat table is not intended for filtering, the use of DROP is therefore inhibited")]
    DropInNat,
    #[error(
        "target {target} in chain {chain} is reached from {hook}, where it is not allowed (valid: {valid})"
    )]
    TargetWrongHook {
        target: &'static str,
        chain: String,
        hook: &'static str,
        valid: &'static str,
    },
    #[error("chain {missing} does not exist (jumped to from chain {from})")]
    JumpToMissingChain { missing: String, from: String },
    #[error("loop: chain {0} is reached from itself")]
    Loop(String),
}

/// The match modules the parser knows.
pub const MATCH_MODULES: &str = "tcp, udp, sctp, icmp, multiport, comment, nfacct, addrtype, mark, \
     conntrack, state, statistic, recent, set, physdev, limit, socket";

/// The targets the parser knows.
pub const TARGETS: &str = "ACCEPT, DROP, RETURN, REJECT, DNAT, SNAT, MASQUERADE, REDIRECT, MARK, \
     CONNMARK, LOG, NOTRACK, CT";

/// An error in `iptables-restore` input: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RestoreError {
    /// 1-based line number in the input.
    pub line: usize,
    /// 1-based column (in characters) of the offending token, where one token is at fault.
    pub column: Option<usize>,
    pub kind: NetfilterError,
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.kind),
            None => write!(f, "line {}: {}", self.line, self.kind),
        }
    }
}

impl NetfilterError {
    /// A bad value for an option, with what was expected.
    pub(crate) fn bad_value(option: &str, value: &str, expected: impl Into<String>) -> Self {
        NetfilterError::BadValue {
            option: option.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
