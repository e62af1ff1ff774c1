//! The workload controllers, reduced to what networking needs: a Deployment's ReplicaSet and
//! the ReplicaSet's pods, named as upstream names them (`<deployment>-<pod-template-hash>`,
//! `<replicaset>-<5 characters>`), with the `pod-template-hash` label, owner references and
//! the template's labels and spec. Upstream's hash is FNV-32a of the printed template and the
//! pod suffix is random (`utilrand.String(5)` over `bcdfghjklmnpqrstvwxz2456789`); here both
//! come from FNV-32a of the template JSON and of `(replicaset, index)` over the same alphabet,
//! so the names look like upstream's and are stable. StatefulSets get their ordinal pods
//! `<name>-0`, `<name>-1`… with `hostname` = the pod name and `subdomain` = `serviceName`
//! (what makes their per-pod DNS records); DaemonSets one pod per node, bound to it, named
//! `<name>-<5 characters>`. Not modelled: rollouts (one ReplicaSet per Deployment, at its
//! current template), surge, scale-down order, StatefulSet ordering guarantees.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// `rand.SafeEncodeString`'s alphabet: no vowels, no easily confused characters.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn safe_encode(mut n: u32, len: usize) -> String {
    (0..len)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u32) as usize] as char;
            n /= ALPHABET.len() as u32;
            c
        })
        .collect()
}

/// The `pod-template-hash` of a template (10 characters, as upstream's usually are).
pub fn pod_template_hash(template: &PodTemplateSpec) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    let h = fnv32a(&json);
    safe_encode(h, 6) + &safe_encode(h.rotate_left(16), 4)
}

fn owner(kind: &str, api_version: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The ReplicaSet a Deployment runs for its current template.
pub fn replica_set_for(d: &Deployment) -> Option<ReplicaSet> {
    let spec = d.spec.as_ref()?;
    let hash = pod_template_hash(&spec.template);
    let name = format!("{}-{hash}", d.metadata.name.as_deref()?);
    let mut template = spec.template.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels
        .get_or_insert_with(Default::default)
        .insert("pod-template-hash".into(), hash.clone());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert("pod-template-hash".into(), hash);
    Some(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: d.metadata.namespace.clone(),
            labels: meta.labels.clone(),
            owner_references: Some(vec![owner("Deployment", "apps/v1", &d.metadata)]),
            ..Default::default()
        },
        spec: Some(k8s_openapi::api::apps::v1::ReplicaSetSpec {
            replicas: Some(spec.replicas.unwrap_or(1)),
            selector,
            template: Some(template),
            min_ready_seconds: spec.min_ready_seconds,
        }),
        status: None,
    })
}

