//! `wampd-bench`: the load generator's entry point. Parses the command line, raises the
//! open-file limit, runs one scenario and prints its single JSON line (or draws a plot).
//!
//! Kept thin so everything testable lives in the `wampd_bench` library.

use std::process::ExitCode;

use clap::Parser;
use wampd_bench::cli::{Cli, Command};
use wampd_bench::{run_beside_ceiling, run_ceiling, run_plot, run_scenario, sys};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Plot(args) = &cli.command {
        return match run_plot(args) {
            Ok(()) => {
                eprintln!("wampd-bench: wrote {}", args.output.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("wampd-bench: {err}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(err) = sys::raise_nofile_limit() {
        eprintln!("wampd-bench: warning: cannot raise the open-file limit: {err}");
    }
    if let Command::Ceiling(args) = &cli.command {
        if let Err(err) = run_ceiling(args) {
            eprintln!("wampd-bench: {err}");
        }
        return ExitCode::FAILURE;
    }
    let beside = cli
        .command
        .common()
        .is_some_and(|common| common.beside_ceiling);
    let result = if beside {
        std::env::current_exe()
            .map_err(|e| wampd_bench::BenchError::Failed(format!("cannot find this program: {e}")))
            .and_then(|exe| run_beside_ceiling(&cli.command, &exe))
    } else {
        run_scenario(&cli.command)
    };
    match result {
        Ok(report) => {
            println!("{}", report.to_json_line());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("wampd-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
