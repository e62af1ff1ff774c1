//! The server's wire handling: reading a query (FORMERR when only the header can be read,
//! nothing when not even that), and writing a reply with the question echoed, EDNS0 OPT
//! echoed, and UDP truncation.
//!
//! Truncation as miekg/dns `Msg.Truncate` does it for CoreDNS: over UDP the limit is 512
//! bytes, or the client's EDNS0 buffer size if larger; additional records go first, then
//! authority, then answers from the end, until the message fits; TC is set when an answer or
//! authority record had to go. TCP replies are limited only by the 65535-byte length prefix.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};

use super::Transport;
use crate::dns::reply::Reply;

/// RFC 1035 §4.2.1: UDP messages are limited to 512 bytes without EDNS0.
pub const UDP_MIN_SIZE: usize = 512;
/// The TCP length prefix is 16 bits.
pub const TCP_MAX_SIZE: usize = 65535;
/// The DNS header is 12 bytes.
pub const HEADER_LEN: usize = 12;

/// Why a packet got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    /// Shorter than a DNS header.
    NoHeader,
    /// QR set: a response, not a query.
    NotAQuery,
}

/// What reading a query gave.
pub enum Decoded {
    Query(Box<Message>),
    /// Reply this (FORMERR, NOTIMP) at once.
    Error(Vec<u8>),
    Drop(DropReason),
}

/// Reads a query; malformed but with a header → FORMERR echoing id, opcode and RD.
pub fn decode(bytes: &[u8]) -> Decoded {
    if bytes.len() < HEADER_LEN {
        return Decoded::Drop(DropReason::NoHeader);
    }
    if bytes[2] & 0x80 != 0 {
        return Decoded::Drop(DropReason::NotAQuery);
    }
    let message = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(_) => return Decoded::Error(header_only(bytes, ResponseCode::FormErr)),
    };
    if message.metadata.op_code != OpCode::Query {
        return Decoded::Error(header_only(bytes, ResponseCode::NotImp));
    }
    if message.queries.len() != 1 {
        return Decoded::Error(header_only(bytes, ResponseCode::FormErr));
    }
    Decoded::Query(Box::new(message))
}

/// A 12-byte reply: the query's id, opcode and RD, QR set, `rcode`, no sections.
fn header_only(query: &[u8], rcode: ResponseCode) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    out[0] = query[0];
    out[1] = query[1];
    // QR, the opcode bits and RD from the query.
    out[2] = 0x80 | (query[2] & 0x79);
    out[3] = rcode.low() & 0x0f;
    out
}

/// The reply message to `query` carrying `reply`.
pub fn response(query: &Message, reply: &Reply) -> Message {
    let mut m = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = query.metadata.recursion_desired;
    m.metadata.checking_disabled = query.metadata.checking_disabled;
    m.metadata.authoritative = reply.authoritative;
    m.metadata.recursion_available = reply.recursion_available;
    m.metadata.response_code = reply.rcode;
    m.queries = query.queries.clone();
    m.answers = reply.answers.clone();
    m.authorities = reply.authorities.clone();
    m.additionals = reply.additionals.clone();
    if let Some(client) = &query.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(client.max_payload().max(UDP_MIN_SIZE as u16));
        edns.set_dnssec_ok(client.flags().dnssec_ok);
        m.edns = Some(edns);
    }
    m
}

/// The largest reply the client takes over `transport`.
pub fn size_limit(query: &Message, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => TCP_MAX_SIZE,
        Transport::Udp => query.edns.as_ref().map_or(UDP_MIN_SIZE, |e| {
            usize::from(e.max_payload()).max(UDP_MIN_SIZE)
        }),
    }
}

/// Encodes `m`, truncated to `limit` bytes as described above.
pub fn encode(mut m: Message, limit: usize) -> Vec<u8> {
    let fits = |m: &Message| m.to_vec().ok().filter(|b| b.len() <= limit);
    if let Some(bytes) = fits(&m) {
        return bytes;
    }
    while m.additionals.pop().is_some() {
        if let Some(bytes) = fits(&m) {
            return bytes;
        }
    }
    m.metadata.truncation = true;
    while m.authorities.pop().is_some() || m.answers.pop().is_some() {
        if let Some(bytes) = fits(&m) {
            return bytes;
        }
    }
    m.to_vec().unwrap_or_default()
}
