//! What the subcommands share: the options of everything that builds and
//! boots ([`CommonArgs`]), `run`'s arguments (also `bless`'s, and what
//! `gate` runs with), how kcidb.json is written ([`KcidbArgs`], also
//! `merge`'s), and the helpers that turn them into the library's
//! [`Environment`], [`RunOptions`] and [`KcidbOptions`].

use anyhow::Result;
use clap::Args;
use lto_harness::case::{self, Case};
use lto_harness::events::{Fanout, Reporter};
use lto_harness::host::cache::Cache;
use lto_harness::host::toolchain::Toolchain;
use lto_harness::output::kcidb::{self, KcidbOptions};
use lto_harness::output::lock::ResultsLock;
use lto_harness::output::writer::ResultsWriter;
use lto_harness::run::{Environment, RunOptions};
use lto_harness::stages::boot::Accel;
use lto_harness::stages::source::KernelSource;
use std::path::PathBuf;
use std::time::Duration;

/// Options shared by everything that builds and boots.
#[derive(Args)]
pub struct CommonArgs {
    /// Where results go.
    #[arg(long, value_name = "DIR", default_value = "lto-harness-results")]
    pub results: PathBuf,
    /// Kernel tree to build, or a kernel tarball (`.tar.xz`, `.tar.gz`)
    /// to extract into the cache (default: Debian's linux-source-6.12
    /// tarball).
    #[arg(long, value_name = "DIR|TARBALL")]
    pub kernel_src: Option<PathBuf>,
    /// Cache directory (default: $XDG_CACHE_HOME/lto-harness).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub toolchains: ToolchainArgs,
    /// make -j (default: the number of CPUs); at least 1.
    #[arg(long, short, value_parser = count)]
    pub jobs: Option<usize>,
    /// QEMU accelerator: `auto` boots the kernel under KVM for a few
    /// seconds first and falls back to TCG when it does not work.
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: Accel,
    /// History store to append to (default: $XDG_DATA_HOME/lto-harness/history.jsonl).
    #[arg(long, value_name = "FILE", env = "LTO_HARNESS_HISTORY")]
    pub history: Option<PathBuf>,
    /// Put a compiler cache in front of clang (`make CC="ccache clang-19"`);
    /// its hits and misses go in metadata.json. Share it between machines
    /// with the tool's own settings (CCACHE_DIR, SCCACHE_* backends).
    #[arg(long, value_enum, value_name = "TOOL")]
    pub cc_wrapper: Option<lto_harness::host::toolchain::CcWrapper>,
    /// Build every selected case at once, sharing one pool of `--jobs`
    /// job tokens (a GNU make jobserver) with the boots: each make joins
    /// the pool (no -jN), each boot holds a token, and a build starts only
    /// when its estimated peak memory fits beside the builds running.
    /// The default; the flag is kept for scripts that name it.
    #[arg(long)]
    pub pool: bool,
    /// Build one case after another, each `make -jN`, with boots beside
    /// (the order before the job pool; for comparison).
    #[arg(long, conflicts_with = "pool")]
    pub sequential: bool,
    #[command(flatten)]
    pub kcidb: KcidbArgs,
}

/// How kcidb.json is written, for submitting it to KernelCI.
#[derive(Args, Clone)]
pub struct KcidbArgs {
    /// KCIDB origin, as KernelCI issued it (lower-case letters, digits,
    /// `_`): every object's `origin` and the prefix of its ID.
    #[arg(long, value_name = "NAME", default_value = kcidb::DEFAULT_ORIGIN,
          value_parser = parse_origin)]
    pub kcidb_origin: String,
    /// The URL the results directory is published at: the logs and files
    /// kcidb.json names get `log_url`s (URL/<path in the results dir>).
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    pub artifact_base_url: Option<String>,
}

/// A count of things to run (`--jobs`, `--boots`, `--shards`, core
/// counts, ...): a whole number, at least 1. `--jobs 0` would be
/// `make -j0`, which make refuses; it is refused here, when the
/// arguments are parsed (exit 2).
pub fn count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1 (0 would run nothing)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("expected a whole number, at least 1: {e}")),
    }
}

