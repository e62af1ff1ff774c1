//! What a rule does when it matches (`-j TARGET …`, `-g CHAIN`), as typed values, and how
//! `iptables-save` prints each one (the `save` functions of `extensions/libxt_*.c` and
//! `libipt_*.c` in iptables 1.8, checked against `iptables-legacy-save` v1.8.9).
//!
//! `MARK` and `CONNMARK` keep the kernel's `(value, mask)` form, so `--or-mark 0x4000` reads as
//! and prints back as `--set-xmark 0x4000/0x4000`, exactly as iptables-save shows it.

use std::fmt::{self, Write};
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::netfilter::matches::PortRange;
use crate::netfilter::value::push_saved_string;

/// `--reject-with` types (libipt_REJECT.c `reject_table`, in its order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectWith {
    IcmpNetUnreachable,
    IcmpHostUnreachable,
    IcmpProtoUnreachable,
    /// The default.
    IcmpPortUnreachable,
    IcmpNetProhibited,
    IcmpHostProhibited,
    /// Needs `-p tcp`.
    TcpReset,
    IcmpAdminProhibited,
}

impl RejectWith {
    /// `(name, alias, value)` as libipt_REJECT.c lists them.
    pub(crate) const TABLE: [(&'static str, &'static str, RejectWith); 8] = [
        (
            "icmp-net-unreachable",
            "net-unreach",
            RejectWith::IcmpNetUnreachable,
        ),
        (
            "icmp-host-unreachable",
            "host-unreach",
            RejectWith::IcmpHostUnreachable,
        ),
        (
            "icmp-proto-unreachable",
            "proto-unreach",
            RejectWith::IcmpProtoUnreachable,
        ),
        (
            "icmp-port-unreachable",
            "port-unreach",
            RejectWith::IcmpPortUnreachable,
        ),
        (
            "icmp-net-prohibited",
            "net-prohib",
            RejectWith::IcmpNetProhibited,
        ),
        (
            "icmp-host-prohibited",
            "host-prohib",
            RejectWith::IcmpHostProhibited,
        ),
        ("tcp-reset", "tcp-rst", RejectWith::TcpReset),
        (
            "icmp-admin-prohibited",
            "admin-prohib",
            RejectWith::IcmpAdminProhibited,
        ),
    ];

    pub fn name(&self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(_, _, w)| w == self)
            .map(|(n, _, _)| *n)
            .unwrap_or("icmp-port-unreachable")
    }
}

/// A NAT range: `[ADDR[-ADDR]][:PORT[-PORT]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatRange {
    /// First and last address; `None` keeps the address (`--to-destination :8080`).
    pub addrs: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Needs `-p tcp|udp|sctp`.
    pub ports: Option<PortRange>,
}

impl NatRange {
    /// One address, one port: kube-proxy's `--to-destination 10.244.1.5:8080`.
    pub fn addr_port(addr: Ipv4Addr, port: u16) -> Self {
        NatRange {
            addrs: Some((addr, addr)),
            ports: Some(PortRange::single(port)),
        }
    }

    /// One address, ports unchanged.
    pub fn addr(addr: Ipv4Addr) -> Self {
        NatRange {
            addrs: Some((addr, addr)),
            ports: None,
        }
    }

    /// `print_range` of libxt_NAT.c.
    fn push(&self, out: &mut String) {
        if let Some((lo, hi)) = self.addrs {
            let _ = write!(out, "{lo}");
            if lo != hi {
                let _ = write!(out, "-{hi}");
            }
        }
        if let Some(p) = self.ports {
            out.push(':');
            p.push_dash(out);
        }
    }
}

/// `-j DNAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DnatTarget {
    pub to: NatRange,
    pub random: bool,
    pub persistent: bool,
}

/// `-j SNAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnatTarget {
    pub to: NatRange,
    pub random: bool,
    pub random_fully: bool,
    pub persistent: bool,
}

/// `-j MASQUERADE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MasqueradeTarget {
    pub to_ports: Option<PortRange>,
    pub random: bool,
    pub random_fully: bool,
}

/// `-j REDIRECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RedirectTarget {
    pub to_ports: Option<PortRange>,
    pub random: bool,
}

/// A mark update in the kernel's form: `mark = (mark & !mask) ^ value` (`--set-xmark V/M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XMark {
    pub value: u32,
    pub mask: u32,
}

impl XMark {
    /// `--set-mark V[/M]`: libxt_MARK.c stores `V/(V|M)`.
    pub fn set(value: u32, mask: u32) -> Self {
        XMark {
            value,
            mask: value | mask,
        }
    }

    /// `--or-mark V` = `V/V`.
    pub fn or(value: u32) -> Self {
        XMark { value, mask: value }
    }

    /// `--and-mark V` = `0/!V`.
    pub fn and(value: u32) -> Self {
        XMark {
            value: 0,
            mask: !value,
        }
    }

