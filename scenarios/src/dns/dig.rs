//! A reply message as BIND's `dig` prints it (BIND 9.18 `bin/dig/dig.c` `printmessage`,
//! `lib/dns/message.c` section text, `lib/dns/masterdump.c` column layout): the
//! `->>HEADER<<-` line, the flags line with section counts (ADDITIONAL counts the OPT
//! record), the recursion warning, the OPT pseudosection, then each non-empty section.
//!
//! Columns as `dig` sets its style: TTL at 24, class at 32, type at 40, data at 48, tab
//! width 8; a field that cannot reach its column is separated by one space. Question lines
//! start with `;`, which the column count leaves out (`dns_message_sectiontotext` writes it
//! before `dns_master_questiontotext` lays the line out), and have no TTL.
//!
//! Left out: the lines that depend on the run rather than the message (`; <<>> DiG`,
//! `;; Query time`, `;; SERVER`, `;; WHEN`); `MSG SIZE  rcvd` is kept. EDNS options (cookies,
//! NSID) are not printed; the server here sends none.

use std::fmt::Write as _;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::Record;

use super::presentation::{RecordText, header_flags, type_text};

/// `dig`'s columns (`dns_master_stylecreate(.., 24, 32, 40, 48, 80, 8, ..)`).
const TTL_COLUMN: usize = 24;
const CLASS_COLUMN: usize = 32;
const TYPE_COLUMN: usize = 40;
const DATA_COLUMN: usize = 48;
const TAB_WIDTH: usize = 8;

/// The text `dig` prints for `reply`, received as `size` bytes.
pub fn dig_text(reply: &Message, size: usize) -> String {
    let h = &reply.metadata;
    let mut out = String::new();
    let _ = writeln!(
        out,
        ";; ->>HEADER<<- opcode: {}, status: {}, id: {}",
        opcode_text(h.op_code),
        rcode_text(h.response_code),
        h.id
    );
    let flags: String = header_flags(reply)
        .iter()
        .map(|f| format!(" {f}"))
        .collect();
    let _ = writeln!(
        out,
        ";; flags:{flags}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}",
        reply.queries.len(),
        reply.answers.len(),
        reply.authorities.len(),
        reply.additionals.len() + usize::from(reply.edns.is_some()),
    );
    if h.recursion_desired && !h.recursion_available {
        out.push_str(";; WARNING: recursion requested but not available\n");
    }
    out.push('\n');
    if let Some(edns) = &reply.edns {
        let flags = if edns.flags().dnssec_ok { " do" } else { "" };
        let _ = writeln!(
            out,
            ";; OPT PSEUDOSECTION:\n; EDNS: version: {}, flags:{flags}; udp: {}",
            edns.version(),
            edns.max_payload()
        );
    }
    if !reply.queries.is_empty() {
        out.push_str(";; QUESTION SECTION:\n");
        for q in &reply.queries {
            // The `;` is written before the name is laid out: columns count from the name.
            let name = q.name.to_string();
            let mut line = format!(";{name}");
            let mut col = name.len();
            indent(&mut line, &mut col, CLASS_COLUMN);
            push(&mut line, &mut col, &q.query_class.to_string());
            indent(&mut line, &mut col, TYPE_COLUMN);
            push(&mut line, &mut col, &type_text(q.query_type));
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
    for (title, records) in [
        ("ANSWER", &reply.answers),
        ("AUTHORITY", &reply.authorities),
        ("ADDITIONAL", &reply.additionals),
    ] {
        if records.is_empty() {
            continue;
        }
        let _ = writeln!(out, ";; {title} SECTION:");
        for r in records {
            out.push_str(&record_line(r));
            out.push('\n');
        }
        out.push('\n');
    }
    let _ = writeln!(out, ";; MSG SIZE  rcvd: {size}");
    out
}

/// One record as a line of `dig`'s output (no newline).
pub fn record_line(record: &Record) -> String {
    let t = RecordText::of(record);
    let mut line = t.name.clone();
    let mut col = line.len();
    indent(&mut line, &mut col, TTL_COLUMN);
    push(&mut line, &mut col, &t.ttl.to_string());
    indent(&mut line, &mut col, CLASS_COLUMN);
    push(&mut line, &mut col, &t.class);
    indent(&mut line, &mut col, TYPE_COLUMN);
    push(&mut line, &mut col, &t.rtype);
    indent(&mut line, &mut col, DATA_COLUMN);
    line.push_str(&t.data);
    line
}

fn push(line: &mut String, col: &mut usize, text: &str) {
    line.push_str(text);
    *col += text.len();
}

/// Pads from `col` to column `to` with tabs then spaces, at least one character
/// (masterdump.c `indent`).
fn indent(line: &mut String, col: &mut usize, to: usize) {
    let to = to.max(*col + 1);
    let tabs = to / TAB_WIDTH - *col / TAB_WIDTH;
    let from = if tabs > 0 {
        line.extend(std::iter::repeat_n('\t', tabs));
        (to / TAB_WIDTH) * TAB_WIDTH
    } else {
        *col
    };
    line.extend(std::iter::repeat_n(' ', to - from));
    *col = to;
}

/// The opcode as `dig` names it.
fn opcode_text(op: OpCode) -> String {
    match op {
        OpCode::Unknown(n) => format!("RESERVED{n}"),
        known => known.to_string(),
    }
}

/// The rcode as `dig` names it (`dns_rcode_totext`).
pub fn rcode_text(rcode: ResponseCode) -> String {
    sim_k8s::dns::server::rcode_name(rcode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(name: &str, to: usize) -> String {
        let mut s = name.to_string();
        let mut col = s.len();
        indent(&mut s, &mut col, to);
        s
    }

    #[test]
    fn indent_uses_tabs_to_the_column_or_one_space_past_it() {
        // `google.com.` + two tabs reaches column 24, as dig prints it.
        assert_eq!(padded("google.com.", TTL_COLUMN), "google.com.\t\t");
        // A name past the column gets one space.
        assert_eq!(
            padded("kubernetes.default.svc.cluster.local.", TTL_COLUMN),
            "kubernetes.default.svc.cluster.local. "
        );
        // Column 45 to 48 crosses a tab stop: one tab.
        assert_eq!(
            padded(&"x".repeat(45), DATA_COLUMN),
            format!("{}\t", "x".repeat(45))
        );
        // Exactly at a tab stop: one tab still.
        assert_eq!(
            padded(&"x".repeat(16), TTL_COLUMN),
            format!("{}\t", "x".repeat(16))
        );
    }
}
