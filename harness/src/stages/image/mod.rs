//! Image: the initramfs each kernel boots, written in Rust as a gzip'd
//! cpio "newc" archive. It holds a static busybox for the target arch, the
//! case's modules taken from the build, `/dev/console`, and an `/init`
//! generated from the case that prints `@@LTOH` markers around every step
//! and ends with `reboot -f` (tinyconfig has no ACPI, so `poweroff` would
//! never make QEMU exit; with `-no-reboot` a reboot does).

use crate::arch::{ArchProfile, BusyboxSource};
use crate::case::{Case, CheckKind};
use crate::elf::modversions::{versions_section_range, MODVERSION_SIZE};
use crate::guest::init::{agent_init_script, init_script};
use crate::guest::protocol::flipped_module_path;
use crate::host::cache::Cache;
use crate::model::Fault;
use crate::stages::build::BuiltKernel;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A writer of the cpio "newc" format the kernel unpacks
/// (Documentation/driver-api/early-userspace/buffer-format.rst).
pub struct NewcWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl<W: Write> NewcWriter<W> {
    pub fn new(out: W) -> Self {
        NewcWriter {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    pub fn dir(&mut self, path: &str, perm: u32) -> std::io::Result<()> {
        self.entry(path, S_IFDIR | perm, 2, (0, 0), &[])
    }
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> std::io::Result<()> {
        self.entry(path, S_IFREG | perm, 1, (0, 0), data)
    }
    pub fn symlink(&mut self, path: &str, target: &str) -> std::io::Result<()> {
        self.entry(path, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes())
    }
    pub fn char_dev(
        &mut self,
        path: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> std::io::Result<()> {
        self.entry(path, S_IFCHR | perm, 1, (major, minor), &[])
    }

    /// Writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.next_ino = 0;
        self.entry("TRAILER!!!", 0, 1, (0, 0), &[])?;
        // Pad to a 512-byte block like GNU cpio (harmless, tidy).
        let pad = (512 - self.written % 512) % 512;
        self.out.write_all(&vec![0u8; pad as usize])?;
        Ok(self.out)
    }

    fn entry(
        &mut self,
        path: &str,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> std::io::Result<()> {
        let name = path.trim_start_matches('/');
        let ino = self.next_ino;
        if ino != 0 {
            self.next_ino += 1;
        }
        let header = format!(
            "070701{ino:08x}{mode:08x}{uid:08x}{gid:08x}{nlink:08x}{mtime:08x}{size:08x}\
             {dmaj:08x}{dmin:08x}{rmaj:08x}{rmin:08x}{namesize:08x}{check:08x}",
            uid = 0,
            gid = 0,
            mtime = 0,
            size = data.len(),
            dmaj = 0,
            dmin = 0,
            rmaj = rdev.0,
            rmin = rdev.1,
            namesize = name.len() + 1,
            check = 0,
        );
        self.write(header.as_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&[0])?;
        self.pad4()?;
        self.write(data)?;
        self.pad4()
    }

    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }
    fn pad4(&mut self) -> std::io::Result<()> {
        let pad = (4 - self.written % 4) % 4;
        self.write(&[0u8; 3][..pad as usize])
    }
}

/// Finds the static busybox for an arch: a host binary, or a foreign-arch
/// package unpacked into the cache (`ci/setup` downloads it).
pub fn busybox_for(arch: &ArchProfile, cache: &Cache) -> Result<PathBuf> {
    match &arch.busybox {
        BusyboxSource::Host { path, package } => {
            let p = PathBuf::from(path);
            if !p.is_file() {
                bail!("{path} not found: install the Debian package `{package}` (or run ci/setup)");
            }
            Ok(p)
        }
        BusyboxSource::ForeignDeb { package } => {
            let dir = cache.parts_dir().join(package.replace(':', "-"));
            let bin = dir.join("bin/busybox");
            if bin.is_file() {
                return Ok(bin);
            }
            unpack_foreign_deb(package, &dir, cache)?;
            if !bin.is_file() {
                bail!(
                    "{package} unpacked into {} but has no bin/busybox",
                    dir.display()
                );
            }
            Ok(bin)
        }
    }
}

/// `apt-get download PKG` + `dpkg -x`, into `dest`. Needs the foreign
/// architecture enabled (`dpkg --add-architecture arm64; apt-get update`),
/// which ci/setup does.
fn unpack_foreign_deb(package: &str, dest: &Path, cache: &Cache) -> Result<()> {
    let _lock = cache.lock(&format!("part-{}", package.replace(':', "-")))?;
    if dest.join("bin").exists() {
        return Ok(());
    }
    let tmp = cache.temp_dir("deb")?;
    let out = std::process::Command::new("apt-get")
        .args(["download", package])
        .current_dir(tmp.path())
        .output()
        .context("running apt-get download")?;
    if !out.status.success() {
        let arch = package.split(':').nth(1).unwrap_or("the foreign arch");
        bail!(
            "apt-get download {package} failed: {}\nhint: run ci/setup (it enables `dpkg --add-architecture {arch}` and runs apt-get update)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let deb = std::fs::read_dir(tmp.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download produced no .deb")?;
    let unpack = tmp.path().join("root");
    let st = std::process::Command::new("dpkg")
        .args(["-x"])
        .arg(&deb)
        .arg(&unpack)
        .status()
        .context("running dpkg -x")?;
    if !st.success() {
        bail!("dpkg -x {} failed", deb.display());
    }
    std::fs::create_dir_all(dest.parent().unwrap_or(Path::new(".")))?;
    std::fs::rename(&unpack, dest)?;
    Ok(())
}

/// The in-guest workload program's source (see images/workloads/).
pub const LTO_BENCH_C: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../images/workloads/lto-bench.c"
));

/// The vDSO probe's source (see images/probes/): looks up and calls the
/// vDSO's `clock_gettime` through `AT_SYSINFO_EHDR`.
pub const VDSO_PROBE_C: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../images/probes/vdso-probe.c"
));

