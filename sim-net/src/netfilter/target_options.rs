//! Reading `-j TARGET --opt value …` into a [`Target`], with each target extension's checks
//! (libxt_NAT.c, libxt_MASQUERADE.c, libxt_REDIRECT.c, libipt_REJECT.c, libxt_MARK.c,
//! libxt_CONNMARK.c, libxt_LOG.c, libxt_CT.c in iptables 1.8).

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::netfilter::error::NetfilterError;
use crate::netfilter::match_options::{OptSpec, find_opt, opt};
use crate::netfilter::matches::PortRange;
use crate::netfilter::target::{
    ConnmarkTarget, DnatTarget, LOG_PREFIX_MAX_LEN, LogTarget, MasqueradeTarget, NatRange,
    RedirectTarget, RejectWith, SnatTarget, Target, XMark,
};
use crate::netfilter::value::{parse_ipv4, parse_u32, parse_uint, parse_val_mask};

const NO_OPTS: [OptSpec; 0] = [];
const REJECT_OPTS: [OptSpec; 1] = [opt!("reject-with", 1, false)];
const DNAT_OPTS: [OptSpec; 3] = [
    opt!("to-destination", 1, false),
    opt!("random", 0, false),
    opt!("persistent", 0, false),
];
const SNAT_OPTS: [OptSpec; 4] = [
    opt!("to-source", 1, false),
    opt!("random", 0, false),
    opt!("random-fully", 0, false),
    opt!("persistent", 0, false),
];
const MASQUERADE_OPTS: [OptSpec; 3] = [
    opt!("to-ports", 1, false),
    opt!("random", 0, false),
    opt!("random-fully", 0, false),
];
const REDIRECT_OPTS: [OptSpec; 2] = [opt!("to-ports", 1, false), opt!("random", 0, false)];
const MARK_OPTS: [OptSpec; 5] = [
    opt!("set-xmark", 1, false),
    opt!("set-mark", 1, false),
    opt!("and-mark", 1, false),
    opt!("or-mark", 1, false),
    opt!("xor-mark", 1, false),
];
const CONNMARK_OPTS: [OptSpec; 10] = [
    opt!("set-xmark", 1, false),
    opt!("set-mark", 1, false),
    opt!("and-mark", 1, false),
    opt!("or-mark", 1, false),
    opt!("xor-mark", 1, false),
    opt!("save-mark", 0, false),
    opt!("restore-mark", 0, false),
    opt!("nfmask", 1, false),
    opt!("ctmask", 1, false),
    opt!("mask", 1, false),
];
const LOG_OPTS: [OptSpec; 7] = [
    opt!("log-prefix", 1, false),
    opt!("log-level", 1, false),
    opt!("log-tcp-sequence", 0, false),
    opt!("log-tcp-options", 0, false),
    opt!("log-ip-options", 0, false),
    opt!("log-uid", 0, false),
    opt!("log-macdecode", 0, false),
];
const CT_OPTS: [OptSpec; 1] = [opt!("notrack", 0, false)];

/// Real iptables targets this model does not have: `-j` with one of them is an error rather
/// than a jump to a chain of that name.
const UNSUPPORTED_TARGETS: [&str; 28] = [
    "QUEUE",
    "NFQUEUE",
    "TPROXY",
    "TCPMSS",
    "NFLOG",
    "SET",
    "CLASSIFY",
    "DSCP",
    "TOS",
    "TTL",
    "NETMAP",
    "CLUSTERIP",
    "TRACE",
    "SECMARK",
    "CONNSECMARK",
    "CHECKSUM",
    "AUDIT",
    "HMARK",
    "IDLETIMER",
    "LED",
    "RATEEST",
    "SYNPROXY",
    "TEE",
    "ULOG",
    "ECN",
    "HL",
    "TCPOPTSTRIP",
    "DNPT",
];

/// Syslog level names LOG takes (libxt_LOG.c `log_names`).
const LOG_LEVELS: [(&str, u8); 9] = [
    ("alert", 1),
    ("crit", 2),
    ("debug", 7),
    ("emerg", 0),
    ("error", 3),
    ("info", 6),
    ("notice", 5),
    ("panic", 0),
    ("warning", 4),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Accept,
    Drop,
    Return,
    Reject,
    Dnat,
    Snat,
    Masquerade,
    Redirect,
    Mark,
    Connmark,
    Log,
    Notrack,
    Ct,
}

