//! CNI errors: configuration errors name the file and the JSON path (jq style,
//! `.plugins[0].ipam.ranges[0][0].subnet`); runtime errors use the plugins' own wording.

use sim_net::TopologyError;

use crate::ipam::IpamError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CniError {
    #[error("{file}: not valid JSON: {message} (line {line}, column {column})")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: String,
        path: String,
        message: String,
    },
    #[error(
        "{file}: {path}: unknown plugin type {kind:?}; the simulator models bridge, loopback, portmap and bandwidth"
    )]
    UnknownPlugin {
        file: String,
        path: String,
        kind: String,
    },
    #[error("{file}: {path}: unknown IPAM type {kind:?}; the simulator models host-local")]
    UnknownIpam {
        file: String,
        path: String,
        kind: String,
    },
    #[error("{file}: {path}: {source}")]
    IpamConfig {
        file: String,
        path: String,
        #[source]
        source: IpamError,
    },
    #[error("invalid pod CIDR {cidr:?}: {reason}")]
    InvalidPodCidr { cidr: String, reason: String },
    #[error("network {network:?}, plugin {plugin}: {source}")]
    Plugin {
        network: String,
        plugin: &'static str,
        #[source]
        source: Box<CniError>,
    },
    #[error("{0}")]
    Ipam(#[from] IpamError),
    #[error("{0}")]
    Topology(#[from] TopologyError),
    #[error("{0:?} already exists but is not a bridge")]
    NotABridge(String),
    #[error("cannot set hairpin mode and promiscuous mode at the same time")]
    HairpinAndPromisc,
    #[error("{bridge:?} already has an IP address different from {want}")]
    BridgeAddress { bridge: String, want: String },
    #[error("failed to find a unique veth name for container {0:?}")]
    VethName(String),
    #[error("IPAM plugin returned missing IP config")]
    NoIpConfig,
    #[error("must be called as chained plugin")]
    NotChained,
    #[error("open {0}: no such file or directory")]
    NoSuchFile(String),
    #[error("invalid port mapping {mapping}: {reason}")]
    PortMapping { mapping: String, reason: String },
    #[error("{0} is not modelled by the simulator")]
    Unsupported(String),
}

impl CniError {
    /// Wraps a runtime error with the network and plugin it came from.
    pub(crate) fn in_plugin(self, network: &str, plugin: &'static str) -> CniError {
        CniError::Plugin {
            network: network.to_string(),
            plugin,
            source: Box::new(self),
        }
    }
}
