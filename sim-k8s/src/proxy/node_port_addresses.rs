//! `nodePortAddresses` (`NodePortAddresses` in `pkg/proxy/util/nodeport_addresses.go`): which of
//! the node's addresses accept NodePort traffic.
//!
//! Empty, or a CIDR covering everything (`0.0.0.0/0`): all local addresses (the
//! `-m addrtype --dst-type LOCAL` rule). `primary`: the node's primary IPs (its Node object's
//! addresses). Otherwise the node's interface addresses inside any listed CIDR, one
//! `KUBE-SERVICES` rule each. Entries of the other family are ignored; unparsable ones are
//! reported by [`NodePortAddresses::parse`].

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Parsed `nodePortAddresses` for IPv4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePortAddresses {
    cidrs: Vec<Ipv4Net>,
    match_all: bool,
}

impl NodePortAddresses {
    /// From the configuration's strings; `primary_ips` stand in for `primary`.
    pub fn parse(entries: &[String], primary_ips: &[Ipv4Addr]) -> Result<Self, String> {
        let mut cidrs = Vec::new();
        for e in entries {
            if e == "primary" {
                cidrs.extend(primary_ips.iter().map(|ip| Ipv4Net::from(*ip)));
                continue;
            }
            if e.contains(':') {
                // An IPv6 CIDR: the other family's proxier's business.
                continue;
            }
            let net: Ipv4Net = e.parse().map_err(|_| {
                format!("nodePortAddresses: {e:?}: expected a CIDR such as 192.168.0.0/24, or \"primary\"")
            })?;
            cidrs.push(net);
        }
        let match_all = entries.is_empty() || cidrs.iter().any(|c| c.prefix_len() == 0);
        Ok(NodePortAddresses { cidrs, match_all })
    }

    /// `MatchAll`.
    pub fn match_all(&self) -> bool {
        self.match_all
    }

    /// `ContainsIPv4Loopback`: localhost NodePorts are possible at all.
    pub fn contains_loopback(&self) -> bool {
        self.match_all || self.cidrs.iter().any(|c| c.contains(&Ipv4Addr::LOCALHOST))
    }

    /// `GetNodeIPs`: the node's addresses (`interface_ips`, in interface order) inside a CIDR.
    pub fn node_ips(&self, interface_ips: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
        let mut out: Vec<Ipv4Addr> = Vec::new();
        for ip in interface_ips {
            if self.cidrs.iter().any(|c| c.contains(ip)) && !out.contains(ip) {
                out.push(*ip);
            }
        }
        out
    }
}
