//! Errors for building a topology: each names the object at fault, in the words `ip` would use.

use std::net::IpAddr;

use crate::sysctl::SysctlError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("network namespace {0:?} already exists")]
    NetnsExists(String),
    #[error("invalid network namespace name {0:?}: non-empty, no '/' or whitespace")]
    BadNetnsName(String),
    #[error("no network namespace named {0:?}")]
    UnknownNetns(String),
    #[error("device {name:?} already exists in netns {netns:?}")]
    DeviceExists { netns: String, name: String },
    #[error("no device named {name:?} in netns {netns:?}")]
    UnknownDevice { netns: String, name: String },
    #[error("invalid device name {0:?}: 1 to 15 characters, no '/', ':' or whitespace (IFNAMSIZ)")]
    BadDeviceName(String),
    #[error(
        "invalid address {input:?} on {device}: expected ADDRESS/PREFIX such as 10.244.1.1/24 ({reason})"
    )]
    BadAddress {
        device: String,
        input: String,
        reason: String,
    },
    #[error("address {addr} already on {device} (RTNETLINK answers: File exists)")]
    AddressExists { device: String, addr: IpAddr },
    #[error("address {addr} for {device} is already on {other} in netns {netns}")]
    AddressConflict {
        netns: String,
        device: String,
        other: String,
        addr: IpAddr,
    },
    #[error("{device} is a bridge; a bridge cannot be a port of bridge {bridge} (ELOOP)")]
    BridgeInBridge { device: String, bridge: String },
    #[error("{0} is not a bridge")]
    NotABridge(String),
    #[error("{device} and bridge {bridge} are in different network namespaces")]
    CrossNamespace { device: String, bridge: String },
    #[error("{0} is not a physical NIC and cannot be attached to a link")]
    NotANic(String),
    #[error("{0} is already attached to a link")]
    AlreadyLinked(String),
    #[error("route {route} in netns {netns}: {reason}")]
    BadRoute {
        netns: String,
        route: String,
        reason: String,
    },
    #[error("VNI {0} is out of range (0 to 16777215)")]
    VniOutOfRange(u32),
    #[error("{0} is not a VXLAN device")]
    NotVxlan(String),
    #[error("MTU {mtu} is out of range for {device} (68 to 65536)")]
    BadMtu { device: String, mtu: u32 },
    #[error("sysctl in netns {netns}: {source}")]
    Sysctl {
        netns: String,
        #[source]
        source: SysctlError,
    },
}
