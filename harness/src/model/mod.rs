//! Model: the vocabulary every stage, check, output and feature shares:
//! statuses, the results of a run, and measured figures. Types only (and
//! their serde forms); nothing here runs a process or reads a kernel.

pub mod results;
