//! Node IPAM, the range allocator (`pkg/controller/nodeipam/ipam/range_allocator.go`):
//! gives every Node a pod CIDR (`spec.podCIDR`, `spec.podCIDRs`) carved from the cluster CIDR
//! (`--cluster-cidr`, one per IP family) with the node mask (`--node-cidr-mask-size-ipv4`,
//! default 24; `--node-cidr-mask-size-ipv6`, default 64).
//!
//! A state machine over the store: [`NodeIpam::reconcile`] reads the Nodes and returns the
//! writes, remembering which node holds which CIDRs between calls.
//!
//! Carried over: the service CIDR is kept out of the pool; nodes that already have pod CIDRs
//! have them marked taken first (the controller does this for all existing nodes before it
//! allocates); a pre-set CIDR outside the cluster CIDR, unparsable, or beyond the configured
//! families is an error for that node; nodes without CIDRs get the next free subnet of every
//! family, in node creation order; a deleted node's CIDRs are released (and reused only when
//! the allocator's scan comes round to them again).
//!
//! Stricter than upstream: a pre-set CIDR that overlaps one already held by another node is
//! an error (upstream marks it taken a second time without complaint).

use std::collections::BTreeMap;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use thiserror::Error;

use super::cidr_set::{CidrSet, CidrSetError};
use crate::object::Kind;
use crate::store::{Change, Store};

/// kube-controller-manager's default node mask for IPv4 (`--node-cidr-mask-size-ipv4`).
pub const DEFAULT_NODE_MASK_IPV4: u8 = 24;
/// ... and for IPv6 (`--node-cidr-mask-size-ipv6`).
pub const DEFAULT_NODE_MASK_IPV6: u8 = 64;

/// The allocator's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIpamConfig {
    /// `--cluster-cidr`: one CIDR, or one per family for dual stack (order is the order of
    /// `podCIDRs`).
    pub cluster_cidrs: Vec<IpNet>,
    pub node_mask_ipv4: u8,
    pub node_mask_ipv6: u8,
    /// `--service-cluster-ip-range`: kept out of the pod CIDR pool where it overlaps.
    pub service_cidrs: Vec<IpNet>,
}

impl NodeIpamConfig {
    /// One cluster CIDR with the default node masks and no service CIDR.
    pub fn new(cluster_cidr: IpNet) -> Self {
        NodeIpamConfig {
            cluster_cidrs: vec![cluster_cidr],
            node_mask_ipv4: DEFAULT_NODE_MASK_IPV4,
            node_mask_ipv6: DEFAULT_NODE_MASK_IPV6,
            service_cidrs: Vec::new(),
        }
    }
}

/// Why the allocator cannot start, or cannot serve a node.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IpamError {
    #[error("at least one cluster CIDR is required")]
    NoClusterCidr,
    #[error("cluster CIDRs {0:?}: at most two, one IPv4 and one IPv6")]
    BadDualStack(Vec<IpNet>),
    #[error("cluster CIDR {cluster}: {source}")]
    CidrSet {
        cluster: IpNet,
        #[source]
        source: CidrSetError,
    },
    #[error("failed to parse node {node}, CIDR {cidr}")]
    UnparsablePodCidr { node: String, cidr: String },
    #[error(
        "node:{node} has an allocated cidr: {cidr} at index:{index} that does not exist in cluster cidrs configuration"
    )]
    ExtraPodCidr {
        node: String,
        cidr: String,
        index: usize,
    },
    #[error("failed to mark cidr[{cidr}] at idx [{index}] as occupied for node: {node}: {source}")]
    Occupy {
        node: String,
        cidr: IpNet,
        index: usize,
        #[source]
        source: CidrSetError,
    },
    #[error("node {node}: pod CIDR {cidr} overlaps {holder}'s")]
    AlreadyAllocated {
        node: String,
        cidr: IpNet,
        holder: String,
    },
    /// No subnet left (upstream records a `CIDRNotAvailable` event on the node).
    #[error("node {node}: failed to allocate cidr from cluster cidr at idx:{index}: {source}")]
    Exhausted {
        node: String,
        index: usize,
        #[source]
        source: CidrSetError,
    },
}

/// What one reconcile pass produced: node updates, and the nodes it could not serve.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IpamOutcome {
    pub changes: Vec<Change>,
    pub errors: Vec<IpamError>,
}

/// The range allocator.
#[derive(Debug, Clone)]
pub struct NodeIpam {
    sets: Vec<CidrSet>,
    /// Node name → the CIDRs it holds, one per family in `cluster_cidrs` order.
    held: BTreeMap<String, Vec<IpNet>>,
}

