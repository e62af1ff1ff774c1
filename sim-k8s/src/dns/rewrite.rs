//! The `rewrite name` rules (CoreDNS `plugin/rewrite/name.go`): the question name is
//! rewritten before the plugins after `rewrite` see it, and the response's question is
//! restored; answer names are rewritten back for `exact` rules always and for `prefix`,
//! `suffix`, `substring` rules with `answer auto`. Rules apply in order; `stop` (default)
//! ends at the first rule that rewrote, `continue` goes on.
//!
//! Not supported (Corefile error): `regex` matching and `answer name|value FROM TO` (they need
//! a regular-expression engine, which the workspace does not carry), other fields (`type`,
//! `class`, `ttl`, `edns0`, `cname`, `rcode`) and the `rewrite { ... }` block form.

use hickory_proto::rr::Name;

use super::reply::{Reply, parse_fqdn};

/// How FROM matches the question name (lowercased, with its trailing dot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Exact,
    Prefix,
    Suffix,
    Substring,
}

/// One `rewrite [continue|stop] name [TYPE] FROM TO [answer auto]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteRule {
    pub stop: bool,
    pub match_type: MatchType,
    pub from: String,
    pub to: String,
    /// Answer names are rewritten back (always for `exact`).
    pub answer_auto: bool,
}

/// The rewrites applied to one query, to undo on its answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// `(rule, name before, name after)` in the order applied.
    steps: Vec<(RewriteRule, String, String)>,
}

impl RewriteRule {
    /// FROM and TO normalised as CoreDNS does: lowercase; `exact` and `suffix` fully qualified.
    pub fn new(stop: bool, match_type: MatchType, from: &str, to: &str, answer_auto: bool) -> Self {
        let norm = |s: &str| {
            let s = s.to_ascii_lowercase();
            match match_type {
                MatchType::Exact | MatchType::Suffix if !s.ends_with('.') => format!("{s}."),
                _ => s,
            }
        };
        RewriteRule {
            stop,
            answer_auto: answer_auto || match_type == MatchType::Exact,
            match_type,
            from: norm(from),
            to: norm(to),
        }
    }

    /// The rewritten text of `name` (lowercase, dotted), if the rule matches.
    fn apply(&self, name: &str, from: &str, to: &str) -> Option<String> {
        match self.match_type {
            MatchType::Exact => (name == from).then(|| to.to_owned()),
            MatchType::Prefix => name.strip_prefix(from).map(|rest| format!("{to}{rest}")),
            MatchType::Suffix => name.strip_suffix(from).map(|rest| format!("{rest}{to}")),
            MatchType::Substring => name.contains(from).then(|| name.replacen(from, to, 1)),
        }
    }
}

/// Rewrites `qname` by `rules`; returns the new name and what to undo.
pub fn rewrite_query(rules: &[RewriteRule], qname: &Name) -> (Name, Applied) {
    let mut applied = Applied::default();
    let mut current = qname.clone();
    for rule in rules {
        let text = current.to_ascii().to_ascii_lowercase();
        let Some(next) = rule.apply(&text, &rule.from, &rule.to) else {
            continue;
        };
        let Some(next_name) = parse_fqdn(&next) else {
            continue;
        };
        applied.steps.push((rule.clone(), text, next));
        current = next_name;
        if rule.stop {
            break;
        }
    }
    (current, applied)
}

/// Rewrites the owner names in `reply` back, last rule first.
pub fn rewrite_answer(applied: &Applied, reply: &mut Reply) {
    for (rule, _, _) in applied.steps.iter().rev() {
        if !rule.answer_auto {
            continue;
        }
        for record in reply.records_mut() {
            let owner = record.name.to_ascii().to_ascii_lowercase();
            if let Some(back) = rule.apply(&owner, &rule.to, &rule.from)
                && let Some(name) = parse_fqdn(&back)
            {
                record.name = name;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn answer_for(name: &Name) -> Reply {
        let mut r = Reply::new(ResponseCode::NoError, true);
        r.answers.push(Record::from_rdata(
            name.clone(),
            5,
            RData::A(A("10.0.0.1".parse().unwrap())),
        ));
        r
    }

    /// README: `rewrite name exact RED BLUE` rewrites back; `suffix` only with answer auto;
    /// `substring service.us-west-1.example.org service.us-west-1.consul`.
    #[test]
    fn match_types_and_answers() {
        let exact = [RewriteRule::new(
            true,
            MatchType::Exact,
            "red.example",
            "blue.example",
            false,
        )];
        let (q, applied) = rewrite_query(&exact, &n("RED.example."));
        assert_eq!(q.to_string(), "blue.example.");
        let mut reply = answer_for(&q);
        rewrite_answer(&applied, &mut reply);
        assert_eq!(reply.answers[0].name.to_string(), "red.example.");

        let sub = [RewriteRule::new(
            true,
            MatchType::Substring,
            "service.us-west-1.example.org",
            "service.us-west-1.consul",
            false,
        )];
        let (q, applied) = rewrite_query(&sub, &n("ftp.service.us-west-1.example.org."));
        assert_eq!(q.to_string(), "ftp.service.us-west-1.consul.");
        let mut reply = answer_for(&q);
        rewrite_answer(&applied, &mut reply);
        assert_eq!(
            reply.answers[0].name.to_string(),
            "ftp.service.us-west-1.consul."
        );

        let suffix = [RewriteRule::new(
            true,
            MatchType::Suffix,
            ".schmoogle.com.",
            ".google.com.",
            true,
        )];
        let (q, applied) = rewrite_query(&suffix, &n("www.schmoogle.com."));
        assert_eq!(q.to_string(), "www.google.com.");
        let mut reply = answer_for(&q);
        rewrite_answer(&applied, &mut reply);
        assert_eq!(reply.answers[0].name.to_string(), "www.schmoogle.com.");

        let prefix = [
            RewriteRule::new(false, MatchType::Prefix, "a.", "b.", false),
            RewriteRule::new(true, MatchType::Prefix, "b.", "c.", false),
        ];
        let (q, _) = rewrite_query(&prefix, &n("a.example."));
        assert_eq!(q.to_string(), "c.example.");
        let (q, _) = rewrite_query(&prefix, &n("x.example."));
        assert_eq!(q.to_string(), "x.example.");
    }
}
