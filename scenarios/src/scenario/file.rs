//! The scenario file as written: serde types for the YAML, unknown fields refused.
//!
//! A step is a mapping with its timing (`at:` absolute, or `after:` the previous step) and
//! exactly one action key (`send`, `expect`, `scale`, `setCondition`, `wait`, `apply`,
//! `delete`, `replay`). Each action
//! is an `Option` field here so unknown keys are refused by serde and "exactly one" is
//! checked by [`super::step`]; a new kind of step (DNS, NetworkPolicy) is one more field and
//! one more [`super::step::Action`] variant.

use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use sim_core::SimDuration;

/// The whole file.
#[derive(Debug, Deserialize)]
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
    pub manifests: Vec<Spanned<serde_json::Value>>,
    #[serde(default)]
    pub steps: Vec<Spanned<StepFile>>,
}

/// `cluster:` — what [`sim_k8s::cluster::ClusterConfig`] takes; unset fields keep its
/// defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSection {
    /// A node count (`node-1`..`node-N`), or the node names.
    pub nodes: Option<NodesSpec>,
    /// `kubenet` (default) or `bridge`.
    pub network_plugin: Option<PluginName>,
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: Option<String>,
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: Option<String>,
    /// One-way latency of every node's link to the segment (Go-style duration).
    #[serde(default, deserialize_with = "opt_duration")]
    pub link_latency: Option<SimDuration>,
}

/// `nodes: 3` or `nodes: [a, b]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum NodesSpec {
    Count(usize),
    Names(Vec<String>),
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PluginName {
    Kubenet,
    Bridge,
}

/// One step as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepFile {
    /// Simulated time since the start of the run.
    #[serde(default, deserialize_with = "opt_duration")]
    pub at: Option<SimDuration>,
    /// Simulated time after the previous step finished (its requests answered or timed
    /// out); without `at` or `after`, right after it.
    #[serde(default, deserialize_with = "opt_duration")]
    pub after: Option<SimDuration>,
    pub send: Option<SendFile>,
    pub expect: Option<ExpectFile>,
    pub scale: Option<ScaleFile>,
    pub set_condition: Option<SetConditionFile>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub wait: Option<SimDuration>,
    /// One Kubernetes object, created or (if it exists) updated, as `kubectl apply` would.
    pub apply: Option<serde_json::Value>,
    pub delete: Option<DeleteFile>,
    pub replay: Option<ReplayFile>,
}

/// `replay: {pcap: PATH, from: NS/POD|node/NAME|external/IP}` — inject a capture's
/// client-side packets and report what became of each flow.
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteFile {
    pub kind: String,
    pub name: String,
}

/// `send:` — a client in a pod makes requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendFile {
    /// The client pod, `NAMESPACE/NAME`.
    pub from: String,
    /// `IP:PORT`, `pod/NAMESPACE/NAME:PORT` or `svc/NAME.NAMESPACE:PORT`.
    pub to: String,
    /// HTTP GET of this path (agnhost netexec: `/hostname`, `/clientip`, `/echo?msg=...`).
    pub http_get: Option<String>,
    /// A TCP connect, then close (`nc -z`).
    #[serde(default)]
    pub tcp_connect: bool,
    /// One UDP datagram with this payload (netexec's UDP protocol: `hostname`, `echo x`).
    pub udp: Option<String>,
    /// Repetitions, one after another (default 1).
    pub count: Option<u32>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub timeout: Option<SimDuration>,
}

/// `expect:` — checks on the last `send` or on the API objects.
#[derive(Debug, Default, Deserialize)]
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
}

/// `endpoints: {service: ns/name, ready: N, notReady: M}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointsExpect {
    pub service: String,
    pub ready: Option<usize>,
    pub not_ready: Option<usize>,
}

/// `scale: {deployment: ns/name, replicas: N}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleFile {
    pub deployment: String,
    pub replicas: i32,
}

/// `setCondition: {pod: ns/name, type: T, status: true}` — what a readiness-gate owner does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetConditionFile {
    pub pod: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
}

/// `True`/`False` as Kubernetes writes them, or a YAML bool.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ConditionStatus {
    Bool(bool),
    Word(String),
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SimDuration>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}
