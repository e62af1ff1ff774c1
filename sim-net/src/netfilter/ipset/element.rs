//! Set types and their elements: what `ipset add` accepts and `ipset save` prints, per type
//! (ipset userspace lib/parse.c and lib/print.c, lib/ipset_hash_*.c, lib/ipset_bitmap_port.c).
//!
//! Text forms:
//! - IP: dotted quad or RFC 5952 IPv6. For IPv4 the first IP of a hash type may also be a
//!   CIDR block or a `FROM-TO` range, which adds every address in it.
//! - net: `IP/CIDR` (CIDR 1..=32 or 1..=128; a bare IP is a host), stored masked and printed
//!   without the prefix when it is a host; an IPv4 `FROM-TO` range becomes the covering CIDRs.
//! - port: `[PROTO:]PORT[-PORT]`, protocol `tcp` by default; `udp`, `sctp`, `udplite` take
//!   ports too, `icmp:NAME|TYPE/CODE` and `icmpv6:…` take a type and code, any other
//!   protocol only the pseudo-port 0. Printed as `tcp:80`, `icmp:echo-request`,
//!   `ipv6-icmp:echo-reply` (the /etc/protocols name), `gre:0`.
//!
//! Not supported: host and service names (numbers only), the `netmask` option.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The set types of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetType {
    HashIp,
    HashIpPort,
    HashIpPortIp,
    HashIpPortNet,
    HashNet,
    BitmapPort,
}

impl SetType {
    pub fn name(self) -> &'static str {
        match self {
            SetType::HashIp => "hash:ip",
            SetType::HashIpPort => "hash:ip,port",
            SetType::HashIpPortIp => "hash:ip,port,ip",
            SetType::HashIpPortNet => "hash:ip,port,net",
            SetType::HashNet => "hash:net",
            SetType::BitmapPort => "bitmap:port",
        }
    }

    /// The type for a name or one of ipset's old aliases (`iphash`, `portmap`, …).
    pub fn from_name(name: &str) -> Option<SetType> {
        Some(match name {
            "hash:ip" | "iphash" => SetType::HashIp,
            "hash:ip,port" | "ipporthash" => SetType::HashIpPort,
            "hash:ip,port,ip" | "ipportiphash" => SetType::HashIpPortIp,
            "hash:ip,port,net" | "ipportnethash" => SetType::HashIpPortNet,
            "hash:net" | "nethash" => SetType::HashNet,
            "bitmap:port" | "portmap" => SetType::BitmapPort,
            _ => return None,
        })
    }

    /// How many `src`/`dst` flags a match needs.
    pub fn dimension(self) -> usize {
        match self {
            SetType::HashIp | SetType::HashNet | SetType::BitmapPort => 1,
            SetType::HashIpPort => 2,
            SetType::HashIpPortIp | SetType::HashIpPortNet => 3,
        }
    }

    pub fn is_hash(self) -> bool {
        self != SetType::BitmapPort
    }

    /// Types with a network component, which support `nomatch`.
    pub fn has_net(self) -> bool {
        matches!(self, SetType::HashNet | SetType::HashIpPortNet)
    }
}

impl fmt::Display for SetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `family inet|inet6` of a hash set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetFamily {
    Inet,
    Inet6,
}

impl SetFamily {
    pub fn name(self) -> &'static str {
        match self {
            SetFamily::Inet => "inet",
            SetFamily::Inet6 => "inet6",
        }
    }

    /// `ipset_parse_family`: `inet`, `ipv4`, `-4`, `inet6`, `ipv6`, `-6`.
    pub fn from_name(name: &str) -> Option<SetFamily> {
        match name {
            "inet" | "ipv4" | "-4" => Some(SetFamily::Inet),
            "inet6" | "ipv6" | "-6" => Some(SetFamily::Inet6),
            _ => None,
        }
    }

    pub fn of(addr: IpAddr) -> SetFamily {
        if addr.is_ipv4() {
            SetFamily::Inet
        } else {
            SetFamily::Inet6
        }
    }

    fn host_prefix(self) -> u8 {
        match self {
            SetFamily::Inet => 32,
            SetFamily::Inet6 => 128,
        }
    }
}

