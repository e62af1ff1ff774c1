//! The oracle: whether a flow is allowed, straight from the API semantics, with the reasons
//! for both directions. A flow is allowed iff the source's egress allows it AND the
//! destination's ingress allows it; see the module docs of [`super`] for the rules and the
//! decisions taken where upstream leaves the behaviour to the implementation.

use std::fmt;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::error::PolicyError;
use super::spec::{Peer, Policy, PolicyPort, PortMatch, Protocol, Rule, in_block};
use super::view::{PodInfo, PolicyView};

/// One end of a flow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// A pod, `namespace/name`.
    Pod(String),
    /// An address: a pod's (then it is that pod), a node's, or one outside the cluster.
    Ip(Ipv4Addr),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Pod(k) => f.write_str(k),
            Endpoint::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A connection attempt: who opens it to whom, on which destination port. (Policy judges the
/// destination after Service DNAT: a Service's clients are judged against its backends.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub from: Endpoint,
    pub to: Endpoint,
    pub port: u16,
    pub protocol: Protocol,
}

/// Ingress or egress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// The policy's rules of this direction, if its `policyTypes` has it.
    pub fn rules(self, p: &Policy) -> Option<&[Rule]> {
        match self {
            Direction::Ingress => p.ingress.as_deref(),
            Direction::Egress => p.egress.as_deref(),
        }
    }
}

/// What allowed a flow in one direction: `policy`'s rule `rule`, through `peer` on `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    /// `namespace/name` of the policy.
    pub policy: String,
    /// Index into the policy's `ingress` or `egress`.
    pub rule: usize,
    /// The peer that matched, or `None` when the rule has no `from`/`to` (every peer).
    pub peer: Option<String>,
    /// The port entry that matched, or `None` when the rule has no `ports` (every port).
    pub port: Option<String>,
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rule {}: {} on {}",
            self.policy,
            self.rule,
            self.peer.as_deref().unwrap_or("any peer"),
            self.port.as_deref().unwrap_or("any port")
        )
    }
}

/// The verdict of one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectionVerdict {
    /// This end is not a pod policy can isolate: an address outside the cluster, a node, or a
    /// hostNetwork pod (node traffic).
    NotPoliced { who: String },
    /// The traffic does not leave the pod (a pod talking to itself).
    SamePod,
    /// Ingress from the destination pod's own node, which policy cannot block.
    FromLocalNode { node: String },
    /// No policy of this direction selects the pod.
    NotIsolated,
    /// Allowed by these rules (every one that matches, in policy order).
    Allowed { by: Vec<Allow> },
    /// Isolated by these policies, none of whose rules matches.
    Denied { isolated_by: Vec<String> },
}

impl DirectionVerdict {
    pub fn allows(&self) -> bool {
        !matches!(self, DirectionVerdict::Denied { .. })
    }

    /// `{"verdict": "allowed", "by": [{"policy", "rule", "peer", "port"}]}`, `{"verdict":
    /// "denied", "isolatedBy": [...]}`, `not-policed` (`who`), `same-pod`, `from-local-node`
    /// (`node`), `not-isolated`.
    pub fn to_json(&self) -> Value {
        match self {
            DirectionVerdict::NotPoliced { who } => json!({"verdict": "not-policed", "who": who}),
            DirectionVerdict::SamePod => json!({"verdict": "same-pod"}),
            DirectionVerdict::FromLocalNode { node } => {
                json!({"verdict": "from-local-node", "node": node})
            }
            DirectionVerdict::NotIsolated => json!({"verdict": "not-isolated"}),
            DirectionVerdict::Allowed { by } => json!({
                "verdict": "allowed",
                "by": by.iter().map(|a| json!({
                    "policy": a.policy,
                    "rule": a.rule,
                    "peer": a.peer,
                    "port": a.port,
                })).collect::<Vec<_>>(),
            }),
            DirectionVerdict::Denied { isolated_by } => {
                json!({"verdict": "denied", "isolatedBy": isolated_by})
            }
        }
    }
}

