//! What a run would take on another machine: the builds' recorded
//! profiles ([`BuildProfile`]: each make's CPU seconds sampled every few
//! seconds) replayed on N cores, in today's sequential order and in the
//! job pool (`run --pool`). `plan --simulate` prints it.
//!
//! The model. Each build is a chain of segments cut from its profile:
//! a stretch where the make kept more than [`PARALLEL_ABOVE`] cores busy
//! is *parallel* (its CPU seconds can spread over any number of cores:
//! compiles under `make -jN`, ThinLTO's backend threads); any other
//! stretch is *serial* (one core for as long as it took: configuration,
//! a full-LTO `ld.lld`, objtool, kallsyms). Before the make, the
//! configuration is serial; after it, the boot is serial too (TCG: one
//! core). Cores are shared in proportion to what each runnable job can
//! use, as the kernel's scheduler shares them between threads.
//!
//! * sequential: builds one after another, each make with up to N jobs;
//!   up to `boot_jobs` boots beside them.
//! * pool: at most N tokens. A build takes one before its configuration
//!   and holds it to the end of its make (a make's implicit slot); a boot
//!   holds one; a make in a parallel stretch also takes the free tokens,
//!   shared evenly with the other parallel makes. Waiters get tokens
//!   first come, first served. (The real pool since has a boot lane and
//!   serves waiters by rank, full-LTO builds first: not modelled.)
//!
//! It can only be as good as the profiles: they must come from builds
//! that had the machine to themselves (a sequential run), since a build
//! in a pool shows its share, not its parallelism; a stretch measured as
//! parallel on 2 cores is assumed to scale to N (compiles do, a link's
//! threads may not), so the result for large N is a best case. Memory is
//! not modelled. Replaying on the cores the profiles were measured on
//! gives the measured wall back, which is how the model is checked.

use crate::model::perf::BuildProfile;
use crate::model::results::RunResults;
use crate::stages::build::BuildMetadata;
use std::collections::{BTreeMap, VecDeque};

/// A stretch of a profile busier than this many cores is parallel.
pub const PARALLEL_ABOVE: f64 = 1.25;

/// One build and its boot, as the simulator replays them.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    /// Serial seconds before the make (base config, merge, olddefconfig).
    pub config_seconds: f64,
    pub profile: BuildProfile,
    /// Serial seconds of the boot after the build (0: no boot).
    pub boot_seconds: f64,
    /// The job whose kernel this one boots (a second case on the same
    /// kernel): its boot waits for that build.
    pub after: Option<usize>,
}

/// A piece of work: how much, and how many cores it can use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Core-seconds.
    pub work: f64,
    pub parallel: bool,
}

/// The jobs of a run's results: each build made or reused (once per
/// kernel, cases sharing one counted once) with its recorded profile, and
/// the boots. Also, the cases whose build has no profile (built before
/// profiles were recorded, or never built), and those whose profile was
/// taken in a pool (which the model cannot use: see the module doc).
pub fn jobs_of(r: &RunResults) -> (Vec<Job>, Vec<String>, Vec<String>) {
    let (mut jobs, mut missing, mut shared) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for c in &r.cases {
        let meta = c
            .build
            .metadata
            .as_deref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<BuildMetadata>(&b).ok());
        let Some(meta) = meta else {
            missing.push(c.name.clone());
            continue;
        };
        let Some(profile) = meta.profile else {
            missing.push(c.name.clone());
            continue;
        };
        if profile.shared {
            shared.push(c.name.clone());
            continue;
        }
        // A second case on the same kernel only boots, after that build.
        let after = seen.get(&meta.key).copied();
        let first = after.is_none();
        seen.entry(meta.key.clone()).or_insert(jobs.len());
        jobs.push(Job {
            name: c.name.clone(),
            config_seconds: if first { meta.config_seconds } else { 0.0 },
            profile: if first {
                profile
            } else {
                BuildProfile {
                    samples: vec![],
                    ..profile
                }
            },
            boot_seconds: c.boot.seconds,
            after,
        });
    }
    (jobs, missing, shared)
}

/// The segments of a make's profile, neighbours of one kind merged.
pub fn segments(p: &BuildProfile) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for w in p.samples.windows(2) {
        let (dt, dc) = (w[1][0] - w[0][0], (w[1][1] - w[0][1]).max(0.0));
        if dt.is_nan() || dt <= 0.0 {
            continue;
        }
        let parallel = p.jobs > 1 && dc / dt > PARALLEL_ABOVE;
        // A serial stretch takes one core for its wall time; a parallel
        // one is the CPU seconds it used.
        let work = if parallel { dc } else { dt };
        match out.last_mut() {
            Some(l) if l.parallel == parallel => l.work += work,
            _ => out.push(Segment { work, parallel }),
        }
    }
    out
}

