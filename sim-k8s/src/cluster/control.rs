//! The cluster over time: the control plane driven by the engine. API changes (a scenario's
//! apply, delete, scale) go into the store; the store's watch events reach each controller
//! after its watch lag ([`DEFAULT_WATCH_LAG`](crate::store::watch::DEFAULT_WATCH_LAG) unless
//! set); controllers write back, and their writes are watched in turn. So a pod created at
//! `t` is bound one lag later, plumbed by its node's kubelet one lag after that, and listed
//! in Endpoints one more lag later — the eventual consistency of a real cluster, visible and
//! measurable. The dataplane runs in the same engine ([`NetSim`]).
//!
//! Controllers here: the workload controllers (Deployment → ReplicaSet → pods, scaling up
//! and down), the scheduler, one kubelet per node (sandbox + CNI on bind; a deleted pod is
//! forgotten, its sandbox left in place), the Endpoints + EndpointSlice controllers, one
//! kube-proxy per node ([`super::kube_proxy`]), and with `policy_agent` the NetworkPolicy
//! agents, which re-render every running node's policy rules from their cache on each event
//! they hear (one watch lag after the change), and with `dns` the DNS pods' informers
//! ([`super::dns_pods`]), whose servers answer the queries that reach the pods.
//! The Endpoints and EndpointSlice controllers reconcile their informer cache (the objects
//! their watch has delivered so far) on every event, not the store itself — so they act on
//! what they have heard, as upstream's listers do; their writes carry no resourceVersion
//! precondition (last writer wins). The other controllers act on the event's object read
//! back from the store.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use sim_core::{Ctx, Engine, SimDuration, SimTime, TraceRecord, World};
use sim_net::socket::Service;
use sim_net::{NetSim, SimEvent};

use super::dns_pods::{self, DnsPods};
use super::kube_proxy::{self, RunDecision};
use super::{Cluster, node_lifecycle, workloads};
use crate::controller::endpoints;
use crate::controller::endpointslice::EndpointSliceController;
use crate::object::{Kind, Object, ObjectKey};
use crate::policy::{PolicyView, render_node};
use crate::proxy::healthcheck;
use crate::store::watch::{Delivery, EventType, WatchSpec, WatcherId};
use crate::store::{Change, Store};

/// What runs in the engine.
#[derive(Debug, Clone)]
pub enum ClusterEvent {
    /// The dataplane.
    Net(SimEvent),
    /// A watch event reaching a controller.
    Deliver(Box<Delivery>),
    /// A change to the API (a user, a scenario step).
    Api(Box<Change>),
    /// The node goes down: its link to the network and its kubelet stop.
    FailNode(String),
    /// A failed node comes back.
    HealNode(String),
    /// A node-monitor pass that finds the node silent since `heartbeat`, if it still is.
    NodeMonitor { node: String, heartbeat: SimTime },
    /// A node's kube-proxy runs the sync its runner scheduled.
    ProxySync(String),
}

