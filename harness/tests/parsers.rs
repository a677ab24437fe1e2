//! Property tests over every parser of outside input (proptest): case
//! YAML, goldens, patch series (mbox, patch directory, quilt), results.json
//! as `compare`, `merge` and `gate` read it back, history lines, the
//! build's text files (ordering script, nm output, Module.symvers,
//! `.vmlinux.export.c`) and the ELF readers on damaged real modules. Each
//! input is a real file, damaged: never a panic, and every error names the
//! file it is about. The console parser's own properties are in
//! `console/mod.rs`. Bounded: a few seconds in all.

use lto_harness::arch::PROFILES;
use lto_harness::case::Case;
use lto_harness::checks::golden::Golden;
use lto_harness::model::results::RunResults;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Text damaged the ways files get damaged: a cut, a range deleted, bytes
/// replaced, and pieces of syntax (`vocab`) inserted.
fn damaged(text: String, vocab: &'static [&'static str]) -> impl Strategy<Value = String> {
    let len = text.len().max(1);
    let edit = prop_oneof![
        (0..len).prop_map(Edit::Cut),
        (0..len, 0..64usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0..len, any::<String>()).prop_map(|(at, s)| Edit::Insert(at, s)),
        (0..len, prop::sample::select(vocab)).prop_map(|(at, s)| Edit::Insert(at, s.to_owned())),
        (0..len, any::<u8>()).prop_map(|(at, b)| Edit::Byte(at, b)),
    ];
    prop::collection::vec(edit, 1..6).prop_map(move |edits| {
        let mut bytes = text.clone().into_bytes();
        for e in edits {
            e.apply(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Cut(usize),
    Delete(usize, usize),
    Insert(usize, String),
    Byte(usize, u8),
}

impl Edit {
    fn apply(self, b: &mut Vec<u8>) {
        let at = |i: usize| i.min(b.len());
        match self {
            Edit::Cut(i) => b.truncate(i),
            Edit::Delete(i, n) => {
                let (s, e) = (at(i), at(i + n));
                b.drain(s..e);
            }
            Edit::Insert(i, s) => {
                let i = at(i);
                b.splice(i..i, s.into_bytes());
            }
            Edit::Byte(i, v) => {
                if let Some(x) = b.get_mut(i) {
                    *x = v;
                }
            }
        }
    }
}

const YAML: &[&str] = &[
    ":",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\n",
    "\n  ",
    "\t",
    "'",
    "\"",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "<<: ",
    "? ",
    "|\n",
    ">-\n",
    "~",
    "null",
    "1e400",
    "-1",
    "99999999999999999999",
    "arch: ",
    "lto: ",
    "cfi: ",
    "base: ",
    "modules:\n  - name: ",
    "checks: [",
    "fragments: [",
    "timeout: ",
    "make_vars: {",
    "golden: ",
    "tags: [slow]",
    "x86_64",
    "arm64",
    "thin",
    "full",
];

const LINES: &[&str] = &[
    "\n",
    " ",
    "\t",
    "0",
    "7s",
    "rootfs",
    "early",
    "#",
    "__initstub__kmod_",
    "__",
    "_1_2_",
    ".llvm.",
    "0x",
    "0xffffffff",
    "\u{fffd}",
    "EXPORT_SYMBOL",
    "vmlinux",
    "(",
    ")",
    ";",
    "*",
    "{",
    "}",
    "\"",
    "KEEP(",
    ".initcall",
    ".init",
    "SYMBOL_CRC(",
    ", ",
];

const MAIL: &[&str] = &[
    "From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n",
    "From: A <a@b>\n",
    "Subject: [PATCH 1/2] x\n",
    "Subject: =?utf-8?q?=C3=A9?=\n",
    "\n",
    "---\n",
    "diff --git a/x b/x\n",
    "--- a/x\n",
    "+++ b/x\n",
    "@@ -1 +1 @@\n",
    "-a\n",
    "+b\n",
    "-- \n",
    "2.39.2\n",
    ">From ",
    "\r\n",
];

fn sample_results() -> Vec<(String, String)> {
    let dir = repo().join("harness/tests/fixtures/results");
    let mut v: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// A JSON value for a results.json field: any type, huge and odd numbers.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(1e300),
            Just(1.9e19),
            Just(-1.0),
            Just(0.5),
            Just(f64::MAX)
        ]
        .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::from),
        prop::sample::select(
            &[
                "pass",
                "fail",
                "incomplete",
                "skipped",
                "x86_64",
                "arm64",
                ""
            ][..]
        )
        .prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// Replaces the value at the `pick`-th node (depth-first) of `v`.
fn replace_nth(v: &mut serde_json::Value, pick: &mut usize, with: &serde_json::Value) -> bool {
    if *pick == 0 {
        *v = with.clone();
        return true;
    }
    *pick -= 1;
    match v {
        serde_json::Value::Array(a) => a.iter_mut().any(|x| replace_nth(x, pick, with)),
        serde_json::Value::Object(o) => o.values_mut().any(|x| replace_nth(x, pick, with)),
        _ => false,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// A damaged shipped case file: parsed or an error naming the file.
    #[test]
    fn case_yaml(
        which in 0..4usize,
        text in prop::sample::select(&[
            "cases/x86_64-lto-full-cfi.yaml",
            "cases/arm64-lto-thin-cfi.yaml",
            "cases/x86_64-defconfig-lto-full-cfi.yaml",
            "cases/arm64-lto-none.yaml",
        ][..]).prop_flat_map(|p| damaged(read(p), YAML))
    ) {
        let _ = which;
        let path = repo().join("cases/damaged.yaml");
        if let Err(e) = Case::parse(&path, &text) {
            prop_assert!(e.to_string().starts_with(&path.display().to_string()), "{e}");
        }
    }

    /// A damaged golden: parsed or an error naming the file.
    #[test]
    fn golden(text in damaged(read("cases/golden/x86_64-tiny.initcalls"), LINES)) {
        let path = Path::new("golden/damaged.initcalls");
        if let Err(e) = Golden::parse(path, &text) {
            prop_assert!(e.to_string().starts_with("golden/damaged.initcalls"), "{e}");
        }
    }

    /// A results.json with one value replaced by anything, read back as
    /// `compare`, `merge` and `gate` read it, then written in every format.
    #[test]
    fn results_json(
        which in any::<prop::sample::Index>(),
        pick in 0..400usize,
        with in json_value(),
        cut in prop::option::of(0..20_000usize),
    ) {
        let all = sample_results();
        let (name, text) = &all[which.index(all.len())];
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        replace_nth(&mut v, &mut { pick }, &with);
        let mut text = serde_json::to_string(&v).unwrap();
        if let Some(c) = cut {
            let c = c.min(text.len());
            text = String::from_utf8_lossy(&text.as_bytes()[..c]).into_owned();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), name, &text);
        match lto_harness::ci::load_results(&path) {
            Err(e) => prop_assert!(format!("{e:#}").contains(name.as_str()), "{e:#}"),
            Ok(r) => {
                let good: RunResults = serde_json::from_str(&all[0].1).unwrap();
                let c = lto_harness::compare::compare(&good, &r);
                let _ = c.report();
                let g = lto_harness::compare::gate::verdict(&c, &r, &[]);
                let _ = (g.exit_code(), g.report());
                let _ = lto_harness::compare::compare(&r, &r);
                let _ = lto_harness::ci::merge(vec![r.clone(), good]);
                let _ = lto_harness::ci::merge(vec![r.clone(), r.clone()]);
                let _ = lto_harness::output::junit::junit(&r);
                let _ = lto_harness::output::kcidb::kcidb(&r, &Default::default());
                let _ = lto_harness::output::markdown::markdown_summary(&r);
                let _ = lto_harness::output::libtest::libtest_json(&r);
                let out = dir.path().join("out");
                let _ = lto_harness::output::write_all(&r, &out, &Default::default());
            }
        }
    }

    /// A history file with damaged lines: records or an error naming the
    /// file and line.
    #[test]
    fn history(text in damaged(read("harness/tests/fixtures/history/history.jsonl"), LINES)) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "history.jsonl", &text);
        if let Err(e) = lto_harness::history::load(&path) {
            prop_assert!(format!("{e:#}").contains("history.jsonl:"), "{e:#}");
        }
    }

    /// A damaged mbox, quilt series and patch directory: patches, or an
    /// error naming the path.
    #[test]
    fn series(
        mbox in damaged(
            format!("{}{}", read("cases/mutants/initcall-order-reversed.patch"),
                    read("cases/mutants/vdso-lto-flags.patch")),
            MAIL,
        ),
        quilt in damaged("a.patch\nb.patch -p1\n# comment\n".to_owned(), &["-p", "-p0", "-pX", " ", "\n", "#", "../", "/"]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let m = write(dir.path(), "series.mbox", &mbox);
        if let Err(e) = lto_harness::series::load(&m, &scratch) {
            prop_assert!(format!("{e:#}").contains("series.mbox"), "{e:#}");
        }
        let q = dir.path().join("quilt");
        std::fs::create_dir_all(&q).unwrap();
        write(&q, "a.patch", &mbox);
        write(&q, "b.patch", &read("cases/mutants/initcall-order-reversed.patch"));
        let s = write(&q, "series", &quilt);
        if let Err(e) = lto_harness::series::load(&s, &scratch) {
            prop_assert!(format!("{e:#}").contains("quilt"), "{e:#}");
        }
        if let Err(e) = lto_harness::series::load(&q, &scratch) {
            prop_assert!(format!("{e:#}").contains("quilt"), "{e:#}");
        }
    }

    /// The build's text files, damaged: no panic (errors are the
    /// caller's to locate; the checks name the file).
    #[test]
    fn build_text_files(text in any::<String>(), vocab in prop::collection::vec(prop::sample::select(LINES), 0..30)) {
        let t = format!("{}{text}", vocab.concat());
        let _ = lto_harness::elf::initcall_script::parse_ordering_script(&t);
        let objs = lto_harness::elf::initcall_script::nm_initcalls(&t);
        let _ = lto_harness::elf::initcall_script::link_order(&objs);
        let _ = lto_harness::elf::modversions::parse_symvers(&t);
        let _ = lto_harness::elf::modversions::parse_export_c(&t);
        let _ = lto_harness::elf::initcalls::normalise(&t);
        let _ = lto_harness::elf::initcalls::split_entry_label(&t);
    }

    /// Real modules (x86_64 and arm64 thin LTO + kCFI), cut and with bits
    /// flipped: every ELF reader returns, never panics.
    #[test]
    fn elf_readers_on_damaged_modules(
        arm in any::<bool>(),
        cut in prop::option::of(0..6000usize),
        flips in prop::collection::vec((0..6000usize, 0..8u8), 0..8),
    ) {
        let name = if arm { "arm64-thin-cfi-test_module.ko" } else { "x86_64-thin-cfi-test_module.ko" };
        let mut data = std::fs::read(repo().join("harness/tests/fixtures/elf").join(name)).unwrap();
        for (at, bit) in flips {
            let at = at % data.len();
            data[at] ^= 1 << bit;
        }
        if let Some(c) = cut {
            data.truncate(c);
        }
        let arch = PROFILES[usize::from(arm)];
        use lto_harness::elf::*;
        let _ = module::module_facts_from(Path::new(name), &data);
        let _ = module::kernel_vermagic(&data);
        let _ = modversions::module_versions(&data);
        let _ = modversions::versions_section_range(&data);
        let _ = modversions::version_crc_offset(&data, "printk");
        let _ = modversions::kernel_crcs(&data);
        let _ = ftrace::module_mcount(&data, arch);
        let _ = ftrace::vmlinux_mcount(&data, arch);
        let _ = kcfi::kcfi_evidence(&data, arch);
        let _ = kcfi::a64_indirect_calls(&data);
        let _ = kcfi::function_kcfi(&data, arch);
        let _ = notes::lto_note(&data);
        let _ = notes::elf_notes(&data);
        let _ = notes::parse_notes(&data);
        let _ = orc::orc_facts(&data);
        let _ = sections::module_sections(&data);
        let _ = sections::llvm_suffixed(&data);
        let _ = vdso::vdso_facts(&data);
        let _ = initcalls::static_order_from_bytes(&data);
        let _ = initcalls::table_labels(&data);
    }
}

/// Undamaged, every input above is read: the damage starts from real,
/// valid files (a fixture that never parsed would test only errors).
#[test]
fn undamaged_inputs_parse() {
    for c in [
        "cases/x86_64-lto-full-cfi.yaml",
        "cases/arm64-lto-thin-cfi.yaml",
        "cases/x86_64-defconfig-lto-full-cfi.yaml",
        "cases/arm64-lto-none.yaml",
    ] {
        Case::parse(&repo().join(c), &read(c)).unwrap();
    }
    let g = "cases/golden/x86_64-tiny.initcalls";
    Golden::parse(Path::new(g), &read(g)).unwrap();
    for (name, _) in sample_results() {
        lto_harness::ci::load_results(&repo().join("harness/tests/fixtures/results").join(name))
            .unwrap();
    }
    let h =
        lto_harness::history::load(&repo().join("harness/tests/fixtures/history/history.jsonl"))
            .unwrap();
    assert_eq!(h.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "series.mbox",
        &format!(
            "{}{}",
            read("cases/mutants/initcall-order-reversed.patch"),
            read("cases/mutants/vdso-lto-flags.patch")
        ),
    );
    assert_eq!(lto_harness::series::load(&m, dir.path()).unwrap().len(), 2);
}

/// A case file that is a YAML alias bomb ("billion laughs") is refused
/// with an error naming the file, in bounded time and memory.
#[test]
fn case_yaml_alias_bomb_is_refused() {
    // Ten levels of ten aliases, in a field the case knows.
    let mut items = vec!["&a0 [x, x, x, x, x, x, x, x, x, x]".to_string()];
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        items.push(format!("&a{i} [{refs}]"));
    }
    let text = format!(
        "arch: x86_64\nlto: full\ncfi: on\ncmdline: [{}]\n",
        items.join(", ")
    );
    let path = repo().join("cases/bomb.yaml");
    let t = std::time::Instant::now();
    let e = Case::parse(&path, &text).unwrap_err();
    assert!(
        e.to_string().starts_with(&path.display().to_string()),
        "{e}"
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t.elapsed()
    );
}

/// The module fixtures are what the readers expect.
#[test]
fn module_fixtures_are_readable() {
    for (name, arm) in [
        ("x86_64-thin-cfi-test_module.ko", false),
        ("arm64-thin-cfi-test_module.ko", true),
    ] {
        let data = std::fs::read(repo().join("harness/tests/fixtures/elf").join(name)).unwrap();
        let v = lto_harness::elf::modversions::module_versions(&data).unwrap();
        assert!(v.is_some_and(|v| !v.is_empty()), "{name}: no __versions");
        assert_eq!(
            lto_harness::elf::notes::lto_note(&data).unwrap(),
            Some(1),
            "{name}"
        );
        let _ = arm;
    }
}