/// A protocol and port (or ICMP `type << 8 | code`) as hash:ip,port-style sets store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtoPort {
    pub proto: u8,
    pub port: u16,
}

pub(crate) const TCP: u8 = 6;
pub(crate) const UDP: u8 = 17;
pub(crate) const ICMP: u8 = 1;
pub(crate) const ICMPV6: u8 = 58;
pub(crate) const SCTP: u8 = 132;
pub(crate) const UDPLITE: u8 = 136;

impl ProtoPort {
    pub fn tcp(port: u16) -> ProtoPort {
        ProtoPort { proto: TCP, port }
    }

    pub fn udp(port: u16) -> ProtoPort {
        ProtoPort { proto: UDP, port }
    }

    /// Protocols whose element carries a real port.
    pub(crate) fn has_port(proto: u8) -> bool {
        matches!(proto, TCP | UDP | SCTP | UDPLITE)
    }
}

/// /etc/protocols names `getprotobynumber` gives for the protocols one meets in sets.
const PROTO_NAMES: [(u8, &str); 12] = [
    (1, "icmp"),
    (2, "igmp"),
    (4, "ipencap"),
    (6, "tcp"),
    (17, "udp"),
    (41, "ipv6"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (58, "ipv6-icmp"),
    (132, "sctp"),
    (136, "udplite"),
];

fn proto_name(p: u8) -> Option<&'static str> {
    PROTO_NAMES.iter().find(|(n, _)| *n == p).map(|(_, s)| *s)
}

/// ICMP names of ipset's lib/icmp.c, in its order (the first name of a type/code prints).
const ICMP_NAMES: [(&str, u8, u8); 34] = [
    ("echo-reply", 0, 0),
    ("pong", 0, 0),
    ("network-unreachable", 3, 0),
    ("host-unreachable", 3, 1),
    ("protocol-unreachable", 3, 2),
    ("port-unreachable", 3, 3),
    ("fragmentation-needed", 3, 4),
    ("source-route-failed", 3, 5),
    ("network-unknown", 3, 6),
    ("host-unknown", 3, 7),
    ("network-prohibited", 3, 9),
    ("host-prohibited", 3, 10),
    ("TOS-network-unreachable", 3, 11),
    ("TOS-host-unreachable", 3, 12),
    ("communication-prohibited", 3, 13),
    ("host-precedence-violation", 3, 14),
    ("precedence-cutoff", 3, 15),
    ("source-quench", 4, 0),
    ("network-redirect", 5, 0),
    ("host-redirect", 5, 1),
    ("TOS-network-redirect", 5, 2),
    ("TOS-host-redirect", 5, 3),
    ("echo-request", 8, 0),
    ("ping", 8, 0),
    ("router-advertisement", 9, 0),
    ("router-solicitation", 10, 0),
    ("ttl-zero-during-transit", 11, 0),
    ("ttl-zero-during-reassembly", 11, 1),
    ("ip-header-bad", 12, 0),
    ("required-option-missing", 12, 1),
    ("timestamp-request", 13, 0),
    ("timestamp-reply", 14, 0),
    ("address-mask-request", 17, 0),
    ("address-mask-reply", 18, 0),
];

/// ICMPv6 names of ipset's lib/icmpv6.c (misspelt aliases included, as there).
const ICMPV6_NAMES: [(&str, u8, u8); 21] = [
    ("no-route", 1, 0),
    ("communication-prohibited", 1, 1),
    ("address-unreachable", 1, 3),
    ("port-unreachable", 1, 4),
    ("packet-too-big", 2, 0),
    ("ttl-zero-during-transit", 3, 0),
    ("ttl-zero-during-reassembly", 3, 1),
    ("bad-header", 4, 0),
    ("unknown-header-type", 4, 1),
    ("unknown-option", 4, 2),
    ("echo-request", 128, 0),
    ("ping", 128, 0),
    ("echo-reply", 129, 0),
    ("pong", 129, 0),
    ("router-solicitation", 133, 0),
    ("router-advertisement", 134, 0),
    ("neighbour-solicitation", 135, 0),
    ("neigbour-solicitation", 135, 0),
    ("neighbour-advertisement", 136, 0),
    ("neigbour-advertisement", 136, 0),
    ("redirect", 137, 0),
];

