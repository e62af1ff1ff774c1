//! From manifests to an answer in a pod: the API store, the DNS view, the kubeadm CoreDNS
//! server, the pod's resolv.conf as kubelet writes it, and glibc's search list — a
//! StatefulSet-style headless Service whose pods are reached by `hostname.subdomain`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::rr::RecordType;
use k8s_openapi::api::core::v1::Pod;
use sim_core::SimTime;
use sim_k8s::Store;
use sim_k8s::dns::flavour::Flavour;
use sim_k8s::dns::resolver::{Lookup, LookupResult, ResolverConf, Step};
use sim_k8s::dns::{DnsServer, DnsView, Outcome};
use sim_k8s::kubelet::dns::Configurer;
use sim_k8s::manifest::{LoadOptions, load_str};

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: None, ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-x1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
- addresses: [10.244.1.10]
  hostname: web-0
  conditions: {ready: true}
- addresses: [10.244.2.11]
  hostname: web-1
  conditions: {ready: true}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {containers: [{name: c, image: busybox}]}
status: {podIP: 10.244.1.5}
"#;

fn cluster() -> (DnsView, DnsServer, String) {
    let manifests = load_str("t.yaml", MANIFESTS, &LoadOptions::default()).unwrap();
    let mut store = Store::new();
    let mut client = None;
    for o in manifests.objects() {
        let stored = store.create(SimTime::ZERO, o.clone()).unwrap().object;
        if let Some(pod) = <Pod as sim_k8s::Typed>::from_object(&stored) {
            client = Some(pod.clone());
        }
    }
    let view = DnsView::from_store(&store);
    let files = BTreeMap::from([("/etc/resolv.conf".into(), "nameserver 192.168.0.2\n".into())]);
    let server = Flavour::CoreDns.server("cluster.local", &files).unwrap();
    let kubelet = Configurer {
        cluster_dns: vec!["10.96.0.10".parse().unwrap()],
        cluster_domain: "cluster.local".into(),
        resolver_config: Some("nameserver 192.168.0.2\n".into()),
        node_ips: Vec::new(),
    };
    let (resolv_conf, _) = kubelet.pod_resolv_conf(&client.unwrap()).unwrap();
    (view, server, resolv_conf)
}

fn lookup(name: &str) -> (Vec<IpAddr>, Vec<String>) {
    let (view, mut server, resolv_conf) = cluster();
    let conf = ResolverConf::parse(&resolv_conf);
    let (mut l, mut step) = Lookup::start(&conf, "", name, RecordType::A, 1, 0);
    loop {
        match step {
            Step::Send(q) => {
                assert_eq!(
                    q.server,
                    "10.96.0.10:53".parse().unwrap(),
                    "ClusterFirst: the kube-dns Service"
                );
                let Outcome::Reply(b) =
                    server.handle(SimTime::ZERO, &view, q.transport, &q.message)
                else {
                    panic!("cluster names are answered in the cluster")
                };
                step = l.on_reply(&b);
            }
            Step::Done(result) => {
                let names = l.sent().iter().map(|q| q.name.to_string()).collect();
                let ips = match result {
                    LookupResult::Answer { reply, .. } => reply
                        .answers
                        .iter()
                        .filter_map(|r| match &r.data {
                            hickory_proto::rr::RData::A(a) => Some(IpAddr::V4(a.0)),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                return (ips, names);
            }
        }
    }
}

#[test]
fn statefulset_pod_by_hostname_subdomain() {
    let (ips, names) = lookup("web-0.web");
    assert_eq!(ips, ["10.244.1.10".parse::<IpAddr>().unwrap()]);
    assert_eq!(names, ["web-0.web.default.svc.cluster.local."]);
    let (ips, _) = lookup("web");
    assert_eq!(ips.len(), 2);
}
