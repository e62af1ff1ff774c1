//! The `forward` plugin (CoreDNS `plugin/forward`): queries under FROM (minus `except` zones)
//! go to an upstream. Sans-IO: the server returns a [`ForwardRequest`] naming the upstream and
//! the query bytes, and takes the reply (or a timeout) back through
//! [`crate::dns::server::DnsServer::resume`]. For tests and scenarios without an upstream in
//! the simulation, a [`StaticUpstream`] table answers synchronously instead.
//!
//! Simplified: upstreams are tried in order, the next one after a timeout (CoreDNS's default
//! `policy random` would need a random stream; `sequential` is what is modelled); health checks,
//! `max_fails`, `expire`, `force_tcp`/`prefer_udp` and TLS are not modelled (accepted options
//! other than `except` are ignored and listed in the module docs of [`crate::dns::corefile::plugins`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

use super::reply::Reply;

/// The plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfig {
    /// The zone forwarded (`.` for everything).
    pub from: Name,
    pub upstreams: Vec<SocketAddr>,
    pub except: Vec<Name>,
}

impl ForwardConfig {
    /// Whether this query goes upstream.
    pub fn covers(&self, qname: &Name) -> bool {
        self.from.zone_of(qname) && !self.except.iter().any(|z| z.zone_of(qname))
    }
}

/// A query the server asks its caller to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRequest {
    /// Give this back to `resume` with the reply.
    pub token: u64,
    pub upstream: SocketAddr,
    /// The DNS message to send (UDP payload).
    pub query: Vec<u8>,
}

/// A table of upstream records: name (lowercase, no trailing dot) → records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticUpstream {
    pub records: BTreeMap<String, Vec<Record>>,
}

impl StaticUpstream {
    /// Adds a record under its owner name.
    pub fn add(&mut self, record: Record) {
        let key = record
            .name
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.records.entry(key).or_default().push(record);
    }

    /// The upstream's reply: the records of that type (CNAMEs too), NODATA when the name has
    /// others, NXDOMAIN when it has none. Owner names echo the query's case.
    pub fn answer(&self, qname: &Name, qtype: RecordType) -> Reply {
        let key = qname.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let Some(records) = self.records.get(&key) else {
            let mut r = Reply::new(ResponseCode::NXDomain, false);
            r.recursion_available = true;
            return r;
        };
        let mut reply = Reply::new(ResponseCode::NoError, false);
        reply.recursion_available = true;
        reply.answers = records
            .iter()
            .filter(|r| r.record_type() == qtype || r.record_type() == RecordType::CNAME)
            .map(|r| {
                let mut r = r.clone();
                r.name = qname.clone();
                r
            })
            .collect();
        reply
    }
}
