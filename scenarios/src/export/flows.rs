//! Hubble-style flow records: one JSON line per IP packet of every request, shaped like
//! `hubble observe -o json` prints a `GetFlowsResponse` (`{"flow": {...}, "node_name",
//! "time"}`), with the field names of Cilium's `flow.Flow` message (`time`, `verdict`,
//! `drop_reason_desc`, `IP{source,destination,ipVersion}`, `l4{TCP|UDP|ICMPv4}`,
//! `source`/`destination` endpoints `{namespace,pod_name,labels}`, `Type`, `node_name`,
//! `event_type`, `traffic_direction`, `trace_observation_point`, `is_reply`, `Summary`).
//!
//! Where Hubble reports a packet at each observation point on each node, we report it once,
//! where its journey ended: `node_name` is that node (or the namespace's own name off the
//! nodes, e.g. the cloud router), `verdict` FORWARDED (delivered or consumed) or DROPPED.
//! The observation point is `TO_ENDPOINT` for a packet handed to a pod, `TO_STACK` for one
//! handed to a node's (or router's) own stack, `UNKNOWN_POINT` for drops, as Hubble's drop
//! events carry none. `traffic_direction` is INGRESS into a pod it did not start in, EGRESS
//! out of the pod it started in, else TRAFFIC_DIRECTION_UNKNOWN. `drop_reason_desc` is our
//! [`sim_net::DropReason`] in Cilium's upper-snake style (`no-route` → `NO_ROUTE`), not
//! Cilium's own drop codes, which name eBPF datapath reasons we do not model.
//!
//! Addresses and ports come from the packet's first tcpdump-like summary in its hops (sim-net
//! writes one on every `rx`), so they are as the packet left its sender; a packet that never
//! reached a device falls back to the request's own addresses. ARP is left out, as Hubble
//! leaves it out of L3/L4 flows. Times are simulated time as RFC 3339 from the Unix epoch.
//! Endpoints: a pod is `{namespace, pod_name, labels}` (its labels as `k8s:KEY=VALUE` plus the
//! namespace label Cilium adds); a node is `reserved:host`; anything else `reserved:world`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Map, Value, json};
use sim_core::SimTime;
use sim_net::{Hop, Point, Verdict};

use super::{Owner, Placement, RunView};
use crate::scenario::FlowRecord;

/// Layer 4 of a packet summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L4 {
    /// `[S.]`-style flags as tcpdump writes them.
    Tcp(String),
    Udp,
    /// What the ICMP message is (`echo request`, `port unreachable`).
    Icmp(String),
    Other(String),
}

/// The addresses and protocol of sim-net's packet summary
/// (`10.0.0.1:80 > 10.0.0.2:5000: TCP [S.], ttl 64, len 52`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub src: Ipv4Addr,
    pub sport: Option<u16>,
    pub dst: Ipv4Addr,
    pub dport: Option<u16>,
    pub l4: L4,
}

fn addr(s: &str) -> Option<(Ipv4Addr, Option<u16>)> {
    match s.split_once(':') {
        Some((ip, port)) => Some((ip.parse().ok()?, Some(port.parse().ok()?))),
        None => Some((s.parse().ok()?, None)),
    }
}

impl Summary {
    pub fn parse(note: &str) -> Option<Summary> {
        let (src, rest) = note.split_once(" > ")?;
        let (dst, rest) = rest.split_once(": ")?;
        let (src, sport) = addr(src)?;
        let (dst, dport) = addr(dst)?;
        let body = rest.split(", ttl ").next().unwrap_or(rest);
        let l4 = if let Some(f) = body.strip_prefix("TCP [") {
            L4::Tcp(f.trim_end_matches(']').to_string())
        } else if body.starts_with("UDP") {
            L4::Udp
        } else if let Some(what) = body.strip_prefix("ICMP ") {
            L4::Icmp(what.to_string())
        } else {
            L4::Other(body.to_string())
        };
        Some(Summary {
            src,
            sport,
            dst,
            dport,
            l4,
        })
    }
}

/// Simulated time as RFC 3339 UTC with nanoseconds, from the Unix epoch.
pub fn rfc3339(t: SimTime) -> String {
    let ns = t.as_nanos();
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ns % 1_000_000_000
    )
}

/// The hops of each packet (tag) of a flow, in the order the packets first appear.
pub fn packets(flow: &FlowRecord) -> Vec<(u32, Vec<&Hop>)> {
    let mut order = Vec::new();
    let mut by_tag: BTreeMap<u32, Vec<&Hop>> = BTreeMap::new();
    for h in &flow.hops {
        by_tag
            .entry(h.tag)
            .or_insert_with(|| {
                order.push(h.tag);
                Vec::new()
            })
            .push(h);
    }
    order
        .into_iter()
        .map(|t| (t, by_tag.remove(&t).unwrap_or_default()))
        .collect()
}

fn tcp_flags(f: &str) -> (Map<String, Value>, Vec<&'static str>) {
    let mut m = Map::new();
    let mut names = Vec::new();
    for (c, name) in [
        ('F', "FIN"),
        ('S', "SYN"),
        ('R', "RST"),
        ('P', "PSH"),
        ('.', "ACK"),
    ] {
        if f.contains(c) {
            m.insert(name.into(), Value::Bool(true));
            names.push(name);
        }
    }
    (m, names)
}