impl fmt::Display for ProtoPort {
    /// `ipset_print_proto_port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match proto_name(self.proto) {
            Some(name) => write!(f, "{name}:")?,
            None => write!(f, "{}:", self.proto)?,
        }
        let [t, c] = self.port.to_be_bytes();
        let table: &[(&str, u8, u8)] = match self.proto {
            ICMP => &ICMP_NAMES,
            ICMPV6 => &ICMPV6_NAMES,
            _ => return write!(f, "{}", self.port),
        };
        match table.iter().find(|(_, ty, co)| (*ty, *co) == (t, c)) {
            Some((name, _, _)) => f.write_str(name),
            None => write!(f, "{t}/{c}"),
        }
    }
}

/// One member of a set.
///
/// The derived order is the order `ipset save` prints members in, in this model (the
/// kernel's is hash order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Element {
    /// hash:ip
    Ip(IpAddr),
    /// hash:ip,port
    IpPort(IpAddr, ProtoPort),
    /// hash:ip,port,ip
    IpPortIp(IpAddr, ProtoPort, IpAddr),
    /// hash:ip,port,net (the net is stored masked)
    IpPortNet(IpAddr, ProtoPort, IpNet),
    /// hash:net (stored masked)
    Net(IpNet),
    /// bitmap:port
    Port(u16),
}

impl Element {
    /// The type this element belongs to.
    pub fn set_type(&self) -> SetType {
        match self {
            Element::Ip(_) => SetType::HashIp,
            Element::IpPort(..) => SetType::HashIpPort,
            Element::IpPortIp(..) => SetType::HashIpPortIp,
            Element::IpPortNet(..) => SetType::HashIpPortNet,
            Element::Net(_) => SetType::HashNet,
            Element::Port(_) => SetType::BitmapPort,
        }
    }

    /// The network component's prefix length, for net types.
    pub(crate) fn prefix_len(&self) -> Option<u8> {
        match self {
            Element::IpPortNet(_, _, n) | Element::Net(n) => Some(n.prefix_len()),
            _ => None,
        }
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Element::Ip(ip) => write!(f, "{ip}"),
            Element::IpPort(ip, pp) => write!(f, "{ip},{pp}"),
            Element::IpPortIp(ip, pp, ip2) => write!(f, "{ip},{pp},{ip2}"),
            Element::IpPortNet(ip, pp, net) => write!(f, "{ip},{pp},{}", NetText(*net)),
            Element::Net(net) => write!(f, "{}", NetText(*net)),
            Element::Port(p) => write!(f, "{p}"),
        }
    }
}

/// A net as `ipset_print_ip` prints it: no `/CIDR` for a host.
struct NetText(IpNet);

impl fmt::Display for NetText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// Why an element string was rejected; the message follows ipset's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElementError {
    #[error("Syntax error: cannot parse {0}: resolving to {1} address failed")]
    BadAddress(String, &'static str),
    #[error("Syntax error: plain IP address must be supplied: {0}")]
    PlainIpExpected(String),
    #[error("Syntax error: '{0}' is out of range {1}-{2}")]
    Cidr(String, u8, u8),
    #[error("Syntax error: cannot parse '{0}' as a protocol")]
    BadProto(String),
    #[error("Syntax error: Unsupported protocol '{0}'")]
    ZeroProto(String),
    #[error("Syntax error: cannot parse '{0}' as a {1} port")]
    BadPort(String, String),
    #[error("Syntax error: Protocol {0} can be used with pseudo port value 0 only.")]
    PseudoPort(String),
    #[error("Syntax error: Protocol {0} can be used with family {1} only")]
    IcmpFamily(&'static str, &'static str),
    #[error("Cannot parse {0} as an {1} type/code.")]
    BadIcmp(String, &'static str),
    #[error("Syntax error: Only protocols TCP and UDP are valid")]
    TcpUdpOnly,
    #[error(
        "Syntax error: element {element:?} has {found} part(s), type {set_type} takes {expected}"
    )]
    Dimension {
        element: String,
        set_type: SetType,
        found: usize,
        expected: usize,
    },
    #[error("Syntax error: invalid range {0}")]
    BadRange(String),
    #[error("{0}: ranges add at most {max} elements in this model", max = MAX_EXPANSION)]
    TooMany(String),
}

