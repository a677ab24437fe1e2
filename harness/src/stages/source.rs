//! Kernel source: the embedded default (Debian's linux-source-6.12
//! tarball, extracted once into the cache) or any tree given with
//! `--kernel-src` (a git checkout included), and its identity, which goes
//! into every cache key and every result. Also the default source as a
//! git tree ([`default_git_tree`]), for what needs commits (`mutate`, the
//! series tests): made once in the cache, its commit the same everywhere.

use crate::host::cache::{self, Cache};
use crate::kseries::{self, Kconfig, KernelSeries};
use crate::model::source::{content_key, ContentOrigin, SourceIdentity};
use crate::model::Fault;
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// The tarball Debian's `linux-source-6.12` package installs.
pub const DEFAULT_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
pub const DEFAULT_TARBALL_PACKAGE: &str = "linux-source-6.12";

/// The branch the default git tree's one commit is on.
pub const DEFAULT_GIT_BRANCH: &str = "master";
/// Who commits the default git tree, and when: fixed, so that the same
/// tarball gives the same commit on every machine (and its kernels are
/// found in any cache that has them).
const GIT_TREE_NAME: &str = "lto-harness";
const GIT_TREE_EMAIL: &str = "lto-harness@localhost";
const GIT_TREE_DATE: &str = "2026-01-01T00:00:00Z";
/// Inside the git tree's `.git`: written last, holds the commit.
const GIT_TREE_READY: &str = "lto-harness-ready";
/// The [`ContentOrigin`] of a default git tree, in its `.git`.
const GIT_TREE_ORIGIN: &str = "lto-harness-origin.json";

/// Why a kernel tree could not be had. Each variant's message is the one
/// the user reads (with its cause after a `: ` under `{:#}`).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The packaged tarball is not installed.
    #[error(
        "{} not found: install the Debian package `{package}` (or run ci/setup), or pass --kernel-src DIR",
        path.display()
    )]
    MissingTarball { path: PathBuf, package: String },
    /// A host tool the extraction needs is not in PATH.
    #[error(
        "`{tool}` not found in PATH: install the Debian package `{package}` (or run ci/setup)"
    )]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    /// The `--kernel-src` directory does not exist (or cannot be resolved).
    #[error("--kernel-src {}: no such directory", path.display())]
    NotADirectory {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// The directory is not a kernel tree: see [`TreeDefect`].
    #[error("{}: {defect}", root.display())]
    NotAKernelTree {
        root: PathBuf,
        defect: TreeDefect,
        /// Why the top Makefile could not be read, when that is the defect.
        #[source]
        error: Option<std::io::Error>,
    },
    /// The tree has an in-tree `.config` (or `include/config/auto.conf`),
    /// which kbuild refuses for `O=` builds.
    #[error(
        "{}: the tree has been configured in place (.config exists); out-of-tree builds need \
         a clean tree: run `make mrproper` there",
        root.display()
    )]
    ConfiguredInTree { root: PathBuf },
    /// A git command exited non-zero.
    #[error("git {} in {} failed: {stderr}", args.join(" "), root.display())]
    Git {
        args: Vec<String>,
        root: PathBuf,
        stderr: String,
    },
    /// `tar` ran but could not extract the tarball.
    #[error("extracting {} failed ({status}): {detail}; the tarball is damaged or not a kernel tarball", tarball.display())]
    Extract {
        tarball: PathBuf,
        status: ExitStatus,
        /// tar's first complaint.
        detail: String,
    },
    /// An I/O error (running a tool included), with what was being done.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
    /// The cache failed: its lock, a temporary directory, publishing.
    #[error(transparent)]
    Cache(anyhow::Error),
}

/// What makes a directory not a kernel tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TreeDefect {
    #[error("not a kernel tree (no Makefile)")]
    NoMakefile,
    #[error("Makefile has no VERSION/PATCHLEVEL/SUBLEVEL")]
    NoVersion,
    #[error("not a kernel tree (no scripts/kconfig/merge_config.sh)")]
    NoMergeConfig,
}

