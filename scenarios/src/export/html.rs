//! The run as one self-contained HTML page: nothing is fetched (inline CSS, a few lines of
//! inline JS, the topology as inline SVG), so it opens offline and can be mailed or attached
//! to a CI run.
//!
//! Sections: the summary (PASS/FAIL, seed, nodes), every step with its outcome (✓ held,
//! ✗ failed, • done) and details, the topology (Graphviz's SVG when it was drawn, else the
//! DOT text), and one collapsible `<details>` per request: its summary line carries a timeline
//! strip (one tick per hop, placed by simulated time, red for drops) and the namespaces the
//! request's first packet crossed; opened, it lists every hop with its note (routing and
//! netfilter decisions, NAT, conntrack state). All text is HTML-escaped.

use std::fmt::Write as _;

use sim_net::Verdict;

use super::RunView;
use crate::scenario::{FlowRecord, Status};

/// How the topology is shown.
#[derive(Debug, Clone, Copy)]
pub enum Topology<'a> {
    /// Graphviz's SVG output.
    Svg(&'a str),
    /// The DOT text, when Graphviz is not installed.
    Dot(&'a str),
}

/// Text safe in HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2b44;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:20px}
header p{margin:2px 0;color:#c9d3e3;white-space:pre-wrap}
main{padding:8px 24px 40px;max-width:1400px}
h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #d5dae1;padding-bottom:4px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.badge.pass{background:#d9f2dd;color:#18612a}.badge.fail{background:#fbdcdc;color:#8a1c1c}
tr.done td{background:#f3f5f8}li.fail{color:#8a1c1c}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e6e9ee;vertical-align:top}
th{background:#eef1f5;font-weight:600;font-size:12px}
td.t,td.n{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:nowrap;font-size:12px}
td.m{font-size:16px;width:1.5em;text-align:center}
tr.failed td{background:#fff4f4}tr.failed td.m{color:#b3261e}tr.passed td.m{color:#18794e}
ul.d{margin:2px 0 0;padding-left:18px;color:#4a5567;font-size:13px}
.topo{background:#fff;border:1px solid #d5dae1;overflow:auto;max-height:900px;padding:8px}
.topo svg{max-width:100%;height:auto}
pre{background:#fff;border:1px solid #d5dae1;padding:8px;overflow:auto;max-height:480px;font-size:12px}
ul.d pre{max-width:calc(100vw - 260px);margin:4px 0}
details{background:#fff;border:1px solid #d5dae1;border-radius:4px;margin:6px 0}
details>summary{cursor:pointer;padding:6px 10px;list-style-position:inside}
details[open]>summary{border-bottom:1px solid #e6e9ee}
.fid{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:600;margin-right:6px}
.path{display:block;margin:4px 0 0 18px;color:#4a5567;font-size:12px}
.path span{display:inline-block;background:#eef1f5;border-radius:3px;padding:0 5px;margin:1px 0}
svg.tl{display:block;margin:4px 0 0 18px}
table.hops td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
table.hops tr.drop td{background:#fdecec;color:#8a1c1c}
table.hops tr.deliver td{background:#eaf6ec}
table.hops td.note{white-space:pre-wrap;word-break:break-word}
button{font:inherit;font-size:12px;margin:0 0 6px}
"#;

const SCRIPT: &str = r#"
function kns(open){document.querySelectorAll('details.flow').forEach(function(d){d.open=open;});}
"#;

fn status_class(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Passed => ("passed", "✓"),
        Status::Failed => ("failed", "✗"),
        Status::Done => ("done", "•"),
    }
}

/// The SVG without its XML prolog and doctype, ready to sit inside HTML.
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |i| &svg[i..])
}

/// A strip with one tick per hop, placed by time between the request's start and end (by
/// order when everything happened at one instant, as on a node with no link latency).
fn timeline(flow: &FlowRecord) -> String {
    const W: u64 = 600;
    let start = flow.started.as_nanos();
    let span = flow
        .hops
        .iter()
        .map(|h| h.time.as_nanos())
        .chain([flow.finished.as_nanos()])
        .max()
        .unwrap_or(start)
        .saturating_sub(start);
    let by_order = span == 0;
    let (span, n) = (span.max(1), (flow.hops.len() as u64).max(2) - 1);
    let mut out = format!(
        "<svg class=\"tl\" width=\"{W}\" height=\"14\" viewBox=\"0 0 {W} 14\" role=\"img\" aria-label=\"hop timeline\"><rect x=\"0\" y=\"6\" width=\"{W}\" height=\"2\" fill=\"#c9d0da\"/>"
    );
    for (i, h) in flow.hops.iter().enumerate() {
        let x = if by_order {
            i as u64 * (W - 2) / n + 1
        } else {
            h.time.as_nanos().saturating_sub(start).min(span) * (W - 2) / span + 1
        };
        let (color, height) = match h.verdict {
            Verdict::Drop(_) => ("#c62828", 14),
            Verdict::Deliver => ("#2e7d32", 12),
            Verdict::Pass | Verdict::Consume => ("#5470a0", 8),
        };
        let y = (14 - height) / 2;
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{y}\" width=\"1\" height=\"{height}\" fill=\"{color}\"/>"
        );
    }
    out.push_str("</svg>");
    out
}

/// The namespaces the flow's first packet crossed, in order.
fn path(flow: &FlowRecord) -> Vec<&str> {
    let Some(tag) = flow.hops.first().map(|h| h.tag) else {
        return Vec::new();
    };
    let mut p: Vec<&str> = Vec::new();
    for h in flow.hops.iter().filter(|h| h.tag == tag) {
        if p.last() != Some(&h.netns.as_str()) {
            p.push(&h.netns);
        }
    }
    p
}

fn flow_section(out: &mut String, flow: &FlowRecord) {
    let badge = if flow.success {
        "<span class=\"badge pass\">"
    } else {
        "<span class=\"badge fail\">"
    };
    let took = flow.finished.saturating_duration_since(flow.started);
    let _ = write!(
        out,
        "<details class=\"flow\" id=\"flow-{id}\"><summary><span class=\"fid\">{id}</span>{} {} → {} {} {badge}{}</span> <small>at {}, took {took}, {} hops</small>",
        escape(&flow.from),
        flow.src,
        flow.dst,
        super::proto_name(flow.proto),
        escape(&flow.outcome),
        flow.started,
        flow.hops.len(),
        id = escape(&flow.id()),
    );
    out.push_str(&timeline(flow));
    out.push_str("<span class=\"path\">first packet: ");
    let chips: Vec<String> = path(flow)
        .iter()
        .map(|n| format!("<span>{}</span>", escape(n)))
        .collect();
    out.push_str(&chips.join(" → "));
    out.push_str("</span></summary>\n<table class=\"hops\"><thead><tr><th>time</th><th>packet</th><th>netns</th><th>device</th><th>point</th><th>verdict</th><th>note</th></tr></thead><tbody>\n");
    for h in &flow.hops {
        let class = match h.verdict {
            Verdict::Drop(_) => " class=\"drop\"",
            Verdict::Deliver => " class=\"deliver\"",
            Verdict::Pass | Verdict::Consume => "",
        };
        let _ = writeln!(
            out,
            "<tr{class}><td>{}</td><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"note\">{}</td></tr>",
            h.time,
            h.tag,
            escape(&h.netns),
            escape(h.device.as_deref().unwrap_or("-")),
            h.point.as_str(),
            escape(&h.verdict.to_string()),
            escape(&h.note)
        );
    }
    out.push_str("</tbody></table></details>\n");
}

/// The page.
pub fn report(view: &RunView<'_>, topology: Topology<'_>) -> String {
    let r = view.report;
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>kube-netsim: {}</title><style>{STYLE}</style><script>{SCRIPT}</script></head>\n<body>",
        escape(&r.name)
    );
    let (verdict, class) = if r.passed() {
        ("PASS", "pass")
    } else {
        ("FAIL", "fail")
    };
    let _ = write!(
        out,
        "<header><h1>{} <span class=\"badge {class}\" id=\"verdict\">{verdict}</span></h1><p>seed {} · {} node{} · {} steps · {} requests</p>",
        escape(&r.name),
        r.seed,
        r.nodes,
        if r.nodes == 1 { "" } else { "s" },
        r.steps.len(),
        r.flows.len()
    );
    if !r.description.trim().is_empty() {
        let _ = write!(out, "<p>{}</p>", escape(r.description.trim()));
    }
    out.push_str("</header>\n<main>\n<h2>Steps</h2>\n<table id=\"steps\"><thead><tr><th>time</th><th></th><th>#</th><th>step</th></tr></thead><tbody>\n");
    for s in &r.steps {
        let (class, mark) = status_class(s.status);
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td class=\"t\">{}</td><td class=\"m\">{mark}</td><td class=\"n\">{}</td><td>{}",
            s.time,
            s.index,
            escape(&s.what)
        );
        if !s.details.is_empty() {
            out.push_str("<ul class=\"d\">");
            for d in &s.details {
                // A multi-line detail (a snapshot's table dump) keeps its lines.
                if d.contains('\n') {
                    let _ = write!(out, "<li><pre>{}</pre></li>", escape(d));
                } else {
                    let _ = write!(out, "<li>{}</li>", escape(d));
                }
            }
            out.push_str("</ul>");
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table>\n");
    if !r.errors.is_empty() {
        out.push_str("<h2>Errors</h2><ul>");
        for e in &r.errors {
            let _ = write!(out, "<li class=\"fail\">{}</li>", escape(e));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h2>Topology</h2>\n");
    match topology {
        Topology::Svg(svg) => {
            let _ = writeln!(
                out,
                "<div class=\"topo\" id=\"topology\">{}</div>",
                inline_svg(svg)
            );
        }
        Topology::Dot(dot) => {
            let _ = writeln!(
                out,
                "<p>Graphviz <code>dot</code> was not found when this report was written; the topology in DOT (render it with <code>dot -Tsvg</code>):</p><pre id=\"topology\">{}</pre>",
                escape(dot)
            );
        }
    }
    out.push_str("<h2>Flows</h2>\n");
    if r.flows.is_empty() {
        out.push_str("<p>The run sent no requests.</p>\n");
    } else {
        out.push_str("<p>One per request, named STEP.REQUEST. Open one for every hop its packets made (ticks: blue pass, green delivered, red dropped).</p><button type=\"button\" onclick=\"kns(true)\">expand all</button> <button type=\"button\" onclick=\"kns(false)\">collapse all</button>\n");
        for f in &r.flows {
            flow_section(&mut out, f);
        }
    }
    out.push_str("</main></body></html>\n");
    out
}