/// The partly read `-j` target.
#[derive(Debug)]
pub(crate) struct TargetBuilder {
    kind: Kind,
    pub column: usize,
    seen: Vec<&'static str>,
    reject: RejectWith,
    to: Option<NatRange>,
    ports: Option<PortRange>,
    random: bool,
    random_fully: bool,
    persistent: bool,
    xmark: Option<(XMark, &'static str)>,
    connmark_mode: Option<&'static str>,
    nfmask: Option<u32>,
    ctmask: Option<u32>,
    log: LogTarget,
    notrack: bool,
}

/// What `-j NAME` names.
pub(crate) enum JumpTo {
    Builder(TargetBuilder),
    Chain(Arc<str>),
}

impl TargetBuilder {
    /// `-j NAME`: a target extension, or else a user chain.
    pub fn for_name(name: &str, column: usize) -> Result<JumpTo, NetfilterError> {
        let kind = match name {
            "ACCEPT" => Kind::Accept,
            "DROP" => Kind::Drop,
            "RETURN" => Kind::Return,
            "REJECT" => Kind::Reject,
            "DNAT" => Kind::Dnat,
            "SNAT" => Kind::Snat,
            "MASQUERADE" => Kind::Masquerade,
            "REDIRECT" => Kind::Redirect,
            "MARK" => Kind::Mark,
            "CONNMARK" => Kind::Connmark,
            "LOG" => Kind::Log,
            "NOTRACK" => Kind::Notrack,
            "CT" => Kind::Ct,
            _ if UNSUPPORTED_TARGETS.contains(&name) => {
                return Err(NetfilterError::UnsupportedTarget(name.to_string()));
            }
            _ => return Ok(JumpTo::Chain(name.into())),
        };
        Ok(JumpTo::Builder(TargetBuilder {
            kind,
            column,
            seen: Vec::new(),
            reject: RejectWith::IcmpPortUnreachable,
            to: None,
            ports: None,
            random: false,
            random_fully: false,
            persistent: false,
            xmark: None,
            connmark_mode: None,
            nfmask: None,
            ctmask: None,
            log: LogTarget::default(),
            notrack: false,
        }))
    }

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Accept => "ACCEPT",
            Kind::Drop => "DROP",
            Kind::Return => "RETURN",
            Kind::Reject => "REJECT",
            Kind::Dnat => "DNAT",
            Kind::Snat => "SNAT",
            Kind::Masquerade => "MASQUERADE",
            Kind::Redirect => "REDIRECT",
            Kind::Mark => "MARK",
            Kind::Connmark => "CONNMARK",
            Kind::Log => "LOG",
            Kind::Notrack => "NOTRACK",
            Kind::Ct => "CT",
        }
    }

    /// The option of this target called `name`, if it has one.
    pub fn option(&self, name: &str) -> Option<&'static OptSpec> {
        let table: &'static [OptSpec] = match self.kind {
            Kind::Reject => &REJECT_OPTS,
            Kind::Dnat => &DNAT_OPTS,
            Kind::Snat => &SNAT_OPTS,
            Kind::Masquerade => &MASQUERADE_OPTS,
            Kind::Redirect => &REDIRECT_OPTS,
            Kind::Mark => &MARK_OPTS,
            Kind::Connmark => &CONNMARK_OPTS,
            Kind::Log => &LOG_OPTS,
            Kind::Ct => &CT_OPTS,
            Kind::Accept | Kind::Drop | Kind::Return | Kind::Notrack => &NO_OPTS,
        };
        find_opt(table, name)
    }

    /// Reads one option of this target.
    pub fn apply(&mut self, spec: &'static OptSpec, args: &[&str]) -> Result<(), NetfilterError> {
        let target = self.name();
        let flag = spec.flag;
        if self.seen.contains(&spec.name) {
            return Err(NetfilterError::DuplicateOption(format!("{target}: {flag}")));
        }
        self.seen.push(spec.name);
        let conflict = |a: &str, b: &str| NetfilterError::ConflictingOptions {
            module: target,
            first: format!("--{a}"),
            second: format!("--{b}"),
        };
        let arg = args.first().copied().unwrap_or("");
        match (self.kind, spec.name) {
            (Kind::Reject, _) => {
                self.reject = RejectWith::TABLE
                    .iter()
                    .find(|(n, a, _)| n.eq_ignore_ascii_case(arg) || a.eq_ignore_ascii_case(arg))
                    .map(|&(_, _, w)| w)
                    .ok_or_else(|| {
                        NetfilterError::bad_value(
                            flag,
                            arg,
                            "icmp-net-unreachable, icmp-host-unreachable, icmp-port-unreachable, \
                             icmp-proto-unreachable, icmp-net-prohibited, icmp-host-prohibited, \
                             icmp-admin-prohibited or tcp-reset",
                        )
                    })?;
            }
            (Kind::Dnat | Kind::Snat, "to-destination" | "to-source") => {
                self.to = Some(nat_range(flag, arg)?);
            }
            (Kind::Masquerade | Kind::Redirect, "to-ports") => {
                self.ports = Some(dash_range(arg).ok_or_else(|| {
                    NetfilterError::bad_value(flag, arg, "PORT or FIRST-LAST with FIRST <= LAST")
                })?);
            }
            (_, "random") => self.random = true,
            (_, "random-fully") => self.random_fully = true,
            (_, "persistent") => self.persistent = true,
            (
                Kind::Mark | Kind::Connmark,
                op @ ("set-xmark" | "set-mark" | "and-mark" | "or-mark" | "xor-mark"),
            ) => {
                if let Some((_, prev)) = self.xmark {
                    return Err(conflict(prev, op));
                }
                if let Some(prev) = self.connmark_mode {
                    return Err(conflict(prev, op));
                }
                let bad =
                    || NetfilterError::bad_value(flag, arg, "VALUE[/MASK] (decimal or 0x hex)");
                let x = match op {
                    "set-xmark" | "set-mark" => {
                        let (v, m) = parse_val_mask(arg).ok_or_else(bad)?;
                        if op == "set-xmark" {
                            XMark { value: v, mask: m }
                        } else {
                            XMark::set(v, m)
                        }
                    }
                    _ => {
                        let v = parse_u32(arg).ok_or_else(bad)?;
                        match op {
                            "and-mark" => XMark::and(v),
                            "or-mark" => XMark::or(v),
                            _ => XMark::xor(v),
                        }
                    }
                };
                self.xmark = Some((x, spec.name));
            }
            (Kind::Connmark, op @ ("save-mark" | "restore-mark")) => {
                if let Some((_, prev)) = self.xmark {
                    return Err(conflict(prev, op));
                }
                if let Some(prev) = self.connmark_mode {
                    return Err(conflict(prev, op));
                }
                self.connmark_mode = Some(spec.name);
            }
            (Kind::Connmark, m @ ("nfmask" | "ctmask" | "mask")) => {
                let v = parse_u32(arg)
                    .ok_or_else(|| NetfilterError::bad_value(flag, arg, "a 32-bit mask"))?;
                let mask_given = self.seen.contains(&"mask");
                let split_given = self.seen.contains(&"nfmask") || self.seen.contains(&"ctmask");
                if mask_given && split_given {
                    return Err(conflict(if m == "mask" { "nfmask" } else { m }, "mask"));
                }
                match m {
                    "nfmask" => self.nfmask = Some(v),
                    "ctmask" => self.ctmask = Some(v),
                    _ => {
                        self.nfmask = Some(v);
                        self.ctmask = Some(v);
                    }
                }
            }
            (Kind::Log, "log-prefix") => {
                if arg.is_empty() || arg.len() > LOG_PREFIX_MAX_LEN || arg.contains('\n') {
                    return Err(NetfilterError::bad_value(
                        flag,
                        arg,
                        "1 to 29 characters, no newline",
                    ));
                }
                self.log.prefix = arg.to_string();
            }
            (Kind::Log, "log-level") => {
                self.log.level = parse_uint(arg, 7)
                    .map(|v| v as u8)
                    .or_else(|| LOG_LEVELS.iter().find(|(n, _)| *n == arg).map(|&(_, l)| l))
                    .ok_or_else(|| {
                        NetfilterError::bad_value(
                            flag,
                            arg,
                            "0 to 7 or emerg, alert, crit, error, warning, notice, info, debug",
                        )
                    })?;
            }
            (Kind::Log, "log-tcp-sequence") => self.log.tcp_sequence = true,
            (Kind::Log, "log-tcp-options") => self.log.tcp_options = true,
            (Kind::Log, "log-ip-options") => self.log.ip_options = true,
            (Kind::Log, "log-uid") => self.log.uid = true,
            (Kind::Log, _) => self.log.macdecode = true,
            (Kind::Ct, _) => self.notrack = true,
            (kind, name) => unreachable!("option {name} is not in the table of {kind:?}"),
        }
        Ok(())
    }

    /// The finished target, after the extension's final checks.
    pub fn finish(self) -> Result<Target, NetfilterError> {
        let target = self.name();
        let missing = |expected| NetfilterError::MissingModuleOption {
            module: target,
            expected,
        };
        Ok(match self.kind {
            Kind::Accept => Target::Accept,
            Kind::Drop => Target::Drop,
            Kind::Return => Target::Return,
            Kind::Reject => Target::Reject(self.reject),
            Kind::Dnat => Target::Dnat(DnatTarget {
                to: self.to.ok_or_else(|| missing("--to-destination is required"))?,
                random: self.random,
                persistent: self.persistent,
            }),
            Kind::Snat => Target::Snat(SnatTarget {
                to: self.to.ok_or_else(|| missing("--to-source is required"))?,
                random: self.random,
                random_fully: self.random_fully,
                persistent: self.persistent,
            }),
            Kind::Masquerade => Target::Masquerade(MasqueradeTarget {
                to_ports: self.ports,
                random: self.random,
                random_fully: self.random_fully,
            }),
            Kind::Redirect => Target::Redirect(RedirectTarget {
                to_ports: self.ports,
                random: self.random,
            }),
            Kind::Mark => Target::Mark(
                self.xmark
                    .ok_or_else(|| missing("one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark is required"))?
                    .0,
            ),
            Kind::Connmark => {
                if (self.nfmask.is_some() || self.ctmask.is_some()) && self.connmark_mode.is_none() {
                    return Err(missing("--nfmask, --ctmask and --mask go with --save-mark or --restore-mark"));
                }
                let nfmask = self.nfmask.unwrap_or(u32::MAX);
                let ctmask = self.ctmask.unwrap_or(u32::MAX);
                Target::Connmark(match (self.xmark, self.connmark_mode) {
                    (Some((x, _)), _) => ConnmarkTarget::SetXmark(x),
                    (None, Some("save-mark")) => ConnmarkTarget::Save { nfmask, ctmask },
                    (None, Some(_)) => ConnmarkTarget::Restore { nfmask, ctmask },
                    (None, None) => {
                        return Err(missing(
                            "one of --set-xmark, --set-mark, --save-mark, --restore-mark is required",
                        ));
                    }
                })
            }
            Kind::Log => Target::Log(self.log),
            Kind::Notrack => Target::Notrack,
            Kind::Ct => Target::Ct {
                notrack: self.notrack,
            },
        })
    }
}

