//! Trials of the fault table: signals, races and damage during a build, kills during a boot, a full or read-only results directory, missing tools, a damaged tarball, damaged vmlinux files, a pooled link stopped mid-way.

use crate::common::*;
use libtest_mimic::Failed;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn a_build_survives_signals_races_and_damage() -> Result<(), Failed> {
    let dir = out_dir("fault-signals");
    // The donor of the seeded O= dir: the shipped kernel (cached).
    let out = run(harness(&[
        "run",
        "x86_64-lto-none",
        "--results",
        dir.join("donor").to_str().unwrap(),
    ]))?;
    ensure(out.status.success(), || describe(&out))?;
    let wt = dir.join("linux");
    let cached_tree = {
        let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
        let tree = kernel_git_tree()?;
        let _ = git(
            &tree,
            &["worktree", "remove", "--force", wt.to_str().unwrap()],
        );
        let _ = std::fs::remove_dir_all(&wt);
        git(&tree, &["worktree", "prune"])?;
        git(
            &tree,
            &[
                "worktree",
                "add",
                "--detach",
                wt.to_str().unwrap(),
                "master",
            ],
        )?;
        tree
    };
    let _remove = WorktreeGuard {
        tree: cached_tree,
        worktree: wt.clone(),
    };
    let stamp = format!(
        "\n/* lto-harness fault trial {} */\n",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let file = wt.join("init/version.c");
    let mut text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
    text.push_str(&stamp);
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    let start = |n: usize| {
        harness(&[
            "run",
            "x86_64-lto-none",
            "--kernel-src",
            wt.to_str().unwrap(),
            "--results",
            dir.join(format!("run{n}")).to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failed::from(e.to_string()))
    };
    // The O= dir's make, found by its command line (`O=<cache>/work/…-x86_64-lto-none`
    // with the worktree as its source: `-C <wt>`).
    let make_running = || {
        processes_mentioning(wt.to_str().unwrap())
            .iter()
            .any(|p| p.contains("make") && p.contains("O="))
    };
    for (n, sig, code) in [
        (1, "-INT", Some(130)),
        (2, "-TERM", Some(143)),
        (3, "-KILL", None),
    ] {
        let mut child = start(n)?;
        let seen = wait_for(Duration::from_secs(900), || {
            make_running() || matches!(child.try_wait(), Ok(Some(_)))
        });
        ensure(seen && make_running(), || {
            format!("run {n}: make never ran")
        })?;
        // Into the build, not its first instant.
        std::thread::sleep(Duration::from_secs(3));
        let t = Instant::now();
        signal(child.id(), sig);
        let exited = wait_for(Duration::from_secs(5), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        let status = child.wait().map_err(|e| e.to_string())?;
        ensure(exited, || format!("run {n}: still running 5 s after {sig}"))?;
        if let Some(code) = code {
            ensure(status.code() == Some(code), || {
                format!("run {n}: {sig} gave {status}, expected exit {code}")
            })?;
        }
        let clean = wait_for(Duration::from_secs(5), || {
            processes_mentioning(wt.to_str().unwrap()).is_empty()
        });
        ensure(clean, || {
            format!(
                "run {n}: {:.1} s after {sig}, processes left: {:?}",
                t.elapsed().as_secs_f64(),
                processes_mentioning(wt.to_str().unwrap())
            )
        })?;
        let published = std::fs::read_to_string(dir.join(format!("run{n}/results.json"))).is_ok();
        ensure(!published, || {
            format!("run {n}: wrote results although interrupted")
        })?;
    }
    // The next runs recover (locks, the half-made O= dir): two at once on
    // the same cache and kernel; one builds, the other waits for it and
    // reuses its kernel; both pass.
    let (a, b) = (start(4)?, start(5)?);
    let (a, b) = (
        a.wait_with_output().map_err(|e| e.to_string())?,
        b.wait_with_output().map_err(|e| e.to_string())?,
    );
    ensure(a.status.success() && b.status.success(), || {
        format!("concurrent runs: {} / {}", a.status, b.status)
    })?;
    let reused: Vec<bool> = [4, 5]
        .iter()
        .map(|n| {
            results(&dir.join(format!("run{n}")))
                .map(|r| r["cases"][0]["build"]["reused"] == true)
                .unwrap_or(false)
        })
        .collect();
    ensure(reused.iter().filter(|r| **r).count() == 1, || {
        format!("expected one run to build and one to reuse, reused: {reused:?}")
    })?;
    // A damaged cache entry (a truncated vmlinux, then an edited
    // metadata.json) is found by its checksums, rebuilt and never judged.
    let entry = results(&dir.join("run4"))?["cases"][0]["build"]["artifacts"]
        .as_str()
        .map(PathBuf::from)
        .ok_or("no artifacts in run 4's results")?;
    type Damage<'a> = (&'a str, &'a dyn Fn(&Path) -> std::io::Result<()>);
    let damages: [Damage; 2] = [
        ("vmlinux", &|e| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(e.join("vmlinux"))?;
            f.set_len(4096)
        }),
        ("metadata.json", &|e| {
            let m = std::fs::read_to_string(e.join("metadata.json"))?;
            std::fs::write(
                e.join("metadata.json"),
                m.replacen("\"jobs\": ", "\"jobs\": 1", 1),
            )
        }),
    ];
    for (n, (what, damage)) in damages.into_iter().enumerate() {
        damage(&entry).map_err(|e| format!("damaging {what}: {e}"))?;
        let res = dir.join(format!("damaged{n}"));
        let out = run(harness(&[
            "run",
            "x86_64-lto-none",
            "--kernel-src",
            wt.to_str().unwrap(),
            "--results",
            res.to_str().unwrap(),
        ]))?;
        let err = String::from_utf8_lossy(&out.stderr);
        let build = results(&res)?["cases"][0]["build"].clone();
        ensure(
            out.status.success()
                && err.contains(&format!("is damaged ({what} has changed"))
                && build["reused"] == false,
            || format!("damaged {what}: build {build}\n{}", describe(&out)),
        )?;
    }
    // The trial's kernel is unique to this run: do not keep it.
    let _ = std::fs::remove_dir_all(&entry);
    let _one_at_a_time = GIT_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let tree = kernel_git_tree()?;
    git(
        &tree,
        &["worktree", "remove", "--force", wt.to_str().unwrap()],
    )?;
    Ok(())
}

/// The fault table's boot rows, on the x86_64-hang fixture (init that
/// never ends): QEMU killed from outside mid-boot is `incomplete` (exit 2)
/// with its console log kept; the harness killed outright (SIGKILL)
/// mid-boot leaves no QEMU within 5 s.
pub(crate) fn kills_during_a_boot() -> Result<(), Failed> {
    let dir = out_dir("fault-boot");
    let start = |sub: &str| {
        harness(&[
            "run",
            "--cases",
            "harness/tests/fixtures/cases",
            "x86_64-hang",
            "--timeout",
            "300",
            "--results",
            dir.join(sub).to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Failed::from(e.to_string()))
    };
    let in_init = |sub: &str| {
        std::fs::read_to_string(dir.join(sub).join("x86_64-hang/console.log"))
            .unwrap_or_default()
            .contains("@@LTOH BEGIN")
    };
    let qemus = |sub: &str| qemu_processes_mentioning(dir.join(sub).to_str().unwrap());
    // QEMU killed from outside.
    let mut child = start("qemu-killed")?;
    ensure(
        wait_for(Duration::from_secs(1800), || {
            in_init("qemu-killed") || matches!(child.try_wait(), Ok(Some(_)))
        }) && in_init("qemu-killed"),
        || "the guest never started its init".into(),
    )?;
    for q in qemus("qemu-killed") {
        signal(
            q.split(':').next().unwrap_or("").parse().unwrap_or(0),
            "-KILL",
        );
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    ensure(status.code() == Some(2), || {
        format!("QEMU killed: harness exit {status}, expected 2")
    })?;
    let r = results(&dir.join("qemu-killed"))?;
    let boot = &r["cases"][0]["boot"];
    ensure(boot["status"] == "incomplete", || format!("boot: {boot}"))?;
    let log = std::fs::read_to_string(dir.join("qemu-killed/x86_64-hang/console.log"))
        .map_err(|e| format!("console log not kept: {e}"))?;
    ensure(log.contains("@@LTOH BEGIN"), || {
        "console log lost its lines".into()
    })?;
    // The harness killed outright.
    let mut child = start("harness-killed")?;
    ensure(
        wait_for(Duration::from_secs(1800), || {
            in_init("harness-killed") || matches!(child.try_wait(), Ok(Some(_)))
        }) && !qemus("harness-killed").is_empty(),
        || "no QEMU while the guest runs".into(),
    )?;
    signal(child.id(), "-KILL");
    let _ = child.wait();
    ensure(
        wait_for(Duration::from_secs(5), || {
            qemus("harness-killed").is_empty()
        }),
        || {
            format!(
                "QEMU outlived a SIGKILLed harness: {:?}",
                qemus("harness-killed")
            )
        },
    )
}

/// Unmounts a test's tmpfs however the test ends.
pub(crate) struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The fault table's results-directory rows: a run into a tmpfs passes;
/// with the tmpfs full, and then mounted read-only, a run exits 2 before
/// building or booting anything, with an error naming the directory, and
/// the previous run's results.json is byte for byte what it was. Needs
/// root (mount); CI runs as root.
pub(crate) fn results_dir_full_or_read_only() -> Result<(), Failed> {
    let dir = out_dir("fault-results").join("mnt");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let _ = Command::new("umount").arg("-l").arg(&dir).status();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&dir)
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    ensure(ok.success(), || {
        "mount -t tmpfs failed: this trial needs root".into()
    })?;
    let _unmount = Mounted(dir.clone());
    let d = dir.to_str().unwrap();
    let out = run(harness(&["run", "x86_64-lto-none", "--results", d]))?;
    ensure(out.status.success(), || describe(&out))?;
    let before = std::fs::read(dir.join("results.json")).map_err(|e| e.to_string())?;
    // Full: fill what is left.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=64"])
        .arg(format!("of={}", dir.join("filler").display()))
        .stderr(Stdio::null())
        .status();
    let out = run(harness(&["run", "x86_64-lto-none", "--results", d]))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2) && err.contains(d) && err.contains("disk full"),
        || format!("full results dir: {}", describe(&out)),
    )?;
    ensure(
        std::fs::read(dir.join("results.json")).ok() == Some(before.clone()),
        || "a run into a full directory changed the previous results.json".into(),
    )?;
    // Read-only.
    std::fs::remove_file(dir.join("filler")).map_err(|e| e.to_string())?;
    let ok = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&dir)
        .status()
        .map_err(|e| e.to_string())?;
    ensure(ok.success(), || "remount,ro failed".into())?;
    let out = run(harness(&["run", "x86_64-lto-none", "--results", d]))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2) && err.contains(d) && err.contains("Read-only"),
        || format!("read-only results dir: {}", describe(&out)),
    )?;
    ensure(
        std::fs::read(dir.join("results.json")).ok() == Some(before),
        || "a run into a read-only directory changed the previous results.json".into(),
    )
}

