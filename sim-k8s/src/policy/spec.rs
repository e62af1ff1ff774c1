//! A `networking.k8s.io/v1` NetworkPolicy as the evaluator and the agent read it: defaulted
//! the way the API server stores it (`SetDefaults_NetworkPolicy`: `policyTypes` and port
//! protocols, via [`crate::object::defaults`]), validated as `ValidateNetworkPolicySpec`
//! would (peers, ipBlocks, ports, `endPort`), selectors compiled once.
//!
//! Empty versus missing is kept where it means something:
//! - `ingress`/`egress` rules are kept only for the directions in `policyTypes`
//!   ([`Policy::ingress`] `None`: the policy does not affect ingress); an empty or missing
//!   list with the type set isolates and allows nothing.
//! - a rule's `from`/`to` missing or empty ([`Rule::peers`] `None`) matches every peer,
//!   cluster-external addresses included; a rule's `ports` missing or empty matches every
//!   port and protocol.

use std::fmt;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::error::PolicyError;
use crate::object::Object;
use crate::selector::Selector;

pub use crate::object::protocol::Protocol;

/// Which ports of the protocol a `NetworkPolicyPort` allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortMatch {
    /// `port` missing: every port of the protocol.
    All,
    /// `port` (and `endPort`, inclusive).
    Range { from: u16, to: u16 },
    /// A named port, resolved against the destination pod's container ports.
    Named(String),
}

/// One `NetworkPolicyPort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyPort {
    pub protocol: Protocol,
    pub port: PortMatch,
}

impl fmt::Display for PolicyPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.port {
            PortMatch::All => write!(f, "{}/*", self.protocol),
            PortMatch::Range { from, to } if from == to => write!(f, "{}/{from}", self.protocol),
            PortMatch::Range { from, to } => write!(f, "{}/{from}-{to}", self.protocol),
            PortMatch::Named(n) => write!(f, "{}/{n}", self.protocol),
        }
    }
}

/// Which namespaces a pod peer looks in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceScope {
    /// No `namespaceSelector`: the policy's own namespace.
    Own(String),
    /// `namespaceSelector` (empty: every namespace).
    Selected(Selector),
}

/// One `NetworkPolicyPeer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// `podSelector` and/or `namespaceSelector`: pods (never hostNetwork ones, see the module
    /// docs of [`super`]).
    Pods {
        namespaces: NamespaceScope,
        pods: Selector,
    },
    /// `ipBlock`: addresses in `cidr` but in none of `except`.
    IpBlock { cidr: IpNet, except: Vec<IpNet> },
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sel = |s: &Selector| match s {
            Selector::Nothing => "<none>".to_string(),
            s if s.is_empty() => "{}".to_string(),
            s => format!("{{{s}}}"),
        };
        match self {
            Peer::Pods {
                namespaces: NamespaceScope::Own(ns),
                pods,
            } => write!(f, "podSelector {} (namespace {ns})", sel(pods)),
            Peer::Pods {
                namespaces: NamespaceScope::Selected(n),
                pods,
            } if pods.is_empty() => write!(f, "namespaceSelector {}", sel(n)),
            Peer::Pods {
                namespaces: NamespaceScope::Selected(n),
                pods,
            } => write!(
                f,
                "namespaceSelector {} AND podSelector {}",
                sel(n),
                sel(pods)
            ),
            Peer::IpBlock { cidr, except } if except.is_empty() => write!(f, "ipBlock {cidr}"),
            Peer::IpBlock { cidr, except } => {
                let ex: Vec<String> = except.iter().map(ToString::to_string).collect();
                write!(f, "ipBlock {cidr} except {}", ex.join(","))
            }
        }
    }
}

/// Whether an ipBlock takes in `ip`: inside `cidr` and inside none of `except`.
pub fn in_block(cidr: &IpNet, except: &[IpNet], ip: std::net::Ipv4Addr) -> bool {
    let ip = std::net::IpAddr::V4(ip);
    cidr.contains(&ip) && !except.iter().any(|e| e.contains(&ip))
}

/// One ingress or egress rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `from`/`to`; `None` when missing or empty (every peer).
    pub peers: Option<Vec<Peer>>,
    /// `ports`; `None` when missing or empty (every port).
    pub ports: Option<Vec<PolicyPort>>,
}

