//! The `lto-harness` command line: `main` sets up the process (signal and
//! panic handlers, logging), parses the arguments and maps the outcome to
//! an exit code: 0 pass, 1 a kernel failed, 2 incomplete (an error, a bad
//! input, a missing tool, an internal error). The subcommands live in `cli/`, one file each.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // make's LD in a pooled thin-LTO build: a linker, not the command line.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == lto_harness::stages::build::link::SUBCOMMAND)
    {
        return ExitCode::from(lto_harness::stages::build::link::main(&args[2..]));
    }
    lto_harness::stages::build::link::register_harness_binary();
    lto_harness::host::proc::install_interrupt_handler();
    // A panic is a bug in the harness, never a verdict on a kernel: say so,
    // stop every child process group, and exit 2 (incomplete), not 101.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!(
            "lto-harness: internal error{at}: {what} (a bug in lto-harness: please report it)"
        );
        lto_harness::host::proc::kill_all_groups();
        std::process::exit(2);
    }));
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
