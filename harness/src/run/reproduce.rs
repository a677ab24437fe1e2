//! The recipe of a case's reproducer ([`Recipe`], written out as
//! `reproduce.sh` by `output::reproduce`): the same build plan, config and
//! make commands ([`Builder::plan`](crate::stages::build::Builder::plan),
//! [`Builder::commands`](crate::stages::build::Builder::commands)) and
//! QEMU line ([`boot::qemu_argv`] of the boot's request) that the run and
//! its dry run use, computed with placeholders where the run had this
//! machine's paths (the source tree, the `O=` dir in the cache, the
//! kernel image, the initramfs), so the script can put its own there.

use super::{boot_step, Environment, RunOptions};
use crate::case::Case;
use crate::host::toolchain;
use crate::model::recipe::{self, Recipe};
use crate::model::results::BootStep;
use crate::stages::boot::{self, Accel};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The recipe of `case` as this run built and booted it (`boot` is its
/// boot step: the accelerator QEMU ran under).
pub(crate) fn recipe(
    case: &Case,
    env: &Environment,
    opts: &RunOptions,
    boot: &BootStep,
) -> Result<Recipe> {
    let arch = case.arch.profile();
    let mut r = Recipe {
        source: env.source.as_ref().map(|s| s.identity.clone()),
        kernel_version: env.source.as_ref().map(|s| s.version.clone()),
        kernel_build: opts.kernel_build.clone(),
        boot_image: arch.boot_image.to_owned(),
        jobs: opts.jobs,
        qemu_package: arch.qemu.package.to_owned(),
        ..Recipe::default()
    };
    if let (Some(source), None) = (&env.source, &opts.kernel_build) {
        // The plan and commands of this source with its root and the O=
        // dir as placeholders.
        let mut src = source.clone();
        src.root = PathBuf::from(recipe::SRC);
        let builder = env.builder(&src, opts, case);
        let mut plan = builder.plan(case)?;
        plan.work_dir = PathBuf::from(recipe::WORK);
        let mut commands = builder.commands(&plan);
        let mut build = commands.pop().context("no build command")?;
        let jobs = format!("-j{}", opts.jobs);
        for w in build.iter_mut().filter(|w| **w == jobs) {
            *w = format!("-j{}", recipe::JOBS);
        }
        r.fragments = fragment_files(&commands, &plan.fragments)?;
        r.requested = plan.requested.into_iter().collect();
        r.config_commands = commands;
        r.build_command = build;
        let tc = env.toolchain_for(case);
        r.llvm = tc.llvm.clone();
        r.clang = tc.clang.file_name().map_or_else(
            || tc.clang.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        r.clang_version = tc.version.clone();
        r.toolchain_packages = toolchain::tool_names(&tc.llvm)
            .map(|t| t.3)
            .unwrap_or_default();
    }
    // The first attempt's request, under the accelerator the boot used
    // (`auto` was resolved before it; unbooted, it is the run's).
    let mut req = boot_step::attempt_request(
        case,
        Path::new(recipe::KERNEL),
        Path::new(recipe::INITRD),
        &opts.case_dir(&case.name)?,
        opts,
        0,
    );
    req.accel = match boot.accel.as_deref() {
        Some("kvm") => Accel::Kvm,
        Some("tcg") => Accel::Tcg,
        _ => opts.accel,
    };
    r.qemu = boot::qemu_argv(&req);
    r.timeout_secs = req.timeout.as_secs();
    Ok(r)
}

/// Each fragment's file as the config commands name it (merge_config.sh's
/// arguments under `O=/lto-harness-fragments/`, in merge order), with its
/// text.
fn fragment_files(
    commands: &[Vec<String>],
    fragments: &[(String, String)],
) -> Result<Vec<(String, String)>> {
    let dir = format!("{}/lto-harness-fragments/", recipe::WORK);
    let mut paths: Vec<&String> = vec![];
    for w in commands.iter().flatten() {
        if w.starts_with(&dir) && !paths.contains(&w) {
            paths.push(w);
        }
    }
    anyhow::ensure!(
        paths.len() == fragments.len(),
        "the config commands name {} fragment files for {} fragments",
        paths.len(),
        fragments.len()
    );
    Ok(paths
        .into_iter()
        .zip(fragments)
        .map(|(p, (_, text))| (p.clone(), text.clone()))
        .collect())
}
