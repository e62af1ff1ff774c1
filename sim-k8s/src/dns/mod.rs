//! # Cluster DNS
//!
//! A sans-IO DNS engine for the simulated cluster: the records of the Kubernetes DNS-Based
//! Service Discovery specification (schema 1.1.0) served the way CoreDNS's `kubernetes`
//! plugin serves them, behind a CoreDNS-style plugin chain configured by a Corefile.
//! Wire format by hickory-proto.
//!
//! | module | holds |
//! | --- | --- |
//! | [`view`] | [`DnsView`]: the Services, endpoints, Pods and Namespaces the engine reads, built from the [`crate::Store`] |
//! | [`kubernetes`] | the `kubernetes` plugin: records, NXDOMAIN/NODATA, SOA |
//! | [`reply`] | [`Reply`]: one plugin's sections and flags |
//! | [`corefile`] | the Corefile parser, the kubeadm default Corefile, plugin setup |
//! | [`cache`], [`hosts`], [`rewrite`], [`forward`] | the other plugins |
//! | [`resolver`] | glibc's stub resolver as a state machine: resolv.conf, `/etc/hosts`, search/ndots, attempts × nameservers |
//! | [`flavour`] | [`flavour::Flavour`]: v1 skydns, v2 kube-dns + dnsmasq, v3 CoreDNS as engine configurations and lags |
//! | [`server`] | [`DnsServer`]: sans-IO `handle(now, view, transport, bytes)` → reply / forward / drop; `resume` with the upstream's reply |

pub mod kubernetes;
pub mod reply;
pub mod view;

pub use kubernetes::{KubernetesConfig, KubernetesOutcome, PodMode};
pub use reply::Reply;
pub use server::{DnsServer, Outcome, Transport};
pub use view::DnsView;
pub mod cache;
pub mod corefile;
pub mod flavour;
pub mod forward;
pub mod hosts;
pub mod resolver;
pub mod rewrite;
pub mod server;
