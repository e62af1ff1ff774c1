//! # The `kubernetes` plugin
//!
//! Answers for the cluster zones from a [`DnsView`], as CoreDNS's `kubernetes` plugin does
//! (CoreDNS 1.12, `plugin/kubernetes/handler.go` and `plugin/backend_lookup.go`), producing the
//! records of the Kubernetes DNS-Based Service Discovery specification (schema 1.1.0):
//!
//! | query | answer |
//! | --- | --- |
//! | `dns-version.<zone>` TXT | `"1.1.0"`, TTL 28800 (CoreDNS's fixed TTL for it) |
//! | `<svc>.<ns>.svc.<zone>` A/AAAA | the ClusterIPs; headless: every ready endpoint address |
//! | `<host>.<svc>.<ns>.svc.<zone>` A/AAAA | the ready endpoint(s) whose hostname (or IP label, or pod name with `endpoint_pod_names`) is `<host>` — for ClusterIP Services too |
//! | `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV | priority 0, weight ⌊100/N⌋ (min 1), the port; target the Service name (ClusterIP) or `<host>.<svc>...` per ready endpoint (headless), with A/AAAA for the targets in additional |
//! | ExternalName A/AAAA/CNAME | a CNAME to `externalName`, chased: inside the zone by the plugin, outside it by the server's own chain ([`KubernetesOutcome::Chase`]) |
//! | `<a-b-c-d>.<ns>.pod.<zone>` A | `pods insecure`: the IP from the label; `verified`: only if a pod in `<ns>` has it; `disabled` (default): NXDOMAIN |
//! | reverse name PTR | the ClusterIP's Service name, else every ready endpoint with the IP |
//! | SOA | `ns.dns.<zone> hostmaster.<zone> serial 7200 1800 86400 <ttl>` |
//!
//! Negative answers carry that SOA (TTL `min(ttl, 300)`) in authority. NXDOMAIN where CoreDNS
//! gives a name error: names not of the `svc`/`pod` shape, unknown or unexposed namespaces,
//! unknown Services, headless Services without ready endpoints, SRV for an unknown port,
//! reverse names of unknown IPs; NODATA (NOERROR, empty answer) for the apex, `svc.<zone>`,
//! `<ns>.svc.<zone>` of an exposed namespace, existing names of another type, and — a CoreDNS
//! quirk kept — every TXT query other than `dns-version`. A name error falls through to the
//! next plugin when `fallthrough` covers the name.
//!
//! NS at the apex and `ns.dns.<zone>` A/AAAA answer with the Service fronting the server's own
//! addresses ([`KubernetesConfig::local_ips`], CoreDNS `nsAddrs`).
//!
//! Not modelled: the apex A/AAAA (`apex.dns` entries), AXFR, multicluster and zonal names, `ignore empty_service`, wildcards (removed
//! from CoreDNS in 1.9), `namespace_labels`, `labels`, the unsynced-API SERVFAIL.

pub mod backend;
pub mod request;

use std::collections::BTreeSet;
use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use self::backend::{Backend, Hit, Host, NameError, address_from_reverse};
use super::reply::{Reply, lower_labels, parse_fqdn};
use super::view::DnsView;

/// CoreDNS `DNSSchemaVersion`.
pub const DNS_SCHEMA_VERSION: &str = "1.1.0";
/// CoreDNS `defaultTTL`: 5 s.
pub const DEFAULT_TTL_S: u32 = 5;
/// The TTL CoreDNS gives the `dns-version` TXT record.
pub const DNS_VERSION_TTL_S: u32 = 28800;
/// SOA timers (`plugin/backend_lookup.go` `SOA`).
pub const SOA_REFRESH_S: i32 = 7200;
pub const SOA_RETRY_S: i32 = 1800;
pub const SOA_EXPIRE_S: i32 = 86400;
/// The SOA record's own TTL is capped at 300 s.
pub const SOA_MAX_TTL_S: u32 = 300;
/// CoreDNS stops following CNAMEs inside the zone after this many.
const MAX_CNAME_CHAIN: usize = 8;

/// `pods` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodMode {
    /// Pod names are not answered (CoreDNS default).
    #[default]
    Disabled,
    /// Answered only when a pod in the namespace has the IP.
    Verified,
    /// Any `a-b-c-d.<ns>.pod.<zone>` answers with the IP (the kubeadm Corefile's choice).
    Insecure,
}

