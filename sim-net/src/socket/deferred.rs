//! Messages a server's process answers outside the stack: [`Service::Dns`](super::Service)
//! hands every query it receives to the namespace's owner (a cluster's CoreDNS model) as a
//! [`DeferredQuery`], and writes back the answer the owner gives it
//! ([`crate::NetSim::answer_deferred`]). UDP: one datagram is one message, the answer goes
//! back from the address the query was sent to. TCP: messages are framed with a two-byte
//! length (RFC 1035 §4.2.2, RFC 7766); several may come on one connection, and the server
//! closes it once every message it has read is answered and the client sent no partial one.
//!
//! Simplified: CoreDNS keeps an idle TCP connection open until the client closes it or its
//! idle timeout; here the server closes first (the resolver modelled closes after one
//! answer, so only who sends the first FIN differs).

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::netns::{NetNsId, SocketProto};

/// One message waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredQuery {
    pub ns: NetNsId,
    pub proto: SocketProto,
    /// The server's port.
    pub port: u16,
    pub peer: SocketAddrV4,
    /// The address the query was sent to (the answer's source).
    pub local: Ipv4Addr,
    /// The message, without TCP's length prefix.
    pub message: Vec<u8>,
    /// The connection it came on (TCP), as the stack numbers them.
    pub(crate) conn: Option<u64>,
}

/// Takes the complete length-prefixed messages at the front of `buf`.
pub(crate) fn take_frames(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(len) = buf
        .get(at..at + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        && buf.len() >= at + 2 + len
    {
        out.push(buf[at + 2..at + 2 + len].to_vec());
        at += 2 + len;
    }
    buf.drain(..at);
    out
}

/// `message` with its two-byte length prefix (messages over 65,535 bytes are cut, as no DNS
/// message may be longer).
pub fn frame(message: &[u8]) -> Vec<u8> {
    let len = message.len().min(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(len + 2);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&message[..len]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_at_their_length_prefixes_and_keep_a_partial_tail() {
        let mut buf = frame(b"abc");
        buf.extend(frame(b""));
        buf.extend([0, 5, b'x', b'y']);
        let frames = take_frames(&mut buf);
        assert_eq!(frames, vec![b"abc".to_vec(), Vec::new()]);
        assert_eq!(buf, vec![0, 5, b'x', b'y']);
        buf.extend(b"zzz");
        assert_eq!(take_frames(&mut buf), vec![b"xyzzz".to_vec()]);
        assert!(buf.is_empty());
        let mut one = vec![7];
        assert!(take_frames(&mut one).is_empty());
        assert_eq!(one, vec![7]);
    }
}