/// The most elements one command may expand to (a model bound; the kernel's is
/// `IPSET_MAX_RANGE` and the set's `maxelem`).
pub const MAX_EXPANSION: usize = 65_536;

/// Parses an element for a set of `set_type` and `family` (`None` for bitmap:port),
/// expanding ranges.
pub(crate) fn parse_elements(
    set_type: SetType,
    family: Option<SetFamily>,
    text: &str,
) -> Result<Vec<Element>, ElementError> {
    let family = family.unwrap_or(SetFamily::Inet);
    let parts: Vec<&str> = text.split(',').collect();
    let expected = set_type.dimension();
    if parts.len() != expected {
        return Err(ElementError::Dimension {
            element: text.to_string(),
            set_type,
            found: parts.len(),
            expected,
        });
    }
    let mut out = Vec::new();
    let mut push = |e: Element| {
        if out.len() >= MAX_EXPANSION {
            return Err(ElementError::TooMany(text.to_string()));
        }
        out.push(e);
        Ok(())
    };
    match set_type {
        SetType::HashIp => {
            for ip in parse_ip_multi(family, parts[0])? {
                push(Element::Ip(ip))?;
            }
        }
        SetType::HashIpPort => {
            let ports = parse_proto_ports(family, parts[1])?;
            for ip in parse_ip_multi(family, parts[0])? {
                for &pp in &ports {
                    push(Element::IpPort(ip, pp))?;
                }
            }
        }
        SetType::HashIpPortIp => {
            let ports = parse_proto_ports(family, parts[1])?;
            let ip2 = parse_plain_ip(family, parts[2])?;
            for ip in parse_ip_multi(family, parts[0])? {
                for &pp in &ports {
                    push(Element::IpPortIp(ip, pp, ip2))?;
                }
            }
        }
        SetType::HashIpPortNet => {
            let ports = parse_proto_ports(family, parts[1])?;
            let nets = parse_nets(family, parts[2])?;
            for ip in parse_ip_multi(family, parts[0])? {
                for &pp in &ports {
                    for &net in &nets {
                        push(Element::IpPortNet(ip, pp, net))?;
                    }
                }
            }
        }
        SetType::HashNet => {
            for net in parse_nets(family, parts[0])? {
                push(Element::Net(net))?;
            }
        }
        SetType::BitmapPort => {
            // `ipset_parse_tcp_udp_port`: the protocol, if given, is only checked.
            let (proto, ports) = match parts[0].split_once(':') {
                Some((p, rest)) => (Some(parse_proto(p)?), rest),
                None => (None, parts[0]),
            };
            if proto.is_some_and(|p| p != TCP && p != UDP) {
                return Err(ElementError::TcpUdpOnly);
            }
            let (lo, hi) = parse_port_range(ports, "tcp")?;
            for p in lo..=hi {
                push(Element::Port(p))?;
            }
        }
    }
    Ok(out)
}

fn bad_address(family: SetFamily, s: &str) -> ElementError {
    let fam = match family {
        SetFamily::Inet => "IPv4",
        SetFamily::Inet6 => "IPv6",
    };
    ElementError::BadAddress(s.to_string(), fam)
}

fn parse_addr(family: SetFamily, s: &str) -> Result<IpAddr, ElementError> {
    match family {
        SetFamily::Inet => s.parse::<Ipv4Addr>().map(IpAddr::V4),
        SetFamily::Inet6 => s.parse::<Ipv6Addr>().map(IpAddr::V6),
    }
    .map_err(|_| bad_address(family, s))
}

