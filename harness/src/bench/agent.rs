//! Talking to the guest agent: a kernel booted with the benchmark
//! initramfs, whose `/init` runs the plan on its command line, then reads
//! `WORKLOAD ITERATIONS` lines from the console and answers each with a
//! `BENCH` marker (see [`crate::guest::protocol`]). [`AgentSession`] is the
//! same agent for one kernel, driven a sample at a time (criterion).

use super::workloads::Workload;
use super::{BenchOptions, Mode, Subject};
use crate::case::Case;
use crate::checks;
use crate::console::EventKind;
use crate::guest::protocol::Marker;
use crate::model::Status;
use crate::run::{Environment, RunOptions};
use crate::stages::boot::{self, BootRequest, Guest, Next};
use crate::stages::build::BuiltKernel;
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// A booted agent guest.
pub struct Agent {
    guest: Guest,
    case: String,
}

impl Agent {
    /// Waits for a marker of `kind`, failing on a kernel failure or the deadline.
    fn wait_marker(&mut self, kind: Marker, deadline: Instant) -> Result<Vec<String>> {
        loop {
            match self.guest.next_event(deadline) {
                Next::Event(e) => match e.kind {
                    EventKind::Marker { kind: k, args } if kind.is(&k) => return Ok(args),
                    EventKind::Panic { .. }
                    | EventKind::Oops { .. }
                    | EventKind::Bug { .. }
                    | EventKind::CfiFailure { .. } => {
                        bail!(
                            "{}: the kernel failed during the benchmark: {}",
                            self.case,
                            checks::describe(&e)
                        )
                    }
                    _ => {}
                },
                Next::Eof => bail!("{}: the guest exited while waiting for {kind}", self.case),
                Next::Deadline => bail!("{}: timed out waiting for {kind}", self.case),
            }
        }
    }

    /// Runs one sample on demand.
    /// Returns (guest ns per iteration, host ns per iteration). The host
    /// figure spans command to result, console round trip included: under
    /// plain TCG an x86 tinyconfig guest has no calibrated TSC (no ACPI, so
    /// no HPET or PM timer to calibrate against) and its clock ticks in
    /// jiffies, so wall mode times samples from the host.
    pub fn sample(&mut self, w: &Workload, timeout: Duration) -> Result<(f64, f64)> {
        let t = Instant::now();
        self.guest
            .send_line(&format!("{} {}", w.name, w.iterations))
            .with_context(|| format!("{}: writing to the guest console", self.case))?;
        let deadline = Instant::now() + timeout;
        let v = self.result(w, deadline)?;
        let host = t.elapsed().as_nanos() as f64 / w.iterations as f64;
        self.wait_marker(Marker::Agent, deadline)?;
        Ok((v, host))
    }

    /// Reads the next workload result, which must be `w`'s: guest ns per
    /// iteration.
    fn result(&mut self, w: &Workload, deadline: Instant) -> Result<f64> {
        let args = self.wait_marker(Marker::Bench, deadline)?;
        let field = |k: &str| {
            args.iter()
                .find_map(|a| a.strip_prefix(k))
                .map(str::to_owned)
        };
        if field("name=").as_deref() != Some(w.name) {
            bail!(
                "{}: expected a result for {}, got {:?}",
                self.case,
                w.name,
                args
            );
        }
        if field("rc=").as_deref() != Some("0") {
            bail!(
                "{}: workload {} failed in the guest: {:?}",
                self.case,
                w.name,
                args
            );
        }
        let ns: f64 = field("ns=")
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{}: no ns= in {:?}", self.case, args))?;
        Ok(ns / w.iterations as f64)
    }

    /// The guest clock at the first marker (`STAMP ns=`), in seconds.
    fn stamp(&mut self, deadline: Instant) -> Result<f64> {
        let stamp = self.wait_marker(Marker::Stamp, deadline)?;
        let ns: f64 = stamp
            .iter()
            .find_map(|a| a.strip_prefix("ns="))
            .and_then(|v| v.parse().ok())
            .context("STAMP without ns=")?;
        Ok(ns / 1e9)
    }

