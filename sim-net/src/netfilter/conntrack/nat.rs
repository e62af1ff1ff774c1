//! NAT bindings: `nf_nat_setup_info` and `get_unique_tuple` (net/netfilter/nf_nat_core.c,
//! Linux 6.x), and the per-hook packet rewrite of `nf_nat_packet` / `nf_nat_manip_pkt`.
//!
//! A binding is chosen once, on the first packet, and stored as the entry's reply tuple;
//! every later packet is rewritten from the entry.
//!
//! Source-port choice follows the kernel:
//! 1. SNAT without `--random`/`--random-fully`: keep the original tuple if its source is in
//!    the range and the resulting reply tuple is unused; otherwise reuse the mapping another
//!    connection from the same source address and port already has (`find_appropriate_src`:
//!    endpoint-independent mapping).
//! 2. Pick the address (one address, or a deterministic hash of the addresses for a range).
//! 3. Keep the port if it is in the range and unique; otherwise `nf_nat_l4proto_unique_tuple`:
//!    without `--to-ports` the search range depends on the original port — 1–511 for ports
//!    below 512, 600–1023 for 512–1023, 1024–65535 above — starting at a random offset for
//!    SNAT (always, in Linux 6.x; drawn from the seeded [`SimRng`] here) and at the range
//!    start for DNAT; at most 128 tries, then ever-halving rounds from new random offsets while
//!    more than 16 tries remain. ICMP remaps the echo identifier over 0–65535. If nothing is
//!    free the last candidate is kept and confirmation fails (`insert_failed`).
//!
//! Not modelled: `nf_nat_used_tuple_harder` (evicting a colliding TIME_WAIT entry in the last
//! tries, which needs sequence numbers), `NF_NAT_RANGE_PROTO_OFFSET`, port-shadowing checks,
//! GRE key remapping (PPTP), the kernel's `jhash` for address ranges.

use std::fmt;
use std::net::IpAddr;

use sim_core::SimRng;

use super::{Conntrack, ConntrackError, Direction, EntryId, L4Proto, Status, Tuple};

/// What a binding rewrites (`enum nf_nat_manip_type`): the source (POSTROUTING, INPUT) or the
/// destination (PREROUTING, OUTPUT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Manip {
    Src,
    Dst,
}

impl fmt::Display for Manip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Manip::Src => "SNAT",
            Manip::Dst => "DNAT",
        })
    }
}

/// Where a binding may map to (`struct nf_nat_range2`), as the SNAT, DNAT and MASQUERADE
/// targets build it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatRange {
    pub min_addr: IpAddr,
    pub max_addr: IpAddr,
    /// `--to-ports` / `:port-port` (`NF_NAT_RANGE_PROTO_SPECIFIED`); `None` keeps ports
    /// where it can.
    pub ports: Option<(u16, u16)>,
    /// `--random` (`NF_NAT_RANGE_PROTO_RANDOM`).
    pub random: bool,
    /// `--random-fully` (`NF_NAT_RANGE_PROTO_RANDOM_FULLY`).
    pub random_fully: bool,
    /// `--persistent`: the address choice ignores the destination.
    pub persistent: bool,
}

impl NatRange {
    /// One address, ports kept where possible (`--to-source IP`, MASQUERADE's address).
    pub fn to(addr: IpAddr) -> NatRange {
        NatRange::addrs(addr, addr)
    }

    /// An address range `MIN-MAX`.
    pub fn addrs(min_addr: IpAddr, max_addr: IpAddr) -> NatRange {
        NatRange {
            min_addr,
            max_addr,
            ports: None,
            random: false,
            random_fully: false,
            persistent: false,
        }
    }

    /// Restricts ports to `lo..=hi` (swapped if given backwards, as the kernel does).
    pub fn ports(mut self, lo: u16, hi: u16) -> NatRange {
        self.ports = Some((lo.min(hi), lo.max(hi)));
        self
    }

    pub fn random(mut self) -> NatRange {
        self.random = true;
        self
    }

