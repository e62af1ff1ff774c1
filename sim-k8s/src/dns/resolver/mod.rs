//! # Stub resolver
//!
//! A pod's resolver as glibc runs it (`getaddrinfo` → nsswitch `hosts: files dns` →
//! `res_search`/`res_send`, glibc 2.36), as a sans-IO state machine: [`Lookup::start`] gives
//! the first [`Step`]; the caller sends each [`SentQuery`] and calls [`Lookup::on_reply`] or
//! [`Lookup::on_timeout`] until [`Step::Done`]. [`Lookup::sent`] is the query sequence (the
//! `ndots:5` fan-out).
//!
//! Modelled:
//! * `/etc/hosts` first for A/AAAA (the name as given, case-insensitive, no search list);
//! * `res_search`: a name with a trailing dot is asked as is, only; a name with at least
//!   `ndots` dots is asked as is first, then with each search domain; otherwise with each
//!   search domain first and as is last. NXDOMAIN, NODATA and SERVFAIL go on to the next
//!   candidate; a timeout ends the search (glibc's `done++`), except after the as-is-first
//!   query. The error is the as-is-first query's if there was one, else NODATA if any
//!   candidate had NODATA, else TRY_AGAIN if any had SERVFAIL or timed out, else NXDOMAIN;
//! * `res_send`: `attempts` rounds over the nameservers; waits of
//!   `(timeout << attempt) / nscount` (at least 1 s); SERVFAIL, NOTIMP and REFUSED move on to
//!   the next nameserver; a truncated UDP reply is asked again over TCP of the same server;
//!   `rotate` starts each `res_send` at the next nameserver (a counter the caller keeps per
//!   process, passed in as `rotate_start`); `use-vc` sends over TCP from the start.
//!
//! Simplified: one query type per lookup (getaddrinfo's parallel A+AAAA is two lookups); a
//! reply whose id or question does not match counts as no reply; query ids come from the
//! caller (glibc draws them at random); no EDNS0.

pub mod conf;

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sim_core::SimDuration;

pub use conf::ResolverConf;

use super::hosts::HostsConfig;
use super::server::Transport;

/// One query the resolver sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentQuery {
    pub name: Name,
    pub qtype: RecordType,
    pub server: SocketAddr,
    pub transport: Transport,
    /// How long the resolver waits before `on_timeout`.
    pub timeout: SimDuration,
    pub id: u16,
    /// The DNS message bytes.
    pub message: Vec<u8>,
}

/// glibc's `h_errno` for a failed lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// `HOST_NOT_FOUND` (NXDOMAIN everywhere).
    HostNotFound,
    /// `NO_DATA`: the name exists without that type.
    NoData,
    /// `TRY_AGAIN`: SERVFAIL or no reply.
    TryAgain,
}

/// How a lookup ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupResult {
    /// From `/etc/hosts`.
    Hosts(Vec<IpAddr>),
    /// The reply that answered, and the name it answered for.
    Answer {
        name: Name,
        reply: Box<Message>,
    },
    Failed(ResolveError),
}

/// The resolver's next move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Send(SentQuery),
    Done(LookupResult),
}

/// How one candidate name fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameOutcome {
    NxDomain,
    NoData,
    ServFail,
    TimedOut,
}

/// A lookup in progress.
#[derive(Debug, Clone)]
pub struct Lookup {
    conf: ResolverConf,
    qtype: RecordType,
    candidates: Vec<Name>,
    /// Index of the candidate asked as is before the search list, if any.
    as_is_first: bool,
    candidate: usize,
    /// Position in `attempts × nameservers` for the current candidate.
    try_index: usize,
    ns_start: usize,
    rotate_next: usize,
    transport: Transport,
    saw_servfail: bool,
    got_nodata: bool,
    got_servfail: bool,
    saved_error: Option<ResolveError>,
    next_id: u16,
    sent: Vec<SentQuery>,
}

impl Lookup {
    /// Starts looking `name` up; `hosts` is `/etc/hosts` text; `first_id` the first query id;
    /// `rotate_start` the process's `rotate` counter.
    pub fn start(
        conf: &ResolverConf,
        hosts: &str,
        name: &str,
        qtype: RecordType,
        first_id: u16,
        rotate_start: usize,
    ) -> (Lookup, Step) {
        let mut lookup = Lookup {
            conf: conf.clone(),
            qtype,
            candidates: Vec::new(),
            as_is_first: false,
            candidate: 0,
            try_index: 0,
            ns_start: 0,
            rotate_next: rotate_start,
            transport: Transport::Udp,
            saw_servfail: false,
            got_nodata: false,
            got_servfail: false,
            saved_error: None,
            next_id: first_id,
            sent: Vec::new(),
        };
        if matches!(qtype, RecordType::A | RecordType::AAAA) {
            let mut table = HostsConfig::new(Vec::new());
            for line in hosts.lines() {
                table.add_line(line);
            }
            let key = name.trim_end_matches('.').to_ascii_lowercase();
            let ips: Vec<IpAddr> = table
                .names
                .get(&key)
                .into_iter()
                .flatten()
                .copied()
                .filter(|ip| ip.is_ipv4() == (qtype == RecordType::A))
                .collect();
            if !ips.is_empty() {
                return (lookup, Step::Done(LookupResult::Hosts(ips)));
            }
        }
        lookup.candidates = search_candidates(conf, name);
        lookup.as_is_first = !name.ends_with('.')
            && name.matches('.').count() >= conf.ndots as usize
            && lookup.candidates.len() > 1;
        if conf.nameservers.is_empty() {
            return (
                lookup,
                Step::Done(LookupResult::Failed(ResolveError::TryAgain)),
            );
        }
        if lookup.candidates.is_empty() {
            return (
                lookup,
                Step::Done(LookupResult::Failed(ResolveError::HostNotFound)),
            );
        }
        lookup.begin_candidate();
        let step = lookup.send();
        (lookup, step)
    }

