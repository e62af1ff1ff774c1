//! Network configuration files as libcni reads them (`libcni/conf.go`): a `.conflist`
//! (`cniVersion`, `name`, `disableCheck`, `plugins[]`) or a single-plugin `.conf`/`.json`
//! (wrapped into a one-plugin list, as `ConfListFromConf` does), each plugin typed by its
//! `type`. Plugins of a list inherit the list's `name` and `cniVersion`.
//!
//! Plugin types modelled: `loopback`, `bridge` (with `host-local` IPAM), `portmap`,
//! `bandwidth`. Any other `type` — or IPAM `type` — is an error naming it, since the
//! simulator could not run it. Every error names the file and the JSON path.

use std::collections::BTreeMap;

use serde_json::Value;

use super::bandwidth::BandwidthConfig;
use super::bridge::BridgeConfig;
use super::error::CniError;
use super::json::{Obj, as_obj, index, invalid, parse};
use super::portmap::PortmapConfig;
use super::result::Dns;

/// A network: one or more plugins run in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfigList {
    /// The file it came from (for messages).
    pub file: String,
    pub cni_version: String,
    pub name: String,
    pub disable_check: bool,
    pub plugins: Vec<PluginConfig>,
}

/// One plugin of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    pub plugin: Plugin,
    /// `capabilities`: which runtime config keys (`portMappings`, `bandwidth`, `ips`, …) the
    /// runtime should pass this plugin.
    pub capabilities: BTreeMap<String, bool>,
    /// The plugin's own `dns` (the bridge plugin returns it instead of IPAM's when set).
    pub dns: Dns,
    /// Where in the file it sits (`.plugins[1]`, or `.` for a `.conf`).
    pub path: String,
}

impl PluginConfig {
    /// Whether the plugin declared `capabilities.<name>: true`.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.get(name).copied().unwrap_or(false)
    }
}

/// The modelled plugin types with their parsed configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plugin {
    Loopback,
    Bridge(BridgeConfig),
    Portmap(PortmapConfig),
    Bandwidth(BandwidthConfig),
}

impl Plugin {
    /// The `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            Plugin::Loopback => "loopback",
            Plugin::Bridge(_) => "bridge",
            Plugin::Portmap(_) => "portmap",
            Plugin::Bandwidth(_) => "bandwidth",
        }
    }
}

fn parse_dns(o: &Obj<'_>) -> Result<Dns, CniError> {
    let Some(v) = o.get("dns") else {
        return Ok(Dns::default());
    };
    let p = o.path_of("dns");
    let d = as_obj(o.file, &p, v)?;
    Ok(Dns {
        nameservers: d.strings("nameservers")?.unwrap_or_default(),
        domain: d.str("domain")?.unwrap_or_default().to_string(),
        search: d.strings("search")?.unwrap_or_default(),
        options: d.strings("options")?.unwrap_or_default(),
    })
}

fn parse_plugin(o: &Obj<'_>, cni_version: &str) -> Result<PluginConfig, CniError> {
    let Some(kind) = o.str("type")? else {
        return Err(invalid(
            o.file,
            &o.path_of("type"),
            "error parsing configuration: missing 'type'",
        ));
    };
    let plugin = match kind {
        "loopback" => Plugin::Loopback,
        "bridge" => Plugin::Bridge(BridgeConfig::parse(o, cni_version)?),
        "portmap" => Plugin::Portmap(PortmapConfig::parse(o)?),
        "bandwidth" => Plugin::Bandwidth(BandwidthConfig::parse(o)?),
        other => {
            return Err(CniError::UnknownPlugin {
                file: o.file.to_string(),
                path: o.path_of("type"),
                kind: other.to_string(),
            });
        }
    };
    Ok(PluginConfig {
        plugin,
        capabilities: o.bool_map("capabilities")?.into_iter().collect(),
        dns: parse_dns(o)?,
        path: if o.path.is_empty() {
            ".".to_string()
        } else {
            o.path.to_string()
        },
    })
}

