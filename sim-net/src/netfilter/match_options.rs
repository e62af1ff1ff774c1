//! Reading the options of each match module (`-m NAME --opt value …`) into a [`Match`], with
//! the checks each module's parser makes (`x6_options` tables and `x6_fcheck` functions of
//! `extensions/libxt_*.c`): which options take `!`, which may be given once, which exclude or
//! need each other, and the value formats. Anything else is an error naming it.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::netfilter::error::NetfilterError;
use crate::netfilter::matches::{
    AddrTypeMatch, AddrTypes, ConntrackMatch, CtStates, CtStatus, ICMP_NAMES, IcmpType,
    LIMIT_DEFAULT_BURST, LIMIT_SCALE, LimitIface, LimitMatch, MarkMatch, Match, MultiportDir,
    MultiportMatch, Negatable, PhysdevMatch, PortRange, Probability, RecentCommand, RecentMatch,
    RecentSide, SctpMatch, SetDir, SetMatch, SocketMatch, StatisticMatch, StatisticMode, TcpFlags,
    TcpMatch, UdpMatch, tcp_flags,
};
use crate::netfilter::value::{
    check_iface, mask_to_prefix, parse_mask, parse_port, parse_u32, parse_uint, parse_val_mask,
};

/// One option of a module: its canonical name, its aliases, how many arguments it takes, and
/// whether `!` may precede it.
#[derive(Debug)]
pub(crate) struct OptSpec {
    pub name: &'static str,
    /// `--name`, for messages.
    pub flag: &'static str,
    pub aliases: &'static [&'static str],
    pub args: usize,
    pub invert: bool,
}

/// `opt!(name, args, invert[, aliases])`: an [`OptSpec`].
macro_rules! opt {
    ($name:literal, $args:expr, $invert:expr) => {
        opt!($name, $args, $invert, &[])
    };
    ($name:literal, $args:expr, $invert:expr, $aliases:expr) => {
        crate::netfilter::match_options::OptSpec {
            name: $name,
            flag: concat!("--", $name),
            aliases: $aliases,
            args: $args,
            invert: $invert,
        }
    };
}
pub(crate) use opt;

const PORT_OPTS: [OptSpec; 2] = [
    opt!("sport", 1, true, &["source-port"]),
    opt!("dport", 1, true, &["destination-port"]),
];
const TCP_OPTS: [OptSpec; 4] = [
    opt!("sport", 1, true, &["source-port"]),
    opt!("dport", 1, true, &["destination-port"]),
    opt!("tcp-flags", 2, true),
    opt!("syn", 0, true),
];
const ICMP_OPTS: [OptSpec; 1] = [opt!("icmp-type", 1, true)];
const MULTIPORT_OPTS: [OptSpec; 3] = [
    opt!("sports", 1, true, &["source-ports"]),
    opt!("dports", 1, true, &["destination-ports"]),
    opt!("ports", 1, true),
];
const COMMENT_OPTS: [OptSpec; 1] = [opt!("comment", 1, false)];
const NFACCT_OPTS: [OptSpec; 1] = [opt!("nfacct-name", 1, false)];
const ADDRTYPE_OPTS: [OptSpec; 4] = [
    opt!("src-type", 1, true),
    opt!("dst-type", 1, true),
    opt!("limit-iface-in", 0, false),
    opt!("limit-iface-out", 0, false),
];
const MARK_OPTS: [OptSpec; 1] = [opt!("mark", 1, true)];
const CONNTRACK_OPTS: [OptSpec; 4] = [
    opt!("ctstate", 1, true),
    opt!("ctorigdst", 1, true),
    opt!("ctorigdstport", 1, true),
    opt!("ctstatus", 1, true),
];
const STATE_OPTS: [OptSpec; 1] = [opt!("state", 1, true)];
const STATISTIC_OPTS: [OptSpec; 4] = [
    opt!("mode", 1, false),
    opt!("probability", 1, true),
    opt!("every", 1, true),
    opt!("packet", 1, false),
];
const RECENT_OPTS: [OptSpec; 12] = [
    opt!("set", 0, true),
    opt!("rcheck", 0, true),
    opt!("update", 0, true),
    opt!("remove", 0, true),
    opt!("seconds", 1, false),
    opt!("reap", 0, false),
    opt!("hitcount", 1, false),
    opt!("rttl", 0, false),
    opt!("name", 1, false),
    opt!("rsource", 0, false),
    opt!("rdest", 0, false),
    opt!("mask", 1, false),
];
const SET_OPTS: [OptSpec; 1] = [opt!("match-set", 2, true)];
const PHYSDEV_OPTS: [OptSpec; 5] = [
    opt!("physdev-in", 1, true),
    opt!("physdev-out", 1, true),
    opt!("physdev-is-in", 0, true),
    opt!("physdev-is-out", 0, true),
    opt!("physdev-is-bridged", 0, true),
];
const LIMIT_OPTS: [OptSpec; 2] = [opt!("limit", 1, false), opt!("limit-burst", 1, false)];
const SOCKET_OPTS: [OptSpec; 2] = [opt!("transparent", 0, false), opt!("nowildcard", 0, false)];