/// How the builds are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// One build after another, each `make -jN` (today's `run`).
    Sequential { boot_jobs: usize },
    /// One pool of N tokens for every build and boot (`run --pool`).
    Pool,
}

/// What one replay gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub cores: usize,
    pub wall: f64,
    /// Every job's core-seconds over the cores: no schedule beats it.
    pub floor: f64,
}

/// Where one job is.
#[derive(Debug, Clone)]
struct Live {
    /// Segments left: the configuration, the make, the boot (a boot is
    /// the segment after `boot_at`).
    segs: VecDeque<Segment>,
    /// Index in the original chain where the boot starts (segments before
    /// it are the build).
    left_in_build: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not started (sequential: not its turn; pool: waiting for a token).
    Waiting,
    Building,
    /// Built, its boot waiting (for a boot slot or a token).
    BootWaiting,
    Booting,
    Done,
}

/// Replays `jobs` on `cores` cores under `schedule`.
pub fn simulate(jobs: &[Job], cores: usize, schedule: Schedule) -> Outcome {
    let cores = cores.max(1);
    let n = cores as f64;
    let mut live: Vec<Live> = jobs
        .iter()
        .map(|j| {
            let mut segs: VecDeque<Segment> = VecDeque::new();
            if j.config_seconds > 0.0 {
                segs.push_back(Segment {
                    work: j.config_seconds,
                    parallel: false,
                });
            }
            segs.extend(segments(&j.profile));
            let left_in_build = segs.len();
            if j.boot_seconds > 0.0 {
                segs.push_back(Segment {
                    work: j.boot_seconds,
                    parallel: false,
                });
            }
            Live {
                segs,
                left_in_build,
                state: State::Waiting,
            }
        })
        .collect();
    let total: f64 = live.iter().flat_map(|l| &l.segs).map(|s| s.work).sum();
    let mut t = 0.0;
    // Order of arrival for the pool's first come, first served.
    let mut queue: VecDeque<usize> = (0..live.len()).collect();
    loop {
        admit(&mut live, jobs, &mut queue, cores, schedule);
        let rates = rates(&live, n, schedule);
        let next = live
            .iter()
            .zip(&rates)
            .filter(|(_, r)| **r > 0.0)
            .filter_map(|(l, r)| l.segs.front().map(|s| s.work / r))
            .fold(f64::INFINITY, f64::min);
        if !next.is_finite() {
            break;
        }
        t += next;
        for (i, r) in rates.iter().enumerate() {
            if *r <= 0.0 {
                continue;
            }
            let l = &mut live[i];
            let Some(front) = l.segs.front_mut() else {
                continue;
            };
            front.work -= r * next;
            if front.work <= 1e-9 {
                l.segs.pop_front();
                if l.state == State::Building {
                    l.left_in_build -= 1;
                    if l.left_in_build == 0 {
                        l.state = if l.segs.is_empty() {
                            State::Done
                        } else {
                            State::BootWaiting
                        };
                        if l.state == State::BootWaiting {
                            queue.push_back(i);
                        }
                    }
                } else if l.state == State::Booting && l.segs.is_empty() {
                    l.state = State::Done;
                }
            }
        }
    }
    Outcome {
        cores,
        wall: t,
        floor: total / n,
    }
}