    pub fn random_fully(mut self) -> NatRange {
        self.random_fully = true;
        self
    }

    pub fn persistent(mut self) -> NatRange {
        self.persistent = true;
        self
    }

    /// `NF_NAT_RANGE_PROTO_RANDOM_ALL`.
    fn random_all(&self) -> bool {
        self.random || self.random_fully
    }

    fn contains_addr(&self, a: IpAddr) -> bool {
        match (a, self.min_addr, self.max_addr) {
            (IpAddr::V4(a), IpAddr::V4(lo), IpAddr::V4(hi)) => lo <= a && a <= hi,
            (IpAddr::V6(a), IpAddr::V6(lo), IpAddr::V6(hi)) => lo <= a && a <= hi,
            _ => false,
        }
    }
}

impl fmt::Display for NatRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.min_addr)?;
        if self.max_addr != self.min_addr {
            write!(f, "-{}", self.max_addr)?;
        }
        if let Some((lo, hi)) = self.ports {
            write!(f, ":{lo}")?;
            if hi != lo {
                write!(f, "-{hi}")?;
            }
        }
        Ok(())
    }
}

/// `NF_NAT_MAX_ATTEMPTS`.
const MAX_ATTEMPTS: u32 = 128;

/// The random offsets of the port search. `None` stands for a binding that never draws
/// (DNAT without `--random`).
struct Draw<'a>(Option<&'a mut SimRng>);

impl Draw<'_> {
    fn u16(&mut self) -> u16 {
        // `get_random_u16()`.
        self.0.as_mut().map_or(0, |rng| rng.below(1 << 16) as u16)
    }
}

impl Conntrack {
    /// DNAT the new connection `id` to `to` (and `to_port`, if given): the DNAT target with a
    /// single address, as kube-proxy's `-j DNAT --to-destination IP:PORT`. Returns the tuple
    /// the original direction will carry after the rewrite.
    pub fn set_dnat(
        &mut self,
        id: EntryId,
        to: IpAddr,
        to_port: Option<u16>,
    ) -> Result<Tuple, ConntrackError> {
        let mut range = NatRange::to(to);
        if let Some(p) = to_port {
            range = range.ports(p, p);
        }
        self.setup(id, Manip::Dst, &range, Draw(None))
    }

    /// SNAT (or MASQUERADE, with the outgoing interface's address) the new connection `id`
    /// into `range`, choosing a unique source port as `nf_nat` does. Returns the tuple the
    /// original direction will carry after the rewrite.
    pub fn set_snat(
        &mut self,
        id: EntryId,
        range: &NatRange,
        rng: &mut SimRng,
    ) -> Result<Tuple, ConntrackError> {
        self.setup(id, Manip::Src, range, Draw(Some(rng)))
    }

    /// Any binding, as the NAT targets set it.
    pub fn set_nat(
        &mut self,
        id: EntryId,
        manip: Manip,
        range: &NatRange,
        rng: &mut SimRng,
    ) -> Result<Tuple, ConntrackError> {
        self.setup(id, manip, range, Draw(Some(rng)))
    }

    /// The binding a new connection gets at a NAT hook where no rule matched
    /// (`nf_nat_alloc_null_binding`): the current address, which still moves the source port
    /// if the reply tuple would clash with another connection's.
    pub fn null_binding(
        &mut self,
        id: EntryId,
        manip: Manip,
        rng: &mut SimRng,
    ) -> Result<Tuple, ConntrackError> {
        let entry = self.entry(id).ok_or(ConntrackError::UnknownEntry(id))?;
        let curr = entry.reply.invert().unwrap_or(entry.original);
        let addr = match manip {
            Manip::Src => curr.src,
            Manip::Dst => curr.dst,
        };
        self.setup(id, manip, &NatRange::to(addr), Draw(Some(rng)))
    }

    /// Whether the entry already has a binding of this kind (`nf_nat_initialized`): the nat
    /// table is consulted only for connections where it has not.
    pub fn nat_initialized(&self, id: EntryId, manip: Manip) -> bool {
        self.entry(id)
            .is_some_and(|e| e.status.contains(done_bit(manip)))
    }