/// A match module the parser knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchModule {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Multiport,
    Comment,
    Nfacct,
    AddrType,
    Mark,
    Conntrack,
    State,
    Statistic,
    Recent,
    Set,
    Physdev,
    Limit,
    Socket,
}

impl MatchModule {
    pub fn from_name(s: &str) -> Option<Self> {
        use MatchModule::*;
        Some(match s {
            "tcp" => Tcp,
            "udp" => Udp,
            "sctp" => Sctp,
            "icmp" => Icmp,
            "multiport" => Multiport,
            "comment" => Comment,
            "nfacct" => Nfacct,
            "addrtype" => AddrType,
            "mark" => Mark,
            "conntrack" => Conntrack,
            "state" => State,
            "statistic" => Statistic,
            "recent" => Recent,
            "set" => Set,
            "physdev" => Physdev,
            "limit" => Limit,
            "socket" => Socket,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        use MatchModule::*;
        match self {
            Tcp => "tcp",
            Udp => "udp",
            Sctp => "sctp",
            Icmp => "icmp",
            Multiport => "multiport",
            Comment => "comment",
            Nfacct => "nfacct",
            AddrType => "addrtype",
            Mark => "mark",
            Conntrack => "conntrack",
            State => "state",
            Statistic => "statistic",
            Recent => "recent",
            Set => "set",
            Physdev => "physdev",
            Limit => "limit",
            Socket => "socket",
        }
    }

    /// The module `-p NAME` loads implicitly when an option of it follows.
    pub fn for_protocol(proto: u8) -> Option<Self> {
        match proto {
            6 => Some(MatchModule::Tcp),
            17 => Some(MatchModule::Udp),
            132 => Some(MatchModule::Sctp),
            1 => Some(MatchModule::Icmp),
            _ => None,
        }
    }

    fn options(&self) -> &'static [OptSpec] {
        use MatchModule::*;
        match self {
            Tcp => &TCP_OPTS,
            Udp | Sctp => &PORT_OPTS,
            Icmp => &ICMP_OPTS,
            Multiport => &MULTIPORT_OPTS,
            Comment => &COMMENT_OPTS,
            Nfacct => &NFACCT_OPTS,
            AddrType => &ADDRTYPE_OPTS,
            Mark => &MARK_OPTS,
            Conntrack => &CONNTRACK_OPTS,
            State => &STATE_OPTS,
            Statistic => &STATISTIC_OPTS,
            Recent => &RECENT_OPTS,
            Set => &SET_OPTS,
            Physdev => &PHYSDEV_OPTS,
            Limit => &LIMIT_OPTS,
            Socket => &SOCKET_OPTS,
        }
    }
}

/// Finds `name` (without `--`) in an option table.
pub(crate) fn find_opt(table: &'static [OptSpec], name: &str) -> Option<&'static OptSpec> {
    table
        .iter()
        .find(|o| o.name == name || o.aliases.contains(&name))
}

/// The partly read options of one `-m` instance.
#[derive(Debug)]
pub(crate) struct MatchBuilder {
    pub module: MatchModule,
    /// Column of the `-m` (or of the option that loaded the module implicitly).
    pub column: usize,
    /// Set when a later `-m` of the same module starts a new instance (`xtables_find_match`).
    pub completed: bool,
    seen: Vec<&'static str>,
    invert_any: bool,
    tcp: TcpMatch,
    udp: UdpMatch,
    icmp: Option<Negatable<IcmpType>>,
    multiport: Option<MultiportMatch>,
    comment: Option<String>,
    nfacct: Option<String>,
    addrtype: AddrTypeMatch,
    mark: Option<Negatable<MarkMatch>>,
    conntrack: ConntrackMatch,
    state: Option<Negatable<CtStates>>,
    stat_mode: Option<&'static str>,
    probability: Option<Probability>,
    every: Option<u32>,
    packet: Option<u32>,
    recent_cmd: Option<(RecentCommand, &'static str)>,
    recent: RecentMatch,
    set: Option<SetMatch>,
    physdev: PhysdevMatch,
    limit: LimitMatch,
    socket: SocketMatch,
}

impl MatchBuilder {
    pub fn new(module: MatchModule, column: usize) -> Self {
        MatchBuilder {
            module,
            column,
            completed: false,
            seen: Vec::new(),
            invert_any: false,
            tcp: TcpMatch::default(),
            udp: UdpMatch::default(),
            icmp: None,
            multiport: None,
            comment: None,
            nfacct: None,
            addrtype: AddrTypeMatch::default(),
            mark: None,
            conntrack: ConntrackMatch::default(),
            state: None,
            stat_mode: None,
            probability: None,
            every: None,
            packet: None,
            recent_cmd: None,
            recent: RecentMatch::new(RecentCommand::Set, ""),
            set: None,
            physdev: PhysdevMatch::default(),
            // `3/hour`, burst 5: libxt_limit.c `limit_init`.
            limit: LimitMatch {
                avg: LIMIT_SCALE * 60 * 60 / 3,
                burst: LIMIT_DEFAULT_BURST,
            },
            socket: SocketMatch::default(),
        }
    }

    /// The option of this module called `name`, if it has one.
    pub fn option(&self, name: &str) -> Option<&'static OptSpec> {
        find_opt(self.module.options(), name)
    }

    /// Reads one option (already known to belong to this module).
    pub fn apply(
        &mut self,
        spec: &'static OptSpec,
        invert: bool,
        args: &[&str],
    ) -> Result<(), NetfilterError> {
        let flag = spec.flag;
        if self.seen.contains(&spec.name) {
            return Err(NetfilterError::DuplicateOption(format!(
                "{}: {flag}",
                self.module.name()
            )));
        }
        self.seen.push(spec.name);
        self.invert_any |= invert;
        let arg = args.first().copied().unwrap_or("");
        let module = self.module.name();
        let conflict = |a: &str, b: &str| NetfilterError::ConflictingOptions {
            module,
            first: format!("--{a}"),
            second: format!("--{b}"),
        };
        match (self.module, spec.name) {
            (MatchModule::Tcp, "sport") => self.tcp.sport = port_range(flag, arg, invert)?,
            (MatchModule::Tcp, "dport") => self.tcp.dport = port_range(flag, arg, invert)?,
            (MatchModule::Tcp, "syn" | "tcp-flags") => {
                if self.tcp.flags.is_some() {
                    return Err(conflict("syn", "tcp-flags"));
                }
                let flags = if spec.name == "syn" {
                    TcpFlags::SYN
                } else {
                    TcpFlags {
                        mask: tcp_flag_list(flag, arg)?,
                        comp: tcp_flag_list(flag, args.get(1).copied().unwrap_or(""))?,
                    }
                };
                self.tcp.flags = Some(negate(invert, flags));
            }
            (MatchModule::Udp | MatchModule::Sctp, "sport") => {
                self.udp.sport = port_range(flag, arg, invert)?
            }
            (MatchModule::Udp | MatchModule::Sctp, "dport") => {
                self.udp.dport = port_range(flag, arg, invert)?
            }
            (MatchModule::Icmp, _) => self.icmp = Some(negate(invert, icmp_type(flag, arg)?)),
            (MatchModule::Multiport, name) => {
                if let Some(m) = &self.multiport {
                    let prev = match m.dir {
                        MultiportDir::Source => "sports",
                        MultiportDir::Destination => "dports",
                        MultiportDir::Either => "ports",
                    };
                    return Err(conflict(prev, name));
                }
                let dir = match name {
                    "sports" => MultiportDir::Source,
                    "dports" => MultiportDir::Destination,
                    _ => MultiportDir::Either,
                };
                self.multiport = Some(MultiportMatch {
                    dir,
                    ports: multiport_list(flag, arg)?,
                    invert,
                });
            }
            (MatchModule::Comment, _) => {
                // XT_MAX_COMMENT_LEN is 256 with the terminating NUL.
                if arg.len() > 255 {
                    return Err(NetfilterError::bad_value(flag, arg, "at most 255 bytes"));
                }
                self.comment = Some(arg.to_string());
            }
            (MatchModule::Nfacct, _) => {
                // NFACCT_NAME_MAX is 32 with the terminating NUL.
                if arg.is_empty() || arg.len() > 31 {
                    return Err(NetfilterError::bad_value(flag, arg, "1 to 31 bytes"));
                }
                self.nfacct = Some(arg.to_string());
            }
            (MatchModule::AddrType, "src-type") => {
                self.addrtype.src_type = Some(negate(invert, addr_types(flag, arg)?))
            }
            (MatchModule::AddrType, "dst-type") => {
                self.addrtype.dst_type = Some(negate(invert, addr_types(flag, arg)?))
            }
            (MatchModule::AddrType, name) => {
                if self.addrtype.limit_iface.is_some() {
                    return Err(conflict("limit-iface-in", "limit-iface-out"));
                }
                self.addrtype.limit_iface = Some(if name == "limit-iface-in" {
                    LimitIface::In
                } else {
                    LimitIface::Out
                });
            }
            (MatchModule::Mark, _) => {
                let (value, mask) = parse_val_mask(arg).ok_or_else(|| {
                    NetfilterError::bad_value(flag, arg, "VALUE[/MASK] (decimal or 0x hex)")
                })?;
                self.mark = Some(negate(invert, MarkMatch { value, mask }));
            }
            (MatchModule::Conntrack, "ctstate") => {
                self.conntrack.ctstate = Some(negate(invert, ct_states(flag, arg, true)?))
            }
            (MatchModule::Conntrack, "ctorigdst") => {
                self.conntrack.ctorigdst = Some(negate(invert, cidr(flag, arg)?))
            }
            (MatchModule::Conntrack, "ctorigdstport") => {
                let r =
                    parse_colon_range(arg).map_err(|e| NetfilterError::bad_value(flag, arg, e))?;
                self.conntrack.ctorigdstport = Some(negate(invert, r));
            }
            (MatchModule::Conntrack, _) => {
                self.conntrack.ctstatus = Some(negate(invert, ct_status(flag, arg)?))
            }
            (MatchModule::State, _) => {
                self.state = Some(negate(invert, ct_states(flag, arg, false)?))
            }
            (MatchModule::Statistic, "mode") => {
                self.stat_mode = Some(match arg {
                    "random" => "random",
                    "nth" => "nth",
                    _ => return Err(NetfilterError::bad_value(flag, arg, "random or nth")),
                });
            }
            (MatchModule::Statistic, "probability") => {
                let p: f64 = arg
                    .parse()
                    .ok()
                    .filter(|p: &f64| (0.0..=1.0).contains(p))
                    .ok_or_else(|| NetfilterError::bad_value(flag, arg, "a number from 0 to 1"))?;
                self.probability = Some(Probability::from_f64(p));
            }
            (MatchModule::Statistic, "every") => {
                self.every = Some(
                    parse_u32(arg)
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| NetfilterError::bad_value(flag, arg, "1 to 4294967295"))?,
                );
            }
            (MatchModule::Statistic, _) => {
                self.packet = Some(
                    parse_u32(arg)
                        .ok_or_else(|| NetfilterError::bad_value(flag, arg, "0 to 4294967295"))?,
                );
            }
            (MatchModule::Recent, name @ ("set" | "rcheck" | "update" | "remove")) => {
                if let Some((_, prev)) = self.recent_cmd {
                    return Err(conflict(prev, name));
                }
                let cmd = match name {
                    "set" => RecentCommand::Set,
                    "rcheck" => RecentCommand::Rcheck,
                    "update" => RecentCommand::Update,
                    _ => RecentCommand::Remove,
                };
                self.recent_cmd = Some((cmd, spec.name));
                self.recent.invert = invert;
            }
            (MatchModule::Recent, "seconds") => {
                self.recent.seconds = Some(
                    parse_u32(arg)
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| NetfilterError::bad_value(flag, arg, "1 to 4294967295"))?,
                );
            }
            (MatchModule::Recent, "hitcount") => {
                // xt_recent's ip_pkt_list_tot (default 20) bounds --hitcount.
                self.recent.hitcount = Some(
                    parse_u32(arg)
                        .filter(|&n| (1..=20).contains(&n))
                        .ok_or_else(|| {
                            NetfilterError::bad_value(
                                flag,
                                arg,
                                "1 to 20 (xt_recent ip_pkt_list_tot)",
                            )
                        })?,
                );
            }
            (MatchModule::Recent, "reap") => self.recent.reap = true,
            (MatchModule::Recent, "rttl") => self.recent.rttl = true,
            (MatchModule::Recent, "name") => {
                // XT_RECENT_NAME_LEN is 200 with the NUL; iptables-save prints it unquoted.
                if arg.is_empty()
                    || arg.len() > 199
                    || arg.chars().any(|c| c.is_whitespace() || c == '/')
                {
                    return Err(NetfilterError::bad_value(
                        flag,
                        arg,
                        "1 to 199 characters without whitespace or '/'",
                    ));
                }
                self.recent.name = arg.to_string();
            }
            (MatchModule::Recent, "mask") => {
                self.recent.mask = arg
                    .parse::<Ipv4Addr>()
                    .map_err(|_| NetfilterError::bad_value(flag, arg, "a dotted-quad mask"))?;
            }
            (MatchModule::Recent, name) => {
                if self.seen.contains(&"rsource") && self.seen.contains(&"rdest") {
                    return Err(conflict("rsource", "rdest"));
                }
                self.recent.side = if name == "rsource" {
                    RecentSide::Source
                } else {
                    RecentSide::Dest
                };
            }
            (MatchModule::Set, _) => {
                // IPSET_MAXNAMELEN is 32 with the NUL.
                if arg.is_empty() || arg.len() > 31 || arg.chars().any(char::is_whitespace) {
                    return Err(NetfilterError::bad_value(
                        flag,
                        arg,
                        "an ipset name of 1 to 31 characters",
                    ));
                }
                let dirs_arg = args.get(1).copied().unwrap_or("");
                let dirs = dirs_arg
                    .split(',')
                    .map(|d| match d {
                        "src" => Ok(SetDir::Src),
                        "dst" => Ok(SetDir::Dst),
                        _ => Err(()),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
                    .filter(|d| d.len() <= 6)
                    .ok_or_else(|| {
                        NetfilterError::bad_value(
                            flag,
                            dirs_arg,
                            "1 to 6 of src/dst, comma-separated",
                        )
                    })?;
                self.set = Some(SetMatch {
                    name: arg.to_string(),
                    dirs,
                    invert,
                });
            }
            (MatchModule::Physdev, name @ ("physdev-in" | "physdev-out")) => {
                check_iface(arg).map_err(|e| NetfilterError::bad_value(flag, arg, e))?;
                let v = Some(negate(invert, arg.to_string()));
                if name == "physdev-in" {
                    self.physdev.physdev_in = v;
                } else {
                    self.physdev.physdev_out = v;
                }
            }
            (MatchModule::Physdev, "physdev-is-in") => self.physdev.is_in = Some(invert),
            (MatchModule::Physdev, "physdev-is-out") => self.physdev.is_out = Some(invert),
            (MatchModule::Physdev, _) => self.physdev.is_bridged = Some(invert),
            (MatchModule::Limit, "limit") => {
                self.limit.avg =
                    parse_rate(arg).map_err(|e| NetfilterError::bad_value(flag, arg, e))?;
            }
            (MatchModule::Limit, _) => {
                // The kernel refuses a burst of 0; libxt_limit allows up to 10000.
                self.limit.burst = parse_u32(arg)
                    .filter(|b| (1..=10_000).contains(b))
                    .ok_or_else(|| NetfilterError::bad_value(flag, arg, "1 to 10000"))?;
            }
            (MatchModule::Socket, "transparent") => self.socket.transparent = true,
            (MatchModule::Socket, _) => self.socket.nowildcard = true,
            (MatchModule::Tcp | MatchModule::Udp | MatchModule::Sctp, _) => {
                unreachable!("option tables and this match agree")
            }
        }
        Ok(())
    }

    /// The finished match, after the module's final checks.
    pub fn finish(self) -> Result<Match, NetfilterError> {
        let module = self.module.name();
        let missing = |expected| NetfilterError::MissingModuleOption { module, expected };
        Ok(match self.module {
            MatchModule::Tcp => Match::Tcp(self.tcp),
            MatchModule::Udp => Match::Udp(self.udp),
            MatchModule::Sctp => Match::Sctp(SctpMatch {
                sport: self.udp.sport,
                dport: self.udp.dport,
            }),
            // `-m icmp` alone matches any type (the module's init sets 0xFF).
            MatchModule::Icmp => Match::Icmp(self.icmp.unwrap_or(Negatable::new(IcmpType::ANY))),
            MatchModule::Multiport => Match::Multiport(
                self.multiport
                    .ok_or_else(|| missing("one of --sports, --dports or --ports is required"))?,
            ),
            MatchModule::Comment => Match::Comment(
                self.comment
                    .ok_or_else(|| missing("--comment is required"))?,
            ),
            MatchModule::Nfacct => Match::Nfacct(
                self.nfacct
                    .ok_or_else(|| missing("--nfacct-name is required"))?,
            ),
            MatchModule::AddrType => {
                if self.addrtype.src_type.is_none() && self.addrtype.dst_type.is_none() {
                    return Err(missing("--src-type or --dst-type is required"));
                }
                Match::AddrType(self.addrtype)
            }
            MatchModule::Mark => {
                Match::Mark(self.mark.ok_or_else(|| missing("--mark is required"))?)
            }
            MatchModule::Conntrack => {
                if self.seen.is_empty() {
                    return Err(missing("at least one option is required"));
                }
                Match::Conntrack(self.conntrack)
            }
            MatchModule::State => {
                Match::State(self.state.ok_or_else(|| missing("--state is required"))?)
            }
            MatchModule::Statistic => {
                let conflict = |a: &str, b: &str| NetfilterError::ConflictingOptions {
                    module,
                    first: a.to_string(),
                    second: b.to_string(),
                };
                let mode = match self.stat_mode {
                    None => return Err(missing("--mode is required")),
                    Some("random") => {
                        if self.every.is_some() {
                            return Err(conflict("--probability", "--every"));
                        }
                        if self.packet.is_some() {
                            return Err(conflict("--probability", "--packet"));
                        }
                        StatisticMode::Random {
                            probability: self.probability.ok_or_else(|| {
                                missing("--probability is required in random mode")
                            })?,
                        }
                    }
                    Some(_) => {
                        if self.probability.is_some() {
                            return Err(conflict("--probability", "--every"));
                        }
                        let (Some(every), Some(packet)) = (self.every, self.packet) else {
                            return Err(missing("--every and --packet are required in nth mode"));
                        };
                        if packet >= every {
                            return Err(NetfilterError::bad_value(
                                "--packet",
                                &packet.to_string(),
                                format!("0 to {} (less than --every)", every - 1),
                            ));
                        }
                        StatisticMode::Nth { every, packet }
                    }
                };
                Match::Statistic(StatisticMatch {
                    mode,
                    invert: self.invert_any,
                })
            }
            MatchModule::Recent => {
                let (cmd, name) = self.recent_cmd.ok_or_else(|| {
                    missing("one of --set, --rcheck, --update or --remove is required")
                })?;
                let mut r = self.recent;
                r.command = cmd;
                if r.name.is_empty() {
                    r.name = "DEFAULT".to_string();
                }
                let checks = matches!(cmd, RecentCommand::Rcheck | RecentCommand::Update);
                for (given, opt) in [
                    (r.seconds.is_some(), "--seconds"),
                    (r.hitcount.is_some(), "--hitcount"),
                    (r.rttl, "--rttl"),
                    (r.reap, "--reap"),
                ] {
                    if given && !checks {
                        return Err(NetfilterError::ConflictingOptions {
                            module,
                            first: opt.to_string(),
                            second: format!("--{name}"),
                        });
                    }
                }
                if r.reap && r.seconds.is_none() {
                    return Err(missing("--reap also requires --seconds"));
                }
                Match::Recent(r)
            }
            MatchModule::Set => {
                Match::Set(self.set.ok_or_else(|| missing("--match-set is required"))?)
            }
            MatchModule::Physdev => {
                if self.seen.is_empty() {
                    return Err(missing("no physdev option specified"));
                }
                Match::Physdev(self.physdev)
            }
            MatchModule::Limit => Match::Limit(self.limit),
            MatchModule::Socket => Match::Socket(self.socket),
        })
    }
}

/// `value`, inverted when `!` preceded its option.
fn negate<T>(invert: bool, value: T) -> Negatable<T> {
    Negatable { value, invert }
}

/// `PORT`, `FIRST:LAST`, `FIRST:` or `:LAST` (`parse_multi_ports`-free single range of
/// libxt_tcp.c `parse_tcp_ports`).
fn parse_colon_range(s: &str) -> Result<PortRange, &'static str> {
    const EXPECTED: &str =
        "a port 0-65535 or a range FIRST:LAST (numbers; service names are not resolved)";
    let (first, last) = match s.split_once(':') {
        None => {
            let p = parse_port(s).ok_or(EXPECTED)?;
            (p, p)
        }
        Some((a, b)) => {
            let first = if a.is_empty() {
                0
            } else {
                parse_port(a).ok_or(EXPECTED)?
            };
            let last = if b.is_empty() {
                u16::MAX
            } else {
                parse_port(b).ok_or(EXPECTED)?
            };
            (first, last)
        }
    };
    if first > last {
        return Err(
            "a range whose first port is not above its last (invalid portrange (min > max))",
        );
    }
    Ok(PortRange { first, last })
}

/// A `--sport`/`--dport`; `0:65535` without `!` matches everything and is dropped, as
/// iptables-save shows nothing for it.
fn port_range(
    flag: &str,
    arg: &str,
    invert: bool,
) -> Result<Option<Negatable<PortRange>>, NetfilterError> {
    let r = parse_colon_range(arg).map_err(|e| NetfilterError::bad_value(flag, arg, e))?;
    Ok((r != PortRange::ALL || invert).then_some(Negatable { value: r, invert }))
}

fn tcp_flag_list(flag: &str, arg: &str) -> Result<u8, NetfilterError> {
    let mut bits = 0;
    for name in arg.split(',') {
        let upper = name.to_ascii_uppercase();
        bits |= match upper.as_str() {
            "ALL" => tcp_flags::ALL,
            "NONE" => 0,
            _ => tcp_flags::NAMES
                .iter()
                .find(|(n, _)| *n == upper)
                .map(|&(_, b)| b)
                .ok_or_else(|| {
                    NetfilterError::bad_value(
                        flag,
                        arg,
                        "MASK COMP, each a comma-separated list of FIN, SYN, RST, PSH, ACK, URG, ALL, NONE",
                    )
                })?,
        };
    }
    Ok(bits)
}

fn icmp_type(flag: &str, arg: &str) -> Result<IcmpType, NetfilterError> {
    if let Some(&(_, t, lo, hi)) = ICMP_NAMES
        .iter()
        .find(|(n, ..)| n.eq_ignore_ascii_case(arg))
    {
        return Ok(IcmpType {
            icmp_type: t,
            code_min: lo,
            code_max: hi,
        });
    }
    let bad = || {
        NetfilterError::bad_value(
            flag,
            arg,
            "an ICMP type name (echo-request, …), TYPE or TYPE/CODE",
        )
    };
    let byte = |s: &str| parse_uint(s, 255).map(|v| v as u8).ok_or_else(bad);
    match arg.split_once('/') {
        Some((t, c)) => Ok(IcmpType::with_code(byte(t)?, byte(c)?)),
        None => Ok(IcmpType::of_type(byte(arg)?)),
    }
}

/// `--dports 80,443,8000:8080`: at most 15 ports, a range counting twice, `FIRST < LAST`.
fn multiport_list(flag: &str, arg: &str) -> Result<Vec<PortRange>, NetfilterError> {
    let bad = |why: &str| NetfilterError::bad_value(flag, arg, why);
    let mut out = Vec::new();
    let mut slots = 0;
    for item in arg.split(',') {
        let r = match item.split_once(':') {
            None => PortRange::single(
                parse_port(item)
                    .ok_or_else(|| bad("comma-separated ports or FIRST:LAST ranges"))?,
            ),
            Some((a, b)) => {
                let (a, b) = (
                    parse_port(a)
                        .ok_or_else(|| bad("comma-separated ports or FIRST:LAST ranges"))?,
                    parse_port(b)
                        .ok_or_else(|| bad("comma-separated ports or FIRST:LAST ranges"))?,
                );
                if a >= b {
                    return Err(bad(
                        "ranges with FIRST below LAST (invalid portrange specified)",
                    ));
                }
                PortRange::new(a, b)
            }
        };
        slots += if r.first == r.last { 1 } else { 2 };
        if slots > 15 {
            return Err(bad(
                "at most 15 ports, a range counting as two (too many ports specified)",
            ));
        }
        out.push(r);
    }
    Ok(out)
}

fn addr_types(flag: &str, arg: &str) -> Result<AddrTypes, NetfilterError> {
    let mut bits = 0;
    for name in arg.split(',') {
        bits |= AddrTypes::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, b)| b)
            .ok_or_else(|| {
                NetfilterError::bad_value(
                    flag,
                    arg,
                    "comma-separated types: UNSPEC, UNICAST, LOCAL, BROADCAST, ANYCAST, MULTICAST, BLACKHOLE, UNREACHABLE, PROHIBIT, THROW, NAT, XRESOLVE",
                )
            })?;
    }
    Ok(AddrTypes(bits))
}

