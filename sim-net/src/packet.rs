//! Building and reading the packets the model carries, as real bytes with correct checksums
//! (smoltcp's `wire` views), plus one-line descriptions in tcpdump's style for traces.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv4Packet, IpAddress, Ipv4Packet, TcpPacket, UdpPacket, UdpRepr,
};

/// The IP protocol numbers [`Ipv4Header`] takes.
pub use smoltcp::wire::IpProtocol;

/// Ethernet header length.
pub const ETH_HLEN: usize = 14;
/// IPv4 header length without options.
pub const IPV4_HLEN: usize = 20;

/// An IPv4 header's fields that the path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Summary {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    pub ttl: u8,
    /// Header length in bytes, options included.
    pub header_len: usize,
    pub total_len: usize,
    pub dont_frag: bool,
    /// Source and destination ports for TCP/UDP, ICMP (type, code) for ICMP — present only
    /// in a first fragment whose transport header is complete (TCP: 20 bytes and a data
    /// offset inside the segment; UDP: 8 bytes and a length inside the datagram; ICMP: 8).
    pub ports: Option<(u16, u16)>,
    /// First fragment or unfragmented.
    pub first_fragment: bool,
}

/// Whether `l4` starts with a complete header of `protocol`.
/// IANA protocol number of SCTP (smoltcp has no name for it).
pub const IPPROTO_SCTP: u8 = 132;

fn transport_header_complete(protocol: IpProtocol, l4: &[u8]) -> bool {
    match protocol {
        IpProtocol::Tcp => {
            l4.len() >= 20 && (20..=l4.len()).contains(&(usize::from(l4[12] >> 4) * 4))
        }
        IpProtocol::Udp => {
            l4.len() >= 8
                && (8..=l4.len()).contains(&usize::from(u16::from_be_bytes([l4[4], l4[5]])))
        }
        IpProtocol::Icmp => l4.len() >= 8,
        // SCTP's common header: ports, verification tag, checksum.
        IpProtocol::Unknown(IPPROTO_SCTP) => l4.len() >= 12,
        _ => false,
    }
}

/// Validates an IPv4 packet as `ip_rcv` does (version, header length, total length, header
/// checksum) and summarises it. Bytes past `total_len` (link-layer padding) are allowed.
pub fn parse_ipv4(bytes: &[u8]) -> Option<Ipv4Summary> {
    let p = Ipv4Packet::new_checked(bytes).ok()?;
    if p.version() != 4 || !p.verify_checksum() {
        return None;
    }
    let payload = p.payload();
    let first_fragment = p.frag_offset() == 0;
    let protocol = p.next_header();
    let ports =
        (first_fragment && transport_header_complete(protocol, payload)).then(|| match protocol {
            IpProtocol::Icmp => (u16::from(payload[0]), u16::from(payload[1])),
            _ => (
                u16::from_be_bytes([payload[0], payload[1]]),
                u16::from_be_bytes([payload[2], payload[3]]),
            ),
        });
    Some(Ipv4Summary {
        src: p.src_addr(),
        dst: p.dst_addr(),
        protocol,
        ttl: p.hop_limit(),
        header_len: usize::from(p.header_len()),
        total_len: usize::from(p.total_len()),
        dont_frag: p.dont_frag(),
        ports,
        first_fragment,
    })
}

/// Options of a new IPv4 header.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
}

/// An IPv4 packet around `payload` (header checksum filled in).
pub fn ipv4(h: Ipv4Header, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; IPV4_HLEN + payload.len()];
    let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
    p.set_version(4);
    p.set_header_len(IPV4_HLEN as u8);
    p.set_dscp(0);
    p.set_ecn(0);
    p.set_total_len((IPV4_HLEN + payload.len()) as u16);
    p.set_ident(h.ident);
    p.clear_flags();
    p.set_dont_frag(h.dont_frag);
    p.set_frag_offset(0);
    p.set_hop_limit(h.ttl);
    p.set_next_header(h.protocol);
    p.set_src_addr(h.src);
    p.set_dst_addr(h.dst);
    p.payload_mut().copy_from_slice(payload);
    p.fill_checksum();
    buf
}

/// An ICMP message body (type, code, 4 bytes of rest-of-header, data) with its checksum.
pub fn icmp(msg_type: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 8 + data.len()];
    buf[0] = msg_type;
    buf[1] = code;
    buf[4..8].copy_from_slice(&rest);
    buf[8..].copy_from_slice(data);
    Icmpv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
    buf
}

/// An ICMP echo request or reply body.
pub fn icmp_echo(reply: bool, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let [i0, i1] = ident.to_be_bytes();
    let [s0, s1] = seq.to_be_bytes();
    icmp(if reply { 0 } else { 8 }, 0, [i0, i1, s0, s1], data)
}

