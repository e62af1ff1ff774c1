//! # pcapng export and import of simulated captures
//!
//! A [`Capture`] collects the packets the simulation sees on its devices; [`Capture::write_pcapng`]
//! turns it into a pcapng file that Wireshark and tshark open as they would a capture taken with
//! `dumpcap` on a real node, and [`read_capture`] reads a pcapng or classic pcap file back (the
//! replay feature uses it).
//!
//! ## What is written
//!
//! One section, little-endian whatever the host (so the same capture gives the same bytes on
//! every machine), made of:
//!
//! * one **Section Header Block** (type `0x0A0D0D0A`, byte-order magic `0x1A2B3C4D`, version 1.0,
//!   section length -1 "not given") with one option, `shb_userappl` = `"kube-netsim"`;
//! * one **Interface Description Block** (type 1) per [`CaptureInterface`], in the order the
//!   interfaces were added, with the link type (`LINKTYPE_ETHERNET` = 1 or `LINKTYPE_RAW` = 101),
//!   the snaplen, and two options: `if_name` (shown by Wireshark as the interface name, written
//!   `"<netns or node>/<device>"`) and `if_tsresol` = 9 (timestamps count nanoseconds);
//! * one **Enhanced Packet Block** (type 6) per [`CapturedPacket`], in record order, with the
//!   interface index, the 64-bit timestamp in nanoseconds of simulated time (time zero is shown
//!   as 1970-01-01 00:00:00 UTC), captured length = original length = the bytes recorded, and one
//!   option, `epb_flags`, whose bits 0–1 carry the [`Direction`] (0 unknown, 1 inbound,
//!   2 outbound). Every EPB carries `epb_flags`, also for [`Direction::Unknown`].
//!
//! Nothing depends on the wall clock, the host or the environment: no `shb_os`, `shb_hardware`,
//! `if_os` or capture-start comment is written.
//!
//! The blocks are encoded by the `pcap-file` crate's `PcapNgWriter` (it can express all of the
//! above: `SectionHeaderOption::UserApplication`, `InterfaceDescriptionOption::IfTsResol`,
//! `EnhancedPacketOption::Flags`), with the endianness fixed to little and every limit checked
//! here first (pcap-file silently truncates an option longer than 65535 bytes, and it always
//! writes EPB timestamps as nanoseconds whatever `if_tsresol` says, which is right only because
//! we always write `if_tsresol` = 9).
//!
//! ## What is read
//!
//! [`read_capture`] is a hand-written parser, not pcap-file's reader, because it must honour
//! `if_tsresol` (pcap-file takes every EPB timestamp as nanoseconds, which misreads the common
//! microsecond files), must name the byte offset where a bad file goes wrong, and must never
//! panic on hostile input. It reads:
//!
//! * pcapng in either byte order, any number of sections (the interfaces of all sections are
//!   listed one after the other, as `mergecap -a` or `cat` of two files gives), Enhanced Packet
//!   Blocks and the obsolete Packet Block; `if_name`, `if_tsresol` (powers of 10 and of 2) and
//!   `if_tsoffset`, `epb_flags`/`pack_flags` direction bits; other blocks (name resolution,
//!   interface statistics, decryption secrets, custom…) and other options are skipped;
//! * classic pcap with microsecond or nanosecond magic, in either byte order, as one interface.
//!
//! ## Simplifications
//!
//! * Only Ethernet, raw IP and the Linux cooked headers (v1, v2) exist as link types
//!   ([`LinkType`]); a file with any other link type is refused with [`PcapngError::UnsupportedLinkType`] rather than mislabelled.
//! * We never truncate packets: a packet longer than its interface's snaplen is an error on
//!   write ([`PcapngError::PacketTooLarge`]), and on read the original length of a truncated
//!   packet is not kept (only the captured bytes are).
//! * Simple Packet Blocks (no interface, no timestamp) are refused with
//!   [`PcapngError::Unsupported`]; a timestamp finer than 1 ns is truncated to whole
//!   nanoseconds; an interface without `if_name` (and every classic pcap file) is named
//!   `"if<N>"`, N being its index in the returned list.
//! * No Interface Statistics, Name Resolution or Decryption Secrets blocks are written.
//!
//! ## References
//!
//! * PCAP Next Generation (pcapng) Capture File Format, draft-ietf-opsawg-pcapng
//!   (<https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html>), §4 block and
//!   option layout, §4.1 SHB, §4.2 IDB (`if_tsresol`), §4.3 EPB (`epb_flags`).
//! * Link-layer header types: <https://www.tcpdump.org/linktypes.html>.
//! * PCAP Capture File Format, draft-ietf-opsawg-pcap (classic pcap).
//! * Wireshark: `wiretap/pcapng.c` is what `tshark -r` runs these files through; the tests
//!   check the output with tshark when it is installed.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::time::Duration;

use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::{DataLink, Endianness, PcapError};
use sim_core::SimTime;

/// The snaplen given to interfaces added with [`Capture::interface`]: 262144, the default of
/// tcpdump and dumpcap.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// The `shb_userappl` written in every Section Header Block.
pub const USER_APPLICATION: &str = "kube-netsim";

/// The `if_tsresol` written in every Interface Description Block: 10^-9 s.
pub const TS_RESOLUTION_NANOS: u8 = 9;

/// pcapng block type of the Section Header Block.
pub const BLOCK_SECTION_HEADER: u32 = 0x0A0D_0D0A;
/// pcapng block type of the Interface Description Block.
pub const BLOCK_INTERFACE_DESCRIPTION: u32 = 0x0000_0001;
/// pcapng block type of the (obsolete) Packet Block.
pub const BLOCK_PACKET: u32 = 0x0000_0002;
/// pcapng block type of the Simple Packet Block.
pub const BLOCK_SIMPLE_PACKET: u32 = 0x0000_0003;
/// pcapng block type of the Enhanced Packet Block.
pub const BLOCK_ENHANCED_PACKET: u32 = 0x0000_0006;
/// The byte-order magic of a Section Header Block, as read in the section's own byte order.
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// Longest packet an Enhanced Packet Block can hold: its 32-bit total length also covers the
/// 32 bytes of header and trailer, the padding and the 12 bytes of `epb_flags` + `opt_endofopt`.
const MAX_EPB_DATA: usize = (u32::MAX as usize) - 64;

/// Option codes (draft-ietf-opsawg-pcapng §4.2, §4.3).
const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
const OPT_EPB_FLAGS: u16 = 2;

/// Link types we capture, or read from captures taken elsewhere.
///
/// `Ethernet` = `LINKTYPE_ETHERNET` (1), `RawIp` = `LINKTYPE_RAW` (101) for `Medium::Ip`-style
/// devices with no L2 header (the first nibble of each packet tells IPv4 from IPv6). The two
/// Linux cooked headers are what `tcpdump -i any` writes; the simulator never captures with
/// them, but replays read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkType {
    /// Ethernet II frames, no preamble and no FCS: `LINKTYPE_ETHERNET` (1).
    Ethernet,
    /// Bare IPv4 or IPv6 packets: `LINKTYPE_RAW` (101).
    RawIp,
    /// Linux cooked capture v1, a 16-byte header ending in the EtherType:
    /// `LINKTYPE_LINUX_SLL` (113).
    LinuxSll,
    /// Linux cooked capture v2, a 20-byte header starting with the EtherType:
    /// `LINKTYPE_LINUX_SLL2` (276).
    LinuxSll2,
}

