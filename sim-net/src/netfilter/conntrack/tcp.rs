//! The TCP tracker: the state table of net/netfilter/nf_conntrack_proto_tcp.c
//! (`tcp_conntracks[2][6][TCP_CONNTRACK_MAX]`, Linux 6.x) and the special cases
//! `nf_conntrack_tcp_packet` wraps around it.
//!
//! Modelled: states and transitions per direction, ignored packets (`sIG`) and the SYN/ACK
//! resynchronisation after an ignored SYN, reopening from TIME_WAIT/CLOSE, simultaneous open,
//! the RFC 5961 challenge-ACK exception, ASSURED after a valid ACK in ESTABLISHED, RST with no
//! reply seen killing the entry, no refresh on SYN retransmission, the unacknowledged-timeout
//! cap on picked-up connections, `tcp_error`'s flag-combination check, and
//! `nf_conntrack_tcp_loose`.
//!
//! Not modelled: window and sequence tracking (`tcp_in_window`): every segment counts as in
//! window, as with `nf_conntrack_tcp_be_liberal=1`, and checks that compare sequence or
//! acknowledgement numbers assume they match. Hence also no retransmission counter
//! (`nf_conntrack_tcp_max_retrans`), no `tcp_timeout_unacknowledged` for unacknowledged data,
//! no out-of-window RST rejection.

use sim_core::SimDuration;

use super::timeouts::Timeouts;
use super::{Direction, InvalidReason};

/// `enum tcp_conntrack`, in the kernel's order (the tracker compares states numerically).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    None,
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
    SynSent2,
}

impl TcpState {
    const ALL: [TcpState; 10] = [
        TcpState::None,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::Established,
        TcpState::FinWait,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::SynSent2,
    ];

