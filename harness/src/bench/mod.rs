//! Bench: what LTO costs and buys, kernel A against kernel B.
//!
//! Build cost and sizes come from each build's `metadata.json`. Boot and
//! workload figures come from guests booted as *agents*: the initramfs's
//! `/init` reads `WORKLOAD ITERATIONS` lines from the console and runs them
//! with `lto-bench` (images/workloads), so one boot serves many samples.
//! Both guests stay up and take turns (A, B, then B, A next round), so
//! drift on a shared machine hits both.
//!
//! * `deterministic` (default): QEMU `-icount shift=0,sleep=off`; the guest
//!   clock counts instructions, so figures are guest instruction path
//!   lengths (basis `icount`), repeatable across boots. Not cycles.
//! * `wall`: plain TCG, guest clock ≈ host time (basis `wall`): many
//!   samples, medians, bootstrap 95 % intervals; a verdict only when the
//!   interval excludes zero.

pub mod stats;

use crate::case::Case;
use crate::checks;
use crate::console::EventKind;
use crate::events::{Event, Reporter};
use crate::guest::protocol::Marker;
use crate::model::perf::{Basis, Better};
use crate::model::Status;
use crate::model::{Arch, Cfi, Lto};
use crate::run::{Environment, RunOptions};
use crate::stages::boot::{self, BootRequest, Guest, Next};
use crate::stages::build::BuiltKernel;
use crate::stages::image;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use stats::{Comparison, Verdict};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Guest instruction counts under -icount: repeatable, not cycles.
    Deterministic,
    /// Plain TCG wall time: noisy; many interleaved samples and intervals.
    Wall,
}

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

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub mode: Mode,
    /// Guest boots per kernel (each gives one boot sample).
    pub boots: usize,
    /// Samples of each workload per boot.
    pub samples: usize,
    /// Workload names (empty: all).
    pub workloads: Vec<String>,
    /// Limit for one boot or one workload sample.
    pub step_timeout: Duration,
}

impl BenchOptions {
    pub fn defaults(mode: Mode) -> BenchOptions {
        match mode {
            // Repeats only show the figures are repeatable: few are needed.
            Mode::Deterministic => BenchOptions {
                mode,
                boots: 2,
                samples: 2,
                workloads: vec![],
                step_timeout: Duration::from_secs(300),
            },
            Mode::Wall => BenchOptions {
                mode,
                boots: 3,
                samples: 5,
                workloads: vec![],
                step_timeout: Duration::from_secs(300),
            },
        }
    }
}

/// One figure read off a build's metadata.
pub struct BuildFigure {
    pub name: &'static str,
    pub unit: &'static str,
    pub basis: Basis,
    pub better: Better,
    pub time_like: bool,
    pub value: f64,
}

/// Build cost and sizes of one kernel, the same list for `bench` and for
/// the history of `run`.
pub fn build_figures(m: &crate::stages::build::BuildMetadata) -> Vec<BuildFigure> {
    let f = |name, unit, basis, time_like, value| BuildFigure {
        name,
        unit,
        basis,
        better: Better::Lower,
        time_like,
        value,
    };
    let modules: u64 = m.modules.iter().map(|x| x.bytes).sum();
    vec![
        f("build.wall", "s", Basis::BuildOnce, true, m.wall_seconds),
        f("build.cpu", "s", Basis::BuildOnce, true, m.cpu_seconds),
        f(
            "build.peak_rss",
            "MiB",
            Basis::BuildOnce,
            false,
            m.max_rss_kib as f64 / 1024.0,
        ),
        f(
            "size.text",
            "bytes",
            Basis::Exact,
            false,
            m.vmlinux.text as f64,
        ),
        f(
            "size.data",
            "bytes",
            Basis::Exact,
            false,
            m.vmlinux.data as f64,
        ),
        f(
            "size.bss",
            "bytes",
            Basis::Exact,
            false,
            m.vmlinux.bss as f64,
        ),
        f(
            "size.image",
            "bytes",
            Basis::Exact,
            false,
            m.image_bytes as f64,
        ),
        f("size.modules", "bytes", Basis::Exact, false, modules as f64),
    ]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    /// e.g. `size.text`, `boot.run_init`, `workload.getppid`.
    pub name: String,
    pub unit: String,
    pub basis: Basis,
    pub better: Better,
    /// True for figures measured in time (for the verdict's words).
    pub time_like: bool,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub comparison: Comparison,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelInfo {
    pub case: String,
    pub arch: Arch,
    pub lto: Lto,
    pub cfi: Cfi,
    pub build_key: String,
    pub console_logs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub mode: Mode,
    /// What the figures mean, in words, for whoever reads bench.json.
    pub note: String,
    pub started_at: String,
    pub seconds: f64,
    pub a: KernelInfo,
    pub b: KernelInfo,
    pub metrics: Vec<Metric>,
    /// Figures that got worse beyond their noise band since the previous
    /// bench of the same kernels (filled in when the history is written).
    #[serde(default)]
    pub regressions: Vec<crate::model::perf::Regression>,
}

/// One kernel under test.
struct Subject<'a> {
    case: &'a Case,
    kernel: BuiltKernel,
    initrd: PathBuf,
    dir: PathBuf,
    boot_run_init: Vec<f64>,
    boot_stamp: Vec<f64>,
    workloads: Vec<Vec<f64>>,
    logs: Vec<PathBuf>,
}

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

    /// Runs one sample on demand; returns guest nanoseconds per iteration.
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

    /// Reads the next workload result, which must be `w`'s.
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
}