    /// Every query sent so far, in order.
    pub fn sent(&self) -> &[SentQuery] {
        &self.sent
    }

    /// The `rotate` counter after this lookup (to pass to the process's next lookup).
    pub fn rotate_next(&self) -> usize {
        self.rotate_next
    }

    fn begin_candidate(&mut self) {
        self.try_index = 0;
        self.saw_servfail = false;
        self.transport = if self.conf.use_vc {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        self.ns_start = 0;
        if self.conf.rotate {
            self.ns_start = self.rotate_next % self.conf.nameservers.len().max(1);
            self.rotate_next += 1;
        }
    }

    fn send(&mut self) -> Step {
        let n = self.conf.nameservers.len().max(1);
        let attempt = (self.try_index / n) as u32;
        let server = self.conf.nameservers[(self.ns_start + self.try_index) % n];
        let name = self.candidates[self.candidate].clone();
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.queries.push(Query::query(name.clone(), self.qtype));
        let q = SentQuery {
            name,
            qtype: self.qtype,
            server,
            transport: self.transport,
            timeout: self.conf.timeout_for(attempt),
            id,
            message: m.to_vec().unwrap_or_default(),
        };
        self.sent.push(q.clone());
        Step::Send(q)
    }

    /// The reply to the last query sent.
    pub fn on_reply(&mut self, bytes: &[u8]) -> Step {
        let Some(last) = self.sent.last() else {
            return self.on_timeout();
        };
        let reply = match Message::from_vec(bytes) {
            Ok(m)
                if m.metadata.id == last.id
                    && m.metadata.message_type == MessageType::Response
                    && m.queries
                        .first()
                        .is_some_and(|q| q.name.eq_ignore_root(&last.name)) =>
            {
                m
            }
            _ => return self.on_timeout(),
        };
        if reply.metadata.truncation && last.transport == Transport::Udp {
            self.transport = Transport::Tcp;
            return self.send();
        }
        match reply.metadata.response_code {
            ResponseCode::ServFail | ResponseCode::NotImp | ResponseCode::Refused => {
                self.saw_servfail = true;
                self.next_server()
            }
            ResponseCode::NoError if !reply.answers.is_empty() => {
                let name = last.name.clone();
                Step::Done(LookupResult::Answer {
                    name,
                    reply: Box::new(reply),
                })
            }
            ResponseCode::NoError => self.candidate_done(NameOutcome::NoData),
            _ => self.candidate_done(NameOutcome::NxDomain),
        }
    }

    /// The last query got no reply within its timeout.
    pub fn on_timeout(&mut self) -> Step {
        self.next_server()
    }

    fn next_server(&mut self) -> Step {
        let total = self.conf.nameservers.len().max(1) * self.conf.attempts as usize;
        self.try_index += 1;
        self.transport = if self.conf.use_vc {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        if self.try_index < total {
            return self.send();
        }
        let outcome = if self.saw_servfail {
            NameOutcome::ServFail
        } else {
            NameOutcome::TimedOut
        };
        self.candidate_done(outcome)
    }

    fn candidate_done(&mut self, outcome: NameOutcome) -> Step {
        let error = match outcome {
            NameOutcome::NxDomain => ResolveError::HostNotFound,
            NameOutcome::NoData => ResolveError::NoData,
            NameOutcome::ServFail | NameOutcome::TimedOut => ResolveError::TryAgain,
        };
        let was_as_is_first = self.as_is_first && self.candidate == 0;
        if was_as_is_first {
            self.saved_error = Some(error);
        } else {
            match outcome {
                NameOutcome::NoData => self.got_nodata = true,
                NameOutcome::ServFail => self.got_servfail = true,
                NameOutcome::TimedOut => {
                    self.got_servfail = true;
                    return self.finish();
                }
                NameOutcome::NxDomain => {}
            }
        }
        self.candidate += 1;
        if self.candidate >= self.candidates.len() {
            return self.finish_with(error);
        }
        self.begin_candidate();
        self.send()
    }

    fn finish(&self) -> Step {
        self.finish_with(ResolveError::TryAgain)
    }

    fn finish_with(&self, last: ResolveError) -> Step {
        let error = if let Some(saved) = self.saved_error {
            saved
        } else if self.got_nodata {
            ResolveError::NoData
        } else if self.got_servfail {
            ResolveError::TryAgain
        } else {
            last
        };
        Step::Done(LookupResult::Failed(error))
    }
}

/// The names `res_search` tries for `name`, in order.
pub fn search_candidates(conf: &ResolverConf, name: &str) -> Vec<Name> {
    let fq = |s: &str| {
        Name::from_ascii(s).ok().map(|mut n| {
            n.set_fqdn(true);
            n
        })
    };
    if name.is_empty() {
        return Vec::new();
    }
    if name.ends_with('.') {
        return fq(name).into_iter().collect();
    }
    let searched: Vec<Name> = conf
        .search
        .iter()
        .filter_map(|d| fq(&format!("{name}.{d}")))
        .collect();
    let as_is = fq(name);
    let mut out = Vec::new();
    if name.matches('.').count() >= conf.ndots as usize {
        out.extend(as_is);
        out.extend(searched);
    } else {
        out.extend(searched);
        out.extend(as_is);
    }
    out
}

#[cfg(test)]
mod tests;
