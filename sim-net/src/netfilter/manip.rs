//! Rewriting a packet's addresses and ports for NAT, as `nf_nat_manip_pkt` does: the IPv4
//! source or destination, the TCP/UDP port (or the ICMP echo identifier, which conntrack
//! treats as the port), and every checksum that covers them. For an ICMP error the kernel
//! also rewrites the quoted packet inside it (`nf_nat_icmp_reply_translation`), so the
//! sender of the original packet recognises it: [`manip_icmp_error_inner`].

use std::net::Ipv4Addr;

use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket};

use crate::packet;

/// Which end of the packet to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManipSide {
    /// SNAT, MASQUERADE, and un-DNAT of replies.
    Source,
    /// DNAT, REDIRECT, and un-SNAT of replies.
    Destination,
}

/// Sets one end of an IPv4 packet to `addr` and, if given, its port (ICMP echo: identifier),
/// then refreshes the IP and transport checksums. Packets it cannot parse are left alone
/// (the caller has already parsed them).
pub fn manip(pkt: &mut [u8], side: ManipSide, addr: Ipv4Addr, port: Option<u16>) {
    let Some(s) = packet::parse_ipv4(pkt) else {
        return;
    };
    let end = s.total_len.min(pkt.len());
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut pkt[..end]);
        match side {
            ManipSide::Source => ip.set_src_addr(addr),
            ManipSide::Destination => ip.set_dst_addr(addr),
        }
        ip.fill_checksum();
    }
    let (src, dst) = match side {
        ManipSide::Source => (addr, s.dst),
        ManipSide::Destination => (s.src, addr),
    };
    let l4 = &mut pkt[s.header_len..end];
    if !s.first_fragment || s.ports.is_none() {
        return;
    }
    set_port_and_checksum(l4, s.protocol, side, port, src, dst);
}

fn set_port_and_checksum(
    l4: &mut [u8],
    protocol: IpProtocol,
    side: ManipSide,
    port: Option<u16>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    let (s, d) = (IpAddress::Ipv4(src), IpAddress::Ipv4(dst));
    match protocol {
        IpProtocol::Tcp => {
            let mut t = TcpPacket::new_unchecked(l4);
            if let Some(p) = port {
                match side {
                    ManipSide::Source => t.set_src_port(p),
                    ManipSide::Destination => t.set_dst_port(p),
                }
            }
            t.fill_checksum(&s, &d);
        }
        IpProtocol::Udp => {
            let mut u = UdpPacket::new_unchecked(l4);
            if let Some(p) = port {
                match side {
                    ManipSide::Source => u.set_src_port(p),
                    ManipSide::Destination => u.set_dst_port(p),
                }
            }
            // A zero UDP checksum means "none" and stays so (RFC 768).
            if u.checksum() != 0 {
                u.fill_checksum(&s, &d);
            }
        }
        IpProtocol::Icmp => {
            // Echo request/reply: the identifier is conntrack's "port" at either end.
            if let (Some(p), Some(&t)) = (port, l4.first())
                && (t == 8 || t == 0)
                && l4.len() >= 8
            {
                l4[4..6].copy_from_slice(&p.to_be_bytes());
            }
            refresh_icmp_checksum(l4);
        }
        IpProtocol::Unknown(packet::IPPROTO_SCTP) => {
            // Ports only: SCTP's CRC32c covers no pseudo-header, and the model never checks it.
            if let Some(p) = port
                && l4.len() >= 4
            {
                let at = if side == ManipSide::Source { 0 } else { 2 };
                l4[at..at + 2].copy_from_slice(&p.to_be_bytes());
            }
        }
        _ => {}
    }
}

fn refresh_icmp_checksum(icmp: &mut [u8]) {
    if icmp.len() >= 4 {
        smoltcp::wire::Icmpv4Packet::new_unchecked(icmp).fill_checksum();
    }
}

