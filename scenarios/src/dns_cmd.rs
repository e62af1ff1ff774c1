//! `kube-netsim dns` and `kube-netsim dns serve`: the cluster's DNS, asked directly.
//!
//! Both build the cluster the `-f` manifests describe (as `get` and `files` do) with the DNS
//! add-on of `--addon` (kubeadm's CoreDNS by default, and with it the `kubernetes` Service;
//! [`sim_k8s::cluster::dns_addon`]), take its DNS view once, and run the DNS server of
//! `--corefile` (default: the add-on's, from the `kube-system/coredns` ConfigMap when the
//! manifests hold one) on its port-53 server blocks. The DNS pod's `/etc/resolv.conf` (what
//! `forward . /etc/resolv.conf` reads) is the simulated node's. Upstreams are out of reach
//! from here, so forwarded queries end in SERVFAIL ([`scenarios::dns::responder`]).
//!
//! `dns NAME [TYPE]` sends the query `dig` would send straight to the server (not through a
//! pod's resolv.conf or the dataplane) and prints the reply as `dig` does, or as JSON. As
//! `dig` does, a truncated UDP reply is retried over TCP unless `--ignore`. With
//! `--from NS/POD` the pod looks the name up instead: its resolv.conf's search list and
//! `ndots`, each query a datagram through the dataplane to the kube-dns Service and one of
//! the running DNS pods; the queries are listed as `;;` comments before the answer.
//!
//! `dns serve` answers on real UDP and TCP sockets ([`scenarios::dns::serve`]), bound where
//! `--listen` says (loopback by default).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use scenarios::dns::Responder;
use scenarios::dns::dig::dig_text;
use scenarios::dns::json::reply_json;
use scenarios::dns::query::{QueryOptions, parse_name, parse_type, query_message, reverse_name};
use scenarios::dns::serve::Listeners;
use scenarios::pod_files::NODE_RESOLV_CONF;
use sim_core::SimTime;
use sim_k8s::dns::corefile::DEFAULT_PORT;
use sim_k8s::dns::flavour::Flavour;
use sim_k8s::dns::{DnsServer, DnsView, Transport};

use k8s_openapi::api::core::v1::Pod;
use scenarios::pod_files::{NODE_HOSTS, PodFile, pod_file};
use scenarios::scenario::dns_step::describe;
use sim_k8s::cluster::control::ClusterSim;
use sim_k8s::cluster::dns_addon::ClusterDns;
use sim_k8s::cluster::pod_lookup::{PodResolver, lookup};
use sim_k8s::cluster::{Cluster, ClusterConfig};
use sim_k8s::dns::resolver::{LookupResult, ResolverConf};
use sim_k8s::manifest::Manifests;
use sim_k8s::store::watch::DEFAULT_WATCH_LAG;

use crate::cluster_cmd::{Sources, kubelet_view, load_files};

/// Arguments of `kube-netsim dns`: a query, or the `serve` subcommand.
#[derive(clap::Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  kube-netsim dns -f cluster.yaml web.shop.svc.cluster.local\n  kube-netsim dns -f cluster.yaml _http._tcp.web.shop.svc.cluster.local SRV --json\n  kube-netsim dns -f cluster.yaml -x 10.96.0.10\n  kube-netsim dns serve -f cluster.yaml --listen 127.0.0.1:5353\n  dig @127.0.0.1 -p 5353 web.shop.svc.cluster.local\n\n`serve` right after `dns` is the subcommand; to look up a name `serve`, write `serve.`."
)]
pub struct DnsArgs {
    #[command(subcommand)]
    pub command: Option<DnsCommand>,
    #[command(flatten)]
    pub query: QueryArgs,
}

/// `dns serve`.
#[derive(clap::Subcommand, Debug)]
pub enum DnsCommand {
    /// Serve the cluster's DNS on real UDP and TCP sockets, for dig, dnsperf or a resolver.
    /// Runs until interrupted (Ctrl-C).
    Serve(ServeArgs),
}

/// The cluster and the server configuration.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    #[command(flatten)]
    pub sources: Sources,
    /// A Corefile to run instead of the add-on's; its server blocks on port 53 are served.
    #[arg(long, value_name = "FILE")]
    pub corefile: Option<PathBuf>,
    /// The cluster's DNS add-on: coredns (v3, kubeadm's), kube-dns (v2), skydns (v1), or
    /// none (no add-on and no `kubernetes` Service).
    #[arg(long, value_name = "FLAVOUR", default_value = "coredns", value_parser = parse_addon)]
    pub addon: Addon,
}

