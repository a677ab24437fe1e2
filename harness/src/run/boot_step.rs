//! The boot step of one case: writes its initramfs, boots it under QEMU
//! (the latest console line as live output) and gives the boot verdict.
//! An image the build cannot make (a missing module) fails the step; one
//! the harness cannot write leaves it incomplete, by the error's type.
//! In a job pool (`run --pool`) the step holds a boot slot from the image
//! to QEMU's end (the KVM probe of `--accel auto` included): the pool's
//! boot lane, else a free token, so a built kernel boots at once instead
//! of waiting behind the compile jobs of other builds.

use super::{Environment, RunOptions};
use crate::case::{Case, CheckKind};
use crate::checks;
use crate::events::{Event, Reporter, Step};
use crate::host::jobserver::Pool;
use crate::model::results::BootStep;
use crate::model::Status;
use crate::stages::accel;
use crate::stages::boot::{self, BootOutcome, BootRequest};
use crate::stages::build::{self, BuiltKernel};
use crate::stages::image;
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) fn boot_request(
    case: &Case,
    image: &Path,
    initrd: &Path,
    dir: &Path,
    opts: &RunOptions,
) -> BootRequest {
    BootRequest {
        arch: case.arch.profile(),
        image: image.to_owned(),
        initrd: initrd.to_owned(),
        cmdline: case.cmdline.clone(),
        timeout: opts
            .timeout
            .unwrap_or(Duration::from_secs(case.timeout_secs)),
        accel: opts.accel,
        log: dir.join("console.log"),
        stderr_log: dir.join("qemu-stderr.log"),
        icount: false,
    }
}

/// Writes the image, boots one case and judges the boot; the other checks
/// are judged by the caller from the outcome.
pub(crate) fn boot_case(
    case: &Case,
    kernel: &BuiltKernel,
    env: &Environment,
    opts: &RunOptions,
    reporter: &dyn Reporter,
    attempt: usize,
) -> (BootStep, Option<BootOutcome>) {
    reporter.report(&Event::StepStarted {
        case: &case.name,
        step: Step::Boot,
    });
    let t = Instant::now();
    let dir = opts.case_dir(&case.name);
    let boot = || match dir.as_ref().map(|d| (d, d.join("initramfs.cpio.gz"))) {
        Err(e) => (unbooted(Status::Incomplete, e.to_string()), None),
        Ok((dir, initrd)) => match write_image(case, kernel, env, &initrd, reporter) {
            Err((status, message)) => (
                BootStep {
                    seconds: t.elapsed().as_secs_f64(),
                    ..unbooted(status, message)
                },
                None,
            ),
            Ok(()) => {
                let req = attempt_request(case, &kernel.image, &initrd, dir, opts, attempt);
                match opts.boot_via.lava() {
                    None => {
                        let (step, outcome) = boot_and_judge(case, &req, reporter);
                        (step, Some(outcome))
                    }
                    Some(via) => super::lava_step::boot(case, &req, env, via, reporter),
                }
            }
        },
    };
    let (step, outcome) = match env.pool.as_ref() {
        None => boot(),
        Some(pool) => {
            let waiting = || {
                reporter.report(&Event::Phase {
                    case: &case.name,
                    step: Step::Boot,
                    phase: "waiting for the boot lane or a job token",
                })
            };
            holding_slot(pool, waiting, boot).unwrap_or_else(|e| {
                let why = format!("cannot take a job token from the pool: {e}");
                (unbooted(Status::Incomplete, why), None)
            })
        }
    };
    reporter.report(&Event::StepFinished {
        case: &case.name,
        step: Step::Boot,
        status: step.status,
        seconds: step.seconds,
        message: &step.message,
    });
    (step, outcome)
}

/// Runs `f` (a boot) in a boot slot of `pool` (its boot lane or a token,
/// [`Pool::acquire_for_boot`]), waiting for one first.
fn holding_slot<T>(
    pool: &Pool,
    waiting: impl FnOnce(),
    f: impl FnOnce() -> T,
) -> std::io::Result<T> {
    let _slot = pool.acquire_for_boot(waiting)?;
    Ok(f())
}

