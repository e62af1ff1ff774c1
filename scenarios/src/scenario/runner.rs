//! Running a scenario: the cluster built from its manifests and started in the engine
//! ([`ClusterSim`]), then each step at its simulated time.
//!
//! Convention (the agnhost image, [`super::netexec`]): agnhost pods run `netexec`.
//! Pods started later (a scale-up) get their servers at the next step boundary after their
//! kubelet ran them.
//!
//! Requests of a `send` run one after another; each finishes (answer, error or the client's
//! timeout) before the next starts, so the hops recorded meanwhile are that request's own —
//! a failed request is explained by its first dropping hop. A ping's echo requests
//! therefore go out back to back, each after the previous one's reply (like `ping -A`,
//! not once a second), and pings leave no [`FlowRecord`] (the flow exports speak TCP and
//! UDP). A bulk send is an upload to agnhost netexec's `POST /upload` (a real server the
//! pods already run, rather than a discard port nothing listens on); its duration is the
//! client's, from the SYN to the server's answer, and its throughput the file's bytes over
//! that duration (curl's `speed_upload`).
//!
//! `wait: {until}` evaluates its checks after every engine event (a packet hop, an API
//! write, a controller's turn), so the time it reports is the exact simulated time of the
//! event that made them hold; it never runs an event past its timeout.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use hickory_proto::rr::RecordType;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service as KService};
use sim_core::{Engine, SimDuration, SimTime, Trace};
use sim_k8s::cluster::Cluster;
use sim_k8s::cluster::control::{ClusterEvent, ClusterSim};
use sim_k8s::cluster::pod_lookup::{self, LookupReport, PodResolver};
use sim_k8s::controller::pod_readiness::{set_container_ready, set_pod_condition};
use sim_k8s::dns::resolver::ResolverConf;
use sim_k8s::object::{Kind, Object, ObjectKey};
use sim_k8s::store::Change;
use sim_k8s::store::watch::DEFAULT_WATCH_LAG;
use sim_net::socket::http::Response;
use sim_net::socket::{ClientSpec, Outcome, Request};
use sim_net::{SocketProto, Verdict};

use super::dns_step::{self, DnsLookup};
use super::file::SnapshotTable;
use super::load::{Scenario, ScenarioError};
use super::netexec::{Served, serve_netexec, serve_new};
use super::report::{FlowRecord, RunReport, Status, StepReport};
use super::step::{Action, Check, NodeOp, Replay, Send, SendKind, SourceIp, Target, When};
use crate::pod_files::{KubeletView, PodFile, pod_file};
use crate::source::Source;

pub use super::netexec::{NETEXEC_HTTP_PORT, NETEXEC_UDP_PORT};
/// Events one run may deliver before it is called runaway.
pub const EVENT_BUDGET: u64 = 50_000_000;

/// One request of a `send` and what became of it.
#[derive(Debug, Clone)]
struct Attempt {
    outcome: Outcome,
    /// From the first packet to the answer (or the failure).
    elapsed: SimDuration,
    /// The first hop that dropped the request's packets, for failures.
    drop: Option<String>,
    /// A bulk upload's file bytes.
    bulk_bytes: Option<u64>,
}

impl Attempt {
    /// A bulk upload's throughput in bits per second, once it got through; `u64::MAX`
    /// (unbounded) when it took no simulated time (no link on the way: the model gives the
    /// kernel no processing time).
    fn throughput_bps(&self) -> Option<u64> {
        let bytes = self.bulk_bytes.filter(|_| self.outcome.is_success())?;
        let ns = u128::from(self.elapsed.as_nanos());
        let bps = (u128::from(bytes) * 8 * 1_000_000_000)
            .checked_div(ns)
            .unwrap_or(u128::MAX);
        Some(u64::try_from(bps).unwrap_or(u64::MAX))
    }

