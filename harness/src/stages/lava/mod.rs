//! LAVA, the second way a case boots: the same kernel and initramfs as a
//! LAVA job (deploy to tmpfs, boot under QEMU or on a board, a `monitors`
//! test keyed on the guest protocol's markers), run by LAVA's own
//! dispatcher (`lava-run` locally, or a lab), and its log read back into
//! the console and boot end that every check judges. One verdict logic,
//! two transports.
//!
//! * [`job`]: the job definition of a case and the `qemu` device
//!   dictionary `lava-run` needs;
//! * [`log`]: the dispatcher's log (`lava-run`'s output, a lab's
//!   `output.yaml`) as a console and a typed job result;
//! * [`dispatch`]: `lava-run` found and run, killed with the harness.

pub mod dispatch;
pub mod job;
pub mod log;