impl NodeIpam {
    /// Builds the CIDR sets (and takes the service range out of them).
    pub fn new(config: &NodeIpamConfig) -> Result<NodeIpam, IpamError> {
        let cidrs = &config.cluster_cidrs;
        match cidrs.as_slice() {
            [] => return Err(IpamError::NoClusterCidr),
            [_] => {}
            [a, b]
                if matches!(
                    (a, b),
                    (IpNet::V4(_), IpNet::V6(_)) | (IpNet::V6(_), IpNet::V4(_))
                ) => {}
            _ => return Err(IpamError::BadDualStack(cidrs.clone())),
        }
        let mut sets = Vec::new();
        for cluster in cidrs {
            let mask = match cluster {
                IpNet::V4(_) => config.node_mask_ipv4,
                IpNet::V6(_) => config.node_mask_ipv6,
            };
            let mut set = CidrSet::new(*cluster, mask).map_err(|source| IpamError::CidrSet {
                cluster: *cluster,
                source,
            })?;
            for svc in &config.service_cidrs {
                // filterOutServiceRange: only where they overlap.
                let _ = set.occupy(*svc);
            }
            sets.push(set);
        }
        Ok(NodeIpam {
            sets,
            held: BTreeMap::new(),
        })
    }

    /// The CIDRs each node holds, by node name.
    pub fn allocations(&self) -> &BTreeMap<String, Vec<IpNet>> {
        &self.held
    }

    fn release(&mut self, cidrs: &[IpNet]) {
        for (set, cidr) in self.sets.iter_mut().zip(cidrs) {
            let _ = set.release(*cidr);
        }
    }

    /// Takes a node's pre-set pod CIDRs.
    fn occupy(&mut self, node: &str, cidrs: &[String]) -> Result<(), IpamError> {
        let mut parsed = Vec::new();
        for (index, text) in cidrs.iter().enumerate() {
            let cidr: IpNet = text.parse().map_err(|_| IpamError::UnparsablePodCidr {
                node: node.to_owned(),
                cidr: text.clone(),
            })?;
            let Some(set) = self.sets.get(index) else {
                return Err(IpamError::ExtraPodCidr {
                    node: node.to_owned(),
                    cidr: text.clone(),
                    index,
                });
            };
            let (begin, end) = set.indices(cidr).map_err(|source| IpamError::Occupy {
                node: node.to_owned(),
                cidr,
                index,
                source,
            })?;
            if (begin..=end).any(|i| set.is_used(i)) {
                let holder = self
                    .held
                    .iter()
                    .find(|(_, held)| {
                        held.get(index).is_some_and(|h| {
                            h.contains(&cidr.network()) || cidr.contains(&h.network())
                        })
                    })
                    .map_or_else(|| "the service range".to_owned(), |(n, _)| n.clone());
                return Err(IpamError::AlreadyAllocated {
                    node: node.to_owned(),
                    cidr,
                    holder,
                });
            }
            parsed.push(cidr);
        }
        for (set, cidr) in self.sets.iter_mut().zip(&parsed) {
            set.occupy(*cidr).expect("indices checked above");
        }
        self.held.insert(node.to_owned(), parsed);
        Ok(())
    }

