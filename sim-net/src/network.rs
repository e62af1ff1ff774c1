//! The whole simulated network: namespaces, devices and links, and the `ip`-like operations
//! that build it. Every operation validates its input and fails with a [`TopologyError`]
//! naming the object, as `ip` would refuse it.
//!
//! Kernel behaviour reproduced here: a new namespace has `lo` up with 127.0.0.1/8 (as every
//! container runtime leaves it); adding an address to an up device (or bringing a device up)
//! installs the kernel's `local`, `broadcast` and connected routes (`fib_add_ifaddr`); taking
//! a device down removes its routes and neighbours; gateways must be reachable on-link unless
//! `onlink` is given ("Nexthop has invalid gateway"); a bridge cannot be a bridge port.
//! Deliberate strictness: the same address on two devices of one namespace is refused (Linux
//! allows it, but in a cluster description it is always a mistake).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use smoltcp::wire::EthernetAddress;

use crate::addr::IfAddr;
use crate::bridge::Bridge;
use crate::device::{Device, DeviceId, DeviceKind, ETH_MTU, LOOPBACK_MTU, Vxlan};
use crate::error::TopologyError;
use crate::link::{Link, LinkId, LinkProps};
use crate::netns::{NetNs, NetNsId, SocketProto};
use crate::route::{Route, RouteProto, RouteType};
use crate::wire::vxlan;

/// Namespaces, devices and links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    pub(crate) netns: Vec<NetNs>,
    pub(crate) devices: Vec<Device>,
    pub(crate) links: Vec<Link>,
    ns_by_name: BTreeMap<String, NetNsId>,
    dev_by_name: BTreeMap<(NetNsId, String), DeviceId>,
}

/// How to create a VXLAN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanConfig {
    pub vni: u32,
    pub local: Ipv4Addr,
    /// `None`: the Linux default, 8472.
    pub dstport: Option<u16>,
    /// The underlay device; the VXLAN MTU becomes its MTU minus 50.
    pub dev: Option<DeviceId>,
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && !name.contains(['/', ':'])
        && !name.chars().any(char::is_whitespace)
}

impl Network {
    pub fn new() -> Self {
        Network::default()
    }

    // ---- lookups -------------------------------------------------------------------------

    pub fn netns_id(&self, name: &str) -> Result<NetNsId, TopologyError> {
        self.ns_by_name
            .get(name)
            .copied()
            .ok_or_else(|| TopologyError::UnknownNetns(name.to_string()))
    }

    pub fn device_id(&self, ns: NetNsId, name: &str) -> Result<DeviceId, TopologyError> {
        self.dev_by_name
            .get(&(ns, name.to_string()))
            .copied()
            .ok_or_else(|| TopologyError::UnknownDevice {
                netns: self.netns[ns.index()].name.clone(),
                name: name.to_string(),
            })
    }

    pub fn netns(&self, id: NetNsId) -> &NetNs {
        &self.netns[id.index()]
    }
    pub fn netns_mut(&mut self, id: NetNsId) -> &mut NetNs {
        &mut self.netns[id.index()]
    }
    pub fn device(&self, id: DeviceId) -> &Device {
        &self.devices[id.index()]
    }
    pub(crate) fn device_mut(&mut self, id: DeviceId) -> &mut Device {
        &mut self.devices[id.index()]
    }
    pub fn link(&self, id: LinkId) -> &Link {
        &self.links[id.0 as usize]
    }
    pub fn link_mut(&mut self, id: LinkId) -> &mut Link {
        &mut self.links[id.0 as usize]
    }
    /// All namespaces with their ids, in creation order.
    pub fn all_netns(&self) -> impl Iterator<Item = (NetNsId, &NetNs)> {
        self.netns
            .iter()
            .enumerate()
            .map(|(i, n)| (NetNsId(i as u32), n))
    }
    /// All links with their ids, in creation order.
    pub fn all_links(&self) -> impl Iterator<Item = (LinkId, &Link)> {
        self.links
            .iter()
            .enumerate()
            .map(|(i, l)| (LinkId(i as u32), l))
    }
    /// `netns/device`, the name a device goes by in traces and captures.
    pub fn device_path(&self, id: DeviceId) -> String {
        let d = self.device(id);
        format!("{}/{}", self.netns(d.ns).name, d.name)
    }

