//! The match modules (`-m NAME …`) as typed values, and how `iptables-save` prints each one.
//!
//! Every type holds what the kernel holds (for instance a `statistic` probability is the
//! kernel's 31-bit fixed-point number, a `--syn` is the flags mask `FIN,SYN,RST,ACK` with `SYN`
//! set), so printing is canonical: the option order and formats are those of each module's
//! `save` function in iptables 1.8 (`extensions/libxt_*.c`), checked against
//! `iptables-legacy-save` v1.8.9.

use std::fmt::{self, Write};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::netfilter::value::{push_hex, push_saved_string};

/// A value that `!` may invert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Negatable<T> {
    pub value: T,
    /// `true` when the rule says `! --option value`.
    pub invert: bool,
}

impl<T> Negatable<T> {
    pub fn new(value: T) -> Self {
        Negatable {
            value,
            invert: false,
        }
    }

    pub fn inverted(value: T) -> Self {
        Negatable {
            value,
            invert: true,
        }
    }
}

/// Appends ` !` when inverted.
fn push_not(out: &mut String, invert: bool) {
    if invert {
        out.push_str(" !");
    }
}

/// An inclusive port range; a single port has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// `0:65535`, which `tcp`/`udp` print as nothing.
    pub const ALL: PortRange = PortRange {
        first: 0,
        last: u16::MAX,
    };

    pub fn single(port: u16) -> Self {
        PortRange {
            first: port,
            last: port,
        }
    }

    pub fn new(first: u16, last: u16) -> Self {
        PortRange { first, last }
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// `80` or `80:90`, as `tcp`, `udp`, `sctp`, `multiport` and `conntrack` print ranges.
    fn push_colon(&self, out: &mut String) {
        if self.first == self.last {
            let _ = write!(out, "{}", self.first);
        } else {
            let _ = write!(out, "{}:{}", self.first, self.last);
        }
    }

    /// `80` or `80-90`, as the NAT targets print ranges.
    pub(crate) fn push_dash(&self, out: &mut String) {
        if self.first == self.last {
            let _ = write!(out, "{}", self.first);
        } else {
            let _ = write!(out, "{}-{}", self.first, self.last);
        }
    }
}

/// ` [!] --NAME RANGE` as `print_ports` in libxt_tcp.c/libxt_udp.c/libxt_sctp.c prints it.
fn push_port_option(out: &mut String, name: &str, ports: &Option<Negatable<PortRange>>) {
    if let Some(p) = ports {
        push_not(out, p.invert);
        let _ = write!(out, " --{name} ");
        p.value.push_colon(out);
    }
}

/// TCP flag bits as `--tcp-flags` names them (libxt_tcp.c `tcp_flag_names`).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    /// `ALL`: the six flags above.
    pub const ALL: u8 = 0x3f;
    /// What `--syn` means: of `FIN,SYN,RST,ACK`, only `SYN` set.
    pub const SYN_MASK: u8 = FIN | SYN | RST | ACK;

    /// Name/bit pairs in the order iptables prints them.
    pub const NAMES: [(&str, u8); 6] = [
        ("FIN", FIN),
        ("SYN", SYN),
        ("RST", RST),
        ("PSH", PSH),
        ("ACK", ACK),
        ("URG", URG),
    ];
}

/// `--tcp-flags MASK COMP`: of the flags in `mask`, exactly those in `comp` are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    pub mask: u8,
    pub comp: u8,
}

impl TcpFlags {
    /// `--syn`.
    pub const SYN: TcpFlags = TcpFlags {
        mask: tcp_flags::SYN_MASK,
        comp: tcp_flags::SYN,
    };
}

/// `print_tcpf`: the names of the set bits, comma-separated, or `NONE`.
fn push_tcp_flag_list(out: &mut String, flags: u8) {
    if flags == 0 {
        out.push_str("NONE");
        return;
    }
    let mut first = true;
    for (name, bit) in tcp_flags::NAMES {
        if flags & bit != 0 {
            if !first {
                out.push(',');
            }
            out.push_str(name);
            first = false;
        }
    }
}

/// `-m tcp`: ports and flags (`--tcp-option` is not modelled).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TcpMatch {
    pub sport: Option<Negatable<PortRange>>,
    pub dport: Option<Negatable<PortRange>>,
    pub flags: Option<Negatable<TcpFlags>>,
}

