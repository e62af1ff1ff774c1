//! `conntrack -L` text: one line per entry, as libnetfilter_conntrack's
//! `__snprintf_conntrack_default` prints it (src/conntrack/snprintf_default.c):
//!
//! ```text
//! tcp      6 431999 ESTABLISHED src=10.244.1.5 dst=10.96.0.10 sport=40000 dport=80 src=10.244.2.3 dst=10.244.1.5 sport=80 dport=40000 [ASSURED] mark=0 use=1
//! udp      17 29 src=10.244.1.5 dst=10.96.0.10 sport=5353 dport=53 [UNREPLIED] src=10.244.2.4 dst=10.244.1.5 sport=53 dport=5353 mark=0 use=1
//! ```
//!
//! Fields in order: protocol name left-justified in 8 columns (`%-8s`) and number; seconds
//! left (`nf_ct_expires / HZ`, rounded down); the TCP (or SCTP, DCCP) state; the original
//! tuple; `[UNREPLIED]` if no reply was seen; the reply tuple; `[ASSURED]` (or `[OFFLOAD]`,
//! `[HW_OFFLOAD]`); `mark=`; `zone=` if set; `use=`. ICMP tuples print `type= code= id=`, GRE
//! `srckey=0x.. dstkey=0x..`, other portless protocols addresses only.
//!
//! The parser reads real `conntrack -L` output to compare a kernel with the model. It also
//! accepts what other flags add — an event prefix (`[NEW]`), the layer-3 column of
//! `-o extended` (`ipv4     2`), counters (`packets= bytes=`, with `nf_conntrack_acct=1`) —
//! keeps unknown `key=value` and `[FLAG]` tokens in [`DumpEntry::extra`], and skips blank lines
//! and conntrack-tools' closing "N flow entries have been shown." line.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use sim_core::SimTime;

use super::{Conntrack, L4Proto, Status, TcpState, Tuple};

/// Which offload flag replaces `[ASSURED]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Offload {
    /// `[OFFLOAD]` (`IPS_OFFLOAD`).
    Software,
    /// `[HW_OFFLOAD]` (`IPS_HW_OFFLOAD`).
    Hardware,
}

/// One `conntrack -L` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DumpEntry {
    pub proto: L4Proto,
    /// Seconds until expiry; absent in event output.
    pub timeout_s: Option<u64>,
    pub tcp_state: Option<TcpState>,
    /// The state word of another protocol with one (SCTP, DCCP), kept verbatim.
    pub other_state: Option<String>,
    pub original: Tuple,
    /// `packets=N bytes=N` of the original direction.
    pub original_counters: Option<(u64, u64)>,
    /// `[UNREPLIED]`: no reply seen (`IPS_SEEN_REPLY` clear).
    pub unreplied: bool,
    pub reply: Tuple,
    pub reply_counters: Option<(u64, u64)>,
    /// `[ASSURED]`.
    pub assured: bool,
    pub offload: Option<Offload>,
    pub mark: Option<u32>,
    pub zone: Option<u16>,
    /// `use=`, the reference count.
    pub use_count: Option<u32>,
    /// Tokens the model does not interpret, in order.
    pub extra: Vec<String>,
}

impl fmt::Display for DumpEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<8} {}", self.proto.name(), self.proto.0)?;
        if let Some(t) = self.timeout_s {
            write!(f, " {t}")?;
        }
        if let Some(s) = self.tcp_state {
            write!(f, " {s}")?;
        }
        if let Some(s) = &self.other_state {
            write!(f, " {s}")?;
        }
        write!(f, " {}", self.original)?;
        if let Some((p, b)) = self.original_counters {
            write!(f, " packets={p} bytes={b}")?;
        }
        if self.unreplied {
            f.write_str(" [UNREPLIED]")?;
        }
        write!(f, " {}", self.reply)?;
        if let Some((p, b)) = self.reply_counters {
            write!(f, " packets={p} bytes={b}")?;
        }
        match self.offload {
            Some(Offload::Hardware) => f.write_str(" [HW_OFFLOAD]")?,
            Some(Offload::Software) => f.write_str(" [OFFLOAD]")?,
            None if self.assured => f.write_str(" [ASSURED]")?,
            None => {}
        }
        if let Some(m) = self.mark {
            write!(f, " mark={m}")?;
        }
        if let Some(z) = self.zone {
            write!(f, " zone={z}")?;
        }
        if let Some(u) = self.use_count {
            write!(f, " use={u}")?;
        }
        for token in &self.extra {
            write!(f, " {token}")?;
        }
        Ok(())
    }
}

