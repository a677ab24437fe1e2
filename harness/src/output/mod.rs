//! Output: a run's results in the formats people and CI systems read.

pub mod formats;
pub mod writer;