/// A UDP datagram body with its checksum.
pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 8 + payload.len()];
    let repr = UdpRepr {
        src_port: sport,
        dst_port: dport,
    };
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut buf[..]),
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(dst),
        payload.len(),
        |b| b.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// TCP flags we set by hand.
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// A bare TCP segment (no options) with its checksum.
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
) -> Vec<u8> {
    let mut buf = vec![0u8; 20];
    buf[0..2].copy_from_slice(&sport.to_be_bytes());
    buf[2..4].copy_from_slice(&dport.to_be_bytes());
    buf[4..8].copy_from_slice(&seq.to_be_bytes());
    buf[8..12].copy_from_slice(&ack.to_be_bytes());
    buf[12] = 5 << 4;
    buf[13] = flags;
    buf[14..16].copy_from_slice(&window.to_be_bytes());
    TcpPacket::new_unchecked(&mut buf[..])
        .fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
    buf
}

/// An Ethernet II frame.
pub fn ethernet(
    src: EthernetAddress,
    dst: EthernetAddress,
    ethertype: EthernetProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; ETH_HLEN + payload.len()];
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype,
    }
    .emit(&mut f);
    f.payload_mut().copy_from_slice(payload);
    buf
}

/// An ARP request or reply inside an Ethernet frame (requests are broadcast).
pub fn arp(
    op: ArpOperation,
    src_mac: EthernetAddress,
    src_ip: Ipv4Addr,
    dst_mac: EthernetAddress,
    dst_ip: Ipv4Addr,
) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: op,
        source_hardware_addr: src_mac,
        source_protocol_addr: src_ip,
        target_hardware_addr: if op == ArpOperation::Request {
            EthernetAddress([0; 6])
        } else {
            dst_mac
        },
        target_protocol_addr: dst_ip,
    };
    let mut body = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ArpPacket::new_unchecked(&mut body[..]));
    let eth_dst = if op == ArpOperation::Request {
        EthernetAddress::BROADCAST
    } else {
        dst_mac
    };
    ethernet(src_mac, eth_dst, EthernetProtocol::Arp, &body)
}

/// A MAC address as `ip` and `bridge` print it: `02:00:00:00:00:07`.
pub fn mac(m: EthernetAddress) -> String {
    let b = m.0;
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    )
}

/// A tcpdump-like one-liner for an IPv4 packet.
pub fn describe_ipv4(bytes: &[u8]) -> String {
    let Some(s) = parse_ipv4(bytes) else {
        return format!("malformed IPv4 ({} bytes)", bytes.len());
    };
    let payload = &bytes[s.header_len..s.total_len];
    let body = match (s.protocol, s.ports) {
        (IpProtocol::Icmp, Some((t, c))) => {
            let what = match (t, c) {
                (8, _) => "echo request".to_string(),
                (0, _) => "echo reply".to_string(),
                (3, 0) => "net unreachable".to_string(),
                (3, 1) => "host unreachable".to_string(),
                (3, 3) => "port unreachable".to_string(),
                (3, 4) => format!(
                    "frag needed, mtu {}",
                    u16::from_be_bytes([payload[6], payload[7]])
                ),
                (3, 13) => "admin prohibited".to_string(),
                (11, 0) => "time exceeded in-transit".to_string(),
                (t, c) => format!("type {t} code {c}"),
            };
            format!("{} > {}: ICMP {what}", s.src, s.dst)
        }
        (IpProtocol::Udp, Some((sp, dp))) => {
            format!(
                "{}:{sp} > {}:{dp}: UDP, length {}",
                s.src,
                s.dst,
                s.total_len.saturating_sub(28)
            )
        }
        (IpProtocol::Tcp, Some((sp, dp))) => {
            let flags = payload.get(13).copied().unwrap_or(0);
            let mut f = String::new();
            for (bit, c) in [
                (TCP_SYN, 'S'),
                (TCP_FIN, 'F'),
                (TCP_RST, 'R'),
                (0x08, 'P'),
                (TCP_ACK, '.'),
            ] {
                if flags & bit != 0 {
                    f.push(c);
                }
            }
            format!("{}:{sp} > {}:{dp}: TCP [{f}]", s.src, s.dst)
        }
        (p, _) => format!("{} > {}: {p}", s.src, s.dst),
    };
    format!("{body}, ttl {}, len {}", s.ttl, s.total_len)
}