/// The fault table's input rows. A missing tool (QEMU, then clang) is an
/// error and exit 2 within seconds, before the source is even extracted,
/// naming the Debian package; a damaged kernel tarball is a clear
/// error naming it, exit 2, with nothing published in the cache.
pub(crate) fn missing_tools_and_a_damaged_tarball() -> Result<(), Failed> {
    let dir = out_dir("fault-inputs");
    // PATH with every tool but qemu-system-x86_64.
    let bin = dir.join("bin");
    let _ = std::fs::remove_dir_all(&bin);
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    for p in std::env::var("PATH").unwrap_or_default().split(':') {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let name = e.file_name();
            if name != "qemu-system-x86_64" && !bin.join(&name).exists() {
                let _ = std::os::unix::fs::symlink(e.path(), bin.join(&name));
            }
        }
    }
    let cache = dir.join("cache");
    // `run x86_64-lto-none` on the trial's cache with only `path` on PATH.
    let run_on_path = |path: &Path, results: &str| {
        let mut cmd = harness(&[
            "run",
            "x86_64-lto-none",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--results",
            dir.join(results).to_str().unwrap(),
        ]);
        cmd.env("PATH", path);
        run(cmd)
    };
    let t = Instant::now();
    let out = run_on_path(&bin, "r1")?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2)
            && err.contains("install the Debian package `qemu-system-x86`")
            && t.elapsed() < Duration::from_secs(20),
        || format!("no QEMU: {}", describe(&out)),
    )?;
    ensure(
        !cache.join("src").exists() && !cache.join("builds").exists(),
        || "the source was extracted or something built without QEMU".into(),
    )?;
    // Without clang (PATH without clang*, ld.lld* and llvm-*).
    let noclang = dir.join("bin-noclang");
    let _ = std::fs::remove_dir_all(&noclang);
    std::fs::create_dir_all(&noclang).map_err(|e| e.to_string())?;
    for e in std::fs::read_dir(&bin).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if !(n.starts_with("clang") || n.starts_with("ld.lld") || n.starts_with("llvm-")) {
            let _ = std::os::unix::fs::symlink(e.path(), noclang.join(&n));
        }
    }
    let _ = std::os::unix::fs::symlink(
        "/usr/bin/qemu-system-x86_64",
        noclang.join("qemu-system-x86_64"),
    );
    let out = run_on_path(&noclang, "r0")?;
    ensure(
        out.status.code() == Some(2)
            && String::from_utf8_lossy(&out.stderr)
                .contains("install the Debian package `clang-19 lld-19 llvm-19`"),
        || format!("no clang: {}", describe(&out)),
    )?;
    // A damaged tarball: Debian's, cut to 8 MiB.
    let bad = dir.join("linux-source-6.12.tar.xz");
    let data = std::fs::read("/usr/src/linux-source-6.12.tar.xz").map_err(|e| e.to_string())?;
    std::fs::write(&bad, &data[..8 << 20]).map_err(|e| e.to_string())?;
    let out = run(harness(&[
        "run",
        "x86_64-lto-none",
        "--kernel-src",
        bad.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--results",
        dir.join("r2").to_str().unwrap(),
    ]))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure(
        out.status.code() == Some(2)
            && err.contains(bad.to_str().unwrap())
            && err.contains("the tarball is damaged"),
        || format!("damaged tarball: {}", describe(&out)),
    )?;
    let published: Vec<_> = std::fs::read_dir(cache.join("src"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("metadata.json").exists())
        .map(|e| e.path())
        .collect();
    ensure(published.is_empty(), || {
        format!("a damaged tarball was published: {published:?}")
    })
}

