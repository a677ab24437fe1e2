//! `lava-run`, LAVA's dispatcher for one job on this machine: found as
//! Debian's `/usr/bin/lava-run`, else as the minimal dispatcher `ci/setup
//! --lava` unpacks into the cache (`<cache>/lava/`: lava-dispatcher,
//! lava-common and lava-dispatcher-host from Debian 12, run by Debian's
//! python3 with the Python packages a QEMU job needs, and a stand-in for
//! libguestfs's binding, which only image-editing actions use). Run in its
//! own process group, killed at the timeout or with the harness.

use crate::host::proc;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How to start `lava-run`.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    /// The program and the arguments before `lava-run`'s own.
    argv: Vec<String>,
    /// `PYTHONPATH` for the unpacked dispatcher.
    pythonpath: Option<String>,
}

/// Why `lava-run` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(
        "lava-run is missing: install the Debian package lava-dispatcher, or run `ci/setup --lava` \
         (unpacks it into {0})"
    )]
    Missing(PathBuf),
    #[error("cannot run lava-run: {0}")]
    Spawn(std::io::Error),
    #[error("lava-run did not end within {0} s: stopped")]
    TimedOut(u64),
}

impl Dispatcher {
    /// The dispatcher of this machine: Debian's, else the one in `cache`.
    pub fn find(cache: &Path) -> Result<Dispatcher, DispatchError> {
        if Path::new("/usr/bin/lava-run").is_file() {
            return Ok(Dispatcher {
                argv: vec!["/usr/bin/lava-run".into()],
                pythonpath: None,
            });
        }
        let root = cache.join("lava");
        let run = root.join("root/usr/bin/lava-run");
        if run.is_file() && Path::new("/usr/bin/python3").is_file() {
            let path = format!(
                "{}:{}",
                root.join("shim").display(),
                root.join("root/usr/lib/python3/dist-packages").display()
            );
            return Ok(Dispatcher {
                argv: vec!["/usr/bin/python3".into(), run.display().to_string()],
                pythonpath: Some(path),
            });
        }
        Err(DispatchError::Missing(root))
    }

    /// Runs `job` on the device dictionary `device`, its log (LAVA's
    /// records, one per line) into `log`; scratch in `work`.
    pub fn run(
        &self,
        job: &Path,
        device: &Path,
        work: &Path,
        log: &Path,
        timeout: Duration,
    ) -> Result<(), DispatchError> {
        let out = std::fs::File::create(log).map_err(DispatchError::Spawn)?;
        let err = out.try_clone().map_err(DispatchError::Spawn)?;
        // lava-run works in /var/lib/lava/dispatcher/tmp/<job id>: one
        // id per job, for jobs that run at once.
        static JOBS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = JOBS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .arg("--job-id")
            .arg(format!("lto-harness-{}-{n}", std::process::id()))
            .arg("--output-dir")
            .arg(work)
            .arg("--device")
            .arg(device)
            .arg(job)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(p) = &self.pythonpath {
            cmd.env("PYTHONPATH", p);
        }
        let mut child = proc::spawn(&mut cmd).map_err(DispatchError::Spawn)?;
        if !proc::wait_exit_for(&mut child, timeout) {
            child.kill();
            let _ = child.wait();
            return Err(DispatchError::TimedOut(timeout.as_secs()));
        }
        let _ = child.wait();
        Ok(())
    }
}
