//! Address arithmetic over both families, the way `pkg/ip` of the CNI plugins does it
//! (`NextIP`, `Cmp`) and host-local's `lastIP`.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The address as a number (IPv4 in the low 32 bits).
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address `n` of the same family as `like` (IPv4 keeps the low 32 bits).
pub fn from_u128(like: IpAddr, n: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// `ip.NextIP`: the following address, wrapping at the top of the family.
pub fn next_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(1))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(1))),
    }
}

/// `ip.Cmp` for two addresses of one family; IPv4 sorts before IPv6.
pub fn cmp(a: IpAddr, b: IpAddr) -> Ordering {
    match (a, b) {
        (IpAddr::V4(_), IpAddr::V6(_)) => Ordering::Less,
        (IpAddr::V6(_), IpAddr::V4(_)) => Ordering::Greater,
        _ => to_u128(a).cmp(&to_u128(b)),
    }
}

/// Whether both addresses are of one family.
pub fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// host-local's `lastIP`: the last address of the subnet, minus one for IPv4 (the broadcast
/// address is never handed out by default); IPv6 has no broadcast.
pub fn last_ip(subnet: IpNet) -> IpAddr {
    match subnet {
        IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.broadcast()).wrapping_sub(1))),
        IpNet::V6(n) => IpAddr::V6(n.broadcast()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let a: IpAddr = "10.0.0.255".parse().unwrap();
        assert_eq!(next_ip(a), "10.0.1.0".parse::<IpAddr>().unwrap());
        assert_eq!(
            last_ip("10.0.0.0/29".parse().unwrap()),
            "10.0.0.6".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            last_ip("2001:db8::/126".parse().unwrap()),
            "2001:db8::3".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            cmp("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()),
            Ordering::Less
        );
    }
}
