//! Build: configures and builds a case's kernel with `make LLVM=… O=…`,
//! content-addressed in the cache. Two keys:
//!
//! * the *config key* hashes what determines the final `.config` (source
//!   identity, base target, every fragment's text, toolchain version); its
//!   memo lets a warm run find the final config without running make;
//! * the *build key* hashes the source (by [`KernelSource::cache_key`]:
//!   the default git tree's root commit is the tarball), the final
//!   `.config`, the toolchain version, the harness fragment and the case's
//!   `make_vars`. A published `builds/<key>/` (renamed into place only
//!   once whole) is reused as is.
//!
//! A git worktree's first build may start from a copy of another tree's
//! `O=` dir ([`seed`]).
//!
//! make runs in its own process group (see [`crate::host::proc`]); its output is
//! saved whole to `build.log`, and a failure carries the last error lines.
//! A make that fails while the kernel's OOM killer strikes is the
//! machine's failure ([`BuildError::OutOfMemory`], `incomplete`), not the
//! kernel's; a build whose earlier builds peaked above the machine's
//! memory and swap is warned of before it starts.
//!
//! Built in a shared job pool ([`Builder::build_in`], `run --pool`), every
//! command holds a token of the pool while it runs, and the build's make
//! waits first for room in the pool's memory gate (its estimated peak:
//! [`estimated_peak_bytes`]) and then joins the pool without its `-jN`.
//! The commands as printed, recorded and keyed keep `-jN`: the job count
//! is in no key.

pub mod external;
pub mod integrity;
pub mod link;
mod make;
pub mod seed;

pub use make::{
    error_tail, now_rfc3339, run_logged, run_logged_in, run_profiled, run_timed_in, shell_line,
    Profiled,
};

use crate::arch::ArchProfile;
use crate::case::Case;
use crate::elf::initcall_script::{nm_initcalls, ObjectInitcalls};
use crate::elf::objects::{object_facts, ObjectFacts};
use crate::elf::sizes::{self, Sizes};
use crate::host::cache::{self, Cache};
use crate::host::jobserver::{Pool, Rank};
use crate::host::machine;
use crate::host::proc;
use crate::host::toolchain::{CcWrapper, CcWrapperStats, Toolchain};
use crate::kseries::{self, KernelSeries};
use crate::model::perf::{is_kbuild_step, BuildProfile, HowFar, Mark, Pace, STEP_TIME_EVERY};
use crate::model::source::SourceIdentity;
use crate::model::{Arch, Cfi, Fault, Lto, Switch};
use crate::stages::config::{self, Requested};
use crate::stages::source::KernelSource;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a build's make is sampled for its profile.
const PROFILE_EVERY: Duration = Duration::from_secs(2);

/// Bumped when the artefact layout changes, so old entries are not reused.
const LAYOUT_VERSION: &str = "lto-harness-build-v2";

/// What a build needs to know before it runs anything.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub case: String,
    pub arch: &'static ArchProfile,
    pub work_dir: PathBuf,
    /// Fragments in merge order: (label, text).
    pub fragments: Vec<(String, String)>,
    /// Every symbol the fragments ask for (later fragments win).
    pub requested: Requested,
    pub base: String,
    /// A config file the config starts from instead of a make target.
    pub base_config: Option<PathBuf>,
    pub config_key: String,
    /// `NAME=value` words on the build's make command line (the case's
    /// `make_vars`).
    pub make_vars: Vec<String>,
}

