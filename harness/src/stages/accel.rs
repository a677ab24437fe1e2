//! Which accelerator a boot uses, and which QEMU runs it. `--accel auto`
//! (the default) boots the kernel once under KVM, for a few seconds, the
//! first time a guest of the host's own architecture is booted: when the
//! kernel's banner appears KVM is used from then on, otherwise (no
//! `/dev/kvm`, or a KVM that hangs before the kernel runs, as on these
//! machines) TCG. The answer is kept for the rest of the process, and in
//! a memo in the temporary directory for the rest of the host's uptime
//! (keyed by `/proc/sys/kernel/random/boot_id` and the QEMU version), so
//! later runs do not probe again.

use super::boot::{self, Accel, BootRequest};
use crate::console::EventKind;
use std::sync::OnceLock;
use std::time::Duration;

/// How long the KVM probe waits for the kernel's banner.
pub const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// What the probe found, once per process.
static KVM: OnceLock<(bool, String)> = OnceLock::new();

/// Whether a guest of `req`'s architecture could use KVM here at all.
fn same_arch_as_host(req: &BootRequest) -> bool {
    let host = std::env::consts::ARCH;
    matches!(
        (host, req.arch.name),
        ("x86_64", "x86_64") | ("aarch64", "arm64")
    )
}

/// The accelerator for `req` (whose `accel` may be `Auto`), and a line
/// saying how it was chosen (for the log) when a probe decided.
pub fn resolve(req: &BootRequest) -> (Accel, Option<String>) {
    match req.accel {
        Accel::Tcg | Accel::Kvm => (req.accel, None),
        Accel::Auto if !same_arch_as_host(req) => (Accel::Tcg, None),
        Accel::Auto => {
            let (works, why) = KVM.get_or_init(|| memoised(req));
            (
                if *works { Accel::Kvm } else { Accel::Tcg },
                Some(why.clone()),
            )
        }
    }
}

/// The probe's answer for this host boot and QEMU, from the memo or a
/// probe (whose answer is then memoised).
fn memoised(req: &BootRequest) -> (bool, String) {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let qemu = qemu_version(req.arch.qemu.binary).unwrap_or_default();
    let memo = std::env::temp_dir().join(format!("lto-harness-kvm-probe-{}.json", req.arch.name));
    let key = format!("{boot_id} {qemu}");
    if let Some((works, why)) = std::fs::read(&memo)
        .ok()
        .and_then(|b| serde_json::from_slice::<(String, bool, String)>(&b).ok())
        .filter(|(k, ..)| !boot_id.is_empty() && *k == key)
        .map(|(_, w, why)| (w, why))
    {
        return (
            works,
            format!("{why} (memo {}, this host boot)", memo.display()),
        );
    }
    let (works, why) = probe(req);
    if let Ok(json) = serde_json::to_vec(&(key, works, &why)) {
        let _ = crate::host::cache::write_atomic(&memo, &json);
    }
    (works, why)
}

/// Boots `req`'s kernel under KVM until its banner or [`PROBE_LIMIT`].
fn probe(req: &BootRequest) -> (bool, String) {
    let usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !usable {
        return (false, "accel auto: /dev/kvm is not usable: TCG".into());
    }
    let Ok(dir) = tempfile::tempdir() else {
        return (
            false,
            "accel auto: no temporary directory for the KVM probe: TCG".into(),
        );
    };
    let mut p = req.clone();
    p.accel = Accel::Kvm;
    p.timeout = PROBE_LIMIT;
    p.icount = false;
    p.log = dir.path().join("kvm-probe.log");
    p.stderr_log = dir.path().join("kvm-probe.stderr");
    let t = std::time::Instant::now();
    let out = boot::boot_until(&p, &|k| matches!(k, EventKind::Banner { .. }));
    let banner = out
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Banner { .. }));
    let secs = t.elapsed().as_secs_f64();
    if banner {
        (
            true,
            format!("accel auto: KVM booted the kernel in {secs:.1} s: KVM"),
        )
    } else {
        (
            false,
            format!(
                "accel auto: KVM showed no kernel banner in {secs:.1} s ({} console lines): TCG",
                out.lines
            ),
        )
    }
}

/// The first line of `qemu --version` for `binary`, once per binary.
pub fn qemu_version(binary: &str) -> Option<String> {
    static SEEN: std::sync::Mutex<Vec<(String, Option<String>)>> =
        std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().ok()?;
    if let Some((_, v)) = seen.iter().find(|(b, _)| b == binary) {
        return v.clone();
    }
    let v = std::process::Command::new(binary)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_owned())
        });
    seen.push((binary.to_owned(), v.clone()));
    v
}
