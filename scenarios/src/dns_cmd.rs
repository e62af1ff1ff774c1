//! `kube-netsim dns` and `kube-netsim dns serve`: the cluster's DNS, asked directly.
//!
//! Both build the cluster the `-f` manifests describe (as `get` and `files` do), take its
//! DNS view once, and run the DNS server of `--corefile` (default: the Corefile kubeadm
//! installs, for the cluster domain of the manifests' KubeletConfiguration) on its port-53
//! server blocks. The CoreDNS pod's `/etc/resolv.conf` (what `forward . /etc/resolv.conf`
//! reads) is the simulated node's. Upstreams are out of reach from here, so forwarded
//! queries end in SERVFAIL ([`scenarios::dns::responder`]).
//!
//! `dns NAME [TYPE]` sends the query `dig` would send straight to the server (not through a
//! pod's resolv.conf or the dataplane) and prints the reply as `dig` does, or as JSON. As
//! `dig` does, a truncated UDP reply is retried over TCP unless `--ignore`.
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

use crate::cluster_cmd::{Sources, build_files, kubelet_view};

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
    /// A Corefile to run instead of kubeadm's; its server blocks on port 53 are served.
    #[arg(long, value_name = "FILE")]
    pub corefile: Option<PathBuf>,
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
    let (m, cluster) = build_files(&args.sources.files)?;
    let domain = kubelet_view(&m).cluster_domain;
    let (corefile, source) = match &args.corefile {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        None => (
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