    /// The name in `conntrack -L` and /proc/net/nf_conntrack (`tcp_conntrack_names`).
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    pub fn from_name(name: &str) -> Option<TcpState> {
        TcpState::ALL.into_iter().find(|s| s.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for TcpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The TCP header's flag byte (bit values as on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);
    pub const SYN_ACK: TcpFlags = TcpFlags(0x12);
    pub const FIN_ACK: TcpFlags = TcpFlags(0x11);
    pub const RST_ACK: TcpFlags = TcpFlags(0x14);

    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `tcp_valid_flags`: the combinations `tcp_error` lets through, ignoring PSH, ECE and CWR.
    /// Anything else (no flags, SYN+FIN, FIN without ACK, …) is INVALID.
    pub fn is_valid(self) -> bool {
        const FIN: u8 = 0x01;
        const SYN: u8 = 0x02;
        const RST: u8 = 0x04;
        const ACK: u8 = 0x10;
        const URG: u8 = 0x20;
        let f = self.0 & !(Self::PSH.0 | Self::ECE.0 | Self::CWR.0);
        [
            SYN,
            SYN | URG,
            SYN | ACK,
            RST,
            RST | ACK,
            FIN | ACK,
            FIN | ACK | URG,
            ACK,
            ACK | URG,
        ]
        .contains(&f)
    }

    /// `get_conntrack_index`: which row of the state table a segment uses.
    pub(crate) fn index(self) -> Index {
        if self.contains(Self::RST) {
            Index::Rst
        } else if self.contains(Self::SYN) {
            if self.contains(Self::ACK) {
                Index::SynAck
            } else {
                Index::Syn
            }
        } else if self.contains(Self::FIN) {
            Index::Fin
        } else if self.contains(Self::ACK) {
            Index::Ack
        } else {
            Index::None
        }
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// `enum tcp_bit_set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Index {
    Syn,
    SynAck,
    Fin,
    Ack,
    Rst,
    None,
}

/// A cell of the state table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    To(TcpState),
    /// `sIG`: maybe valid, maybe not; let it through without changing state.
    Ignore,
    /// `sIV`: truly invalid.
    Invalid,
}

use Next::{Ignore as IG, Invalid as IV};
const SS: Next = Next::To(TcpState::SynSent);
const SR: Next = Next::To(TcpState::SynRecv);
const ES: Next = Next::To(TcpState::Established);
const FW: Next = Next::To(TcpState::FinWait);
const CW: Next = Next::To(TcpState::CloseWait);
const LA: Next = Next::To(TcpState::LastAck);
const TW: Next = Next::To(TcpState::TimeWait);
const CL: Next = Next::To(TcpState::Close);
const S2: Next = Next::To(TcpState::SynSent2);

/// `tcp_conntracks[dir][index][state]`, copied cell by cell from Linux 6.x.
/// Columns: sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2 (no cell leads to sNO).
#[rustfmt::skip]
const TABLE: [[[Next; 10]; 6]; 2] = [
    // ORIGINAL
    [
        /* syn    */ [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        /* synack */ [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack    */ [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
    // REPLY
    [
        /* syn    */ [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
        /* synack */ [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /* ack    */ [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
];

fn table(dir: Direction, index: Index, old: TcpState) -> Next {
    TABLE[dir as usize][index as usize][old.index()]
}

/// What the TCP tracker decided about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpOutcome {
    /// Accept; refresh the timeout to `timeout` (`None`: leave the expiry alone) and set
    /// ASSURED if `assured`.
    Accept {
        timeout: Option<SimDuration>,
        assured: bool,
    },
    /// Accept, but the segment changes nothing (`sIG`).
    Ignored,
    /// Accept, and delete the entry: a RST before any reply (`nf_ct_kill_acct`).
    Kill,
    /// Delete the entry and track the segment as a new connection (`-NF_REPEAT`).
    Reopen,
    Invalid(InvalidReason),
}

/// Per-connection TCP tracking state (the parts of `struct ip_ct_tcp` the model keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcpTrack {
    pub state: TcpState,
    last_index: Index,
    last_dir: Direction,
    /// `IP_CT_TCP_FLAG_CLOSE_INIT` seen in either direction: someone sent the first FIN.
    close_init: bool,
    /// `IP_CT_TCP_SIMULTANEOUS_OPEN`.
    simultaneous_open: bool,
    /// `IP_CT_EXP_CHALLENGE_ACK`: a SYN was ignored in LAST_ACK.
    challenge_ack_expected: bool,
}

impl TcpTrack {
    /// `tcp_new`: may this segment open a connection? A SYN always may; any other valid first
    /// segment only with `nf_conntrack_tcp_loose=1`, and then only a bare ACK (the table's
    /// NONE column allows nothing else).
    pub(crate) fn new(flags: TcpFlags, loose: bool) -> Result<TcpTrack, InvalidReason> {
        if !flags.is_valid() {
            return Err(InvalidReason::TcpFlags(flags));
        }
        match table(Direction::Original, flags.index(), TcpState::None) {
            Next::To(TcpState::SynSent) => {}
            Next::To(_) if loose => {}
            Next::To(_) => return Err(InvalidReason::TcpNoPickup(flags)),
            _ => return Err(InvalidReason::TcpInvalidNew(flags)),
        }
        Ok(TcpTrack {
            state: TcpState::None,
            last_index: Index::None,
            last_dir: Direction::Original,
            close_init: false,
            simultaneous_open: false,
            challenge_ack_expected: false,
        })
    }

    /// `nf_conntrack_tcp_packet` for one segment travelling in `dir`. `seen_reply` and
    /// `assured` are the entry's status bits before this segment.
    pub(crate) fn packet(
        &mut self,
        dir: Direction,
        flags: TcpFlags,
        seen_reply: bool,
        assured: bool,
        timeouts: &Timeouts,
    ) -> TcpOutcome {
        if !flags.is_valid() {
            return TcpOutcome::Invalid(InvalidReason::TcpFlags(flags));
        }
        let index = flags.index();
        let mut old = self.state;
        let new = match table(dir, index, old) {
            Next::To(TcpState::SynSent) if old >= TcpState::TimeWait => {
                // RFC 1122 reopening from TIME_WAIT, or a new connection after an abort.
                if self.close_init || (self.last_dir == dir && self.last_index == Index::Rst) {
                    return TcpOutcome::Reopen;
                }
                match self.ignore(dir, index, old) {
                    Some(outcome) => return outcome,
                    None => {
                        old = TcpState::SynSent;
                        TcpState::SynRecv
                    }
                }
            }
            Next::Ignore => match self.ignore(dir, index, old) {
                Some(outcome) => return outcome,
                None => {
                    old = TcpState::SynSent;
                    TcpState::SynRecv
                }
            },
            Next::Invalid => {
                return TcpOutcome::Invalid(InvalidReason::TcpTransition {
                    state: old,
                    dir,
                    flags,
                });
            }
            Next::To(TcpState::TimeWait)
                if old == TcpState::LastAck
                    && index == Index::Ack
                    && self.last_dir != dir
                    && self.last_index == Index::Syn
                    && self.challenge_ack_expected =>
            {
                // An RFC 5961 challenge ACK answering a SYN, not the ACK of the last FIN.
                self.challenge_ack_expected = false;
                return TcpOutcome::Ignored;
            }
            Next::To(TcpState::SynSent2) => {
                self.simultaneous_open = true;
                TcpState::SynSent2
            }
            Next::To(TcpState::SynRecv)
                if dir == Direction::Reply && index == Index::Ack && self.simultaneous_open =>
            {
                TcpState::Established
            }
            Next::To(s) => s,
        };

        // In window (window tracking is not modelled).
        self.last_index = index;
        self.last_dir = dir;
        self.state = new;
        if old != new && new == TcpState::FinWait {
            self.close_init = true;
        }

        let mut timeout = if index == Index::Rst {
            timeouts.tcp_close
        } else {
            timeouts.tcp(new)
        };
        let mut set_assured = false;
        if !seen_reply {
            // "If only reply is a RST, we can consider ourselves not to have an established
            // connection" — and a RST before any reply ends the entry whichever side sent it.
            if flags.contains(TcpFlags::RST) {
                return TcpOutcome::Kill;
            }
            if index == Index::Syn && old == TcpState::SynSent {
                // No refresh on SYN retransmission.
                return TcpOutcome::Accept {
                    timeout: None,
                    assured: false,
                };
            }
            if new == TcpState::Established && timeout > timeouts.tcp_unacknowledged {
                // Picked up mid-stream: avoid the long ESTABLISHED timeout until a reply.
                timeout = timeouts.tcp_unacknowledged;
            }
        } else if !assured
            && (old == TcpState::SynRecv || old == TcpState::Established)
            && new == TcpState::Established
        {
            set_assured = true;
        }
        TcpOutcome::Accept {
            timeout: Some(timeout),
            assured: set_assured,
        }
    }

    /// The `TCP_CONNTRACK_IGNORE` branch. `None` means "resynchronise": a SYN/ACK answering a
    /// SYN that was ignored earlier puts the entry in SYN_RECV (case b) in the kernel; the
    /// acknowledgement number is assumed to match). Otherwise the segment is remembered and
    /// let through unchanged.
    fn ignore(&mut self, dir: Direction, index: Index, old: TcpState) -> Option<TcpOutcome> {
        if index == Index::SynAck && self.last_index == Index::Syn && self.last_dir != dir {
            self.challenge_ack_expected = false;
            return None;
        }
        self.last_index = index;
        self.last_dir = dir;
        if index == Index::Syn && dir == Direction::Original {
            // `last_flags` is rewritten from this SYN, which also clears simultaneous open.
            self.simultaneous_open = false;
            self.challenge_ack_expected = old == TcpState::LastAck;
        }
        Some(TcpOutcome::Ignored)
    }

    /// `tcp_can_early_drop`: closing states an over-full table may evict even when ASSURED.
    pub(crate) fn can_early_drop(&self) -> bool {
        matches!(
            self.state,
            TcpState::FinWait
                | TcpState::LastAck
                | TcpState::TimeWait
                | TcpState::Close
                | TcpState::CloseWait
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Original as O, Reply as R};

    const SYN: TcpFlags = TcpFlags::SYN;
    const SYNACK: TcpFlags = TcpFlags::SYN_ACK;
    const ACK: TcpFlags = TcpFlags::ACK;
    const FINACK: TcpFlags = TcpFlags::FIN_ACK;
    const RST: TcpFlags = TcpFlags::RST;

    /// Drives a fresh connection through `steps`, tracking SEEN_REPLY and ASSURED as
    /// nf_conntrack_in does, and returns the states after each step.
    fn run(first: TcpFlags, steps: &[(Direction, TcpFlags)]) -> (Vec<TcpState>, bool) {
        let t = Timeouts::default();
        let mut tr = TcpTrack::new(first, true).unwrap();
        let (mut seen_reply, mut assured) = (false, false);
        let mut states = Vec::new();
        for &(dir, flags) in std::iter::once(&(O, first)).chain(steps) {
            match tr.packet(dir, flags, seen_reply, assured, &t) {
                TcpOutcome::Accept { assured: a, .. } => assured |= a,
                TcpOutcome::Ignored => {}
                other => panic!("{dir:?} {flags:?} in {:?}: {other:?}", tr.state),
            }
            seen_reply |= dir == R;
            states.push(tr.state);
        }
        (states, assured)
    }

    #[test]
    fn three_way_handshake_then_active_close() {
        use TcpState::*;
        let (states, assured) = run(
            SYN,
            &[
                (R, SYNACK),
                (O, ACK),
                (O, FINACK),
                (R, ACK),
                (R, FINACK),
                (O, ACK),
            ],
        );
        assert_eq!(
            states,
            [
                SynSent,
                SynRecv,
                Established,
                FinWait,
                CloseWait,
                LastAck,
                TimeWait
            ]
        );
        assert!(assured);
    }

    #[test]
    fn simultaneous_open_reaches_established() {
        use TcpState::*;
        let (states, _) = run(SYN, &[(R, SYN), (O, SYNACK), (R, ACK)]);
        assert_eq!(states, [SynSent, SynSent2, SynRecv, Established]);
    }

    #[test]
    fn first_segment_rules_and_loose_pickup() {
        assert!(TcpTrack::new(SYN, false).is_ok());
        assert!(TcpTrack::new(ACK, true).is_ok());
        assert_eq!(
            TcpTrack::new(ACK, false),
            Err(InvalidReason::TcpNoPickup(ACK))
        );
        for f in [SYNACK, FINACK, RST] {
            assert_eq!(
                TcpTrack::new(f, true),
                Err(InvalidReason::TcpInvalidNew(f)),
                "{f:?}"
            );
        }
        assert_eq!(
            TcpTrack::new(TcpFlags(0), true),
            Err(InvalidReason::TcpFlags(TcpFlags(0)))
        );
        assert_eq!(
            TcpTrack::new(TcpFlags::SYN | TcpFlags::FIN, true),
            Err(InvalidReason::TcpFlags(TcpFlags(0x03)))
        );
    }

    #[test]
    fn pickup_is_capped_until_a_reply_then_assured() {
        let t = Timeouts::default();
        let mut tr = TcpTrack::new(ACK, true).unwrap();
        assert_eq!(
            tr.packet(O, ACK, false, false, &t),
            TcpOutcome::Accept {
                timeout: Some(t.tcp_unacknowledged),
                assured: false
            }
        );
        assert_eq!(tr.state, TcpState::Established);
        // The reply is processed before SEEN_REPLY is set.
        assert!(matches!(
            tr.packet(R, ACK, false, false, &t),
            TcpOutcome::Accept { assured: false, .. }
        ));
        assert_eq!(
            tr.packet(O, ACK, true, false, &t),
            TcpOutcome::Accept {
                timeout: Some(t.tcp_established),
                assured: true
            }
        );
    }

    #[test]
    fn rst_before_reply_kills_and_rst_after_closes() {
        let t = Timeouts::default();
        let mut tr = TcpTrack::new(SYN, true).unwrap();
        tr.packet(O, SYN, false, false, &t);
        assert_eq!(
            tr.packet(R, TcpFlags::RST_ACK, false, false, &t),
            TcpOutcome::Kill
        );

        let mut tr = TcpTrack::new(SYN, true).unwrap();
        tr.packet(O, SYN, false, false, &t);
        tr.packet(R, SYNACK, false, false, &t);
        tr.packet(O, ACK, true, false, &t);
        assert_eq!(
            tr.packet(R, RST, true, true, &t),
            TcpOutcome::Accept {
                timeout: Some(t.tcp_close),
                assured: false
            }
        );
        assert_eq!(tr.state, TcpState::Close);
    }

    #[test]
    fn syn_retransmission_does_not_refresh() {
        let t = Timeouts::default();
        let mut tr = TcpTrack::new(SYN, true).unwrap();
        tr.packet(O, SYN, false, false, &t);
        assert_eq!(
            tr.packet(O, SYN, false, false, &t),
            TcpOutcome::Accept {
                timeout: None,
                assured: false
            }
        );
    }

    #[test]
    fn invalid_transitions() {
        let t = Timeouts::default();
        let mut tr = TcpTrack::new(SYN, true).unwrap();
        tr.packet(O, SYN, false, false, &t);
        // ACK from the client before any SYN/ACK.
        assert_eq!(
            tr.packet(O, ACK, false, false, &t),
            TcpOutcome::Invalid(InvalidReason::TcpTransition {
                state: TcpState::SynSent,
                dir: O,
                flags: ACK
            })
        );
        // A reply-direction ACK in SYN_SENT is ignored (half-open), not invalid.
        assert_eq!(tr.packet(R, ACK, false, false, &t), TcpOutcome::Ignored);
        assert_eq!(tr.state, TcpState::SynSent);
    }

    #[test]
    fn reopen_from_time_wait_and_resync_after_ignored_syn() {
        let t = Timeouts::default();
        let mut tr = TcpTrack::new(SYN, true).unwrap();
        for (dir, f, seen) in [
            (O, SYN, false),
            (R, SYNACK, false),
            (O, ACK, true),
            (O, FINACK, true),
            (R, FINACK, true),
            (O, ACK, true),
        ] {
            tr.packet(dir, f, seen, true, &t);
        }
        assert_eq!(tr.state, TcpState::TimeWait);
        assert_eq!(tr.packet(O, SYN, true, true, &t), TcpOutcome::Reopen);

        // A SYN in ESTABLISHED is ignored; the server's SYN/ACK resynchronises to SYN_RECV.
        let mut tr = TcpTrack::new(SYN, true).unwrap();
        tr.packet(O, SYN, false, false, &t);
        tr.packet(R, SYNACK, false, false, &t);
        tr.packet(O, ACK, true, false, &t);
        assert_eq!(tr.packet(O, SYN, true, true, &t), TcpOutcome::Ignored);
        assert!(matches!(
            tr.packet(R, SYNACK, true, true, &t),
            TcpOutcome::Accept { .. }
        ));
        assert_eq!(tr.state, TcpState::SynRecv);
    }

    #[test]
    fn flag_table_matches_kernel() {
        assert!(TcpFlags(0x18).is_valid()); // PSH+ACK
        assert!(TcpFlags(0xd2).is_valid()); // SYN+ACK+ECE+CWR
        assert!(!TcpFlags::FIN.is_valid());
        assert!(!TcpFlags(0x29).is_valid()); // FIN+PSH+URG ("xmas" without ACK)
        assert_eq!(TcpFlags::RST_ACK.index(), Index::Rst);
        assert_eq!(TcpFlags::FIN_ACK.index(), Index::Fin);
        assert_eq!(TcpState::from_name("TIME_WAIT"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::from_name("BOGUS"), None);
    }
}
