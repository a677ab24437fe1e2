//! The `lto-harness` command line: `main` sets up the process (interrupt
//! handler, logging), parses the arguments and maps the outcome to an exit
//! code. The subcommands live in `cli/`, one file each.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    lto_harness::host::proc::install_interrupt_handler();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("LTO_HARNESS_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
    match cli::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("lto-harness: error: {e:#}");
            // An error before any verdict is an infrastructure problem: incomplete.
            ExitCode::from(2)
        }
    }
}
