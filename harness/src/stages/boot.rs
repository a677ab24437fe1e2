//! Boot: runs a kernel and its initramfs under QEMU (settings from the
//! arch table), streams the serial console line by line into the console
//! parser while saving every byte to a log file, and stops the guest on a
//! timeout or, shortly after a kernel panic, at once. QEMU runs in its own
//! process group and is killed with it on every path out of [`boot`].

use crate::arch::ArchProfile;
use crate::console::{ConsoleStream, Event, EventKind, Line};
use crate::host::proc;
use serde::{Deserialize, Serialize};
use std::fs::File;
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
    /// KVM when a short test boot shows it works, else TCG (the default;
    /// see `stages::accel`).
    Auto,
    /// Software emulation: works everywhere.
    Tcg,
    /// Hardware virtualisation, unprobed (it hangs on some hosts where
    /// /dev/kvm exists but does not work).
    Kvm,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Auto => "auto",
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
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
    /// Deterministic mode: `-icount shift=0,sleep=off`, so the guest clock
    /// counts executed instructions (1 ns each), not host time.
    pub icount: bool,
}

use crate::model::results::BootEnd;

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
    /// A clean exit whose console, `log`, is saved at `path` (for tests
    /// that judge a console text).
    #[cfg(test)]
    pub fn of_log(log: &str, path: PathBuf) -> BootOutcome {
        BootOutcome {
            end: crate::model::results::BootEnd::Exited { code: Some(0) },
            lines: log.lines().count(),
            last_line: None,
            events: crate::console::parse_log(log.as_bytes()),
            seconds: 1.0,
            log: path,
            stderr_log: "/nonexistent".into(),
        }
    }

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
    // `auto` is resolved before a boot (`stages::accel::resolve`); as a
    // command line on its own (a dry run), it is the TCG it falls back to.
    let accel = match req.accel {
        Accel::Auto | Accel::Tcg => "tcg",
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
    if req.icount {
        // The RTC too: a fixed start, advancing with virtual time, so no
        // host time leaks into a deterministic guest.
        v.extend(
            [
                "-icount",
                "shift=0,sleep=off",
                "-rtc",
                "base=2024-01-01T00:00:00,clock=vm",
            ]
            .map(String::from),
        );
    }
    v
}

enum Msg {
    Event(Event),
    Eof { lines: usize, last: Option<String> },
}

/// What [`Guest::next_event`] saw.
pub enum Next {
    Event(Event),
    /// The console closed: QEMU has exited (or was killed).
    Eof,
    /// The deadline passed first.
    Deadline,
}

/// The console's latest whole line, shared by the reader thread.
type Latest = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// A running guest: QEMU in its own process group, its console parsed on
/// a reader thread and saved to the log. Dropping it kills QEMU.
pub struct Guest {
    child: proc::GroupChild,
    stdin: Option<std::process::ChildStdin>,
    rx: mpsc::Receiver<Msg>,
    reader: Option<std::thread::JoinHandle<()>>,
    start: Instant,
    outcome: BootOutcome,
    eof: bool,
    /// The console's latest whole line, for live progress.
    latest: Latest,
}

/// QEMU just spawned, its console pipes taken.
struct Spawned {
    child: proc::GroupChild,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::process::ChildStdout,
}

/// An outcome with nothing seen yet, for a guest about to start.
fn empty_outcome(req: &BootRequest) -> BootOutcome {
    BootOutcome {
        end: BootEnd::SpawnFailed {
            error: String::new(),
        },
        events: Vec::new(),
        lines: 0,
        last_line: None,
        seconds: 0.0,
        log: req.log.clone(),
        stderr_log: req.stderr_log.clone(),
    }
}

/// Checks that QEMU is installed, opens the logs and spawns QEMU; the
/// error says why it could not start. Returns QEMU and the console log.
fn launch(req: &BootRequest, interactive: bool) -> Result<(Spawned, File), String> {
    let argv = qemu_argv(req);
    if crate::host::toolchain::find_in_path(&argv[0]).is_none() {
        return Err(format!(
            "`{}` not found: install the Debian package `{}` (or run ci/setup)",
            argv[0], req.arch.qemu.package
        ));
    }
    let (log, stderr) = open_logs(req)?;
    let spawned = spawn_qemu(&argv, stderr, interactive)?;
    Ok((spawned, log))
}

/// Creates the console log (and its folder) and QEMU's stderr log.
fn open_logs(req: &BootRequest) -> Result<(File, File), String> {
    if let Some(dir) = req.log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let create =
        |p: &std::path::Path| File::create(p).map_err(|e| format!("creating {}: {e}", p.display()));
    let log = create(&req.log)?;
    let stderr = create(&req.stderr_log)?;
    Ok((log, stderr))
}