/// `-m udp`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UdpMatch {
    pub sport: Option<Negatable<PortRange>>,
    pub dport: Option<Negatable<PortRange>>,
}

/// `-m sctp` (ports only; chunk types are not modelled).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SctpMatch {
    pub sport: Option<Negatable<PortRange>>,
    pub dport: Option<Negatable<PortRange>>,
}

/// `-m icmp --icmp-type`: a type and a code range, as the kernel's `ipt_icmp` holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpType {
    /// `0xFF` stands for `any`.
    pub icmp_type: u8,
    pub code_min: u8,
    pub code_max: u8,
}

impl IcmpType {
    /// `any`.
    pub const ANY: IcmpType = IcmpType {
        icmp_type: 0xff,
        code_min: 0,
        code_max: 0xff,
    };

    /// A type with any code (`8` = `echo-request`).
    pub fn of_type(icmp_type: u8) -> Self {
        IcmpType {
            icmp_type,
            code_min: 0,
            code_max: 0xff,
        }
    }

    /// A type with one code (`3/4` = `fragmentation-needed`).
    pub fn with_code(icmp_type: u8, code: u8) -> Self {
        IcmpType {
            icmp_type,
            code_min: code,
            code_max: code,
        }
    }
}

/// ICMP type names `--icmp-type` takes (libxt_icmp.h `icmp_codes`); iptables-save prints numbers.
pub(crate) const ICMP_NAMES: &[(&str, u8, u8, u8)] = &[
    ("any", 0xff, 0, 0xff),
    ("echo-reply", 0, 0, 0xff),
    ("pong", 0, 0, 0xff),
    ("destination-unreachable", 3, 0, 0xff),
    ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1),
    ("protocol-unreachable", 3, 2, 2),
    ("port-unreachable", 3, 3, 3),
    ("fragmentation-needed", 3, 4, 4),
    ("source-route-failed", 3, 5, 5),
    ("network-unknown", 3, 6, 6),
    ("host-unknown", 3, 7, 7),
    ("network-prohibited", 3, 9, 9),
    ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11),
    ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13),
    ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15),
    ("source-quench", 4, 0, 0xff),
    ("redirect", 5, 0, 0xff),
    ("network-redirect", 5, 0, 0),
    ("host-redirect", 5, 1, 1),
    ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3),
    ("echo-request", 8, 0, 0xff),
    ("ping", 8, 0, 0xff),
    ("router-advertisement", 9, 0, 0xff),
    ("router-solicitation", 10, 0, 0xff),
    ("time-exceeded", 11, 0, 0xff),
    ("ttl-exceeded", 11, 0, 0xff),
    ("ttl-zero-during-transit", 11, 0, 0),
    ("ttl-zero-during-reassembly", 11, 1, 1),
    ("parameter-problem", 12, 0, 0xff),
    ("ip-header-bad", 12, 0, 0),
    ("required-option-missing", 12, 1, 1),
    ("timestamp-request", 13, 0, 0xff),
    ("timestamp-reply", 14, 0, 0xff),
    ("address-mask-request", 17, 0, 0xff),
    ("address-mask-reply", 18, 0, 0xff),
];

/// Which ports `-m multiport` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MultiportDir {
    /// `--sports`
    Source,
    /// `--dports`
    Destination,
    /// `--ports`: source or destination.
    Either,
}

/// `-m multiport`: up to 15 ports, a range taking two of the 15 (`XT_MULTI_PORTS`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MultiportMatch {
    pub dir: MultiportDir,
    pub ports: Vec<PortRange>,
    pub invert: bool,
}

/// Address types of `-m addrtype` (`XT_ADDRTYPE_*`, the `RTN_*` route types as bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AddrTypes(pub u16);

impl AddrTypes {
    pub const UNSPEC: u16 = 1 << 0;
    pub const UNICAST: u16 = 1 << 1;
    pub const LOCAL: u16 = 1 << 2;
    pub const BROADCAST: u16 = 1 << 3;
    pub const ANYCAST: u16 = 1 << 4;
    pub const MULTICAST: u16 = 1 << 5;
    pub const BLACKHOLE: u16 = 1 << 6;
    pub const UNREACHABLE: u16 = 1 << 7;
    pub const PROHIBIT: u16 = 1 << 8;
    pub const THROW: u16 = 1 << 9;
    pub const NAT: u16 = 1 << 10;
    pub const XRESOLVE: u16 = 1 << 11;

