//! The cluster DNS pods at work: each running pod of the DNS add-on ([`super::dns_addon`])
//! serves 53/UDP and 53/TCP in its own network namespace ([`Service::Dns`](sim_net::socket::Service::Dns)), so queries reach
//! it through the dataplane — a pod's resolv.conf names the kube-dns Service, kube-proxy's
//! rules DNAT to one of the DNS pods — and its answers travel back the same way.
//!
//! Each pod runs its own [`DnsServer`] (its own cache) built from the Corefile in the
//! `kube-system/coredns` ConfigMap as it was when the pod started (v3), or from the flavour's
//! configuration (v1, v2). All DNS pods read one informer cache of Services, EndpointSlices,
//! Pods and Namespaces, fed by a watch with the cluster's watch lag plus
//! [`Flavour::extra_watch_lag`](crate::dns::flavour::Flavour::extra_watch_lag) (v1's
//! kube2sky → etcd hop). The `kubernetes` plugin's own addresses are the pod's IP.
//!
//! Upstream: the pods use `dnsPolicy: Default`, so `forward . /etc/resolv.conf` names the
//! node's resolver, the cloud router. Its answers are a table, not packets: each external
//! host of the cluster answers by its name (`NAME.` A), every other name is NXDOMAIN.
//! Simplified: a query is answered the instant it arrives (no processing time); the
//! `reload` plugin is not modelled (a changed ConfigMap applies to pods started after it).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};
use sim_core::{SimTime, TraceRecord};
use sim_net::NetNsId;
use sim_net::socket::DeferredQuery;

use super::dns_addon::{ClusterDns, DNS_APP_LABEL, DNS_NAMESPACE};
use crate::dns::forward::StaticUpstream;
use crate::dns::server::rcode_name;
use crate::dns::{DnsServer, DnsView, Outcome, Transport};
use crate::object::{Kind, Object, ObjectKey};
use crate::store::Store;

/// The kinds the DNS pods' informers watch.
pub const WATCHED: [Kind; 4] = [
    Kind::Namespace,
    Kind::Service,
    Kind::EndpointSlice,
    Kind::Pod,
];

/// TTL of the cloud resolver's answers.
const UPSTREAM_TTL: u32 = 300;

/// One line a DNS pod logged (`errors`, `log`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsLogLine {
    pub time: SimTime,
    /// `namespace/name` of the pod.
    pub pod: String,
    pub line: String,
}

/// A running DNS pod's server.
#[derive(Debug, Clone)]
pub struct DnsProcess {
    /// `namespace/name`.
    pub pod: String,
    pub server: DnsServer,
    /// Queries answered.
    pub answered: u64,
}

/// The DNS pods of a cluster and the cache they read.
#[derive(Debug, Clone)]
pub struct DnsPods {
    pub config: ClusterDns,
    cache: BTreeMap<ObjectKey, Object>,
    view: Option<DnsView>,
    /// By the pod's network namespace.
    pub processes: BTreeMap<NetNsId, DnsProcess>,
    pub log: Vec<DnsLogLine>,
}

