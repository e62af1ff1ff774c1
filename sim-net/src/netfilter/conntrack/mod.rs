//! # conntrack — Linux connection tracking and NAT bindings
//!
//! A model of `nf_conntrack` with the `nf_nat` bindings it stores, for IPv4 and IPv6
//! (Linux 6.x: net/netfilter/nf_conntrack_core.c, nf_conntrack_proto_{tcp,udp,icmp}.c,
//! nf_nat_core.c). One [`Conntrack`] is one network namespace's table.
//!
//! | file | holds |
//! | --- | --- |
//! | `tuple.rs` | [`Tuple`], [`L4Proto`]: one direction of a flow; ICMP type/code/id |
//! | `tcp.rs` | [`TcpState`], [`TcpFlags`]: the TCP state table |
//! | `timeouts.rs` | [`ConntrackConfig`], [`Timeouts`]: the `nf_conntrack_*` sysctls |
//! | `nat.rs` | [`NatRange`], [`Manip`]: DNAT/SNAT/MASQUERADE bindings, source-port allocation, packet translation |
//! | `filter.rs` | [`CtFilter`]: `conntrack -D`/`-L` selections (kube-proxy's stale-UDP cleanup) |
//! | `dump.rs` | [`DumpEntry`]: `conntrack -L` lines, printed and parsed |
//!
//! ## How the datapath drives it
//!
//! 1. PREROUTING / OUTPUT: [`Conntrack::track`] the packet. It finds the entry (either
//!    direction) or creates an *unconfirmed* one, runs the protocol tracker, and answers a
//!    [`CtVerdict`]: the entry, the direction and the ctstate (NEW / ESTABLISHED / RELATED), or
//!    INVALID (no conntrack attached), or a drop (table full).
//! 2. For a NEW connection the nat table is consulted once per manip type: DNAT
//!    ([`Conntrack::set_dnat`]) in PREROUTING/OUTPUT, SNAT/MASQUERADE ([`Conntrack::set_snat`])
//!    in POSTROUTING/INPUT, or a null binding ([`Conntrack::null_binding`]) when no rule
//!    matched. Bindings rewrite the reply tuple. Every packet, first or later, is then
//!    rewritten by [`Conntrack::manip`] at each hook (or [`Conntrack::translate`] for both
//!    at once).
//! 3. At the end of POSTROUTING / INPUT, [`Conntrack::confirm`] inserts a new entry into the
//!    table (a no-op for confirmed ones). A dropped packet calls [`Conntrack::discard`]
//!    instead, and its unconfirmed entry never enters the table.
//! 4. An engine timer calls [`Conntrack::expire`] at [`Conntrack::next_expiry`].
//!
//! ## Simplified or left out
//!
//! - No TCP window tracking (see `tcp.rs`); no helpers or expectations, so RELATED comes only
//!   from ICMP errors; no zones, labels, secmark, accounting, timestamps, flow offload.
//! - SCTP, DCCP, UDP-Lite and GRE use the generic tracker (600 s, no state) with their ports
//!   kept in the tuple (GRE keys are 0).
//! - The kernel's hash buckets are replaced by ordered maps. A full table first collects
//!   expired entries, then early-drops the soonest-expiring entry that is not ASSURED (or is
//!   an ASSURED TCP entry in a closing state, which the GC would evict above 95% full) rather
//!   than scanning eight buckets after the new tuple's hash; `conntrack -L` lists entries in
//!   [`Tuple`] order.
//! - `confirm` of a clashing tuple fails (`insert_failed`); the UDP clash resolution of
//!   `nf_ct_resolve_clash` is not modelled.

mod dump;
mod filter;
mod nat;
mod tcp;
mod timeouts;
mod tuple;

pub use dump::{DumpEntry, DumpError, DumpParseError, Offload, parse_dump};
pub use filter::{CtFilter, Family};
pub use nat::{Manip, NatRange};
pub use tcp::{TcpFlags, TcpState};
pub use timeouts::{ConntrackConfig, ConntrackSysctlError, Timeouts};
pub use tuple::{L4Proto, Tuple, icmp, icmpv6};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use sim_core::hash::FastHashMap;
use sim_core::{SimDuration, SimTime};

use tcp::{TcpOutcome, TcpTrack};

/// Identifies an entry for its lifetime; never reused within a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(u64);

