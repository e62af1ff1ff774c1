//! `KubeletConfiguration` (`kubelet.config.k8s.io/v1beta1`): the fields that shape pod
//! networking and DNS are typed; defaults are those of
//! `pkg/kubelet/apis/config/v1beta1/defaults.go` and are applied by the accessor methods, never
//! written into the struct, so a loaded file round-trips as written. As upstream, a zero
//! duration or count means "default" (kubeadm writes `0s` for every duration it leaves alone).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim_core::SimDuration;

use super::ComponentConfig;

/// The kubelet's config file. `None`/empty means "not set in the file"; the accessors give the
/// upstream default.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeletConfiguration {
    pub api_version: String,
    pub kind: String,
    /// IPs of the cluster DNS server written into pods' resolv.conf (`nameserver`).
    #[serde(default, rename = "clusterDNS", skip_serializing_if = "Vec::is_empty")]
    pub cluster_dns: Vec<String>,
    /// The cluster's DNS domain, added to pods' search path (`cluster.local` in most clusters;
    /// upstream default is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_domain: Option<String>,
    /// The host resolv.conf pods with `dnsPolicy: Default` inherit. Empty disables DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf: Option<String>,
    /// `promiscuous-bridge`, `hairpin-veth` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hairpin_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pods: Option<i32>,
    /// Pod CIDR for standalone mode only; in a cluster it comes from `Node.spec.podCIDR`.
    #[serde(default, rename = "podCIDR", skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthz_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthz_bind_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_frequency: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_status_update_frequency: Option<SimDuration>,
    #[serde(
        default,
        rename = "makeIPTablesUtilChains",
        skip_serializing_if = "Option::is_none"
    )]
    pub make_iptables_util_chains: Option<bool>,
    #[serde(
        default,
        rename = "iptablesMasqueradeBit",
        skip_serializing_if = "Option::is_none"
    )]
    pub iptables_masquerade_bit: Option<i32>,
    #[serde(
        default,
        rename = "iptablesDropBit",
        skip_serializing_if = "Option::is_none"
    )]
    pub iptables_drop_bit: Option<i32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_gates: BTreeMap<String, bool>,
    /// Sysctls pods may set beyond the safe set (`net.*` patterns among them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_unsafe_sysctls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_pod_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_node: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_runtime_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_driver: Option<String>,
    /// Every other upstream field present in the file, as written.
    #[serde(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl KubeletConfiguration {
    pub const API_VERSION: &'static str = "kubelet.config.k8s.io/v1beta1";
    pub const KIND: &'static str = "KubeletConfiguration";

    /// Upstream default: `/etc/resolv.conf`. An explicit empty string disables DNS lookups.
    pub fn resolv_conf(&self) -> &str {
        self.resolv_conf.as_deref().unwrap_or("/etc/resolv.conf")
    }

    /// Upstream default: `""` (no cluster domain).
    pub fn cluster_domain(&self) -> &str {
        self.cluster_domain.as_deref().unwrap_or("")
    }

    /// Upstream default (also for `""`): `promiscuous-bridge`.
    pub fn hairpin_mode(&self) -> &str {
        self.hairpin_mode
            .as_deref()
            .filter(|m| !m.is_empty())
            .unwrap_or("promiscuous-bridge")
    }

    /// Upstream default (also for 0): 110.
    pub fn max_pods(&self) -> i32 {
        self.max_pods.filter(|&n| n != 0).unwrap_or(110)
    }

    /// Upstream default (also for 0): 10250.
    pub fn port(&self) -> i32 {
        self.port.filter(|&n| n != 0).unwrap_or(10250)
    }

    /// Upstream default: 10248 (0 disables the endpoint).
    pub fn healthz_port(&self) -> i32 {
        self.healthz_port.unwrap_or(10248)
    }

    /// Upstream default: 14 (the KUBE-MARK-MASQ bit, `0x4000`).
    pub fn iptables_masquerade_bit(&self) -> i32 {
        self.iptables_masquerade_bit.unwrap_or(14)
    }

    /// Upstream default (also for `0s`, which kubeadm writes): 1 minute.
    pub fn sync_frequency(&self) -> SimDuration {
        self.sync_frequency
            .filter(|d| *d != SimDuration::ZERO)
            .unwrap_or(SimDuration::from_secs(60))
    }

    /// Upstream default (also for `0s`): 10 seconds.
    pub fn node_status_update_frequency(&self) -> SimDuration {
        self.node_status_update_frequency
            .filter(|d| *d != SimDuration::ZERO)
            .unwrap_or(SimDuration::from_secs(10))
    }
}

