//! Kernel source: the embedded default (Debian's linux-source-6.12
//! tarball, extracted once into the cache) or any tree given with
//! `--kernel-src` (a git checkout included), and its identity, which goes
//! into every cache key and every result.

use crate::host::cache::{self, Cache};
use crate::model::source::SourceIdentity;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tarball Debian's `linux-source-6.12` package installs.
pub const DEFAULT_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
pub const DEFAULT_TARBALL_PACKAGE: &str = "linux-source-6.12";

/// A kernel tree ready to be built out of tree.
#[derive(Debug, Clone, Serialize)]
pub struct KernelSource {
    pub root: PathBuf,
    pub identity: SourceIdentity,
    /// `VERSION.PATCHLEVEL.SUBLEVEL` from the top Makefile.
    pub version: String,
}

impl KernelSource {
    /// The default: Debian's tarball, extracted into the cache once.
    pub fn from_default_tarball(cache: &Cache) -> Result<KernelSource> {
        let tarball = Path::new(DEFAULT_TARBALL);
        if !tarball.is_file() {
            bail!(
                "{DEFAULT_TARBALL} not found: install the Debian package `{DEFAULT_TARBALL_PACKAGE}` \
                 (or run ci/setup), or pass --kernel-src DIR"
            );
        }
        Self::from_tarball(cache, tarball)
    }

    pub fn from_tarball(cache: &Cache, tarball: &Path) -> Result<KernelSource> {
        let sha256 = tarball_sha256(cache, tarball)?;
        let dest = cache.src_dir().join(&sha256[..24]);
        let _lock = cache.lock(&format!("src-{}", &sha256[..24]))?;
        if !dest.join(cache::COMPLETE).exists() {
            crate::host::toolchain::require("tar", "tar")?;
            crate::host::toolchain::require("xz", "xz-utils")?;
            let tmp = cache.temp_dir("src")?;
            let status = Command::new("tar")
                .args(["-xf"])
                .arg(tarball)
                .args(["--strip-components=1", "-C"])
                .arg(tmp.path())
                .status()
                .context("running tar")?;
            if !status.success() {
                bail!("extracting {} failed ({status})", tarball.display());
            }
            let identity = SourceIdentity::Tarball {
                path: tarball.to_owned(),
                sha256: sha256.clone(),
            };
            std::fs::write(
                tmp.path().join(cache::COMPLETE),
                serde_json::to_vec_pretty(&identity)?,
            )?;
            if dest.exists() {
                std::fs::remove_dir_all(&dest)?;
            }
            cache::publish_dir(&tmp.keep(), &dest)?;
        }
        let version = makefile_version(&dest)?;
        Ok(KernelSource {
            root: dest,
            identity: SourceIdentity::Tarball {
                path: tarball.to_owned(),
                sha256,
            },
            version,
        })
    }

    /// Any kernel tree: a git checkout or a plain directory.
    pub fn from_dir(dir: &Path) -> Result<KernelSource> {
        let root = dir
            .canonicalize()
            .with_context(|| format!("--kernel-src {}: no such directory", dir.display()))?;
        let version = makefile_version(&root)?;
        if !root.join("scripts/kconfig/merge_config.sh").is_file() {
            bail!(
                "{}: not a kernel tree (no scripts/kconfig/merge_config.sh)",
                root.display()
            );
        }
        if root.join(".config").exists() || root.join("include/config/auto.conf").exists() {
            bail!(
                "{}: the tree has been configured in place (.config exists); out-of-tree builds need \
                 a clean tree: run `make mrproper` there",
                root.display()
            );
        }
        let identity = if root.join(".git").exists() {
            git_identity(&root)?
        } else {
            SourceIdentity::Tree {
                fingerprint: tree_fingerprint(&root)?,
                path: root.clone(),
            }
        };
        Ok(KernelSource {
            root,
            identity,
            version,
        })
    }
}

fn makefile_version(root: &Path) -> Result<String> {
    let text = std::fs::read_to_string(root.join("Makefile"))
        .with_context(|| format!("{}: not a kernel tree (no Makefile)", root.display()))?;
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
        _ => bail!(
            "{}: Makefile has no VERSION/PATCHLEVEL/SUBLEVEL",
            root.display()
        ),
    }
}

/// The tarball's SHA-256, memoised by (path, size, mtime) so a warm run
/// does not re-read 150 MB.
fn tarball_sha256(cache: &Cache, tarball: &Path) -> Result<String> {
    let meta = tarball
        .metadata()
        .with_context(|| format!("reading {}", tarball.display()))?;
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
    let mut f = std::fs::File::open(tarball)?;
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut h, &buf[..n]);
    }
    let sum = hex::encode(sha2::Digest::finalize(h));
    cache::write_atomic(&memo, sum.as_bytes())?;
    Ok(sum)
}

pub(crate) fn git(root: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .with_context(|| "running git: install the Debian package `git`".to_string())?;
    if !out.status.success() {
        bail!(
            "git {} in {} failed: {}",
            args.join(" "),
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

fn git_identity(root: &Path) -> Result<SourceIdentity> {
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
fn tree_fingerprint(root: &Path) -> Result<String> {
    let mut entries: Vec<(PathBuf, u64, u128)> = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let ft = e.file_type()?;
            let p = e.path();
            if ft.is_dir() {
                if e.file_name() != ".git" {
                    stack.push(p);
                }
            } else {
                let m = e.metadata()?;
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
    fn configured_tree_is_refused() {
        let d = tempfile::tempdir().unwrap();
        fake_tree(d.path());
        std::fs::write(d.path().join(".config"), "").unwrap();
        let e = KernelSource::from_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("mrproper"), "{e}");
    }
}
