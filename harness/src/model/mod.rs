//! Model: the vocabulary every stage, check, output and feature shares:
//! statuses and faults ([`status`]), what a kernel is ([`kernel`]), the
//! results of a run ([`results`]), performance figures ([`perf`]),
//! mutants' verdicts ([`mutation`]), bisection's verdicts ([`bisection`]), toolchain variants ([`variant`]) and
//! the recipe of a case's reproducer script ([`recipe`]); the checks every
//! result file read back passes ([`validate`]) and how untrusted text from
//! such files is shown ([`untrusted`]).
//! Types only (and their serde forms); nothing here runs a process or
//! reads a kernel, and nothing here depends on the rest of the crate.

pub mod bisection;
pub mod kernel;
pub mod mutation;
pub mod perf;
pub mod recipe;
pub mod results;
pub mod source;
pub mod status;
pub mod untrusted;
pub mod validate;
pub mod variant;

/// Sample results for the tests of the model and of every output format.
#[cfg(test)]
pub(crate) mod testdata;

pub use kernel::{Arch, Cfi, Lto, Switch};
pub use results::CheckResult;
pub use status::{Fault, Status};
pub use variant::Variant;
