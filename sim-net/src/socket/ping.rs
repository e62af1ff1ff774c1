//! `ping`'s socket: an ICMP datagram socket (`SOCK_DGRAM, IPPROTO_ICMP`, what iputils uses
//! unprivileged). The kernel picks its identifier like a port (`ping_get_port`: a rover
//! from 1, skipping identifiers in use) and fills the echo request: TTL 64, DF set
//! (`IP_PMTUDISC_WANT`), the data iputils writes — the send time as a `struct timeval`,
//! then bytes counting up. The echo reply, or an ICMP error quoting the request
//! (destination unreachable, time exceeded: `IP_RECVERR`), ends it; an error is reported in
//! iputils' words (`pr_icmph`) with the hop that sent it.
//!
//! Simplified: one echo request per socket (the runner sends `ping -c N`'s requests one
//! after another, each with its own sequence number); an echo request larger than the MTU
//! fails with EMSGSIZE (Linux would fragment it; fragmentation is not modelled).

use std::net::{Ipv4Addr, SocketAddrV4};

use sim_core::SimTime;
use smoltcp::wire::IpProtocol;

use crate::netns::NetNsId;
use crate::packet;
use crate::socket::app::{ClientResult, ClientSpec, Outcome};

/// Linux's default TTL (`net.ipv4.ip_default_ttl`).
const TTL: u8 = 64;

/// One echo request in flight.
pub(crate) struct Ping {
    pub id: u32,
    pub spec: ClientSpec,
    /// The socket's identifier, and the request's sequence number and data length.
    pub ident: u16,
    pub seq: u16,
    pub size: usize,
    pub src: Ipv4Addr,
    pub started: SimTime,
    pub deadline: SimTime,
    pub sent: bool,
    pub done: bool,
}

impl Ping {
    /// The echo request as an IPv4 packet sent at `now` with IP identification `ip_id`.
    pub fn echo_request(&self, now: SimTime, ip_id: u16) -> Vec<u8> {
        let mut data: Vec<u8> = (0..self.size).map(|i| i as u8).collect();
        let us = now.as_nanos() / 1_000;
        let tv = [
            (us / 1_000_000).to_le_bytes(),
            (us % 1_000_000).to_le_bytes(),
        ]
        .concat();
        let n = tv.len().min(data.len());
        data[..n].copy_from_slice(&tv[..n]);
        let icmp = packet::icmp_echo(false, self.ident, self.seq, &data);
        let header = packet::Ipv4Header {
            src: self.src,
            dst: *self.spec.dst.ip(),
            protocol: IpProtocol::Icmp,
            ttl: TTL,
            ident: ip_id,
            dont_frag: true,
        };
        packet::ipv4(header, &icmp)
    }

    /// Whether the echo request fits a packet of `mtu` bytes.
    pub fn fits(&self, mtu: usize) -> bool {
        packet::IPV4_HLEN + 8 + self.size <= mtu
    }

    pub fn result(&self, ns: NetNsId, now: SimTime, outcome: Outcome) -> ClientResult {
        ClientResult {
            id: self.id,
            ns,
            local: SocketAddrV4::new(self.src, self.ident),
            dst: self.spec.dst,
            started: self.started,
            finished: now,
            outcome,
        }
    }
}

/// What an ICMP packet means to a ping socket: `(identifier, sequence, outcome)` of an
/// echo reply, or of an ICMP error quoting an echo request; `None` for anything else.
pub(crate) fn answer(pkt: &[u8]) -> Option<(u16, u16, Outcome)> {
    let s = packet::parse_ipv4(pkt)?;
    if s.protocol != IpProtocol::Icmp {
        return None;
    }
    let icmp = pkt
        .get(s.header_len..s.total_len)
        .filter(|i| i.len() >= 8)?;
    let ident_seq = |h: &[u8]| {
        (
            u16::from_be_bytes([h[4], h[5]]),
            u16::from_be_bytes([h[6], h[7]]),
        )
    };
    match icmp[0] {
        0 => {
            let (ident, seq) = ident_seq(icmp);
            let reply = Outcome::EchoReply {
                bytes: icmp.len(),
                ttl: s.ttl,
            };
            Some((ident, seq, reply))
        }
        3 | 11 => {
            // The quoted request: its IPv4 header, then the echo header.
            let quoted = &icmp[8..];
            let ihl = usize::from(quoted.first()? & 0x0f) * 4;
            let echo = quoted.get(ihl..ihl + 8)?;
            if *quoted.get(9)? != u8::from(IpProtocol::Icmp) || echo[0] != 8 {
                return None;
            }
            let (ident, seq) = ident_seq(echo);
            let error = Outcome::IcmpError {
                from: s.src,
                message: error_message(icmp[0], icmp[1]),
            };
            Some((ident, seq, error))
        }
        _ => None,
    }
}

