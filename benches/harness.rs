//! The harness's own hot paths: console parsing (MB/s over real captured
//! logs, repeated to ~8 MB), initramfs writing (cpio newc + gzip of a
//! real static busybox), and the initcall check: static extraction from a
//! real vmlinux (the first one in the harness's cache, or
//! `LTO_HARNESS_BENCH_VMLINUX`) and diffing a shipped golden.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lto_harness::console;
use lto_harness::stages::image::NewcWriter;
use std::io::Write;

fn big_log() -> Vec<u8> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../harness/tests/fixtures/console"
    );
    let mut one = Vec::new();
    for name in ["x86_64-tiny-none.log", "x86_64-tiny-full-cfi-lkdtm.log"] {
        one.extend(std::fs::read(format!("{dir}/{name}")).expect("console fixtures"));
    }
    let mut log = Vec::with_capacity(8 << 20);
    while log.len() < 8 << 20 {
        log.extend_from_slice(&one);
    }
    log
}

fn console_parsing(c: &mut Criterion) {
    let log = big_log();
    let mut g = c.benchmark_group("console");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.sample_size(20);
    g.bench_function("split_lines", |b| {
        b.iter(|| {
            let mut s = console::LineSplitter::new();
            let mut n = 0usize;
            for chunk in log.chunks(8192) {
                n += s.push(chunk).len();
            }
            n
        })
    });
    g.bench_function("parse_log", |b| b.iter(|| console::parse_log(&log).len()));
    g.finish();
}

/// A vmlinux to read: `LTO_HARNESS_BENCH_VMLINUX`, else the first cached build.
fn some_vmlinux() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("LTO_HARNESS_BENCH_VMLINUX") {
        return Some(p.into());
    }
    let cache = lto_harness::host::cache::Cache::open(None).ok()?;
    let mut dirs: Vec<_> = std::fs::read_dir(cache.root().join("builds"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("vmlinux"))
        .filter(|p| p.is_file())
        .collect();
    dirs.sort();
    dirs.into_iter().next()
}

fn initcall_checks(c: &mut Criterion) {
    use lto_harness::checks::golden::{self, Golden};
    use lto_harness::elf::initcalls;
    let mut g = c.benchmark_group("initcalls");
    g.sample_size(20);
    match some_vmlinux() {
        Some(path) => {
            let data = std::fs::read(&path).expect("vmlinux");
            eprintln!("initcalls/static_order: {} ({} MB)", path.display(), data.len() >> 20);
            g.throughput(Throughput::Bytes(data.len() as u64));
            g.bench_function("static_order", |b| {
                b.iter(|| initcalls::static_order_from_bytes(&data).unwrap().len())
            });
        }
        None => eprintln!(
            "initcalls/static_order: skipped, no vmlinux (build a case or set LTO_HARNESS_BENCH_VMLINUX)"
        ),
    }
    let golden_path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cases/golden/x86_64-defconfig.initcalls"
    ));
    let golden = Golden::load(golden_path).expect("shipped golden");
    let mut swapped = golden.entries.clone();
    let n = swapped.len();
    swapped.swap(n / 3, 2 * n / 3);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("compare_swapped_defconfig", |b| {
        b.iter(|| {
            golden::compare(&golden.entries, golden_path, &swapped, "bench")
                .expect("differs")
                .missing
        })
    });
    g.finish();
}

fn initramfs_writing(c: &mut Criterion) {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian busybox-static)");
    let mut g = c.benchmark_group("initramfs");
    g.throughput(Throughput::Bytes(busybox.len() as u64));
    for (name, level) in [
        ("gzip-fast", flate2::Compression::fast()),
        ("gzip-default", flate2::Compression::default()),
    ] {
        g.bench_with_input(BenchmarkId::new("write", name), &level, |b, &level| {
            b.iter(|| {
                let gz = flate2::write::GzEncoder::new(Vec::with_capacity(1 << 20), level);
                let mut w = NewcWriter::new(gz);
                w.dir("/bin", 0o755).unwrap();
                w.char_dev("/dev/console", 0o600, 5, 1).unwrap();
                w.file("/bin/busybox", 0o755, &busybox).unwrap();
                w.file("/init", 0o755, b"#!/bin/sh\nreboot -f\n").unwrap();
                let mut gz = w.finish().unwrap();
                gz.flush().unwrap();
                gz.finish().unwrap().len()
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    // criterion draws its plots with plotters, which needs a font here.
    lto_harness::dashboard::register_font().expect("fonts-dejavu-core");
    Criterion::default()
}

criterion_group! {
    name = benches;
    config = config();
    targets = console_parsing, initramfs_writing, initcall_checks
}
criterion_main!(benches);
