//! One host-local range (`backend/allocator/range.go`): a subnet, the first and last
//! allocatable addresses, and the gateway, with `Canonicalize`'s defaults and checks.
//!
//! Defaults (upstream `Canonicalize`): gateway = network + 1; `rangeStart` = network + 1 (it
//! collides with the default gateway, which the iterator skips); `rangeEnd` = the last
//! address of the subnet, minus one for IPv4 (the broadcast). A subnet of /31 or /32 (/127,
//! /128) has nothing to allocate. The subnet must be given as its network address.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::error::IpamError;
use super::ip;

/// A range as written in the config: everything but the subnet optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSpec {
    pub subnet: IpNet,
    pub range_start: Option<IpAddr>,
    pub range_end: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
}

/// A canonical range: every field known, `range_start <= range_end`, both in `subnet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub subnet: IpNet,
    pub range_start: IpAddr,
    pub range_end: IpAddr,
    pub gateway: IpAddr,
}

impl RangeSpec {
    /// A spec for `subnet` with every default.
    pub fn new(subnet: IpNet) -> Self {
        RangeSpec {
            subnet,
            range_start: None,
            range_end: None,
            gateway: None,
        }
    }

    /// `Range.Canonicalize`: fills in the defaults and refuses what upstream refuses, in the
    /// same order and with the same messages.
    pub fn canonicalize(&self) -> Result<Range, IpamError> {
        let subnet = self.subnet;
        let (ones, bits) = (subnet.prefix_len(), subnet.max_prefix_len());
        if ones > bits - 2 {
            return Err(IpamError::TooSmall(subnet));
        }
        let network = subnet.network();
        if subnet.addr() != network {
            return Err(IpamError::HostBitsSet {
                prefix: ones,
                network,
            });
        }
        let gateway = self.gateway.unwrap_or_else(|| ip::next_ip(network));
        // While the start is checked the end is whatever was configured (maybe nothing),
        // exactly as upstream calls `Contains` on a half-filled range.
        let start = match self.range_start {
            Some(s) => {
                if !contains(subnet, None, self.range_end, s) {
                    return Err(IpamError::RangeStartOutside { start: s, subnet });
                }
                s
            }
            None => ip::next_ip(network),
        };
        let end = match self.range_end {
            Some(e) => {
                if !contains(subnet, Some(start), Some(e), e) {
                    return Err(IpamError::RangeEndOutside { end: e, subnet });
                }
                e
            }
            None => ip::last_ip(subnet),
        };
        Ok(Range {
            subnet,
            range_start: start,
            range_end: end,
            gateway,
        })
    }
}

/// `Range.Contains` with possibly unset bounds.
fn contains(subnet: IpNet, start: Option<IpAddr>, end: Option<IpAddr>, addr: IpAddr) -> bool {
    if !ip::same_family(addr, subnet.addr()) || !subnet.contains(&addr) {
        return false;
    }
    if start.is_some_and(|s| ip::cmp(addr, s).is_lt()) {
        return false;
    }
    !end.is_some_and(|e| ip::cmp(addr, e).is_gt())
}

impl Range {
    /// `Range.Contains`: in the subnet and between `rangeStart` and `rangeEnd` inclusive.
    pub fn contains(&self, addr: IpAddr) -> bool {
        contains(
            self.subnet,
            Some(self.range_start),
            Some(self.range_end),
            addr,
        )
    }

    /// `Range.Overlaps`: same family and either range holds an end of the other.
    pub fn overlaps(&self, other: &Range) -> bool {
        if !ip::same_family(self.range_start, other.range_start) {
            return false;
        }
        self.contains(other.range_start)
            || self.contains(other.range_end)
            || other.contains(self.range_start)
            || other.contains(self.range_end)
    }

    /// Whether this is an IPv4 range.
    pub fn is_ipv4(&self) -> bool {
        self.range_start.is_ipv4()
    }
}

impl fmt::Display for Range {
    /// `START-END`, as upstream prints a range in its errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.range_start, self.range_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> RangeSpec {
        RangeSpec::new(s.parse().unwrap())
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_leave_out_network_and_broadcast() {
        let r = spec("10.1.2.0/24").canonicalize().unwrap();
        assert_eq!(
            (r.range_start, r.range_end, r.gateway),
            (ip("10.1.2.1"), ip("10.1.2.254"), ip("10.1.2.1"))
        );
        assert_eq!(r.to_string(), "10.1.2.1-10.1.2.254");
        let r6 = spec("2001:db8:1::/64").canonicalize().unwrap();
        assert_eq!(
            (r6.range_start, r6.range_end),
            (ip("2001:db8:1::1"), ip("2001:db8:1::ffff:ffff:ffff:ffff"))
        );
    }

    #[test]
    fn refusals_match_upstream() {
        assert_eq!(
            spec("10.0.0.0/31").canonicalize().unwrap_err().to_string(),
            "Network 10.0.0.0/31 too small to allocate from"
        );
        assert_eq!(
            spec("10.0.0.5/24").canonicalize().unwrap_err().to_string(),
            "Network has host bits set. For a subnet mask of length 24 the network address is 10.0.0.0"
        );
        let mut s = spec("10.0.0.0/24");
        s.range_start = Some(ip("10.0.1.5"));
        assert_eq!(
            s.canonicalize().unwrap_err().to_string(),
            "RangeStart 10.0.1.5 not in network 10.0.0.0/24"
        );
        let mut s = spec("10.0.0.0/24");
        s.range_start = Some(ip("10.0.0.50"));
        s.range_end = Some(ip("10.0.0.40"));
        assert!(matches!(
            s.canonicalize(),
            Err(IpamError::RangeStartOutside { .. })
        ));
        let mut s = spec("10.0.0.0/24");
        s.range_start = Some(ip("10.0.0.50"));
        s.range_end = Some(ip("2001:db8::1"));
        assert!(
            matches!(s.canonicalize(), Err(IpamError::RangeEndOutside { .. })),
            "an end of the other family passes the start check, as ip.Cmp orders v4 before v6"
        );
    }

    #[test]
    fn explicit_bounds_are_kept() {
        let mut s = spec("10.0.0.0/24");
        s.range_start = Some(ip("10.0.0.0"));
        s.range_end = Some(ip("10.0.0.255"));
        s.gateway = Some(ip("10.0.0.254"));
        let r = s.canonicalize().unwrap();
        assert!(r.contains(ip("10.0.0.0")), "upstream honours it");
        assert!(r.contains(ip("10.0.0.255")));
        assert!(!r.contains(ip("10.0.1.0")));
    }
}