/// What is wrong with a `conntrack -L` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    #[error("line ends early: expected {0}")]
    Truncated(&'static str),
    #[error("expected {expected}, found {found:?}")]
    Unexpected {
        expected: &'static str,
        found: String,
    },
    #[error("invalid number {value:?} for {field}")]
    BadNumber { field: &'static str, value: String },
    #[error("invalid address {0:?}")]
    BadAddress(String),
    #[error("protocol name {name:?} does not match number {number} (expected {expected:?})")]
    ProtoMismatch {
        name: String,
        number: u8,
        expected: &'static str,
    },
    #[error("unknown TCP state {0:?}")]
    UnknownTcpState(String),
    #[error("addresses of two families in {0:?}")]
    MixedFamilies(String),
}

/// A [`DumpError`] and the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conntrack dump line {line}: {error}")]
pub struct DumpParseError {
    pub line: usize,
    pub error: DumpError,
}

/// Parses `conntrack -L` output.
pub fn parse_dump(text: &str) -> Result<Vec<DumpEntry>, DumpParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty()
            || (line.starts_with("conntrack v") && line.ends_with("have been shown."))
        {
            continue;
        }
        out.push(
            line.parse()
                .map_err(|error| DumpParseError { line: i + 1, error })?,
        );
    }
    Ok(out)
}

impl FromStr for DumpEntry {
    type Err = DumpError;

    fn from_str(line: &str) -> Result<DumpEntry, DumpError> {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let mut p = Parser { tokens, pos: 0 };
        if matches!(p.peek(), Some("[NEW]" | "[UPDATE]" | "[DESTROY]")) {
            p.pos += 1;
        }
        if matches!(p.peek(), Some("ipv4" | "ipv6")) {
            p.pos += 2;
        }
        let name = p.next("a protocol name")?.to_string();
        let number: u8 = p.number("protocol number")?;
        let proto = L4Proto(number);
        if proto.name() != name {
            return Err(DumpError::ProtoMismatch {
                name,
                number,
                expected: proto.name(),
            });
        }
        let mut timeout_s = None;
        if p.peek()
            .is_some_and(|t| t.bytes().all(|b| b.is_ascii_digit()))
        {
            timeout_s = Some(p.number("timeout")?);
        }
        let (mut tcp_state, mut other_state) = (None, None);
        if let Some(t) = p.peek().filter(|t| !t.contains('=') && !t.starts_with('[')) {
            if proto == L4Proto::TCP {
                let state = TcpState::from_name(t).ok_or(DumpError::UnknownTcpState(t.into()))?;
                tcp_state = Some(state);
            } else {
                other_state = Some(t.to_string());
            }
            p.pos += 1;
        }
        let original = p.tuple(proto)?;
        let original_counters = p.counters()?;
        let unreplied = p.flag("[UNREPLIED]");
        let reply = p.tuple(proto)?;
        let reply_counters = p.counters()?;
        let mut entry = DumpEntry {
            proto,
            timeout_s,
            tcp_state,
            other_state,
            original,
            original_counters,
            unreplied,
            reply,
            reply_counters,
            assured: false,
            offload: None,
            mark: None,
            zone: None,
            use_count: None,
            extra: Vec::new(),
        };
        while let Some(token) = p.peek() {
            p.pos += 1;
            match token.split_once('=') {
                Some(("mark", v)) => entry.mark = Some(parse_num("mark", v)?),
                Some(("zone", v)) => entry.zone = Some(parse_num("zone", v)?),
                Some(("use", v)) => entry.use_count = Some(parse_num("use", v)?),
                _ => match token {
                    "[ASSURED]" => entry.assured = true,
                    "[OFFLOAD]" => {
                        entry.assured = true;
                        entry.offload = Some(Offload::Software);
                    }
                    "[HW_OFFLOAD]" => {
                        entry.assured = true;
                        entry.offload = Some(Offload::Hardware);
                    }
                    other => entry.extra.push(other.to_string()),
                },
            }
        }
        Ok(entry)
    }
}

