//! Loading real-format manifests, and every kind of bad input, with the positions reported.

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sim_core::SimDuration;
use sim_k8s::config::ProxyMode;
use sim_k8s::manifest::{
    FieldValidation, LoadOptions, ManifestError, load_path, load_reader, load_str,
};
use sim_k8s::{Kind, Object, ObjectKey};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn opts() -> LoadOptions {
    LoadOptions::default()
}

fn err(source: &str, text: &str) -> ManifestError {
    load_str(source, text, &opts()).expect_err("input is invalid")
}

#[test]
fn exported_deployment_service_pods_and_nodes_load_from_a_directory() {
    let m = load_path(&fixture("web"), &opts()).unwrap();
    assert!(m.warnings.is_empty());
    let keys: Vec<String> = m.objects().map(|o| o.key().to_string()).collect();
    // Files in name order: deployment, nodes (a List), pods (a List), service.
    assert_eq!(
        keys,
        [
            "Deployment default/web",
            "Node node-a",
            "Node node-b",
            "Pod default/web-7d9c6b5f4d-2xkqp",
            "Pod default/web-7d9c6b5f4d-9wzrt",
            "Pod default/web-7d9c6b5f4d-kq4hn",
            "Service default/web",
        ]
    );
    let docs = &m.documents;
    assert!(docs[0].location.source.ends_with("deployment.yaml"));
    assert_eq!((docs[0].location.line, docs[0].location.column), (2, 1));
    // List items are located at their own lines.
    assert_eq!(docs[2].location.line, 54);

    let objs: Vec<&Object> = m.objects().collect();
    let deploy = objs[0].downcast_ref::<Deployment>().unwrap();
    let spec = deploy.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    let c = &spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(c.ports.as_ref().unwrap()[0].name.as_deref(), Some("http"));
    assert_eq!(
        deploy.metadata.uid.as_deref(),
        Some("3f1c5a8e-6b2d-4c1e-9a7f-0d2e4b6c8a10")
    );
    assert_eq!(deploy.metadata.managed_fields.as_ref().unwrap().len(), 2);

    let node = objs[1].downcast_ref::<Node>().unwrap();
    assert_eq!(
        node.spec.as_ref().unwrap().pod_cidr.as_deref(),
        Some("10.244.1.0/24")
    );

    let terminating = objs[4].downcast_ref::<Pod>().unwrap();
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    assert!(terminating.metadata.deletion_timestamp.is_some());
    let status = terminating.status.as_ref().unwrap();
    assert_eq!(status.pod_ip.as_deref(), Some("10.244.2.7"));
    assert!(status.container_statuses.as_ref().unwrap()[0].ready);

    let svc = objs[6].downcast_ref::<Service>().unwrap();
    let port = &svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
    assert_eq!(port.target_port, Some(IntOrString::String("http".into())));
}

#[test]
fn endpointslice_as_kubectl_prints_it() {
    let m = load_path(&fixture("endpointslice.yaml"), &opts()).unwrap();
    let slice = m
        .objects()
        .next()
        .unwrap()
        .downcast_ref::<EndpointSlice>()
        .unwrap();
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(slice.endpoints.len(), 3);
    let terminating = &slice.endpoints[1];
    let c = terminating.conditions.as_ref().unwrap();
    assert_eq!(
        (c.ready, c.serving, c.terminating),
        (Some(false), Some(true), Some(true))
    );
    assert_eq!(terminating.zone.as_deref(), Some("zone-b"));
    assert_eq!(slice.ports.as_ref().unwrap()[0].port, Some(8080));
}

