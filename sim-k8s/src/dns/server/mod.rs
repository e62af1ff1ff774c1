//! # The DNS server
//!
//! [`DnsServer`]: CoreDNS's request path, sans-IO. [`DnsServer::handle`] takes `now`, the
//! transport and the query bytes and returns an [`Outcome`]: reply bytes, a
//! [`ForwardRequest`] for the caller to send (the reply or a timeout comes back through
//! [`DnsServer::resume`]), or a counted drop. The cluster data is read from the [`DnsView`]
//! handed in with each call, so watch lag is whatever lag the caller's view has.
//!
//! Request path: the server block whose zone is the longest match of the question (REFUSED if
//! none, as CoreDNS), then the plugins in `plugin.cfg` order — `cache` (lookup with the
//! question as asked), `rewrite` (question renamed for the rest), `hosts`, `kubernetes`,
//! `forward` — and on the way back answer names rewritten back, the reply cached, `log`/
//! `errors` lines appended. No plugin answering gives SERVFAIL. An ExternalName CNAME leaving
//! the zone is chased through the server itself (CoreDNS's `upstream`), so its target may go
//! upstream; a failed chase leaves an empty NOERROR answer (CoreDNS drops the CNAME then).
//!
//! Wire handling in [`wire`]: FORMERR for unreadable queries with a header, NOTIMP for opcodes
//! other than QUERY, no reply for packets shorter than a header or with QR set, EDNS0 OPT
//! echoed, UDP truncation with TC.

pub mod wire;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use sim_core::SimTime;

use super::cache::Cache;
use super::corefile::plugins::{ServerConfig, setup};
use super::corefile::{Corefile, CorefileError};
use super::forward::{ForwardRequest, StaticUpstream};
use super::hosts::HostsOutcome;
use super::kubernetes::KubernetesOutcome;
use super::reply::Reply;
use super::rewrite::{Applied, rewrite_answer, rewrite_query};
use super::view::DnsView;
use wire::{Decoded, DropReason};

/// How the query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What the server does with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send these bytes back to the client.
    Reply(Vec<u8>),
    /// Send `query` to `upstream`; call `resume` with the reply or a timeout.
    Forward(ForwardRequest),
    /// No reply.
    Drop(DropReason),
}

/// One line of the `log`/`errors` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub time: SimTime,
    pub line: String,
}

/// CNAME chases followed through the server before giving up (CoreDNS stops at 8).
const MAX_CHASE_DEPTH: usize = 8;

/// Work to finish once an upstream answers, innermost first.
#[derive(Debug, Clone)]
enum Frame {
    /// Append the upstream answer to this CNAME reply.
    Chase(Reply),
    /// Rewrite back and cache the reply of block `block` for the question as asked.
    Finish {
        block: usize,
        qname: Name,
        qtype: RecordType,
        applied: Applied,
    },
}

/// A question that needs an upstream.
#[derive(Debug, Clone)]
struct Ask {
    qname: Name,
    qtype: RecordType,
    upstreams: Vec<SocketAddr>,
    frames: Vec<Frame>,
}

enum Resolution {
    Done(Reply),
    Upstream(Ask),
}

/// A client query waiting for an upstream.
#[derive(Debug, Clone)]
struct Pending {
    query: Message,
    transport: Transport,
    started: SimTime,
    ask: Ask,
}

/// The server: one Corefile's server blocks on one port.
#[derive(Debug, Clone)]
pub struct DnsServer {
    blocks: Vec<ServerConfig>,
    caches: Vec<Cache>,
    static_upstream: Option<StaticUpstream>,
    pending: BTreeMap<u64, Pending>,
    next_token: u64,
    log: Vec<LogEntry>,
}

impl DnsServer {
    /// The server for the blocks of `corefile` listening on `port`; `files` supplies the files
    /// plugins read (`/etc/resolv.conf`, hosts files).
    pub fn from_corefile(
        corefile: &str,
        port: u16,
        files: &BTreeMap<String, String>,
    ) -> Result<DnsServer, CorefileError> {
        let cf = Corefile::parse(corefile)?;
        let mut blocks = Vec::new();
        for b in &cf.server_blocks {
            let mut cfg = setup(b, files)?;
            cfg.keys.retain(|(_, p)| *p == port);
            if !cfg.keys.is_empty() {
                blocks.push(cfg);
            }
        }
        Ok(DnsServer::new(blocks))
    }

    /// The server for already built blocks.
    pub fn new(blocks: Vec<ServerConfig>) -> DnsServer {
        DnsServer {
            caches: vec![Cache::default(); blocks.len()],
            blocks,
            static_upstream: None,
            pending: BTreeMap::new(),
            next_token: 0,
            log: Vec::new(),
        }
    }

    /// `forward` answers from `table` instead of asking the caller.
    pub fn set_static_upstream(&mut self, table: StaticUpstream) {
        self.static_upstream = Some(table);
    }

