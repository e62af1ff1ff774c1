//! # NetworkPolicy — the oracle, the per-node agent, truth tables
//!
//! `networking.k8s.io/v1` NetworkPolicy (Kubernetes 1.35, k8s-openapi types) in two
//! independent forms that property tests hold equal:
//!
//! | module | holds |
//! | --- | --- |
//! | [`spec`] | [`Policy`]: a NetworkPolicy defaulted and validated as the API server stores it |
//! | [`view`] | [`PolicyView`]: namespaces (with `kubernetes.io/metadata.name`), pods, nodes and policies, built from the store |
//! | [`evaluate`](mod@evaluate) | the oracle: [`evaluate()`] a [`Flow`] to a [`Verdict`] with reasons for both directions |
//! | [`chain_name`] | the agent's hashed chain and ipset names |
//! | [`render`] | the agent: a node's filter-table `iptables-restore` text and `ipset restore` text, loaded as a full sync |
//! | [`agent`] | [`sync_cluster`]: every node of a [`Cluster`](crate::cluster::Cluster) synced from its store |
//! | [`matrix`](mod@matrix) | truth tables over equivalence classes of pods (oracle, or any decider via [`matrix_by`]), in the upstream e2e grid and as JSON |
//! | [`probe`](mod@probe) | the dataplane's answer: a connection attempt and its reply walked through a running cluster ([`probe()`]), and its truth table ([`dataplane_matrix`]) |
//! | [`error`] | [`PolicyError`] |
//!
//! ## Semantics (kubernetes.io "Network Policies"; the API reference of `NetworkPolicySpec`)
//! - A pod is isolated for a direction once a policy of its namespace selects it whose
//!   `policyTypes` has that direction; the allowed traffic is then the union of those
//!   policies' rules. `policyTypes` defaults to `[Ingress]`, plus `Egress` when the policy
//!   has a non-empty `egress` (`SetDefaults_NetworkPolicy`).
//! - A flow is allowed iff the source's egress allows it AND the destination's ingress does.
//!   Replies of an allowed connection always pass (the agent accepts conntrack
//!   ESTABLISHED/RELATED first).
//! - A rule matches when one of its peers AND one of its ports match; missing or empty
//!   `from`/`to` means every peer (cluster-external addresses too), missing or empty `ports`
//!   every port. `ingress: [{}]` allows everything; `ingress: []` or no `ingress` denies all.
//! - Peers: `podSelector` alone picks pods of the policy's namespace; `namespaceSelector`
//!   alone every pod of the selected namespaces; both in one peer the AND; separate peers OR.
//! - Ports: protocol TCP (default), UDP or SCTP; a number, a range up to `endPort`, or a name
//!   resolved against the *destination* pod's container ports of that protocol (in both
//!   directions), so a named port only ever matches traffic to pods.
//!
//! ## Decisions where upstream leaves room (each cited where it is made)
//! - **ipBlock matches pod addresses too.** The docs say ipBlocks "should be cluster-external"
//!   but the e2e suite (`test/e2e/network/netpol/network_policy.go`: "should allow egress
//!   access to server in CIDR block", "should enforce except clause while egress access to
//!   server in CIDR block") builds ipBlocks from pod IPs and expects them to work, so any
//!   address an ipBlock covers matches, pod or not.
//! - **The pod's own node always gets in.** The API reference of `NetworkPolicySpec.ingress`:
//!   traffic is allowed "if the traffic source is the pod's local node"; the docs list "the
//!   ability to ... block access from their resident node" as impossible. Egress to the
//!   node is policed like any other destination (an ipBlock must allow the node address).
//!   Other nodes are plain addresses.
//! - **hostNetwork pods are node traffic**, the second behaviour the docs allow: selectors
//!   never pick them, policies never isolate them, their traffic is their node's (an ipBlock
//!   with the node address matches it; from their own node it always gets in).
//! - **A pod talking to itself** is not policed: directly it never leaves its network
//!   namespace; through a Service it hairpins through the bridge, and the agent accepts it
//!   (upstream leaves loopback undefined; the e2e suite ignores it).
//!
//! ## Enforcement
//! [`render`] writes, per node, kube-router-style filter chains hooked from INPUT, FORWARD and
//! OUTPUT (so bridged pod traffic, via br_netfilter, and routed traffic both pass, after
//! Service DNAT) and ipsets, loaded through sim-net's own `iptables-restore` and
//! `ipset restore` parsers; conntrack ESTABLISHED/RELATED is accepted first, so replies pass.
//! Property tests (`sim-k8s/tests/policy.rs`) send real packets through a cluster with the
//! rules loaded ([`probe()`]) and hold the dataplane equal to [`evaluate()`].
//!
//! ## Simplified or left out
//! IPv4 only (IPv6 ipBlocks match nothing). Pods that finished are left out; pods without an
//! address match no ipBlock. No AdminNetworkPolicy. The agent renders the whole ruleset of a
//! node from the view (a full sync, as kube-router does on every change); running it one
//! watch lag after a change is the caller's ([`sync_cluster`] syncs every node now). Pod
//! traffic to a Service is judged against the backend only where a kube-proxy DNATs it (the
//! cluster has none yet).

pub mod agent;
pub mod chain_name;
pub mod error;
pub mod evaluate;
pub mod matrix;
pub mod probe;
pub mod render;
pub mod spec;
pub mod view;

#[cfg(test)]
mod tests;

pub use agent::{SyncError, sync_cluster};
pub use error::PolicyError;
pub use evaluate::{Allow, Direction, DirectionVerdict, Endpoint, Flow, Verdict, evaluate};
pub use matrix::{Grouping, Matrix, matrix, matrix_by};
pub use probe::{Outcome, ProbeError, dataplane_matrix, probe};
pub use render::{NodeRules, render_node};
pub use spec::{Policy, Protocol};
pub use view::{PodInfo, PolicyView};
