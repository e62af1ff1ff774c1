//! Interface addresses as `ip addr` shows them: an address with its prefix length and scope.
//!
//! IPv4 and IPv6 addresses are both stored and listed; the packet path is IPv4 today (IPv6
//! forwarding and NDP come later, and the types already carry either family).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The kernel's address scopes (`ip addr` prints `scope host|link|global`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Global,
    Link,
    Host,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Global => "global",
            Scope::Link => "link",
            Scope::Host => "host",
        })
    }
}

/// One address on a device: `10.244.1.1/24 scope global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfAddr {
    /// The address and the prefix of its subnet (host bits kept: `10.244.1.1/24`).
    pub net: IpNet,
    pub scope: Scope,
}

impl IfAddr {
    /// The scope Linux gives by default: host for 127/8 and ::1, link for fe80::/10, else
    /// global.
    pub fn new(net: IpNet) -> Self {
        let scope = match net.addr() {
            IpAddr::V4(a) if a.is_loopback() => Scope::Host,
            IpAddr::V6(a) if a.is_loopback() => Scope::Host,
            IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => Scope::Link,
            _ => Scope::Global,
        };
        IfAddr { net, scope }
    }

    pub fn addr(&self) -> IpAddr {
        self.net.addr()
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} scope {}", self.net, self.scope)
    }
}
