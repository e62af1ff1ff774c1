//! VXLAN header (RFC 7348), in the style of smoltcp's `wire` modules.
//!
//! # What is modelled
//!
//! * The 8-byte VXLAN header of [RFC 7348 §5]:
//!
//!   ```text
//!    0                   1                   2                   3
//!    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!   |R|R|R|R|I|R|R|R|            Reserved                           |
//!   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!   |                VXLAN Network Identifier (VNI) |   Reserved    |
//!   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!   ```
//!
//!   as a zero-copy view ([`Packet`]) and a validated representation ([`Repr`]). The bytes
//!   after the header are the inner Ethernet frame ([`Packet::payload`]).
//! * The two UDP destination ports seen in practice: the IANA port [`IANA_PORT`] (4789) and
//!   the Linux kernel's default [`LINUX_DEFAULT_PORT`] (8472, also flannel's default).
//! * The encapsulation overhead on an IPv4 underlay, [`OVERHEAD`] (50 bytes), which is why a
//!   VXLAN device on a 1500-byte underlay gets MTU 1450.
//! * The outer UDP source port the kernel picks for entropy ([`udp_source_port`]): a
//!   deterministic stand-in for the kernel's flow hash that keeps "one flow, one port".
//!
//! # What is simplified
//!
//! * No extensions: VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe), Group Based Policy
//!   (draft-smith-vxlan-group-policy) and remote checksum offload are not modelled. On receive,
//!   [`Repr::parse`] only requires the I flag and ignores every other flag bit and both
//!   reserved fields, as RFC 7348 §5 says ("MUST be ignored on receipt"). Linux is stricter:
//!   its `vxlan_rcv` drops a packet whose reserved bits are not zero (see
//!   [`Packet::reserved_bits_set`], which a device model can use to mirror that).
//! * Only the IPv4 underlay overhead is given as a constant (an IPv6 underlay costs 70).
//!
//! # References
//!
//! * [RFC 7348], "Virtual eXtensible Local Area Network (VXLAN)", §5 (header format, ports).
//! * Linux `drivers/net/vxlan/vxlan_core.c`: `vxlan_rcv` (I-flag check, reserved bits),
//!   `vxlan_xmit_one` (source port, TTL, DF) and the `udp_port` module parameter (8472).
//! * Linux `include/net/udp.h`: `udp_flow_src_port`.
//! * flannel `Documentation/backends.md`, "VXLAN" (default port, `flannel.1` device).
//!
//! [RFC 7348]: https://www.rfc-editor.org/rfc/rfc7348
//! [RFC 7348 §5]: https://www.rfc-editor.org/rfc/rfc7348#section-5

use core::fmt;

use sim_core::hash as fnv;
use smoltcp::wire::Error;

/// Byte offsets of the header fields.
mod field {
    use core::ops::{Range, RangeFrom};

    /// The 8-bit flags field (`R R R R I R R R`).
    pub const FLAGS: usize = 0;
    /// The 24-bit reserved field after the flags.
    pub const RESERVED_1: Range<usize> = 1..4;
    /// The 24-bit VXLAN Network Identifier.
    pub const VNI: Range<usize> = 4..7;
    /// The 8-bit reserved field after the VNI.
    pub const RESERVED_2: usize = 7;
    /// The inner Ethernet frame.
    pub const PAYLOAD: RangeFrom<usize> = 8..;
}

/// Length of the VXLAN header in bytes (RFC 7348 §5).
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// The I flag: "MUST be set to 1 for a valid VXLAN Network ID (VNI)" (RFC 7348 §5). It is the
/// only flag RFC 7348 defines; Linux calls it `VXLAN_HF_VNI`.
pub const FLAG_I: u8 = 0x08;

/// The largest VNI: the field is 24 bits wide (RFC 7348 §5).
pub const VNI_MAX: u32 = 0x00FF_FFFF;

/// The UDP destination port IANA assigned to VXLAN.
///
/// RFC 7348 §5: "Destination Port: IANA has assigned the value 4789 for the VXLAN UDP port,
/// and this value SHOULD be used by default as the destination UDP port." (IANA Service Name
/// and Transport Protocol Port Number Registry, service name `vxlan`.)
pub const IANA_PORT: u16 = 4789;

/// The UDP destination port Linux uses when a VXLAN device is created without `dstport`.
///
/// In `drivers/net/vxlan/vxlan_core.c` the `udp_port` module parameter defaults to 8472 ("The
/// IANA assigned port is 4789, but the Linux default is 8472 for compatibility with early
/// adopters"); `ip link add ... type vxlan` without `dstport` warns that it uses this
/// non-standard kernel default. flannel's `vxlan` backend documents its `Port` option as "On
/// Linux, defaults to kernel default, currently 8472" (flannel `Documentation/backends.md`),
/// so flannel clusters on Linux use this port.
pub const LINUX_DEFAULT_PORT: u16 = 8472;

/// Bytes VXLAN adds around an inner Ethernet frame on an IPv4 underlay.
///
/// On the wire: outer Ethernet header (14) + outer IPv4 header without options (20) + UDP
/// header (8) + VXLAN header (8) = 50, the difference between the outer and the inner frame's
/// length. It is also why a VXLAN device on a 1500-MTU underlay gets MTU 1450: the underlay's
/// 1500-byte IP packet must hold outer IPv4 (20) + UDP (8) + VXLAN (8) + the *inner* Ethernet
/// header (14) + the inner IP packet, the same 50 bytes with the inner Ethernet header in the
/// outer one's place. Linux spells it `VXLAN_HEADROOM` (`include/net/vxlan.h`; used for the
/// default MTU of a device created with a lower `dev`), flannel `encapOverhead` (its `vxlan`
/// backend gives `flannel.1` the external interface's MTU minus 50). On an IPv6 underlay it is
/// 70 (`VXLAN6_HEADROOM`).
pub const OVERHEAD: usize = 14 + 20 + 8 + HEADER_LEN;

