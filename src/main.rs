//! The `specula` binary: a thin edge over the library (see `specula::cli`).

use std::process::ExitCode;

use clap::Parser;
use specula::cli::{run, Cli, Outcome};

/// mimalloc: per-thread free lists suit the many short-lived allocations of
/// parsed requests (about 10% of instructions went to glibc malloc/free).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
