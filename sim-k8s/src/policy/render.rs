//! The per-node policy agent's rules, in the layout of kube-router's network policy controller
//! (`pkg/controllers/netpol`, iptables mode): what it would load into one node's filter table
//! (`iptables-restore --noflush` text) and ipsets (`ipset restore` text) for the pods running
//! there, and loading that into a sim-net [`Netfilter`] as a full sync.
//!
//! Layout (`M` is the "allowed" mark bit, `0x10000/0x10000`):
//!
//! ```text
//! INPUT   -j KUBE-ROUTER-INPUT      (inserted first, once)
//! FORWARD -j KUBE-ROUTER-FORWARD    (bridged pod traffic reaches it through br_netfilter)
//! OUTPUT  -j KUBE-ROUTER-OUTPUT
//! KUBE-ROUTER-FORWARD  for each local pod P isolated for ingress:
//!     -d P -m physdev --physdev-is-bridged -j KUBE-POD-FW-<P,ingress>   (switched, same node)
//!     -d P -j KUBE-POD-FW-<P,ingress>                                   (routed, other nodes)
//!   for each local pod P isolated for egress: the same with -s P, also in INPUT (to the node)
//! KUBE-ROUTER-OUTPUT   -d P (node-originated traffic to P), -s P
//! KUBE-POD-FW-<P,dir>
//!     -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT     (replies always pass)
//!     -s P -d P -j ACCEPT                                       (P to itself, via a Service)
//!     -d P -m addrtype --src-type LOCAL -j ACCEPT               (ingress: from P's own node)
//!     -j KUBE-NWPLCY-<policy,dir>                               (each policy isolating P)
//!     -m mark ! --mark M -j DROP                                (comment names the pod)
//!     -j MARK --set-xmark 0x0/0x10000                           (clear M for the next chain)
//! KUBE-NWPLCY-<policy,dir>  per rule, per peer × port:
//!     [-p PROTO] -m set --match-set KUBE-SRC-…|KUBE-DST-… src|dst [--dport N[:M]]
//!         [-m set --match-set KUBE-DST-<named port> dst,dst] -j MARK --set-xmark M
//!     -m mark --mark M -j RETURN
//! ```
//!
//! Sets: a selector peer is a `hash:ip` of the addresses of the pods it selects (cluster-wide,
//! never hostNetwork pods); an ipBlock a `hash:net` of the CIDR with its `except`s as
//! `nomatch` entries (a /0 is stored as two /1s, as kube-router does: hash:net takes no /0);
//! a named port a `hash:ip,port` of every pod address with what the name resolves to there,
//! so a rule matches only where the destination pod defines the name.
//!
//! Because the hooks are filter INPUT/FORWARD/OUTPUT, policy sees packets after nat
//! PREROUTING/OUTPUT, i.e. after a Service's DNAT, and before POSTROUTING's masquerade.
//!
//! Differences from kube-router: one firewall chain and one policy chain per direction (its
//! combined chains let a policy's egress rule satisfy the same policy's ingress check); a
//! pod's hairpinned traffic to itself is accepted (upstream leaves loopback undefined, the
//! oracle does not police it);
//! DROP instead of REJECT (with its NFLOG rule left out); names hashed (SHA-256) from our own
//! concatenation of their parts ([`super::chain_name`]); IPv6 ipBlocks are not rendered (no IPv6 in the model).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use ipnet::{IpNet, Ipv4Net};
use sim_net::netfilter::{Netfilter, RestoreOptions, TableName};
use thiserror::Error;

use super::chain_name::{named_port_set, peer_set, pod_firewall_chain, policy_chain};
use super::error::PolicyError;
use super::evaluate::Direction;
use super::spec::{Peer, Policy, PolicyPort, PortMatch, Protocol, Rule};
use super::view::{PodInfo, PolicyView};
use crate::cni::iptables::save_string;

/// The agent's top-level chains and the built-in chains that jump to them.
pub const TOP_CHAINS: [(&str, &str); 3] = [
    ("INPUT", "KUBE-ROUTER-INPUT"),
    ("FORWARD", "KUBE-ROUTER-FORWARD"),
    ("OUTPUT", "KUBE-ROUTER-OUTPUT"),
];

/// The mark bit a policy chain sets on traffic it allows.
pub const ALLOW_MARK: &str = "0x10000/0x10000";

/// What the agent loads on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRules {
    pub node: String,
    /// `*filter` … `COMMIT` for `iptables-restore --noflush`: the agent's chains (declaring
    /// them flushes them) and their rules, without the jumps from the built-in chains.
    pub filter: String,
    /// `ipset restore -exist` text: `create`, `flush` and `add` for every set.
    pub ipsets: String,
    /// The per-pod and per-policy chains, sorted.
    pub chains: Vec<String>,
    /// The sets, sorted.
    pub sets: Vec<String>,
}