/// Lowest source port used when no `srcport` range is configured: the low end of Linux's
/// default `net.ipv4.ip_local_port_range` ("32768 60999").
pub const DEFAULT_SRC_PORT_MIN: u16 = 32768;

/// Highest source port used when no `srcport` range is configured: the high end of Linux's
/// default `net.ipv4.ip_local_port_range` ("32768 60999").
pub const DEFAULT_SRC_PORT_MAX: u16 = 60999;

/// A read/write wrapper around a VXLAN header and the inner frame that follows it.
///
/// Accessors panic if the buffer is shorter than [`HEADER_LEN`]; use [`Packet::new_checked`]
/// (or [`Packet::check_len`]) on untrusted input.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Imbue a raw octet buffer with VXLAN header structure, without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Shorthand for [`Packet::new_unchecked`] followed by [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensure that no accessor method will panic if called: returns `Err(Error)` if the
    /// buffer is shorter than the 8-byte header.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error)
        } else {
            Ok(())
        }
    }

    /// Consume the packet, returning the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Return the 8-bit flags field (the I flag is [`FLAG_I`]).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Return the 24-bit VXLAN Network Identifier.
    #[inline]
    pub fn vni(&self) -> u32 {
        let data = self.buffer.as_ref();
        let vni = &data[field::VNI];
        u32::from_be_bytes([0, vni[0], vni[1], vni[2]])
    }

    /// Whether any bit other than the I flag and the VNI is set: a reserved flag bit, the
    /// 24-bit reserved field or the trailing 8-bit reserved field.
    ///
    /// RFC 7348 says receivers ignore these bits, and [`Repr::parse`] does. Linux does not:
    /// `vxlan_rcv` drops such a packet on a device without GBP/GPE/RCO extensions ("This
    /// behavior diverges from VXLAN RFC (RFC7348) which stipulates that bits in reserved in
    /// reserved fields are to be ignored"). A device model that mirrors Linux checks this.
    pub fn reserved_bits_set(&self) -> bool {
        let data = self.buffer.as_ref();
        data[field::FLAGS] & !FLAG_I != 0
            || data[field::RESERVED_1].iter().any(|&b| b != 0)
            || data[field::RESERVED_2] != 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Return the inner Ethernet frame: every byte after the 8-byte header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        &data[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the 8-bit flags field.
    #[inline]
    pub fn set_flags(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLAGS] = value;
    }

    /// Set the 24-bit VXLAN Network Identifier. Bits above the low 24 of `value` are dropped;
    /// [`Repr::new`] is the checked way to get a VNI.
    #[inline]
    pub fn set_vni(&mut self, value: u32) {
        let [_, hi, mid, lo] = (value & VNI_MAX).to_be_bytes();
        self.buffer.as_mut()[field::VNI].copy_from_slice(&[hi, mid, lo]);
    }

    /// Zero both reserved fields (the 24 bits after the flags and the 8 bits after the VNI).
    /// The reserved bits inside the flags byte are written by [`Packet::set_flags`].
    #[inline]
    pub fn clear_reserved(&mut self) {
        let data = self.buffer.as_mut();
        data[field::RESERVED_1].fill(0);
        data[field::RESERVED_2] = 0;
    }

    /// Return a mutable slice over the inner Ethernet frame.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

impl<T: AsRef<[u8]> + ?Sized> fmt::Display for Packet<&T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.check_len().is_err() {
            return write!(f, "VXLAN (truncated)");
        }
        write!(
            f,
            "VXLAN flags={:#04x} vni={} len={}",
            self.flags(),
            self.vni(),
            self.payload().len()
        )
    }
}

/// A validated VXLAN header: everything a receiver takes from it is the VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repr {
    /// The 24-bit VXLAN Network Identifier. Construct with [`Repr::new`] to have the width
    /// checked; [`Repr::emit`] writes only the low 24 bits.
    pub vni: u32,
}

impl Repr {
    /// A header for `vni`, or `None` if `vni` does not fit in 24 bits (above [`VNI_MAX`]).
    pub const fn new(vni: u32) -> Option<Repr> {
        if vni > VNI_MAX {
            None
        } else {
            Some(Repr { vni })
        }
    }

    /// Parse a VXLAN header.
    ///
    /// Fails if the buffer is shorter than [`HEADER_LEN`] or the I flag ([`FLAG_I`]) is clear
    /// (Linux's `vxlan_rcv` drops such packets: "VNI flag always required to be set").
    /// Reserved bits, including the other flag bits, are ignored as RFC 7348 §5 requires
    /// ("MUST be ignored on receipt"); Linux drops them instead, see
    /// [`Packet::reserved_bits_set`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, Error> {
        packet.check_len()?;
        if packet.flags() & FLAG_I == 0 {
            return Err(Error);
        }
        Ok(Repr { vni: packet.vni() })
    }

    /// Length of the header this representation emits: always [`HEADER_LEN`] (8).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Emit the header: flags = [`FLAG_I`], both reserved fields zero, the VNI in bytes 4..7.
    /// The payload is left untouched.
    ///
    /// # Panics
    ///
    /// If the buffer is shorter than [`HEADER_LEN`] (size it with [`Repr::buffer_len`]).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        packet.set_flags(FLAG_I);
        packet.clear_reserved();
        packet.set_vni(self.vni);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VXLAN vni={}", self.vni)
    }
}

