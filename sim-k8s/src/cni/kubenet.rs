//! kubenet: the CNI config kubelet's kubenet network plugin generated for the node (`cbr0`,
//! host-local on the node's `podCIDR`, the bridge as gateway at the CIDR's first address).
//!
//! The JSON is byte-identical to the `NET_CONFIG_TEMPLATE` of
//! `pkg/kubelet/network/kubenet/kubenet_linux.go` in the releases whose template carries
//! `hairpinMode` beside a single `subnet`/`gateway` (the glog-era kubenet, before the
//! dual-stack rewrite to `"ranges"` seen at kubernetes commit 034eb142 under
//! `pkg/kubelet/dockershim/network/kubenet/`), and to the log line the seed notes quote from
//! `kubenet_linux.go:254`. `subnet` is the pod CIDR exactly as given; `gateway` is the
//! CIDR's network address with its last byte incremented (`cidr.IP[len(cidr.IP)-1] += 1`).
//!
//! kubelet's `--hairpin-mode`: `hairpin-veth` sets `hairpinMode: true` on the bridge ports;
//! `promiscuous-bridge` leaves it false and instead turns `cbr0` promiscuous after setup
//! (plus ebtables dedup rules); `none` does neither. kubenet also ran a separate loopback
//! config for `lo` and, outside CNI, its own `MASQUERADE` rule for traffic leaving the
//! non-masquerade CIDR — neither is part of this config.

use std::net::IpAddr;

use ipnet::IpNet;

use super::error::CniError;

/// `BridgeName`.
pub const BRIDGE_NAME: &str = "cbr0";
/// `network.DefaultInterfaceName`.
pub const DEFAULT_INTERFACE_NAME: &str = "eth0";
/// `fallbackMTU`: used when no suitable interface gives an MTU.
pub const FALLBACK_MTU: u32 = 1460;

/// The loopback config kubenet ran before the bridge.
pub const LOOPBACK_CONFIG: &str = r#"{
  "cniVersion": "0.1.0",
  "name": "kubenet-loopback",
  "type": "loopback"
}"#;

/// kubelet's `--hairpin-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HairpinMode {
    PromiscuousBridge,
    HairpinVeth,
    None,
}

impl HairpinMode {
    /// From the flag's value (`promiscuous-bridge`, `hairpin-veth`, `none`).
    pub fn parse(s: &str) -> Option<HairpinMode> {
        match s {
            "promiscuous-bridge" => Some(HairpinMode::PromiscuousBridge),
            "hairpin-veth" => Some(HairpinMode::HairpinVeth),
            "none" => Some(HairpinMode::None),
            _ => None,
        }
    }

    /// Whether kubenet turns `cbr0` promiscuous.
    pub fn promiscuous_bridge(self) -> bool {
        self == HairpinMode::PromiscuousBridge
    }
}

/// The gateway kubenet derives from a pod CIDR: its network address, last byte plus one.
pub fn gateway(pod_cidr: &str) -> Result<IpAddr, CniError> {
    let net: IpNet =
        pod_cidr
            .parse()
            .map_err(|e: ipnet::AddrParseError| CniError::InvalidPodCidr {
                cidr: pod_cidr.to_string(),
                reason: e.to_string(),
            })?;
    Ok(match net.network() {
        IpAddr::V4(a) => {
            let mut o = a.octets();
            o[3] = o[3].wrapping_add(1);
            IpAddr::from(o)
        }
        IpAddr::V6(a) => {
            let mut o = a.octets();
            o[15] = o[15].wrapping_add(1);
            IpAddr::from(o)
        }
    })
}

/// The bridge config kubenet generates for the node.
pub fn net_config(pod_cidr: &str, mtu: u32, hairpin: HairpinMode) -> Result<String, CniError> {
    let gw = gateway(pod_cidr)?;
    let set_hairpin = hairpin == HairpinMode::HairpinVeth;
    Ok(format!(
        r#"{{
  "cniVersion": "0.1.0",
  "name": "kubenet",
  "type": "bridge",
  "bridge": "{BRIDGE_NAME}",
  "mtu": {mtu},
  "addIf": "{DEFAULT_INTERFACE_NAME}",
  "isGateway": true,
  "ipMasq": false,
  "hairpinMode": {set_hairpin},
  "ipam": {{
    "type": "host-local",
    "subnet": "{pod_cidr}",
    "gateway": "{gw}",
    "routes": [
      {{ "dst": "0.0.0.0/0" }}
    ]
  }}
}}"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::config::{Plugin, parse_conf};

    /// The config the seed notes show kubenet logging.
    #[test]
    fn matches_the_logged_config() {
        let want = r#"{
  "cniVersion": "0.1.0",
  "name": "kubenet",
  "type": "bridge",
  "bridge": "cbr0",
  "mtu": 1500,
  "addIf": "eth0",
  "isGateway": true,
  "ipMasq": false,
  "hairpinMode": false,
  "ipam": {
    "type": "host-local",
    "subnet": "10.1.0.0/24",
    "gateway": "10.1.0.1",
    "routes": [
      { "dst": "0.0.0.0/0" }
    ]
  }
}"#;
        assert_eq!(
            net_config("10.1.0.0/24", 1500, HairpinMode::None).unwrap(),
            want
        );
        assert_eq!(
            net_config("10.1.0.0/24", 1500, HairpinMode::PromiscuousBridge).unwrap(),
            want
        );
    }

    #[test]
    fn snapshot_and_parse_back() {
        let text = net_config("10.244.3.0/24", FALLBACK_MTU, HairpinMode::HairpinVeth).unwrap();
        insta::assert_snapshot!(text);
        let l = parse_conf("kubenet", &text).unwrap();
        let Plugin::Bridge(b) = &l.plugins[0].plugin else {
            panic!("bridge")
        };
        assert_eq!(
            (
                b.bridge.as_str(),
                b.mtu,
                b.is_gateway,
                b.hairpin_mode,
                b.ip_masq
            ),
            ("cbr0", 1460, true, true, false)
        );
        let ipam = b.ipam.as_ref().unwrap();
        assert_eq!(ipam.ranges[0].ranges()[0].gateway.to_string(), "10.244.3.1");
        assert!(
            HairpinMode::parse("promiscuous-bridge")
                .unwrap()
                .promiscuous_bridge()
        );
        assert!(matches!(
            net_config("10.244.3.0/33", 1500, HairpinMode::None),
            Err(CniError::InvalidPodCidr { .. })
        ));
        assert_eq!(
            gateway("fd00:10:244:3::/64").unwrap().to_string(),
            "fd00:10:244:3::1"
        );
    }
}