    fn body(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Http(Response { body, .. }) => Some(body.clone()),
            Outcome::Reply(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

struct Runner {
    engine: Engine<ClusterSim>,
    /// Pods whose netexec servers run.
    served: Served,
    last: Option<Vec<Attempt>>,
    /// The step running now, and the requests run so far (for [`RunReport::flows`]).
    step_index: usize,
    flows: Vec<FlowRecord>,
    /// What shapes the kubelet's files.
    kubelet: KubeletView,
    /// The current step's measurements, for the JSON report.
    measured: Option<serde_json::Value>,
    /// The last `dns` step's lookup.
    last_lookup: Option<LookupReport>,
    /// The id of the next DNS query a resolver sends.
    next_query_id: u16,
}

/// What a run leaves behind: the report, the cluster and network as the run ended (the
/// network is `world.sim.net`, with the capture when asked for), and the engine's trace.
pub struct RunOutput {
    pub report: RunReport,
    pub world: ClusterSim,
    pub trace: Trace,
}

/// Runs `scenario`; `seed` overrides the file's. Cluster build errors are input errors.
pub fn run(scenario: &Scenario, seed: Option<u64>) -> Result<RunReport, ScenarioError> {
    run_with(scenario, seed, false, &mut |_, _| {}).map(|o| o.report)
}

/// [`run`], keeping what the exports need; `capture` records every frame (pcapng);
/// `progress(steps_done, now)` is called after each step.
pub fn run_with(
    scenario: &Scenario,
    seed: Option<u64>,
    capture: bool,
    progress: &mut dyn FnMut(usize, SimTime),
) -> Result<RunOutput, ScenarioError> {
    let seed = seed.unwrap_or(scenario.seed);
    let cluster =
        Cluster::build(scenario.objects.iter(), scenario.config.clone()).map_err(|e| {
            ScenarioError {
                location: scenario.source.clone(),
                message: format!("building the cluster: {e}"),
            }
        })?;
    let nodes = cluster.nodes.len();
    let mut sim = ClusterSim::new(cluster, seed, DEFAULT_WATCH_LAG);
    if capture {
        sim.sim.capture = Some(sim_net::pcapng::Capture::new());
    }
    let engine = Engine::new(sim, seed).with_budget(EVENT_BUDGET);
    let mut r = Runner {
        engine,
        served: Served::new(),
        last: None,
        step_index: 0,
        flows: Vec::new(),
        kubelet: KubeletView {
            cluster_domain: scenario.cluster_domain.clone(),
            cluster_dns: match &scenario.config.dns {
                // kubeadm's clusterDNS: the tenth address of the service range.
                Some(_) => vec![
                    Ipv4Addr::from(u32::from(scenario.config.service_cidr.network()) + 10)
                        .to_string(),
                ],
                None => KubeletView::default().cluster_dns,
            },
        },
        measured: None,
        last_lookup: None,
        next_query_id: 1,
    };
    r.serve_externals();
    let mut report = RunReport {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        seed,
        nodes,
        steps: Vec::new(),
        flows: Vec::new(),
        errors: Vec::new(),
    };
    r.serve_new();
    let mut prev = SimTime::ZERO;
    for (index, step) in scenario.steps.iter().enumerate() {
        let want = match step.when {
            When::At(t) => t,
            When::After(d) => prev + d,
        };
        let t = want.max(r.engine.now());
        if let Err(e) = r.engine.run_until(t) {
            report.errors.push(e.to_string());
            break;
        }
        r.serve_new();
        r.step_index = index;
        let (what, status, details) = match r.step(t, &step.action) {
            Ok(x) => x,
            Err(e) => {
                report.errors.push(e);
                break;
            }
        };
        report.steps.push(StepReport {
            index,
            time: t,
            what,
            status,
            details,
            measured: r.measured.take(),
        });
        prev = r.engine.now().max(t);
        progress(index + 1, prev);
    }
    report.errors.extend(
        r.engine
            .world()
            .errors
            .iter()
            .map(|(t, e)| format!("{t}: {e}")),
    );
    report.flows = std::mem::take(&mut r.flows);
    let (world, trace) = r.engine.into_parts();
    Ok(RunOutput {
        report,
        world,
        trace,
    })
}

type StepOutcome = (String, Status, Vec<String>);

impl Runner {
    /// Starts netexec in every running agnhost pod that has none yet.
    /// Starts netexec on every external host (named after the host).
    fn serve_externals(&mut self) {
        let world = self.engine.world_mut();
        let hosts: Vec<(String, sim_net::NetNsId)> = world
            .cluster
            .externals
            .iter()
            .map(|(n, (ns, _))| (n.clone(), *ns))
            .collect();
        for (name, ns) in hosts {
            serve_netexec(
                world,
                ns,
                &name,
                &format!("external:{name}"),
                (NETEXEC_HTTP_PORT, NETEXEC_UDP_PORT),
            );
        }
    }

    fn serve_new(&mut self) {
        serve_new(self.engine.world_mut(), &mut self.served);
    }

    fn step(&mut self, t: SimTime, action: &Action) -> Result<StepOutcome, String> {
        Ok(match action {
            Action::Wait(d) => {
                self.engine.run_until(t + *d).map_err(|e| e.to_string())?;
                self.serve_new();
                (format!("wait {d}"), Status::Done, Vec::new())
            }
            Action::WaitUntil { checks, timeout } => self.wait_until(t, checks, *timeout)?,
            Action::Send(s) => self.send(t, s)?,
            Action::Dns(l) => self.dns(t, l)?,
            Action::Replay(r) => self.replay(t, r)?,
            Action::Apply(o) => {
                let key = o.key();
                let what = format!("apply {} {}", key.kind, show_key(&key));
                let store = &self.engine.world().cluster.store;
                let change = match store.get(&key) {
                    None => Change::Create((**o).clone()),
                    // A pod's spec is immutable and its status the kubelet's: no update.
                    Some(_) if key.kind == Kind::Pod => {
                        return Ok((
                            what,
                            Status::Failed,
                            vec!["the pod exists; delete it first".into()],
                        ));
                    }
                    Some(_) => {
                        let mut o = (**o).clone();
                        o.metadata_mut().resource_version = None;
                        Change::Update(o)
                    }
                };
                self.api(t, change);
                (what, Status::Done, Vec::new())
            }
            Action::Delete(key) => {
                let what = format!("delete {} {}", key.kind, show_key(key));
                if self.engine.world().cluster.store.get(key).is_none() {
                    return Ok((what, Status::Failed, vec!["not found".into()]));
                }
                self.api(t, Change::Delete(key.clone()));
                (what, Status::Done, Vec::new())
            }
            Action::Expect(checks) => self.expect(checks),
            Action::Scale {
                namespace,
                deployment,
                replicas,
            } => {
                let what = format!("scale deployment {namespace}/{deployment} to {replicas}");
                let store = &self.engine.world().cluster.store;
                let Some(d) = store.get_as::<Deployment>(namespace, deployment) else {
                    return Ok((what, Status::Failed, vec!["no such deployment".into()]));
                };
                let mut d = d.clone();
                d.spec.get_or_insert_with(Default::default).replicas = Some(*replicas);
                d.metadata.resource_version = None;
                self.api(t, Change::Update(Object::Deployment(d)));
                (what, Status::Done, Vec::new())
            }
            Action::SetCondition {
                namespace,
                pod,
                condition_type,
                status,
            } => {
                let word = if *status { "True" } else { "False" };
                let what =
                    format!("set condition {condition_type}={word} on pod {namespace}/{pod}");
                let store = &self.engine.world().cluster.store;
                let Some(p) = store.get_as::<Pod>(namespace, pod) else {
                    return Ok((what, Status::Failed, vec!["no such pod".into()]));
                };
                let mut p = p.clone();
                let now = store.time_at(t);
                set_pod_condition(&mut p, condition_type, *status, &now);
                p.metadata.resource_version = None;
                self.api(t, Change::Update(Object::Pod(p)));
                (what, Status::Done, Vec::new())
            }
            Action::Probe {
                namespace,
                pod,
                ready,
            } => {
                let what = format!(
                    "readiness probes of pod {namespace}/{pod} {}",
                    if *ready { "pass" } else { "fail" }
                );
                let store = &self.engine.world().cluster.store;
                let Some(p) = store.get_as::<Pod>(namespace, pod) else {
                    return Ok((what, Status::Failed, vec!["no such pod".into()]));
                };
                let mut p = p.clone();
                let now = store.time_at(t);
                let containers: Vec<String> = p
                    .spec
                    .iter()
                    .flat_map(|s| &s.containers)
                    .map(|c| c.name.clone())
                    .collect();
                let mut changed = false;
                for c in &containers {
                    changed |= set_container_ready(&mut p, c, *ready, &now);
                }
                if changed {
                    p.metadata.resource_version = None;
                    self.api(t, Change::Update(Object::Pod(p)));
                }
                (what, Status::Done, Vec::new())
            }
            Action::Node { name, op } => {
                let what = format!("{} {name}", op.as_str());
                if !self.engine.world().cluster.nodes.contains_key(name) {
                    return Ok((what, Status::Failed, vec!["no such node".into()]));
                }
                match op {
                    NodeOp::Fail => {
                        self.engine
                            .schedule_at(t, ClusterEvent::FailNode(name.clone()));
                    }
                    NodeOp::Heal => {
                        self.engine
                            .schedule_at(t, ClusterEvent::HealNode(name.clone()));
                    }
                    NodeOp::LinkDown | NodeOp::LinkUp => {
                        self.engine
                            .world_mut()
                            .set_link(name, *op == NodeOp::LinkUp);
                    }
                }
                (what, Status::Done, Vec::new())
            }
            Action::Snapshot { node, tables } => {
                let what = format!("snapshot of node {node}");
                let now = self.engine.now();
                let world = self.engine.world_mut();
                let Some(ns) = world.cluster.nodes.get(node).map(|n| n.netns) else {
                    return Ok((what, Status::Failed, vec!["no such node".into()]));
                };
                let details = tables
                    .iter()
                    .map(|table| snapshot(&mut world.sim.net, ns, *table, now))
                    .collect();
                (what, Status::Done, details)
            }
        })
    }

    /// A `replay` step: the capture's flows injected from the origin, one detail line per
    /// line of each flow's report.
    fn replay(&mut self, t: SimTime, r: &Replay) -> Result<StepOutcome, String> {
        let name = r.pcap.file_name().unwrap_or(r.pcap.as_os_str());
        let what = format!("replay {} from {}", name.to_string_lossy(), r.from);
        let plan = match crate::replay::read_plan(&r.pcap, &r.options) {
            Ok(p) => p,
            Err(e) => return Ok((what, Status::Failed, vec![e])),
        };
        if let Err(e) = crate::source::resolve(self.engine.world_mut(), &r.from) {
            return Ok((what, Status::Failed, vec![e]));
        }
        let reports = crate::replay::replay_in(&mut self.engine, &plan, &r.from, &r.options, t)?;
        self.serve_new();
        let details = reports
            .iter()
            .flat_map(|f| {
                f.to_string()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok((what, Status::Done, details))
    }

    fn api(&mut self, t: SimTime, change: Change) {
        self.engine
            .schedule_at(t, ClusterEvent::Api(Box::new(change)));
    }

    fn resolve(&self, to: &Target) -> Result<SocketAddrV4, String> {
        let c = &self.engine.world().cluster;
        match to {
            Target::Ip(ip, port) => Ok(SocketAddrV4::new(*ip, *port)),
            Target::Pod {
                namespace,
                name,
                port,
            } => c
                .pods
                .get(&format!("{namespace}/{name}"))
                .map(|p| SocketAddrV4::new(p.ip, *port))
                .ok_or_else(|| format!("pod {namespace}/{name} is not running")),
            Target::Service {
                namespace,
                name,
                port,
            } => c
                .store
                .get_as::<KService>(namespace, name)
                .and_then(|s| {
                    s.spec
                        .as_ref()?
                        .cluster_ip
                        .as_deref()?
                        .parse::<Ipv4Addr>()
                        .ok()
                })
                .map(|ip| SocketAddrV4::new(ip, *port))
                .ok_or_else(|| format!("service {namespace}/{name} has no clusterIP")),
            Target::Node { name, port } => c
                .nodes
                .get(name)
                .map(|n| SocketAddrV4::new(n.ip, *port))
                .ok_or_else(|| format!("node {name} does not exist")),
            Target::Name { host, .. } => Err(format!("{host}: a name is looked up by its client")),
        }
    }

    /// The resolver of the pod `from`: its namespace, resolv.conf and /etc/hosts as its
    /// kubelet wrote them.
    fn pod_resolver(&self, from: &Source) -> Result<PodResolver, String> {
        let Source::Pod { namespace, name } = from else {
            return Err(format!("{from}: names are looked up from pods only"));
        };
        let c = &self.engine.world().cluster;
        let key = format!("{namespace}/{name}");
        let (Some(run), Some(pod)) = (c.pods.get(&key), c.store.get_as::<Pod>(namespace, name))
        else {
            return Err(format!("pod {key} is not running"));
        };
        let conf = pod_file(pod, PodFile::ResolvConf, &self.kubelet)?;
        let hosts = pod_file(pod, PodFile::Hosts, &self.kubelet)
            .unwrap_or_else(|_| crate::pod_files::NODE_HOSTS.to_string());
        Ok(PodResolver {
            ns: run.sandbox.netns,
            conf: ResolverConf::parse(&conf),
            hosts,
        })
    }

    /// Runs a lookup from `from` at `t`.
    fn lookup(
        &mut self,
        t: SimTime,
        from: &Source,
        name: &str,
        qtype: RecordType,
    ) -> Result<LookupReport, String> {
        let resolver = self.pod_resolver(from)?;
        let at = self.engine.now().max(t);
        let first = self.next_query_id;
        let r = pod_lookup::lookup(&mut self.engine, at, &resolver, name, qtype, first)?;
        self.next_query_id = first.wrapping_add(r.queries.len().max(1) as u16);
        self.serve_new();
        Ok(r)
    }

    /// The lookup's queries as flow records of the current step, numbered from `first`.
    fn push_lookup_flows(&mut self, from: &Source, r: &LookupReport, first: u32) {
        for (i, q) in r.queries.iter().enumerate() {
            self.flows.push(FlowRecord {
                step: self.step_index,
                request: first + i as u32,
                from: from.to_string(),
                src: q.result.local,
                dst: q.result.dst,
                proto: match q.query.transport {
                    sim_k8s::dns::Transport::Udp => SocketProto::Udp,
                    sim_k8s::dns::Transport::Tcp => SocketProto::Tcp,
                },
                started: q.result.started,
                finished: q.result.finished,
                outcome: q.result.outcome.to_string(),
                success: q.result.outcome.is_success(),
                hops: q.hops.clone(),
            });
        }
    }

    fn dns(&mut self, t: SimTime, l: &DnsLookup) -> Result<StepOutcome, String> {
        let what = format!("dns {} {} from {}", l.qtype, l.name, l.from);
        let r = match self.lookup(t, &l.from, &l.name, l.qtype) {
            Ok(r) => r,
            Err(e) => return Ok((what, Status::Failed, vec![e])),
        };
        let details = dns_step::describe(&r);
        self.push_lookup_flows(&l.from, &r, 0);
        self.measured = Some(serde_json::json!({
            "queries": r.queries.len(),
            "durationNs": (r.finished - r.started).as_nanos(),
            "answers": dns_step::answer_data(&r),
        }));
        self.last_lookup = Some(r);
        Ok((what, Status::Done, details))
    }

    fn send(&mut self, t: SimTime, s: &Send) -> Result<StepOutcome, String> {
        let (kind, proto) = match &s.kind {
            SendKind::HttpGet(path) => (format!("GET {path}"), SocketProto::Tcp),
            SendKind::TcpConnect => ("TCP connect".into(), SocketProto::Tcp),
            SendKind::Udp(p) => (format!("UDP {p:?}"), SocketProto::Udp),
            // A ping socket is a datagram socket; the stack keys it by its request.
            SendKind::Ping { size } => (format!("ping ({size} data bytes)"), SocketProto::Udp),
            SendKind::Bulk { bytes } => (format!("bulk upload of {bytes} bytes"), SocketProto::Tcp),
        };
        let request = |index: u32| match &s.kind {
            SendKind::HttpGet(path) => Request::HttpGet { path: path.clone() },
            SendKind::TcpConnect => Request::Connect,
            SendKind::Udp(p) => Request::Send {
                payload: p.as_bytes().to_vec(),
            },
            SendKind::Ping { size } => Request::Ping {
                seq: (index + 1) as u16,
                size: *size,
            },
            SendKind::Bulk { bytes } => Request::Upload { bytes: *bytes },
        };
        let times = if s.count > 1 {
            format!(" ×{}", s.count)
        } else {
            String::new()
        };
        let what = format!("send {} → {} {kind}{times}", s.from, s.to_text);
        self.last = None;
        let ns = match crate::source::resolve(self.engine.world_mut(), &s.from) {
            Ok((ns, _)) => ns,
            Err(why) => return Ok((what, Status::Failed, vec![why])),
        };
        let mut resolved = Vec::new();
        let dst = match &s.to {
            Target::Name { host, port } => {
                let r = match self.lookup(t, &s.from, host, RecordType::A) {
                    Ok(r) => r,
                    Err(e) => return Ok((what, Status::Failed, vec![e])),
                };
                resolved = dns_step::describe(&r);
                // The send's own requests are 0..count; its lookup's queries follow.
                self.push_lookup_flows(&s.from, &r, s.count);
                let ip = dns_step::answer_data(&r)
                    .iter()
                    .find_map(|a| a.parse::<Ipv4Addr>().ok());
                match ip {
                    Some(ip) => SocketAddrV4::new(ip, *port),
                    None => {
                        resolved.push(format!("getaddrinfo {host}: no address"));
                        return Ok((what, Status::Failed, resolved));
                    }
                }
            }
            to => match self.resolve(to) {
                Ok(d) => d,
                Err(e) => return Ok((what, Status::Failed, vec![e])),
            },
        };
        let ping = matches!(s.kind, SendKind::Ping { .. });
        let bulk_bytes = match s.kind {
            SendKind::Bulk { bytes } => Some(bytes),
            _ => None,
        };
        let mut attempts = Vec::new();
        for index in 0..s.count {
            let at = self.engine.now().max(t);
            self.engine.world_mut().sim.hops.clear();
            let spec = ClientSpec {
                proto,
                dst,
                request: request(index),
                timeout: s.timeout,
            };
            let result = pod_lookup::run_request(&mut self.engine, at, ns, spec)?;
            let world = self.engine.world();
            let drop = if result.outcome.is_success() {
                None
            } else {
                world
                    .sim
                    .hops
                    .iter()
                    .find(|h| matches!(h.verdict, Verdict::Drop(_)))
                    .map(|h| {
                        let mut s = format!(
                            "{} {} {}: {}",
                            h.netns,
                            h.device.as_deref().unwrap_or("-"),
                            h.point.as_str(),
                            h.verdict
                        );
                        if !h.note.is_empty() {
                            s.push_str(&format!(" ({})", h.note));
                        }
                        s
                    })
            };
            let hops = std::mem::take(&mut self.engine.world_mut().sim.hops);
            if !ping {
                self.flows.push(FlowRecord {
                    step: self.step_index,
                    request: index,
                    from: s.from.to_string(),
                    src: result.local,
                    dst,
                    proto,
                    started: result.started,
                    finished: result.finished,
                    outcome: result.outcome.to_string(),
                    success: result.outcome.is_success(),
                    hops,
                });
            }
            attempts.push(Attempt {
                elapsed: result.elapsed(),
                outcome: result.outcome,
                drop,
                bulk_bytes,
            });
        }
        self.engine.world_mut().sim.hops.clear();
        let details = if ping {
            resolved.extend(ping_details(*dst.ip(), &attempts, &mut self.measured));
            resolved
        } else {
            let mut by_outcome: BTreeMap<String, usize> = BTreeMap::new();
            for a in &attempts {
                *by_outcome.entry(a.outcome.to_string()).or_default() += 1;
            }
            let mut details = std::mem::take(&mut resolved);
            details.push(format!("to {dst}"));
            details.extend(by_outcome.iter().map(|(o, n)| format!("{n}× {o}")));
            if bulk_bytes.is_some() {
                details.extend(bulk_details(&attempts, &mut self.measured));
            }
            let mut drops: BTreeSet<&str> = BTreeSet::new();
            for a in &attempts {
                if let Some(d) = &a.drop {
                    drops.insert(d);
                }
            }
            details.extend(drops.iter().map(|d| format!("dropped at {d}")));
            details
        };
        self.last = Some(attempts);
        Ok((what, Status::Done, details))
    }

    /// A `wait: {until}` step: the checks after every event until all hold or `timeout`
    /// passes (see the module doc).
    fn wait_until(
        &mut self,
        t: SimTime,
        checks: &[Check],
        timeout: SimDuration,
    ) -> Result<StepOutcome, String> {
        let deadline = t + timeout;
        let labels: Vec<String> = checks.iter().map(|c| self.check(c).0).collect();
        let what = format!("wait until {} (timeout {timeout})", labels.join(", "));
        let held = loop {
            if checks.iter().all(|c| self.check(c).1) {
                break true;
            }
            match self.engine.next_event_time() {
                Some(next) if next <= deadline => {
                    self.engine.step().map_err(|e| e.to_string())?;
                }
                _ => {
                    self.engine.run_until(deadline).map_err(|e| e.to_string())?;
                    break checks.iter().all(|c| self.check(c).1);
                }
            }
        };
        let now = self.engine.now();
        let waited = now.saturating_duration_since(t);
        self.serve_new();
        self.measured = Some(serde_json::json!({
            "held": held,
            "at": now.to_string(),
            "at_ns": now.as_nanos(),
            "waited_ns": waited.as_nanos(),
        }));
        let mut details = vec![if held {
            format!("held at {now}, after {waited}")
        } else {
            format!("still not held at {now}, the timeout; last observed:")
        }];
        for c in checks {
            let (_, pass, detail) = self.check(c);
            details.push(format!("{} {detail}", if pass { "✓" } else { "✗" }));
        }
        let status = if held { Status::Passed } else { Status::Failed };
        Ok((what, status, details))
    }

    fn expect(&self, checks: &[Check]) -> StepOutcome {
        let mut what = Vec::new();
        let mut details = Vec::new();
        let mut ok = true;
        for c in checks {
            let (w, pass, detail) = self.check(c);
            ok &= pass;
            what.push(w);
            details.push(format!("{} {detail}", if pass { "✓" } else { "✗" }));
        }
        let status = if ok { Status::Passed } else { Status::Failed };
        (format!("expect {}", what.join(", ")), status, details)
    }

    /// One check: its summary, whether it held, and expected vs happened.
    fn check(&self, c: &Check) -> (String, bool, String) {
        let attempts = self.last.as_deref().unwrap_or_default();
        let bodies: Vec<Option<String>> = attempts.iter().map(Attempt::body).collect();
        let none = attempts.is_empty();
        match c {
            Check::Succeeded(want) => {
                let through = attempts.iter().filter(|a| a.outcome.is_success()).count();
                (
                    format!("succeeded: {want}"),
                    !none && through == *want as usize,
                    format!(
                        "succeeded: expected {want}, {through}/{} requests got through",
                        attempts.len()
                    ),
                )
            }
            Check::MaxLatency(max) => {
                let ok: Vec<SimDuration> = attempts
                    .iter()
                    .filter(|a| a.outcome.is_success())
                    .map(|a| a.elapsed)
                    .collect();
                let worst = ok.iter().max().copied();
                (
                    format!("maxLatency: {max}"),
                    !ok.is_empty() && worst.is_some_and(|w| w <= *max),
                    format!(
                        "maxLatency: expected at most {max}, slowest of {} answered: {}",
                        ok.len(),
                        worst.map_or("-".into(), |w| w.to_string())
                    ),
                )
            }
            Check::MinThroughput(min) => {
                let rates: Vec<Option<u64>> =
                    attempts.iter().map(Attempt::throughput_bps).collect();
                let slowest = rates.iter().min().copied().flatten();
                let uploads = attempts.iter().filter(|a| a.bulk_bytes.is_some()).count();
                let got = match (uploads, slowest) {
                    (0, _) => "the last send was no bulk upload".to_string(),
                    (_, None) => "an upload did not get through".to_string(),
                    (n, Some(r)) => format!("slowest of {n}: {}", show_rate(r)),
                };
                (
                    format!("minThroughput: {}", show_rate(*min)),
                    uploads > 0 && slowest.is_some_and(|r| r >= *min),
                    format!(
                        "minThroughput: expected at least {}, {got}",
                        show_rate(*min)
                    ),
                )
            }
            Check::File {
                namespace,
                pod,
                file,
                contains,
            } => {
                let label = format!("file {namespace}/{pod}:{}", file.path());
                let text = self
                    .engine
                    .world()
                    .cluster
                    .store
                    .get_as::<Pod>(namespace, pod)
                    .ok_or_else(|| "no such pod".to_string())
                    .and_then(|p| pod_file(p, *file, &self.kubelet));
                let (pass, detail) = match text {
                    Err(e) => (false, e),
                    Ok(text) => {
                        let missing: Vec<&String> = contains
                            .iter()
                            .filter(|l| !text.lines().any(|x| x == l.as_str()))
                            .collect();
                        if missing.is_empty() {
                            (true, format!("has all {} lines", contains.len()))
                        } else {
                            (
                                false,
                                format!("lacks {missing:?}; the file is:\n{}", text.trim_end()),
                            )
                        }
                    }
                };
                (label.clone(), pass, format!("{label}: {detail}"))
            }
            Check::Dns(c) => dns_step::check(c, self.last_lookup.as_ref()),
            Check::NodeReady { node, status } => {
                let got = self
                    .engine
                    .world()
                    .cluster
                    .store
                    .get(&ObjectKey::cluster(Kind::Node, node.clone()))
                    .and_then(|o| match o {
                        Object::Node(n) => Some(n),
                        _ => None,
                    })
                    .map(|n| {
                        n.status
                            .iter()
                            .flat_map(|s| s.conditions.iter().flatten())
                            .find(|c| c.type_ == "Ready")
                            .map_or("True".to_string(), |c| c.status.clone())
                    });
                (
                    format!("node {node} Ready={status}"),
                    got.as_deref() == Some(*status),
                    format!(
                        "node {node} Ready: expected {status}, got {}",
                        got.unwrap_or_else(|| "no such node".into())
                    ),
                )
            }
            Check::Reachable(want) => {
                let through = attempts.iter().filter(|a| a.outcome.is_success()).count();
                let pass = !none
                    && if *want {
                        through == attempts.len()
                    } else {
                        through == 0
                    };
                let mut d = format!(
                    "reachable: expected {want}, {through}/{} requests got through",
                    attempts.len()
                );
                if let Some(a) = attempts.iter().find(|a| !a.outcome.is_success()) {
                    d.push_str(&format!("; first failure: {}", a.outcome));
                    if let Some(h) = &a.drop {
                        d.push_str(&format!(", dropped at {h}"));
                    }
                }
                (format!("reachable: {want}"), pass, d)
            }
            Check::Body(want) => {
                let got: BTreeSet<String> = bodies.iter().map(show).collect();
                let pass = !none && bodies.iter().all(|b| b.as_deref() == Some(want));
                (
                    format!("body: {want:?}"),
                    pass,
                    format!("body: expected {want:?}, got {}", join(&got)),
                )
            }
            Check::ServedBy(want) => {
                let got: BTreeSet<String> = bodies
                    .iter()
                    .map(|b| b.clone().unwrap_or_else(|| "<no answer>".into()))
                    .collect();
                let want_set: BTreeSet<String> = want.iter().cloned().collect();
                let pass = !none && got == want_set && bodies.iter().all(Option::is_some);
                (
                    format!("servedBy: [{}]", want.join(", ")),
                    pass,
                    format!("servedBy: expected {}, got {}", join(&want_set), join(&got)),
                )
            }
            Check::SourceIp(src) => {
                let (label, want) = match src {
                    SourceIp::Ip(ip) => (ip.to_string(), Some(*ip)),
                    SourceIp::Pod { namespace, name } => {
                        let key = format!("{namespace}/{name}");
                        let ip = self.engine.world().cluster.pods.get(&key).map(|p| p.ip);
                        (
                            format!(
                                "pod/{key} ({})",
                                ip.map_or("not running".into(), |i| i.to_string())
                            ),
                            ip,
                        )
                    }
                };
                let seen: Vec<Option<Ipv4Addr>> = bodies
                    .iter()
                    .map(|b| {
                        b.as_deref()
                            .and_then(|b| b.parse::<SocketAddrV4>().ok())
                            .map(|a| *a.ip())
                    })
                    .collect();
                let got: BTreeSet<String> = seen
                    .iter()
                    .map(|s| s.map_or("<no /clientip answer>".into(), |i| i.to_string()))
                    .collect();
                let pass = !none && want.is_some() && seen.iter().all(|s| *s == want);
                (
                    format!("sourceIP: {label}"),
                    pass,
                    format!("sourceIP: expected {label}, server saw {}", join(&got)),
                )
            }
            Check::Endpoints {
                namespace,
                service,
                ready,
                not_ready,
            } => {
                let ep = self
                    .engine
                    .world()
                    .cluster
                    .store
                    .get_as::<Endpoints>(namespace, service);
                let count = |f: fn(&k8s_openapi::api::core::v1::EndpointSubset) -> usize| {
                    ep.map_or(0, |e| e.subsets.iter().flatten().map(f).sum())
                };
                let r = count(|s| s.addresses.as_ref().map_or(0, Vec::len));
                let nr = count(|s| s.not_ready_addresses.as_ref().map_or(0, Vec::len));
                let mut want = Vec::new();
                if let Some(x) = ready {
                    want.push(format!("ready {x}"));
                }
                if let Some(x) = not_ready {
                    want.push(format!("notReady {x}"));
                }
                let pass = ep.is_some()
                    && ready.is_none_or(|x| x == r)
                    && not_ready.is_none_or(|x| x == nr);
                let got = if ep.is_some() {
                    format!("ready {r}, notReady {nr}")
                } else {
                    "no Endpoints object".into()
                };
                (
                    format!("endpoints {namespace}/{service}: {}", want.join(", ")),
                    pass,
                    format!(
                        "endpoints {namespace}/{service}: expected {}, got {got}",
                        want.join(", ")
                    ),
                )
            }
        }
    }
}

/// One table of a node, headed like a shell session (`# ip route`).
fn snapshot(
    net: &mut sim_net::Network,
    ns: sim_net::NetNsId,
    table: SnapshotTable,
    now: SimTime,
) -> String {
    use sim_net::dump;
    use sim_net::route::TableId;
    let (command, text) = match table {
        SnapshotTable::Addr => ("ip addr", dump::ip_addr(net, ns)),
        SnapshotTable::Routes => ("ip route", dump::ip_route(net, ns, TableId::Main)),
        SnapshotTable::Neigh => ("ip neigh", dump::ip_neigh(net, ns, now)),
        SnapshotTable::Fdb => ("bridge fdb", dump::bridge_fdb(net, ns, now)),
        SnapshotTable::Iptables => (
            "iptables-save -c",
            net.netns_mut(ns)
                .netfilter
                .save_with(sim_net::netfilter::SaveOptions {
                    counters: true,
                    header: false,
                    table: None,
                }),
        ),
        SnapshotTable::Conntrack => ("conntrack -L", net.netns(ns).netfilter.conntrack.dump(now)),
    };
    format!("# {command}\n{}", text.trim_end())
}

/// Per echo request, what came back and its round-trip time, then `ping`'s summary line.
fn ping_details(
    dst: Ipv4Addr,
    attempts: &[Attempt],
    measured: &mut Option<serde_json::Value>,
) -> Vec<String> {
    let mut details = vec![format!("to {dst}")];
    let mut echoes = Vec::new();
    for (i, a) in attempts.iter().enumerate() {
        let seq = i + 1;
        let rtt = a.outcome.is_success().then_some(a.elapsed);
        let mut line = match rtt {
            Some(rtt) => format!("icmp_seq={seq}: {} time={rtt}", a.outcome),
            None if a.outcome == Outcome::TimedOut => {
                format!("icmp_seq={seq}: no reply within {}", a.elapsed)
            }
            None => format!("icmp_seq={seq}: {}", a.outcome),
        };
        if let Some(d) = &a.drop {
            line.push_str(&format!(", dropped at {d}"));
        }
        details.push(line);
        echoes.push(serde_json::json!({
            "seq": seq,
            "outcome": a.outcome.to_string(),
            "rtt_ns": rtt.map(|r| r.as_nanos()),
            "dropped_at": a.drop,
        }));
    }
    let rtts: Vec<SimDuration> = attempts
        .iter()
        .filter(|a| a.outcome.is_success())
        .map(|a| a.elapsed)
        .collect();
    let sent = attempts.len();
    let received = rtts.len();
    let mut summary = format!(
        "{sent} transmitted, {received} received, {}% packet loss",
        (sent - received) * 100 / sent.max(1)
    );
    if let (Some(min), Some(max)) = (rtts.iter().min(), rtts.iter().max()) {
        let total: u64 = rtts.iter().map(|r| r.as_nanos()).sum();
        let avg = SimDuration::from_nanos(total / rtts.len() as u64);
        summary.push_str(&format!(", rtt min/avg/max = {min}/{avg}/{max}"));
    }
    details.push(summary);
    *measured = Some(serde_json::json!({ "echoes": echoes }));
    details
}

/// Per upload, its bytes, duration and throughput.
fn bulk_details(attempts: &[Attempt], measured: &mut Option<serde_json::Value>) -> Vec<String> {
    let mut details = Vec::new();
    let mut uploads = Vec::new();
    for a in attempts {
        let bytes = a.bulk_bytes.unwrap_or_default();
        let rate = a.throughput_bps();
        if let Some(r) = rate {
            details.push(format!("{bytes} bytes in {}: {}", a.elapsed, show_rate(r)));
        }
        uploads.push(serde_json::json!({
            "bytes": bytes,
            "duration_ns": a.elapsed.as_nanos(),
            "throughput_bps": rate,
            "outcome": a.outcome.to_string(),
        }));
    }
    *measured = Some(serde_json::json!({ "uploads": uploads }));
    details
}

/// A rate in bits per second as `tc` prints one: `49.87Mbit`, `950Kbit`, `1Gbit`.
fn show_rate(bps: u64) -> String {
    let (unit, scale) = match bps {
        u64::MAX => return "unbounded".into(),
        b if b >= 1_000_000_000 => ("Gbit", 1_000_000_000),
        b if b >= 1_000_000 => ("Mbit", 1_000_000),
        b if b >= 1_000 => ("Kbit", 1_000),
        _ => return format!("{bps}bit"),
    };
    let hundredths = (u128::from(bps) * 100 / scale) as u64;
    let text = format!("{}.{:02}", hundredths / 100, hundredths % 100);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

fn show_key(k: &ObjectKey) -> String {
    if k.namespace.is_empty() {
        k.name.clone()
    } else {
        format!("{}/{}", k.namespace, k.name)
    }
}

fn show(b: &Option<String>) -> String {
    b.as_ref()
        .map_or("<no answer>".into(), |b| format!("{b:?}"))
}

fn join(s: &BTreeSet<String>) -> String {
    format!("{{{}}}", s.iter().cloned().collect::<Vec<_>>().join(", "))
}