    /// Names in bit order, the order `print_types` uses.
    pub const NAMES: [(&'static str, u16); 12] = [
        ("UNSPEC", Self::UNSPEC),
        ("UNICAST", Self::UNICAST),
        ("LOCAL", Self::LOCAL),
        ("BROADCAST", Self::BROADCAST),
        ("ANYCAST", Self::ANYCAST),
        ("MULTICAST", Self::MULTICAST),
        ("BLACKHOLE", Self::BLACKHOLE),
        ("UNREACHABLE", Self::UNREACHABLE),
        ("PROHIBIT", Self::PROHIBIT),
        ("THROW", Self::THROW),
        ("NAT", Self::NAT),
        ("XRESOLVE", Self::XRESOLVE),
    ];

    pub fn contains(&self, bit: u16) -> bool {
        self.0 & bit != 0
    }
}

/// `--limit-iface-in` / `--limit-iface-out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitIface {
    In,
    Out,
}

/// `-m addrtype`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AddrTypeMatch {
    pub src_type: Option<Negatable<AddrTypes>>,
    pub dst_type: Option<Negatable<AddrTypes>>,
    pub limit_iface: Option<LimitIface>,
}

/// `-m mark --mark VALUE[/MASK]`: `(nfmark & mask) == value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MarkMatch {
    pub value: u32,
    pub mask: u32,
}

/// Conntrack states as `--ctstate`/`--state` name them, in print order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CtStates(pub u8);

impl CtStates {
    pub const INVALID: u8 = 1 << 0;
    pub const NEW: u8 = 1 << 1;
    pub const RELATED: u8 = 1 << 2;
    pub const ESTABLISHED: u8 = 1 << 3;
    pub const UNTRACKED: u8 = 1 << 4;
    pub const SNAT: u8 = 1 << 5;
    pub const DNAT: u8 = 1 << 6;

    /// The order libxt_conntrack.c `conntrack_dump_states` and libxt_state.c print them.
    pub const NAMES: [(&'static str, u8); 7] = [
        ("INVALID", Self::INVALID),
        ("NEW", Self::NEW),
        ("RELATED", Self::RELATED),
        ("ESTABLISHED", Self::ESTABLISHED),
        ("UNTRACKED", Self::UNTRACKED),
        ("SNAT", Self::SNAT),
        ("DNAT", Self::DNAT),
    ];

    pub fn contains(&self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// Conntrack status bits as `--ctstatus` names them; empty is `NONE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CtStatus(pub u8);

impl CtStatus {
    pub const EXPECTED: u8 = 1 << 0;
    pub const SEEN_REPLY: u8 = 1 << 1;
    pub const ASSURED: u8 = 1 << 2;
    pub const CONFIRMED: u8 = 1 << 3;

    pub const NAMES: [(&'static str, u8); 4] = [
        ("EXPECTED", Self::EXPECTED),
        ("SEEN_REPLY", Self::SEEN_REPLY),
        ("ASSURED", Self::ASSURED),
        ("CONFIRMED", Self::CONFIRMED),
    ];
}

/// `-m conntrack` (the options kube-proxy and CNI plugins use).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ConntrackMatch {
    pub ctstate: Option<Negatable<CtStates>>,
    /// `--ctorigdst ADDR[/PREFIX]`; printed as given (the address is not masked).
    pub ctorigdst: Option<Negatable<Ipv4Net>>,
    pub ctorigdstport: Option<Negatable<PortRange>>,
    pub ctstatus: Option<Negatable<CtStatus>>,
}

/// `-m statistic --mode random --probability P`: the kernel keeps `P * 2^31` rounded
/// (`lround(0x80000000 * p)` in libxt_statistic.c) and iptables-save prints it back with
/// `%.11f`, so `0.5000000000` saves as `0.50000000000` and `0.3333333333` as `0.33333333349`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Probability(pub u32);

impl Probability {
    /// `2^31`, the kernel's fixed-point one.
    pub const ONE: u32 = 0x8000_0000;

    /// The kernel value for `p` in `[0, 1]` (clamped), rounded half away from zero like `lround`.
    pub fn from_f64(p: f64) -> Self {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        Probability((f64::from(Self::ONE) * p).round() as u32)
    }

    pub fn as_f64(&self) -> f64 {
        f64::from(self.0) / f64::from(Self::ONE)
    }
}

impl fmt::Display for Probability {
    /// `%.11f` of `value / 2^31`, computed exactly (round half to even, as glibc does on the
    /// exact binary value).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SCALE: u128 = 100_000_000_000; // 10^11
        let num = u128::from(self.0) * SCALE;
        let den = u128::from(Self::ONE);
        let (mut q, r) = (num / den, num % den);
        if r * 2 > den || (r * 2 == den && q % 2 == 1) {
            q += 1;
        }
        write!(f, "{}.{:011}", q / SCALE, q % SCALE)
    }
}

/// The two modes of `-m statistic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatisticMode {
    Random {
        probability: Probability,
    },
    /// Every `every`-th packet, starting with counter `packet` (`0 <= packet < every`).
    Nth {
        every: u32,
        packet: u32,
    },
}

/// `-m statistic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatisticMatch {
    pub mode: StatisticMode,
    pub invert: bool,
}

