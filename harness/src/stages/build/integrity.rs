//! Integrity of a published build: `checksums.sha256` (the format
//! `sha256sum -c` reads) holds the SHA-256 of every file of the entry,
//! `metadata.json` included, and is checked each time the entry is used.
//! A truncated vmlinux or an edited metadata.json is then rebuilt, never
//! judged. Entries published before checksums existed are sealed on first
//! use, under the entry's build lock (trusted once, as they were until
//! then).

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The checksum file of an entry.
pub const CHECKSUMS: &str = "checksums.sha256";

/// What checking an entry found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// Every file is as published.
    Intact,
    /// The entry has no checksums (published before they existed).
    Unsealed,
    /// A file differs from its checksum, is missing, or is not listed.
    Damaged(String),
}

/// Every regular file under `dir` but the checksum file, relative, sorted.
fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for e in std::fs::read_dir(&here).with_context(|| format!("reading {}", here.display()))? {
            let e = e.with_context(|| format!("reading {}", here.display()))?;
            let r = rel.join(e.file_name());
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(r);
            } else if ft.is_file() && r != Path::new(CHECKSUMS) {
                out.push(r);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn sha256(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The checksum file's text for `dir` as it is now.
pub fn compute(dir: &Path) -> Result<String> {
    let mut out = String::new();
    for rel in files(dir)? {
        out.push_str(&format!(
            "{}  {}\n",
            sha256(&dir.join(&rel))?,
            rel.display()
        ));
    }
    Ok(out)
}

/// Writes the checksum file of `dir` (before it is published).
pub fn seal(dir: &Path) -> Result<()> {
    let text = compute(dir)?;
    crate::host::cache::write_atomic(&dir.join(CHECKSUMS), text.as_bytes())
}

/// Checks `dir` against its checksum file.
pub fn check(dir: &Path) -> Result<Integrity> {
    let listed = match std::fs::read_to_string(dir.join(CHECKSUMS)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Integrity::Unsealed),
        Err(e) => {
            return Err(e).with_context(|| format!("reading {}", dir.join(CHECKSUMS).display()))
        }
    };
    let mut want: Vec<(String, String)> = Vec::new();
    for (n, line) in listed.lines().enumerate() {
        let Some((sum, rel)) = line.split_once("  ") else {
            return Ok(Integrity::Damaged(format!(
                "{CHECKSUMS}:{}: not `SHA256  FILE`",
                n + 1
            )));
        };
        want.push((rel.to_owned(), sum.to_owned()));
    }
    want.sort();
    let have = files(dir)?;
    for rel in &have {
        if !want.iter().any(|(r, _)| Path::new(r) == rel) {
            return Ok(Integrity::Damaged(format!(
                "{} is not in {CHECKSUMS}",
                rel.display()
            )));
        }
    }
    for (rel, sum) in &want {
        let p = dir.join(rel);
        if !p.is_file() {
            return Ok(Integrity::Damaged(format!("{rel} is missing")));
        }
        let now = sha256(&p)?;
        if &now != sum {
            return Ok(Integrity::Damaged(format!(
                "{rel} has changed since it was published (sha256 {} , expected {})",
                now.get(..12).unwrap_or(&now),
                sum.get(..12).unwrap_or(sum)
            )));
        }
    }
    Ok(Integrity::Intact)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("vmlinux"), vec![7u8; 5000]).unwrap();
        std::fs::write(d.path().join("metadata.json"), b"{\"key\":\"k\"}").unwrap();
        std::fs::create_dir(d.path().join("modules")).unwrap();
        std::fs::write(d.path().join("modules/a.ko"), b"ko").unwrap();
        d
    }

    #[test]
    fn a_sealed_entry_is_intact_and_sha256sum_reads_its_checksums() {
        let d = entry();
        seal(d.path()).unwrap();
        assert_eq!(check(d.path()).unwrap(), Integrity::Intact);
        let text = std::fs::read_to_string(d.path().join(CHECKSUMS)).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let ok = std::process::Command::new("sha256sum")
            .args(["-c", "--quiet", CHECKSUMS])
            .current_dir(d.path())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    #[test]
    fn a_truncated_vmlinux_an_edited_metadata_a_lost_or_extra_file_are_damage() {
        type Damage = (&'static str, fn(&Path));
        let cases: [Damage; 4] = [
            ("vmlinux has changed", |p| {
                std::fs::write(p.join("vmlinux"), vec![7u8; 100]).unwrap()
            }),
            ("metadata.json has changed", |p| {
                std::fs::write(p.join("metadata.json"), b"{\"key\":\"K\"}").unwrap()
            }),
            ("modules/a.ko is missing", |p| {
                std::fs::remove_file(p.join("modules/a.ko")).unwrap()
            }),
            ("image is not in", |p| {
                std::fs::write(p.join("image"), b"x").unwrap()
            }),
        ];
        for (want, damage) in cases {
            let d = entry();
            seal(d.path()).unwrap();
            damage(d.path());
            match check(d.path()).unwrap() {
                Integrity::Damaged(why) => assert!(why.contains(want), "{want}: {why}"),
                other => panic!("{want}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_entry_without_checksums_is_unsealed_until_sealed() {
        let d = entry();
        assert_eq!(check(d.path()).unwrap(), Integrity::Unsealed);
        seal(d.path()).unwrap();
        assert_eq!(check(d.path()).unwrap(), Integrity::Intact);
    }
}