/// The ELF readers on a real vmlinux (the shipped x86_64-lto-none and
/// arm64-lto-full-cfi kernels, from the cache), damaged where they look:
/// cut at its section headers, at the initcall tables and in the middle,
/// and with bits flipped in the ELF header, the section header table and
/// the sections the checks read. Each returns; none panics. (The property
/// tests do the same, many times over, on real modules.)
pub(crate) fn vmlinux_readers_survive_damage() -> Result<(), Failed> {
    use lto_harness::elf::*;
    use object::{Object, ObjectSection};
    struct Quiet;
    impl lto_harness::stages::build::BuildProgress for Quiet {
        fn phase(&self, _: &str, _: &str) {}
    }
    let err = |e: &dyn std::fmt::Display| Failed::from(e.to_string());
    let cache = lto_harness::host::cache::Cache::open(None).map_err(|e| err(&e))?;
    let source = lto_harness::stages::source::KernelSource::from_default_tarball(&cache)
        .map_err(|e| err(&e))?;
    let toolchain = lto_harness::host::toolchain::Toolchain::detect("-19").map_err(|e| err(&e))?;
    let builder = lto_harness::stages::build::Builder {
        cache: &cache,
        source: &source,
        toolchain: &toolchain,
        jobs: 2,
        cc_wrapper: None,
        harness: None,
    };
    let cases = lto_harness::case::load_dir(&repo().join("cases")).map_err(|e| err(&e))?;
    for case in ["x86_64-lto-none", "arm64-lto-full-cfi"] {
        let c = cases
            .iter()
            .find(|c| c.name == case)
            .ok_or("no such case")?;
        // The shipped kernel: cached by the case trials (built here if not).
        let plan = builder.plan(c).map_err(|e| err(&e))?;
        let kernel = builder.build(&plan, &Quiet).map_err(|e| err(&e))?;
        let vmlinux = kernel
            .vmlinux
            .as_ref()
            .ok_or("a cached build has vmlinux")?;
        let data = std::fs::read(vmlinux).map_err(|e| e.to_string())?;
        let arch = if case.starts_with("arm64") {
            lto_harness::arch::PROFILES[1]
        } else {
            lto_harness::arch::PROFILES[0]
        };
        // Where the readers look.
        let mut spots: Vec<usize> = vec![0, 4, 16, 18, 32, 40, 58, 60, 62];
        let file = object::File::parse(&*data).map_err(|e| e.to_string())?;
        for name in [
            ".init.data",
            "__ksymtab",
            "__kcrctab",
            "__mcount_loc",
            ".orc_unwind",
            ".notes",
            ".symtab",
            ".strtab",
        ] {
            if let Some(range) = file.section_by_name(name).and_then(|s| s.file_range()) {
                spots.push(range.0 as usize);
                spots.push((range.0 + range.1 / 2) as usize);
            }
        }
        let shoff = u64::from_le_bytes(data[40..48].try_into().unwrap_or_default()) as usize;
        spots.extend([shoff, shoff + 24, shoff + 64 + 24, data.len() - 8]);
        let read_all = |d: &[u8]| {
            let _ = initcalls::static_order_from_bytes(d);
            let _ = initcalls::table_labels(d);
            let _ = modversions::kernel_crcs(d);
            let _ = ftrace::vmlinux_mcount(d, arch);
            let _ = kcfi::kcfi_evidence(d, arch);
            let _ = notes::lto_note(d);
            let _ = orc::orc_facts(d);
            let _ = sections::llvm_suffixed(d);
            let _ = module::kernel_vermagic(d);
        };
        let mut n = 0;
        for &at in &spots {
            if at >= data.len() {
                continue;
            }
            let mut copy = data.clone();
            copy[at] ^= 0x40;
            copy[at.saturating_sub(1)] ^= 0x01;
            read_all(&copy);
            read_all(&data[..at]);
            n += 2;
        }
        ensure(n >= 20, || format!("{case}: only {n} damaged copies"))?;
    }
    Ok(())
}

