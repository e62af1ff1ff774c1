//! Flows of a capture: packets grouped by their 5-tuple, direction-normalised — a packet
//! belongs to the flow whose key is its own tuple or the reverse of it, and a flow's key is
//! the orientation of its first packet (the side that spoke first is the client side). An
//! ICMP error joins the flow of the packet it quotes, in the direction opposite to it (a
//! port unreachable about a client's datagram is part of the server side).

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use sim_core::SimDuration;
use smoltcp::wire::IpProtocol;

use crate::packet::{self, IPPROTO_SCTP};

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// A flow's 5-tuple. TCP, UDP and SCTP carry their ports; an ICMP echo request or reply
/// carries its identifier as both ports (as conntrack keys it); other ICMP messages,
/// other protocols and non-first fragments carry 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    /// The IP protocol number.
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
}

impl FlowKey {
    /// The key of a valid IPv4 packet (header checksum right), `None` otherwise.
    pub fn of(pkt: &[u8]) -> Option<FlowKey> {
        let s = packet::parse_ipv4(pkt)?;
        let protocol = u8::from(s.protocol);
        let (sport, dport) = match (protocol, s.ports) {
            (IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP, Some(p)) => p,
            (IPPROTO_ICMP, Some((0 | 8, _))) => {
                let l4 = &pkt[s.header_len..];
                let id = u16::from_be_bytes([l4[4], l4[5]]);
                (id, id)
            }
            _ => (0, 0),
        };
        Some(FlowKey {
            protocol,
            src: s.src,
            sport,
            dst: s.dst,
            dport,
        })
    }

    /// The key of the other direction.
    pub fn reversed(self) -> FlowKey {
        FlowKey {
            protocol: self.protocol,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }

    /// Whether the protocol has ports (TCP, UDP, SCTP).
    pub fn has_ports(self) -> bool {
        matches!(self.protocol, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
    }

    /// `tcp`, `udp`, `sctp`, `icmp`, or the protocol number.
    pub fn protocol_name(self) -> String {
        match self.protocol {
            IPPROTO_TCP => "tcp".into(),
            IPPROTO_UDP => "udp".into(),
            IPPROTO_SCTP => "sctp".into(),
            IPPROTO_ICMP => "icmp".into(),
            p => format!("proto-{p}"),
        }
    }

    /// The key with another source address (ports kept).
    pub fn with_src(self, src: Ipv4Addr) -> FlowKey {
        FlowKey { src, ..self }
    }

    /// The key as JSON.
    pub fn json(self) -> serde_json::Value {
        serde_json::json!({
            "protocol": self.protocol_name(),
            "src": self.src.to_string(),
            "sport": self.sport,
            "dst": self.dst.to_string(),
            "dport": self.dport,
        })
    }
}

impl fmt::Display for FlowKey {
    /// `tcp 10.244.0.3:49152 → 10.244.1.2:8080`, `icmp 10.244.0.3 → 10.244.1.2 id 7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.protocol_name();
        if self.has_ports() {
            write!(
                f,
                "{p} {}:{} → {}:{}",
                self.src, self.sport, self.dst, self.dport
            )
        } else if self.protocol == IPPROTO_ICMP && self.sport != 0 {
            write!(f, "{p} {} → {} id {}", self.src, self.dst, self.sport)
        } else {
            write!(f, "{p} {} → {}", self.src, self.dst)
        }
    }
}

/// The flow an ICMP error is about: the key of the packet it quotes (header and the first
/// 8 bytes of the transport header, usually cut short, so read by hand).
pub fn quoted_key(pkt: &[u8]) -> Option<FlowKey> {
    let s = packet::parse_ipv4(pkt)?;
    let icmp = pkt.get(s.header_len..s.total_len)?;
    if s.protocol != IpProtocol::Icmp || !matches!(icmp.first()?, 3 | 11 | 12) {
        return None;
    }
    let inner = icmp.get(8..)?;
    let ihl = usize::from(inner.first()? & 0x0F) * 4;
    if inner[0] >> 4 != 4 || ihl < 20 {
        return None;
    }
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b: [u8; 4] = inner.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    };
    let protocol = *inner.get(9)?;
    let l4 = inner.get(ihl..)?;
    let be = |at: usize| Some(u16::from_be_bytes([*l4.get(at)?, *l4.get(at + 1)?]));
    let (sport, dport) = match protocol {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => (be(0)?, be(2)?),
        IPPROTO_ICMP if matches!(l4.first(), Some(0 | 8)) => (be(4)?, be(4)?),
        _ => (0, 0),
    };
    Some(FlowKey {
        protocol,
        src: addr(12)?,
        sport,
        dst: addr(16)?,
        dport,
    })
}

