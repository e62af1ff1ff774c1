//! A pod's hostname and domain, as kubelet derives them (`kubelet_pods.go`
//! `GeneratePodHostNameAndDomain`, `truncatePodHostnameIfNeeded`).
//!
//! The hostname is `spec.hostname` if set, else the pod's name, cut to 63 characters with
//! trailing `-` and `.` trimmed. The domain is `<subdomain>.<namespace>.svc.<clusterDomain>`
//! when `spec.subdomain` is set, else empty. With the `HostnameOverride` feature gate on, a
//! set `spec.hostnameOverride` wins and the domain is empty.

use k8s_openapi::api::core::v1::Pod;

use super::error::KubeletError;

/// `hostnameMaxLen`: 64 bytes including the terminating NUL.
pub const HOSTNAME_MAX_LEN: usize = 63;
/// `DNS1123LabelMaxLength`.
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// `DNS1123SubdomainMaxLength`.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

fn is_label_body(label: &str) -> bool {
    let b = label.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || c == b'-')
}

/// `IsDNS1123Label`: the reasons `value` is not a label, empty if it is one.
pub fn dns1123_label_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {DNS1123_LABEL_MAX_LENGTH} characters"
        ));
    }
    if !is_label_body(value) {
        errs.push(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character"
                .to_string(),
        );
    }
    errs
}

/// `IsDNS1123Subdomain`: the reasons `value` is not a subdomain, empty if it is one.
pub fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        ));
    }
    if !value.split('.').all(is_label_body) {
        errs.push(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character"
                .to_string(),
        );
    }
    errs
}

fn truncate(pod: &str, hostname: &str) -> Result<String, KubeletError> {
    if hostname.len() <= HOSTNAME_MAX_LEN {
        return Ok(hostname.to_string());
    }
    // Valid labels are ASCII; a byte cut is a character cut.
    let cut: String = hostname.chars().take(HOSTNAME_MAX_LEN).collect();
    let trimmed = cut.trim_end_matches(['-', '.']);
    if trimmed.is_empty() {
        return Err(KubeletError::HostnameEmptyAfterTruncation {
            pod: pod.to_string(),
            hostname: hostname.to_string(),
        });
    }
    Ok(trimmed.to_string())
}

/// `(hostname, domain)` for a pod; `domain` is empty without a subdomain.
pub fn pod_hostname_and_domain(
    pod: &Pod,
    cluster_domain: &str,
    hostname_override_gate: bool,
) -> Result<(String, String), KubeletError> {
    let name = pod
        .metadata
        .name
        .as_deref()
        .ok_or(KubeletError::MissingPodName)?;
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let spec = pod.spec.as_ref();
    if hostname_override_gate && let Some(o) = spec.and_then(|s| s.hostname_override.as_deref()) {
        let errs = dns1123_subdomain_errors(o);
        if !errs.is_empty() {
            return Err(KubeletError::InvalidHostnameOverride {
                hostname: o.to_string(),
                reason: errs.join(";"),
            });
        }
        return Ok((truncate(name, o)?, String::new()));
    }
    let mut hostname = name;
    if let Some(h) = spec
        .and_then(|s| s.hostname.as_deref())
        .filter(|h| !h.is_empty())
    {
        let errs = dns1123_label_errors(h);
        if !errs.is_empty() {
            return Err(KubeletError::InvalidHostname {
                hostname: h.to_string(),
                reason: errs.join(";"),
            });
        }
        hostname = h;
    }
    let hostname = truncate(name, hostname)?;
    let mut domain = String::new();
    if let Some(sub) = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
    {
        let errs = dns1123_label_errors(sub);
        if !errs.is_empty() {
            return Err(KubeletError::InvalidSubdomain {
                subdomain: sub.to_string(),
                reason: errs.join(";"),
            });
        }
        domain = format!("{sub}.{namespace}.svc.{cluster_domain}");
    }
    Ok((hostname, domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(name: &str, hostname: Option<&str>, subdomain: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                hostname: hostname.map(Into::into),
                subdomain: subdomain.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn hostname_and_domain() {
        assert_eq!(
            pod_hostname_and_domain(&pod("web-0", None, None), "cluster.local", false).unwrap(),
            ("web-0".into(), String::new())
        );
        assert_eq!(
            pod_hostname_and_domain(&pod("p", Some("h"), Some("sub")), "cluster.local", false)
                .unwrap(),
            ("h".into(), "sub.ns1.svc.cluster.local".into())
        );
        let long = format!("{}-{}", "a".repeat(62), "bcd");
        assert_eq!(
            pod_hostname_and_domain(&pod(&long, None, None), "c", false)
                .unwrap()
                .0,
            "a".repeat(62),
            "cut to 63, the trailing '-' trimmed"
        );
        assert!(matches!(
            pod_hostname_and_domain(&pod("p", Some("Bad_Name"), None), "c", false),
            Err(KubeletError::InvalidHostname { .. })
        ));
        assert!(matches!(
            pod_hostname_and_domain(&pod("p", None, Some("a.b")), "c", false),
            Err(KubeletError::InvalidSubdomain { .. })
        ));
        let mut p = pod("p", Some("h"), Some("sub"));
        p.spec.as_mut().unwrap().hostname_override = Some("my.host".into());
        assert_eq!(
            pod_hostname_and_domain(&p, "c", true).unwrap(),
            ("my.host".into(), String::new())
        );
        assert_eq!(
            pod_hostname_and_domain(&p, "c", false).unwrap().0,
            "h",
            "ignored with the gate off"
        );
    }
}
