//! Boot: runs a kernel and its initramfs under QEMU (settings from the
//! arch table), streams the serial console line by line into the console
//! parser while saving every byte to a log file, and stops the guest on a
//! timeout or, shortly after a kernel panic, at once. QEMU runs in its own
//! process group and is killed with it on every path out of [`boot`].

use crate::arch::ArchProfile;
use crate::console::{ConsoleParser, Event, EventKind, LineSplitter};
use crate::proc;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long to keep reading after a panic (the rest of the panic report)
/// before killing QEMU if the guest has not exited by itself.
pub const PANIC_GRACE: Duration = Duration::from_secs(2);

/// QEMU accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Accel {
    /// Software emulation: works everywhere, the default.
    Tcg,
    /// Hardware virtualisation: only when asked (it hangs on some hosts
    /// where /dev/kvm exists but does not work).
    Kvm,
}

#[derive(Debug, Clone)]
pub struct BootRequest {
    pub arch: &'static ArchProfile,
    pub image: PathBuf,
    pub initrd: PathBuf,
    /// Extra kernel command-line words (after console= and panic=).
    pub cmdline: Vec<String>,
    pub timeout: Duration,
    pub accel: Accel,
    /// Where the raw console is saved.
    pub log: PathBuf,
    /// Where QEMU's own stderr is saved.
    pub stderr_log: PathBuf,
}

/// Why the guest stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BootEnd {
    /// QEMU exited by itself (a guest reboot with -no-reboot gives 0).
    Exited { code: Option<i32> },
    /// The kernel panicked and QEMU was killed after the grace period.
    StoppedOnPanic,
    /// The timeout ran out and QEMU was killed.
    TimedOut { after_seconds: u64 },
    /// QEMU could not be started.
    SpawnFailed { error: String },
}

#[derive(Debug, Clone)]
pub struct BootOutcome {
    pub end: BootEnd,
    pub events: Vec<Event>,
    /// Console lines seen (0: the kernel printed nothing).
    pub lines: usize,
    pub last_line: Option<String>,
    pub seconds: f64,
    pub log: PathBuf,
    pub stderr_log: PathBuf,
}

impl BootOutcome {
    /// QEMU's stderr, for messages about why it failed.
    pub fn qemu_stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }
}

/// The kernel command line for a request.
pub fn kernel_cmdline(req: &BootRequest) -> String {
    let mut words = vec![
        format!("console={}", req.arch.qemu.console),
        "panic=-1".to_owned(),
    ];
    words.extend(req.cmdline.iter().cloned());
    words.join(" ")
}

/// The exact QEMU argv, runnable by hand.
pub fn qemu_argv(req: &BootRequest) -> Vec<String> {
    let q = &req.arch.qemu;
    let mut v: Vec<String> = vec![q.binary.into(), "-M".into(), q.machine.into()];
    if let Some(cpu) = q.cpu {
        v.extend(["-cpu".into(), cpu.into()]);
    }
    let accel = match req.accel {
        Accel::Tcg => "tcg",
        Accel::Kvm => "kvm",
    };
    v.extend(
        [
            "-accel",
            accel,
            "-m",
            &q.memory_mib.to_string(),
            "-smp",
            "1",
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
            "-kernel",
        ]
        .map(String::from),
    );
    v.push(req.image.display().to_string());
    v.push("-initrd".into());
    v.push(req.initrd.display().to_string());
    v.push("-append".into());
    v.push(kernel_cmdline(req));
    v
}

enum Msg {
    Event(Event),
    Eof { lines: usize, last: Option<String> },
}

