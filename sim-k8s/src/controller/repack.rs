//! `endpoints.RepackSubsets` (`pkg/api/v1/endpoints/util.go`): expands Endpoints subsets to
//! (address, port, ready) triples and packs them back into the canonical form — one subset per
//! distinct set of addresses, holding every port those addresses share.
//!
//! Carried over: addresses are de-duplicated by IP and target UID, keeping the first seen;
//! for one port, not-ready beats ready; subsets with no ports are kept (upstream's sentinel
//! port) and come out with no ports; addresses sort by IP bytes, then UID.
//! Changed: upstream orders ports and subsets by the md5 of a `spew` dump; we order ports by
//! (name, port, protocol, appProtocol) and subsets by their ports, then addresses. Same
//! content, a different but equally deterministic order.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset};

/// A port as a sortable key: (name, port, protocol, appProtocol). `None` is the sentinel for
/// "no ports".
type PortKey = Option<(String, i32, String, String)>;
/// An address's identity: (IP, target UID).
type AddrKey = (String, String);

fn port_key(p: &EndpointPort) -> PortKey {
    Some((
        p.name.clone().unwrap_or_default(),
        p.port,
        p.protocol.clone().unwrap_or_default(),
        p.app_protocol.clone().unwrap_or_default(),
    ))
}

fn addr_key(a: &EndpointAddress) -> AddrKey {
    (
        a.ip.clone(),
        a.target_ref
            .as_ref()
            .and_then(|r| r.uid.clone())
            .unwrap_or_default(),
    )
}

/// `LessEndpointAddress`: IP bytes, then target UID (no target first).
fn addr_order(a: &EndpointAddress, b: &EndpointAddress) -> std::cmp::Ordering {
    a.ip.as_bytes().cmp(b.ip.as_bytes()).then_with(|| {
        let ua = a
            .target_ref
            .as_ref()
            .map(|r| r.uid.clone().unwrap_or_default());
        let ub = b
            .target_ref
            .as_ref()
            .map(|r| r.uid.clone().unwrap_or_default());
        ua.cmp(&ub)
    })
}

