//! One writer per results directory: [`ResultsLock`], an exclusive
//! `flock` on `<dir>/.lto-harness.lock`, taken without waiting by every
//! command that writes results (`run`, `bless`, `gate` when it runs,
//! `series`, `bisect`, `mutate`, `bench`, `merge`) and held until it
//! exits. A second writer is refused at once, naming the directory and
//! the pid the lock file records, instead of renaming its result files
//! in among the first one's (two `merge`s into one directory left a
//! results.json that disagreed with junit.xml and results.ktap).
//!
//! The lock is the kernel's: it goes with the process that holds it
//! (killed or not), so a stale lock file is never in the way.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a results directory.
pub const LOCK_FILE: &str = ".lto-harness.lock";

/// The results directory is ours until this is dropped.
#[derive(Debug)]
pub struct ResultsLock {
    _file: File,
    dir: PathBuf,
}

/// Why a results directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "results directory {} is in use: another lto-harness{} is writing it (lock {}); \
         one writer per results directory: wait for it to finish, or give another --results",
        dir.display(),
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        dir.join(LOCK_FILE).display()
    )]
    Busy { dir: PathBuf, holder: Option<u32> },
    #[error("results directory {}: {what}: {error}", dir.display())]
    Io {
        dir: PathBuf,
        what: &'static str,
        error: std::io::Error,
    },
}

impl ResultsLock {
    /// Locks `dir` (created if need be) for this process, or says who has it.
    pub fn take(dir: &Path) -> Result<ResultsLock, LockError> {
        let io = |what, error| LockError::Io {
            dir: dir.to_owned(),
            what,
            error,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create it", e))?;
        let path = dir.join(LOCK_FILE);
        // A read-only directory still locks (flock needs no write access),
        // so its own error comes from the write probe that follows.
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .or_else(|e| File::open(&path).map_err(|_| e))
            .map_err(|e| io("cannot open its lock file", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Busy {
                    dir: dir.to_owned(),
                    holder: text.trim().parse().ok(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("cannot lock it", e)),
        }
        // Who holds it, for the next one's message; best effort (a full
        // disk is the write probe's to report).
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(ResultsLock {
            _file: file,
            dir: dir.to_owned(),
        })
    }

    /// The directory locked.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_naming_the_directory_and_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("res");
        let held = ResultsLock::take(&dir).unwrap();
        assert_eq!(held.dir(), dir);
        let e = ResultsLock::take(&dir).unwrap_err();
        assert!(
            matches!(e, LockError::Busy { holder: Some(p), .. } if p == std::process::id()),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("results directory {} is in use", dir.display()))
                && msg.contains(&format!("(pid {})", std::process::id()))
                && msg.contains(LOCK_FILE),
            "{msg}"
        );
        drop(held);
        ResultsLock::take(&dir).unwrap();
    }
}
