//! kube-proxy in a running kubenet cluster: a pod's connections to a ClusterIP reach the
//! Service's ready endpoints across nodes, DNATed by its node's rules, and the backend sees
//! the client pod's own address (no masquerade for pod-to-Service traffic).

use std::collections::BTreeSet;
use std::path::Path;

use sim_core::{SimDuration, SimTime};
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::manifest::{LoadOptions, load_path};
use sim_net::socket::http::Response;
use sim_net::socket::{ClientSpec, Outcome, Request, ServerSpec, Service};
use sim_net::{NetSim, SocketProto};

fn cluster() -> Cluster {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubenet/web.yaml");
    let m = load_path(&path, &LoadOptions::default()).unwrap();
    Cluster::build(m.objects(), ClusterConfig::default()).unwrap()
}

#[test]
fn cluster_ip_connections_land_on_ready_endpoints_with_the_client_address_kept() {
    let c = cluster();
    // Every node programmed the Service at build time.
    for (node, kp) in &c.kube_proxies {
        assert_eq!(kp.syncs.len(), 1, "{node}");
        assert!(kp.syncs[0].full);
        let save = c.net.netns(c.nodes[node].netns).netfilter.ruleset.save();
        assert!(
            save.contains("-A KUBE-SERVICES -d 10.96.0.80/32 -p tcp -m comment --comment \"shop/web:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-"),
            "{save}"
        );
    }
    let client = c.pods["shop/gated"].clone();
    let web: Vec<(String, sim_net::NetNsId)> = c
        .pods
        .iter()
        .filter(|(k, _)| k.starts_with("shop/web-"))
        .map(|(k, p)| (k.split('/').nth(1).unwrap().to_string(), p.sandbox.netns))
        .collect();
    let mut sim = NetSim::new(c.net, 3);
    for (hostname, ns) in &web {
        sim.serve(
            *ns,
            ServerSpec {
                proto: SocketProto::Tcp,
                port: 8080,
                service: Service::NetExec {
                    hostname: hostname.clone(),
                },
            },
        )
        .unwrap();
    }
    let get = |path: &str| ClientSpec {
        proto: SocketProto::Tcp,
        dst: "10.96.0.80:80".parse().unwrap(),
        request: Request::HttpGet { path: path.into() },
        timeout: SimDuration::from_secs(5),
    };
    let mut events = Vec::new();
    for i in 0..30u64 {
        let path = if i % 2 == 0 { "/hostname" } else { "/clientip" };
        events.push(sim.request(
            SimTime::from_nanos(i * 20_000_000),
            client.sandbox.netns,
            get(path),
        ));
    }
    let mut e = sim.into_engine(3, events).with_budget(2_000_000);
    e.run_to_quiescence().unwrap();
    let (world, _) = e.into_parts();
    let mut results: Vec<_> = world.results().into_iter().cloned().collect();
    results.sort_by_key(|r| r.id);
    assert_eq!(results.len(), 30);
    let names: BTreeSet<String> = web.iter().map(|(n, _)| n.clone()).collect();
    let mut served = BTreeSet::new();
    for (i, r) in results.iter().enumerate() {
        let Outcome::Http(Response { status: 200, body }) = &r.outcome else {
            panic!("request {i}: {}", r.outcome);
        };
        if i % 2 == 0 {
            assert!(names.contains(body), "{body} is not a ready web pod");
            served.insert(body.clone());
        } else {
            assert_eq!(
                body,
                &r.local.to_string(),
                "the backend sees the client pod"
            );
            assert_eq!(r.local.ip(), &client.ip);
        }
    }
    assert!(
        served.len() >= 2,
        "load-balanced over endpoints: {served:?}"
    );
}