/// A timeout in seconds, at least 1 (as a case file's `timeout:`): 0
/// would time out everything at once.
pub fn seconds(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1 second (0 would time out at once)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("expected whole seconds, at least 1: {e}")),
    }
}

fn parse_origin(s: &str) -> Result<String, String> {
    kcidb::check_origin(s).map(|()| s.to_owned())
}

fn parse_base_url(s: &str) -> Result<String, String> {
    kcidb::check_base_url(s).map(|()| s.to_owned())
}

/// How kcidb.json is written for results published from `results`.
pub fn kcidb_options(k: &KcidbArgs, results: &std::path::Path) -> Result<KcidbOptions> {
    KcidbOptions::new(&k.kcidb_origin, k.artifact_base_url.as_deref(), results)
}

/// The toolchain(s) a command builds with (`run`, `plan` and everything
/// that builds).
#[derive(Args)]
pub struct ToolchainArgs {
    /// make LLVM=: `1`, a version suffix such as `-19`, or a prefix dir
    /// ending in `/`. Several (`-16,-19,-22`, or the option repeated) make
    /// a toolchain matrix: every case once per toolchain, its result named
    /// `<case>+clang-<major>`.
    #[arg(
        long,
        default_value = "-19",
        value_delimiter = ',',
        env = "LTO_HARNESS_LLVM",
        allow_hyphen_values = true
    )]
    pub llvm: Vec<String>,
}

