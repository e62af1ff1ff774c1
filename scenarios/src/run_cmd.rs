//! `kube-netsim run`: run scenario files and report each step (exit 0 all held, 1 an
//! expectation failed, 2 invalid input).

use std::path::PathBuf;
use std::process::ExitCode;

use scenarios::scenario::{load_file, run};

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
        let report = match run(s, args.seed) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
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
