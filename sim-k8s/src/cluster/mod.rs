//! A running cluster from manifests: the API store filled with the objects, the controllers
//! settled, and every node and pod plumbed into a sim-net [`Network`] the way a kubenet
//! cluster on a cloud plumbs them.
//!
//! What [`Cluster::build`] does, in order:
//! 1. Objects go into the [`Store`] as exported (`restore`: uids, status and timestamps kept);
//!    namespaces that objects use but the manifests do not declare are created (as
//!    `kubectl create namespace` would have been run). Without any Node, `default_nodes`
//!    nodes `node-1`… are created.
//! 2. Workloads: each Deployment gets its ReplicaSet and each ReplicaSet its pods; each
//!    StatefulSet its ordinal pods, each DaemonSet one pod per node ([`workloads`]).
//! 3. Node IPAM gives every node a `podCIDR` from `cluster_cidr` (pre-set ones are kept).
//! 4. The scheduler places pods without `nodeName` on the node with the fewest pods (ties in
//!    node creation order).
//! 5. The network: one switched segment (the VPC), a `cloud-router` namespace on it that
//!    routes each node's `podCIDR` to the node (the route controller's cloud routes, as on
//!    GCE), each node a namespace with `eth0` on the segment and a default route via the
//!    router. Node addresses come from `status.addresses` (InternalIP) or are handed out
//!    from `node_subnet` in node order.
//! 6. The kubelet on each node: a sandbox namespace per pod, then kubenet's CNI config
//!    (loopback + bridge `cbr0` + host-local on the node's `podCIDR`); an exported
//!    `status.podIP` is requested from host-local (the CNI `ips` capability) and must be
//!    granted. The pod's status
//!    becomes Running with its IPs, container statuses ready (probes are scripted later by
//!    scenarios) and the Ready condition computed with its readiness gates.
//! 7. The Endpoints and EndpointSlice controllers run until nothing changes.
//! 8. kube-proxy (iptables mode, unless `kube_proxy` is `None`) syncs each node's rules
//!    ([`kube_proxy`]), and with `policy_agent` the NetworkPolicy agent renders each node's
//!    policy chains and sets ([`crate::policy`]).
//!
//! With `dns` set, the DNS add-on and the `kubernetes` Service ([`dns_addon`]) are created
//! before the manifests' objects (as `kubeadm init` did), the apiserver's endpoint at the
//! first node after step 5, and once running, the DNS pods answer ([`dns_pods`]); a pod's
//! lookups through the dataplane are [`pod_lookup`].
//!
//! The network plugin is kubenet (default) or the reference CNI plugins ([`NetworkPlugin`]):
//! with the latter, `hostPort`s are published by `portmap` and the bridge's `ipMasq` chains
//! are loaded into the node's netfilter. Not yet: kubenet's own hostport manager (kubenet
//! pods' hostPorts are not published).

pub mod control;
pub mod dns_addon;
pub mod dns_pods;
pub mod kube_proxy;
pub mod node_lifecycle;
pub mod pod_lookup;
pub mod workloads;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use k8s_openapi::api::core::v1::{
    ContainerStatus, Namespace, Node, NodeAddress, NodeStatus, Pod, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sim_core::SimTime;
use sim_net::route::Route;
use sim_net::{DeviceId, LinkProps, NetNsId, Network, SegmentId, TopologyError};
use thiserror::Error;

use crate::cni::kubenet::{self, HairpinMode};
use crate::cni::node_state::NodeState;
use crate::cni::{CniError, RuntimeConf, add_network_list, parse_conf};
use crate::config::kube_proxy_configuration::KubeProxyConfiguration;
use crate::controller::endpoints;
use crate::controller::endpointslice::EndpointSliceController;
use crate::controller::node_ipam::{IpamError, NodeIpam, NodeIpamConfig};
use crate::controller::pod_readiness::refresh_readiness_conditions;
use crate::kubelet::{KubeletError, PodSandbox};
use crate::object::{Kind, Object, ObjectKey, Typed};
use crate::store::watch::Delivery;
use crate::store::{Store, StoreError};

/// The node network plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkPlugin {
    /// kubenet: `cbr0` + host-local from its generated config, kubelet's masquerade rule.
    Kubenet,
    /// A CNI conflist with the reference plugins: `bridge` (`cni0`, isGateway, ipMasq,
    /// hairpinMode) with host-local on the node's podCIDR, then `portmap` (hostPort, with
    /// `snat`).
    Bridge,
}