/// A tcpdump-like one-liner for an Ethernet frame.
pub fn describe_frame(frame: &[u8]) -> String {
    let Ok(f) = EthernetFrame::new_checked(frame) else {
        return format!("malformed frame ({} bytes)", frame.len());
    };
    match f.ethertype() {
        EthernetProtocol::Ipv4 => describe_ipv4(f.payload()),
        EthernetProtocol::Arp => match ArpPacket::new_checked(f.payload())
            .ok()
            .and_then(|p| ArpRepr::parse(&p).ok())
        {
            Some(ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_protocol_addr,
                target_protocol_addr,
                ..
            }) => {
                format!("ARP, Request who-has {target_protocol_addr} tell {source_protocol_addr}")
            }
            Some(ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_protocol_addr,
                source_hardware_addr,
                ..
            }) => format!(
                "ARP, Reply {source_protocol_addr} is-at {}",
                mac(source_hardware_addr)
            ),
            _ => "ARP, malformed".to_string(),
        },
        other => format!("ethertype {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn hdr(protocol: IpProtocol) -> Ipv4Header {
        Ipv4Header {
            src: A,
            dst: B,
            protocol,
            ttl: 64,
            ident: 7,
            dont_frag: true,
        }
    }

    #[test]
    fn built_packets_have_valid_checksums() {
        let ping = ipv4(hdr(IpProtocol::Icmp), &icmp_echo(false, 1, 2, b"hi"));
        let p = Ipv4Packet::new_checked(&ping[..]).unwrap();
        assert!(p.verify_checksum());
        assert!(
            Icmpv4Packet::new_checked(p.payload())
                .unwrap()
                .verify_checksum()
        );
        assert_eq!(
            describe_ipv4(&ping),
            "10.0.0.1 > 10.0.0.2: ICMP echo request, ttl 64, len 30"
        );

        let u = ipv4(hdr(IpProtocol::Udp), &udp(A, 1000, B, 53, b"q"));
        let p = Ipv4Packet::new_checked(&u[..]).unwrap();
        assert!(
            UdpPacket::new_checked(p.payload())
                .unwrap()
                .verify_checksum(&A.into(), &B.into())
        );
        assert_eq!(parse_ipv4(&u).unwrap().ports, Some((1000, 53)));

        let t = ipv4(
            hdr(IpProtocol::Tcp),
            &tcp(A, 40000, B, 80, 1, 0, TCP_SYN, 64240),
        );
        let p = Ipv4Packet::new_checked(&t[..]).unwrap();
        assert!(
            TcpPacket::new_checked(p.payload())
                .unwrap()
                .verify_checksum(&A.into(), &B.into())
        );
        assert_eq!(
            describe_ipv4(&t),
            "10.0.0.1:40000 > 10.0.0.2:80: TCP [S], ttl 64, len 40"
        );
    }

    #[test]
    fn arp_frames_round_trip() {
        let m = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let req = arp(ArpOperation::Request, m, A, EthernetAddress::BROADCAST, B);
        assert_eq!(
            describe_frame(&req),
            "ARP, Request who-has 10.0.0.2 tell 10.0.0.1"
        );
        let f = EthernetFrame::new_checked(&req[..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress::BROADCAST);
    }

    #[test]
    fn options_padding_and_truncated_transport_headers() {
        let syn = tcp(A, 40000, B, 80, 1, 0, TCP_SYN, 64240);
        let full = ipv4(hdr(IpProtocol::Tcp), &syn);
        // A TCP header cut to 12 bytes: the packet is valid IPv4, but has no usable ports.
        let cut = ipv4(hdr(IpProtocol::Tcp), &syn[..12]);
        assert_eq!(parse_ipv4(&cut).unwrap().ports, None);
        // Link-layer padding after total_len is allowed and not counted.
        let mut padded = full.clone();
        padded.extend([0; 6]);
        let s = parse_ipv4(&padded).unwrap();
        assert_eq!((s.total_len, s.ports), (40, Some((40000, 80))));
        // Four bytes of options (a NOP and an end-of-list, padded): ports come after them.
        let mut opt = vec![0u8; 24 + syn.len()];
        opt[..20].copy_from_slice(&full[..20]);
        opt[0] = 0x46;
        let total = opt.len() as u16;
        opt[2..4].copy_from_slice(&total.to_be_bytes());
        opt[20] = 1;
        opt[24..].copy_from_slice(&syn);
        Ipv4Packet::new_unchecked(&mut opt[..]).fill_checksum();
        let s = parse_ipv4(&opt).unwrap();
        assert_eq!((s.header_len, s.ports), (24, Some((40000, 80))));
        // A UDP length pointing past the datagram is refused too.
        let mut u = udp(A, 1, B, 2, b"abc");
        u[4..6].copy_from_slice(&99u16.to_be_bytes());
        assert_eq!(
            parse_ipv4(&ipv4(hdr(IpProtocol::Udp), &u)).unwrap().ports,
            None
        );
    }

    #[test]
    fn corrupted_header_is_rejected() {
        let mut ping = ipv4(hdr(IpProtocol::Icmp), &icmp_echo(false, 1, 2, b""));
        ping[8] ^= 1; // TTL changed without fixing the checksum
        assert!(parse_ipv4(&ping).is_none());
        assert!(parse_ipv4(&ping[..10]).is_none());
        assert!(describe_ipv4(&ping).starts_with("malformed"));
    }
}
