//! # kubelet — the files and namespaces kubelet prepares for a pod
//!
//! | module | holds | upstream |
//! | --- | --- | --- |
//! | [`hostname`] | a pod's hostname and domain (`hostname`, `subdomain`, `hostnameOverride`) | `pkg/kubelet/kubelet_pods.go` `GeneratePodHostNameAndDomain` |
//! | [`hosts`] | the pod's `/etc/hosts`, byte for byte | `kubelet_pods.go` `managedHostsFileContent`, `nodeHostsFileContent`, `hostsEntriesFromHostAliases` |
//! | [`resolv_conf`] | kubelet's parser for the node's `resolv.conf` | `pkg/kubelet/network/dns/dns.go` `parseResolvConf` |
//! | [`dns`] | the pod's DNS config per `dnsPolicy` and `dnsConfig`, its limits, and the `resolv.conf` the runtime writes from it | `dns.go` `GetPodDNS`; containerd/CRI-O `parseDNSOptions` |
//! | [`iptables`] | the chains and the localnet guard kubelet installs on its node | `pkg/kubelet/kubelet_network_linux.go` `syncIPTablesRules` |
//! | [`sandbox`] | the pod sandbox: the one network namespace all of a pod's containers share | CRI `RunPodSandbox` |
//! | [`error`] | [`KubeletError`] | |
//!
//! Modelled on Kubernetes 1.35 (the workspace's single API version). Inputs are plain:
//! `k8s_openapi` [`Pod`](k8s_openapi::api::core::v1::Pod)s, strings for the node's own
//! `/etc/hosts` and `resolv.conf`, addresses. Nothing here reads a file or a clock.
//!
//! Not modelled: Windows pods (no hosts file for host-process containers), the
//! `setHostnameAsFQDN` effect on the UTS hostname (it does not change `/etc/hosts`), and
//! kubelet's events beyond the DNS warnings (those are returned as [`dns::DnsEvent`]s).

pub mod dns;
pub mod error;
pub mod hostname;
pub mod hosts;
pub mod iptables;
pub mod resolv_conf;
pub mod sandbox;

pub use dns::{Configurer, DnsConfig, DnsEvent, DnsPolicy, PodDns};
pub use error::KubeletError;
pub use hostname::pod_hostname_and_domain;
pub use hosts::pod_etc_hosts;
pub use resolv_conf::{ResolvConf, parse_resolv_conf};
pub use sandbox::PodSandbox;
