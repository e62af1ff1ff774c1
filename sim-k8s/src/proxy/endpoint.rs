//! Endpoints as kube-proxy sees them: the EndpointSlices of a Service folded into one list
//! per Service port (`EndpointSliceCache` in `pkg/proxy/endpointslicecache.go` and
//! `BaseEndpointInfo` in `endpoint.go`).
//!
//! Per slice (`discovery.k8s.io/v1`, `addressType: IPv4`, owned through the
//! `kubernetes.io/service-name` label), per port with a number: each endpoint's first address,
//! with `ready` (unset = true), `serving` (unset = ready's value, as the API documents),
//! `terminating` (unset = false), whether its `nodeName` is this node, and its zone/node hints.
//! An address listed twice (overlapping slices) is kept once, the local copy winning. Each
//! list is sorted by its `ip:port` string, as upstream sorts it (string order: `10.0.0.10:80`
//! before `10.0.0.2:80`). An unset port name is the empty name and an unset protocol TCP
//! (the API server's defaults for EndpointPort).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::chain_name;
use super::service_port::{Protocol, ServicePortName};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One endpoint of one Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    /// Its `nodeName` is the proxy's node.
    pub local: bool,
    pub node_name: Option<String>,
    pub zone_hints: BTreeSet<String>,
    pub node_hints: BTreeSet<String>,
    /// Its `KUBE-SEP-` chain for the Service port it belongs to (hashed once, as upstream
    /// caches it on its `endpointInfo`).
    pub chain: String,
}

impl Endpoint {
    /// `ip:port`, the form chain names and comments use.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// Endpoints per Service port.
pub type EndpointsMap = BTreeMap<ServicePortName, Vec<Endpoint>>;

/// Folds `slices` into per-port endpoint lists as seen from `node`.
pub fn endpoints_map<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node: &str,
) -> EndpointsMap {
    let mut sets: BTreeMap<ServicePortName, BTreeMap<String, Endpoint>> = BTreeMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let Some(service) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        let namespace = slice
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        for p in slice.ports.iter().flatten() {
            let Some(port) = p
                .port
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0)
            else {
                continue;
            };
            let Some(protocol) = Protocol::from_api(p.protocol.as_deref()) else {
                continue;
            };
            let name = ServicePortName {
                namespace: namespace.clone(),
                name: service.clone(),
                port: p.name.clone().unwrap_or_default(),
                protocol,
            };
            let name_string = name.to_string();
            let set = sets.entry(name).or_default();
            for e in &slice.endpoints {
                let Some(ip) = e.addresses.first().and_then(|a| a.parse::<Ipv4Addr>().ok()) else {
                    continue;
                };
                let c = e.conditions.as_ref();
                let ready = c.and_then(|c| c.ready).unwrap_or(true);
                let ep = Endpoint {
                    ip,
                    port,
                    ready,
                    serving: c.and_then(|c| c.serving).unwrap_or(ready),
                    terminating: c.and_then(|c| c.terminating).unwrap_or(false),
                    local: e.node_name.as_deref() == Some(node),
                    node_name: e.node_name.clone(),
                    zone_hints: e
                        .hints
                        .as_ref()
                        .and_then(|h| h.for_zones.as_ref())
                        .into_iter()
                        .flatten()
                        .map(|z| z.name.clone())
                        .collect(),
                    node_hints: e
                        .hints
                        .as_ref()
                        .and_then(|h| h.for_nodes.as_ref())
                        .into_iter()
                        .flatten()
                        .map(|n| n.name.clone())
                        .collect(),
                    chain: chain_name::endpoint_chain(
                        &name_string,
                        protocol.lower(),
                        &format!("{ip}:{port}"),
                    ),
                };
                let key = ep.addr();
                if !set.contains_key(&key) || ep.local {
                    set.insert(key, ep);
                }
            }
        }
    }
    // BTreeMap order is the `ip:port` string order upstream sorts by.
    sets.into_iter()
        .map(|(k, v)| (k, v.into_values().collect()))
        .collect()
}
