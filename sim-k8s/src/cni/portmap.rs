//! The `portmap` plugin (`plugins/meta/portmap/{main,portmap_iptables,chain,utils}.go`):
//! hostPort forwarding with DNAT, rendered as the nat rules it installs.
//!
//! Chains (all in nat):
//! - `CNI-HOSTPORT-DNAT`, entered from PREROUTING and OUTPUT for `--dst-type LOCAL`
//!   (appended; shared by all pods);
//! - `CNI-DN-<hash of network + container ID>` per container, entered from
//!   `CNI-HOSTPORT-DNAT` by a multiport rule per protocol and up to 15 ports, *prepended* so
//!   the newest container using a host port wins; in it, per mapping: a hairpin rule and (IPv4)
//!   a localhost rule jumping to the set-mark chain when `snat` is on, then the DNAT;
//! - with `snat` (default on) and no `externalSetMarkChain`: `CNI-HOSTPORT-SETMARK` (sets the
//!   mark bit, default 13 → `0x2000/0x2000`) and `CNI-HOSTPORT-MASQ` (masquerades marked
//!   packets), the latter prepended to POSTROUTING.
//!
//! Not modelled: the nftables backend, the stale-UDP-conntrack flush after setup, and
//! normalization of `conditionsV4` (passed through as written, after the multiport match).

use std::net::IpAddr;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::PodSpec;

use super::chain_name::format_chain_name_with_prefix;
use super::error::CniError;
use super::iptables::{NatTable, Restore, save_string};
use super::json::{Obj, invalid};

/// `TopLevelDNATChainName`.
pub const TOP_LEVEL_DNAT_CHAIN: &str = "CNI-HOSTPORT-DNAT";
/// `SetMarkChainName`.
pub const SET_MARK_CHAIN: &str = "CNI-HOSTPORT-SETMARK";
/// `MarkMasqChainName`.
pub const MARK_MASQ_CHAIN: &str = "CNI-HOSTPORT-MASQ";
/// `DefaultMarkBit`: Kubernetes uses bits 14 and 15, Calico 20–31.
pub const DEFAULT_MARK_BIT: u8 = 13;
/// multiport takes at most 15 ports per rule.
pub const MULTIPORT_MAX: usize = 15;

/// The plugin's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortmapConfig {
    /// `snat`, default true.
    pub snat: bool,
    pub conditions_v4: Option<Vec<String>>,
    pub conditions_v6: Option<Vec<String>>,
    pub masq_all: bool,
    /// `markMasqBit`, 0–31, default 13.
    pub mark_masq_bit: u8,
    pub external_set_mark_chain: Option<String>,
}

impl PortmapConfig {
    pub(crate) fn parse(o: &Obj<'_>) -> Result<Self, CniError> {
        let bit = o.int("markMasqBit")?;
        let external = o.str("externalSetMarkChain")?.map(str::to_string);
        if bit.is_some() && external.is_some() {
            return Err(invalid(
                o.file,
                o.path,
                "Cannot specify externalSetMarkChain and markMasqBit",
            ));
        }
        let bit = bit.unwrap_or(i64::from(DEFAULT_MARK_BIT));
        if !(0..=31).contains(&bit) {
            return Err(invalid(
                o.file,
                &o.path_of("markMasqBit"),
                "MasqMarkBit must be between 0 and 31",
            ));
        }
        Ok(PortmapConfig {
            snat: o.bool("snat")?.unwrap_or(true),
            conditions_v4: o.strings("conditionsV4")?,
            conditions_v6: o.strings("conditionsV6")?,
            masq_all: o.bool("masqAll")?.unwrap_or(false),
            mark_masq_bit: bit as u8,
            external_set_mark_chain: external,
        })
    }
}

/// One `portMappings` entry of the runtime config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// Lower case, as the runtime passes it: `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub host_ip: Option<IpAddr>,
}

