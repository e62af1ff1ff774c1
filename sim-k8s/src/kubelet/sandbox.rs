//! The pod sandbox: the "pause" container's network namespace, which every container of the
//! pod joins (the CRI `RunPodSandbox`, then each container created with
//! `--net=container:<sandbox>`). That shared namespace is why containers of one pod reach each
//! other on `localhost` and share one IP.
//!
//! Naming (this model's choice): the namespace is `<namespace>_<pod name>`, which is unique
//! among live pods and readable in traces; `ip netns` would show it at
//! `/var/run/netns/<namespace>_<pod name>`, the path handed to CNI plugins as `CNI_NETNS`.
//! (containerd names it `cni-<random uuid>`.) The sandbox ID — CNI's `CNI_CONTAINERID`,
//! which keys host-local's reservations and the plugins' chain names — is 64 hex digits,
//! like a runtime's, derived from the pod's namespace, name, UID and sandbox attempt instead
//! of drawn at random.
//!
//! A `hostNetwork` pod gets no namespace of its own: its sandbox is the node's.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use sim_net::{NetNsId, Network};

use super::error::KubeletError;
use crate::cni::chain_name::format_hash_with_prefix;

/// The sandbox netns name for a pod (see the module docs).
pub fn sandbox_netns_name(namespace: &str, name: &str) -> String {
    format!("{namespace}_{name}")
}

/// The path a CNI plugin is given for a named namespace (`ip netns add` puts it there).
pub fn netns_path(netns_name: &str) -> String {
    format!("/var/run/netns/{netns_name}")
}

/// A pod's sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandbox {
    /// 64 hex digits, stable for a pod and attempt.
    pub id: String,
    pub netns: NetNsId,
    pub netns_name: String,
    /// `CNI_NETNS`.
    pub netns_path: String,
    pub host_network: bool,
    pod: String,
    containers: BTreeSet<String>,
}

impl PodSandbox {
    /// Creates the sandbox namespace (with `lo` up and 127.0.0.1/8, as sim-net gives every
    /// new namespace) — or, for a `hostNetwork` pod, uses `node`.
    pub fn create(
        net: &mut Network,
        node: NetNsId,
        pod: &Pod,
        attempt: u32,
    ) -> Result<PodSandbox, KubeletError> {
        let name = pod
            .metadata
            .name
            .as_deref()
            .ok_or(KubeletError::MissingPodName)?;
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
        let containers = spec
            .into_iter()
            .flat_map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .chain(s.containers.iter())
                    .map(|c| c.name.clone())
            })
            .collect();
        let id = format_hash_with_prefix(64, "", &format!("{namespace}/{name}/{uid}/{attempt}"));
        let (netns, netns_name) = if host_network {
            (node, net.netns(node).name.clone())
        } else {
            let n = sandbox_netns_name(namespace, name);
            (net.add_netns(&n)?, n)
        };
        Ok(PodSandbox {
            id,
            netns,
            netns_path: netns_path(&netns_name),
            netns_name,
            host_network,
            pod: format!("{namespace}/{name}"),
            containers,
        })
    }

    /// The namespace a container of the pod runs in: the sandbox's, for every container.
    pub fn container_netns(&self, container: &str) -> Result<NetNsId, KubeletError> {
        if self.containers.contains(container) {
            Ok(self.netns)
        } else {
            Err(KubeletError::UnknownContainer {
                pod: self.pod.clone(),
                container: container.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(host_network: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("shop".into()),
                uid: Some("0000-1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                host_network: Some(host_network),
                containers: vec![
                    Container {
                        name: "app".into(),
                        ..Default::default()
                    },
                    Container {
                        name: "sidecar".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn containers_share_the_sandbox_netns() {
        let mut net = Network::new();
        let node = net.add_netns("node-1").unwrap();
        let sb = PodSandbox::create(&mut net, node, &pod(false), 0).unwrap();
        assert_eq!(sb.netns_name, "shop_web");
        assert_eq!(sb.netns_path, "/var/run/netns/shop_web");
        assert_eq!(sb.id.len(), 64);
        assert_eq!(sb.container_netns("app"), Ok(sb.netns));
        assert_eq!(sb.container_netns("sidecar"), Ok(sb.netns));
        assert!(matches!(
            sb.container_netns("nope"),
            Err(KubeletError::UnknownContainer { .. })
        ));
        // lo is up with 127.0.0.1, so localhost works between the containers.
        assert!(net.is_local(sb.netns, "127.0.0.1".parse().unwrap()));
        // A second sandbox for the same pod name is refused while the first lives.
        assert!(matches!(
            PodSandbox::create(&mut net, node, &pod(false), 1),
            Err(KubeletError::Topology(_))
        ));
    }

    #[test]
    fn host_network_uses_the_node() {
        let mut net = Network::new();
        let node = net.add_netns("node-1").unwrap();
        let sb = PodSandbox::create(&mut net, node, &pod(true), 0).unwrap();
        assert_eq!((sb.netns, sb.netns_name.as_str()), (node, "node-1"));
        assert_eq!(
            sb.id,
            PodSandbox::create(&mut net, node, &pod(true), 0)
                .unwrap()
                .id,
            "stable"
        );
    }
}
