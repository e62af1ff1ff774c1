//! The `loopback` plugin (`plugins/main/loopback/loopback.go`): brings `lo` up in the pod's
//! namespace (always `lo`, whatever `CNI_IFNAME` says) and reports its first IPv4 and IPv6
//! addresses, or passes a previous result through unchanged. DEL takes `lo` down.

use std::net::IpAddr;

use sim_net::Network;

use super::error::CniError;
use super::libcni::RuntimeConf;
use super::result::{CniResult, Interface, IpConfig};

/// `cmdAdd`.
pub fn cmd_add(
    net: &mut Network,
    rt: &RuntimeConf,
    prev: Option<CniResult>,
) -> Result<CniResult, CniError> {
    let lo = net.device_id(rt.netns, "lo")?;
    net.set_up(lo);
    let addrs = net.device(lo).addrs.clone();
    if let Some(a) = addrs.iter().find(|a| !a.addr().is_loopback()) {
        return Err(CniError::Unsupported(format!(
            "loopback interface found with non-loopback address \"{}\"",
            a.addr()
        )));
    }
    if let Some(prev) = prev {
        return Ok(prev);
    }
    let first = |v4: bool| {
        addrs
            .iter()
            .find(|a| matches!(a.addr(), IpAddr::V4(_)) == v4)
    };
    let ips = [first(true), first(false)]
        .into_iter()
        .flatten()
        .map(|a| IpConfig {
            interface: Some(0),
            address: a.net,
            gateway: None,
        })
        .collect();
    Ok(CniResult {
        interfaces: vec![Interface {
            name: "lo".into(),
            mac: "00:00:00:00:00:00".into(),
            mtu: None,
            sandbox: rt.netns_path.clone(),
        }],
        ips,
        ..Default::default()
    })
}

/// `cmdDel`.
pub fn cmd_del(net: &mut Network, rt: &RuntimeConf) -> Result<(), CniError> {
    let lo = net.device_id(rt.netns, "lo")?;
    net.set_down(lo);
    Ok(())
}