/// Rewrites one end of the packet quoted inside an ICMP error (the quote is the original
/// packet as it left its sender, so its ends are swapped relative to the error itself), then
/// the error's own ICMP checksum. The quote is usually truncated: only the header checksum
/// and ports are fixed, as the kernel does.
pub fn manip_icmp_error_inner(pkt: &mut [u8], side: ManipSide, addr: Ipv4Addr, port: Option<u16>) {
    let Some(s) = packet::parse_ipv4(pkt) else {
        return;
    };
    let end = s.total_len.min(pkt.len());
    let icmp = &mut pkt[s.header_len..end];
    if icmp.len() < 8 + 20 {
        return;
    }
    let inner = &mut icmp[8..];
    let ihl = usize::from(inner[0] & 0x0f) * 4;
    if ihl < 20 || inner.len() < ihl {
        return;
    }
    let at = match side {
        ManipSide::Source => 12,
        ManipSide::Destination => 16,
    };
    inner[at..at + 4].copy_from_slice(&addr.octets());
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut inner[..ihl]);
        ip.fill_checksum();
    }
    let proto = IpProtocol::from(inner[9]);
    if let Some(p) = port
        && matches!(proto, IpProtocol::Tcp | IpProtocol::Udp)
        && inner.len() >= ihl + 4
    {
        let off = ihl + if side == ManipSide::Source { 0 } else { 2 };
        inner[off..off + 2].copy_from_slice(&p.to_be_bytes());
    }
    refresh_icmp_checksum(icmp);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Ipv4Header, ipv4, tcp, udp};
    use crate::topology::ip;

    fn tcp_syn() -> Vec<u8> {
        let seg = tcp(
            ip("10.0.0.1"),
            40000,
            ip("10.96.0.10"),
            80,
            1,
            0,
            packet::TCP_SYN,
            0,
        );
        ipv4(
            Ipv4Header {
                src: ip("10.0.0.1"),
                dst: ip("10.96.0.10"),
                protocol: IpProtocol::Tcp,
                ttl: 64,
                ident: 1,
                dont_frag: true,
            },
            &seg,
        )
    }

    fn checksums_ok(pkt: &[u8]) -> bool {
        let ip4 = Ipv4Packet::new_checked(pkt).unwrap();
        let (s, d) = (
            IpAddress::Ipv4(ip4.src_addr()),
            IpAddress::Ipv4(ip4.dst_addr()),
        );
        ip4.verify_checksum()
            && match ip4.next_header() {
                IpProtocol::Tcp => TcpPacket::new_checked(ip4.payload())
                    .unwrap()
                    .verify_checksum(&s, &d),
                IpProtocol::Udp => UdpPacket::new_checked(ip4.payload())
                    .unwrap()
                    .verify_checksum(&s, &d),
                _ => smoltcp::wire::Icmpv4Packet::new_checked(ip4.payload())
                    .unwrap()
                    .verify_checksum(),
            }
    }

    #[test]
    fn dnat_then_un_dnat_restores_the_bytes() {
        let orig = tcp_syn();
        let mut p = orig.clone();
        manip(&mut p, ManipSide::Destination, ip("10.244.2.3"), Some(8080));
        let s = packet::parse_ipv4(&p).unwrap();
        assert_eq!((s.dst, s.ports), (ip("10.244.2.3"), Some((40000, 8080))));
        assert!(checksums_ok(&p));
        manip(&mut p, ManipSide::Destination, ip("10.96.0.10"), Some(80));
        assert_eq!(p, orig);
    }

    #[test]
    fn snat_of_udp_and_icmp_echo_keeps_checksums_valid() {
        let seg = udp(ip("10.244.1.2"), 5353, ip("8.8.8.8"), 53, b"q");
        let mut p = ipv4(
            Ipv4Header {
                src: ip("10.244.1.2"),
                dst: ip("8.8.8.8"),
                protocol: IpProtocol::Udp,
                ttl: 64,
                ident: 2,
                dont_frag: false,
            },
            &seg,
        );
        manip(&mut p, ManipSide::Source, ip("192.168.0.11"), Some(61000));
        assert_eq!(packet::parse_ipv4(&p).unwrap().ports, Some((61000, 53)));
        assert!(checksums_ok(&p));
        let mut echo = crate::topology::ping("10.244.1.2", "8.8.8.8", 8, false);
        manip(&mut echo, ManipSide::Source, ip("192.168.0.11"), Some(7));
        assert!(checksums_ok(&echo));
        assert_eq!(&echo[20 + 4..20 + 6], &7u16.to_be_bytes());
    }

    #[test]
    fn the_quote_inside_an_icmp_error_is_rewritten() {
        // A backend's port unreachable about a DNATed packet: the quote says 10.244.2.3:8080,
        // the client must see its own 10.96.0.10:80 again.
        let mut inner = tcp_syn();
        manip(
            &mut inner,
            ManipSide::Destination,
            ip("10.244.2.3"),
            Some(8080),
        );
        let body = packet::icmp(3, 3, [0; 4], &inner[..28]);
        let mut err = ipv4(
            Ipv4Header {
                src: ip("10.244.2.3"),
                dst: ip("10.0.0.1"),
                protocol: IpProtocol::Icmp,
                ttl: 64,
                ident: 3,
                dont_frag: false,
            },
            &body,
        );
        manip_icmp_error_inner(&mut err, ManipSide::Destination, ip("10.96.0.10"), Some(80));
        manip(&mut err, ManipSide::Source, ip("10.96.0.10"), None);
        assert!(checksums_ok(&err));
        let quote = &err[20 + 8..];
        assert_eq!(&quote[16..20], &[10, 96, 0, 10]);
        assert_eq!(&quote[22..24], &80u16.to_be_bytes());
    }
}