    /// The kernel's timestamp on its `Run /init` line, in seconds.
    fn run_init(&self) -> Result<f64> {
        self.guest
            .events()
            .iter()
            .find_map(|e| match e.kind {
                EventKind::RunInit { .. } => e.time,
                _ => None,
            })
            .context("no `Run /init` line with a timestamp")
    }

    /// Ends the guest (`quit`), and checks it shut down cleanly.
    pub fn quit(mut self) -> Result<()> {
        let _ = self.guest.send_line("quit");
        let deadline = Instant::now() + Duration::from_secs(60);
        let ended = loop {
            match self.guest.next_event(deadline) {
                Next::Eof => break true,
                Next::Deadline => break false,
                Next::Event(_) => {}
            }
        };
        let outcome = self.guest.finish(if ended {
            None
        } else {
            Some(crate::model::results::BootEnd::TimedOut { after_seconds: 60 })
        });
        let v = checks::boot_verdict(&outcome);
        if v.status != Status::Pass {
            bail!(
                "{}: benchmark guest did not end cleanly: {} (log {})",
                self.case,
                v.message,
                outcome.log.display()
            );
        }
        Ok(())
    }
}

/// The agent's kernel command line: the case's without `initcall_debug`,
/// `norandmaps` in deterministic mode, and the plan if any.
/// The kernel's COMMAND_LINE_SIZE on x86_64 and arm64 (with its NUL).
const KERNEL_CMDLINE_MAX: usize = 2048;

fn cmdline(case: &Case, mode: Mode, plan: &[&Workload]) -> Vec<String> {
    let mut cmdline: Vec<String> = case
        .cmdline
        .iter()
        .filter(|w| !w.starts_with("initcall_debug"))
        .cloned()
        .collect();
    if mode == Mode::Deterministic {
        // arm64 `-cpu max` hands the guest real random numbers (RNDR), and
        // they move userspace mappings: without this, boots differ by a few
        // hundred instructions after /init starts.
        cmdline.push("norandmaps".into());
    }
    if !plan.is_empty() {
        let items: Vec<String> = plan
            .iter()
            .map(|w| format!("{}:{}", w.name, w.iterations))
            .collect();
        cmdline.push(format!("lto_bench_plan={}", items.join(",")));
    }
    cmdline
}

/// Boots `s` as an agent (boot `round`, for the log names) and records its
/// boot figures; a `plan` runs from the command line first, its results
/// recorded too. The agent is left waiting for commands.
pub(super) fn boot_agent(
    s: &mut Subject,
    round: usize,
    plan: &[&Workload],
    opts: &BenchOptions,
    run: &RunOptions,
) -> Result<Agent> {
    let log = s.dir.join(format!("bench-console-{round}.log"));
    // The boot to the agent is a boot: it may take as long as the case
    // lets its boots take (slow on a busy machine under -icount); each
    // workload sample, and the wait for the agent after them, is a step.
    let boot_limit = Duration::from_secs(s.case.timeout_secs).max(opts.step_timeout);
    let req = BootRequest {
        arch: s.case.arch.profile(),
        image: s.kernel.image.clone(),
        initrd: s.initrd.clone(),
        cmdline: cmdline(s.case, opts.mode, plan),
        timeout: boot_limit,
        accel: run.accel,
        log: log.clone(),
        stderr_log: s.dir.join(format!("bench-qemu-stderr-{round}.log")),
        icount: opts.mode == Mode::Deterministic,
    };
    // The plan rides on the kernel command line, which the kernel cuts at
    // COMMAND_LINE_SIZE (2048 bytes on x86_64 and arm64): a longer one
    // would run a shorter plan than the harness waits for.
    let line = boot::kernel_cmdline(&req);
    if line.len() >= KERNEL_CMDLINE_MAX {
        anyhow::bail!(
            "{}: {} samples of {} workload(s) per boot make a kernel command line of {} bytes, \
             and the kernel keeps {}: ask for fewer --samples (and more --boots)",
            s.case.name,
            opts.samples,
            plan.len() / opts.samples.max(1),
            line.len(),
            KERNEL_CMDLINE_MAX - 1
        );
    }
    s.logs.push(log);
    let guest =
        Guest::start(&req, true).map_err(|o| anyhow::anyhow!("{}: {:?}", s.case.name, o.end))?;
    let mut agent = Agent {
        guest,
        case: s.case.name.clone(),
    };
    let stamp = agent.stamp(Instant::now() + boot_limit)?;
    for w in plan {
        let v = agent.result(w, Instant::now() + opts.step_timeout)?;
        s.samples.workloads[w.index].push(v);
    }
    // A step of its own: the plan before it may have taken longer than
    // one step's limit, every sample in time.
    agent.wait_marker(Marker::Agent, Instant::now() + opts.step_timeout)?;
    s.samples.boot_run_init.push(agent.run_init()?);
    s.samples.boot_stamp.push(stamp);
    Ok(agent)
}

