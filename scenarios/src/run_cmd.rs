//! `kube-netsim run`: run scenario files and report each step (exit 0 all held, 1 an
//! expectation failed, 2 invalid input).
//!
//! On a terminal a progress bar shows the steps done and the simulated time reached; it is
//! drawn on stderr and not at all when stderr is not a terminal, so output stays the same
//! bytes either way.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use scenarios::scenario::{RunReport, Scenario, load_file, run_observed};
use sim_core::{Trace, first_divergence};

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
    /// Run each scenario twice and fail (exit 1) at the first trace record or step outcome
    /// where the two runs differ.
    #[arg(long)]
    pub check_determinism: bool,
}

/// One run, with a progress bar on a terminal.
fn run_one(s: &Scenario, seed: Option<u64>, label: &str) -> Result<(RunReport, Trace), String> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(s.steps.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps, {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{} {label}", s.name));
        Some(bar)
    } else {
        None
    };
    let result = run_observed(s, seed, &mut |done, now| {
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
fn divergence(seed: u64, a: &(RunReport, Trace), b: &(RunReport, Trace)) -> Option<String> {
    if let Some(d) = first_divergence(seed, &a.1, &b.1) {
        return Some(d.to_string());
    }
    let (ja, jb) = (a.0.json(), b.0.json());
    let (sa, sb) = (ja["steps"].as_array(), jb["steps"].as_array());
    let (sa, sb) = (
        sa.map_or(&[][..], Vec::as_slice),
        sb.map_or(&[][..], Vec::as_slice),
    );
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

/// `kube-netsim run`.
pub fn run_cmd(args: RunArgs) -> ExitCode {
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
    let mut all_passed = true;
    let mut json = Vec::new();
    for (i, s) in loaded.iter().enumerate() {
        let first = match run_one(s, args.seed, "") {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        if args.check_determinism {
            let seed = args.seed.unwrap_or(s.seed);
            let second = match run_one(s, args.seed, "(again)") {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match divergence(seed, &first, &second) {
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
                    first.1.digest()
                ),
            }
        }
        let report = first.0;
        all_passed &= report.passed();
        if args.json {
            json.push(report.json());
        } else {
            if i > 0 {
                println!();
            }
            print!("{}", report.text());
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