impl EntryId {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ct#{}", self.0)
    }
}

/// Which tuple of an entry a packet matched (`enum ip_conntrack_dir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Original = 0,
    Reply = 1,
}

impl Direction {
    pub fn opposite(self) -> Direction {
        match self {
            Direction::Original => Direction::Reply,
            Direction::Reply => Direction::Original,
        }
    }
}

/// The state `-m conntrack --ctstate` / `-m state --state` sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CtState {
    /// First direction only so far (`IP_CT_NEW`): a new entry, or a confirmed one whose
    /// original direction has not been answered yet (a retransmitted SYN is still NEW).
    New,
    /// Seen in both directions, or any reply-direction packet (`IP_CT_ESTABLISHED[_REPLY]`).
    Established,
    /// An ICMP error about a tracked flow (`IP_CT_RELATED[_REPLY]`).
    Related,
    /// No conntrack attached (`xt_conntrack`: `ct == NULL`).
    Invalid,
}

impl CtState {
    pub fn as_str(self) -> &'static str {
        match self {
            CtState::New => "NEW",
            CtState::Established => "ESTABLISHED",
            CtState::Related => "RELATED",
            CtState::Invalid => "INVALID",
        }
    }
}

impl fmt::Display for CtState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a packet got no conntrack (ctstate INVALID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidReason {
    /// Addresses of two families, or an ICMP error without its inner packet.
    Malformed,
    /// A TCP flag combination `tcp_error` rejects.
    TcpFlags(TcpFlags),
    /// A TCP segment that can never open a connection (SYN/ACK, FIN, RST as a first packet).
    TcpInvalidNew(TcpFlags),
    /// A non-SYN first segment with `nf_conntrack_tcp_loose=0`.
    TcpNoPickup(TcpFlags),
    /// A segment the state table marks `sIV` in this state and direction.
    TcpTransition {
        state: TcpState,
        dir: Direction,
        flags: TcpFlags,
    },
    /// An ICMP message that cannot open a conntrack (an answer, or a type without one).
    IcmpNotRequest,
    /// An ICMP error whose inner packet belongs to no tracked flow.
    NoRelatedFlow,
}

impl InvalidReason {
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidReason::Malformed => "malformed",
            InvalidReason::TcpFlags(_) => "invalid tcp flag combination",
            InvalidReason::TcpInvalidNew(_) => "invalid new",
            InvalidReason::TcpNoPickup(_) => "no pickup (nf_conntrack_tcp_loose=0)",
            InvalidReason::TcpTransition { .. } => "invalid tcp transition",
            InvalidReason::IcmpNotRequest => "icmp: can't create new conn with this type",
            InvalidReason::NoRelatedFlow => "icmp error for an untracked flow",
        }
    }
}

/// Why conntrack dropped a packet; the datapath records it as the packet's drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CtDrop {
    /// `nf_conntrack: table full, dropping packet` (early drop found nothing to evict).
    TableFull,
    /// Confirming a new entry whose tuple another entry already holds (`insert_failed`).
    InsertFailed,
}

impl CtDrop {
    /// The kebab-case drop reason used in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            CtDrop::TableFull => "conntrack-full",
            CtDrop::InsertFailed => "conntrack-insert-failed",
        }
    }
}

impl fmt::Display for CtDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`Conntrack::track`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtVerdict {
    /// The packet belongs to entry `id`, travelling in `dir`, with ctstate `state` (never
    /// [`CtState::Invalid`]).
    Tracked {
        id: EntryId,
        dir: Direction,
        state: CtState,
    },
    /// No conntrack: ctstate INVALID. The packet goes on (rules decide its fate).
    Invalid(InvalidReason),
    /// Conntrack drops the packet.
    Drop(CtDrop),
}

impl CtVerdict {
    /// The ctstate a rule sees; `None` for a dropped packet.
    pub fn ctstate(&self) -> Option<CtState> {
        match self {
            CtVerdict::Tracked { state, .. } => Some(*state),
            CtVerdict::Invalid(_) => Some(CtState::Invalid),
            CtVerdict::Drop(_) => None,
        }
    }

    pub fn entry(&self) -> Option<(EntryId, Direction)> {
        match self {
            CtVerdict::Tracked { id, dir, .. } => Some((*id, *dir)),
            _ => None,
        }
    }
}