/// The outer UDP source port for an inner Ethernet frame, in `port_min..=port_max`.
///
/// Linux picks the source port for entropy, so that ECMP and RSS on the underlay can spread
/// tunnelled flows: `vxlan_xmit_one` calls `udp_flow_src_port`, which hashes the inner packet
/// with `skb_get_hash` (the flow dissector's jhash of addresses, protocol and ports, salted
/// with a per-boot random seed) and scales the hash into the device's `srcport` range. That
/// hash cannot be reproduced here, so this is a documented deterministic stand-in for
/// `skb_get_hash`. It keeps the property that matters: one flow → one source port, and
/// different flows spread over the range.
///
/// The stand-in:
///
/// * For an IPv4 inner frame (EtherType 0x0800, no VLAN tag): FNV-1a 64 over the inner source
///   and destination addresses, the IP protocol and, for TCP and UDP, the source and
///   destination ports. Like the kernel's flow dissector it leaves ports out for IP fragments
///   (so every fragment of a datagram uses the same port), reads them as zero when the
///   transport header is cut short, and orders the two endpoints so both directions of a
///   flow hash alike (`__flow_hash_consistentify`).
/// * Otherwise (ARP, IPv6, VLAN-tagged, short or garbage frames): FNV-1a 64 over the Ethernet
///   destination and source MACs and the EtherType (whatever of those 14 bytes is present),
///   as the kernel falls back to hashing the MACs when it finds no flow hash.
/// * The 64-bit hash is folded (`h ^ (h >> 32)`, because FNV-1a's low bits are weak) and
///   mapped with `min + (hash % (max - min + 1))`. The kernel scales instead
///   (`((hash * (max - min)) >> 32) + min`, which never yields `max` itself).
///
/// Like `udp_flow_src_port`, a range with `port_min >= port_max` (for example `0, 0`: no
/// `srcport` configured) means the default range [`DEFAULT_SRC_PORT_MIN`]..=
/// [`DEFAULT_SRC_PORT_MAX`] (the kernel reads the namespace's `ip_local_port_range`; pass a
/// changed range explicitly). Never panics, whatever `inner_frame` holds.
pub fn udp_source_port(inner_frame: &[u8], port_min: u16, port_max: u16) -> u16 {
    let (min, max) = if port_min < port_max {
        (port_min, port_max)
    } else {
        (DEFAULT_SRC_PORT_MIN, DEFAULT_SRC_PORT_MAX)
    };
    let hash = inner_flow_hash(inner_frame);
    let folded = hash ^ (hash >> 32);
    let span = u64::from(max - min) + 1;
    // `folded % span <= max - min`, so the conversion cannot fail and the sum cannot overflow.
    u16::try_from(folded % span).map_or(min, |offset| min + offset)
}

/// The stand-in for `skb_get_hash` on the inner frame (see [`udp_source_port`]).
fn inner_flow_hash(frame: &[u8]) -> u64 {
    match ipv4_flow_key(frame) {
        // Domain tags keep an IPv4 flow key and a MAC fallback from colliding by construction.
        Some(key) => fnv::fold(fnv::fold(fnv::OFFSET, &[4]), &key),
        None => {
            let l2 = &frame[..frame.len().min(14)];
            fnv::fold(fnv::fold(fnv::OFFSET, &[2]), l2)
        }
    }
}