fn boot_agent(
    s: &mut Subject,
    round: usize,
    plan: &[&Workload],
    opts: &BenchOptions,
    run: &RunOptions,
) -> Result<Agent> {
    let log = s.dir.join(format!("bench-console-{round}.log"));
    let mut cmdline: Vec<String> = s
        .case
        .cmdline
        .iter()
        .filter(|w| !w.starts_with("initcall_debug"))
        .cloned()
        .collect();
    if opts.mode == Mode::Deterministic {
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
    let req = BootRequest {
        arch: s.case.arch.profile(),
        image: s.kernel.image.clone(),
        initrd: s.initrd.clone(),
        cmdline,
        timeout: opts.step_timeout,
        accel: run.accel,
        log: log.clone(),
        stderr_log: s.dir.join(format!("bench-qemu-stderr-{round}.log")),
        icount: opts.mode == Mode::Deterministic,
    };
    s.logs.push(log);
    let guest =
        Guest::start(&req, true).map_err(|o| anyhow::anyhow!("{}: {:?}", s.case.name, o.end))?;
    let mut agent = Agent {
        guest,
        case: s.case.name.clone(),
    };
    let deadline = Instant::now() + opts.step_timeout;
    let stamp = agent.wait_marker(Marker::Stamp, deadline)?;
    let ns: f64 = stamp
        .iter()
        .find_map(|a| a.strip_prefix("ns="))
        .and_then(|v| v.parse().ok())
        .context("STAMP without ns=")?;
    for w in plan {
        let v = agent.result(w, Instant::now() + opts.step_timeout)?;
        s.workloads[w.index].push(v);
    }
    agent.wait_marker(Marker::Agent, deadline)?;
    let run_init = agent
        .guest_events()
        .iter()
        .find_map(|e| match e.kind {
            EventKind::RunInit { .. } => e.time,
            _ => None,
        })
        .context("no `Run /init` line with a timestamp")?;
    s.boot_run_init.push(run_init);
    s.boot_stamp.push(ns / 1e9);
    Ok(agent)
}

impl Agent {
    fn guest_events(&self) -> &[crate::console::Event] {
        self.guest.events()
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

/// Benchmarks kernel B against kernel A.
pub fn bench(
    a: (&Case, BuiltKernel),
    b: (&Case, BuiltKernel),
    env: &Environment,
    run: &RunOptions,
    opts: &BenchOptions,
    reporter: &dyn Reporter,
) -> Result<BenchReport> {
    let started_at = crate::stages::build::now_rfc3339();
    let t = Instant::now();
    let mut workloads: Vec<Workload> = if opts.workloads.is_empty() {
        WORKLOADS.to_vec()
    } else {
        opts.workloads
            .iter()
            .map(|n| {
                WORKLOADS
                    .iter()
                    .copied()
                    .find(|w| w.name == n)
                    .with_context(|| {
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
    let mut subjects = Vec::new();
    for ((case, kernel), tag) in [(a, "a"), (b, "b")] {
        let arch = case.arch.profile();
        let dir = run
            .results_dir
            .join("bench")
            .join(format!("{tag}-{}", case.name));
        std::fs::create_dir_all(&dir)?;
        let busybox = image::busybox_for(arch, &env.cache)?;
        let prog = image::guest_program(arch, &env.toolchain, &env.cache)?;
        let initrd = dir.join("initramfs-bench.cpio.gz");
        image::write_bench_initramfs(case, &kernel, &busybox, &prog, &initrd)?;
        subjects.push(Subject {
            case,
            kernel,
            initrd,
            dir,
            boot_run_init: vec![],
            boot_stamp: vec![],
            workloads: vec![vec![]; workloads.len()],
            logs: vec![],
        });
    }
    for round in 0..opts.boots {
        match opts.mode {
            Mode::Deterministic => {
                // Each guest runs its whole plan from the command line; under
                // -icount host timing cannot reach the figures, so both boot at once.
                reporter.report(&Event::BenchRound {
                    round: round + 1,
                    rounds: opts.boots,
                    plan: &format!("both guests run {} samples of each workload", opts.samples),
                });
                let plan: Vec<&Workload> =
                    (0..opts.samples).flat_map(|_| workloads.iter()).collect();
                let (first, second) = subjects.split_at_mut(1);
                let (ra, rb) = std::thread::scope(|sc| {
                    let ha = sc.spawn(|| {
                        boot_agent(&mut first[0], round, &plan, opts, run).and_then(Agent::quit)
                    });
                    let hb = sc.spawn(|| {
                        boot_agent(&mut second[0], round, &plan, opts, run).and_then(Agent::quit)
                    });
                    (ha.join(), hb.join())
                });
                ra.map_err(|_| anyhow::anyhow!("benchmark thread panicked"))??;
                rb.map_err(|_| anyhow::anyhow!("benchmark thread panicked"))??;
            }
            Mode::Wall => {
                let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                reporter.report(&Event::BenchRound {
                    round: round + 1,
                    rounds: opts.boots,
                    plan: "booting both guests",
                });
                let mut agents: Vec<Option<Agent>> = vec![None, None];
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
                        for &i in &flip {
                            let agent = agents[i].as_mut().expect("agent booted");
                            let wall = Workload {
                                iterations: w.iterations * WALL_ITERATION_FACTOR,
                                ..*w
                            };
                            let (_, host) = agent.sample(&wall, opts.step_timeout)?;
                            subjects[i].workloads[wi].push(host);
                        }
                    }
                }
                for a in agents.into_iter().flatten() {
                    a.quit()?;
                }
            }
        }
    }

    let (sa, sb) = (&subjects[0], &subjects[1]);
    let timed = if opts.mode == Mode::Deterministic {
        Basis::Icount
    } else {
        Basis::Wall
    };
    let mut metrics = Vec::new();
    let mut push = |name: &str,
                    unit: &str,
                    basis: Basis,
                    better: Better,
                    time_like: bool,
                    a: Vec<f64>,
                    b: Vec<f64>| {
        let comparison = match basis {
            Basis::Icount => stats::compare_exact(&a, &b, better, 0.01),
            Basis::Exact => stats::compare_exact(&a, &b, better, 0.0),
            Basis::Wall => stats::compare_noisy(&a, &b, better),
            Basis::BuildOnce => {
                let mut c = stats::compare_noisy(&a, &b, better);
                c.verdict = Verdict::NotTested;
                c
            }
        };
        metrics.push(Metric {
            name: name.into(),
            unit: unit.into(),
            basis,
            better,
            time_like,
            a,
            b,
            comparison,
        });
    };
    if let (Some(ma), Some(mb)) = (&sa.kernel.metadata, &sb.kernel.metadata) {
        for (fa, fb) in build_figures(ma).into_iter().zip(build_figures(mb)) {
            push(
                fa.name,
                fa.unit,
                fa.basis,
                fa.better,
                fa.time_like,
                vec![fa.value],
                vec![fb.value],
            );
        }
    }
    let unit = if timed == Basis::Icount {
        "guest s (1 ns = 1 instruction)"
    } else {
        "s"
    };
    push(
        "boot.run_init",
        unit,
        timed,
        Better::Lower,
        true,
        sa.boot_run_init.clone(),
        sb.boot_run_init.clone(),
    );
    push(
        "boot.first_marker",
        unit,
        timed,
        Better::Lower,
        true,
        sa.boot_stamp.clone(),
        sb.boot_stamp.clone(),
    );
    let per_op = if timed == Basis::Icount {
        "instructions/op"
    } else {
        "ns/op"
    };
    for (wi, w) in workloads.iter().enumerate() {
        push(
            &format!("workload.{}", w.name),
            per_op,
            timed,
            Better::Lower,
            true,
            sa.workloads[wi].clone(),
            sb.workloads[wi].clone(),
        );
    }
    let info = |s: &Subject| KernelInfo {
        case: s.case.name.clone(),
        arch: s.case.arch,
        lto: s.case.lto,
        cfi: s.case.cfi,
        build_key: s.kernel.key.clone(),
        console_logs: s.logs.clone(),
    };
    let note = match opts.mode {
        Mode::Deterministic => "deterministic mode: boot and workload figures are guest instruction counts under QEMU -icount \
                                shift=0,sleep=off (1 guest ns = 1 instruction): path length under TCG, not silicon cycles; \
                                the interval is the spread of the repeats"
            .to_owned(),
        Mode::Wall => "wall mode: host wall time of each sample (command to result, console round trip \
                       included) under plain TCG; medians of interleaved samples with bootstrap 95% intervals; \
                       emulated time is not silicon time"
            .to_owned(),
    };
    Ok(BenchReport {
        mode: opts.mode,
        note,
        started_at,
        seconds: t.elapsed().as_secs_f64(),
        a: info(sa),
        b: info(sb),
        metrics,
        regressions: vec![],
    })
}

impl BenchReport {
    /// The human table: one row per metric.
    pub fn table(&self) -> String {
        let mut out = format!(
            "A = {}   B = {}   ({:?} mode)\n{}\n\n",
            self.a.case, self.b.case, self.mode, self.note
        );
        out.push_str(&format!(
            "{:<20} {:>16} {:>16} {:>9}  {:<20} {}\n",
            "metric", "A", "B", "delta", "95% interval", "verdict"
        ));
        for m in &self.metrics {
            let c = &m.comparison;
            let interval = if c.ci_low_pct.is_nan() {
                "-".to_owned()
            } else {
                format!("[{:+.2}%, {:+.2}%]", c.ci_low_pct, c.ci_high_pct)
            };
            out.push_str(&format!(
                "{:<20} {:>16} {:>16} {:>+8.2}%  {:<20} {}\n",
                m.name,
                fmt_value(c.a_median),
                fmt_value(c.b_median),
                c.delta_pct,
                interval,
                c.verdict.words(m.better, m.time_like)
            ));
        }
        out.push_str("\nunits: ");
        let mut units: Vec<String> = self
            .metrics
            .iter()
            .map(|m| format!("{} {}", m.name, m.unit))
            .collect();
        units.dedup();
        out.push_str(&units.join("; "));
        out.push('\n');
        for r in &self.regressions {
            out.push_str(&format!("PERFORMANCE REGRESSION: {r}\n"));
        }
        out
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.6}")
    }
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
        let arch = case.arch.profile();
        let dir = results_dir.join(format!("agent-{}", case.name));
        std::fs::create_dir_all(&dir)?;
        let busybox = image::busybox_for(arch, &env.cache)?;
        let prog = image::guest_program(arch, &env.toolchain, &env.cache)?;
        let initrd = dir.join("initramfs-bench.cpio.gz");
        image::write_bench_initramfs(case, kernel, &busybox, &prog, &initrd)?;
        let mut subject = Subject {
            case,
            kernel: kernel.clone(),
            initrd,
            dir,
            boot_run_init: vec![],
            boot_stamp: vec![],
            workloads: vec![],
            logs: vec![],
        };
        let opts = BenchOptions {
            mode: if icount {
                Mode::Deterministic
            } else {
                Mode::Wall
            },
            ..BenchOptions::defaults(Mode::Wall)
        };
        let run = RunOptions {
            results_dir: results_dir.to_owned(),
            accel: boot::Accel::Tcg,
            jobs: 1,
            kernel_build: None,
            timeout: None,
            bless: false,
            retries: 0,
            cc_wrapper: None,
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
        let w = WORKLOADS
            .iter()
            .find(|w| w.name == workload)
            .with_context(|| format!("unknown workload {workload}"))?;
        let w = Workload {
            iterations: iterations.max(1),
            ..*w
        };
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
