//! Kernels built elsewhere (`run --kernel-build PATH`): a kbuild `O=`
//! directory, a TuxMake output directory (`metadata.json`, `config`, the
//! image, `vmlinux.xz`, `modules.tar.xz`), a Debian `linux-image-*.deb`,
//! or a bare boot image with whatever lies beside it (`config`,
//! `System.map`, `vmlinux[.xz]`, a `modules/` directory or
//! `modules.tar.xz`). Each becomes a [`BuiltKernel`] whose missing parts
//! are `None`, so the checks that need them skip and say what was not
//! given. Packed parts are unpacked once into the cache
//! (`parts/external/<key>`), keyed by the file's path, size and mtime.

use super::{find_modules, infra, BuildError, BuildFiles, BuiltKernel};
use crate::host::cache::{self, Cache};
use crate::host::toolchain;
use crate::model::Arch;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `--kernel-build` pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A kbuild `O=` directory (`.config`, `vmlinux`, `arch/*/boot/*`).
    Kbuild,
    /// A TuxMake output directory.
    TuxMake,
    /// A Debian `linux-image-*.deb` (vmlinuz, config, modules; no vmlinux).
    DebianPackage,
    /// A boot image file, with what lies beside it.
    BareImage,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Kbuild => "kbuild O= directory",
            Layout::TuxMake => "TuxMake output directory",
            Layout::DebianPackage => "Debian linux-image package",
            Layout::BareImage => "boot image",
        }
    }
}

/// A kernel built elsewhere, ready to boot and judge.
#[derive(Debug, Clone)]
pub struct External {
    pub layout: Layout,
    pub kernel: BuiltKernel,
    /// Its arch, from its .config or its image's header, when either says.
    pub arch: Option<Arch>,
    /// What was not given (for the run's output): `no vmlinux`, ….
    pub missing: Vec<String>,
}

/// Opens what `--kernel-build` names; `arch` is the case's, when a case
/// was named (it picks the image name in a kbuild directory).
pub fn open(path: &Path, cache: &Cache, arch: Option<Arch>) -> Result<External, BuildError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| infra(anyhow::anyhow!("--kernel-build {}: {e}", path.display())))?;
    let found = if meta.is_dir() {
        if path.join(".config").is_file() {
            kbuild(path, arch)
        } else if path.join("metadata.json").is_file() && path.join("config").is_file() {
            tuxmake(path, cache)
        } else {
            Err(anyhow::anyhow!(
                "--kernel-build {}: neither a kbuild O= directory (no .config) nor a TuxMake \
                 output directory (no metadata.json and config)",
                path.display()
            ))
        }
    } else if path.extension().is_some_and(|e| e == "deb") {
        debian_package(path, cache)
    } else {
        bare_image(path, cache)
    };
    let mut ext = found.map_err(infra)?;
    ext.arch = ext
        .kernel
        .config
        .as_deref()
        .and_then(|c| std::fs::read_to_string(c).ok())
        .and_then(|t| arch_of_config(&t))
        .or_else(|| arch_of_image(&ext.kernel.image));
    if ext.kernel.vmlinux.is_none() {
        ext.missing.push("vmlinux".into());
    }
    if ext.kernel.config.is_none() {
        ext.missing.push(".config".into());
    }
    if ext.kernel.modules.is_empty() {
        ext.missing.push("modules".into());
    }
    Ok(ext)
}

fn external(layout: Layout, dir: &Path, image: PathBuf) -> External {
    External {
        layout,
        kernel: BuiltKernel {
            key: format!("external:{}", dir.display()),
            dir: dir.to_owned(),
            config: None,
            vmlinux: None,
            image,
            modules: Default::default(),
            metadata: None,
            metadata_path: None,
            log: None,
            files: BuildFiles::default(),
            reused: true,
        },
        arch: None,
        missing: vec![],
    }
}