/// Parses a `.conflist`.
pub fn parse_conflist(file: &str, text: &str) -> Result<NetworkConfigList, CniError> {
    let v = parse(file, text)?;
    let root = as_obj(file, "", &v)?;
    let Some(name) = root.str("name")?.filter(|n| !n.is_empty()) else {
        return Err(invalid(
            file,
            ".name",
            "error parsing configuration list: no name",
        ));
    };
    let cni_version = root.str("cniVersion")?.unwrap_or_default().to_string();
    let Some(plugins) = root.array("plugins")? else {
        return Err(invalid(
            file,
            ".plugins",
            "error parsing configuration list: no 'plugins' key",
        ));
    };
    if plugins.is_empty() {
        return Err(invalid(
            file,
            ".plugins",
            "error parsing configuration list: no plugins in list",
        ));
    }
    let mut out = Vec::with_capacity(plugins.len());
    for (i, p) in plugins.iter().enumerate() {
        let path = index(".plugins", i);
        out.push(parse_plugin(&as_obj(file, &path, p)?, &cni_version)?);
    }
    Ok(NetworkConfigList {
        file: file.to_string(),
        cni_version,
        name: name.to_string(),
        disable_check: root.bool("disableCheck")?.unwrap_or(false),
        plugins: out,
    })
}

/// Parses a single-plugin `.conf` into a one-plugin list.
pub fn parse_conf(file: &str, text: &str) -> Result<NetworkConfigList, CniError> {
    let v: Value = parse(file, text)?;
    let root = as_obj(file, "", &v)?;
    let cni_version = root.str("cniVersion")?.unwrap_or_default().to_string();
    let plugin = parse_plugin(&root, &cni_version)?;
    Ok(NetworkConfigList {
        file: file.to_string(),
        cni_version,
        name: root.str("name")?.unwrap_or_default().to_string(),
        disable_check: false,
        plugins: vec![plugin],
    })
}