/// Writes the case's initramfs. A module the case lists that the build did
/// not produce fails the step (the kernel config's fault); anything else
/// leaves it incomplete (the harness's), by the error's type.
fn write_image(
    case: &Case,
    kernel: &BuiltKernel,
    env: &Environment,
    initrd: &Path,
    reporter: &dyn Reporter,
) -> Result<(), (Status, String)> {
    reporter.report(&Event::Phase {
        case: &case.name,
        step: Step::Boot,
        phase: "initramfs",
    });
    let busybox = image::busybox_for(case.arch.profile(), &env.cache)
        .map_err(|e| (Status::Incomplete, format!("{e:#}")))?;
    let vdso_probe = if case.wants(CheckKind::Vdso) {
        let p = image::vdso_probe(case.arch.profile(), &env.toolchain, &env.cache)
            .map_err(|e| (Status::Incomplete, format!("{e:#}")))?;
        Some(p)
    } else {
        None
    };
    image::write_initramfs(case, kernel, &busybox, vdso_probe.as_deref(), initrd)
        .map_err(|e| (e.fault().status(), e.to_string()))
}

/// The boot request of one attempt: its number on the kernel command line
/// (in the log and in init's environment), and its own log files.
pub(crate) fn attempt_request(
    case: &Case,
    image: &Path,
    initrd: &Path,
    dir: &Path,
    opts: &RunOptions,
    attempt: usize,
) -> BootRequest {
    let mut req = boot_request(case, image, initrd, dir, opts);
    req.cmdline
        .push(crate::guest::protocol::attempt_word(attempt));
    if attempt > 0 {
        req.log = dir.join(format!("console.retry-{attempt}.log"));
        req.stderr_log = dir.join(format!("qemu-stderr.retry-{attempt}.log"));
    }
    req
}

/// Boots under QEMU, the latest console line as live output, and gives
/// the boot verdict as the step.
fn boot_and_judge(
    case: &Case,
    req: &BootRequest,
    reporter: &dyn Reporter,
) -> (BootStep, BootOutcome) {
    let (accel, probed) = accel::resolve(req);
    if let Some(why) = probed {
        reporter.report(&Event::Phase {
            case: &case.name,
            step: Step::Boot,
            phase: &why,
        });
    }
    let req = &BootRequest {
        accel,
        ..req.clone()
    };
    let qemu_command = build::shell_line(&boot::qemu_argv(req));
    reporter.report(&Event::Phase {
        case: &case.name,
        step: Step::Boot,
        phase: "qemu",
    });
    let outcome = boot::boot_watching(req, &|line| {
        reporter.report(&Event::Output {
            case: &case.name,
            step: Step::Boot,
            line,
        })
    });
    let verdict = checks::boot_verdict(&outcome);
    let step = BootStep {
        status: verdict.status,
        message: verdict.message,
        seconds: outcome.seconds,
        console_log: Some(outcome.log.clone()),
        qemu_command: Some(qemu_command),
        end: Some(outcome.end.clone()),
        attempts: vec![],
        accel: Some(accel.name().into()),
        qemu_version: accel::qemu_version(req.arch.qemu.binary),
    };
    (step, outcome)
}

/// A boot step that never reached QEMU (or LAVA).
pub(crate) fn unbooted(status: Status, message: String) -> BootStep {
    BootStep {
        status,
        message,
        seconds: 0.0,
        console_log: None,
        qemu_command: None,
        end: None,
        attempts: vec![],
        accel: None,
        qemu_version: None,
    }
}

/// The boot step of a case whose build gave no kernel.
pub(crate) fn skipped(why: &str) -> BootStep {
    unbooted(Status::Skipped, why.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A boot in the pool takes the boot lane first, then a token; it
    /// gives both back.
    #[test]
    fn a_boot_holds_a_slot_while_it_runs() {
        let pool = Pool::new(2, None).unwrap();
        let during = holding_slot(&pool, || {}, || pool.available().unwrap()).unwrap();
        assert_eq!(during, 2, "the lane, not a token");
        let nested = holding_slot(
            &pool,
            || {},
            || holding_slot(&pool, || {}, || pool.available().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(nested, 1, "the lane, then a token");
        // Every token held and the lane taken: a boot waits for one of them.
        let tokens = (pool.acquire().unwrap(), pool.acquire().unwrap());
        let waited = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                holding_slot(
                    &pool,
                    || {},
                    || {
                        holding_slot(
                            &pool,
                            || {},
                            || waited.store(true, std::sync::atomic::Ordering::SeqCst),
                        )
                    },
                )
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert!(!waited.load(std::sync::atomic::Ordering::SeqCst));
            drop(tokens);
        });
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(pool.available().unwrap(), 2);
    }
}
