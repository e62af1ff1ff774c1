//! `kube-netsim proxy render|trace`: kube-proxy alone on one node (DESIGN.md §6) — the rules
//! it would program for the given objects and configuration, and where a new connection goes
//! through them.
//!
//! Input is `-f` manifests as every subcommand takes them (files, directories, `-`). Objects
//! are taken as the API server stored them, exactly as kube-proxy receives them: nothing is
//! defaulted or allocated and no controller runs, so EndpointSlices are read as written (not
//! derived from Pods), a Service without a clusterIP is skipped and a NodePort or
//! LoadBalancer port without a nodePort gets no NodePort rules, each with a warning on
//! stderr. Only Services, EndpointSlices, Nodes and one `KubeProxyConfiguration` (defaults
//! when there is none) are read.
//!
//! The node kube-proxy runs on: the Node named by `--node`, else by the configuration's
//! `hostnameOverride`, else the only Node. Without any Node in the stream it runs as a node
//! whose Node object is missing, named `--node` (or `node-1`): no podCIDR, zone or address
//! comes from it. The node IP is the Node's first InternalIP (then ExternalIP); without one,
//! `proxy::config` takes the first `--local-ip`, else 127.0.0.1 as kube-proxy assumes when it
//! cannot find one. The node's interface addresses, which `nodePortAddresses` selects from and
//! `trace` treats as local, are 127.0.0.1 (lo comes first), the node IP, then the
//! `--local-ip`s; `trace` masquerades to the node IP.
//!
//! `render` prints `iptables-save` (mangle, nat and filter; the `# Generated`/`# Completed`
//! comments carry fixed text instead of a date) of an empty netfilter after one full
//! [`Proxier::sync`]: kube-proxy's canary chains, the jump rules from the built-in chains and
//! the sync's restore text. `trace` loads the same and traces as `kube-netsim trace` does.
//!
//! Only the iptables mode is modelled: a `--mode` (or, without `--mode`, a configured
//! `mode`) of ipvs, nftables, userspace or kernelspace is refused with exit 2.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use k8s_openapi::api::core::v1::{Node, Service};
use sim_core::SimTime;
use sim_k8s::Object;
use sim_k8s::config::{KubeProxyConfiguration, ProxyMode};
use sim_k8s::manifest::{Content, Location, ManifestWarning, Manifests};
use sim_k8s::proxy::config::{node_ip, proxier_config};
use sim_k8s::proxy::{Proxier, proxy_state};
use sim_net::netfilter::{Netfilter, SaveOptions};

use crate::cluster_cmd::load_files;
use crate::trace_cmd::{ConnectionArgs, trace_and_print};

/// The node name used when the manifests hold no Node and `--node` names none.
pub const DEFAULT_NODE_NAME: &str = "node-1";

/// Arguments of `kube-netsim proxy`.
#[derive(clap::Args, Debug)]
pub struct ProxyArgs {
    #[command(subcommand)]
    pub command: ProxyCommand,
}

/// `proxy render` and `proxy trace`.
#[derive(clap::Subcommand, Debug)]
pub enum ProxyCommand {
    /// Print the node's `iptables-save` after kube-proxy's first full sync.
    Render(ProxyNodeArgs),
    /// Render and load the node's rules, then trace a new connection through them as
    /// `kube-netsim trace` does.
    Trace(ProxyTraceArgs),
}

/// What kube-proxy runs with: the objects, the node and the mode.
#[derive(clap::Args, Debug)]
pub struct ProxyNodeArgs {
    /// The proxy mode (overrides the configuration's `mode`); only iptables is modelled.
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub mode: Option<ProxyMode>,
    /// Manifest files or directories (`*.yaml`, `*.yml`, `*.json`), or `-` for stdin;
    /// repeatable. Services, EndpointSlices, Nodes and a KubeProxyConfiguration are read.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The node kube-proxy runs on (default: the configuration's hostnameOverride, else the
    /// only Node; `node-1` when the manifests have no Node).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Another address of the node (repeatable); 127.0.0.1 and the Node's InternalIP are
    /// always local.
    #[arg(long = "local-ip", value_name = "IP")]
    pub local_ips: Vec<Ipv4Addr>,
}

