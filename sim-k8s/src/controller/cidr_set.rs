//! A cluster CIDR cut into equal node subnets, with a record of which are taken —
//! `pkg/controller/nodeipam/ipam/cidrset/cidr_set.go`.
//!
//! Carried over: subnets are numbered from the start of the cluster CIDR; `allocate_next`
//! scans from the subnet after the last one handed out and wraps around (so a released subnet
//! is not reused until the scan comes round again); `occupy` and `release` take any CIDR that
//! overlaps the cluster CIDR and mark every node subnet it covers; for IPv6 the node mask may
//! be at most 16 bits longer than the cluster's (the upstream bitmap limit).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use thiserror::Error;

/// `clusterSubnetMaxDiff`.
const CLUSTER_SUBNET_MAX_DIFF: u8 = 16;

/// Why a CIDR set cannot be built or used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CidrSetError {
    /// `ErrCIDRSetSubNetTooBig`.
    #[error(
        "New CIDR set failed; the node CIDR size is too big (cluster CIDR {cluster}, node mask /{node_mask})"
    )]
    SubnetTooBig { cluster: IpNet, node_mask: u8 },
    #[error("node CIDR mask /{node_mask} is shorter than the cluster CIDR {cluster}")]
    NodeMaskShorterThanCluster { cluster: IpNet, node_mask: u8 },
    /// `ErrCIDRRangeNoCIDRsRemaining`.
    #[error(
        "CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range"
    )]
    Exhausted,
    #[error("cidr {cidr} is out the range of cluster cidr {cluster}")]
    OutOfRange { cidr: IpNet, cluster: IpNet },
}

