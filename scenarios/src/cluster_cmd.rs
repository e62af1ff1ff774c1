//! `kube-netsim get` and `kube-netsim files`: build the cluster the manifests describe, let it
//! settle, and show what `kubectl get` would show, or the exact bytes of a pod's `/etc/hosts`
//! and `/etc/resolv.conf` as the kubelet writes them.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use k8s_openapi::api::core::v1::{Endpoints, Node, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use scenarios::pod_files::{KubeletView, PodFile, pod_file};
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::manifest::{LoadOptions, Manifests, load_paths, load_str};
use sim_k8s::object::{Kind, Object};

/// The manifests to build from.
#[derive(clap::Args, Debug)]
pub struct Sources {
    /// Manifest files or directories (`*.yaml`, `*.yml`, `*.json`), or `-` for stdin;
    /// repeatable. Without Nodes, three nodes `node-1`..`node-3` are created.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// What `get` lists.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Pods,
    Nodes,
    Endpoints,
    Endpointslices,
    Services,
}

/// Output formats of `get`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Yaml,
    Json,
}

/// Arguments of `kube-netsim get`.
#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// pods, nodes, endpoints, endpointslices or services.
    #[arg(value_enum)]
    pub resource: Resource,
    #[command(flatten)]
    pub sources: Sources,
    /// Output format (kubectl's `-o`).
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Format,
}

/// Arguments of `kube-netsim files`.
#[derive(clap::Args, Debug)]
pub struct FilesArgs {
    #[command(flatten)]
    pub sources: Sources,
    /// The pod, as NAMESPACE/NAME.
    #[arg(long, value_name = "NS/NAME")]
    pub pod: String,
    /// Print the pod's /etc/hosts.
    #[arg(
        long,
        conflicts_with = "resolv_conf",
        required_unless_present = "resolv_conf"
    )]
    pub hosts: bool,
    /// Print the pod's /etc/resolv.conf.
    #[arg(long)]
    pub resolv_conf: bool,
}

/// Loads manifests from `-f` arguments (files, directories, `-` for stdin), as every
/// subcommand that builds a cluster takes them.
pub fn load_files(files: &[PathBuf]) -> Result<Manifests, String> {
    let opts = LoadOptions::default();
    let (stdin, paths): (Vec<&PathBuf>, Vec<&PathBuf>) =
        files.iter().partition(|p| p.as_os_str() == "-");
    let mut m = load_paths(&paths, &opts).map_err(|e| e.to_string())?;
    if !stdin.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("<stdin>: {e}"))?;
        let more = load_str("<stdin>", &text, &opts).map_err(|e| e.to_string())?;
        m.documents.extend(more.documents);
    }
    Ok(m)
}

/// Loads the manifests and builds the settled cluster they describe.
pub fn build_files(files: &[PathBuf]) -> Result<(Manifests, Cluster), String> {
    let m = load_files(files)?;
    let cluster =
        Cluster::build(m.objects(), ClusterConfig::default()).map_err(|e| e.to_string())?;
    Ok((m, cluster))
}

fn build(sources: &Sources) -> Result<(Manifests, Cluster), String> {
    build_files(&sources.files)
}

fn fail(e: String) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// `kube-netsim get`.
pub fn get(args: GetArgs) -> ExitCode {
    let (_, cluster) = match build(&args.sources) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let kind = match args.resource {
        Resource::Pods => Kind::Pod,
        Resource::Nodes => Kind::Node,
        Resource::Endpoints => Kind::Endpoints,
        Resource::Endpointslices => Kind::EndpointSlice,
        Resource::Services => Kind::Service,
    };
    let mut objects: Vec<&Object> = cluster.store.iter().filter(|o| o.kind() == kind).collect();
    objects.sort_by_key(|o| (o.namespace().to_string(), o.name().to_string()));
    match args.output {
        Format::Table => print!("{}", table(args.resource, &objects)),
        Format::Json | Format::Yaml => {
            let items: Vec<serde_json::Value> = objects.iter().map(|o| o.to_json()).collect();
            let list = serde_json::json!({
                "apiVersion": "v1",
                "items": items,
                "kind": "List",
                "metadata": { "resourceVersion": "" },
            });
            if args.output == Format::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).expect("plain JSON")
                );
            } else {
                match serde_saphyr::to_string(&list) {
                    Ok(y) => print!("{y}"),
                    Err(e) => return fail(format!("YAML output: {e}")),
                }
            }
        }
    }
    ExitCode::SUCCESS
}