/// `fallthrough [ZONES...]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fallthrough {
    /// Name errors are answered NXDOMAIN.
    #[default]
    Never,
    /// Name errors under these zones (all names when empty) go to the next plugin.
    Zones(Vec<Name>),
}

impl Fallthrough {
    /// CoreDNS `fall.F.Through`.
    pub fn through(&self, name: &Name) -> bool {
        match self {
            Fallthrough::Never => false,
            Fallthrough::Zones(zones) => zones.is_empty() || zones.iter().any(|z| z.zone_of(name)),
        }
    }
}

/// The plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesConfig {
    /// The zones served (lowercase, fully qualified); the first non-reverse one is the
    /// primary zone PTR answers name.
    pub zones: Vec<Name>,
    pub pods: PodMode,
    pub ttl_s: u32,
    pub endpoint_pod_names: bool,
    pub fallthrough: Fallthrough,
    /// Only these namespaces are exposed (all when empty).
    pub namespaces: BTreeSet<String>,
    /// The server's own addresses (the CoreDNS pod's IPs), for NS records and
    /// `ns.dns.<zone>`; none by default (then NS answers are empty).
    pub local_ips: Vec<IpAddr>,
}

impl KubernetesConfig {
    /// The plugin for `zones` with CoreDNS's defaults.
    pub fn new(zones: Vec<Name>) -> KubernetesConfig {
        KubernetesConfig {
            zones,
            pods: PodMode::Disabled,
            ttl_s: DEFAULT_TTL_S,
            endpoint_pod_names: false,
            fallthrough: Fallthrough::Never,
            namespaces: BTreeSet::new(),
            local_ips: Vec::new(),
        }
    }
}

/// What the plugin does with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubernetesOutcome {
    /// Not in its zones: the next plugin.
    NotMine,
    /// A name error `fallthrough` covers: the next plugin.
    FallThrough,
    Reply(Reply),
    /// An ExternalName CNAME leaving the zone: the server resolves `target` (same type)
    /// through its own chain and appends the answers to `reply`'s CNAME (CoreDNS's
    /// `upstream.Lookup`).
    Chase {
        reply: Reply,
        target: Name,
    },
}

/// One query being answered.
struct Query<'a> {
    backend: Backend<'a>,
    /// The zone as the query spelt it (`maintain case of original query`), without the dot.
    zone_text: String,
    zone_labels: usize,
}

impl KubernetesConfig {
    /// Answers `qname`/`qtype` from `view`.
    pub fn serve(&self, view: &DnsView, qname: &Name, qtype: RecordType) -> KubernetesOutcome {
        let Some(zone) = self
            .zones
            .iter()
            .filter(|z| z.zone_of(qname))
            .max_by_key(|z| z.iter().count())
        else {
            return KubernetesOutcome::NotMine;
        };
        let zone_labels = zone.iter().count();
        let zone_cased = qname.trim_to(zone_labels);
        let q = Query {
            backend: Backend { config: self, view },
            zone_text: zone_cased.to_ascii().trim_end_matches('.').to_owned(),
            zone_labels,
        };
        let mut extra = Vec::new();
        let mut chase = None;
        let result = match qtype {
            RecordType::A | RecordType::AAAA => {
                q.address(qname, qtype, 0).map(|(records, target)| {
                    chase = target;
                    records
                })
            }
            RecordType::TXT => q.txt(qname),
            RecordType::CNAME => q.cname(qname),
            RecordType::PTR => q.ptr(qname),
            RecordType::SRV => q.srv(qname).map(|(records, additional)| {
                extra = additional;
                records
            }),
            RecordType::SOA => Ok(vec![q.soa()]),
            RecordType::NS if qname.iter().count() == zone_labels => {
                let (records, additional) = q.ns(qname);
                extra = additional;
                Ok(records)
            }
            RecordType::MX => q.services(qname).map(|_| Vec::new()),
            _ => q.address(qname, RecordType::A, 0).map(|_| Vec::new()),
        };
        match result {
            Err(NameError) if self.fallthrough.through(qname) => KubernetesOutcome::FallThrough,
            Err(NameError) => q.negative(ResponseCode::NXDomain),
            Ok(records) if records.is_empty() && chase.is_none() => {
                q.negative(ResponseCode::NoError)
            }
            Ok(records) => {
                let mut reply = Reply::new(ResponseCode::NoError, true);
                reply.answers = records;
                reply.additionals = extra;
                match chase {
                    Some(target) => KubernetesOutcome::Chase { reply, target },
                    None => KubernetesOutcome::Reply(reply),
                }
            }
        }
    }
}

