//! Guest workloads through criterion: one kernel (the case named by
//! `LTO_HARNESS_BENCH_CASE`, built or taken from the harness cache) is
//! booted once as a benchmark agent, and each workload is timed by the
//! guest itself via `iter_custom` (criterion picks the iteration counts).
//! The benchmark ids do not name the kernel, so baselines compare kernels:
//!
//!   LTO_HARNESS_BENCH_CASE=x86_64-lto-none     cargo bench -p lto-harness-benches --bench guest -- --save-baseline lto-none
//!   LTO_HARNESS_BENCH_CASE=x86_64-lto-full-cfi cargo bench -p lto-harness-benches --bench guest -- --baseline lto-none
//!
//! Times are host wall time of each sample under plain TCG, unless `LTO_HARNESS_BENCH_ICOUNT=1`
//! (then guest instructions, shown as nanoseconds). Without the variable
//! the benchmarks are skipped with a note.

use criterion::{criterion_group, criterion_main, Criterion};
use lto_harness::bench::{AgentSession, WORKLOADS};
use lto_harness::host::cache::Cache;
use lto_harness::host::toolchain::Toolchain;
use lto_harness::run::Environment;
use lto_harness::stages::build::Builder;
use lto_harness::stages::source::KernelSource;
use std::sync::Mutex;

fn session() -> Option<(String, AgentSession)> {
    let name = std::env::var("LTO_HARNESS_BENCH_CASE").ok()?;
    let cases_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
    let cases = lto_harness::case::load_dir(&cases_dir).expect("cases");
    let case = cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let cache = Cache::open(None).expect("cache");
    let toolchain = Toolchain::detect("-19").expect("clang-19");
    let source = KernelSource::from_default_tarball(&cache).expect("kernel source");
    let builder = Builder {
        cc_wrapper: None,
        cache: &cache,
        source: &source,
        toolchain: &toolchain,
        jobs: 2,
    };
    struct Quiet;
    impl lto_harness::stages::build::BuildProgress for Quiet {
        fn phase(&self, case: &str, phase: &str) {
            eprintln!("{case}: {phase}");
        }
    }
    let kernel = match builder.build(&builder.plan(case).expect("plan"), &Quiet) {
        Ok(k) => k,
        Err(_) => {
            panic!("{name}: the kernel did not build; run `lto-harness run {name}` to see why")
        }
    };
    let env = Environment::new(cache.clone(), Some(source.clone()), toolchain.clone());
    let icount = std::env::var("LTO_HARNESS_BENCH_ICOUNT").is_ok_and(|v| v == "1");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("guest-bench");
    let s = AgentSession::start(case, &kernel, &env, &dir, icount).expect("boot the agent");
    Some((name, s))
}

fn guest(c: &mut Criterion) {
    let Some((name, session)) = session() else {
        eprintln!("guest benchmarks skipped: set LTO_HARNESS_BENCH_CASE to a case name (see benches/README.md)");
        return;
    };
    eprintln!("guest benchmarks on {name}");
    let session = Mutex::new(session);
    let mut g = c.benchmark_group("guest");
    g.sample_size(10);
    for w in WORKLOADS {
        g.bench_function(w.name, |b| {
            b.iter_custom(|iters| {
                session
                    .lock()
                    .unwrap()
                    .run(w.name, iters)
                    .expect("workload")
            })
        });
    }
    g.finish();
    session
        .into_inner()
        .unwrap()
        .stop()
        .expect("agent shut down cleanly");
}

fn config() -> Criterion {
    // criterion draws its plots with plotters, which needs a font here.
    lto_harness::dashboard::register_font().expect("fonts-dejavu-core");
    Criterion::default()
}

criterion_group! {
    name = benches;
    config = config();
    targets = guest
}
criterion_main!(benches);
