//! Steps validated: what each step does, with names and addresses parsed. Everything a user
//! can get wrong in a step is refused here, before the cluster is built, with the step's
//! index and field.

use std::net::Ipv4Addr;

use sim_core::{SimDuration, SimTime};
use sim_net::socket::app::DEFAULT_CLIENT_TIMEOUT;

use sim_k8s::manifest::{LoadOptions, load_str};
use sim_k8s::object::{Kind, Object, ObjectKey};

use super::byte_size::parse_bytes;
use super::cluster_section::parse_rate;
use super::dns_step::{DnsCheck, DnsLookup, dns_step, resolve_error, valid_name};
use super::file::{
    ConditionStatus, DeleteFile, ExpectFile, ReplayFile, SendFile, SnapshotTable, StepFile,
    WaitFile, WaitUntilFile,
};
use crate::pod_files::PodFile;
use crate::source::Source;

/// When a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    At(SimTime),
    After(SimDuration),
}

/// A step: when, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub when: When,
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send(Send),
    Expect(Vec<Check>),
    Scale {
        namespace: String,
        deployment: String,
        replicas: i32,
    },
    SetCondition {
        namespace: String,
        pod: String,
        condition_type: String,
        status: bool,
    },
    Wait(SimDuration),
    /// Simulated time runs until every check holds, for at most `timeout`.
    WaitUntil {
        checks: Vec<Check>,
        timeout: SimDuration,
    },
    /// Create the object, or update it if it exists.
    Apply(Box<Object>),
    Delete(ObjectKey),
    /// Scripted readiness probes: every container of the pod ready (or not).
    Probe {
        namespace: String,
        pod: String,
        ready: bool,
    },
    Node {
        name: String,
        op: NodeOp,
    },
    Snapshot {
        node: String,
        tables: Vec<SnapshotTable>,
    },
    Replay(Replay),
    /// A pod looks a name up.
    Dns(DnsLookup),
}

/// What happens to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeOp {
    Fail,
    Heal,
    LinkDown,
    LinkUp,
}

impl NodeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeOp::Fail => "failNode",
            NodeOp::Heal => "healNode",
            NodeOp::LinkDown => "linkDown",
            NodeOp::LinkUp => "linkUp",
        }
    }
}

/// `replay`, validated; `pcap` is as written until [`super::load`] makes it relative to
/// the scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub pcap: std::path::PathBuf,
    pub from: Source,
    pub options: sim_net::replay::ReplayOptions,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Ip(Ipv4Addr, u16),
    Pod {
        namespace: String,
        name: String,
        port: u16,
    },
    Service {
        namespace: String,
        name: String,
        port: u16,
    },
    /// A node's InternalIP (for NodePorts).
    Node {
        name: String,
        port: u16,
    },
    /// A name the client pod resolves (A) before it connects.
    Name {
        host: String,
        port: u16,
    },
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendKind {
    HttpGet(String),
    TcpConnect,
    Udp(String),
    /// ICMP echo requests with `size` data bytes.
    Ping {
        size: usize,
    },
    /// A TCP upload of `bytes` to agnhost netexec's `POST /upload`.
    Bulk {
        bytes: u64,
    },
}

/// `ping -s` default: 56 data bytes (64 ICMP bytes).
pub const PING_DEFAULT_SIZE: usize = 56;
/// The largest echo data an IPv4 packet holds (65535 - 20 - 8), iputils' limit for `-s`.
pub const PING_MAX_SIZE: usize = 65507;
/// How long `ping` waits for a reply (iputils' `MAXWAIT` linger, 10 s).
pub const PING_TIMEOUT: SimDuration = SimDuration::from_secs(10);
/// How long a bulk upload may take unless `timeout` says otherwise (curl has no limit; a
/// bound ends a stalled transfer).
pub const BULK_TIMEOUT: SimDuration = SimDuration::from_secs(300);
/// `kubectl wait`'s default `--timeout`.
pub const WAIT_UNTIL_TIMEOUT: SimDuration = SimDuration::from_secs(30);

/// `send`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    pub from: Source,
    pub to: Target,
    /// The target as written, for reports.
    pub to_text: String,
    pub kind: SendKind,
    pub count: u32,
    pub timeout: SimDuration,
}

/// The address a server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceIp {
    Ip(Ipv4Addr),
    Pod { namespace: String, name: String },
}