fn parse_cidr(family: SetFamily, s: &str, min: u8) -> Result<u8, ElementError> {
    let max = family.host_prefix();
    match s.parse::<u8>() {
        Ok(c) if (min..=max).contains(&c) => Ok(c),
        _ => Err(ElementError::Cidr(s.to_string(), min, max)),
    }
}

/// A plain address (`IP` or `IP/32`, `IP/128`).
fn parse_plain_ip(family: SetFamily, s: &str) -> Result<IpAddr, ElementError> {
    match s.split_once('/') {
        Some((ip, c)) if c == family.host_prefix().to_string() => parse_addr(family, ip),
        Some(_) => Err(ElementError::PlainIpExpected(s.to_string())),
        None if s.contains('-') && family == SetFamily::Inet => {
            Err(ElementError::PlainIpExpected(s.to_string()))
        }
        None => parse_addr(family, s),
    }
}

/// The first IP of a hash type: for IPv4 also `IP/CIDR` and `FROM-TO`, expanded
/// (`ipset_parse_ip4_single6`).
fn parse_ip_multi(family: SetFamily, s: &str) -> Result<Vec<IpAddr>, ElementError> {
    if family == SetFamily::Inet6 {
        return Ok(vec![parse_plain_ip(family, s)?]);
    }
    let (lo, hi) = ipv4_bounds(s, 0)?;
    if (hi - lo) as usize >= MAX_EXPANSION {
        return Err(ElementError::TooMany(s.to_string()));
    }
    Ok((lo..=hi).map(|a| IpAddr::V4(Ipv4Addr::from(a))).collect())
}

/// An IPv4 `IP`, `IP/CIDR` (CIDR ≥ `min_cidr`) or `FROM-TO` as an inclusive range.
fn ipv4_bounds(s: &str, min_cidr: u8) -> Result<(u32, u32), ElementError> {
    let fam = SetFamily::Inet;
    if let Some((ip, c)) = s.split_once('/') {
        let base = u32::from(s4(ip)?);
        let c = parse_cidr(fam, c, min_cidr)?;
        let mask = if c == 0 { 0 } else { u32::MAX << (32 - c) };
        return Ok((base & mask, (base & mask) | !mask));
    }
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (u32::from(s4(a)?), u32::from(s4(b)?));
        return Ok((a.min(b), a.max(b)));
    }
    let a = u32::from(s4(s)?);
    Ok((a, a))
}

fn s4(s: &str) -> Result<Ipv4Addr, ElementError> {
    s.parse().map_err(|_| bad_address(SetFamily::Inet, s))
}

/// A net component: `IP[/CIDR]` with CIDR ≥ 1, or an IPv4 `FROM-TO` range as the CIDRs that
/// cover it exactly (`ip_set_range_to_cidr`).
fn parse_nets(family: SetFamily, s: &str) -> Result<Vec<IpNet>, ElementError> {
    let host = family.host_prefix();
    match (family, s.split_once('/')) {
        (_, Some((ip, c))) => {
            let addr = parse_addr(family, ip)?;
            let c = parse_cidr(family, c, 1)?;
            Ok(vec![net(addr, c)])
        }
        (SetFamily::Inet, None) if s.contains('-') => {
            let (lo, hi) = ipv4_bounds(s, 1)?;
            if lo == 0 && hi == u32::MAX {
                return Err(ElementError::BadRange(s.to_string()));
            }
            Ok(range_to_cidrs(lo, hi))
        }
        (_, None) => Ok(vec![net(parse_addr(family, s)?, host)]),
    }
}

/// The masked network `addr/prefix`.
pub(crate) fn net(addr: IpAddr, prefix: u8) -> IpNet {
    match addr {
        IpAddr::V4(a) => IpNet::V4(
            Ipv4Net::new(a, prefix.min(32))
                .expect("prefix ≤ 32")
                .trunc(),
        ),
        IpAddr::V6(a) => IpNet::V6(
            Ipv6Net::new(a, prefix.min(128))
                .expect("prefix ≤ 128")
                .trunc(),
        ),
    }
}

