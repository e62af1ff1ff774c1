//! The `kubernetes` plugin's lookups in the [`DnsView`] — CoreDNS
//! `plugin/kubernetes/kubernetes.go` `Records`, `findServices`, `findPods`,
//! `endpointHostname`, and `reverse.go` `serviceRecordForIP` — returning [`Hit`]s, the
//! equivalent of CoreDNS's `msg.Service` values, that the record builders turn into RRs.

use std::net::IpAddr;

use hickory_proto::rr::Name;

use super::request::{RecordRequest, parse_request};
use super::{KubernetesConfig, PodMode};
use crate::dns::reply::parse_fqdn;
use crate::dns::view::{DnsView, EndpointView, PortView, ServiceKind};

/// What a hit resolves to (CoreDNS `msg.Service.HostType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// A CNAME target (ExternalName), or a PTR target.
    Name(Name),
}

/// One backend item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub host: Host,
    /// `None` for the "no ports" sentinel (CoreDNS port -1): no SRV record.
    pub port: Option<u16>,
    /// The name the item lives at (`msg.Domain(key)`): the SRV target.
    pub domain: Name,
    pub ttl_s: u32,
}

/// The name does not exist for the plugin (CoreDNS `errNoItems`, `errNsNotExposed`,
/// `errInvalidRequest`: all NXDOMAIN, or fall through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameError;

/// CoreDNS `dnsutil.ExtractAddressFromReverse` for full IPv4/IPv6 reverse names.
pub fn address_from_reverse(labels: &[String]) -> Option<IpAddr> {
    match labels {
        [rest @ .., a, b] if a == "in-addr" && b == "arpa" && rest.len() == 4 => {
            let text: Vec<&str> = rest.iter().rev().map(String::as_str).collect();
            text.join(".").parse().ok()
        }
        [rest @ .., a, b] if a == "ip6" && b == "arpa" && rest.len() == 32 => {
            let nibbles: String = rest.iter().rev().map(String::as_str).collect();
            if nibbles.len() != 32 {
                return None;
            }
            let groups: Vec<&str> = (0..8).map(|i| &nibbles[i * 4..i * 4 + 4]).collect();
            groups.join(":").parse().ok()
        }
        _ => None,
    }
}

/// Whether the name is under `in-addr.arpa.` or `ip6.arpa.` (`dnsutil.IsReverse`).
pub fn is_reverse(labels: &[String]) -> bool {
    matches!(labels, [.., a, b] if (a == "in-addr" || a == "ip6") && b == "arpa")
}

/// The backend over one view with one plugin configuration.
pub struct Backend<'a> {
    pub config: &'a KubernetesConfig,
    pub view: &'a DnsView,
}

