//! Conntrack tuples: the `(proto, src, dst, sport, dport)` key of one direction of a flow, as
//! `struct nf_conntrack_tuple` has it (include/net/netfilter/nf_conntrack_tuple.h).
//!
//! ICMP and ICMPv6 reuse the two 16-bit fields the way the kernel's union does: `sport` holds
//! the echo identifier (`src.u.icmp.id`) and `dport` holds type and code
//! (`dst.u.icmp.type`, `dst.u.icmp.code`, high byte first). Use [`Tuple::icmp`] and the
//! `icmp_*` accessors rather than packing by hand. Protocols without ports (GRE, ESP, …)
//! carry zeros, as the generic tracker does.

use std::fmt;
use std::net::IpAddr;

/// A layer-4 protocol number (`IPPROTO_*`). Every value is valid: the tracker handles the
/// ones it knows and tracks the rest with the generic tracker, as Linux does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct L4Proto(pub u8);

impl L4Proto {
    pub const ICMP: L4Proto = L4Proto(1);
    pub const TCP: L4Proto = L4Proto(6);
    pub const UDP: L4Proto = L4Proto(17);
    pub const DCCP: L4Proto = L4Proto(33);
    pub const GRE: L4Proto = L4Proto(47);
    pub const ICMPV6: L4Proto = L4Proto(58);
    pub const SCTP: L4Proto = L4Proto(132);
    pub const UDPLITE: L4Proto = L4Proto(136);

    /// The name `conntrack -L` prints: libnetfilter_conntrack's `proto2str`
    /// (src/conntrack/snprintf.c), `"unknown"` for the rest.
    pub fn name(self) -> &'static str {
        match self {
            L4Proto::TCP => "tcp",
            L4Proto::UDP => "udp",
            L4Proto::UDPLITE => "udplite",
            L4Proto::ICMP => "icmp",
            L4Proto::ICMPV6 => "icmpv6",
            L4Proto::SCTP => "sctp",
            L4Proto::GRE => "gre",
            L4Proto::DCCP => "dccp",
            _ => "unknown",
        }
    }

    /// Protocols whose tuple carries source and destination ports
    /// (`nf_ct_get_tuple_ports` in nf_conntrack_core.c).
    pub fn has_ports(self) -> bool {
        matches!(
            self,
            L4Proto::TCP | L4Proto::UDP | L4Proto::UDPLITE | L4Proto::SCTP | L4Proto::DCCP
        )
    }

    /// ICMP or ICMPv6.
    pub fn is_icmp(self) -> bool {
        matches!(self, L4Proto::ICMP | L4Proto::ICMPV6)
    }
}

impl fmt::Display for L4Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            "unknown" => write!(f, "{}", self.0),
            name => f.write_str(name),
        }
    }
}

/// ICMP types (RFC 792) the tracker names.
pub mod icmp {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACH: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const INFO_REQUEST: u8 = 15;
    pub const INFO_REPLY: u8 = 16;
    pub const ADDRESS: u8 = 17;
    pub const ADDRESS_REPLY: u8 = 18;
}

/// ICMPv6 types (RFC 4443, RFC 4620) the tracker names.
pub mod icmpv6 {
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const NI_QUERY: u8 = 139;
    pub const NI_REPLY: u8 = 140;
}

/// One direction of a flow.
///
/// The derived order (protocol, source, destination, ports) is the order of `conntrack -L`
/// in this model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tuple {
    pub proto: L4Proto,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Source port; the echo identifier for ICMP/ICMPv6; 0 for portless protocols.
    pub sport: u16,
    /// Destination port; `type << 8 | code` for ICMP/ICMPv6; 0 for portless protocols.
    pub dport: u16,
}

