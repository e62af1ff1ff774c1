//! Reading a scenario file: YAML into [`super::file`] types, manifests loaded (inline objects
//! re-serialized as JSON for [`sim_k8s::manifest::load_str`], `include:` paths relative to
//! the scenario file), steps validated. Every error names the file and, where the parser
//! knows it, the line and column; step errors name the step index and field.

use std::fmt;
use std::path::{Path, PathBuf};

use sim_k8s::cluster::dns_addon::ClusterDns;
use sim_k8s::cluster::{ClusterConfig, ExternalHost, NetworkPlugin};
use sim_k8s::config::kube_proxy_configuration::{KubeProxyConfiguration, ProxyMode};
use sim_k8s::manifest::{LoadOptions, Manifests, load_paths, load_str};
use sim_k8s::object::Object;

use crate::export::ExportKind;

use super::cluster_section::{node_object, parse_loss, parse_rate};
use super::file::{NodesSpec, PluginName, ScenarioFile};
use super::step::{Action, Check, Step, validate};

/// A scenario ready to run.
#[derive(Debug)]
pub struct Scenario {
    /// The file it came from, as given.
    pub source: String,
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub config: ClusterConfig,
    /// kubelet's `clusterDomain`.
    pub cluster_domain: String,
    /// Objects from the manifests, plus the named nodes of `cluster.nodes`.
    pub objects: Vec<Object>,
    pub steps: Vec<Step>,
    /// `exports:`, in the file's order, without duplicates.
    pub exports: Vec<ExportKind>,
}

/// Why a scenario file cannot be run (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// `file:line:column` or `file`.
    pub location: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ScenarioError {}

fn at(source: &str, loc: &serde_saphyr::Location) -> String {
    if loc.line() == 0 {
        source.to_string()
    } else {
        format!("{source}:{}:{}", loc.line(), loc.column())
    }
}

/// kube-proxy's configuration from `cluster.proxyMode` and a `KubeProxyConfiguration` in the
/// manifests (its `clusterCIDR` defaulting to the cluster's, as kubeadm writes it).
fn kube_proxy(
    mode: Option<&str>,
    manifests: &Manifests,
    config: &ClusterConfig,
) -> Result<Option<KubeProxyConfiguration>, String> {
    let given: Vec<&KubeProxyConfiguration> = manifests.kube_proxy_configurations().collect();
    if given.len() > 1 {
        return Err("manifests: more than one KubeProxyConfiguration".into());
    }
    let mut kp = given
        .first()
        .map_or_else(KubeProxyConfiguration::default, |c| (*c).clone());
    if kp.cluster_cidr.is_empty() && given.is_empty() {
        kp.cluster_cidr = config.cluster_cidr.to_string();
    }
    let from_file = kp.mode.effective();
    match mode {
        Some("none") if given.is_empty() => Ok(None),
        Some("none") => Err(
            "cluster.proxyMode: none, but the manifests configure kube-proxy (a KubeProxyConfiguration)"
                .into(),
        ),
        None | Some("iptables") if from_file == ProxyMode::Iptables => Ok(Some(kp)),
        None | Some("iptables") => Err(format!(
            "KubeProxyConfiguration.mode: {:?}: only iptables is modelled so far",
            kp.mode
        )),
        Some(m @ ("ipvs" | "nftables" | "userspace")) => Err(format!(
            "cluster.proxyMode: {m}: not modelled yet; expected iptables or none"
        )),
        Some(m) => Err(format!(
            "cluster.proxyMode: {m:?}: expected iptables (the default) or none"
        )),
    }
}

/// Reads and validates the scenario at `path`.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        location: path.display().to_string(),
        message: e.to_string(),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_text(&path.display().to_string(), &text, &base)
}

