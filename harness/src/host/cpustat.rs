//! How busy this machine's cores were over a run, sampled from
//! `/proc/stat`: a [`Sampler`] thread reads the per-core counters every
//! few seconds, and [`CpuUse`] says per core how much of the run it was
//! busy (user, nice, system, irq, softirq, steal: everything but idle and
//! iowait), overall and as a timeline. It counts every process on the
//! machine, not only the harness's, so a run measured with it wants a
//! machine doing nothing else.
//!
//! A [`GroupSampler`] instead follows one process group (a build's make
//! and everything it started): the CPU seconds it has used so far, every
//! few seconds, so a build's profile is its own even beside other builds.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Per core: (busy, total) jiffies since boot.
type Counters = Vec<(u64, u64)>;

/// The per-core `cpuN` lines of a `/proc/stat` text; `None` when there
/// are none. Fields: user nice system idle iowait irq softirq steal …
pub fn parse(text: &str) -> Option<Counters> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some(name) = f.next() else { continue };
        let Some(n) = name.strip_prefix("cpu") else {
            continue;
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let v: Vec<u64> = f.take(8).filter_map(|x| x.parse().ok()).collect();
        if v.len() < 5 {
            continue;
        }
        let total: u64 = v.iter().sum();
        let idle = v[3] + v[4];
        out.push((total.saturating_sub(idle), total));
    }
    (!out.is_empty()).then_some(out)
}

fn read() -> Option<Counters> {
    parse(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// One sample: seconds since the start, and each core's busy fraction
/// since the sample before.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub at: f64,
    pub busy: Vec<f64>,
}

/// How busy the cores were over the sampled time.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUse {
    pub cores: usize,
    pub seconds: f64,
    /// Per core, the busy fraction over the whole time.
    pub busy: Vec<f64>,
    /// All cores together: busy core-seconds / (cores × seconds).
    pub overall: f64,
    pub samples: Vec<Sample>,
}

impl CpuUse {
    /// From the first and last counters, and the samples between.
    fn from(first: &Counters, last: &Counters, seconds: f64, samples: Vec<Sample>) -> CpuUse {
        let busy = fractions(first, last);
        let overall = if busy.is_empty() {
            0.0
        } else {
            busy.iter().sum::<f64>() / busy.len() as f64
        };
        CpuUse {
            cores: busy.len(),
            seconds,
            busy,
            overall,
            samples,
        }
    }

    /// `2 cores busy 97 % and 88 % (92 % overall) over 1607 s`.
    pub fn line(&self) -> String {
        let per: Vec<String> = self
            .busy
            .iter()
            .map(|b| format!("{:.0} %", b * 100.0))
            .collect();
        format!(
            "{} cores busy {} ({:.0} % overall) over {:.0} s, sampled from /proc/stat",
            self.cores,
            per.join(", "),
            self.overall * 100.0,
            self.seconds
        )
    }
}

/// Each core's busy share of the jiffies between two readings.
fn fractions(a: &Counters, b: &Counters) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|((b0, t0), (b1, t1))| {
            let t = t1.saturating_sub(*t0);
            if t == 0 {
                0.0
            } else {
                b1.saturating_sub(*b0) as f64 / t as f64
            }
        })
        .collect()
}

/// Samples `/proc/stat` on a thread until [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Option<CpuUse>>>,
}

impl Sampler {
    /// Starts sampling every `every`.
    pub fn start(every: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let first = read()?;
            let mut last = first.clone();
            let mut samples = Vec::new();
            let mut next = start + every;
            loop {
                // Wake often enough to stop promptly; sample on schedule.
                while Instant::now() < next && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100).min(every));
                }
                let now = read()?;
                samples.push(Sample {
                    at: start.elapsed().as_secs_f64(),
                    busy: fractions(&last, &now),
                });
                last = now;
                next += every;
                if flag.load(Ordering::Relaxed) {
                    break;
                }
            }
            Some(CpuUse::from(
                &first,
                &last,
                start.elapsed().as_secs_f64(),
                samples,
            ))
        });
        Sampler {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling; what was measured (`None` without `/proc/stat`).
    pub fn finish(mut self) -> Option<CpuUse> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take()?.join().ok().flatten()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The clock ticks per second `/proc/<pid>/stat` counts in.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// From a `/proc/<pid>/stat` text: the process group, and the clock
/// ticks the process and its waited-for children used (utime + stime +
/// cutime + cstime). `None` for anything else.
pub fn parse_pid_stat(text: &str) -> Option<(i32, u64)> {
    // The command name (field 2) may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): pgrp is field 5, utime..cstime 14..17.
    let pgrp = f.get(2)?.parse().ok()?;
    let mut ticks = 0u64;
    for i in 11..=14 {
        ticks = ticks.saturating_add(f.get(i)?.parse::<i64>().ok()?.max(0) as u64);
    }
    Some((pgrp, ticks))
}

/// CPU seconds the processes of group `pgid` have used so far: each
/// live member's own time plus what its waited-for children used, so a
/// process that ended counts once, in the parent that waited for it (a
/// make's time covers every compile it ran). A child not yet waited for
/// is missed until it is.
pub fn group_cpu_seconds(pgid: i32) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((g, t)) = parse_pid_stat(&text) {
            if g == pgid {
                ticks = ticks.saturating_add(t);
            }
        }
    }
    ticks as f64 / ticks_per_second()
}

