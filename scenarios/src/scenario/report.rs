//! What a run prints: each step with its simulated time and outcome, as text or JSON.

use std::fmt::Write as _;

use std::net::SocketAddrV4;

use sim_core::SimTime;
use sim_net::{Hop, SocketProto};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// An action carried out (send, scale, wait...).
    Done,
    /// An expectation that held.
    Passed,
    /// An expectation that did not hold, or an action that could not be carried out.
    Failed,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Done => "•",
            Status::Passed => "✓",
            Status::Failed => "✗",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Passed => "passed",
            Status::Failed => "failed",
        }
    }
}

/// One step's outcome.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub index: usize,
    /// When the step started.
    pub time: SimTime,
    pub what: String,
    pub status: Status,
    /// Expected vs happened, outcomes, where packets were dropped.
    pub details: Vec<String>,
    /// What a ping, bulk upload or `wait: {until}` measured, as JSON (`measured` in the
    /// JSON report): per echo its outcome and RTT, per upload its bytes, duration and
    /// throughput, for a wait whether and when its checks held.
    pub measured: Option<serde_json::Value>,
}

/// One request of a `send` step: who asked whom, what came of it, and every hop the
/// dataplane recorded while it ran (its packets, their replies, ARP).
#[derive(Debug, Clone)]
pub struct FlowRecord {
    /// Index of the `send` step.
    pub step: usize,
    /// Which of the step's `count` requests (0-based).
    pub request: u32,
    /// The client pod, `namespace/name`.
    pub from: String,
    /// The client's address and ephemeral port (port 0 if it never got one).
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub proto: SocketProto,
    pub started: SimTime,
    pub finished: SimTime,
    /// The client's outcome, as the step details print it.
    pub outcome: String,
    pub success: bool,
    pub hops: Vec<Hop>,
}

impl FlowRecord {
    /// `STEP.REQUEST`, the name `--mermaid-flow` takes.
    pub fn id(&self) -> String {
        format!("{}.{}", self.step, self.request)
    }
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub nodes: usize,
    pub steps: Vec<StepReport>,
    /// Every request of every `send`, in the order they ran, with the hops it caused.
    pub flows: Vec<FlowRecord>,
    /// Controller errors and a run cut short (these fail the run).
    pub errors: Vec<String>,
}

impl RunReport {
    /// Whether every expectation held and nothing went wrong.
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && self.steps.iter().all(|s| s.status != Status::Failed)
    }

    fn counts(&self) -> (usize, usize) {
        let expects = self
            .steps
            .iter()
            .filter(|s| s.status != Status::Done)
            .count();
        let failed = self
            .steps
            .iter()
            .filter(|s| s.status == Status::Failed)
            .count();
        (expects, failed)
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let plural = if self.nodes == 1 { "" } else { "s" };
        let _ = writeln!(
            out,
            "scenario {} (seed {}, {} node{plural})",
            self.name, self.seed, self.nodes
        );
        for line in self.description.lines() {
            let _ = writeln!(out, "  {line}");
        }
        for s in &self.steps {
            let _ = writeln!(
                out,
                "{:>9}  {} [{}] {}",
                s.time.to_string(),
                s.status.mark(),
                s.index,
                s.what
            );
            // Multi-line details (a snapshot's tables) keep the indentation on every line.
            for line in s.details.iter().flat_map(|d| d.lines()) {
                let _ = writeln!(out, "{:>9}      {line}", "");
            }
        }
        for e in &self.errors {
            let _ = writeln!(out, "error: {e}");
        }
        let (expects, failed) = self.counts();
        if self.passed() {
            let _ = writeln!(out, "PASS: {expects} of {expects} expectations held");
        } else {
            let errors = match self.errors.len() {
                0 => String::new(),
                n => format!(", {n} errors"),
            };
            let total = self.steps.len();
            let _ = writeln!(out, "FAIL: {failed} of {total} steps failed{errors}");
        }
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| {
                let mut step = serde_json::json!({
                    "index": s.index,
                    "time": s.time.to_string(),
                    "time_ns": s.time.as_nanos(),
                    "step": s.what,
                    "status": s.status.as_str(),
                    "details": s.details,
                });
                if let Some(m) = &s.measured {
                    step["measured"] = m.clone();
                }
                step
            })
            .collect();
        serde_json::json!({
            "name": self.name,
            "seed": self.seed,
            "nodes": self.nodes,
            "passed": self.passed(),
            "steps": steps,
            "errors": self.errors,
        })
    }
}