impl ComponentConfig for KubeletConfiguration {
    const OPAQUE_FIELDS: &'static [&'static str] = &[
        "enableServer",
        "podLogsDir",
        "fileCheckFrequency",
        "httpCheckFrequency",
        "staticPodURL",
        "staticPodURLHeader",
        "tlsCertFile",
        "tlsPrivateKeyFile",
        "tlsCipherSuites",
        "tlsCurvePreferences",
        "tlsMinVersion",
        "rotateCertificates",
        "serverTLSBootstrap",
        "authentication",
        "authorization",
        "registryPullQPS",
        "registryBurst",
        "imagePullCredentialsVerificationPolicy",
        "preloadedImagesVerificationAllowlist",
        "eventRecordQPS",
        "eventBurst",
        "enableDebuggingHandlers",
        "enableContentionProfiling",
        "oomScoreAdj",
        "streamingConnectionIdleTimeout",
        "nodeStatusReportFrequency",
        "nodeLeaseDurationSeconds",
        "imageMinimumGCAge",
        "imageMaximumGCAge",
        "imageGCHighThresholdPercent",
        "imageGCLowThresholdPercent",
        "volumeStatsAggPeriod",
        "kubeletCgroups",
        "systemCgroups",
        "cgroupRoot",
        "cgroupsPerQOS",
        "cpuManagerPolicy",
        "singleProcessOOMKill",
        "cpuManagerPolicyOptions",
        "cpuManagerReconcilePeriod",
        "draManagerReconcilePeriod",
        "memoryManagerPolicy",
        "topologyManagerPolicy",
        "topologyManagerScope",
        "topologyManagerPolicyOptions",
        "qosReserved",
        "runtimeRequestTimeout",
        "podPidsLimit",
        "runOnce",
        "cpuCFSQuota",
        "cpuCFSQuotaPeriod",
        "nodeStatusMaxImages",
        "maxOpenFiles",
        "contentType",
        "kubeAPIQPS",
        "kubeAPIBurst",
        "serializeImagePulls",
        "maxParallelImagePulls",
        "evictionHard",
        "evictionSoft",
        "evictionSoftGracePeriod",
        "evictionPressureTransitionPeriod",
        "evictionMaxPodGracePeriod",
        "evictionMinimumReclaim",
        "mergeDefaultEvictionSettings",
        "podsPerCore",
        "enableControllerAttachDetach",
        "protectKernelDefaults",
        "failSwapOn",
        "memorySwap",
        "containerLogMaxSize",
        "containerLogMaxFiles",
        "containerLogMaxWorkers",
        "containerLogMonitorInterval",
        "configMapAndSecretChangeDetectionStrategy",
        "systemReserved",
        "kubeReserved",
        "reservedSystemCPUs",
        "showHiddenMetricsForVersion",
        "systemReservedCgroup",
        "kubeReservedCgroup",
        "enforceNodeAllocatable",
        "volumePluginDir",
        "providerID",
        "kernelMemcgNotification",
        "logging",
        "enableSystemLogHandler",
        "enableSystemLogQuery",
        "shutdownGracePeriod",
        "shutdownGracePeriodCriticalPods",
        "shutdownGracePeriodByPodPriority",
        "crashLoopBackOff",
        "reservedMemory",
        "enableProfilingHandler",
        "enableDebugFlagsHandler",
        "seccompDefault",
        "memoryThrottlingFactor",
        "memoryReservationPolicy",
        "registerWithTaints",
        "tracing",
        "localStorageCapacityIsolation",
        "imageServiceEndpoint",
        "failCgroupV1",
        "userNamespaces",
    ];

    fn set_other(&mut self, other: BTreeMap<String, serde_json::Value>) {
        self.other = other;
    }
}