    /// `--xor-mark V` = `V/0`.
    pub fn xor(value: u32) -> Self {
        XMark { value, mask: 0 }
    }

    /// The mark after the update.
    pub fn apply(&self, mark: u32) -> u32 {
        (mark & !self.mask) ^ self.value
    }
}

/// `-j CONNMARK` actions (revision 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnmarkTarget {
    /// `--set-xmark` (also what `--set-mark`, `--and-mark`, `--or-mark`, `--xor-mark` become).
    SetXmark(XMark),
    /// `--save-mark`: `ctmark = (ctmark & !ctmask) ^ (nfmark & nfmask)`.
    Save { nfmask: u32, ctmask: u32 },
    /// `--restore-mark`: `nfmark = (nfmark & !nfmask) ^ (ctmark & ctmask)`.
    Restore { nfmask: u32, ctmask: u32 },
}

/// The syslog level LOG uses when none is given (`LOG_WARNING`).
pub const LOG_DEFAULT_LEVEL: u8 = 4;
/// The longest `--log-prefix` (`sizeof(ipt_log_info.prefix) - 1`).
pub const LOG_PREFIX_MAX_LEN: usize = 29;

/// `-j LOG`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogTarget {
    /// Empty when none is given.
    pub prefix: String,
    /// Syslog level 0 (emerg) to 7 (debug).
    pub level: u8,
    pub tcp_sequence: bool,
    pub tcp_options: bool,
    pub ip_options: bool,
    pub uid: bool,
    pub macdecode: bool,
}

impl Default for LogTarget {
    fn default() -> Self {
        LogTarget {
            prefix: String::new(),
            level: LOG_DEFAULT_LEVEL,
            tcp_sequence: false,
            tcp_options: false,
            ip_options: false,
            uid: false,
            macdecode: false,
        }
    }
}

/// What a rule does when all its matches match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Accept,
    Drop,
    /// Back to the calling chain (or the policy, in a built-in chain).
    Return,
    /// `-j CHAIN`: a user chain; `RETURN` there comes back here.
    Jump(Arc<str>),
    /// `-g CHAIN`: a user chain; `RETURN` there returns to this chain's caller.
    Goto(Arc<str>),
    Reject(RejectWith),
    Dnat(DnatTarget),
    Snat(SnatTarget),
    Masquerade(MasqueradeTarget),
    Redirect(RedirectTarget),
    Mark(XMark),
    Connmark(ConnmarkTarget),
    Log(LogTarget),
    /// `-j NOTRACK` (raw table).
    Notrack,
    /// `-j CT [--notrack]` (raw table).
    Ct {
        notrack: bool,
    },
}

impl Target {
    /// The name after `-j` (or the chain after `-g`).
    pub fn name(&self) -> &str {
        match self {
            Target::Accept => "ACCEPT",
            Target::Drop => "DROP",
            Target::Return => "RETURN",
            Target::Jump(c) | Target::Goto(c) => c,
            Target::Reject(_) => "REJECT",
            Target::Dnat(_) => "DNAT",
            Target::Snat(_) => "SNAT",
            Target::Masquerade(_) => "MASQUERADE",
            Target::Redirect(_) => "REDIRECT",
            Target::Mark(_) => "MARK",
            Target::Connmark(_) => "CONNMARK",
            Target::Log(_) => "LOG",
            Target::Notrack => "NOTRACK",
            Target::Ct { .. } => "CT",
        }
    }

    /// The user chain this target enters, if any.
    pub fn chain(&self) -> Option<&str> {
        self.chain_name().map(|c| &**c)
    }

    /// [`Target::chain`], shared.
    pub(crate) fn chain_name(&self) -> Option<&Arc<str>> {
        match self {
            Target::Jump(c) | Target::Goto(c) => Some(c),
            _ => None,
        }
    }