fn range_to_cidrs(mut lo: u32, hi: u32) -> Vec<IpNet> {
    let mut out = Vec::new();
    loop {
        // The largest aligned block starting at `lo` that stays within `hi`.
        let mut size_bits = lo.trailing_zeros().min(32);
        while size_bits > 0 && u64::from(lo) + (1u64 << size_bits) - 1 > u64::from(hi) {
            size_bits -= 1;
        }
        out.push(net(IpAddr::V4(lo.into()), 32 - size_bits as u8));
        let next = u64::from(lo) + (1u64 << size_bits);
        if next > u64::from(hi) {
            return out;
        }
        lo = next as u32;
    }
}

/// `ipset_parse_proto`: a name or a number, `icmpv6` accepted for `ipv6-icmp`.
fn parse_proto(s: &str) -> Result<u8, ElementError> {
    let lower = s.to_ascii_lowercase();
    let name = if lower == "icmpv6" {
        "ipv6-icmp"
    } else {
        &lower
    };
    let p = match s.parse::<u8>() {
        Ok(n) => n,
        Err(_) => PROTO_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(p, _)| *p)
            .ok_or_else(|| ElementError::BadProto(s.to_string()))?,
    };
    if p == 0 {
        return Err(ElementError::ZeroProto(s.to_string()));
    }
    Ok(p)
}

fn parse_port_range(s: &str, proto: &str) -> Result<(u16, u16), ElementError> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| ElementError::BadPort(p.to_string(), proto.to_string()))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            Ok((a.min(b), a.max(b)))
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