/// `IPS_*` status bits (include/uapi/linux/netfilter/nf_conntrack_common.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Status(pub u32);

impl Status {
    pub const EXPECTED: Status = Status(1 << 0);
    pub const SEEN_REPLY: Status = Status(1 << 1);
    pub const ASSURED: Status = Status(1 << 2);
    pub const CONFIRMED: Status = Status(1 << 3);
    pub const SRC_NAT: Status = Status(1 << 4);
    pub const DST_NAT: Status = Status(1 << 5);
    pub const SRC_NAT_DONE: Status = Status(1 << 7);
    pub const DST_NAT_DONE: Status = Status(1 << 8);
    pub const DYING: Status = Status(1 << 9);

    pub fn contains(self, bits: Status) -> bool {
        self.0 & bits.0 == bits.0
    }

    pub fn insert(&mut self, bits: Status) {
        self.0 |= bits.0;
    }
}

impl std::ops::BitOr for Status {
    type Output = Status;
    fn bitor(self, rhs: Status) -> Status {
        Status(self.0 | rhs.0)
    }
}

/// A packet as conntrack sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtPacket {
    pub tuple: Tuple,
    /// The TCP flags; ignored for other protocols.
    pub tcp_flags: TcpFlags,
    /// For an ICMP/ICMPv6 error: the tuple of the packet it carries, as found inside it.
    pub icmp_inner: Option<Tuple>,
}

impl CtPacket {
    /// A non-TCP packet.
    pub fn new(tuple: Tuple) -> CtPacket {
        CtPacket {
            tuple,
            tcp_flags: TcpFlags::default(),
            icmp_inner: None,
        }
    }

    pub fn tcp(tuple: Tuple, flags: TcpFlags) -> CtPacket {
        CtPacket {
            tuple,
            tcp_flags: flags,
            icmp_inner: None,
        }
    }

    /// An ICMP error (`tuple` is the outer ICMP message) about the packet `inner`.
    pub fn icmp_error(tuple: Tuple, inner: Tuple) -> CtPacket {
        CtPacket {
            tuple,
            tcp_flags: TcpFlags::default(),
            icmp_inner: Some(inner),
        }
    }
}

/// Per-protocol tracking state.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ProtoInfo {
    Tcp(TcpTrack),
    /// `stream_ts`: the entry becomes a stream only after traffic past this instant.
    Udp {
        stream_ts: SimTime,
    },
    Other,
}

/// One connection: both tuples, status, mark and timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The tuple of the first packet, before any NAT.
    pub original: Tuple,
    /// The tuple replies will carry: the inverse of the original after NAT bindings.
    pub reply: Tuple,
    pub status: Status,
    /// `ct->mark` (CONNMARK).
    pub mark: u32,
    /// The timeout the last refresh applied.
    pub timeout: SimDuration,
    /// When the entry expires: set at confirmation, pushed back by every refresh.
    pub expires: SimTime,
    proto: ProtoInfo,
}

impl Entry {
    /// The tuple of direction `dir`.
    pub fn tuple(&self, dir: Direction) -> &Tuple {
        match dir {
            Direction::Original => &self.original,
            Direction::Reply => &self.reply,
        }
    }

    pub fn is_confirmed(&self) -> bool {
        self.status.contains(Status::CONFIRMED)
    }

    /// The TCP state, for TCP entries.
    pub fn tcp_state(&self) -> Option<TcpState> {
        match &self.proto {
            ProtoInfo::Tcp(t) => Some(t.state),
            _ => None,
        }
    }

    /// Time left at `now` (zero once expired).
    pub fn remaining(&self, now: SimTime) -> SimDuration {
        self.expires.saturating_duration_since(now)
    }

    fn is_expired(&self, now: SimTime) -> bool {
        self.expires <= now
    }
}

/// Misuse of the table by its caller: a binding on an entry that cannot take one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConntrackError {
    #[error("no conntrack entry {0}")]
    UnknownEntry(EntryId),
    #[error("conntrack entry {0} is confirmed; NAT bindings are set on the first packet only")]
    Confirmed(EntryId),
    #[error("conntrack entry {id} already has a {manip} NAT binding")]
    NatInitialized { id: EntryId, manip: Manip },
    #[error("NAT range {range} is not of the family of {tuple}")]
    FamilyMismatch { range: String, tuple: Tuple },
}

