//! The `bridge` plugin (`plugins/main/bridge/bridge.go`, with `pkg/ip` `SetupVeth` and
//! `pkg/ipam` `ConfigureIface`), run against a sim-net [`Network`].
//!
//! ADD, in upstream's order: create the bridge unless it exists (name from the config,
//! default `cni0`; MTU only when created) and bring it up; create the veth pair — the
//! container end named `CNI_IFNAME` in the pod namespace, the host end `veth` + 8 hex digits
//! (see [`veth_name`](super::veth_name)) — set the MTU on both, bring the host end up, enslave
//! it to the bridge and set its hairpin flag; run host-local; compute gateways
//! (`isDefaultGateway` implies `isGateway`; a missing gateway is the subnet's first address;
//! `isDefaultGateway` adds `0.0.0.0/0` via the gateway unless IPAM already routes it); put
//! the addresses on the container end, bring it up, add the routes (via the route's `gw`, else
//! the first IPv4 gateway; a duplicate route is skipped); with `isGateway` put
//! `gateway/prefix` on the bridge (an existing different IPv4 address is an error unless
//! `forceAddress`) and turn on `net.ipv4.ip_forward`; with `ipMasq` write the masquerade
//! chain. The result lists the bridge, the host veth and the container interface, in that
//! order, with the addresses pointing at interface 2. Without IPAM the container end is only
//! brought up (a layer-2 attachment).
//!
//! DEL releases the addresses, takes the pod's interface down (sim-net has no `ip link del`,
//! so the pair stays, down, with its routes gone), and removes the masquerade chain.
//!
//! Not modelled (refused with [`CniError::Unsupported`] when configured): VLANs and VLAN
//! trunks, `macspoofchk`, IPv6 addresses (sim-net routes IPv4 only), and `forceAddress`
//! actually replacing a bridge address (sim-net has no `ip addr del`). `promiscMode` is
//! parsed and checked against `hairpinMode` but the promiscuous flag is not modelled.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};
use sim_net::device::DeviceKind;
use sim_net::route::Route as SimRoute;
use sim_net::{DeviceId, Network, TopologyError};

use super::chain_name::{format_chain_name, format_comment};
use super::config::PluginConfig;
use super::error::CniError;
use super::host_local::{self, HostLocalConfig};
use super::ipmasq;
use super::iptables::Restore;
use super::json::{Obj, as_obj, invalid};
use super::libcni::RuntimeConf;
use super::node_state::NodeState;
use super::result::{CniResult, Interface, IpConfig, Route};
use super::veth_name::{MAX_TRIES, veth_name};

/// `defaultBrName`.
pub const DEFAULT_BRIDGE_NAME: &str = "cni0";

/// The bridge plugin's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    pub bridge: String,
    pub is_gateway: bool,
    pub is_default_gateway: bool,
    pub force_address: bool,
    pub ip_masq: bool,
    /// 0: the kernel default (1500).
    pub mtu: u32,
    pub hairpin_mode: bool,
    pub promisc_mode: bool,
    pub vlan: u16,
    pub vlan_trunk: bool,
    pub mac_spoof_chk: bool,
    pub ipam: Option<HostLocalConfig>,
}

