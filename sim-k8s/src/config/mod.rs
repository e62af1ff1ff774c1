//! # Component configuration files
//!
//! The versioned config files kubelet and kube-proxy read (`--config`), as our own serde types
//! because k8s-openapi carries only the API server's types:
//!
//! | kind | apiVersion | type |
//! | --- | --- | --- |
//! | `KubeletConfiguration` | `kubelet.config.k8s.io/v1beta1` | [`KubeletConfiguration`] |
//! | `KubeProxyConfiguration` | `kubeproxy.config.k8s.io/v1alpha1` | [`KubeProxyConfiguration`] |
//!
//! Fields follow upstream names (`staging/src/k8s.io/kubelet/config/v1beta1/types.go`,
//! `staging/src/k8s.io/kube-proxy/config/v1alpha1/types.go`). The fields the network model
//! reads are typed; the other upstream fields are accepted and kept as JSON in `other`, so a
//! real file loads; a field upstream does not have is an error, as strict decoding makes it.

pub mod kube_proxy_configuration;
pub mod kubelet_configuration;

pub use kube_proxy_configuration::{DetectLocalMode, KubeProxyConfiguration, ProxyMode};
pub use kubelet_configuration::KubeletConfiguration;

use std::collections::BTreeMap;

/// A config type whose rarely-used upstream fields are kept as JSON rather than typed.
pub(crate) trait ComponentConfig {
    /// Upstream top-level fields accepted without a typed model.
    const OPAQUE_FIELDS: &'static [&'static str];
    fn set_other(&mut self, other: BTreeMap<String, serde_json::Value>);
}
