//! `v1.Protocol`: the layer-4 protocol of Service ports, EndpointSlice ports and
//! NetworkPolicy ports. The API spells it `TCP`/`UDP`/`SCTP` (case-sensitive) and defaults it
//! to TCP; iptables and ipset spell it in lower case.

use std::fmt;

/// A layer-4 protocol the API allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The API spelling, `TCP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// iptables' and ipset's spelling, `tcp` (also what kube-proxy's chain hashes take).
    pub fn lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// `TCP`, `UDP` or `SCTP`.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// An optional API field: unset is the API default, TCP.
    pub fn from_api(s: Option<&str>) -> Option<Protocol> {
        Protocol::parse(s.unwrap_or("TCP"))
    }

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