/// Starts what may start now.
fn admit(
    live: &mut [Live],
    jobs: &[Job],
    queue: &mut VecDeque<usize>,
    cores: usize,
    schedule: Schedule,
) {
    // A job with nothing to build goes to its boot once its kernel is
    // built (its own: at once).
    let built: Vec<bool> = live
        .iter()
        .map(|l| !matches!(l.state, State::Waiting | State::Building))
        .collect();
    for (i, l) in live.iter_mut().enumerate() {
        let ready = jobs[i]
            .after
            .is_none_or(|a| built.get(a).copied().unwrap_or(true));
        if l.state == State::Waiting && l.left_in_build == 0 && ready {
            l.state = if l.segs.is_empty() {
                State::Done
            } else {
                State::BootWaiting
            };
            queue.retain(|&q| q != i);
            if l.state == State::BootWaiting {
                queue.push_back(i);
            }
        }
    }
    match schedule {
        Schedule::Sequential { boot_jobs } => {
            if !live.iter().any(|l| l.state == State::Building) {
                if let Some(l) = live
                    .iter_mut()
                    .find(|l| l.state == State::Waiting && l.left_in_build > 0)
                {
                    l.state = State::Building;
                }
            }
            let booting = live.iter().filter(|l| l.state == State::Booting).count();
            let mut free = boot_jobs.max(1).saturating_sub(booting);
            for l in live.iter_mut() {
                if free > 0 && l.state == State::BootWaiting {
                    l.state = State::Booting;
                    free -= 1;
                }
            }
        }
        Schedule::Pool => {
            let held = live
                .iter()
                .filter(|l| matches!(l.state, State::Building | State::Booting))
                .count();
            let mut free = cores.saturating_sub(held);
            // Queued jobs with nothing to build wait for their kernel
            // outside the queue's order.
            let mut skipped = VecDeque::new();
            while free > 0 {
                let Some(i) = queue.pop_front() else { break };
                if live[i].state == State::Waiting && live[i].left_in_build == 0 {
                    skipped.push_back(i);
                    continue;
                }
                let l = &mut live[i];
                l.state = match l.state {
                    State::Waiting => State::Building,
                    State::BootWaiting => State::Booting,
                    other => other,
                };
                free -= 1;
            }
            while let Some(i) = skipped.pop_back() {
                queue.push_front(i);
            }
        }
    }
}

