//! The query `dig` sends (BIND 9.18 defaults): one question, RD and AD set, an EDNS0 OPT
//! record advertising a 1232-byte UDP buffer (`+bufsize`; `+noedns` sends none). dig's
//! random query id and its cookie option are left out: the id is fixed so output is
//! reproducible, and the server here keeps no cookies.
//!
//! Names are taken as absolute, as `dig` does without `+search`: `web.shop.svc.cluster.local`
//! and `web.shop.svc.cluster.local.` ask the same question.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use thiserror::Error;

/// dig 9.18's default EDNS0 UDP buffer size (DNS Flag Day 2020).
pub const DIG_BUFSIZE: u16 = 1232;

/// The query id used (dig draws a random one).
pub const QUERY_ID: u16 = 1;

/// A NAME or TYPE that cannot be asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error(
        "bad name {name:?}: {reason} (expected a domain name such as web.shop.svc.cluster.local)"
    )]
    Name { name: String, reason: String },
    #[error(
        "unknown record type {0:?} (expected a type such as A, AAAA, SRV, PTR, TXT, CNAME, SOA, NS, ANY, or TYPEnnn)"
    )]
    Type(String),
}

/// A NAME as `dig` reads it: absolute, case kept.
pub fn parse_name(text: &str) -> Result<Name, QueryError> {
    let bad = |reason: String| QueryError::Name {
        name: text.to_string(),
        reason,
    };
    if text.is_empty() {
        return Err(bad("empty".into()));
    }
    if !text.is_ascii() {
        return Err(bad("not ASCII".into()));
    }
    let mut name = Name::from_ascii(text).map_err(|e| bad(e.to_string()))?;
    name.set_fqdn(true);
    Ok(name)
}

/// A TYPE mnemonic (any case) or `TYPEnnn`.
pub fn parse_type(text: &str) -> Result<RecordType, QueryError> {
    let upper = text.to_ascii_uppercase();
    if let Some(n) = upper.strip_prefix("TYPE")
        && let Ok(n) = n.parse::<u16>()
    {
        return Ok(RecordType::from(n));
    }
    upper
        .parse::<RecordType>()
        .map_err(|_| QueryError::Type(text.to_string()))
}

/// The reverse-lookup name of `ip` (`dig -x`): `d.c.b.a.in-addr.arpa.` or the nibbles under
/// `ip6.arpa.`.
pub fn reverse_name(ip: IpAddr) -> Name {
    Name::from(ip)
}

/// How the query is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryOptions {
    /// The EDNS0 UDP buffer size advertised; `None` sends no OPT record.
    pub edns_bufsize: Option<u16>,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            edns_bufsize: Some(DIG_BUFSIZE),
        }
    }
}

/// The query for `name` and `rtype`.
pub fn query_message(name: Name, rtype: RecordType, opts: QueryOptions) -> Message {
    let mut m = Message::new(QUERY_ID, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.authentic_data = true;
    m.add_query(Query::query(name, rtype));
    if let Some(size) = opts.edns_bufsize {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        m.set_edns(edns);
    }
    m
}
