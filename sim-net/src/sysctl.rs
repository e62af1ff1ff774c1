//! The sysctls that change the packet path, with Linux's defaults.

use std::fmt;

/// Per-namespace switches (`net.ipv4.*`, `net.bridge.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctls {
    /// `net.ipv4.ip_forward`: Linux default 0; kubelet/CNI nodes set 1.
    pub ip_forward: bool,
    /// `net.bridge.bridge-nf-call-iptables`: 1 once `br_netfilter` is loaded (its default), which
    /// Kubernetes requires; bridged IPv4 frames then traverse the IP netfilter hooks.
    pub bridge_nf_call_iptables: bool,
    /// `net.ipv4.conf.all.route_localnet`: Linux default 0 (127/8 is martian off loopback).
    pub route_localnet: bool,
    /// `net.ipv4.icmp_echo_ignore_all`: Linux default 0.
    pub icmp_echo_ignore_all: bool,
    /// `net.ipv4.ip_default_ttl`: Linux default 64.
    pub ip_default_ttl: u8,
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            ip_forward: false,
            bridge_nf_call_iptables: true,
            route_localnet: false,
            icmp_echo_ignore_all: false,
            ip_default_ttl: 64,
        }
    }
}

/// A sysctl we do not model or a value it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysctlError {
    #[error(
        "unknown sysctl {0:?}; modelled: net.ipv4.ip_forward, net.bridge.bridge-nf-call-iptables, \
         net.ipv4.conf.all.route_localnet, net.ipv4.icmp_echo_ignore_all, net.ipv4.ip_default_ttl"
    )]
    Unknown(String),
    #[error("invalid value {value:?} for {key}: expected {expected}")]
    Value {
        key: String,
        value: String,
        expected: &'static str,
    },
}

impl Sysctls {
    /// Sets a sysctl by its `sysctl -w` name (dots or slashes).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SysctlError> {
        let k = key.replace('/', ".");
        let bool_val = || match value.trim() {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(SysctlError::Value {
                key: k.clone(),
                value: value.to_string(),
                expected: "0 or 1",
            }),
        };
        match k.as_str() {
            "net.ipv4.ip_forward" | "net.ipv4.conf.all.forwarding" => self.ip_forward = bool_val()?,
            "net.bridge.bridge-nf-call-iptables" => self.bridge_nf_call_iptables = bool_val()?,
            "net.ipv4.conf.all.route_localnet" => self.route_localnet = bool_val()?,
            "net.ipv4.icmp_echo_ignore_all" => self.icmp_echo_ignore_all = bool_val()?,
            "net.ipv4.ip_default_ttl" => {
                self.ip_default_ttl = match value.trim().parse::<u8>() {
                    Ok(t) if t > 0 => t,
                    _ => {
                        return Err(SysctlError::Value {
                            key: k,
                            value: value.to_string(),
                            expected: "an integer from 1 to 255",
                        });
                    }
                }
            }
            _ => return Err(SysctlError::Unknown(key.to_string())),
        }
        Ok(())
    }
}

impl fmt::Display for Sysctls {
    /// `sysctl -a` style lines for the modelled keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = |v: bool| u8::from(v);
        writeln!(
            f,
            "net.bridge.bridge-nf-call-iptables = {}",
            b(self.bridge_nf_call_iptables)
        )?;
        writeln!(
            f,
            "net.ipv4.conf.all.route_localnet = {}",
            b(self.route_localnet)
        )?;
        writeln!(
            f,
            "net.ipv4.icmp_echo_ignore_all = {}",
            b(self.icmp_echo_ignore_all)
        )?;
        writeln!(f, "net.ipv4.ip_default_ttl = {}", self.ip_default_ttl)?;
        writeln!(f, "net.ipv4.ip_forward = {}", b(self.ip_forward))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_by_name_with_errors() {
        let mut s = Sysctls::default();
        assert!(!s.ip_forward);
        s.set("net/ipv4/ip_forward", "1").unwrap();
        assert!(s.ip_forward);
        assert!(matches!(
            s.set("net.ipv4.ip_forward", "yes"),
            Err(SysctlError::Value { .. })
        ));
        assert!(matches!(
            s.set("net.ipv4.tcp_nope", "1"),
            Err(SysctlError::Unknown(_))
        ));
        assert!(s.set("net.ipv4.ip_default_ttl", "0").is_err());
        s.set("net.ipv4.ip_default_ttl", "32").unwrap();
        assert_eq!(s.ip_default_ttl, 32);
    }
}