/// The first of `names` that is a file in `dir`.
fn first_file(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

fn kbuild(dir: &Path, arch: Option<Arch>) -> Result<External> {
    let config = std::fs::read_to_string(dir.join(".config")).unwrap_or_default();
    let arch = arch
        .or_else(|| arch_of_config(&config))
        .context("cannot tell the arch of this build (no CONFIG_X86_64 or CONFIG_ARM64)")?;
    let profile = arch.profile();
    let image = dir.join(profile.boot_image);
    if !image.is_file() {
        bail!(
            "--kernel-build {}: no {} (is this an {} build directory?)",
            dir.display(),
            profile.boot_image,
            profile.name
        );
    }
    let mut ext = external(Layout::Kbuild, dir, image);
    ext.kernel.config = Some(dir.join(".config"));
    ext.kernel.vmlinux = Some(dir.join("vmlinux")).filter(|p| p.is_file());
    ext.kernel.modules = find_modules(dir).into_iter().collect();
    ext.kernel.files = BuildFiles::in_build_dir(dir, profile);
    Ok(ext)
}

fn tuxmake(dir: &Path, cache: &Cache) -> Result<External> {
    let image = first_file(dir, &["bzImage", "Image", "Image.gz", "zImage", "vmlinuz"])
        .with_context(|| format!("TuxMake output {} has no boot image", dir.display()))?;
    let unpacked = unpack_dir(cache, dir)?;
    let mut ext = external(Layout::TuxMake, dir, image);
    ext.kernel.config = Some(dir.join("config"));
    ext.kernel.log = first_file(dir, &["build.log"]);
    ext.kernel.vmlinux = vmlinux_beside(dir, &unpacked)?;
    ext.kernel.modules = modules_beside(dir, &unpacked)?;
    Ok(ext)
}

fn bare_image(image: &Path, cache: &Cache) -> Result<External> {
    let dir = image.parent().unwrap_or(Path::new("."));
    let unpacked = unpack_dir(cache, image)?;
    let mut ext = external(Layout::BareImage, dir, image.to_owned());
    ext.kernel.config = first_file(dir, &["config", ".config"]).or_else(|| {
        // Debian's /boot names: config-<release> beside vmlinuz-<release>.
        let name = image.file_name()?.to_str()?;
        let release = name.split_once('-').map(|(_, r)| r)?;
        first_file(dir, &[&format!("config-{release}")])
    });
    ext.kernel.vmlinux = vmlinux_beside(dir, &unpacked)?;
    ext.kernel.modules = modules_beside(dir, &unpacked)?;
    Ok(ext)
}

fn debian_package(deb: &Path, cache: &Cache) -> Result<External> {
    toolchain::require("dpkg-deb", "dpkg")?;
    let root = unpack_dir(cache, deb)?.join("root");
    if !root.join("boot").is_dir() {
        let tmp = cache.temp_dir("deb-")?;
        let out = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(tmp.path())
            .output()
            .context("running dpkg-deb")?;
        if !out.status.success() {
            bail!(
                "dpkg-deb -x {} failed: {}",
                deb.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        std::fs::create_dir_all(root.parent().unwrap_or(&root))?;
        let tmp = tmp.keep();
        if let Err(e) = std::fs::rename(&tmp, &root) {
            let _ = std::fs::remove_dir_all(&tmp);
            if !root.join("boot").is_dir() {
                return Err(e).context("moving the unpacked package into the cache");
            }
        }
    }
    let boot = root.join("boot");
    let named = |prefix: &str| -> Option<PathBuf> {
        std::fs::read_dir(&boot)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
    };
    let image = named("vmlinuz-")
        .or_else(|| named("vmlinux-"))
        .with_context(|| format!("{} has no boot/vmlinuz-*", deb.display()))?;
    let mut ext = external(Layout::DebianPackage, deb, image);
    ext.kernel.config = named("config-");
    // Debian's own System.map is a placeholder; vmlinux is in the -dbg package.
    ext.kernel.vmlinux = named("vmlinux-").filter(|p| arch_of_elf(p).is_some());
    ext.kernel.modules = find_modules(&root.join("lib/modules"))
        .into_iter()
        .chain(find_modules(&root.join("usr/lib/modules")))
        .collect();
    Ok(ext)
}

/// Where a packed file's parts are unpacked: `parts/external/<key>`, the
/// key from the file's canonical path, size and mtime.
fn unpack_dir(cache: &Cache, file: &Path) -> Result<PathBuf> {
    let canon = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    let m = std::fs::metadata(&canon)?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let path = canon.display().to_string();
    let size = m.len().to_string();
    let mtime = mtime.to_string();
    let key = cache::hash_parts([
        ("path", path.as_bytes()),
        ("size", size.as_bytes()),
        ("mtime", mtime.as_bytes()),
    ]);
    let dir = cache
        .parts_dir()
        .join("external")
        .join(key.get(..16).unwrap_or(&key));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `vmlinux` beside the image, or `vmlinux.xz` unpacked into `into`.
fn vmlinux_beside(dir: &Path, into: &Path) -> Result<Option<PathBuf>> {
    if let Some(v) = first_file(dir, &["vmlinux"]).filter(|p| arch_of_elf(p).is_some()) {
        return Ok(Some(v));
    }
    let Some(xz) = first_file(dir, &["vmlinux.xz"]) else {
        return Ok(None);
    };
    let out = into.join("vmlinux");
    if !out.is_file() {
        toolchain::require("xz", "xz-utils")?;
        let data = Command::new("xz")
            .arg("-dc")
            .arg(&xz)
            .output()
            .context("running xz")?;
        if !data.status.success() {
            bail!(
                "xz -dc {}: {}",
                xz.display(),
                String::from_utf8_lossy(&data.stderr).trim()
            );
        }
        cache::write_atomic(&out, &data.stdout)?;
    }
    Ok(Some(out))
}

/// A `modules/` directory beside the image, or `modules.tar.xz` unpacked.
fn modules_beside(dir: &Path, into: &Path) -> Result<std::collections::BTreeMap<String, PathBuf>> {
    if dir.join("modules").is_dir() {
        return Ok(find_modules(&dir.join("modules")).into_iter().collect());
    }
    let Some(tar) = first_file(dir, &["modules.tar.xz", "modules.tar.gz", "modules.tar"]) else {
        return Ok(Default::default());
    };
    let out = into.join("modules");
    if !out.join(".unpacked").is_file() {
        toolchain::require("tar", "tar")?;
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out)?;
        let st = Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&out)
            .output()
            .context("running tar")?;
        if !st.status.success() {
            bail!(
                "tar -xf {}: {}",
                tar.display(),
                String::from_utf8_lossy(&st.stderr).trim()
            );
        }
        std::fs::write(out.join(".unpacked"), b"")?;
    }
    Ok(find_modules(&out).into_iter().collect())
}

/// The arch a .config is for.
pub fn arch_of_config(config: &str) -> Option<Arch> {
    let has = |s: &str| config.lines().any(|l| l.trim() == format!("{s}=y"));
    if has("CONFIG_X86_64") {
        Some(Arch::X86_64)
    } else if has("CONFIG_ARM64") {
        Some(Arch::Arm64)
    } else {
        None
    }
}

/// The arch of a boot image from its header: x86's `HdrS` at 0x202, the
/// arm64 Image's `ARM\x64` at 0x38, or an ELF's machine.
pub fn arch_of_image(image: &Path) -> Option<Arch> {
    use std::io::Read;
    let mut head = vec![0u8; 0x240];
    let n = std::fs::File::open(image).ok()?.read(&mut head).ok()?;
    let head = &head[..n];
    if head.get(0x202..0x206) == Some(b"HdrS") {
        Some(Arch::X86_64)
    } else if head.get(0x38..0x3c) == Some(b"ARM\x64") {
        Some(Arch::Arm64)
    } else {
        arch_of_elf(image)
    }
}

/// The arch of an ELF file from its header's `e_machine`.
fn arch_of_elf(path: &Path) -> Option<Arch> {
    use std::io::Read;
    let mut head = [0u8; 20];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if &head[..4] != b"\x7fELF" {
        return None;
    }
    match u16::from_le_bytes([head[18], head[19]]) {
        62 => Some(Arch::X86_64),
        183 => Some(Arch::Arm64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, Cache) {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(Some(d.path())).unwrap();
        (d, c)
    }

    /// A bzImage-like header: `HdrS` at 0x202.
    fn x86_image(p: &Path) {
        let mut b = vec![0u8; 0x400];
        b[0x202..0x206].copy_from_slice(b"HdrS");
        std::fs::write(p, b).unwrap();
    }

    #[test]
    fn arches_come_from_config_and_image_headers() {
        assert_eq!(
            arch_of_config("CONFIG_ARM64=y\nCONFIG_X=m\n"),
            Some(Arch::Arm64)
        );
        assert_eq!(arch_of_config("# CONFIG_X86_64 is not set\n"), None);
        let d = tempfile::tempdir().unwrap();
        let x = d.path().join("bzImage");
        x86_image(&x);
        assert_eq!(arch_of_image(&x), Some(Arch::X86_64));
        let mut a = vec![0u8; 0x100];
        a[0x38..0x3c].copy_from_slice(b"ARM\x64");
        std::fs::write(d.path().join("Image"), a).unwrap();
        assert_eq!(arch_of_image(&d.path().join("Image")), Some(Arch::Arm64));
        std::fs::write(d.path().join("junk"), b"no").unwrap();
        assert_eq!(arch_of_image(&d.path().join("junk")), None);
    }

    #[test]
    fn a_bare_image_takes_what_lies_beside_it_and_says_what_is_missing() {
        let (_c, cache) = cache();
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("vmlinuz-6.1.0-56-amd64");
        x86_image(&img);
        std::fs::write(d.path().join("config-6.1.0-56-amd64"), "CONFIG_X86_64=y\n").unwrap();
        let e = open(&img, &cache, None).unwrap();
        assert_eq!(e.layout, Layout::BareImage);
        assert_eq!(e.arch, Some(Arch::X86_64));
        assert_eq!(
            e.kernel.config.as_deref(),
            Some(d.path().join("config-6.1.0-56-amd64").as_path())
        );
        assert_eq!(e.missing, ["vmlinux", "modules"]);
        // A modules directory beside it is found.
        let m = d.path().join("modules/kernel/lib");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("crc-itu-t.ko"), b"x").unwrap();
        let e = open(&img, &cache, None).unwrap();
        assert_eq!(e.kernel.modules.keys().collect::<Vec<_>>(), ["crc_itu_t"]);
        assert_eq!(e.missing, ["vmlinux"]);
    }

    #[test]
    fn a_tuxmake_dir_has_its_packed_parts_unpacked() {
        crate::skip_unless!(
            "a_tuxmake_dir_has_its_packed_parts_unpacked",
            crate::host::needs::Need::Tool {
                tool: "xz",
                package: "xz-utils"
            },
        );
        let (_c, cache) = cache();
        let d = tempfile::tempdir().unwrap();
        let t = d.path();
        std::fs::write(t.join("metadata.json"), "{}").unwrap();
        std::fs::write(t.join("config"), "CONFIG_ARM64=y\n").unwrap();
        std::fs::write(t.join("Image.gz"), b"\x1f\x8b").unwrap();
        // A tiny arm64 ELF header as vmlinux, xz-packed as TuxMake does.
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[18..20].copy_from_slice(&183u16.to_le_bytes());
        std::fs::write(t.join("vmlinux"), &elf).unwrap();
        let st = Command::new("xz").arg(t.join("vmlinux")).status().unwrap();
        assert!(st.success());
        let mods = t.join("m/lib/modules/6.12.0/kernel");
        std::fs::create_dir_all(&mods).unwrap();
        std::fs::write(mods.join("test_module.ko"), b"x").unwrap();
        let st = Command::new("tar")
            .args(["-cJf", "modules.tar.xz", "-C", "m", "lib"])
            .current_dir(t)
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::remove_dir_all(t.join("m")).unwrap();
        let e = open(t, &cache, None).unwrap();
        assert_eq!(e.layout, Layout::TuxMake);
        assert_eq!(e.arch, Some(Arch::Arm64));
        assert_eq!(e.kernel.image, t.join("Image.gz"));
        let v = e.kernel.vmlinux.clone().unwrap();
        assert_eq!(std::fs::read(&v).unwrap(), elf);
        assert!(e.kernel.modules.contains_key("test_module"));
        assert!(e.missing.is_empty(), "{:?}", e.missing);
        // A second open reuses what was unpacked.
        let again = open(t, &cache, None).unwrap();
        assert_eq!(again.kernel.vmlinux, Some(v));
    }

    #[test]
    fn a_directory_that_is_neither_is_refused_by_name() {
        let (_c, cache) = cache();
        let d = tempfile::tempdir().unwrap();
        let e = open(d.path(), &cache, None).unwrap_err().to_string();
        assert!(e.contains("neither a kbuild O= directory"), "{e}");
        let e = open(&d.path().join("nope"), &cache, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
    }
}