/// Each job's share of the cores (core-seconds per second) right now.
fn rates(live: &[Live], n: f64, schedule: Schedule) -> Vec<f64> {
    let running = |l: &Live| matches!(l.state, State::Building | State::Booting);
    let parallel = |l: &Live| l.segs.front().is_some_and(|s| s.parallel);
    match schedule {
        Schedule::Sequential { .. } => {
            // Threads share the cores: a parallel make runs N jobs.
            let want: Vec<f64> = live
                .iter()
                .map(|l| match (running(l), parallel(l)) {
                    (false, _) => 0.0,
                    (true, true) => n,
                    (true, false) => 1.0,
                })
                .collect();
            let sum: f64 = want.iter().sum();
            let scale = if sum > n { n / sum } else { 1.0 };
            want.iter().map(|w| w * scale).collect()
        }
        Schedule::Pool => {
            // Every running job holds its one token; the free ones go to
            // the parallel makes, evenly.
            let held = live.iter().filter(|l| running(l)).count() as f64;
            let wide = live.iter().filter(|l| running(l) && parallel(l)).count() as f64;
            let extra = if wide > 0.0 {
                (n - held).max(0.0) / wide
            } else {
                0.0
            };
            live.iter()
                .map(|l| match (running(l), parallel(l)) {
                    (false, _) => 0.0,
                    (true, true) => 1.0 + extra,
                    (true, false) => 1.0,
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile of `jobs` cores: `stretches` of (seconds, cores busy).
    fn profile(jobs: usize, stretches: &[(f64, f64)]) -> BuildProfile {
        let mut samples = vec![[0.0, 0.0]];
        let (mut t, mut c) = (0.0, 0.0);
        for (dt, busy) in stretches {
            t += dt;
            c += dt * busy;
            samples.push([t, c]);
        }
        BuildProfile {
            jobs,
            shared: false,
            samples,
            marks: vec![],
            steps: 0,
            queued_seconds: 0.0,
            step_times: vec![],
        }
    }

    fn job(name: &str, stretches: &[(f64, f64)], boot: f64) -> Job {
        Job {
            name: name.into(),
            config_seconds: 0.0,
            profile: profile(2, stretches),
            boot_seconds: boot,
            after: None,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn a_profile_cuts_into_serial_and_parallel_stretches() {
        let p = profile(2, &[(10.0, 2.0), (10.0, 1.9), (30.0, 1.0), (5.0, 0.2)]);
        let s = segments(&p);
        assert_eq!(s.len(), 2);
        assert!(s[0].parallel && close(s[0].work, 20.0 + 19.0));
        // Serial stretches take their wall time on one core.
        assert!(!s[1].parallel && close(s[1].work, 35.0));
        // A -j1 make has no parallel stretch.
        assert!(segments(&profile(1, &[(10.0, 2.0)]))
            .iter()
            .all(|s| !s.parallel));
    }

    #[test]
    fn replaying_on_the_measured_cores_gives_the_measured_wall() {
        // A build alone on 2 cores: 100 s parallel, 50 s serial link.
        let jobs = [job("a", &[(100.0, 2.0), (50.0, 1.0)], 0.0)];
        let o = simulate(&jobs, 2, Schedule::Sequential { boot_jobs: 2 });
        assert!(close(o.wall, 150.0), "{o:?}");
        // On 16 cores the compile shrinks, the link does not.
        let o = simulate(&jobs, 16, Schedule::Sequential { boot_jobs: 2 });
        assert!(close(o.wall, 200.0 / 16.0 + 50.0), "{o:?}");
    }

    #[test]
    fn the_pool_fills_a_serial_link_with_another_builds_compiles() {
        // Two builds of 100 s parallel + 50 s serial each, on 2 cores.
        let jobs = [
            job("a", &[(100.0, 2.0), (50.0, 1.0)], 0.0),
            job("b", &[(100.0, 2.0), (50.0, 1.0)], 0.0),
        ];
        let seq = simulate(&jobs, 2, Schedule::Sequential { boot_jobs: 2 });
        assert!(close(seq.wall, 300.0), "{seq:?}");
        // Work: 2 × (200 + 50) = 500 core-s: a floor of 250 s.
        assert!(close(seq.floor, 250.0), "{seq:?}");
        let pool = simulate(&jobs, 2, Schedule::Pool);
        // Both makes run on one token each (200 s of compiles apiece at
        // one core), then both links at once: 250 s, the floor.
        assert!(close(pool.wall, 250.0), "{pool:?}");
    }

    #[test]
    fn boots_follow_their_builds_and_take_a_core() {
        let jobs = [
            job("a", &[(100.0, 2.0)], 10.0),
            job("b", &[(100.0, 2.0)], 10.0),
        ];
        // Sequential: a's boot shares the cores with b's make (2 of 3
        // threads' worth for the make), then b boots alone.
        let seq = simulate(&jobs, 2, Schedule::Sequential { boot_jobs: 2 });
        // a: 0..100; boot a 100..115 at 2/3 core while b makes at 4/3;
        // b's 200 core-s: 20 done in those 15 s, 180 left at 2 → 90 s;
        // then boot b 10 s: 100 + 15 + 90 + 10.
        assert!(close(seq.wall, 215.0), "{seq:?}");
        let pool = simulate(&jobs, 2, Schedule::Pool);
        // Both make at one core each for 200 s, then both boot: 210 s.
        assert!(close(pool.wall, 210.0), "{pool:?}");
        assert!(pool.wall >= pool.floor - 1e-9);
    }

    #[test]
    fn more_builds_than_tokens_wait_their_turn() {
        let jobs: Vec<Job> = (0..3)
            .map(|i| job(&format!("j{i}"), &[(10.0, 1.0)], 0.0))
            .collect();
        // Three serial 10 s builds, 2 tokens: two at once, then the third.
        let pool = simulate(&jobs, 2, Schedule::Pool);
        assert!(close(pool.wall, 20.0), "{pool:?}");
        let pool = simulate(&jobs, 3, Schedule::Pool);
        assert!(close(pool.wall, 10.0), "{pool:?}");
        let seq = simulate(&jobs, 3, Schedule::Sequential { boot_jobs: 2 });
        assert!(close(seq.wall, 30.0), "{seq:?}");
    }

    /// A real results.json's cases pointed at metadata files: one with a
    /// profile, one on the same kernel (it only boots), one built in a
    /// pool, one from before profiles, one whose file is gone.
    #[test]
    fn jobs_are_read_from_a_runs_results() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(root.join("tests/fixtures/results/all-pass.json")).unwrap();
        let mut r: RunResults = serde_json::from_str(&text).unwrap();
        let d = tempfile::tempdir().unwrap();
        let meta = |key: &str, profile: Option<BuildProfile>| {
            let mut m: serde_json::Value = serde_json::json!({
                "key": key, "config_key": "c", "case": "x", "arch": "x86_64",
                "lto": "none", "cfi": "off", "base": "tinyconfig",
                "source": {"kind": "tarball", "path": "/t", "sha256": "00"},
                "kernel_version": "6.12", "toolchain": "clang", "llvm": "-19",
                "jobs": 2, "config_seconds": 7.0, "wall_seconds": 1.0,
                "cpu_seconds": 1.0, "user_seconds": 1.0, "system_seconds": 0.0,
                "max_rss_kib": 1, "vmlinux": {"text": 1, "data": 1, "bss": 1},
                "image_bytes": 1, "modules": [], "make_commands": [],
                "built_at": "2026-11-27T00:00:00Z"
            });
            if let Some(p) = profile {
                m["profile"] = serde_json::to_value(p).unwrap();
            }
            let n = std::fs::read_dir(d.path()).unwrap().count();
            let path = d.path().join(format!("{key}-{n}.json"));
            std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
            path
        };
        let p = profile(2, &[(10.0, 2.0), (5.0, 1.0)]);
        let shared = BuildProfile {
            shared: true,
            ..p.clone()
        };
        let files = [
            Some(meta("k1", Some(p.clone()))),
            Some(meta("k1", Some(p.clone()))),
            Some(meta("k2", Some(shared))),
            Some(meta("k3", None)),
            Some(d.path().join("gone.json")),
            None,
        ];
        for (c, f) in r.cases.iter_mut().zip(files) {
            c.build.metadata = f;
            c.boot.seconds = 3.0;
        }
        let (jobs, missing, shared) = jobs_of(&r);
        assert_eq!(jobs.len(), 2, "{jobs:?}");
        assert_eq!(jobs[0].name, r.cases[0].name);
        assert_eq!((jobs[0].config_seconds, jobs[0].boot_seconds), (7.0, 3.0));
        assert_eq!(segments(&jobs[0].profile).len(), 2);
        // The second case on kernel k1 only boots.
        assert_eq!(jobs[1].config_seconds, 0.0);
        assert!(segments(&jobs[1].profile).is_empty());
        assert_eq!(shared, vec![r.cases[2].name.clone()]);
        assert_eq!(missing.len(), 3, "{missing:?}");
        assert_eq!(jobs[1].after, Some(0));
        // 7 s of config, 10 s at 2 cores, 5 s serial, then both 3 s boots
        // at once (the second case's waits for the kernel).
        for schedule in [Schedule::Sequential { boot_jobs: 2 }, Schedule::Pool] {
            let o = simulate(&jobs, 2, schedule);
            assert!(close(o.wall, 7.0 + 10.0 + 5.0 + 3.0), "{schedule:?}: {o:?}");
        }
        // One boot at a time: the second boot after the first.
        let o = simulate(&jobs, 2, Schedule::Sequential { boot_jobs: 1 });
        assert!(close(o.wall, 7.0 + 10.0 + 5.0 + 6.0), "{o:?}");
    }

    /// The six shipped cases' real profiles, from a cold `--sequential`
    /// run on a 2-core machine (4685 s; see the README): replayed on 2
    /// cores they give that wall back, and the pool beats the order on
    /// more cores.
    #[test]
    fn real_profiles_replay_to_the_measured_wall() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/profiles/cold-sequential");
        let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
        let mut r: RunResults = serde_json::from_str(&text).unwrap();
        for c in &mut r.cases {
            c.build.metadata = Some(dir.join(&c.name).join("metadata.json"));
        }
        let (jobs, missing, shared) = jobs_of(&r);
        assert_eq!(jobs.len(), 6, "missing {missing:?}, shared {shared:?}");
        let seq = simulate(&jobs, 2, Schedule::Sequential { boot_jobs: 2 });
        let off = (seq.wall - r.seconds).abs() / r.seconds;
        assert!(
            off < 0.03,
            "simulated {:.0} s, measured {:.0} s",
            seq.wall,
            r.seconds
        );
        let pool = simulate(&jobs, 2, Schedule::Pool);
        assert!(
            pool.wall < seq.wall && pool.wall >= pool.floor - 1e-6,
            "{pool:?}"
        );
        let (seq16, pool16) = (
            simulate(&jobs, 16, Schedule::Sequential { boot_jobs: 2 }),
            simulate(&jobs, 16, Schedule::Pool),
        );
        assert!(pool16.wall < 0.8 * seq16.wall, "{seq16:?} {pool16:?}");
    }

    #[test]
    fn nothing_to_do_takes_no_time() {
        assert_eq!(simulate(&[], 4, Schedule::Pool).wall, 0.0);
        let empty = Job {
            name: "e".into(),
            config_seconds: 0.0,
            profile: profile(2, &[]),
            boot_seconds: 0.0,
            after: None,
        };
        assert_eq!(simulate(&[empty], 4, Schedule::Pool).wall, 0.0);
    }
}