impl BridgeConfig {
    pub(crate) fn parse(o: &Obj<'_>, cni_version: &str) -> Result<Self, CniError> {
        let mtu = o.int("mtu")?.unwrap_or(0);
        let mtu = u32::try_from(mtu)
            .map_err(|_| invalid(o.file, &o.path_of("mtu"), format!("invalid MTU {mtu}")))?;
        let vlan = o.int("vlan")?.unwrap_or(0);
        if !(0..=4094).contains(&vlan) {
            return Err(invalid(
                o.file,
                &o.path_of("vlan"),
                format!("invalid VLAN ID {vlan} (must be between 0 and 4094)"),
            ));
        }
        let ipam = match o.get("ipam") {
            None => None,
            Some(v) => {
                let path = o.path_of("ipam");
                let io = as_obj(o.file, &path, v)?;
                match io.str("type")?.unwrap_or_default() {
                    "" => None,
                    "host-local" => Some(HostLocalConfig::parse(&io, cni_version)?),
                    other => {
                        return Err(CniError::UnknownIpam {
                            file: o.file.to_string(),
                            path: io.path_of("type"),
                            kind: other.to_string(),
                        });
                    }
                }
            }
        };
        Ok(BridgeConfig {
            bridge: o
                .str("bridge")?
                .filter(|b| !b.is_empty())
                .unwrap_or(DEFAULT_BRIDGE_NAME)
                .to_string(),
            is_gateway: o.bool("isGateway")?.unwrap_or(false),
            is_default_gateway: o.bool("isDefaultGateway")?.unwrap_or(false),
            force_address: o.bool("forceAddress")?.unwrap_or(false),
            ip_masq: o.bool("ipMasq")?.unwrap_or(false),
            mtu,
            hairpin_mode: o.bool("hairpinMode")?.unwrap_or(false),
            promisc_mode: o.bool("promiscMode")?.unwrap_or(false),
            vlan: vlan as u16,
            vlan_trunk: o.get("vlanTrunk").is_some(),
            mac_spoof_chk: o.bool("macspoofchk")?.unwrap_or(false),
            ipam,
        })
    }
}