/// Counters as `conntrack -S` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConntrackStats {
    /// Entries confirmed into the table.
    pub insert: u64,
    /// Confirmations refused because the tuple was taken.
    pub insert_failed: u64,
    /// Packets dropped because the table was full.
    pub drop: u64,
    /// Entries evicted to make room.
    pub early_drop: u64,
    /// Packets that got no conntrack.
    pub invalid: u64,
}

/// One network namespace's connection tracking table.
#[derive(Debug, Clone)]
pub struct Conntrack {
    config: ConntrackConfig,
    /// Every live entry, confirmed or not.
    entries: BTreeMap<EntryId, Entry>,
    /// Both tuples of every confirmed entry (the kernel's hash table). Only looked up, never
    /// iterated, and hashed with fixed keys, so it cannot make a run depend on the process.
    index: FastHashMap<Tuple, (EntryId, Direction)>,
    /// Confirmed entries by expiry.
    by_expiry: BTreeSet<(SimTime, EntryId)>,
    /// Source-NATed entries by original (protocol, source, source port): `nf_nat_bysource`.
    by_source: BTreeMap<(L4Proto, IpAddr, u16), BTreeSet<EntryId>>,
    /// Entries killed while their packet is still in flight: readable until that packet's
    /// `confirm`/`discard`, or the next `track`/`expire`.
    dying: BTreeMap<EntryId, Entry>,
    next_id: u64,
    stats: ConntrackStats,
}

impl Default for Conntrack {
    fn default() -> Self {
        Conntrack::new(ConntrackConfig::default())
    }
}

impl Conntrack {
    pub fn new(config: ConntrackConfig) -> Conntrack {
        Conntrack {
            config,
            entries: BTreeMap::new(),
            index: FastHashMap::default(),
            by_expiry: BTreeSet::new(),
            by_source: BTreeMap::new(),
            dying: BTreeMap::new(),
            next_id: 1,
            stats: ConntrackStats::default(),
        }
    }

    pub fn config(&self) -> &ConntrackConfig {
        &self.config
    }

    /// Changes the sysctls; existing entries keep their expiry until their next refresh.
    pub fn config_mut(&mut self) -> &mut ConntrackConfig {
        &mut self.config
    }

    pub fn stats(&self) -> ConntrackStats {
        self.stats
    }

    /// Confirmed entries (what `conntrack -L` lists, expired ones included until collected).
    pub fn len(&self) -> usize {
        self.by_expiry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_expiry.is_empty()
    }

    /// Allocated entries, unconfirmed ones included: `nf_conntrack_count`, what
    /// `nf_conntrack_max` limits.
    pub fn count(&self) -> usize {
        self.entries.len()
    }

    /// A live entry, or one killed while its packet is still in flight.
    pub fn entry(&self, id: EntryId) -> Option<&Entry> {
        self.entries.get(&id).or_else(|| self.dying.get(&id))
    }

    /// Confirmed entries in [`EntryId`] (creation) order.
    pub fn iter(&self) -> impl Iterator<Item = (EntryId, &Entry)> {
        self.entries
            .iter()
            .filter(|(_, e)| e.is_confirmed())
            .map(|(id, e)| (*id, e))
    }

    /// The confirmed, unexpired entry holding `tuple` in either direction.
    pub fn lookup(&self, tuple: &Tuple, now: SimTime) -> Option<(EntryId, Direction)> {
        let &(id, dir) = self.index.get(tuple)?;
        if self.entries[&id].is_expired(now) {
            return None;
        }
        Some((id, dir))
    }

    /// The flow an ICMP error is about (`nf_conntrack_inet_error`): `inner` is the tuple of
    /// the packet inside the error, `outer_dst` the error's own destination. Returns the entry
    /// and the direction of the *error* (the inverse of the inner packet's), if the entry's
    /// destination in that direction is `outer_dst`.
    pub fn related(
        &self,
        inner: &Tuple,
        outer_dst: IpAddr,
        now: SimTime,
    ) -> Option<(EntryId, Direction)> {
        let key = inner.invert()?;
        let (id, dir) = self.lookup(&key, now)?;
        (self.entries[&id].tuple(dir).dst == outer_dst).then_some((id, dir))
    }