/// The conflist of [`NetworkPlugin::Bridge`] for a node's pod CIDR.
pub fn bridge_conflist(pod_cidr: &str, mtu: u32) -> String {
    format!(
        r#"{{
  "cniVersion": "1.0.0",
  "name": "k8s-pod-network",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "mtu": {mtu},
      "ipam": {{
        "type": "host-local",
        "ranges": [[{{ "subnet": "{pod_cidr}" }}]],
        "routes": [{{ "dst": "0.0.0.0/0" }}]
      }}
    }},
    {{
      "type": "portmap",
      "capabilities": {{ "portMappings": true }},
      "snat": true
    }}
  ]
}}
"#
    )
}

/// How the cluster is laid out where the manifests do not say.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// `--cluster-cidr` (kubeadm + flannel's conventional 10.244.0.0/16).
    pub cluster_cidr: Ipv4Net,
    /// `--node-cidr-mask-size` (24, upstream's IPv4 default).
    pub node_mask: u8,
    /// `--service-cluster-ip-range` (kubeadm's default 10.96.0.0/12).
    pub service_cidr: Ipv4Net,
    /// Nodes created when the manifests have none.
    pub default_nodes: usize,
    /// The network the nodes share; its first address is the cloud router.
    pub node_subnet: Ipv4Net,
    /// Node and pod MTU.
    pub mtu: u32,
    /// kubelet's `hairpinMode` (default `hairpin-veth`).
    pub hairpin: HairpinMode,
    /// Every node's link to the segment.
    pub link: LinkProps,
    /// kubenet's `--non-masquerade-cidr` (default 10.0.0.0/8): pod traffic to anywhere else
    /// is masqueraded to the node's address.
    pub non_masquerade_cidr: Ipv4Net,
    /// `--service-node-port-range` (default 30000-32767).
    pub node_port_range: (u16, u16),
    /// Which network plugin the kubelets run (default kubenet).
    pub plugin: NetworkPlugin,
    /// Hosts outside the cluster ("the internet"), behind the cloud router.
    pub external_hosts: Vec<ExternalHost>,
    /// The network the external hosts share with the cloud router (TEST-NET-3); its first
    /// address is the router's.
    pub external_subnet: Ipv4Net,
    /// kube-proxy's configuration on every node; `None` runs no kube-proxy.
    pub kube_proxy: Option<KubeProxyConfiguration>,
    /// A NetworkPolicy agent on every node (kube-router-style, [`crate::policy`]). Off by
    /// default: kubenet and the bridge plugin enforce no NetworkPolicy.
    pub policy_agent: bool,
    /// The cluster DNS add-on ([`dns_addon`]) with the `kubernetes` Service; `None` runs
    /// neither.
    pub dns: Option<dns_addon::ClusterDns>,
}

/// A host outside the cluster: a namespace on the external network, its default route via
/// the cloud router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalHost {
    pub name: String,
    /// Its address (the next free one of the external subnet from .10 when unset).
    pub ip: Option<Ipv4Addr>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            cluster_cidr: "10.244.0.0/16".parse().expect("literal"),
            node_mask: 24,
            service_cidr: "10.96.0.0/12".parse().expect("literal"),
            default_nodes: 3,
            node_subnet: "172.18.0.0/16".parse().expect("literal"),
            mtu: 1500,
            hairpin: HairpinMode::HairpinVeth,
            link: LinkProps::default(),
            non_masquerade_cidr: "10.0.0.0/8".parse().expect("literal"),
            node_port_range: (30000, 32767),
            plugin: NetworkPlugin::Kubenet,
            external_hosts: Vec::new(),
            external_subnet: "203.0.113.0/24".parse().expect("literal"),
            kube_proxy: Some(KubeProxyConfiguration {
                cluster_cidr: "10.244.0.0/16".into(),
                ..KubeProxyConfiguration::default()
            }),
            policy_agent: false,
            dns: None,
        }
    }
}

/// Why a cluster cannot be built from the manifests.
#[derive(Debug, Error)]
pub enum ClusterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("node IPAM: {0}")]
    Ipam(#[from] IpamError),
    #[error("node {node} has no podCIDR: {why}")]
    NoPodCidr { node: String, why: String },
    #[error("pod {pod}: CNI: {source}")]
    Cni { pod: String, source: Box<CniError> },
    #[error("pod {pod}: {source}")]
    Kubelet { pod: String, source: KubeletError },
    #[error("pod {pod}: status.podIP {exported} is not what the node can give it ({why})")]
    PodIp {
        pod: String,
        exported: String,
        why: String,
    },
    #[error("pod {pod} is bound to node {node}, which does not exist")]
    UnknownNode { pod: String, node: String },
    #[error("node {node}: address {addr} is outside the node subnet {subnet}")]
    NodeAddress {
        node: String,
        addr: Ipv4Addr,
        subnet: Ipv4Net,
    },
    #[error("the node subnet {0} has no room for another node")]
    NodeSubnetFull(Ipv4Net),
    #[error(
        "external host {host}: address {addr} is not a host address of the external subnet {subnet}"
    )]
    ExternalAddress {
        host: String,
        addr: Ipv4Addr,
        subnet: Ipv4Net,
    },
    #[error("the external subnet {0} has no room for another host")]
    ExternalSubnetFull(Ipv4Net),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error("service {service}: {why}")]
    ServiceAddress { service: String, why: String },
    #[error("node {node}: kubelet's or kubenet's rules: {why}")]
    Masquerade { node: String, why: String },
    #[error("node {node}: kube-proxy: {why}")]
    KubeProxy { node: String, why: String },
    #[error("NetworkPolicy agent: {0}")]
    PolicyAgent(String),
}

