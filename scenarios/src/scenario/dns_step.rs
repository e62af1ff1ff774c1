//! The `dns:` step and its checks: a pod looks a name up through its resolv.conf and the
//! dataplane ([`sim_k8s::cluster::pod_lookup`]); the report lists every query the resolver
//! sent (the search-list fan-out), where it went and what came back, then the result as
//! glibc gives it. `expect: {answers: [...], queries: N, resolveError: ...}` checks the last
//! lookup.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use sim_core::SimTime;
use sim_k8s::cluster::pod_lookup::{LookupReport, QueryRecord};
use sim_k8s::dns::resolver::{LookupResult, ResolveError};
use sim_k8s::dns::server::rcode_name;
use sim_net::socket::Outcome;

use super::file::DnsFile;
use super::step::StepError;
use crate::source::Source;

/// A lookup to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsLookup {
    pub from: Source,
    pub name: String,
    pub qtype: RecordType,
}

/// What an `expect` can say about the last lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsCheck {
    /// The answer's record data, in any order (`[]`: no answer).
    Answers(Vec<String>),
    /// How many queries the resolver sent.
    Queries(usize),
    /// The lookup failed with this `h_errno`.
    ResolveError(ResolveError),
}

fn err(field: &str, message: impl Into<String>) -> StepError {
    StepError {
        field: field.into(),
        message: message.into(),
    }
}

/// The record types a `dns:` step asks for.
const TYPES: [RecordType; 7] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::SRV,
    RecordType::PTR,
    RecordType::TXT,
    RecordType::CNAME,
    RecordType::SOA,
];

/// Whether `name` is a domain name a resolver takes: labels of letters, digits, `-` and
/// `_`, 1–63 bytes each, at most 253 in all, an optional trailing dot.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Reads `dns: {from, name, type}`.
pub fn dns_step(d: &DnsFile) -> Result<DnsLookup, StepError> {
    let from: Source = d.from.parse().map_err(|e: String| err("dns.from", e))?;
    if !matches!(from, Source::Pod { .. }) {
        return Err(err(
            "dns.from",
            format!(
                "{:?}: expected NAMESPACE/NAME (lookups run from a pod's resolver)",
                d.from
            ),
        ));
    }
    let name = d.name.trim();
    if !valid_name(name) {
        return Err(err(
            "dns.name",
            format!(
                "{:?}: expected a domain name (labels of letters, digits, - and _, at most 63 each)",
                d.name
            ),
        ));
    }
    let qtype = match &d.type_ {
        None => RecordType::A,
        Some(t) => TYPES
            .iter()
            .copied()
            .find(|r| r.to_string().eq_ignore_ascii_case(t))
            .ok_or_else(|| {
                let names: Vec<String> = TYPES.iter().map(|t| t.to_string()).collect();
                err(
                    "dns.type",
                    format!("{t:?}: expected one of {}", names.join(", ")),
                )
            })?,
    };
    Ok(DnsLookup {
        from,
        name: name.to_string(),
        qtype,
    })
}

/// `h_errno` by the name glibc's `herror` headers use.
pub fn resolve_error(field: &str, s: &str) -> Result<ResolveError, StepError> {
    match s {
        "HOST_NOT_FOUND" => Ok(ResolveError::HostNotFound),
        "NO_DATA" => Ok(ResolveError::NoData),
        "TRY_AGAIN" => Ok(ResolveError::TryAgain),
        _ => Err(err(
            field,
            format!("{s:?}: expected HOST_NOT_FOUND, NO_DATA or TRY_AGAIN"),
        )),
    }
}

fn error_name(e: ResolveError) -> &'static str {
    match e {
        ResolveError::HostNotFound => "HOST_NOT_FOUND",
        ResolveError::NoData => "NO_DATA",
        ResolveError::TryAgain => "TRY_AGAIN",
    }
}