impl BuildPlan {
    /// Its turn in a job pool, from the LTO mode its fragments ask for:
    /// the longer the serial link at the end of the build, the sooner it
    /// starts.
    pub fn rank(&self) -> Rank {
        match lto_in(&self.requested) {
            Lto::Full => Rank::FullLto,
            Lto::Thin => Rank::ThinLto,
            Lto::None => Rank::Other,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModuleFile {
    pub name: String,
    pub file: String,
    pub bytes: u64,
}

/// `metadata.json` of a published build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildMetadata {
    pub key: String,
    pub config_key: String,
    pub case: String,
    pub arch: Arch,
    pub lto: Lto,
    pub cfi: Cfi,
    pub base: String,
    pub source: SourceIdentity,
    pub kernel_version: String,
    pub toolchain: String,
    pub llvm: String,
    pub jobs: usize,
    pub config_seconds: f64,
    pub wall_seconds: f64,
    pub cpu_seconds: f64,
    pub user_seconds: f64,
    pub system_seconds: f64,
    /// Peak RSS of the largest single process (for LTO, the vmlinux.o link).
    pub max_rss_kib: u64,
    pub vmlinux: Sizes,
    pub image_bytes: u64,
    pub modules: Vec<ModuleFile>,
    pub make_commands: Vec<String>,
    /// What the compiler cache did (`--cc-wrapper`), when one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_wrapper: Option<CcWrapperStats>,
    /// How the make used the machine over time (builds before this field
    /// have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<BuildProfile>,
    pub built_at: String,
}

/// Build-directory files the mechanism checks read, published beside
/// vmlinux: (name in the cache entry, path relative to the `O=` dir). Each
/// is optional: a kernel without LTO has no `.tmp_initcalls.lds`.
const BUILD_FILES: &[(&str, &str)] = &[
    ("Module.symvers", "Module.symvers"),
    ("initcalls.lds", ".tmp_initcalls.lds"),
    ("vmlinux.export.c", ".vmlinux.export.c"),
    ("vmlinux.o.cmd", ".vmlinux.o.cmd"),
];

/// Name of the published vDSO image (the arch's `vdso_image`).
const VDSO: &str = "vdso.so.dbg";
/// Name of the published [`ObjectFacts`].
const OBJECTS: &str = "objects.json";

/// The build-directory files a kernel comes with, where they exist.
#[derive(Debug, Clone, Default)]
pub struct BuildFiles {
    /// `Module.symvers`: every export with its CRC.
    pub symvers: Option<PathBuf>,
    /// `.tmp_initcalls.lds`: the initcall ordering script (LTO only).
    pub initcalls_lds: Option<PathBuf>,
    /// `.vmlinux.export.c`: modpost's export table for vmlinux.
    pub export_c: Option<PathBuf>,
    /// `.vmlinux.o.cmd`: how vmlinux.o was linked (objtool `--link`).
    pub vmlinux_o_cmd: Option<PathBuf>,
    /// The vDSO image with symbols (`vdso64.so.dbg` / `vdso.so.dbg`).
    pub vdso: Option<PathBuf>,
    /// What `vmlinux.a`'s members and the non-LTO objects are.
    pub objects: Option<ObjectFacts>,
}

impl BuildFiles {
    /// The files of a published cache entry.
    fn published(dir: &Path) -> BuildFiles {
        let file = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        BuildFiles {
            symvers: file(BUILD_FILES[0].0),
            initcalls_lds: file(BUILD_FILES[1].0),
            export_c: file(BUILD_FILES[2].0),
            vmlinux_o_cmd: file(BUILD_FILES[3].0),
            vdso: file(VDSO),
            objects: std::fs::read(dir.join(OBJECTS))
                .ok()
                .and_then(|d| serde_json::from_slice(&d).ok()),
        }
    }

    /// The files of an `O=` build directory (`--kernel-build`), found
    /// where the series its `.config` names puts them.
    fn in_build_dir(dir: &Path, arch: &ArchProfile) -> BuildFiles {
        let file = |rel: &str| Some(dir.join(rel)).filter(|p| p.is_file());
        let config = std::fs::read_to_string(dir.join(".config")).unwrap_or_default();
        let series = KernelSeries::of_config(&config);
        let (vdso, objects) = series_paths(dir, arch, &series);
        BuildFiles {
            symvers: file(BUILD_FILES[0].1),
            initcalls_lds: file(BUILD_FILES[1].1),
            export_c: file(BUILD_FILES[2].1),
            vmlinux_o_cmd: file(BUILD_FILES[3].1),
            vdso: file(&vdso),
            objects: Some({
                let tree = crate::elf::objects::tree_objects(dir);
                ObjectFacts {
                    outside: Some(tree.outside),
                    modules: Some(tree.modules),
                    ..object_facts(dir, &objects.iter().map(String::as_str).collect::<Vec<_>>())
                }
            }),
        }
    }
}

/// Where `series` builds `path` (an arch profile's path) in the build
/// directory `dir`: the first of its places ([`KernelSeries::artefact_paths`])
/// that exists there, else the series' own place.
pub fn locate(dir: &Path, arch: Arch, series: &KernelSeries, path: &str) -> String {
    let places = series.artefact_paths(arch, path);
    places
        .iter()
        .find(|p| dir.join(p).exists())
        .cloned()
        .unwrap_or_else(|| series.artefact(arch, path))
}

/// The arch's vDSO image and non-LTO objects, each [`locate`]d in `dir`.
fn series_paths(dir: &Path, arch: &ArchProfile, series: &KernelSeries) -> (String, Vec<String>) {
    let vdso = locate(dir, arch.arch, series, arch.vdso_image);
    let objects = arch
        .non_lto_objects
        .iter()
        .map(|o| locate(dir, arch.arch, series, o))
        .collect();
    (vdso, objects)
}

/// A kernel ready to boot: from the cache or from `--kernel-build`.
#[derive(Debug, Clone)]
pub struct BuiltKernel {
    pub key: String,
    pub dir: PathBuf,
    /// None for a kernel built elsewhere that came without one.
    pub config: Option<PathBuf>,
    /// None for a kernel built elsewhere that came without one (a distro
    /// package, a bare image): the static checks then skip.
    pub vmlinux: Option<PathBuf>,
    pub image: PathBuf,
    /// Module name (underscored, as in /proc/modules) to .ko path.
    pub modules: BTreeMap<String, PathBuf>,
    pub metadata: Option<BuildMetadata>,
    pub metadata_path: Option<PathBuf>,
    pub log: Option<PathBuf>,
    /// What the mechanism checks read besides vmlinux and the modules.
    pub files: BuildFiles,
    /// True when nothing was built: the cache (or --kernel-build) had it.
    pub reused: bool,
}

/// How a build step ended when it did not produce a kernel.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The kernel or its config is wrong: make failed, a symbol was dropped.
    #[error("{message}")]
    Failed {
        message: String,
        log: Option<PathBuf>,
        tail: Vec<String>,
    },
    /// The machine stopped make: its OOM killer killed a process while
    /// make ran, so the failure says nothing about the kernel. The log is
    /// kept, as for `Failed`.
    #[error("{message}")]
    OutOfMemory {
        message: String,
        log: Option<PathBuf>,
        tail: Vec<String>,
    },
    /// The harness or the machine failed (missing tool, I/O error).
    #[error("{0:#}")]
    Incomplete(anyhow::Error),
}

impl BuildError {
    /// Whose fault it is: [`Fault::Kernel`] for `Failed`.
    pub fn fault(&self) -> Fault {
        match self {
            BuildError::Failed { .. } => Fault::Kernel,
            BuildError::OutOfMemory { .. } | BuildError::Incomplete(_) => Fault::Harness,
        }
    }
}

/// Why a failed make was the machine's doing, when the kernel's OOM killer
/// killed anything between `before` and `after` (counts of
/// [`machine::oom_kills`], of one scope); None when it did not, or cannot
/// be known.
fn out_of_memory(
    before: Option<machine::OomKills>,
    after: Option<machine::OomKills>,
    max_rss_kib: u64,
) -> Option<String> {
    let (before, after) = (before?, after?);
    if before.scope != after.scope {
        return None;
    }
    let kills = after.count.checked_sub(before.count).filter(|n| *n > 0)?;
    let machine = machine::memory().map_or(String::new(), |m| format!("; this machine has {m}"));
    Some(format!(
        "out of memory, not a kernel failure: the kernel's OOM killer killed {kills} \
         process(es) {} while make ran (the largest process make waited for peaked at {} MiB{machine}). \
         Give the build more memory or swap, or run fewer builds at once (--sequential)",
        after.scope,
        max_rss_kib >> 10
    ))
}

/// What to tell the user before a build whose earlier builds peaked above
/// all the memory and swap this machine has: the OOM killer may stop it.
fn memory_warning(peak: Option<u64>, machine: Option<machine::Memory>) -> Option<String> {
    let (peak, m) = (peak?, machine?);
    (peak > m.usable()).then(|| {
        format!(
            "an earlier build of this case peaked at {} MiB, more than this machine has \
             ({m}): the OOM killer may stop it (add swap, e.g. a swap file with swapon)",
            peak >> 20,
        )
    })
}

/// A harness-side error (I/O, a lock, a missing tool) as the build's
/// incomplete: used explicitly at each `?`, never as a blanket `From`.
fn infra(e: impl Into<anyhow::Error>) -> BuildError {
    BuildError::Incomplete(e.into())
}

/// The final `.config` of a plan and how long configuring took (0 when the
/// memo had it).
struct Configured {
    text: String,
    seconds: f64,
}

/// What `make` did: its status, resources and the compiler cache's share.
struct Made {
    wall_seconds: f64,
    usage: proc::Usage,
    cc_wrapper: Option<CcWrapperStats>,
    log: PathBuf,
    profile: BuildProfile,
}

/// Progress reports from a running build.
pub trait BuildProgress: Sync {
    fn phase(&self, case: &str, phase: &str);
    /// A line of make output (the reporter shows the latest).
    fn line(&self, _case: &str, _line: &str) {}
    /// How far the make is: at each kbuild step and every
    /// [`PROGRESS_TICK`] in between.
    fn progress(&self, _case: &str, _how_far: &HowFar) {}
    /// Something to tell the user that is not a failure.
    fn warning(&self, _case: &str, _message: &str) {}
}

pub struct Builder<'a> {
    pub cache: &'a Cache,
    pub source: &'a KernelSource,
    pub toolchain: &'a Toolchain,
    pub jobs: usize,
    /// A compiler cache in front of clang; not part of any cache key (the
    /// output is the same).
    pub cc_wrapper: Option<CcWrapper>,
    /// The `lto-harness` binary a pooled thin-LTO build's links run
    /// through (see [`link`]); None: lld runs as kbuild starts it.
    pub harness: Option<PathBuf>,
}