/// Arguments of `kube-netsim proxy trace`.
#[derive(clap::Args, Debug)]
pub struct ProxyTraceArgs {
    #[command(flatten)]
    pub node: ProxyNodeArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `--mode` in the configuration's own vocabulary (`iptables`, `ipvs`, `nftables`, ...).
fn parse_mode(s: &str) -> Result<ProxyMode, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        format!("expected one of iptables, ipvs, nftables, userspace, kernelspace, not {s:?}")
    })
}

/// Runs `proxy render` or `proxy trace`; exit 2 on bad input.
pub fn run(args: ProxyArgs) -> ExitCode {
    let (node_args, connection) = match &args.command {
        ProxyCommand::Render(a) => (a, None),
        ProxyCommand::Trace(a) => (&a.node, Some(&a.connection)),
    };
    let mut node = match program_node(node_args) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match connection {
        None => {
            print!(
                "{}",
                node.netfilter.save_with(SaveOptions {
                    header: true,
                    ..SaveOptions::default()
                })
            );
            ExitCode::SUCCESS
        }
        Some(c) => {
            let local_ips = node.trace_local_ips();
            trace_and_print(&mut node.netfilter, c, &local_ips)
        }
    }
}

/// A node's netfilter after kube-proxy's first sync, and the node's addresses.
pub struct ProgrammedNode {
    pub netfilter: Netfilter,
    /// The node IP kube-proxy settled on.
    pub node_ip: Ipv4Addr,
    /// The node's interface addresses, 127.0.0.1 first.
    pub interface_ips: Vec<Ipv4Addr>,
}

impl ProgrammedNode {
    /// The node's addresses as the trace takes them: the first is the address of the
    /// interface a packet leaves by (what MASQUERADE picks), so the node IP leads; 127.0.0.1
    /// is always local to the trace.
    pub fn trace_local_ips(&self) -> Vec<Ipv4Addr> {
        let mut out = vec![self.node_ip];
        out.extend(
            self.interface_ips
                .iter()
                .filter(|ip| **ip != self.node_ip && !ip.is_loopback()),
        );
        out
    }
}