/// What iputils `ping` prints for an ICMP error (`pr_icmph`).
fn error_message(icmp_type: u8, code: u8) -> &'static str {
    match (icmp_type, code) {
        (3, 0) => "Destination Net Unreachable",
        (3, 1) => "Destination Host Unreachable",
        (3, 2) => "Destination Protocol Unreachable",
        (3, 3) => "Destination Port Unreachable",
        (3, 4) => "Frag needed and DF set",
        (3, 9) => "Destination Net Prohibited",
        (3, 10) => "Destination Host Prohibited",
        (3, 13) => "Packet filtered",
        (3, _) => "Dest Unreachable",
        (11, 0) => "Time to live exceeded",
        _ => "Frag reassembly time exceeded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::app::Request;
    use sim_core::SimDuration;

    fn ping(size: usize) -> Ping {
        Ping {
            id: 7,
            spec: ClientSpec {
                proto: crate::netns::SocketProto::Udp,
                dst: "10.244.2.3:0".parse().unwrap(),
                request: Request::Ping { seq: 3, size },
                timeout: SimDuration::from_secs(10),
            },
            ident: 5,
            seq: 3,
            size,
            src: "10.244.1.2".parse().unwrap(),
            started: SimTime::ZERO,
            deadline: SimTime::from_nanos(10_000_000_000),
            sent: false,
            done: false,
        }
    }

    #[test]
    fn an_echo_request_is_what_iputils_sends() {
        let p = ping(56);
        let pkt = p.echo_request(SimTime::from_nanos(2_500_000_000), 9);
        let s = packet::parse_ipv4(&pkt).unwrap();
        assert_eq!((s.total_len, s.ttl, s.dont_frag), (84, 64, true));
        assert_eq!(s.ports, Some((8, 0)), "ICMP type 8 code 0");
        let icmp = &pkt[20..];
        assert!(
            smoltcp::wire::Icmpv4Packet::new_checked(icmp)
                .unwrap()
                .verify_checksum()
        );
        assert_eq!(&icmp[4..8], &[0, 5, 0, 3], "identifier 5, sequence 3");
        // struct timeval {2 s, 500000 us}, then the byte counter.
        assert_eq!(&icmp[8..16], &2u64.to_le_bytes());
        assert_eq!(&icmp[16..24], &500_000u64.to_le_bytes());
        assert_eq!(&icmp[24..27], &[16, 17, 18]);
        assert!(p.fits(84) && !p.fits(83));
    }

    #[test]
    fn replies_and_errors_are_matched_by_identifier_and_sequence() {
        let p = ping(56);
        let request = p.echo_request(SimTime::ZERO, 1);
        // The kernel's reply: the same identifier, sequence and data, type 0.
        let mut body = request[20..].to_vec();
        body[0] = 0;
        smoltcp::wire::Icmpv4Packet::new_unchecked(&mut body[..]).fill_checksum();
        let reply = packet::ipv4(
            packet::Ipv4Header {
                src: "10.244.2.3".parse().unwrap(),
                dst: p.src,
                protocol: IpProtocol::Icmp,
                ttl: 61,
                ident: 1,
                dont_frag: false,
            },
            &body,
        );
        assert_eq!(
            answer(&reply),
            Some((5, 3, Outcome::EchoReply { bytes: 64, ttl: 61 }))
        );
        // A router's host unreachable, quoting the request.
        let router: Ipv4Addr = "172.18.0.1".parse().unwrap();
        let error = |t: u8, c: u8, quote: &[u8]| {
            packet::ipv4(
                packet::Ipv4Header {
                    src: router,
                    dst: p.src,
                    protocol: IpProtocol::Icmp,
                    ttl: 64,
                    ident: 2,
                    dont_frag: false,
                },
                &packet::icmp(t, c, [0; 4], quote),
            )
        };
        let from = |message| Outcome::IcmpError {
            from: router,
            message,
        };
        let quote = &request[..28];
        assert_eq!(
            answer(&error(3, 1, quote)),
            Some((5, 3, from("Destination Host Unreachable")))
        );
        assert_eq!(
            answer(&error(11, 0, quote)),
            Some((5, 3, from("Time to live exceeded")))
        );
        // An error about something else (here: an echo reply) is not a ping's.
        assert_eq!(answer(&error(3, 1, &reply[..28])), None);
        assert_eq!(
            answer(&error(3, 1, &request[..24])),
            None,
            "quote too short"
        );
    }
}