/// One check of an `expect` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Reachable(bool),
    Body(String),
    ServedBy(Vec<String>),
    SourceIp(SourceIp),
    Endpoints {
        namespace: String,
        service: String,
        ready: Option<usize>,
        not_ready: Option<usize>,
    },
    Succeeded(u32),
    MaxLatency(SimDuration),
    /// Bits per second every bulk upload reached at least.
    MinThroughput(u64),
    File {
        namespace: String,
        pod: String,
        file: PodFile,
        contains: Vec<String>,
    },
    NodeReady {
        node: String,
        status: &'static str,
    },
    /// About the last `dns` lookup.
    Dns(DnsCheck),
}

impl Check {
    /// Whether the check is about the last `send`'s requests.
    pub fn needs_send(&self) -> bool {
        !matches!(
            self,
            Check::Endpoints { .. } | Check::File { .. } | Check::NodeReady { .. } | Check::Dns(_)
        )
    }
}

/// A step that cannot be run as written: which field, what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> StepError {
    StepError {
        field: field.into(),
        message: message.into(),
    }
}

/// `NAMESPACE/NAME`.
pub fn ns_name(field: &str, s: &str) -> Result<(String, String), StepError> {
    match s.split_once('/') {
        Some((ns, n)) if !ns.is_empty() && !n.is_empty() && !n.contains('/') => {
            Ok((ns.into(), n.into()))
        }
        _ => Err(err(field, format!("{s:?}: expected NAMESPACE/NAME"))),
    }
}

fn port(field: &str, whole: &str, p: &str) -> Result<u16, StepError> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| err(field, format!("{whole:?}: {p:?} is not a port (1-65535)")))
}

/// `IP:PORT`, `pod/NAMESPACE/NAME:PORT`, `svc/NAME.NAMESPACE:PORT` or `node/NAME:PORT`.
pub fn target(field: &str, s: &str) -> Result<Target, StepError> {
    let expected = "expected IP:PORT, pod/NAMESPACE/NAME:PORT, svc/NAME.NAMESPACE:PORT, node/NAME:PORT or NAME:PORT (a DNS name)";
    let Some((host, p)) = s.rsplit_once(':') else {
        return Err(err(field, format!("{s:?}: no port; {expected}")));
    };
    let port = port(field, s, p)?;
    host_target(field, s, host, port, expected)
}

/// A ping's target: `IP`, `pod/NAMESPACE/NAME` or `svc/NAME.NAMESPACE`, no port (port 0).
pub fn ping_target(field: &str, s: &str) -> Result<Target, StepError> {
    let expected = "expected IP, pod/NAMESPACE/NAME or svc/NAME.NAMESPACE (ping takes no port)";
    if s.contains(':') {
        return Err(err(field, format!("{s:?}: {expected}")));
    }
    host_target(field, s, s, 0, expected)
}

fn host_target(
    field: &str,
    s: &str,
    host: &str,
    port: u16,
    expected: &str,
) -> Result<Target, StepError> {
    if let Some(rest) = host.strip_prefix("pod/") {
        let (namespace, name) =
            ns_name(field, rest).map_err(|_| err(field, format!("{s:?}: {expected}")))?;
        return Ok(Target::Pod {
            namespace,
            name,
            port,
        });
    }
    if let Some(name) = host.strip_prefix("node/") {
        if name.is_empty() || name.contains('/') {
            return Err(err(field, format!("{s:?}: {expected}")));
        }
        return Ok(Target::Node {
            name: name.into(),
            port,
        });
    }
    if let Some(rest) = host.strip_prefix("svc/") {
        return match rest.split_once('.') {
            Some((name, ns)) if !name.is_empty() && !ns.is_empty() => Ok(Target::Service {
                namespace: ns.into(),
                name: name.into(),
                port,
            }),
            _ => Err(err(field, format!("{s:?}: {expected}"))),
        };
    }
    if let Ok(ip) = host.parse() {
        return Ok(Target::Ip(ip, port));
    }
    // Anything else is a name for the resolver; a dotted quad that did not parse is not.
    let looks_numeric = host
        .trim_end_matches('.')
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()));
    match valid_name(host) {
        true if !looks_numeric => Ok(Target::Name {
            host: host.into(),
            port,
        }),
        _ => Err(err(field, format!("{s:?}: {expected}"))),
    }
}