impl Builder<'_> {
    /// Computes fragments and the config key; cheap, runs nothing.
    pub fn plan(&self, case: &Case) -> Result<BuildPlan> {
        let arch = case.arch.profile();
        let mut fragments = vec![
            ("harness".to_owned(), config::HARNESS_FRAGMENT.to_owned()),
            (
                format!("arch-{}", arch.name),
                arch.config_fragment.to_owned(),
            ),
        ];
        for f in &case.fragments {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading fragment {}", f.display()))?;
            let label = f
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("fragment")
                .to_owned();
            fragments.push((label, text));
        }
        fragments.push(("inline".into(), config::inline_fragment(case)));
        fragments.push((
            "lto-cfi".into(),
            config::lto_cfi_fragment(case, &self.source.series),
        ));
        let mut requested = Requested::new();
        for (_, text) in &fragments {
            requested.extend(config::parse_config(text));
        }
        // The configuration's source: shared with the origin's when the
        // tree differs from it in no file kconfig reads.
        let source_key = self.source.config_key();
        let mut parts: Vec<(&str, &[u8])> = vec![
            ("layout", LAYOUT_VERSION.as_bytes()),
            ("source", source_key.as_bytes()),
            ("arch", arch.kernel_arch.as_bytes()),
            ("base", case.base.as_bytes()),
            ("toolchain", self.toolchain.version.as_bytes()),
            ("llvm", self.toolchain.llvm.as_bytes()),
        ];
        for (label, text) in &fragments {
            parts.push((label.as_str(), text.as_bytes()));
        }
        // Only when there is one: the keys of make-target cases stay the same.
        let base_text = match &case.base_config {
            Some(p) => Some(
                std::fs::read(p).with_context(|| format!("reading base config {}", p.display()))?,
            ),
            None => None,
        };
        if let Some(t) = &base_text {
            parts.push(("base-config", t));
        }
        let config_key = cache::hash_parts(parts);
        let work_key = self.source.identity.work_key();
        Ok(BuildPlan {
            case: case.name.clone(),
            arch,
            work_dir: self.cache.work_dir(&work_dir_name(&work_key, &case.name)),
            fragments,
            requested,
            base: case.base.clone(),
            base_config: case.base_config.clone(),
            config_key,
            make_vars: case
                .make_vars
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        })
    }

    fn make_base(&self, plan: &BuildPlan) -> Vec<String> {
        let mut v = vec![
            "make".into(),
            "-C".into(),
            self.source.root.display().to_string(),
            format!("O={}", plan.work_dir.display()),
            format!("ARCH={}", plan.arch.kernel_arch),
            format!("LLVM={}", self.toolchain.llvm),
        ];
        if let Some(w) = self.cc_wrapper {
            v.push(format!(
                "CC={} {}",
                w.tool(),
                self.toolchain.clang.display()
            ));
        }
        v
    }

    fn fragment_paths(&self, plan: &BuildPlan) -> Vec<PathBuf> {
        let dir = plan.work_dir.join("lto-harness-fragments");
        plan.fragments
            .iter()
            .enumerate()
            .map(|(i, (label, _))| dir.join(format!("{i:02}-{label}.config")))
            .collect()
    }

    /// The commands, in order, as shell lines runnable by hand.
    pub fn commands(&self, plan: &BuildPlan) -> Vec<Vec<String>> {
        let base = self.make_base(plan);
        let with = |extra: &[String]| {
            let mut v = base.clone();
            v.extend_from_slice(extra);
            v
        };
        let mut merge = vec![
            self.source
                .root
                .join("scripts/kconfig/merge_config.sh")
                .display()
                .to_string(),
            "-m".into(),
            "-O".into(),
            plan.work_dir.display().to_string(),
            plan.work_dir.join(".config").display().to_string(),
        ];
        merge.extend(
            self.fragment_paths(plan)
                .iter()
                .map(|p| p.display().to_string()),
        );
        let mut build = with(&[format!("-j{}", self.jobs)]);
        build.extend(plan.make_vars.iter().cloned());
        build.extend(plan.arch.make_targets.iter().map(|s| s.to_string()));
        let start = match &plan.base_config {
            // `cp` then the merge and olddefconfig bring it up to date.
            Some(file) => vec![
                "cp".into(),
                "--".into(),
                file.display().to_string(),
                plan.work_dir.join(".config").display().to_string(),
            ],
            None => with(std::slice::from_ref(&plan.base)),
        };
        vec![start, merge, with(&["olddefconfig".into()]), build]
    }

    /// Returns the kernel, from the cache when its key is published.
    pub fn build(
        &self,
        plan: &BuildPlan,
        progress: &dyn BuildProgress,
    ) -> Result<BuiltKernel, BuildError> {
        self.build_in(plan, progress, None)
    }

    /// [`Builder::build`], in `pool` when given: each command holds a
    /// token, and make waits for room in the memory gate, then joins the
    /// pool (see [`crate::host::jobserver`]).
    pub fn build_in(
        &self,
        plan: &BuildPlan,
        progress: &dyn BuildProgress,
        pool: Option<&Pool>,
    ) -> Result<BuiltKernel, BuildError> {
        // In a pool, the builds with the longest serial link start first.
        let _ranked = pool.map(|p| p.rank_this_thread(plan.rank()));
        let configured = self.final_config(plan, progress, pool)?;
        let key = self.build_key(plan, &configured.text);
        let dest = self.cache.build_dir(&key);
        if let Published::Ready(k) = check_published(&dest) {
            return Ok(*k);
        }
        let _build_lock = self
            .cache
            .lock(&format!("build-{}", &key[..24]))
            .map_err(infra)?;
        match check_published(&dest) {
            Published::Ready(k) => return Ok(*k),
            Published::Unsealed(k) => {
                integrity::seal(&dest).map_err(infra)?;
                return Ok(*k);
            }
            Published::Damaged(why) => {
                // Under the build lock: nobody else publishes it meanwhile.
                progress.warning(
                    &plan.case,
                    &format!(
                        "cache entry {} is damaged ({why}): rebuilding it",
                        dest.display()
                    ),
                );
                std::fs::remove_dir_all(&dest)
                    .with_context(|| format!("removing the damaged cache entry {}", dest.display()))
                    .map_err(infra)?;
            }
            Published::Absent => {}
        }
        let _work = self
            .cache
            .lock(&format!("work-{}", dir_name(&plan.work_dir)))
            .map_err(infra)?;
        let made = self.make(plan, &configured.text, progress, pool)?;
        progress.phase(&plan.case, "collect");
        self.publish(plan, &key, &configured, &made, &dest)
            .map_err(infra)?;
        let mut k = load_published(&dest).ok_or_else(|| {
            infra(anyhow::anyhow!(
                "published build {} is unreadable",
                dest.display()
            ))
        })?;
        k.reused = false;
        Ok(k)
    }

    /// The plan's final `.config`: from the memo of its config key, else
    /// configured in the work dir (and memoised).
    fn final_config(
        &self,
        plan: &BuildPlan,
        progress: &dyn BuildProgress,
        pool: Option<&Pool>,
    ) -> Result<Configured, BuildError> {
        let memo = self.cache.config_memo(&plan.config_key);
        if let Ok(text) = std::fs::read_to_string(&memo) {
            return Ok(Configured { text, seconds: 0.0 });
        }
        progress.phase(&plan.case, "config");
        let t = Instant::now();
        let _work = self
            .cache
            .lock(&format!("work-{}", dir_name(&plan.work_dir)))
            .map_err(infra)?;
        let (text, queued, notes) = self.configure(plan, pool)?;
        for note in &notes {
            progress.warning(&plan.case, note);
        }
        // In a pool, the time its commands waited for a token is not config time.
        let seconds = (t.elapsed().as_secs_f64() - queued).max(0.0);
        cache::write_atomic(&memo, text.as_bytes()).map_err(infra)?;
        Ok(Configured { text, seconds })
    }

    /// Runs the build's `make` in the work dir (holding its lock) with the
    /// final config in place; in a pool, once its estimated peak memory
    /// fits beside the builds running.
    fn make(
        &self,
        plan: &BuildPlan,
        final_config: &str,
        progress: &dyn BuildProgress,
        pool: Option<&Pool>,
    ) -> Result<Made, BuildError> {
        let built_before = plan.work_dir.join("vmlinux").exists();
        let seeded = if built_before {
            None
        } else {
            self.seed(plan, final_config, progress)
        };
        // An incremental make is not measured against a build from scratch.
        let incremental = built_before || seeded.is_some();
        std::fs::create_dir_all(&plan.work_dir).map_err(infra)?;
        // The O= dir may hold another config from an earlier run: make it ours.
        let cfg_path = plan.work_dir.join(".config");
        if std::fs::read_to_string(&cfg_path).ok().as_deref() != Some(final_config) {
            std::fs::write(&cfg_path, final_config).map_err(infra)?;
        }
        let commands = self.commands(plan);
        let mut build_cmd = commands.last().expect("build command").clone();
        if let Some(ld) = self.pooled_linker(plan, final_config, pool)? {
            // After LLVM=, which would otherwise set LD.
            let at = build_cmd
                .iter()
                .position(|w| w.starts_with("LLVM="))
                .map_or(build_cmd.len(), |i| i + 1);
            build_cmd.splice(at..at, ld);
        }
        let log = plan.work_dir.join("lto-harness-build.log");
        if let Some(line) = &seeded {
            std::fs::write(&log, format!("# {line}\n")).map_err(infra)?;
        }
        // Every published build's metadata is read once, for both uses.
        let recorded_peak = recorded_peak_bytes(self.cache, &plan.case);
        if let Some(w) = memory_warning(recorded_peak, machine::memory()) {
            progress.warning(&plan.case, &w);
        }
        let _admitted = pool.map(|p| {
            let peak = estimated_peak(recorded_peak, &plan.base);
            p.memory().try_admit(peak).unwrap_or_else(|| {
                progress.phase(
                    &plan.case,
                    &format!(
                        "waiting for memory ({} MiB estimated peak, {} MiB taken by running builds)",
                        peak >> 20,
                        p.memory().reserved() >> 20
                    ),
                );
                p.memory().admit(peak)
            })
        });
        // In a pool, make waits for a token before it starts.
        let phase = match pool {
            Some(_) => "make (in the job pool: waiting for a token)",
            None => "make",
        };
        progress.phase(&plan.case, phase);
        let wrapper_before = self.cc_wrapper.map(|w| w.counters());
        let oom_kills_before = machine::oom_kills();
        let t = Instant::now();
        let marks: Mutex<Vec<Mark>> = Mutex::new(Vec::new());
        let pace = recorded_pace(self.cache, &plan.case, &plan.config_key).filter(|_| !incremental);
        let tracker = Tracker::new(pace);
        let finished = AtomicBool::new(false);
        let ran = std::thread::scope(|s| {
            // Between kbuild steps (the LTO link prints nothing for
            // minutes), how far the build is, every few seconds.
            s.spawn(|| {
                while !finished.load(Ordering::Relaxed) {
                    std::thread::sleep(PROGRESS_TICK);
                    if let Some(h) = tracker.how_far(false) {
                        progress.progress(&plan.case, &h);
                    }
                }
            });
            let ran = run_profiled(
                &build_cmd,
                &log,
                seeded.is_some(),
                pool,
                PROFILE_EVERY,
                &|l| {
                    tracker.line(l);
                    if is_kbuild_step(l) {
                        if let Some(h) = tracker.how_far(true) {
                            progress.progress(&plan.case, &h);
                        }
                    }
                    if let Some(what) = Mark::of_line(l) {
                        let mut m = marks.lock().unwrap_or_else(|e| e.into_inner());
                        if !m.iter().any(|m| m.what == what) {
                            m.push(Mark {
                                at: t.elapsed().as_secs_f64(),
                                what: what.into(),
                            });
                        }
                    }
                    progress.line(&plan.case, l)
                },
            );
            finished.store(true, Ordering::Relaxed);
            ran
        })
        .map_err(infra)?;
        // Marks were timed from before the wait for a token; the make's
        // own clock starts when it started.
        let mut marks = marks.into_inner().unwrap_or_else(|e| e.into_inner());
        for m in &mut marks {
            m.at = (m.at - ran.queued_seconds).max(0.0);
        }
        let profile = BuildProfile {
            jobs: pool.map_or(self.jobs, Pool::size),
            shared: pool.is_some(),
            samples: ran.samples,
            marks,
            steps: tracker.done(),
            queued_seconds: ran.queued_seconds,
            step_times: tracker.step_times(),
        };
        let (status, usage, wall_seconds) = (ran.status, ran.usage, ran.wall_seconds);
        if !status.success() {
            let message = format!("make failed ({status}): {}", shell_line(&build_cmd));
            let tail = error_tail(&log);
            let log = Some(log);
            return Err(
                match out_of_memory(oom_kills_before, machine::oom_kills(), usage.max_rss_kib) {
                    Some(why) => BuildError::OutOfMemory {
                        message: format!("{message}: {why}"),
                        log,
                        tail,
                    },
                    None => BuildError::Failed { message, log, tail },
                },
            );
        }
        let cc_wrapper = match (self.cc_wrapper, wrapper_before) {
            (Some(w), Some(Ok(before))) => w.counters().ok().map(|after| CcWrapperStats {
                tool: w.tool().into(),
                hits: after.0.saturating_sub(before.0),
                misses: after.1.saturating_sub(before.1),
            }),
            _ => None,
        };
        Ok(Made {
            wall_seconds,
            usage,
            cc_wrapper,
            log,
            profile,
        })
    }

    /// The make variables that run a pooled thin-LTO build's links in the
    /// pool (see [`link`]): `LD=` the wrapper script and where each link
    /// logs its threads. None outside a pool, for other builds, or when
    /// the harness binary is not known.
    fn pooled_linker(
        &self,
        plan: &BuildPlan,
        final_config: &str,
        pool: Option<&Pool>,
    ) -> Result<Option<[String; 2]>, BuildError> {
        let thin = final_config.lines().any(|l| l == "CONFIG_LTO_CLANG_THIN=y");
        let (Some(_), Some(harness), true) = (pool, &self.harness, thin) else {
            return Ok(None);
        };
        let script = link::wrapper_script(
            &self.cache.root().join("tools"),
            harness,
            &self.toolchain.ld_lld,
        )
        .with_context(|| "writing the linker script of the job pool")
        .map_err(infra)?;
        let log = plan.work_dir.join(link::LOG_NAME);
        match std::fs::remove_file(&log) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(infra(
                    anyhow::Error::new(e).context(format!("removing {}", log.display())),
                ))
            }
            _ => {}
        }
        Ok(Some([
            format!("LD={}", script.display()),
            format!("{}={}", link::LOG_ENV, log.display()),
        ]))
    }

    /// A git worktree's first build starts from the `O=` dir of its
    /// origin's build of the same case, when there is one with this config
    /// (see [`seed`]). Anything amiss means a cold build, as without it.
    fn seed(
        &self,
        plan: &BuildPlan,
        final_config: &str,
        progress: &dyn BuildProgress,
    ) -> Option<String> {
        let origin = self.source.origin.as_ref()?;
        if self.source.identity.work_key() == origin.key {
            return None;
        }
        let donor = self.cache.work_dir(&work_dir_name(&origin.key, &plan.case));
        let _donor_lock = self
            .cache
            .lock(&format!("work-{}", dir_name(&donor)))
            .ok()?;
        if !seed::donor_is_usable(&donor, final_config) {
            return None;
        }
        let donor_src = seed::donor_source(&donor)?;
        let root = &self.source.root;
        let changed = self.source.changed_since_origin.clone()?;
        progress.phase(&plan.case, "seed");
        if plan.work_dir.exists() {
            std::fs::remove_dir_all(&plan.work_dir).ok()?;
        }
        let t = Instant::now();
        let s = seed::seed(&donor, &donor_src, &plan.work_dir, root, &changed).ok()?;
        let line = format!(
            "seeded from {} in {:.1} s: {} files, {} kbuild records renamed, {} sources differ from {}",
            donor.display(),
            t.elapsed().as_secs_f64(),
            s.files,
            s.rewritten,
            s.touched_sources,
            origin.commit.get(..12).unwrap_or(&origin.commit)
        );
        progress.line(&plan.case, &line);
        Some(line)
    }

    /// Copies the artefacts out of the work dir with their metadata.json and
    /// publishes them whole under `dest`.
    fn publish(
        &self,
        plan: &BuildPlan,
        key: &str,
        configured: &Configured,
        made: &Made,
        dest: &Path,
    ) -> Result<()> {
        let tmp = self.cache.temp_dir("build")?;
        let out = tmp.path();
        let copy = |from: &Path, to: &str| -> Result<()> {
            std::fs::copy(from, out.join(to))
                .with_context(|| format!("copying {}", from.display()))?;
            Ok(())
        };
        copy(&plan.work_dir.join(".config"), "config")?;
        copy(&plan.work_dir.join("vmlinux"), "vmlinux")?;
        copy(&plan.work_dir.join(plan.arch.boot_image), "image")?;
        copy(&plan.work_dir.join("System.map"), "System.map")?;
        copy(&made.log, "build.log")?;
        for (name, rel) in BUILD_FILES {
            let from = plan.work_dir.join(rel);
            if from.is_file() {
                copy(&from, name)?;
            }
        }
        let (vdso, non_lto) = series_paths(&plan.work_dir, plan.arch, &self.source.series);
        let vdso = plan.work_dir.join(vdso);
        if vdso.is_file() {
            copy(&vdso, VDSO)?;
        }
        let non_lto: Vec<&str> = non_lto.iter().map(String::as_str).collect();
        let mut objects = object_facts(&plan.work_dir, &non_lto);
        objects.initcalls = Some(self.initcall_objects(&plan.work_dir));
        let tree = crate::elf::objects::tree_objects(&plan.work_dir);
        objects.outside = Some(tree.outside);
        objects.modules = Some(tree.modules);
        std::fs::write(out.join(OBJECTS), serde_json::to_vec_pretty(&objects)?)?;
        std::fs::create_dir_all(out.join("modules"))?;
        let mut modules = Vec::new();
        for (name, path) in find_modules(&plan.work_dir) {
            let file = format!("{name}.ko");
            copy(&path, &format!("modules/{file}"))?;
            let bytes = path.metadata().map(|m| m.len()).unwrap_or(0);
            modules.push(ModuleFile { name, file, bytes });
        }
        let meta = self.metadata(plan, key, configured, made, out, modules)?;
        std::fs::write(out.join(cache::COMPLETE), serde_json::to_vec_pretty(&meta)?)?;
        integrity::seal(out)?;
        cache::publish_dir(&tmp.keep(), dest)
    }

    /// Every object of the vmlinux.o link that defines initcalls, in link
    /// order: `llvm-nm --defined-only` of `vmlinux.a` and the libraries
    /// `.vmlinux.o.cmd` names (what generate_initcall_order.pl reads).
    fn initcall_objects(&self, work_dir: &Path) -> Result<Vec<ObjectInitcalls>, String> {
        let cmd = std::fs::read_to_string(work_dir.join(".vmlinux.o.cmd")).unwrap_or_default();
        let mut args = vec!["--defined-only".to_owned(), "vmlinux.a".to_owned()];
        args.extend(link_libraries(&cmd));
        let out = std::process::Command::new(&self.toolchain.llvm_nm)
            .args(&args)
            .current_dir(work_dir)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.toolchain.llvm_nm.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} {} failed ({}): {}",
                self.toolchain.llvm_nm.display(),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            ));
        }
        Ok(nm_initcalls(&String::from_utf8_lossy(&out.stdout)))
    }

    fn metadata(
        &self,
        plan: &BuildPlan,
        key: &str,
        configured: &Configured,
        made: &Made,
        out: &Path,
        modules: Vec<ModuleFile>,
    ) -> Result<BuildMetadata> {
        let final_config = &configured.text;
        Ok(BuildMetadata {
            key: key.to_owned(),
            config_key: plan.config_key.clone(),
            case: plan.case.clone(),
            arch: plan.arch.arch,
            lto: lto_of(final_config),
            cfi: Switch::from_bool(
                kseries::cfi_config(
                    &config::parse_config(final_config),
                    Some(&self.source.version),
                )
                .on,
            ),
            base: plan.base.clone(),
            source: self.source.identity.clone(),
            kernel_version: self.source.version.clone(),
            toolchain: self.toolchain.version.clone(),
            llvm: self.toolchain.llvm.clone(),
            jobs: self.jobs,
            config_seconds: configured.seconds,
            wall_seconds: made.wall_seconds,
            cpu_seconds: made.usage.cpu_seconds(),
            user_seconds: made.usage.user_seconds,
            system_seconds: made.usage.system_seconds,
            max_rss_kib: made.usage.max_rss_kib,
            vmlinux: sizes::elf_sizes(&out.join("vmlinux"))?,
            image_bytes: out.join("image").metadata().map(|m| m.len()).unwrap_or(0),
            modules,
            make_commands: self.commands(plan).iter().map(|c| shell_line(c)).collect(),
            cc_wrapper: made.cc_wrapper.clone(),
            profile: Some(made.profile.clone()),
            built_at: now_rfc3339(),
        })
    }

    /// Runs base config, merge_config.sh and olddefconfig in the work dir and
    /// verifies every requested symbol (a renamed one through its new name,
    /// see [`config::verify_renamed`]). Returns the final .config text, how
    /// long its commands waited for job tokens, and each request satisfied
    /// through a renamed symbol, said in a sentence (also in the config log).
    fn configure(
        &self,
        plan: &BuildPlan,
        pool: Option<&Pool>,
    ) -> Result<(String, f64, Vec<String>), BuildError> {
        std::fs::create_dir_all(plan.work_dir.join("lto-harness-fragments")).map_err(infra)?;
        for (path, (_, text)) in self.fragment_paths(plan).iter().zip(&plan.fragments) {
            std::fs::write(path, text).map_err(infra)?;
        }
        let log = plan.work_dir.join("lto-harness-config.log");
        let _ = std::fs::remove_file(&log);
        let commands = self.commands(plan);
        let mut queued = 0.0;
        for cmd in &commands[..3] {
            let ran = run_timed_in(cmd, &log, true, pool, &|_| {}).map_err(infra)?;
            queued += ran.queued_seconds;
            let status = ran.status;
            if !status.success() {
                return Err(BuildError::Failed {
                    message: format!("config step failed ({status}): {}", shell_line(cmd)),
                    tail: error_tail(&log),
                    log: Some(log),
                });
            }
        }
        let text = std::fs::read_to_string(plan.work_dir.join(".config")).map_err(infra)?;
        let verified = config::verify_renamed(&plan.requested, &text, &self.source.series.renamed);
        if !verified.through_renames.is_empty() {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&log)
            {
                for note in &verified.through_renames {
                    let _ = writeln!(f, "# lto-harness: {note}");
                }
            }
        }
        let missing = verified.mismatches;
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|m| m.to_string()).collect();
            return Err(BuildError::Failed {
                message: format!(
                    "{} requested config symbol(s) not in the final .config:\n  {}",
                    missing.len(),
                    list.join("\n  ")
                ),
                tail: list,
                log: Some(log),
            });
        }
        Ok((text, queued, verified.through_renames))
    }

    fn build_key(&self, plan: &BuildPlan, final_config: &str) -> String {
        let source_key = self.source.cache_key();
        let targets = plan.arch.make_targets.join(" ");
        let make_vars = plan.make_vars.join("\n");
        let mut parts: Vec<(&str, &[u8])> = vec![
            ("layout", LAYOUT_VERSION.as_bytes()),
            ("source", source_key.as_bytes()),
            ("config", final_config.as_bytes()),
            ("toolchain", self.toolchain.version.as_bytes()),
            ("llvm", self.toolchain.llvm.as_bytes()),
            ("harness-fragment", config::HARNESS_FRAGMENT.as_bytes()),
            ("arch-fragment", plan.arch.config_fragment.as_bytes()),
            ("targets", targets.as_bytes()),
        ];
        // Only when there are any: the keys of builds without stay the same.
        if !make_vars.is_empty() {
            parts.push(("make-vars", make_vars.as_bytes()));
        }
        cache::hash_parts(parts)
    }
}

