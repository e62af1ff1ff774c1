//! Text dumps in the formats of iproute2: `ip addr`, `ip route [show table local]`,
//! `ip neigh`, `bridge fdb`. Field order and wording follow iproute2's printers (e.g. `proto
//! boot` is not printed, host routes print without `/32`); per-device statistics, qdiscs and
//! address lifetimes are left out, as the model has none.

use std::fmt::Write;

use ipnet::IpNet;
use sim_core::SimTime;

use crate::addr::Scope;
use crate::device::DeviceKind;
use crate::neigh::NeighState;
use crate::netns::NetNsId;
use crate::network::Network;
use crate::packet::mac;
use crate::route::{Route, RouteProto, RouteType, TableId};

/// `ip addr show` inside `ns`.
pub fn ip_addr(net: &Network, ns: NetNsId) -> String {
    let mut out = String::new();
    for &id in &net.netns(ns).devices {
        let d = net.device(id);
        let loopback = matches!(d.kind, DeviceKind::Loopback);
        let peer = match d.kind {
            DeviceKind::Veth { peer } => format!("@if{}", net.device(peer).ifindex),
            _ => String::new(),
        };
        let mut flags = vec![if loopback {
            "LOOPBACK"
        } else {
            "BROADCAST,MULTICAST"
        }];
        if d.up {
            flags.push("UP,LOWER_UP");
        }
        let state = match (d.up, loopback) {
            (false, _) => "DOWN",
            (true, true) => "UNKNOWN",
            (true, false) => "UP",
        };
        let master = d
            .master
            .map(|m| format!(" master {}", net.device(m).name))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}: {}{peer}: <{}> mtu {}{master} state {state}",
            d.ifindex,
            d.name,
            flags.join(","),
            d.mtu
        );
        let (kind, brd) = if loopback {
            ("loopback", "00:00:00:00:00:00")
        } else {
            ("ether", "ff:ff:ff:ff:ff:ff")
        };
        let link_netns = match d.kind {
            DeviceKind::Veth { peer } if net.device(peer).ns != ns => {
                format!(" link-netns {}", net.netns(net.device(peer).ns).name)
            }
            _ => String::new(),
        };
        let _ = writeln!(out, "    link/{kind} {} brd {brd}{link_netns}", mac(d.mac));
        for a in &d.addrs {
            let fam = if a.addr().is_ipv4() { "inet" } else { "inet6" };
            let brd = match a.net {
                IpNet::V4(n) if n.prefix_len() < 31 && !loopback => {
                    format!(" brd {}", n.broadcast())
                }
                _ => String::new(),
            };
            let label = if a.scope == Scope::Global || a.addr().is_ipv4() {
                format!(" {}", d.name)
            } else {
                String::new()
            };
            let _ = writeln!(out, "    {fam} {}{brd} scope {}{label}", a.net, a.scope);
            let _ = writeln!(out, "       valid_lft forever preferred_lft forever");
        }
    }
    out
}

fn route_line(net: &Network, r: &Route, table: TableId) -> String {
    let mut s = String::new();
    if r.kind != RouteType::Unicast || table == TableId::Local {
        let _ = write!(s, "{} ", r.kind);
    }
    if r.dst.prefix_len() == 0 {
        s.push_str("default");
    } else if r.dst.prefix_len() == 32 {
        let _ = write!(s, "{}", r.dst.addr());
    } else {
        let _ = write!(s, "{}", r.dst);
    }
    if let Some(v) = r.via {
        let _ = write!(s, " via {v}");
    }
    if let Some(d) = r.dev {
        let _ = write!(s, " dev {}", net.device(d).name);
    }
    match r.proto {
        RouteProto::Kernel => s.push_str(" proto kernel"),
        RouteProto::Static => s.push_str(" proto static"),
        RouteProto::Boot => {}
    }
    if r.kind == RouteType::Local {
        s.push_str(" scope host");
    } else if r.scope_link && r.dev.is_some() {
        s.push_str(" scope link");
    }
    if let Some(src) = r.src {
        let _ = write!(s, " src {src}");
    }
    if r.metric != 0 {
        let _ = write!(s, " metric {}", r.metric);
    }
    if r.onlink {
        s.push_str(" onlink");
    }
    s
}

/// `ip route show [table local]` inside `ns`.
pub fn ip_route(net: &Network, ns: NetNsId, table: TableId) -> String {
    let n = net.netns(ns);
    let t = match table {
        TableId::Local => &n.local,
        TableId::Main => &n.main,
    };
    let mut out = String::new();
    for r in t.sorted() {
        out.push_str(&route_line(net, r, table));
        out.push('\n');
    }
    out
}

/// `ip neigh show` inside `ns` at `now`.
pub fn ip_neigh(net: &Network, ns: NetNsId, now: SimTime) -> String {
    let mut out = String::new();
    for (dev, ip, e) in net.netns(ns).neigh.entries() {
        let state = e.state(now);
        let lladdr = match (e.mac, state) {
            (Some(m), s) if s != NeighState::Failed && s != NeighState::Incomplete => {
                format!(" lladdr {}", mac(m))
            }
            _ => " ".to_string(),
        };
        let _ = writeln!(out, "{ip} dev {}{lladdr} {state}", net.device(dev).name);
    }
    out
}

/// `bridge fdb show` inside `ns` at `now`: bridge ports' entries, then VXLAN devices' remotes.
pub fn bridge_fdb(net: &Network, ns: NetNsId, now: SimTime) -> String {
    let mut out = String::new();
    for &id in &net.netns(ns).devices {
        let d = net.device(id);
        match &d.kind {
            DeviceKind::Bridge(b) => {
                for (m, e) in b.entries(now) {
                    let perm = if e.local { " permanent" } else { "" };
                    let _ = writeln!(
                        out,
                        "{} dev {} master {}{perm}",
                        mac(m),
                        net.device(e.port).name,
                        d.name
                    );
                }
            }
            DeviceKind::Vxlan(v) => {
                for r in &v.default_remotes {
                    let _ = writeln!(
                        out,
                        "00:00:00:00:00:00 dev {} dst {r} self permanent",
                        d.name
                    );
                }
                for (m, r) in &v.fdb {
                    let _ = writeln!(
                        out,
                        "{} dev {} dst {r} self permanent",
                        mac(smoltcp::wire::EthernetAddress(*m)),
                        d.name
                    );
                }
            }
            _ => {}
        }
    }
    out
}

/// Every dump of a namespace, headed like a shell session.
pub fn all(net: &Network, ns: NetNsId, now: SimTime) -> String {
    let name = &net.netns(ns).name;
    format!(
        "# {name}: ip addr\n{}# {name}: ip route\n{}# {name}: ip route show table local\n{}# {name}: ip neigh\n{}# {name}: bridge fdb\n{}",
        ip_addr(net, ns),
        ip_route(net, ns, TableId::Main),
        ip_route(net, ns, TableId::Local),
        ip_neigh(net, ns, now),
        bridge_fdb(net, ns, now)
    )
}
