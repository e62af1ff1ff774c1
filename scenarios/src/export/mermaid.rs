//! One request's journey as a Mermaid sequence diagram: the network namespaces it crossed are
//! the participants (in the order it reached them), each hop is a message — an arrow from the
//! namespace the packet was in to the one it is in now, or a self-message when it stays —
//! reading `#tag device point verdict: note`. A drop ends in a cross (`-x`). Every packet of
//! the request is drawn (the request, its replies, the ARP it set off), each tag introduced by
//! a note the first time it appears.
//!
//! Text is escaped with Mermaid's entity codes (`#35;` for `#`, `#59;` for `;`, `#60;`/`#62;`
//! for `<`/`>`), so notes never break the diagram's syntax.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sim_net::{Hop, Verdict};

use crate::scenario::FlowRecord;

/// Text safe inside a Mermaid message, note or participant alias.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// What a hop says in the diagram.
pub fn hop_text(h: &Hop) -> String {
    let mut s = format!(
        "#{} {} {} {}",
        h.tag,
        h.device.as_deref().unwrap_or("-"),
        h.point.as_str(),
        h.verdict
    );
    if !h.note.is_empty() {
        s.push_str(": ");
        s.push_str(&h.note);
    }
    s
}

/// The diagram of `flow`.
pub fn sequence(flow: &FlowRecord) -> String {
    let mut participants: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for h in &flow.hops {
        if !participants.contains_key(h.netns.as_str()) {
            participants.insert(&h.netns, order.len());
            order.push(&h.netns);
        }
    }
    let mut out = String::from("sequenceDiagram\n");
    let _ = writeln!(
        out,
        "    title {}",
        escape(&format!(
            "flow {}: {} {} → {} {}: {}",
            flow.id(),
            flow.from,
            flow.src,
            flow.dst,
            super::proto_name(flow.proto),
            flow.outcome
        ))
    );
    for (i, ns) in order.iter().enumerate() {
        let _ = writeln!(out, "    participant p{i} as {}", escape(ns));
    }
    // Where each packet (tag) was last seen.
    let mut at: BTreeMap<u32, usize> = BTreeMap::new();
    for h in &flow.hops {
        let here = participants[h.netns.as_str()];
        let from = match at.insert(h.tag, here) {
            Some(prev) => prev,
            None => {
                let _ = writeln!(
                    out,
                    "    Note over p{here}: {}",
                    escape(&format!("packet #{} at {}", h.tag, h.time))
                );
                here
            }
        };
        let arrow = match h.verdict {
            Verdict::Drop(_) => "-x",
            Verdict::Pass | Verdict::Deliver | Verdict::Consume => "->>",
        };
        let _ = writeln!(out, "    p{from}{arrow}p{here}: {}", escape(&hop_text(h)));
    }
    out
}