/// A node as the network sees it.
#[derive(Debug, Clone)]
pub struct NodeRuntime {
    pub netns: NetNsId,
    pub eth0: DeviceId,
    pub ip: Ipv4Addr,
    pub pod_cidr: Ipv4Net,
    pub cni: NodeState,
}

/// A running pod.
#[derive(Debug, Clone)]
pub struct PodRuntime {
    pub node: String,
    pub sandbox: PodSandbox,
    pub ip: Ipv4Addr,
}

/// The cluster: API objects and the network they run on.
#[derive(Debug)]
pub struct Cluster {
    pub config: ClusterConfig,
    pub store: Store,
    pub net: Network,
    pub segment: SegmentId,
    pub router: NetNsId,
    /// By node name.
    pub nodes: BTreeMap<String, NodeRuntime>,
    /// By `namespace/name`.
    pub pods: BTreeMap<String, PodRuntime>,
    /// External hosts by name: their namespace and address.
    pub externals: BTreeMap<String, (NetNsId, Ipv4Addr)>,
    /// kube-proxy per node (none when `config.kube_proxy` is `None`).
    pub kube_proxies: BTreeMap<String, kube_proxy::KubeProxy>,
}

const T0: SimTime = SimTime::ZERO;

/// How the plugins' and kubelet's rule changes are loaded (`iptables-restore --noflush`).
const NOFLUSH: sim_net::netfilter::RestoreOptions = sim_net::netfilter::RestoreOptions {
    noflush: true,
    counters: false,
};

fn pod_key(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or("default"),
        p.metadata.name.as_deref().unwrap_or_default()
    )
}