fn ct_states(flag: &str, arg: &str, conntrack: bool) -> Result<CtStates, NetfilterError> {
    let names: &[(&str, u8)] = if conntrack {
        &CtStates::NAMES
    } else {
        &CtStates::NAMES[..5]
    };
    let mut bits = 0;
    for name in arg.split(',') {
        bits |= names
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, b)| b)
            .ok_or_else(|| {
                NetfilterError::bad_value(
                    flag,
                    arg,
                    if conntrack {
                        "comma-separated states: INVALID, NEW, RELATED, ESTABLISHED, UNTRACKED, SNAT, DNAT"
                    } else {
                        "comma-separated states: INVALID, NEW, RELATED, ESTABLISHED, UNTRACKED"
                    },
                )
            })?;
    }
    Ok(CtStates(bits))
}

fn ct_status(flag: &str, arg: &str) -> Result<CtStatus, NetfilterError> {
    let mut bits = 0;
    for name in arg.split(',') {
        if name.eq_ignore_ascii_case("NONE") {
            continue;
        }
        bits |= CtStatus::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, b)| b)
            .ok_or_else(|| {
                NetfilterError::bad_value(
                    flag,
                    arg,
                    "comma-separated: NONE, EXPECTED, SEEN_REPLY, ASSURED, CONFIRMED",
                )
            })?;
    }
    Ok(CtStatus(bits))
}

