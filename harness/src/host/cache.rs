//! The harness's cache directory: extracted kernel sources, per-case build
//! directories (`O=`), memoised final configs, and content-addressed build
//! artefacts. Entries are published by renaming a finished temporary
//! directory, so an interrupted build never leaves an entry that looks
//! complete; named locks (`flock`) keep concurrent harness runs from
//! building or publishing the same thing twice.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// An exclusive lock, released on drop.
pub struct Lock {
    _file: File,
}

impl Cache {
    /// `dir`, else `$XDG_CACHE_HOME/lto-harness`, else `~/.cache/lto-harness`.
    pub fn open(dir: Option<&Path>) -> Result<Cache> {
        let root = match dir {
            Some(d) => d.to_owned(),
            None => default_root()?,
        };
        for sub in ["src", "work", "configs", "builds", "locks", "tmp", "parts"] {
            std::fs::create_dir_all(root.join(sub)).with_context(|| {
                format!("creating cache directory {}", root.join(sub).display())
            })?;
        }
        Ok(Cache { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn src_dir(&self) -> PathBuf {
        self.root.join("src")
    }
    /// Where a case's kernel is configured and built (`make O=`).
    pub fn work_dir(&self, name: &str) -> PathBuf {
        self.root.join("work").join(name)
    }
    /// The memoised final `.config` for a config-input key.
    pub fn config_memo(&self, config_key: &str) -> PathBuf {
        self.root
            .join("configs")
            .join(format!("{config_key}.config"))
    }
    /// The published artefacts of a build key.
    pub fn build_dir(&self, key: &str) -> PathBuf {
        self.root.join("builds").join(key)
    }
    /// Parts fetched or unpacked from packages (e.g. a foreign-arch busybox).
    pub fn parts_dir(&self) -> PathBuf {
        self.root.join("parts")
    }
    /// A fresh private temporary directory inside the cache (same
    /// filesystem as the entries, so publishing is an atomic rename).
    pub fn temp_dir(&self, prefix: &str) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(self.root.join("tmp"))
            .context("creating a temporary directory in the cache")
    }

    /// Blocks until the named lock is ours.
    pub fn lock(&self, name: &str) -> Result<Lock> {
        let path = self.root.join("locks").join(format!("{name}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening lock {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(Lock { _file: file })
    }
}

fn default_root() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("lto-harness"));
    }
    let home = std::env::var_os("HOME")
        .context("neither XDG_CACHE_HOME nor HOME is set; pass --cache-dir")?;
    Ok(PathBuf::from(home).join(".cache/lto-harness"))
}

/// Atomically moves a finished directory into place. If another process
/// published the same entry first, ours is discarded (same inputs, same
/// content) and theirs is kept.
pub fn publish_dir(tmp: &Path, dest: &Path) -> Result<()> {
    match std::fs::rename(tmp, dest) {
        Ok(()) => Ok(()),
        Err(_) if dest.join(COMPLETE).exists() => {
            let _ = std::fs::remove_dir_all(tmp);
            Ok(())
        }
        Err(e) => {
            Err(e).with_context(|| format!("publishing {} as {}", tmp.display(), dest.display()))
        }
    }
}

/// A uniquely named temporary file beside `dest`, to be written in full
/// and then renamed onto it, with the mode a plain `File::create` would
/// give `dest`: the mode `dest` already has, or 0666 less the umask for a
/// new file (not a temporary file's 0600, which would hide results,
/// goldens and history from the CI user or web server that reads them).
pub fn staged_file(dest: &Path) -> Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(|| {
            format!(
                "writing {}: cannot create a file in {}",
                dest.display(),
                dir.display()
            )
        })?;
    if let Ok(m) = std::fs::metadata(dest) {
        tmp.as_file()
            .set_permissions(m.permissions())
            .with_context(|| format!("setting the mode of {}", tmp.path().display()))?;
    }
    Ok(tmp)
}

/// Writes `contents` to `dest` through a uniquely named temporary file in
/// the same directory and a rename ([`staged_file`]), so concurrent
/// writers (threads or processes) never see or steal each other's
/// half-written file.
pub fn write_atomic(dest: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut tmp = staged_file(dest)?;
    tmp.write_all(contents)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(dest)
        .with_context(|| format!("renaming into {}", dest.display()))?;
    Ok(())
}

/// The file whose presence marks a published entry as whole.
pub const COMPLETE: &str = "metadata.json";

/// A hex SHA-256 over labelled parts, so that moving bytes between parts
/// changes the key.
pub fn hash_parts<'a>(parts: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = Sha256::new();
    for (label, bytes) in parts {
        h.update(label.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_parts_separates_labels() {
        let a = hash_parts([("a", b"xy".as_slice()), ("b", b"z".as_slice())]);
        let b = hash_parts([("a", b"x".as_slice()), ("b", b"yz".as_slice())]);
        assert_ne!(a, b);
        assert_eq!(
            a,
            hash_parts([("a", b"xy".as_slice()), ("b", b"z".as_slice())])
        );
    }

    #[test]
    fn publish_keeps_first_complete_entry_and_drops_temp() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(root.path())).unwrap();
        let dest = cache.build_dir("k");
        let t1 = cache.temp_dir("b").unwrap();
        std::fs::write(t1.path().join(COMPLETE), "1").unwrap();
        publish_dir(&t1.keep(), &dest).unwrap();
        let t2 = cache.temp_dir("b").unwrap();
        std::fs::write(t2.path().join(COMPLETE), "2").unwrap();
        std::fs::write(t2.path().join("extra"), "x").unwrap();
        let t2p = t2.keep();
        publish_dir(&t2p, &dest).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join(COMPLETE)).unwrap(), "1");
        assert!(!t2p.exists());
    }

    /// Many threads of one process writing the same file at once: every
    /// write succeeds and the file is always one whole version.
    #[test]
    fn concurrent_atomic_writes_never_fail_or_tear() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("memo.config");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let dest = &dest;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(dest, &vec![b'a' + t; 4096]).unwrap();
                    }
                });
            }
        });
        let got = std::fs::read(&dest).unwrap();
        assert_eq!(got.len(), 4096);
        assert!(got.iter().all(|&b| b == got[0]));
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "temporary files left behind"
        );
    }

    /// A new file gets the mode `File::create` gives (not the temporary
    /// file's 0600); a rewritten file keeps the mode it had.
    #[test]
    fn atomic_writes_give_plain_file_modes() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let plain = d.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let new = d.path().join("results.json");
        write_atomic(&new, b"{}").unwrap();
        assert_eq!(mode(&new), mode(&plain));
        assert_ne!(
            mode(&new),
            0o600,
            "the umask here should leave group/other read"
        );
        let kept = d.path().join("golden");
        std::fs::write(&kept, "old").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&kept, b"new").unwrap();
        assert_eq!(mode(&kept), 0o640);
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "new");
    }

    #[test]
    fn lock_is_exclusive_across_handles() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(root.path())).unwrap();
        let held = cache.lock("x").unwrap();
        let path = root.path().join("locks/x.lock");
        let f = File::options().write(true).open(path).unwrap();
        assert!(f.try_lock().is_err());
        drop(held);
        assert!(f.try_lock().is_ok());
    }
}