impl Cluster {
    /// Builds and settles the cluster described by `objects`.
    pub fn build<'a>(
        objects: impl IntoIterator<Item = &'a Object>,
        config: ClusterConfig,
    ) -> Result<Cluster, ClusterError> {
        let objects: Vec<&Object> = objects.into_iter().collect();
        let mut store = Store::new();
        // The add-on was installed before anything the manifests hold.
        let addon = match &config.dns {
            Some(dns) => {
                let ip = |n| {
                    nth_host(config.service_cidr, n)
                        .map(|ip| ip.to_string())
                        .ok_or_else(|| ClusterError::ServiceAddress {
                            service: "kube-system/kube-dns".into(),
                            why: format!("the service range {} is too small", config.service_cidr),
                        })
                };
                let keys: Vec<ObjectKey> = objects.iter().map(|o| o.key()).collect();
                let mut addon = dns.objects(&ip(1)?, &ip(10)?);
                addon.retain(|o| !keys.contains(&o.key()));
                addon
            }
            None => Vec::new(),
        };
        let all: Vec<&Object> = addon.iter().chain(objects.iter().copied()).collect();
        create_missing_namespaces(&mut store, &all)?;
        for o in &addon {
            store.create(T0, o.clone())?;
        }
        store.restore_all(T0, objects.iter().copied())?;
        if store.creation_order(Kind::Node).is_empty() {
            for i in 1..=config.default_nodes {
                let node = Node {
                    metadata: ObjectMeta {
                        name: Some(format!("node-{i}")),
                        labels: Some(
                            [("kubernetes.io/hostname".to_string(), format!("node-{i}"))]
                                .into_iter()
                                .collect(),
                        ),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                store.create(T0, Object::Node(node))?;
            }
        }
        run_workloads(&mut store)?;
        allocate_service_addresses(&mut store, &config)?;
        let ipam_config = NodeIpamConfig {
            service_cidrs: vec![IpNet::V4(config.service_cidr)],
            node_mask_ipv4: config.node_mask,
            ..NodeIpamConfig::new(IpNet::V4(config.cluster_cidr))
        };
        let mut ipam = NodeIpam::new(&ipam_config)?;
        let outcome = ipam.reconcile(&store);
        if let Some(e) = outcome.errors.into_iter().next() {
            return Err(e.into());
        }
        store.apply_changes(T0, outcome.changes)?;
        schedule(&mut store)?;

        let mut net = Network::new();
        let segment = net.add_segment("cluster-lan")?;
        let router_ip = nth_host(config.node_subnet, 1)
            .ok_or(ClusterError::NodeSubnetFull(config.node_subnet))?;
        let router = net.add_netns("cloud-router")?;
        net.sysctl(router, "net.ipv4.ip_forward", "1")
            .expect("known sysctl");
        let r_eth = net.add_nic(router, "eth0")?;
        net.add_addr(
            r_eth,
            &format!("{router_ip}/{}", config.node_subnet.prefix_len()),
        )?;
        net.set_up(r_eth);
        net.attach(r_eth, segment, config.link)?;

        let mut cluster = Cluster {
            config,
            store,
            net,
            segment,
            router,
            nodes: BTreeMap::new(),
            pods: BTreeMap::new(),
            externals: BTreeMap::new(),
            kube_proxies: BTreeMap::new(),
        };
        cluster.plumb_nodes(router_ip, r_eth)?;
        cluster.publish_apiserver_endpoints()?;
        cluster.plumb_externals()?;
        cluster.run_pods()?;
        cluster.settle_endpoints()?;
        cluster.start_kube_proxies(T0)?;
        if cluster.config.policy_agent {
            crate::policy::sync_cluster(&mut cluster)
                .map_err(|e| ClusterError::PolicyAgent(e.to_string()))?;
        }
        Ok(cluster)
    }

    fn plumb_nodes(&mut self, router_ip: Ipv4Addr, r_eth: DeviceId) -> Result<(), ClusterError> {
        let nodes: Vec<Node> = created(&self.store);
        let subnet = self.config.node_subnet;
        let mut next_host = 10u32;
        let taken: Vec<Ipv4Addr> = nodes.iter().filter_map(internal_ip).collect();
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let ip = match internal_ip(&node) {
                Some(ip) if subnet.contains(&ip) => ip,
                Some(addr) => {
                    return Err(ClusterError::NodeAddress {
                        node: name,
                        addr,
                        subnet,
                    });
                }
                None => loop {
                    let ip =
                        nth_host(subnet, next_host).ok_or(ClusterError::NodeSubnetFull(subnet))?;
                    next_host += 1;
                    if !taken.contains(&ip) {
                        break ip;
                    }
                },
            };
            let pod_cidr = node
                .spec
                .as_ref()
                .and_then(|s| s.pod_cidr.as_deref())
                .and_then(|c| c.parse::<Ipv4Net>().ok())
                .ok_or_else(|| ClusterError::NoPodCidr {
                    node: name.clone(),
                    why: "IPAM did not assign one".into(),
                })?;
            let ns = self.net.add_netns(&name)?;
            self.net
                .sysctl(ns, "net.ipv4.ip_forward", "1")
                .expect("known sysctl");
            let eth0 = self.net.add_nic(ns, "eth0")?;
            self.net.set_mtu(eth0, self.config.mtu)?;
            self.net
                .add_addr(eth0, &format!("{ip}/{}", subnet.prefix_len()))?;
            self.net.set_up(eth0);
            self.net.attach(eth0, self.segment, self.config.link)?;
            self.net.add_route(
                ns,
                Route::unicast("0.0.0.0/0".parse().expect("literal"), Some(router_ip), eth0),
            )?;
            // The cloud route for this node's pods.
            self.net
                .add_route(self.router, Route::unicast(pod_cidr, Some(ip), r_eth))?;
            self.set_node_status(&node, ip)?;
            self.net
                .netns_mut(ns)
                .netfilter
                .restore(crate::kubelet::iptables::KUBELET_RULES, NOFLUSH)
                .map_err(|e| ClusterError::Masquerade {
                    node: name.clone(),
                    why: e.to_string(),
                })?;
            // kubenet's `ensureMasqRule` (the bridge plugin's ipMasq writes its own, per pod).
            if self.config.plugin == NetworkPlugin::Kubenet {
                let rule = format!(
                    "*nat\n-A POSTROUTING ! -d {} -m comment --comment \"kubenet: SNAT for outbound traffic from cluster\" -m addrtype ! --dst-type LOCAL -j MASQUERADE\nCOMMIT\n",
                    self.config.non_masquerade_cidr
                );
                self.net
                    .netns_mut(ns)
                    .netfilter
                    .restore(&rule, NOFLUSH)
                    .map_err(|e| ClusterError::Masquerade {
                        node: name.clone(),
                        why: e.to_string(),
                    })?;
            }
            self.nodes.insert(
                name,
                NodeRuntime {
                    netns: ns,
                    eth0,
                    ip,
                    pod_cidr,
                    cni: NodeState::new(ns),
                },
            );
        }
        Ok(())
    }

    /// The external network: a segment behind the cloud router's `ext0`, each external host
    /// a namespace with `eth0` on it and a default route via the router.
    fn plumb_externals(&mut self) -> Result<(), ClusterError> {
        if self.config.external_hosts.is_empty() {
            return Ok(());
        }
        let subnet = self.config.external_subnet;
        let gw = nth_host(subnet, 1).ok_or(ClusterError::ExternalSubnetFull(subnet))?;
        let segment = self.net.add_segment("internet")?;
        let ext0 = self.net.add_nic(self.router, "ext0")?;
        self.net
            .add_addr(ext0, &format!("{gw}/{}", subnet.prefix_len()))?;
        self.net.set_up(ext0);
        self.net.attach(ext0, segment, self.config.link)?;
        // Pod addresses are private to the VPC: nothing from outside is routed to them (a
        // cloud's implied ingress firewall); node addresses are reachable (NodePorts).
        let firewall = format!(
            "*filter\n-A FORWARD -i ext0 -d {} -m comment --comment \"no route from the internet to pod addresses\" -j DROP\nCOMMIT\n",
            self.config.cluster_cidr
        );
        self.net
            .netns_mut(self.router)
            .netfilter
            .restore(&firewall, NOFLUSH)
            .map_err(|e| ClusterError::Masquerade {
                node: "cloud-router".into(),
                why: e.to_string(),
            })?;
        let taken: Vec<Ipv4Addr> = self
            .config
            .external_hosts
            .iter()
            .filter_map(|h| h.ip)
            .collect();
        let mut next = 10u32;
        for h in self.config.external_hosts.clone() {
            let ip = match h.ip {
                Some(ip) if subnet.contains(&ip) && ip != gw => ip,
                Some(addr) => {
                    return Err(ClusterError::ExternalAddress {
                        host: h.name,
                        addr,
                        subnet,
                    });
                }
                None => loop {
                    let ip =
                        nth_host(subnet, next).ok_or(ClusterError::ExternalSubnetFull(subnet))?;
                    next += 1;
                    if !taken.contains(&ip) {
                        break ip;
                    }
                },
            };
            let ns = self.net.add_netns(&h.name)?;
            let eth0 = self.net.add_nic(ns, "eth0")?;
            self.net
                .add_addr(eth0, &format!("{ip}/{}", subnet.prefix_len()))?;
            self.net.set_up(eth0);
            self.net.attach(eth0, segment, self.config.link)?;
            self.net.add_route(
                ns,
                Route::unicast("0.0.0.0/0".parse().expect("literal"), Some(gw), eth0),
            )?;
            self.externals.insert(h.name, (ns, ip));
        }
        Ok(())
    }

    /// The apiserver's endpoint reconciler: `kubernetes` Endpoints and EndpointSlice at the
    /// first node's address (when the DNS add-on models a kubeadm control plane).
    fn publish_apiserver_endpoints(&mut self) -> Result<(), ClusterError> {
        let Some(dns) = &self.config.dns else {
            return Ok(());
        };
        let first = self
            .store
            .creation_order(Kind::Node)
            .first()
            .map(|o| o.name().to_string());
        let Some(ip) = first.and_then(|n| self.nodes.get(&n)).map(|n| n.ip) else {
            return Ok(());
        };
        for o in dns.apiserver_endpoints(&ip.to_string()) {
            if self.store.get(&o.key()).is_none() {
                self.store.create(T0, o)?;
            }
        }
        Ok(())
    }

    /// Records the node's address and readiness, as the kubelet reports them.
    fn set_node_status(&mut self, node: &Node, ip: Ipv4Addr) -> Result<(), ClusterError> {
        let mut n = node.clone();
        let status = n.status.get_or_insert_with(NodeStatus::default);
        let addresses = status.addresses.get_or_insert_with(Vec::new);
        if !addresses.iter().any(|a| a.type_ == "InternalIP") {
            addresses.push(NodeAddress {
                address: ip.to_string(),
                type_: "InternalIP".into(),
            });
        }
        self.store.update(T0, Object::Node(n))?;
        Ok(())
    }

    fn run_pods(&mut self) -> Result<(), ClusterError> {
        let pods: Vec<Pod> = created(&self.store);
        for pod in pods {
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            self.run_pod(pod, T0)?;
        }
        Ok(())
    }

    /// The kubelet starting `pod` at `now`: sandbox, CNI, status. Returns the watch
    /// deliveries of the status write.
    fn run_pod(&mut self, mut pod: Pod, now: SimTime) -> Result<Vec<Delivery>, ClusterError> {
        let key = pod_key(&pod);
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let Some(node) = self.nodes.get_mut(&node_name) else {
            return Err(ClusterError::UnknownNode {
                pod: key,
                node: node_name,
            });
        };
        let sandbox = PodSandbox::create(&mut self.net, node.netns, &pod, 0).map_err(|source| {
            ClusterError::Kubelet {
                pod: key.clone(),
                source,
            }
        })?;
        let exported: Option<Ipv4Addr> = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse().ok());
        let ip = if sandbox.host_network {
            node.ip
        } else {
            let cni = |e: CniError| ClusterError::Cni {
                pod: key.clone(),
                source: Box::new(e),
            };
            let lo = parse_conf("/etc/cni/net.d/99-loopback.conf", kubenet::LOOPBACK_CONFIG)
                .map_err(cni)?;
            let cidr = node.pod_cidr.to_string();
            let mut conf = match self.config.plugin {
                NetworkPlugin::Kubenet => {
                    let text = kubenet::net_config(&cidr, self.config.mtu, self.config.hairpin)
                        .map_err(cni)?;
                    parse_conf("/etc/cni/net.d/10-kubenet.conf", &text).map_err(cni)?
                }
                NetworkPlugin::Bridge => crate::cni::parse_conflist(
                    "/etc/cni/net.d/10-bridge.conflist",
                    &bridge_conflist(&cidr, self.config.mtu),
                )
                .map_err(cni)?,
            };
            if exported.is_some() {
                // An exported pod keeps its address: asked for through the `ips` capability,
                // as a runtime restoring a sandbox would.
                for p in &mut conf.plugins {
                    p.capabilities.insert("ips".into(), true);
                }
            }
            let mut rt = RuntimeConf::new(&sandbox.id, sandbox.netns, &sandbox.netns_path, "eth0");
            if let Some(spec) = pod.spec.as_ref() {
                rt.port_mappings = crate::cni::portmap::port_mappings_for_pod(spec).map_err(cni)?;
            }
            add_network_list(
                &mut self.net,
                &mut node.cni,
                &lo,
                &RuntimeConf::new(&sandbox.id, sandbox.netns, &sandbox.netns_path, "lo"),
            )
            .map_err(cni)?;
            if let Some(want) = exported {
                if !node.pod_cidr.contains(&want) {
                    return Err(ClusterError::PodIp {
                        pod: key,
                        exported: want.to_string(),
                        why: format!("outside node {node_name}'s podCIDR {}", node.pod_cidr),
                    });
                }
                rt.ips = vec![IpAddr::V4(want)];
            }
            let out = add_network_list(&mut self.net, &mut node.cni, &conf, &rt).map_err(|e| {
                match exported {
                    Some(want) => ClusterError::PodIp {
                        pod: key.clone(),
                        exported: want.to_string(),
                        why: e.to_string(),
                    },
                    None => cni(e),
                }
            })?;
            // The plugins' rules (ipMasq, portmap) go into the node's netfilter.
            if !out.iptables_restore.is_empty() {
                self.net
                    .netns_mut(node.netns)
                    .netfilter
                    .restore(&out.iptables_restore, NOFLUSH)
                    .map_err(|e| ClusterError::Cni {
                        pod: key.clone(),
                        source: Box::new(CniError::Unsupported(format!(
                            "loading the plugins' rules: {e}"
                        ))),
                    })?;
            }
            out.result
                .container_ipv4("eth0")
                .map(|n| n.addr())
                .ok_or_else(|| ClusterError::Cni {
                    pod: key.clone(),
                    source: Box::new(CniError::Unsupported(
                        "kubenet returned no IPv4 address".into(),
                    )),
                })?
        };
        let host_ip = node.ip;
        let sim_now = now;
        let now = self.store.time_at(sim_now);
        let status = pod.status.get_or_insert_with(PodStatus::default);
        status.phase = Some("Running".into());
        status.pod_ip = Some(ip.to_string());
        status.pod_ips = Some(vec![PodIP { ip: ip.to_string() }]);
        status.host_ip = Some(host_ip.to_string());
        if status.start_time.is_none() {
            status.start_time = Some(now.clone());
        }
        let containers = pod
            .spec
            .as_ref()
            .map(|s| s.containers.clone())
            .unwrap_or_default();
        let statuses = status.container_statuses.get_or_insert_with(Vec::new);
        for c in &containers {
            if !statuses.iter().any(|s| s.name == c.name) {
                statuses.push(ContainerStatus {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    image_id: String::new(),
                    ready: true,
                    restart_count: 0,
                    started: Some(true),
                    ..Default::default()
                });
            }
        }
        refresh_readiness_conditions(&mut pod, &now);
        let outcome = self.store.update(sim_now, Object::Pod(pod))?;
        self.pods.insert(
            key,
            PodRuntime {
                node: node_name,
                sandbox,
                ip,
            },
        );
        Ok(outcome.deliveries)
    }

    /// Runs the Endpoints and EndpointSlice controllers until they change nothing.
    pub fn settle_endpoints(&mut self) -> Result<(), ClusterError> {
        let slices = EndpointSliceController::default();
        for _ in 0..8 {
            let mut changes = endpoints::reconcile(&self.store);
            changes.extend(slices.reconcile(&self.store));
            if changes.is_empty() {
                break;
            }
            self.store.apply_changes(T0, changes)?;
        }
        Ok(())
    }

    /// The cloud router's address on the node network: the nodes' gateway and resolver.
    pub fn router_ip(&self) -> Ipv4Addr {
        nth_host(self.config.node_subnet, 1).unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// The pod's namespace in the network (`namespace/name`).
    pub fn pod_netns(&self, key: &str) -> Option<NetNsId> {
        self.pods.get(key).map(|p| p.sandbox.netns)
    }
}

