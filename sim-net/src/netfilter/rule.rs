//! One rule: the IP header matches every rule has (`-s -d -i -o -p`), an ordered list of
//! match modules, an optional target, and packet/byte counters. [`Rule`]'s `Display` is the
//! rule as iptables-save prints it after `-A CHAIN` — the form explained traces show — and
//! its builder methods make rules in code (for the kube-proxy model), already canonical.
//!
//! Print order (`print_rule4` / `save_ipv4_addr` in iptables 1.8): `-s`, `-d`, `-i`, `-o`,
//! `-p`, then the matches in the order given, then `-j`/`-g`.

use std::fmt::{self, Write};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::netfilter::matches::{Match, Negatable, PortRange, TcpMatch, UdpMatch};
use crate::netfilter::target::Target;
use crate::netfilter::value::{mask_to_prefix, prefix_to_mask};

/// Packet and byte counters (`[PACKETS:BYTES]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

impl Counters {
    pub fn new(packets: u64, bytes: u64) -> Self {
        Counters { packets, bytes }
    }

    /// Counts one packet of `len` bytes.
    pub fn count(&mut self, len: u64) {
        self.packets += 1;
        self.bytes += len;
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}:{}]", self.packets, self.bytes)
    }
}

/// `-s`/`-d`: an address and a mask, which iptables allows to be non-contiguous
/// (`10.0.0.0/255.0.255.0`). The address is stored masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrMask {
    pub addr: Ipv4Addr,
    pub mask: u32,
}

impl AddrMask {
    /// A prefix (host bits are cleared, as iptables does).
    pub fn from_net(net: Ipv4Net) -> Self {
        let mask = prefix_to_mask(u32::from(net.prefix_len()));
        AddrMask {
            addr: Ipv4Addr::from(u32::from(net.addr()) & mask),
            mask,
        }
    }

    /// One host (`/32`).
    pub fn host(addr: Ipv4Addr) -> Self {
        AddrMask {
            addr,
            mask: u32::MAX,
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask == u32::from(self.addr)
    }

    /// `0.0.0.0/0`, which matches everything and prints as nothing.
    pub fn is_any(&self) -> bool {
        self.mask == 0 && self.addr.is_unspecified()
    }
}

impl fmt::Display for AddrMask {
    /// `ADDR/PREFIX` (always with the prefix, `/32` included) or `ADDR/DOTTED-MASK`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match mask_to_prefix(self.mask) {
            Some(p) => write!(f, "{}/{p}", self.addr),
            None => write!(f, "{}/{}", self.addr, Ipv4Addr::from(self.mask)),
        }
    }
}

/// `-p`: the IP protocol number; unknown numbers are kept, never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Icmp,
    Tcp,
    Udp,
    Sctp,
    Other(u8),
}

/// Protocol names as iptables-save prints them: `getprotobynumber` with Debian's
/// `/etc/protocols` (netbase), which iptables consults before its own `xtables_chain_protos`.
const PROTOCOL_NAMES: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("ethernet", 143),
];

/// Aliases `xtables_chain_protos` adds.
const PROTOCOL_ALIASES: &[(&str, u8)] = &[("icmpv6", 58), ("ipv6-mh", 135), ("mh", 135)];

impl Protocol {
    pub fn from_number(n: u8) -> Self {
        match n {
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            n => Protocol::Other(n),
        }
    }

    pub fn number(&self) -> u8 {
        match self {
            Protocol::Icmp => 1,
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Other(n) => *n,
        }
    }

    /// A name (case-insensitive) from `/etc/protocols` or `xtables_chain_protos`; `all` is 0.
    pub(crate) fn number_from_name(name: &str) -> Option<u8> {
        // The names kube-proxy writes, before the table.
        match name {
            "tcp" => return Some(6),
            "udp" => return Some(17),
            _ => {}
        }
        if name.eq_ignore_ascii_case("all") {
            return Some(0);
        }
        PROTOCOL_NAMES
            .iter()
            .chain(PROTOCOL_ALIASES)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, num)| num)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.number();
        match PROTOCOL_NAMES.iter().find(|(_, num)| *num == n) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "{n}"),
        }
    }
}