/// Spawns `argv` in its own process group, stdout piped, stderr to
/// `stderr`, stdin piped only when `interactive`.
fn spawn_qemu(argv: &[String], stderr: File, interactive: bool) -> Result<Spawned, String> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(if interactive {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut child = proc::spawn(&mut cmd).map_err(|e| format!("starting {}: {e}", argv[0]))?;
    let stdin = child.inner().stdin.take();
    let Some(stdout) = child.inner().stdout.take() else {
        return Err("QEMU stdout was not captured".into());
    };
    Ok(Spawned {
        child,
        stdin,
        stdout,
    })
}

/// Starts the thread that reads QEMU's console (see [`read_console`]).
fn spawn_reader(
    stdout: std::process::ChildStdout,
    log: File,
    tx: mpsc::Sender<Msg>,
    latest: Latest,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || read_console(stdout, log, &tx, &latest))
}

/// The reader thread's body: copies every byte of `console` to `log`,
/// splits it into lines, shares the latest line, sends each line's events
/// and, when the console closes, the line count and the last line.
fn read_console(
    mut console: impl Read,
    mut log: impl Write,
    tx: &mpsc::Sender<Msg>,
    latest: &Latest,
) {
    let mut stream = ConsoleStream::new();
    let mut buf = [0u8; 8192];
    let mut last: Option<String> = None;
    let mut handle = |line: &Line, events: &[Event]| {
        if let Ok(mut l) = latest.lock() {
            *l = Some(line.text.clone());
        }
        for e in events {
            let _ = tx.send(Msg::Event(e.clone()));
        }
        last = Some(line.text.clone());
    };
    loop {
        match console.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let _ = log.write_all(&buf[..n]);
                stream.push(&buf[..n], &mut handle);
            }
        }
    }
    stream.finish(&mut handle);
    let lines = stream.lines();
    let _ = log.flush();
    let _ = tx.send(Msg::Eof { lines, last });
}

impl Guest {
    /// Starts QEMU. With `interactive`, the guest's console input is a pipe
    /// that [`Guest::send_line`] writes to; otherwise it reads nothing.
    pub fn start(req: &BootRequest, interactive: bool) -> Result<Guest, Box<BootOutcome>> {
        let start = Instant::now();
        let mut outcome = empty_outcome(req);
        let (spawned, log) = match launch(req, interactive) {
            Ok(l) => l,
            Err(error) => {
                outcome.end = BootEnd::SpawnFailed { error };
                outcome.seconds = start.elapsed().as_secs_f64();
                return Err(Box::new(outcome));
            }
        };
        let (tx, rx) = mpsc::channel();
        let latest = Latest::default();
        let reader = spawn_reader(spawned.stdout, log, tx, latest.clone());
        Ok(Guest {
            child: spawned.child,
            stdin: spawned.stdin,
            rx,
            reader: Some(reader),
            latest,
            start,
            outcome,
            eof: false,
        })
    }

    /// Every event seen so far.
    pub fn events(&self) -> &[Event] {
        &self.outcome.events
    }

    /// The console's latest line so far.
    pub fn latest_line(&self) -> Option<String> {
        self.latest.lock().ok().and_then(|l| l.clone())
    }

    /// Seconds since QEMU started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The next console event, waiting no later than `deadline`. Every
    /// event is also kept for the final outcome.
    pub fn next_event(&mut self, deadline: Instant) -> Next {
        if self.eof {
            return Next::Eof;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(wait) {
            Ok(Msg::Event(e)) => {
                self.outcome.events.push(e.clone());
                Next::Event(e)
            }
            Ok(Msg::Eof { lines, last }) => {
                self.outcome.lines = lines;
                self.outcome.last_line = last;
                self.eof = true;
                Next::Eof
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Next::Deadline,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.eof = true;
                Next::Eof
            }
        }
    }

    /// Types a line on the guest's console (interactive guests only).
    pub fn send_line(&mut self, line: &str) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("guest was not started interactive"))?;
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()
    }

    /// Kills QEMU's process group now.
    pub fn kill(&self) {
        self.child.kill();
    }

    /// Waits for QEMU to end (killing it first when `stopped` says why it
    /// is being stopped) and returns everything seen.
    pub fn finish(mut self, stopped: Option<BootEnd>) -> BootOutcome {
        if stopped.is_some() {
            self.child.kill();
        }
        self.stdin = None;
        // Drain what is left of the console, bounded in case the pipe is held open.
        let drain_until = Instant::now() + Duration::from_secs(5);
        while !self.eof {
            if let Next::Deadline = self.next_event(drain_until) {
                self.child.kill();
                break;
            }
        }
        if let Some(r) = self.reader.take() {
            if self.eof {
                let _ = r.join();
            }
        }
        let Guest {
            child,
            start,
            mut outcome,
            ..
        } = self;
        let code = match child.wait() {
            Ok((status, _)) => status.code(),
            Err(_) => None,
        };
        outcome.end = stopped.unwrap_or(BootEnd::Exited { code });
        outcome.seconds = start.elapsed().as_secs_f64();
        outcome
    }
}