/// The `n`-th address of `net` (0 is the network address itself).
fn nth_host(net: Ipv4Net, n: u32) -> Option<Ipv4Addr> {
    let base = u32::from(net.network());
    let ip = Ipv4Addr::from(base.checked_add(n)?);
    (net.contains(&ip) && ip != net.broadcast()).then_some(ip)
}

/// The node's first InternalIP address (`status.addresses`), if it is IPv4.
pub(crate) fn internal_ip(n: &Node) -> Option<Ipv4Addr> {
    n.status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .find(|a| a.type_ == "InternalIP")?
        .address
        .parse()
        .ok()
}

fn create_missing_namespaces(store: &mut Store, objects: &[&Object]) -> Result<(), ClusterError> {
    let declared: Vec<String> = objects
        .iter()
        .filter(|o| o.kind() == Kind::Namespace)
        .map(|o| o.name().to_string())
        .collect();
    let mut wanted: Vec<String> = objects
        .iter()
        .filter(|o| o.kind().namespaced())
        .map(|o| o.namespace().to_string())
        .filter(|ns| !ns.is_empty() && !declared.contains(ns))
        .collect();
    wanted.sort();
    wanted.dedup();
    for ns in wanted {
        if store
            .get(&ObjectKey::new(Kind::Namespace, "", &ns))
            .is_none()
        {
            let n = Namespace {
                metadata: ObjectMeta {
                    name: Some(ns),
                    ..Default::default()
                },
                ..Default::default()
            };
            store.create(T0, Object::Namespace(n))?;
        }
    }
    Ok(())
}