fn table(resource: Resource, objects: &[&Object]) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    match resource {
        Resource::Pods => {
            rows.push(
                ["NAMESPACE", "NAME", "READY", "STATUS", "IP", "NODE"]
                    .map(String::from)
                    .to_vec(),
            );
            for o in objects {
                let Object::Pod(p) = o else { continue };
                rows.push(pod_row(p));
            }
        }
        Resource::Nodes => {
            rows.push(
                ["NAME", "STATUS", "INTERNAL-IP", "POD-CIDR"]
                    .map(String::from)
                    .to_vec(),
            );
            for o in objects {
                let Object::Node(n) = o else { continue };
                rows.push(node_row(n));
            }
        }
        Resource::Endpoints => {
            rows.push(
                ["NAMESPACE", "NAME", "ENDPOINTS"]
                    .map(String::from)
                    .to_vec(),
            );
            for o in objects {
                let Object::Endpoints(e) = o else { continue };
                rows.push(vec![
                    o.namespace().into(),
                    o.name().into(),
                    endpoints_cell(e),
                ]);
            }
        }
        Resource::Endpointslices => {
            rows.push(
                ["NAMESPACE", "NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS"]
                    .map(String::from)
                    .to_vec(),
            );
            for o in objects {
                let Object::EndpointSlice(s) = o else {
                    continue;
                };
                rows.push(slice_row(o, s));
            }
        }
        Resource::Services => {
            rows.push(
                ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "PORT(S)"]
                    .map(String::from)
                    .to_vec(),
            );
            for o in objects {
                let Object::Service(s) = o else { continue };
                let spec = s.spec.clone().unwrap_or_default();
                let ports: Vec<String> = spec
                    .ports
                    .iter()
                    .flatten()
                    .map(|p| format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")))
                    .collect();
                rows.push(vec![
                    o.namespace().into(),
                    o.name().into(),
                    spec.type_.unwrap_or_else(|| "ClusterIP".into()),
                    spec.cluster_ip.unwrap_or_else(|| "<none>".into()),
                    if ports.is_empty() {
                        "<none>".into()
                    } else {
                        ports.join(",")
                    },
                ]);
            }
        }
    }
    render(&rows)
}

/// kubectl's column layout: left-aligned, three spaces between columns.
fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i + 1 == cols {
                    cell.clone()
                } else {
                    format!("{cell:<w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("   ").trim_end());
    }
    out
}

fn pod_row(p: &Pod) -> Vec<String> {
    let spec = p.spec.clone().unwrap_or_default();
    let status = p.status.clone().unwrap_or_default();
    let ready = status
        .container_statuses
        .iter()
        .flatten()
        .filter(|c| c.ready)
        .count();
    vec![
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default(),
        format!("{ready}/{}", spec.containers.len()),
        status.phase.unwrap_or_else(|| "Pending".into()),
        status.pod_ip.unwrap_or_else(|| "<none>".into()),
        spec.node_name.unwrap_or_else(|| "<none>".into()),
    ]
}

fn node_row(n: &Node) -> Vec<String> {
    let ip = n
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map_or("<none>".into(), |a| a.address.clone());
    vec![
        n.metadata.name.clone().unwrap_or_default(),
        "Ready".into(),
        ip,
        n.spec
            .as_ref()
            .and_then(|s| s.pod_cidr.clone())
            .unwrap_or_else(|| "<none>".into()),
    ]
}

/// kubectl's ENDPOINTS cell: `ip:port,...`, the first three then `+ N more...`.
fn endpoints_cell(e: &Endpoints) -> String {
    let mut all = Vec::new();
    for s in e.subsets.iter().flatten() {
        for a in s.addresses.iter().flatten() {
            for p in s.ports.iter().flatten() {
                all.push(format!("{}:{}", a.ip, p.port));
            }
            if s.ports.as_ref().is_none_or(Vec::is_empty) {
                all.push(a.ip.clone());
            }
        }
    }
    match all.len() {
        0 => "<none>".into(),
        n if n > 3 => format!("{} + {} more...", all[..3].join(","), n - 3),
        _ => all.join(","),
    }
}

fn slice_row(o: &Object, s: &EndpointSlice) -> Vec<String> {
    let ports: Vec<String> = s
        .ports
        .iter()
        .flatten()
        .filter_map(|p| p.port.map(|x| x.to_string()))
        .collect();
    let addrs: Vec<String> = s
        .endpoints
        .iter()
        .flat_map(|e| e.addresses.iter().cloned())
        .collect();
    let cell = match addrs.len() {
        0 => "<unset>".to_string(),
        n if n > 3 => format!("{} + {} more...", addrs[..3].join(","), n - 3),
        _ => addrs.join(","),
    };
    vec![
        o.namespace().into(),
        o.name().into(),
        s.address_type.clone(),
        if ports.is_empty() {
            "<unset>".into()
        } else {
            ports.join(",")
        },
        cell,
    ]
}

/// The kubelet settings of the manifests' KubeletConfiguration (the first), else the
/// defaults.
pub fn kubelet_view(m: &Manifests) -> KubeletView {
    let mut view = KubeletView::default();
    if let Some(k) = m.kubelet_configurations().next() {
        if let Some(d) = &k.cluster_domain {
            view.cluster_domain = d.clone();
        }
        if !k.cluster_dns.is_empty() {
            view.cluster_dns = k.cluster_dns.clone();
        }
    }
    view
}

/// `kube-netsim files`.
pub fn files(args: FilesArgs) -> ExitCode {
    let (m, cluster) = match build(&args.sources) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let Some((ns, name)) = args.pod.split_once('/') else {
        return fail(format!("--pod {:?}: expected NAMESPACE/NAME", args.pod));
    };
    let Some(pod) = cluster.store.get_as::<Pod>(ns, name) else {
        return fail(format!("pod {ns}/{name} not found"));
    };
    let view = kubelet_view(&m);
    let which = if args.hosts {
        PodFile::Hosts
    } else {
        PodFile::ResolvConf
    };
    let text = match pod_file(pod, which, &view) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    print!("{text}");
    ExitCode::SUCCESS
}