/// Compiles `lto-bench` statically for `arch` with the kernel's clang,
/// cached by source, compiler and target.
pub fn guest_program(
    arch: &ArchProfile,
    toolchain: &crate::host::toolchain::Toolchain,
    cache: &Cache,
) -> Result<PathBuf> {
    compile_guest(
        arch,
        toolchain,
        cache,
        "lto-bench",
        "images/workloads/lto-bench.c",
        LTO_BENCH_C,
    )
}

/// Compiles `vdso-probe` (see [`VDSO_PROBE_C`]) for `arch`, cached likewise.
pub fn vdso_probe(
    arch: &ArchProfile,
    toolchain: &crate::host::toolchain::Toolchain,
    cache: &Cache,
) -> Result<PathBuf> {
    compile_guest(
        arch,
        toolchain,
        cache,
        "vdso-probe",
        "images/probes/vdso-probe.c",
        VDSO_PROBE_C,
    )
}

/// Compiles one static guest program from `source` (its repository path
/// `origin`, for errors) with the kernel's clang, cached under `parts/`.
fn compile_guest(
    arch: &ArchProfile,
    toolchain: &crate::host::toolchain::Toolchain,
    cache: &Cache,
    name: &str,
    origin: &str,
    source: &str,
) -> Result<PathBuf> {
    let key = crate::host::cache::hash_parts([
        ("src", source.as_bytes()),
        ("clang", toolchain.version.as_bytes()),
        ("target", arch.clang_target.as_bytes()),
    ]);
    let dir = cache.parts_dir().join(format!("{name}-{}", &key[..16]));
    let bin = dir.join(name);
    if bin.is_file() {
        return Ok(bin);
    }
    let _lock = cache.lock(&format!("part-{name}-{}", &key[..16]))?;
    if bin.is_file() {
        return Ok(bin);
    }
    let tmp = cache.temp_dir(name)?;
    let c = tmp.path().join(format!("{name}.c"));
    std::fs::write(&c, source)?;
    let out = std::process::Command::new(&toolchain.clang)
        .arg(format!("--target={}", arch.clang_target))
        .args(["-O2", "-static", "-fuse-ld=lld", "-Wall", "-o"])
        .arg(tmp.path().join(name))
        .arg(&c)
        .output()
        .with_context(|| format!("running {}", toolchain.clang.display()))?;
    if !out.status.success() {
        bail!(
            "compiling {origin} for {} failed (are the Debian packages {} installed? ci/setup installs them):\n{}",
            arch.name,
            arch.userspace_packages.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    std::fs::create_dir_all(cache.parts_dir())?;
    crate::host::cache::publish_dir(&tmp.keep(), &dir)?;
    Ok(bin)
}

/// Why an initramfs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The case needs a module the build did not produce: the kernel
    /// config's fault.
    #[error("case {case} lists module `{module}` but the build has no {module}.ko (built: {built}); is its CONFIG_ symbol set to m?")]
    MissingModule {
        case: String,
        module: String,
        /// The modules the build did produce, or `none`.
        built: String,
    },
    /// Reading the parts or writing the archive failed.
    #[error("{0:#}")]
    Incomplete(anyhow::Error),
}

impl ImageError {
    /// Whose fault it is: [`Fault::Kernel`] for a missing module.
    pub fn fault(&self) -> Fault {
        match self {
            ImageError::MissingModule { .. } => Fault::Kernel,
            ImageError::Incomplete(_) => Fault::Harness,
        }
    }
}

/// The `.ko` files the case's image needs, by module name, from the build.
fn image_modules<'k>(
    case: &Case,
    kernel: &'k BuiltKernel,
) -> Result<Vec<(String, &'k Path)>, ImageError> {
    case.image_modules()
        .into_iter()
        .map(|m| match kernel.modules.get(&m) {
            Some(p) => Ok((m, p.as_path())),
            None => {
                let built: Vec<&str> = kernel.modules.keys().map(String::as_str).collect();
                Err(ImageError::MissingModule {
                    case: case.name.clone(),
                    built: if built.is_empty() {
                        "none".to_string()
                    } else {
                        built.join(", ")
                    },
                    module: m,
                })
            }
        })
        .collect()
}