/// Deployments → ReplicaSets → pods, StatefulSet and DaemonSet pods, for those not already
/// in the store.
fn run_workloads(store: &mut Store) -> Result<(), ClusterError> {
    let nodes: Vec<String> = store
        .creation_order(Kind::Node)
        .into_iter()
        .map(|o| o.name().to_string())
        .collect();
    let mut owned: Vec<Pod> = Vec::new();
    for o in store.creation_order(Kind::StatefulSet) {
        if let Object::StatefulSet(ss) = o {
            let uid = ss.metadata.uid.clone().unwrap_or_default();
            owned.extend(
                workloads::stateful_pods(ss)
                    .into_iter()
                    .map(|p| with_owner_uid(p, &uid)),
            );
        }
    }
    for o in store.creation_order(Kind::DaemonSet) {
        if let Object::DaemonSet(ds) = o {
            let uid = ds.metadata.uid.clone().unwrap_or_default();
            owned.extend(
                workloads::daemon_pods(ds, &nodes)
                    .into_iter()
                    .map(|p| with_owner_uid(p, &uid)),
            );
        }
    }
    for pod in owned {
        create_missing(store, Object::Pod(pod))?;
    }
    let deployments: Vec<_> = store
        .creation_order(Kind::Deployment)
        .into_iter()
        .filter_map(|o| match o {
            Object::Deployment(d) => workloads::replica_set_for(d),
            _ => None,
        })
        .collect();
    for rs in deployments {
        create_missing(store, Object::ReplicaSet(rs))?;
    }
    let sets: Vec<k8s_openapi::api::apps::v1::ReplicaSet> = created(store);
    for rs in sets {
        // The owner reference carries the stored ReplicaSet's uid.
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        for pod in workloads::pods_for(&rs) {
            create_missing(store, Object::Pod(with_owner_uid(pod, &uid)))?;
        }
    }
    Ok(())
}

