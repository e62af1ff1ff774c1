//! Reachability truth tables: every pod to every other pod on one port and protocol, computed
//! over equivalence classes of pods and printed like the upstream e2e truth tables
//! (`test/e2e/network/netpol/truthtable.go` `PrettyPrint`: a header `-` and the destination
//! pods, then one row per source pod, tab-separated, `.` allowed and `X` denied).
//!
//! Two pods are in one class when nothing the oracle reads tells them apart: namespace (name
//! and labels), pod labels, `hostNetwork`, container ports (named ports), which ipBlock peers
//! of the policies their address falls in, and — only when the view has hostNetwork pods,
//! whose node-local traffic is special — their node. One representative pair is evaluated
//! per pair of classes. A pod's traffic to itself is not part of the table (upstream leaves
//! loopback undefined and ignores it); the grid shows `-` there. The dataplane's table
//! ([`super::probe::dataplane_matrix`]) also tells nodes apart ([`Grouping::ClassesPerNode`]).

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use super::error::PolicyError;
use super::evaluate::{Endpoint, Flow, evaluate};
use super::spec::{Peer, Protocol, in_block};
use super::view::{ContainerPort, PodInfo, PolicyView};

/// A truth table over the view's pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    pub port: u16,
    pub protocol: Protocol,
    /// `namespace/name`, sorted.
    pub pods: Vec<String>,
    /// Each pod's class (index into `allowed`).
    class_of: Vec<usize>,
    /// Class × class; `allowed[a][b]` for a pod of `a` to another pod of `b`.
    allowed: Vec<Vec<bool>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ClassKey {
    namespace: String,
    labels: BTreeMap<String, String>,
    host_network: bool,
    ports: Vec<ContainerPort>,
    ip_blocks: Vec<bool>,
    node: Option<String>,
    /// The pod itself, with [`Grouping::EveryPod`].
    pod: Option<String>,
}

/// How pods are grouped before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One decision per pair of equivalence classes (see the module docs).
    Classes,
    /// As [`Grouping::Classes`], and pods of different nodes are always in different
    /// classes: what the dataplane needs, where a pair on one node takes the bridged path and
    /// a pair on two nodes the routed one.
    ClassesPerNode,
    /// One decision per ordered pair of pods.
    EveryPod,
}

/// The oracle's table for `port`/`protocol` over every pod of `view`, by classes.
pub fn matrix(view: &PolicyView, port: u16, protocol: Protocol) -> Result<Matrix, PolicyError> {
    matrix_by(view, port, protocol, Grouping::Classes, |from, to| {
        let flow = Flow {
            from: Endpoint::Pod(from.to_string()),
            to: Endpoint::Pod(to.to_string()),
            port,
            protocol,
        };
        Ok(evaluate(view, &flow)?.allowed)
    })
}

/// The table with `decide(from, to)` answering for one representative pair of pods per cell
/// (`namespace/name` keys): the oracle ([`matrix`]), or a probe through the dataplane.
pub fn matrix_by<E>(
    view: &PolicyView,
    port: u16,
    protocol: Protocol,
    grouping: Grouping,
    mut decide: impl FnMut(&str, &str) -> Result<bool, E>,
) -> Result<Matrix, E> {
    let blocks: Vec<(&IpNet, &[IpNet])> = view
        .policies
        .iter()
        .flat_map(|p| p.ingress.iter().flatten().chain(p.egress.iter().flatten()))
        .flat_map(|r| r.peers.iter().flatten())
        .filter_map(|peer| match peer {
            Peer::IpBlock { cidr, except } => Some((cidr, except.as_slice())),
            Peer::Pods { .. } => None,
        })
        .collect();
    let with_nodes = view.pods.values().any(|p| p.host_network);
    let key_of = |p: &PodInfo| {
        let mut ports = p.ports.clone();
        ports.sort();
        ClassKey {
            namespace: p.namespace.clone(),
            labels: p.labels.clone(),
            host_network: p.host_network,
            ports,
            ip_blocks: blocks
                .iter()
                .map(|(cidr, except)| p.ip.is_some_and(|ip| in_block(cidr, except, ip)))
                .collect(),
            node: if with_nodes || grouping == Grouping::ClassesPerNode {
                p.node.clone()
            } else {
                None
            },
            pod: (grouping == Grouping::EveryPod).then(|| p.key()),
        }
    };
    let mut classes: BTreeMap<ClassKey, usize> = BTreeMap::new();
    let mut members: Vec<Vec<&str>> = Vec::new();
    let mut class_of = Vec::new();
    let mut pods = Vec::new();
    for (key, pod) in &view.pods {
        let next = classes.len();
        let c = *classes.entry(key_of(pod)).or_insert(next);
        if c == members.len() {
            members.push(Vec::new());
        }
        members[c].push(key);
        class_of.push(c);
        pods.push(key.clone());
    }
    let n = members.len();
    let mut allowed = vec![vec![false; n]; n];
    for a in 0..n {
        for b in 0..n {
            let from = members[a][0];
            // Two distinct pods: within one class, its second member (a class of one has no
            // pair, and its cell is never read).
            let Some(to) = members[b].iter().find(|t| **t != from) else {
                continue;
            };
            allowed[a][b] = decide(from, to)?;
        }
    }
    Ok(Matrix {
        port,
        protocol,
        pods,
        class_of,
        allowed,
    })
}

impl Matrix {
    /// How many equivalence classes the pods fell into.
    pub fn classes(&self) -> usize {
        self.allowed.len()
    }

    /// Whether `from` reaches `to` (`None` for unknown pods and for a pod to itself).
    pub fn get(&self, from: &str, to: &str) -> Option<bool> {
        if from == to {
            return None;
        }
        let i = self.pods.binary_search_by(|p| p.as_str().cmp(from)).ok()?;
        let j = self.pods.binary_search_by(|p| p.as_str().cmp(to)).ok()?;
        Some(self.allowed[self.class_of[i]][self.class_of[j]])
    }

    /// The upstream e2e grid: rows from, columns to, `.` allowed, `X` denied, `-` itself.
    pub fn grid(&self) -> String {
        let mut lines = vec![
            std::iter::once("-")
                .chain(self.pods.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join("\t"),
        ];
        for (i, from) in self.pods.iter().enumerate() {
            let mut line = vec![from.as_str()];
            for (j, _) in self.pods.iter().enumerate() {
                line.push(if i == j {
                    "-"
                } else if self.allowed[self.class_of[i]][self.class_of[j]] {
                    "."
                } else {
                    "X"
                });
            }
            lines.push(line.join("\t"));
        }
        let mut s = lines.join("\n");
        s.push('\n');
        s
    }

    /// `{"port":80,"protocol":"TCP","pods":[…],"allowed":{"x/a":{"x/b":true,…},…}}`.
    pub fn to_json(&self) -> Value {
        let mut allowed = Map::new();
        for (i, from) in self.pods.iter().enumerate() {
            let mut row = Map::new();
            for (j, to) in self.pods.iter().enumerate() {
                if i != j {
                    row.insert(
                        to.clone(),
                        Value::Bool(self.allowed[self.class_of[i]][self.class_of[j]]),
                    );
                }
            }
            allowed.insert(from.clone(), Value::Object(row));
        }
        json!({
            "port": self.port,
            "protocol": self.protocol.as_str(),
            "pods": self.pods,
            "allowed": allowed,
        })
    }
}
