//! The scenario file as written: serde types for the YAML, unknown fields refused.
//!
//! A step is a mapping with its timing (`at:` absolute, or `after:` the previous step) and
//! exactly one action key (`send`, `expect`, `scale`, `setCondition`, `wait`, `apply`,
//! `delete`, `replay`). Each action
//! is an `Option` field here so unknown keys are refused by serde and "exactly one" is
//! checked by [`super::step`]; a new kind of step (DNS, NetworkPolicy) is one more field and
//! one more [`super::step::Action`] variant.

use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use sim_core::SimDuration;

/// The whole file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Root seed of every random choice in the run.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Inline Kubernetes objects, or `include: PATH` (relative to the scenario file).
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Value>")]
    pub manifests: Vec<Spanned<serde_json::Value>>,
    #[serde(default)]
    #[schemars(with = "Vec<StepFile>")]
    pub steps: Vec<Spanned<StepFile>>,
    /// What to write after the run (`pcapng`, `dot`, `svg`, `mermaid`, `jsonl`, `flows`,
    /// `html`); see [`crate::export`].
    #[serde(default)]
    #[schemars(schema_with = "exports_schema")]
    pub exports: Vec<Spanned<String>>,
}

/// The schema of `exports:`: a list of the export names.
fn exports_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = crate::export::ExportKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    schemars::json_schema!({
        "type": "array",
        "items": {"enum": names},
        "description": "What to write after the run, into OUT/<name>/."
    })
}

/// `cluster:` — what [`sim_k8s::cluster::ClusterConfig`] takes; unset fields keep its
/// defaults.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSection {
    /// A node count (`node-1`..`node-N`), or the node names.
    pub nodes: Option<NodesSpec>,
    /// `kubenet` (default) or `bridge`.
    pub network_plugin: Option<PluginName>,
    /// kube-proxy's mode on every node: `iptables` (default) or `none` (no kube-proxy). A
    /// `KubeProxyConfiguration` among the manifests configures it (its `mode` must agree).
    pub proxy_mode: Option<String>,
    /// The NetworkPolicy agent on every node: `none` (the default: kubenet and the bridge
    /// plugin enforce no NetworkPolicy) or `kube-router` (iptables + ipset, per pod).
    pub network_policy: Option<String>,
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: Option<String>,
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: Option<String>,
    /// kubelet's `clusterDomain` (default `cluster.local`).
    pub cluster_domain: Option<String>,
    /// The cluster DNS add-on, as kubeadm installs it with the `kubernetes` Service:
    /// `coredns` (v3), `kube-dns` (v2: kubedns behind a dnsmasq cache) or `skydns` (v1:
    /// kube2sky → etcd → skydns, one more lag); `none` (the default) runs neither, as a
    /// cluster without the add-on.
    pub dns: Option<String>,
    /// Every node's (and external host's) link to its network.
    pub links: Option<LinksFile>,
    /// Hosts outside the cluster ("the internet"), behind the cloud router on
    /// 203.0.113.0/24; they run agnhost netexec, and `send.from: external:NAME` sends from
    /// them.
    #[serde(default)]
    pub external: Vec<ExternalFile>,
}

/// `links: {latency: 200us, bandwidth: 1Gbit, loss: 0.1%}`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinksFile {
    /// One-way propagation delay (Go-style duration; default 100us).
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(schema_with = "duration_schema")]
    pub latency: Option<SimDuration>,
    /// `tc`-style rate: `100Mbit`, `1Gbit`, `512Kbit`, `9600bit` (default: unlimited).
    pub bandwidth: Option<String>,
    /// Loss probability: `0.1%` (default 0).
    pub loss: Option<String>,
}

/// `{name: client-1, address: 203.0.113.10}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalFile {
    pub name: String,
    pub address: Option<String>,
}

/// `nodes: 3`, `nodes: [a, b]`, or nodes with labels and addresses.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NodesSpec {
    Count(usize),
    List(Vec<NodeEntry>),
}

/// A node by name, or `{name, labels, address}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NodeEntry {
    Name(String),
    Full(NodeFile),
}

/// `{name: node-1, labels: {topology.kubernetes.io/zone: a}, address: 172.18.0.21}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub name: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its InternalIP, in the node subnet 172.18.0.0/16.
    pub address: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PluginName {
    Kubenet,
    Bridge,
}