/// The archives between `--start-group` and `--end-group` of a
/// `.vmlinux.o.cmd` (`KBUILD_VMLINUX_LIBS`).
fn link_libraries(cmd: &str) -> Vec<String> {
    cmd.split_whitespace()
        .skip_while(|w| *w != "--start-group")
        .skip(1)
        .take_while(|w| *w != "--end-group")
        .map(str::to_owned)
        .collect()
}

/// The `O=` dir name of `case` for a source's work key.
fn work_dir_name(work_key: &str, case: &str) -> String {
    let src_short = &cache::hash_parts([("s", work_key.as_bytes())])[..12];
    format!("{src_short}-{case}")
}

fn dir_name(p: &Path) -> String {
    p.file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("work")
        .to_owned()
}

fn lto_of(config_text: &str) -> Lto {
    lto_in(&config::parse_config(config_text))
}

/// The LTO mode a config's symbols (or a plan's requested ones) select.
fn lto_in(c: &Requested) -> Lto {
    let on = |s: &str| c.get(s).map(String::as_str) == Some("y");
    if on("CONFIG_LTO_CLANG_FULL") {
        Lto::Full
    } else if on("CONFIG_LTO_CLANG_THIN") {
        Lto::Thin
    } else {
        Lto::None
    }
}

/// A build entry as the cache has it.
enum Published {
    Absent,
    Ready(Box<BuiltKernel>),
    /// Published before checksums existed: to be sealed under the lock.
    Unsealed(Box<BuiltKernel>),
    /// Published, but a file differs from its checksum (or the metadata
    /// does not parse): to be rebuilt, never judged.
    Damaged(String),
}