impl SourceError {
    /// Whose fault it is: always [`Fault::Harness`]. A missing tarball, a
    /// failed git or I/O error is the machine's; a directory that is not a
    /// kernel tree or is configured in place is the user's input. In no
    /// case has a kernel been built, so nothing can be said about it: the
    /// step is incomplete, never failed.
    pub fn fault(&self) -> Fault {
        Fault::Harness
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SourceError {
    let what = what.into();
    move |error| SourceError::Io { what, error }
}

/// A kernel tree ready to be built out of tree.
#[derive(Debug, Clone, Serialize)]
pub struct KernelSource {
    pub root: PathBuf,
    pub identity: SourceIdentity,
    /// `VERSION.PATCHLEVEL.SUBLEVEL` from the top Makefile.
    pub version: String,
    /// What the tree's series names and where it puts things: its row of
    /// the series table, corrected by the tree's own Kconfig.
    #[serde(skip)]
    pub series: KernelSeries,
    /// For a checkout of (a worktree of) the default git tree: the commit
    /// that is the tarball's files, and the tarball's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<ContentOrigin>,
    /// The files that differ from the origin commit (changed or untracked),
    /// when there is an origin and git could say.
    #[serde(skip)]
    pub changed_since_origin: Option<Vec<PathBuf>>,
}

impl KernelSource {
    /// The default: Debian's tarball, extracted into the cache once.
    pub fn from_default_tarball(cache: &Cache) -> Result<KernelSource, SourceError> {
        Self::from_packaged_tarball(cache, Path::new(DEFAULT_TARBALL), DEFAULT_TARBALL_PACKAGE)
    }

    /// A tarball a Debian package installs: [`SourceError::MissingTarball`]
    /// naming `package` when it is not there.
    fn from_packaged_tarball(
        cache: &Cache,
        tarball: &Path,
        package: &str,
    ) -> Result<KernelSource, SourceError> {
        if !tarball.is_file() {
            return Err(SourceError::MissingTarball {
                path: tarball.to_owned(),
                package: package.to_owned(),
            });
        }
        Self::from_tarball(cache, tarball)
    }

    pub fn from_tarball(cache: &Cache, tarball: &Path) -> Result<KernelSource, SourceError> {
        let sha256 = tarball_sha256(cache, tarball)?;
        let dest = cache.src_dir().join(&sha256[..24]);
        let _lock = cache
            .lock(&format!("src-{}", &sha256[..24]))
            .map_err(SourceError::Cache)?;
        if !dest.join(cache::COMPLETE).exists() {
            require("tar", "tar")?;
            require("xz", "xz-utils")?;
            let tmp = cache.temp_dir("src").map_err(SourceError::Cache)?;
            let out = Command::new("tar")
                .args(["-xf"])
                .arg(tarball)
                .args(["--strip-components=1", "-C"])
                .arg(tmp.path())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .output()
                .map_err(io("running tar"))?;
            if !out.status.success() {
                // `tmp` goes with the error: nothing is published.
                return Err(SourceError::Extract {
                    tarball: tarball.to_owned(),
                    status: out.status,
                    detail: String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("(tar printed nothing)")
                        .chars()
                        .take(200)
                        .collect(),
                });
            }
            let identity = SourceIdentity::Tarball {
                path: tarball.to_owned(),
                sha256: sha256.clone(),
            };
            let marker = tmp.path().join(cache::COMPLETE);
            let writing = format!("writing {}", marker.display());
            let json =
                serde_json::to_vec_pretty(&identity).map_err(|e| io(writing.clone())(e.into()))?;
            std::fs::write(&marker, json).map_err(io(writing))?;
            if dest.exists() {
                std::fs::remove_dir_all(&dest)
                    .map_err(io(format!("removing {}", dest.display())))?;
            }
            cache::publish_dir(&tmp.keep(), &dest).map_err(SourceError::Cache)?;
        }
        let version = makefile_version(&dest)?;
        let series = tree_series(&dest, &version);
        Ok(KernelSource {
            series,
            root: dest,
            identity: SourceIdentity::Tarball {
                path: tarball.to_owned(),
                sha256,
            },
            version,
            origin: None,
            changed_since_origin: None,
        })
    }

    /// What builds of this tree are cached under: the default git tree's
    /// root commit, clean, shares the tarball's builds.
    pub fn cache_key(&self) -> String {
        content_key(&self.identity, self.origin.as_ref())
    }

    /// Any kernel tree: a git checkout or a plain directory.
    pub fn from_dir(dir: &Path) -> Result<KernelSource, SourceError> {
        let root = dir
            .canonicalize()
            .map_err(|error| SourceError::NotADirectory {
                path: dir.to_owned(),
                error,
            })?;
        let version = makefile_version(&root)?;
        if !root.join("scripts/kconfig/merge_config.sh").is_file() {
            return Err(SourceError::NotAKernelTree {
                root,
                defect: TreeDefect::NoMergeConfig,
                error: None,
            });
        }
        if root.join(".config").exists() || root.join("include/config/auto.conf").exists() {
            return Err(SourceError::ConfiguredInTree { root });
        }
        let (identity, origin) = if root.join(".git").exists() {
            (git_identity(&root)?, read_origin(&root))
        } else {
            let fingerprint = tree_fingerprint(&root)?;
            let path = root.clone();
            (SourceIdentity::Tree { fingerprint, path }, None)
        };
        let changed_since_origin = origin
            .as_ref()
            .and_then(|o| changed_since(&root, &o.commit));
        let series = tree_series(&root, &version);
        Ok(KernelSource {
            series,
            root,
            identity,
            version,
            origin,
            changed_since_origin,
        })
    }

    /// What a configuration made from this tree is memoised under: the
    /// origin's key when the tree differs from its origin only in files
    /// kconfig never reads (a mutant's or a series point's patch to a
    /// script or a C file configures exactly as the tarball does), else
    /// [`KernelSource::cache_key`].
    pub fn config_key(&self) -> String {
        match (&self.origin, &self.changed_since_origin) {
            (Some(o), Some(changed)) if !changed.iter().any(|p| affects_kconfig(p)) => {
                o.key.clone()
            }
            _ => self.cache_key(),
        }
    }
}

/// Changed and untracked files of the checkout `root` against `commit`.
fn changed_since(root: &Path, commit: &str) -> Option<Vec<PathBuf>> {
    let diff = git(root, &["diff", "--name-only", commit]).ok()?;
    let untracked = git(root, &["ls-files", "--others", "--exclude-standard"]).ok()?;
    Some(
        String::from_utf8_lossy(&diff)
            .lines()
            .chain(String::from_utf8_lossy(&untracked).lines())
            .map(PathBuf::from)
            .collect(),
    )
}

/// Whether `make <base>`, `merge_config.sh` or `olddefconfig` can read
/// `path` (relative to the tree): every `Kconfig*` file, kconfig itself,
/// the config fragments and defconfigs, the Makefiles the config targets
/// include, and the scripts Kconfig runs (`$(shell,…)`, `$(success,…)`).
/// Conservative: anything else under `scripts/` that is a shell or Python
/// script counts too.
pub fn affects_kconfig(path: &Path) -> bool {
    let s = path.to_string_lossy();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let parts: Vec<&str> = s.split('/').collect();
    name.starts_with("Kconfig")
        || s.starts_with("scripts/kconfig/")
        || s.starts_with("kernel/configs/")
        || s.contains("/configs/") && s.starts_with("arch/")
        || s.starts_with("arch/") && parts.get(2) == Some(&"tools")
        || matches!(
            s.as_ref(),
            "Makefile"
                | "scripts/Kbuild.include"
                | "scripts/Makefile.compiler"
                | "scripts/Makefile.lib"
        )
        || parts.len() == 3 && parts[0] == "arch" && parts[2] == "Makefile"
        || s.starts_with("scripts/")
            && (name.ends_with(".sh")
                || name.ends_with(".py")
                || s.starts_with("scripts/dummy-tools/"))
}

/// A git tree of a kernel source: where, its branch and its commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitTree {
    pub path: PathBuf,
    pub branch: String,
    pub commit: String,
}

/// The default source (Debian's tarball) as a git tree: one commit on
/// [`DEFAULT_GIT_BRANCH`] holding every file of the extracted tarball,
/// made once into `src/<sha256>-git` in the cache (about a minute) and
/// kept. The author, committer, dates and message are fixed and the
/// user's git configuration is not read, so the commit is the same on
/// every machine: kernels built from it (or from patches applied to it)
/// are found in any cache that has them.
pub fn default_git_tree(cache: &Cache) -> Result<GitTree, SourceError> {
    let src = KernelSource::from_default_tarball(cache)?;
    git_tree_of(cache, &src)
}

/// A kernel source that is not a git tree (a tarball, or a plain
/// directory) committed once as a git tree in the cache, for the features
/// that work in a worktree (mutate). A git tree is returned as it is.
pub fn git_tree_for(cache: &Cache, path: &Path) -> Result<Option<GitTree>, SourceError> {
    if path.join(".git").exists() {
        return Ok(None);
    }
    let src = if path.is_file() {
        KernelSource::from_tarball(cache, path)?
    } else {
        KernelSource::from_dir(path)?
    };
    git_tree_of(cache, &src).map(Some)
}

/// `src` (an extracted tarball) committed as a git tree beside it.
fn git_tree_of(cache: &Cache, src: &KernelSource) -> Result<GitTree, SourceError> {
    let id = match &src.identity {
        SourceIdentity::Tarball { sha256, .. } => sha256.get(..24).unwrap_or(sha256).to_owned(),
        other => cache::hash_parts([("source", other.key().as_bytes())])[..24].to_owned(),
    };
    let dest = cache.src_dir().join(format!("{id}-git"));
    let ready = dest.join(".git").join(GIT_TREE_READY);
    let _lock = cache
        .lock(&format!("src-{id}-git"))
        .map_err(SourceError::Cache)?;
    if let Some(tree) = read_ready(&dest, &ready) {
        write_origin(&dest.join(".git"), &tree.commit, &src.identity)?;
        return Ok(tree);
    }
    require("git", "git")?;
    let tmp = cache.temp_dir("src-git").map_err(SourceError::Cache)?;
    let repo = tmp.path();
    fixed_git(repo, &["init", "-q", "-b", DEFAULT_GIT_BRANCH])?;
    let git_dir = format!("--git-dir={}", repo.join(".git").display());
    let work_tree = format!("--work-tree={}", src.root.display());
    // -f: Debian's top-level .gitignore ignores everything. The cache's
    // own marker is not part of the kernel.
    let exclude = format!(":(top,exclude){}", cache::COMPLETE);
    fixed_git(
        repo,
        &[&git_dir, &work_tree, "add", "-A", "-f", "--", ".", &exclude],
    )?;
    let from = match &src.identity {
        SourceIdentity::Tarball { path, .. } => path.file_name(),
        _ => src.root.file_name(),
    };
    let message = format!(
        "Linux {} ({})",
        src.version,
        from.map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    fixed_git(repo, &["commit", "-q", "--no-verify", "-m", &message])?;
    // The files, from the commit.
    fixed_git(repo, &["reset", "-q", "--hard"])?;
    let commit = String::from_utf8_lossy(&fixed_git(repo, &["rev-parse", "HEAD"])?)
        .trim()
        .to_owned();
    write_origin(&repo.join(".git"), &commit, &src.identity)?;
    let marker = repo.join(".git").join(GIT_TREE_READY);
    std::fs::write(&marker, format!("{commit}\n"))
        .map_err(io(format!("writing {}", marker.display())))?;
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(io(format!("removing {}", dest.display())))?;
    }
    let made = tmp.keep();
    std::fs::rename(&made, &dest).map_err(io(format!(
        "moving {} to {}",
        made.display(),
        dest.display()
    )))?;
    Ok(GitTree {
        path: dest,
        branch: DEFAULT_GIT_BRANCH.to_owned(),
        commit,
    })
}

/// Records in `git_dir` that `commit` is `from`'s files (once: trees made
/// before the record existed get it the next time they are used).
fn write_origin(git_dir: &Path, commit: &str, from: &SourceIdentity) -> Result<(), SourceError> {
    let path = git_dir.join(GIT_TREE_ORIGIN);
    if path.exists() {
        return Ok(());
    }
    let origin = ContentOrigin {
        commit: commit.to_owned(),
        key: from.key(),
    };
    let writing = format!("writing {}", path.display());
    let json = serde_json::to_vec_pretty(&origin).map_err(|e| io(writing.clone())(e.into()))?;
    cache::write_atomic(&path, &json).map_err(|e| io(writing)(std::io::Error::other(e)))
}

/// The origin record of the repository `root` is a checkout (or linked
/// worktree) of, if it is a default git tree.
fn read_origin(root: &Path) -> Option<ContentOrigin> {
    let common = git(root, &["rev-parse", "--git-common-dir"]).ok()?;
    let common = PathBuf::from(String::from_utf8_lossy(&common).trim());
    let text = std::fs::read_to_string(root.join(common).join(GIT_TREE_ORIGIN)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The git tree at `dest` when its marker says it is whole.
fn read_ready(dest: &Path, ready: &Path) -> Option<GitTree> {
    let commit = std::fs::read_to_string(ready).ok()?.trim().to_owned();
    (commit.len() == 40).then(|| GitTree {
        path: dest.to_owned(),
        branch: DEFAULT_GIT_BRANCH.to_owned(),
        commit,
    })
}

/// Runs git in `root` with nothing of the user's configuration and the
/// fixed identity and dates of [`default_git_tree`].
fn fixed_git(root: &Path, args: &[&str]) -> Result<Vec<u8>, SourceError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(root)
        .args(["-c", "core.autocrlf=false", "-c", "commit.gpgSign=false"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", GIT_TREE_NAME)
        .env("GIT_AUTHOR_EMAIL", GIT_TREE_EMAIL)
        .env("GIT_AUTHOR_DATE", GIT_TREE_DATE)
        .env("GIT_COMMITTER_NAME", GIT_TREE_NAME)
        .env("GIT_COMMITTER_EMAIL", GIT_TREE_EMAIL)
        .env("GIT_COMMITTER_DATE", GIT_TREE_DATE)
        .stdin(std::process::Stdio::null());
    git_output(cmd, root, args)
}

/// A host tool extraction needs, as [`SourceError::MissingTool`].
fn require(tool: &'static str, package: &'static str) -> Result<(), SourceError> {
    match crate::host::toolchain::find_in_path(tool) {
        Some(_) => Ok(()),
        None => Err(SourceError::MissingTool { tool, package }),
    }
}

/// The series of the tree at `root` whose Makefile says `version`: its
/// table row, corrected by whichever of [`kseries::KCONFIG_FILES`] the tree
/// has (none readable: the row alone).
pub fn tree_series(root: &Path, version: &str) -> KernelSeries {
    let texts: Vec<String> = kseries::KCONFIG_FILES
        .iter()
        .filter_map(|f| std::fs::read(root.join(f)).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    let kconfig = (!texts.is_empty()).then(|| Kconfig::parse(texts.iter().map(String::as_str)));
    KernelSeries::resolve(version, kconfig.as_ref())
}

/// The version a tree's top Makefile names (`7.1.5`), if it is a kernel
/// tree.
pub fn tree_version(root: &Path) -> Option<String> {
    makefile_version(root).ok()
}

fn makefile_version(root: &Path) -> Result<String, SourceError> {
    let text = std::fs::read_to_string(root.join("Makefile")).map_err(|error| {
        SourceError::NotAKernelTree {
            root: root.to_owned(),
            defect: TreeDefect::NoMakefile,
            error: Some(error),
        }
    })?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.trim_start().strip_prefix('='))
            })
            .map(|v| v.trim().to_owned())
    };
    match (field("VERSION"), field("PATCHLEVEL"), field("SUBLEVEL")) {
        (Some(v), Some(p), Some(s)) => Ok(format!("{v}.{p}.{s}")),
        _ => Err(SourceError::NotAKernelTree {
            root: root.to_owned(),
            defect: TreeDefect::NoVersion,
            error: None,
        }),
    }
}

/// The tarball's SHA-256, memoised by (path, size, mtime) so a warm run
/// does not re-read 150 MB.
fn tarball_sha256(cache: &Cache, tarball: &Path) -> Result<String, SourceError> {
    let reading = || io(format!("reading {}", tarball.display()));
    let meta = tarball.metadata().map_err(reading())?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let memo_key = cache::hash_parts([
        ("path", tarball.as_os_str().as_encoded_bytes()),
        ("size", &meta.len().to_le_bytes()),
        ("mtime", &mtime.to_le_bytes()),
    ]);
    let memo = cache.src_dir().join(format!("{}.sha256", &memo_key[..24]));
    if let Ok(s) = std::fs::read_to_string(&memo) {
        if s.trim().len() == 64 {
            return Ok(s.trim().to_owned());
        }
    }
    let mut f = std::fs::File::open(tarball).map_err(reading())?;
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(reading())?;
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut h, &buf[..n]);
    }
    let sum = hex::encode(sha2::Digest::finalize(h));
    cache::write_atomic(&memo, sum.as_bytes()).map_err(SourceError::Cache)?;
    Ok(sum)
}