/// Parses a file from `/etc/cni/net.d` by its extension, as libcni does: `.conflist` is a
/// list, `.conf` and `.json` a single plugin.
pub fn parse_config_file(file: &str, text: &str) -> Result<NetworkConfigList, CniError> {
    if file.ends_with(".conflist") {
        parse_conflist(file, text)
    } else {
        parse_conf(file, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRIDGE_LIST: &str = r#"{
      "cniVersion": "1.0.0",
      "name": "mynet",
      "plugins": [
        {
          "type": "bridge",
          "bridge": "cni0",
          "isGateway": true,
          "ipMasq": true,
          "hairpinMode": true,
          "mtu": 1450,
          "ipam": {
            "type": "host-local",
            "dataDir": "/run/cni-ipam-state",
            "ranges": [[{"subnet": "10.244.1.0/24", "rangeStart": "10.244.1.10", "rangeEnd": "10.244.1.20"}]],
            "routes": [{"dst": "0.0.0.0/0"}]
          }
        },
        {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
        {"type": "bandwidth", "capabilities": {"bandwidth": true}}
      ]
    }"#;

    #[test]
    fn parses_a_real_conflist() {
        let l = parse_config_file("10-mynet.conflist", BRIDGE_LIST).unwrap();
        assert_eq!(
            (l.name.as_str(), l.cni_version.as_str()),
            ("mynet", "1.0.0")
        );
        let types: Vec<&str> = l.plugins.iter().map(|p| p.plugin.type_name()).collect();
        assert_eq!(types, ["bridge", "portmap", "bandwidth"]);
        let Plugin::Bridge(b) = &l.plugins[0].plugin else {
            panic!("bridge")
        };
        assert_eq!(
            (
                b.bridge.as_str(),
                b.is_gateway,
                b.ip_masq,
                b.hairpin_mode,
                b.mtu
            ),
            ("cni0", true, true, true, 1450)
        );
        let ipam = b.ipam.as_ref().unwrap();
        assert_eq!(ipam.ranges[0].to_string(), "10.244.1.10-10.244.1.20");
        assert_eq!(ipam.data_dir.as_deref(), Some("/run/cni-ipam-state"));
        assert!(l.plugins[1].has_capability("portMappings"));
        assert_eq!(l.plugins[2].path, ".plugins[2]");
    }

    #[test]
    fn errors_name_file_and_path() {
        let cases = [
            (
                r#"{"name":"n","plugins":[{"type":"flannel"}]}"#,
                "x.conflist: .plugins[0].type: unknown plugin type \"flannel\"; the simulator models bridge, loopback, portmap and bandwidth",
            ),
            (
                r#"{"name":"n","plugins":[{"type":"bridge","ipam":{"type":"dhcp"}}]}"#,
                "x.conflist: .plugins[0].ipam.type: unknown IPAM type \"dhcp\"; the simulator models host-local",
            ),
            (
                r#"{"name":"n","plugins":[{"type":"bridge","mtu":"1500"}]}"#,
                "x.conflist: .plugins[0].mtu: expected an integer, found string",
            ),
            (
                r#"{"name":"n","plugins":[{"type":"bridge","isGateway":1}]}"#,
                "x.conflist: .plugins[0].isGateway: expected true or false, found number",
            ),
            (
                r#"{"name":"n","plugins":[{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.0.0.0/24","gateway":"10.0.0.x"}]]}}]}"#,
                "x.conflist: .plugins[0].ipam.ranges[0][0].gateway: invalid IP address: \"10.0.0.x\"",
            ),
            (
                r#"{"name":"n","plugins":[{"bridge":"cni0"}]}"#,
                "x.conflist: .plugins[0].type: error parsing configuration: missing 'type'",
            ),
            (
                r#"{"plugins":[]}"#,
                "x.conflist: .name: error parsing configuration list: no name",
            ),
            (
                r#"{"name":"n","plugins":[]}"#,
                "x.conflist: .plugins: error parsing configuration list: no plugins in list",
            ),
            (
                r#"{"name":"n"}"#,
                "x.conflist: .plugins: error parsing configuration list: no 'plugins' key",
            ),
            (
                r#"{"name":"n","plugins":[{"type":"portmap","markMasqBit":40}]}"#,
                "x.conflist: .plugins[0].markMasqBit: MasqMarkBit must be between 0 and 31",
            ),
            (
                r#"{"name":"n","plugins":[{"type":"portmap","markMasqBit":1,"externalSetMarkChain":"X"}]}"#,
                "x.conflist: .plugins[0]: Cannot specify externalSetMarkChain and markMasqBit",
            ),
            (
                r#"{"name":"n","plugins":[{"type":"bridge","vlan":5000}]}"#,
                "x.conflist: .plugins[0].vlan: invalid VLAN ID 5000 (must be between 0 and 4094)",
            ),
            (
                r#"{"name":"n","plugins":[7]}"#,
                "x.conflist: .plugins[0]: expected an object, found number",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(
                parse_conflist("x.conflist", json).unwrap_err().to_string(),
                want
            );
        }
        let e = parse_conflist("x.conflist", "{\n  \"name\": \"n\",\n  oops\n}").unwrap_err();
        assert!(matches!(e, CniError::Json { line: 3, .. }), "{e}");
        assert!(
            e.to_string().starts_with("x.conflist: not valid JSON: "),
            "{e}"
        );
    }

    #[test]
    fn single_conf_and_go_style_keys() {
        let l = parse_config_file(
            "10-lo.conf",
            r#"{"cniVersion":"0.3.1","name":"lo","type":"loopback","unknownKey":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(l.plugins[0].plugin, Plugin::Loopback);
        assert_eq!(l.plugins[0].path, ".");
        // Go matches keys case-insensitively and treats null as absent.
        let l = parse_conf(
            "b.conf",
            r#"{"name":"n","type":"bridge","ISGATEWAY":true,"mtu":null}"#,
        )
        .unwrap();
        let Plugin::Bridge(b) = &l.plugins[0].plugin else {
            panic!("bridge")
        };
        assert!(b.is_gateway);
        assert_eq!(b.mtu, 0);
    }
}
