//! The pod's `/etc/hosts`, byte for byte as kubelet writes it (`pkg/kubelet/kubelet_pods.go`
//! `ensureHostsFile`, `managedHostsFileContent`, `nodeHostsFileContent`,
//! `hostsEntriesFromHostAliases`, `shouldMountHostsFile`).
//!
//! A pod on the pod network gets the managed file: the header, the IPv4 and IPv6 localhost
//! lines, one line per pod IP (`IP\tFQDN\thostname` with a subdomain, else `IP\thostname`),
//! then the host aliases. A `hostNetwork` pod gets the node's own file after the
//! host-network header, then the host aliases. Host aliases follow a blank line and the
//! `# Entries added by HostAliases.` comment, one line per alias: the IP, a tab, and the
//! hostnames joined by tabs. kubelet mounts no file at all into a pod-network pod that has
//! no IP yet.
//!
//! (Older kubelets wrote one line per alias hostname, as some old documentation still shows;
//! this follows the current code.)

use k8s_openapi::api::core::v1::{HostAlias, Pod};

use super::error::KubeletError;
use super::hostname::pod_hostname_and_domain;

/// `managedHostsHeader`.
pub const MANAGED_HOSTS_HEADER: &str = "# Kubernetes-managed hosts file.\n";
/// `managedHostsHeaderWithHostNetwork`.
pub const MANAGED_HOSTS_HEADER_WITH_HOST_NETWORK: &str =
    "# Kubernetes-managed hosts file (host network).\n";

/// `hostsEntriesFromHostAliases`.
pub fn host_alias_entries(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n# Entries added by HostAliases.\n");
    for a in aliases {
        let names = a.hostnames.as_deref().unwrap_or_default().join("\t");
        s.push_str(&format!("{}\t{}\n", a.ip, names));
    }
    s
}

/// `managedHostsFileContent`: the file for a pod on the pod network. `domain` is the
/// hostname's domain (`sub.ns.svc.cluster.local`) or empty.
pub fn managed_hosts_file_content(
    pod_ips: &[String],
    hostname: &str,
    domain: &str,
    aliases: &[HostAlias],
) -> String {
    let mut s = String::from(MANAGED_HOSTS_HEADER);
    s.push_str("127.0.0.1\tlocalhost\n");
    s.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    s.push_str("fe00::0\tip6-localnet\n");
    s.push_str("fe00::0\tip6-mcastprefix\n");
    s.push_str("fe00::1\tip6-allnodes\n");
    s.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        if domain.is_empty() {
            s.push_str(&format!("{ip}\t{hostname}\n"));
        } else {
            s.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n"));
        }
    }
    s.push_str(&host_alias_entries(aliases));
    s
}

/// `nodeHostsFileContent`: the node's `/etc/hosts` (given verbatim) for a `hostNetwork` pod.
pub fn node_hosts_file_content(node_hosts: &str, aliases: &[HostAlias]) -> String {
    let mut s = String::from(MANAGED_HOSTS_HEADER_WITH_HOST_NETWORK);
    s.push_str(node_hosts);
    s.push_str(&host_alias_entries(aliases));
    s
}