    /// The server's own addresses, for the `kubernetes` plugin's NS records (`nsAddrs`).
    pub fn set_local_ips(&mut self, ips: &[IpAddr]) {
        for k in self.blocks.iter_mut().filter_map(|b| b.kubernetes.as_mut()) {
            k.local_ips = ips.to_vec();
        }
    }

    /// The server blocks served.
    pub fn blocks(&self) -> &[ServerConfig] {
        &self.blocks
    }

    /// The `log`/`errors` lines so far.
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    /// Takes the log lines so far.
    pub fn take_log(&mut self) -> Vec<LogEntry> {
        std::mem::take(&mut self.log)
    }

    /// Queries waiting for an upstream.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Handles one packet from a client.
    pub fn handle(
        &mut self,
        now: SimTime,
        view: &DnsView,
        transport: Transport,
        packet: &[u8],
    ) -> Outcome {
        let query = match wire::decode(packet) {
            Decoded::Query(q) => *q,
            Decoded::Error(bytes) => return Outcome::Reply(bytes),
            Decoded::Drop(reason) => return Outcome::Drop(reason),
        };
        let q = &query.queries[0];
        let (qname, qtype) = (q.name.clone(), q.query_type);
        match self.resolve(now, view, &qname, qtype, 0) {
            Resolution::Done(reply) => self.respond(now, now, &query, transport, &reply),
            Resolution::Upstream(ask) => self.ask_upstream(now, query, transport, ask),
        }
    }

    /// Feeds back the upstream's reply to `token` (`None`: it timed out).
    pub fn resume(
        &mut self,
        now: SimTime,
        token: u64,
        upstream_reply: Option<&[u8]>,
    ) -> Option<Outcome> {
        let mut p = self.pending.remove(&token)?;
        let reply = upstream_reply
            .and_then(|b| Message::from_vec(b).ok())
            .filter(|m| m.metadata.message_type == MessageType::Response)
            .map(|m| Reply {
                rcode: m.metadata.response_code,
                authoritative: false,
                recursion_available: m.metadata.recursion_available,
                answers: m.answers,
                authorities: m.authorities,
                additionals: m.additionals,
            });
        let reply = match reply {
            Some(r) => r,
            None => {
                let failed = p.ask.upstreams.remove(0);
                if !p.ask.upstreams.is_empty() {
                    return Some(self.ask_upstream(p.started, p.query, p.transport, p.ask));
                }
                if self.blocks.iter().any(|b| b.errors) {
                    self.log.push(LogEntry {
                        time: now,
                        line: format!(
                            "[ERROR] plugin/errors: 2 {} {}: read udp {failed}: i/o timeout",
                            p.ask.qname, p.ask.qtype
                        ),
                    });
                }
                Reply::new(ResponseCode::ServFail, false)
            }
        };
        let mut reply = reply;
        for frame in std::mem::take(&mut p.ask.frames) {
            reply = self.unwind(now, frame, reply);
        }
        Some(self.respond(now, p.started, &p.query, p.transport, &reply))
    }