/// The stored objects of type `T`, in creation order.
fn created<T: Typed + Clone>(store: &Store) -> Vec<T> {
    store
        .creation_order(T::OBJECT_KIND)
        .into_iter()
        .filter_map(T::from_object)
        .cloned()
        .collect()
}

/// Creates `object` unless an object with its key is already stored.
fn create_missing(store: &mut Store, object: Object) -> Result<(), ClusterError> {
    if store.get(&object.key()).is_none() {
        store.create(T0, object)?;
    }
    Ok(())
}

/// The service IP and node port allocators (`pkg/registry/core/service/ipallocator`,
/// `portallocator`): Services without a `clusterIP` get the lowest free address of the
/// service range from offset 1 (upstream picks at random; the `kubernetes` Service's .1 and
/// kubeadm's DNS .10 are the usual exported ones), NodePort and LoadBalancer ports without a
/// `nodePort` the lowest free port of the range. Exported values are kept, and must be in
/// range and unique.
fn allocate_service_addresses(
    store: &mut Store,
    config: &ClusterConfig,
) -> Result<(), ClusterError> {
    use k8s_openapi::api::core::v1::Service;
    let services: Vec<Service> = created(store);
    let name_of = |s: &Service| {
        format!(
            "{}/{}",
            s.metadata.namespace.as_deref().unwrap_or("default"),
            s.metadata.name.as_deref().unwrap_or_default()
        )
    };
    let mut ips = std::collections::BTreeSet::new();
    let mut ports = std::collections::BTreeSet::new();
    for s in &services {
        let spec = s.spec.clone().unwrap_or_default();
        if let Some(ip) = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| *ip != "None" && !ip.is_empty())
        {
            let parsed: Ipv4Addr = ip.parse().map_err(|_| ClusterError::ServiceAddress {
                service: name_of(s),
                why: format!("clusterIP {ip:?} is not an IPv4 address"),
            })?;
            if !config.service_cidr.contains(&parsed) {
                return Err(ClusterError::ServiceAddress {
                    service: name_of(s),
                    why: format!(
                        "clusterIP {ip} is not in the service range {}",
                        config.service_cidr
                    ),
                });
            }
            if !ips.insert(parsed) {
                return Err(ClusterError::ServiceAddress {
                    service: name_of(s),
                    why: format!("clusterIP {ip} is already allocated"),
                });
            }
        }
        for p in spec.ports.iter().flatten() {
            if let Some(np) = p.node_port {
                let (lo, hi) = config.node_port_range;
                if !(i32::from(lo)..=i32::from(hi)).contains(&np) || !ports.insert(np) {
                    return Err(ClusterError::ServiceAddress {
                        service: name_of(s),
                        why: format!("nodePort {np} is outside {lo}-{hi} or already allocated"),
                    });
                }
            }
        }
    }
    for mut s in services {
        let service = name_of(&s);
        let spec = s.spec.get_or_insert_with(Default::default);
        let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
        let mut changed = false;
        if kind != "ExternalName" && spec.cluster_ip.as_deref().is_none_or(str::is_empty) {
            let ip = (1..)
                .map_while(|n| nth_host(config.service_cidr, n))
                .find(|ip| !ips.contains(ip))
                .ok_or_else(|| ClusterError::ServiceAddress {
                    service: service.clone(),
                    why: format!("the service range {} is full", config.service_cidr),
                })?;
            ips.insert(ip);
            spec.cluster_ip = Some(ip.to_string());
            spec.cluster_ips = Some(vec![ip.to_string()]);
            changed = true;
        }
        if kind == "NodePort" || kind == "LoadBalancer" {
            for p in spec.ports.iter_mut().flatten() {
                if p.node_port.is_none() {
                    let (lo, hi) = config.node_port_range;
                    let np = (i32::from(lo)..=i32::from(hi)).find(|n| !ports.contains(n));
                    let Some(np) = np else {
                        return Err(ClusterError::ServiceAddress {
                            service: service.clone(),
                            why: "the node port range is full".into(),
                        });
                    };
                    ports.insert(np);
                    p.node_port = Some(np);
                    changed = true;
                }
            }
        }
        if changed {
            store.update(T0, Object::Service(s))?;
        }
    }
    Ok(())
}