    /// `nf_nat_setup_info`.
    fn setup(
        &mut self,
        id: EntryId,
        manip: Manip,
        range: &NatRange,
        mut draw: Draw<'_>,
    ) -> Result<Tuple, ConntrackError> {
        let entry = self
            .entries
            .get(&id)
            .ok_or(ConntrackError::UnknownEntry(id))?;
        if entry.is_confirmed() {
            return Err(ConntrackError::Confirmed(id));
        }
        if entry.status.contains(done_bit(manip)) {
            return Err(ConntrackError::NatInitialized { id, manip });
        }
        // What we've got looks like the inverse of the reply (prior manips included).
        let curr = entry.reply.invert().unwrap_or(entry.original);
        let family_ok = range.min_addr.is_ipv4() == curr.src.is_ipv4()
            && range.max_addr.is_ipv4() == curr.src.is_ipv4();
        if !family_ok {
            return Err(ConntrackError::FamilyMismatch {
                range: range.to_string(),
                tuple: curr,
            });
        }
        let new = self.unique_tuple(id, &curr, range, manip, &mut draw);
        let entry = self.entries.get_mut(&id).expect("checked above");
        if let Some(reply) = new.invert().filter(|_| new != curr) {
            entry.reply = reply;
            entry.status.insert(match manip {
                Manip::Src => Status::SRC_NAT,
                Manip::Dst => Status::DST_NAT,
            });
        }
        entry.status.insert(done_bit(manip));
        if manip == Manip::Src && entry.status.contains(Status::SRC_NAT) {
            let key = (
                entry.original.proto,
                entry.original.src,
                entry.original.sport,
            );
            self.by_source.entry(key).or_default().insert(id);
        }
        Ok(new)
    }

    /// `get_unique_tuple`.
    fn unique_tuple(
        &self,
        id: EntryId,
        curr: &Tuple,
        range: &NatRange,
        manip: Manip,
        draw: &mut Draw<'_>,
    ) -> Tuple {
        // 1) Source NAT: keep the tuple, or reuse this source's existing mapping.
        if manip == Manip::Src && !range.random_all() {
            if src_in_range(curr, range) {
                if !self.nat_used(curr, id) {
                    return *curr;
                }
            } else if let Some(t) = self.find_appropriate_src(curr, range)
                && !self.nat_used(&t, id)
            {
                return t;
            }
        }
        // 2) The address.
        let mut t = *curr;
        pick_addr(&mut t, range, manip);
        // 3) The port: keep it if in range and unique, else search.
        if !range.random_all() {
            match range.ports {
                Some((lo, hi)) => {
                    if l4_in_range(&t, manip, lo, hi) && (lo == hi || !self.nat_used(&t, id)) {
                        return t;
                    }
                }
                None => {
                    if !self.nat_used(&t, id) {
                        return t;
                    }
                }
            }
        }
        self.l4_unique_tuple(&mut t, range, manip, id, draw);
        t
    }

    /// `nf_nat_l4proto_unique_tuple`.
    fn l4_unique_tuple(
        &self,
        t: &mut Tuple,
        range: &NatRange,
        manip: Manip,
        id: EntryId,
        draw: &mut Draw<'_>,
    ) {
        let icmp = t.proto.is_icmp();
        let (min, size): (u32, u32) = if icmp {
            match range.ports {
                None => (0, 65_536),
                Some((lo, hi)) => (u32::from(lo), u32::from(hi) - u32::from(lo) + 1),
            }
        } else if matches!(
            t.proto,
            L4Proto::TCP | L4Proto::UDP | L4Proto::UDPLITE | L4Proto::SCTP
        ) {
            match range.ports {
                None => {
                    if manip == Manip::Dst {
                        // A destination rewrite without ports cannot change the port.
                        return;
                    }
                    match key(t, manip) {
                        p if p < 512 => (1, 511),
                        p if p < 1024 => (600, 1023 - 600 + 1),
                        _ => (1024, 65_535 - 1024 + 1),
                    }
                }
                Some((lo, hi)) => (u32::from(lo), u32::from(hi) - u32::from(lo) + 1),
            }
        } else {
            return;
        };
        let mut off: u16 = if range.random_all() || manip != Manip::Dst {
            draw.u16()
        } else {
            0
        };
        let mut attempts = size.min(MAX_ATTEMPTS);
        loop {
            for _ in 0..attempts {
                let port = min + u32::from(off) % size;
                set_key(t, manip, icmp, port as u16);
                if !self.nat_used(t, id) {
                    return;
                }
                off = off.wrapping_add(1);
            }
            if attempts >= size || attempts < 16 {
                return;
            }
            attempts /= 2;
            off = draw.u16();
        }
    }