impl Backend<'_> {
    /// `namespaceExposed`: listed in `namespaces` (if any) and existing.
    pub fn namespace_exposed(&self, ns: &str) -> bool {
        (self.config.namespaces.is_empty() || self.config.namespaces.contains(ns))
            && self.view.namespace_exists(ns)
    }

    /// `Records`: `name` is the whole query name (lowercased labels), `base` the labels left
    /// of `zone` (`zone_text` as the query spelt it, e.g. `cluster.local`).
    pub fn records(
        &self,
        name: &[String],
        base: &[String],
        zone_text: &str,
    ) -> Result<Vec<Hit>, NameError> {
        let r = parse_request(base).map_err(|_| NameError)?;
        if r.pod_or_svc.is_empty() {
            return Ok(Vec::new());
        }
        if is_reverse(name) {
            return Err(NameError);
        }
        if !self.namespace_exposed(&r.namespace) {
            return Err(NameError);
        }
        if r.pod_or_svc == "pod" {
            self.find_pods(&r, zone_text)
        } else {
            self.find_services(&r, zone_text)
        }
    }

    fn hit(&self, host: Host, port: Option<u16>, labels: &[&str], zone_text: &str) -> Hit {
        let text = format!("{}.{}", labels.join("."), zone_text);
        Hit {
            host,
            port,
            domain: parse_fqdn(&text).unwrap_or_else(Name::root),
            ttl_s: self.config.ttl_s,
        }
    }

    fn find_pods(&self, r: &RecordRequest, zone_text: &str) -> Result<Vec<Hit>, NameError> {
        if self.config.pods == PodMode::Disabled {
            return Err(NameError);
        }
        let podname = &r.service;
        if podname.is_empty() {
            return Ok(Vec::new());
        }
        let ip_text = if podname.matches('-').count() == 3 && !podname.contains("--") {
            podname.replace('-', ".")
        } else {
            podname.replace('-', ":")
        };
        let ip: IpAddr = ip_text.parse().map_err(|_| NameError)?;
        let labels = [podname.as_str(), r.namespace.as_str(), "pod"];
        match self.config.pods {
            PodMode::Insecure => Ok(vec![self.hit(Host::Ip(ip), None, &labels, zone_text)]),
            _ => {
                let hits: Vec<Hit> = self
                    .view
                    .pods
                    .iter()
                    .filter(|p| p.namespace.eq_ignore_ascii_case(&r.namespace))
                    .filter(|p| p.ips.contains(&ip))
                    .map(|_| self.hit(Host::Ip(ip), None, &labels, zone_text))
                    .collect();
                if hits.is_empty() {
                    Err(NameError)
                } else {
                    Ok(hits)
                }
            }
        }
    }

    fn find_services(&self, r: &RecordRequest, zone_text: &str) -> Result<Vec<Hit>, NameError> {
        if r.service.is_empty() {
            return Ok(Vec::new());
        }
        let Some(svc) = self.view.service(&r.namespace, &r.service) else {
            return Err(NameError);
        };
        let svc_labels = [svc.name.as_str(), svc.namespace.as_str(), "svc"];
        let mut found = false;
        let mut hits = Vec::new();
        if let ServiceKind::ExternalName(target) = &svc.kind {
            // An endpoint cannot be asked of an ExternalName Service; an IP is no CNAME.
            let cname = r.endpoint.is_empty() && target.parse::<IpAddr>().is_err();
            if let Some(target) = parse_fqdn(target).filter(|_| cname) {
                found = true;
                hits.push(self.hit(Host::Name(target), None, &svc_labels, zone_text));
            }
        } else if svc.kind == ServiceKind::Headless || !r.endpoint.is_empty() {
            {
                for ep in svc.endpoints.iter().filter(|e| e.ready) {
                    let hostname = self.endpoint_hostname(ep);
                    for addr in &ep.addresses {
                        let hostname = hostname.clone().unwrap_or_else(|| ip_label(addr));
                        if !r.endpoint.is_empty() && !r.endpoint.eq_ignore_ascii_case(&hostname) {
                            continue;
                        }
                        for port in ports_or_sentinel(&ep.ports) {
                            if !port_matches(r, port) {
                                continue;
                            }
                            found = true;
                            let labels = [
                                hostname.as_str(),
                                svc.name.as_str(),
                                svc.namespace.as_str(),
                                "svc",
                            ];
                            hits.push(self.hit(
                                Host::Ip(*addr),
                                port.map(|p| p.port),
                                &labels,
                                zone_text,
                            ));
                        }
                    }
                }
            }
        } else if let ServiceKind::ClusterIp(ips) = &svc.kind {
            {
                for port in ports_or_sentinel(&svc.ports) {
                    if !port_matches(r, port) {
                        continue;
                    }
                    found = true;
                    for ip in ips {
                        hits.push(self.hit(
                            Host::Ip(*ip),
                            port.map(|p| p.port),
                            &svc_labels,
                            zone_text,
                        ));
                    }
                }
            }
        }
        if found { Ok(hits) } else { Err(NameError) }
    }

    /// `endpointHostname` without the IP fallback (`None` = use the IP's label).
    fn endpoint_hostname(&self, ep: &EndpointView) -> Option<String> {
        ep.hostname.clone().filter(|h| !h.is_empty()).or_else(|| {
            self.config
                .endpoint_pod_names
                .then(|| ep.pod_name.clone())
                .flatten()
        })
    }

    /// `serviceRecordForIP`: the ClusterIP Service with `ip`, else every ready endpoint
    /// with it; names under the primary zone.
    pub fn reverse(&self, ip: IpAddr, primary_zone: &str) -> Vec<Hit> {
        let exposed = |ns: &str| self.config.namespaces.is_empty() || self.namespace_exposed(ns);
        for svc in self.view.services.values() {
            if let ServiceKind::ClusterIp(ips) = &svc.kind
                && ips.contains(&ip)
                && exposed(&svc.namespace)
            {
                let labels = [svc.name.as_str(), svc.namespace.as_str(), "svc"];
                return vec![self.name_hit(&labels, primary_zone)];
            }
        }
        let mut hits = Vec::new();
        for svc in self.view.services.values() {
            if !exposed(&svc.namespace) {
                continue;
            }
            for ep in svc.endpoints.iter().filter(|e| e.ready) {
                if ep.addresses.contains(&ip) {
                    let hostname = self.endpoint_hostname(ep).unwrap_or_else(|| ip_label(&ip));
                    let labels = [
                        hostname.as_str(),
                        svc.name.as_str(),
                        svc.namespace.as_str(),
                        "svc",
                    ];
                    hits.push(self.name_hit(&labels, primary_zone));
                }
            }
        }
        hits
    }

    /// `nsAddrs`: the names and addresses of the Services whose ready endpoints hold one of
    /// the server's own addresses (headless: each such endpoint by name); the own addresses
    /// as `ns.dns.<zone>` when none does.
    pub fn ns_addrs(&self, zone_text: &str) -> Vec<(Name, IpAddr)> {
        let mut out = Vec::new();
        for local in &self.config.local_ips {
            for svc in self.view.services.values() {
                let holds = |e: &&EndpointView| e.ready && e.addresses.contains(local);
                let Some(ep) = svc.endpoints.iter().find(holds) else {
                    continue;
                };
                let labels = [svc.name.as_str(), svc.namespace.as_str(), "svc"];
                match &svc.kind {
                    ServiceKind::Headless => {
                        let host = self
                            .endpoint_hostname(ep)
                            .unwrap_or_else(|| ip_label(local));
                        let mut named = vec![host.as_str()];
                        named.extend(labels);
                        out.push((self.name_hit(&named, zone_text).domain, *local));
                    }
                    ServiceKind::ClusterIp(ips) => {
                        if let Some(ip) = ips.first() {
                            out.push((self.name_hit(&labels, zone_text).domain, *ip));
                        }
                    }
                    ServiceKind::ExternalName(_) => {}
                }
            }
        }
        if out.is_empty() {
            let name = self.name_hit(&["ns", "dns"], zone_text).domain;
            out = self
                .config
                .local_ips
                .iter()
                .map(|ip| (name.clone(), *ip))
                .collect();
        }
        out
    }

    fn name_hit(&self, labels: &[&str], zone_text: &str) -> Hit {
        let target = parse_fqdn(&format!("{}.{}", labels.join("."), zone_text));
        let target = target.unwrap_or_else(Name::root);
        Hit {
            domain: target.clone(),
            host: Host::Name(target),
            port: None,
            ttl_s: self.config.ttl_s,
        }
    }
}

/// The label CoreDNS makes from an endpoint IP: dots (or colons) become dashes.
pub fn ip_label(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// The ports, or one "no port" sentinel when there are none (CoreDNS's port -1).
fn ports_or_sentinel(ports: &[PortView]) -> Vec<Option<&PortView>> {
    if ports.is_empty() {
        vec![None]
    } else {
        ports.iter().map(Some).collect()
    }
}

/// `matchPortAndProtocol`: the request's empty port/protocol match anything.
fn port_matches(r: &RecordRequest, port: Option<&PortView>) -> bool {
    let (name, proto) = port.map_or(("", ""), |p| (p.name.as_str(), p.protocol.as_str()));
    (r.port.is_empty() || r.port.eq_ignore_ascii_case(name))
        && (r.protocol.is_empty() || r.protocol.eq_ignore_ascii_case(proto))
}