impl DnsPods {
    /// The pods' informers, started with `initial` as their list.
    pub fn new(config: ClusterDns, initial: impl IntoIterator<Item = Object>) -> DnsPods {
        DnsPods {
            config,
            cache: initial.into_iter().map(|o| (o.key(), o)).collect(),
            view: None,
            processes: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// A watch event reaches the informers.
    pub fn observe(&mut self, deleted: bool, object: Object) {
        let key = object.key();
        if deleted {
            self.cache.remove(&key);
        } else {
            self.cache.insert(key, object);
        }
        self.view = None;
    }

    /// Whether `object` is a pod of the DNS add-on.
    pub fn is_dns_pod(object: &Object) -> bool {
        let Object::Pod(p) = object else {
            return false;
        };
        let (k, v) = DNS_APP_LABEL;
        p.metadata.namespace.as_deref() == Some(DNS_NAMESPACE)
            && p.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.get(k).map(String::as_str) == Some(v))
    }

    /// Starts the server of the DNS pod `pod` (`namespace/name`) in `ns` with address `ip`;
    /// `resolver` is its node's nameserver, `externals` the names the upstream knows.
    pub fn start(
        &mut self,
        ns: NetNsId,
        pod: &str,
        ip: Ipv4Addr,
        corefile: &str,
        resolver: Ipv4Addr,
        externals: &BTreeMap<String, (NetNsId, Ipv4Addr)>,
    ) -> Result<(), String> {
        let files = BTreeMap::from([(
            "/etc/resolv.conf".to_string(),
            format!("nameserver {resolver}\n"),
        )]);
        let mut server = DnsServer::from_corefile(corefile, 53, &files)
            .map_err(|e| format!("DNS pod {pod}: Corefile: {e}"))?;
        server.set_local_ips(&[IpAddr::V4(ip)]);
        let mut upstream = StaticUpstream::default();
        for (name, (_, addr)) in externals {
            if let Ok(owner) = Name::from_ascii(format!("{name}.")) {
                upstream.add(Record::from_rdata(owner, UPSTREAM_TTL, RData::A(A(*addr))));
            }
        }
        server.set_static_upstream(upstream);
        self.processes.insert(
            ns,
            DnsProcess {
                pod: pod.to_string(),
                server,
                answered: 0,
            },
        );
        Ok(())
    }

    /// The pod in `ns` stopped (deleted): its queries go unanswered.
    pub fn stop(&mut self, ns: NetNsId) {
        self.processes.remove(&ns);
    }

    /// A trace record of `answer` to `query` (component: the pod; kind `dns`): the question,
    /// the rcode and the answer count, the transport and the client.
    pub fn trace_record(
        &self,
        now: SimTime,
        query: &DeferredQuery,
        answer: &[u8],
    ) -> Option<TraceRecord> {
        let pod = &self.processes.get(&query.ns)?.pod;
        let m = Message::from_vec(answer).ok()?;
        let q = m.queries.first()?;
        Some(
            TraceRecord::new(now, pod.clone(), "dns")
                .with("client", query.peer.to_string())
                .with(
                    "transport",
                    if query.proto == sim_net::SocketProto::Tcp {
                        "tcp"
                    } else {
                        "udp"
                    },
                )
                .with("question", format!("{} {}", q.name, q.query_type))
                .with("rcode", rcode_name(m.metadata.response_code))
                .with("answers", m.answers.len() as u64)
                .with("truncated", m.metadata.truncation),
        )
    }

    /// The answer of the pod that received `query`, if it gives one.
    pub fn answer(&mut self, now: SimTime, query: &DeferredQuery) -> Option<Vec<u8>> {
        if !self.processes.contains_key(&query.ns) {
            return None;
        }
        if self.view.is_none() {
            let mut store = Store::new();
            // The cache holds what the API held: it restores.
            let _ = store.restore_all(SimTime::ZERO, self.cache.values());
            self.view = Some(DnsView::from_store(&store));
        }
        let (Some(view), Some(p)) = (&self.view, self.processes.get_mut(&query.ns)) else {
            return None;
        };
        let transport = match query.proto {
            sim_net::SocketProto::Udp => Transport::Udp,
            sim_net::SocketProto::Tcp => Transport::Tcp,
        };
        let outcome = match p.server.handle(now, view, transport, &query.message) {
            // The static upstream answers at once; a forward without one fails.
            Outcome::Forward(f) => p.server.resume(now, f.token, None),
            other => Some(other),
        };
        for entry in p.server.take_log() {
            self.log.push(DnsLogLine {
                time: entry.time,
                pod: p.pod.clone(),
                line: entry.line,
            });
        }
        match outcome {
            Some(Outcome::Reply(bytes)) => {
                p.answered += 1;
                Some(bytes)
            }
            _ => None,
        }
    }
}