struct Parser<'a> {
    tokens: Vec<&'a str>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.pos).copied()
    }

    fn next(&mut self, expected: &'static str) -> Result<&'a str, DumpError> {
        let t = self.peek().ok_or(DumpError::Truncated(expected))?;
        self.pos += 1;
        Ok(t)
    }

    fn number<T: FromStr>(&mut self, field: &'static str) -> Result<T, DumpError> {
        let t = self.next(field)?;
        parse_num(field, t)
    }

    fn flag(&mut self, flag: &str) -> bool {
        let found = self.peek() == Some(flag);
        if found {
            self.pos += 1;
        }
        found
    }

    /// The value of `key=value`, which must come next.
    fn field(&mut self, key: &'static str) -> Result<&'a str, DumpError> {
        let t = self.next(key)?;
        t.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or_else(|| DumpError::Unexpected {
                expected: key,
                found: t.to_string(),
            })
    }

    fn tuple(&mut self, proto: L4Proto) -> Result<Tuple, DumpError> {
        let addr = |s: &str| {
            s.parse::<IpAddr>()
                .map_err(|_| DumpError::BadAddress(s.to_string()))
        };
        let src = addr(self.field("src")?)?;
        let dst = addr(self.field("dst")?)?;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(DumpError::MixedFamilies(format!("src={src} dst={dst}")));
        }
        let (sport, dport) = if proto.has_ports() {
            (
                parse_num("sport", self.field("sport")?)?,
                parse_num("dport", self.field("dport")?)?,
            )
        } else if proto.is_icmp() {
            let t: u8 = parse_num("type", self.field("type")?)?;
            let c: u8 = parse_num("code", self.field("code")?)?;
            let id: u16 = parse_num("id", self.field("id")?)?;
            (id, u16::from_be_bytes([t, c]))
        } else if proto == L4Proto::GRE {
            (
                parse_hex("srckey", self.field("srckey")?)?,
                parse_hex("dstkey", self.field("dstkey")?)?,
            )
        } else {
            (0, 0)
        };
        Ok(Tuple {
            proto,
            src,
            dst,
            sport,
            dport,
        })
    }

    fn counters(&mut self) -> Result<Option<(u64, u64)>, DumpError> {
        if !self.peek().is_some_and(|t| t.starts_with("packets=")) {
            return Ok(None);
        }
        let packets = parse_num("packets", self.field("packets")?)?;
        let bytes = parse_num("bytes", self.field("bytes")?)?;
        Ok(Some((packets, bytes)))
    }
}

fn parse_num<T: FromStr>(field: &'static str, value: &str) -> Result<T, DumpError> {
    value.parse().map_err(|_| DumpError::BadNumber {
        field,
        value: value.to_string(),
    })
}

fn parse_hex(field: &'static str, value: &str) -> Result<u16, DumpError> {
    let digits = value.strip_prefix("0x").unwrap_or(value);
    u16::from_str_radix(digits, 16).map_err(|_| DumpError::BadNumber {
        field,
        value: value.to_string(),
    })
}

impl Conntrack {
    /// The `conntrack -L` lines of the confirmed entries at `now`, in [`Tuple`] order of the
    /// original direction (the kernel lists in hash order; sort both sides to compare).
    pub fn dump_entries(&self, now: SimTime) -> Vec<DumpEntry> {
        let mut rows: Vec<DumpEntry> = self
            .iter()
            .map(|(_, e)| DumpEntry {
                proto: e.original.proto,
                timeout_s: Some(e.remaining(now).as_nanos() / 1_000_000_000),
                tcp_state: e.tcp_state(),
                other_state: None,
                original: e.original,
                original_counters: None,
                unreplied: !e.status.contains(Status::SEEN_REPLY),
                reply: e.reply,
                reply_counters: None,
                assured: e.status.contains(Status::ASSURED),
                offload: None,
                mark: Some(e.mark),
                zone: None,
                use_count: Some(1),
                extra: Vec::new(),
            })
            .collect();
        rows.sort_by_key(|r| (r.original, r.reply));
        rows
    }

