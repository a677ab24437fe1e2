//! The toolchain axis in results: which LLVM toolchain a case variant of
//! a matrix run was built with.

use serde::{Deserialize, Serialize};

/// One case of a toolchain matrix: the case file's case built with one of
/// the run's LLVM toolchains. Its result is named `<case>+<label>`
/// (`x86_64-lto-full-cfi+clang-22`); history and the dashboard file it
/// under the case's own name and the toolchain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// The case file's case name.
    pub case: String,
    /// `make LLVM=` for this variant (`-22`).
    pub llvm: String,
    /// The toolchain's short name (`clang-22`).
    pub label: String,
}