    // ---- building ------------------------------------------------------------------------

    /// Creates a namespace with `lo` up and 127.0.0.1/8 on it.
    pub fn add_netns(&mut self, name: &str) -> Result<NetNsId, TopologyError> {
        if self.ns_by_name.contains_key(name) {
            return Err(TopologyError::NetnsExists(name.to_string()));
        }
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
            return Err(TopologyError::BadNetnsName(name.to_string()));
        }
        let id = NetNsId(self.netns.len() as u32);
        self.netns.push(NetNs::new(name.to_string()));
        self.ns_by_name.insert(name.to_string(), id);
        let lo = self.add_device(id, "lo", DeviceKind::Loopback, LOOPBACK_MTU)?;
        self.device_mut(lo).mac = EthernetAddress([0; 6]);
        self.add_addr(lo, "127.0.0.1/8")?;
        self.set_up(lo);
        Ok(id)
    }

    fn add_device(
        &mut self,
        ns: NetNsId,
        name: &str,
        kind: DeviceKind,
        mtu: u32,
    ) -> Result<DeviceId, TopologyError> {
        self.check_new_device(ns, name)?;
        let id = DeviceId(self.devices.len() as u32);
        // Locally administered, unique, deterministic: 02:00 + the device's index.
        let [a, b, c, d] = (id.0 + 1).to_be_bytes();
        let n = self.netns_mut(ns);
        let ifindex = n.next_ifindex;
        n.next_ifindex += 1;
        n.devices.push(id);
        self.devices.push(Device {
            name: name.to_string(),
            ns,
            ifindex,
            kind,
            mac: EthernetAddress([0x02, 0x00, a, b, c, d]),
            mtu,
            up: false,
            addrs: Vec::new(),
            master: None,
            hairpin: false,
        });
        self.dev_by_name.insert((ns, name.to_string()), id);
        Ok(id)
    }

    /// Refuses a name `ip link add` would refuse in `ns`: invalid, or already taken.
    fn check_new_device(&self, ns: NetNsId, name: &str) -> Result<(), TopologyError> {
        if !valid_ifname(name) {
            return Err(TopologyError::BadDeviceName(name.to_string()));
        }
        if self.dev_by_name.contains_key(&(ns, name.to_string())) {
            return Err(TopologyError::DeviceExists {
                netns: self.netns(ns).name.clone(),
                name: name.to_string(),
            });
        }
        Ok(())
    }

    /// `ip link add NAME_A type veth peer name NAME_B netns NS_B`.
    pub fn add_veth(
        &mut self,
        ns_a: NetNsId,
        name_a: &str,
        ns_b: NetNsId,
        name_b: &str,
    ) -> Result<(DeviceId, DeviceId), TopologyError> {
        // Both names are checked before either end is created.
        self.check_new_device(ns_a, name_a)?;
        self.check_new_device(ns_b, name_b)?;
        if ns_a == ns_b && name_a == name_b {
            return Err(TopologyError::DeviceExists {
                netns: self.netns(ns_a).name.clone(),
                name: name_b.to_string(),
            });
        }
        let a = self.add_device(
            ns_a,
            name_a,
            DeviceKind::Veth { peer: DeviceId(0) },
            ETH_MTU,
        )?;
        let b = self.add_device(ns_b, name_b, DeviceKind::Veth { peer: a }, ETH_MTU)?;
        self.device_mut(a).kind = DeviceKind::Veth { peer: b };
        Ok((a, b))
    }

    /// `ip link add NAME type bridge`.
    pub fn add_bridge(&mut self, ns: NetNsId, name: &str) -> Result<DeviceId, TopologyError> {
        let id = self.add_device(ns, name, DeviceKind::Bridge(Bridge::default()), ETH_MTU)?;
        let mac = self.device(id).mac;
        if let DeviceKind::Bridge(b) = &mut self.device_mut(id).kind {
            b.add_local(mac, id);
        }
        Ok(id)
    }

    /// `ip link add NAME type dummy`.
    pub fn add_dummy(&mut self, ns: NetNsId, name: &str) -> Result<DeviceId, TopologyError> {
        self.add_device(ns, name, DeviceKind::Dummy, ETH_MTU)
    }

    /// A physical NIC, to be attached with [`Network::connect`].
    pub fn add_nic(&mut self, ns: NetNsId, name: &str) -> Result<DeviceId, TopologyError> {
        self.add_device(ns, name, DeviceKind::Nic { link: None }, ETH_MTU)
    }

    /// `ip link add NAME type vxlan id VNI local IP [dstport P] [dev DEV]`.
    pub fn add_vxlan(
        &mut self,
        ns: NetNsId,
        name: &str,
        cfg: VxlanConfig,
    ) -> Result<DeviceId, TopologyError> {
        if cfg.vni > 0xFF_FFFF {
            return Err(TopologyError::VniOutOfRange(cfg.vni));
        }
        let mtu = match cfg.dev {
            Some(d) => self.device(d).mtu.saturating_sub(vxlan::OVERHEAD as u32),
            None => ETH_MTU,
        };
        let kind = DeviceKind::Vxlan(Box::new(Vxlan {
            vni: cfg.vni,
            local: cfg.local,
            dstport: cfg.dstport.unwrap_or(vxlan::LINUX_DEFAULT_PORT),
            default_remotes: Vec::new(),
            fdb: BTreeMap::new(),
        }));
        self.add_device(ns, name, kind, mtu)
    }

    /// `bridge fdb append|add MAC dev VXLAN dst IP`; the all-zero MAC is the default
    /// destination for unknown and broadcast frames.
    pub fn vxlan_fdb_add(
        &mut self,
        dev: DeviceId,
        mac: EthernetAddress,
        dst: Ipv4Addr,
    ) -> Result<(), TopologyError> {
        let name = self.device(dev).name.clone();
        let DeviceKind::Vxlan(v) = &mut self.device_mut(dev).kind else {
            return Err(TopologyError::NotVxlan(name));
        };
        if mac.0 == [0; 6] {
            if !v.default_remotes.contains(&dst) {
                v.default_remotes.push(dst);
            }
        } else {
            v.fdb.insert(mac.0, dst);
        }
        Ok(())
    }

    /// Attaches two NICs to a new point-to-point link.
    pub fn connect(
        &mut self,
        a: DeviceId,
        b: DeviceId,
        props: LinkProps,
    ) -> Result<LinkId, TopologyError> {
        for d in [a, b] {
            match self.device(d).kind {
                DeviceKind::Nic { link: None } => {}
                DeviceKind::Nic { link: Some(_) } => {
                    return Err(TopologyError::AlreadyLinked(self.device_path(d)));
                }
                _ => return Err(TopologyError::NotANic(self.device_path(d))),
            }
        }
        if a == b {
            return Err(TopologyError::AlreadyLinked(self.device_path(a)));
        }
        let id = LinkId(self.links.len() as u32);
        self.links.push(Link::new(a, b, props));
        for d in [a, b] {
            self.device_mut(d).kind = DeviceKind::Nic { link: Some(id) };
        }
        Ok(id)
    }

    /// `ip link set DEV master BRIDGE`.
    pub fn set_master(&mut self, dev: DeviceId, bridge: DeviceId) -> Result<(), TopologyError> {
        let (d, b) = (self.device(dev), self.device(bridge));
        if !b.is_bridge() {
            return Err(TopologyError::NotABridge(self.device_path(bridge)));
        }
        if d.is_bridge() {
            return Err(TopologyError::BridgeInBridge {
                device: self.device_path(dev),
                bridge: self.device_path(bridge),
            });
        }
        if d.ns != b.ns {
            return Err(TopologyError::CrossNamespace {
                device: self.device_path(dev),
                bridge: self.device_path(bridge),
            });
        }
        let mac = d.mac;
        self.device_mut(dev).master = Some(bridge);
        if let DeviceKind::Bridge(br) = &mut self.device_mut(bridge).kind {
            br.add_local(mac, dev);
        }
        Ok(())
    }

    /// `ip link set DEV type bridge_slave hairpin on|off`.
    pub fn set_hairpin(&mut self, dev: DeviceId, on: bool) {
        self.device_mut(dev).hairpin = on;
    }

    /// `ip link set DEV mtu N`.
    pub fn set_mtu(&mut self, dev: DeviceId, mtu: u32) -> Result<(), TopologyError> {
        if !(68..=65536).contains(&mtu) {
            return Err(TopologyError::BadMtu {
                device: self.device_path(dev),
                mtu,
            });
        }
        self.device_mut(dev).mtu = mtu;
        Ok(())
    }

    /// `ip addr add ADDR/PREFIX dev DEV`.
    pub fn add_addr(&mut self, dev: DeviceId, cidr: &str) -> Result<(), TopologyError> {
        let net: IpNet =
            cidr.trim()
                .parse()
                .map_err(|e: ipnet::AddrParseError| TopologyError::BadAddress {
                    device: self.device_path(dev),
                    input: cidr.to_string(),
                    reason: e.to_string(),
                })?;
        let d = self.device(dev);
        if d.addrs.iter().any(|a| a.addr() == net.addr()) {
            return Err(TopologyError::AddressExists {
                device: self.device_path(dev),
                addr: net.addr(),
            });
        }
        for &other in &self.netns(d.ns).devices {
            if self
                .device(other)
                .addrs
                .iter()
                .any(|a| a.addr() == net.addr())
            {
                return Err(TopologyError::AddressConflict {
                    netns: self.netns(d.ns).name.clone(),
                    device: self.device(dev).name.clone(),
                    other: self.device(other).name.clone(),
                    addr: net.addr(),
                });
            }
        }
        let ifaddr = IfAddr::new(net);
        self.device_mut(dev).addrs.push(ifaddr);
        if self.device(dev).up {
            self.add_kernel_routes(dev, ifaddr);
        }
        Ok(())
    }

    /// The routes `fib_add_ifaddr` installs for an IPv4 address.
    fn add_kernel_routes(&mut self, dev: DeviceId, a: IfAddr) {
        let (IpAddr::V4(addr), IpNet::V4(net)) = (a.addr(), a.net) else {
            return;
        };
        let loopback = matches!(self.device(dev).kind, DeviceKind::Loopback);
        let ns = self.device(dev).ns;
        let kernel = |kind, dst: Ipv4Net, scope_link| Route {
            kind,
            dst,
            via: None,
            dev: Some(dev),
            src: Some(addr),
            metric: 0,
            onlink: false,
            proto: RouteProto::Kernel,
            scope_link,
        };
        let host = Ipv4Net::new(addr, 32).expect("/32 is valid");
        let n = self.netns_mut(ns);
        n.local.add(kernel(RouteType::Local, host, false));
        if loopback {
            n.local.add(kernel(RouteType::Local, net.trunc(), false));
        }
        if net.prefix_len() < 31 {
            let brd = Ipv4Net::new(net.broadcast(), 32).expect("/32 is valid");
            n.local.add(kernel(RouteType::Broadcast, brd, true));
        }
        if !loopback && net.prefix_len() < 32 {
            n.main.add(kernel(RouteType::Unicast, net.trunc(), true));
        }
    }

    /// `ip link set DEV up`.
    pub fn set_up(&mut self, dev: DeviceId) {
        if self.device(dev).up {
            return;
        }
        self.device_mut(dev).up = true;
        for a in self.device(dev).addrs.clone() {
            self.add_kernel_routes(dev, a);
        }
    }

    /// `ip link set DEV down`: its routes and neighbours go, bridges forget it.
    pub fn set_down(&mut self, dev: DeviceId) {
        self.device_mut(dev).up = false;
        let d = self.device(dev);
        let (ns, master) = (d.ns, d.master);
        let n = self.netns_mut(ns);
        n.local.remove_where(|r| r.dev == Some(dev));
        n.main.remove_where(|r| r.dev == Some(dev));
        n.neigh.flush_dev(dev);
        if let Some(br) = master
            && let DeviceKind::Bridge(b) = &mut self.device_mut(br).kind
        {
            b.flush_port(dev);
        }
    }

    /// `ip route add` into the main table, validated like the kernel does.
    pub fn add_route(&mut self, ns: NetNsId, route: Route) -> Result<(), TopologyError> {
        let (netns, dst) = (self.netns(ns).name.clone(), route.dst.to_string());
        let bad = move |reason: &str| TopologyError::BadRoute {
            netns: netns.clone(),
            route: dst.clone(),
            reason: reason.to_string(),
        };
        if route.dst != route.dst.trunc() {
            return Err(bad(
                "host bits set in destination (use the network address)",
            ));
        }
        if let Some(dev) = route.dev {
            if self.device(dev).ns != ns {
                return Err(bad("device is in another namespace"));
            }
            if !self.device(dev).up {
                return Err(bad("device is down (Network is down)"));
            }
        } else if route.kind == RouteType::Unicast {
            return Err(bad("a unicast route needs a device"));
        }
        if let Some(via) = route.via
            && !route.onlink
        {
            let on_link = self.netns(ns).main.lookup(via).is_some_and(|r| {
                r.via.is_none()
                    && r.kind == RouteType::Unicast
                    && (route.dev.is_none() || r.dev == route.dev)
            });
            if !on_link {
                return Err(bad(
                    "Nexthop has invalid gateway (not on a connected subnet; use onlink)",
                ));
            }
        }
        if !self.netns_mut(ns).main.add(route) {
            return Err(bad("File exists"));
        }
        Ok(())
    }

    /// `ip neigh add IP lladdr MAC dev DEV nud permanent`.
    pub fn add_neigh(&mut self, dev: DeviceId, ip: Ipv4Addr, mac: EthernetAddress) {
        let ns = self.device(dev).ns;
        self.netns_mut(ns).neigh.add_permanent(dev, ip, mac);
    }

    /// `sysctl -w KEY=VALUE` inside a namespace.
    pub fn sysctl(&mut self, ns: NetNsId, key: &str, value: &str) -> Result<(), TopologyError> {
        let name = self.netns(ns).name.clone();
        self.netns_mut(ns)
            .sysctl
            .set(key, value)
            .map_err(|source| TopologyError::Sysctl {
                netns: name,
                source,
            })
    }

    /// A socket listening on `port` on every address of the namespace.
    pub fn listen(&mut self, ns: NetNsId, proto: SocketProto, port: u16) {
        self.netns_mut(ns).listening.insert((proto, port));
    }

    /// Whether `ip` is one of the namespace's own addresses (the `local` table says so).
    pub fn is_local(&self, ns: NetNsId, ip: Ipv4Addr) -> bool {
        self.netns(ns)
            .local
            .lookup(ip)
            .is_some_and(|r| r.kind == RouteType::Local)
    }

    /// The source address a socket in `ns` gets for talking to `dst` (`ip_route_output` +
    /// `inet_select_addr`): the destination itself if it is local, else the route's `src`, else
    /// the output device's primary address, else any address of the namespace. `None` if
    /// there is no usable route (the ENETUNREACH of `connect`).
    pub fn source_address(&self, ns: NetNsId, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        if self.is_local(ns, dst) {
            return Some(dst);
        }
        let route = self.netns(ns).main.lookup(dst)?;
        if route.kind != RouteType::Unicast {
            return None;
        }
        let dev = self.device(route.dev?);
        route.src.or_else(|| dev.ipv4()).or_else(|| {
            self.netns(ns)
                .devices
                .iter()
                .skip(1)
                .find_map(|&d| self.device(d).ipv4())
        })
    }

    /// The largest MTU among the namespace's devices other than loopback (1500 if it has none):
    /// what bounds its local stack's segments.
    pub fn stack_mtu(&self, ns: NetNsId) -> usize {
        self.netns(ns)
            .devices
            .iter()
            .skip(1)
            .map(|&d| self.device(d).mtu as usize)
            .max()
            .unwrap_or(1500)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_routes_follow_addresses_and_link_state() {
        let mut n = Network::new();
        let ns = n.add_netns("node").unwrap();
        let eth = n.add_nic(ns, "eth0").unwrap();
        n.add_addr(eth, "192.168.0.11/24").unwrap();
        assert_eq!(n.netns(ns).main.len(), 0, "no routes while down");
        n.set_up(eth);
        let main = &n.netns(ns).main;
        let r = main.lookup("192.168.0.99".parse().unwrap()).unwrap();
        assert_eq!(
            (r.dev, r.proto, r.src),
            (
                Some(eth),
                RouteProto::Kernel,
                Some("192.168.0.11".parse().unwrap())
            )
        );
        assert!(n.is_local(ns, "192.168.0.11".parse().unwrap()));
        assert!(
            n.is_local(ns, "127.0.0.53".parse().unwrap()),
            "all of 127/8 is local"
        );
        n.set_down(eth);
        assert!(!n.is_local(ns, "192.168.0.11".parse().unwrap()));
        assert_eq!(n.netns(ns).main.len(), 0);
    }

    #[test]
    fn bad_input_is_refused_with_the_object_named() {
        let mut n = Network::new();
        let ns = n.add_netns("node").unwrap();
        assert_eq!(
            n.add_netns("node"),
            Err(TopologyError::NetnsExists("node".into()))
        );
        assert_eq!(
            n.add_netns("a/b"),
            Err(TopologyError::BadNetnsName("a/b".into()))
        );
        let before = n.netns(ns).devices.len();
        assert!(matches!(
            n.add_veth(ns, "ok0", ns, "lo"),
            Err(TopologyError::DeviceExists { .. })
        ));
        assert_eq!(
            n.netns(ns).devices.len(),
            before,
            "a refused veth creates neither end"
        );
        let br = n.add_bridge(ns, "cbr0").unwrap();
        let br2 = n.add_bridge(ns, "br1").unwrap();
        let e = n.set_master(br2, br).unwrap_err();
        assert!(matches!(e, TopologyError::BridgeInBridge { .. }), "{e}");
        assert!(e.to_string().contains("node/br1"));
        assert!(matches!(
            n.add_dummy(ns, "cbr0"),
            Err(TopologyError::DeviceExists { .. })
        ));
        assert!(matches!(
            n.add_dummy(ns, "a-name-that-is-too-long"),
            Err(TopologyError::BadDeviceName(_))
        ));
        let e = n.add_addr(br, "10.0.0.1/33").unwrap_err();
        assert!(
            matches!(e, TopologyError::BadAddress { .. }) && e.to_string().contains("node/cbr0"),
            "{e}"
        );
        n.add_addr(br, "10.0.0.1/24").unwrap();
        assert!(matches!(
            n.add_addr(br, "10.0.0.1/24"),
            Err(TopologyError::AddressExists { .. })
        ));
        assert!(matches!(
            n.add_addr(br2, "10.0.0.1/16"),
            Err(TopologyError::AddressConflict { .. })
        ));
        assert!(matches!(
            n.device_id(ns, "eth9"),
            Err(TopologyError::UnknownDevice { .. })
        ));
        assert!(matches!(
            n.add_vxlan(
                ns,
                "vx",
                VxlanConfig {
                    vni: 1 << 24,
                    local: Ipv4Addr::LOCALHOST,
                    dstport: None,
                    dev: None
                }
            ),
            Err(TopologyError::VniOutOfRange(_))
        ));
        let d = n.add_dummy(ns, "d0").unwrap();
        assert!(matches!(
            n.connect(d, br, LinkProps::default()),
            Err(TopologyError::NotANic(_))
        ));
        assert!(matches!(
            n.sysctl(ns, "net.ipv4.nope", "1"),
            Err(TopologyError::Sysctl { .. })
        ));
    }

    #[test]
    fn gateways_must_be_on_link() {
        let mut n = Network::new();
        let ns = n.add_netns("node").unwrap();
        let eth = n.add_nic(ns, "eth0").unwrap();
        n.add_addr(eth, "192.168.0.11/24").unwrap();
        n.set_up(eth);
        let route = |via: &str| {
            Route::unicast(
                "10.244.2.0/24".parse().unwrap(),
                Some(via.parse().unwrap()),
                eth,
            )
        };
        let e = n.add_route(ns, route("172.16.0.1")).unwrap_err();
        assert!(e.to_string().contains("Nexthop has invalid gateway"), "{e}");
        n.add_route(
            ns,
            Route {
                onlink: true,
                ..route("172.16.0.1")
            },
        )
        .unwrap();
        n.netns_mut(ns).main.remove_where(|r| r.via.is_some());
        n.add_route(ns, route("192.168.0.12")).unwrap();
        let e = n.add_route(ns, route("192.168.0.12")).unwrap_err();
        assert!(e.to_string().contains("File exists"), "{e}");
    }
}
