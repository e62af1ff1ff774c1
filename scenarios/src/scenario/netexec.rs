//! The agnhost convention: every running pod with a container whose `args` or `command`
//! mention `netexec`, or which declares `containerPort: 8080`, runs agnhost `netexec` — HTTP
//! on 8080/TCP and its UDP protocol on 8081/UDP (or the ports its `--http-port` and
//! `--udp-port` arguments give), hostname the pod name. Shared by the scenario runner and
//! `kube-netsim replay`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use sim_core::SimTime;
use sim_k8s::cluster::control::ClusterSim;
use sim_net::socket::{ServerSpec, Service};
use sim_net::{NetNsId, SocketProto};

/// agnhost netexec's default `--http-port`.
pub const NETEXEC_HTTP_PORT: u16 = 8080;
/// agnhost netexec's default `--udp-port`.
pub const NETEXEC_UDP_PORT: u16 = 8081;

/// Whether the pod runs agnhost netexec (see the module doc).
pub fn runs_netexec(p: &Pod) -> bool {
    p.spec.iter().flat_map(|s| &s.containers).any(|c| {
        c.args
            .iter()
            .chain(c.command.iter())
            .flatten()
            .any(|a| a.contains("netexec"))
            || c.ports
                .iter()
                .flatten()
                .any(|p| p.container_port == i32::from(NETEXEC_HTTP_PORT))
    })
}

/// The HTTP and UDP ports the pod's netexec listens on: its `--http-port`/`--udp-port`
/// arguments (`--flag=N` or `--flag N`), else the defaults.
pub fn netexec_ports(p: &Pod) -> (u16, u16) {
    let args: Vec<&String> = p
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.command.iter().flatten().chain(c.args.iter().flatten()))
        .collect();
    let flag = |name: &str, default: u16| {
        args.iter()
            .enumerate()
            .find_map(|(i, a)| {
                let v = a.strip_prefix(name)?;
                match v.strip_prefix('=') {
                    Some(v) => Some(v.to_string()),
                    None if v.is_empty() => args.get(i + 1).map(|n| n.to_string()),
                    None => None,
                }
            })
            .and_then(|v| v.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .unwrap_or(default)
    };
    (
        flag("--http-port", NETEXEC_HTTP_PORT),
        flag("--udp-port", NETEXEC_UDP_PORT),
    )
}

/// Pods (`ns/name`) whose netexec servers run, with the sandbox they run in.
pub type Served = BTreeMap<String, NetNsId>;

/// Starts netexec in every running agnhost pod of `world` that has none yet (`served`
/// forgets pods that stopped or were replaced by a new sandbox). Failures to listen are
/// recorded in the cluster's errors.
pub fn serve_new(world: &mut ClusterSim, served: &mut Served) {
    let running: Vec<(String, NetNsId)> = world
        .cluster
        .pods
        .iter()
        .map(|(k, p)| (k.clone(), p.sandbox.netns))
        .collect();
    served.retain(|k, ns| running.iter().any(|(rk, rns)| rk == k && rns == ns));
    for (key, ns) in running {
        if served.contains_key(&key) {
            continue;
        }
        let (pns, name) = key.split_once('/').expect("pod keys are ns/name");
        let Some(pod) = world.cluster.store.get_as::<Pod>(pns, name) else {
            continue;
        };
        if !runs_netexec(pod) {
            continue;
        }
        let ports = netexec_ports(pod);
        serve_netexec(world, ns, name, &key, ports);
        served.insert(key, ns);
    }
}

/// agnhost netexec in `ns` with `hostname`: HTTP on `http`/TCP, its UDP protocol on
/// `udp`/UDP. `who` names the process in errors.
pub fn serve_netexec(
    world: &mut ClusterSim,
    ns: NetNsId,
    hostname: &str,
    who: &str,
    (http, udp): (u16, u16),
) {
    for (proto, port) in [(SocketProto::Tcp, http), (SocketProto::Udp, udp)] {
        let spec = ServerSpec {
            proto,
            port,
            service: Service::NetExec {
                hostname: hostname.to_string(),
            },
        };
        if let Err(e) = world.sim.serve(ns, spec) {
            world
                .errors
                .push((SimTime::ZERO, format!("netexec in {who}: {e}")));
        }
    }
}
