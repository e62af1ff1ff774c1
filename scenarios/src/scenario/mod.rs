//! The scenario runner: a YAML file describing a cluster, its manifests and timed steps
//! (send traffic — HTTP, TCP connect, UDP, ping, bulk upload —, expect outcomes, apply,
//! delete, scale, set pod conditions, wait for a time or until a check holds, replay a
//! capture, look a name up through the cluster DNS), run deterministically in simulated
//! time.
//!
//! - [`file`]: the file format as serde types (unknown fields refused);
//! - [`step`]: steps validated into [`step::Action`]s;
//! - [`load`]: reading a file into a [`load::Scenario`] (manifests loaded, errors located);
//! - [`runner`]: building the cluster and running the steps;
//! - [`netexec`]: which pods run agnhost netexec, and starting their servers;
//! - [`dns_step`]: the `dns` step, its report lines and its checks;
//! - [`report`]: the step outcomes as text or JSON, and every request's hops
//!   ([`report::FlowRecord`]) for the exports ([`crate::export`]).
//!
//! DNS queries are flow records of their step (after a send's own requests), so the
//! exports show them. Not yet: NetworkPolicy steps (policy is checked with `send` and
//! `expect: reachable`).

mod byte_size;
mod cluster_section;
pub mod dns_step;
pub mod file;
pub mod load;
pub mod netexec;
pub mod report;
pub mod runner;
pub mod step;

pub use load::{Scenario, ScenarioError, load_file, load_text};
pub use report::{FlowRecord, RunReport, Status, StepReport};
pub use runner::{RunOutput, run, run_with};