/// The action of `-m recent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecentCommand {
    Set,
    Rcheck,
    Update,
    Remove,
}

/// Which address `-m recent` records: `--rsource` (default) or `--rdest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecentSide {
    Source,
    Dest,
}

/// `-m recent` (kube-proxy's ClientIP session affinity).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecentMatch {
    pub command: RecentCommand,
    pub invert: bool,
    /// `--seconds N`; only with `--rcheck`/`--update`.
    pub seconds: Option<u32>,
    /// `--reap`; needs `--seconds`.
    pub reap: bool,
    /// `--hitcount N`; only with `--rcheck`/`--update`.
    pub hitcount: Option<u32>,
    /// `--rttl`; only with `--rcheck`/`--update`.
    pub rttl: bool,
    /// `--name`; iptables' default is `DEFAULT`.
    pub name: String,
    /// `--mask`; default `255.255.255.255`.
    pub mask: Ipv4Addr,
    pub side: RecentSide,
}

impl RecentMatch {
    /// `-m recent --CMD --name NAME` with iptables' defaults for the rest.
    pub fn new(command: RecentCommand, name: &str) -> Self {
        RecentMatch {
            command,
            invert: false,
            seconds: None,
            reap: false,
            hitcount: None,
            rttl: false,
            name: name.to_string(),
            mask: Ipv4Addr::BROADCAST,
            side: RecentSide::Source,
        }
    }
}

/// A direction flag of `--match-set NAME src,dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetDir {
    Src,
    Dst,
}

/// `-m set --match-set NAME DIRS` (the ipset itself is not modelled).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetMatch {
    pub name: String,
    /// 1 to 6 (`IPSET_DIM_MAX`).
    pub dirs: Vec<SetDir>,
    pub invert: bool,
}

/// `-m physdev`: the bridge ports of a bridged packet (br_netfilter).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PhysdevMatch {
    pub physdev_in: Option<Negatable<String>>,
    pub physdev_out: Option<Negatable<String>>,
    /// `[!] --physdev-is-in`: `Some(invert)`.
    pub is_in: Option<bool>,
    pub is_out: Option<bool>,
    pub is_bridged: Option<bool>,
}

/// `XT_LIMIT_SCALE`: `avg` is in 1/10000 s per packet.
pub const LIMIT_SCALE: u32 = 10_000;
/// iptables' default `--limit-burst`.
pub const LIMIT_DEFAULT_BURST: u32 = 5;

/// `-m limit` (parsed and printed; not evaluated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitMatch {
    /// Period between packets in `1/LIMIT_SCALE` seconds (`XT_LIMIT_SCALE * unit / rate`).
    pub avg: u32,
    pub burst: u32,
}

/// `-m socket` (parsed and printed; not evaluated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SocketMatch {
    pub transparent: bool,
    pub nowildcard: bool,
}