/// A NetworkPolicy, defaulted, validated and compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    /// `spec.podSelector` (missing: every pod of the namespace).
    pub pod_selector: Selector,
    /// The ingress rules if `policyTypes` has `Ingress`.
    pub ingress: Option<Vec<Rule>>,
    /// The egress rules if `policyTypes` has `Egress`.
    pub egress: Option<Vec<Rule>>,
}

impl Policy {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Compiles `np` as the API server would store it (defaults applied, then validated).
    pub fn compile(np: &NetworkPolicy) -> Result<Policy, PolicyError> {
        let mut object = Object::NetworkPolicy(np.clone());
        crate::object::defaults::apply(&mut object);
        let Object::NetworkPolicy(np) = object else {
            unreachable!("defaults keep the kind")
        };
        let namespace = np
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = np.metadata.name.clone().unwrap_or_default();
        let c = Compiler {
            key: format!("{namespace}/{name}"),
            namespace: namespace.clone(),
        };
        let spec = np.spec.unwrap_or_default();
        let pod_selector = c.selector(
            "spec.podSelector",
            Some(&spec.pod_selector.unwrap_or_default()),
        )?;
        let types = spec.policy_types.unwrap_or_default();
        for (i, t) in types.iter().enumerate() {
            if t != "Ingress" && t != "Egress" {
                return Err(c.invalid(
                    format!("spec.policyTypes[{i}]"),
                    t,
                    "supported values: \"Ingress\", \"Egress\"",
                ));
            }
        }
        let ingress = if types.iter().any(|t| t == "Ingress") {
            let mut rules = Vec::new();
            for (i, r) in spec.ingress.iter().flatten().enumerate() {
                let field = format!("spec.ingress[{i}]");
                rules.push(Rule {
                    peers: c.peers(&format!("{field}.from"), r.from.as_deref())?,
                    ports: c.ports(&field, r.ports.as_deref())?,
                });
            }
            Some(rules)
        } else {
            None
        };
        let egress = if types.iter().any(|t| t == "Egress") {
            let mut rules = Vec::new();
            for (i, r) in spec.egress.iter().flatten().enumerate() {
                let field = format!("spec.egress[{i}]");
                rules.push(Rule {
                    peers: c.peers(&format!("{field}.to"), r.to.as_deref())?,
                    ports: c.ports(&field, r.ports.as_deref())?,
                });
            }
            Some(rules)
        } else {
            None
        };
        Ok(Policy {
            namespace,
            name,
            pod_selector,
            ingress,
            egress,
        })
    }
}

struct Compiler {
    key: String,
    namespace: String,
}

impl Compiler {
    fn invalid(&self, field: String, value: &str, why: &str) -> PolicyError {
        PolicyError::Invalid {
            policy: self.key.clone(),
            field,
            value: value.to_string(),
            why: why.to_string(),
        }
    }

    fn selector(
        &self,
        field: &str,
        ls: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    ) -> Result<Selector, PolicyError> {
        Selector::from_label_selector(ls).map_err(|source| PolicyError::Selector {
            policy: self.key.clone(),
            field: field.to_string(),
            source,
        })
    }

    fn peers(
        &self,
        field: &str,
        peers: Option<&[NetworkPolicyPeer]>,
    ) -> Result<Option<Vec<Peer>>, PolicyError> {
        let Some(peers) = peers.filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for (i, p) in peers.iter().enumerate() {
            let field = format!("{field}[{i}]");
            out.push(self.peer(&field, p)?);
        }
        Ok(Some(out))
    }

    /// `ValidateNetworkPolicyPeer`: exactly one of ipBlock or the selectors.
    fn peer(&self, field: &str, p: &NetworkPolicyPeer) -> Result<Peer, PolicyError> {
        let selectors = p.pod_selector.is_some() || p.namespace_selector.is_some();
        match (&p.ip_block, selectors) {
            (None, false) => Err(PolicyError::Required {
                policy: self.key.clone(),
                field: field.to_string(),
                why: "must specify a peer".into(),
            }),
            (Some(_), true) => Err(self.invalid(
                field.to_string(),
                "ipBlock with podSelector/namespaceSelector",
                "may not specify more than 1 peer",
            )),
            (Some(b), false) => self.ip_block(&format!("{field}.ipBlock"), b),
            (None, true) => {
                let pods = match &p.pod_selector {
                    Some(ls) => self.selector(&format!("{field}.podSelector"), Some(ls))?,
                    None => Selector::everything(),
                };
                let namespaces = match &p.namespace_selector {
                    Some(ls) => NamespaceScope::Selected(
                        self.selector(&format!("{field}.namespaceSelector"), Some(ls))?,
                    ),
                    None => NamespaceScope::Own(self.namespace.clone()),
                };
                Ok(Peer::Pods { namespaces, pods })
            }
        }
    }