impl PortMapping {
    /// A validated mapping (ports 1–65535, a protocol iptables can match ports of).
    pub fn new(
        host_port: i64,
        container_port: i64,
        protocol: &str,
        host_ip: Option<&str>,
    ) -> Result<PortMapping, CniError> {
        let desc = format!("{host_port}->{container_port}/{protocol}");
        let bad = |reason: String| CniError::PortMapping {
            mapping: desc.clone(),
            reason,
        };
        if container_port <= 0 || container_port > 65535 {
            return Err(bad(format!(
                "Invalid container port number: {container_port}"
            )));
        }
        if host_port <= 0 || host_port > 65535 {
            return Err(bad(format!("Invalid host port number: {host_port}")));
        }
        let protocol = protocol.to_ascii_lowercase();
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(bad(format!("unsupported protocol {protocol:?}")));
        }
        let host_ip = match host_ip.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|_| bad(format!("invalid hostIP {s:?}")))?,
            ),
        };
        Ok(PortMapping {
            host_port: host_port as u16,
            container_port: container_port as u16,
            protocol,
            host_ip,
        })
    }
}

/// The mappings the runtime hands portmap for a pod: every container port with a
/// `hostPort` (containerd's `toCNIPortMappings` skips the others), protocol lower-cased
/// (default TCP), in spec order.
pub fn port_mappings_for_pod(spec: &PodSpec) -> Result<Vec<PortMapping>, CniError> {
    let mut out = Vec::new();
    for c in &spec.containers {
        for p in c.ports.iter().flatten() {
            let Some(hp) = p.host_port.filter(|&hp| hp > 0) else {
                continue;
            };
            out.push(PortMapping::new(
                i64::from(hp),
                i64::from(p.container_port),
                p.protocol.as_deref().unwrap_or("TCP"),
                p.host_ip.as_deref(),
            )?);
        }
    }
    Ok(out)
}

/// The per-container chain, `CNI-DN-…`.
pub fn dnat_chain_name(network: &str, container_id: &str) -> String {
    format_chain_name_with_prefix(network, container_id, "DN-")
}

fn mark_def(bit: u8) -> String {
    let v = 1u32 << bit;
    format!("{v:#x}/{v:#x}")
}

/// `trimComment`: at most 255 characters.
fn trim_comment(s: String) -> String {
    if s.len() <= 255 {
        return s;
    }
    let mut cut = 253;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &s[..cut])
}

/// `forwardPorts` for the container's IPv4 address; returns nothing to do for no mappings.
pub fn forward_ports(
    nat: &mut NatTable,
    r: &mut Restore,
    cfg: &PortmapConfig,
    network: &str,
    container_id: &str,
    container_net: Ipv4Net,
    mappings: &[PortMapping],
) {
    if mappings.is_empty() {
        return;
    }
    if cfg.snat && cfg.external_set_mark_chain.is_none() {
        let mark = mark_def(cfg.mark_masq_bit);
        nat.ensure_chain(r, SET_MARK_CHAIN);
        nat.insert_unique(
            r,
            SET_MARK_CHAIN,
            &format!(
                "-m comment --comment {} -j MARK --set-xmark {mark}",
                save_string("CNI portfwd masquerade mark")
            ),
            false,
        );
        nat.ensure_chain(r, MARK_MASQ_CHAIN);
        nat.insert_unique(
            r,
            MARK_MASQ_CHAIN,
            &format!("-m mark --mark {mark} -j MASQUERADE"),
            false,
        );
        nat.insert_unique(
            r,
            "POSTROUTING",
            &format!(
                "-m comment --comment {} -j {MARK_MASQ_CHAIN}",
                save_string("CNI portfwd requiring masquerade")
            ),
            true,
        );
    }
    nat.ensure_chain(r, TOP_LEVEL_DNAT_CHAIN);
    for entry in ["PREROUTING", "OUTPUT"] {
        nat.insert_unique(
            r,
            entry,
            &format!("-m addrtype --dst-type LOCAL -j {TOP_LEVEL_DNAT_CHAIN}"),
            false,
        );
    }

    let chain = dnat_chain_name(network, container_id);
    let set_mark = cfg
        .external_set_mark_chain
        .clone()
        .unwrap_or_else(|| SET_MARK_CHAIN.to_string());
    let mut rules = Vec::new();
    for m in mappings {
        // A host IP of the other family skips the entry; an unspecified one matches all.
        let dst = match m.host_ip {
            Some(IpAddr::V6(_)) => continue,
            Some(IpAddr::V4(a)) if !a.is_unspecified() => format!("-d {a}/32 "),
            _ => String::new(),
        };
        let ports = format!("-p {p} -m {p} --dport {}", m.host_port, p = m.protocol);
        if cfg.snat {
            let src = if cfg.masq_all {
                String::new()
            } else {
                format!("-s {} ", container_net.trunc())
            };
            rules.push(format!("{src}{dst}{ports} -j {set_mark}"));
            if !cfg.masq_all {
                rules.push(format!("-s 127.0.0.1/32 {dst}{ports} -j {set_mark}"));
            }
        }
        rules.push(format!(
            "{dst}{ports} -j DNAT --to-destination {}:{}",
            container_net.addr(),
            m.container_port
        ));
    }
    // Entry rules: one per protocol (sorted) and chunk of 15 ports.
    let comment = save_string(&trim_comment(format!(
        "dnat name: \"{network}\" id: \"{container_id}\""
    )));
    let mut protos: Vec<&str> = mappings.iter().map(|m| m.protocol.as_str()).collect();
    protos.sort_unstable();
    protos.dedup();
    let mut entries = Vec::new();
    for proto in protos {
        let ports: Vec<String> = mappings
            .iter()
            .filter(|m| m.protocol == proto)
            .map(|m| m.host_port.to_string())
            .collect();
        for chunk in ports.chunks(MULTIPORT_MAX) {
            let mut e = format!(
                "-p {proto} -m comment --comment {comment} -m multiport --dports {}",
                chunk.join(",")
            );
            if let Some(c) = cfg.conditions_v4.as_ref().filter(|c| !c.is_empty()) {
                e.push(' ');
                e.push_str(&c.join(" "));
            }
            entries.push(format!("{e} -j {chain}"));
        }
    }
    nat.ensure_chain(r, &chain);
    for rule in &rules {
        nat.insert_unique(r, &chain, rule, false);
    }
    for e in &entries {
        nat.insert_unique(r, TOP_LEVEL_DNAT_CHAIN, e, true);
    }
}