impl LinkType {
    /// The `LINKTYPE_*` number written in the file.
    pub const fn code(self) -> u16 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
        }
    }

    /// The link type with this `LINKTYPE_*` number, if it is one we model.
    pub const fn from_code(code: u32) -> Option<LinkType> {
        match code {
            1 => Some(LinkType::Ethernet),
            101 => Some(LinkType::RawIp),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            _ => None,
        }
    }

    fn data_link(self) -> DataLink {
        match self {
            LinkType::Ethernet => DataLink::ETHERNET,
            LinkType::RawIp => DataLink::RAW,
            LinkType::LinuxSll => DataLink::LINUX_SLL,
            LinkType::LinuxSll2 => DataLink::LINUX_SLL2,
        }
    }
}

/// One capture interface.
///
/// The name is shown in Wireshark as the interface name, written like `"node-1/veth1a2b"`
/// (netns or node name, slash, device name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaptureInterface {
    /// `"<netns or node>/<device>"`, written as `if_name`.
    pub name: String,
    /// What the first byte of each packet is.
    pub link_type: LinkType,
    /// Largest packet this interface holds, in bytes; 0 means no limit (pcapng §4.2).
    pub snaplen: u32,
}

/// Which way a packet was going on its interface, written in the `epb_flags` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Received by the device (`epb_flags` bits 0–1 = 01).
    Inbound,
    /// Sent by the device (`epb_flags` bits 0–1 = 10).
    Outbound,
    /// Not known (`epb_flags` bits 0–1 = 00).
    #[default]
    Unknown,
}

impl Direction {
    /// The `epb_flags` word for this direction (bits 0–1; every other bit 0).
    pub const fn epb_flags(self) -> u32 {
        match self {
            Direction::Unknown => 0,
            Direction::Inbound => 1,
            Direction::Outbound => 2,
        }
    }

    /// The direction in an `epb_flags` word. The value 11, reserved as invalid, reads as
    /// [`Direction::Unknown`].
    pub const fn from_epb_flags(flags: u32) -> Direction {
        match flags & 0b11 {
            1 => Direction::Inbound,
            2 => Direction::Outbound,
            _ => Direction::Unknown,
        }
    }
}

/// A captured packet: when, on which interface (index into the interface list), direction, and
/// the bytes as they were on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CapturedPacket {
    /// Simulated time of the capture; written as nanoseconds since time zero.
    pub time: SimTime,
    /// Index into [`Capture::interfaces`].
    pub interface: usize,
    /// Which way the packet was going.
    pub direction: Direction,
    /// The whole packet from its link-layer header on (no FCS).
    pub data: Vec<u8>,
}

/// An in-memory capture that grows as the simulation runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    interfaces: Vec<CaptureInterface>,
    by_name: BTreeMap<String, usize>,
    packets: Vec<CapturedPacket>,
}

impl Capture {
    /// An empty capture: no interface, no packet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an interface with [`DEFAULT_SNAPLEN`] and returns its index; adding the same name
    /// twice returns the existing index (and keeps the first link type and snaplen).
    pub fn interface(&mut self, name: &str, link_type: LinkType) -> usize {
        self.interface_with_snaplen(name, link_type, DEFAULT_SNAPLEN)
    }

    /// As [`Capture::interface`], with a chosen snaplen (0 = no limit).
    pub fn interface_with_snaplen(
        &mut self,
        name: &str,
        link_type: LinkType,
        snaplen: u32,
    ) -> usize {
        if let Some(&index) = self.by_name.get(name) {
            return index;
        }
        let index = self.interfaces.len();
        self.interfaces.push(CaptureInterface {
            name: name.to_owned(),
            link_type,
            snaplen,
        });
        self.by_name.insert(name.to_owned(), index);
        index
    }

    /// The index of the interface with this name, if it was added.
    pub fn interface_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Appends a packet. Nothing is checked here: an interface index out of range or a packet
    /// over the snaplen is reported by [`Capture::write_pcapng`].
    pub fn record(&mut self, packet: CapturedPacket) {
        self.packets.push(packet);
    }

    /// The interfaces, in the order they were added (the index is the position).
    pub fn interfaces(&self) -> &[CaptureInterface] {
        &self.interfaces
    }

    /// The packets, in record order.
    pub fn packets(&self) -> &[CapturedPacket] {
        &self.packets
    }

    /// Writes a pcapng file: one Section Header Block (with `shb_userappl` "kube-netsim"), one
    /// Interface Description Block per interface (`if_name`, `if_tsresol` = 9 i.e.
    /// nanoseconds, snaplen), then one Enhanced Packet Block per packet in record order with
    /// the timestamp in ns and `epb_flags` carrying the direction.
    ///
    /// Deterministic: the same capture gives the same bytes (no wall-clock anywhere,
    /// timestamps are simulated time since 0, little-endian on every host).
    ///
    /// Everything is checked before the first byte is written, so a capture that cannot be
    /// written ([`PcapngError::InterfaceOutOfRange`], [`PcapngError::PacketTooLarge`],
    /// [`PcapngError::NameTooLong`]) leaves `w` untouched. Writes are buffered; `w` is flushed
    /// at the end.
    pub fn write_pcapng<W: Write>(&self, w: W) -> Result<(), PcapngError> {
        self.write_pcapng_with(w, Endianness::Little)
    }

    fn validate(&self) -> Result<(), PcapngError> {
        for (index, iface) in self.interfaces.iter().enumerate() {
            if iface.name.len() > usize::from(u16::MAX) {
                return Err(PcapngError::NameTooLong {
                    index,
                    len: iface.name.len(),
                });
            }
        }
        let count = self.interfaces.len();
        for (packet, p) in self.packets.iter().enumerate() {
            let iface =
                self.interfaces
                    .get(p.interface)
                    .ok_or(PcapngError::InterfaceOutOfRange {
                        packet,
                        index: p.interface,
                        count,
                    })?;
            let over_snaplen = iface.snaplen != 0 && p.data.len() > iface.snaplen as usize;
            if over_snaplen || p.data.len() > MAX_EPB_DATA {
                return Err(PcapngError::PacketTooLarge {
                    packet,
                    len: p.data.len(),
                    snaplen: iface.snaplen,
                });
            }
        }
        Ok(())
    }

    /// The writer behind [`Capture::write_pcapng`], with the byte order as a parameter (the
    /// tests also write big-endian sections to exercise the reader).
    fn write_pcapng_with<W: Write>(&self, w: W, endianness: Endianness) -> Result<(), PcapngError> {
        self.validate()?;

        let section = SectionHeaderBlock {
            endianness,
            major_version: 1,
            minor_version: 0,
            section_length: -1,
            options: vec![SectionHeaderOption::UserApplication(Cow::Borrowed(
                USER_APPLICATION,
            ))],
        };
        let mut out = PcapNgWriter::with_section_header(BufWriter::new(w), section)
            .map_err(PcapngError::from_pcap_file)?;

        for iface in &self.interfaces {
            let idb = InterfaceDescriptionBlock {
                linktype: iface.link_type.data_link(),
                snaplen: iface.snaplen,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Borrowed(iface.name.as_str())),
                    InterfaceDescriptionOption::IfTsResol(TS_RESOLUTION_NANOS),
                ],
            };
            out.write_pcapng_block(idb)
                .map_err(PcapngError::from_pcap_file)?;
        }

        for p in &self.packets {
            // Both conversions are guaranteed by `validate`; fail cleanly all the same.
            let interface_id = u32::try_from(p.interface).map_err(|_| {
                PcapngError::Encode("interface index does not fit in 32 bits".into())
            })?;
            let original_len = u32::try_from(p.data.len())
                .map_err(|_| PcapngError::Encode("packet length does not fit in 32 bits".into()))?;
            let epb = EnhancedPacketBlock {
                interface_id,
                // pcap-file writes `timestamp.as_nanos()` as the 64-bit timestamp, which is
                // what if_tsresol = 9 asks for.
                timestamp: Duration::from_nanos(p.time.as_nanos()),
                original_len,
                data: Cow::Borrowed(p.data.as_slice()),
                options: vec![EnhancedPacketOption::Flags(p.direction.epb_flags())],
            };
            out.write_pcapng_block(epb)
                .map_err(PcapngError::from_pcap_file)?;
        }

        out.get_mut().flush()?;
        Ok(())
    }
}