/// One `-m MODULE …` of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Match {
    Tcp(TcpMatch),
    Udp(UdpMatch),
    Sctp(SctpMatch),
    Icmp(Negatable<IcmpType>),
    Multiport(MultiportMatch),
    Comment(String),
    /// `-m nfacct --nfacct-name NAME`: counts into an accounting object; always matches
    /// (kube-proxy ≥ 1.28 counts NodePort and localnet packets this way).
    Nfacct(String),
    AddrType(AddrTypeMatch),
    Mark(Negatable<MarkMatch>),
    Conntrack(ConntrackMatch),
    State(Negatable<CtStates>),
    Statistic(StatisticMatch),
    Recent(RecentMatch),
    Set(SetMatch),
    Physdev(PhysdevMatch),
    Limit(LimitMatch),
    Socket(SocketMatch),
}

impl Match {
    /// The module name after `-m`.
    pub fn module(&self) -> &'static str {
        match self {
            Match::Tcp(_) => "tcp",
            Match::Udp(_) => "udp",
            Match::Sctp(_) => "sctp",
            Match::Icmp(_) => "icmp",
            Match::Multiport(_) => "multiport",
            Match::Comment(_) => "comment",
            Match::Nfacct(_) => "nfacct",
            Match::AddrType(_) => "addrtype",
            Match::Mark(_) => "mark",
            Match::Conntrack(_) => "conntrack",
            Match::State(_) => "state",
            Match::Statistic(_) => "statistic",
            Match::Recent(_) => "recent",
            Match::Set(_) => "set",
            Match::Physdev(_) => "physdev",
            Match::Limit(_) => "limit",
            Match::Socket(_) => "socket",
        }
    }

    /// Appends ` -m MODULE OPTIONS` in iptables-save's form.
    pub(crate) fn push_saved(&self, out: &mut String) {
        out.push_str(" -m ");
        out.push_str(self.module());
        match self {
            Match::Tcp(m) => {
                push_port_option(out, "sport", &m.sport);
                push_port_option(out, "dport", &m.dport);
                if let Some(f) = &m.flags {
                    push_not(out, f.invert);
                    out.push_str(" --tcp-flags ");
                    push_tcp_flag_list(out, f.value.mask);
                    out.push(' ');
                    push_tcp_flag_list(out, f.value.comp);
                }
            }
            Match::Udp(m) => {
                push_port_option(out, "sport", &m.sport);
                push_port_option(out, "dport", &m.dport);
            }
            Match::Sctp(m) => {
                push_port_option(out, "sport", &m.sport);
                push_port_option(out, "dport", &m.dport);
            }
            Match::Icmp(t) => {
                push_not(out, t.invert);
                let t = t.value;
                if t.icmp_type == 0xff {
                    out.push_str(" --icmp-type any");
                } else {
                    let _ = write!(out, " --icmp-type {}", t.icmp_type);
                    if t.code_min != 0 || t.code_max != 0xff {
                        let _ = write!(out, "/{}", t.code_min);
                    }
                }
            }
            Match::Multiport(m) => {
                push_not(out, m.invert);
                out.push_str(match m.dir {
                    MultiportDir::Source => " --sports ",
                    MultiportDir::Destination => " --dports ",
                    MultiportDir::Either => " --ports ",
                });
                for (i, r) in m.ports.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    r.push_colon(out);
                }
            }
            Match::Comment(c) => {
                out.push_str(" --comment");
                push_saved_string(out, c);
            }
            Match::Nfacct(n) => {
                out.push_str(" --nfacct-name");
                push_saved_string(out, n);
            }
            Match::AddrType(m) => {
                for (name, sel) in [("src-type", &m.src_type), ("dst-type", &m.dst_type)] {
                    if let Some(s) = sel {
                        push_not(out, s.invert);
                        let _ = write!(out, " --{name} ");
                        push_name_list(out, &AddrTypes::NAMES, u32::from(s.value.0));
                    }
                }
                match m.limit_iface {
                    Some(LimitIface::In) => out.push_str(" --limit-iface-in"),
                    Some(LimitIface::Out) => out.push_str(" --limit-iface-out"),
                    None => {}
                }
            }
            Match::Mark(m) => {
                push_not(out, m.invert);
                out.push_str(" --mark");
                push_val_mask(out, m.value.value, m.value.mask);
            }
            Match::Conntrack(m) => {
                if let Some(s) = &m.ctstate {
                    push_not(out, s.invert);
                    out.push_str(" --ctstate ");
                    push_name_list(out, &CtStates::NAMES, u32::from(s.value.0));
                }
                if let Some(d) = &m.ctorigdst {
                    push_not(out, d.invert);
                    let _ = write!(out, " --ctorigdst {}", d.value.addr());
                    if d.value.prefix_len() != 32 {
                        let _ = write!(out, "/{}", d.value.prefix_len());
                    }
                }
                if let Some(p) = &m.ctorigdstport {
                    push_not(out, p.invert);
                    out.push_str(" --ctorigdstport ");
                    p.value.push_colon(out);
                }
                if let Some(s) = &m.ctstatus {
                    push_not(out, s.invert);
                    out.push_str(" --ctstatus ");
                    if s.value.0 == 0 {
                        out.push_str("NONE");
                    } else {
                        push_name_list(out, &CtStatus::NAMES, u32::from(s.value.0));
                    }
                }
            }
            Match::State(s) => {
                push_not(out, s.invert);
                out.push_str(" --state ");
                push_name_list(out, &CtStates::NAMES, u32::from(s.value.0));
            }
            Match::Statistic(s) => match s.mode {
                StatisticMode::Random { probability } => {
                    out.push_str(" --mode random");
                    push_not(out, s.invert);
                    let _ = write!(out, " --probability {probability}");
                }
                StatisticMode::Nth { every, packet } => {
                    out.push_str(" --mode nth");
                    push_not(out, s.invert);
                    let _ = write!(out, " --every {every} --packet {packet}");
                }
            },
            Match::Recent(r) => {
                push_not(out, r.invert);
                out.push_str(match r.command {
                    RecentCommand::Set => " --set",
                    RecentCommand::Rcheck => " --rcheck",
                    RecentCommand::Update => " --update",
                    RecentCommand::Remove => " --remove",
                });
                if let Some(s) = r.seconds {
                    let _ = write!(out, " --seconds {s}");
                }
                if r.reap {
                    out.push_str(" --reap");
                }
                if let Some(h) = r.hitcount {
                    let _ = write!(out, " --hitcount {h}");
                }
                if r.rttl {
                    out.push_str(" --rttl");
                }
                let _ = write!(out, " --name {} --mask {}", r.name, r.mask);
                out.push_str(match r.side {
                    RecentSide::Source => " --rsource",
                    RecentSide::Dest => " --rdest",
                });
            }
            Match::Set(s) => {
                push_not(out, s.invert);
                let _ = write!(out, " --match-set {} ", s.name);
                for (i, d) in s.dirs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(match d {
                        SetDir::Src => "src",
                        SetDir::Dst => "dst",
                    });
                }
            }
            Match::Physdev(p) => {
                if let Some(inv) = p.is_in {
                    push_not(out, inv);
                    out.push_str(" --physdev-is-in");
                }
                if let Some(i) = &p.physdev_in {
                    push_not(out, i.invert);
                    let _ = write!(out, " --physdev-in {}", i.value);
                }
                if let Some(inv) = p.is_out {
                    push_not(out, inv);
                    out.push_str(" --physdev-is-out");
                }
                if let Some(o) = &p.physdev_out {
                    push_not(out, o.invert);
                    let _ = write!(out, " --physdev-out {}", o.value);
                }
                if let Some(inv) = p.is_bridged {
                    push_not(out, inv);
                    out.push_str(" --physdev-is-bridged");
                }
            }
            Match::Limit(l) => {
                out.push_str(" --limit ");
                push_rate(out, l.avg);
                if l.burst != LIMIT_DEFAULT_BURST {
                    let _ = write!(out, " --limit-burst {}", l.burst);
                }
            }
            Match::Socket(s) => {
                if s.transparent {
                    out.push_str(" --transparent");
                }
                if s.nowildcard {
                    out.push_str(" --nowildcard");
                }
            }
        }
    }
}

