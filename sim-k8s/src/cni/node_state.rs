//! What the CNI plugins keep on a node between invocations: host-local's reservations per
//! network (`/var/lib/cni/networks/<name>`), the nat rules they installed, libcni's cache
//! of ADD results (`/var/lib/cni/results`), and the node files a config may point at
//! (`resolvConf`).

use std::collections::BTreeMap;

use sim_net::NetNsId;

use super::iptables::NatTable;
use super::result::CniResult;
use crate::ipam::Store;

/// One node's CNI state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// The node's (host) network namespace.
    pub node: NetNsId,
    /// host-local's store per network name.
    pub ipam: BTreeMap<String, Store>,
    pub nat: NatTable,
    /// Node files by absolute path.
    pub files: BTreeMap<String, String>,
    /// libcni's cached results by (network, container ID, ifname).
    pub results: BTreeMap<(String, String, String), CniResult>,
}

impl NodeState {
    pub fn new(node: NetNsId) -> Self {
        NodeState {
            node,
            ipam: BTreeMap::new(),
            nat: NatTable::new(),
            files: BTreeMap::new(),
            results: BTreeMap::new(),
        }
    }
}