#[test]
fn kubeadm_kubelet_and_kube_proxy_configs() {
    let m = load_path(&fixture("kubelet-config.yaml"), &opts()).unwrap();
    let k = m.kubelet_configurations().next().unwrap();
    assert_eq!(k.cluster_dns, ["10.96.0.10"]);
    assert_eq!(k.cluster_domain(), "cluster.local");
    assert_eq!(k.resolv_conf(), "/run/systemd/resolve/resolv.conf");
    assert_eq!(k.cgroup_driver.as_deref(), Some("systemd"));
    // kubeadm writes 0s meaning "default".
    assert_eq!(k.sync_frequency(), SimDuration::from_secs(60));
    assert_eq!(k.max_pods(), 110);
    assert_eq!(k.hairpin_mode(), "promiscuous-bridge");
    assert!(k.other.contains_key("authentication"));
    assert_eq!(k.other["rotateCertificates"], serde_json::json!(true));

    let m = load_path(&fixture("kube-proxy-config.yaml"), &opts()).unwrap();
    let p = m.kube_proxy_configurations().next().unwrap();
    assert_eq!(p.mode, ProxyMode::Ipvs);
    assert_eq!(p.cluster_cidr, "10.244.0.0/16");
    assert_eq!(p.iptables_masquerade_bit(), 14);
    assert_eq!(p.iptables_min_sync_period(), SimDuration::from_secs(1));
    assert_eq!(p.iptables_sync_period(), SimDuration::from_secs(30));
    assert_eq!(p.ipvs_scheduler(), "rr");
    assert_eq!(p.conntrack_max_per_core(), 32768);
    assert_eq!(
        p.conntrack_tcp_close_wait_timeout(),
        SimDuration::from_secs(3600)
    );
    assert_eq!(p.healthz_bind_address(), "0.0.0.0:10256");
    assert_eq!(p.metrics_bind_address(), "127.0.0.1:10249");
    assert_eq!(
        p.other["clientConnection"]["kubeconfig"],
        serde_json::json!("/var/lib/kube-proxy/kubeconfig.conf")
    );
}

#[test]
fn json_and_stdin_sources() {
    let json = r#"{
  "apiVersion": "v1",
  "kind": "ConfigMap",
  "metadata": {"name": "cfg"},
  "data": {"k": "v"}
}"#;
    let m = load_reader("<stdin>", json.as_bytes(), &opts()).unwrap();
    let doc = &m.documents[0];
    assert_eq!(doc.location.to_string(), "<stdin>:1:1");
    let obj = m.objects().next().unwrap();
    assert_eq!(obj.key(), ObjectKey::new(Kind::ConfigMap, "default", "cfg"));

    let bad = r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
  "spec": {"ports": [{"port": "eighty"}]}}"#;
    assert_eq!(
        err("svc.json", bad).to_string(),
        "svc.json:2:31: spec.ports[0].port: invalid type: string \"eighty\", expected i32"
    );
}

