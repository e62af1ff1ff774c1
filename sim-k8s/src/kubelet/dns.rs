//! The pod's DNS settings and the `resolv.conf` written from them
//! (`pkg/kubelet/network/dns/dns.go` `GetPodDNS` and helpers; the file itself is written by
//! the container runtime from the CRI `DNSConfig`, in the format of containerd's and
//! CRI-O's `parseDNSOptions`: a `search` line, one `nameserver` line per server, an
//! `options` line — each only if non-empty).
//!
//! Per `dnsPolicy` (unset means `ClusterFirst`, the API default):
//! - `ClusterFirst` (pod network) and `ClusterFirstWithHostNet`: the cluster DNS servers,
//!   search `<ns>.svc.<domain> svc.<domain> <domain>` then the node's search domains
//!   (duplicates dropped; just the node's when the cluster domain is empty), and options
//!   `ndots:5` only. Without cluster DNS servers kubelet warns (`MissingClusterDNS`) and
//!   falls back to `Default`.
//! - `ClusterFirst` on a `hostNetwork` pod, and `Default`: the node's file as kubelet parsed
//!   it; with `--resolv-conf=""` (no file) `nameserver 127.0.0.1` (`::1` per IPv6 node IP)
//!   and `search .`.
//! - `None`: nothing but `dnsConfig`.
//! - An unknown policy falls back to `ClusterFirst` (kubelet logs an error).
//!
//! `dnsConfig` is then merged: nameservers and searches appended with duplicates dropped,
//! options merged by name with the pod's value winning. Finally the limits: at most 3
//! nameservers (`MaxDNSNameservers`); search domains cut to 32 (`MaxDNSSearchPaths`), domains
//! longer than 253 characters dropped (glibc 2.28 aborts on them), and domains removed from
//! the end until the search line is at most 2048 characters (`MaxDNSSearchListChars`) — each
//! cut recorded as a `DNSConfigForming` warning event.
//!
//! Deliberate difference: upstream merges options through a Go map, so their order varies
//! from run to run; here merged options keep the order in which each name first appears.
//! An empty config makes the runtime copy the host's `/etc/resolv.conf`; this model takes
//! the node's `--resolv-conf` file to be that file.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, PodDNSConfig};

use super::error::KubeletError;
use super::resolv_conf::parse_resolv_conf;

/// `MaxDNSNameservers` (glibc `MAXNS`).
pub const MAX_DNS_NAMESERVERS: usize = 3;
/// `MaxDNSSearchPaths` (the expanded limit, GA since ExpandedDNSConfig).
pub const MAX_DNS_SEARCH_PATHS: usize = 32;
/// `MaxDNSSearchListChars`.
pub const MAX_DNS_SEARCH_LIST_CHARS: usize = 2048;
/// `DNS1123SubdomainMaxLength`: longer search domains are dropped.
pub const MAX_SEARCH_DOMAIN_CHARS: usize = 253;
/// `defaultDNSOptions`.
pub const DEFAULT_DNS_OPTIONS: &[&str] = &["ndots:5"];

/// `spec.dnsPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsPolicy {
    ClusterFirst,
    ClusterFirstWithHostNet,
    Default,
    None,
    /// A value the API server should have refused; kubelet treats it as `ClusterFirst`.
    Unknown(String),
}

impl DnsPolicy {
    /// The pod's policy; unset is `ClusterFirst`, the API default.
    pub fn of(pod: &Pod) -> DnsPolicy {
        match pod.spec.as_ref().and_then(|s| s.dns_policy.as_deref()) {
            None | Some("ClusterFirst") => DnsPolicy::ClusterFirst,
            Some("ClusterFirstWithHostNet") => DnsPolicy::ClusterFirstWithHostNet,
            Some("Default") => DnsPolicy::Default,
            Some("None") => DnsPolicy::None,
            Some(other) => DnsPolicy::Unknown(other.to_string()),
        }
    }
}

