//! What this machine has to share: memory, read from `/proc/meminfo`, and
//! how many guests may boot at once within it; and how often its kernel's
//! OOM killer has struck (`/proc/vmstat`), which tells a build the machine
//! stopped from one the kernel under test broke.

/// Memory one booting case may take: QEMU's `-m 512` guest plus QEMU
/// itself and the harness's console buffers, rounded up.
const PER_BOOT_BYTES: u64 = 1 << 30;

/// `MemAvailable` from `/proc/meminfo`, in bytes (None when unreadable).
pub fn memory_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    meminfo_bytes(meminfo, "MemAvailable")
}

/// One `/proc/meminfo` field (`MemTotal`, `SwapTotal`...), in bytes.
fn meminfo_bytes(meminfo: &str, field: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

/// The machine's memory and swap, in bytes, from `/proc/meminfo`, and
/// the limit of this process's memory cgroup, when it sets one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub total: u64,
    pub swap: u64,
    /// The memory cgroup's limit (v2 `memory.max`, v1
    /// `memory.limit_in_bytes`); None when unlimited or unknown.
    pub cgroup_limit: Option<u64>,
}

impl Memory {
    /// What a build can use at most: memory (or the cgroup's limit, when
    /// smaller) plus swap.
    pub fn usable(&self) -> u64 {
        self.cgroup_limit
            .map_or(self.total, |l| l.min(self.total))
            .saturating_add(self.swap)
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} MiB of memory", self.total >> 20)?;
        if let Some(l) = self.cgroup_limit.filter(|l| *l < self.total) {
            write!(f, " (this process's memory cgroup allows {} MiB)", l >> 20)?;
        }
        write!(f, " and {} MiB of swap", self.swap >> 20)
    }
}

/// `MemTotal`, `SwapTotal` and the memory cgroup's limit (None when
/// `/proc/meminfo` is unreadable).
pub fn memory() -> Option<Memory> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    Some(Memory {
        total: meminfo_bytes(&text, "MemTotal")?,
        swap: meminfo_bytes(&text, "SwapTotal").unwrap_or(0),
        cgroup_limit: cgroup_limit_files(&cgroups)
            .iter()
            .find_map(|f| parse_cgroup_limit(&std::fs::read_to_string(f).ok()?)),
    })
}

/// Where this process's memory cgroup keeps its limit.
fn cgroup_limit_files(proc_self_cgroup: &str) -> Vec<std::path::PathBuf> {
    memory_cgroup_files(proc_self_cgroup, "memory.limit_in_bytes", "memory.max")
}

/// The files `v1` and `v2` of this process's memory cgroup, from
/// `/proc/self/cgroup`: v1's `memory` hierarchy first, then v2's unified
/// one (mounted at /sys/fs/cgroup, or at /sys/fs/cgroup/unified beside
/// v1). Nothing for the root cgroup, whose files say nothing of its own.
fn memory_cgroup_files(proc_self_cgroup: &str, v1: &str, v2: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut out = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if rel.is_empty() {
            continue;
        }
        if controllers.split(',').any(|c| c == "memory") {
            out.insert(0, root.join("memory").join(rel).join(v1));
        } else if id == "0" && controllers.is_empty() {
            out.push(root.join(rel).join(v2));
            out.push(root.join("unified").join(rel).join(v2));
        }
    }
    out
}

/// A cgroup memory limit in bytes; None for `max` or v1's "unlimited"
/// (a page-rounded `i64::MAX`).
fn parse_cgroup_limit(text: &str) -> Option<u64> {
    let n: u64 = text.trim().parse().ok()?;
    (n < 1 << 60).then_some(n)
}

/// Whose processes an [`OomKills`] count covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomScope {
    /// This process's memory cgroup (v1 `memory.oom_control`, v2
    /// `memory.events`), where make and its compilers and linkers run.
    MemoryCgroup,
    /// The whole machine (`/proc/vmstat`), when the process is in no
    /// memory cgroup of its own.
    Machine,
}

impl std::fmt::Display for OomScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OomScope::MemoryCgroup => "in this process's memory cgroup",
            OomScope::Machine => "on this machine",
        })
    }
}

/// How many processes the kernel's OOM killer has killed, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OomKills {
    pub count: u64,
    pub scope: OomScope,
}

/// How many processes the kernel's OOM killer has killed in this
/// process's memory cgroup, or else on the machine since boot (`oom_kill`
/// in `/proc/vmstat`, Linux 4.13 and later). None when unreadable.
pub fn oom_kills() -> Option<OomKills> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let in_cgroup = memory_cgroup_files(&cgroups, "memory.oom_control", "memory.events")
        .iter()
        .find_map(|f| parse_oom_kills(&std::fs::read_to_string(f).ok()?))
        .map(|count| OomKills {
            count,
            scope: OomScope::MemoryCgroup,
        });
    in_cgroup.or_else(|| {
        Some(OomKills {
            count: parse_oom_kills(&std::fs::read_to_string("/proc/vmstat").ok()?)?,
            scope: OomScope::Machine,
        })
    })
}

