//! Guest: what runs inside the booted kernel and how it talks to the
//! harness. [`protocol`] is the vocabulary (markers, step names); [`init`]
//! builds `/init` from a case, for a checking boot or a benchmark agent.
//! The workloads a benchmark guest runs are C programs in
//! `images/workloads/` (compiled by [`crate::stages::image::guest_program`]).

pub mod init;
pub mod protocol;