/// A kernel booted as a benchmark agent, for driving workloads one sample
/// at a time (what criterion's `iter_custom` needs).
pub struct AgentSession {
    agent: Option<Agent>,
    icount: bool,
}

impl AgentSession {
    /// Writes the benchmark initramfs for `case`'s kernel and boots it.
    pub fn start(
        case: &Case,
        kernel: &BuiltKernel,
        env: &Environment,
        results_dir: &std::path::Path,
        icount: bool,
    ) -> Result<AgentSession> {
        let dir = crate::case::join_name(results_dir, &format!("agent-{}", case.name))?;
        let mut subject = Subject::prepare(case, kernel.clone(), dir, env, 0)?;
        let mode = if icount {
            Mode::Deterministic
        } else {
            Mode::Wall
        };
        let opts = BenchOptions {
            mode,
            ..BenchOptions::defaults(Mode::Wall)
        };
        let run = RunOptions {
            results_dir: results_dir.to_owned(),
            accel: boot::Accel::Tcg,
            jobs: 1,
            boot_jobs: 1,
            kernel_build: None,
            timeout: None,
            bless: false,
            retries: 0,
            cc_wrapper: None,
            pool: false,
            fail_fast: false,
            boot_via: crate::run::BootVia::Qemu,
        };
        let agent = boot_agent(&mut subject, 0, &[], &opts, &run)?;
        Ok(AgentSession {
            agent: Some(agent),
            icount,
        })
    }

    /// Runs `iterations` of `workload` once; returns its time: guest
    /// instructions under icount, else host wall time of the sample.
    pub fn run(&mut self, workload: &str, iterations: u64) -> Result<Duration> {
        let w = Workload::named(workload)
            .with_context(|| format!("unknown workload {workload}"))?
            .with_iterations(iterations.max(1));
        let agent = self.agent.as_mut().context("agent already stopped")?;
        let (guest, host) = agent.sample(&w, Duration::from_secs(600))?;
        let per_op = if self.icount { guest } else { host };
        Ok(Duration::from_nanos(
            (per_op * w.iterations as f64).round() as u64
        ))
    }

    pub fn stop(mut self) -> Result<()> {
        match self.agent.take() {
            Some(a) => a.quit(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_command_line_drops_initcall_debug_and_carries_the_plan() {
        let dir = crate::default_cases_dir();
        let cases = crate::case::load_dir(&dir).unwrap();
        let case = cases.iter().find(|c| !c.cmdline.is_empty()).unwrap();
        let w = super::super::workloads::select(&["fork".into(), "pipe".into()]).unwrap();
        let plan: Vec<&Workload> = w.iter().collect();
        let det = cmdline(case, Mode::Deterministic, &plan);
        assert!(det.iter().all(|x| !x.starts_with("initcall_debug")));
        let tail = &det[det.len() - 2..];
        assert_eq!(tail, ["norandmaps", "lto_bench_plan=fork:100,pipe:2000"]);
        let wall = cmdline(case, Mode::Wall, &[]);
        assert_eq!(wall, det[..det.len() - 2]);
    }
}