/// The CRI `DNSConfig`: what the runtime writes into the pod's `resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl DnsConfig {
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.searches.is_empty() && self.options.is_empty()
    }

    /// The file as containerd and CRI-O write it; empty for an empty config (the runtime
    /// then copies the host's file instead, see [`Configurer::pod_resolv_conf`]).
    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.searches.is_empty() {
            s.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.servers {
            s.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            s.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        s
    }
}

/// What a warning event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventObject {
    Pod,
    Node,
}

/// A `Warning` event kubelet records while forming a pod's DNS config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEvent {
    pub object: EventObject,
    /// `DNSConfigForming` or `MissingClusterDNS`.
    pub reason: &'static str,
    pub message: String,
}

/// The pod's DNS config and the warnings forming it raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDns {
    pub config: DnsConfig,
    pub events: Vec<DnsEvent>,
}

/// kubelet's DNS settings (`dns.Configurer`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configurer {
    /// `--cluster-dns`.
    pub cluster_dns: Vec<IpAddr>,
    /// `--cluster-domain` (e.g. `cluster.local`); may be empty.
    pub cluster_domain: String,
    /// The content of the `--resolv-conf` file; `None` models `--resolv-conf=""`.
    pub resolver_config: Option<String>,
    /// The node's IPs (used only without a resolver config).
    pub node_ips: Vec<IpAddr>,
}

fn omit_duplicates(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// `mergeDNSOptions`, keeping first-appearance order (see the module docs).
fn merge_options(existing: &[String], pod: &PodDNSConfig) -> Vec<String> {
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut set = |name: String, value: String| match merged.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => merged.push((name, value)),
    };
    for op in existing {
        match op.split_once(':') {
            Some((n, v)) => set(n.to_string(), v.to_string()),
            None => set(op.clone(), String::new()),
        }
    }
    for op in pod.options.as_deref().unwrap_or_default() {
        // The API server requires a name; a nameless option is skipped.
        let Some(name) = op.name.clone() else {
            continue;
        };
        set(name, op.value.clone().unwrap_or_default());
    }
    merged
        .into_iter()
        .map(|(n, v)| if v.is_empty() { n } else { format!("{n}:{v}") })
        .collect()
}

/// Pod `name_namespace(uid)`, kubelet's `format.Pod`.
fn format_pod(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    )
}

impl Configurer {
    fn cluster_searches(&self, host: Vec<String>, namespace: &str) -> Vec<String> {
        if self.cluster_domain.is_empty() {
            return host;
        }
        let d = &self.cluster_domain;
        omit_duplicates(
            [
                format!("{namespace}.svc.{d}"),
                format!("svc.{d}"),
                d.clone(),
            ]
            .into_iter()
            .chain(host),
        )
    }

    fn fit_searches(searches: Vec<String>, events: &mut Vec<DnsEvent>) -> Vec<String> {
        let mut exceeded = false;
        let mut s = searches;
        if s.len() > MAX_DNS_SEARCH_PATHS {
            s.truncate(MAX_DNS_SEARCH_PATHS);
            exceeded = true;
        }
        let before = s.len();
        s.retain(|d| d.len() <= MAX_SEARCH_DOMAIN_CHARS);
        exceeded |= s.len() != before;
        let line_len =
            |s: &[String]| s.iter().map(String::len).sum::<usize>() + s.len().saturating_sub(1);
        let total = line_len(&s);
        if total > MAX_DNS_SEARCH_LIST_CHARS {
            // Cut whole domains from the end until the line fits.
            let mut cut = 0;
            let mut n = 0;
            for d in s.iter().rev() {
                cut += d.len() + 1;
                n += 1;
                if total.saturating_sub(cut) <= MAX_DNS_SEARCH_LIST_CHARS {
                    break;
                }
            }
            s.truncate(s.len() - n);
            exceeded = true;
        }
        if exceeded {
            events.push(DnsEvent {
                object: EventObject::Pod,
                reason: "DNSConfigForming",
                message: format!(
                    "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
                    s.join(" ")
                ),
            });
        }
        s
    }