/// The entry at `dir`, its files checked against their checksums.
fn check_published(dir: &Path) -> Published {
    if !dir.join(cache::COMPLETE).exists() {
        return Published::Absent;
    }
    let state = match integrity::check(dir) {
        Ok(integrity::Integrity::Damaged(why)) => return Published::Damaged(why),
        Err(e) => return Published::Damaged(format!("{e:#}")),
        Ok(s) => s,
    };
    match (load_published(dir), state) {
        (None, _) => Published::Damaged(format!("{} does not parse", cache::COMPLETE)),
        (Some(k), integrity::Integrity::Unsealed) => Published::Unsealed(Box::new(k)),
        (Some(k), _) => Published::Ready(Box::new(k)),
    }
}

/// The peak memory assumed for a build of a base config with no earlier
/// build to go by: 1 GiB for `tinyconfig`, 4 GiB for anything bigger (a
/// defconfig's full-LTO link of vmlinux.o).
pub fn default_peak_bytes(base: &str) -> u64 {
    if base == "tinyconfig" {
        1 << 30
    } else {
        4 << 30
    }
}

/// The part `T` of every published build's metadata.json in the cache
/// (entries that do not read as `T` left out).
fn published_metadata<T: serde::de::DeserializeOwned>(cache: &Cache) -> Vec<T> {
    // The folder every build entry is in.
    let Some(builds) = cache.build_dir("_").parent().map(Path::to_owned) else {
        return vec![];
    };
    let Ok(entries) = std::fs::read_dir(builds) else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join(cache::COMPLETE)).ok())
        .filter_map(|d| serde_json::from_slice::<T>(&d).ok())
        .collect()
}

/// The highest peak RSS (`max_rss_kib` of metadata.json: the largest
/// single process, for LTO the vmlinux.o link) recorded by an earlier
/// build of `case` in the cache, in bytes.
pub fn recorded_peak_bytes(cache: &Cache, case: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Peak {
        case: String,
        max_rss_kib: u64,
    }
    published_metadata::<Peak>(cache)
        .into_iter()
        .filter(|p| p.case == case && p.max_rss_kib > 0)
        .map(|p| p.max_rss_kib.saturating_mul(1024))
        .max()
}

/// How many kbuild steps the largest earlier build of `case` with this
/// config printed (its profile's `steps`): what the next one is measured
/// against as it goes. None before any profiled build of it.
pub fn recorded_steps(cache: &Cache, case: &str, config_key: &str) -> Option<usize> {
    recorded_pace(cache, case, config_key).map(|p| p.steps)
}

/// How the earlier build of `case` with this config that printed the most
/// kbuild steps went (a build from scratch, not an incremental one).
pub fn recorded_pace(cache: &Cache, case: &str, config_key: &str) -> Option<Pace> {
    #[derive(Deserialize)]
    struct Steps {
        case: String,
        config_key: String,
        wall_seconds: f64,
        #[serde(default)]
        profile: Option<BuildProfile>,
    }
    published_metadata::<Steps>(cache)
        .into_iter()
        .filter(|s| s.case == case && s.config_key == config_key)
        .filter_map(|s| {
            let p = s.profile?;
            Some(Pace {
                steps: p.steps,
                wall: s.wall_seconds,
                step_times: p.step_times,
            })
        })
        .filter(|p| p.steps > 0)
        .max_by_key(|p| p.steps)
}

