//! The guest workloads `lto-bench` runs (images/workloads), with the
//! iterations per sample sized for TCG, and the selection of a run's list.

use anyhow::{Context, Result};

/// A workload and the iterations per sample (sized for TCG).
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Position in the run's workload list (set when selected).
    pub index: usize,
    pub name: &'static str,
    pub iterations: u64,
    pub what: &'static str,
}

/// Wall-mode samples run this many times the iterations, so the console
/// round trip in each host-timed sample stays small.
pub const WALL_ITERATION_FACTOR: u64 = 5;

pub const WORKLOADS: [Workload; 7] = [
    Workload {
        index: 0,
        name: "getppid",
        iterations: 20000,
        what: "null system call",
    },
    Workload {
        index: 0,
        name: "pipe",
        iterations: 2000,
        what: "pipe ping-pong round trip (2 context switches)",
    },
    Workload {
        index: 0,
        name: "fork",
        iterations: 100,
        what: "fork + exit + wait",
    },
    Workload {
        index: 0,
        name: "exec",
        iterations: 50,
        what: "fork + exec + wait",
    },
    Workload {
        index: 0,
        name: "pagefault",
        iterations: 2000,
        what: "fault in a fresh anonymous page",
    },
    Workload {
        index: 0,
        name: "openclose",
        iterations: 2000,
        what: "open + read 64 B + close on tmpfs",
    },
    Workload {
        index: 0,
        name: "hackbench",
        iterations: 200,
        what: "4 socketpair sender/receiver pairs, one 100 B message each",
    },
];

impl Workload {
    /// The known workload called `name`.
    pub fn named(name: &str) -> Option<Workload> {
        WORKLOADS.iter().copied().find(|w| w.name == name)
    }

    /// The same workload, `iterations` per sample.
    pub fn with_iterations(self, iterations: u64) -> Workload {
        Workload { iterations, ..self }
    }
}

/// The workloads of a run, in the order named (all when `names` is
/// empty), each with its position in the list as `index`.
pub fn select(names: &[String]) -> Result<Vec<Workload>> {
    let mut workloads: Vec<Workload> = if names.is_empty() {
        WORKLOADS.to_vec()
    } else {
        names
            .iter()
            .map(|n| {
                Workload::named(n).with_context(|| {
                    format!(
                        "unknown workload `{n}`; known: {}",
                        WORKLOADS.map(|w| w.name).join(", ")
                    )
                })
            })
            .collect::<Result<_>>()?
    };
    for (i, w) in workloads.iter_mut().enumerate() {
        w.index = i;
    }
    Ok(workloads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_keeps_the_order_named_and_numbers_the_list() {
        let all = select(&[]).unwrap();
        assert_eq!(all.len(), WORKLOADS.len());
        assert!(all.iter().enumerate().all(|(i, w)| w.index == i));
        let two = select(&["fork".into(), "getppid".into()]).unwrap();
        let got: Vec<(usize, &str, u64)> = two
            .iter()
            .map(|w| (w.index, w.name, w.iterations))
            .collect();
        assert_eq!(got, vec![(0, "fork", 100), (1, "getppid", 20000)]);
        let e = select(&["nope".into()]).unwrap_err().to_string();
        assert!(
            e.starts_with("unknown workload `nope`; known: getppid, pipe"),
            "{e}"
        );
    }
}