fn send(s: &SendFile) -> Result<Send, StepError> {
    let from = s.from.parse().map_err(|e: String| err("send.from", e))?;
    let kinds = [
        s.http_get.is_some(),
        s.tcp_connect,
        s.udp.is_some(),
        s.ping,
        s.bulk.is_some(),
    ];
    if s.size.is_some() && !s.ping {
        return Err(err("send.size", "expected only with ping: true"));
    }
    let kind = match (kinds.iter().filter(|k| **k).count(), &s.http_get, &s.udp) {
        (1, _, _) if s.ping => {
            let size = s.size.unwrap_or(PING_DEFAULT_SIZE);
            if size > PING_MAX_SIZE {
                return Err(err(
                    "send.size",
                    format!("{size}: expected at most {PING_MAX_SIZE} data bytes"),
                ));
            }
            SendKind::Ping { size }
        }
        (1, _, _) if s.bulk.is_some() => {
            let text = s.bulk.as_deref().unwrap_or_default();
            let bytes = parse_bytes(text).map_err(|e| err("send.bulk", e))?;
            SendKind::Bulk { bytes }
        }
        (1, Some(path), _) => {
            if !path.starts_with('/') {
                return Err(err(
                    "send.httpGet",
                    format!("{path:?}: expected a path starting with /"),
                ));
            }
            SendKind::HttpGet(path.clone())
        }
        (1, _, Some(payload)) => SendKind::Udp(payload.clone()),
        (1, _, _) => SendKind::TcpConnect,
        _ => {
            return Err(err(
                "send",
                "expected exactly one of httpGet: PATH, tcpConnect: true, udp: PAYLOAD, ping: true, bulk: SIZE",
            ));
        }
    };
    let to = match kind {
        SendKind::Ping { .. } => ping_target("send.to", &s.to)?,
        _ => target("send.to", &s.to)?,
    };
    let default_timeout = match kind {
        SendKind::Ping { .. } => PING_TIMEOUT,
        SendKind::Bulk { .. } => BULK_TIMEOUT,
        _ => DEFAULT_CLIENT_TIMEOUT,
    };
    let count = s.count.unwrap_or(1);
    if count == 0 {
        return Err(err("send.count", "expected at least 1"));
    }
    Ok(Send {
        from,
        to,
        to_text: s.to.clone(),
        kind,
        count,
        timeout: s.timeout.unwrap_or(default_timeout),
    })
}

/// The checks of an `expect` (or a `wait.until`: `field` names which).
fn expect(field: &str, e: &ExpectFile) -> Result<Vec<Check>, StepError> {
    let mut checks = Vec::new();
    if let Some(a) = &e.answers {
        checks.push(Check::Dns(DnsCheck::Answers(a.clone())));
    }
    if let Some(n) = e.queries {
        checks.push(Check::Dns(DnsCheck::Queries(n)));
    }
    if let Some(r) = &e.resolve_error {
        let e = resolve_error(&format!("{field}.resolveError"), r)?;
        checks.push(Check::Dns(DnsCheck::ResolveError(e)));
    }
    if let Some(r) = e.reachable {
        checks.push(Check::Reachable(r));
    }
    if let Some(b) = &e.body {
        checks.push(Check::Body(b.clone()));
    }
    if let Some(s) = &e.served_by {
        let mut s = s.clone();
        s.sort();
        s.dedup();
        checks.push(Check::ServedBy(s));
    }
    if let Some(ip) = &e.source_ip {
        let src = match ip.strip_prefix("pod/") {
            Some(rest) => {
                let (namespace, name) = ns_name(&format!("{field}.sourceIP"), rest)?;
                SourceIp::Pod { namespace, name }
            }
            None => SourceIp::Ip(ip.parse().map_err(|_| {
                err(
                    &format!("{field}.sourceIP"),
                    format!("{ip:?}: expected an IPv4 address or pod/NAMESPACE/NAME"),
                )
            })?),
        };
        checks.push(Check::SourceIp(src));
    }
    if let Some(ep) = &e.endpoints {
        let (namespace, service) = ns_name(&format!("{field}.endpoints.service"), &ep.service)?;
        if ep.ready.is_none() && ep.not_ready.is_none() {
            return Err(err(
                &format!("{field}.endpoints"),
                "expected ready: N and/or notReady: N",
            ));
        }
        checks.push(Check::Endpoints {
            namespace,
            service,
            ready: ep.ready,
            not_ready: ep.not_ready,
        });
    }
    if let Some(n) = e.succeeded {
        checks.push(Check::Succeeded(n));
    }
    if let Some(d) = e.max_latency {
        checks.push(Check::MaxLatency(d));
    }
    if let Some(r) = &e.min_throughput {
        let bps = parse_rate(r).map_err(|m| err(&format!("{field}.minThroughput"), m))?;
        checks.push(Check::MinThroughput(bps));
    }
    if let Some(f) = &e.file {
        let (namespace, pod) = ns_name(&format!("{field}.file.pod"), &f.pod)?;
        let file = PodFile::from_path(&f.path).ok_or_else(|| {
            err(
                &format!("{field}.file.path"),
                format!("{:?}: expected /etc/hosts or /etc/resolv.conf", f.path),
            )
        })?;
        if f.contains.is_empty() {
            return Err(err(
                &format!("{field}.file.contains"),
                "expected at least one line",
            ));
        }
        checks.push(Check::File {
            namespace,
            pod,
            file,
            contains: f.contains.clone(),
        });
    }
    if let Some(n) = &e.node {
        let status = match &n.ready {
            ConditionStatus::Bool(true) => "True",
            ConditionStatus::Bool(false) => "False",
            ConditionStatus::Word(w) => match w.as_str() {
                "True" => "True",
                "False" => "False",
                "Unknown" => "Unknown",
                _ => {
                    return Err(err(
                        &format!("{field}.node.ready"),
                        format!("{w:?}: expected True, False or Unknown"),
                    ));
                }
            },
        };
        checks.push(Check::NodeReady {
            node: n.name.clone(),
            status,
        });
    }
    if checks.is_empty() {
        return Err(err(
            field,
            "expected at least one of reachable, body, servedBy, sourceIP, endpoints, succeeded, maxLatency, minThroughput, file, node",
        ));
    }
    Ok(checks)
}

