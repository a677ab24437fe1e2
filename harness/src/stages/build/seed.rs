//! Seeding: a git worktree's first build starts from the `O=` dir of a
//! finished build of the same files in another tree, so that the first
//! kernel of a patch series or of a mutant on the default git tree is an
//! incremental `make` off the tarball's build rather than a cold one.
//!
//! The default git tree's root commit holds exactly the tarball's files
//! ([`crate::model::source::ContentOrigin`]). A build of that commit, clean,
//! is the tarball's build (same cache key); a build of any other commit of
//! the tree with no `O=` dir of its own yet gets a copy of the tarball's
//! `O=` dir in which:
//!
//! * kbuild's records of the source path and of the `O=` path (`.*.cmd`
//!   and `.*.d` files, the generated `Makefile`, the `source` link) name
//!   this tree and this dir, so every saved command matches the one make
//!   is about to run (the kernel's own commands name only the source
//!   path; objtool's build, under `tools/`, names the `O=` dir too, and a
//!   rebuilt objtool would rebuild every object it checks);
//! * every copied file has one time, *now*, newer than any file of the
//!   worktree (all checked out before), so make takes every object as up
//!   to date…
//! * …except those built from what differs from the origin commit: the
//!   files `git diff --name-only <origin>` names (and untracked ones) are
//!   touched a second later, so make rebuilds exactly what a checkout of
//!   them in a built tree would have.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What seeding did, for the build log.
#[derive(Debug, Clone, PartialEq)]
pub struct Seeded {
    pub files: usize,
    pub rewritten: usize,
    pub touched_sources: usize,
}

/// Whether `donor` is a finished `O=` dir configured with `final_config`.
pub fn donor_is_usable(donor: &Path, final_config: &str) -> bool {
    donor.join("vmlinux").is_file()
        && std::fs::read_to_string(donor.join(".config"))
            .ok()
            .as_deref()
            == Some(final_config)
}

/// The source tree a kbuild `O=` dir was built from (its `source` link).
pub fn donor_source(donor: &Path) -> Option<PathBuf> {
    std::fs::read_link(donor.join("source")).ok()
}

/// Copies `donor` (an `O=` dir built from `donor_src`) to `dest` (which
/// must not exist) for building `src`, where `changed` (paths relative to
/// `src`) differ from what `donor` was built from.
pub fn seed(
    donor: &Path,
    donor_src: &Path,
    dest: &Path,
    src: &Path,
    changed: &[PathBuf],
) -> anyhow::Result<Seeded> {
    use anyhow::Context;
    let parent = dest.parent().context("seed destination has no parent")?;
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".seed-")
        .tempdir_in(parent)?;
    let copy = tmp.path().join("o");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(donor)
        .arg(&copy)
        .status()
        .context("running cp")?;
    anyhow::ensure!(
        status.success(),
        "cp -a {} {} failed ({status})",
        donor.display(),
        copy.display()
    );
    let now = SystemTime::now();
    let mut seeded = Seeded {
        files: 0,
        rewritten: 0,
        touched_sources: 0,
    };
    let renames = [
        (
            format!("{}/", donor_src.display()),
            format!("{}/", src.display()),
        ),
        (
            format!("{}/", donor.display()),
            format!("{}/", dest.display()),
        ),
    ];
    let mut stack = vec![copy.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let p = e.path();
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            if ft.is_symlink() {
                if p == copy.join("source") {
                    std::fs::remove_file(&p)?;
                    std::os::unix::fs::symlink(src, &p)?;
                }
                continue;
            }
            let top_makefile = p == copy.join("Makefile");
            if top_makefile || records_paths(&e.file_name().to_string_lossy()) {
                let mut bytes = std::fs::read(&p)?;
                let mut changed = false;
                for (from, to) in &renames {
                    if let Some(new) = replace_all(&bytes, from.as_bytes(), to.as_bytes()) {
                        bytes = new;
                        changed = true;
                    }
                }
                if changed {
                    std::fs::write(&p, bytes)?;
                    seeded.rewritten += 1;
                }
            }
            set_mtime(&p, now)?;
            seeded.files += 1;
        }
    }
    std::fs::rename(&copy, dest)
        .with_context(|| format!("moving {} to {}", copy.display(), dest.display()))?;
    let later = now + Duration::from_secs(1);
    for rel in changed {
        let p = src.join(rel);
        if p.is_file() {
            set_mtime(&p, later)?;
            seeded.touched_sources += 1;
        }
    }
    Ok(seeded)
}

/// kbuild's text records that name source files: `.foo.o.cmd`, `.foo.o.d`,
/// `auto.conf.cmd`.
fn records_paths(name: &str) -> bool {
    name.ends_with(".cmd") || (name.starts_with('.') && name.ends_with(".d"))
}

