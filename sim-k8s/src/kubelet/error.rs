//! What a pod spec or a node file can get wrong, for kubelet.

use sim_net::TopologyError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeletError {
    #[error("pod has no metadata.name")]
    MissingPodName,
    #[error("pod Hostname {hostname:?} is not a valid DNS label: {reason}")]
    InvalidHostname { hostname: String, reason: String },
    #[error("pod Subdomain {subdomain:?} is not a valid DNS label: {reason}")]
    InvalidSubdomain { subdomain: String, reason: String },
    #[error("pod HostnameOverride {hostname:?} is not a valid DNS subdomain: {reason}")]
    InvalidHostnameOverride { hostname: String, reason: String },
    #[error("hostname for pod {pod:?} was invalid: {hostname:?}")]
    HostnameEmptyAfterTruncation { pod: String, hostname: String },
    #[error("node resolv.conf line {line}: nameserver list is empty")]
    EmptyNameserver { line: usize },
    #[error("node resolv.conf is {len} bytes, more than kubelet reads (10 MiB)")]
    ResolvConfTooLarge { len: usize },
    #[error("pod {pod}: no container named {container:?} in its spec")]
    UnknownContainer { pod: String, container: String },
    #[error("pod sandbox: {0}")]
    Topology(#[from] TopologyError),
}
