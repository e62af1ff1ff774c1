//! The parts of `cluster:` that need more than a field copy: node entries as Node objects,
//! `tc`-style link rates and loss percentages.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sim_k8s::object::name::{NameRule, check_name};

use super::file::NodeEntry;

/// A `cluster.nodes` entry as a Node object: its name, labels (with
/// `kubernetes.io/hostname`), and InternalIP.
pub fn node_object(i: usize, e: &NodeEntry) -> Result<Node, String> {
    let (name, labels, address) = match e {
        NodeEntry::Name(n) => (n, None, None),
        NodeEntry::Full(f) => (&f.name, Some(&f.labels), f.address.as_deref()),
    };
    check_name(NameRule::Dns1123Subdomain, name)
        .map_err(|why| format!("cluster.nodes[{i}].name: {name:?}: {why}"))?;
    let mut l: BTreeMap<String, String> = labels.cloned().unwrap_or_default();
    l.entry("kubernetes.io/hostname".into())
        .or_insert_with(|| name.clone());
    let addresses = address
        .map(|a| {
            a.parse::<Ipv4Addr>()
                .map(|ip| {
                    vec![NodeAddress {
                        address: ip.to_string(),
                        type_: "InternalIP".into(),
                    }]
                })
                .map_err(|_| format!("cluster.nodes[{i}].address: {a:?}: expected an IPv4 address"))
        })
        .transpose()?;
    Ok(Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(l),
            ..Default::default()
        },
        status: addresses.map(|a| NodeStatus {
            addresses: Some(a),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// A `tc`-style rate in bits per second: `100Mbit`, `1Gbit`, `512Kbit`, `9600bit`.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let mult: u64 = match unit {
        "bit" => 1,
        "Kbit" | "kbit" => 1_000,
        "Mbit" | "mbit" => 1_000_000,
        "Gbit" | "gbit" => 1_000_000_000,
        _ => {
            return Err(format!(
                "{s:?}: expected a rate such as 100Mbit, 1Gbit, 512Kbit or 9600bit"
            ));
        }
    };
    n.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?}: expected a positive whole number before the unit"))
}

/// A loss percentage (`0.1%`, `5%`, up to four decimals) in parts per million.
pub fn parse_loss(s: &str) -> Result<u32, String> {
    let bad = || format!("{s:?}: expected a percentage from 0% to 100%, such as 0.1%");
    let p = s.strip_suffix('%').ok_or_else(bad)?;
    let (whole, frac) = p.split_once('.').unwrap_or((p, ""));
    let digits = |x: &str| x.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || frac.len() > 4 || !digits(whole) || !digits(frac) {
        return Err(bad());
    }
    let w: u32 = whole.parse().map_err(|_| bad())?;
    let f: u32 = format!("{frac:0<4}").parse().map_err(|_| bad())?;
    let ppm = w
        .checked_mul(10_000)
        .and_then(|x| x.checked_add(f))
        .filter(|p| *p <= 1_000_000)
        .ok_or_else(bad)?;
    Ok(ppm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_losses_parse_like_tc_writes_them() {
        assert_eq!(parse_rate("100Mbit"), Ok(100_000_000));
        assert_eq!(parse_rate("1Gbit"), Ok(1_000_000_000));
        assert_eq!(parse_rate("9600bit"), Ok(9600));
        assert!(parse_rate("1 Gbit").is_err());
        assert!(parse_rate("0Mbit").is_err());
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_loss("0.1%"), Ok(1_000));
        assert_eq!(parse_loss("5%"), Ok(50_000));
        assert_eq!(parse_loss("100%"), Ok(1_000_000));
        assert_eq!(parse_loss("0.0001%"), Ok(1));
        assert!(parse_loss("101%").is_err());
        assert!(parse_loss("0.1").is_err());
        assert!(parse_loss("-1%").is_err());
    }
}