/// Repacks `subsets` into canonical form.
pub fn repack_subsets(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut all_addrs: BTreeMap<AddrKey, EndpointAddress> = BTreeMap::new();
    let mut port_objs: BTreeMap<PortKey, EndpointPort> = BTreeMap::new();
    let mut by_port: BTreeMap<PortKey, BTreeMap<AddrKey, bool>> = BTreeMap::new();

    for subset in subsets {
        let ports: Vec<PortKey> = match subset.ports.as_deref() {
            None | Some([]) => vec![None],
            Some(ports) => ports
                .iter()
                .map(|p| {
                    let k = port_key(p);
                    port_objs.entry(k.clone()).or_insert_with(|| p.clone());
                    k
                })
                .collect(),
        };
        for port in ports {
            let tagged = subset.addresses.iter().flatten().map(|a| (a, true)).chain(
                subset
                    .not_ready_addresses
                    .iter()
                    .flatten()
                    .map(|a| (a, false)),
            );
            for (addr, ready) in tagged {
                let key = addr_key(addr);
                all_addrs.entry(key.clone()).or_insert_with(|| addr.clone());
                let set = by_port.entry(port.clone()).or_default();
                // Not ready trumps ready.
                let slot = set.entry(key).or_insert(ready);
                *slot = *slot && ready;
            }
        }
    }

    // Group ports by the exact set of (address, ready) they are offered on.
    let mut groups: BTreeMap<Vec<(AddrKey, bool)>, Vec<PortKey>> = BTreeMap::new();
    for (port, addrs) in by_port {
        groups
            .entry(addrs.into_iter().collect())
            .or_default()
            .push(port);
    }

    let mut out: Vec<EndpointSubset> = groups
        .into_iter()
        .map(|(addrs, ports)| {
            let mut ready = Vec::new();
            let mut not_ready = Vec::new();
            for (key, is_ready) in addrs {
                let a = all_addrs[&key].clone();
                if is_ready {
                    ready.push(a);
                } else {
                    not_ready.push(a);
                }
            }
            ready.sort_by(addr_order);
            not_ready.sort_by(addr_order);
            let ports: Vec<EndpointPort> = ports
                .iter()
                .filter(|p| p.is_some())
                .map(|p| port_objs[p].clone())
                .collect();
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect();
    out.sort_by_cached_key(subset_sort_key);
    out
}

fn subset_sort_key(s: &EndpointSubset) -> (Vec<PortKey>, Vec<AddrKey>, Vec<AddrKey>) {
    (
        s.ports.iter().flatten().map(port_key).collect(),
        s.addresses.iter().flatten().map(addr_key).collect(),
        s.not_ready_addresses
            .iter()
            .flatten()
            .map(addr_key)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;

    fn addr(ip: &str, uid: &str) -> EndpointAddress {
        EndpointAddress {
            ip: ip.into(),
            target_ref: Some(ObjectReference {
                uid: Some(uid.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn port(name: &str, p: i32) -> EndpointPort {
        EndpointPort {
            name: Some(name.into()),
            port: p,
            protocol: Some("TCP".into()),
            ..Default::default()
        }
    }

    fn subset(
        ready: Vec<EndpointAddress>,
        not_ready: Vec<EndpointAddress>,
        ports: Vec<EndpointPort>,
    ) -> EndpointSubset {
        EndpointSubset {
            addresses: (!ready.is_empty()).then_some(ready),
            not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
            ports: (!ports.is_empty()).then_some(ports),
        }
    }

    // Cases after pkg/api/v1/endpoints/util_test.go TestPackSubsets.
    #[test]
    fn one_address_two_ports_merge() {
        let a = addr("1.2.3.4", "u1");
        let out = repack_subsets(&[
            subset(vec![a.clone()], vec![], vec![port("http", 80)]),
            subset(vec![a.clone()], vec![], vec![port("https", 443)]),
        ]);
        assert_eq!(
            out,
            vec![subset(
                vec![a],
                vec![],
                vec![port("http", 80), port("https", 443)]
            )]
        );
    }

    #[test]
    fn addresses_sharing_ports_merge_and_sort() {
        let a = addr("5.6.7.8", "u2");
        let b = addr("1.2.3.4", "u1");
        let out = repack_subsets(&[
            subset(vec![a.clone()], vec![], vec![port("http", 80)]),
            subset(vec![b.clone()], vec![], vec![port("http", 80)]),
        ]);
        assert_eq!(
            out,
            vec![subset(vec![b, a], vec![], vec![port("http", 80)])]
        );
    }

    #[test]
    fn not_ready_trumps_ready_and_same_ip_other_uid_is_distinct() {
        let a = addr("1.2.3.4", "u1");
        let a2 = addr("1.2.3.4", "u2");
        let out = repack_subsets(&[
            subset(vec![a.clone()], vec![], vec![port("http", 80)]),
            subset(vec![], vec![a.clone()], vec![port("http", 80)]),
            subset(vec![a2.clone()], vec![], vec![port("http", 80)]),
        ]);
        assert_eq!(out, vec![subset(vec![a2], vec![a], vec![port("http", 80)])]);
    }

    #[test]
    fn different_port_sets_stay_apart_and_portless_subsets_survive() {
        let a = addr("1.2.3.4", "u1");
        let b = addr("1.2.3.5", "u2");
        let out = repack_subsets(&[
            subset(vec![a.clone()], vec![], vec![port("http", 80)]),
            subset(vec![b.clone()], vec![], vec![port("http", 8080)]),
        ]);
        assert_eq!(
            out,
            vec![
                subset(vec![a.clone()], vec![], vec![port("http", 80)]),
                subset(vec![b.clone()], vec![], vec![port("http", 8080)])
            ]
        );
        let out = repack_subsets(&[
            subset(vec![b.clone()], vec![], vec![]),
            subset(vec![a.clone()], vec![], vec![]),
        ]);
        assert_eq!(out, vec![subset(vec![a, b], vec![], vec![])]);
    }
}