/// `--addon`: a flavour or none.
#[derive(Debug, Clone, Copy)]
pub struct Addon(Option<Flavour>);

fn parse_addon(s: &str) -> Result<Addon, String> {
    match s {
        "none" => Ok(Addon(None)),
        _ => s
            .parse()
            .map(|f| Addon(Some(f)))
            .map_err(|e: sim_k8s::dns::flavour::UnknownFlavour| format!("{e}, or none")),
    }
}

/// The cluster of `args`, built with its add-on, and the manifests.
fn build(args: &ServerArgs) -> Result<(Manifests, Cluster), String> {
    let m = load_files(&args.sources.files)?;
    let view = kubelet_view(&m);
    let config = ClusterConfig {
        dns: args.addon.0.map(|flavour| ClusterDns {
            flavour,
            cluster_domain: view.cluster_domain.clone(),
            ..ClusterDns::default()
        }),
        ..ClusterConfig::default()
    };
    let cluster = Cluster::build(m.objects(), config).map_err(|e| e.to_string())?;
    Ok((m, cluster))
}

/// Arguments of `kube-netsim dns NAME [TYPE]`.
#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The name to look up (absolute, as dig takes it without +search).
    #[arg(value_name = "NAME", required_unless_present = "reverse")]
    pub name: Option<String>,
    /// The record type: A (default), AAAA, SRV, PTR, TXT, CNAME, SOA, NS, ANY or TYPEnnn.
    #[arg(value_name = "TYPE")]
    pub rtype: Option<String>,
    /// Reverse lookup: the PTR of this address (dig's -x).
    #[arg(short = 'x', value_name = "ADDR", conflicts_with = "name")]
    pub reverse: Option<IpAddr>,
    /// Print the reply as JSON: rcode, flags, answer, authority, additional.
    #[arg(long)]
    pub json: bool,
    /// Ask over TCP (dig's +tcp).
    #[arg(long)]
    pub tcp: bool,
    /// The EDNS0 UDP buffer size to advertise (dig's +bufsize).
    #[arg(long, value_name = "N", default_value_t = scenarios::dns::query::DIG_BUFSIZE)]
    pub bufsize: u16,
    /// Send no EDNS0 OPT record: UDP replies are limited to 512 bytes (dig's +noedns).
    #[arg(long)]
    pub noedns: bool,
    /// Show a truncated UDP reply instead of retrying over TCP (dig's +ignore).
    #[arg(long)]
    pub ignore: bool,
    /// Look the name up from this pod (NAMESPACE/NAME): its resolver, through the dataplane.
    #[arg(long, value_name = "NS/POD", conflicts_with_all = ["corefile", "tcp", "noedns", "ignore", "reverse"])]
    pub from: Option<String>,
}

/// Arguments of `kube-netsim dns serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Address for the UDP and TCP sockets; port 0 picks a free one (printed on stderr).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5353")]
    pub listen: SocketAddr,
}

fn fail(e: String) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// Runs `dns NAME` or `dns serve`.
pub fn run(args: DnsArgs) -> ExitCode {
    match args.command {
        Some(DnsCommand::Serve(serve)) => run_serve(serve),
        None => run_query(args.query),
    }
}

/// The cluster's DNS server over the cluster the manifests describe.
fn responder(args: &ServerArgs) -> Result<Responder, String> {
    let (m, cluster) = build(args)?;
    let domain = kubelet_view(&m).cluster_domain;
    let (corefile, source) = match (&args.corefile, &cluster.config.dns) {
        (Some(path), _) => (
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        (None, Some(addon)) => (
            addon.corefile(&cluster.store),
            "the add-on's Corefile".into(),
        ),
        (None, None) => (
            Flavour::CoreDns.corefile(&domain),
            "the kubeadm Corefile".into(),
        ),
    };
    let files = [("/etc/resolv.conf".to_string(), NODE_RESOLV_CONF.to_string())].into();
    let server = DnsServer::from_corefile(&corefile, DEFAULT_PORT, &files).map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix("Corefile:") {
            Some(rest) => format!("{source}:{rest}"),
            None => format!("{source}: {text}"),
        }
    })?;
    if server.blocks().is_empty() {
        return Err(format!(
            "{source}: no server block listens on port {DEFAULT_PORT} (the port kube-dns serves)"
        ));
    }
    // The cluster is built and settled at time zero; it does not move while it is asked.
    Ok(Responder::new(
        server,
        DnsView::from_store(&cluster.store),
        SimTime::ZERO,
    ))
}