/// One step as written.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepFile {
    /// Simulated time since the start of the run.
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(schema_with = "duration_schema")]
    pub at: Option<SimDuration>,
    /// Simulated time after the previous step finished (its requests answered or timed
    /// out); without `at` or `after`, right after it.
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(schema_with = "duration_schema")]
    pub after: Option<SimDuration>,
    pub send: Option<SendFile>,
    pub expect: Option<ExpectFile>,
    pub scale: Option<ScaleFile>,
    pub set_condition: Option<SetConditionFile>,
    /// Let simulated time pass (`wait: 100ms`), or until a check holds
    /// (`wait: {until: {endpoints: ...}, timeout: 5s}`).
    pub wait: Option<WaitFile>,
    /// One Kubernetes object, created or (if it exists) updated, as `kubectl apply` would.
    pub apply: Option<serde_json::Value>,
    pub delete: Option<DeleteFile>,
    /// The pod's readiness probes start passing (`NAMESPACE/NAME`): every container ready.
    pub ready: Option<String>,
    /// The pod's readiness probes start failing: every container not ready.
    pub unready: Option<String>,
    /// The node goes down (power off): its link and its kubelet stop; the node lifecycle
    /// controller notices after its grace period.
    pub fail_node: Option<String>,
    /// A failed node comes back.
    pub heal_node: Option<String>,
    /// The node's link to the cluster network goes down (the node itself keeps running).
    pub link_down: Option<String>,
    /// The node's link comes back up.
    pub link_up: Option<String>,
    /// A node's tables, dumped into the report.
    pub snapshot: Option<SnapshotFile>,
    pub replay: Option<ReplayFile>,
    /// A name lookup from a pod through its resolv.conf and the dataplane.
    pub dns: Option<DnsFile>,
}

/// `dns: {from: NAMESPACE/NAME, name: web, type: A}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsFile {
    /// The pod whose resolver asks (`NAMESPACE/NAME`).
    pub from: String,
    /// The name as the program gives it to `getaddrinfo` (search list and `ndots` apply; a
    /// trailing dot makes it absolute).
    pub name: String,
    /// A (default), AAAA, SRV, PTR, TXT, CNAME or SOA.
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// `wait: 100ms`, or `wait: {until: CHECKS, timeout: 5s}`.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum WaitFile {
    /// Simulated time to let pass.
    For(#[schemars(schema_with = "duration_schema")] SimDuration),
    Until(Box<WaitUntilFile>),
}

impl<'de> Deserialize<'de> for WaitFile {
    /// A duration, or a mapping read as [`WaitUntilFile`] (serde's own untagged enum would
    /// hide why a mapping is wrong).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Map(serde_json::Map<String, serde_json::Value>),
        }
        let wait = |e: &dyn std::fmt::Display| D::Error::custom(format!("wait: {e}"));
        let raw = Raw::deserialize(d).map_err(|_| {
            wait(&"expected a duration (100ms) or {until: CHECKS, timeout: DURATION}")
        })?;
        match raw {
            Raw::Text(t) => t.parse().map(WaitFile::For).map_err(|e| wait(&e)),
            Raw::Map(m) => serde_json::from_value(serde_json::Value::Object(m))
                .map(|u| WaitFile::Until(Box::new(u)))
                .map_err(|e| wait(&e)),
        }
    }
}

/// `{until: CHECKS, timeout: 5s}`: simulated time runs until every check holds.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitUntilFile {
    /// Checks on the cluster, as in `expect` (endpoints, file, node).
    pub until: ExpectFile,
    /// How long to wait at most (default 30s, `kubectl wait`'s).
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(schema_with = "duration_schema")]
    pub timeout: Option<SimDuration>,
}

/// `snapshot: {node: NAME, tables: [iptables, routes, ...]}` (all tables when omitted).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotFile {
    pub node: String,
    #[serde(default)]
    pub tables: Vec<SnapshotTable>,
}

/// A table a snapshot can dump, in the format of the tool that shows it.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotTable {
    /// `ip addr`.
    Addr,
    /// `ip route`.
    Routes,
    /// `ip neigh`.
    Neigh,
    /// `bridge fdb`.
    Fdb,
    /// `iptables-save`.
    Iptables,
    /// `conntrack -L`.
    Conntrack,
}

/// `replay: {pcap: PATH, from: NS/POD|node:NAME|external:NAME|IP}` — inject a capture's
/// client-side packets and report what became of each flow.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReplayFile {
    /// pcapng or pcap, relative to the scenario file.
    pub pcap: String,
    pub from: String,
    /// Inject every packet, not only each flow's client side.
    #[serde(default)]
    pub all_packets: bool,
    /// The capture interface to replay (default: that of the first IPv4 packet).
    pub interface: Option<String>,
}

/// `delete: {kind: Pod, name: NAMESPACE/NAME}` (cluster-scoped kinds: `name: NAME`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteFile {
    pub kind: String,
    pub name: String,
}

