//! The CNI result (`github.com/containernetworking/cni/pkg/types/100`), printed as a plugin
//! prints it: `json.MarshalIndent(result, "", "    ")`, fields in the Go struct's order,
//! empty lists left out, `"dns": {}` always present (Go's `omitempty` does not omit a
//! struct), no trailing newline.
//!
//! Results are produced in the 1.0.0 layout plugins build internally
//! (`ImplementedSpecVersion`); the conversion `types.PrintResult` makes to an older
//! `cniVersion` of the config is not modelled.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};
use serde::Serialize;

/// `current.ImplementedSpecVersion`.
pub const IMPLEMENTED_SPEC_VERSION: &str = "1.0.0";

/// `types.DNS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dns {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// `dnsConfSet`: any field set.
    pub fn is_set(&self) -> bool {
        !(self.nameservers.is_empty()
            && self.domain.is_empty()
            && self.search.is_empty()
            && self.options.is_empty())
    }
}

/// `current.Interface`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

/// `current.IPConfig`: `address` keeps the host bits (`10.244.1.2/24`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    #[serde(serialize_with = "display")]
    pub address: IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// `types.Route`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    #[serde(serialize_with = "display")]
    pub dst: IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
}

/// `current.Result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CniResult {
    #[serde(rename = "cniVersion", skip_serializing_if = "String::is_empty")]
    pub cni_version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    pub dns: Dns,
}

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Default for CniResult {
    fn default() -> Self {
        CniResult {
            cni_version: IMPLEMENTED_SPEC_VERSION.to_string(),
            interfaces: Vec::new(),
            ips: Vec::new(),
            routes: Vec::new(),
            dns: Dns::default(),
        }
    }
}

impl CniResult {
    /// The result as the plugin prints it on stdout.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.serialize(&mut ser)
            .expect("a result of strings and numbers always serializes");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// The IPv4 address of the interface named `ifname` inside a sandbox, as chained plugins
    /// (portmap) pick the container's address out of the previous result.
    pub fn container_ipv4(&self, ifname: &str) -> Option<Ipv4Net> {
        self.ips
            .iter()
            .filter(|ip| ip.address.addr().is_ipv4())
            .find(|ip| match ip.interface {
                Some(i) => self
                    .interfaces
                    .get(i)
                    .is_none_or(|intf| intf.name == ifname && !intf.sandbox.is_empty()),
                None => true,
            })
            .and_then(|ip| match ip.address {
                IpNet::V4(n) => Some(n),
                IpNet::V6(_) => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_go() {
        let r = CniResult {
            interfaces: vec![Interface {
                name: "lo".into(),
                mac: "00:00:00:00:00:00".into(),
                mtu: None,
                sandbox: "/var/run/netns/x".into(),
            }],
            ips: vec![IpConfig {
                interface: Some(0),
                address: "127.0.0.1/8".parse().unwrap(),
                gateway: None,
            }],
            ..Default::default()
        };
        assert_eq!(
            r.to_json(),
            r#"{
    "cniVersion": "1.0.0",
    "interfaces": [
        {
            "name": "lo",
            "mac": "00:00:00:00:00:00",
            "sandbox": "/var/run/netns/x"
        }
    ],
    "ips": [
        {
            "interface": 0,
            "address": "127.0.0.1/8"
        }
    ],
    "dns": {}
}"#
        );
    }
}
