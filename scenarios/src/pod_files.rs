//! A pod's `/etc/hosts` and `/etc/resolv.conf` as its kubelet writes them, for
//! `kube-netsim files` and the scenario runner's `expect: {file: ...}`.
//!
//! The node's own files (what the kubelet copies or reads) are the simulator's fixed ones:
//! [`NODE_HOSTS`] and [`NODE_RESOLV_CONF`] (the cloud router is the node's resolver).

use k8s_openapi::api::core::v1::Pod;
use sim_k8s::kubelet::{Configurer, hosts::pod_etc_hosts};

/// The node's `/etc/hosts`.
pub const NODE_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
/// The node's `/etc/resolv.conf` (what `--resolv-conf` points at).
pub const NODE_RESOLV_CONF: &str = "nameserver 172.18.0.1\noptions ndots:0\n";
/// kubelet's `clusterDomain` where no KubeletConfiguration says otherwise.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
/// kubelet's `clusterDNS` where no KubeletConfiguration says otherwise (kubeadm's .10).
pub const DEFAULT_CLUSTER_DNS: &str = "10.96.0.10";

/// Which file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodFile {
    Hosts,
    ResolvConf,
}

impl PodFile {
    pub fn path(self) -> &'static str {
        match self {
            PodFile::Hosts => "/etc/hosts",
            PodFile::ResolvConf => "/etc/resolv.conf",
        }
    }

    /// `/etc/hosts` or `/etc/resolv.conf`.
    pub fn from_path(path: &str) -> Option<PodFile> {
        [PodFile::Hosts, PodFile::ResolvConf]
            .into_iter()
            .find(|f| f.path() == path)
    }
}

/// The kubelet's settings that shape the files.
#[derive(Debug, Clone)]
pub struct KubeletView {
    pub cluster_domain: String,
    pub cluster_dns: Vec<String>,
}

impl Default for KubeletView {
    fn default() -> Self {
        KubeletView {
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.into(),
            cluster_dns: vec![DEFAULT_CLUSTER_DNS.into()],
        }
    }
}

/// The file's bytes, or why the kubelet writes none.
pub fn pod_file(pod: &Pod, which: PodFile, kubelet: &KubeletView) -> Result<String, String> {
    let name = format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or_default()
    );
    match which {
        PodFile::Hosts => {
            let ips: Vec<String> = pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ips.as_ref())
                .map(|v| v.iter().map(|p| p.ip.clone()).collect())
                .unwrap_or_default();
            match pod_etc_hosts(pod, &ips, &kubelet.cluster_domain, NODE_HOSTS, false) {
                Ok(Some(t)) => Ok(t),
                Ok(None) => Err(format!("pod {name} gets no managed /etc/hosts")),
                Err(e) => Err(e.to_string()),
            }
        }
        PodFile::ResolvConf => {
            let conf = Configurer {
                cluster_dns: kubelet
                    .cluster_dns
                    .iter()
                    .filter_map(|s| s.parse().ok())
                    .collect(),
                cluster_domain: kubelet.cluster_domain.clone(),
                resolver_config: Some(NODE_RESOLV_CONF.into()),
                node_ips: Vec::new(),
            };
            conf.pod_resolv_conf(pod)
                .map(|(t, _)| t)
                .map_err(|e| e.to_string())
        }
    }
}
