//! The boot step through LAVA ([`BootVia`] other than QEMU): the case's
//! job written beside its initramfs (`lava-job.yaml`, and
//! `lava-device.yaml` for `lava-run`), run by LAVA's dispatcher on this
//! machine or left for a lab, and LAVA's log (`lava.log`) read back into
//! `console.log` and a boot end, which the same boot verdict and checks
//! judge as a local boot's.

use super::boot_step::unbooted;
use super::{BootVia, Environment};
use crate::case::Case;
use crate::checks;
use crate::events::{Event, Reporter, Step};
use crate::model::results::{BootEnd, BootStep};
use crate::model::Status;
use crate::stages::boot::{kernel_cmdline, BootOutcome, BootRequest};
use crate::stages::lava::{
    dispatch::{DispatchError, Dispatcher},
    job, log,
};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long `lava-run` may take beyond the case's boot timeout (its own
/// start, the deploy, the finalize).
const DISPATCH_MARGIN: Duration = Duration::from_secs(120);

/// Writes the job and the device dictionary into `dir`; returns the job's path.
fn write_job(
    case: &Case,
    req: &BootRequest,
    dir: &Path,
    base: Option<&str>,
) -> anyhow::Result<std::path::PathBuf> {
    let kernel_file = req
        .image
        .file_name()
        .map_or("image".into(), |n| n.to_string_lossy().into_owned());
    let spec = job::JobSpec {
        case,
        kernel_url: job::artifact_url(base, &case.name, &kernel_file, &req.image),
        initrd_url: job::artifact_url(base, &case.name, "initramfs.cpio.gz", &req.initrd),
        cmdline: kernel_cmdline(req),
        timeout: req.timeout,
    };
    // A lab downloads the kernel from the results directory.
    if base.is_some() {
        std::fs::copy(&req.image, dir.join(&kernel_file))?;
    }
    let path = dir.join("lava-job.yaml");
    crate::host::cache::write_atomic(&path, job::job_yaml(&spec)?.as_bytes())?;
    let wrapper = dir.join("lava-qemu");
    crate::host::cache::write_atomic(&wrapper, job::qemu_wrapper(req.arch).as_bytes())?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    }
    crate::host::cache::write_atomic(
        &dir.join("lava-device.yaml"),
        job::device_yaml(req.arch, &wrapper.display().to_string()).as_bytes(),
    )?;
    Ok(path)
}

/// The ways a boot goes through LAVA.
pub(crate) enum Lava<'a> {
    /// `lava-run` here.
    Run,
    /// The job written for a lab, artefact URLs under the base when given.
    Job(Option<&'a str>),
    /// The log a job of the case left.
    Log(&'a Path),
}

impl BootVia {
    /// How this boot goes through LAVA; None for the harness's own QEMU.
    pub(crate) fn lava(&self) -> Option<Lava<'_>> {
        match self {
            BootVia::Qemu => None,
            BootVia::LavaRun => Some(Lava::Run),
            BootVia::LavaJob { artifact_base_url } => Some(Lava::Job(artifact_base_url.as_deref())),
            BootVia::LavaLog(path) => Some(Lava::Log(path)),
        }
    }
}

/// The boot step of one case through LAVA, and its outcome when there
/// was a log to read.
pub(crate) fn boot(
    case: &Case,
    req: &BootRequest,
    env: &Environment,
    via: Lava,
    reporter: &dyn Reporter,
) -> (BootStep, Option<BootOutcome>) {
    let t = Instant::now();
    let phase = |p: &str| {
        reporter.report(&Event::Phase {
            case: &case.name,
            step: Step::Boot,
            phase: p,
        })
    };
    let Some(dir) = req.log.parent().map(Path::to_path_buf) else {
        return (
            unbooted(Status::Incomplete, "no case directory".into()),
            None,
        );
    };
    let base = match via {
        Lava::Job(base) => base,
        _ => None,
    };
    let job_path = match write_job(case, req, &dir, base) {
        Ok(p) => p,
        Err(e) => {
            let why = format!("cannot write the LAVA job in {}: {e:#}", dir.display());
            return (unbooted(Status::Incomplete, why), None);
        }
    };
    // lava-run stopped at its timeout: the boot timed out, whatever its
    // log holds by then.
    let mut timed_out = None;
    let lava_log = match via {
        Lava::Job(_) => {
            let why = format!(
                "not booted here: the LAVA job is {} (submit it with `lavacli jobs submit`, \
                 then judge its log with `run --lava-log`)",
                job_path.display()
            );
            return (unbooted(Status::Skipped, why), None);
        }
        Lava::Log(path) => path.to_path_buf(),
        Lava::Run => {
            phase("lava-run");
            let dispatcher = match Dispatcher::find(env.cache.root()) {
                Ok(d) => d,
                Err(e) => return (unbooted(Status::Incomplete, e.to_string()), None),
            };
            let log = dir.join("lava.log");
            let work = dir.join("lava-output");
            let _ = std::fs::create_dir_all(&work);
            let device = dir.join("lava-device.yaml");
            match dispatcher.run(
                &job_path,
                &device,
                &work,
                &log,
                req.timeout + DISPATCH_MARGIN,
            ) {
                Ok(()) => {}
                Err(DispatchError::TimedOut(secs)) => timed_out = Some(secs),
                Err(e) => return (unbooted(Status::Incomplete, e.to_string()), None),
            }
            log
        }
    };
    // The console, read out of the LAVA log once: kept for the checks and
    // saved as console.log.
    let mut text = Vec::new();
    let read = std::fs::File::open(&lava_log)
        .and_then(|f| log::read(std::io::BufReader::new(f), &mut text))
        .and_then(|r| std::fs::write(&req.log, &text).map(|()| r));
    let read = match read {
        Ok(r) => r,
        Err(e) => {
            let why = format!("cannot read the LAVA log {}: {e}", lava_log.display());
            return (unbooted(Status::Incomplete, why), None);
        }
    };
    let end = match timed_out {
        Some(after_seconds) => BootEnd::TimedOut { after_seconds },
        None => read.boot_end(req.timeout.as_secs()),
    };
    let outcome = BootOutcome {
        end,
        events: crate::console::parse_log(&text),
        lines: read.console_lines,
        last_line: String::from_utf8_lossy(&text)
            .lines()
            .last()
            .map(str::to_owned),
        seconds: t.elapsed().as_secs_f64(),
        log: req.log.clone(),
        stderr_log: lava_log.clone(),
    };
    let verdict = checks::boot_verdict(&outcome);
    let step = BootStep {
        status: verdict.status,
        message: verdict.message,
        seconds: outcome.seconds,
        console_log: Some(outcome.log.clone()),
        qemu_command: Some(format!("lava-run (job {})", job_path.display())),
        end: Some(outcome.end.clone()),
        attempts: vec![],
        accel: Some("lava".into()),
        qemu_version: None,
    };
    (step, Some(outcome))
}
