//! What became of each injected flow, read from the run: every injected packet's fate (the
//! final hop of its tag: delivered, consumed by a kernel, dropped, or still in flight), the
//! NAT it went through (the netfilter hops of its tag), the tuple it arrived with, and the
//! replies that came back to the injecting namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Value, json};

use super::Injection;
use super::flow::{FlowKey, brief, quoted_key};
use crate::hop::{DropReason, Point, Verdict};
use crate::sim::NetSim;

/// What became of one injected packet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fate {
    /// Handed to a socket (or packet sink) in `netns`, arriving as `arrived`.
    Delivered {
        netns: String,
        /// The socket, as the delivering hop names it (`tcp socket :8080`).
        to: String,
        arrived: FlowKey,
        /// NAT on the way, `HOOK KIND old -> new`, in order.
        nat: Vec<String>,
    },
    /// Used up by a kernel (an echo request answered, ARP).
    Consumed {
        netns: String,
        note: String,
        nat: Vec<String>,
    },
    /// Dropped.
    Dropped {
        netns: String,
        device: Option<String>,
        point: Point,
        reason: DropReason,
        /// The hop's note: the netfilter rule that dropped it, when there is one.
        note: String,
        nat: Vec<String>,
    },
    /// No final hop by the end of the run (queued, on a link).
    InFlight,
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nat = |f: &mut fmt::Formatter<'_>, nat: &[String]| {
            if nat.is_empty() {
                Ok(())
            } else {
                write!(f, " after {}", nat.join(", "))
            }
        };
        match self {
            Fate::Delivered {
                netns,
                to,
                arrived,
                nat: n,
            } => {
                write!(f, "delivered to {netns} ({to}) as {arrived}")?;
                nat(f, n)
            }
            Fate::Consumed {
                netns,
                note,
                nat: n,
            } => {
                write!(f, "consumed by {netns}'s kernel: {note}")?;
                nat(f, n)
            }
            Fate::Dropped {
                netns,
                device,
                point,
                reason,
                note,
                nat: n,
            } => {
                write!(
                    f,
                    "dropped in {netns} {} {}: {reason}",
                    device.as_deref().unwrap_or("-"),
                    point.as_str()
                )?;
                if !note.is_empty() {
                    write!(f, " ({note})")?;
                }
                nat(f, n)
            }
            Fate::InFlight => f.write_str("still in flight at the end of the run"),
        }
    }
}

impl Fate {
    /// The fate as JSON.
    pub fn json(&self) -> Value {
        match self {
            Fate::Delivered {
                netns,
                to,
                arrived,
                nat,
            } => json!({"fate": "delivered", "netns": netns, "to": to,
                        "arrived": arrived.json(), "nat": nat}),
            Fate::Consumed { netns, note, nat } => {
                json!({"fate": "consumed", "netns": netns, "note": note, "nat": nat})
            }
            Fate::Dropped {
                netns,
                device,
                point,
                reason,
                note,
                nat,
            } => json!({"fate": "dropped", "netns": netns, "device": device,
                        "point": point.as_str(), "reason": reason.as_str(),
                        "note": note, "nat": nat}),
            Fate::InFlight => json!({"fate": "in-flight"}),
        }
    }
}

/// What became of a flow: the distinct fates of its injected packets and the replies that
/// came back, each with a count, in the order first seen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowOutcome {
    pub fates: Vec<(Fate, usize)>,
    /// Replies by kind (`tcp [S.]`, `icmp port unreachable`).
    pub replies: Vec<(String, usize)>,
}

fn count<T: PartialEq>(v: &mut Vec<(T, usize)>, x: T) {
    match v.iter_mut().find(|(y, _)| *y == x) {
        Some((_, n)) => *n += 1,
        None => v.push((x, 1)),
    }
}

impl fmt::Display for FlowOutcome {
    /// One line per fate, then one line of replies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (fate, n) in &self.fates {
            writeln!(f, "{n}× {fate}")?;
        }
        if self.replies.is_empty() {
            write!(f, "no reply")
        } else {
            let r: Vec<String> = self
                .replies
                .iter()
                .map(|(k, n)| format!("{n}× {k}"))
                .collect();
            write!(f, "replies: {}", r.join(", "))
        }
    }
}

impl FlowOutcome {
    /// The outcome as JSON.
    pub fn json(&self) -> Value {
        json!({
            "fates": self.fates.iter().map(|(fate, n)| {
                let mut v = fate.json();
                v["packets"] = json!(n);
                v
            }).collect::<Vec<_>>(),
            "replies": self.replies.iter()
                .map(|(k, n)| json!({"kind": k, "packets": n}))
                .collect::<Vec<_>>(),
        })
    }
}

/// One flow of a replay and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowReport {
    /// The flow as captured (its first packet's orientation).
    pub key: FlowKey,
    /// The forward tuple as injected (source rewritten).
    pub sent_as: FlowKey,
    /// Packets of the flow in the capture (both directions).
    pub captured: usize,
    /// Packets injected.
    pub injected: usize,
    pub outcome: FlowOutcome,
}