    /// `conntrack -L` output at `now`, one line per entry, each ending in a newline.
    pub fn dump(&self, now: SimTime) -> String {
        let mut out = String::new();
        for row in self.dump_entries(now) {
            out.push_str(&row.to_string());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = "\
tcp      6 431999 ESTABLISHED src=10.244.1.5 dst=10.96.0.10 sport=40000 dport=80 src=10.244.2.3 dst=10.244.1.5 sport=80 dport=40000 [ASSURED] mark=0 use=1
udp      17 29 src=10.244.1.5 dst=10.96.0.10 sport=5353 dport=53 [UNREPLIED] src=10.244.2.4 dst=10.244.1.5 sport=53 dport=5353 mark=0 use=1
icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=4242 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=4242 mark=0 use=1
tcp      6 117 SYN_SENT src=fd00::1 dst=fd00::2 sport=5000 dport=443 [UNREPLIED] src=fd00::2 dst=fd00::1 sport=443 dport=5000 mark=0 zone=3 use=1
gre      47 179 src=10.0.0.1 dst=10.0.0.2 srckey=0x0 dstkey=0x0 src=10.0.0.2 dst=10.0.0.1 srckey=0x0 dstkey=0x0 [ASSURED] mark=0 use=1
";

    #[test]
    fn real_lines_round_trip() {
        let rows = parse_dump(REAL).unwrap();
        assert_eq!(rows.len(), 5);
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        assert_eq!(text, REAL);
        assert_eq!(rows[0].tcp_state, Some(TcpState::Established));
        assert!(rows[0].assured && !rows[0].unreplied);
        assert!(rows[1].unreplied && rows[1].tcp_state.is_none());
        assert_eq!(rows[2].original.icmp_id(), 4242);
        assert_eq!(rows[2].reply.icmp_type(), 0);
        assert_eq!(rows[3].zone, Some(3));
    }

    #[test]
    fn extended_and_event_forms_and_trailer() {
        let text = "\
ipv4     2 tcp      6 300 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 packets=3 bytes=180 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 packets=2 bytes=120 [OFFLOAD] mark=0 secctx=system_u use=2

 [NEW] udp      17 30 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1
conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.
";
        let rows = parse_dump(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].original_counters, Some((3, 180)));
        assert_eq!(rows[0].reply_counters, Some((2, 120)));
        assert_eq!(rows[0].offload, Some(Offload::Software));
        assert_eq!(rows[0].extra, ["secctx=system_u"]);
        assert_eq!(rows[0].use_count, Some(2));
        assert_eq!(rows[1].mark, None);
    }

    #[test]
    fn errors_carry_line_numbers() {
        let bad = "\
udp      17 29 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 mark=0 use=1
tcp      6 10 BOGUS src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1
";
        let e = parse_dump(bad).unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.error, DumpError::UnknownTcpState("BOGUS".into()));
        let e = parse_dump("udp      6 1 src=1.1.1.1").unwrap_err();
        assert!(matches!(
            e.error,
            DumpError::ProtoMismatch { number: 6, .. }
        ));
        let e = parse_dump("tcp 6 1 src=1.1.1.1 dst=::1 sport=1 dport=2").unwrap_err();
        assert!(matches!(e.error, DumpError::MixedFamilies(_)), "{e}");
        let e = parse_dump("tcp 6 1 src=1.1.1.1 dst=2.2.2.2 sport=x").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("conntrack dump line 1: invalid number"),
            "{e}"
        );
        let e = parse_dump("tcp 6 1 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2").unwrap_err();
        assert_eq!(e.error, DumpError::Truncated("src"));
        let e = parse_dump("tcp 6 1 src=1.1.1.1 dest=2.2.2.2").unwrap_err();
        assert!(matches!(
            e.error,
            DumpError::Unexpected {
                expected: "dst",
                ..
            }
        ));
    }
}
