//! Scenario tests: pods plumbed by the bridge plugin with host-local IPAM into a sim-net
//! network, then checked by walking real packets through it.

use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sim_core::SimTime;
use sim_k8s::cni::kubenet::{self, HairpinMode};
use sim_k8s::cni::portmap::port_mappings_for_pod;
use sim_k8s::cni::{
    CniError, NetworkConfigList, NodeState, RuntimeConf, add_network_list, del_network_list,
    parse_conf, parse_conflist,
};
use sim_k8s::kubelet::PodSandbox;
use sim_net::dump::ip_route;
use sim_net::route::TableId;
use sim_net::topology::ping;
use sim_net::{NetNsId, Network, Verdict};

const CONFLIST: &str = r#"{
  "cniVersion": "1.0.0",
  "name": "podnet",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.1.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}"#;

fn pod(name: &str, host_port: Option<i32>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                ports: Some(vec![ContainerPort {
                    container_port: 80,
                    host_port,
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct Node {
    net: Network,
    state: NodeState,
    list: NetworkConfigList,
}

impl Node {
    fn new(list: NetworkConfigList) -> Node {
        let mut net = Network::new();
        let node = net.add_netns("node-1").unwrap();
        Node {
            net,
            state: NodeState::new(node),
            list,
        }
    }

    /// Sandbox + CNI ADD, as kubelet and the runtime do for a new pod.
    fn run_pod(&mut self, p: &Pod) -> (PodSandbox, RuntimeConf, sim_k8s::cni::AddOutcome) {
        let sb = PodSandbox::create(&mut self.net, self.state.node, p, 0).unwrap();
        let mut rt = RuntimeConf::new(&sb.id, sb.netns, &sb.netns_path, "eth0");
        rt.port_mappings = port_mappings_for_pod(p.spec.as_ref().unwrap()).unwrap();
        let out = add_network_list(&mut self.net, &mut self.state, &self.list, &rt).unwrap();
        (sb, rt, out)
    }

    fn ping(&mut self, from: NetNsId, src: &str, dst: &str) -> (Option<Verdict>, Vec<String>) {
        let w = self
            .net
            .walk_output(SimTime::ZERO, from, ping(src, dst, 8, false));
        let replies = w
            .delivered
            .iter()
            .filter(|d| d.ns == from)
            .map(|d| sim_net::packet::describe_ipv4(&d.packet))
            .collect();
        (w.fate(), replies)
    }
}

#[test]
fn two_pods_on_one_node_ping_each_other_and_the_gateway() {
    let mut n = Node::new(parse_conflist("10-podnet.conflist", CONFLIST).unwrap());
    let (a, _, out_a) = n.run_pod(&pod("a", Some(8080)));
    let (b, _, out_b) = n.run_pod(&pod("b", None));

    // host-local hands out .2 then .3; the bridge got the gateway .1/24.
    let addr = |o: &sim_k8s::cni::AddOutcome| o.result.ips[0].address.to_string();
    assert_eq!(
        (addr(&out_a), addr(&out_b)),
        ("10.244.1.2/24".into(), "10.244.1.3/24".into())
    );
    let br = n.net.device_id(n.state.node, "cni0").unwrap();
    assert_eq!(n.net.device(br).addrs[0].net.to_string(), "10.244.1.1/24");
    assert!(n.net.netns(n.state.node).sysctl.ip_forward);
    let host_veth = n
        .net
        .device_id(n.state.node, &out_a.result.interfaces[1].name)
        .unwrap();
    assert!(n.net.device(host_veth).hairpin);
    assert_eq!(n.net.device(host_veth).master, Some(br));
    assert_eq!(
        ip_route(&n.net, a.netns, TableId::Main),
        "default via 10.244.1.1 dev eth0\n\
         10.244.1.0/24 dev eth0 proto kernel scope link src 10.244.1.2\n"
    );

    // The CNI result as the plugin prints it.
    insta::assert_snapshot!("pod_a_result", out_a.result.to_json());

    // a -> b across the bridge, and a -> the gateway on cni0.
    let (fate, replies) = n.ping(a.netns, "10.244.1.2", "10.244.1.3");
    assert_eq!(fate, Some(Verdict::Consume), "b's kernel answers the echo");
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].starts_with("10.244.1.3 > 10.244.1.2: ICMP echo reply"),
        "{}",
        replies[0]
    );
    let (fate, replies) = n.ping(b.netns, "10.244.1.3", "10.244.1.1");
    assert_eq!(fate, Some(Verdict::Consume));
    assert!(
        replies[0].starts_with("10.244.1.1 > 10.244.1.3: ICMP echo reply"),
        "{}",
        replies[0]
    );
    // Containers of one pod share the sandbox, so localhost is the pod's own.
    assert_eq!(a.container_netns("app"), Ok(a.netns));
    let (fate, _) = n.ping(a.netns, "127.0.0.1", "127.0.0.1");
    assert_eq!(fate, Some(Verdict::Consume));

    // ipMasq and portmap as iptables-restore text.
    let chain_a = sim_k8s::cni::chain_name::format_chain_name("podnet", &a.id);
    let dn_a = sim_k8s::cni::portmap::dnat_chain_name("podnet", &a.id);
    let c = format!("\"name: \\\"podnet\\\" id: \\\"{}\\\"\"", a.id);
    let d = format!("\"dnat name: \\\"podnet\\\" id: \\\"{}\\\"\"", a.id);
    assert_eq!(
        out_a.iptables_restore,
        format!(
            "*nat\n\
             :{chain_a} - [0:0]\n\
             :CNI-HOSTPORT-SETMARK - [0:0]\n\
             :CNI-HOSTPORT-MASQ - [0:0]\n\
             :CNI-HOSTPORT-DNAT - [0:0]\n\
             :{dn_a} - [0:0]\n\
             -A {chain_a} -d 10.244.1.0/24 -m comment --comment {c} -j ACCEPT\n\
             -A {chain_a} ! -d 224.0.0.0/4 -m comment --comment {c} -j MASQUERADE\n\
             -A POSTROUTING -s 10.244.1.2/32 -m comment --comment {c} -j {chain_a}\n\
             -A CNI-HOSTPORT-SETMARK -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark 0x2000/0x2000\n\
             -A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE\n\
             -I POSTROUTING 1 -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ\n\
             -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT\n\
             -A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT\n\
             -A {dn_a} -s 10.244.1.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK\n\
             -A {dn_a} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK\n\
             -A {dn_a} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.1.2:80\n\
             -I CNI-HOSTPORT-DNAT 1 -p tcp -m comment --comment {d} -m multiport --dports 8080 -j {dn_a}\n\
             COMMIT\n"
        )
    );
    // b has no host port: only its masquerade chain.
    assert!(
        !out_b.iptables_restore.contains("HOSTPORT"),
        "{}",
        out_b.iptables_restore
    );
    insta::assert_snapshot!("nat_after_two_pods", n.state.nat.save());
}

#[test]
fn delete_releases_and_the_next_pod_gets_the_next_address() {
    let mut n = Node::new(parse_conflist("10-podnet.conflist", CONFLIST).unwrap());
    let (a, rt_a, _) = n.run_pod(&pod("a", Some(8080)));
    let teardown = del_network_list(&mut n.net, &mut n.state, &n.list.clone(), &rt_a).unwrap();
    let chain_a = sim_k8s::cni::chain_name::format_chain_name("podnet", &a.id);
    let dn_a = sim_k8s::cni::portmap::dnat_chain_name("podnet", &a.id);
    assert!(
        teardown.starts_with(&format!("*nat\n-F {dn_a}\n")),
        "{teardown}"
    );
    assert!(
        teardown.ends_with(&format!("-F {chain_a}\n-X {chain_a}\nCOMMIT\n")),
        "{teardown}"
    );
    assert!(n.state.ipam["podnet"].reservations().next().is_none());
    // The pod's interface is down and its routes are gone.
    let eth0 = n.net.device_id(a.netns, "eth0").unwrap();
    assert!(!n.net.device(eth0).up);
    assert_eq!(ip_route(&n.net, a.netns, TableId::Main), "");

    // Round robin: .2 is free again, but the next pod gets .3.
    let (_, _, out_b) = n.run_pod(&pod("b", None));
    assert_eq!(out_b.result.ips[0].address.to_string(), "10.244.1.3/24");
    // Shared portmap chains survive a pod's teardown.
    assert!(n.state.nat.chain_exists("CNI-HOSTPORT-DNAT"));
}

#[test]
fn kubenet_config_plumbs_cbr0() {
    let text = kubenet::net_config("10.244.2.0/24", 1500, HairpinMode::HairpinVeth).unwrap();
    let mut n = Node::new(parse_conf("kubenet", &text).unwrap());
    let lo = parse_conf("kubenet-loopback", kubenet::LOOPBACK_CONFIG).unwrap();
    let (a, _, out_a) = n.run_pod(&pod("a", None));
    let (b, _, _) = n.run_pod(&pod("b", None));
    let rt = RuntimeConf::new(&a.id, a.netns, &a.netns_path, "lo");
    let lo_out = add_network_list(&mut n.net, &mut n.state, &lo, &rt).unwrap();
    assert_eq!(lo_out.result.ips[0].address.to_string(), "127.0.0.1/8");
    assert_eq!(out_a.result.interfaces[0].name, "cbr0");
    assert_eq!(
        out_a.result.ips[0].gateway.unwrap().to_string(),
        "10.244.2.1"
    );
    assert_eq!(
        out_a.iptables_restore, "",
        "kubenet's bridge has ipMasq off"
    );
    let (fate, replies) = n.ping(a.netns, "10.244.2.2", "10.244.2.3");
    assert_eq!(fate, Some(Verdict::Consume));
    assert_eq!(replies.len(), 1);
    let (fate, _) = n.ping(b.netns, "10.244.2.3", "10.244.2.1");
    assert_eq!(fate, Some(Verdict::Consume));
}

#[test]
fn runtime_errors_name_network_and_plugin() {
    // A node device already called cni0 that is not a bridge.
    let mut n = Node::new(parse_conflist("10-podnet.conflist", CONFLIST).unwrap());
    n.net.add_dummy(n.state.node, "cni0").unwrap();
    let sb = PodSandbox::create(&mut n.net, n.state.node, &pod("a", None), 0).unwrap();
    let rt = RuntimeConf::new(&sb.id, sb.netns, &sb.netns_path, "eth0");
    let e = add_network_list(&mut n.net, &mut n.state, &n.list.clone(), &rt).unwrap_err();
    assert_eq!(
        e.to_string(),
        "network \"podnet\", plugin bridge: \"cni0\" already exists but is not a bridge"
    );

    // Exhaustion: a /30 has one address besides the gateway.
    let small = CONFLIST.replace("10.244.1.0/24", "10.244.1.0/30");
    let mut n = Node::new(parse_conflist("small.conflist", &small).unwrap());
    n.run_pod(&pod("a", None));
    let sb = PodSandbox::create(&mut n.net, n.state.node, &pod("b", None), 0).unwrap();
    let rt = RuntimeConf::new(&sb.id, sb.netns, &sb.netns_path, "eth0");
    let e = add_network_list(&mut n.net, &mut n.state, &n.list.clone(), &rt).unwrap_err();
    assert_eq!(
        e.to_string(),
        "network \"podnet\", plugin bridge: failed to allocate for range 0: \
         no IP addresses available in range set: 10.244.1.1-10.244.1.2"
    );

    // portmap first in a list has no previous result.
    let bad = r#"{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"portmap"}]}"#;
    let mut n = Node::new(parse_conflist("bad.conflist", bad).unwrap());
    let sb = PodSandbox::create(&mut n.net, n.state.node, &pod("a", None), 0).unwrap();
    let rt = RuntimeConf::new(&sb.id, sb.netns, &sb.netns_path, "eth0");
    assert!(matches!(
        add_network_list(&mut n.net, &mut n.state, &n.list.clone(), &rt),
        Err(CniError::Plugin {
            plugin: "portmap",
            ..
        })
    ));
}

#[test]
fn same_inputs_same_network() {
    let build = || {
        let mut n = Node::new(parse_conflist("10-podnet.conflist", CONFLIST).unwrap());
        let outs: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|p| n.run_pod(&pod(p, Some(9000))).2.result.to_json())
            .collect();
        (
            outs,
            n.state.nat.save(),
            sim_net::dump::all(&n.net, n.state.node, SimTime::ZERO),
        )
    };
    assert_eq!(build(), build());
}