/// `send:` — a client in a pod, on a node or outside the cluster makes requests.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendFile {
    /// The client: `NAMESPACE/NAME` (a pod), `node:NAME` or `external:NAME|IP`.
    pub from: String,
    /// `IP:PORT`, `pod/NAMESPACE/NAME:PORT`, `svc/NAME.NAMESPACE:PORT`, `node/NAME:PORT`,
    /// or `NAME:PORT`, a name the client pod looks up first through its resolver and the
    /// cluster DNS (for `ping`: no port).
    pub to: String,
    /// HTTP GET of this path (agnhost netexec: `/hostname`, `/clientip`, `/echo?msg=...`).
    pub http_get: Option<String>,
    /// A TCP connect, then close (`nc -z`).
    #[serde(default)]
    pub tcp_connect: bool,
    /// One UDP datagram with this payload (netexec's UDP protocol: `hostname`, `echo x`).
    pub udp: Option<String>,
    /// ICMP echo requests (`ping -c COUNT -s SIZE`), answered by the destination's kernel.
    #[serde(default)]
    pub ping: bool,
    /// Data bytes of each echo request (`ping -s`, default 56).
    pub size: Option<usize>,
    /// A TCP bulk upload of this many bytes to agnhost netexec (`POST /upload`, as
    /// `curl -F file=@FILE`): `10MB`, `512KiB`, `1500B` (B, kB/KB, MB, GB = powers of 1000;
    /// KiB, MiB, GiB = powers of 1024).
    pub bulk: Option<String>,
    /// Repetitions, one after another (default 1).
    pub count: Option<u32>,
    /// How long each request may take (default 5s; pings 10s; bulk 5m).
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(schema_with = "duration_schema")]
    pub timeout: Option<SimDuration>,
}

/// `expect:` — checks on the last `send` or on the API objects.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpectFile {
    /// Every request got through (true) or none did (false).
    pub reachable: Option<bool>,
    /// Every HTTP body (or UDP reply) is exactly this.
    pub body: Option<String>,
    /// The set of bodies (`/hostname`: the pods that answered) is exactly this.
    pub served_by: Option<Vec<String>>,
    /// The address the server saw (`/clientip`), an IP or `pod/NAMESPACE/NAME`.
    #[serde(rename = "sourceIP")]
    pub source_ip: Option<String>,
    /// A Service's Endpoints.
    pub endpoints: Option<EndpointsExpect>,
    /// Exactly this many of the last send's requests got through.
    pub succeeded: Option<u32>,
    /// Every request that got through took at most this long (first packet to answer;
    /// a ping's round-trip time).
    #[serde(default, deserialize_with = "opt_duration")]
    #[schemars(schema_with = "duration_schema")]
    pub max_latency: Option<SimDuration>,
    /// Every bulk upload got through at least this fast (`tc`-style rate: `50Mbit`).
    pub min_throughput: Option<String>,
    /// A file the kubelet wrote into a pod.
    pub file: Option<FileExpect>,
    /// A Node's `Ready` condition (`True`, `False` or `Unknown`).
    pub node: Option<NodeExpect>,
    /// The last `dns` lookup's answer data, in any order (addresses for A; `[]`: none).
    pub answers: Option<Vec<String>>,
    /// How many queries the last `dns` lookup sent (the search-list fan-out).
    pub queries: Option<usize>,
    /// The last `dns` lookup failed with this `h_errno`: `HOST_NOT_FOUND`, `NO_DATA` or
    /// `TRY_AGAIN`.
    pub resolve_error: Option<String>,
}

/// `file: {pod: ns/name, path: /etc/hosts, contains: [LINE, ...]}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileExpect {
    pub pod: String,
    /// `/etc/hosts` or `/etc/resolv.conf`.
    pub path: String,
    /// Lines the file must have, each exactly (tabs included).
    pub contains: Vec<String>,
}

/// `node: {name: NAME, ready: Unknown}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeExpect {
    pub name: String,
    pub ready: ConditionStatus,
}

/// `endpoints: {service: ns/name, ready: N, notReady: M}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointsExpect {
    pub service: String,
    pub ready: Option<usize>,
    pub not_ready: Option<usize>,
}

/// `scale: {deployment: ns/name, replicas: N}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleFile {
    pub deployment: String,
    pub replicas: i32,
}

/// `setCondition: {pod: ns/name, type: T, status: true}` — what a readiness-gate owner does.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetConditionFile {
    pub pod: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
}

/// `True`/`False` as Kubernetes writes them, or a YAML bool.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ConditionStatus {
    Bool(bool),
    Word(String),
}

/// The schema of an optional Go-style duration: `500ms`, `2s`, `1m30s`.
fn duration_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "null"],
        "description": "A Go-style duration: 500ms, 2s, 1m30s (units ns, us, µs, ms, s, m, h).",
        "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
    })
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SimDuration>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

/// The JSON Schema of the scenario file (shipped as `scenarios/schema.json`), generated from
/// these types so it cannot drift from what the loader accepts.
pub fn schema() -> serde_json::Value {
    let mut s = schemars::schema_for!(ScenarioFile);
    s.insert(
        "$id".into(),
        "https://kube-netsim.invalid/scenario.schema.json".into(),
    );
    s.insert("title".into(), "kube-netsim scenario".into());
    s.to_value()
}