/// `aa:bb:cc:dd:ee:ff`, as Go prints a hardware address.
pub fn mac_string(net: &Network, dev: DeviceId) -> String {
    let m = net.device(dev).mac.0;
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

fn v4(ip: IpAddr) -> Result<std::net::Ipv4Addr, CniError> {
    match ip {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(_) => Err(CniError::Unsupported(
            "an IPv6 address or route on a pod interface (sim-net routes IPv4 only)".into(),
        )),
    }
}

fn v4_net(n: IpNet) -> Result<Ipv4Net, CniError> {
    match n {
        IpNet::V4(n) => Ok(n),
        IpNet::V6(_) => Err(CniError::Unsupported(
            "an IPv6 address or route on a pod interface (sim-net routes IPv4 only)".into(),
        )),
    }
}

/// `ensureBridge`: the existing bridge or a new one, up.
fn ensure_bridge(
    net: &mut Network,
    node: sim_net::NetNsId,
    cfg: &BridgeConfig,
) -> Result<DeviceId, CniError> {
    let br = match net.device_id(node, &cfg.bridge) {
        Ok(id) if net.device(id).is_bridge() => id,
        Ok(_) => return Err(CniError::NotABridge(cfg.bridge.clone())),
        Err(_) => {
            let id = net.add_bridge(node, &cfg.bridge)?;
            if cfg.mtu > 0 {
                net.set_mtu(id, cfg.mtu)?;
            }
            id
        }
    };
    net.set_up(br);
    Ok(br)
}

/// `ip.SetupVeth` + the host-side part of `setupVeth`: (container end, host end).
fn setup_veth(
    net: &mut Network,
    node: sim_net::NetNsId,
    br: DeviceId,
    cfg: &BridgeConfig,
    rt: &RuntimeConf,
) -> Result<(DeviceId, DeviceId), CniError> {
    let mut host_name = None;
    for attempt in 0..MAX_TRIES {
        let n = veth_name(&rt.container_id, &rt.if_name, attempt);
        if net.device_id(node, &n).is_err() {
            host_name = Some(n);
            break;
        }
    }
    let host_name = host_name.ok_or_else(|| CniError::VethName(rt.container_id.clone()))?;
    let (cont, host) = net.add_veth(rt.netns, &rt.if_name, node, &host_name)?;
    if cfg.mtu > 0 {
        net.set_mtu(cont, cfg.mtu)?;
        net.set_mtu(host, cfg.mtu)?;
    }
    net.set_up(host);
    net.set_master(host, br)?;
    net.set_hairpin(host, cfg.hairpin_mode);
    Ok((cont, host))
}

/// `ensureAddr` for IPv4 on the bridge.
fn ensure_addr(net: &mut Network, br: DeviceId, gw: Ipv4Net, force: bool) -> Result<(), CniError> {
    let want = IpNet::V4(gw);
    for a in &net.device(br).addrs {
        if a.net == want {
            return Ok(());
        }
        if a.net.addr().is_ipv4() {
            let bridge = net.device(br).name.clone();
            return Err(if force {
                CniError::Unsupported(format!(
                    "forceAddress replacing {} on {bridge:?} (sim-net has no `ip addr del`)",
                    a.net
                ))
            } else {
                CniError::BridgeAddress {
                    bridge,
                    want: want.to_string(),
                }
            });
        }
    }
    net.add_addr(br, &want.to_string())?;
    Ok(())
}

/// `cmdAdd`.
pub fn cmd_add(
    net: &mut Network,
    state: &mut NodeState,
    network: &str,
    plugin: &PluginConfig,
    cfg: &BridgeConfig,
    rt: &RuntimeConf,
) -> Result<(CniResult, Restore), CniError> {
    if cfg.hairpin_mode && cfg.promisc_mode {
        return Err(CniError::HairpinAndPromisc);
    }
    if cfg.vlan != 0 || cfg.vlan_trunk {
        return Err(CniError::Unsupported("bridge VLAN filtering".into()));
    }
    if cfg.mac_spoof_chk {
        return Err(CniError::Unsupported("macspoofchk (nftables)".into()));
    }
    let node = state.node;
    let br = ensure_bridge(net, node, cfg)?;
    let (cont, host) = setup_veth(net, node, br, cfg, rt)?;
    let mut result = CniResult::default();
    let mut restore = Restore::default();
    match &cfg.ipam {
        None => net.set_up(cont),
        Some(ipam) => {
            let requested = if plugin.has_capability("ips") {
                rt.ips.as_slice()
            } else {
                &[]
            };
            let store = state.ipam.entry(network.to_string()).or_default();
            let r = host_local::cmd_add(
                ipam,
                store,
                &state.files,
                &rt.container_id,
                &rt.if_name,
                requested,
            )?;
            let layer3 = configure_l3(
                net,
                state,
                network,
                cfg,
                rt,
                br,
                cont,
                r,
                &mut result,
                &mut restore,
            );
            if let Err(e) = layer3 {
                // ipam.ExecDel on failure.
                if let Some(store) = state.ipam.get_mut(network) {
                    host_local::cmd_del(store, &rt.container_id, &rt.if_name);
                }
                return Err(e);
            }
        }
    }
    result.interfaces = vec![
        Interface {
            name: cfg.bridge.clone(),
            mac: mac_string(net, br),
            mtu: None,
            sandbox: String::new(),
        },
        Interface {
            name: net.device(host).name.clone(),
            mac: mac_string(net, host),
            mtu: None,
            sandbox: String::new(),
        },
        Interface {
            name: rt.if_name.clone(),
            mac: mac_string(net, cont),
            mtu: None,
            sandbox: rt.netns_path.clone(),
        },
    ];
    if plugin.dns.is_set() {
        result.dns = plugin.dns.clone();
    }
    Ok((result, restore))
}

#[allow(clippy::too_many_arguments)]
fn configure_l3(
    net: &mut Network,
    state: &mut NodeState,
    network: &str,
    cfg: &BridgeConfig,
    rt: &RuntimeConf,
    br: DeviceId,
    cont: DeviceId,
    r: host_local::IpamResult,
    result: &mut CniResult,
    restore: &mut Restore,
) -> Result<(), CniError> {
    let is_gw = cfg.is_gateway || cfg.is_default_gateway;
    if r.ips.is_empty() {
        return Err(CniError::NoIpConfig);
    }
    result.ips = r.ips;
    result.routes = r.routes;
    result.dns = r.dns;
    // calcGateways
    let mut gws: Vec<Ipv4Net> = Vec::new();
    let mut default_found = false;
    for ipc in &mut result.ips {
        let addr = v4_net(ipc.address)?;
        ipc.interface = Some(2);
        if ipc.gateway.is_none() && is_gw {
            ipc.gateway = Some(crate::ipam::ip::next_ip(IpAddr::V4(addr.network())));
        }
        if cfg.is_default_gateway && !default_found {
            let dflt: IpNet = "0.0.0.0/0".parse().expect("literal");
            default_found = result
                .routes
                .iter()
                .any(|rt| rt.gw.is_some() && rt.dst == dflt);
            if !default_found {
                result.routes.push(Route {
                    dst: dflt,
                    gw: ipc.gateway,
                });
                default_found = true;
            }
        }
        if is_gw && let Some(gw) = ipc.gateway {
            let gw = Ipv4Net::new(v4(gw)?, addr.prefix_len()).expect("prefix from an Ipv4Net");
            gws.push(gw);
        }
    }
    configure_iface(net, rt, cont, &result.ips, &result.routes)?;
    if is_gw {
        for gw in &gws {
            ensure_addr(net, br, *gw, cfg.force_address)?;
        }
        if !gws.is_empty() {
            net.sysctl(state.node, "net.ipv4.ip_forward", "1")?;
        }
    }
    if cfg.ip_masq {
        let chain = format_chain_name(network, &rt.container_id);
        let comment = format_comment(network, &rt.container_id);
        for ipc in &result.ips {
            ipmasq::setup_ip_masq(
                &mut state.nat,
                restore,
                v4_net(ipc.address)?,
                &chain,
                &comment,
            );
        }
    }
    Ok(())
}

/// `ipam.ConfigureIface`: addresses, link up, routes.
fn configure_iface(
    net: &mut Network,
    rt: &RuntimeConf,
    cont: DeviceId,
    ips: &[IpConfig],
    routes: &[Route],
) -> Result<(), CniError> {
    let mut v4gw = None;
    for ipc in ips {
        net.add_addr(cont, &v4_net(ipc.address)?.to_string())?;
        if v4gw.is_none() {
            v4gw = ipc.gateway.map(v4).transpose()?;
        }
    }
    net.set_up(cont);
    for r in routes {
        let dst = v4_net(r.dst)?;
        let gw = match r.gw {
            Some(g) => Some(v4(g)?),
            None => v4gw,
        };
        match net.add_route(rt.netns, SimRoute::unicast(dst, gw, cont)) {
            Ok(()) => {}
            // "we skip over duplicate routes as we assume the first one wins"
            Err(TopologyError::BadRoute { reason, .. }) if reason == "File exists" => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `cmdDel`.
pub fn cmd_del(
    net: &mut Network,
    state: &mut NodeState,
    network: &str,
    cfg: &BridgeConfig,
    rt: &RuntimeConf,
) -> Result<Restore, CniError> {
    let mut restore = Restore::default();
    // DelLinkByNameAddr: the interface's addresses, then the link (down here).
    let mut addrs = Vec::new();
    if let Ok(cont) = net.device_id(rt.netns, &rt.if_name) {
        addrs = net
            .device(cont)
            .addrs
            .iter()
            .filter_map(|a| match a.net {
                IpNet::V4(n) => Some(n),
                IpNet::V6(_) => None,
            })
            .collect();
        let peer = match net.device(cont).kind {
            DeviceKind::Veth { peer } => Some(peer),
            _ => None,
        };
        net.set_down(cont);
        if let Some(p) = peer {
            net.set_down(p);
        }
    }
    if cfg.ipam.is_some()
        && let Some(store) = state.ipam.get_mut(network)
    {
        host_local::cmd_del(store, &rt.container_id, &rt.if_name);
    }
    if cfg.ipam.is_some() && cfg.ip_masq {
        let chain = format_chain_name(network, &rt.container_id);
        let comment = format_comment(network, &rt.container_id);
        for a in addrs {
            ipmasq::teardown_ip_masq(&mut state.nat, &mut restore, a, &chain, &comment);
        }
    }
    Ok(restore)
}