impl Query<'_> {
    fn ttl_s(&self) -> u32 {
        self.backend.config.ttl_s
    }

    /// `Services`: the hits for `qname` (lowercased labels split at the zone);
    /// `ns.dns.<zone>` has the server's addresses.
    fn services(&self, qname: &Name) -> Result<Vec<Hit>, NameError> {
        let labels = lower_labels(qname);
        let base = &labels[..labels.len() - self.zone_labels.min(labels.len())];
        if base == ["ns", "dns"] {
            let hits = self.backend.ns_addrs(&self.zone_text).into_iter();
            return Ok(hits
                .map(|(domain, ip)| Hit {
                    host: Host::Ip(ip),
                    port: None,
                    domain,
                    ttl_s: self.ttl_s(),
                })
                .collect());
        }
        self.backend.records(&labels, base, &self.zone_text)
    }

    /// `plugin.NS` at the apex: NS records naming the server's Service, its address in
    /// additional.
    fn ns(&self, qname: &Name) -> (Vec<Record>, Vec<Record>) {
        let mut records = Vec::new();
        let mut extra = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, ip) in self.backend.ns_addrs(&self.zone_text) {
            let data = match ip {
                IpAddr::V4(v4) => RData::A(A(v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
            };
            extra.push(Record::from_rdata(name.clone(), self.ttl_s(), data));
            if seen.insert(name.to_lowercase()) {
                let ns = RData::NS(hickory_proto::rr::rdata::NS(name));
                records.push(Record::from_rdata(qname.clone(), self.ttl_s(), ns));
            }
        }
        (records, extra)
    }

    fn negative(&self, rcode: ResponseCode) -> KubernetesOutcome {
        let mut reply = Reply::new(rcode, true);
        reply.authorities.push(self.soa());
        KubernetesOutcome::Reply(reply)
    }

    fn soa(&self) -> Record {
        let join = |prefix: &str| {
            parse_fqdn(&format!("{prefix}.{}", self.zone_text)).unwrap_or_else(Name::root)
        };
        let zone = parse_fqdn(&self.zone_text).unwrap_or_else(Name::root);
        let soa = SOA::new(
            join("ns.dns"),
            join("hostmaster"),
            self.backend.view.serial,
            SOA_REFRESH_S,
            SOA_RETRY_S,
            SOA_EXPIRE_S,
            self.ttl_s(),
        );
        Record::from_rdata(zone, self.ttl_s().min(SOA_MAX_TTL_S), RData::SOA(soa))
    }

    /// `plugin.A` / `plugin.AAAA`: addresses, CNAMEs followed inside the zone; a CNAME
    /// leaving the zone comes back as the chase target.
    fn address(
        &self,
        qname: &Name,
        qtype: RecordType,
        depth: usize,
    ) -> Result<(Vec<Record>, Option<Name>), NameError> {
        let hits = self.services(qname)?;
        let mut records: Vec<Record> = Vec::new();
        let mut chase = None;
        let mut seen: BTreeSet<IpAddr> = BTreeSet::new();
        for hit in hits {
            match hit.host {
                Host::Name(target) => {
                    if target.eq_ignore_root(qname) || depth >= MAX_CNAME_CHAIN - 1 {
                        continue;
                    }
                    let cname = Record::from_rdata(
                        qname.clone(),
                        hit.ttl_s,
                        RData::CNAME(CNAME(target.clone())),
                    );
                    if self.in_zone(&target) {
                        if let Ok((next, next_chase)) = self.address(&target, qtype, depth + 1) {
                            if !next.is_empty() {
                                records.push(cname);
                                records.extend(next);
                            }
                            chase = chase.or(next_chase);
                        }
                    } else if chase.is_none() {
                        records.push(cname);
                        chase = Some(target);
                    }
                }
                Host::Ip(ip) if seen.insert(ip) => match (ip, qtype) {
                    (IpAddr::V4(v4), RecordType::A) => records.push(Record::from_rdata(
                        qname.clone(),
                        hit.ttl_s,
                        RData::A(A(v4)),
                    )),
                    (IpAddr::V6(v6), RecordType::AAAA) => records.push(Record::from_rdata(
                        qname.clone(),
                        hit.ttl_s,
                        RData::AAAA(AAAA(v6)),
                    )),
                    _ => {}
                },
                _ => {}
            }
        }
        Ok((records, chase))
    }

    fn in_zone(&self, name: &Name) -> bool {
        parse_fqdn(&self.zone_text).is_some_and(|z| z.zone_of(name))
    }

    /// `plugin.TXT`: only `dns-version.<zone>` has TXT data.
    fn txt(&self, qname: &Name) -> Result<Vec<Record>, NameError> {
        let labels = lower_labels(qname);
        let base = &labels[..labels.len() - self.zone_labels.min(labels.len())];
        if base != ["dns-version"] {
            return Ok(Vec::new());
        }
        Ok(vec![Record::from_rdata(
            qname.clone(),
            DNS_VERSION_TTL_S,
            RData::TXT(TXT::new(vec![DNS_SCHEMA_VERSION.to_owned()])),
        )])
    }

    /// `plugin.CNAME`: the first hit, if it is a name.
    fn cname(&self, qname: &Name) -> Result<Vec<Record>, NameError> {
        let hits = self.services(qname)?;
        Ok(hits
            .into_iter()
            .take(1)
            .filter_map(|h| match h.host {
                Host::Name(target) => Some(Record::from_rdata(
                    qname.clone(),
                    h.ttl_s,
                    RData::CNAME(CNAME(target)),
                )),
                _ => None,
            })
            .collect())
    }

    /// `plugin.PTR` over `Reverse`.
    fn ptr(&self, qname: &Name) -> Result<Vec<Record>, NameError> {
        let labels = lower_labels(qname);
        let hits = match address_from_reverse(&labels) {
            Some(ip) => {
                let hits = self.backend.reverse(ip, &self.primary_zone());
                if hits.is_empty() {
                    return Err(NameError);
                }
                hits
            }
            None => self.services(qname)?,
        };
        let mut seen = BTreeSet::new();
        Ok(hits
            .into_iter()
            .filter_map(|h| match h.host {
                Host::Name(target) if seen.insert(target.to_lowercase()) => Some(
                    Record::from_rdata(qname.clone(), h.ttl_s, RData::PTR(PTR(target))),
                ),
                _ => None,
            })
            .collect())
    }

    /// The first configured zone that is not a reverse zone.
    fn primary_zone(&self) -> String {
        self.backend
            .config
            .zones
            .iter()
            .find(|z| !backend::is_reverse(&lower_labels(z)))
            .map(|z| z.to_ascii().trim_end_matches('.').to_owned())
            .unwrap_or_default()
    }

    /// `plugin.SRV`: one record per (target, port), weights ⌊100/N⌋, addresses in additional.
    fn srv(&self, qname: &Name) -> Result<(Vec<Record>, Vec<Record>), NameError> {
        let hits: Vec<Hit> = self
            .services(qname)?
            .into_iter()
            .filter(|h| !matches!(h.host, Host::Name(_)))
            .collect();
        let weight = u16::try_from(100 / hits.len().max(1)).unwrap_or(1).max(1);
        let mut records = Vec::new();
        let mut extra = Vec::new();
        let mut seen_srv = BTreeSet::new();
        let mut seen_addr = BTreeSet::new();
        for hit in &hits {
            let (Some(port), Host::Ip(ip)) = (hit.port, &hit.host) else {
                continue;
            };
            let target = hit.domain.clone();
            if seen_srv.insert((target.to_lowercase(), port)) {
                let srv = SRV::new(0, weight, port, target.clone());
                records.push(Record::from_rdata(
                    qname.clone(),
                    hit.ttl_s,
                    RData::SRV(srv),
                ));
            }
            if seen_addr.insert((target.to_lowercase(), *ip)) {
                let data = match ip {
                    IpAddr::V4(v4) => RData::A(A(*v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                };
                extra.push(Record::from_rdata(target, hit.ttl_s, data));
            }
        }
        Ok((records, extra))
    }
}

#[cfg(test)]
pub(crate) mod tests;