impl fmt::Display for DirectionVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectionVerdict::NotPoliced { who } => write!(f, "allowed: {who} is not policed"),
            DirectionVerdict::SamePod => f.write_str("allowed: traffic within one pod"),
            DirectionVerdict::FromLocalNode { node } => write!(
                f,
                "allowed: from the pod's own node {node} (policy cannot block it)"
            ),
            DirectionVerdict::NotIsolated => {
                f.write_str("allowed: no policy of this direction selects the pod")
            }
            DirectionVerdict::Allowed { by } => {
                let by: Vec<String> = by.iter().map(ToString::to_string).collect();
                write!(f, "allowed by {}", by.join("; "))
            }
            DirectionVerdict::Denied { isolated_by } => write!(
                f,
                "denied: isolated by {} and no rule matches",
                isolated_by.join(", ")
            ),
        }
    }
}

/// The oracle's answer for a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub flow: Flow,
    pub allowed: bool,
    /// The source's side.
    pub egress: DirectionVerdict,
    /// The destination's side.
    pub ingress: DirectionVerdict,
}

impl Verdict {
    /// The verdict for `explain --json`: the flow, `allowed`, and both directions.
    pub fn to_json(&self) -> Value {
        json!({
            "from": self.flow.from.to_string(),
            "to": self.flow.to.to_string(),
            "port": self.flow.port,
            "protocol": self.flow.protocol.as_str(),
            "allowed": self.allowed,
            "egress": self.egress.to_json(),
            "ingress": self.ingress.to_json(),
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fl = &self.flow;
        writeln!(
            f,
            "{} -> {} {}/{}: {}",
            fl.from,
            fl.to,
            fl.protocol,
            fl.port,
            if self.allowed { "ALLOWED" } else { "DENIED" }
        )?;
        writeln!(f, "  egress of {}: {}", fl.from, self.egress)?;
        writeln!(f, "  ingress of {}: {}", fl.to, self.ingress)
    }
}

/// One end of a flow, resolved against the view.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Party<'a> {
    /// A pod on the pod network.
    Pod(&'a PodInfo),
    /// A hostNetwork pod: node traffic from its node's address.
    HostNetwork(&'a PodInfo),
    Node {
        name: &'a str,
        ip: Ipv4Addr,
    },
    External(Ipv4Addr),
}

impl<'a> Party<'a> {
    pub(crate) fn resolve(view: &'a PolicyView, e: &Endpoint) -> Result<Party<'a>, PolicyError> {
        Ok(match e {
            Endpoint::Pod(key) => {
                let pod = view.pod(key)?;
                if pod.host_network {
                    Party::HostNetwork(pod)
                } else {
                    Party::Pod(pod)
                }
            }
            Endpoint::Ip(ip) => match (view.pod_by_ip(*ip), view.node_by_ip(*ip)) {
                (Some(p), _) => Party::Pod(p),
                (None, Some(name)) => Party::Node { name, ip: *ip },
                (None, None) => Party::External(*ip),
            },
        })
    }

    fn ip(&self) -> Option<Ipv4Addr> {
        match self {
            Party::Pod(p) | Party::HostNetwork(p) => p.ip,
            Party::Node { ip, .. } | Party::External(ip) => Some(*ip),
        }
    }

    fn describe(&self) -> String {
        match self {
            Party::Pod(p) => p.key(),
            Party::HostNetwork(p) => format!("hostNetwork pod {} (node traffic)", p.key()),
            Party::Node { name, .. } => format!("node {name}"),
            Party::External(ip) => format!("{ip} (outside the cluster)"),
        }
    }

    /// The node whose own traffic this is (a node, or a hostNetwork pod's node).
    fn node_traffic_of(&self) -> Option<&str> {
        match self {
            Party::Node { name, .. } => Some(name),
            Party::HostNetwork(p) => p.node.as_deref(),
            _ => None,
        }
    }
}

/// Whether `peer` takes in `party`.
pub(crate) fn peer_matches(view: &PolicyView, peer: &Peer, party: &Party<'_>) -> bool {
    match peer {
        Peer::Pods { .. } => matches!(party, Party::Pod(p) if view.peer_selects(peer, p)),
        Peer::IpBlock { cidr, except } => party.ip().is_some_and(|ip| in_block(cidr, except, ip)),
    }
}

/// Whether the port entry covers `port`/`protocol` towards `dst` (named ports resolve against
/// the destination pod's container ports of that protocol; they match nothing else).
pub(crate) fn port_matches(
    pp: &PolicyPort,
    port: u16,
    protocol: Protocol,
    dst: &Party<'_>,
) -> bool {
    if pp.protocol != protocol {
        return false;
    }
    match &pp.port {
        PortMatch::All => true,
        PortMatch::Range { from, to } => (*from..=*to).contains(&port),
        PortMatch::Named(name) => {
            matches!(dst, Party::Pod(p) if p.named_port(name, protocol) == Some(port))
        }
    }
}

/// The first peer and port of `rule` that match, if the rule matches.
fn rule_allows(
    view: &PolicyView,
    rule: &Rule,
    peer_party: &Party<'_>,
    dst: &Party<'_>,
    flow: &Flow,
) -> Option<(Option<String>, Option<String>)> {
    let peer = match &rule.peers {
        None => None,
        Some(peers) => Some(
            peers
                .iter()
                .find(|p| peer_matches(view, p, peer_party))?
                .to_string(),
        ),
    };
    let port = match &rule.ports {
        None => None,
        Some(ports) => Some(
            ports
                .iter()
                .find(|p| port_matches(p, flow.port, flow.protocol, dst))?
                .to_string(),
        ),
    };
    Some((peer, port))
}

/// The verdict of `dir` for `pod`, the peer being `peer` and the destination `dst`.
fn isolation_verdict(
    view: &PolicyView,
    dir: Direction,
    pod: &PodInfo,
    peer: &Party<'_>,
    dst: &Party<'_>,
    flow: &Flow,
) -> DirectionVerdict {
    let mut isolated_by = Vec::new();
    let mut by = Vec::new();
    for policy in &view.policies {
        let Some(rules) = dir.rules(policy) else {
            continue;
        };
        if !view.selects(policy, pod) {
            continue;
        }
        isolated_by.push(policy.key());
        for (i, rule) in rules.iter().enumerate() {
            if let Some((peer, port)) = rule_allows(view, rule, peer, dst, flow) {
                by.push(Allow {
                    policy: policy.key(),
                    rule: i,
                    peer,
                    port,
                });
            }
        }
    }
    if isolated_by.is_empty() {
        DirectionVerdict::NotIsolated
    } else if by.is_empty() {
        DirectionVerdict::Denied { isolated_by }
    } else {
        DirectionVerdict::Allowed { by }
    }
}

/// Evaluates `flow` against the policies of `view`.
pub fn evaluate(view: &PolicyView, flow: &Flow) -> Result<Verdict, PolicyError> {
    let src = Party::resolve(view, &flow.from)?;
    let dst = Party::resolve(view, &flow.to)?;
    let same_pod = matches!((&src, &dst), (Party::Pod(a), Party::Pod(b)) if a.key() == b.key());
    let egress = match &src {
        _ if same_pod => DirectionVerdict::SamePod,
        Party::Pod(p) => isolation_verdict(view, Direction::Egress, p, &dst, &dst, flow),
        other => DirectionVerdict::NotPoliced {
            who: other.describe(),
        },
    };
    let ingress = match &dst {
        _ if same_pod => DirectionVerdict::SamePod,
        Party::Pod(p) => match src.node_traffic_of() {
            Some(node) if p.node.as_deref() == Some(node) => DirectionVerdict::FromLocalNode {
                node: node.to_string(),
            },
            _ => isolation_verdict(view, Direction::Ingress, p, &src, &dst, flow),
        },
        other => DirectionVerdict::NotPoliced {
            who: other.describe(),
        },
    };
    Ok(Verdict {
        flow: flow.clone(),
        allowed: egress.allows() && ingress.allows(),
        egress,
        ingress,
    })
}
