//! IPv4 packets out of captured frames, whatever link-layer header the capture used:
//! Ethernet II (with up to two 802.1Q / 802.1ad tags skipped), Linux cooked v1 (`SLL`, 16
//! bytes, EtherType last) and v2 (`SLL2`, 20 bytes, EtherType first), or none (raw IP).
//! Anything else — ARP, IPv6, a header cut short — is not IPv4 and is skipped by the caller.

use smoltcp::wire::Ipv4Packet;

use crate::pcapng::LinkType;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// The IPv4 packet a frame of `link` carries, from its IP header on (trailing padding
/// included), or `None` if the frame carries something else.
pub fn ipv4_payload(link: LinkType, data: &[u8]) -> Option<&[u8]> {
    let ip = match link {
        LinkType::Ethernet => {
            let (mut ethertype, mut at) = (be16(data, 12)?, 14);
            while matches!(ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ) {
                ethertype = be16(data, at + 2)?;
                at += 4;
            }
            (ethertype == ETHERTYPE_IPV4).then(|| data.get(at..))??
        }
        LinkType::LinuxSll => (be16(data, 14)? == ETHERTYPE_IPV4).then(|| data.get(16..))??,
        LinkType::LinuxSll2 => (be16(data, 0)? == ETHERTYPE_IPV4).then(|| data.get(20..))??,
        LinkType::RawIp => data,
    };
    (ip.first()? >> 4 == 4).then_some(ip)
}

/// The packet as the simulator carries it: cut to its IPv4 total length (link padding
/// dropped) and with its header checksum recomputed (captures taken with checksum offload
/// hold whatever the NIC was going to fill in). `None` if the header is not a whole IPv4
/// header or the packet is shorter than its total length (truncated by the snaplen).
pub fn normalise(ip: &[u8]) -> Option<Vec<u8>> {
    let p = Ipv4Packet::new_checked(ip).ok()?;
    if p.version() != 4 {
        return None;
    }
    let mut out = ip[..usize::from(p.total_len())].to_vec();
    Ipv4Packet::new_unchecked(&mut out[..]).fill_checksum();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn every_link_type_finds_the_ip_header() {
        let mut eth = vec![0u8; 12];
        eth.extend([0x08, 0x00]);
        eth.extend(IP);
        assert_eq!(ipv4_payload(LinkType::Ethernet, &eth), Some(&IP[..]));
        let mut vlan = vec![0u8; 12];
        vlan.extend([0x81, 0x00, 0, 5, 0x08, 0x00]);
        vlan.extend(IP);
        assert_eq!(ipv4_payload(LinkType::Ethernet, &vlan), Some(&IP[..]));
        let mut sll = vec![0u8; 14];
        sll.extend([0x08, 0x00]);
        sll.extend(IP);
        assert_eq!(ipv4_payload(LinkType::LinuxSll, &sll), Some(&IP[..]));
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend([0u8; 18]);
        sll2.extend(IP);
        assert_eq!(ipv4_payload(LinkType::LinuxSll2, &sll2), Some(&IP[..]));
        assert_eq!(ipv4_payload(LinkType::RawIp, &IP), Some(&IP[..]));
        // ARP, IPv6 raw, and frames cut inside the header are not IPv4.
        let mut arp = vec![0u8; 12];
        arp.extend([0x08, 0x06]);
        arp.extend(IP);
        assert_eq!(ipv4_payload(LinkType::Ethernet, &arp), None);
        assert_eq!(ipv4_payload(LinkType::RawIp, &[0x60, 0, 0, 0]), None);
        assert_eq!(ipv4_payload(LinkType::LinuxSll2, &[0x08]), None);
        assert_eq!(ipv4_payload(LinkType::Ethernet, &vlan[..15]), None);
    }
}