/// Loads the manifests, picks the node and configuration, and runs one full sync into an
/// empty netfilter; warnings go to stderr.
pub fn program_node(args: &ProxyNodeArgs) -> Result<ProgrammedNode, String> {
    let m = load_files(&args.files)?;
    for w in &m.warnings {
        eprintln!("{w}");
    }
    let cfg = kube_proxy_configuration(&m)?;
    let mode = args.mode.unwrap_or(cfg.mode).effective();
    if mode != ProxyMode::Iptables {
        let name = serde_json::to_value(mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let source = if args.mode.is_some() {
            "--mode"
        } else {
            "the KubeProxyConfiguration's mode"
        };
        return Err(format!(
            "proxy mode {name} ({source}) is not modelled yet; only iptables is"
        ));
    }
    let node = pick_node(&m, args.node.as_deref(), &cfg)?;
    let mut interface_ips = vec![Ipv4Addr::LOCALHOST];
    for ip in node_ip(&node)
        .into_iter()
        .chain(args.local_ips.iter().copied())
    {
        if !interface_ips.contains(&ip) {
            interface_ips.push(ip);
        }
    }
    let config = proxier_config(&cfg, &node, &interface_ips)
        .map_err(|e| format!("KubeProxyConfiguration: {e}"))?;
    if node_ip(&node).is_none() {
        eprintln!(
            "warning: node {} has no InternalIP or ExternalIP address; its node IP is taken to be {}",
            config.node_name, config.node_ip
        );
    }
    for w in service_warnings(&m) {
        eprintln!("{w}");
    }
    let services = m.objects().filter_map(|o| match o {
        Object::Service(s) => Some(s),
        _ => None,
    });
    let slices = m.objects().filter_map(|o| match o {
        Object::EndpointSlice(s) => Some(s),
        _ => None,
    });
    let (ports, endpoints) = proxy_state(services, slices, &config.node_name);
    let node_ip = config.node_ip;
    let mut netfilter = Netfilter::default();
    Proxier::new(config)
        .sync(SimTime::ZERO, ports, endpoints, &mut netfilter)
        .map_err(|e| format!("kube-proxy's rules did not load: {e}"))?;
    Ok(ProgrammedNode {
        netfilter,
        node_ip,
        interface_ips,
    })
}

/// The stream's `KubeProxyConfiguration` (kube-proxy reads one `--config` file), or the
/// defaults without one.
fn kube_proxy_configuration(m: &Manifests) -> Result<KubeProxyConfiguration, String> {
    let found: Vec<(&Location, &KubeProxyConfiguration)> = m
        .documents
        .iter()
        .filter_map(|d| match &d.content {
            Content::KubeProxyConfiguration(c) => Some((&d.location, c.as_ref())),
            _ => None,
        })
        .collect();
    match found.as_slice() {
        [] => Ok(KubeProxyConfiguration::default()),
        [(_, c)] => Ok((*c).clone()),
        several => Err(format!(
            "{} KubeProxyConfigurations ({}): kube-proxy reads one",
            several.len(),
            several
                .iter()
                .map(|(l, _)| l.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The Node kube-proxy runs on (see the module docs).
fn pick_node(
    m: &Manifests,
    wanted: Option<&str>,
    cfg: &KubeProxyConfiguration,
) -> Result<Node, String> {
    let nodes: Vec<&Node> = m
        .objects()
        .filter_map(|o| match o {
            Object::Node(n) => Some(n),
            _ => None,
        })
        .collect();
    let name_of = |n: &Node| n.metadata.name.clone().unwrap_or_default();
    let override_name =
        (!cfg.hostname_override.is_empty()).then(|| cfg.hostname_override.to_lowercase());
    let wanted = wanted.map(str::to_string).or(override_name);
    if nodes.is_empty() {
        let mut node = Node::default();
        node.metadata.name = Some(wanted.unwrap_or_else(|| DEFAULT_NODE_NAME.to_string()));
        return Ok(node);
    }
    let mut names: Vec<String> = nodes.iter().map(|n| name_of(n)).collect();
    names.sort();
    match wanted {
        Some(w) => nodes
            .iter()
            .find(|n| name_of(n) == w)
            .map(|n| (*n).clone())
            .ok_or_else(|| {
                format!(
                    "node {w:?} not found; the manifests have {}",
                    names.join(", ")
                )
            }),
        None if nodes.len() == 1 => Ok(nodes[0].clone()),
        None => Err(format!(
            "{} Nodes ({}): pick one with --node",
            nodes.len(),
            names.join(", ")
        )),
    }
}

/// What kube-proxy will not program because the API server would have filled it in.
fn service_warnings(m: &Manifests) -> Vec<ManifestWarning> {
    let mut out = Vec::new();
    for d in &m.documents {
        let Content::Object(Object::Service(svc)) = &d.content else {
            continue;
        };
        let mut warn = |message: String| {
            out.push(ManifestWarning {
                location: d.location.clone(),
                message,
            })
        };
        let name = service_name(svc);
        let Some(spec) = svc.spec.as_ref() else {
            warn(format!("Service {name} has no spec: kube-proxy skips it"));
            continue;
        };
        let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
        if type_ == "ExternalName" {
            continue;
        }
        match spec.cluster_ip.as_deref() {
            Some("None") => continue,
            None | Some("") => {
                warn(format!(
                    "Service {name} has no clusterIP (the API server allocates one; objects are \
                     taken as stored): kube-proxy skips it"
                ));
                continue;
            }
            Some(ip) if ip.parse::<Ipv4Addr>().is_err() => {
                warn(format!(
                    "Service {name}: clusterIP {ip:?} is not an IPv4 address (only IPv4 is \
                     modelled): kube-proxy skips it"
                ));
                continue;
            }
            Some(_) => {}
        }
        let node_ports = type_ == "NodePort"
            || (type_ == "LoadBalancer" && spec.allocate_load_balancer_node_ports != Some(false));
        if node_ports {
            for p in spec.ports.iter().flatten() {
                if p.node_port.is_none() {
                    let port = p.port;
                    warn(format!(
                        "Service {name} ({type_}): port {port} has no nodePort (the API server \
                         allocates one; objects are taken as stored): no NodePort rules for it"
                    ));
                }
            }
        }
    }
    out
}

fn service_name(svc: &Service) -> String {
    format!(
        "{}/{}",
        svc.metadata.namespace.as_deref().unwrap_or("default"),
        svc.metadata.name.as_deref().unwrap_or_default()
    )
}
