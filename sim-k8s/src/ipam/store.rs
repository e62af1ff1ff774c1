//! The reservations host-local keeps on disk (`backend/disk/backend.go`), in memory: which
//! container and interface hold each address, and the last address reserved in each range
//! set (`last_reserved_ip.<range set index>`), which releases leave in place.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Who holds an address: the file `/var/lib/cni/networks/<net>/<ip>` holds these two.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reservation {
    pub container_id: String,
    pub ifname: String,
}

/// One network's reservations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    reserved: BTreeMap<IpAddr, Reservation>,
    last_reserved: BTreeMap<usize, IpAddr>,
}

impl Store {
    pub fn new() -> Self {
        Store::default()
    }

    /// `Reserve`: claims `ip` unless it is taken (the `O_EXCL` create fails); on success the
    /// range set's last reserved address becomes `ip`.
    pub fn reserve(
        &mut self,
        container_id: &str,
        ifname: &str,
        ip: IpAddr,
        range_id: usize,
    ) -> bool {
        if self.reserved.contains_key(&ip) {
            return false;
        }
        self.reserved.insert(
            ip,
            Reservation {
                container_id: container_id.to_string(),
                ifname: ifname.to_string(),
            },
        );
        self.last_reserved.insert(range_id, ip);
        true
    }

    /// `ReleaseByID`: frees every address the container's interface holds, in address order;
    /// the last-reserved markers stay.
    pub fn release_by_id(&mut self, container_id: &str, ifname: &str) -> Vec<IpAddr> {
        let ips = self.get_by_id(container_id, ifname);
        for ip in &ips {
            self.reserved.remove(ip);
        }
        ips
    }

    /// `GetByID`: the addresses the container's interface holds, in address order.
    pub fn get_by_id(&self, container_id: &str, ifname: &str) -> Vec<IpAddr> {
        self.reserved
            .iter()
            .filter(|(_, r)| r.container_id == container_id && r.ifname == ifname)
            .map(|(ip, _)| *ip)
            .collect()
    }

    /// `LastReservedIP`.
    pub fn last_reserved_ip(&self, range_id: usize) -> Option<IpAddr> {
        self.last_reserved.get(&range_id).copied()
    }

    /// Sets a range set's last reserved address, as a surviving `last_reserved_ip.N` file would.
    pub fn set_last_reserved_ip(&mut self, range_id: usize, ip: IpAddr) {
        self.last_reserved.insert(range_id, ip);
    }

    /// Every reservation, in address order.
    pub fn reservations(&self) -> impl Iterator<Item = (IpAddr, &Reservation)> {
        self.reserved.iter().map(|(ip, r)| (*ip, r))
    }

    pub fn is_reserved(&self, ip: IpAddr) -> bool {
        self.reserved.contains_key(&ip)
    }
}
