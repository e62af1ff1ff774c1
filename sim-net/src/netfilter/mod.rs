//! # netfilter — Linux packet filtering, NAT and connection tracking
//!
//! The IPv4 iptables ruleset of a namespace as the kernel holds it (tables → chains → rules
//! with typed matches and targets), the state rules consult (conntrack with NAT bindings, IP
//! sets, `recent` lists), and the hooks of the packet path that run them. The text forms are
//! those people and kube-proxy use: `iptables-restore` input (including `--noflush` and
//! `--counters`) and `iptables-save` output, byte for byte as iptables 1.8.9 prints it
//! (checked against `iptables-legacy-save`/`iptables-nft-save` v1.8.9 and the iptables 1.8
//! sources: `iptables/iptables-restore.c`, `iptables/xshared.c`, `libxtables/xtables.c`,
//! `extensions/libxt_*.c`); `conntrack -L` and `ipset save` likewise.
//!
//! | module | holds |
//! | --- | --- |
//! | [`ruleset`] | [`Ruleset`]: the tables of a namespace |
//! | [`table`] | [`Table`], [`TableName`]: chains and the `-N/-X/-F/-A/-I/-D/-P` operations |
//! | [`chain`] | [`Chain`], [`Hook`], [`Policy`] |
//! | [`rule`] | [`Rule`] (`-s -d -i -o -p`, matches, target, [`Counters`]) and its builder |
//! | [`matches`](mod@matches) | [`Match`]: tcp, udp, sctp, icmp, multiport, comment, addrtype, mark, conntrack, state, statistic, recent, set, physdev, limit, socket |
//! | [`target`] | [`Target`]: ACCEPT, DROP, RETURN, jump, goto, REJECT, DNAT, SNAT, MASQUERADE, REDIRECT, MARK, CONNMARK, LOG, NOTRACK, CT |
//! | [`restore`] | `iptables-restore` ([`Ruleset::restore`], [`RestoreOptions`]) |
//! | [`save`] | `iptables-save` ([`Ruleset::save`], [`SaveOptions`]) |
//! | [`check`] | the checks iptables and the kernel make on a rule and at COMMIT |
//! | [`error`] | [`NetfilterError`], [`RestoreError`] (line, column, what was expected) |
//! | [`fixture`] | generated kube-proxy-shaped dumps |
//! | [`eval`] | one table's chains on one packet: first match, jumps, policies, the destination index |
//! | [`trace`] | the explained trace of a new connection, every random branch explored |
//! | [`hooks`] | [`Netfilter`]: a namespace's tables + conntrack + sets at each hook, NAT bindings |
//! | [`conntrack`] | [`Conntrack`](conntrack::Conntrack): `nf_conntrack` + `nf_nat` bindings, timeouts, `conntrack -L` text |
//! | [`ipset`] | [`IpSets`](ipset::IpSets): `ip_set` hash/bitmap sets, `ipset save` / `ipset restore` text |
//! | [`recent`] | [`RecentTables`](recent::RecentTables): the address lists of `-m recent` |
//! | [`manip`] | rewriting addresses and ports with their checksums (`nf_nat_manip_pkt`) |
//! | `journal` | what a restore changed in a table: checked at COMMIT, undone on error |
//! | `user_chains` | a table's user chains: hashed by name, listed in name order |
//! | `command`, `tokenize`, `match_options`, `target_options`, `value` | the parser's parts |
//!
//! Simplified or left out: IPv4 only (no ip6tables); `limit` and `socket` are parsed and
//! always match; host names, service names and short addresses (`10.1`) are not resolved;
//! `-s`/`-d` take one address, not a list; getopt's option abbreviations are not accepted;
//! the command must open the line; other match modules and targets are errors naming them.
//! An input is one transaction: on error nothing changes (iptables keeps tables committed
//! before the error). All state is sans-IO: time is passed in as
//! [`SimTime`](sim_core::SimTime), randomness as a [`SimRng`](sim_core::SimRng), and every
//! iteration that can reach an output runs over ordered collections.

pub mod chain;
pub mod check;
mod command;
pub mod conntrack;
pub mod error;
pub mod eval;
pub mod fixture;
pub mod hooks;
pub mod ipset;
mod journal;
pub mod manip;
mod match_options;
pub mod matches;
pub mod recent;
pub mod restore;
pub mod rule;
pub mod ruleset;
pub mod save;
pub mod table;
pub mod target;
mod target_options;
mod tokenize;
pub mod trace;
mod user_chains;
pub mod value;

pub use chain::{Chain, ChainKind, Hook, Policy};
pub use error::{NetfilterError, RestoreError};
pub use hooks::{Netfilter, NfSkb};
pub use matches::{Match, Negatable, PortRange};
pub use restore::RestoreOptions;
pub use rule::{AddrMask, Counters, Protocol, Rule};
pub use ruleset::Ruleset;
pub use save::SaveOptions;
pub use table::{Table, TableName};
pub use target::Target;