/// Errors of writing and reading capture files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcapngError {
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// Write: a packet names an interface the capture does not have.
    #[error("packet {packet} is on interface {index}, but the capture has {count} interface(s)")]
    InterfaceOutOfRange {
        /// Index of the packet in record order.
        packet: usize,
        /// The interface index it carries.
        index: usize,
        /// How many interfaces there are.
        count: usize,
    },

    /// Write: a packet is longer than its interface's snaplen (or than a block can hold).
    #[error("packet {packet} is {len} bytes, more than its interface's snaplen {snaplen}")]
    PacketTooLarge {
        /// Index of the packet in record order.
        packet: usize,
        /// Its length in bytes.
        len: usize,
        /// The snaplen of its interface (0 = no limit, then the limit is the block size).
        snaplen: u32,
    },

    /// Write: an interface name is longer than a pcapng option can hold (65535 bytes).
    #[error("interface {index} has a name of {len} bytes; if_name holds at most 65535")]
    NameTooLong {
        /// Index of the interface.
        index: usize,
        /// Length of its name in bytes.
        len: usize,
    },

    /// Write: the pcapng encoder failed for a reason other than I/O.
    #[error("pcapng encoding failed: {0}")]
    Encode(String),

    /// Read: the file starts with neither a pcapng Section Header Block nor a pcap magic.
    #[error("not a pcapng or pcap file: starts with {magic:02x?}")]
    NotACapture {
        /// The first four bytes.
        magic: [u8; 4],
    },

    /// Read: the file ends inside a structure.
    #[error("file truncated: {what} at byte offset {offset} is incomplete")]
    Truncated {
        /// Byte offset where the incomplete structure starts.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },

    /// Read: a structure is inconsistent.
    #[error("malformed capture at byte offset {offset}: {reason}")]
    Malformed {
        /// Byte offset of the bad field or block.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },

    /// Read: an interface (or a classic pcap file) has a link type we do not model.
    #[error(
        "unsupported link type {link_type} at byte offset {offset} (only 1 Ethernet, 101 raw IP, 113 and 276 Linux cooked)"
    )]
    UnsupportedLinkType {
        /// Byte offset of the block or file header that declares it.
        offset: usize,
        /// The `LINKTYPE_*` value.
        link_type: u32,
    },

    /// Read: a packet refers to an interface not described (yet) in its section.
    #[error(
        "packet block at byte offset {offset} refers to interface {interface_id}, not described in its section"
    )]
    UnknownInterface {
        /// Byte offset of the packet block.
        offset: usize,
        /// The interface id it carries.
        interface_id: u32,
    },

    /// Read: a valid but unsupported feature (format version, Simple Packet Block).
    #[error("unsupported at byte offset {offset}: {what}")]
    Unsupported {
        /// Byte offset of the block or header.
        offset: usize,
        /// What is not supported.
        what: &'static str,
    },
}

impl PcapngError {
    fn from_pcap_file(e: PcapError) -> Self {
        match e {
            PcapError::IoError(io) => PcapngError::Io(io),
            other => PcapngError::Encode(other.to_string()),
        }
    }

    /// The byte offset where reading failed, for the read errors that have one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            PcapngError::NotACapture { .. } => Some(0),
            PcapngError::Truncated { offset, .. }
            | PcapngError::Malformed { offset, .. }
            | PcapngError::UnsupportedLinkType { offset, .. }
            | PcapngError::UnknownInterface { offset, .. }
            | PcapngError::Unsupported { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

/// Reads a pcapng or classic pcap file back into (interfaces, packets) — the replay feature
/// uses it.
///
/// Returns a typed error, never panics, for a truncated or garbage file, naming the byte
/// offset where parsing failed ([`PcapngError::offset`]). The whole input is read into memory
/// first; no allocation is sized from a length field before that field is checked against the
/// bytes actually there.
pub fn read_capture<R: Read>(
    mut r: R,
) -> Result<(Vec<CaptureInterface>, Vec<CapturedPacket>), PcapngError> {
    let mut data = Vec::new();
    r.read_to_end(&mut data)?;
    parse_capture(&data)
}

/// [`read_capture`] on bytes already in memory.
pub fn parse_capture(
    data: &[u8],
) -> Result<(Vec<CaptureInterface>, Vec<CapturedPacket>), PcapngError> {
    let magic: [u8; 4] =
        data.get(0..4)
            .and_then(|m| m.try_into().ok())
            .ok_or(PcapngError::Truncated {
                offset: 0,
                what: "file magic",
            })?;
    match magic {
        [0x0A, 0x0D, 0x0D, 0x0A] => parse_pcapng(data),
        [0xD4, 0xC3, 0xB2, 0xA1] => parse_pcap(data, Endian::Little, 1_000),
        [0xA1, 0xB2, 0xC3, 0xD4] => parse_pcap(data, Endian::Big, 1_000),
        [0x4D, 0x3C, 0xB2, 0xA1] => parse_pcap(data, Endian::Little, 1),
        [0xA1, 0xB2, 0x3C, 0x4D] => parse_pcap(data, Endian::Big, 1),
        _ => Err(PcapngError::NotACapture { magic }),
    }
}

/// Byte order of a pcapng section or a pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }
    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
    fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    }
}

/// Bounds-checked fixed-size reads from a byte slice; `None` past the end.
fn take<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn read_u16(data: &[u8], at: usize, e: Endian) -> Option<u16> {
    take::<2>(data, at).map(|b| e.u16(b))
}

fn read_u32(data: &[u8], at: usize, e: Endian) -> Option<u32> {
    take::<4>(data, at).map(|b| e.u32(b))
}

/// `n` rounded up to a multiple of 4 (pcapng pads data and option values to 32 bits).
fn pad4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|m| m & !3)
}

/// Timestamp resolution of a pcapng interface (`if_tsresol`): units are 10^-n or 2^-n s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsResol {
    Pow10(u8),
    Pow2(u8),
}

impl TsResol {
    fn from_option(v: u8) -> TsResol {
        if v & 0x80 == 0 {
            TsResol::Pow10(v)
        } else {
            TsResol::Pow2(v & 0x7F)
        }
    }

    /// `units` of this resolution in whole nanoseconds (finer ones truncated); `None` if it
    /// does not fit in a `u64`.
    fn to_nanos(self, units: u64) -> Option<u64> {
        let units = u128::from(units);
        let ns = match self {
            TsResol::Pow10(n) if n <= 9 => units.checked_mul(10u128.pow(u32::from(9 - n)))?,
            // 10^(n-9) overflows u128 past n = 47; such a resolution makes every u64 count 0 ns.
            TsResol::Pow10(n) => 10u128
                .checked_pow(u32::from(n - 9))
                .map_or(0, |div| units / div),
            // units < 2^64 and 10^9 < 2^30: the product fits in u128; the shift is at most 127.
            TsResol::Pow2(n) => (units * 1_000_000_000) >> n,
        };
        u64::try_from(ns).ok()
    }
}

/// What the reader keeps of a pcapng interface of the current section.
#[derive(Debug, Clone, Copy)]
struct SectionInterface {
    /// Index in the returned interface list.
    global: usize,
    resol: TsResol,
    /// `if_tsoffset`, seconds added to every timestamp.
    offset_secs: i64,
}

#[derive(Debug, Clone, Copy)]
struct RawOption<'a> {
    code: u16,
    value: &'a [u8],
    /// Byte offset of the option header in the file.
    offset: usize,
}