/// A short name for what a packet is, for counting replies: `tcp [S.]`, `udp`,
/// `icmp echo reply`, `icmp port unreachable`.
pub fn brief(pkt: &[u8]) -> String {
    let Some(s) = packet::parse_ipv4(pkt) else {
        return "malformed".into();
    };
    let l4 = &pkt[s.header_len..s.total_len.min(pkt.len())];
    match (s.protocol, s.ports) {
        (IpProtocol::Tcp, Some(_)) => {
            let flags = l4.get(13).copied().unwrap_or(0);
            let mut f = String::new();
            for (bit, c) in [
                (packet::TCP_SYN, 'S'),
                (packet::TCP_FIN, 'F'),
                (packet::TCP_RST, 'R'),
                (0x08, 'P'),
                (packet::TCP_ACK, '.'),
            ] {
                if flags & bit != 0 {
                    f.push(c);
                }
            }
            format!("tcp [{f}]")
        }
        (IpProtocol::Icmp, Some((t, c))) => match (t, c) {
            (0, _) => "icmp echo reply".into(),
            (8, _) => "icmp echo request".into(),
            (3, 0) => "icmp net unreachable".into(),
            (3, 1) => "icmp host unreachable".into(),
            (3, 3) => "icmp port unreachable".into(),
            (3, 4) => "icmp frag needed".into(),
            (3, 13) => "icmp admin prohibited".into(),
            (11, _) => "icmp time exceeded".into(),
            (t, c) => format!("icmp type {t} code {c}"),
        },
        (p, _) => p.to_string().to_lowercase(),
    }
}

/// One packet of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPacket {
    /// Position among the capture's IPv4 packets (the injection order).
    pub index: usize,
    /// Time since the capture's first IPv4 packet.
    pub offset: SimDuration,
    /// In the direction of the flow's first packet.
    pub forward: bool,
    /// The IPv4 packet, normalised ([`super::link::normalise`]).
    pub packet: Vec<u8>,
}

/// A flow of the capture: its key (the first packet's orientation) and packets in capture
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub key: FlowKey,
    pub packets: Vec<FlowPacket>,
}

/// Groups packets `(offset, packet)` (capture order, valid IPv4) into flows, in the order
/// of each flow's first packet.
pub fn group(packets: impl IntoIterator<Item = (SimDuration, Vec<u8>)>) -> Vec<Flow> {
    let mut flows: Vec<Flow> = Vec::new();
    let mut index_of: BTreeMap<FlowKey, usize> = BTreeMap::new();
    for (index, (offset, packet)) in packets.into_iter().enumerate() {
        let Some(key) = FlowKey::of(&packet) else {
            continue;
        };
        // An ICMP error belongs to the flow of the packet it quotes, travelling against it.
        let about = quoted_key(&packet).and_then(|q| {
            let i = index_of.get(&q).or_else(|| index_of.get(&q.reversed()))?;
            Some((*i, q != flows[*i].key))
        });
        let found = about.or_else(
            || match (index_of.get(&key), index_of.get(&key.reversed())) {
                (Some(&i), _) => Some((i, true)),
                (None, Some(&i)) => Some((i, false)),
                (None, None) => None,
            },
        );
        let (flow, forward) = match found {
            Some(x) => x,
            None => {
                index_of.insert(key, flows.len());
                flows.push(Flow {
                    key,
                    packets: Vec::new(),
                });
                (flows.len() - 1, true)
            }
        };
        flows[flow].packets.push(FlowPacket {
            index,
            offset,
            forward,
            packet,
        });
    }
    flows
}
