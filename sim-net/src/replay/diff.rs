//! "What would change if…": two replays of the same capture compared flow by flow, keyed by
//! the flow's captured tuple. A flow whose outcome (fates with counts, replies) is the same
//! in both is not listed.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Value, json};

use super::flow::FlowKey;
use super::outcome::{FlowOutcome, FlowReport};

/// A flow whose outcome differs between two replays (`None`: not in that replay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowChange {
    pub key: FlowKey,
    pub before: Option<FlowOutcome>,
    pub after: Option<FlowOutcome>,
}

/// The flows whose outcome changed from `before` to `after`: `before`'s flows in their
/// order, then the flows only `after` has, in its order.
pub fn diff(before: &[FlowReport], after: &[FlowReport]) -> Vec<FlowChange> {
    let after_by: BTreeMap<FlowKey, &FlowReport> = after.iter().map(|r| (r.key, r)).collect();
    let before_by: BTreeMap<FlowKey, &FlowReport> = before.iter().map(|r| (r.key, r)).collect();
    let mut changes = Vec::new();
    for b in before {
        let a = after_by.get(&b.key).map(|a| &a.outcome);
        if a != Some(&b.outcome) {
            changes.push(FlowChange {
                key: b.key,
                before: Some(b.outcome.clone()),
                after: a.cloned(),
            });
        }
    }
    for a in after {
        if !before_by.contains_key(&a.key) {
            changes.push(FlowChange {
                key: a.key,
                before: None,
                after: Some(a.outcome.clone()),
            });
        }
    }
    changes
}

impl fmt::Display for FlowChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.key)?;
        for (label, o) in [("before", &self.before), ("after ", &self.after)] {
            match o {
                None => writeln!(f, "  {label}: not replayed")?,
                Some(o) => {
                    for (i, line) in o.to_string().lines().enumerate() {
                        if i == 0 {
                            writeln!(f, "  {label}: {line}")?;
                        } else {
                            writeln!(f, "          {line}")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl FlowChange {
    /// The change as JSON.
    pub fn json(&self) -> Value {
        json!({
            "flow": self.key.json(),
            "before": self.before.as_ref().map(FlowOutcome::json),
            "after": self.after.as_ref().map(FlowOutcome::json),
        })
    }
}