/// Loading a node's rules failed (a broken invariant of the renderer: its text must load).
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("node {node}: ipset restore: {source}")]
    Ipset {
        node: String,
        source: sim_net::netfilter::ipset::RestoreError,
    },
    #[error("node {node}: iptables-restore: {source}")]
    Iptables {
        node: String,
        source: Box<sim_net::netfilter::RestoreError>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SetDef {
    set_type: &'static str,
    /// Element text and whether it is a `nomatch` entry.
    members: BTreeSet<(String, bool)>,
}

#[derive(Default)]
struct Renderer {
    sets: BTreeMap<String, SetDef>,
    /// Chain → rules (without `-A CHAIN`), in declaration order of first use.
    chains: BTreeMap<String, Vec<String>>,
    top: BTreeMap<&'static str, Vec<String>>,
}

fn comment(text: &str) -> String {
    format!("-m comment --comment {}", save_string(text))
}

/// The rules of `node` for the pods running there.
pub fn render_node(view: &PolicyView, node: &str) -> Result<NodeRules, PolicyError> {
    if !view.nodes.contains_key(node)
        && !view.pods.values().any(|p| p.node.as_deref() == Some(node))
    {
        return Err(PolicyError::UnknownNode(node.to_string()));
    }
    let mut r = Renderer::default();
    let local: Vec<&PodInfo> = view
        .pods
        .values()
        .filter(|p| p.node.as_deref() == Some(node) && !p.host_network && p.ip.is_some())
        .collect();
    for dir in [Direction::Ingress, Direction::Egress] {
        for pod in &local {
            let policies: Vec<&Policy> = view
                .policies
                .iter()
                .filter(|p| dir.rules(p).is_some() && view.selects(p, pod))
                .collect();
            if !policies.is_empty() {
                r.pod_firewall(view, pod, dir, &policies);
            }
        }
    }
    Ok(r.finish(node))
}

impl Renderer {
    fn pod_firewall(
        &mut self,
        view: &PolicyView,
        pod: &PodInfo,
        dir: Direction,
        policies: &[&Policy],
    ) {
        let ip = pod.ip.expect("local pods have addresses");
        let d = dir.as_str();
        let chain = pod_firewall_chain(&pod.namespace, &pod.name, d);
        let (to_from, addr) = match dir {
            Direction::Ingress => ("destined to", format!("-d {ip}/32")),
            Direction::Egress => ("from", format!("-s {ip}/32")),
        };
        let jump = comment(&format!(
            "rule to jump traffic {to_from} POD name: {} namespace: {} to chain {chain}",
            pod.name, pod.namespace
        ));
        let forward = self.top.entry("KUBE-ROUTER-FORWARD").or_default();
        forward.push(format!(
            "{addr} -m physdev --physdev-is-bridged {jump} -j {chain}"
        ));
        forward.push(format!("{addr} {jump} -j {chain}"));
        if dir == Direction::Egress {
            self.top
                .entry("KUBE-ROUTER-INPUT")
                .or_default()
                .push(format!("{addr} {jump} -j {chain}"));
        }
        self.top
            .entry("KUBE-ROUTER-OUTPUT")
            .or_default()
            .push(format!("{addr} {jump} -j {chain}"));

        let mut rules = vec![
            format!(
                "{} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                comment("rule for stateful firewall for pod")
            ),
            // The oracle's "a pod to itself is not policed", for the one way such traffic
            // meets these chains: hairpinned back through the bridge by a Service's DNAT.
            format!(
                "-s {ip}/32 -d {ip}/32 {} -j ACCEPT",
                comment("rule to permit the traffic of the pod to itself (hairpin)")
            ),
        ];
        if dir == Direction::Ingress {
            rules.push(format!(
                "-d {ip}/32 {} -m addrtype --src-type LOCAL -j ACCEPT",
                comment("rule to permit the traffic to pods when source is the pod's local node")
            ));
        }
        for policy in policies {
            let pchain = policy_chain(&policy.namespace, &policy.name, d);
            rules.push(format!(
                "{} -j {pchain}",
                comment(&format!("run through nw policy {}", policy.key()))
            ));
            if !self.chains.contains_key(&pchain) {
                let body = self.policy_rules(view, policy, dir);
                self.chains.insert(pchain, body);
            }
        }
        rules.push(format!(
            "{} -m mark ! --mark {ALLOW_MARK} -j DROP",
            comment(&format!(
                "rule to DROP {d} traffic {to_from} POD name: {} namespace: {}",
                pod.name, pod.namespace
            ))
        ));
        rules.push("-j MARK --set-xmark 0x0/0x10000".to_string());
        self.chains.insert(chain, rules);
    }

    fn policy_rules(&mut self, view: &PolicyView, policy: &Policy, dir: Direction) -> Vec<String> {
        let d = dir.as_str();
        let mut out = Vec::new();
        let text = comment(&format!(
            "rule to ACCEPT {d} traffic by policy name: {} namespace: {}",
            policy.name, policy.namespace
        ));
        for (i, rule) in dir.rules(policy).unwrap_or_default().iter().enumerate() {
            for peer in self.peer_matches(view, policy, dir, i, rule) {
                for port in self.port_matches(view, rule) {
                    let m = [
                        port.0.as_str(),
                        text.as_str(),
                        peer.as_str(),
                        port.1.as_str(),
                    ]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ");
                    out.push(format!("{m} -j MARK --set-xmark {ALLOW_MARK}"));
                    out.push(format!("-m mark --mark {ALLOW_MARK} -j RETURN"));
                }
            }
        }
        out
    }

    /// The peer part of each rule line: empty for "every peer", else a set match.
    fn peer_matches(
        &mut self,
        view: &PolicyView,
        policy: &Policy,
        dir: Direction,
        i: usize,
        rule: &Rule,
    ) -> Vec<String> {
        let Some(peers) = &rule.peers else {
            return vec![String::new()];
        };
        let flag = match dir {
            Direction::Ingress => "src",
            Direction::Egress => "dst",
        };
        let mut out = Vec::new();
        for (j, peer) in peers.iter().enumerate() {
            let (set_type, members) = match peer {
                Peer::Pods { .. } => {
                    let members = view
                        .pods
                        .values()
                        .filter(|p| view.peer_selects(peer, p))
                        .filter_map(|p| p.ip)
                        .map(|ip| (ip.to_string(), false))
                        .collect();
                    ("hash:ip", members)
                }
                Peer::IpBlock {
                    cidr: IpNet::V4(cidr),
                    except,
                } => {
                    let mut members: BTreeSet<(String, bool)> =
                        split_zero(*cidr).map(|n| (n.to_string(), false)).collect();
                    for e in except {
                        if let IpNet::V4(e) = e {
                            members.insert((e.to_string(), true));
                        }
                    }
                    ("hash:net", members)
                }
                // No IPv6 in the model: the peer matches nothing.
                Peer::IpBlock { .. } => continue,
            };
            let name = peer_set(
                &policy.namespace,
                &policy.name,
                dir.as_str(),
                i,
                j,
                set_type,
            );
            self.sets.insert(name.clone(), SetDef { set_type, members });
            out.push(format!("-m set --match-set {name} {flag}"));
        }
        out
    }

    /// Each port entry as (the part before the comment, the part after it).
    fn port_matches(&mut self, view: &PolicyView, rule: &Rule) -> Vec<(String, String)> {
        let Some(ports) = &rule.ports else {
            return vec![(String::new(), String::new())];
        };
        ports.iter().map(|p| self.port_match(view, p)).collect()
    }

    fn port_match(&mut self, view: &PolicyView, p: &PolicyPort) -> (String, String) {
        let proto = p.protocol.lower();
        match &p.port {
            PortMatch::All => (format!("-p {proto}"), String::new()),
            PortMatch::Range { from, to } if from == to => {
                (format!("-p {proto}"), format!("-m {proto} --dport {from}"))
            }
            PortMatch::Range { from, to } => (
                format!("-p {proto}"),
                format!("-m {proto} --dport {from}:{to}"),
            ),
            PortMatch::Named(name) => {
                let set = named_port_set(name, proto);
                // One set per name and protocol, shared by every rule naming it.
                if !self.sets.contains_key(&set) {
                    self.named_port_members(view, &set, name, p.protocol);
                }
                (
                    format!("-p {proto}"),
                    format!("-m set --match-set {set} dst,dst"),
                )
            }
        }
    }

    fn named_port_members(&mut self, view: &PolicyView, set: &str, name: &str, protocol: Protocol) {
        let proto = protocol.lower();
        let members = view
            .pods
            .values()
            .filter(|pod| !pod.host_network)
            .filter_map(|pod| {
                let ip = pod.ip?;
                let port = pod.named_port(name, protocol)?;
                Some((format!("{ip},{proto}:{port}"), false))
            })
            .collect();
        self.sets.insert(
            set.to_string(),
            SetDef {
                set_type: "hash:ip,port",
                members,
            },
        );
    }

    fn finish(self, node: &str) -> NodeRules {
        let mut filter = String::from("*filter\n");
        for (_, top) in TOP_CHAINS {
            let _ = writeln!(filter, ":{top} - [0:0]");
        }
        for c in self.chains.keys() {
            let _ = writeln!(filter, ":{c} - [0:0]");
        }
        for (_, top) in TOP_CHAINS {
            for rule in self.top.get(top).into_iter().flatten() {
                let _ = writeln!(filter, "-A {top} {rule}");
            }
        }
        for (c, rules) in &self.chains {
            for rule in rules {
                let _ = writeln!(filter, "-A {c} {rule}");
            }
        }
        filter.push_str("COMMIT\n");
        let mut ipsets = String::new();
        for (name, def) in &self.sets {
            let _ = writeln!(
                ipsets,
                "create {name} {} family inet hashsize 1024 maxelem 65536",
                def.set_type
            );
            let _ = writeln!(ipsets, "flush {name}");
            for (elem, nomatch) in &def.members {
                let _ = writeln!(
                    ipsets,
                    "add {name} {elem}{}",
                    if *nomatch { " nomatch" } else { "" }
                );
            }
        }
        NodeRules {
            node: node.to_string(),
            filter,
            ipsets,
            chains: self.chains.keys().cloned().collect(),
            sets: self.sets.keys().cloned().collect(),
        }
    }
}

/// hash:net stores no /0: 0.0.0.0/0 becomes 0.0.0.0/1 and 128.0.0.0/1.
fn split_zero(net: Ipv4Net) -> impl Iterator<Item = Ipv4Net> {
    let halves: Vec<Ipv4Net> = if net.prefix_len() == 0 {
        vec![
            Ipv4Net::new([0, 0, 0, 0].into(), 1).expect("literal"),
            Ipv4Net::new([128, 0, 0, 0].into(), 1).expect("literal"),
        ]
    } else {
        vec![net]
    };
    halves.into_iter()
}

fn is_agent_chain(name: &str) -> bool {
    name.starts_with("KUBE-POD-FW-") || name.starts_with("KUBE-NWPLCY-")
}

fn is_agent_set(name: &str) -> bool {
    name.starts_with("KUBE-SRC-") || name.starts_with("KUBE-DST-")
}

impl NodeRules {
    /// The `iptables-restore --noflush` transaction that makes `nf`'s filter table hold
    /// exactly these rules: [`NodeRules::filter`], plus the jumps from the built-in chains the
    /// first time, plus flushing and deleting the agent's chains this render no longer has.
    pub fn restore_text(&self, nf: &Netfilter) -> String {
        let table = nf.ruleset.table(TableName::Filter);
        let exists = |c: &str| table.is_some_and(|t| t.chain(c).is_some());
        let stale: Vec<String> = table
            .map(|t| {
                t.chains()
                    .map(|c| c.name.to_string())
                    .filter(|c| is_agent_chain(c) && !self.chains.contains(c))
                    .collect()
            })
            .unwrap_or_default();
        let body = self
            .filter
            .strip_suffix("COMMIT\n")
            .expect("render ends with COMMIT");
        let mut text = String::new();
        text.push_str(body);
        for c in &stale {
            let _ = writeln!(text, ":{c} - [0:0]");
        }
        for c in &stale {
            let _ = writeln!(text, "-X {c}");
        }
        for (builtin, top) in TOP_CHAINS {
            if !exists(top) {
                let _ = writeln!(
                    text,
                    "-I {builtin} 1 {} -j {top}",
                    comment("kube-router netpol - network policy chain")
                );
            }
        }
        text.push_str("COMMIT\n");
        text
    }

    /// A full sync into `nf`: sets first (rules refer to them), then the filter table, then
    /// the agent's sets no rule uses any more are destroyed.
    pub fn load(&self, nf: &mut Netfilter) -> Result<(), LoadError> {
        nf.ipsets
            .restore(&self.ipsets, true)
            .map_err(|source| LoadError::Ipset {
                node: self.node.clone(),
                source,
            })?;
        let text = self.restore_text(nf);
        nf.restore(
            &text,
            RestoreOptions {
                noflush: true,
                counters: false,
            },
        )
        .map_err(|source| LoadError::Iptables {
            node: self.node.clone(),
            source: Box::new(source),
        })?;
        let stale: Vec<String> = nf
            .ipsets
            .iter()
            .map(|s| s.name.clone())
            .filter(|n| is_agent_set(n) && !self.sets.contains(n))
            .collect();
        for name in stale {
            nf.ipsets
                .destroy(Some(&name))
                .map_err(|error| LoadError::Ipset {
                    node: self.node.clone(),
                    source: sim_net::netfilter::ipset::RestoreError { line: 0, error },
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{LoadOptions, load_str};

    /// The docs' example policy (`test-network-policy`: role=db, from 172.17.0.0/16 except
    /// 172.17.1.0/24, project=myproject, role=frontend on TCP 6379; egress to 10.0.0.0/24 on
    /// TCP 5978), a db pod on node-1 and a frontend elsewhere.
    const EXAMPLE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: myproject, labels: {project: myproject}}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: default, labels: {role: db}}
spec: {nodeName: node-1, containers: [{name: redis, image: redis, ports: [{name: redis, containerPort: 6379}]}]}
status: {podIP: 10.244.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: frontend, namespace: default, labels: {role: frontend}}
spec: {nodeName: node-2, containers: [{name: web, image: web}]}
status: {podIP: 10.244.1.7}
---
apiVersion: v1
kind: Pod
metadata: {name: tool, namespace: myproject}
spec: {nodeName: node-2, containers: [{name: t, image: t}]}
status: {podIP: 10.244.1.8}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: test-network-policy, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
    - namespaceSelector: {matchLabels: {project: myproject}}
    - podSelector: {matchLabels: {role: frontend}}
    ports: [{protocol: TCP, port: 6379}]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/24}}]
    ports: [{protocol: TCP, port: 5978}]
"#;

    fn view() -> PolicyView {
        let m = load_str("example.yaml", EXAMPLE, &LoadOptions::default()).unwrap();
        PolicyView::from_objects(m.objects()).unwrap()
    }

    #[test]
    fn docs_example_on_the_db_node() {
        let rules = render_node(&view(), "node-1").unwrap();
        insta::assert_snapshot!(format!("{}\n{}", rules.filter, rules.ipsets));
        // It loads through sim-net's parsers.
        let mut nf = Netfilter::default();
        rules.load(&mut nf).unwrap();
        assert_eq!(nf.ipsets.iter().count(), 4);
    }

    #[test]
    fn every_port_form_loads() {
        let extra = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ports, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
  - ports: [{protocol: SCTP, port: 9}, {protocol: UDP, port: 1000, endPort: 2000}, {protocol: UDP}]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}, {ipBlock: {cidr: "2001:db8::/32"}}]
    ports: [{port: redis}]
