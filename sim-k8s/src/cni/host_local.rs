//! The `host-local` IPAM plugin (`plugins/ipam/host-local/{main,dns}.go`,
//! `backend/allocator/config.go` `LoadIPAMConfig`): its config and its ADD and DEL.
//!
//! Config: `ranges` is a list of range sets (each a list of `{subnet, rangeStart, rangeEnd,
//! gateway}`); the old single-range form (`subnet`, `rangeStart`, `rangeEnd`, `gateway`
//! directly under `ipam`) is prepended as range set 0. `routes` are returned to the calling
//! plugin; `resolvConf` names a node file whose `nameserver`, `domain`, `search` and
//! `options` lines become the result's DNS; `dataDir` is accepted and ignored (the store is
//! in memory). Validation happens at parse time with `LoadIPAMConfig`'s checks; upstream
//! runs the same checks on every ADD.
//!
//! ADD allocates one address per range set (a requested address goes to the set holding
//! it), releasing everything on failure. DEL releases every address of the container's
//! interface.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::error::CniError;
use super::json::{Obj, as_obj, child, index, invalid};
use super::result::{Dns, IpConfig, Route};
use crate::ipam::{Allocator, IpamError, RangeSet, RangeSpec, Store};

/// A parsed, validated `ipam` section of type `host-local`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLocalConfig {
    pub ranges: Vec<RangeSet>,
    pub routes: Vec<Route>,
    pub data_dir: Option<String>,
    pub resolv_conf: Option<String>,
}

/// Compares dotted versions numerically (`0.3.0` < `0.10.0`); `None` if either is not one.
pub(crate) fn version_at_least(v: &str, min: &str) -> Option<bool> {
    let parse = |s: &str| -> Option<Vec<u64>> { s.split('.').map(|p| p.parse().ok()).collect() };
    Some(parse(v)? >= parse(min)?)
}

fn range_spec(o: &Obj<'_>) -> Result<Option<RangeSpec>, CniError> {
    let Some(subnet) = o.parsed::<IpNet>("subnet", "CIDR address")? else {
        return Ok(None);
    };
    Ok(Some(RangeSpec {
        subnet,
        range_start: o.parsed("rangeStart", "IP address")?,
        range_end: o.parsed("rangeEnd", "IP address")?,
        gateway: o.parsed("gateway", "IP address")?,
    }))
}

impl HostLocalConfig {
    /// Parses and validates `o` (the `ipam` object); `cni_version` is the network's.
    pub(crate) fn parse(o: &Obj<'_>, cni_version: &str) -> Result<Self, CniError> {
        // (range set, path of the set) in upstream's order.
        let mut sets: Vec<(Vec<RangeSpec>, String)> = Vec::new();
        if let Some(legacy) = range_spec(o)? {
            sets.push((vec![legacy], o.path.to_string()));
        }
        if let Some(ranges) = o.array("ranges")? {
            let base = o.path_of("ranges");
            for (i, set) in ranges.iter().enumerate() {
                let set_path = index(&base, i);
                let Value::Array(items) = set else {
                    return Err(invalid(o.file, &set_path, "expected an array of ranges"));
                };
                let mut specs = Vec::new();
                for (j, item) in items.iter().enumerate() {
                    let p = index(&set_path, j);
                    let ro = as_obj(o.file, &p, item)?;
                    match range_spec(&ro)? {
                        Some(s) => specs.push(s),
                        None => {
                            return Err(invalid(o.file, &child(&p, "subnet"), "missing subnet"));
                        }
                    }
                }
                sets.push((specs, set_path));
            }
        }
        let ipam_err = |path: &str, source: IpamError| CniError::IpamConfig {
            file: o.file.to_string(),
            path: path.to_string(),
            source,
        };
        if sets.is_empty() {
            return Err(ipam_err(o.path, IpamError::NoRanges));
        }
        let mut ranges = Vec::new();
        let (mut v4, mut v6) = (0, 0);
        for (i, (specs, path)) in sets.iter().enumerate() {
            let rs = RangeSet::canonicalize(specs).map_err(|e| {
                ipam_err(
                    path,
                    IpamError::InvalidRangeSet {
                        index: i,
                        source: Box::new(e),
                    },
                )
            })?;
            if rs.is_ipv4() {
                v4 += 1;
            } else {
                v6 += 1;
            }
            ranges.push(rs);
        }
        if (v4 > 1 || v6 > 1) && version_at_least(cni_version, "0.3.0") != Some(true) {
            return Err(ipam_err(
                o.path,
                IpamError::TooManyPerFamily(cni_version.to_string()),
            ));
        }
        for (i, a) in ranges.iter().enumerate() {
            for (j, b) in ranges.iter().enumerate().skip(i + 1) {
                if a.overlaps(b) {
                    return Err(ipam_err(
                        &sets[j].1,
                        IpamError::RangeSetsOverlap { a: i, b: j },
                    ));
                }
            }
        }
        let mut routes = Vec::new();
        if let Some(rs) = o.array("routes")? {
            let base = o.path_of("routes");
            for (i, r) in rs.iter().enumerate() {
                let p = index(&base, i);
                let ro = as_obj(o.file, &p, r)?;
                let Some(dst) = ro.parsed::<IpNet>("dst", "CIDR address")? else {
                    return Err(invalid(o.file, &child(&p, "dst"), "missing dst"));
                };
                routes.push(Route {
                    dst,
                    gw: ro.parsed("gw", "IP address")?,
                });
            }
        }
        Ok(HostLocalConfig {
            ranges,
            routes,
            data_dir: o.str("dataDir")?.map(str::to_string),
            resolv_conf: o.str("resolvConf")?.map(str::to_string),
        })
    }
}