/// The node subnets of one cluster CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrSet {
    cluster: IpNet,
    node_mask: u8,
    /// Number of node subnets: 2^(node mask - cluster prefix).
    max: u64,
    used: BTreeSet<u64>,
    next_candidate: u64,
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl CidrSet {
    /// `NewCIDRSet`.
    pub fn new(cluster: IpNet, node_mask: u8) -> Result<CidrSet, CidrSetError> {
        let cluster = cluster.trunc();
        if node_mask < cluster.prefix_len() || node_mask > cluster.max_prefix_len() {
            return Err(CidrSetError::NodeMaskShorterThanCluster { cluster, node_mask });
        }
        let diff = node_mask - cluster.prefix_len();
        if matches!(cluster, IpNet::V6(_)) && diff > CLUSTER_SUBNET_MAX_DIFF {
            return Err(CidrSetError::SubnetTooBig { cluster, node_mask });
        }
        Ok(CidrSet {
            cluster,
            node_mask,
            max: 1u64 << diff,
            used: BTreeSet::new(),
            next_candidate: 0,
        })
    }

    pub fn cluster(&self) -> IpNet {
        self.cluster
    }

    pub fn node_mask(&self) -> u8 {
        self.node_mask
    }

    /// How many node subnets are taken.
    pub fn allocated(&self) -> u64 {
        self.used.len() as u64
    }

    /// Whether node subnet `index` is taken.
    pub fn is_used(&self, index: u64) -> bool {
        self.used.contains(&index)
    }

    fn host_bits(&self) -> u32 {
        u32::from(self.cluster.max_prefix_len() - self.node_mask)
    }

    /// `indexToCIDRBlock`.
    fn block(&self, index: u64) -> IpNet {
        let base = to_u128(self.cluster.network());
        let addr = base | u128::from(index).checked_shl(self.host_bits()).unwrap_or(0);
        let ip = match self.cluster {
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(addr as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(addr)),
        };
        IpNet::new(ip, self.node_mask).expect("mask within range")
    }

    /// `getIndexForIP`.
    fn index_of(&self, ip: IpAddr) -> Option<u64> {
        let x = to_u128(self.cluster.network()) ^ to_u128(ip);
        let index = x.checked_shr(self.host_bits()).unwrap_or(0);
        (index < u128::from(self.max)).then_some(index as u64)
    }

    /// `AllocateNext`: the first free subnet at or after the one following the last handed
    /// out, wrapping.
    pub fn allocate_next(&mut self) -> Result<IpNet, CidrSetError> {
        if self.used.len() as u64 == self.max {
            return Err(CidrSetError::Exhausted);
        }
        let mut candidate = self.next_candidate;
        while self.used.contains(&candidate) {
            candidate = (candidate + 1) % self.max;
        }
        self.next_candidate = (candidate + 1) % self.max;
        self.used.insert(candidate);
        Ok(self.block(candidate))
    }

    /// `getBeginningAndEndIndices`: the node subnets `cidr` covers.
    pub fn indices(&self, cidr: IpNet) -> Result<(u64, u64), CidrSetError> {
        let cidr = cidr.trunc();
        let same_family = matches!(
            (cidr, self.cluster),
            (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
        );
        let overlaps = same_family
            && (self.cluster.contains(&cidr.network()) || cidr.contains(&self.cluster.network()));
        if !overlaps {
            return Err(CidrSetError::OutOfRange {
                cidr,
                cluster: self.cluster,
            });
        }
        if self.cluster.prefix_len() < cidr.prefix_len() {
            let out = || CidrSetError::OutOfRange {
                cidr,
                cluster: self.cluster,
            };
            let begin = self.index_of(cidr.network()).ok_or_else(out)?;
            let end = self.index_of(cidr.broadcast()).ok_or_else(out)?;
            Ok((begin, end))
        } else {
            Ok((0, self.max - 1))
        }
    }

    /// `Occupy`: marks every node subnet `cidr` covers as taken (taking a taken one again is
    /// not an error).
    pub fn occupy(&mut self, cidr: IpNet) -> Result<(), CidrSetError> {
        let (begin, end) = self.indices(cidr)?;
        self.used.extend(begin..=end);
        Ok(())
    }

    /// `Release`: marks every node subnet `cidr` covers as free.
    pub fn release(&mut self, cidr: IpNet) -> Result<(), CidrSetError> {
        let (begin, end) = self.indices(cidr)?;
        let doomed: Vec<u64> = self.used.range(begin..=end).copied().collect();
        for i in doomed {
            self.used.remove(&i);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    // After cidr_set_test.go TestCIDRSetFullyAllocated / TestIndexToCIDRBlock /
    // TestCIDRSet_RandomishAllocation.
    #[test]
    fn allocates_in_order_then_exhausts() {
        let mut s = CidrSet::new(net("127.123.234.0/30"), 30).unwrap();
        assert_eq!(s.allocate_next().unwrap(), net("127.123.234.0/30"));
        assert_eq!(s.allocate_next(), Err(CidrSetError::Exhausted));
        s.release(net("127.123.234.0/30")).unwrap();
        assert_eq!(s.allocate_next().unwrap(), net("127.123.234.0/30"));

        let mut s = CidrSet::new(net("10.244.0.0/16"), 24).unwrap();
        assert_eq!(s.allocate_next().unwrap(), net("10.244.0.0/24"));
        assert_eq!(s.allocate_next().unwrap(), net("10.244.1.0/24"));
        assert_eq!(s.allocate_next().unwrap(), net("10.244.2.0/24"));
        // Released subnets are not reused until the scan wraps.
        s.release(net("10.244.0.0/24")).unwrap();
        assert_eq!(s.allocate_next().unwrap(), net("10.244.3.0/24"));
    }

    #[test]
    fn whole_address_space_as_one_node_subnet() {
        let mut s = CidrSet::new(net("::/0"), 0).unwrap();
        assert_eq!(s.allocate_next().unwrap(), net("::/0"));
        assert_eq!(s.allocate_next(), Err(CidrSetError::Exhausted));
    }

    #[test]
    fn ipv6_blocks_and_limit() {
        let mut s = CidrSet::new(net("2001:db8::/48"), 64).unwrap();
        assert_eq!(s.allocate_next().unwrap(), net("2001:db8::/64"));
        assert_eq!(s.allocate_next().unwrap(), net("2001:db8:0:1::/64"));
        assert_eq!(
            CidrSet::new(net("2001:db8::/32"), 64).unwrap_err(),
            CidrSetError::SubnetTooBig {
                cluster: net("2001:db8::/32"),
                node_mask: 64
            }
        );
    }

    // TestOccupy / TestGetBitforCIDR.
    #[test]
    fn occupy_covers_every_subnet_of_a_bigger_cidr() {
        let mut s = CidrSet::new(net("10.0.0.0/16"), 24).unwrap();
        s.occupy(net("10.0.4.0/22")).unwrap();
        assert_eq!(s.allocated(), 4);
        assert!(s.is_used(4) && s.is_used(7) && !s.is_used(8));
        s.occupy(net("10.0.9.128/25")).unwrap();
        assert!(s.is_used(9));
        assert!(matches!(
            s.occupy(net("10.1.0.0/24")),
            Err(CidrSetError::OutOfRange { .. })
        ));
        s.occupy(net("10.0.0.0/8")).unwrap();
        assert_eq!(s.allocated(), 256);
        assert_eq!(s.allocate_next(), Err(CidrSetError::Exhausted));
    }
}
