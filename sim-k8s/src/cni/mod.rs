//! # cni — the CNI plugins a node runs, against the sim-net dataplane
//!
//! | module | holds | upstream |
//! | --- | --- | --- |
//! | [`config`] | `.conflist` / `.conf` parsing into typed plugin configs | `libcni/conf.go` |
//! | [`libcni`] | running a network's plugins for ADD and DEL | `libcni/api.go` |
//! | [`bridge`] | the bridge plugin: bridge, veth pair, addresses, routes, gateway | `plugins/main/bridge` |
//! | [`host_local`] | the host-local IPAM plugin over [`crate::ipam`] | `plugins/ipam/host-local` |
//! | [`loopback`] | `lo` up | `plugins/main/loopback` |
//! | [`portmap`] | hostPort DNAT rules | `plugins/meta/portmap` |
//! | [`bandwidth`] | the bandwidth plugin's config (parsed only) | `plugins/meta/bandwidth` |
//! | [`ipmasq`] | the bridge plugin's `ipMasq` rules | `pkg/ip/ipmasq_iptables_linux.go` |
//! | [`iptables`] | the nat rules CNI installed, and the `iptables-restore` text of each change | go-iptables' unique semantics |
//! | [`chain_name`] | `CNI-…` chain names and comments, hashed as upstream hashes them | `pkg/utils/utils.go` |
//! | [`veth_name`] | the host-side veth name (deterministic) | `pkg/ip/link_linux.go` |
//! | [`result`] | the CNI result and its JSON | `cni/pkg/types/100` |
//! | [`kubenet`] | the config kubelet's kubenet plugin generated | `pkg/kubelet/network/kubenet` |
//! | [`node_state`] | what persists on a node between invocations | `/var/lib/cni` |
//! | [`error`] | [`CniError`] | |
//!
//! Plugins are those of `containernetworking/plugins` (v1.x) as read for this model. The nat
//! rules `ipMasq` and `portmap` install are produced as `iptables-restore --noflush` text for
//! sim-net's netfilter to load; they are not loaded here.

pub mod bandwidth;
pub mod bridge;
pub mod chain_name;
pub mod config;
pub mod error;
pub mod host_local;
pub mod ipmasq;
pub mod iptables;
pub(crate) mod json;
pub mod kubenet;
pub mod libcni;
pub mod loopback;
pub mod node_state;
pub mod portmap;
pub mod result;
pub mod veth_name;

pub use config::{
    NetworkConfigList, Plugin, PluginConfig, parse_conf, parse_config_file, parse_conflist,
};
pub use error::CniError;
pub use libcni::{AddOutcome, RuntimeConf, add_network_list, del_network_list};
pub use node_state::NodeState;
pub use result::CniResult;