/// host-local's `parseResolvConf` (`dns.go`): `#` and `;` comments, lines with one word
/// skipped, `nameserver` and `search` and `options` accumulate, the last `domain` wins.
pub fn parse_resolv_conf(text: &str) -> Dns {
    let mut dns = Dns::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 2 {
            continue;
        }
        let rest = f[1..].iter().map(|s| s.to_string());
        match f[0] {
            "nameserver" => dns.nameservers.push(f[1].to_string()),
            "domain" => dns.domain = f[1].to_string(),
            "search" => dns.search.extend(rest),
            "options" => dns.options.extend(rest),
            _ => {}
        }
    }
    dns
}

/// What host-local returns to the calling plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamResult {
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    pub dns: Dns,
}

/// `cmdAdd`. `files` is the node's filesystem as far as `resolvConf` needs it.
pub fn cmd_add(
    cfg: &HostLocalConfig,
    store: &mut Store,
    files: &BTreeMap<String, String>,
    container_id: &str,
    ifname: &str,
    requested: &[IpAddr],
) -> Result<IpamResult, CniError> {
    let dns = match &cfg.resolv_conf {
        Some(path) if !path.is_empty() => parse_resolv_conf(
            files
                .get(path)
                .ok_or_else(|| CniError::NoSuchFile(path.clone()))?,
        ),
        _ => Dns::default(),
    };
    let mut requested: Vec<IpAddr> = requested.to_vec();
    let mut ips = Vec::new();
    for (idx, rs) in cfg.ranges.iter().enumerate() {
        let want = requested
            .iter()
            .position(|ip| rs.contains(*ip))
            .map(|i| requested.remove(i));
        let got = Allocator::new(rs, store, idx).get(container_id, ifname, want);
        match got {
            Ok(c) => ips.push(IpConfig {
                interface: None,
                address: c.address,
                gateway: Some(c.gateway),
            }),
            Err(e) => {
                store.release_by_id(container_id, ifname);
                return Err(IpamError::AllocateForRange {
                    index: idx,
                    source: Box::new(e),
                }
                .into());
            }
        }
    }
    if !requested.is_empty() {
        store.release_by_id(container_id, ifname);
        let list: Vec<String> = requested.iter().map(ToString::to_string).collect();
        return Err(IpamError::RequestedNotAllocated(list.join(" ")).into());
    }
    Ok(IpamResult {
        ips,
        routes: cfg.routes.clone(),
        dns,
    })
}