/// The pods of a ReplicaSet, `replicas` of them, in index order.
pub fn pods_for(rs: &ReplicaSet) -> Vec<Pod> {
    let Some(spec) = rs.spec.as_ref() else {
        return Vec::new();
    };
    let Some(template) = spec.template.as_ref() else {
        return Vec::new();
    };
    let rs_name = rs.metadata.name.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1).max(0) as usize;
    let mut seen = std::collections::BTreeSet::new();
    (0..replicas)
        .map(|i| {
            // A name clash (two indexes hashing alike) moves on, as a retried random name would.
            let mut salt = i;
            let name = loop {
                let n = format!(
                    "{rs_name}-{}",
                    safe_encode(fnv32a(format!("{rs_name}/{salt}").as_bytes()), 5)
                );
                if seen.insert(n.clone()) {
                    break n;
                }
                salt += replicas;
            };
            let tmeta = template.metadata.clone().unwrap_or_default();
            Pod {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: rs.metadata.namespace.clone(),
                    labels: tmeta.labels,
                    annotations: tmeta.annotations,
                    owner_references: Some(vec![owner("ReplicaSet", "apps/v1", &rs.metadata)]),
                    ..Default::default()
                },
                spec: template.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// A StatefulSet's pods, `<name>-0` up to `replicas - 1`.
pub fn stateful_pods(ss: &k8s_openapi::api::apps::v1::StatefulSet) -> Vec<Pod> {
    let Some(spec) = ss.spec.as_ref() else {
        return Vec::new();
    };
    let name = ss.metadata.name.clone().unwrap_or_default();
    let replicas = spec.replicas.unwrap_or(1).max(0);
    (0..replicas)
        .map(|i| {
            let pod_name = format!("{name}-{i}");
            let tmeta = spec.template.metadata.clone().unwrap_or_default();
            let mut labels = tmeta.labels.unwrap_or_default();
            labels.insert(
                "statefulset.kubernetes.io/pod-name".into(),
                pod_name.clone(),
            );
            labels.insert("apps.kubernetes.io/pod-index".into(), i.to_string());
            let mut pod_spec = spec.template.spec.clone().unwrap_or_default();
            pod_spec.hostname = Some(pod_name.clone());
            if let Some(svc) = spec.service_name.clone().filter(|s| !s.is_empty()) {
                pod_spec.subdomain = Some(svc);
            }
            Pod {
                metadata: ObjectMeta {
                    name: Some(pod_name),
                    namespace: ss.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: tmeta.annotations,
                    owner_references: Some(vec![owner("StatefulSet", "apps/v1", &ss.metadata)]),
                    ..Default::default()
                },
                spec: Some(pod_spec),
                status: None,
            }
        })
        .collect()
}

/// A DaemonSet's pods, one per node in `nodes`, each bound to its node.
pub fn daemon_pods(ds: &k8s_openapi::api::apps::v1::DaemonSet, nodes: &[String]) -> Vec<Pod> {
    let Some(spec) = ds.spec.as_ref() else {
        return Vec::new();
    };
    let name = ds.metadata.name.clone().unwrap_or_default();
    nodes
        .iter()
        .map(|node| {
            let tmeta = spec.template.metadata.clone().unwrap_or_default();
            let mut pod_spec = spec.template.spec.clone().unwrap_or_default();
            pod_spec.node_name = Some(node.clone());
            Pod {
                metadata: ObjectMeta {
                    name: Some(format!(
                        "{name}-{}",
                        safe_encode(fnv32a(format!("{name}/{node}").as_bytes()), 5)
                    )),
                    namespace: ds.metadata.namespace.clone(),
                    labels: tmeta.labels,
                    annotations: tmeta.annotations,
                    owner_references: Some(vec![owner("DaemonSet", "apps/v1", &ds.metadata)]),
                    ..Default::default()
                },
                spec: Some(pod_spec),
                status: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn deployment(replicas: i32, image: &str) -> Deployment {
        let labels = [("app".to_string(), "web".to_string())]
            .into_iter()
            .collect();
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some(labels),
                    ..Default::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(
                            [("app".to_string(), "web".to_string())]
                                .into_iter()
                                .collect(),
                        ),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "web".into(),
                            image: Some(image.into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn names_look_like_upstreams_and_are_stable() {
        let rs = replica_set_for(&deployment(3, "agnhost")).unwrap();
        let name = rs.metadata.name.clone().unwrap();
        let hash = name.strip_prefix("web-").unwrap();
        assert_eq!(hash.len(), 10);
        assert!(hash.bytes().all(|b| ALPHABET.contains(&b)));
        let pods = pods_for(&rs);
        assert_eq!(pods.len(), 3);
        for p in &pods {
            let n = p.metadata.name.as_deref().unwrap();
            assert_eq!(n.len(), name.len() + 6, "{n}");
            let labels = p.metadata.labels.as_ref().unwrap();
            assert_eq!(labels["pod-template-hash"], hash);
            assert_eq!(labels["app"], "web");
        }
        assert_eq!(pods_for(&rs), pods, "deterministic");
        // A new template is a new ReplicaSet.
        let other = replica_set_for(&deployment(3, "nginx")).unwrap();
        assert_ne!(other.metadata.name, rs.metadata.name);
    }

    #[test]
    fn stateful_pods_are_ordinal_with_hostname_and_subdomain() {
        use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
        let d = deployment(2, "db");
        let dspec = d.spec.unwrap();
        let ss = StatefulSet {
            metadata: ObjectMeta {
                name: Some("db".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(StatefulSetSpec {
                replicas: Some(2),
                selector: dspec.selector,
                service_name: Some("db-headless".into()),
                template: dspec.template,
                ..Default::default()
            }),
            status: None,
        };
        let pods = stateful_pods(&ss);
        let names: Vec<&str> = pods
            .iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(names, ["db-0", "db-1"]);
        let spec = pods[1].spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("db-1"));
        assert_eq!(spec.subdomain.as_deref(), Some("db-headless"));
        assert_eq!(
            pods[1].metadata.labels.as_ref().unwrap()["apps.kubernetes.io/pod-index"],
            "1"
        );
    }
}