    /// Runs a packet through connection tracking (`nf_conntrack_in`).
    pub fn track(&mut self, pkt: &CtPacket, now: SimTime) -> CtVerdict {
        self.dying.clear();
        let verdict = self.track_inner(pkt, now);
        match verdict {
            CtVerdict::Invalid(_) => self.stats.invalid += 1,
            CtVerdict::Drop(CtDrop::TableFull) => self.stats.drop += 1,
            _ => {}
        }
        verdict
    }

    fn track_inner(&mut self, pkt: &CtPacket, now: SimTime) -> CtVerdict {
        let t = pkt.tuple;
        if !t.is_well_formed() {
            return CtVerdict::Invalid(InvalidReason::Malformed);
        }
        if t.is_icmp_error() {
            let Some(inner) = pkt.icmp_inner else {
                return CtVerdict::Invalid(InvalidReason::Malformed);
            };
            return match self.related(&inner, t.dst, now) {
                Some((id, dir)) => CtVerdict::Tracked {
                    id,
                    dir,
                    state: CtState::Related,
                },
                None => CtVerdict::Invalid(InvalidReason::NoRelatedFlow),
            };
        }
        loop {
            let Some((id, dir)) = self.find(&t, now) else {
                return self.track_new(pkt, now);
            };
            let entry = &self.entries[&id];
            let state = if dir == Direction::Reply || entry.status.contains(Status::SEEN_REPLY) {
                CtState::Established
            } else {
                CtState::New
            };
            match self.proto_packet(id, dir, pkt, now) {
                ProtoOutcome::Accept => {}
                ProtoOutcome::Invalid(reason) => return CtVerdict::Invalid(reason),
                ProtoOutcome::Kill => self.kill(id),
                ProtoOutcome::Reopen => {
                    self.remove(id);
                    continue;
                }
            }
            if dir == Direction::Reply
                && let Some(e) = self.entries.get_mut(&id)
            {
                e.status.insert(Status::SEEN_REPLY);
            }
            return CtVerdict::Tracked { id, dir, state };
        }
    }

    /// Looks a tuple up among confirmed entries, collecting an expired match
    /// (`nf_ct_gc_expired`).
    fn find(&mut self, t: &Tuple, now: SimTime) -> Option<(EntryId, Direction)> {
        let &(id, dir) = self.index.get(t)?;
        if self.entries[&id].is_expired(now) {
            self.remove(id);
            return None;
        }
        Some((id, dir))
    }

    /// `init_conntrack` + the protocol's `new` check.
    fn track_new(&mut self, pkt: &CtPacket, now: SimTime) -> CtVerdict {
        let t = pkt.tuple;
        let Some(reply) = t.invert() else {
            return CtVerdict::Invalid(InvalidReason::IcmpNotRequest);
        };
        if !self.make_room(now) {
            return CtVerdict::Drop(CtDrop::TableFull);
        }
        let proto = match t.proto {
            L4Proto::TCP => match TcpTrack::new(pkt.tcp_flags, self.config.tcp_loose) {
                Ok(track) => ProtoInfo::Tcp(track),
                Err(reason) => return CtVerdict::Invalid(reason),
            },
            L4Proto::UDP => ProtoInfo::Udp { stream_ts: now },
            L4Proto::ICMP | L4Proto::ICMPV6 if !tuple::icmp_valid_new(&t) => {
                return CtVerdict::Invalid(InvalidReason::IcmpNotRequest);
            }
            _ => ProtoInfo::Other,
        };
        let id = EntryId(self.next_id);
        self.next_id += 1;
        self.entries.insert(
            id,
            Entry {
                original: t,
                reply,
                status: Status::default(),
                mark: 0,
                timeout: SimDuration::ZERO,
                expires: SimTime::ZERO,
                proto,
            },
        );
        match self.proto_packet(id, Direction::Original, pkt, now) {
            ProtoOutcome::Accept => CtVerdict::Tracked {
                id,
                dir: Direction::Original,
                state: CtState::New,
            },
            ProtoOutcome::Invalid(reason) => {
                self.entries.remove(&id);
                CtVerdict::Invalid(reason)
            }
            ProtoOutcome::Kill | ProtoOutcome::Reopen => {
                unreachable!("a first packet neither kills nor reopens its own entry")
            }
        }
    }

