//! End-to-end trials on real kernels, one module per area: every shipped
//! case in `cases/` (but the `slow` ones) built, booted and checked through
//! the `lto-harness` binary, then rerun warm with a `make` that fails if
//! called ([`pipeline`]); kernels broken another way than the mutants
//! ([`checks`]); the command line on bad input ([`cli`]); CI integration
//! ([`ci`]); patch series, bisection and mutants on the default source's
//! git tree ([`series`], [`bisect`], [`mutate`]); the fault table
//! ([`faults`]); the toolchain matrix ([`toolchains`]); kernels built
//! elsewhere ([`elsewhere`]); boots through LAVA's dispatcher ([`lava`]);
//! bench and the dashboard ([`bench`]).
//!
//! A trial's name is `<module>::<function>` (a case's or an arch's name
//! after it for the trials run once per case or arch): `cargo test --test
//! cases -- mutate::` runs one area.
//!
//! Kernels are built into the harness's normal cache, so a second
//! `cargo test` (or the README's main job) reuses them.

mod bench;
mod bisect;
mod checks;
mod ci;
mod cli;
mod common;
mod elsewhere;
mod faults;
mod lava;
mod mutate;
mod pipeline;
mod series;
mod toolchains;

use libtest_mimic::{Arguments, Trial};

/// A trial named `<module>::<function>` after the function it runs.
macro_rules! trial {
    ($module:ident :: $f:ident) => {
        Trial::test(
            concat!(stringify!($module), "::", stringify!($f)),
            $module::$f,
        )
    };
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let cases =
        lto_harness::case::load_dir(&common::repo().join("cases")).expect("shipped cases parse");
    let mut trials = vec![
        trial!(cli::broken_case_file_is_located),
        trial!(cli::dry_run_prints_commands),
        trial!(cli::bad_inputs_never_panic),
        trial!(cli::bad_golden_is_a_clear_error),
    ];
    for case in cases.iter().filter(|c| !c.has_tag("slow")) {
        let name = case.name.clone();
        trials.push(Trial::test(
            format!("pipeline::shipped_case::{name}"),
            move || pipeline::shipped_case(&name),
        ));
    }
    // The 7.x tree beside the repository (../shared/kernels).
    trials.push(
        trial!(pipeline::linux7_x86_64_lto_full_cfi)
            .with_ignored_flag(common::linux7_tarball().is_none()),
    );
    trials.extend([
        trial!(pipeline::init_panic_is_fail),
        trial!(pipeline::timeout_is_incomplete_and_kills_qemu),
        trial!(pipeline::interrupt_kills_qemu),
        trial!(pipeline::fail_fast_stops_at_the_first_failure),
        trial!(pipeline::accel_auto_falls_back_to_tcg),
        trial!(pipeline::a_copied_results_dir_reproduces_the_verdict),
        trial!(pipeline::a_pooled_thin_link_runs_on_its_tokens),
        trial!(checks::foreign_module_fails_the_modules_check),
        trial!(checks::hygiene_compares_a_family),
        trial!(checks::vermagic_mismatch_fails_static_and_runtime),
        trial!(checks::swapped_golden_fails_then_bless_restores_it),
        trial!(checks::trap_expected_of_a_non_cfi_kernel_fails),
        trial!(ci::compare_and_gate_classify_a_real_pair),
        trial!(ci::sharded_runs_merge_to_one_run),
        trial!(ci::apt_mirror_is_the_machines_own),
        trial!(series::names_the_breaking_patch),
        trial!(series::a_series_that_does_not_apply_is_named),
        trial!(bisect::names_the_breaking_commit),
        trial!(mutate::initcall_order_reversed_is_killed),
        trial!(mutate::every_patch_applies_to_each_series),
        trial!(mutate::quick_mutants_are_killed_where_they_aim),
        trial!(faults::a_build_survives_signals_races_and_damage),
        trial!(faults::kills_during_a_boot),
        trial!(faults::results_dir_full_or_read_only),
        trial!(faults::missing_tools_and_a_damaged_tarball),
        trial!(faults::vmlinux_readers_survive_damage),
        trial!(faults::a_stopped_link_gives_its_tokens_back),
        trial!(elsewhere::kernels_built_elsewhere_are_judged_with_honest_skips),
        trial!(lava::lava_run_gives_the_local_verdicts),
        trial!(lava::lava_run_fails_a_kernel_as_the_local_boot_does),
        trial!(lava::a_broken_lava_job_is_incomplete_with_lavas_error),
    ]);
    // clang 15 (no kCFI) comes from `ci/setup --llvm -15`.
    let clang15 = ["clang-15", "ld.lld-15", "llvm-nm-15"]
        .iter()
        .all(|t| lto_harness::host::toolchain::find_in_path(t).is_some());
    trials.push(trial!(toolchains::matrix_results_are_told_apart).with_ignored_flag(!clang15));
    for arch in ["x86_64", "arm64"] {
        trials.push(Trial::test(
            format!("bench::deterministic_bench::{arch}"),
            move || bench::deterministic_bench(arch),
        ));
    }
    trials.extend([
        trial!(bench::plan_longer_than_a_step),
        trial!(bench::dashboard_renders_in_chromium),
    ]);
    // exit_code() rather than exit(): destructors (temp dirs) still run.
    libtest_mimic::run(&args, trials).exit_code()
}