/// Parses the options that fill `data[start..]` (the end of a block body), stopping at
/// `opt_endofopt` or at the end. `base` is the file offset of `data[0]`.
fn parse_options(
    data: &[u8],
    start: usize,
    base: usize,
    e: Endian,
) -> Result<Vec<RawOption<'_>>, PcapngError> {
    let mut options = Vec::new();
    let mut at = start;
    while at < data.len() {
        let offset = base + at;
        let (Some(code), Some(len)) = (read_u16(data, at, e), read_u16(data, at + 2, e)) else {
            return Err(PcapngError::Malformed {
                offset,
                reason: "option header overruns its block",
            });
        };
        if code == OPT_ENDOFOPT {
            break;
        }
        let value_start = at + 4;
        let value_end = value_start + usize::from(len);
        let value = data
            .get(value_start..value_end)
            .ok_or(PcapngError::Malformed {
                offset,
                reason: "option value overruns its block",
            })?;
        options.push(RawOption {
            code,
            value,
            offset,
        });
        // Skip the padding to 32 bits; padding that overruns the block leaves `at` past the
        // end, which ends the loop (the block length itself is 32-bit aligned).
        at = value_start + ((usize::from(len) + 3) & !3);
    }
    Ok(options)
}

fn parse_pcapng(data: &[u8]) -> Result<(Vec<CaptureInterface>, Vec<CapturedPacket>), PcapngError> {
    let mut interfaces: Vec<CaptureInterface> = Vec::new();
    let mut packets: Vec<CapturedPacket> = Vec::new();
    let mut section: Vec<SectionInterface> = Vec::new();
    let mut endian: Option<Endian> = None;
    let mut pos = 0usize;

    while pos < data.len() {
        let start = pos;
        let Some(type_bytes) = take::<4>(data, start) else {
            return Err(PcapngError::Truncated {
                offset: start,
                what: "block header",
            });
        };

        let is_shb = type_bytes == [0x0A, 0x0D, 0x0D, 0x0A];
        let e = if is_shb {
            // The byte order is that of the byte-order magic, 8 bytes in.
            match take::<4>(data, start + 8) {
                None => {
                    return Err(PcapngError::Truncated {
                        offset: start,
                        what: "Section Header Block",
                    });
                }
                Some([0x1A, 0x2B, 0x3C, 0x4D]) => Endian::Big,
                Some([0x4D, 0x3C, 0x2B, 0x1A]) => Endian::Little,
                Some(_) => {
                    return Err(PcapngError::Malformed {
                        offset: start + 8,
                        reason: "bad byte-order magic in Section Header Block",
                    });
                }
            }
        } else {
            endian.ok_or(PcapngError::Malformed {
                offset: start,
                reason: "first block is not a Section Header Block",
            })?
        };

        let block_type = e.u32(type_bytes);
        let total_len = read_u32(data, start + 4, e).ok_or(PcapngError::Truncated {
            offset: start,
            what: "block header",
        })? as usize;
        if total_len < 12 || !total_len.is_multiple_of(4) {
            return Err(PcapngError::Malformed {
                offset: start + 4,
                reason: "block total length is not a multiple of 4 of at least 12",
            });
        }
        let end = start.checked_add(total_len).ok_or(PcapngError::Malformed {
            offset: start + 4,
            reason: "block total length overflows",
        })?;
        let Some(block) = data.get(start..end) else {
            return Err(PcapngError::Truncated {
                offset: start,
                what: "block",
            });
        };
        if read_u32(block, total_len - 4, e) != Some(total_len as u32) {
            return Err(PcapngError::Malformed {
                offset: end - 4,
                reason: "trailing block total length differs from the leading one",
            });
        }
        // The body with its 8-byte header kept, so offsets within `block` are file offsets
        // minus `start`.
        let body = &block[..total_len - 4];

        match block_type {
            BLOCK_SECTION_HEADER => {
                if body.len() < 24 {
                    return Err(PcapngError::Malformed {
                        offset: start,
                        reason: "Section Header Block shorter than 28 bytes",
                    });
                }
                if read_u16(body, 12, e) != Some(1) {
                    return Err(PcapngError::Unsupported {
                        offset: start + 12,
                        what: "pcapng major version other than 1",
                    });
                }
                // Options (shb_userappl, …) are checked for shape and otherwise ignored.
                parse_options(body, 24, start, e)?;
                endian = Some(e);
                section.clear();
            }
            BLOCK_INTERFACE_DESCRIPTION => {
                let (Some(code), Some(snaplen)) = (read_u16(body, 8, e), read_u32(body, 12, e))
                else {
                    return Err(PcapngError::Malformed {
                        offset: start,
                        reason: "Interface Description Block shorter than 20 bytes",
                    });
                };
                let link_type = LinkType::from_code(u32::from(code)).ok_or(
                    PcapngError::UnsupportedLinkType {
                        offset: start,
                        link_type: u32::from(code),
                    },
                )?;
                let mut name = None;
                let mut resol = TsResol::Pow10(6);
                let mut offset_secs = 0i64;
                for opt in parse_options(body, 16, start, e)? {
                    match opt.code {
                        OPT_IF_NAME => {
                            let s = std::str::from_utf8(opt.value).map_err(|_| {
                                PcapngError::Malformed {
                                    offset: opt.offset,
                                    reason: "if_name is not UTF-8",
                                }
                            })?;
                            name = Some(s.to_owned());
                        }
                        OPT_IF_TSRESOL => match opt.value {
                            [v] => resol = TsResol::from_option(*v),
                            _ => {
                                return Err(PcapngError::Malformed {
                                    offset: opt.offset,
                                    reason: "if_tsresol is not 1 byte long",
                                });
                            }
                        },
                        OPT_IF_TSOFFSET => {
                            let v = take::<8>(opt.value, 0)
                                .filter(|_| opt.value.len() == 8)
                                .ok_or(PcapngError::Malformed {
                                    offset: opt.offset,
                                    reason: "if_tsoffset is not 8 bytes long",
                                })?;
                            offset_secs = e.u64(v) as i64;
                        }
                        _ => {}
                    }
                }
                let global = interfaces.len();
                interfaces.push(CaptureInterface {
                    name: name.unwrap_or_else(|| format!("if{global}")),
                    link_type,
                    snaplen,
                });
                section.push(SectionInterface {
                    global,
                    resol,
                    offset_secs,
                });
            }
            BLOCK_ENHANCED_PACKET | BLOCK_PACKET => {
                let interface_id = if block_type == BLOCK_ENHANCED_PACKET {
                    read_u32(body, 8, e)
                } else {
                    read_u16(body, 8, e).map(u32::from)
                };
                let (Some(interface_id), Some(ts_high), Some(ts_low), Some(cap_len)) = (
                    interface_id,
                    read_u32(body, 12, e),
                    read_u32(body, 16, e),
                    read_u32(body, 20, e),
                ) else {
                    return Err(PcapngError::Malformed {
                        offset: start,
                        reason: "packet block shorter than 32 bytes",
                    });
                };
                if body.len() < 28 {
                    return Err(PcapngError::Malformed {
                        offset: start,
                        reason: "packet block shorter than 32 bytes",
                    });
                }
                let cap_len = cap_len as usize;
                let packet_data = 28usize
                    .checked_add(cap_len)
                    .and_then(|data_end| body.get(28..data_end))
                    .ok_or(PcapngError::Malformed {
                        offset: start + 20,
                        reason: "captured length overruns the packet block",
                    })?;
                let iface = section.get(interface_id as usize).copied().ok_or(
                    PcapngError::UnknownInterface {
                        offset: start,
                        interface_id,
                    },
                )?;
                let units = (u64::from(ts_high) << 32) | u64::from(ts_low);
                let time = iface
                    .resol
                    .to_nanos(units)
                    .and_then(|ns| apply_ts_offset(ns, iface.offset_secs))
                    .ok_or(PcapngError::Malformed {
                        offset: start + 12,
                        reason: "timestamp out of the range of simulated time",
                    })?;
                // 28 + cap_len did not overflow: the data is inside `body`.
                let options_start = pad4(28 + cap_len).unwrap_or(usize::MAX);
                let mut direction = Direction::Unknown;
                if options_start < body.len() {
                    for opt in parse_options(body, options_start, start, e)? {
                        if opt.code == OPT_EPB_FLAGS {
                            let flags = take::<4>(opt.value, 0)
                                .filter(|_| opt.value.len() == 4)
                                .ok_or(PcapngError::Malformed {
                                    offset: opt.offset,
                                    reason: "epb_flags is not 4 bytes long",
                                })?;
                            direction = Direction::from_epb_flags(e.u32(flags));
                        }
                    }
                } else if options_start > body.len() {
                    return Err(PcapngError::Malformed {
                        offset: start + 20,
                        reason: "packet data padding overruns the packet block",
                    });
                }
                packets.push(CapturedPacket {
                    time: SimTime::from_nanos(time),
                    interface: iface.global,
                    direction,
                    data: packet_data.to_vec(),
                });
            }
            BLOCK_SIMPLE_PACKET => {
                return Err(PcapngError::Unsupported {
                    offset: start,
                    what: "Simple Packet Block (it has no timestamp)",
                });
            }
            // Name Resolution, Interface Statistics, Decryption Secrets, custom and unknown
            // blocks: skipped.
            _ => {}
        }
        pos = end;
    }

    Ok((interfaces, packets))
}