    /// Makes room for one more entry (`__nf_conntrack_alloc`): collects expired entries, then
    /// early-drops one. `nf_conntrack_max = 0` means no limit, as in Linux.
    fn make_room(&mut self, now: SimTime) -> bool {
        let max = self.config.max;
        if max == 0 || self.entries.len() < max {
            return true;
        }
        self.expire(now);
        if self.entries.len() < max {
            return true;
        }
        // early_drop: a confirmed entry that is not ASSURED; the periodic GC also evicts
        // assured TCP entries in closing states (`gc_worker_can_early_drop`).
        let victim = self.by_expiry.iter().map(|&(_, id)| id).find(|id| {
            let e = &self.entries[id];
            !e.status.contains(Status::ASSURED)
                || matches!(&e.proto, ProtoInfo::Tcp(t) if t.can_early_drop())
        });
        match victim {
            Some(id) => {
                self.remove(id);
                self.stats.early_drop += 1;
                true
            }
            None => false,
        }
    }

    /// The protocol tracker for one packet on entry `id`.
    fn proto_packet(
        &mut self,
        id: EntryId,
        dir: Direction,
        pkt: &CtPacket,
        now: SimTime,
    ) -> ProtoOutcome {
        let timeouts = self.config.timeouts;
        let entry = self.entries.get_mut(&id).expect("tracked entry exists");
        let confirmed = entry.is_confirmed();
        let seen_reply = entry.status.contains(Status::SEEN_REPLY);
        let assured = entry.status.contains(Status::ASSURED);
        let (timeout, set_assured) = match &mut entry.proto {
            ProtoInfo::Tcp(track) => {
                match track.packet(dir, pkt.tcp_flags, seen_reply, assured, &timeouts) {
                    TcpOutcome::Accept { timeout, assured } => (timeout, assured),
                    TcpOutcome::Ignored => (None, false),
                    TcpOutcome::Kill => return ProtoOutcome::Kill,
                    TcpOutcome::Reopen => return ProtoOutcome::Reopen,
                    TcpOutcome::Invalid(reason) => return ProtoOutcome::Invalid(reason),
                }
            }
            ProtoInfo::Udp { stream_ts } => {
                // nf_conntrack_udp_packet: a stream once traffic was seen both ways and the
                // flow is still active 2 s after its first packet.
                if !confirmed {
                    *stream_ts = now.checked_add(SimDuration::from_secs(2)).unwrap_or(now);
                }
                if seen_reply && now > *stream_ts {
                    (Some(timeouts.udp_stream), !assured)
                } else {
                    (Some(timeouts.udp), false)
                }
            }
            ProtoInfo::Other => {
                let timeout = match entry.original.proto {
                    L4Proto::ICMP => timeouts.icmp,
                    L4Proto::ICMPV6 => timeouts.icmpv6,
                    _ => timeouts.generic,
                };
                (Some(timeout), false)
            }
        };
        if set_assured {
            entry.status.insert(Status::ASSURED);
        }
        if let Some(timeout) = timeout {
            self.refresh(id, timeout, now);
        }
        ProtoOutcome::Accept
    }

    /// `nf_ct_refresh`: an unconfirmed entry keeps the timeout, which starts at confirmation.
    fn refresh(&mut self, id: EntryId, timeout: SimDuration, now: SimTime) {
        let entry = self.entries.get_mut(&id).expect("refreshed entry exists");
        entry.timeout = timeout;
        if entry.is_confirmed() {
            let expires = now.checked_add(timeout).unwrap_or(SimTime::MAX);
            self.by_expiry.remove(&(entry.expires, id));
            entry.expires = expires;
            self.by_expiry.insert((expires, id));
        }
    }

    /// Inserts a new entry into the table (`__nf_conntrack_confirm`), starting its timer. A
    /// no-op for a confirmed entry; an unknown or killed id has nothing to insert. Fails if
    /// another entry holds either tuple: the entry is freed and the packet must be dropped.
    pub fn confirm(&mut self, id: EntryId, now: SimTime) -> Result<(), CtDrop> {
        if self.dying.remove(&id).is_some() {
            return Ok(());
        }
        let Some(entry) = self.entries.get(&id) else {
            return Ok(());
        };
        if entry.is_confirmed() {
            return Ok(());
        }
        let (original, reply) = (entry.original, entry.reply);
        let taken = |t: &Tuple| {
            self.index
                .get(t)
                .is_some_and(|(other, _)| !self.entries[other].is_expired(now))
        };
        if taken(&original) || taken(&reply) {
            self.stats.insert_failed += 1;
            self.remove(id);
            return Err(CtDrop::InsertFailed);
        }
        for t in [original, reply] {
            if let Some(&(stale, _)) = self.index.get(&t) {
                self.remove(stale);
            }
        }
        let entry = self.entries.get_mut(&id).expect("checked above");
        entry.status.insert(Status::CONFIRMED);
        entry.expires = now.checked_add(entry.timeout).unwrap_or(SimTime::MAX);
        self.by_expiry.insert((entry.expires, id));
        self.index.insert(original, (id, Direction::Original));
        self.index.insert(reply, (id, Direction::Reply));
        self.stats.insert += 1;
        Ok(())
    }

