//! A range set (`backend/allocator/range_set.go`): the ranges one address is drawn from, in
//! order. host-local allocates one address per range set.

use std::fmt;
use std::net::IpAddr;

use super::error::IpamError;
use super::range::{Range, RangeSpec};

/// A canonical, non-empty, single-family, non-overlapping list of ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet(Vec<Range>);

impl RangeSet {
    /// `RangeSet.Canonicalize`: every range canonical, one family, no overlaps.
    pub fn canonicalize(specs: &[RangeSpec]) -> Result<RangeSet, IpamError> {
        if specs.is_empty() {
            return Err(IpamError::EmptyRangeSet);
        }
        let mut ranges = Vec::with_capacity(specs.len());
        for s in specs {
            let r = s.canonicalize()?;
            if let Some(first) = ranges.first()
                && Range::is_ipv4(first) != r.is_ipv4()
            {
                return Err(IpamError::MixedFamilies);
            }
            ranges.push(r);
        }
        for (i, a) in ranges.iter().enumerate() {
            for b in &ranges[i + 1..] {
                if a.overlaps(b) {
                    return Err(IpamError::RangesOverlap {
                        a: a.to_string(),
                        b: b.to_string(),
                    });
                }
            }
        }
        Ok(RangeSet(ranges))
    }

    pub fn ranges(&self) -> &[Range] {
        &self.0
    }

    /// `RangeSet.RangeFor`: the first range holding `addr`.
    pub fn range_for(&self, addr: IpAddr) -> Option<&Range> {
        self.0.iter().find(|r| r.contains(addr))
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.range_for(addr).is_some()
    }

    /// `RangeSet.Overlaps`: any range of one overlaps any range of the other.
    pub fn overlaps(&self, other: &RangeSet) -> bool {
        self.0.iter().any(|a| other.0.iter().any(|b| a.overlaps(b)))
    }

    /// Whether the set is IPv4 (all its ranges are one family).
    pub fn is_ipv4(&self) -> bool {
        self.0[0].is_ipv4()
    }
}

impl fmt::Display for RangeSet {
    /// Ranges joined by commas, as upstream's errors print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(subnets: &[&str]) -> Vec<RangeSpec> {
        subnets
            .iter()
            .map(|s| RangeSpec::new(s.parse().unwrap()))
            .collect()
    }

    #[test]
    fn checks() {
        assert_eq!(RangeSet::canonicalize(&[]), Err(IpamError::EmptyRangeSet));
        assert_eq!(
            RangeSet::canonicalize(&specs(&["10.0.0.0/24", "2001:db8::/64"])),
            Err(IpamError::MixedFamilies)
        );
        assert_eq!(
            RangeSet::canonicalize(&specs(&["10.0.0.0/24", "10.0.0.0/25"]))
                .unwrap_err()
                .to_string(),
            "subnets 10.0.0.1-10.0.0.254 and 10.0.0.1-10.0.0.126 overlap"
        );
        let s = RangeSet::canonicalize(&specs(&["10.0.0.0/30", "10.0.1.0/30"])).unwrap();
        assert_eq!(s.to_string(), "10.0.0.1-10.0.0.2,10.0.1.1-10.0.1.2");
        assert!(s.contains("10.0.1.2".parse().unwrap()));
        assert!(!s.contains("10.0.1.3".parse().unwrap()));
    }
}