/// `ns + secs * 10^9`, or `None` below zero or past `u64::MAX`.
fn apply_ts_offset(ns: u64, secs: i64) -> Option<u64> {
    let total = i128::from(ns) + i128::from(secs) * 1_000_000_000;
    u64::try_from(total).ok()
}

/// Reads a classic pcap file; `frac_ns` is 1000 for microsecond files, 1 for nanosecond ones.
fn parse_pcap(
    data: &[u8],
    e: Endian,
    frac_ns: u64,
) -> Result<(Vec<CaptureInterface>, Vec<CapturedPacket>), PcapngError> {
    let (Some(major), Some(snaplen), Some(network)) = (
        read_u16(data, 4, e),
        read_u32(data, 16, e),
        read_u32(data, 20, e),
    ) else {
        return Err(PcapngError::Truncated {
            offset: 0,
            what: "pcap file header",
        });
    };
    if major != 2 {
        return Err(PcapngError::Unsupported {
            offset: 4,
            what: "pcap major version other than 2",
        });
    }
    // The link type is the low 16 bits; the upper ones may carry FCS information.
    let code = network & 0xFFFF;
    let link_type = LinkType::from_code(code).ok_or(PcapngError::UnsupportedLinkType {
        offset: 20,
        link_type: code,
    })?;
    let interfaces = vec![CaptureInterface {
        name: "if0".to_owned(),
        link_type,
        snaplen,
    }];

    let mut packets = Vec::new();
    let mut pos = 24usize;
    while pos < data.len() {
        let start = pos;
        let Some(header) = take::<16>(data, start) else {
            return Err(PcapngError::Truncated {
                offset: start,
                what: "pcap record header",
            });
        };
        let [s0, s1, s2, s3, f0, f1, f2, f3, i0, i1, i2, i3, ..] = header;
        let (secs, frac, incl_len) = (
            e.u32([s0, s1, s2, s3]),
            e.u32([f0, f1, f2, f3]),
            e.u32([i0, i1, i2, i3]),
        );
        let data_start = start + 16;
        let bytes = data_start
            .checked_add(incl_len as usize)
            .and_then(|data_end| data.get(data_start..data_end));
        let Some(bytes) = bytes else {
            return Err(PcapngError::Truncated {
                offset: start,
                what: "pcap record",
            });
        };
        let time = u64::from(secs)
            .checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(u64::from(frac) * frac_ns))
            .ok_or(PcapngError::Malformed {
                offset: start,
                reason: "timestamp out of the range of simulated time",
            })?;
        packets.push(CapturedPacket {
            time: SimTime::from_nanos(time),
            interface: 0,
            direction: Direction::Unknown,
            data: bytes.to_vec(),
        });
        pos = data_start + bytes.len();
    }
    Ok((interfaces, packets))
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
        EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
    };

    const MAC_A: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x0a]);
    const MAC_B: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x00, 0x00, 0x0b]);
    const IP_A: Ipv4Address = Ipv4Address::new(10, 244, 1, 10);
    const IP_B: Ipv4Address = Ipv4Address::new(10, 244, 1, 11);

    fn arp_request() -> Vec<u8> {
        let arp = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: MAC_A,
            source_protocol_addr: IP_A,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: IP_B,
        };
        let eth = EthernetRepr {
            src_addr: MAC_A,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Arp,
        };
        let mut buf = vec![0u8; eth.buffer_len() + arp.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        buf
    }

    /// An ICMP echo request with correct IPv4 and ICMP checksums, without L2 header.
    fn icmp_echo_ip() -> Vec<u8> {
        let payload = b"kube-netsim ping";
        let icmp = Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: payload,
        };
        let ip = Ipv4Repr {
            src_addr: IP_A,
            dst_addr: IP_B,
            next_header: IpProtocol::Icmp,
            payload_len: icmp.buffer_len(),
            hop_limit: 64,
        };
        let caps = ChecksumCapabilities::default();
        let mut buf = vec![0u8; ip.buffer_len() + icmp.buffer_len()];
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.emit(&mut packet, &caps);
        icmp.emit(
            &mut Icmpv4Packet::new_unchecked(packet.payload_mut()),
            &caps,
        );
        let check = Ipv4Packet::new_checked(&buf[..]).expect("valid IPv4");
        assert!(check.verify_checksum());
        assert!(
            Icmpv4Packet::new_checked(check.payload())
                .expect("valid ICMP")
                .verify_checksum()
        );
        buf
    }

    fn in_ethernet(ip: &[u8]) -> Vec<u8> {
        let eth = EthernetRepr {
            src_addr: MAC_A,
            dst_addr: MAC_B,
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut buf = vec![0u8; eth.buffer_len() + ip.len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        frame.payload_mut().copy_from_slice(ip);
        buf
    }

    /// Times with nanosecond digits that a microsecond format would lose.
    const T0: u64 = 1_000_000_007;
    const T1: u64 = 1_000_250_123;
    const T2: u64 = 2_500_000_999;
    const T3: u64 = 2_500_001_001;

    /// Two Ethernet interfaces, an ARP request and an ICMP echo request seen on both.
    fn sample_capture() -> Capture {
        let mut cap = Capture::new();
        let eth0 = cap.interface("node-1/eth0", LinkType::Ethernet);
        let veth0 = cap.interface("node-1/veth0", LinkType::Ethernet);
        let echo = in_ethernet(&icmp_echo_ip());
        for (t, iface, direction, data) in [
            (T0, veth0, Direction::Inbound, arp_request()),
            (T1, eth0, Direction::Outbound, arp_request()),
            (T2, veth0, Direction::Inbound, echo.clone()),
            (T3, eth0, Direction::Unknown, echo),
        ] {
            cap.record(CapturedPacket {
                time: SimTime::from_nanos(t),
                interface: iface,
                direction,
                data,
            });
        }
        cap
    }

    fn write(cap: &Capture) -> Vec<u8> {
        let mut out = Vec::new();
        cap.write_pcapng(&mut out).expect("write pcapng");
        out
    }

    fn assert_same(cap: &Capture, read: &(Vec<CaptureInterface>, Vec<CapturedPacket>)) {
        assert_eq!(read.0.as_slice(), cap.interfaces());
        assert_eq!(read.1.as_slice(), cap.packets());
    }

    #[test]
    fn round_trip_preserves_interfaces_times_directions_and_bytes() {
        let cap = sample_capture();
        let bytes = write(&cap);
        let read = read_capture(bytes.as_slice()).expect("read back");
        assert_eq!(read.0.len(), 2);
        assert_eq!(read.0[0].name, "node-1/eth0");
        assert_eq!(read.0[1].name, "node-1/veth0");
        assert!(read.0.iter().all(|i| i.link_type == LinkType::Ethernet));
        assert_eq!(read.1[0].time.as_nanos(), T0);
        assert_eq!(read.1[3].time.as_nanos(), T3);
        assert_eq!(read.1[1].direction, Direction::Outbound);
        assert_same(&cap, &read);
    }

    #[test]
    fn round_trip_raw_ip_interface_and_empty_packet() {
        let mut cap = Capture::new();
        let tun = cap.interface_with_snaplen("pod-a/eth0", LinkType::RawIp, 0);
        for data in [icmp_echo_ip(), Vec::new(), vec![0x45; 3]] {
            cap.record(CapturedPacket {
                time: SimTime::from_nanos(u64::MAX),
                interface: tun,
                direction: Direction::Outbound,
                data,
            });
        }
        assert_same(
            &cap,
            &read_capture(write(&cap).as_slice()).expect("read back"),
        );
    }

    #[test]
    fn round_trip_big_endian_section() {
        let cap = sample_capture();
        let mut be = Vec::new();
        cap.write_pcapng_with(&mut be, Endianness::Big)
            .expect("write");
        assert_eq!(&be[8..12], &[0x1A, 0x2B, 0x3C, 0x4D]);
        assert_ne!(be, write(&cap));
        assert_same(&cap, &read_capture(be.as_slice()).expect("read back"));
    }

    #[test]
    fn empty_capture_round_trips() {
        let cap = Capture::new();
        let bytes = write(&cap);
        assert_eq!(bytes.len(), 48, "just the Section Header Block");
        assert_same(&cap, &read_capture(bytes.as_slice()).expect("read back"));
    }

    #[test]
    fn same_interface_name_returns_existing_index() {
        let mut cap = Capture::new();
        assert_eq!(cap.interface("node-1/eth0", LinkType::Ethernet), 0);
        assert_eq!(cap.interface("node-1/veth0", LinkType::Ethernet), 1);
        assert_eq!(cap.interface("node-1/eth0", LinkType::RawIp), 0);
        assert_eq!(cap.interfaces().len(), 2);
        assert_eq!(cap.interfaces()[0].link_type, LinkType::Ethernet);
        assert_eq!(cap.interface_index("node-1/veth0"), Some(1));
        assert_eq!(cap.interface_index("node-2/eth0"), None);
    }

    #[test]
    fn writing_twice_gives_identical_bytes() {
        let cap = sample_capture();
        assert_eq!(write(&cap), write(&cap));
        assert_eq!(write(&cap), write(&sample_capture()));
    }

    #[test]
    fn section_header_golden_bytes() {
        let bytes = write(&sample_capture());
        #[rustfmt::skip]
        let shb: [u8; 48] = [
            0x0A, 0x0D, 0x0D, 0x0A, // block type
            48, 0, 0, 0,            // block total length
            0x4D, 0x3C, 0x2B, 0x1A, // byte-order magic 0x1A2B3C4D, little-endian
            1, 0, 0, 0,             // version 1.0
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // section length: -1
            4, 0, 11, 0,            // shb_userappl, 11 bytes
            b'k', b'u', b'b', b'e', b'-', b'n', b'e', b't', b's', b'i', b'm', 0,
            0, 0, 0, 0,             // opt_endofopt
            48, 0, 0, 0,            // block total length
        ];
        assert_eq!(bytes[..48], shb);
        assert_eq!(
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            BLOCK_SECTION_HEADER
        );
        assert_eq!(
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            BYTE_ORDER_MAGIC
        );

        // The first IDB: type 1, LINKTYPE_ETHERNET, snaplen, if_name, if_tsresol = 9.
        #[rustfmt::skip]
        let idb: [u8; 48] = [
            1, 0, 0, 0, 48, 0, 0, 0,
            1, 0, 0, 0,             // link type 1, reserved
            0x00, 0x00, 0x04, 0x00, // snaplen 262144
            2, 0, 11, 0,            // if_name, 11 bytes
            b'n', b'o', b'd', b'e', b'-', b'1', b'/', b'e', b't', b'h', b'0', 0,
            9, 0, 1, 0, 9, 0, 0, 0, // if_tsresol = 9
            0, 0, 0, 0,             // opt_endofopt
            48, 0, 0, 0,
        ];
        assert_eq!(bytes[48..96], idb);
    }

    #[test]
    fn enhanced_packet_block_layout() {
        let cap = sample_capture();
        let bytes = write(&cap);
        // SHB 48 + IDB 48 + IDB 48 (both names are 11 bytes long).
        let epb = &bytes[144..];
        let word = |i: usize| u32::from_le_bytes([epb[i], epb[i + 1], epb[i + 2], epb[i + 3]]);
        let len = cap.packets()[0].data.len(); // 42, padded to 44
        assert_eq!(word(0), BLOCK_ENHANCED_PACKET);
        assert_eq!(word(4) as usize, 32 + 44 + 12);
        assert_eq!(word(8), 1, "interface id");
        assert_eq!((u64::from(word(12)) << 32) | u64::from(word(16)), T0);
        assert_eq!(word(20) as usize, len);
        assert_eq!(word(24) as usize, len);
        assert_eq!(&epb[28..28 + len], cap.packets()[0].data.as_slice());
        assert_eq!(
            &epb[72..84],
            &[2, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            "epb_flags inbound"
        );
        assert_eq!(word(84) as usize, 32 + 44 + 12);
    }

    #[test]
    fn pcap_file_reader_accepts_our_output() {
        use pcap_file::pcapng::{Block, PcapNgReader};
        let cap = sample_capture();
        let bytes = write(&cap);
        let mut reader = PcapNgReader::new(bytes.as_slice()).expect("pcap-file opens it");
        let (mut idbs, mut epbs) = (0, 0);
        while let Some(block) = reader.next_block() {
            match block.expect("pcap-file parses every block") {
                Block::InterfaceDescription(_) => idbs += 1,
                Block::EnhancedPacket(epb) => {
                    let p = &cap.packets()[epbs];
                    assert_eq!(epb.data.as_ref(), p.data.as_slice());
                    assert_eq!(epb.timestamp.as_nanos(), u128::from(p.time.as_nanos()));
                    epbs += 1;
                }
                other => panic!("unexpected block {other:?}"),
            }
        }
        assert_eq!((idbs, epbs), (2, 4));
        assert_eq!(
            reader.section().options,
            vec![SectionHeaderOption::UserApplication(Cow::Borrowed(
                USER_APPLICATION
            ))]
        );
    }

    #[test]
    fn interface_out_of_range_is_a_typed_error_on_write() {
        let mut cap = sample_capture();
        cap.record(CapturedPacket {
            time: SimTime::ZERO,
            interface: 7,
            direction: Direction::Unknown,
            data: vec![0; 14],
        });
        let mut out = Vec::new();
        let err = cap.write_pcapng(&mut out).expect_err("index 7 of 2");
        assert!(
            matches!(
                err,
                PcapngError::InterfaceOutOfRange {
                    packet: 4,
                    index: 7,
                    count: 2
                }
            ),
            "{err:?}"
        );
        assert!(out.is_empty(), "nothing written before the error");
    }

    #[test]
    fn packet_over_snaplen_is_a_typed_error_on_write() {
        let mut cap = Capture::new();
        let i = cap.interface_with_snaplen("node-1/eth0", LinkType::Ethernet, 64);
        cap.record(CapturedPacket {
            time: SimTime::ZERO,
            interface: i,
            direction: Direction::Inbound,
            data: vec![0; 64],
        });
        assert!(cap.write_pcapng(std::io::sink()).is_ok());
        cap.record(CapturedPacket {
            time: SimTime::ZERO,
            interface: i,
            direction: Direction::Inbound,
            data: vec![0; 65],
        });
        let err = cap.write_pcapng(std::io::sink()).expect_err("65 > 64");
        assert!(
            matches!(
                err,
                PcapngError::PacketTooLarge {
                    packet: 1,
                    len: 65,
                    snaplen: 64
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn too_long_interface_name_is_a_typed_error() {
        let mut cap = Capture::new();
        cap.interface(&"x".repeat(70_000), LinkType::Ethernet);
        let err = cap
            .write_pcapng(std::io::sink())
            .expect_err("name too long");
        assert!(
            matches!(
                err,
                PcapngError::NameTooLong {
                    index: 0,
                    len: 70_000
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn write_error_of_the_sink_is_io() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::Error::other("disk full"))
            }
        }
        let err = sample_capture()
            .write_pcapng(Broken)
            .expect_err("broken sink");
        assert!(matches!(err, PcapngError::Io(_)), "{err:?}");
    }

    #[test]
    fn truncated_file_is_a_typed_error_naming_the_offset() {
        let bytes = write(&sample_capture());
        let half = &bytes[..bytes.len() / 2];
        let err = read_capture(half).expect_err("truncated");
        let PcapngError::Truncated { offset, .. } = err else {
            panic!("expected Truncated, got {err:?}");
        };
        assert!(offset < half.len() && offset % 4 == 0, "offset {offset}");
        // Cutting anywhere inside the file is an error, never a panic nor a silent success.
        for cut in 1..bytes.len() {
            let short = &bytes[..cut];
            let blocks_end = [48, 96, 144, 232, 320, 424, bytes.len()];
            match read_capture(short) {
                Ok(_) => assert!(blocks_end.contains(&cut), "cut at {cut} read as valid"),
                Err(e) => assert!(e.offset().is_some_and(|o| o < cut), "cut {cut}: {e}"),
            }
        }
    }

    #[test]
    fn random_bytes_are_a_typed_error() {
        let garbage: [u8; 16] = [
            0x8f, 0x3a, 0xc1, 0x07, 0x5e, 0xd2, 0x99, 0x41, 0x0b, 0x6c, 0xe8, 0x13, 0x77, 0xa4,
            0x2d, 0xf0,
        ];
        let err = read_capture(&garbage[..]).expect_err("garbage");
        assert!(
            matches!(
                err,
                PcapngError::NotACapture {
                    magic: [0x8f, 0x3a, 0xc1, 0x07]
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.offset(), Some(0));
        let err = read_capture(&[][..]).expect_err("empty");
        assert!(
            matches!(err, PcapngError::Truncated { offset: 0, .. }),
            "{err:?}"
        );
        // A Section Header Block type followed by garbage.
        let mut shb_garbage = vec![0x0A, 0x0D, 0x0D, 0x0A];
        shb_garbage.extend_from_slice(&garbage[4..]);
        let err = read_capture(shb_garbage.as_slice()).expect_err("bad SHB");
        assert!(
            matches!(err, PcapngError::Malformed { offset: 8, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn corrupt_blocks_are_typed_errors() {
        let good = write(&sample_capture());
        // Leading and trailing lengths of the first EPB disagree.
        let mut bad = good.clone();
        bad[144 + 84] ^= 0x04;
        assert!(matches!(
            read_capture(bad.as_slice()),
            Err(PcapngError::Malformed { offset: 228, .. })
        ));
        // The first EPB refers to interface 9.
        let mut bad = good.clone();
        bad[144 + 8] = 9;
        assert!(matches!(
            read_capture(bad.as_slice()),
            Err(PcapngError::UnknownInterface {
                offset: 144,
                interface_id: 9
            })
        ));
        // The first IDB has link type 105 (IEEE 802.11).
        let mut bad = good.clone();
        bad[48 + 8] = 105;
        assert!(matches!(
            read_capture(bad.as_slice()),
            Err(PcapngError::UnsupportedLinkType {
                offset: 48,
                link_type: 105
            })
        ));
        // The first EPB claims more captured bytes than it holds.
        let mut bad = good.clone();
        bad[144 + 20] = 200;
        assert!(matches!(
            read_capture(bad.as_slice()),
            Err(PcapngError::Malformed { offset: 164, .. })
        ));
        // A block length that is not a multiple of 4.
        let mut bad = good;
        bad[48 + 4] = 47;
        assert!(matches!(
            read_capture(bad.as_slice()),
            Err(PcapngError::Malformed { offset: 52, .. })
        ));
    }

    #[test]
    fn unknown_blocks_are_skipped_and_sections_concatenate() {
        let cap = sample_capture();
        let bytes = write(&cap);
        // An Interface Statistics Block-shaped custom block between the IDBs and the EPBs.
        let mut with_unknown = bytes[..144].to_vec();
        with_unknown.extend_from_slice(&[0xAD, 0x0B, 0, 0, 16, 0, 0, 0, 1, 2, 3, 4, 16, 0, 0, 0]);
        with_unknown.extend_from_slice(&bytes[144..]);
        assert_same(
            &cap,
            &read_capture(with_unknown.as_slice()).expect("skips the block"),
        );

        // Two sections, the second big-endian: interfaces are listed one after the other.
        let mut two = bytes.clone();
        cap.write_pcapng_with(&mut two, Endianness::Big)
            .expect("write");
        let (ifaces, packets) = read_capture(two.as_slice()).expect("two sections");
        assert_eq!(ifaces.len(), 4);
        assert_eq!(&ifaces[2..], cap.interfaces());
        assert_eq!(packets.len(), 8);
        for (a, b) in packets[..4].iter().zip(&packets[4..]) {
            assert_eq!(b.interface, a.interface + 2);
            assert_eq!(
                (a.time, a.direction, &a.data),
                (b.time, b.direction, &b.data)
            );
        }
    }

    #[test]
    fn obsolete_packet_block_reads_and_simple_packet_block_is_refused() {
        let cap = sample_capture();
        let good = write(&cap);
        // An EPB on interface 1 with LE bytes [1, 0, 0, 0] is, as a Packet Block, interface 1
        // with 0 drops, and its epb_flags is pack_flags: only the block type changes.
        let mut pb = good.clone();
        pb[144] = 2;
        assert_same(&cap, &read_capture(pb.as_slice()).expect("Packet Block"));
        let mut spb = good;
        spb[144] = 3;
        let err = read_capture(spb.as_slice()).expect_err("Simple Packet Block");
        assert!(
            matches!(err, PcapngError::Unsupported { offset: 144, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn timestamp_resolutions_convert_to_nanoseconds() {
        assert_eq!(
            TsResol::from_option(6).to_nanos(1_500_000),
            Some(1_500_000_000)
        );
        assert_eq!(TsResol::from_option(9).to_nanos(7), Some(7));
        assert_eq!(TsResol::from_option(0).to_nanos(3), Some(3_000_000_000));
        assert_eq!(TsResol::from_option(12).to_nanos(1_999), Some(1));
        assert_eq!(TsResol::from_option(127).to_nanos(u64::MAX), Some(0));
        assert_eq!(
            TsResol::from_option(0x80 | 10).to_nanos(1024),
            Some(1_000_000_000)
        );
        assert_eq!(TsResol::from_option(0x80).to_nanos(2), Some(2_000_000_000));
        assert_eq!(TsResol::from_option(0x80 | 127).to_nanos(u64::MAX), Some(0));
        assert_eq!(TsResol::from_option(0).to_nanos(u64::MAX), None);
        assert_eq!(apply_ts_offset(5, -1), None);
        assert_eq!(apply_ts_offset(5, 2), Some(2_000_000_005));
    }

    /// A file made by Wireshark's `editcap` from `sample_capture()` (see the fixtures'
    /// README): one interface "if0" (classic pcap has no names, so neither has the pcapng made
    /// from it), no direction, and the times it can hold (`tick` ns).
    fn assert_fixture(bytes: &[u8], tick: u64) {
        let cap = sample_capture();
        let (ifaces, packets) = read_capture(bytes).expect("fixture reads");
        let if0 = CaptureInterface {
            name: "if0".to_owned(),
            link_type: LinkType::Ethernet,
            snaplen: DEFAULT_SNAPLEN,
        };
        assert_eq!(ifaces, [if0]);
        assert_eq!(packets.len(), cap.packets().len());
        for (got, want) in packets.iter().zip(cap.packets()) {
            assert_eq!(got.data, want.data);
            assert_eq!(got.time.as_nanos(), want.time.as_nanos() / tick * tick);
            assert_eq!((got.interface, got.direction), (0, Direction::Unknown));
        }
    }

    #[test]
    fn reads_classic_pcap_written_by_editcap() {
        assert_fixture(
            include_bytes!("../tests/fixtures/pcapng/sample-usec.pcap"),
            1_000,
        );
        assert_fixture(
            include_bytes!("../tests/fixtures/pcapng/sample-nsec.pcap"),
            1,
        );
    }

    /// No `if_tsresol` (so the default 10^-6), no `if_name`, EPBs without options, and
    /// Wireshark's own `shb_userappl`.
    #[test]
    fn reads_microsecond_pcapng_written_by_editcap() {
        assert_fixture(
            include_bytes!("../tests/fixtures/pcapng/sample-usec.pcapng"),
            1_000,
        );
    }

    /// Runs tshark on a capture with two Ethernet interfaces and a raw-IP one, when tshark is
    /// on PATH; otherwise says so and checks nothing more.
    #[test]
    fn tshark_decodes_capture_without_malformed_packets() {
        let mut cap = sample_capture();
        let tun = cap.interface("node-2/tun0", LinkType::RawIp);
        cap.record(CapturedPacket {
            time: SimTime::from_nanos(3_000_000_042),
            interface: tun,
            direction: Direction::Outbound,
            data: icmp_echo_ip(),
        });
        let path =
            std::env::temp_dir().join(format!("kube-netsim-pcapng-{}.pcapng", std::process::id()));
        let file = std::fs::File::create(&path).expect("create temp file");
        cap.write_pcapng(file).expect("write");

        let output = std::process::Command::new("tshark")
            .args(["-n", "-o", "ip.check_checksum:TRUE", "-r"])
            .arg(&path)
            .args([
                "-T",
                "fields",
                "-E",
                "separator=|",
                "-E",
                "occurrence=a",
                "-E",
                "aggregator=;",
            ])
            .args(["-e", "frame.interface_name", "-e", "frame.time_epoch"])
            .args([
                "-e",
                "frame.packet_flags_direction",
                "-e",
                "frame.protocols",
            ])
            .args(["-e", "_ws.expert.message", "-e", "_ws.malformed"])
            .output();
        let _ = std::fs::remove_file(&path);
        let output = match output {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("tshark not on PATH: skipped only the tshark check");
                return;
            }
            Err(e) => panic!("running tshark: {e}"),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "tshark failed: {stderr}");
        assert!(!stderr.contains("appears to be damaged"), "{stderr}");

        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), cap.packets().len(), "{stdout}");
        for (line, p) in lines.iter().zip(cap.packets()) {
            let fields: Vec<&str> = line.split('|').collect();
            assert_eq!(fields.len(), 6, "{line}");
            assert_eq!(fields[0], cap.interfaces()[p.interface].name, "{line}");
            let ns = p.time.as_nanos();
            let epoch = format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
            assert_eq!(fields[1], epoch, "nanoseconds kept: {line}");
            // tshark 4.0 prints "0x00000001", some versions "1".
            let flags = fields[2].trim_start_matches("0x");
            let radix = if fields[2].starts_with("0x") { 16 } else { 10 };
            let flags = u32::from_str_radix(flags, radix).expect("epb_flags direction");
            assert_eq!(flags, p.direction.epb_flags(), "{line}");
            let protocols = match (cap.interfaces()[p.interface].link_type, p.data.len()) {
                (LinkType::RawIp, _) => "raw:ip:icmp:data",
                (LinkType::Ethernet, 42) => "eth:ethertype:arp",
                (LinkType::Ethernet, _) => "eth:ethertype:ip:icmp:data",
                (LinkType::LinuxSll, _) => "sll:ethertype:ip:icmp:data",
                (LinkType::LinuxSll2, _) => "sll2:ethertype:ip:icmp:data",
            };
            assert_eq!(fields[3], protocols, "{line}");
            assert!(!fields[4].contains("Malformed"), "{line}");
            assert!(!fields[4].to_lowercase().contains("checksum"), "{line}");
            assert!(fields[5].is_empty(), "{line}");
        }
        eprintln!("tshark check passed:\n{stdout}");
    }

    fn arb_capture() -> impl Strategy<Value = Capture> {
        let iface = (
            "[a-z0-9-]{1,12}/[a-z0-9]{1,15}",
            prop_oneof![Just(LinkType::Ethernet), Just(LinkType::RawIp)],
        );
        let packet = (
            any::<u64>(),
            0usize..4,
            prop_oneof![
                Just(Direction::Inbound),
                Just(Direction::Outbound),
                Just(Direction::Unknown)
            ],
            proptest::collection::vec(any::<u8>(), 0..80),
        );
        (
            proptest::collection::vec(iface, 1..4),
            proptest::collection::vec(packet, 0..8),
        )
            .prop_map(|(ifaces, packets)| {
                let mut cap = Capture::new();
                for (name, lt) in &ifaces {
                    cap.interface(name, *lt);
                }
                let n = cap.interfaces().len();
                for (t, i, direction, data) in packets {
                    cap.record(CapturedPacket {
                        time: SimTime::from_nanos(t),
                        interface: i % n,
                        direction,
                        data,
                    });
                }
                cap
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = read_capture(bytes.as_slice());
        }

        #[test]
        fn random_bytes_after_a_magic_never_panic(
            magic in prop_oneof![
                Just([0x0Au8, 0x0D, 0x0D, 0x0A]),
                Just([0xD4, 0xC3, 0xB2, 0xA1]),
                Just([0xA1, 0xB2, 0x3C, 0x4D]),
            ],
            rest in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut bytes = magic.to_vec();
            bytes.extend_from_slice(&rest);
            let _ = read_capture(bytes.as_slice());
        }

        #[test]
        fn mutated_valid_file_never_panics(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = write(&sample_capture());
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            let _ = read_capture(bytes.as_slice());
            bytes.truncate(cut.index(bytes.len()));
            let _ = read_capture(bytes.as_slice());
        }

        #[test]
        fn random_captures_round_trip(cap in arb_capture()) {
            let bytes = write(&cap);
            let read = read_capture(bytes.as_slice()).expect("read back");
            prop_assert_eq!(read.0.as_slice(), cap.interfaces());
            prop_assert_eq!(read.1.as_slice(), cap.packets());
        }
    }
}