    /// `ValidateIPBlock`: a CIDR, and excepts strictly inside it, of the same family.
    fn ip_block(&self, field: &str, b: &IPBlock) -> Result<Peer, PolicyError> {
        let cidr: IpNet = b.cidr.parse().map_err(|_| {
            self.invalid(
                format!("{field}.cidr"),
                &b.cidr,
                "must be a valid CIDR (e.g. 10.0.0.0/16)",
            )
        })?;
        let mut except = Vec::new();
        for (i, e) in b.except.iter().flatten().enumerate() {
            let f = format!("{field}.except[{i}]");
            let net: IpNet = e
                .parse()
                .map_err(|_| self.invalid(f.clone(), e, "must be a valid CIDR"))?;
            let inside = cidr.contains(&net) && net.prefix_len() > cidr.prefix_len();
            if !inside {
                return Err(self.invalid(f, e, "must be a strict subset of `cidr`"));
            }
            except.push(net.trunc());
        }
        Ok(Peer::IpBlock {
            cidr: cidr.trunc(),
            except,
        })
    }

    fn ports(
        &self,
        rule: &str,
        ports: Option<&[NetworkPolicyPort]>,
    ) -> Result<Option<Vec<PolicyPort>>, PolicyError> {
        let Some(ports) = ports.filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            out.push(self.port(&format!("{rule}.ports[{i}]"), p)?);
        }
        Ok(Some(out))
    }

    /// `ValidateNetworkPolicyPort`.
    fn port(&self, field: &str, p: &NetworkPolicyPort) -> Result<PolicyPort, PolicyError> {
        let proto = p.protocol.as_deref().unwrap_or("TCP");
        let protocol = Protocol::parse(proto).ok_or_else(|| {
            self.invalid(
                format!("{field}.protocol"),
                proto,
                "supported values: \"SCTP\", \"TCP\", \"UDP\"",
            )
        })?;
        let in_range = |n: i32| (1..=65535).contains(&n);
        let port = match (&p.port, p.end_port) {
            (None, None) => PortMatch::All,
            (None, Some(_)) => {
                return Err(PolicyError::Required {
                    policy: self.key.clone(),
                    field: format!("{field}.port"),
                    why: "must be specified when endPort is specified".into(),
                });
            }
            (Some(IntOrString::Int(n)), end) => {
                if !in_range(*n) {
                    return Err(self.invalid(
                        format!("{field}.port"),
                        &n.to_string(),
                        "must be between 1 and 65535, inclusive",
                    ));
                }
                let to = end.unwrap_or(*n);
                if !in_range(to) || to < *n {
                    return Err(self.invalid(
                        format!("{field}.endPort"),
                        &to.to_string(),
                        "must be greater than or equal to `port` and at most 65535",
                    ));
                }
                PortMatch::Range {
                    from: *n as u16,
                    to: to as u16,
                }
            }
            (Some(IntOrString::String(_)), Some(_)) => {
                return Err(self.invalid(
                    format!("{field}.endPort"),
                    "endPort",
                    "may not be specified when `port` is non-numeric",
                ));
            }
            (Some(IntOrString::String(s)), None) => {
                let ok = (1..=15).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && s.bytes().any(|b| b.is_ascii_lowercase());
                if !ok {
                    return Err(self.invalid(
                        format!("{field}.port"),
                        s,
                        "must be a valid port name (IANA_SVC_NAME: 1-15 characters of a-z, 0-9 and '-', at least one letter)",
                    ));
                }
                PortMatch::Named(s.clone())
            }
        };
        Ok(PolicyPort { protocol, port })
    }
}
