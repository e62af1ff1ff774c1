//! The cluster's DNS add-on and the Service it is found by, as a kubeadm cluster has them
//! after `kubeadm init`:
//!
//! - `default/kubernetes`: the apiserver's Service, the first address of the service range,
//!   `https` 443/TCP → 6443, its Endpoints and EndpointSlice (`kubernetes`) written by the
//!   apiserver's endpoint reconciler with the first node's InternalIP (the control plane);
//! - `kube-system/kube-dns`: the DNS Service at the tenth address of the range (kubeadm's
//!   `clusterDNS`), ports `dns` 53/UDP, `dns-tcp` 53/TCP, `metrics` 9153/TCP, selecting
//!   `k8s-app: kube-dns`;
//! - the DNS Deployment (2 replicas, `dnsPolicy: Default`, so the pods resolve upstream
//!   through the node's resolv.conf): `coredns` for v3 with its `kube-system/coredns`
//!   ConfigMap holding the Corefile (kubeadm's; a ConfigMap of that name in the manifests is
//!   used instead), `kube-dns` for v1 and v2, whose configuration was flags (the flavour's
//!   Corefile, [`Flavour::corefile`]).
//!
//! Objects the manifests already hold (same kind, namespace and name) are kept as written.
//! Simplified: nothing listens on the apiserver's 6443 (connections to `kubernetes` are
//! refused by the node); the DNS pods' container images are named for the record only.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use crate::dns::flavour::Flavour;
use crate::object::{Kind, Object, ObjectKey};
use crate::store::Store;

/// The DNS add-on a cluster runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    pub flavour: Flavour,
    /// kubelet's `clusterDomain` and the `kubernetes` plugin's zone.
    pub cluster_domain: String,
    /// Replicas of the DNS Deployment (kubeadm: 2).
    pub replicas: i32,
}

impl Default for ClusterDns {
    fn default() -> Self {
        ClusterDns {
            flavour: Flavour::CoreDns,
            cluster_domain: "cluster.local".into(),
            replicas: 2,
        }
    }
}

/// The label the DNS pods carry and the kube-dns Service selects.
pub const DNS_APP_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
/// The namespace of the DNS pods and Service.
pub const DNS_NAMESPACE: &str = "kube-system";
/// The ConfigMap CoreDNS reads its Corefile from, and the key.
pub const COREFILE_CONFIGMAP: (&str, &str) = ("coredns", "Corefile");
/// The apiserver's port behind the `kubernetes` Service.
pub const APISERVER_PORT: i32 = 6443;

fn typed<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("the add-on's objects are well-formed")
}