impl fmt::Display for Match {
    /// The match as iptables-save prints it: `-m tcp --dport 80`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.push_saved(&mut s);
        f.write_str(&s[1..])
    }
}

/// The names of the set bits, comma-separated, in table order.
fn push_name_list<T: Copy + Into<u32>>(out: &mut String, names: &[(&str, T)], bits: u32) {
    let mut first = true;
    for &(name, bit) in names {
        if bits & bit.into() != 0 {
            if !first {
                out.push(',');
            }
            out.push_str(name);
            first = false;
        }
    }
}

/// `xtables_print_val_mask` without a name map: ` 0xV` or ` 0xV/0xM`.
pub(crate) fn push_val_mask(out: &mut String, value: u32, mask: u32) {
    if mask == u32::MAX {
        push_hex(out, value);
    } else {
        let _ = write!(out, " 0x{value:x}/0x{mask:x}");
    }
}

/// `print_rate` of libxt_limit.c: the largest unit that still shows the rate exactly enough.
fn push_rate(out: &mut String, period: u32) {
    const RATES: [(&str, u32); 4] = [
        ("day", LIMIT_SCALE * 24 * 60 * 60),
        ("hour", LIMIT_SCALE * 60 * 60),
        ("min", LIMIT_SCALE * 60),
        ("sec", LIMIT_SCALE),
    ];
    if period == 0 {
        out.push_str("inf");
        return;
    }
    let mut i = 1;
    while i < RATES.len() {
        let mult = RATES[i].1;
        if period > mult || mult / period < mult % period {
            break;
        }
        i += 1;
    }
    let (name, mult) = RATES[i - 1];
    let _ = write!(out, "{}/{name}", mult / period);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_prints_with_eleven_decimals_like_iptables_save() {
        // Values seen from iptables-legacy-save v1.8.9 after restoring kube-proxy's %0.10f input.
        for (input, saved) in [
            (0.5, "0.50000000000"),
            (0.3333333333, "0.33333333349"),
            (0.1, "0.10000000009"),
            (0.25, "0.25000000000"),
            (1.0, "1.00000000000"),
            (0.0, "0.00000000000"),
            (0.99999999999, "1.00000000000"),
        ] {
            assert_eq!(Probability::from_f64(input).to_string(), saved, "{input}");
        }
        // An exact tie at the 12th decimal rounds to even, as glibc's printf does.
        assert_eq!(Probability(1 << 19).to_string(), "0.00024414062");
    }

    #[test]
    fn saved_probability_reads_back_to_the_same_kernel_value() {
        for raw in (0..=Probability::ONE)
            .step_by(7_919)
            .chain([1, Probability::ONE - 1])
        {
            let p = Probability(raw);
            let text = p.to_string();
            let back = Probability::from_f64(text.parse().unwrap());
            assert_eq!(back, p, "{text}");
        }
    }

    #[test]
    fn limit_rates_print_in_the_largest_fitting_unit() {
        let show = |avg| {
            let mut s = String::new();
            push_rate(&mut s, avg);
            s
        };
        assert_eq!(show(LIMIT_SCALE * 3600 / 3), "3/hour");
        assert_eq!(show(LIMIT_SCALE * 60 / 5), "5/min");
        assert_eq!(show(LIMIT_SCALE / 7), "7/sec");
        assert_eq!(show(LIMIT_SCALE / 100), "100/sec");
        assert_eq!(show(LIMIT_SCALE * 60 / 10), "10/min");
    }

    #[test]
    fn matches_print_in_each_modules_canonical_order() {
        let m = Match::Tcp(TcpMatch {
            sport: Some(Negatable::inverted(PortRange::new(1000, 2000))),
            dport: Some(Negatable::new(PortRange::single(80))),
            flags: Some(Negatable::new(TcpFlags::SYN)),
        });
        assert_eq!(
            m.to_string(),
            "-m tcp ! --sport 1000:2000 --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN"
        );
        let m = Match::AddrType(AddrTypeMatch {
            src_type: Some(Negatable::new(AddrTypes(
                AddrTypes::LOCAL | AddrTypes::UNICAST,
            ))),
            dst_type: None,
            limit_iface: Some(LimitIface::In),
        });
        assert_eq!(
            m.to_string(),
            "-m addrtype --src-type UNICAST,LOCAL --limit-iface-in"
        );
        let mut r = RecentMatch::new(RecentCommand::Rcheck, "KUBE-SEP-X");
        r.seconds = Some(10800);
        r.reap = true;
        assert_eq!(
            Match::Recent(r).to_string(),
            "-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 --rsource"
        );
        let m = Match::Icmp(Negatable::inverted(IcmpType::with_code(3, 3)));
        assert_eq!(m.to_string(), "-m icmp ! --icmp-type 3/3");
        let m = Match::Mark(Negatable::inverted(MarkMatch {
            value: 0x4000,
            mask: 0x4000,
        }));
        assert_eq!(m.to_string(), "-m mark ! --mark 0x4000/0x4000");
    }
}
