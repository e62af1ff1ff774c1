//! `kube-netsim trace`: one new connection through a node's iptables rules (an
//! `iptables-save` dump, e.g. from a real node), explained rule by rule, with every random
//! branch (kube-proxy's `statistic` and `recent` rules) explored. [`trace_and_print`] and
//! the [`ConnectionArgs`] flags are shared with `kube-netsim proxy trace`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use sim_net::netfilter::trace::{Branch, TraceRequest, trace_new_connection};
use sim_net::netfilter::{Netfilter, RestoreOptions};

/// Arguments of `kube-netsim trace`.
#[derive(clap::Args, Debug)]
pub struct TraceArgs {
    /// The node's rules as `iptables-save` prints them.
    #[arg(long, value_name = "FILE")]
    pub iptables_save: PathBuf,
    /// The node's sets as `ipset save` prints them (for `-m set` rules).
    #[arg(long, value_name = "FILE")]
    pub ipset_save: Option<PathBuf>,
    /// An address of the node (repeatable); 127.0.0.1 is always local.
    #[arg(long = "local-ip", value_name = "IP")]
    pub local_ips: Vec<Ipv4Addr>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// The connection to trace and how to print it: the flags `trace` and `proxy trace` share.
#[derive(clap::Args, Debug)]
pub struct ConnectionArgs {
    /// Source address of the new connection.
    #[arg(long)]
    pub src: Ipv4Addr,
    /// Source port.
    #[arg(long, default_value_t = 40000)]
    pub sport: u16,
    /// Destination address.
    #[arg(long)]
    pub dst: Ipv4Addr,
    /// Destination port.
    #[arg(long)]
    pub dport: u16,
    /// Transport protocol.
    #[arg(long, default_value = "tcp", value_parser = ["tcp", "udp", "sctp"])]
    pub proto: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs the command; exit 2 on a bad dump or unreadable file.
pub fn run(args: TraceArgs) -> ExitCode {
    let mut nf = Netfilter::default();
    let loaded = read(&args.iptables_save).and_then(|text| {
        nf.restore(&text, RestoreOptions::default())
            .map_err(|e| format!("{}: {e}", args.iptables_save.display()))
    });
    let loaded = loaded.and_then(|()| match &args.ipset_save {
        None => Ok(()),
        Some(p) => read(p).and_then(|text| {
            nf.ipsets
                .restore(&text, false)
                .map_err(|e| format!("{}: {e}", p.display()))
        }),
    });
    if let Err(e) = loaded {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    trace_and_print(&mut nf, &args.connection, &args.local_ips)
}

/// Traces `conn` through `nf` on a node with `local_ips` (127.0.0.1 is always local) and
/// prints the outcome as text or JSON: the output of `trace` and `proxy trace`.
pub fn trace_and_print(
    nf: &mut Netfilter,
    conn: &ConnectionArgs,
    local_ips: &[Ipv4Addr],
) -> ExitCode {
    let req = TraceRequest {
        src: conn.src,
        sport: conn.sport,
        dst: conn.dst,
        dport: conn.dport,
        proto: match conn.proto.as_str() {
            "udp" => 17,
            "sctp" => 132,
            _ => 6,
        },
        local_ips: local_ips.to_vec(),
    };
    let branches = trace_new_connection(nf, &req);
    if conn.json {
        println!("{}", to_json(&branches));
    } else {
        print!("{}", to_text(conn, &branches));
    }
    ExitCode::SUCCESS
}

/// `{"branches":[{"verdict","destination","masquerade","walk":[…]}]}`.
pub fn to_json(branches: &[Branch]) -> String {
    let list: Vec<_> = branches
        .iter()
        .map(|b| {
            json!({
                "verdict": b.verdict.as_str(),
                "destination": b.destination.to_string(),
                "masquerade": b.masquerade,
                "local": b.local,
                "events": b.events,
                "walk": b.walk.iter().map(|s| json!({
                    "table": s.table.as_str(),
                    "chain": s.chain,
                    "rule": s.text,
                    "matched": s.matched,
                    "action": s.action,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({ "branches": list })).expect("plain JSON values")
}

/// The walk of each branch, then one line per outcome.
pub fn to_text(conn: &ConnectionArgs, branches: &[Branch]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}:{} -> {}:{}, new connection in on eth0",
        conn.proto, conn.src, conn.sport, conn.dst, conn.dport
    );
    for (i, b) in branches.iter().enumerate() {
        if branches.len() > 1 {
            let _ = writeln!(out, "\nbranch {}:", i + 1);
        }
        for s in &b.walk {
            let mark = if s.matched { "+" } else { " " };
            let num = s.rule.map_or_else(|| "-".to_string(), |n| n.to_string());
            let _ = writeln!(
                out,
                "  {mark} {:<6} {:<28} {:>4}  {}  => {}",
                s.table.as_str(),
                s.chain,
                num,
                s.text,
                s.action
            );
        }
        for e in &b.events {
            let _ = writeln!(out, "    {e}");
        }
    }
    let _ = writeln!(out, "\noutcomes:");
    for b in branches {
        let _ = writeln!(
            out,
            "  {} -> {}{}{}",
            b.verdict.as_str(),
            b.destination,
            if b.local { " (local)" } else { "" },
            if b.masquerade { " (masquerade)" } else { "" }
        );
    }
    out
}
