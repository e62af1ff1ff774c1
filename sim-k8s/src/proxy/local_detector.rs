//! How kube-proxy tells traffic from this cluster's pods from other traffic
//! (`LocalTrafficDetector` in `pkg/proxy/util/localdetector.go`, chosen by `detectLocalMode`).
//!
//! | mode | local | not local |
//! | --- | --- | --- |
//! | `ClusterCIDR` | `-s CLUSTER_CIDR` | `! -s CLUSTER_CIDR` |
//! | `NodeCIDR` | `-s NODE_POD_CIDR` | `! -s NODE_POD_CIDR` |
//! | `BridgeInterface` | `-i BRIDGE` | `! -i BRIDGE` |
//! | `InterfaceNamePrefix` | `-i PREFIX+` | `! -i PREFIX+` |
//!
//! With `ClusterCIDR` and no `clusterCIDR` configured (or `NodeCIDR` without a podCIDR) the
//! detector is a no-op: upstream then writes no "not local" masquerade rule and no
//! pod short-circuit in `KUBE-EXT-` chains.

use std::fmt::Write as _;

use ipnet::Ipv4Net;

use crate::config::kube_proxy_configuration::{DetectLocalMode, KubeProxyConfiguration};

/// A configured detector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalDetector {
    /// Not implemented (no rules use it).
    NoOp,
    /// By source CIDR.
    Cidr(Ipv4Net),
    /// By input interface (`BridgeInterface`).
    Interface(String),
    /// By input interface name prefix (`InterfaceNamePrefix`), written `PREFIX+`.
    InterfacePrefix(String),
}

impl LocalDetector {
    /// The detector `cfg` selects on a node whose podCIDR is `node_cidr`.
    pub fn from_config(cfg: &KubeProxyConfiguration, node_cidr: Option<Ipv4Net>) -> Self {
        match cfg.detect_local_mode() {
            DetectLocalMode::NodeCIDR => node_cidr.map_or(LocalDetector::NoOp, LocalDetector::Cidr),
            DetectLocalMode::BridgeInterface if !cfg.detect_local.bridge_interface.is_empty() => {
                LocalDetector::Interface(cfg.detect_local.bridge_interface.clone())
            }
            DetectLocalMode::InterfaceNamePrefix
                if !cfg.detect_local.interface_name_prefix.is_empty() =>
            {
                LocalDetector::InterfacePrefix(cfg.detect_local.interface_name_prefix.clone())
            }
            DetectLocalMode::BridgeInterface | DetectLocalMode::InterfaceNamePrefix => {
                LocalDetector::NoOp
            }
            // The first IPv4 CIDR of the comma-separated list.
            _ => cfg
                .cluster_cidr
                .split(',')
                .find_map(|c| c.trim().parse::<Ipv4Net>().ok())
                .map_or(LocalDetector::NoOp, LocalDetector::Cidr),
        }
    }

    /// `IsImplemented`.
    pub fn is_implemented(&self) -> bool {
        *self != LocalDetector::NoOp
    }

    /// `IfLocal`: the match arguments for pod-originated traffic.
    pub fn if_local(&self) -> String {
        let mut out = String::new();
        self.push_if_local(&mut out);
        out
    }

    /// [`LocalDetector::if_local`], appended.
    pub fn push_if_local(&self, out: &mut String) {
        match self {
            LocalDetector::NoOp => {}
            LocalDetector::Cidr(c) => {
                out.push_str("-s ");
                let _ = write!(out, "{c}");
            }
            LocalDetector::Interface(i) => {
                out.push_str("-i ");
                out.push_str(i);
            }
            LocalDetector::InterfacePrefix(p) => {
                out.push_str("-i ");
                out.push_str(p);
                out.push('+');
            }
        }
    }

    /// `IfNotLocal`, appended: `! ` and [`LocalDetector::if_local`]'s match (nothing for a
    /// no-op detector).
    pub fn push_if_not_local(&self, out: &mut String) {
        if self.is_implemented() {
            out.push_str("! ");
            self.push_if_local(out);
        }
    }
}
