//! `kube-netsim run`: run scenario files and report each step (exit 0 all held, 1 an
//! expectation failed, 2 invalid input), then write the exports each scenario's `exports:`
//! and `--export` ask for into `OUT/<scenario name>/` (`OUT` is `--out`, or `kns-out`).
//! `kube-netsim export` is the same run printing only the files written, and exporting every
//! kind when neither the file nor `--export` names one.

//!
//! On a terminal a progress bar shows the steps done and the simulated time reached; it is
//! drawn on stderr and not at all when stderr is not a terminal, so output stays the same
//! bytes either way. `--check-determinism` runs each scenario twice and compares the traces
//! record by record, then the step outcomes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use scenarios::export::{self, ExportKind, ExportOptions, FlowSelector, RunView};
use scenarios::scenario::{RunOutput, Scenario, load_file, run_with};
use sim_core::first_divergence;

/// Where exports go without `--out`.
pub const DEFAULT_OUT: &str = "kns-out";

/// Arguments of `kube-netsim run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenario files (YAML).
    #[arg(required = true, value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    /// Override every scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the reports as JSON (one document per scenario, in a list).
    #[arg(long)]
    pub json: bool,
    /// Write exports into DIR/<scenario name>/ [default: kns-out].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write this export (repeatable): pcapng, dot, svg, mermaid, jsonl, flows, html.
    #[arg(long = "export", value_name = "KIND")]
    pub exports: Vec<ExportKind>,
    /// The request the Mermaid diagram follows: STEP or STEP.REQUEST (default: the first).
    #[arg(long, value_name = "STEP[.REQ]")]
    pub mermaid_flow: Option<FlowSelector>,
    /// Run each scenario twice and fail (exit 1) at the first trace record or step outcome
    /// where the two runs differ.
    #[arg(long)]
    pub check_determinism: bool,
}

/// One run, with a progress bar on a terminal.
fn run_one(
    s: &Scenario,
    seed: Option<u64>,
    capture: bool,
    label: &str,
) -> Result<RunOutput, String> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(s.steps.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps, {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}{label}", s.name));
        bar
    });
    let result = run_with(s, seed, capture, &mut |done, now| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
            b.set_message(format!("simulated {now}"));
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result.map_err(|e| e.to_string())
}

/// Where two runs of the same scenario first differ, if they do.
fn divergence(seed: u64, a: &RunOutput, b: &RunOutput) -> Option<String> {
    if let Some(d) = first_divergence(seed, &a.trace, &b.trace) {
        return Some(d.to_string());
    }
    let (ja, jb) = (a.report.json(), b.report.json());
    let steps = |j: &serde_json::Value| j["steps"].as_array().cloned().unwrap_or_default();
    let (sa, sb) = (steps(&ja), steps(&jb));
    (0..sa.len().max(sb.len()))
        .find(|&i| sa.get(i) != sb.get(i))
        .map(|i| {
            let show =
                |v: Option<&serde_json::Value>| v.map_or("(no step)".into(), |v| v.to_string());
            format!(
                "nondeterminism with seed {seed}: step {i} differs\n  run 1: {}\n  run 2: {}",
                show(sa.get(i)),
                show(sb.get(i))
            )
        })
}

/// Arguments of `kube-netsim export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Scenario files (YAML).
    #[arg(required = true, value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    /// Override every scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write exports into DIR/<scenario name>/ [default: kns-out].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write this export (repeatable): pcapng, dot, svg, mermaid, jsonl, flows, html
    /// [default: the file's `exports:`, else all].
    #[arg(long = "export", value_name = "KIND")]
    pub exports: Vec<ExportKind>,
    /// The request the Mermaid diagram follows: STEP or STEP.REQUEST (default: the first).
    #[arg(long, value_name = "STEP[.REQ]")]
    pub mermaid_flow: Option<FlowSelector>,
}

/// `kube-netsim export`.
pub fn export_cmd(args: ExportArgs) -> ExitCode {
    let run = RunArgs {
        scenarios: args.scenarios,
        seed: args.seed,
        json: false,
        out: args.out,
        exports: args.exports,
        mermaid_flow: args.mermaid_flow,
        check_determinism: false,
    };
    execute(&run, true)
}

/// A directory name for a scenario name: letters, digits, `.`, `-`, `_` kept, the rest `_`.
fn dir_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "scenario".into()
    } else {
        s
    }
}

/// The kinds one scenario exports: its file's, then the flags', without duplicates; `all`
/// when there are none (`export`).
fn kinds(s: &Scenario, args: &RunArgs, all: bool) -> Vec<ExportKind> {
    let mut k: Vec<ExportKind> = s.exports.iter().chain(&args.exports).copied().collect();
    if k.is_empty() && all {
        k = ExportKind::ALL.to_vec();
    }
    k.sort();
    k.dedup();
    k
}

fn write_exports(dir: &Path, rendered: &export::Rendered) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (name, bytes) in &rendered.files {
        let path = dir.join(name);
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `kube-netsim run`.
pub fn run_cmd(args: RunArgs) -> ExitCode {
    execute(&args, false)
}

/// Runs every scenario; `export_only` prints only the files written (`kube-netsim export`).
fn execute(args: &RunArgs, export_only: bool) -> ExitCode {
    // Every file is checked before anything runs: a typo fails fast.
    let mut loaded = Vec::new();
    for path in &args.scenarios {
        match load_file(path) {
            Ok(s) => loaded.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    let opts = ExportOptions {
        mermaid_flow: args.mermaid_flow,
    };
    let mut all_passed = true;
    let mut json = Vec::new();
    for (i, s) in loaded.iter().enumerate() {
        let kinds = kinds(s, args, export_only);
        let capture = kinds.contains(&ExportKind::Pcapng);
        let output = match run_one(s, args.seed, capture, "") {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        if args.check_determinism {
            let seed = args.seed.unwrap_or(s.seed);
            let again = match run_one(s, args.seed, capture, " (again)") {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match divergence(seed, &output, &again) {
                Some(d) => {
                    eprintln!("{}: {d}", s.source);
                    eprintln!(
                        "reproduce: kube-netsim run {} --seed {seed} --check-determinism",
                        s.source
                    );
                    all_passed = false;
                }
                None => eprintln!(
                    "{}: deterministic: two runs with seed {seed}, trace digest {}",
                    s.source,
                    output.trace.digest()
                ),
            }
        }
        let report = &output.report;
        all_passed &= report.passed();
        if args.json {
            json.push(report.json());
        } else if !export_only {
            if i > 0 {
                println!();
            }
            print!("{}", report.text());
        }
        if kinds.is_empty() {
            continue;
        }
        let rendered = match export::render(&kinds, &RunView::new(&output), &opts) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {}: {e}", s.source);
                return ExitCode::from(2);
            }
        };
        let dir = out_dir.join(dir_name(&s.name));
        let written = match write_exports(&dir, &rendered) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        // With --json, stdout is the JSON document alone.
        let say = |line: String| {
            if args.json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        };
        for p in written {
            say(format!("wrote {}", p.display()));
        }
        for why in &rendered.skipped {
            say(format!("skipped {why}"));
        }
        if export_only {
            let text = report.text();
            say(format!(
                "{}: {}",
                s.name,
                text.lines().last().unwrap_or_default()
            ));
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::Value::Array(json)).expect("plain JSON")
        );
    }
    if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
