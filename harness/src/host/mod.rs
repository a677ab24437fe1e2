//! Host: the plumbing between the harness and this machine: processes in
//! their own groups ([`proc`]), the content-addressed cache ([`cache`]),
//! the compilers and tools found here ([`toolchain`]), and what the
//! machine has to share ([`machine`]).

pub mod cache;
pub mod machine;
pub mod needs;
pub mod proc;
pub mod toolchain;