#[test]
fn bad_yaml_reports_line_and_column() {
    let e = err(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n    labels: {}\n",
    );
    assert!(matches!(e, ManifestError::Syntax { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "pod.yaml:5:11: mapping values are not allowed in this context"
    );
    let e = err("a.yaml", "apiVersion: v1\nkind: Pod\nkind: Pod\n");
    assert_eq!(e.to_string(), "a.yaml:3:1: duplicate mapping key: kind");
    let e = err("b.yaml", "items: [1, 2\n");
    assert_eq!(e.to_string(), "b.yaml:1:8: unclosed bracket '['");
}

#[test]
fn unknown_kind_names_kind_and_version() {
    let e = err(
        "x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    );
    let text = e.to_string();
    assert!(
        text.starts_with("x.yaml:6:1: no matches for kind \"Widget\" in version \"example.com/v1\" (supported: v1/Namespace, v1/Node,"),
        "{text}"
    );
    // A kind we know under an apiVersion it no longer has.
    let e = err(
        "d.yaml",
        "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: d\n",
    );
    assert!(matches!(e, ManifestError::UnknownKind { ref kind, .. } if kind == "Deployment"));
    let e = err("m.yaml", "apiVersion: v1\nmetadata:\n  name: a\n");
    assert_eq!(
        e.to_string(),
        "m.yaml:1:1: Object 'kind' is missing or not a string"
    );
    let e = err("l.yaml", "- a\n- b\n");
    assert_eq!(
        e.to_string(),
        "l.yaml:1:1: expected an object (a mapping with apiVersion and kind), found a sequence"
    );
}

#[test]
fn wrong_field_type_points_at_the_field() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - containerPort: http
";
    let e = err("deploy.yaml", text);
    assert_eq!(
        e.to_string(),
        "deploy.yaml:18:26: spec.template.spec.containers[0].ports[0].containerPort: invalid type: string \"http\", expected i32"
    );
    let ManifestError::Decode { location, path, .. } = e else {
        panic!("decode error expected");
    };
    assert_eq!((location.line, location.column), (18, 26));
    assert_eq!(
        path,
        "spec.template.spec.containers[0].ports[0].containerPort"
    );

    let e = err(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n    targetPort: [8080]\n",
    );
    assert!(
        e.to_string()
            .starts_with("svc.yaml:8:17: spec.ports[0].targetPort: invalid type: sequence"),
        "{e}"
    );
}

#[test]
fn missing_and_invalid_names() {
    let e = err(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n",
    );
    assert_eq!(
        e.to_string(),
        "cm.yaml:1:1: ConfigMap: metadata.name: Required value: name or generateName is required"
    );
    let e = err(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: Web_1\n",
    );
    assert!(
        e.to_string().starts_with(
            "svc.yaml:1:1: Service: metadata.name: Invalid value: \"Web_1\": a DNS-1035 label must consist of"
        ),
        "{e}"
    );
    // generateName alone is enough.
    let m = load_str(
        "g.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: cfg-\n",
        &opts(),
    )
    .unwrap();
    assert_eq!(m.objects().count(), 1);
}

#[test]
fn duplicate_objects_name_both_places() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\n";
    let e = err("dup.yaml", text);
    assert_eq!(
        e.to_string(),
        "dup.yaml:6:1: ConfigMap default/a is already defined at dup.yaml:1:1"
    );
    // Same name in another namespace is another object.
    let ok = text.replace("namespace: default", "namespace: other");
    assert_eq!(
        load_str("ok.yaml", &ok, &opts()).unwrap().objects().count(),
        2
    );
}

#[test]
fn unknown_fields_strict_warn_ignore() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  contianers: []\n  containers:\n  - name: c\n    image: x\n    prots: []\n";
    let e = err("pod.yaml", text);
    assert_eq!(
        e.to_string(),
        "pod.yaml:6:3: Pod: strict decoding error: unknown field \"spec.contianers\"\npod.yaml:10:5: Pod: strict decoding error: unknown field \"spec.containers[0].prots\""
    );
    let warn = LoadOptions {
        field_validation: FieldValidation::Warn,
        ..LoadOptions::default()
    };
    let m = load_str("pod.yaml", text, &warn).unwrap();
    let warnings: Vec<String> = m.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        [
            "pod.yaml:6:3: warning: Pod: unknown field \"spec.contianers\"",
            "pod.yaml:10:5: warning: Pod: unknown field \"spec.containers[0].prots\""
        ]
    );
    let ignore = LoadOptions {
        field_validation: FieldValidation::Ignore,
        ..LoadOptions::default()
    };
    let m = load_str("pod.yaml", text, &ignore).unwrap();
    assert!(m.warnings.is_empty());
    assert_eq!(m.objects().count(), 1);
}

#[test]
fn component_config_unknown_field_is_rejected_with_its_position() {
    let e = err(
        "kubelet.yaml",
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nclusterDSN:\n- 10.96.0.10\n",
    );
    let text = e.to_string();
    assert!(
        text.starts_with(
            "kubelet.yaml:3:1: clusterDSN: unknown field `clusterDSN`, expected one of"
        ),
        "{text}"
    );
    let e = err(
        "proxy.yaml",
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ebpf\n",
    );
    assert!(
        e.to_string()
            .starts_with("proxy.yaml:3:7: mode: unknown variant `ebpf`, expected one of"),
        "{e}"
    );
    let e = err(
        "proxy.yaml",
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\niptables:\n  syncPeriod: soon\n",
    );
    assert!(
        e.to_string()
            .starts_with("proxy.yaml:4:15: iptables.syncPeriod: "),
        "{e}"
    );
}

#[test]
fn missing_files_are_io_errors() {
    let e = load_path(&fixture("nope.yaml"), &opts()).unwrap_err();
    assert!(matches!(e, ManifestError::Io { .. }));
    assert!(e.to_string().contains("nope.yaml"));
}