    /// The packet that created an unconfirmed entry was dropped: the entry goes with it. A
    /// no-op for confirmed entries.
    pub fn discard(&mut self, id: EntryId) {
        self.dying.remove(&id);
        if self.entries.get(&id).is_some_and(|e| !e.is_confirmed()) {
            self.remove(id);
        }
    }

    /// Sets the connection mark (`CONNMARK --set-mark`).
    pub fn set_mark(&mut self, id: EntryId, mark: u32) -> Result<(), ConntrackError> {
        let entry = self
            .entries
            .get_mut(&id)
            .ok_or(ConntrackError::UnknownEntry(id))?;
        entry.mark = mark;
        Ok(())
    }

    /// Deletes an entry (`conntrack -D` by id); returns it.
    pub fn delete(&mut self, id: EntryId) -> Option<Entry> {
        self.remove(id)
    }

    /// Deletes the entry holding `tuple` in either direction (`conntrack -D` with a full
    /// tuple); returns its id.
    pub fn delete_tuple(&mut self, tuple: &Tuple) -> Option<EntryId> {
        let &(id, _) = self.index.get(tuple)?;
        self.remove(id);
        Some(id)
    }

    /// Deletes every confirmed entry `filter` matches, in id order; returns their ids. An
    /// empty filter matches nothing (as kube-proxy's `conntrackFilter`); use
    /// [`Conntrack::flush`] to empty the table.
    pub fn delete_matching(&mut self, filter: &CtFilter) -> Vec<EntryId> {
        let ids: Vec<EntryId> = self
            .iter()
            .filter(|(_, e)| filter.matches(e))
            .map(|(id, _)| id)
            .collect();
        for &id in &ids {
            self.remove(id);
        }
        ids
    }

    /// `conntrack -F`: deletes every confirmed entry; returns how many.
    pub fn flush(&mut self) -> usize {
        let ids: Vec<EntryId> = self.iter().map(|(id, _)| id).collect();
        for &id in &ids {
            self.remove(id);
        }
        ids.len()
    }

    /// Removes every entry whose timer ran out by `now`, in expiry order; returns their ids.
    pub fn expire(&mut self, now: SimTime) -> Vec<EntryId> {
        self.dying.clear();
        let mut gone = Vec::new();
        while let Some(&(expires, id)) = self.by_expiry.first() {
            if expires > now {
                break;
            }
            self.remove(id);
            gone.push(id);
        }
        gone
    }

    /// When the next entry expires, for the engine's timer.
    pub fn next_expiry(&self) -> Option<SimTime> {
        self.by_expiry.first().map(|&(t, _)| t)
    }

    /// `nf_ct_kill` while a packet holds the entry: out of the table, still readable.
    fn kill(&mut self, id: EntryId) {
        if let Some(mut entry) = self.remove(id) {
            entry.status.insert(Status::DYING);
            self.dying.insert(id, entry);
        }
    }

    /// Removes an entry from every index.
    fn remove(&mut self, id: EntryId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        for t in [&entry.original, &entry.reply] {
            if self.index.get(t).is_some_and(|(owner, _)| *owner == id) {
                self.index.remove(t);
            }
        }
        self.by_expiry.remove(&(entry.expires, id));
        let key = (
            entry.original.proto,
            entry.original.src,
            entry.original.sport,
        );
        if let Some(ids) = self.by_source.get_mut(&key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_source.remove(&key);
            }
        }
        Some(entry)
    }
}

enum ProtoOutcome {
    Accept,
    Invalid(InvalidReason),
    Kill,
    Reopen,
}

#[cfg(test)]
mod tests;