    fn ask_upstream(
        &mut self,
        started: SimTime,
        query: Message,
        transport: Transport,
        ask: Ask,
    ) -> Outcome {
        let mut m = Message::new(query.metadata.id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.queries.push(Query::query(ask.qname.clone(), ask.qtype));
        m.edns = query.edns.clone();
        let token = self.next_token;
        self.next_token += 1;
        let request = ForwardRequest {
            token,
            upstream: ask.upstreams[0],
            query: m.to_vec().unwrap_or_default(),
        };
        self.pending.insert(
            token,
            Pending {
                query,
                transport,
                started,
                ask,
            },
        );
        Outcome::Forward(request)
    }

    /// The server block for `qname`: the longest matching zone.
    fn block_for(&self, qname: &Name) -> Option<usize> {
        self.blocks
            .iter()
            .enumerate()
            .flat_map(|(i, b)| b.keys.iter().map(move |(z, _)| (i, z)))
            .filter(|(_, z)| z.zone_of(qname))
            .max_by_key(|(_, z)| z.iter().count())
            .map(|(i, _)| i)
    }

    fn resolve(
        &mut self,
        now: SimTime,
        view: &DnsView,
        qname: &Name,
        qtype: RecordType,
        depth: usize,
    ) -> Resolution {
        let Some(block) = self.block_for(qname) else {
            return Resolution::Done(Reply::new(ResponseCode::Refused, false));
        };
        if let Some(hit) = self.caches[block].get(now, qname, qtype) {
            return Resolution::Done(hit);
        }
        let (renamed, applied) = rewrite_query(&self.blocks[block].rewrites, qname);
        let frame = Frame::Finish {
            block,
            qname: qname.clone(),
            qtype,
            applied,
        };
        match self.plugins(now, view, block, &renamed, qtype, depth) {
            Resolution::Done(reply) => Resolution::Done(self.unwind(now, frame, reply)),
            Resolution::Upstream(mut ask) => {
                ask.frames.push(frame);
                Resolution::Upstream(ask)
            }
        }
    }

    /// hosts, kubernetes, forward, in that order.
    fn plugins(
        &mut self,
        now: SimTime,
        view: &DnsView,
        block: usize,
        qname: &Name,
        qtype: RecordType,
        depth: usize,
    ) -> Resolution {
        let cfg = &self.blocks[block];
        if let Some(hosts) = &cfg.hosts
            && let HostsOutcome::Reply(r) = hosts.serve(qname, qtype)
        {
            return Resolution::Done(r);
        }
        if let Some(k) = &cfg.kubernetes {
            match k.serve(view, qname, qtype) {
                KubernetesOutcome::Reply(r) => return Resolution::Done(r),
                KubernetesOutcome::Chase { reply, target } => {
                    if depth >= MAX_CHASE_DEPTH {
                        return Resolution::Done(reply);
                    }
                    return match self.resolve(now, view, &target, qtype, depth + 1) {
                        Resolution::Done(t) => Resolution::Done(chase(reply, t)),
                        Resolution::Upstream(mut ask) => {
                            ask.frames.push(Frame::Chase(reply));
                            Resolution::Upstream(ask)
                        }
                    };
                }
                KubernetesOutcome::NotMine | KubernetesOutcome::FallThrough => {}
            }
        }
        if let Some(f) = &cfg.forward
            && f.covers(qname)
        {
            if let Some(table) = &self.static_upstream {
                return Resolution::Done(table.answer(qname, qtype));
            }
            return Resolution::Upstream(Ask {
                qname: qname.clone(),
                qtype,
                upstreams: f.upstreams.clone(),
                frames: Vec::new(),
            });
        }
        Resolution::Done(Reply::new(ResponseCode::ServFail, false))
    }

    fn unwind(&mut self, now: SimTime, frame: Frame, reply: Reply) -> Reply {
        match frame {
            Frame::Chase(cname) => chase(cname, reply),
            Frame::Finish {
                block,
                qname,
                qtype,
                applied,
            } => {
                let mut reply = reply;
                rewrite_answer(&applied, &mut reply);
                if let Some(cfg) = &self.blocks[block].cache {
                    self.caches[block].put(cfg, now, &qname, qtype, &reply);
                }
                reply
            }
        }
    }

    fn respond(
        &mut self,
        now: SimTime,
        started: SimTime,
        query: &Message,
        transport: Transport,
        reply: &Reply,
    ) -> Outcome {
        let m = wire::response(query, reply);
        let mut bytes = wire::encode(m, wire::size_limit(query, transport));
        if bytes.is_empty() {
            bytes = wire::encode(
                wire::response(query, &Reply::new(ResponseCode::ServFail, false)),
                wire::TCP_MAX_SIZE,
            );
        }
        let q = &query.queries[0];
        let block = self.block_for(&q.name);
        if block.is_some_and(|b| self.blocks[b].log) {
            let proto = match transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            };
            let (dnssec_ok, bufsize) = query
                .edns
                .as_ref()
                .map_or((false, 512), |e| (e.flags().dnssec_ok, e.max_payload()));
            let duration = go_seconds(now.saturating_duration_since(started).as_nanos());
            self.log.push(LogEntry {
                time: now,
                line: format!(
                    "[INFO] {} \"{} {} {} {proto} {} {dnssec_ok} {bufsize}\" {} {} {} {duration}",
                    query.metadata.id,
                    q.query_type,
                    q.query_class,
                    q.name,
                    query.to_vec().map_or(0, |b| b.len()),
                    rcode_name(reply.rcode),
                    flags(reply, query.metadata.recursion_desired),
                    bytes.len(),
                ),
            });
        }
        Outcome::Reply(bytes)
    }
}

/// A CNAME reply with the target's answers appended; a failed target leaves NOERROR with
/// no answer.
fn chase(mut cname: Reply, target: Reply) -> Reply {
    if target.rcode == ResponseCode::ServFail || target.rcode == ResponseCode::Refused {
        cname.answers.clear();
        return cname;
    }
    cname.answers.extend(target.answers);
    cname
}

/// The rcode mnemonic miekg/dns prints (`RcodeToString`).
pub fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// A duration as Go's `Duration.Seconds()` prints in CoreDNS's log: `0.0015s`, `2s`.
fn go_seconds(ns: u64) -> String {
    let (s, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if frac == 0 {
        return format!("{s}s");
    }
    let frac = format!("{frac:09}");
    format!("{s}.{}s", frac.trim_end_matches('0'))
}

/// The `{>rflags}` of CoreDNS's log line.
fn flags(reply: &Reply, recursion_desired: bool) -> String {
    let mut f = vec!["qr"];
    if reply.authoritative {
        f.push("aa");
    }
    if recursion_desired {
        f.push("rd");
    }
    if reply.recursion_available {
        f.push("ra");
    }
    f.join(",")
}

#[cfg(test)]
mod tests;
