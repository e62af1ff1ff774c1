//! What libcni does with a network config list (`libcni/api.go` `AddNetworkList`,
//! `DelNetworkList`): run each plugin in order for ADD — passing the previous plugin's result
//! and, for each capability a plugin declares, the matching runtime config (`portMappings`,
//! `ips`) — and in reverse order for DEL, with the cached ADD result.

use std::net::IpAddr;

use sim_net::{NetNsId, Network};

use super::bridge;
use super::config::{NetworkConfigList, Plugin};
use super::error::CniError;
use super::iptables::Restore;
use super::loopback;
use super::node_state::NodeState;
use super::portmap::{self, PortMapping};
use super::result::CniResult;

/// libcni's `RuntimeConf`: the container and the capability arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConf {
    /// `CNI_CONTAINERID` (the sandbox ID).
    pub container_id: String,
    /// The sandbox's namespace.
    pub netns: NetNsId,
    /// `CNI_NETNS`.
    pub netns_path: String,
    /// `CNI_IFNAME`, normally `eth0`.
    pub if_name: String,
    /// Capability `portMappings`.
    pub port_mappings: Vec<PortMapping>,
    /// Capability `ips`: requested addresses.
    pub ips: Vec<IpAddr>,
}

impl RuntimeConf {
    pub fn new(container_id: &str, netns: NetNsId, netns_path: &str, if_name: &str) -> Self {
        RuntimeConf {
            container_id: container_id.to_string(),
            netns,
            netns_path: netns_path.to_string(),
            if_name: if_name.to_string(),
            port_mappings: Vec::new(),
            ips: Vec::new(),
        }
    }
}

/// The result of ADD, and the nat changes the plugins made as `iptables-restore` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOutcome {
    pub result: CniResult,
    pub iptables_restore: String,
}

/// `AddNetworkList`.
pub fn add_network_list(
    net: &mut Network,
    state: &mut NodeState,
    list: &NetworkConfigList,
    rt: &RuntimeConf,
) -> Result<AddOutcome, CniError> {
    let mut prev: Option<CniResult> = None;
    let mut restore = Restore::default();
    for p in &list.plugins {
        let name = p.plugin.type_name();
        let wrap = |e: CniError| e.in_plugin(&list.name, name);
        let result = match &p.plugin {
            Plugin::Loopback => loopback::cmd_add(net, rt, prev.take()).map_err(wrap)?,
            Plugin::Bridge(cfg) => {
                let (r, text) =
                    bridge::cmd_add(net, state, &list.name, p, cfg, rt).map_err(wrap)?;
                restore.extend(text);
                r
            }
            Plugin::Portmap(cfg) => {
                let prev = prev.take().ok_or_else(|| wrap(CniError::NotChained))?;
                let maps: &[PortMapping] = if p.has_capability("portMappings") {
                    &rt.port_mappings
                } else {
                    &[]
                };
                if let (false, Some(ipn)) = (maps.is_empty(), prev.container_ipv4(&rt.if_name)) {
                    portmap::forward_ports(
                        &mut state.nat,
                        &mut restore,
                        cfg,
                        &list.name,
                        &rt.container_id,
                        ipn,
                        maps,
                    );
                }
                prev
            }
            Plugin::Bandwidth(cfg) => {
                let prev = prev.take().ok_or_else(|| wrap(CniError::NotChained))?;
                if cfg.shapes() {
                    return Err(wrap(CniError::Unsupported(
                        "traffic shaping (tbf, ifb)".into(),
                    )));
                }
                prev
            }
        };
        prev = Some(result);
    }
    let result = prev.unwrap_or_default();
    state.results.insert(
        (
            list.name.clone(),
            rt.container_id.clone(),
            rt.if_name.clone(),
        ),
        result.clone(),
    );
    Ok(AddOutcome {
        result,
        iptables_restore: restore.render(),
    })
}

/// `DelNetworkList`: the plugins in reverse; returns the nat changes as restore text.
pub fn del_network_list(
    net: &mut Network,
    state: &mut NodeState,
    list: &NetworkConfigList,
    rt: &RuntimeConf,
) -> Result<String, CniError> {
    let mut restore = Restore::default();
    for p in list.plugins.iter().rev() {
        let name = p.plugin.type_name();
        let wrap = |e: CniError| e.in_plugin(&list.name, name);
        match &p.plugin {
            Plugin::Loopback => loopback::cmd_del(net, rt).map_err(wrap)?,
            Plugin::Bridge(cfg) => {
                restore.extend(bridge::cmd_del(net, state, &list.name, cfg, rt).map_err(wrap)?);
            }
            Plugin::Portmap(_) => {
                if p.has_capability("portMappings") && !rt.port_mappings.is_empty() {
                    portmap::unforward_ports(
                        &mut state.nat,
                        &mut restore,
                        &list.name,
                        &rt.container_id,
                    );
                }
            }
            Plugin::Bandwidth(_) => {}
        }
    }
    state.results.remove(&(
        list.name.clone(),
        rt.container_id.clone(),
        rt.if_name.clone(),
    ));
    Ok(restore.render())
}