impl fmt::Display for FlowReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key)?;
        if self.sent_as != self.key {
            write!(f, "  sent as {}", self.sent_as)?;
        }
        writeln!(
            f,
            "  ({} of {} captured packets injected)",
            self.injected, self.captured
        )?;
        for line in self.outcome.to_string().lines() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl FlowReport {
    /// Renames the namespaces its fates name (a higher layer knows `demo_server` as the pod
    /// `demo/server`); names `rename` returns `None` for are kept.
    pub fn rename_netns(&mut self, rename: impl Fn(&str) -> Option<String>) {
        for (fate, _) in &mut self.outcome.fates {
            if let Fate::Delivered { netns, .. }
            | Fate::Consumed { netns, .. }
            | Fate::Dropped { netns, .. } = fate
                && let Some(new) = rename(netns)
            {
                *netns = new;
            }
        }
    }

    /// The report as JSON.
    pub fn json(&self) -> Value {
        json!({
            "flow": self.key.json(),
            "sentAs": self.sent_as.json(),
            "captured": self.captured,
            "injected": self.injected,
            "outcome": self.outcome.json(),
        })
    }
}

/// Removes the packet numbers hop notes carry (`(reply #12)`, `(as #3)`), which differ from
/// run to run and would make every outcome look changed.
fn without_tags(note: &str) -> String {
    let mut out = String::new();
    let mut rest = note;
    while let Some(open) = rest.find(" (") {
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        let group = &rest[open..open + close + 1];
        out.push_str(&rest[..open]);
        if !group.contains('#') {
            out.push_str(group);
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The NAT events in a netfilter hop's note (`PREROUTING: conntrack: NEW; DNAT a -> b`).
fn nat_events(note: &str) -> impl Iterator<Item = String> + '_ {
    let (hook, events) = note.split_once(": ").unwrap_or(("", note));
    events
        .split("; ")
        .filter(|e| e.contains(" -> ") && !e.starts_with("conntrack"))
        .map(move |e| format!("{hook} {e}"))
}

impl Injection {
    /// Per flow, in first-packet order, what became of it in `sim` (which must have recorded
    /// its hops since the injection).
    pub fn report(&self, sim: &NetSim) -> Vec<FlowReport> {
        let mut flow_of_tag: BTreeMap<u32, usize> = BTreeMap::new();
        for (i, f) in self.flows.iter().enumerate() {
            for &t in &f.tags {
                flow_of_tag.insert(t, i);
            }
        }
        let mut nat: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        let mut fate: BTreeMap<u32, Fate> = BTreeMap::new();
        let mut delivered_as: BTreeMap<u32, FlowKey> = BTreeMap::new();
        for d in &sim.delivered {
            if flow_of_tag.contains_key(&d.tag)
                && let Some(k) = FlowKey::of(&d.packet)
            {
                delivered_as.entry(d.tag).or_insert(k);
            }
        }
        for h in &sim.hops {
            if !flow_of_tag.contains_key(&h.tag) || fate.contains_key(&h.tag) {
                continue;
            }
            if h.point == Point::Netfilter {
                nat.entry(h.tag).or_default().extend(nat_events(&h.note));
            }
            let nat_so_far = || nat.get(&h.tag).cloned().unwrap_or_default();
            let f = match h.verdict {
                Verdict::Pass => continue,
                Verdict::Deliver => match delivered_as.get(&h.tag) {
                    Some(&arrived) => Fate::Delivered {
                        netns: h.netns.clone(),
                        to: h.note.clone(),
                        arrived,
                        nat: nat_so_far(),
                    },
                    None => continue,
                },
                Verdict::Consume => Fate::Consumed {
                    netns: h.netns.clone(),
                    note: without_tags(&h.note),
                    nat: nat_so_far(),
                },
                Verdict::Drop(reason) => Fate::Dropped {
                    netns: h.netns.clone(),
                    device: h.device.clone(),
                    point: h.point,
                    reason,
                    note: without_tags(&h.note),
                    nat: nat_so_far(),
                },
            };
            fate.insert(h.tag, f);
        }
        let mut by_reply: BTreeMap<FlowKey, usize> = BTreeMap::new();
        let mut by_quote: BTreeMap<FlowKey, usize> = BTreeMap::new();
        for (i, f) in self.flows.iter().enumerate() {
            by_reply.entry(f.sent_as.reversed()).or_insert(i);
            by_quote.entry(f.sent_as).or_insert(i);
        }
        let mut replies: Vec<Vec<(String, usize)>> = vec![Vec::new(); self.flows.len()];
        let mut seen = BTreeSet::new();
        for d in &sim.delivered {
            if d.ns != self.ns || flow_of_tag.contains_key(&d.tag) || !seen.insert(d.tag) {
                continue;
            }
            let flow = FlowKey::of(&d.packet)
                .and_then(|k| by_reply.get(&k))
                .or_else(|| quoted_key(&d.packet).and_then(|k| by_quote.get(&k)));
            if let Some(&i) = flow {
                count(&mut replies[i], brief(&d.packet));
            }
        }
        self.flows
            .iter()
            .zip(replies)
            .map(|(f, replies)| {
                let mut fates = Vec::new();
                for t in &f.tags {
                    count(&mut fates, fate.get(t).cloned().unwrap_or(Fate::InFlight));
                }
                FlowReport {
                    key: f.key,
                    sent_as: f.sent_as,
                    captured: f.captured,
                    injected: f.tags.len(),
                    outcome: FlowOutcome { fates, replies },
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_numbers_leave_notes() {
        assert_eq!(
            without_tags("echo request answered (reply #12)"),
            "echo request answered"
        );
        assert_eq!(
            without_tags("no tcp socket on :80 (x) (as #3) end"),
            "no tcp socket on :80 (x) end"
        );
        let n: Vec<String> =
            nat_events("PREROUTING: conntrack: NEW; DNAT 10.96.0.10:80 -> 10.244.2.3:8080")
                .collect();
        assert_eq!(n, ["PREROUTING DNAT 10.96.0.10:80 -> 10.244.2.3:8080"]);
    }
}