    fn fit_servers(mut servers: Vec<String>, events: &mut Vec<DnsEvent>) -> Vec<String> {
        if servers.len() > MAX_DNS_NAMESERVERS {
            servers.truncate(MAX_DNS_NAMESERVERS);
            events.push(DnsEvent {
                object: EventObject::Pod,
                reason: "DNSConfigForming",
                message: format!(
                    "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
                    servers.join(" ")
                ),
            });
        }
        servers
    }

    /// `GetPodDNS`.
    pub fn pod_dns(&self, pod: &Pod) -> Result<PodDns, KubeletError> {
        let mut events = Vec::new();
        let host = match &self.resolver_config {
            Some(text) => parse_resolv_conf(text)?,
            None => Default::default(),
        };
        let mut cfg = DnsConfig {
            servers: host.nameservers,
            searches: host.searches,
            options: host.options,
        };
        let spec = pod.spec.as_ref();
        let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
        enum Kind {
            Cluster,
            Host,
            None,
        }
        let kind = match DnsPolicy::of(pod) {
            DnsPolicy::None => Kind::None,
            DnsPolicy::ClusterFirstWithHostNet | DnsPolicy::Unknown(_) => Kind::Cluster,
            DnsPolicy::ClusterFirst if !host_network => Kind::Cluster,
            DnsPolicy::ClusterFirst | DnsPolicy::Default => Kind::Host,
        };
        let use_host = match kind {
            Kind::None => {
                cfg = DnsConfig::default();
                false
            }
            Kind::Cluster if !self.cluster_dns.is_empty() => {
                cfg.servers = self.cluster_dns.iter().map(ToString::to_string).collect();
                let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
                cfg.searches = self.cluster_searches(std::mem::take(&mut cfg.searches), ns);
                cfg.options = DEFAULT_DNS_OPTIONS.iter().map(|s| s.to_string()).collect();
                false
            }
            Kind::Cluster => {
                let msg = "kubelet does not have ClusterDNS IP configured and cannot create Pod \
                           using \"ClusterFirst\" policy. Falling back to \"Default\" policy.";
                events.push(DnsEvent {
                    object: EventObject::Node,
                    reason: "MissingClusterDNS",
                    message: msg.to_string(),
                });
                events.push(DnsEvent {
                    object: EventObject::Pod,
                    reason: "MissingClusterDNS",
                    message: format!("pod: \"{}\". {msg}", format_pod(pod)),
                });
                true
            }
            Kind::Host => true,
        };
        if use_host && self.resolver_config.is_none() {
            for ip in &self.node_ips {
                cfg.servers
                    .push(if ip.is_ipv6() { "::1" } else { "127.0.0.1" }.to_string());
            }
            if cfg.servers.is_empty() {
                cfg.servers.push("127.0.0.1".to_string());
            }
            cfg.searches = vec![".".to_string()];
        }
        if let Some(dc) = spec.and_then(|s| s.dns_config.as_ref()) {
            cfg.servers = omit_duplicates(
                cfg.servers
                    .into_iter()
                    .chain(dc.nameservers.iter().flatten().cloned()),
            );
            cfg.searches = omit_duplicates(
                cfg.searches
                    .into_iter()
                    .chain(dc.searches.iter().flatten().cloned()),
            );
            cfg.options = merge_options(&cfg.options, dc);
        }
        cfg.servers = Self::fit_servers(cfg.servers, &mut events);
        cfg.searches = Self::fit_searches(cfg.searches, &mut events);
        Ok(PodDns {
            config: cfg,
            events,
        })
    }