/// The flow key of an untagged IPv4 frame: endpoint A's address and port, endpoint B's
/// address and port, protocol, with A <= B. `None` if the frame is not IPv4 or too short to
/// hold an IPv4 header.
fn ipv4_flow_key(frame: &[u8]) -> Option<[u8; 13]> {
    const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
    const PROTO_TCP: u8 = 6;
    const PROTO_UDP: u8 = 17;

    if frame.get(12..14)? != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(14..)?;
    let header: &[u8; 20] = ip.get(..20)?.try_into().ok()?;
    if header[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(header[0] & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    let protocol = header[9];
    // More-fragments flag or a non-zero fragment offset: a fragment; ports are not hashed.
    let fragment = u16::from_be_bytes([header[6], header[7]]) & 0x3fff != 0;
    let (src_port, dst_port) = if !fragment && (protocol == PROTO_TCP || protocol == PROTO_UDP) {
        ip.get(ihl..ihl + 4).map_or((0, 0), |p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            )
        })
    } else {
        (0, 0)
    };
    let src = ([header[12], header[13], header[14], header[15]], src_port);
    let dst = ([header[16], header[17], header[18], header[19]], dst_port);
    let (a, b) = if dst < src { (dst, src) } else { (src, dst) };

    let mut key = [0u8; 13];
    key[0..4].copy_from_slice(&a.0);
    key[4..6].copy_from_slice(&a.1.to_be_bytes());
    key[6..10].copy_from_slice(&b.0);
    key[10..12].copy_from_slice(&b.1.to_be_bytes());
    key[12] = protocol;
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        ETHERNET_HEADER_LEN, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr,
        IPV4_HEADER_LEN, Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet,
        Ipv4Repr, UDP_HEADER_LEN, UdpPacket, UdpRepr,
    };

    /// RFC 7348 header for VNI 42: flags I, reserved, VNI 0x00002a, reserved.
    const VNI_42: [u8; 8] = [0x08, 0, 0, 0, 0x00, 0x00, 0x2a, 0];

    #[test]
    fn parse_vni_42_fixture() {
        let packet = Packet::new_checked(&VNI_42[..]).unwrap();
        assert_eq!(packet.flags(), FLAG_I);
        assert_eq!(packet.vni(), 42);
        assert!(!packet.reserved_bits_set());
        assert_eq!(Repr::parse(&packet), Ok(Repr { vni: 42 }));
        assert!(packet.payload().is_empty());
    }

    #[test]
    fn emit_vni_42_fixture() {
        let repr = Repr::new(42).unwrap();
        assert_eq!(repr.buffer_len(), 8);
        // Start from garbage so that every byte emit must write is checked.
        let mut bytes = [0xffu8; 8];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, VNI_42);
    }

    #[test]
    fn vni_abcdef_round_trips() {
        let expected = [0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0];
        let mut bytes = [0x55u8; 8];
        Repr::new(0xAB_CDEF)
            .unwrap()
            .emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, expected);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Ok(Repr { vni: 0xAB_CDEF }));
    }

    #[test]
    fn header_without_i_flag_is_rejected() {
        let bytes = [0x00, 0, 0, 0, 0x00, 0x00, 0x2a, 0];
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Err(Error));
        // Other flag bits do not stand in for I.
        let bytes = [0xf7, 0, 0, 0, 0x00, 0x00, 0x2a, 0];
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Err(Error));
    }

    #[test]
    fn seven_byte_buffer_is_rejected() {
        let bytes = [0x08, 0, 0, 0, 0x00, 0x00, 0x2a];
        assert_eq!(Packet::new_checked(&bytes[..]), Err(Error));
        assert_eq!(Packet::new_unchecked(&bytes[..]).check_len(), Err(Error));
        // parse re-checks a packet made with new_unchecked.
        assert_eq!(Repr::parse(&Packet::new_unchecked(&bytes[..])), Err(Error));
        assert_eq!(
            Packet::new_unchecked(&bytes[..]).to_string(),
            "VXLAN (truncated)"
        );
    }

    #[test]
    fn reserved_bits_are_ignored_on_receive() {
        // Every flag bit, both reserved fields: all set; VNI 42.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x2a, 0xff];
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Ok(Repr { vni: 42 }));
        // ... but they are visible to a device model that mirrors Linux's stricter check.
        assert!(packet.reserved_bits_set());
        for (i, bit) in [
            (0, 0x80),
            (0, 0x01),
            (1, 0x01),
            (2, 0x10),
            (3, 0x80),
            (7, 0x01),
        ] {
            let mut one = VNI_42;
            one[i] |= bit;
            let packet = Packet::new_unchecked(&one[..]);
            assert!(packet.reserved_bits_set(), "byte {i} bit {bit:#x}");
            assert_eq!(Repr::parse(&packet), Ok(Repr { vni: 42 }));
        }
    }

    #[test]
    fn payload_returns_inner_frame() {
        let mut bytes = VNI_42.to_vec();
        bytes.extend_from_slice(b"inner ethernet frame");
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.payload(), b"inner ethernet frame");
        assert_eq!(packet.to_string(), "VXLAN flags=0x08 vni=42 len=20");

        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.payload_mut()[..5].copy_from_slice(b"INNER");
        assert_eq!(&packet.into_inner()[8..], b"INNER ethernet frame");
    }

    #[test]
    fn repr_new_checks_the_24_bit_width() {
        assert_eq!(Repr::new(0), Some(Repr { vni: 0 }));
        assert_eq!(Repr::new(VNI_MAX), Some(Repr { vni: 0xFF_FFFF }));
        assert_eq!(Repr::new(VNI_MAX + 1), None);
        assert_eq!(Repr::new(u32::MAX), None);
        assert_eq!(Repr { vni: 7 }.to_string(), "VXLAN vni=7");
    }

    #[test]
    fn setters_write_only_their_fields() {
        let mut bytes = [0xaau8; 10];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.clear_reserved();
        assert_eq!(
            packet.as_ref(),
            [0xaa, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0, 0xaa, 0xaa]
        );
        packet.set_flags(FLAG_I);
        // Bits above 24 are dropped.
        packet.set_vni(0x7f12_3456);
        assert_eq!(packet.vni(), 0x12_3456);
        assert_eq!(packet.flags(), FLAG_I);
        assert!(!packet.reserved_bits_set());
        assert_eq!(packet.payload_mut(), [0xaa, 0xaa]);
    }

    #[test]
    fn overhead_is_outer_headers_plus_vxlan() {
        assert_eq!(HEADER_LEN, 8);
        assert_eq!(
            OVERHEAD,
            ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN + HEADER_LEN
        );
        assert_eq!(1500 - OVERHEAD, 1450);
    }

    // ---- A full packet: what node 1 puts on the wire for a pod-to-pod ping under flannel ----
    //
    // Pod 10.244.1.2 on node 1 (192.168.0.11) pings pod 10.244.2.3 on node 2 (192.168.0.12).
    // Node 1 routes 10.244.2.0/24 via flannel.1 (VNI 1, dstport unset, so 8472); flannel.1
    // encapsulates and the kernel sends the result out of eth0. The outer UDP checksum is
    // filled in: Linux zeroes it only on a device created with IFLA_VXLAN_UDP_CSUM = 0
    // (`noudpcsum`), which flannel (via vishvananda/netlink) does not send.

    const NODE1_ETH0_MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x00, 0x00, 0x11]);
    const NODE2_ETH0_MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x00, 0x00, 0x12]);
    const NODE1_VTEP_MAC: EthernetAddress = EthernetAddress([0x16, 0x2f, 0x9b, 0xe4, 0x10, 0x01]);
    const NODE2_VTEP_MAC: EthernetAddress = EthernetAddress([0x16, 0x2f, 0x9b, 0xe4, 0x20, 0x02]);
    const NODE1_IP: Ipv4Address = Ipv4Address::new(192, 168, 0, 11);
    const NODE2_IP: Ipv4Address = Ipv4Address::new(192, 168, 0, 12);
    const POD_A: Ipv4Address = Ipv4Address::new(10, 244, 1, 2);
    const POD_B: Ipv4Address = Ipv4Address::new(10, 244, 2, 3);
    const PING_IDENT: u16 = 0x1c2b;
    const PING_SEQ: u16 = 1;
    const INNER_IP_IDENT: u16 = 0x4c1d;
    const OUTER_IP_IDENT: u16 = 0x7d3e;
    /// The outer source port: our stand-in's value for this flow in the default range (the
    /// kernel's own hash would give some other port in the range).
    const OUTER_SRC_PORT: u16 = 47175;

    /// iputils `ping` payload: a 16-byte `struct timeval` (tv_sec, tv_usec, little-endian),
    /// then bytes 0x10..=0x37 (each byte holds its offset): 56 bytes in all.
    fn ping_data() -> Vec<u8> {
        let mut data = Vec::with_capacity(56);
        data.extend_from_slice(&1_767_225_600u64.to_le_bytes());
        data.extend_from_slice(&123_456u64.to_le_bytes());
        data.extend(0x10u8..=0x37);
        data
    }

    #[rustfmt::skip]
    const FLANNEL_FRAME: [u8; 148] = [
        // ---- outer Ethernet: node 2 eth0 <- node 1 eth0, IPv4 ----
        0x52, 0x54, 0x00, 0x00, 0x00, 0x12, // dst MAC
        0x52, 0x54, 0x00, 0x00, 0x00, 0x11, // src MAC
        0x08, 0x00,                         // EtherType IPv4
        // ---- outer IPv4 ----
        0x45, 0x00,                         // version 4, IHL 5; DSCP/ECN 0
        0x00, 0x86,                         // total length 134
        0x7d, 0x3e,                         // identification
        0x00, 0x00,                         // flags: DF clear (vxlan `df` unset), offset 0
        0x40, 0x11,                         // TTL 64 (route default), protocol UDP
        0x7b, 0xc1,                         // header checksum
        0xc0, 0xa8, 0x00, 0x0b,             // src 192.168.0.11
        0xc0, 0xa8, 0x00, 0x0c,             // dst 192.168.0.12
        // ---- UDP ----
        0xb8, 0x47,                         // src port 47175 (flow hash, see OUTER_SRC_PORT)
        0x21, 0x18,                         // dst port 8472
        0x00, 0x72,                         // length 114
        0xff, 0x17,                         // checksum (over pseudo-header + payload)
        // ---- VXLAN ----
        0x08, 0x00, 0x00, 0x00,             // flags I, reserved
        0x00, 0x00, 0x01, 0x00,             // VNI 1, reserved
        // ---- inner Ethernet: flannel.1 on node 2 <- flannel.1 on node 1, IPv4 ----
        0x16, 0x2f, 0x9b, 0xe4, 0x20, 0x02, // dst MAC
        0x16, 0x2f, 0x9b, 0xe4, 0x10, 0x01, // src MAC
        0x08, 0x00,                         // EtherType IPv4
        // ---- inner IPv4 ----
        0x45, 0x00,                         // version 4, IHL 5; DSCP/ECN 0
        0x00, 0x54,                         // total length 84
        0x4c, 0x1d,                         // identification
        0x40, 0x00,                         // flags: DF, offset 0
        0x3f, 0x01,                         // TTL 63 (64, forwarded once by node 1), ICMP
        0xd6, 0x9f,                         // header checksum
        0x0a, 0xf4, 0x01, 0x02,             // src 10.244.1.2
        0x0a, 0xf4, 0x02, 0x03,             // dst 10.244.2.3
        // ---- ICMP echo request ----
        0x08, 0x00,                         // type 8 (echo request), code 0
        0x84, 0xfc,                         // checksum
        0x1c, 0x2b,                         // identifier
        0x00, 0x01,                         // sequence number 1
        0x00, 0xb9, 0x55, 0x69, 0x00, 0x00, 0x00, 0x00, // tv_sec 1767225600 (LE)
        0x40, 0xe2, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // tv_usec 123456 (LE)
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, // pattern
        0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
        0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
        0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
        0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    ];

    /// Offsets into [`FLANNEL_FRAME`].
    const OUTER_IP: usize = ETHERNET_HEADER_LEN;
    const OUTER_UDP: usize = OUTER_IP + IPV4_HEADER_LEN;
    const VXLAN: usize = OUTER_UDP + UDP_HEADER_LEN;
    const INNER_ETH: usize = VXLAN + HEADER_LEN;

    /// The same packet built layer by layer with smoltcp's `Repr::emit` (which computes every
    /// checksum) and [`Repr::emit`], patching the fields where the kernel differs from
    /// smoltcp's choices (IP identification, DF on the outer header) and refilling the IPv4
    /// checksums after the patch.
    fn build_flannel_frame() -> Vec<u8> {
        let caps = ChecksumCapabilities::default();
        let data = ping_data();

        // Inner frame: Ethernet / IPv4 / ICMP echo request.
        let icmp_repr = Icmpv4Repr::EchoRequest {
            ident: PING_IDENT,
            seq_no: PING_SEQ,
            data: &data,
        };
        let inner_ip_repr = Ipv4Repr {
            src_addr: POD_A,
            dst_addr: POD_B,
            next_header: IpProtocol::Icmp,
            payload_len: icmp_repr.buffer_len(),
            hop_limit: 63,
        };
        let mut inner =
            vec![0u8; ETHERNET_HEADER_LEN + inner_ip_repr.buffer_len() + icmp_repr.buffer_len()];
        EthernetRepr {
            src_addr: NODE1_VTEP_MAC,
            dst_addr: NODE2_VTEP_MAC,
            ethertype: EthernetProtocol::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut inner[..]));
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut inner[ETHERNET_HEADER_LEN..]);
            inner_ip_repr.emit(&mut ip, &caps);
            ip.set_ident(INNER_IP_IDENT);
            ip.fill_checksum();
            icmp_repr.emit(&mut Icmpv4Packet::new_unchecked(ip.payload_mut()), &caps);
        }

        // VXLAN header + inner frame = the UDP payload.
        let vxlan_repr = Repr::new(1).unwrap();
        let mut udp_payload = vec![0u8; vxlan_repr.buffer_len() + inner.len()];
        let mut vxlan = Packet::new_unchecked(&mut udp_payload[..]);
        vxlan_repr.emit(&mut vxlan);
        vxlan.payload_mut().copy_from_slice(&inner);

        // Outer Ethernet / IPv4 / UDP.
        let udp_repr = UdpRepr {
            src_port: udp_source_port(&inner, 0, 0),
            dst_port: LINUX_DEFAULT_PORT,
        };
        let outer_ip_repr = Ipv4Repr {
            src_addr: NODE1_IP,
            dst_addr: NODE2_IP,
            next_header: IpProtocol::Udp,
            payload_len: udp_repr.header_len() + udp_payload.len(),
            hop_limit: 64,
        };
        let mut frame =
            vec![0u8; ETHERNET_HEADER_LEN + outer_ip_repr.buffer_len() + outer_ip_repr.payload_len];
        EthernetRepr {
            src_addr: NODE1_ETH0_MAC,
            dst_addr: NODE2_ETH0_MAC,
            ethertype: EthernetProtocol::Ipv4,
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETHERNET_HEADER_LEN..]);
        outer_ip_repr.emit(&mut ip, &caps);
        ip.set_ident(OUTER_IP_IDENT);
        ip.set_dont_frag(false);
        ip.fill_checksum();
        udp_repr.emit(
            &mut UdpPacket::new_unchecked(ip.payload_mut()),
            &IpAddress::Ipv4(NODE1_IP),
            &IpAddress::Ipv4(NODE2_IP),
            udp_payload.len(),
            |payload| payload.copy_from_slice(&udp_payload),
            &caps,
        );
        frame
    }

    #[test]
    fn flannel_fixture_matches_smoltcp_built_packet() {
        let built = build_flannel_frame();
        assert_eq!(built.len(), FLANNEL_FRAME.len());
        for (i, (b, f)) in built.iter().zip(FLANNEL_FRAME.iter()).enumerate() {
            assert_eq!(b, f, "byte {i}: built {b:#04x}, fixture {f:#04x}");
        }
        assert_eq!(INNER_ETH, OVERHEAD);
    }

    #[test]
    fn flannel_fixture_parses_layer_by_layer() {
        let caps = ChecksumCapabilities::default();

        // Outer Ethernet.
        let eth = EthernetFrame::new_checked(&FLANNEL_FRAME[..]).unwrap();
        let eth_repr = EthernetRepr::parse(&eth).unwrap();
        assert_eq!(eth_repr.src_addr, NODE1_ETH0_MAC);
        assert_eq!(eth_repr.dst_addr, NODE2_ETH0_MAC);
        assert_eq!(eth_repr.ethertype, EthernetProtocol::Ipv4);

        // Outer IPv4 (Repr::parse verifies the header checksum).
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        let ip_repr = Ipv4Repr::parse(&ip, &caps).unwrap();
        assert_eq!(ip_repr.src_addr, NODE1_IP);
        assert_eq!(ip_repr.dst_addr, NODE2_IP);
        assert_eq!(ip_repr.next_header, IpProtocol::Udp);
        assert_eq!(ip_repr.hop_limit, 64);
        assert!(!ip.dont_frag());

        // UDP (Repr::parse verifies the checksum over the pseudo-header).
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        let (src, dst) = (IpAddress::Ipv4(NODE1_IP), IpAddress::Ipv4(NODE2_IP));
        assert_ne!(udp.checksum(), 0, "the fixture carries a real UDP checksum");
        assert!(udp.verify_checksum(&src, &dst));
        let udp_repr = UdpRepr::parse(&udp, &src, &dst, &caps).unwrap();
        assert_eq!(udp_repr.dst_port, LINUX_DEFAULT_PORT);
        assert_eq!(udp_repr.src_port, OUTER_SRC_PORT);
        assert!((DEFAULT_SRC_PORT_MIN..=DEFAULT_SRC_PORT_MAX).contains(&udp_repr.src_port));

        // VXLAN.
        let vxlan = Packet::new_checked(udp.payload()).unwrap();
        assert_eq!(Repr::parse(&vxlan), Ok(Repr { vni: 1 }));
        assert!(!vxlan.reserved_bits_set());
        let inner = vxlan.payload();
        assert_eq!(inner, &FLANNEL_FRAME[INNER_ETH..]);
        assert_eq!(FLANNEL_FRAME.len() - inner.len(), OVERHEAD);
        assert_eq!(udp_source_port(inner, 0, 0), udp_repr.src_port);

        // Inner Ethernet.
        let inner_eth = EthernetFrame::new_checked(inner).unwrap();
        let inner_eth_repr = EthernetRepr::parse(&inner_eth).unwrap();
        assert_eq!(inner_eth_repr.src_addr, NODE1_VTEP_MAC);
        assert_eq!(inner_eth_repr.dst_addr, NODE2_VTEP_MAC);
        assert_eq!(inner_eth_repr.ethertype, EthernetProtocol::Ipv4);

        // Inner IPv4.
        let inner_ip = Ipv4Packet::new_checked(inner_eth.payload()).unwrap();
        assert!(inner_ip.verify_checksum());
        let inner_ip_repr = Ipv4Repr::parse(&inner_ip, &caps).unwrap();
        assert_eq!(inner_ip_repr.src_addr, POD_A);
        assert_eq!(inner_ip_repr.dst_addr, POD_B);
        assert_eq!(inner_ip_repr.next_header, IpProtocol::Icmp);
        assert_eq!(inner_ip_repr.hop_limit, 63);

        // ICMP echo request (Repr::parse verifies the checksum).
        let icmp = Icmpv4Packet::new_checked(inner_ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        let data = ping_data();
        assert_eq!(
            Icmpv4Repr::parse(&icmp, &caps).unwrap(),
            Icmpv4Repr::EchoRequest {
                ident: PING_IDENT,
                seq_no: PING_SEQ,
                data: &data,
            }
        );
    }

    #[test]
    fn flannel_fixture_checksums_are_what_smoltcp_computes() {
        // Zero every checksum, recompute innermost first (the UDP checksum covers the inner
        // frame), and get the fixture back.
        let mut frame = FLANNEL_FRAME;
        let inner_ip = INNER_ETH + ETHERNET_HEADER_LEN;
        let icmp = inner_ip + IPV4_HEADER_LEN;
        for checksum in [OUTER_IP + 10, OUTER_UDP + 6, inner_ip + 10, icmp + 2] {
            frame[checksum..checksum + 2].fill(0);
        }
        Icmpv4Packet::new_unchecked(&mut frame[icmp..]).fill_checksum();
        Ipv4Packet::new_unchecked(&mut frame[inner_ip..]).fill_checksum();
        Ipv4Packet::new_unchecked(&mut frame[OUTER_IP..]).fill_checksum();
        UdpPacket::new_unchecked(&mut frame[OUTER_UDP..])
            .fill_checksum(&IpAddress::Ipv4(NODE1_IP), &IpAddress::Ipv4(NODE2_IP));
        assert_eq!(frame, FLANNEL_FRAME);
    }

    // ---- udp_source_port ----

    /// An untagged Ethernet + IPv4 + 4 bytes of transport header (the ports).
    fn ipv4_frame(src: [u8; 4], dst: [u8; 4], protocol: u8, sport: u16, dport: u16) -> Vec<u8> {
        let mut frame = Vec::new();
        frame.extend_from_slice(&NODE2_VTEP_MAC.0);
        frame.extend_from_slice(&NODE1_VTEP_MAC.0);
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0, 0, 24, 0, 0, 0x40, 0, 64, protocol, 0, 0]);
        frame.extend_from_slice(&src);
        frame.extend_from_slice(&dst);
        frame.extend_from_slice(&sport.to_be_bytes());
        frame.extend_from_slice(&dport.to_be_bytes());
        frame
    }

    const TCP: u8 = 6;
    const UDP: u8 = 17;

    #[test]
    fn udp_source_port_is_deterministic() {
        let inner = &FLANNEL_FRAME[INNER_ETH..];
        let port = udp_source_port(inner, 0, 0);
        assert_eq!(port, OUTER_SRC_PORT);
        for _ in 0..3 {
            assert_eq!(udp_source_port(inner, 0, 0), port);
        }
        // (0, 0) is the kernel default range.
        assert_eq!(
            udp_source_port(inner, DEFAULT_SRC_PORT_MIN, DEFAULT_SRC_PORT_MAX),
            port
        );
    }

    #[test]
    fn same_flow_same_port() {
        let a = ipv4_frame([10, 244, 1, 2], [10, 244, 2, 3], TCP, 40000, 80);
        // Same 5-tuple, different MACs, TTL, identification and payload: same flow.
        let mut b = a.clone();
        b[..12].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
        b[14 + 4] = 0x12; // identification
        b[14 + 8] = 17; // TTL
        b.extend_from_slice(b"some payload");
        assert_eq!(
            udp_source_port(&a, 1000, 2000),
            udp_source_port(&b, 1000, 2000)
        );
        // Both directions of a flow hash alike, as with the kernel's flow hash.
        let reply = ipv4_frame([10, 244, 2, 3], [10, 244, 1, 2], TCP, 80, 40000);
        assert_eq!(
            udp_source_port(&a, 1000, 2000),
            udp_source_port(&reply, 1000, 2000)
        );
    }

    #[test]
    fn different_flows_spread_over_the_range() {
        let ports: std::collections::BTreeSet<u16> = (0..200u16)
            .map(|i| {
                let frame = ipv4_frame([10, 244, 1, 2], [10, 244, 2, 3], UDP, 30000 + i, 53);
                udp_source_port(&frame, 0, 0)
            })
            .collect();
        assert!(ports.len() > 190, "only {} distinct ports", ports.len());
        assert!(
            ports
                .iter()
                .all(|p| (DEFAULT_SRC_PORT_MIN..=DEFAULT_SRC_PORT_MAX).contains(p))
        );
        // Protocol and addresses count too.
        let tcp = ipv4_frame([10, 244, 1, 2], [10, 244, 2, 3], TCP, 1, 2);
        let udp = ipv4_frame([10, 244, 1, 2], [10, 244, 2, 3], UDP, 1, 2);
        let other = ipv4_frame([10, 244, 1, 9], [10, 244, 2, 3], UDP, 1, 2);
        assert_ne!(udp_source_port(&tcp, 0, 0), udp_source_port(&udp, 0, 0));
        assert_ne!(udp_source_port(&udp, 0, 0), udp_source_port(&other, 0, 0));
    }

    #[test]
    fn fragments_and_portless_protocols_ignore_ports() {
        let first = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], UDP, 1111, 2222);
        let mut later = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], UDP, 3333, 4444);
        // A later fragment has no UDP header; what sits there is payload.
        later[14 + 6..14 + 8].copy_from_slice(&[0x00, 0xb9]); // offset 185 * 8
        let mut first_frag = first.clone();
        first_frag[14 + 6] = 0x20; // MF
        assert_eq!(
            udp_source_port(&first_frag, 0, 0),
            udp_source_port(&later, 0, 0)
        );
        // Not fragmented: ports count.
        assert_ne!(
            udp_source_port(&first, 0, 0),
            udp_source_port(&first_frag, 0, 0)
        );
        // ICMP: the bytes after the header are not ports.
        let a = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 0x0800, 0x1234);
        let b = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 1, 0x0800, 0x9999);
        assert_eq!(udp_source_port(&a, 0, 0), udp_source_port(&b, 0, 0));
    }

    #[test]
    fn non_ipv4_frames_hash_the_macs() {
        // An ARP request: only the MACs and EtherType matter.
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&NODE1_VTEP_MAC.0);
        arp.extend_from_slice(&[0x08, 0x06]);
        let mut arp2 = arp.clone();
        arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        arp2.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
        assert_eq!(udp_source_port(&arp, 0, 0), udp_source_port(&arp2, 0, 0));
        let mut other_src = arp.clone();
        other_src[11] ^= 1;
        assert_ne!(
            udp_source_port(&arp, 0, 0),
            udp_source_port(&other_src, 0, 0)
        );
    }

    #[test]
    fn short_and_garbage_frames_do_not_panic() {
        let frame = build_flannel_frame();
        let inner = &frame[INNER_ETH..];
        for len in 0..=inner.len() {
            let port = udp_source_port(&inner[..len], 5000, 5010);
            assert!((5000..=5010).contains(&port));
        }
        // IHL below 5, IHL pointing past the end, wrong version, VLAN tag.
        for patch in [(14, 0x41), (14, 0x4f), (14, 0x65), (12, 0x81)] {
            let mut bad = inner.to_vec();
            bad[patch.0] = patch.1;
            let _ = udp_source_port(&bad, 0, 0);
            let _ = udp_source_port(&bad[..40], 0, 0);
        }
        assert_eq!(udp_source_port(&[], 7, 7), udp_source_port(&[], 0, 0));
        assert_eq!(
            udp_source_port(&[], 0, u16::MAX),
            udp_source_port(&[], 0, u16::MAX)
        );
    }

    #[test]
    fn empty_or_inverted_range_means_kernel_default() {
        let inner = &FLANNEL_FRAME[INNER_ETH..];
        let default = udp_source_port(inner, 0, 0);
        assert_eq!(udp_source_port(inner, 9000, 9000), default);
        assert_eq!(udp_source_port(inner, 9001, 9000), default);
        assert_eq!(udp_source_port(inner, 65535, 0), default);
        let narrow = udp_source_port(inner, 9000, 9001);
        assert!(narrow == 9000 || narrow == 9001);
    }

    proptest! {
        #[test]
        fn udp_source_port_in_range_for_any_bytes(
            frame in proptest::collection::vec(any::<u8>(), 0..96),
            min in any::<u16>(),
            max in any::<u16>(),
        ) {
            let port = udp_source_port(&frame, min, max);
            prop_assert_eq!(port, udp_source_port(&frame, min, max));
            if min < max {
                prop_assert!((min..=max).contains(&port));
            } else {
                prop_assert!((DEFAULT_SRC_PORT_MIN..=DEFAULT_SRC_PORT_MAX).contains(&port));
            }
        }

        #[test]
        fn udp_source_port_in_range_for_truncated_ipv4(
            src in any::<[u8; 4]>(),
            dst in any::<[u8; 4]>(),
            protocol in prop_oneof![Just(TCP), Just(UDP), any::<u8>()],
            vihl in prop_oneof![Just(0x45u8), any::<u8>()],
            sport in any::<u16>(),
            dport in any::<u16>(),
            len in 0usize..=42,
            min in any::<u16>(),
            max in any::<u16>(),
        ) {
            let mut frame = ipv4_frame(src, dst, protocol, sport, dport);
            frame[14] = vihl;
            frame.truncate(len);
            let port = udp_source_port(&frame, min, max);
            let (lo, hi) = if min < max { (min, max) } else { (DEFAULT_SRC_PORT_MIN, DEFAULT_SRC_PORT_MAX) };
            prop_assert!((lo..=hi).contains(&port));
            // One flow, one port, whichever direction.
            if len == 42 && vihl == 0x45 {
                let reply = ipv4_frame(dst, src, protocol, dport, sport);
                prop_assert_eq!(port, udp_source_port(&reply, min, max));
            }
        }

        #[test]
        fn repr_round_trips_any_24_bit_vni(vni in 0u32..=VNI_MAX, payload in proptest::collection::vec(any::<u8>(), 0..32)) {
            let repr = Repr::new(vni).unwrap();
            let mut bytes = vec![0xa5u8; repr.buffer_len() + payload.len()];
            let mut packet = Packet::new_unchecked(&mut bytes[..]);
            repr.emit(&mut packet);
            packet.payload_mut().copy_from_slice(&payload);
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(Repr::parse(&packet), Ok(repr));
            prop_assert!(!packet.reserved_bits_set());
            prop_assert_eq!(packet.payload(), &payload[..]);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            match Packet::new_checked(&bytes[..]) {
                Err(_) => prop_assert!(bytes.len() < HEADER_LEN),
                Ok(packet) => match Repr::parse(&packet) {
                    Ok(repr) => {
                        prop_assert!(repr.vni <= VNI_MAX);
                        prop_assert!(bytes[0] & FLAG_I != 0);
                    }
                    Err(_) => prop_assert_eq!(bytes[0] & FLAG_I, 0),
                },
            }
        }
    }
}
