//! `KubeProxyConfiguration` (`kubeproxy.config.k8s.io/v1alpha1`). Defaults are those of
//! `pkg/proxy/apis/config/v1alpha1/defaults.go` (`SetDefaults_KubeProxyConfiguration`), given
//! by accessor methods so a loaded file round-trips as written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim_core::SimDuration;

use super::ComponentConfig;

/// The proxy mode (`mode:`). Empty means the platform default, `iptables` on Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum ProxyMode {
    #[default]
    #[serde(rename = "")]
    Default,
    #[serde(rename = "iptables")]
    Iptables,
    #[serde(rename = "ipvs")]
    Ipvs,
    #[serde(rename = "nftables")]
    Nftables,
    /// Windows' HNS mode; accepted so Windows configs load, not modelled.
    #[serde(rename = "kernelspace")]
    Kernelspace,
    /// Removed upstream in 1.26; accepted because the simulator models it for history.
    #[serde(rename = "userspace")]
    Userspace,
}

impl ProxyMode {
    /// The mode kube-proxy on Linux actually runs: `Default` is `iptables`.
    pub fn effective(self) -> ProxyMode {
        match self {
            ProxyMode::Default => ProxyMode::Iptables,
            m => m,
        }
    }
}

/// How kube-proxy tells pod traffic from other traffic (`detectLocalMode:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum DetectLocalMode {
    /// Unset: upstream treats it as `ClusterCIDR`.
    #[default]
    #[serde(rename = "")]
    Default,
    ClusterCIDR,
    NodeCIDR,
    BridgeInterface,
    InterfaceNamePrefix,
}

/// `iptables:` settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IptablesConfiguration {
    #[serde(default)]
    pub masquerade_bit: Option<i32>,
    #[serde(default)]
    pub masquerade_all: bool,
    #[serde(default)]
    pub localhost_node_ports: Option<bool>,
    #[serde(default, rename = "snatNodeInternalIP")]
    pub snat_node_internal_ip: Option<bool>,
    #[serde(default)]
    pub sync_period: Option<SimDuration>,
    #[serde(default)]
    pub min_sync_period: Option<SimDuration>,
}

/// `ipvs:` settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpvsConfiguration {
    #[serde(default)]
    pub sync_period: Option<SimDuration>,
    #[serde(default)]
    pub min_sync_period: Option<SimDuration>,
    /// `rr` when empty.
    #[serde(default)]
    pub scheduler: String,
    #[serde(default, rename = "excludeCIDRs")]
    pub exclude_cidrs: Option<Vec<String>>,
    #[serde(default, rename = "strictARP")]
    pub strict_arp: bool,
    #[serde(default)]
    pub tcp_timeout: Option<SimDuration>,
    #[serde(default)]
    pub tcp_fin_timeout: Option<SimDuration>,
    #[serde(default)]
    pub udp_timeout: Option<SimDuration>,
}

/// `nftables:` settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NftablesConfiguration {
    #[serde(default)]
    pub masquerade_bit: Option<i32>,
    #[serde(default)]
    pub masquerade_all: bool,
    #[serde(default)]
    pub sync_period: Option<SimDuration>,
    #[serde(default)]
    pub min_sync_period: Option<SimDuration>,
}

/// `conntrack:` settings (the sysctls kube-proxy writes at start).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConntrackConfiguration {
    #[serde(default)]
    pub max_per_core: Option<i32>,
    #[serde(default)]
    pub min: Option<i32>,
    #[serde(default)]
    pub tcp_established_timeout: Option<SimDuration>,
    #[serde(default)]
    pub tcp_close_wait_timeout: Option<SimDuration>,
    #[serde(default)]
    pub tcp_be_liberal: bool,
    #[serde(default)]
    pub udp_timeout: Option<SimDuration>,
    #[serde(default)]
    pub udp_stream_timeout: Option<SimDuration>,
}

/// `detectLocal:` settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DetectLocalConfiguration {
    #[serde(default)]
    pub bridge_interface: String,
    #[serde(default)]
    pub interface_name_prefix: String,
}