/// A pooled link stopped mid-way (SIGTERM to `lto-harness link-in-pool`,
/// as when its make is killed) gives the tokens it took back and stops
/// its lld; one that ends on its own gives them back too and keeps lld's
/// exit code.
pub(crate) fn a_stopped_link_gives_its_tokens_back() -> Result<(), Failed> {
    use lto_harness::host::jobserver::{Pool, POOL_ENV};
    let dir = out_dir("link-stopped");
    let pool = Pool::new(4, None).map_err(|e| e.to_string())?;
    let path = pool.pipe_path().ok_or("no pool path")?;
    let pidfile = dir.join("ld.pid");
    let ld = dir.join("ld.lld-19");
    std::fs::write(
        &ld,
        format!(
            "#!/bin/sh\necho $$ > {}\ncase \"$*\" in *quick*) exit 7;; esac\nexec sleep 60\n",
            pidfile.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ld, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let want = (cores - 1).min(4);
    let link = |arg: &str| {
        let mut c = Command::new(BIN);
        c.args(["link-in-pool", ld.to_str().unwrap(), arg])
            .env(POOL_ENV, &path)
            .stdin(Stdio::null());
        c
    };
    // On its own: lld's exit code, every token back.
    let st = link("quick").status().map_err(|e| e.to_string())?;
    ensure(st.code() == Some(7), || format!("exit {st:?}, not lld's 7"))?;
    ensure(pool.available().ok() == Some(4), || {
        format!("{:?} tokens free after a link, not 4", pool.available())
    })?;
    // Stopped while lld runs.
    let _ = std::fs::remove_file(&pidfile);
    let mut child = link("slow").spawn().map_err(|e| e.to_string())?;
    let t = Instant::now();
    while !pidfile.exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let lld: i32 = std::fs::read_to_string(&pidfile)
        .map_err(|e| format!("lld did not start: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("lld's pid: {e}"))?;
    ensure(pool.available().ok() == Some(4 - want), || {
        format!(
            "{:?} tokens free while the link runs, not {}",
            pool.available(),
            4 - want
        )
    })?;
    // SAFETY: kill(2) on the child this trial started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().map_err(|e| e.to_string())?;
    ensure(st.code() == Some(128 + libc::SIGTERM), || {
        format!("exit {st:?}, not 128 + SIGTERM")
    })?;
    ensure(pool.available().ok() == Some(4), || {
        format!("{:?} tokens free after the stop, not 4", pool.available())
    })?;
    let t = Instant::now();
    // SAFETY: signal 0 only asks whether the process exists.
    while unsafe { libc::kill(lld, 0) } == 0 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    ensure(unsafe { libc::kill(lld, 0) } != 0, || {
        format!("lld ({lld}) outlived its stopped link")
    })?;
    Ok(())
}