/// The record data of the final answer (A/AAAA addresses, SRV `prio weight port target`...),
/// or the `/etc/hosts` addresses.
pub fn answer_data(r: &LookupReport) -> Vec<String> {
    match &r.result {
        LookupResult::Hosts(ips) => ips.iter().map(ToString::to_string).collect(),
        LookupResult::Answer { reply, .. } => reply
            .answers
            .iter()
            .map(|rec| match &rec.data {
                RData::A(a) => a.0.to_string(),
                RData::AAAA(a) => a.0.to_string(),
                other => other.to_string(),
            })
            .collect(),
        LookupResult::Failed(_) => Vec::new(),
    }
}

fn query_line(start: SimTime, q: &QueryRecord) -> String {
    let proto = match q.query.transport {
        sim_k8s::dns::Transport::Udp => "udp",
        sim_k8s::dns::Transport::Tcp => "tcp",
    };
    let fate = match (&q.reply, &q.result.outcome) {
        (Some(m), _) => {
            let rcode = m.metadata.response_code;
            let mut s = if rcode == ResponseCode::NoError && m.answers.is_empty() {
                "NOERROR, no answer (NODATA)".to_string()
            } else if rcode == ResponseCode::NoError {
                format!(
                    "NOERROR, {} answer{}",
                    m.answers.len(),
                    if m.answers.len() == 1 { "" } else { "s" }
                )
            } else {
                rcode_name(rcode)
            };
            if m.metadata.truncation {
                s.push_str(", truncated");
            }
            s
        }
        (None, Outcome::Reply(_)) => "an unreadable answer".into(),
        (None, other) => other.to_string(),
    };
    format!(
        "+{} {} {} → {} {proto}: {fate} ({})",
        (q.result.started - start),
        q.query.qtype,
        q.query.name,
        q.query.server,
        q.result.finished - q.result.started
    )
}

/// The report's lines: each query, then the result.
pub fn describe(r: &LookupReport) -> Vec<String> {
    let mut out: Vec<String> = r.queries.iter().map(|q| query_line(r.started, q)).collect();
    let took = r.finished - r.started;
    out.push(match &r.result {
        LookupResult::Hosts(ips) => format!("from /etc/hosts: {}", show(ips.iter())),
        LookupResult::Answer { name, .. } => {
            format!(
                "answer for {name}: {} ({} quer{}, {took})",
                answer_data(r).join(", "),
                r.queries.len(),
                if r.queries.len() == 1 { "y" } else { "ies" }
            )
        }
        LookupResult::Failed(e) => format!(
            "failed: {} ({} queries, {took})",
            error_name(*e),
            r.queries.len()
        ),
    });
    out
}

fn show<T: ToString>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// One check against the last lookup: summary, held, detail.
pub fn check(c: &DnsCheck, last: Option<&LookupReport>) -> (String, bool, String) {
    let Some(r) = last else {
        return (
            summary(c),
            false,
            format!("{}: no dns step ran before", summary(c)),
        );
    };
    match c {
        DnsCheck::Answers(want) => {
            let mut got = answer_data(r);
            got.sort();
            let mut w = want.clone();
            w.sort();
            (
                summary(c),
                got == w,
                format!(
                    "answers: expected [{}], got [{}]",
                    want.join(", "),
                    got.join(", ")
                ),
            )
        }
        DnsCheck::Queries(n) => (
            summary(c),
            r.queries.len() == *n,
            format!(
                "queries: expected {n}, the resolver sent {}",
                r.queries.len()
            ),
        ),
        DnsCheck::ResolveError(e) => {
            let got = match &r.result {
                LookupResult::Failed(g) => error_name(*g).to_string(),
                _ => "an answer".into(),
            };
            (
                summary(c),
                got == error_name(*e),
                format!("resolveError: expected {}, got {got}", error_name(*e)),
            )
        }
    }
}

fn summary(c: &DnsCheck) -> String {
    match c {
        DnsCheck::Answers(a) => format!("answers: [{}]", a.join(", ")),
        DnsCheck::Queries(n) => format!("queries: {n}"),
        DnsCheck::ResolveError(e) => format!("resolveError: {}", error_name(*e)),
    }
}
