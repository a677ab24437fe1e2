//! Test data for the unit tests of the model and the output formats: a sample run with every
//! status, retries and a git source, and the results fixtures in
//! `tests/fixtures/results`. Read only by tests (`model/` and `output/`).

use crate::model::results::{BootEnd, BootStep, BuildStep, CaseResult, RunResults, Summary};
use crate::model::source::SourceIdentity;
use crate::model::{CheckResult, Status};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A check that ran once.
pub fn check(name: &str, status: Status, message: &str) -> CheckResult {
    CheckResult::new(name, status, message)
}

/// A case of `checks` whose build and boot ended as given (a failed
/// build has an error line), its status computed.
pub fn case(name: &str, build: Status, boot: Status, checks: Vec<CheckResult>) -> CaseResult {
    let mut c = CaseResult {
        name: name.into(),
        arch: if name.starts_with("arm64") {
            crate::model::Arch::Arm64
        } else {
            crate::model::Arch::X86_64
        },
        lto: crate::model::Lto::Full,
        cfi: crate::model::Switch::On,
        status: Status::Skipped,
        build: BuildStep {
            status: build,
            message: "built in 394 s".into(),
            seconds: 394.25,
            reused: false,
            key: Some("488b320d3017".into()),
            artifacts: Some("/c/builds/488b".into()),
            log: Some(format!("/r/{name}/build.log").into()),
            metadata: None,
            error_lines: if build == Status::Fail {
                vec!["foo.c:1:2: error: \"x\" undeclared".into()]
            } else {
                vec![]
            },
        },
        boot: BootStep {
            status: boot,
            message: "init ran from start marker to end marker".into(),
            seconds: 3.5,
            console_log: Some(format!("/r/{name}/console.log").into()),
            qemu_command: Some("qemu-system-x86_64 -m 512".into()),
            end: Some(BootEnd::Exited { code: Some(0) }),
            attempts: vec![],
            accel: None,
            qemu_version: None,
        },
        checks,
        regressions: vec![],
        toolchain: None,
        variant: None,
        timeline: None,
        recipe: None,
    };
    c.compute_status();
    c
}

/// A run of `cases`, summarised.
pub fn run(cases: Vec<CaseResult>) -> RunResults {
    let mut r = RunResults {
        harness_version: "t".into(),
        started_at: "now".into(),
        seconds: 1.0,
        source: None,
        kernel_version: None,
        toolchain: None,
        cases,
        blessed: vec![],
        bisected: None,
        summary: Summary::default(),
    };
    r.summarise();
    r
}

/// Every status, a retried check (unstable) and a retried boot, a git
/// source.
pub fn sample() -> RunResults {
    let mut unstable = check("cfi.CFI_FORWARD_PROTO", Status::Pass, "stopped as expected");
    unstable.attempts = vec![Status::Fail, Status::Pass];
    let mut still_failing = check(
        "modules.runtime",
        Status::Fail,
        "lkdtm did not load\nsecond line",
    );
    still_failing.attempts = vec![Status::Fail, Status::Fail];
    still_failing.details = vec!["console line 12: insmod: can't insert 'lkdtm.ko'".into()];
    let mut arm = case(
        "arm64-lto-full-cfi",
        Status::Pass,
        Status::Incomplete,
        vec![
            check("initcalls.static", Status::Pass, "180 initcalls"),
            check("initcalls.boot", Status::Skipped, "no boot to check"),
        ],
    );
    arm.boot.message = "timed out after 60 s".into();
    arm.boot.attempts = vec![Status::Incomplete, Status::Incomplete];
    let mut r = RunResults {
        harness_version: "0.1.0".into(),
        started_at: "2026-11-26T09:12:38.960091874Z".into(),
        seconds: 412.5,
        source: Some(SourceIdentity::Git {
            path: "/src/linux".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            dirty: true,
            diff_sha256: Some("ab".repeat(32)),
        }),
        kernel_version: Some("6.12.117".into()),
        toolchain: Some("Debian clang version 19.1.7 (3~deb12u1)".into()),
        cases: vec![
            case(
                "x86_64-lto-full-cfi",
                Status::Pass,
                Status::Pass,
                vec![
                    check("cfi.static", Status::Pass, "kCFI instrumented"),
                    unstable,
                    still_failing,
                ],
            ),
            arm,
            case(
                "x86_64-lto-none",
                Status::Fail,
                Status::Skipped,
                vec![check(
                    "modules.static",
                    Status::Skipped,
                    "no kernel to check",
                )],
            ),
        ],
        blessed: vec![],
        bisected: None,
        summary: Summary::default(),
    };
    r.summarise();
    r
}

/// The results fixtures in `tests/fixtures/results`, by path.
pub fn fixtures() -> Vec<(PathBuf, RunResults)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let r: RunResults = serde_json::from_slice(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, r)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(v.len() >= 3, "fixtures in {}", dir.display());
    v
}

/// JSON lines, parsed.
pub fn parse_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}