/// Samples one process group's CPU seconds on a thread until
/// [`GroupSampler::finish`]: `[seconds since start, CPU seconds so far]`.
pub struct GroupSampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<[f64; 2]>>>,
}

impl GroupSampler {
    /// Starts sampling group `pgid` every `every` (the first sample at 0).
    pub fn start(pgid: i32, every: Duration) -> GroupSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = vec![[0.0, group_cpu_seconds(pgid)]];
            let mut next = start + every;
            while !flag.load(Ordering::Relaxed) {
                while Instant::now() < next && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100).min(every));
                }
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                samples.push([start.elapsed().as_secs_f64(), group_cpu_seconds(pgid)]);
                next += every;
            }
            samples
        });
        GroupSampler {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling; the samples, ending with `[wall, cpu]` when the
    /// group's total is known (its make waited for). A sample taken as
    /// the group was ending (its CPU below an earlier one's) is dropped.
    pub fn finish(mut self, end: Option<[f64; 2]>) -> Vec<[f64; 2]> {
        self.stop.store(true, Ordering::Relaxed);
        let taken = self
            .handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let mut samples: Vec<[f64; 2]> = Vec::with_capacity(taken.len() + 1);
        for s in taken {
            if samples.last().is_none_or(|l| s[1] >= l[1]) {
                samples.push(s);
            }
        }
        if let Some(end) = end {
            samples.retain(|s| s[0] < end[0]);
            samples.push(end);
        }
        samples
    }
}

impl Drop for GroupSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_A: &str = "cpu  100 0 50 800 50 0 0 0 0 0\n\
                          cpu0 60 0 40 400 0 0 0 0 0 0\n\
                          cpu1 40 0 10 400 50 0 0 0 0 0\n\
                          intr 1 2 3\nctxt 5\n";
    const STAT_B: &str = "cpu  300 0 50 1000 50 0 0 0 0 0\n\
                          cpu0 160 0 40 400 0 0 0 0 0 0\n\
                          cpu1 140 0 10 600 50 0 0 0 0 0\n";

    #[test]
    fn per_core_lines_give_busy_fractions() {
        let a = parse(STAT_A).unwrap();
        assert_eq!(a, vec![(100, 500), (50, 500)]);
        let b = parse(STAT_B).unwrap();
        let f = fractions(&a, &b);
        // cpu0: 100 busy of 100; cpu1: 100 busy of 300.
        assert_eq!(f, vec![1.0, 100.0 / 300.0]);
        let u = CpuUse::from(&a, &b, 10.0, vec![]);
        assert_eq!(u.cores, 2);
        assert!((u.overall - (1.0 + 1.0 / 3.0) / 2.0).abs() < 1e-9);
        assert_eq!(
            u.line(),
            "2 cores busy 100 %, 33 % (67 % overall) over 10 s, sampled from /proc/stat"
        );
    }

    #[test]
    fn noise_is_not_a_core() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("cpu 1 2 3 4 5\ncpux 1 2 3 4 5\ncpu0 1 2\n"), None);
        assert_eq!(parse("cpu0 1 2 3 4 5"), Some(vec![(6, 15)]));
    }

    #[test]
    fn a_sampler_measures_a_busy_core() {
        let s = Sampler::start(Duration::from_millis(200));
        // Keep one core busy for about half a second.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(500) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let u = s.finish().expect("/proc/stat is readable here");
        assert!(u.cores >= 1, "{u:?}");
        assert!(u.samples.len() >= 2, "{u:?}");
        // At least the busy loop's share of one core.
        let busy_cores: f64 = u.busy.iter().sum();
        assert!(busy_cores > 0.5, "{u:?}");
    }

    #[test]
    fn pid_stat_fields_are_read_past_the_command_name() {
        let line = "4242 (make (x) y) S 1 4240 4240 0 -1 4194560 10 20 0 0 \
                    150 30 700 120 20 0 1 0 100 0 0";
        assert_eq!(parse_pid_stat(line), Some((4240, 150 + 30 + 700 + 120)));
        assert_eq!(parse_pid_stat("4242 (cut) S 1"), None);
        assert_eq!(parse_pid_stat("garbage"), None);
    }

    #[test]
    fn a_group_sampler_counts_a_process_groups_work() {
        use std::os::unix::process::CommandExt;
        // A child in its own group doing a fixed amount of work (about
        // 0.6 CPU s here, however busy the machine) in a grandchild it
        // waits for, then idling while the sampler looks.
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'; sleep 1",
            ])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let s = GroupSampler::start(pgid, Duration::from_millis(200));
        child.wait().unwrap();
        let samples = s.finish(None);
        assert!(samples.len() >= 3, "{samples:?}");
        // Times rise, CPU never falls, and the grandchild's work shows
        // (in the shell that waited for it) before the group ended.
        assert!(samples.windows(2).all(|w| w[1][0] > w[0][0]), "{samples:?}");
        assert!(
            samples.windows(2).all(|w| w[1][1] >= w[0][1]),
            "{samples:?}"
        );
        let most = samples.iter().map(|s| s[1]).fold(0.0, f64::max);
        assert!(most > 0.2, "{samples:?}");
    }
}