#[derive(Args)]
pub struct RunArgs {
    /// Cases to run (default: every case not tagged `slow`).
    pub names: Vec<String>,
    /// Also run cases tagged `slow`.
    #[arg(long)]
    pub include_slow: bool,
    /// Print the exact make and QEMU commands instead of running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop at the first failed case: start no more builds or boots, kill
    /// the ones running, and report every other case as not run (skipped).
    #[arg(long)]
    pub fail_fast: bool,
    /// Judge a kernel built elsewhere instead of building: a kbuild O=
    /// directory, a TuxMake output directory, a Debian linux-image .deb, or
    /// a boot image (with config, vmlinux[.xz], modules/ or modules.tar.xz
    /// beside it). With no case named, the kernel's own .config makes the
    /// case (`external-<arch>`).
    #[arg(long, value_name = "PATH", conflicts_with = "kernel_src")]
    pub kernel_build: Option<PathBuf>,
    /// Override every case's boot timeout, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub timeout: Option<u64>,
    /// Rewrite the initcall goldens from what the kernels did (see `bless`).
    #[arg(long)]
    pub bless: bool,
    /// Boot a kernel again up to N times when its boot or a runtime check
    /// fails or is incomplete; passing on a retry is reported as unstable.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: usize,
    /// Run only shard K of N of the selected cases (see `plan --shards`);
    /// cases that build the same kernel are in the same shard.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<lto_harness::ci::Shard>,
    /// How each kernel boots: `qemu` (the harness's own), `lava-run` (a
    /// LAVA job run here by LAVA's dispatcher), `lava-job` (write each
    /// case's LAVA job for a lab, kernel and initramfs beside it, and boot
    /// nothing; URLs under --artifact-base-url when given).
    #[arg(long, value_enum, default_value_t = Boot::Qemu)]
    pub boot: Boot,
    /// Judge the log of a LAVA job of the named case (a lab's output.yaml
    /// or lava-run's output) instead of booting: the same checks and
    /// result files as a local boot.
    #[arg(long, value_name = "FILE", conflicts_with = "boot")]
    pub lava_log: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `run --boot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Boot {
    Qemu,
    LavaRun,
    LavaJob,
}

/// The cases `names` picks out of `all` (every case not tagged `slow`
/// when empty, those too with `include_slow`).
pub fn select<'a>(all: &'a [Case], names: &[String], include_slow: bool) -> Result<Vec<&'a Case>> {
    case::select(all, names, include_slow).map_err(anyhow::Error::msg)
}

/// The history store: `--history` (or `$LTO_HARNESS_HISTORY`), else the default.
pub fn history_path(c: &CommonArgs) -> PathBuf {
    c.history
        .clone()
        .unwrap_or_else(lto_harness::history::default_path)
}

/// The cache, toolchain and kernel source every build-and-boot command needs.
pub fn environment(
    c: &CommonArgs,
    kernel_build: Option<&PathBuf>,
    timeout: Option<u64>,
) -> Result<(Environment, RunOptions)> {
    let cache = Cache::open(c.cache_dir.as_deref())?;
    let mut toolchains = Toolchain::detect_all(&c.toolchains.llvm)?.into_iter();
    let toolchain = toolchains
        .next()
        .ok_or_else(|| anyhow::anyhow!("no toolchain: give --llvm at least one value"))?;
    let source = match (kernel_build, &c.kernel_src) {
        (Some(_), _) => None,
        // A file is a kernel tarball (extracted into the cache once).
        (None, Some(file)) if file.is_file() => Some(KernelSource::from_tarball(&cache, file)?),
        (None, Some(dir)) => Some(KernelSource::from_dir(dir)?),
        (None, None) => Some(KernelSource::from_default_tarball(&cache)?),
    };
    let opts = run_options(c, kernel_build, timeout);
    let mut env = Environment::new(cache, source, toolchain);
    env.other_toolchains = toolchains.collect();
    Ok((env, opts))
}

/// The one toolchain of a command that builds with one (`series`,
/// `mutate`, `bisect`, `bench`): a matrix is refused, naming the command.
pub fn one_toolchain(c: &CommonArgs, command: &str) -> Result<Toolchain> {
    match c.toolchains.llvm.as_slice() {
        [one] => Toolchain::detect(one),
        many => anyhow::bail!(
            "{command} builds with one toolchain; --llvm names {} ({}): run it once per toolchain",
            many.len(),
            many.join(",")
        ),
    }
}

/// The toolchain labels of a matrix for naming case variants
/// ([`case::matrix`]): from `LLVM=-N` itself where it can, else from the
/// detected clang.
pub fn matrix_labels(llvms: &[String]) -> Result<Vec<(String, String)>> {
    llvms
        .iter()
        .map(|l| {
            let label = match lto_harness::host::toolchain::spelled_label(l) {
                Some(label) => label,
                None => Toolchain::detect(l)?.label(),
            };
            Ok((l.clone(), label))
        })
        .collect()
}

/// The run options the common arguments say (no blessing, no retries).
pub fn run_options(
    c: &CommonArgs,
    kernel_build: Option<&PathBuf>,
    timeout: Option<u64>,
) -> RunOptions {
    let jobs = c.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    RunOptions {
        results_dir: c.results.clone(),
        accel: c.accel,
        jobs,
        boot_jobs: lto_harness::host::machine::boot_jobs(jobs),
        kernel_build: kernel_build.cloned(),
        timeout: timeout.map(Duration::from_secs),
        bless: false,
        retries: 0,
        cc_wrapper: c.cc_wrapper,
        pool: !c.sequential,
        fail_fast: false,
        boot_via: lto_harness::run::BootVia::Qemu,
    }
}

/// The reporters of a command that writes results: the terminal's (or
/// plain lines in a CI log) and the results writer, which writes each run
/// into the directory its `RunFinished` names; and the lock that makes
/// this command the results directory's only writer while it runs.
pub struct Reporting {
    terminal: Box<dyn Reporter>,
    pub writer: ResultsWriter,
    _lock: ResultsLock,
}

impl Reporting {
    /// For results published from `results` (kcidb.json's URLs), which
    /// is locked for this process first ([`ResultsLock`]): another
    /// writer there is an error, naming it.
    pub fn new(k: &KcidbArgs, results: &std::path::Path) -> Result<Reporting> {
        let lock = ResultsLock::take(results)?;
        Ok(Reporting {
            terminal: lto_harness::events::for_stderr(),
            writer: ResultsWriter::new(kcidb_options(k, results)?),
            _lock: lock,
        })
    }

    /// Both, in order: every event to the terminal, then to the writer.
    pub fn fanout(&self) -> Fanout<'_> {
        Fanout(vec![self.terminal.as_ref(), &self.writer])
    }
}

/// `--kernel-src` as the git tree a command works in (`series`,
/// `bisect`), or an error saying that it is required.
pub fn git_tree(c: &CommonArgs, command: &str, what: &str) -> Result<PathBuf> {
    c.kernel_src
        .clone()
        .ok_or_else(|| anyhow::anyhow!("{command}: --kernel-src GIT_TREE is required ({what})"))
}