    /// Appends ` -j NAME OPTIONS` (or ` -g CHAIN`) in iptables-save's form.
    pub(crate) fn push_saved(&self, out: &mut String) {
        match self {
            Target::Goto(c) => {
                out.push_str(" -g ");
                out.push_str(c);
                return;
            }
            _ => {
                out.push_str(" -j ");
                out.push_str(self.name());
            }
        }
        match self {
            Target::Reject(w) => {
                out.push_str(" --reject-with ");
                out.push_str(w.name());
            }
            Target::Dnat(d) => {
                out.push_str(" --to-destination ");
                d.to.push(out);
                push_flag(out, d.random, "--random");
                push_flag(out, d.persistent, "--persistent");
            }
            Target::Snat(s) => {
                out.push_str(" --to-source ");
                s.to.push(out);
                push_flag(out, s.random, "--random");
                push_flag(out, s.random_fully, "--random-fully");
                push_flag(out, s.persistent, "--persistent");
            }
            Target::Masquerade(m) => {
                if let Some(p) = m.to_ports {
                    out.push_str(" --to-ports ");
                    p.push_dash(out);
                }
                push_flag(out, m.random, "--random");
                push_flag(out, m.random_fully, "--random-fully");
            }
            Target::Redirect(r) => {
                if let Some(p) = r.to_ports {
                    out.push_str(" --to-ports ");
                    p.push_dash(out);
                }
                push_flag(out, r.random, "--random");
            }
            Target::Mark(x) => {
                let _ = write!(out, " --set-xmark 0x{:x}/0x{:x}", x.value, x.mask);
            }
            Target::Connmark(c) => match c {
                ConnmarkTarget::SetXmark(x) => {
                    let _ = write!(out, " --set-xmark 0x{:x}/0x{:x}", x.value, x.mask);
                }
                ConnmarkTarget::Save { nfmask, ctmask } => {
                    let _ = write!(
                        out,
                        " --save-mark --nfmask 0x{nfmask:x} --ctmask 0x{ctmask:x}"
                    );
                }
                ConnmarkTarget::Restore { nfmask, ctmask } => {
                    let _ = write!(
                        out,
                        " --restore-mark --nfmask 0x{nfmask:x} --ctmask 0x{ctmask:x}"
                    );
                }
            },
            Target::Log(l) => {
                if !l.prefix.is_empty() {
                    out.push_str(" --log-prefix");
                    push_saved_string(out, &l.prefix);
                }
                if l.level != LOG_DEFAULT_LEVEL {
                    let _ = write!(out, " --log-level {}", l.level);
                }
                push_flag(out, l.tcp_sequence, "--log-tcp-sequence");
                push_flag(out, l.tcp_options, "--log-tcp-options");
                push_flag(out, l.ip_options, "--log-ip-options");
                push_flag(out, l.uid, "--log-uid");
                push_flag(out, l.macdecode, "--log-macdecode");
            }
            Target::Ct { notrack } => push_flag(out, *notrack, "--notrack"),
            Target::Accept
            | Target::Drop
            | Target::Return
            | Target::Jump(_)
            | Target::Goto(_)
            | Target::Notrack => {}
        }
    }
}

fn push_flag(out: &mut String, on: bool, flag: &str) {
    if on {
        out.push(' ');
        out.push_str(flag);
    }
}

impl fmt::Display for Target {
    /// The target as iptables-save prints it: `-j DNAT --to-destination 10.244.1.5:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.push_saved(&mut s);
        f.write_str(&s[1..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_shorthands_become_xmark_like_libxt_mark() {
        // iptables-legacy-save v1.8.9 output for each input form.
        assert_eq!(
            XMark::or(0x4000),
            XMark {
                value: 0x4000,
                mask: 0x4000
            }
        );
        assert_eq!(
            XMark::xor(0x4000),
            XMark {
                value: 0x4000,
                mask: 0
            }
        );
        assert_eq!(
            XMark::and(0xffff),
            XMark {
                value: 0,
                mask: 0xffff_0000
            }
        );
        assert_eq!(
            XMark::set(0x4, 0x1),
            XMark {
                value: 0x4,
                mask: 0x5
            }
        );
        assert_eq!(XMark::set(0x4000, u32::MAX).mask, u32::MAX);
        assert_eq!(
            Target::Mark(XMark::or(0x4000)).to_string(),
            "-j MARK --set-xmark 0x4000/0x4000"
        );
        assert_eq!(XMark::or(0x4000).apply(0x1), 0x4001);
        assert_eq!(XMark::xor(0x4000).apply(0x4001), 0x1);
    }

    #[test]
    fn nat_targets_print_ranges_and_flags_in_order() {
        let d = Target::Dnat(DnatTarget {
            to: NatRange::addr_port(Ipv4Addr::new(10, 180, 0, 1), 80),
            random: true,
            persistent: true,
        });
        assert_eq!(
            d.to_string(),
            "-j DNAT --to-destination 10.180.0.1:80 --random --persistent"
        );
        let s = Target::Snat(SnatTarget {
            to: NatRange {
                addrs: Some((Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(1, 2, 3, 5))),
                ports: Some(PortRange::new(1000, 2000)),
            },
            random: false,
            random_fully: true,
            persistent: false,
        });
        assert_eq!(
            s.to_string(),
            "-j SNAT --to-source 1.2.3.4-1.2.3.5:1000-2000 --random-fully"
        );
        let r = Target::Redirect(RedirectTarget {
            to_ports: Some(PortRange::single(15001)),
            random: false,
        });
        assert_eq!(r.to_string(), "-j REDIRECT --to-ports 15001");
        assert_eq!(Target::Goto("KUBE-X".into()).to_string(), "-g KUBE-X");
        assert_eq!(
            Target::Reject(RejectWith::IcmpPortUnreachable).to_string(),
            "-j REJECT --reject-with icmp-port-unreachable"
        );
    }
}