impl From<SimEvent> for ClusterEvent {
    fn from(e: SimEvent) -> Self {
        ClusterEvent::Net(e)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Controller {
    Workloads,
    Scheduler,
    Kubelet(String),
    Endpoints,
    KubeProxy(String),
    PolicyAgent,
    Dns,
}

/// A cluster running in the engine.
pub struct ClusterSim {
    /// The API objects and node/pod bookkeeping; its `net` lives in `sim` while running.
    pub cluster: Cluster,
    pub sim: NetSim,
    controllers: BTreeMap<WatcherId, Controller>,
    /// The Endpoints controllers' informer cache: what their watch has told them so far.
    view: BTreeMap<ObjectKey, Object>,
    /// Errors controllers met (a pod the kubelet could not start...), with when.
    pub errors: Vec<(SimTime, String)>,
    /// Failed nodes, with their kubelet's last heartbeat.
    pub failed: BTreeMap<String, SimTime>,
    /// The NetworkPolicy agents' informer cache (Namespaces, Pods, NetworkPolicies, Nodes).
    policy_view: BTreeMap<ObjectKey, Object>,
    /// The DNS add-on's pods at work (with `config.dns`).
    pub dns: Option<DnsPods>,
}

impl ClusterSim {
    /// Starts the control plane on a built cluster; every controller watches with `lag`.
    pub fn new(mut cluster: Cluster, seed: u64, lag: SimDuration) -> Self {
        let net = std::mem::take(&mut cluster.net);
        let mut controllers = BTreeMap::new();
        let mut view = BTreeMap::new();
        let mut watch = |c: Controller, kinds: &[Kind]| {
            let spec = WatchSpec {
                lag,
                ..WatchSpec::new(kinds.iter().copied())
            };
            // The initial list is already reconciled by the build; the Endpoints
            // controllers keep it as their cache.
            let (id, initial) = cluster.store.watch(SimTime::ZERO, spec);
            if c == Controller::Endpoints {
                for d in initial {
                    view.insert(d.event.object.key(), d.event.object);
                }
            }
            controllers.insert(id, c);
        };
        watch(Controller::Workloads, &[Kind::Deployment, Kind::ReplicaSet]);
        watch(Controller::Scheduler, &[Kind::Pod]);
        let nodes: Vec<String> = cluster.nodes.keys().cloned().collect();
        for n in &nodes {
            watch(Controller::Kubelet(n.clone()), &[Kind::Pod]);
        }
        // kube-proxies start from the build's sync; their caches already hold the list.
        for n in nodes
            .iter()
            .filter(|n| cluster.kube_proxies.contains_key(*n))
        {
            watch(Controller::KubeProxy(n.clone()), &kube_proxy::WATCHED);
        }
        watch(
            Controller::Endpoints,
            &[
                Kind::Namespace,
                Kind::Node,
                Kind::Service,
                Kind::Pod,
                Kind::Endpoints,
                Kind::EndpointSlice,
            ],
        );
        // The policy agents all watch with the same lag, so one cache serves them all.
        let policy_kinds = [Kind::Namespace, Kind::Pod, Kind::NetworkPolicy, Kind::Node];
        if cluster.config.policy_agent {
            watch(Controller::PolicyAgent, &policy_kinds);
        }
        let policy_view: BTreeMap<ObjectKey, Object> = if cluster.config.policy_agent {
            policy_kinds
                .iter()
                .flat_map(|k| cluster.store.creation_order(*k))
                .map(|o| (o.key(), o.clone()))
                .collect()
        } else {
            BTreeMap::new()
        };
        let dns = cluster.config.dns.clone().map(|config| {
            let spec = WatchSpec {
                lag: lag + config.flavour.extra_watch_lag(),
                ..WatchSpec::new(dns_pods::WATCHED)
            };
            let (id, initial) = cluster.store.watch(SimTime::ZERO, spec);
            controllers.insert(id, Controller::Dns);
            DnsPods::new(config, initial.into_iter().map(|d| d.event.object))
        });
        let mut sim = ClusterSim {
            cluster,
            sim: NetSim::new(net, seed),
            controllers,
            view,
            errors: Vec::new(),
            failed: BTreeMap::new(),
            policy_view,
            dns,
        };
        let dns_pods: Vec<String> = sim
            .cluster
            .pods
            .keys()
            .filter(|k| sim.is_dns_pod(k))
            .cloned()
            .collect();
        for pod in dns_pods {
            sim.start_dns_pod(SimTime::ZERO, &pod);
        }
        let proxied: Vec<String> = sim.cluster.kube_proxies.keys().cloned().collect();
        for node in proxied {
            sim.serve_health_checks(SimTime::ZERO, &node);
        }
        sim
    }

    /// Whether the running pod `key` (`namespace/name`) belongs to the DNS add-on.
    fn is_dns_pod(&self, key: &str) -> bool {
        let Some((ns, name)) = key.split_once('/') else {
            return false;
        };
        self.dns.is_some()
            && self
                .cluster
                .store
                .get(&ObjectKey::new(Kind::Pod, ns, name))
                .is_some_and(DnsPods::is_dns_pod)
    }

    /// Starts the DNS server of the running DNS pod `key` on 53/UDP and 53/TCP.
    fn start_dns_pod(&mut self, now: SimTime, key: &str) {
        let (Some(dns), Some(pod)) = (&mut self.dns, self.cluster.pods.get(key)) else {
            return;
        };
        let ns = pod.sandbox.netns;
        let resolver = self.cluster.router_ip();
        let corefile = dns.config.corefile(&self.cluster.store);
        let mut started = dns.start(
            ns,
            key,
            pod.ip,
            &corefile,
            resolver,
            &self.cluster.externals,
        );
        for proto in [sim_net::SocketProto::Udp, sim_net::SocketProto::Tcp] {
            if started.is_ok() {
                started = self
                    .sim
                    .set_service(ns, proto, 53, Service::Dns)
                    .map_err(|e| format!("DNS pod {key}: {e}"));
            }
        }
        if let Err(e) = started {
            self.errors.push((now, e));
        }
    }

    /// The DNS pods answer the queries that reached them.
    fn answer_dns(&mut self, ctx: &mut Ctx<'_, ClusterEvent>) {
        let queries = self.sim.take_deferred();
        let Some(dns) = &mut self.dns else {
            return;
        };
        let logged = dns.log.len();
        for q in queries {
            if let Some(answer) = dns.answer(ctx.now(), &q) {
                if ctx.tracing()
                    && let Some(r) = dns.trace_record(ctx.now(), &q, &answer)
                {
                    ctx.trace(r);
                }
                self.sim.answer_deferred(ctx, &q, &answer);
            }
        }
        if ctx.tracing() {
            for l in &dns.log[logged..] {
                ctx.trace(
                    TraceRecord::new(l.time, l.pod.clone(), "dns-log").with("line", l.line.clone()),
                );
            }
        }
    }

    /// Starts or updates `node`'s kube-proxy health check servers after a sync.
    fn serve_health_checks(&mut self, now: SimTime, node: &str) {
        let (Some(kp), Some(n)) = (
            self.cluster.kube_proxies.get(node),
            self.cluster.nodes.get(node),
        ) else {
            return;
        };
        let ns = n.netns;
        let servers = healthcheck::servers(kp.proxier.services(), kp.proxier.endpoints());
        for (port, answer) in servers {
            if let Err(e) =
                self.sim
                    .set_service(ns, sim_net::SocketProto::Tcp, port, Service::Http(answer))
            {
                self.errors
                    .push((now, format!("kube-proxy {node}: health check :{port}: {e}")));
            }
        }
    }

    /// An engine running this cluster with `events` scheduled.
    pub fn into_engine(
        self,
        seed: u64,
        events: impl IntoIterator<Item = (SimTime, ClusterEvent)>,
    ) -> Engine<ClusterSim> {
        let mut engine = Engine::new(self, seed);
        for (at, e) in events {
            engine.schedule_at(at, e);
        }
        engine
    }

    fn apply(&mut self, ctx: &mut Ctx<'_, ClusterEvent>, change: Change) {
        let now = ctx.now();
        let key = change.key();
        match self.cluster.store.apply_change(now, change) {
            Ok(outcome) => schedule(ctx, outcome.deliveries),
            // A controller racing a deletion, or a user's bad change: recorded, not fatal.
            Err(e) => self
                .errors
                .push((now, format!("{}/{}: {e}", key.namespace, key.name))),
        }
    }

    fn apply_all(&mut self, ctx: &mut Ctx<'_, ClusterEvent>, changes: Vec<Change>) {
        for c in changes {
            self.apply(ctx, c);
        }
    }

    fn deliver(&mut self, ctx: &mut Ctx<'_, ClusterEvent>, d: Delivery) {
        let Some(c) = self.controllers.get(&d.watcher).cloned() else {
            return;
        };
        match c {
            Controller::Workloads => {
                let changes = workload_changes(&self.cluster);
                self.apply_all(ctx, changes);
            }
            Controller::Scheduler => {
                if let Object::Pod(p) = &d.event.object
                    && d.event.event_type != EventType::Deleted
                    && p.spec.as_ref().is_some_and(|s| s.node_name.is_none())
                {
                    let key = p_key(p);
                    // Bind the current version (the event may be stale).
                    if let Some(Object::Pod(cur)) = self.cluster.store.get(&key).cloned()
                        && let Some(node) = least_loaded(&self.cluster, &self.failed)
                    {
                        let mut cur = cur;
                        cur.spec.get_or_insert_with(Default::default).node_name = Some(node);
                        self.apply(ctx, Change::Update(Object::Pod(cur)));
                    }
                }
            }
            Controller::Kubelet(node) => self.kubelet(ctx, &node, &d),
            Controller::KubeProxy(node) => self.kube_proxy(ctx, &node, d),
            Controller::Dns => {
                if let Some(dns) = &mut self.dns {
                    dns.observe(d.event.event_type == EventType::Deleted, d.event.object);
                }
            }
            Controller::PolicyAgent => {
                let key = d.event.object.key();
                if d.event.event_type == EventType::Deleted {
                    self.policy_view.remove(&key);
                } else {
                    self.policy_view.insert(key, d.event.object);
                }
                self.sync_policy_agents(ctx.now());
            }
            Controller::Endpoints => {
                let key = d.event.object.key();
                if d.event.event_type == EventType::Deleted {
                    self.view.remove(&key);
                } else {
                    self.view.insert(key, d.event.object);
                }
                // Reconcile against the cache, as upstream's listers do; writes are
                // last-writer-wins (no resourceVersion preconditions).
                let mut cache = Store::new();
                if let Err(e) = cache.restore_all(SimTime::ZERO, self.view.values()) {
                    self.errors
                        .push((ctx.now(), format!("endpoints cache: {e}")));
                    return;
                }
                let mut changes = endpoints::reconcile(&cache);
                changes.extend(EndpointSliceController::default().reconcile(&cache));
                for c in &mut changes {
                    if let Change::Update(o) = c {
                        o.metadata_mut().resource_version = None;
                    }
                }
                self.apply_all(ctx, changes);
            }
        }
    }

    /// A watch event reaches `node`'s kube-proxy: its cache takes it and its runner decides
    /// when to program it.
    fn kube_proxy(&mut self, ctx: &mut Ctx<'_, ClusterEvent>, node: &str, d: Delivery) {
        if self.failed.contains_key(node) {
            return;
        }
        let Some(config) = self.cluster.config.kube_proxy.clone() else {
            return;
        };
        let Some(kp) = self.cluster.kube_proxies.get_mut(node) else {
            return;
        };
        kp.observe(d.event.event_type == EventType::Deleted, d.event.object);
        match kp.request(ctx.now(), &config) {
            RunDecision::Now => self.sync_kube_proxy(ctx.now(), node),
            RunDecision::At(t) => {
                ctx.schedule_at(t, ClusterEvent::ProxySync(node.to_string()));
            }
            RunDecision::AlreadyPending => {}
        }
    }

    /// Every running node's policy agent renders its rules from the agents' cache.
    fn sync_policy_agents(&mut self, now: SimTime) {
        let view = match PolicyView::from_objects(self.policy_view.values()) {
            Ok(v) => v,
            Err(e) => {
                self.errors.push((now, format!("NetworkPolicy agent: {e}")));
                return;
            }
        };
        let nodes: Vec<(String, sim_net::NetNsId)> = self
            .cluster
            .nodes
            .iter()
            .filter(|(n, _)| !self.failed.contains_key(*n))
            .map(|(n, r)| (n.clone(), r.netns))
            .collect();
        for (node, ns) in nodes {
            let loaded = render_node(&view, &node)
                .map_err(|e| e.to_string())
                .and_then(|rules| {
                    rules
                        .load(&mut self.sim.net.netns_mut(ns).netfilter)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = loaded {
                self.errors
                    .push((now, format!("NetworkPolicy agent on {node}: {e}")));
            }
        }
    }

    /// Runs `node`'s kube-proxy sync on the live network.
    fn sync_kube_proxy(&mut self, now: SimTime, node: &str) {
        if self.failed.contains_key(node) {
            return;
        }
        std::mem::swap(&mut self.cluster.net, &mut self.sim.net);
        let result = self.cluster.sync_kube_proxy(node, now);
        std::mem::swap(&mut self.cluster.net, &mut self.sim.net);
        match result {
            Ok(()) => self.serve_health_checks(now, node),
            Err(e) => self.errors.push((now, e.to_string())),
        }
    }

    fn kubelet(&mut self, ctx: &mut Ctx<'_, ClusterEvent>, node: &str, d: &Delivery) {
        let Object::Pod(p) = &d.event.object else {
            return;
        };
        if p.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node)
            || self.failed.contains_key(node)
        {
            return;
        }
        let key = p_key(p);
        let name = format!("{}/{}", key.namespace, key.name);
        if d.event.event_type == EventType::Deleted {
            if let (Some(dns), Some(pod)) = (&mut self.dns, self.cluster.pods.get(&name)) {
                dns.stop(pod.sandbox.netns);
            }
            self.cluster.pods.remove(&name);
            return;
        }
        if self.cluster.pods.contains_key(&name) {
            return;
        }
        let Some(Object::Pod(cur)) = self.cluster.store.get(&key).cloned() else {
            return;
        };
        if cur.metadata.deletion_timestamp.is_some() {
            return;
        }
        // The kubelet plumbs the network the dataplane is running on.
        std::mem::swap(&mut self.cluster.net, &mut self.sim.net);
        let result = self.cluster.run_pod(cur, ctx.now());
        std::mem::swap(&mut self.cluster.net, &mut self.sim.net);
        match result {
            // The status the kubelet wrote reaches the watchers.
            Ok(deliveries) => {
                schedule(ctx, deliveries);
                if self.is_dns_pod(&name) {
                    self.start_dns_pod(ctx.now(), &name);
                }
            }
            Err(e) => self
                .errors
                .push((ctx.now(), format!("kubelet {node}: {e}"))),
        }
    }
}

impl ClusterSim {
    /// The node's uplink (its `eth0`'s link to the segment).
    fn uplink(&self, node: &str) -> Option<sim_net::LinkId> {
        let eth0 = self.cluster.nodes.get(node)?.eth0;
        match self.sim.net.device(eth0).kind {
            sim_net::device::DeviceKind::Nic { link } => link,
            _ => None,
        }
    }

    /// Whether the node's uplink is up (`linkUp`/`linkDown`).
    pub fn set_link(&mut self, node: &str, up: bool) -> bool {
        let Some(link) = self.uplink(node) else {
            return false;
        };
        self.sim.net.link_mut(link).up = up;
        true
    }

    fn fail_node(&mut self, ctx: &mut Ctx<'_, ClusterEvent>, node: String) {
        if self.failed.contains_key(&node) || !self.set_link(&node, false) {
            return;
        }
        let heartbeat = node_lifecycle::last_heartbeat(ctx.now());
        ctx.schedule_at(
            node_lifecycle::detection_time(heartbeat).max(ctx.now()),
            ClusterEvent::NodeMonitor {
                node: node.clone(),
                heartbeat,
            },
        );
        self.failed.insert(node, heartbeat);
    }

    fn heal_node(&mut self, ctx: &mut Ctx<'_, ClusterEvent>, node: String) {
        if self.failed.remove(&node).is_none() {
            return;
        }
        self.set_link(&node, true);
        // Its kube-proxy relists what it missed and syncs.
        let relist = self.cluster.kube_proxy_list();
        if let Some(kp) = self.cluster.kube_proxies.get_mut(&node) {
            kp.cache = relist;
            kp.relisted = true;
            kp.pending = None;
            self.sync_kube_proxy(ctx.now(), &node);
        }
        let changes = node_lifecycle::mark_ready(&self.cluster.store, &node, ctx.now());
        self.apply_all(ctx, changes);
    }
}

fn schedule(ctx: &mut Ctx<'_, ClusterEvent>, deliveries: Vec<Delivery>) {
    for d in deliveries {
        ctx.schedule_at(d.due, ClusterEvent::Deliver(Box::new(d)));
    }
}

fn p_key(p: &Pod) -> ObjectKey {
    ObjectKey::new(
        Kind::Pod,
        p.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        p.metadata.name.clone().unwrap_or_default(),
    )
}

/// The node with the fewest pods bound, ties in node order (the build's scheduler); failed
/// nodes carry the `unreachable` NoSchedule taint and are skipped.
fn least_loaded(c: &Cluster, failed: &BTreeMap<String, SimTime>) -> Option<String> {
    let mut load: BTreeMap<&str, usize> = c
        .nodes
        .keys()
        .filter(|n| !failed.contains_key(*n))
        .map(|n| (n.as_str(), 0))
        .collect();
    for o in c.store.iter() {
        if let Object::Pod(p) = o
            && let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref())
            && let Some(l) = load.get_mut(n)
        {
            *l += 1;
        }
    }
    let order: Vec<&String> = c
        .nodes
        .keys()
        .filter(|n| load.contains_key(n.as_str()))
        .collect();
    order.into_iter().min_by_key(|n| load[n.as_str()]).cloned()
}

/// What the Deployment and ReplicaSet controllers want changed: missing ReplicaSets and pods
/// created, pods beyond `replicas` deleted (the highest names first).
fn workload_changes(c: &Cluster) -> Vec<Change> {
    let store = &c.store;
    let mut changes = Vec::new();
    for o in store.creation_order(Kind::Deployment) {
        let Object::Deployment(d) = o else { continue };
        let Some(rs) = workloads::replica_set_for(d) else {
            continue;
        };
        let key = ObjectKey::new(
            Kind::ReplicaSet,
            rs.metadata.namespace.clone().unwrap_or_default(),
            rs.metadata.name.clone().unwrap_or_default(),
        );
        match store.get(&key) {
            None => changes.push(Change::Create(Object::ReplicaSet(rs))),
            Some(Object::ReplicaSet(cur)) => {
                let want = rs.spec.as_ref().and_then(|s| s.replicas);
                if cur.spec.as_ref().and_then(|s| s.replicas) != want {
                    let mut cur = cur.clone();
                    cur.spec.get_or_insert_with(Default::default).replicas = want;
                    changes.push(Change::Update(Object::ReplicaSet(cur)));
                }
            }
            Some(_) => {}
        }
    }
    for o in store.creation_order(Kind::ReplicaSet) {
        let Object::ReplicaSet(rs) = o else { continue };
        let name = rs.metadata.name.clone().unwrap_or_default();
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        let want = workloads::pods_for(rs);
        let mut owned: Vec<String> = store
            .list_as::<Pod>(Some(&ns))
            .filter(|p| {
                p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.kind == "ReplicaSet" && r.name == name)
                    && p.metadata.deletion_timestamp.is_none()
            })
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        for mut p in want {
            let pname = p.metadata.name.clone().unwrap_or_default();
            if owned.contains(&pname) {
                continue;
            }
            if let Some(r) = p
                .metadata
                .owner_references
                .as_mut()
                .and_then(|v| v.first_mut())
            {
                r.uid = rs.metadata.uid.clone().unwrap_or_default();
            }
            owned.push(pname);
            changes.push(Change::Create(Object::Pod(p)));
        }
        let replicas = rs
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0) as usize;
        let keep: Vec<String> = workloads::pods_for(rs)
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .take(replicas)
            .collect();
        for extra in owned.iter().filter(|n| !keep.contains(n)) {
            changes.push(Change::Delete(ObjectKey::new(
                Kind::Pod,
                ns.clone(),
                extra.clone(),
            )));
        }
    }
    changes
}

impl World for ClusterSim {
    type Event = ClusterEvent;

    fn handle(&mut self, ctx: &mut Ctx<'_, ClusterEvent>, event: ClusterEvent) {
        match event {
            ClusterEvent::Net(e) => {
                self.sim.handle_event(ctx, e);
                if self.sim.has_deferred() {
                    self.answer_dns(ctx);
                }
            }
            ClusterEvent::Api(change) => self.apply(ctx, *change),
            ClusterEvent::Deliver(d) => self.deliver(ctx, *d),
            ClusterEvent::FailNode(node) => self.fail_node(ctx, node),
            ClusterEvent::HealNode(node) => self.heal_node(ctx, node),
            ClusterEvent::ProxySync(node) => self.sync_kube_proxy(ctx.now(), &node),
            ClusterEvent::NodeMonitor { node, heartbeat } => {
                if self.failed.get(&node) == Some(&heartbeat) {
                    let changes =
                        node_lifecycle::mark_unknown(&self.cluster.store, &node, ctx.now());
                    self.apply_all(ctx, changes);
                }
            }
        }
    }
}