fn apply(v: &serde_json::Value) -> Result<Object, StepError> {
    let json = serde_json::to_string_pretty(v).expect("plain JSON");
    let m = load_str("apply", &json, &LoadOptions::default()).map_err(|e| {
        let text = e.to_string();
        let inner = text
            .strip_prefix("apply:")
            .and_then(|rest| rest.splitn(3, ':').nth(2))
            .map_or(text.as_str(), str::trim_start)
            .to_string();
        err("apply", inner)
    })?;
    let mut objects = m.objects();
    match (objects.next(), objects.next()) {
        (Some(o), None) => Ok(o.clone()),
        _ => Err(err("apply", "expected one Kubernetes object")),
    }
}

fn delete(d: &DeleteFile) -> Result<ObjectKey, StepError> {
    let Some(kind) = Kind::ALL.into_iter().find(|k| k.as_str() == d.kind) else {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(err(
            "delete.kind",
            format!("{:?}: expected one of {}", d.kind, known.join(", ")),
        ));
    };
    if kind.namespaced() {
        let (ns, name) = ns_name("delete.name", &d.name)?;
        Ok(ObjectKey::new(kind, ns, name))
    } else if d.name.is_empty() || d.name.contains('/') {
        Err(err(
            "delete.name",
            format!("{:?}: expected the {kind}'s NAME", d.name),
        ))
    } else {
        Ok(ObjectKey::cluster(kind, d.name.clone()))
    }
}

fn replay(r: &ReplayFile) -> Result<Replay, StepError> {
    if r.pcap.is_empty() {
        return Err(err(
            "replay.pcap",
            "expected the path of a pcap or pcapng file",
        ));
    }
    Ok(Replay {
        pcap: r.pcap.clone().into(),
        from: r.from.parse().map_err(|e: String| err("replay.from", e))?,
        options: sim_net::replay::ReplayOptions {
            interface: r.interface.clone(),
            all_packets: r.all_packets,
            ..Default::default()
        },
    })
}

/// `wait: {until, timeout}`: only checks on the cluster change while time passes.
fn wait_until(u: &WaitUntilFile) -> Result<Action, StepError> {
    let checks = expect("wait.until", &u.until)?;
    if checks.iter().any(Check::needs_send) {
        return Err(err(
            "wait.until",
            "expected checks on the cluster (endpoints, file, node); the last send's results do not change while waiting",
        ));
    }
    let timeout = u.timeout.unwrap_or(WAIT_UNTIL_TIMEOUT);
    if timeout == SimDuration::ZERO {
        return Err(err("wait.timeout", "expected a duration above 0"));
    }
    Ok(Action::WaitUntil { checks, timeout })
}