/// The `oom_kill N` line of `/proc/vmstat`, `memory.oom_control` or
/// `memory.events`.
fn parse_oom_kills(vmstat: &str) -> Option<u64> {
    vmstat.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("oom_kill")).then(|| w.next()?.parse().ok())?
    })
}

/// How many cases boot at once for `jobs` cores: one TCG guest keeps one
/// core busy, so as many as there are jobs, but never more than the
/// available memory holds (at least one).
pub fn boot_jobs(jobs: usize) -> usize {
    slots(jobs, memory_available())
}

fn slots(jobs: usize, available: Option<u64>) -> usize {
    let by_memory = available.map_or(1, |m| (m / PER_BOOT_BYTES) as usize);
    jobs.min(by_memory).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_read_in_kib() {
        let text = "MemTotal:       24600000 kB\nMemAvailable:    2097152 kB\n";
        assert_eq!(parse_mem_available(text), Some(2 << 30));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: x kB\n"), None);
    }

    #[test]
    fn meminfo_fields_are_matched_whole() {
        let text = "MemTotal:       24600000 kB\nSwapTotal:  16777212 kB\nSwapTotalX: 1 kB\n";
        assert_eq!(meminfo_bytes(text, "MemTotal"), Some(24600000 * 1024));
        assert_eq!(meminfo_bytes(text, "SwapTotal"), Some(16777212 * 1024));
        assert_eq!(meminfo_bytes(text, "Swap"), None);
        assert_eq!(meminfo_bytes("", "MemTotal"), None);
    }

    #[test]
    fn a_memory_cgroup_limit_is_found_and_counted() {
        let v1 = "9:name=systemd:/\n4:memory:/ltooom\n0::/\n";
        let files = cgroup_limit_files(v1);
        assert_eq!(
            files[0],
            std::path::Path::new("/sys/fs/cgroup/memory/ltooom/memory.limit_in_bytes")
        );
        let v2 = "0::/user.slice/ci.scope\n";
        assert_eq!(
            cgroup_limit_files(v2)[0],
            std::path::Path::new("/sys/fs/cgroup/user.slice/ci.scope/memory.max")
        );
        assert!(cgroup_limit_files("garbage\n").is_empty());
        // The root cgroup has no limit or counters of its own.
        assert!(cgroup_limit_files("4:memory:/\n0::/\n").is_empty());
        assert_eq!(
            memory_cgroup_files(v1, "memory.oom_control", "memory.events")[0],
            std::path::Path::new("/sys/fs/cgroup/memory/ltooom/memory.oom_control")
        );
        assert_eq!(parse_cgroup_limit("734003200\n"), Some(734003200));
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
        let m = Memory {
            total: 24 << 30,
            swap: 0,
            cgroup_limit: Some(700 << 20),
        };
        assert_eq!(m.usable(), 700 << 20);
        assert_eq!(
            m.to_string(),
            "24576 MiB of memory (this process's memory cgroup allows 700 MiB) and 0 MiB of swap"
        );
        let free = Memory {
            cgroup_limit: None,
            swap: 1 << 30,
            ..m
        };
        assert_eq!(free.usable(), 25 << 30);
        assert_eq!(free.to_string(), "24576 MiB of memory and 1024 MiB of swap");
    }

    #[test]
    fn oom_kills_are_read_from_vmstat() {
        assert_eq!(parse_oom_kills("pgfault 5\noom_kill 3\nfoo 1\n"), Some(3));
        // cgroup v1 memory.oom_control, v2 memory.events.
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        assert_eq!(parse_oom_kills(v1), Some(1));
        let v2 = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(parse_oom_kills(v2), Some(2));
        assert_eq!(parse_oom_kills("oom_kill_x 3\n"), None);
        assert_eq!(parse_oom_kills("oom_kill\n"), None);
        assert_eq!(parse_oom_kills("oom_kill many\n"), None);
        assert_eq!(parse_oom_kills(""), None);
    }

    #[test]
    fn boot_slots_are_bounded_by_cores_and_memory() {
        assert_eq!(slots(2, Some(24 << 30)), 2);
        assert_eq!(slots(64, Some(8 << 30)), 8);
        assert_eq!(slots(4, Some(512 << 20)), 1);
        assert_eq!(slots(4, None), 1);
        assert_eq!(slots(0, Some(24 << 30)), 1);
    }
}