    /// One pass: release deleted nodes' CIDRs, take pre-set ones, allocate for the rest, and
    /// return the Node updates. Applying them and reconciling again yields nothing.
    pub fn reconcile(&mut self, store: &Store) -> IpamOutcome {
        let mut out = IpamOutcome::default();
        let nodes: Vec<&Node> = store
            .creation_order(Kind::Node)
            .into_iter()
            .filter_map(|o| o.downcast_ref::<Node>())
            .collect();
        let name_of = |n: &Node| n.metadata.name.clone().unwrap_or_default();
        let pod_cidrs = |n: &Node| -> Vec<String> {
            let spec = n.spec.as_ref();
            match spec.and_then(|s| s.pod_cidrs.as_ref()) {
                Some(c) if !c.is_empty() => c.clone(),
                _ => spec
                    .and_then(|s| s.pod_cidr.clone())
                    .filter(|c| !c.is_empty())
                    .into_iter()
                    .collect(),
            }
        };

        // Deleted nodes give their CIDRs back.
        let gone: Vec<String> = self
            .held
            .keys()
            .filter(|name| !nodes.iter().any(|n| &name_of(n) == *name))
            .cloned()
            .collect();
        for name in gone {
            if let Some(cidrs) = self.held.remove(&name) {
                self.release(&cidrs);
            }
        }

        // Pre-set CIDRs first, so allocation never hands one out.
        for node in &nodes {
            let name = name_of(node);
            let cidrs = pod_cidrs(node);
            if cidrs.is_empty() || self.held.contains_key(&name) {
                continue;
            }
            if let Err(e) = self.occupy(&name, &cidrs) {
                out.errors.push(e);
            }
        }

        for node in nodes {
            let name = name_of(node);
            if !pod_cidrs(node).is_empty() {
                continue;
            }
            let cidrs = match self.held.get(&name) {
                // Allocated earlier but not written yet: write the same again.
                Some(held) => held.clone(),
                None => {
                    let mut got = Vec::new();
                    let mut failed = None;
                    for (index, set) in self.sets.iter_mut().enumerate() {
                        match set.allocate_next() {
                            Ok(c) => got.push(c),
                            Err(source) => {
                                failed = Some(IpamError::Exhausted {
                                    node: name.clone(),
                                    index,
                                    source,
                                });
                                break;
                            }
                        }
                    }
                    if let Some(e) = failed {
                        self.release(&got);
                        out.errors.push(e);
                        continue;
                    }
                    self.held.insert(name.clone(), got.clone());
                    got
                }
            };
            let mut updated = node.clone();
            let spec = updated.spec.get_or_insert_with(Default::default);
            let texts: Vec<String> = cidrs.iter().map(IpNet::to_string).collect();
            spec.pod_cidr = texts.first().cloned();
            spec.pod_cidrs = Some(texts);
            // PatchNodeCIDRs is a patch: no resourceVersion precondition.
            updated.metadata.resource_version = None;
            out.changes.push(Change::Update(updated.into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::testutil::*;
    use crate::object::{Object, ObjectKey};
    use k8s_openapi::api::core::v1::NodeSpec;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn with_cidr(name: &str, cidr: &str) -> Node {
        let mut n = node(name, "");
        n.spec = Some(NodeSpec {
            pod_cidr: Some(cidr.into()),
            ..Default::default()
        });
        n
    }

    fn cidrs_of(store: &Store, name: &str) -> Vec<String> {
        let n = store.get_as::<Node>("", name).unwrap();
        n.spec
            .as_ref()
            .and_then(|s| s.pod_cidrs.clone())
            .unwrap_or_default()
    }

    fn run(ipam: &mut NodeIpam, store: &mut Store) -> IpamOutcome {
        let out = ipam.reconcile(store);
        apply(store, out.changes.clone());
        let again = ipam.reconcile(store);
        assert_eq!(again.changes, vec![], "a second pass changes nothing");
        out
    }

    // range_allocator_test.go TestAllocateOrOccupyCIDRSuccess: nodes get consecutive /24s
    // from the start of the cluster CIDR, in the order they were created.
    #[test]
    fn allocates_in_creation_order() {
        let mut store = store_with([node("zeta", "").into(), node("alpha", "").into()]);
        let mut ipam = NodeIpam::new(&NodeIpamConfig::new(net("10.244.0.0/16"))).unwrap();
        let out = run(&mut ipam, &mut store);
        assert!(out.errors.is_empty());
        assert_eq!(cidrs_of(&store, "zeta"), ["10.244.0.0/24"]);
        assert_eq!(cidrs_of(&store, "alpha"), ["10.244.1.0/24"]);
        let alpha = store.get_as::<Node>("", "alpha").unwrap();
        assert_eq!(
            alpha.spec.as_ref().unwrap().pod_cidr.as_deref(),
            Some("10.244.1.0/24")
        );
    }

    // A node that already has a pod CIDR keeps it, and nobody else gets it
    // (TestOccupyPreExistingCIDR).
    #[test]
    fn pre_set_cidrs_are_honoured_and_checked() {
        let mut store = store_with([
            node("a", "").into(),
            with_cidr("b", "10.244.0.0/24").into(),
            with_cidr("outside", "10.99.0.0/24").into(),
            with_cidr("garbage", "ten-dot").into(),
        ]);
        let mut ipam = NodeIpam::new(&NodeIpamConfig::new(net("10.244.0.0/16"))).unwrap();
        let out = run(&mut ipam, &mut store);
        assert_eq!(cidrs_of(&store, "a"), ["10.244.1.0/24"]);
        assert_eq!(cidrs_of(&store, "b"), ["10.244.0.0/24"]);
        assert_eq!(out.errors.len(), 2);
        assert_eq!(
            out.errors[0].to_string(),
            "failed to mark cidr[10.99.0.0/24] at idx [0] as occupied for node: outside: cidr 10.99.0.0/24 is out the range of cluster cidr 10.244.0.0/16"
        );
        assert_eq!(
            out.errors[1].to_string(),
            "failed to parse node garbage, CIDR ten-dot"
        );

        store
            .create(T0, with_cidr("c", "10.244.1.0/24").into())
            .unwrap();
        let out = ipam.reconcile(&store);
        assert!(out.errors.contains(&IpamError::AlreadyAllocated {
            node: "c".into(),
            cidr: net("10.244.1.0/24"),
            holder: "a".into()
        }));
    }

    // ReleaseCIDR on node deletion; the cidrset scan only comes back to it after wrapping.
    #[test]
    fn release_on_delete_and_exhaustion() {
        let mut store = store_with([node("a", "").into(), node("b", "").into()]);
        let mut cfg = NodeIpamConfig::new(net("10.0.0.0/23"));
        cfg.node_mask_ipv4 = 24;
        let mut ipam = NodeIpam::new(&cfg).unwrap();
        run(&mut ipam, &mut store);
        store.create(T0, node("c", "").into()).unwrap();
        let out = ipam.reconcile(&store);
        assert_eq!(out.changes, vec![]);
        assert_eq!(
            out.errors[0].to_string(),
            "node c: failed to allocate cidr from cluster cidr at idx:0: CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range"
        );
        store
            .delete(T0, &ObjectKey::cluster(Kind::Node, "a"), None)
            .unwrap();
        let out = run(&mut ipam, &mut store);
        assert!(out.errors.is_empty());
        assert_eq!(cidrs_of(&store, "c"), ["10.0.0.0/24"]);
        assert_eq!(ipam.allocations().keys().collect::<Vec<_>>(), ["b", "c"]);
    }

    #[test]
    fn dual_stack_and_service_range() {
        let mut store = store_with([node("a", "").into()]);
        let cfg = NodeIpamConfig {
            cluster_cidrs: vec![net("10.244.0.0/16"), net("fd00:10:244::/56")],
            node_mask_ipv4: DEFAULT_NODE_MASK_IPV4,
            node_mask_ipv6: DEFAULT_NODE_MASK_IPV6,
            service_cidrs: vec![net("10.244.0.0/23")],
        };
        let mut ipam = NodeIpam::new(&cfg).unwrap();
        run(&mut ipam, &mut store);
        // The first two /24s overlap the service range and are skipped.
        assert_eq!(cidrs_of(&store, "a"), ["10.244.2.0/24", "fd00:10:244::/64"]);
    }

    #[test]
    fn bad_configurations() {
        assert_eq!(
            NodeIpam::new(&NodeIpamConfig {
                cluster_cidrs: vec![],
                ..NodeIpamConfig::new(net("10.0.0.0/8"))
            })
            .unwrap_err(),
            IpamError::NoClusterCidr
        );
        let two_v4 = NodeIpamConfig {
            cluster_cidrs: vec![net("10.0.0.0/8"), net("11.0.0.0/8")],
            ..NodeIpamConfig::new(net("10.0.0.0/8"))
        };
        assert!(matches!(
            NodeIpam::new(&two_v4),
            Err(IpamError::BadDualStack(_))
        ));
        let mut narrow = NodeIpamConfig::new(net("10.0.0.0/24"));
        narrow.node_mask_ipv4 = 16;
        assert!(matches!(
            NodeIpam::new(&narrow),
            Err(IpamError::CidrSet { .. })
        ));
        let v6 = NodeIpamConfig::new(net("fd00::/32"));
        assert!(matches!(
            NodeIpam::new(&v6),
            Err(IpamError::CidrSet {
                source: CidrSetError::SubnetTooBig { .. },
                ..
            })
        ));
    }

    #[test]
    fn unapplied_allocations_are_offered_again_unchanged() {
        let store = store_with([node("a", "").into()]);
        let mut ipam = NodeIpam::new(&NodeIpamConfig::new(net("10.244.0.0/16"))).unwrap();
        let first = ipam.reconcile(&store);
        let second = ipam.reconcile(&store);
        assert_eq!(first, second);
        let [Change::Update(Object::Node(n))] = first.changes.as_slice() else {
            panic!("one node update");
        };
        assert_eq!(n.metadata.resource_version, None);
    }
}