fn run_query(args: QueryArgs) -> ExitCode {
    let (name, default_type) = match (&args.reverse, &args.name) {
        (Some(ip), _) => (Ok(reverse_name(*ip)), RecordType::PTR),
        (None, Some(n)) => (parse_name(n), RecordType::A),
        (None, None) => unreachable!("clap requires NAME or -x"),
    };
    let name = match name {
        Ok(n) => n,
        Err(e) => return fail(e.to_string()),
    };
    let rtype = match args.rtype.as_deref().map(parse_type).transpose() {
        Ok(t) => t.unwrap_or(default_type),
        Err(e) => return fail(e.to_string()),
    };
    if let Some(from) = &args.from {
        return match lookup_from(&args, from, rtype) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        };
    }
    let mut responder = match responder(&args.server) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let opts = QueryOptions {
        edns_bufsize: (!args.noedns).then_some(args.bufsize),
    };
    let query = query_message(name, rtype, opts)
        .to_vec()
        .expect("a parsed name and type encode");
    let mut transport = if args.tcp {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let mut out = String::new();
    let (bytes, reply) = loop {
        let bytes = responder
            .answer(transport, &query)
            .expect("the server answers a well-formed query");
        let reply = Message::from_vec(&bytes).expect("the server's replies parse");
        if reply.metadata.truncation && transport == Transport::Udp && !args.ignore {
            out.push_str(";; Truncated, retrying in TCP mode.\n");
            transport = Transport::Tcp;
            continue;
        }
        break (bytes, reply);
    };
    for entry in responder.take_log() {
        eprintln!("{}", entry.line);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reply_json(&reply)).expect("plain JSON")
        );
    } else {
        print!("{out}{}", dig_text(&reply, bytes.len()));
    }
    ExitCode::SUCCESS
}

/// `--from NS/POD`: the pod's own lookup of the name as given, through the dataplane.
fn lookup_from(args: &QueryArgs, from: &str, rtype: RecordType) -> Result<(), String> {
    let Some((ns, pod)) = from
        .split_once('/')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
    else {
        return Err(format!("--from {from:?}: expected NAMESPACE/NAME"));
    };
    let name = args.name.as_deref().expect("--from conflicts with -x");
    let (m, cluster) = build(&args.server)?;
    if cluster.config.dns.is_none() {
        return Err("--from needs a DNS add-on (--addon none runs no DNS pods)".into());
    }
    let kubelet = kubelet_view(&m);
    let (Some(run), Some(p)) = (
        cluster.pods.get(&format!("{ns}/{pod}")),
        cluster.store.get_as::<Pod>(ns, pod),
    ) else {
        return Err(format!("--from {from}: no such running pod"));
    };
    let resolver = PodResolver {
        ns: run.sandbox.netns,
        conf: ResolverConf::parse(&pod_file(p, PodFile::ResolvConf, &kubelet)?),
        hosts: pod_file(p, PodFile::Hosts, &kubelet).unwrap_or_else(|_| NODE_HOSTS.into()),
    };
    let mut engine = ClusterSim::new(cluster, 0, DEFAULT_WATCH_LAG).into_engine(0, []);
    let r = lookup(&mut engine, SimTime::ZERO, &resolver, name, rtype, 1)?;
    let lines = describe(&r);
    let reply = match &r.result {
        LookupResult::Answer { reply, .. } => Some(reply),
        _ => None,
    };
    if args.json {
        let mut v = reply.map_or_else(|| serde_json::json!({}), |m| reply_json(m));
        v["queries"] = lines[..lines.len() - 1].into();
        v["result"] = lines[lines.len() - 1].clone().into();
        println!("{}", serde_json::to_string_pretty(&v).expect("plain JSON"));
    } else {
        for l in &lines {
            println!(";; {l}");
        }
        if let Some(m) = reply {
            let size = m.to_vec().map_or(0, |b| b.len());
            print!("\n{}", dig_text(m, size));
        }
    }
    Ok(())
}

fn run_serve(args: ServeArgs) -> ExitCode {
    let responder = match responder(&args.server) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let listeners = match Listeners::bind(args.listen) {
        Ok(l) => l,
        Err(e) => return fail(format!("--listen {}: {e}", args.listen)),
    };
    let addr = listeners.local_addr().unwrap_or(args.listen);
    eprintln!("listening on {addr} (udp, tcp); Ctrl-C stops");
    let e = listeners.run(responder);
    eprintln!("error: {e}");
    ExitCode::from(1)
}
