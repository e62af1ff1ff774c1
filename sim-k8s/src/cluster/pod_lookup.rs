//! A pod's name lookup through the dataplane: glibc's stub resolver ([`Lookup`]) driven
//! over real datagrams. Each query the resolver sends is a UDP request (or, after a
//! truncated answer or with `use-vc`, a TCP one with RFC 1035's length prefix) from the pod's
//! namespace to the nameserver its resolv.conf names — so it crosses the pod's veth, the
//! node's kube-proxy rules (the kube-dns Service's DNAT), the network to a DNS pod, and back.
//! The query sequence, with when each went and what came of it, is the report: the `ndots:5`
//! fan-out shows as one query per search domain.
//!
//! Simplified: a refused or unreachable nameserver (ICMP error) counts as a timeout at the
//! moment the error arrives (glibc moves on to the next nameserver the same way, without
//! waiting); query ids count up from the caller's first id (glibc draws them at random).

use std::net::SocketAddr;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use sim_core::{Engine, SimTime};
use sim_net::socket::{ClientResult, ClientSpec, Outcome, Request, deferred};
use sim_net::{Hop, NetNsId, SimEvent, SocketProto};

use super::control::{ClusterEvent, ClusterSim};
use crate::dns::Transport;
use crate::dns::resolver::{Lookup, LookupResult, ResolverConf, SentQuery, Step};

/// One query of a lookup and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRecord {
    pub query: SentQuery,
    pub result: ClientResult,
    /// The answer, when one came and parsed.
    pub reply: Option<Message>,
    /// Every hop the network recorded while the query was out (its packets and any others
    /// in flight then).
    pub hops: Vec<Hop>,
}

/// A whole lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupReport {
    pub started: SimTime,
    pub finished: SimTime,
    pub queries: Vec<QueryRecord>,
    pub result: LookupResult,
}

/// Runs one client request from `ns` starting at `at` until it finishes.
pub fn run_request(
    engine: &mut Engine<ClusterSim>,
    at: SimTime,
    ns: NetNsId,
    spec: ClientSpec,
) -> Result<ClientResult, String> {
    let sched = engine.world_mut().sim.request(at, ns, spec);
    let SimEvent::Request { id, .. } = &sched.event else {
        unreachable!("NetSim::request schedules a Request");
    };
    let id = *id;
    engine.schedule_at(sched.at, ClusterEvent::Net(sched.event));
    loop {
        if let Some(r) = engine
            .world()
            .sim
            .results()
            .into_iter()
            .find(|r| r.id == id)
        {
            return Ok(r.clone());
        }
        if engine.step().map_err(|e| e.to_string())?.is_none() {
            return Err(format!("request {id} never finished"));
        }
    }
}

/// A pod's resolver: its network namespace, resolv.conf and `/etc/hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodResolver {
    pub ns: NetNsId,
    pub conf: ResolverConf,
    pub hosts: String,
}

/// Looks `name` up with `resolver`, starting at `at`; query ids count from `first_id`.
pub fn lookup(
    engine: &mut Engine<ClusterSim>,
    at: SimTime,
    resolver: &PodResolver,
    name: &str,
    qtype: RecordType,
    first_id: u16,
) -> Result<LookupReport, String> {
    let PodResolver { ns, conf, hosts } = resolver;
    let started = engine.now().max(at);
    let (mut lookup, mut step) = Lookup::start(conf, hosts, name, qtype, first_id, 0);
    let mut queries = Vec::new();
    loop {
        let query = match step {
            Step::Done(result) => {
                return Ok(LookupReport {
                    started,
                    finished: engine.now().max(started),
                    queries,
                    result,
                });
            }
            Step::Send(q) => q,
        };
        let SocketAddr::V4(dst) = query.server else {
            return Err(format!("nameserver {}: IPv6 is not modelled", query.server));
        };
        let (proto, payload) = match query.transport {
            Transport::Udp => (SocketProto::Udp, query.message.clone()),
            Transport::Tcp => (SocketProto::Tcp, deferred::frame(&query.message)),
        };
        let spec = ClientSpec {
            proto,
            dst,
            request: Request::Send { payload },
            timeout: query.timeout,
        };
        let at = engine.now().max(started);
        engine.world_mut().sim.hops.clear();
        let result = run_request(engine, at, *ns, spec)?;
        let hops = std::mem::take(&mut engine.world_mut().sim.hops);
        let bytes = match (&result.outcome, query.transport) {
            (Outcome::Reply(b), Transport::Udp) => Some(b.clone()),
            (Outcome::Reply(b), Transport::Tcp) if b.len() >= 2 => Some(b[2..].to_vec()),
            _ => None,
        };
        let reply = bytes.as_deref().and_then(|b| Message::from_vec(b).ok());
        step = match &bytes {
            Some(b) => lookup.on_reply(b),
            None => lookup.on_timeout(),
        };
        queries.push(QueryRecord {
            query,
            result,
            reply,
            hops,
        });
    }
}