fn set_mtime(p: &Path, t: SystemTime) -> std::io::Result<()> {
    std::fs::File::options()
        .write(true)
        .open(p)
        .or_else(|_| std::fs::File::open(p))?
        .set_modified(t)
}

/// `hay` with every `from` replaced by `to`, or None when there is none.
fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    if from.is_empty() || !hay.windows(from.len()).any(|w| w == from) {
        return None;
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mtime(p: &Path) -> SystemTime {
        std::fs::metadata(p).unwrap().modified().unwrap()
    }

    #[test]
    fn replace_all_replaces_every_occurrence() {
        assert_eq!(
            replace_all(b"-I/a/x -I/a/y /b/a/", b"/a/", b"/long/"),
            Some(b"-I/long/x -I/long/y /b/long/".to_vec())
        );
        assert_eq!(replace_all(b"nothing", b"/a/", b"/b/"), None);
    }

    #[test]
    fn a_seeded_dir_names_the_new_tree_and_only_changed_sources_are_newer() {
        let d = tempfile::tempdir().unwrap();
        let (old_src, new_src) = (d.path().join("old-src"), d.path().join("new-src"));
        for s in [&old_src, &new_src] {
            std::fs::create_dir_all(s.join("init")).unwrap();
            std::fs::write(s.join("init/main.c"), "int x;").unwrap();
            std::fs::write(s.join("init/version.c"), "int v;").unwrap();
        }
        let donor = d.path().join("donor");
        std::fs::create_dir_all(donor.join("init")).unwrap();
        let old = old_src.display().to_string();
        std::fs::write(
            donor.join("init/.main.o.cmd"),
            format!("cmd_init/main.o := clang -I{old}/include -c {old}/init/main.c\n"),
        )
        .unwrap();
        std::fs::write(donor.join("init/main.o"), format!("\0bitcode {old}/init")).unwrap();
        std::fs::create_dir_all(donor.join("tools/objtool")).unwrap();
        let donor_o = donor.display().to_string();
        std::fs::write(
            donor.join("tools/objtool/.check.o.cmd"),
            format!("cmd := cc -I{donor_o}/tools/objtool/include -c {old}/tools/objtool/check.c\n"),
        )
        .unwrap();
        std::fs::write(donor.join("Makefile"), format!("include {old}/Makefile\n")).unwrap();
        std::os::unix::fs::symlink(&old_src, donor.join("source")).unwrap();
        std::fs::write(donor.join(".config"), "CONFIG_X=y\n").unwrap();
        std::fs::write(donor.join("vmlinux"), "elf").unwrap();
        assert!(donor_is_usable(&donor, "CONFIG_X=y\n"));
        assert!(!donor_is_usable(&donor, "CONFIG_Y=y\n"));
        assert_eq!(donor_source(&donor), Some(old_src.clone()));

        let dest = d.path().join("work").join("o");
        let s = seed(
            &donor,
            &old_src,
            &dest,
            &new_src,
            &[PathBuf::from("init/version.c"), PathBuf::from("gone.c")],
        )
        .unwrap();
        assert_eq!(s.rewritten, 3, "{s:?}");
        let new = new_src.display().to_string();
        let tools = std::fs::read_to_string(dest.join("tools/objtool/.check.o.cmd")).unwrap();
        assert_eq!(
            tools,
            format!(
                "cmd := cc -I{}/tools/objtool/include -c {new}/tools/objtool/check.c\n",
                dest.display()
            )
        );
        assert_eq!(s.touched_sources, 1);
        let cmd = std::fs::read_to_string(dest.join("init/.main.o.cmd")).unwrap();
        assert!(
            cmd.contains(&format!("-I{new}/include -c {new}/init/main.c")),
            "{cmd}"
        );
        assert!(!cmd.contains(&old), "{cmd}");
        // Objects are copied as they are, never edited.
        assert_eq!(
            std::fs::read(dest.join("init/main.o")).unwrap(),
            format!("\0bitcode {old}/init").into_bytes()
        );
        assert_eq!(std::fs::read_link(dest.join("source")).unwrap(), new_src);
        let obj = mtime(&dest.join("init/main.o"));
        assert_eq!(obj, mtime(&dest.join("init/.main.o.cmd")));
        assert!(mtime(&new_src.join("init/main.c")) <= obj);
        assert!(mtime(&new_src.join("init/version.c")) > obj);
        // The donor is untouched.
        assert!(std::fs::read_to_string(donor.join("init/.main.o.cmd"))
            .unwrap()
            .contains(&old));
    }
}
