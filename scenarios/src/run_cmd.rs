//! `kube-netsim run`: run scenario files and report each step (exit 0 all held, 1 an
//! expectation failed, 2 invalid input), then write the exports each scenario's `exports:`
//! and `--export` ask for into `OUT/<scenario name>/` (`OUT` is `--out`, or `kns-out`).
//! `kube-netsim export` is the same run printing only the files written, and exporting every
//! kind when neither the file nor `--export` names one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use scenarios::export::{self, ExportKind, ExportOptions, FlowSelector, RunView};
use scenarios::scenario::{Scenario, load_file, run_with};

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
        let output = match run_with(s, args.seed, kinds.contains(&ExportKind::Pcapng)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
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