/// Every how often a running build says how far it is between steps.
pub const PROGRESS_TICK: Duration = Duration::from_secs(5);

/// A running make's progress: kbuild steps (and when every
/// [`STEP_TIME_EVERY`]th came), its phase, against the last build's pace.
struct Tracker {
    pace: Option<Pace>,
    state: Mutex<Tracked>,
}

#[derive(Default)]
struct Tracked {
    /// The first output line: make has started (after any token wait).
    started: Option<Instant>,
    done: usize,
    /// Seconds in when the last step came.
    last_step: f64,
    phase: &'static str,
    step_times: Vec<f64>,
}

impl Tracker {
    fn new(pace: Option<Pace>) -> Tracker {
        Tracker {
            pace,
            state: Mutex::new(Tracked {
                phase: "compile",
                ..Tracked::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracked> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A line of make output.
    fn line(&self, l: &str) {
        let mut s = self.lock();
        let started = *s.started.get_or_insert_with(Instant::now);
        if let Some(what) = Mark::of_line(l) {
            s.phase = what;
        }
        if is_kbuild_step(l) {
            s.done += 1;
            s.last_step = started.elapsed().as_secs_f64();
            if s.done.is_multiple_of(STEP_TIME_EVERY) {
                let at = s.last_step;
                s.step_times.push(at);
            }
        }
    }

    /// How far the build is (None before make said anything); `at_step`:
    /// asked at a step (else a tick between steps).
    fn how_far(&self, at_step: bool) -> Option<HowFar<'static>> {
        let s = self.lock();
        let elapsed = s.started?.elapsed().as_secs_f64();
        if !at_step && s.done == 0 {
            return None;
        }
        Some(HowFar {
            done: s.done,
            total: self.pace.as_ref().map(|p| p.steps),
            phase: s.phase,
            elapsed,
            eta: self
                .pace
                .as_ref()
                .and_then(|p| p.eta(s.done, s.last_step, elapsed)),
        })
    }

    fn done(&self) -> usize {
        self.lock().done
    }

    fn step_times(&self) -> Vec<f64> {
        self.lock().step_times.clone()
    }
}

/// What a build of `case` (from `base`) is assumed to take at its peak:
/// what earlier builds of it recorded, else [`default_peak_bytes`].
pub fn estimated_peak_bytes(cache: &Cache, case: &str, base: &str) -> u64 {
    estimated_peak(recorded_peak_bytes(cache, case), base)
}

/// The estimate of [`estimated_peak_bytes`] from an already read
/// [`recorded_peak_bytes`].
fn estimated_peak(recorded: Option<u64>, base: &str) -> u64 {
    recorded.unwrap_or_else(|| default_peak_bytes(base))
}

/// Loads a published build entry, if it is whole.
fn load_published(dir: &Path) -> Option<BuiltKernel> {
    let meta_path = dir.join(cache::COMPLETE);
    let meta: BuildMetadata = serde_json::from_slice(&std::fs::read(&meta_path).ok()?).ok()?;
    let modules = meta
        .modules
        .iter()
        .map(|m| (m.name.clone(), dir.join("modules").join(&m.file)))
        .collect();
    Some(BuiltKernel {
        key: meta.key.clone(),
        dir: dir.to_owned(),
        config: Some(dir.join("config")),
        vmlinux: Some(dir.join("vmlinux")),
        image: dir.join("image"),
        modules,
        metadata_path: Some(meta_path),
        metadata: Some(meta),
        log: Some(dir.join("build.log")),
        files: BuildFiles::published(dir),
        reused: true,
    })
}

/// A kernel built elsewhere, for a named case (see [`external`]): its
/// .config's LTO/CFI setting must match the case's; without a .config
/// that cannot be told, and the checks that need one skip.
pub fn from_existing(dir: &Path, case: &Case, cache: &Cache) -> Result<BuiltKernel, BuildError> {
    let ext = external::open(dir, cache, Some(case.arch))?;
    // The wrong kernel for the case is a bad input, not a kernel fault.
    if let Some(a) = ext.arch.filter(|a| *a != case.arch) {
        return Err(infra(anyhow::anyhow!(
            "--kernel-build {} is an {} kernel; case {} is {}",
            dir.display(),
            a.name(),
            case.name,
            case.arch.name()
        )));
    }
    if let Some(config) = &ext.kernel.config {
        let text = std::fs::read_to_string(config).map_err(infra)?;
        // The kernel's own series (its .config's header) names the symbols.
        let series = KernelSeries::of_config(&text);
        let wanted = config::parse_config(&config::lto_cfi_fragment(case, &series));
        let mismatches = config::verify_renamed(&wanted, &text, &series.renamed).mismatches;
        if !mismatches.is_empty() {
            let list: Vec<String> = mismatches.iter().map(|m| m.to_string()).collect();
            return Err(BuildError::Failed {
                message: format!(
                    "--kernel-build {} does not match case {}: {}",
                    dir.display(),
                    case.name,
                    list.join("; ")
                ),
                tail: list,
                log: None,
            });
        }
    }
    Ok(ext.kernel)
}

/// Every `*.ko` under `dir`, by module name (dashes as underscores).
pub fn find_modules(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                // `source` is kbuild's symlink back to the tree.
                Ok(t) if t.is_dir() && e.file_name() != "source" => stack.push(p),
                Ok(t) if t.is_file() => {
                    if let Some(stem) = p.extension().filter(|x| *x == "ko").and(p.file_stem()) {
                        out.push((stem.to_string_lossy().replace('-', "_"), p));
                    }
                }
                _ => {}
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artefacts_are_found_where_the_trees_series_builds_them() {
        let dir = tempfile::tempdir().unwrap();
        let x86 = Arch::X86_64.profile();
        let s71 = KernelSeries::resolve("7.1.5", None);
        let s612 = KernelSeries::resolve("6.12.117", None);
        let new = "arch/x86/entry/vdso/vdso64/vdso64.so.dbg";
        // Nothing built: each series' own place.
        assert_eq!(locate(dir.path(), Arch::X86_64, &s71, x86.vdso_image), new);
        assert_eq!(
            locate(dir.path(), Arch::X86_64, &s612, x86.vdso_image),
            x86.vdso_image
        );
        // 7.1's layout built: found by either series (a tree between rows too).
        std::fs::create_dir_all(dir.path().join("arch/x86/entry/vdso/vdso64")).unwrap();
        std::fs::write(dir.path().join(new), b"x").unwrap();
        assert_eq!(locate(dir.path(), Arch::X86_64, &s612, x86.vdso_image), new);
        let (vdso, objects) = series_paths(dir.path(), x86, &s71);
        assert_eq!(vdso, new);
        assert!(objects.contains(&"arch/x86/entry/vdso/vdso64/vclock_gettime.o".to_owned()));
        assert!(objects.contains(&"arch/x86/power/cpu.o".to_owned()));
        // A kernel built elsewhere: its .config's series, its files.
        std::fs::write(
            dir.path().join(".config"),
            "# Linux/x86_64 7.1.5 Kernel Configuration\nCONFIG_CFI=y\n",
        )
        .unwrap();
        let files = BuildFiles::in_build_dir(dir.path(), x86);
        assert_eq!(files.vdso, Some(dir.path().join(new)));
        let objects = files.objects.unwrap();
        assert!(objects
            .non_lto
            .iter()
            .any(|(p, _)| p == "arch/x86/entry/vdso/vdso64/vgetcpu.o"));
    }
    use crate::host::needs::Need;

    const MAKE: Need = Need::Tool {
        tool: "make",
        package: "make",
    };

    /// A stand-in kernel tree whose Makefile behaves like kbuild's for the
    /// targets the harness uses, and appends to `count` on every build.
    fn fake_kernel(dir: &Path) -> PathBuf {
        let src = dir.join("linux");
        std::fs::create_dir_all(src.join("scripts/kconfig")).unwrap();
        std::fs::write(src.join("Makefile"), "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n\
tinyconfig:\n\tmkdir -p $(O) && : > $(O)/.config\n\
olddefconfig:\n\t@true\n\
bzImage:\n\techo build >> $(CURDIR)/count\n\t@echo '  LD      vmlinux.o'\n\tsleep 1\n\ttest ! -e $(CURDIR)/fail\n\
\tmkdir -p $(O)/arch/x86/boot $(O)/lib\n\tcp /bin/true $(O)/vmlinux\n\techo img > $(O)/arch/x86/boot/bzImage\n\
\techo map > $(O)/System.map\n\
modules:\n\tmkdir -p $(O)/lib && echo ko > $(O)/lib/test_module.ko\n").unwrap();
        let merge = src.join("scripts/kconfig/merge_config.sh");
        // -m -O DIR BASE FRAGMENTS...: append the fragments to BASE, as -m does.
        std::fs::write(
            &merge,
            "#!/bin/sh\nshift 3\nbase=$1; shift\ncat \"$@\" >> \"$base\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&merge, std::fs::Permissions::from_mode(0o755)).unwrap();
        src
    }

    #[test]
    fn link_libraries_are_read_from_the_vmlinux_o_command() {
        let cmd = "savedcmd_vmlinux.o := ld.lld-19 -r -o vmlinux.o -T .tmp_initcalls.lds --whole-archive vmlinux.a --no-whole-archive --start-group lib/lib.a arch/x86/lib/lib.a --end-group ; objtool";
        assert_eq!(link_libraries(cmd), ["lib/lib.a", "arch/x86/lib/lib.a"]);
        assert!(link_libraries("--start-group  --end-group").is_empty());
        assert!(link_libraries("").is_empty());
    }

    fn fake_toolchain() -> Toolchain {
        Toolchain {
            llvm: "-19".into(),
            clang: "/bin/true".into(),
            ld_lld: "/bin/true".into(),
            llvm_nm: "/bin/true".into(),
            version: "fake clang 1".into(),
        }
    }

    /// The source, cache and toolchain every fake-kbuild build test needs.
    fn fixture_parts(dir: &Path, src: &Path) -> (KernelSource, Cache, Toolchain) {
        let source = KernelSource::from_dir(src).unwrap();
        let cache = Cache::open(Some(&dir.join("cache"))).unwrap();
        (source, cache, fake_toolchain())
    }

    /// A two-job builder of the fixture's parts.
    fn test_builder<'a>(
        source: &'a KernelSource,
        cache: &'a Cache,
        tc: &'a Toolchain,
    ) -> Builder<'a> {
        Builder {
            cc_wrapper: None,
            harness: None,
            cache,
            source,
            toolchain: tc,
            jobs: 2,
        }
    }

    struct Quiet;
    impl BuildProgress for Quiet {
        fn phase(&self, _: &str, _: &str) {}
    }

    fn case_named(name: &str) -> Case {
        Case::parse(
            &Path::new("/x").join(format!("{name}.yaml")),
            "arch: x86_64\nlto: none\ncfi: off\nmodules: [test_module]\n",
        )
        .unwrap()
    }

    /// A config file as `base:` is copied to `.config` first (no make
    /// target), and its text is part of the config key: another file is
    /// another config, a make-target case's key is unchanged.
    #[test]
    fn a_base_config_file_is_copied_and_keyed_by_its_text() {
        let d = tempfile::tempdir().unwrap();
        let src = fake_kernel(d.path());
        let (source, cache, tc) = fixture_parts(d.path(), &src);
        let builder = test_builder(&source, &cache, &tc);
        let cases = d.path().join("cases");
        std::fs::create_dir_all(&cases).unwrap();
        std::fs::write(cases.join("distro.config"), "CONFIG_X86_64=y\n").unwrap();
        let yaml = "arch: x86_64\nlto: none\ncfi: off\nbase: distro.config\n";
        let case = Case::parse(&cases.join("d.yaml"), yaml).unwrap();
        let plan = builder.plan(&case).unwrap();
        let cmds = builder.commands(&plan);
        assert_eq!(cmds[0][0], "cp");
        assert_eq!(
            cmds[0][2],
            cases.join("distro.config").display().to_string()
        );
        assert!(cmds[0][3].ends_with(".config"));
        assert!(cmds[2].iter().any(|w| w == "olddefconfig"));
        let plain = builder
            .plan(
                &Case::parse(&cases.join("d.yaml"), "arch: x86_64\nlto: none\ncfi: off\n").unwrap(),
            )
            .unwrap();
        assert_ne!(plan.config_key, plain.config_key);
        std::fs::write(
            cases.join("distro.config"),
            "CONFIG_X86_64=y\nCONFIG_FOO=y\n",
        )
        .unwrap();
        assert_ne!(builder.plan(&case).unwrap().config_key, plan.config_key);
    }

    /// A plan's turn in the pool comes from the LTO mode its case asks
    /// for: full LTO first, then ThinLTO, then the rest.
    #[test]
    fn the_longest_serial_link_starts_first() {
        let d = tempfile::tempdir().unwrap();
        let src = fake_kernel(d.path());
        let (source, cache, tc) = fixture_parts(d.path(), &src);
        let builder = test_builder(&source, &cache, &tc);
        let rank = |lto: &str| {
            let yaml = format!("arch: x86_64\nlto: {lto}\ncfi: off\n");
            let case = Case::parse(&d.path().join("c.yaml"), &yaml).unwrap();
            builder.plan(&case).unwrap().rank()
        };
        assert_eq!(rank("full"), Rank::FullLto);
        assert_eq!(rank("thin"), Rank::ThinLto);
        assert_eq!(rank("none"), Rank::Other);
    }

    /// Two builders racing on the same inputs (as two harness runs sharing a
    /// cache would) build once, and both get the one published entry.
    #[test]
    fn concurrent_builds_of_one_key_run_make_once() {
        crate::skip_unless!("concurrent_builds_of_one_key_run_make_once", MAKE);
        let d = tempfile::tempdir().unwrap();
        let src = fake_kernel(d.path());
        let (source, cache, tc) = fixture_parts(d.path(), &src);
        let builder = test_builder(&source, &cache, &tc);
        let keys: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = ["a", "b"]
                .iter()
                .map(|n| {
                    let builder = &builder;
                    s.spawn(move || {
                        let plan = builder.plan(&case_named(n)).unwrap();
                        match builder.build(&plan, &Quiet) {
                            Ok(k) => k.key,
                            Err(e) => panic!("{e:#}"),
                        }
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(keys[0], keys[1]);
        assert_eq!(
            std::fs::read_to_string(src.join("count")).unwrap(),
            "build\n"
        );
        let k = builder
            .build(&builder.plan(&case_named("c")).unwrap(), &Quiet)
            .ok()
            .unwrap();
        assert!(k.reused);
        assert!(k.modules.contains_key("test_module"));
        // The make's profile: sampled from its start to its waited-for
        // end, with the phase its output announced.
        let p = k.metadata.as_ref().unwrap().profile.clone().unwrap();
        assert!(!p.shared && p.jobs == 2, "{p:?}");
        assert_eq!(p.samples.first().map(|s| s[0]), Some(0.0), "{p:?}");
        let end = p.samples.last().unwrap();
        assert!(end[0] >= 1.0, "the make slept 1 s: {p:?}");
        assert_eq!(p.marks.len(), 1, "{p:?}");
        assert_eq!(p.marks[0].what, "link vmlinux.o");
        assert!(p.marks[0].at <= end[0], "{p:?}");
        // Its one kbuild step is what the next build of the config is
        // measured against; another config has no such build.
        assert_eq!(p.steps, 1, "{p:?}");
        // (The entry is the case that won the race's, a or b.)
        let winner = &k.metadata.as_ref().unwrap().case;
        let plan = builder.plan(&case_named(winner)).unwrap();
        assert_eq!(recorded_steps(&cache, winner, &plan.config_key), Some(1));
        assert_eq!(recorded_steps(&cache, winner, "another"), None);
        assert_eq!(
            std::fs::read_to_string(src.join("count")).unwrap(),
            "build\n"
        );
    }

    /// A build that fails half-way publishes nothing; the next one builds.
    #[test]
    fn failed_build_leaves_no_entry_that_looks_complete() {
        crate::skip_unless!("failed_build_leaves_no_entry_that_looks_complete", MAKE);
        let d = tempfile::tempdir().unwrap();
        let src = fake_kernel(d.path());
        std::fs::write(src.join("fail"), "").unwrap();
        let (source, cache, tc) = fixture_parts(d.path(), &src);
        let builder = test_builder(&source, &cache, &tc);
        let plan = builder.plan(&case_named("a")).unwrap();
        match builder.build(&plan, &Quiet) {
            Err(BuildError::Failed { message, log, .. }) => {
                assert!(message.contains("make failed"), "{message}");
                assert!(log.unwrap().exists());
            }
            other => panic!("expected a failed build, got {:?}", other.map(|k| k.key)),
        }
        let published: Vec<_> = std::fs::read_dir(d.path().join("cache/builds"))
            .unwrap()
            .collect();
        assert!(published.is_empty(), "{published:?}");
        std::fs::remove_file(src.join("fail")).unwrap();
        // The tree changed (a file went away): a new source identity, a fresh build.
        let source = KernelSource::from_dir(&src).unwrap();
        let builder = test_builder(&source, &cache, &tc);
        let k = builder
            .build(&builder.plan(&case_named("a")).unwrap(), &Quiet)
            .ok()
            .unwrap();
        assert!(!k.reused);
        assert!(k.dir.join(cache::COMPLETE).exists());
    }

    /// A dropped symbol fails the build step and names symbol and value.
    #[test]
    fn dropped_symbol_fails_the_build_by_name() {
        crate::skip_unless!("dropped_symbol_fails_the_build_by_name", MAKE);
        let d = tempfile::tempdir().unwrap();
        let src = fake_kernel(d.path());
        // olddefconfig that drops LKDTM, as tinyconfig does without RUNTIME_TESTING_MENU.
        let mk = std::fs::read_to_string(src.join("Makefile"))
            .unwrap()
            .replace(
                "olddefconfig:\n\t@true",
                "olddefconfig:\n\tsed -i '/CONFIG_LKDTM/d' $(O)/.config",
            );
        std::fs::write(src.join("Makefile"), mk).unwrap();
        let (source, cache, tc) = fixture_parts(d.path(), &src);
        let builder = test_builder(&source, &cache, &tc);
        match builder.build(&builder.plan(&case_named("a")).unwrap(), &Quiet) {
            Err(BuildError::Failed { message, .. }) => {
                assert!(
                    message.contains("CONFIG_LKDTM requested m but is missing"),
                    "{message}"
                )
            }
            other => panic!("expected a failed build, got {:?}", other.map(|k| k.key)),
        }
        assert!(
            !src.join("count").exists(),
            "make ran after config verification failed"
        );
    }

    /// In a job pool the build's commands hold tokens and make runs
    /// without its -jN, joined to the pool; what is printed, recorded
    /// and keyed does not change: the same key as a build of another job
    /// count outside any pool, -jN still in the recorded commands.
    #[test]
    fn a_pooled_build_joins_the_pool_and_keeps_its_key() {
        crate::skip_unless!("a_pooled_build_joins_the_pool_and_keeps_its_key", MAKE);
        let d = tempfile::tempdir().unwrap();
        let src = fake_kernel(d.path());
        let (source, cache, tc) = fixture_parts(d.path(), &src);
        let builder = test_builder(&source, &cache, &tc);
        let pool = Pool::new(3, Some(64 << 30)).unwrap();
        let plan = builder.plan(&case_named("a")).unwrap();
        let k = match builder.build_in(&plan, &Quiet, Some(&pool)) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        assert!(!k.reused);
        assert_eq!(pool.available().unwrap(), 3, "a token was not given back");
        assert_eq!(pool.memory().reserved(), 0);
        let log = std::fs::read_to_string(k.log.as_ref().unwrap()).unwrap();
        let ran = log.lines().find(|l| l.starts_with("$ make")).unwrap();
        assert!(
            !ran.contains("-j2") && ran.ends_with("bzImage modules"),
            "{ran}"
        );
        assert!(log.contains("# in the shared job pool of 3"), "{log}");
        let config_log = std::fs::read_to_string(plan.work_dir.join("lto-harness-config.log"));
        assert!(config_log
            .unwrap()
            .contains("# in the shared job pool of 3"));
        let recorded = &k.metadata.as_ref().unwrap().make_commands;
        assert!(recorded.last().unwrap().contains(" -j2 "), "{recorded:?}");
        assert_eq!(builder.commands(&plan).last().unwrap()[6], "-j2");
        // Another cache, another job count, no pool: the same keys.
        let other_cache = Cache::open(Some(&d.path().join("other-cache"))).unwrap();
        let other = Builder {
            jobs: 7,
            ..test_builder(&source, &other_cache, &tc)
        };
        let other_plan = other.plan(&case_named("a")).unwrap();
        assert_eq!(other_plan.config_key, plan.config_key);
        let unpooled = other.build(&other_plan, &Quiet).ok().unwrap();
        assert_eq!(unpooled.key, k.key);
        let log = std::fs::read_to_string(unpooled.log.as_ref().unwrap()).unwrap();
        assert!(log.contains(" -j7 ") && !log.contains("job pool"), "{log}");
    }

    /// A failed make is the machine's doing only when the OOM killer
    /// struck while it ran; an unreadable counter never blames the machine.
    #[test]
    fn a_failed_make_is_out_of_memory_only_when_the_oom_killer_struck() {
        use machine::{OomKills, OomScope};
        let at = |count, scope| Some(OomKills { count, scope });
        let cg = OomScope::MemoryCgroup;
        let why = out_of_memory(at(4, cg), at(6, cg), 3 << 20).expect("two kills");
        assert!(
            why.contains("killed 2 process(es) in this process's memory cgroup"),
            "{why}"
        );
        assert!(why.contains("peaked at 3072 MiB"), "{why}");
        let m = OomScope::Machine;
        let why = out_of_memory(at(0, m), at(1, m), 1).expect("one kill");
        assert!(
            why.contains("killed 1 process(es) on this machine"),
            "{why}"
        );
        assert_eq!(out_of_memory(at(4, cg), at(4, cg), 1), None);
        assert_eq!(out_of_memory(None, at(4, cg), 1), None);
        assert_eq!(out_of_memory(at(4, cg), None, 1), None);
        // Counts of two scopes cannot be compared.
        assert_eq!(out_of_memory(at(0, cg), at(9, m), 1), None);
        // A counter that went backwards (another cgroup's?) says nothing.
        assert_eq!(out_of_memory(at(4, cg), at(1, cg), 1), None);
        let e = BuildError::OutOfMemory {
            message: why,
            log: None,
            tail: vec![],
        };
        assert_eq!(e.fault(), Fault::Harness);
        assert_eq!(e.fault().status(), crate::model::Status::Incomplete);
    }

    #[test]
    fn a_build_bigger_than_memory_and_swap_is_warned_of() {
        let m = |total: u64, swap: u64| {
            Some(machine::Memory {
                total: total << 30,
                swap: swap << 30,
                cgroup_limit: None,
            })
        };
        // arm64 defconfig full LTO: 23685 MiB on a 23 GiB machine.
        let w = memory_warning(Some(23685 << 20), m(23, 0)).expect("warned");
        assert!(w.contains("peaked at 23685 MiB"), "{w}");
        assert!(w.contains("(23552 MiB of memory and 0 MiB of swap)"), "{w}");
        assert_eq!(memory_warning(Some(23685 << 20), m(23, 16)), None);
        assert_eq!(memory_warning(Some(1 << 30), m(23, 0)), None);
        assert_eq!(memory_warning(None, m(1, 0)), None);
        assert_eq!(memory_warning(Some(64 << 30), None), None);
    }

    /// A build's peak is what earlier builds of the case recorded (the
    /// highest), else 1 GiB for tinyconfig and 4 GiB for anything bigger.
    #[test]
    fn a_builds_peak_is_estimated_from_earlier_builds_of_its_case() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(d.path())).unwrap();
        let entry = |key: &str, json: &str| {
            let dir = cache.build_dir(key);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(cache::COMPLETE), json).unwrap();
        };
        let meta = |case: &str, kib: u64| {
            format!(r#"{{"case": "{case}", "max_rss_kib": {kib}, "jobs": 2}}"#)
        };
        entry("k1", &meta("a", 500 << 10));
        entry("k2", &meta("a", 700 << 10));
        entry("k3", &meta("b", 2 << 20));
        entry("k4", "not json");
        assert_eq!(recorded_peak_bytes(&cache, "a"), Some(700 << 20));
        assert_eq!(recorded_peak_bytes(&cache, "c"), None);
        assert_eq!(estimated_peak_bytes(&cache, "b", "tinyconfig"), 2 << 30);
        assert_eq!(estimated_peak_bytes(&cache, "c", "tinyconfig"), 1 << 30);
        assert_eq!(estimated_peak_bytes(&cache, "c", "defconfig"), 4 << 30);
        let empty = Cache::open(Some(&d.path().join("empty"))).unwrap();
        assert_eq!(recorded_peak_bytes(&empty, "a"), None);
    }

    #[test]
    fn find_modules_normalises_dashes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("drivers/misc")).unwrap();
        std::fs::write(d.path().join("drivers/misc/my-mod.ko"), "").unwrap();
        std::fs::write(d.path().join("drivers/misc/my-mod.o"), "").unwrap();
        let m = find_modules(d.path());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, "my_mod");
    }
}
