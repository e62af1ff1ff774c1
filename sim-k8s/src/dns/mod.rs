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
//!
//! ## How the pieces fit
//!
//! The integrator builds a [`DnsView`] from the [`crate::Store`] (as the DNS's informers see
//! it: with the watch lag, plus [`flavour::Flavour::extra_watch_lag`] for v1), a
//! [`DnsServer`] from a Corefile (or a [`flavour::Flavour`]), and calls
//! [`DnsServer::handle`] with each UDP payload or TCP message that reaches the kube-dns pod.
//! An [`Outcome::Forward`] is a query to send upstream; its reply (or a timeout) goes back
//! through [`DnsServer::resume`]. Pods resolve with [`resolver::Lookup`], fed by the
//! `resolv.conf` and `/etc/hosts` kubelet wrote for them.
//!
//! ## Modelled, simplified, left out
//!
//! Modelled after CoreDNS 1.12 and glibc 2.36: the specification's records and CoreDNS's
//! NXDOMAIN/NODATA choices, SOA, TTLs, case echoing, `pods`, `namespaces`, `fallthrough`,
//! `endpoint_pod_names` ([`kubernetes`]); the Corefile syntax and plugin options
//! ([`corefile`]); `cache`, `hosts`, `rewrite name`, `forward`, `errors`, `log`; FORMERR,
//! NOTIMP, REFUSED, EDNS0, UDP truncation ([`server`]); glibc's search, retry and failover
//! ([`resolver`]). Left out (each module says more): AXFR, wildcards,
//! multicluster; regex rewrites; DNSSEC; forward health checks and random upstream choice;
//! the cache's prefetch and serve_stale; getaddrinfo's parallel A+AAAA.

pub mod cache;
pub mod corefile;
pub mod flavour;
pub mod forward;
pub mod hosts;
pub mod kubernetes;
pub mod reply;
pub mod resolver;
pub mod rewrite;
pub mod server;
pub mod view;

pub use kubernetes::{KubernetesConfig, KubernetesOutcome, PodMode};
pub use reply::Reply;
pub use server::{DnsServer, Outcome, Transport};
pub use view::DnsView;