impl Tuple {
    /// A tuple with ports (or zeros for a portless protocol).
    pub fn new(proto: L4Proto, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Tuple {
        Tuple {
            proto,
            src,
            dst,
            sport,
            dport,
        }
    }

    pub fn tcp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Tuple {
        Tuple::new(L4Proto::TCP, src, sport, dst, dport)
    }

    pub fn udp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Tuple {
        Tuple::new(L4Proto::UDP, src, sport, dst, dport)
    }

    /// An ICMP (IPv4 addresses) or ICMPv6 (IPv6 addresses) tuple.
    pub fn icmp(src: IpAddr, dst: IpAddr, icmp_type: u8, code: u8, id: u16) -> Tuple {
        let proto = if src.is_ipv4() {
            L4Proto::ICMP
        } else {
            L4Proto::ICMPV6
        };
        Tuple {
            proto,
            src,
            dst,
            sport: id,
            dport: u16::from_be_bytes([icmp_type, code]),
        }
    }

    /// The ICMP type, for ICMP/ICMPv6 tuples.
    pub fn icmp_type(&self) -> u8 {
        self.dport.to_be_bytes()[0]
    }

    /// The ICMP code, for ICMP/ICMPv6 tuples.
    pub fn icmp_code(&self) -> u8 {
        self.dport.to_be_bytes()[1]
    }

    /// The echo identifier, for ICMP/ICMPv6 tuples.
    pub fn icmp_id(&self) -> u16 {
        self.sport
    }

    /// Both addresses are of one family.
    pub fn is_well_formed(&self) -> bool {
        self.src.is_ipv4() == self.dst.is_ipv4()
            && !(self.proto == L4Proto::ICMP && self.src.is_ipv6())
            && !(self.proto == L4Proto::ICMPV6 && self.src.is_ipv4())
    }

    /// An ICMP or ICMPv6 error message, which carries a packet of another flow and is handled
    /// by `nf_conntrack_inet_error` instead of getting a conntrack of its own
    /// (`icmp_is_err` for IPv4; every ICMPv6 type below 128).
    pub fn is_icmp_error(&self) -> bool {
        match self.proto {
            L4Proto::ICMP => matches!(
                self.icmp_type(),
                icmp::DEST_UNREACH
                    | icmp::SOURCE_QUENCH
                    | icmp::REDIRECT
                    | icmp::TIME_EXCEEDED
                    | icmp::PARAMETER_PROBLEM
            ),
            L4Proto::ICMPV6 => self.icmp_type() < 128,
            _ => false,
        }
    }

    /// The tuple of the other direction (`nf_ct_invert_tuple`): addresses and ports swap; for
    /// ICMP the identifier stays and the type becomes its answer (echo-request ↔ echo-reply,
    /// timestamp, info and address-mask pairs; ICMPv6 echo and node-information pairs).
    /// `None` for an ICMP type without an answer, which cannot be tracked.
    pub fn invert(&self) -> Option<Tuple> {
        if self.proto.is_icmp() {
            let inverse = if self.proto == L4Proto::ICMP {
                icmp_inverse(self.icmp_type())?
            } else {
                icmpv6_inverse(self.icmp_type())?
            };
            return Some(Tuple {
                proto: self.proto,
                src: self.dst,
                dst: self.src,
                sport: self.sport,
                dport: u16::from_be_bytes([inverse, self.icmp_code()]),
            });
        }
        Some(Tuple {
            proto: self.proto,
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
        })
    }
}

/// `invmap` of net/netfilter/nf_conntrack_proto_icmp.c.
fn icmp_inverse(t: u8) -> Option<u8> {
    use icmp::*;
    Some(match t {
        ECHO_REQUEST => ECHO_REPLY,
        ECHO_REPLY => ECHO_REQUEST,
        TIMESTAMP => TIMESTAMP_REPLY,
        TIMESTAMP_REPLY => TIMESTAMP,
        INFO_REQUEST => INFO_REPLY,
        INFO_REPLY => INFO_REQUEST,
        ADDRESS => ADDRESS_REPLY,
        ADDRESS_REPLY => ADDRESS,
        _ => return None,
    })
}

/// `invmap` of net/netfilter/nf_conntrack_proto_icmpv6.c.
fn icmpv6_inverse(t: u8) -> Option<u8> {
    use icmpv6::*;
    Some(match t {
        ECHO_REQUEST => ECHO_REPLY,
        ECHO_REPLY => ECHO_REQUEST,
        NI_QUERY => NI_REPLY,
        NI_REPLY => NI_QUERY,
        _ => return None,
    })
}

/// ICMP types that may open a conntrack (`valid_new` in nf_conntrack_icmp_packet and
/// nf_conntrack_icmpv6_packet): the requests, never an answer.
pub(crate) fn icmp_valid_new(t: &Tuple) -> bool {
    match t.proto {
        L4Proto::ICMP => matches!(
            t.icmp_type(),
            icmp::ECHO_REQUEST | icmp::TIMESTAMP | icmp::INFO_REQUEST | icmp::ADDRESS
        ),
        L4Proto::ICMPV6 => matches!(t.icmp_type(), icmpv6::ECHO_REQUEST | icmpv6::NI_QUERY),
        _ => false,
    }
}

impl fmt::Display for Tuple {
    /// The `src=… dst=… sport=… dport=…` part of a `conntrack -L` line (no trailing space).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src={} dst={}", self.src, self.dst)?;
        if self.proto.has_ports() {
            write!(f, " sport={} dport={}", self.sport, self.dport)
        } else if self.proto.is_icmp() {
            write!(
                f,
                " type={} code={} id={}",
                self.icmp_type(),
                self.icmp_code(),
                self.icmp_id()
            )
        } else if self.proto == L4Proto::GRE {
            write!(f, " srckey={:#x} dstkey={:#x}", self.sport, self.dport)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn invert_swaps_ports_and_addresses() {
        let t = Tuple::tcp(ip("10.0.0.1"), 40000, ip("10.0.0.2"), 80);
        let r = t.invert().unwrap();
        assert_eq!(r, Tuple::tcp(ip("10.0.0.2"), 80, ip("10.0.0.1"), 40000));
        assert_eq!(r.invert().unwrap(), t);
    }

    #[test]
    fn icmp_invert_keeps_id_and_answers_the_type() {
        let t = Tuple::icmp(ip("10.0.0.1"), ip("10.0.0.2"), icmp::ECHO_REQUEST, 0, 7);
        let r = t.invert().unwrap();
        assert_eq!(r.icmp_type(), icmp::ECHO_REPLY);
        assert_eq!(
            (r.icmp_id(), r.src, r.dst),
            (7, ip("10.0.0.2"), ip("10.0.0.1"))
        );
        let unreachable = Tuple::icmp(ip("10.0.0.1"), ip("10.0.0.2"), 3, 3, 0);
        assert_eq!(unreachable.invert(), None);
        assert!(unreachable.is_icmp_error());
        let v6 = Tuple::icmp(ip("fd00::1"), ip("fd00::2"), icmpv6::ECHO_REQUEST, 0, 1);
        assert_eq!(v6.proto, L4Proto::ICMPV6);
        assert_eq!(v6.invert().unwrap().icmp_type(), icmpv6::ECHO_REPLY);
        assert!(!v6.is_icmp_error());
    }

    #[test]
    fn display_follows_snprintf_default() {
        let t = Tuple::udp(ip("10.244.1.5"), 5353, ip("10.96.0.10"), 53);
        assert_eq!(
            t.to_string(),
            "src=10.244.1.5 dst=10.96.0.10 sport=5353 dport=53"
        );
        let i = Tuple::icmp(ip("10.0.0.1"), ip("10.0.0.2"), 8, 0, 42);
        assert_eq!(
            i.to_string(),
            "src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=42"
        );
        let g = Tuple::new(L4Proto::GRE, ip("10.0.0.1"), 0, ip("10.0.0.2"), 0);
        assert_eq!(
            g.to_string(),
            "src=10.0.0.1 dst=10.0.0.2 srckey=0x0 dstkey=0x0"
        );
        let e = Tuple::new(L4Proto(50), ip("10.0.0.1"), 0, ip("10.0.0.2"), 0);
        assert_eq!(e.to_string(), "src=10.0.0.1 dst=10.0.0.2");
        assert_eq!(L4Proto(50).name(), "unknown");
    }
}
