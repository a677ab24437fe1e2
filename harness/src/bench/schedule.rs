//! How the two kernels take turns, one function per mode. Each round boots
//! both guests, so drift on a shared machine hits both.
//!
//! * [`deterministic`]: each guest runs its whole plan from its command
//!   line; under `-icount` host timing cannot reach the figures, so both
//!   boot at once;
//! * [`wall`]: both guests stay up and are sent one sample at a time, who
//!   goes first alternating by round, sample and workload, so order effects
//!   cancel.

use super::agent::{boot_agent, Agent};
use super::workloads::{Workload, WALL_ITERATION_FACTOR};
use super::{BenchOptions, Subject};
use crate::events::{Event, Reporter};
use crate::run::RunOptions;
use anyhow::{anyhow, Result};

/// `opts.boots` rounds of both guests booting at once, each running
/// `opts.samples` of every workload from its command line.
pub(super) fn deterministic(
    subjects: &mut [Subject; 2],
    workloads: &[Workload],
    opts: &BenchOptions,
    run: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<()> {
    let plan: Vec<&Workload> = (0..opts.samples).flat_map(|_| workloads.iter()).collect();
    for round in 0..opts.boots {
        reporter.report(&Event::BenchRound {
            round: round + 1,
            rounds: opts.boots,
            plan: &format!("both guests run {} samples of each workload", opts.samples),
        });
        let [first, second] = &mut *subjects;
        let (ra, rb) = std::thread::scope(|sc| {
            let ha = sc.spawn(|| boot_agent(first, round, &plan, opts, run).and_then(Agent::quit));
            let hb = sc.spawn(|| boot_agent(second, round, &plan, opts, run).and_then(Agent::quit));
            (ha.join(), hb.join())
        });
        ra.map_err(|_| anyhow!("benchmark thread panicked"))??;
        rb.map_err(|_| anyhow!("benchmark thread panicked"))??;
    }
    Ok(())
}

/// `opts.boots` rounds of both guests up at once (booted A, B in even
/// rounds, B, A in odd ones), sent `opts.samples` of each workload in turn
/// and timed from the host.
pub(super) fn wall(
    subjects: &mut [Subject; 2],
    workloads: &[Workload],
    opts: &BenchOptions,
    run: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<()> {
    for round in 0..opts.boots {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        reporter.report(&Event::BenchRound {
            round: round + 1,
            rounds: opts.boots,
            plan: "booting both guests",
        });
        let mut agents: [Option<Agent>; 2] = [None, None];
        for &i in &order {
            agents[i] = Some(boot_agent(&mut subjects[i], round, &[], opts, run)?);
        }
        for s in 0..opts.samples {
            for (wi, w) in workloads.iter().enumerate() {
                reporter.report(&Event::BenchSample {
                    round: round + 1,
                    rounds: opts.boots,
                    sample: s + 1,
                    samples: opts.samples,
                    workload: w.name,
                });
                // Alternate who goes first, so order effects cancel.
                let flip = if (s + wi) % 2 == 0 {
                    order
                } else {
                    [order[1], order[0]]
                };
                let w = w.with_iterations(w.iterations * WALL_ITERATION_FACTOR);
                for i in flip {
                    let agent = agents[i].as_mut().expect("agent booted");
                    let (_, host) = agent.sample(&w, opts.step_timeout)?;
                    subjects[i].samples.workloads[wi].push(host);
                }
            }
        }
        for a in agents.into_iter().flatten() {
            a.quit()?;
        }
    }
    Ok(())
}