    /// `nf_nat_used_tuple`: would a connection carrying `t` have a reply tuple that a
    /// confirmed entry (other than one for the very same original tuple) already holds?
    fn nat_used(&self, t: &Tuple, ignored: EntryId) -> bool {
        let Some(reply) = t.invert() else {
            return false;
        };
        let Some(&(other, _)) = self.index.get(&reply) else {
            return false;
        };
        if other == ignored {
            return false;
        }
        let same_flow = match (self.entries.get(&other), self.entries.get(&ignored)) {
            (Some(a), Some(b)) => a.original == b.original,
            _ => false,
        };
        !same_flow
    }

    /// `find_appropriate_src`: the mapping of another connection from the same source address
    /// and port (most recent first, as the kernel's list head), if it fits the range.
    fn find_appropriate_src(&self, curr: &Tuple, range: &NatRange) -> Option<Tuple> {
        let ids = self.by_source.get(&(curr.proto, curr.src, curr.sport))?;
        ids.iter().rev().find_map(|other| {
            let e = self.entries.get(other)?;
            let mapped = e.reply.invert()?;
            let candidate = Tuple {
                src: mapped.src,
                sport: mapped.sport,
                ..*curr
            };
            src_in_range(&candidate, range).then_some(candidate)
        })
    }

    /// Rewrites one packet at a hook (`nf_nat_packet`): `manip` is the hook's kind
    /// (destination in PREROUTING/OUTPUT, source in POSTROUTING/INPUT). Original-direction
    /// packets get the entry's bindings, reply-direction packets have them undone. A tuple
    /// with no entry is returned unchanged.
    pub fn manip(&self, id: EntryId, dir: Direction, manip: Manip, tuple: &Tuple) -> Tuple {
        let Some(entry) = self.entry(id) else {
            return *tuple;
        };
        if !entry.status.contains(nat_bit(manip, dir)) {
            return *tuple;
        }
        let Some(target) = entry.tuple(dir.opposite()).invert() else {
            return *tuple;
        };
        let mut t = *tuple;
        copy_endpoint(&mut t, &target, manip);
        t
    }

    /// Both rewrites a packet of direction `dir` gets on its way through (destination, then
    /// source).
    pub fn translate(&self, id: EntryId, dir: Direction, tuple: &Tuple) -> Tuple {
        let t = self.manip(id, dir, Manip::Dst, tuple);
        self.manip(id, dir, Manip::Src, &t)
    }

    /// The rewrite of the packet inside an ICMP error travelling in `error_dir`
    /// (`nf_nat_icmp_reply_translation`): the inner packet is made to look as it did before
    /// NAT, so that its sender recognises it.
    pub fn translate_icmp_inner(&self, id: EntryId, error_dir: Direction, inner: &Tuple) -> Tuple {
        let Some(entry) = self.entry(id) else {
            return *inner;
        };
        let target = *entry.tuple(error_dir.opposite());
        let mut t = *inner;
        for manip in [Manip::Dst, Manip::Src] {
            if entry.status.contains(nat_bit(manip, error_dir)) {
                let opposite = match manip {
                    Manip::Src => Manip::Dst,
                    Manip::Dst => Manip::Src,
                };
                copy_endpoint(&mut t, &target, opposite);
            }
        }
        t
    }
}