fn with_owner_uid(mut p: Pod, uid: &str) -> Pod {
    if let Some(o) = p
        .metadata
        .owner_references
        .as_mut()
        .and_then(|v| v.first_mut())
    {
        o.uid = uid.to_string();
    }
    p
}

/// The scheduler: unbound pods to the node with the fewest pods, ties in node order.
fn schedule(store: &mut Store) -> Result<(), ClusterError> {
    let nodes: Vec<String> = store
        .creation_order(Kind::Node)
        .into_iter()
        .map(|o| o.name().to_string())
        .collect();
    if nodes.is_empty() {
        return Ok(());
    }
    let mut load: BTreeMap<String, usize> = nodes.iter().map(|n| (n.clone(), 0)).collect();
    let pods: Vec<Pod> = created(store);
    for p in &pods {
        if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_ref())
            && let Some(c) = load.get_mut(n)
        {
            *c += 1;
        }
    }
    for mut p in pods {
        let bound = p.spec.as_ref().is_some_and(|s| s.node_name.is_some());
        if bound {
            continue;
        }
        let target = nodes
            .iter()
            .min_by_key(|n| load[*n])
            .expect("nodes is not empty")
            .clone();
        *load.get_mut(&target).expect("known node") += 1;
        p.spec.get_or_insert_with(Default::default).node_name = Some(target);
        store.update(T0, Object::Pod(p))?;
    }
    Ok(())
}