/// `PORT` or `FIRST-LAST` (NAT targets).
fn dash_range(s: &str) -> Option<PortRange> {
    let port = |t: &str| parse_uint(t, u64::from(u16::MAX)).map(|v| v as u16);
    let r = match s.split_once('-') {
        Some((a, b)) => PortRange::new(port(a)?, port(b)?),
        None => PortRange::single(port(s)?),
    };
    (r.first <= r.last).then_some(r)
}

/// `[ADDR[-ADDR]][:PORT[-PORT]]` (libxt_NAT.c `parse_to`).
fn nat_range(flag: &str, arg: &str) -> Result<NatRange, NetfilterError> {
    let bad = || {
        NetfilterError::bad_value(
            flag,
            arg,
            "[ADDR[-ADDR]][:PORT[-PORT]] with dotted-quad addresses and FIRST-LAST ports",
        )
    };
    let (addrs, ports) = match arg.split_once(':') {
        Some((a, p)) => (a, Some(dash_range(p).ok_or_else(bad)?)),
        None => (arg, None),
    };
    let addrs = if addrs.is_empty() {
        None
    } else {
        let (lo, hi) = match addrs.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (addrs, addrs),
        };
        let lo: Ipv4Addr = parse_ipv4(lo).ok_or_else(bad)?;
        let hi: Ipv4Addr = parse_ipv4(hi).ok_or_else(bad)?;
        Some((lo, hi))
    };
    if addrs.is_none() && ports.is_none() {
        return Err(bad());
    }
    Ok(NatRange { addrs, ports })
}