fn done_bit(manip: Manip) -> Status {
    match manip {
        Manip::Src => Status::SRC_NAT_DONE,
        Manip::Dst => Status::DST_NAT_DONE,
    }
}

/// The status bit that says a packet of `dir` needs `manip` at this hook: the binding of the
/// same kind for original packets, of the other kind (undone) for replies.
fn nat_bit(manip: Manip, dir: Direction) -> Status {
    match (manip, dir) {
        (Manip::Src, Direction::Original) | (Manip::Dst, Direction::Reply) => Status::SRC_NAT,
        (Manip::Dst, Direction::Original) | (Manip::Src, Direction::Reply) => Status::DST_NAT,
    }
}

/// Sets the `manip` endpoint of `t` from `target`; ICMP queries always take the identifier,
/// ICMP errors keep theirs (`icmp_manip_pkt`).
fn copy_endpoint(t: &mut Tuple, target: &Tuple, manip: Manip) {
    match manip {
        Manip::Src => {
            t.src = target.src;
            if t.proto.has_ports() {
                t.sport = target.sport;
            }
        }
        Manip::Dst => {
            t.dst = target.dst;
            if t.proto.has_ports() {
                t.dport = target.dport;
            }
        }
    }
    if t.proto.is_icmp() && !t.is_icmp_error() {
        t.sport = target.sport;
    }
}

/// The part of the tuple the manip may remap: the ICMP identifier, or the port.
fn key(t: &Tuple, manip: Manip) -> u16 {
    match manip {
        _ if t.proto.is_icmp() => t.sport,
        Manip::Src => t.sport,
        Manip::Dst => t.dport,
    }
}

fn set_key(t: &mut Tuple, manip: Manip, icmp: bool, value: u16) {
    match manip {
        _ if icmp => t.sport = value,
        Manip::Src => t.sport = value,
        Manip::Dst => t.dport = value,
    }
}

/// `l4proto_in_range`.
fn l4_in_range(t: &Tuple, manip: Manip, lo: u16, hi: u16) -> bool {
    if t.proto.is_icmp()
        || matches!(
            t.proto,
            L4Proto::TCP | L4Proto::UDP | L4Proto::UDPLITE | L4Proto::SCTP | L4Proto::GRE
        )
    {
        (lo..=hi).contains(&key(t, manip))
    } else {
        true
    }
}

/// `nf_in_range` for a source mapping.
fn src_in_range(t: &Tuple, range: &NatRange) -> bool {
    range.contains_addr(t.src)
        && match range.ports {
            None => true,
            Some((lo, hi)) => l4_in_range(t, Manip::Src, lo, hi),
        }
}

/// `find_best_ips_proto`: one address, or a stable choice within the range keyed by the
/// source (and, unless persistent, the destination). FNV-1a stands in for the kernel's jhash.
fn pick_addr(t: &mut Tuple, range: &NatRange, manip: Manip) {
    let addr = if range.min_addr == range.max_addr {
        range.min_addr
    } else {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |a: IpAddr| {
            let bytes = match a {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            for b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        feed(t.src);
        if !range.persistent {
            feed(t.dst);
        }
        match (range.min_addr, range.max_addr) {
            (IpAddr::V4(lo), IpAddr::V4(hi)) => {
                let (lo, hi) = (u32::from(lo), u32::from(hi));
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                let span = u64::from(hi - lo) + 1;
                IpAddr::V4((lo + (h % span) as u32).into())
            }
            (IpAddr::V6(lo), IpAddr::V6(hi)) => {
                let (lo, hi) = (u128::from(lo), u128::from(hi));
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                let offset = match (hi - lo).checked_add(1) {
                    Some(span) => u128::from(h) % span,
                    None => u128::from(h),
                };
                IpAddr::V6((lo + offset).into())
            }
            _ => range.min_addr,
        }
    };
    match manip {
        Manip::Src => t.src = addr,
        Manip::Dst => t.dst = addr,
    }
}