/// One rule of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Rule {
    /// `-s`; `None` also stands for `0.0.0.0/0`.
    pub source: Option<Negatable<AddrMask>>,
    /// `-d`.
    pub destination: Option<Negatable<AddrMask>>,
    /// `-i NAME` (a trailing `+` is a wildcard); `None` also stands for `+`.
    pub in_interface: Option<Negatable<String>>,
    /// `-o NAME`.
    pub out_interface: Option<Negatable<String>>,
    /// `-p`; `None` is `all`.
    pub protocol: Option<Negatable<Protocol>>,
    /// `-m MODULE …`, in order.
    pub matches: Vec<Match>,
    /// `-j`/`-g`; `None` only counts.
    pub target: Option<Target>,
    pub counters: Counters,
}

impl Rule {
    pub fn new() -> Self {
        Rule::default()
    }

    /// `-s NET` (`0.0.0.0/0` leaves the rule without `-s`, as iptables does).
    pub fn source(mut self, net: Ipv4Net) -> Self {
        let a = AddrMask::from_net(net);
        self.source = (!a.is_any()).then(|| Negatable::new(a));
        self
    }

    /// `! -s NET`.
    pub fn not_source(mut self, net: Ipv4Net) -> Self {
        self.source = Some(Negatable::inverted(AddrMask::from_net(net)));
        self
    }

    /// `-d NET`.
    pub fn destination(mut self, net: Ipv4Net) -> Self {
        let a = AddrMask::from_net(net);
        self.destination = (!a.is_any()).then(|| Negatable::new(a));
        self
    }

    /// `! -d NET`.
    pub fn not_destination(mut self, net: Ipv4Net) -> Self {
        self.destination = Some(Negatable::inverted(AddrMask::from_net(net)));
        self
    }

    /// `-i NAME` (`+` leaves the rule without `-i`).
    pub fn in_interface(mut self, name: &str) -> Self {
        self.in_interface = (name != "+" && !name.is_empty()).then(|| Negatable::new(name.into()));
        self
    }

    /// `! -i NAME`.
    pub fn not_in_interface(mut self, name: &str) -> Self {
        self.in_interface = Some(Negatable::inverted(name.into()));
        self
    }

    /// `-o NAME`.
    pub fn out_interface(mut self, name: &str) -> Self {
        self.out_interface = (name != "+" && !name.is_empty()).then(|| Negatable::new(name.into()));
        self
    }

    /// `! -o NAME`.
    pub fn not_out_interface(mut self, name: &str) -> Self {
        self.out_interface = Some(Negatable::inverted(name.into()));
        self
    }

    /// `-p PROTO`.
    pub fn protocol(mut self, p: Protocol) -> Self {
        self.protocol = Some(Negatable::new(p));
        self
    }

    /// Appends `-m …`.
    pub fn matching(mut self, m: Match) -> Self {
        self.matches.push(m);
        self
    }

    /// `-m comment --comment TEXT`.
    pub fn comment(self, text: &str) -> Self {
        self.matching(Match::Comment(text.to_string()))
    }

    /// `-p tcp -m tcp --dport PORT` (the `-p` is set if the rule has none).
    pub fn tcp_dport(mut self, port: u16) -> Self {
        if self.protocol.is_none() {
            self.protocol = Some(Negatable::new(Protocol::Tcp));
        }
        self.matching(Match::Tcp(TcpMatch {
            dport: Some(Negatable::new(PortRange::single(port))),
            ..TcpMatch::default()
        }))
    }

    /// `-p udp -m udp --dport PORT`.
    pub fn udp_dport(mut self, port: u16) -> Self {
        if self.protocol.is_none() {
            self.protocol = Some(Negatable::new(Protocol::Udp));
        }
        self.matching(Match::Udp(UdpMatch {
            dport: Some(Negatable::new(PortRange::single(port))),
            ..UdpMatch::default()
        }))
    }

    /// `-j TARGET`.
    pub fn target(mut self, t: Target) -> Self {
        self.target = Some(t);
        self
    }

    /// `-j CHAIN` for a user chain.
    pub fn jump(self, chain: &str) -> Self {
        self.target(Target::Jump(chain.into()))
    }

    /// `-g CHAIN`.
    pub fn goto(self, chain: &str) -> Self {
        self.target(Target::Goto(chain.into()))
    }

