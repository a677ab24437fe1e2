//! Host: the plumbing between the harness and this machine: processes in
//! their own groups ([`proc`]), the content-addressed cache ([`cache`]),
//! and the compilers and tools found here ([`toolchain`]).

pub mod cache;
pub mod needs;
pub mod proc;
pub mod toolchain;
