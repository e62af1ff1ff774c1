//! The `hosts` plugin (CoreDNS `plugin/hosts`): A/AAAA from `/etc/hosts`-style entries —
//! inline lines of the block and, if named, a file the caller supplies — and PTR for their
//! addresses (unless `no_reverse`). A name it knows with no record of the asked type is NODATA;
//! a name it does not know goes to the next plugin with `fallthrough`, else it is SERVFAIL
//! (hosts has no SOA to put in an NXDOMAIN, CoreDNS's own reasoning).
//!
//! Simplified: `reload` is accepted and ignored (entries never change during a run).

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::kubernetes::Fallthrough;
use super::kubernetes::backend::address_from_reverse;
use super::reply::{Reply, lower_labels, parse_fqdn};

/// CoreDNS hosts default TTL: 3600 s.
pub const DEFAULT_HOSTS_TTL_S: u32 = 3600;

/// The plugin's table and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsConfig {
    /// Zones it answers for (the server block's zones unless given).
    pub origins: Vec<Name>,
    /// Lowercase name → addresses in file order.
    pub names: BTreeMap<String, Vec<IpAddr>>,
    pub ttl_s: u32,
    pub no_reverse: bool,
    pub fallthrough: Fallthrough,
}

/// What `hosts` does with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostsOutcome {
    Next,
    Reply(Reply),
}

impl HostsConfig {
    pub fn new(origins: Vec<Name>) -> HostsConfig {
        HostsConfig {
            origins,
            names: BTreeMap::new(),
            ttl_s: DEFAULT_HOSTS_TTL_S,
            no_reverse: false,
            fallthrough: Fallthrough::Never,
        }
    }

    /// Adds one `/etc/hosts` line (`IP NAME [ALIAS...]`, `#` comments); false if it has no
    /// valid address (glibc skips such lines too).
    pub fn add_line(&mut self, line: &str) -> bool {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next().and_then(|f| f.parse::<IpAddr>().ok()) else {
            return false;
        };
        for name in fields {
            let key = name.trim_end_matches('.').to_ascii_lowercase();
            let ips = self.names.entry(key).or_default();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        true
    }

    pub fn serve(&self, qname: &Name, qtype: RecordType) -> HostsOutcome {
        let in_zone = self.origins.iter().any(|z| z.zone_of(qname));
        if !in_zone && qtype != RecordType::PTR {
            return HostsOutcome::Next;
        }
        let key = qname.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let answers: Vec<Record> = match qtype {
            RecordType::PTR => {
                let Some(ip) = address_from_reverse(&lower_labels(qname)) else {
                    return HostsOutcome::Next;
                };
                let names: Vec<&String> = if self.no_reverse {
                    Vec::new()
                } else {
                    self.names
                        .iter()
                        .filter(|(_, ips)| ips.contains(&ip))
                        .map(|(n, _)| n)
                        .collect()
                };
                if names.is_empty() {
                    return HostsOutcome::Next;
                }
                names
                    .into_iter()
                    .filter_map(|n| parse_fqdn(n))
                    .map(|n| Record::from_rdata(qname.clone(), self.ttl_s, RData::PTR(PTR(n))))
                    .collect()
            }
            RecordType::A | RecordType::AAAA => self
                .names
                .get(&key)
                .into_iter()
                .flatten()
                .filter_map(|ip| match (ip, qtype) {
                    (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(*v4))),
                    (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
                    _ => None,
                })
                .map(|data| Record::from_rdata(qname.clone(), self.ttl_s, data))
                .collect(),
            _ => Vec::new(),
        };
        if answers.is_empty() && !self.names.contains_key(&key) {
            if self.fallthrough.through(qname) {
                return HostsOutcome::Next;
            }
            return HostsOutcome::Reply(Reply::new(ResponseCode::ServFail, false));
        }
        let mut reply = Reply::new(ResponseCode::NoError, true);
        reply.answers = answers;
        HostsOutcome::Reply(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// CoreDNS hosts README/tests: A, AAAA, PTR, NODATA for known names, fallthrough.
    #[test]
    fn answers_like_coredns_hosts() {
        let mut h = HostsConfig::new(vec![Name::root()]);
        assert!(h.add_line("10.0.0.1 example.org Alias.example.org # comment"));
        assert!(h.add_line("fd00::1 example.org"));
        assert!(!h.add_line("not-an-ip example.net"));
        let HostsOutcome::Reply(r) = h.serve(&name("ALIAS.example.org."), RecordType::A) else {
            panic!()
        };
        assert_eq!(
            r.answers[0].to_string(),
            "ALIAS.example.org. 3600 IN A 10.0.0.1"
        );
        let HostsOutcome::Reply(r) = h.serve(&name("example.org."), RecordType::AAAA) else {
            panic!()
        };
        assert_eq!(
            r.answers[0].to_string(),
            "example.org. 3600 IN AAAA fd00::1"
        );
        let HostsOutcome::Reply(r) = h.serve(&name("example.org."), RecordType::MX) else {
            panic!()
        };
        assert_eq!((r.rcode, r.answers.len()), (ResponseCode::NoError, 0));
        let HostsOutcome::Reply(r) = h.serve(&name("1.0.0.10.in-addr.arpa."), RecordType::PTR)
        else {
            panic!()
        };
        assert_eq!(r.answers.len(), 2);
        let missing = name("nope.example.org.");
        let HostsOutcome::Reply(r) = h.serve(&missing, RecordType::A) else {
            panic!()
        };
        assert_eq!(r.rcode, ResponseCode::ServFail);
        h.fallthrough = Fallthrough::Zones(Vec::new());
        assert_eq!(h.serve(&missing, RecordType::A), HostsOutcome::Next);
    }
}