impl ClusterDns {
    /// The Deployment's name: `coredns` (v3), `kube-dns` (v1, v2).
    pub fn deployment_name(&self) -> &'static str {
        match self.flavour {
            Flavour::CoreDns => "coredns",
            Flavour::KubeDns | Flavour::SkyDns => "kube-dns",
        }
    }

    fn image(&self) -> &'static str {
        match self.flavour {
            Flavour::CoreDns => "registry.k8s.io/coredns/coredns:v1.12.1",
            Flavour::KubeDns => "registry.k8s.io/dns/k8s-dns-kube-dns:1.14.13",
            Flavour::SkyDns => "gcr.io/google_containers/skydns:2015-10-13-8c72f8c",
        }
    }

    /// The Corefile a DNS pod starting now reads: v3's from the `kube-system/coredns`
    /// ConfigMap in `store` (kubeadm's when there is none), v1's and v2's from the flavour.
    pub fn corefile(&self, store: &Store) -> String {
        let (cm, key) = COREFILE_CONFIGMAP;
        let from_configmap = match self.flavour {
            Flavour::CoreDns => store
                .get(&ObjectKey::new(Kind::ConfigMap, DNS_NAMESPACE, cm))
                .and_then(|o| match o {
                    Object::ConfigMap(c) => c.data.as_ref()?.get(key).cloned(),
                    _ => None,
                }),
            _ => None,
        };
        from_configmap.unwrap_or_else(|| self.flavour.corefile(&self.cluster_domain))
    }

    /// The add-on's objects, given the `kubernetes` and `kube-dns` clusterIPs.
    pub fn objects(&self, apiserver_ip: &str, dns_ip: &str) -> Vec<Object> {
        let (app_key, app) = DNS_APP_LABEL;
        let mut out = vec![
            Object::Service(typed::<Service>(json!({
                "metadata": {"name": "kubernetes", "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": apiserver_ip, "clusterIPs": [apiserver_ip],
                    "sessionAffinity": "None",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": APISERVER_PORT}]}
            }))),
            Object::Service(typed::<Service>(json!({
                "metadata": {"name": "kube-dns", "namespace": DNS_NAMESPACE,
                    "labels": {app_key: app, "kubernetes.io/cluster-service": "true",
                        "kubernetes.io/name": if self.flavour == Flavour::CoreDns { "CoreDNS" } else { "KubeDNS" }}},
                "spec": {"type": "ClusterIP", "clusterIP": dns_ip, "clusterIPs": [dns_ip],
                    "selector": {app_key: app},
                    "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                        {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}
            }))),
        ];
        if self.flavour == Flavour::CoreDns {
            let (cm, key) = COREFILE_CONFIGMAP;
            out.push(Object::ConfigMap(typed::<ConfigMap>(json!({
                "metadata": {"name": cm, "namespace": DNS_NAMESPACE},
                "data": {key: self.flavour.corefile(&self.cluster_domain)}
            }))));
        }
        out.push(Object::Deployment(typed::<Deployment>(json!({
            "metadata": {"name": self.deployment_name(), "namespace": DNS_NAMESPACE,
                "labels": {app_key: app}},
            "spec": {"replicas": self.replicas,
                "selector": {"matchLabels": {app_key: app}},
                "template": {
                    "metadata": {"labels": {app_key: app}},
                    "spec": {"dnsPolicy": "Default", "priorityClassName": "system-cluster-critical",
                        "containers": [{"name": self.deployment_name(), "image": self.image(),
                            "ports": [
                                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}]}]}}}
        }))));
        out
    }

    /// The apiserver endpoint reconciler's Endpoints and EndpointSlice for `kubernetes`.
    pub fn apiserver_endpoints(&self, control_plane_ip: &str) -> Vec<Object> {
        vec![
            Object::Endpoints(typed::<Endpoints>(json!({
                "metadata": {"name": "kubernetes", "namespace": "default",
                    "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": [{"addresses": [{"ip": control_plane_ip}],
                    "ports": [{"name": "https", "port": APISERVER_PORT, "protocol": "TCP"}]}]
            }))),
            Object::EndpointSlice(typed::<EndpointSlice>(json!({
                "metadata": {"name": "kubernetes", "namespace": "default",
                    "labels": {"kubernetes.io/service-name": "kubernetes"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [control_plane_ip], "conditions": {"ready": true}}],
                "ports": [{"name": "https", "port": APISERVER_PORT, "protocol": "TCP"}]
            }))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coredns_comes_with_its_corefile_and_older_flavours_without() {
        let v3 = ClusterDns::default();
        let objects = v3.objects("10.96.0.1", "10.96.0.10");
        let names: Vec<String> = objects
            .iter()
            .map(|o| format!("{:?} {}", o.kind(), o.key().name))
            .collect();
        assert_eq!(
            names,
            [
                "Service kubernetes",
                "Service kube-dns",
                "ConfigMap coredns",
                "Deployment coredns"
            ]
        );
        let Object::ConfigMap(cm) = &objects[2] else {
            unreachable!()
        };
        assert!(cm.data.as_ref().unwrap()["Corefile"].contains("kubernetes cluster.local"));
        let v1 = ClusterDns {
            flavour: Flavour::SkyDns,
            ..ClusterDns::default()
        };
        let names: Vec<String> = v1
            .objects("10.96.0.1", "10.96.0.10")
            .iter()
            .map(|o| o.key().name)
            .collect();
        assert_eq!(names, ["kubernetes", "kube-dns", "kube-dns"]);
    }
}