/// kube-proxy's config file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeProxyConfiguration {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub feature_gates: BTreeMap<String, bool>,
    #[serde(default)]
    pub hostname_override: String,
    #[serde(default)]
    pub bind_address: String,
    #[serde(default)]
    pub healthz_bind_address: String,
    #[serde(default)]
    pub metrics_bind_address: String,
    #[serde(default)]
    pub bind_address_hard_fail: bool,
    #[serde(default)]
    pub enable_profiling: bool,
    #[serde(default)]
    pub show_hidden_metrics_for_version: String,
    #[serde(default)]
    pub mode: ProxyMode,
    #[serde(default)]
    pub iptables: IptablesConfiguration,
    #[serde(default)]
    pub ipvs: IpvsConfiguration,
    #[serde(default)]
    pub nftables: NftablesConfiguration,
    #[serde(default)]
    pub detect_local_mode: DetectLocalMode,
    #[serde(default)]
    pub detect_local: DetectLocalConfiguration,
    /// Pod CIDR(s), comma-separated for dual stack.
    #[serde(default, rename = "clusterCIDR")]
    pub cluster_cidr: String,
    #[serde(default)]
    pub node_port_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub oom_score_adj: Option<i32>,
    #[serde(default)]
    pub conntrack: ConntrackConfiguration,
    #[serde(default)]
    pub config_sync_period: Option<SimDuration>,
    /// Used only by the userspace proxy; kept for old files.
    #[serde(default)]
    pub port_range: String,
    /// Used only by the userspace proxy (removed in 1.26); kept for old files.
    #[serde(default)]
    pub udp_idle_timeout: Option<SimDuration>,
    #[serde(default)]
    pub windows_run_as_service: bool,
    /// `clientConnection`, `logging`, `winkernel` as written.
    #[serde(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl KubeProxyConfiguration {
    pub const API_VERSION: &'static str = "kubeproxy.config.k8s.io/v1alpha1";
    pub const KIND: &'static str = "KubeProxyConfiguration";

    /// Default 14: the KUBE-MARK-MASQ mark is `0x4000`.
    pub fn iptables_masquerade_bit(&self) -> i32 {
        self.iptables.masquerade_bit.unwrap_or(14)
    }
    /// Default 30 s.
    pub fn iptables_sync_period(&self) -> SimDuration {
        self.iptables
            .sync_period
            .filter(|d| *d != SimDuration::ZERO)
            .unwrap_or(SimDuration::from_secs(30))
    }
    /// Default 1 s.
    pub fn iptables_min_sync_period(&self) -> SimDuration {
        self.iptables
            .min_sync_period
            .filter(|d| *d != SimDuration::ZERO)
            .unwrap_or(SimDuration::from_secs(1))
    }
    /// Default 30 s.
    pub fn ipvs_sync_period(&self) -> SimDuration {
        self.ipvs
            .sync_period
            .filter(|d| *d != SimDuration::ZERO)
            .unwrap_or(SimDuration::from_secs(30))
    }
    /// Default `rr`.
    pub fn ipvs_scheduler(&self) -> &str {
        if self.ipvs.scheduler.is_empty() {
            "rr"
        } else {
            &self.ipvs.scheduler
        }
    }
    /// Default 32768 (`32 * 1024`).
    pub fn conntrack_max_per_core(&self) -> i32 {
        self.conntrack.max_per_core.unwrap_or(32 * 1024)
    }
    /// Default 131072 (`128 * 1024`).
    pub fn conntrack_min(&self) -> i32 {
        self.conntrack.min.unwrap_or(128 * 1024)
    }
    /// Default 24 h (a fifth of the kernel's 5 days).
    pub fn conntrack_tcp_established_timeout(&self) -> SimDuration {
        self.conntrack
            .tcp_established_timeout
            .unwrap_or(SimDuration::from_secs(24 * 3600))
    }
    /// Default 1 h (kubernetes/kubernetes#32551).
    pub fn conntrack_tcp_close_wait_timeout(&self) -> SimDuration {
        self.conntrack
            .tcp_close_wait_timeout
            .unwrap_or(SimDuration::from_secs(3600))
    }
    /// Default 15 min.
    pub fn config_sync_period(&self) -> SimDuration {
        self.config_sync_period
            .filter(|d| *d != SimDuration::ZERO)
            .unwrap_or(SimDuration::from_secs(15 * 60))
    }
    /// Default `0.0.0.0` (which also picks IPv4 defaults for the two servers below).
    pub fn bind_address(&self) -> &str {
        if self.bind_address.is_empty() {
            "0.0.0.0"
        } else {
            &self.bind_address
        }
    }
    /// Default `0.0.0.0:10256` (`[::]:10256` for an IPv6 bind address).
    pub fn healthz_bind_address(&self) -> String {
        if !self.healthz_bind_address.is_empty() {
            return self.healthz_bind_address.clone();
        }
        if self.bind_address().contains(':') {
            "[::]:10256".to_owned()
        } else {
            "0.0.0.0:10256".to_owned()
        }
    }
    /// Default `127.0.0.1:10249` (`[::1]:10249` for an IPv6 bind address).
    pub fn metrics_bind_address(&self) -> String {
        if !self.metrics_bind_address.is_empty() {
            return self.metrics_bind_address.clone();
        }
        if self.bind_address().contains(':') {
            "[::1]:10249".to_owned()
        } else {
            "127.0.0.1:10249".to_owned()
        }
    }
    /// Default -999 (`qos.KubeProxyOOMScoreAdj`).
    pub fn oom_score_adj(&self) -> i32 {
        self.oom_score_adj.unwrap_or(-999)
    }
    /// `ClusterCIDR` when unset.
    pub fn detect_local_mode(&self) -> DetectLocalMode {
        match self.detect_local_mode {
            DetectLocalMode::Default => DetectLocalMode::ClusterCIDR,
            m => m,
        }
    }
}

impl ComponentConfig for KubeProxyConfiguration {
    const OPAQUE_FIELDS: &'static [&'static str] = &["clientConnection", "logging", "winkernel"];

    fn set_other(&mut self, other: BTreeMap<String, serde_json::Value>) {
        self.other = other;
    }
}
