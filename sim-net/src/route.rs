//! Routing tables (`ip route show table local|main`): longest-prefix match, then the lowest
//! metric, then the route added first — the order `fib_table_lookup` settles on for a single
//! table. Lookups consult `local` (255) before `main` (254), the default policy rules.
//!
//! Modelled: unicast routes with `via`, `dev`, `src`, `metric`, `onlink`; the kernel's own
//! `local` and `broadcast` routes for each address and the connected prefix route (`proto
//! kernel scope link`); `blackhole`, `unreachable` and `prohibit` types. Simplified: no policy
//! rules beyond the defaults, no multipath, no route cache or exceptions (PMTU is per device).

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::device::DeviceId;

/// `ip route` types we model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteType {
    Unicast,
    Local,
    Broadcast,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// Who installed the route (`proto kernel|boot|static`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteProto {
    Kernel,
    Boot,
    Static,
}

/// The two tables of the default policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableId {
    Local,
    Main,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: RouteType,
    pub dst: Ipv4Net,
    pub via: Option<Ipv4Addr>,
    /// Output device; `None` only for blackhole/unreachable/prohibit.
    pub dev: Option<DeviceId>,
    /// Preferred source address for locally generated packets.
    pub src: Option<Ipv4Addr>,
    pub metric: u32,
    pub onlink: bool,
    pub proto: RouteProto,
    /// `scope link` for connected and device routes, `scope host` for local ones.
    pub scope_link: bool,
}

impl Route {
    /// A plain unicast route added by a person or a plugin (`proto boot`, the `ip route add`
    /// default).
    pub fn unicast(dst: Ipv4Net, via: Option<Ipv4Addr>, dev: DeviceId) -> Self {
        Route {
            kind: RouteType::Unicast,
            dst,
            via,
            dev: Some(dev),
            src: None,
            metric: 0,
            onlink: false,
            proto: RouteProto::Boot,
            scope_link: via.is_none(),
        }
    }
}

/// One routing table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingTable {
    routes: Vec<Route>,
}

impl RoutingTable {
    /// Adds a route; `false` (and no change) if one with the same type, destination and
    /// metric exists — `RTNETLINK answers: File exists`.
    pub fn add(&mut self, route: Route) -> bool {
        let exists = self
            .routes
            .iter()
            .any(|r| r.dst == route.dst && r.metric == route.metric && r.kind == route.kind);
        if exists {
            return false;
        }
        self.routes.push(route);
        true
    }

    /// Removes every route matching `pred`; returns how many.
    pub fn remove_where(&mut self, pred: impl Fn(&Route) -> bool) -> usize {
        let before = self.routes.len();
        self.routes.retain(|r| !pred(r));
        before - self.routes.len()
    }

    /// The best route to `dst`: longest prefix, lowest metric, oldest.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| r.dst.contains(&dst))
            .min_by_key(|r| (std::cmp::Reverse(r.dst.prefix_len()), r.metric))
    }

    /// Routes in the order they were added (the order to replay them in).
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// Routes in `ip route show` order: by destination, then metric.
    pub fn sorted(&self) -> Vec<&Route> {
        let mut v: Vec<&Route> = self.routes.iter().collect();
        v.sort_by_key(|r| (r.dst.network(), r.dst.prefix_len(), r.metric));
        v
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl fmt::Display for RouteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteType::Unicast => "unicast",
            RouteType::Local => "local",
            RouteType::Broadcast => "broadcast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(dst: &str, metric: u32, dev: u32) -> Route {
        Route {
            metric,
            ..Route::unicast(dst.parse().unwrap(), None, DeviceId(dev))
        }
    }

    #[test]
    fn longest_prefix_then_metric_then_age() {
        let mut t = RoutingTable::default();
        assert!(t.add(r("0.0.0.0/0", 0, 1)));
        assert!(t.add(r("10.0.0.0/8", 100, 2)));
        assert!(t.add(r("10.0.0.0/8", 50, 3)));
        assert!(t.add(r("10.1.0.0/16", 500, 4)));
        assert!(!t.add(r("10.1.0.0/16", 500, 9)), "File exists");
        let dev = |t: &RoutingTable, a: &str| t.lookup(a.parse().unwrap()).and_then(|r| r.dev);
        assert_eq!(dev(&t, "10.1.2.3"), Some(DeviceId(4)));
        assert_eq!(dev(&t, "10.2.0.1"), Some(DeviceId(3)));
        assert_eq!(dev(&t, "8.8.8.8"), Some(DeviceId(1)));
        t.remove_where(|r| r.dst.prefix_len() == 0);
        assert_eq!(dev(&t, "8.8.8.8"), None);
    }
}