"#;
        let text = format!("{EXAMPLE}{extra}");
        let m = load_str("ports.yaml", &text, &LoadOptions::default()).unwrap();
        let view = PolicyView::from_objects(m.objects()).unwrap();
        let rules = render_node(&view, "node-1").unwrap();
        for want in [
            "-p sctp -m comment --comment \"rule to ACCEPT ingress traffic by policy name: ports namespace: default\" -m sctp --dport 9 -j MARK",
            "-p udp -m comment --comment \"rule to ACCEPT ingress traffic by policy name: ports namespace: default\" -m udp --dport 1000:2000 -j MARK",
            "-p udp -m comment --comment \"rule to ACCEPT ingress traffic by policy name: ports namespace: default\" -j MARK",
        ] {
            assert!(rules.filter.contains(want), "{want}\n{}", rules.filter);
        }
        // 0.0.0.0/0 as two /1s, the except as nomatch; the IPv6 block renders nothing; the
        // named port as every pod's address and port where the name resolves.
        assert!(rules.ipsets.contains(" 0.0.0.0/1\n"), "{}", rules.ipsets);
        assert!(rules.ipsets.contains(" 128.0.0.0/1\n"));
        assert!(rules.ipsets.contains(" 10.0.0.0/8 nomatch\n"));
        assert!(!rules.ipsets.contains("2001:db8"));
        assert!(rules.ipsets.contains(" 10.244.0.5,tcp:6379\n"));
        let mut nf = Netfilter::default();
        rules.load(&mut nf).unwrap();
    }

    #[test]
    fn nodes_without_isolated_pods_get_empty_chains() {
        let rules = render_node(&view(), "node-2").unwrap();
        assert!(rules.chains.is_empty() && rules.sets.is_empty());
        assert_eq!(
            rules.filter,
            "*filter\n:KUBE-ROUTER-INPUT - [0:0]\n:KUBE-ROUTER-FORWARD - [0:0]\n:KUBE-ROUTER-OUTPUT - [0:0]\nCOMMIT\n"
        );
        assert_eq!(
            render_node(&view(), "node-9").unwrap_err(),
            PolicyError::UnknownNode("node-9".into())
        );
    }
}