    /// The pod's `resolv.conf` as the runtime writes it, with kubelet's warnings. An empty
    /// config yields the node's file (the runtime copies the host's `/etc/resolv.conf`).
    pub fn pod_resolv_conf(&self, pod: &Pod) -> Result<(String, Vec<DnsEvent>), KubeletError> {
        let d = self.pod_dns(pod)?;
        let text = if d.config.is_empty() {
            self.resolver_config.clone().unwrap_or_default()
        } else {
            d.config.render()
        };
        Ok((text, d.events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodDNSConfigOption, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const NODE: &str = "# node\nnameserver 192.168.0.2\nsearch corp.example\noptions timeout:1\n";

    fn configurer() -> Configurer {
        Configurer {
            cluster_dns: vec!["10.96.0.10".parse().unwrap()],
            cluster_domain: "cluster.local".into(),
            resolver_config: Some(NODE.into()),
            node_ips: vec!["192.168.0.11".parse().unwrap()],
        }
    }

    fn pod(policy: Option<&str>, host_network: bool, dns: Option<PodDNSConfig>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns1".into()),
                uid: Some("u-1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                dns_policy: policy.map(Into::into),
                host_network: Some(host_network),
                dns_config: dns,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn opt(name: &str, value: Option<&str>) -> PodDNSConfigOption {
        PodDNSConfigOption {
            name: Some(name.into()),
            value: value.map(Into::into),
        }
    }

    fn resolv(c: &Configurer, p: &Pod) -> String {
        let (text, events) = c.pod_resolv_conf(p).unwrap();
        assert!(events.is_empty(), "{events:?}");
        text
    }

    const CLUSTER: &str = "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example\n\
                           nameserver 10.96.0.10\n\
                           options ndots:5\n";
    const HOST: &str = "search corp.example\nnameserver 192.168.0.2\noptions timeout:1\n";

    #[test]
    fn each_policy() {
        let c = configurer();
        assert_eq!(
            resolv(&c, &pod(None, false, None)),
            CLUSTER,
            "unset = ClusterFirst"
        );
        assert_eq!(resolv(&c, &pod(Some("ClusterFirst"), false, None)), CLUSTER);
        assert_eq!(
            resolv(&c, &pod(Some("ClusterFirstWithHostNet"), true, None)),
            CLUSTER
        );
        assert_eq!(
            resolv(&c, &pod(Some("ClusterFirst"), true, None)),
            HOST,
            "hostNetwork + ClusterFirst falls back to Default"
        );
        assert_eq!(resolv(&c, &pod(Some("Default"), false, None)), HOST);
        assert_eq!(
            resolv(&c, &pod(Some("Bogus"), false, None)),
            CLUSTER,
            "unknown falls back to ClusterFirst"
        );
        let no_file = Configurer {
            resolver_config: None,
            node_ips: vec!["192.168.0.11".parse().unwrap(), "fd00::11".parse().unwrap()],
            ..configurer()
        };
        assert_eq!(
            resolv(&no_file, &pod(Some("Default"), false, None)),
            "search .\nnameserver 127.0.0.1\nnameserver ::1\n"
        );
    }

    /// The seed's "configurable resolv.conf" example, with today's names.
    #[test]
    fn policy_none_is_only_dns_config() {
        let dc = PodDNSConfig {
            nameservers: Some(vec!["1.2.3.4".into()]),
            searches: Some(vec![
                "ns1.svc.cluster.local".into(),
                "my.dns.search.suffix".into(),
            ]),
            options: Some(vec![opt("ndots", Some("2")), opt("edns0", None)]),
        };
        assert_eq!(
            resolv(&configurer(), &pod(Some("None"), false, Some(dc))),
            "search ns1.svc.cluster.local my.dns.search.suffix\n\
             nameserver 1.2.3.4\n\
             options ndots:2 edns0\n"
        );
        // None without dnsConfig: the runtime copies the host file.
        assert_eq!(resolv(&configurer(), &pod(Some("None"), false, None)), NODE);
    }

    #[test]
    fn dns_config_merges_and_nameservers_are_capped() {
        let dc = PodDNSConfig {
            nameservers: Some(vec![
                "10.96.0.10".into(),
                "8.8.8.8".into(),
                "1.1.1.1".into(),
                "9.9.9.9".into(),
            ]),
            searches: Some(vec!["svc.cluster.local".into(), "extra.example".into()]),
            options: Some(vec![
                opt("ndots", Some("2")),
                opt("single-request-reopen", None),
            ]),
        };
        let (text, events) = configurer()
            .pod_resolv_conf(&pod(Some("ClusterFirst"), false, Some(dc)))
            .unwrap();
        assert_eq!(
            text,
            "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example extra.example\n\
             nameserver 10.96.0.10\n\
             nameserver 8.8.8.8\n\
             nameserver 1.1.1.1\n\
             options ndots:2 single-request-reopen\n"
        );
        assert_eq!(
            events,
            [DnsEvent {
                object: EventObject::Pod,
                reason: "DNSConfigForming",
                message: "Nameserver limits were exceeded, some nameservers have been omitted, \
                          the applied nameserver line is: 10.96.0.10 8.8.8.8 1.1.1.1"
                    .into()
            }]
        );
    }

    #[test]
    fn search_limits_trim_like_kubelet() {
        // 35 node search domains: 3 cluster + 35 = 38 > 32, so 29 node domains survive.
        let node: Vec<String> = (0..35).map(|i| format!("d{i}.example")).collect();
        let c = Configurer {
            resolver_config: Some(format!(
                "nameserver 192.168.0.2\nsearch {}\n",
                node.join(" ")
            )),
            ..configurer()
        };
        let d = c.pod_dns(&pod(None, false, None)).unwrap();
        assert_eq!(d.config.searches.len(), 32);
        assert_eq!(d.config.searches[31], "d28.example");
        assert_eq!(d.events.len(), 1);
        assert!(d.events[0].message.ends_with("d27.example d28.example"));

        // Character limit: 10 domains of 250 characters = 2509 with spaces; cut from the end
        // until at most 2048: 8 domains (2007 characters) remain.
        let long: Vec<String> = (0..10).map(|i| format!("{i}{}", "a".repeat(249))).collect();
        let c = Configurer {
            cluster_domain: String::new(),
            resolver_config: Some(format!("search {}\n", long.join(" "))),
            ..configurer()
        };
        let d = c.pod_dns(&pod(None, false, None)).unwrap();
        assert_eq!(d.config.searches, long[..8]);
        // A domain over 253 characters is dropped on its own.
        let c = Configurer {
            cluster_domain: String::new(),
            resolver_config: Some(format!("search ok.example {}\n", "b".repeat(254))),
            ..configurer()
        };
        let d = c.pod_dns(&pod(None, false, None)).unwrap();
        assert_eq!(d.config.searches, ["ok.example"]);
        assert_eq!(d.events.len(), 1);
    }

    #[test]
    fn missing_cluster_dns_falls_back_with_events() {
        let c = Configurer {
            cluster_dns: vec![],
            ..configurer()
        };
        let (text, events) = c.pod_resolv_conf(&pod(None, false, None)).unwrap();
        assert_eq!(text, HOST);
        assert_eq!(
            events
                .iter()
                .map(|e| (e.object, e.reason))
                .collect::<Vec<_>>(),
            [
                (EventObject::Node, "MissingClusterDNS"),
                (EventObject::Pod, "MissingClusterDNS")
            ]
        );
        assert!(
            events[1]
                .message
                .starts_with("pod: \"p_ns1(u-1)\". kubelet does not have")
        );
    }

    #[test]
    fn bad_node_file_is_an_error() {
        let c = Configurer {
            resolver_config: Some("nameserver\n".into()),
            ..configurer()
        };
        assert_eq!(
            c.pod_dns(&pod(None, false, None)),
            Err(KubeletError::EmptyNameserver { line: 1 })
        );
    }
}