/// Boots and supervises one guest to its end: its own exit, a timeout, or
/// a panic (plus [`PANIC_GRACE`] for the rest of the report).
pub fn boot(req: &BootRequest) -> BootOutcome {
    boot_watching(req, &|_| {})
}

/// Boots `req` until an event `stop` accepts, the timeout or QEMU's own
/// exit, then stops QEMU (a probe: the outcome's `end` is a timeout).
pub fn boot_until(req: &BootRequest, stop: &dyn Fn(&EventKind) -> bool) -> BootOutcome {
    let mut guest = match Guest::start(req, false) {
        Ok(g) => g,
        Err(outcome) => return *outcome,
    };
    let deadline = Instant::now() + req.timeout;
    loop {
        match guest.next_event(deadline) {
            Next::Event(e) if !stop(&e.kind) => {}
            Next::Eof => return guest.finish(None),
            Next::Event(_) | Next::Deadline => {
                return guest.finish(Some(BootEnd::TimedOut {
                    after_seconds: req.timeout.as_secs(),
                }))
            }
        }
    }
}

/// How often a watched boot hands its latest console line to the watcher.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// [`boot`], handing the console's latest line to `watch` about twice a
/// second while the guest runs (for a live progress line).
pub fn boot_watching(req: &BootRequest, watch: &dyn Fn(&str)) -> BootOutcome {
    let mut guest = match Guest::start(req, false) {
        Ok(g) => g,
        Err(outcome) => return *outcome,
    };
    let deadline = Instant::now() + req.timeout;
    let mut panic_at: Option<Instant> = None;
    let mut shown: Option<String> = None;
    let mut watched = Instant::now();
    loop {
        if watched.elapsed() >= WATCH_EVERY {
            watched = Instant::now();
            let latest = guest.latest_line();
            if latest.is_some() && latest != shown {
                watch(latest.as_deref().unwrap_or(""));
                shown = latest;
            }
        }
        let limit = panic_at.map_or(deadline, |p| deadline.min(p + PANIC_GRACE));
        let wake = limit.min(Instant::now() + WATCH_EVERY);
        match guest.next_event(wake) {
            Next::Event(e) => {
                if matches!(e.kind, EventKind::Panic { .. }) && panic_at.is_none() {
                    panic_at = Some(Instant::now());
                }
            }
            Next::Eof => return guest.finish(None),
            Next::Deadline if Instant::now() < limit => {}
            Next::Deadline => {
                let why = if panic_at.is_some() {
                    BootEnd::StoppedOnPanic
                } else {
                    BootEnd::TimedOut {
                        after_seconds: req.timeout.as_secs(),
                    }
                };
                return guest.finish(Some(why));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

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
            icount: false,
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
        x.icount = true;
        let v = qemu_argv(&x);
        assert_eq!(
            v[v.len() - 4..],
            [
                "-icount",
                "shift=0,sleep=off",
                "-rtc",
                "base=2024-01-01T00:00:00,clock=vm"
            ]
        );
    }

    #[test]
    fn the_reader_logs_every_byte_and_sends_events_then_eof() {
        let console = b"[    0.0] Linux version 6.12\r\n\x1b[0m[    1.0] Kernel panic - not syncing: boom\nno newline";
        let mut log = Vec::new();
        let (tx, rx) = mpsc::channel();
        let latest = Latest::default();
        read_console(&console[..], &mut log, &tx, &latest);
        assert_eq!(log, console);
        assert_eq!(latest.lock().unwrap().as_deref(), Some("no newline"));
        let msgs: Vec<Msg> = rx.try_iter().collect();
        assert!(
            msgs.iter().any(|m| matches!(m,
                Msg::Event(e) if matches!(e.kind, EventKind::Panic { .. }) && e.line == 2)),
            "no panic event on line 2"
        );
        match msgs.last() {
            Some(Msg::Eof { lines, last }) => {
                assert_eq!(*lines, 3);
                assert_eq!(last.as_deref(), Some("no newline"));
            }
            _ => panic!("the reader did not end with Eof"),
        }
    }

    #[test]
    fn unwritable_logs_say_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let mut r = req();
        r.log = blocker.join("console.log");
        let err = open_logs(&r).err().unwrap();
        assert!(
            err.starts_with(&format!("creating {}: ", r.log.display())),
            "{err}"
        );
        r.log = dir.path().join("logs/console.log");
        r.stderr_log = blocker.join("qemu.stderr");
        let err = open_logs(&r).err().unwrap();
        assert!(
            err.starts_with(&format!("creating {}: ", r.stderr_log.display())),
            "{err}"
        );
        assert!(
            r.log.is_file(),
            "the console log comes first, its folder made"
        );
    }
}
