//! What this machine has to share: memory, read from `/proc/meminfo`, and
//! how many guests may boot at once within it.

/// Memory one booting case may take: QEMU's `-m 512` guest plus QEMU
/// itself and the harness's console buffers, rounded up.
const PER_BOOT_BYTES: u64 = 1 << 30;

/// `MemAvailable` from `/proc/meminfo`, in bytes (None when unreadable).
pub fn memory_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
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
    fn boot_slots_are_bounded_by_cores_and_memory() {
        assert_eq!(slots(2, Some(24 << 30)), 2);
        assert_eq!(slots(64, Some(8 << 30)), 8);
        assert_eq!(slots(4, Some(512 << 20)), 1);
        assert_eq!(slots(4, None), 1);
        assert_eq!(slots(0, Some(24 << 30)), 1);
    }
}