/// A copy of a module with the lowest bit of its first `__versions` CRC
/// flipped (the loader must refuse it: `disagrees about version of
/// symbol`), `None` when it has no versions.
pub fn with_flipped_crc(ko: &[u8]) -> Option<Vec<u8>> {
    let (offset, len) = versions_section_range(ko)?;
    if len < MODVERSION_SIZE as usize {
        return None;
    }
    let mut copy = ko.to_vec();
    *copy.get_mut(offset)? ^= 1;
    Some(copy)
}

/// Writes the case's initramfs (gzip'd newc) to `out`.
pub fn write_initramfs(
    case: &Case,
    kernel: &BuiltKernel,
    busybox: &Path,
    vdso_probe: Option<&Path>,
    out: &Path,
) -> Result<(), ImageError> {
    let programs: Vec<(&str, &Path)> = vdso_probe
        .map(|p| ("/bin/vdso-probe", p))
        .into_iter()
        .collect();
    write_image(case, kernel, busybox, &programs, false, out)
}

/// Writes a benchmark initramfs: the case's image plus `/bin/lto-bench`
/// and the agent `/init`.
pub fn write_bench_initramfs(
    case: &Case,
    kernel: &BuiltKernel,
    busybox: &Path,
    lto_bench: &Path,
    out: &Path,
) -> Result<(), ImageError> {
    write_image(
        case,
        kernel,
        busybox,
        &[("/bin/lto-bench", lto_bench)],
        true,
        out,
    )
}

fn write_image(
    case: &Case,
    kernel: &BuiltKernel,
    busybox: &Path,
    programs: &[(&str, &Path)],
    agent: bool,
    out: &Path,
) -> Result<(), ImageError> {
    let modules = image_modules(case, kernel)?;
    write_archive(case, &modules, busybox, programs, agent, out).map_err(ImageError::Incomplete)
}