/// `cmdDel`: the addresses released.
pub fn cmd_del(store: &mut Store, container_id: &str, ifname: &str) -> Vec<IpAddr> {
    store.release_by_id(container_id, ifname)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::json::parse;

    fn cfg(json: &str, version: &str) -> Result<HostLocalConfig, CniError> {
        let v = parse("t.conf", json).unwrap();
        let o = as_obj("t.conf", ".ipam", &v).unwrap();
        HostLocalConfig::parse(&o, version)
    }

    #[test]
    fn legacy_range_is_prepended_and_requested_ips_honoured() {
        let c = cfg(
            r#"{"type":"host-local","subnet":"10.1.0.0/24","ranges":[[{"subnet":"10.2.0.0/24"}]],
                "routes":[{"dst":"0.0.0.0/0"}]}"#,
            "0.4.0",
        )
        .unwrap();
        assert_eq!(c.ranges.len(), 2);
        assert_eq!(c.ranges[0].to_string(), "10.1.0.1-10.1.0.254");
        let mut store = Store::new();
        let r = cmd_add(
            &c,
            &mut store,
            &BTreeMap::new(),
            "c1",
            "eth0",
            &["10.2.0.77".parse().unwrap()],
        )
        .unwrap();
        let got: Vec<String> = r.ips.iter().map(|i| i.address.to_string()).collect();
        assert_eq!(got, ["10.1.0.2/24", "10.2.0.77/24"]);
        assert_eq!(
            cmd_add(
                &c,
                &mut store,
                &BTreeMap::new(),
                "c2",
                "eth0",
                &["10.9.9.9".parse().unwrap()]
            )
            .unwrap_err()
            .to_string(),
            "failed to allocate all requested IPs: 10.9.9.9"
        );
        assert!(
            store.get_by_id("c2", "eth0").is_empty(),
            "released on failure"
        );
        assert_eq!(cmd_del(&mut store, "c1", "eth0").len(), 2);
    }

    #[test]
    fn config_errors_name_the_path() {
        let e = cfg(r#"{"type":"host-local"}"#, "1.0.0").unwrap_err();
        assert_eq!(e.to_string(), "t.conf: .ipam: no IP ranges specified");
        let e = cfg(
            r#"{"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.0.0.0/25"}]]}"#,
            "1.0.0",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.conf: .ipam.ranges[1]: range set 0 overlaps with 1"
        );
        let e = cfg(r#"{"ranges":[[{"subnet":"10.0.0.1/24"}]]}"#, "1.0.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.conf: .ipam.ranges[0]: invalid range set 0: Network has host bits set. \
             For a subnet mask of length 24 the network address is 10.0.0.0"
        );
        let e = cfg(r#"{"ranges":[[{"subnet":"10.0.0.0/33"}]]}"#, "1.0.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.conf: .ipam.ranges[0][0].subnet: invalid CIDR address: \"10.0.0.0/33\""
        );
        let e = cfg(
            r#"{"ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.1.0.0/24"}]]}"#,
            "0.2.0",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("CNI version 0.2.0 does not support more than 1 address per family")
        );
    }

    #[test]
    fn resolv_conf_file() {
        let c = cfg(
            r#"{"subnet":"10.1.0.0/24","resolvConf":"/etc/cni/resolv.conf"}"#,
            "1.0.0",
        )
        .unwrap();
        let mut files = BTreeMap::new();
        let mut store = Store::new();
        assert_eq!(
            cmd_add(&c, &mut store, &files, "c", "eth0", &[])
                .unwrap_err()
                .to_string(),
            "open /etc/cni/resolv.conf: no such file or directory"
        );
        files.insert(
            "/etc/cni/resolv.conf".to_string(),
            "; x\nnameserver 10.96.0.10\ndomain example\nsearch a b\nsearch c\noptions ndots:3\n"
                .to_string(),
        );
        let r = cmd_add(&c, &mut store, &files, "c", "eth0", &[]).unwrap();
        assert_eq!(
            r.dns,
            Dns {
                nameservers: vec!["10.96.0.10".into()],
                domain: "example".into(),
                search: vec!["a".into(), "b".into(), "c".into()],
                options: vec!["ndots:3".into()],
            }
        );
    }
}