/// Reads and validates scenario text named `source`; `include:` paths are relative to `base`.
pub fn load_text(source: &str, text: &str, base: &Path) -> Result<Scenario, ScenarioError> {
    let file: ScenarioFile = serde_saphyr::from_str(text).map_err(|e| {
        let location = e
            .location()
            .map_or_else(|| source.to_string(), |l| at(source, &l));
        let mut message = e.without_snippet().to_string();
        if let Some(l) = e.location() {
            let suffix = format!(" at line {}, column {}", l.line(), l.column());
            if let Some(s) = message.strip_suffix(&suffix) {
                message = s.to_string();
            }
        }
        ScenarioError { location, message }
    })?;
    let whole = |message: String| ScenarioError {
        location: source.to_string(),
        message,
    };

    let mut config = ClusterConfig::default();
    let c = &file.cluster;
    let mut objects: Vec<Object> = Vec::new();
    match &c.nodes {
        None => {}
        Some(NodesSpec::Count(0)) => {
            return Err(whole("cluster.nodes: expected at least 1".into()));
        }
        Some(NodesSpec::Count(n)) => config.default_nodes = *n,
        Some(NodesSpec::List(entries)) => {
            let mut names = std::collections::BTreeSet::new();
            for (i, e) in entries.iter().enumerate() {
                let node = node_object(i, e).map_err(whole)?;
                let name = node.metadata.name.clone().unwrap_or_default();
                if !names.insert(name.clone()) {
                    return Err(whole(format!(
                        "cluster.nodes[{i}]: node {name:?} is listed twice"
                    )));
                }
                objects.push(Object::Node(node));
            }
        }
    }
    if let Some(p) = c.network_plugin {
        config.plugin = match p {
            PluginName::Kubenet => NetworkPlugin::Kubenet,
            PluginName::Bridge => NetworkPlugin::Bridge,
        };
    }
    if let Some(cidr) = &c.cluster_cidr {
        config.cluster_cidr = cidr.parse().map_err(|_| {
            whole(format!(
                "cluster.clusterCIDR: {cidr:?}: expected an IPv4 CIDR"
            ))
        })?;
    }
    if let Some(cidr) = &c.service_cidr {
        config.service_cidr = cidr.parse().map_err(|_| {
            whole(format!(
                "cluster.serviceCIDR: {cidr:?}: expected an IPv4 CIDR"
            ))
        })?;
    }
    if let Some(l) = &c.links {
        if let Some(lat) = l.latency {
            config.link.latency = lat;
        }
        if let Some(b) = &l.bandwidth {
            config.link.bandwidth_bps =
                Some(parse_rate(b).map_err(|e| whole(format!("cluster.links.bandwidth: {e}")))?);
        }
        if let Some(p) = &l.loss {
            config.link.loss_ppm =
                parse_loss(p).map_err(|e| whole(format!("cluster.links.loss: {e}")))?;
        }
    }
    let mut external_names = std::collections::BTreeSet::new();
    for (i, e) in c.external.iter().enumerate() {
        let ip = e
            .address
            .as_deref()
            .map(|a| {
                a.parse().map_err(|_| {
                    whole(format!(
                        "cluster.external[{i}].address: {a:?}: expected an IPv4 address"
                    ))
                })
            })
            .transpose()?;
        if e.name.is_empty() || e.name.contains('/') || !external_names.insert(e.name.clone()) {
            return Err(whole(format!(
                "cluster.external[{i}].name: {:?}: expected a unique name without /",
                e.name
            )));
        }
        config.external_hosts.push(ExternalHost {
            name: e.name.clone(),
            ip,
        });
    }
    let cluster_domain = c
        .cluster_domain
        .clone()
        .unwrap_or_else(|| crate::pod_files::DEFAULT_CLUSTER_DOMAIN.into());

    // Manifests: inline objects and includes, in order, as one set (duplicates detected).
    let opts = LoadOptions::default();
    let mut all = Manifests::default();
    for (i, entry) in file.manifests.iter().enumerate() {
        let loc = at(source, &entry.referenced);
        let include = entry
            .value
            .as_object()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.get("include"));
        let m = match include {
            Some(serde_json::Value::String(rel)) => {
                let p: PathBuf = base.join(rel);
                load_paths(&[&p], &opts).map_err(|e| ScenarioError {
                    location: loc.clone(),
                    message: format!("manifests[{i}]: {e}"),
                })?
            }
            Some(_) => {
                return Err(ScenarioError {
                    location: loc,
                    message: format!("manifests[{i}].include: expected a path"),
                });
            }
            None => {
                // Re-serialized, its lines are not the file's: errors keep only the message.
                let json = serde_json::to_string_pretty(&entry.value).expect("plain JSON");
                let name = format!("manifests[{i}]");
                load_str(&name, &json, &opts).map_err(|e| {
                    let text = e.to_string();
                    let inner = text
                        .strip_prefix(&format!("{name}:"))
                        .and_then(|rest| rest.splitn(3, ':').nth(2))
                        .map_or(text.as_str(), str::trim_start);
                    ScenarioError {
                        location: loc.clone(),
                        message: format!("{name}: {inner}"),
                    }
                })?
            }
        };
        all.documents.extend(m.documents);
    }
    objects.extend(all.objects().cloned());
    config.kube_proxy = kube_proxy(c.proxy_mode.as_deref(), &all, &config).map_err(whole)?;
    config.policy_agent = match c.network_policy.as_deref() {
        None | Some("none") => false,
        Some("kube-router") => true,
        Some(other) => {
            return Err(whole(format!(
                "cluster.networkPolicy: {other:?}: expected none (the default) or kube-router"
            )));
        }
    };

    config.dns = match c.dns.as_deref() {
        None | Some("none") => None,
        Some(name) => {
            let flavour = name.parse().map_err(|_| {
                whole(format!(
                    "cluster.dns: {name:?}: expected none (the default), coredns (v3), kube-dns (v2) or skydns (v1)"
                ))
            })?;
            Some(ClusterDns {
                flavour,
                cluster_domain: cluster_domain.clone(),
                ..ClusterDns::default()
            })
        }
    };

    let mut steps = Vec::new();
    let mut sent = false;
    let mut looked_up = false;
    for (i, s) in file.steps.iter().enumerate() {
        let location = at(source, &s.referenced);
        let mut step = validate(&s.value).map_err(|e| ScenarioError {
            location: location.clone(),
            message: if e.field.is_empty() {
                format!("steps[{i}]: {}", e.message)
            } else {
                format!("steps[{i}].{}: {}", e.field, e.message)
            },
        })?;
        if let Action::Replay(r) = &mut step.action {
            // Read now, so a missing or corrupt capture fails before anything runs.
            r.pcap = base.join(&r.pcap);
            crate::replay::read_plan(&r.pcap, &r.options).map_err(|message| ScenarioError {
                location: location.clone(),
                message: format!("steps[{i}].replay.pcap: {message}"),
            })?;
        }
        match &step.action {
            Action::Send(_) => sent = true,
            Action::Dns(_) => looked_up = true,
            Action::Expect(checks)
                if !looked_up && checks.iter().any(|c| matches!(c, Check::Dns(_))) =>
            {
                return Err(ScenarioError {
                    location,
                    message: format!(
                        "steps[{i}].expect: answers, queries and resolveError check the last dns lookup, and no dns step comes before this step"
                    ),
                });
            }
            Action::Expect(checks) if !sent && checks.iter().any(Check::needs_send) => {
                return Err(ScenarioError {
                    location,
                    message: format!(
                        "steps[{i}].expect: reachable, body, servedBy, sourceIP, succeeded, maxLatency and minThroughput check the last send, and no send comes before this step"
                    ),
                });
            }
            _ => {}
        }
        steps.push(step);
    }
    let mut exports = Vec::new();
    for (i, e) in file.exports.iter().enumerate() {
        let kind: ExportKind = e.value.parse().map_err(|m| ScenarioError {
            location: at(source, &e.referenced),
            message: format!("exports[{i}]: {m}"),
        })?;
        if !exports.contains(&kind) {
            exports.push(kind);
        }
    }
    Ok(Scenario {
        source: source.to_string(),
        name: file.name,
        description: file.description,
        seed: file.seed,
        config,
        cluster_domain,
        objects,
        steps,
        exports,
    })
}
