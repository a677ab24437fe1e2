//! Host: the plumbing between the harness and this machine: processes in
//! their own groups ([`proc`]), the content-addressed cache ([`cache`]),
//! the compilers and tools found here ([`toolchain`]), what the
//! machine has to share ([`machine`]) and how busy its cores were
//! ([`cpustat`]), and the job pool concurrent builds
//! and boots share ([`jobserver`]), reading files back with a size limit
//! ([`input`]); in tests, a `git` that is the
//! same everywhere (`testgit`).

pub mod cache;
pub mod cpustat;
pub mod input;
pub mod jobserver;
pub mod machine;
pub mod needs;
pub mod proc;
#[cfg(test)]
pub mod testgit;
pub mod toolchain;