/// The `/etc/hosts` kubelet mounts into the pod's containers, or `None` when it mounts none
/// (a pod-network pod with no IP yet). `pod_ips` are `status.podIPs` in order; `node_hosts`
/// is the node's own `/etc/hosts`.
pub fn pod_etc_hosts(
    pod: &Pod,
    pod_ips: &[String],
    cluster_domain: &str,
    node_hosts: &str,
    hostname_override_gate: bool,
) -> Result<Option<String>, KubeletError> {
    // The hostname is generated (and validated) before the mounts are made.
    let (hostname, domain) = pod_hostname_and_domain(pod, cluster_domain, hostname_override_gate)?;
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    if pod_ips.is_empty() && !host_network {
        return Ok(None);
    }
    let aliases = spec
        .and_then(|s| s.host_aliases.as_deref())
        .unwrap_or_default();
    Ok(Some(if host_network {
        node_hosts_file_content(node_hosts, aliases)
    } else {
        managed_hosts_file_content(pod_ips, &hostname, &domain, aliases)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("hostaliases-pod".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(spec),
            ..Default::default()
        }
    }

    fn alias(ip: &str, names: &[&str]) -> HostAlias {
        HostAlias {
            ip: ip.into(),
            hostnames: Some(names.iter().map(|s| s.to_string()).collect()),
        }
    }

    const LOCALHOST: &str = "# Kubernetes-managed hosts file.\n\
        127.0.0.1\tlocalhost\n\
        ::1\tlocalhost ip6-localhost ip6-loopback\n\
        fe00::0\tip6-localnet\n\
        fe00::0\tip6-mcastprefix\n\
        fe00::1\tip6-allnodes\n\
        fe00::2\tip6-allrouters\n";

    #[test]
    fn plain_pod() {
        let got = pod_etc_hosts(
            &pod(PodSpec::default()),
            &["10.244.135.10".into()],
            "cluster.local",
            "",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(got, format!("{LOCALHOST}10.244.135.10\thostaliases-pod\n"));
    }

    /// The seed's "hostname alias" pod, in today's format.
    #[test]
    fn host_aliases() {
        let spec = PodSpec {
            host_aliases: Some(vec![
                alias("127.0.0.1", &["foo.local", "bar.local"]),
                alias("10.1.2.3", &["foo.remote", "bar.remote"]),
            ]),
            ..Default::default()
        };
        let got = pod_etc_hosts(
            &pod(spec),
            &["10.244.135.10".into()],
            "cluster.local",
            "",
            false,
        )
        .unwrap()
        .unwrap();
        let want = format!(
            "{LOCALHOST}10.244.135.10\thostaliases-pod\n\
             \n\
             # Entries added by HostAliases.\n\
             127.0.0.1\tfoo.local\tbar.local\n\
             10.1.2.3\tfoo.remote\tbar.remote\n"
        );
        assert_eq!(got, want);
    }

    #[test]
    fn hostname_subdomain_and_dual_stack() {
        let spec = PodSpec {
            hostname: Some("busybox-1".into()),
            subdomain: Some("default-subdomain".into()),
            ..Default::default()
        };
        let got = pod_etc_hosts(
            &pod(spec),
            &["10.244.1.5".into(), "fd00:10:244:1::5".into()],
            "cluster.local",
            "",
            false,
        )
        .unwrap()
        .unwrap();
        let want = format!(
            "{LOCALHOST}\
             10.244.1.5\tbusybox-1.default-subdomain.default.svc.cluster.local\tbusybox-1\n\
             fd00:10:244:1::5\tbusybox-1.default-subdomain.default.svc.cluster.local\tbusybox-1\n"
        );
        assert_eq!(got, want);
    }

    #[test]
    fn host_network_gets_the_node_file() {
        let node = "127.0.0.1 localhost\n192.168.0.11 node-1\n";
        let spec = PodSpec {
            host_network: Some(true),
            host_aliases: Some(vec![alias("10.0.0.9", &["db"])]),
            ..Default::default()
        };
        let got = pod_etc_hosts(&pod(spec), &[], "cluster.local", node, false)
            .unwrap()
            .unwrap();
        assert_eq!(
            got,
            "# Kubernetes-managed hosts file (host network).\n\
             127.0.0.1 localhost\n\
             192.168.0.11 node-1\n\
             \n\
             # Entries added by HostAliases.\n\
             10.0.0.9\tdb\n"
        );
    }

    #[test]
    fn no_ip_no_file_and_bad_hostname_is_an_error() {
        assert_eq!(
            pod_etc_hosts(&pod(PodSpec::default()), &[], "c", "", false),
            Ok(None)
        );
        let spec = PodSpec {
            hostname: Some("-x".into()),
            ..Default::default()
        };
        assert!(pod_etc_hosts(&pod(spec), &["10.0.0.1".into()], "c", "", false).is_err());
        // An alias without hostnames still writes its line (IP and a tab).
        assert_eq!(
            host_alias_entries(&[HostAlias {
                ip: "1.2.3.4".into(),
                hostnames: None
            }]),
            "\n# Entries added by HostAliases.\n1.2.3.4\t\n"
        );
    }
}