/// `ADDR[/PREFIX]` for `--ctorigdst`; only contiguous masks, which iptables-save prints back.
fn cidr(flag: &str, arg: &str) -> Result<Ipv4Net, NetfilterError> {
    let bad = || NetfilterError::bad_value(flag, arg, "ADDR or ADDR/PREFIX");
    let (addr, prefix) = match arg.split_once('/') {
        Some((a, m)) => (
            a,
            mask_to_prefix(parse_mask(m).ok_or_else(bad)?).ok_or_else(bad)?,
        ),
        None => (arg, 32),
    };
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    Ipv4Net::new(addr, prefix as u8).map_err(|_| bad())
}

/// `RATE[/second|/minute|/hour|/day]` (any prefix of the unit) as libxt_limit.c
/// `parse_rate` reads it: the period between packets in `1/LIMIT_SCALE` seconds.
fn parse_rate(s: &str) -> Result<u32, &'static str> {
    const EXPECTED: &str = "RATE[/second|/minute|/hour|/day] with RATE from 1";
    let (num, unit) = match s.split_once('/') {
        Some((n, u)) => {
            let u = u.to_ascii_lowercase();
            let mult = [
                ("second", 1),
                ("minute", 60),
                ("hour", 3600),
                ("day", 86_400),
            ]
            .into_iter()
            .find(|(name, _)| !u.is_empty() && name.starts_with(u.as_str()))
            .map(|(_, m)| m)
            .ok_or(EXPECTED)?;
            (n, mult)
        }
        None => (s, 1),
    };
    let r: u32 = num.parse().ok().filter(|&r| r > 0).ok_or(EXPECTED)?;
    let avg = LIMIT_SCALE as u64 * unit / u64::from(r);
    if avg == 0 {
        return Err("a rate of at most 10000/second (rate too fast)");
    }
    Ok(avg as u32)
}