/// Boots and supervises one guest; `on_event` sees each event as it arrives.
pub fn boot(req: &BootRequest, on_event: &dyn Fn(&Event)) -> BootOutcome {
    let start = Instant::now();
    let argv = qemu_argv(req);
    let mut outcome = BootOutcome {
        end: BootEnd::SpawnFailed {
            error: String::new(),
        },
        events: Vec::new(),
        lines: 0,
        last_line: None,
        seconds: 0.0,
        log: req.log.clone(),
        stderr_log: req.stderr_log.clone(),
    };
    let fail = |mut o: BootOutcome, error: String| {
        o.end = BootEnd::SpawnFailed { error };
        o.seconds = start.elapsed().as_secs_f64();
        o
    };
    if crate::toolchain::find_in_path(&argv[0]).is_none() {
        return fail(
            outcome,
            format!(
                "`{}` not found: install the Debian package `{}` (or run ci/setup)",
                argv[0], req.arch.qemu.package
            ),
        );
    }
    let mut log = match std::fs::File::create(&req.log) {
        Ok(f) => f,
        Err(e) => return fail(outcome, format!("creating {}: {e}", req.log.display())),
    };
    let stderr = match std::fs::File::create(&req.stderr_log) {
        Ok(f) => f,
        Err(e) => {
            return fail(
                outcome,
                format!("creating {}: {e}", req.stderr_log.display()),
            )
        }
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut child = match proc::spawn(&mut cmd) {
        Ok(c) => c,
        Err(e) => return fail(outcome, format!("starting {}: {e}", argv[0])),
    };
    let Some(mut stdout) = child.inner().stdout.take() else {
        return fail(outcome, "QEMU stdout was not captured".into());
    };
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut splitter = LineSplitter::new();
        let mut parser = ConsoleParser::new();
        let mut buf = [0u8; 8192];
        let mut lines = 0usize;
        let mut last = None;
        let mut handle = |line: String, tx: &mpsc::Sender<Msg>| {
            lines += 1;
            for e in parser.parse_line(&line) {
                let _ = tx.send(Msg::Event(e));
            }
            last = Some(line);
        };
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = log.write_all(&buf[..n]);
                    for line in splitter.push(&buf[..n]) {
                        handle(line, &tx);
                    }
                }
            }
        }
        if let Some(line) = splitter.finish() {
            handle(line, &tx);
        }
        let _ = log.flush();
        let _ = tx.send(Msg::Eof { lines, last });
    });

    let deadline = start + req.timeout;
    let mut panic_at: Option<Instant> = None;
    let mut stopped: Option<BootEnd> = None;
    loop {
        let limit = panic_at.map_or(deadline, |p| deadline.min(p + PANIC_GRACE));
        let now = Instant::now();
        if now >= limit && stopped.is_none() {
            stopped = Some(if panic_at.is_some() {
                BootEnd::StoppedOnPanic
            } else {
                BootEnd::TimedOut {
                    after_seconds: req.timeout.as_secs(),
                }
            });
            child.kill();
        }
        let wait = if stopped.is_some() {
            Duration::from_secs(5)
        } else {
            limit - now
        };
        match rx.recv_timeout(wait) {
            Ok(Msg::Event(e)) => {
                if matches!(e.kind, EventKind::Panic { .. }) && panic_at.is_none() {
                    panic_at = Some(Instant::now());
                }
                on_event(&e);
                outcome.events.push(e);
            }
            Ok(Msg::Eof { lines, last }) => {
                outcome.lines = lines;
                outcome.last_line = last;
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) if stopped.is_some() => {
                // Killed but the pipe did not close: something holds it. Give up on the reader.
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if stopped.is_some() {
        child.kill();
    }
    let _ = reader.join();
    let code = match child.wait() {
        Ok((status, _)) => status.code(),
        Err(_) => None,
    };
    outcome.end = stopped.unwrap_or(BootEnd::Exited { code });
    outcome.seconds = start.elapsed().as_secs_f64();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;

    fn req() -> BootRequest {
        BootRequest {
            arch: Arch::Arm64.profile(),
            image: "/k/Image".into(),
            initrd: "/k/initrd.gz".into(),
            cmdline: vec!["initcall_debug".into()],
            timeout: Duration::from_secs(5),
            accel: Accel::Tcg,
            log: "/tmp/x".into(),
            stderr_log: "/tmp/y".into(),
        }
    }

    #[test]
    fn argv_comes_from_the_arch_table() {
        let v = qemu_argv(&req());
        assert_eq!(v[0], "qemu-system-aarch64");
        let s = v.join(" ");
        assert!(s.contains("-M virt -cpu max"), "{s}");
        assert!(s.contains("-no-reboot"));
        assert!(s.contains("-kernel /k/Image -initrd /k/initrd.gz"));
        assert_eq!(v.last().unwrap(), "console=ttyAMA0 panic=-1 initcall_debug");
        let mut x = req();
        x.arch = Arch::X86_64.profile();
        let v = qemu_argv(&x);
        assert_eq!(v[0], "qemu-system-x86_64");
        assert!(!v.contains(&"-cpu".to_string()));
        assert!(v.last().unwrap().starts_with("console=ttyS0 "));
    }
}