/// `ipset_parse_proto_port`: `[PROTO:]PORT[-PORT]`.
fn parse_proto_ports(family: SetFamily, s: &str) -> Result<Vec<ProtoPort>, ElementError> {
    let Some((p, rest)) = s.split_once(':') else {
        let (lo, hi) = parse_port_range(s, "tcp")?;
        return Ok((lo..=hi).map(ProtoPort::tcp).collect());
    };
    let proto = parse_proto(p)?;
    match proto {
        _ if ProtoPort::has_port(proto) => {
            let (lo, hi) = parse_port_range(rest, &p.to_ascii_lowercase())?;
            Ok((lo..=hi).map(|port| ProtoPort { proto, port }).collect())
        }
        ICMP | ICMPV6 => {
            let (table, want, label, family_name): (&[(&str, u8, u8)], _, _, _) = if proto == ICMP {
                (&ICMP_NAMES, SetFamily::Inet, "ICMP", "inet")
            } else {
                (&ICMPV6_NAMES, SetFamily::Inet6, "ICMPv6", "inet6")
            };
            if family != want {
                return Err(ElementError::IcmpFamily(label, family_name));
            }
            // name_to_icmp matches a prefix of a name, first in table order.
            let named = (!rest.is_empty())
                .then(|| table.iter().find(|(n, _, _)| n.starts_with(rest)))
                .flatten();
            let port = match named {
                Some((_, t, c)) => u16::from_be_bytes([*t, *c]),
                None => {
                    let bad = || ElementError::BadIcmp(rest.to_string(), label);
                    let (t, c) = rest.split_once('/').ok_or_else(bad)?;
                    let t: u8 = t.parse().map_err(|_| bad())?;
                    let c: u8 = c.parse().map_err(|_| bad())?;
                    u16::from_be_bytes([t, c])
                }
            };
            Ok(vec![ProtoPort { proto, port }])
        }
        _ => {
            if rest != "0" {
                return Err(ElementError::PseudoPort(p.to_string()));
            }
            Ok(vec![ProtoPort { proto, port: 0 }])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(t: SetType, f: SetFamily, s: &str) -> String {
        let v = parse_elements(t, Some(f), s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v[0].to_string()
    }

    #[test]
    fn elements_print_as_ipset_save_does() {
        use SetFamily::*;
        use SetType::*;
        assert_eq!(one(HashIpPort, Inet, "10.0.0.1,80"), "10.0.0.1,tcp:80");
        assert_eq!(one(HashIpPort, Inet, "10.0.0.1,UDP:53"), "10.0.0.1,udp:53");
        assert_eq!(
            one(HashIpPort, Inet, "10.0.0.1,icmp:ping"),
            "10.0.0.1,icmp:echo-request"
        );
        assert_eq!(
            one(HashIpPort, Inet, "10.0.0.1,icmp:3/3"),
            "10.0.0.1,icmp:port-unreachable"
        );
        assert_eq!(
            one(HashIpPort, Inet, "10.0.0.1,icmp:42/1"),
            "10.0.0.1,icmp:42/1"
        );
        assert_eq!(
            one(HashIpPort, Inet6, "fd00::1,icmpv6:echo-reply"),
            "fd00::1,ipv6-icmp:echo-reply"
        );
        assert_eq!(one(HashIpPort, Inet, "10.0.0.1,gre:0"), "10.0.0.1,gre:0");
        assert_eq!(one(HashIpPort, Inet, "10.0.0.1,99:0"), "10.0.0.1,99:0");
        assert_eq!(
            one(HashIpPortIp, Inet, "10.0.0.1,sctp:9,10.0.0.2/32"),
            "10.0.0.1,sctp:9,10.0.0.2"
        );
        assert_eq!(
            one(HashIpPortNet, Inet, "10.0.0.1,80,10.1.2.3/16"),
            "10.0.0.1,tcp:80,10.1.0.0/16"
        );
        assert_eq!(one(HashNet, Inet, "10.1.2.3"), "10.1.2.3");
        assert_eq!(one(HashNet, Inet6, "fd00::1/64"), "fd00::/64");
        assert_eq!(one(BitmapPort, Inet, "udp:53"), "53");
    }

    #[test]
    fn ranges_expand() {
        use SetType::*;
        let f = Some(SetFamily::Inet);
        assert_eq!(parse_elements(HashIp, f, "10.0.0.0/30").unwrap().len(), 4);
        assert_eq!(
            parse_elements(HashIp, f, "10.0.0.5-10.0.0.3")
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            parse_elements(HashIpPort, f, "10.0.0.1,udp:53-55")
                .unwrap()
                .len(),
            3
        );
        assert_eq!(parse_elements(BitmapPort, None, "80-89").unwrap().len(), 10);
        let nets: Vec<String> = parse_elements(HashNet, f, "10.0.0.1-10.0.0.6")
            .unwrap()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(nets, ["10.0.0.1", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6"]);
        assert!(matches!(
            parse_elements(HashIp, f, "10.0.0.0/8"),
            Err(ElementError::TooMany(_))
        ));
    }

    #[test]
    fn bad_elements_are_typed() {
        use SetType::*;
        let f = Some(SetFamily::Inet);
        let err = |t, s| parse_elements(t, f, s).unwrap_err();
        assert!(matches!(
            err(HashIp, "fd00::1"),
            ElementError::BadAddress(..)
        ));
        assert!(matches!(
            err(HashIpPort, "10.0.0.1"),
            ElementError::Dimension { .. }
        ));
        assert!(matches!(
            err(HashIpPort, "10.0.0.1,tcp:http"),
            ElementError::BadPort(..)
        ));
        assert!(matches!(
            err(HashIpPort, "10.0.0.1,gre:5"),
            ElementError::PseudoPort(_)
        ));
        assert!(matches!(
            err(HashIpPort, "10.0.0.1,bogus:5"),
            ElementError::BadProto(_)
        ));
        assert!(matches!(
            err(HashIpPort, "10.0.0.1,icmpv6:ping"),
            ElementError::IcmpFamily(..)
        ));
        assert!(matches!(err(HashNet, "10.0.0.0/0"), ElementError::Cidr(..)));
        assert!(matches!(
            err(HashNet, "10.0.0.0/33"),
            ElementError::Cidr(..)
        ));
        assert!(matches!(
            err(HashIpPortIp, "10.0.0.1,80,10.0.0.0/24"),
            ElementError::PlainIpExpected(_)
        ));
        assert!(matches!(
            err(BitmapPort, "sctp:80"),
            ElementError::TcpUdpOnly
        ));
        assert_eq!(
            err(HashIpPort, "10.0.0.1,0:1").to_string(),
            "Syntax error: Unsupported protocol '0'"
        );
    }
}