/// `unforwardPorts`: flush the container's chain, drop the jumps to it, delete it. The
/// shared chains stay.
pub fn unforward_ports(nat: &mut NatTable, r: &mut Restore, network: &str, container_id: &str) {
    let chain = dnat_chain_name(network, container_id);
    if !nat.chain_exists(&chain) {
        return;
    }
    nat.clear_chain(r, &chain);
    let suffix = format!("-j {chain}");
    let jumps: Vec<String> = nat
        .rules(TOP_LEVEL_DNAT_CHAIN)
        .iter()
        .filter(|rule| rule.ends_with(&suffix))
        .cloned()
        .collect();
    for j in jumps {
        nat.delete_rule(r, TOP_LEVEL_DNAT_CHAIN, &j);
    }
    nat.delete_chain(r, &chain);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PortmapConfig {
        PortmapConfig {
            snat: true,
            conditions_v4: None,
            conditions_v6: None,
            masq_all: false,
            mark_masq_bit: DEFAULT_MARK_BIT,
            external_set_mark_chain: None,
        }
    }

    #[test]
    fn rules_for_two_ports_then_teardown() {
        let mut nat = NatTable::new();
        let mut r = Restore::default();
        let maps = [
            PortMapping::new(8080, 80, "TCP", None).unwrap(),
            PortMapping::new(5353, 53, "udp", Some("192.168.0.11")).unwrap(),
        ];
        forward_ports(
            &mut nat,
            &mut r,
            &cfg(),
            "mynet",
            "ctr1",
            "10.244.1.2/24".parse().unwrap(),
            &maps,
        );
        let dn = dnat_chain_name("mynet", "ctr1");
        assert_eq!(dn.len(), 28);
        assert!(dn.starts_with("CNI-DN-"));
        let want = format!(
            "*nat\n\
             :CNI-HOSTPORT-SETMARK - [0:0]\n\
             :CNI-HOSTPORT-MASQ - [0:0]\n\
             :CNI-HOSTPORT-DNAT - [0:0]\n\
             :{dn} - [0:0]\n\
             -A CNI-HOSTPORT-SETMARK -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark 0x2000/0x2000\n\
             -A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE\n\
             -I POSTROUTING 1 -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ\n\
             -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT\n\
             -A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT\n\
             -A {dn} -s 10.244.1.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK\n\
             -A {dn} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK\n\
             -A {dn} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.1.2:80\n\
             -A {dn} -s 10.244.1.0/24 -d 192.168.0.11/32 -p udp -m udp --dport 5353 -j CNI-HOSTPORT-SETMARK\n\
             -A {dn} -s 127.0.0.1/32 -d 192.168.0.11/32 -p udp -m udp --dport 5353 -j CNI-HOSTPORT-SETMARK\n\
             -A {dn} -d 192.168.0.11/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.244.1.2:53\n\
             -I CNI-HOSTPORT-DNAT 1 -p tcp -m comment --comment \"dnat name: \\\"mynet\\\" id: \\\"ctr1\\\"\" -m multiport --dports 8080 -j {dn}\n\
             -I CNI-HOSTPORT-DNAT 1 -p udp -m comment --comment \"dnat name: \\\"mynet\\\" id: \\\"ctr1\\\"\" -m multiport --dports 5353 -j {dn}\n\
             COMMIT\n"
        );
        assert_eq!(r.render(), want);
        // udp's entry was inserted last at position 1, so it comes first.
        assert!(nat.rules(TOP_LEVEL_DNAT_CHAIN)[0].starts_with("-p udp"));

        // A second container only adds its own chain and entry.
        let mut r2 = Restore::default();
        forward_ports(
            &mut nat,
            &mut r2,
            &cfg(),
            "mynet",
            "ctr2",
            "10.244.1.3/24".parse().unwrap(),
            &maps[..1],
        );
        let text = r2.render();
        assert!(!text.contains("CNI-HOSTPORT-SETMARK - [0:0]"), "{text}");
        assert!(!text.contains("-A PREROUTING"), "{text}");

        let mut d = Restore::default();
        unforward_ports(&mut nat, &mut d, "mynet", "ctr1");
        assert_eq!(
            d.render(),
            format!(
                "*nat\n-F {dn}\n\
                 -D CNI-HOSTPORT-DNAT -p udp -m comment --comment \"dnat name: \\\"mynet\\\" id: \\\"ctr1\\\"\" -m multiport --dports 5353 -j {dn}\n\
                 -D CNI-HOSTPORT-DNAT -p tcp -m comment --comment \"dnat name: \\\"mynet\\\" id: \\\"ctr1\\\"\" -m multiport --dports 8080 -j {dn}\n\
                 -X {dn}\nCOMMIT\n"
            )
        );
        assert!(!nat.chain_exists(&dn));
        assert_eq!(
            nat.rules(TOP_LEVEL_DNAT_CHAIN).len(),
            1,
            "ctr2's entry stays"
        );
    }

    #[test]
    fn sixteen_ports_split_and_masq_all() {
        let mut nat = NatTable::new();
        let mut r = Restore::default();
        let maps: Vec<_> = (0..16)
            .map(|i| PortMapping::new(9000 + i, 80, "tcp", None).unwrap())
            .collect();
        let c = PortmapConfig {
            masq_all: true,
            ..cfg()
        };
        forward_ports(
            &mut nat,
            &mut r,
            &c,
            "n",
            "c",
            "10.0.0.5/16".parse().unwrap(),
            &maps,
        );
        let entries = nat.rules(TOP_LEVEL_DNAT_CHAIN);
        assert_eq!(entries.len(), 2);
        assert!(entries[0].contains("--dports 9015 "), "{}", entries[0]);
        assert!(entries[1].contains(
            "--dports 9000,9001,9002,9003,9004,9005,9006,9007,9008,9009,9010,9011,9012,9013,9014 "
        ));
        let dn = dnat_chain_name("n", "c");
        assert_eq!(
            nat.rules(&dn)[0],
            "-p tcp -m tcp --dport 9000 -j CNI-HOSTPORT-SETMARK",
            "masqAll: no source match and no localhost rule"
        );
        assert_eq!(nat.rules(&dn).len(), 32);
    }

    #[test]
    fn mapping_validation() {
        assert!(PortMapping::new(0, 80, "tcp", None).is_err());
        assert!(PortMapping::new(80, 0, "tcp", None).is_err());
        assert!(PortMapping::new(80, 80, "icmp", None).is_err());
        assert!(PortMapping::new(80, 80, "tcp", Some("nope")).is_err());
        assert_eq!(mark_def(0), "0x1/0x1");
    }
}