/// The archive: busybox, the programs (guest path, host file), `/init`
/// (the bench agent's when `agent`) and the modules.
fn write_archive(
    case: &Case,
    modules: &[(String, &Path)],
    busybox: &Path,
    programs: &[(&str, &Path)],
    agent: bool,
    out: &Path,
) -> Result<()> {
    let bb = std::fs::read(busybox).with_context(|| format!("reading {}", busybox.display()))?;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    let mut w = NewcWriter::new(gz);
    for d in [
        "/bin",
        "/dev",
        "/proc",
        "/sys",
        "/tmp",
        "/lib",
        "/lib/modules",
    ] {
        w.dir(d, 0o755)?;
    }
    w.char_dev("/dev/console", 0o600, 5, 1)?;
    w.char_dev("/dev/null", 0o666, 1, 3)?;
    w.file("/bin/busybox", 0o755, &bb)?;
    w.symlink("/bin/sh", "busybox")?;
    for (guest, host) in programs {
        let prog = std::fs::read(host).with_context(|| format!("reading {}", host.display()))?;
        w.file(guest, 0o755, &prog)?;
    }
    let init = if agent {
        agent_init_script(case)
    } else {
        init_script(case)
    };
    w.file("/init", 0o755, init.as_bytes())?;
    let flipped = case
        .wants(CheckKind::Modversions)
        .then(|| case.flipped_module())
        .flatten();
    if flipped.is_some() {
        w.dir("/lib/modules/flipped", 0o755)?;
    }
    for (m, path) in modules {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        w.file(&format!("/lib/modules/{m}.ko"), 0o644, &data)?;
        if flipped.as_deref() == Some(m.as_str()) {
            // Without __versions there is nothing to flip: the probe's
            // insmod then fails to find the file, and modversions says so.
            if let Some(copy) = with_flipped_crc(&data) {
                w.file(&flipped_module_path(m), 0o644, &copy)?;
            }
        }
    }
    let gz = w.finish()?;
    gz.finish()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::needs::Need;

    #[test]
    fn a_module_the_build_lacks_is_the_kernels_fault_and_io_is_not() {
        let case = Case::parse(
            Path::new("/x/c.yaml"),
            "arch: x86_64\nlto: none\ncfi: off\nmodules: [test_module]\nchecks: [modules]\n",
        )
        .unwrap();
        let d = tempfile::tempdir().unwrap();
        let mut kernel = BuiltKernel {
            key: "k".into(),
            dir: d.path().into(),
            config: Some(d.path().join("config")),
            vmlinux: Some(d.path().join("vmlinux")),
            image: d.path().join("image"),
            modules: Default::default(),
            metadata: None,
            metadata_path: None,
            log: None,
            files: Default::default(),
            reused: true,
        };
        let bb = d.path().join("busybox");
        std::fs::write(&bb, "bb").unwrap();
        let out = d.path().join("initramfs.cpio.gz");
        let e = write_initramfs(&case, &kernel, &bb, None, &out).unwrap_err();
        assert!(
            matches!(e, ImageError::MissingModule { ref module, .. } if module == "test_module")
        );
        assert_eq!(e.fault(), Fault::Kernel);
        assert!(e.to_string().contains("built: none"), "{e}");
        // The module is there but unreadable: the harness's problem.
        kernel
            .modules
            .insert("test_module".into(), d.path().join("gone.ko"));
        let e = write_initramfs(&case, &kernel, &bb, None, &out).unwrap_err();
        assert_eq!(e.fault(), Fault::Harness, "{e}");
    }

    #[test]
    fn newc_layout_is_aligned_and_terminated() {
        let mut w = NewcWriter::new(Vec::new());
        w.dir("/dev", 0o755).unwrap();
        w.file("/init", 0o755, b"#!/bin/sh\n").unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out.len() % 512, 0);
        assert!(out.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("TRAILER!!!"));
        // Second header starts 4-aligned: 110-byte header + "dev\0" = 114 -> 116.
        assert_eq!(&out[116..122], b"070701");
        // File data is 4-aligned after its name.
        let init_at = text.find("init\0").unwrap();
        let data_at = (init_at + 5).div_ceil(4) * 4;
        assert_eq!(&out[data_at..data_at + 10], b"#!/bin/sh\n");
    }

    /// GNU cpio (Debian's `cpio`) reads back what we wrote, names, types and contents.
    #[test]
    fn gnu_cpio_reads_our_archive() {
        crate::skip_unless!(
            "gnu_cpio_reads_our_archive",
            Need::Tool {
                tool: "cpio",
                package: "cpio"
            }
        );
        let mut w = NewcWriter::new(Vec::new());
        w.dir("/bin", 0o755).unwrap();
        w.file("/bin/hello", 0o755, b"hello world\n").unwrap();
        w.symlink("/bin/sh", "hello").unwrap();
        w.char_dev("/dev/console", 0o600, 5, 1).unwrap();
        let out = w.finish().unwrap();
        let d = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("cpio")
            .args(["-tv", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&out).unwrap();
        let listing = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        assert!(listing.contains("bin/hello"), "{listing}");
        assert!(listing.contains("bin/sh -> hello"), "{listing}");
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with('c') && l.contains("5,") && l.contains("dev/console")),
            "{listing}"
        );
        let mut child = std::process::Command::new("cpio")
            .args(["-id", "--quiet", "--no-absolute-filenames", "bin/hello"])
            .current_dir(d.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&out).unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(
            std::fs::read(d.path().join("bin/hello")).unwrap(),
            b"hello world\n"
        );
    }

    #[test]
    fn a_flipped_copy_differs_in_one_bit_of_the_first_crc() {
        // A relocatable with a __versions section of one entry.
        let mut elf = crate::elf::testelf::TestElf::rel();
        let mut entry = vec![0u8; 64];
        entry[..4].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        entry[8..15].copy_from_slice(b"_printk");
        elf.progbits("__versions", 0x2, 0, &entry);
        let ko = elf.build();
        let flipped = with_flipped_crc(&ko).expect("has __versions");
        let diff: Vec<usize> = (0..ko.len()).filter(|i| ko[*i] != flipped[*i]).collect();
        assert_eq!(diff.len(), 1);
        assert_eq!(ko[diff[0]] ^ flipped[diff[0]], 1);
        let v = crate::elf::modversions::module_versions(&flipped)
            .unwrap()
            .unwrap();
        assert_eq!(v[0].crc, 0x1234_5679);
        // Nothing to flip without __versions, and garbage is not a module.
        assert!(with_flipped_crc(b"not an elf").is_none());
    }
}