fn endpoint(view: &RunView<'_>, placement: &Placement, ip: Ipv4Addr) -> Value {
    if let Some(key) = placement.pod_by_ip(ip) {
        let (ns, name) = key.split_once('/').unwrap_or(("", key));
        let mut labels: Vec<String> = view
            .cluster
            .store
            .get_as::<Pod>(ns, name)
            .and_then(|p| p.metadata.labels.as_ref())
            .map(|l| l.iter().map(|(k, v)| format!("k8s:{k}={v}")).collect())
            .unwrap_or_default();
        labels.push(format!("k8s:io.kubernetes.pod.namespace={ns}"));
        labels.sort();
        json!({"namespace": ns, "pod_name": name, "labels": labels})
    } else if placement.node_by_ip(ip).is_some() {
        json!({"labels": ["reserved:host"]})
    } else {
        json!({"labels": ["reserved:world"]})
    }
}

fn is_pod(placement: &Placement, netns: &str) -> bool {
    matches!(placement.owner(netns), Owner::Pod { .. })
}

/// The Hubble record of one packet of `flow`, or `None` for ARP.
fn record(
    view: &RunView<'_>,
    placement: &Placement,
    flow: &FlowRecord,
    client_netns: &str,
    tag: u32,
    hops: &[&Hop],
) -> Option<Value> {
    if hops
        .iter()
        .any(|h| h.point == Point::Arp || h.note.starts_with("ARP"))
    {
        return None;
    }
    let (first, last) = (hops.first()?, hops.last()?);
    let is_reply = first.netns != client_netns;
    let summary = hops
        .iter()
        .find_map(|h| Summary::parse(&h.note))
        .unwrap_or_else(|| {
            let (a, b) = if is_reply {
                (flow.dst, flow.src)
            } else {
                (flow.src, flow.dst)
            };
            Summary {
                src: *a.ip(),
                sport: Some(a.port()),
                dst: *b.ip(),
                dport: Some(b.port()),
                l4: match flow.proto {
                    sim_net::SocketProto::Tcp => L4::Tcp(String::new()),
                    sim_net::SocketProto::Udp => L4::Udp,
                },
            }
        });
    let ended_in_pod = is_pod(placement, &last.netns);
    let (verdict, point) = match last.verdict {
        Verdict::Drop(_) => ("DROPPED", "UNKNOWN_POINT"),
        _ if ended_in_pod => ("FORWARDED", "TO_ENDPOINT"),
        _ => ("FORWARDED", "TO_STACK"),
    };
    let direction = if ended_in_pod && last.netns != first.netns {
        "INGRESS"
    } else if is_pod(placement, &first.netns) {
        "EGRESS"
    } else {
        "TRAFFIC_DIRECTION_UNKNOWN"
    };
    let (l4, summary_text) = match &summary.l4 {
        L4::Tcp(f) => {
            let (flags, names) = tcp_flags(f);
            (
                json!({"TCP": {"source_port": summary.sport, "destination_port": summary.dport, "flags": flags}}),
                format!("TCP Flags: {}", names.join(", ")),
            )
        }
        L4::Udp => (
            json!({"UDP": {"source_port": summary.sport, "destination_port": summary.dport}}),
            "UDP".to_string(),
        ),
        L4::Icmp(what) => (json!({"ICMPv4": {}}), format!("ICMPv4 {what}")),
        L4::Other(p) => (json!({}), p.clone()),
    };
    let node = placement.node_of(&last.netns);
    let time = rfc3339(last.time);
    let mut f = Map::new();
    f.insert("time".into(), json!(time));
    f.insert("verdict".into(), json!(verdict));
    if let Verdict::Drop(r) = last.verdict {
        f.insert(
            "drop_reason_desc".into(),
            json!(r.as_str().replace('-', "_").to_uppercase()),
        );
    }
    f.insert(
        "IP".into(),
        json!({"source": summary.src.to_string(), "destination": summary.dst.to_string(), "ipVersion": "IPv4"}),
    );
    f.insert("l4".into(), l4);
    f.insert("source".into(), endpoint(view, placement, summary.src));
    f.insert("destination".into(), endpoint(view, placement, summary.dst));
    f.insert("Type".into(), json!("L3_L4"));
    f.insert("node_name".into(), json!(node));
    // Cilium's monitor message types: 1 drop, 4 trace.
    let event_type = if verdict == "DROPPED" { 1 } else { 4 };
    f.insert("event_type".into(), json!({"type": event_type}));
    f.insert("traffic_direction".into(), json!(direction));
    f.insert("trace_observation_point".into(), json!(point));
    f.insert("is_reply".into(), json!(is_reply));
    f.insert("Summary".into(), json!(summary_text));
    Some(json!({
        "flow": Value::Object(f),
        "node_name": node,
        "time": time,
        "kube_netsim": {"flow": flow.id(), "packet": tag, "hops": hops.len()},
    }))
}

/// Every flow record of the run, one JSON object per line.
pub fn hubble_jsonl(view: &RunView<'_>) -> String {
    let placement = view.placement();
    let mut out = String::new();
    for flow in &view.report.flows {
        let Some(client_netns) = flow.hops.first().map(|h| h.netns.clone()) else {
            continue;
        };
        for (tag, hops) in packets(flow) {
            if let Some(r) = record(view, &placement, flow, &client_netns, tag, &hops) {
                let _ = writeln!(out, "{r}");
            }
        }
    }
    out
}