    /// Same rule apart from the counters: what `-D CHAIN RULE-SPEC` compares.
    pub fn same_spec(&self, other: &Rule) -> bool {
        self.source == other.source
            && self.destination == other.destination
            && self.in_interface == other.in_interface
            && self.out_interface == other.out_interface
            && self.protocol == other.protocol
            && self.matches == other.matches
            && self.target == other.target
    }

    /// Appends the rule text, each part with a leading space.
    pub(crate) fn push_saved(&self, out: &mut String) {
        for (flag, a) in [("-s", &self.source), ("-d", &self.destination)] {
            if let Some(a) = a {
                if a.invert {
                    out.push_str(" !");
                }
                let _ = write!(out, " {flag} {}", a.value);
            }
        }
        for (flag, i) in [("-i", &self.in_interface), ("-o", &self.out_interface)] {
            if let Some(i) = i {
                if i.invert {
                    out.push_str(" !");
                }
                let _ = write!(out, " {flag} {}", i.value);
            }
        }
        if let Some(p) = &self.protocol {
            if p.invert {
                out.push_str(" !");
            }
            let _ = write!(out, " -p {}", p.value);
        }
        for m in &self.matches {
            m.push_saved(out);
        }
        if let Some(t) = &self.target {
            t.push_saved(out);
        }
    }
}

impl fmt::Display for Rule {
    /// The rule as iptables-save prints it after `-A CHAIN `, e.g.
    /// `-d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.push_saved(&mut s);
        f.write_str(s.strip_prefix(' ').unwrap_or(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfilter::matches::{Probability, StatisticMatch, StatisticMode};
    use crate::netfilter::target::{DnatTarget, NatRange};

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn built_rules_print_like_iptables_save() {
        let r = Rule::new()
            .not_source(net("10.0.0.0/8"))
            .destination(net("172.30.0.41/32"))
            .comment("ns1/svc1:p80 cluster IP")
            .tcp_dport(80)
            .jump("KUBE-MARK-MASQ");
        assert_eq!(
            r.to_string(),
            "! -s 10.0.0.0/8 -d 172.30.0.41/32 -p tcp -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ"
        );
        let r = Rule::new()
            .comment("ns4/svc4:p80 -> 10.180.0.4:80")
            .matching(Match::Statistic(StatisticMatch {
                mode: StatisticMode::Random {
                    probability: Probability::from_f64(0.5),
                },
                invert: false,
            }))
            .jump("KUBE-SEP-UKSFD7AGPMPPLUHC");
        assert_eq!(
            r.to_string(),
            "-m comment --comment \"ns4/svc4:p80 -> 10.180.0.4:80\" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC"
        );
        let r = Rule::new()
            .protocol(Protocol::Tcp)
            .target(Target::Dnat(DnatTarget {
                to: NatRange::addr_port(Ipv4Addr::new(10, 180, 0, 1), 80),
                random: false,
                persistent: false,
            }));
        assert_eq!(
            r.to_string(),
            "-p tcp -j DNAT --to-destination 10.180.0.1:80"
        );
        assert_eq!(Rule::new().to_string(), "");
    }

    #[test]
    fn builders_canonicalise_like_iptables() {
        assert_eq!(Rule::new().source(net("10.1.2.3/0")), Rule::new());
        assert_eq!(Rule::new().in_interface("+"), Rule::new());
        assert_eq!(
            Rule::new().source(net("10.1.2.3/24")).to_string(),
            "-s 10.1.2.0/24"
        );
        let odd = AddrMask {
            addr: Ipv4Addr::new(10, 0, 0, 0),
            mask: 0xff00_ff00,
        };
        assert_eq!(odd.to_string(), "10.0.0.0/255.0.255.0");
    }

    #[test]
    fn protocols_print_by_name_and_keep_unknown_numbers() {
        assert_eq!(Protocol::from_number(6), Protocol::Tcp);
        assert_eq!(Protocol::from_number(47).to_string(), "gre");
        assert_eq!(Protocol::from_number(58).to_string(), "ipv6-icmp");
        assert_eq!(Protocol::from_number(99).to_string(), "99");
        assert_eq!(Protocol::number_from_name("ICMP"), Some(1));
        assert_eq!(Protocol::number_from_name("mh"), Some(135));
        assert_eq!(Protocol::number_from_name("bogus"), None);
    }
}