/// Validates one step as written.
pub fn validate(s: &StepFile) -> Result<Step, StepError> {
    let when = match (s.at, s.after) {
        (Some(_), Some(_)) => return Err(err("at", "expected at: or after:, not both")),
        (Some(at), None) => When::At(SimTime::ZERO + at),
        (None, after) => When::After(after.unwrap_or(SimDuration::ZERO)),
    };
    let set = [
        ("send", s.send.is_some()),
        ("expect", s.expect.is_some()),
        ("scale", s.scale.is_some()),
        ("setCondition", s.set_condition.is_some()),
        ("wait", s.wait.is_some()),
        ("apply", s.apply.is_some()),
        ("delete", s.delete.is_some()),
        ("ready", s.ready.is_some()),
        ("unready", s.unready.is_some()),
        ("failNode", s.fail_node.is_some()),
        ("healNode", s.heal_node.is_some()),
        ("linkDown", s.link_down.is_some()),
        ("linkUp", s.link_up.is_some()),
        ("snapshot", s.snapshot.is_some()),
        ("replay", s.replay.is_some()),
        ("dns", s.dns.is_some()),
    ];
    if set.iter().filter(|(_, x)| *x).count() != 1 {
        let names: Vec<&str> = set.iter().map(|(n, _)| *n).collect();
        return Err(err(
            "",
            format!("expected exactly one of {}", names.join(", ")),
        ));
    }
    let node_ops = [
        (&s.fail_node, NodeOp::Fail),
        (&s.heal_node, NodeOp::Heal),
        (&s.link_down, NodeOp::LinkDown),
        (&s.link_up, NodeOp::LinkUp),
    ];
    let action = if let Some(x) = &s.send {
        Action::Send(send(x)?)
    } else if let Some(x) = &s.dns {
        Action::Dns(dns_step(x)?)
    } else if let Some(x) = &s.expect {
        Action::Expect(expect("expect", x)?)
    } else if let Some(x) = &s.scale {
        let (namespace, deployment) = ns_name("scale.deployment", &x.deployment)?;
        if x.replicas < 0 {
            return Err(err("scale.replicas", "expected 0 or more"));
        }
        Action::Scale {
            namespace,
            deployment,
            replicas: x.replicas,
        }
    } else if let Some(x) = &s.set_condition {
        let (namespace, pod) = ns_name("setCondition.pod", &x.pod)?;
        let status = match &x.status {
            ConditionStatus::Bool(b) => *b,
            ConditionStatus::Word(w) if w == "True" => true,
            ConditionStatus::Word(w) if w == "False" => false,
            ConditionStatus::Word(w) => {
                return Err(err(
                    "setCondition.status",
                    format!("{w:?}: expected True or False"),
                ));
            }
        };
        if x.type_.is_empty() {
            return Err(err("setCondition.type", "expected a condition type"));
        }
        Action::SetCondition {
            namespace,
            pod,
            condition_type: x.type_.clone(),
            status,
        }
    } else if let Some(x) = &s.apply {
        Action::Apply(Box::new(apply(x)?))
    } else if let Some(x) = &s.delete {
        Action::Delete(delete(x)?)
    } else if let Some((field, pod, ready)) = (s.ready.as_ref().map(|p| ("ready", p, true)))
        .or_else(|| s.unready.as_ref().map(|p| ("unready", p, false)))
    {
        let (namespace, pod) = ns_name(field, pod)?;
        Action::Probe {
            namespace,
            pod,
            ready,
        }
    } else if let Some((name, op)) = node_ops
        .into_iter()
        .find_map(|(n, op)| n.as_ref().map(|n| (n, op)))
    {
        if name.is_empty() || name.contains('/') {
            return Err(err(op.as_str(), format!("{name:?}: expected a node NAME")));
        }
        Action::Node {
            name: name.clone(),
            op,
        }
    } else if let Some(x) = &s.snapshot {
        let mut tables = x.tables.clone();
        if tables.is_empty() {
            tables = vec![
                SnapshotTable::Addr,
                SnapshotTable::Routes,
                SnapshotTable::Neigh,
                SnapshotTable::Fdb,
                SnapshotTable::Iptables,
                SnapshotTable::Conntrack,
            ];
        }
        tables.sort();
        tables.dedup();
        Action::Snapshot {
            node: x.node.clone(),
            tables,
        }
    } else if let Some(x) = &s.replay {
        Action::Replay(replay(x)?)
    } else {
        match s.wait.as_ref().expect("exactly one action is set") {
            WaitFile::For(d) => Action::Wait(*d),
            WaitFile::Until(u) => wait_until(u)?,
        }
    };
    Ok(Step { when, action })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_in_their_three_forms() {
        assert_eq!(
            target("t", "10.244.1.2:8080").unwrap(),
            Target::Ip("10.244.1.2".parse().unwrap(), 8080)
        );
        assert_eq!(
            target("t", "pod/shop/web-1:80").unwrap(),
            Target::Pod {
                namespace: "shop".into(),
                name: "web-1".into(),
                port: 80
            }
        );
        assert_eq!(
            target("t", "svc/web.shop:80").unwrap(),
            Target::Service {
                namespace: "shop".into(),
                name: "web".into(),
                port: 80
            }
        );
        assert!(target("t", "web:0").is_err());
        assert!(target("t", "pod/web:80").is_err());
        assert!(target("t", "10.0.0.1").is_err());
    }
}