/// Runs `git -C root args...` and returns its stdout.
pub(crate) fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>, SourceError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(root).args(args);
    git_output(cmd, root, args)
}

/// Runs a git command (`args` in `root`, for the error) and returns its
/// stdout, or [`SourceError::Git`] with its stderr.
fn git_output(mut cmd: Command, root: &Path, args: &[&str]) -> Result<Vec<u8>, SourceError> {
    let out = cmd
        .output()
        .map_err(io("running git: install the Debian package `git`"))?;
    if !out.status.success() {
        return Err(SourceError::Git {
            args: args.iter().map(|a| a.to_string()).collect(),
            root: root.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

fn git_identity(root: &Path) -> Result<SourceIdentity, SourceError> {
    let commit = String::from_utf8_lossy(&git(root, &["rev-parse", "HEAD"])?)
        .trim()
        .to_owned();
    let diff = git(root, &["diff", "HEAD", "--binary"])?;
    let untracked = git(root, &["ls-files", "--others", "--exclude-standard"])?;
    let dirty = !diff.is_empty() || !untracked.is_empty();
    let diff_sha256 =
        dirty.then(|| cache::hash_parts([("diff", &diff[..]), ("untracked", &untracked[..])]));
    Ok(SourceIdentity::Git {
        path: root.to_owned(),
        commit,
        dirty,
        diff_sha256,
    })
}

/// Path, size and mtime of every file under `root` (skipping `.git`).
fn tree_fingerprint(root: &Path) -> Result<String, SourceError> {
    let mut entries: Vec<(PathBuf, u64, u128)> = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let reading = || io(format!("reading {}", dir.display()));
        for e in std::fs::read_dir(&dir).map_err(reading())? {
            let e = e.map_err(reading())?;
            let p = e.path();
            let reading_p = || io(format!("reading {}", p.display()));
            let ft = e.file_type().map_err(reading_p())?;
            if ft.is_dir() {
                if e.file_name() != ".git" {
                    stack.push(p);
                }
            } else {
                let m = e.metadata().map_err(reading_p())?;
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                entries.push((
                    p.strip_prefix(root).unwrap_or(&p).to_owned(),
                    m.len(),
                    mtime,
                ));
            }
        }
    }
    entries.sort();
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    for (p, len, mtime) in entries {
        sha2::Digest::update(&mut h, p.as_os_str().as_encoded_bytes());
        sha2::Digest::update(&mut h, len.to_le_bytes());
        sha2::Digest::update(&mut h, mtime.to_le_bytes());
    }
    Ok(hex::encode(sha2::Digest::finalize(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tree(dir: &Path) {
        std::fs::create_dir_all(dir.join("scripts/kconfig")).unwrap();
        std::fs::write(dir.join("scripts/kconfig/merge_config.sh"), "").unwrap();
        std::fs::write(
            dir.join("Makefile"),
            "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\n",
        )
        .unwrap();
    }

    #[test]
    fn plain_tree_identity_changes_when_a_file_changes() {
        let d = tempfile::tempdir().unwrap();
        fake_tree(d.path());
        let a = KernelSource::from_dir(d.path()).unwrap();
        assert_eq!(a.version, "6.12.117");
        std::fs::write(d.path().join("new.c"), "int x;").unwrap();
        let b = KernelSource::from_dir(d.path()).unwrap();
        assert_ne!(a.identity.key(), b.identity.key());
    }

    #[test]
    fn git_identity_records_commit_and_dirtiness() {
        crate::skip_unless!(
            "git_identity_records_commit_and_dirtiness",
            crate::host::needs::Need::Tool {
                tool: "git",
                package: "git"
            }
        );
        let d = tempfile::tempdir().unwrap();
        fake_tree(d.path());
        let run = |args: &[&str]| {
            assert!(Command::new("git")
                .arg("-C")
                .arg(d.path())
                .args(args)
                .output()
                .unwrap()
                .status
                .success());
        };
        run(&["init", "-q"]);
        run(&["add", "."]);
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ]);
        let clean = KernelSource::from_dir(d.path()).unwrap();
        let SourceIdentity::Git {
            dirty, ref commit, ..
        } = clean.identity
        else {
            panic!("not git: {:?}", clean.identity)
        };
        assert!(!dirty);
        assert_eq!(commit.len(), 40);
        std::fs::write(
            d.path().join("Makefile"),
            "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\n",
        )
        .unwrap();
        let dirty = KernelSource::from_dir(d.path()).unwrap();
        assert!(matches!(
            dirty.identity,
            SourceIdentity::Git { dirty: true, .. }
        ));
        assert_ne!(clean.identity.key(), dirty.identity.key());
    }

    #[test]
    fn the_default_git_tree_is_one_commit_the_same_in_every_cache() {
        use crate::host::needs::Need;
        crate::skip_unless!(
            "the_default_git_tree_is_one_commit_the_same_in_every_cache",
            Need::Tool {
                tool: "git",
                package: "git"
            },
            Need::Tool {
                tool: "tar",
                package: "tar"
            },
            Need::Tool {
                tool: "xz",
                package: "xz-utils"
            }
        );
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("linux-source-6.12");
        fake_tree(&top);
        std::fs::write(top.join(".gitignore"), "*\n").unwrap();
        let tarball = d.path().join("linux-source-6.12.tar.xz");
        assert!(Command::new("tar")
            .arg("-cJf")
            .arg(&tarball)
            .arg("-C")
            .arg(d.path())
            .arg("linux-source-6.12")
            .status()
            .unwrap()
            .success());
        let tree_in = |cache: &str| {
            let cache = Cache::open(Some(&d.path().join(cache))).unwrap();
            let src = KernelSource::from_tarball(&cache, &tarball).unwrap();
            git_tree_of(&cache, &src).unwrap()
        };
        let a = tree_in("a");
        let b = tree_in("b");
        assert_eq!(a.commit, b.commit, "the same commit in every cache");
        assert_ne!(a.path, b.path);
        assert_eq!(a.branch, "master");
        assert_eq!(tree_in("a"), a, "made once, then found");
        let files = String::from_utf8(git(&a.path, &["ls-files"]).unwrap()).unwrap();
        // Every file of the tarball (ignored ones too), not the cache's marker.
        assert_eq!(
            files.lines().collect::<Vec<_>>(),
            [".gitignore", "Makefile", "scripts/kconfig/merge_config.sh"]
        );
        let log = git(&a.path, &["log", "--format=%an <%ae> %aI %cn %cI %s"]).unwrap();
        assert_eq!(
            String::from_utf8(log).unwrap().trim(),
            "lto-harness <lto-harness@localhost> 2026-01-01T00:00:00Z lto-harness \
             2026-01-01T00:00:00Z Linux 6.12.117 (linux-source-6.12.tar.xz)"
        );
        // A kernel tree git knows, checked out and clean.
        let src = KernelSource::from_dir(&a.path).unwrap();
        assert!(matches!(
            src.identity,
            SourceIdentity::Git { dirty: false, ref commit, .. } if *commit == a.commit
        ));
    }

    #[test]
    fn configured_tree_is_refused() {
        let d = tempfile::tempdir().unwrap();
        fake_tree(d.path());
        std::fs::write(d.path().join(".config"), "").unwrap();
        let e = KernelSource::from_dir(d.path()).unwrap_err();
        assert!(matches!(e, SourceError::ConfiguredInTree { .. }), "{e:?}");
        assert!(e.to_string().contains("mrproper"), "{e}");
        assert_eq!(e.fault(), Fault::Harness);
    }

    #[test]
    fn kconfig_inputs_are_told_from_other_files() {
        for p in [
            "init/Kconfig",
            "arch/x86/Kconfig.cpu",
            "scripts/kconfig/conf.c",
            "kernel/configs/tiny.config",
            "arch/arm64/configs/defconfig",
            "arch/x86/Makefile",
            "Makefile",
            "scripts/Kconfig.include",
            "scripts/cc-can-link.sh",
            "scripts/dummy-tools/gcc",
            "arch/arm64/tools/gen-sysreg.awk",
        ] {
            assert!(affects_kconfig(Path::new(p)), "{p}");
        }
        // What the shipped mutants and series patches change.
        for p in [
            "scripts/generate_initcall_order.pl",
            "scripts/Makefile.build",
            "scripts/module.lds.S",
            "scripts/Makefile.vmlinux_o",
            "arch/x86/entry/vdso/Makefile",
            "arch/x86/power/Makefile",
            "include/linux/elfnote-lto.h",
            "init/main.c",
            "Documentation/process/changes.rst",
        ] {
            assert!(!affects_kconfig(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn missing_tarball_names_its_package() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(&d.path().join("cache"))).unwrap();
        let tarball = d.path().join("linux-source-6.12.tar.xz");
        let e = KernelSource::from_packaged_tarball(&cache, &tarball, DEFAULT_TARBALL_PACKAGE)
            .unwrap_err();
        let SourceError::MissingTarball {
            ref path,
            ref package,
        } = e
        else {
            panic!("not MissingTarball: {e:?}")
        };
        assert_eq!(path, &tarball);
        assert_eq!(package, DEFAULT_TARBALL_PACKAGE);
        assert_eq!(
            e.to_string(),
            format!(
                "{} not found: install the Debian package `linux-source-6.12` (or run ci/setup), \
                 or pass --kernel-src DIR",
                tarball.display()
            )
        );
        assert_eq!(e.fault(), Fault::Harness);
    }

    #[test]
    fn directory_without_makefile_is_not_a_kernel_tree() {
        let d = tempfile::tempdir().unwrap();
        let e = KernelSource::from_dir(d.path()).unwrap_err();
        assert!(
            matches!(
                e,
                SourceError::NotAKernelTree {
                    defect: TreeDefect::NoMakefile,
                    error: Some(_),
                    ..
                }
            ),
            "{e:?}"
        );
        let root = d.path().canonicalize().unwrap();
        assert_eq!(
            e.to_string(),
            format!("{}: not a kernel tree (no Makefile)", root.display())
        );
        // The cause follows under `{:#}`, as `.context` gave it before.
        let chain = format!("{:#}", anyhow::Error::from(e));
        assert!(chain.contains("(no Makefile): "), "{chain}");
    }

    #[test]
    fn missing_directory_and_missing_version_keep_their_messages() {
        let d = tempfile::tempdir().unwrap();
        let gone = d.path().join("gone");
        let e = KernelSource::from_dir(&gone).unwrap_err();
        assert!(matches!(e, SourceError::NotADirectory { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("--kernel-src {}: no such directory", gone.display())
        );
        std::fs::write(d.path().join("Makefile"), "VERSION = 6\n").unwrap();
        let e = KernelSource::from_dir(d.path()).unwrap_err();
        assert!(
            matches!(
                e,
                SourceError::NotAKernelTree {
                    defect: TreeDefect::NoVersion,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .ends_with(": Makefile has no VERSION/PATCHLEVEL/SUBLEVEL"),
            "{e}"
        );
    }

    #[test]
    fn failed_git_is_a_git_error() {
        crate::skip_unless!(
            "failed_git_is_a_git_error",
            crate::host::needs::Need::Tool {
                tool: "git",
                package: "git"
            }
        );
        let d = tempfile::tempdir().unwrap();
        let e = git(d.path(), &["rev-parse", "HEAD"]).unwrap_err();
        let SourceError::Git { ref args, .. } = e else {
            panic!("not Git: {e:?}")
        };
        assert_eq!(args, &["rev-parse", "HEAD"]);
        let prefix = format!("git rev-parse HEAD in {} failed: ", d.path().display());
        assert!(e.to_string().starts_with(&prefix), "{e}");
    }
}
