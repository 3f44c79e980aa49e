//! The `specula` binary: a thin edge over the library (see `specula::cli`).

use std::process::ExitCode;

use clap::Parser;
use specula::cli::{run, Cli, Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Success) | Ok(Outcome::OutputClosed) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("specula: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
