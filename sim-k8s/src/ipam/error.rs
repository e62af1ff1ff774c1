//! IPAM errors, worded as host-local words them so a user can search for the message.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("Network {0} too small to allocate from")]
    TooSmall(IpNet),
    #[error(
        "Network has host bits set. For a subnet mask of length {prefix} the network address is {network}"
    )]
    HostBitsSet { prefix: u8, network: IpAddr },
    #[error("RangeStart {start} not in network {subnet}")]
    RangeStartOutside { start: IpAddr, subnet: IpNet },
    #[error("RangeEnd {end} not in network {subnet}")]
    RangeEndOutside { end: IpAddr, subnet: IpNet },
    #[error("empty range set")]
    EmptyRangeSet,
    #[error("mixed address families")]
    MixedFamilies,
    #[error("subnets {a} and {b} overlap")]
    RangesOverlap { a: String, b: String },
    #[error("no IP ranges specified")]
    NoRanges,
    #[error("invalid range set {index}: {source}")]
    InvalidRangeSet {
        index: usize,
        #[source]
        source: Box<IpamError>,
    },
    #[error("range set {a} overlaps with {b}")]
    RangeSetsOverlap { a: usize, b: usize },
    #[error("CNI version {0} does not support more than 1 address per family")]
    TooManyPerFamily(String),
    #[error("no IP addresses available in range set: {0}")]
    Exhausted(String),
    #[error("{ip} not in range set {rangeset}")]
    RequestedOutside { ip: IpAddr, rangeset: String },
    #[error("requested ip {0} is subnet's gateway")]
    RequestedIsGateway(IpAddr),
    #[error("requested IP address {ip} is not available in range set {rangeset}")]
    RequestedUnavailable { ip: IpAddr, rangeset: String },
    #[error("{ip} has been allocated to {id}, duplicate allocation is not allowed")]
    Duplicate { ip: IpAddr, id: String },
    #[error("failed to allocate for range {index}: {source}")]
    AllocateForRange {
        index: usize,
        #[source]
        source: Box<IpamError>,
    },
    #[error("failed to allocate all requested IPs: {0}")]
    RequestedNotAllocated(String),
}
