//! kubelet's reading of the node's `resolv.conf` (the file named by `--resolv-conf`),
//! `pkg/kubelet/network/dns/dns.go` `parseResolvConf`.
//!
//! Lines are trimmed; `#` comments and blank lines skipped. `nameserver X` lines accumulate
//! (a `nameserver` without an address is an error); the last `search` line wins, each domain
//! with one trailing dot removed; the last `options` line wins, each option kept as written.
//! `domain` lines are ignored — kubelet's parser does not read them (unlike glibc, and unlike
//! the host-local IPAM plugin's parser). At most 10 MiB are read.

use super::error::KubeletError;

/// `maxResolveConfLength`.
pub const MAX_RESOLV_CONF_LENGTH: usize = 10 << 20;

/// What kubelet takes from a `resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// `parseResolvConf`; the error names the first `nameserver` line without an address.
pub fn parse_resolv_conf(text: &str) -> Result<ResolvConf, KubeletError> {
    if text.len() > MAX_RESOLV_CONF_LENGTH {
        return Err(KubeletError::ResolvConfTooLarge { len: text.len() });
    }
    let mut rc = ResolvConf::default();
    let mut first_error = None;
    for (i, line) in text.split('\n').enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let Some(&keyword) = fields.first() else {
            continue;
        };
        match keyword {
            "nameserver" => match fields.get(1) {
                Some(ns) => rc.nameservers.push((*ns).to_string()),
                None => {
                    first_error.get_or_insert(KubeletError::EmptyNameserver { line: i + 1 });
                }
            },
            "search" => {
                rc.searches = fields[1..]
                    .iter()
                    .map(|s| s.strip_suffix('.').unwrap_or(s).to_string())
                    .collect();
            }
            "options" => rc.options = fields[1..].iter().map(|s| s.to_string()).collect(),
            _ => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(rc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_kubelet() {
        let rc = parse_resolv_conf(
            "# generated\n\
             domain corp.example\n\
             search old.example\n\
             nameserver 192.168.0.2\n\
             \tnameserver   192.168.0.3  # trailing\n\
             search corp.example. example.com\n\
             options ndots:2 timeout:1\n\
             options rotate\n",
        )
        .unwrap();
        assert_eq!(rc.nameservers, ["192.168.0.2", "192.168.0.3"]);
        assert_eq!(rc.searches, ["corp.example", "example.com"]);
        assert_eq!(rc.options, ["rotate"]);
        assert_eq!(
            parse_resolv_conf("nameserver 1.1.1.1\nnameserver\n"),
            Err(KubeletError::EmptyNameserver { line: 2 })
        );
        assert_eq!(parse_resolv_conf(""), Ok(ResolvConf::default()));
    }
}
