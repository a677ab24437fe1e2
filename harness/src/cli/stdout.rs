//! The subcommands' standard output, written through [`write`] (the
//! [`out!`] and [`outln!`] macros) instead of `print!`, which panics when
//! stdout cannot be written and so would be reported as an internal error.
//!
//! * A reader that went away (`lto-harness list | head -1`: EPIPE) ends
//!   the output quietly, as Unix tools do: nothing more is written, no
//!   message, and the command finishes with its own exit code.
//! * Any other failure (a full disk: ENOSPC, `> /dev/full`) is a
//!   [`StdoutError`], which `main` reports as "cannot write to standard
//!   output: ..." and exits 2 (incomplete), never as a bug.
//!
//! Each call is flushed, so an error is seen by the call that caused it.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the reader of stdout has gone: later output is dropped.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Standard output could not be written, for a reason other than its
/// reader leaving.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct StdoutError(pub io::Error);

/// Writes `args` to stdout and flushes it: Ok when written, and also when
/// the reader has gone (EPIPE; see the module's doc).
pub fn write(args: std::fmt::Arguments) -> Result<(), StdoutError> {
    write_to(&mut io::stdout().lock(), args)
}

fn write_to(w: &mut impl Write, args: std::fmt::Arguments) -> Result<(), StdoutError> {
    if READER_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    match w.write_fmt(args).and_then(|()| w.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            READER_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(StdoutError(e)),
    }
}

/// `print!` to stdout through [`write`]: a `Result<(), StdoutError>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!($($arg)*))
    };
}

/// `println!` to stdout through [`write`]: a `Result<(), StdoutError>`.
macro_rules! outln {
    () => {
        $crate::cli::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
