//! A survey of real builds (an ignored test): runs the readers of
//! [`super::modversions`], [`super::ftrace`], [`super::orc`],
//! [`super::notes`], [`super::sections`] and [`super::vdso`] on every
//! published build in a cache and prints what they find, so a reader can
//! be held against a real kernel. It fails only where a reader errors on a
//! real file or where two records of one build disagree about a CRC,
//! which no correct kernel shows.
//!
//! `LTO_HARNESS_BUILDS=~/.cache/lto-harness/builds cargo test -p
//! lto-harness --lib elf::survey -- --ignored --nocapture`

use super::{ftrace, modversions, notes, orc, sections, vdso};
use crate::model::Arch;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The builds under `dir` (a build, or a directory of builds), with the
/// case name and arch from each `metadata.json`, by case name.
fn builds(dir: &Path) -> Vec<(String, Arch, PathBuf)> {
    let mut dirs = vec![dir.to_owned()];
    if !dir.join("metadata.json").exists() {
        dirs = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
    }
    let mut out = Vec::new();
    for d in dirs {
        let Ok(text) = std::fs::read_to_string(d.join("metadata.json")) else {
            continue;
        };
        let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
        let case = meta["case"].as_str().unwrap_or("?").to_owned();
        let arch = serde_json::from_value(meta["arch"].clone()).unwrap();
        out.push((case, arch, d));
    }
    out.sort();
    out
}

#[test]
#[ignore = "needs real kernels: set LTO_HARNESS_BUILDS"]
fn real_builds() {
    let dir = std::env::var("LTO_HARNESS_BUILDS")
        .expect("set LTO_HARNESS_BUILDS to a build directory or a directory of builds");
    let only_new = std::env::var("LTO_HARNESS_ALL").is_err();
    let mut disagreements = Vec::new();
    for (case, arch, d) in builds(Path::new(&dir)) {
        if only_new && !d.join("Module.symvers").exists() {
            continue;
        }
        let profile = arch.profile();
        let key: String = d
            .file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .take(12)
            .collect();
        let config = std::fs::read_to_string(d.join("config")).unwrap_or_default();
        let on: Vec<&str> = ["MODVERSIONS", "FUNCTION_TRACER", "UNWINDER_ORC"]
            .into_iter()
            .filter(|c| config.contains(&format!("CONFIG_{c}=y\n")))
            .collect();
        println!("\n== {case} ({key}) {on:?}");
        let vmlinux = std::fs::read(d.join("vmlinux")).unwrap();

        // Versions.
        let k = modversions::kernel_crcs(&vmlinux).unwrap();
        println!(
            "  __ksymtab {} / __kcrctab {}; __ksymtab_gpl {} / __kcrctab_gpl {}; {} without CRC; {} namespaced",
            k.ksymtab,
            k.kcrctab,
            k.ksymtab_gpl,
            k.kcrctab_gpl,
            k.without_crc.len(),
            k.namespaces.len()
        );
        let mut symvers_crc: BTreeMap<String, u32> = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(d.join("Module.symvers")) {
            let entries = modversions::parse_symvers(&text).unwrap();
            let zero = entries.iter().filter(|e| e.crc == 0).count();
            let vml = entries.iter().filter(|e| e.module == "vmlinux").count();
            println!(
                "  Module.symvers: {} lines ({vml} vmlinux), {zero} zero CRCs",
                entries.len()
            );
            let mut mismatched = 0;
            // Without MODVERSIONS modpost writes 0x00000000 for every CRC
            // and vmlinux has no __kcrctab: nothing to compare.
            let versioned = k.kcrctab + k.kcrctab_gpl > 0;
            for e in entries.iter().filter(|_| versioned) {
                if e.module == "vmlinux" && k.crcs.get(&e.symbol) != Some(&e.crc) {
                    mismatched += 1;
                    disagreements.push(format!(
                        "{case}: {} is {:#010x} in Module.symvers, {:?} in vmlinux",
                        e.symbol,
                        e.crc,
                        k.crcs.get(&e.symbol)
                    ));
                }
                symvers_crc.insert(e.symbol.clone(), e.crc);
            }
            println!("  Module.symvers vs vmlinux __kcrctab: {mismatched} disagree");
        }
        if let Ok(text) = std::fs::read_to_string(d.join("vmlinux.export.c")) {
            let t = modversions::parse_export_c(&text);
            let mismatched = t
                .crcs
                .iter()
                .filter(|(n, c)| k.crcs.get(*n) != Some(c))
                .count();
            println!(
                "  .vmlinux.export.c: {} exports, {} SYMBOL_CRC, {} malformed lines; {} exports lack a SYMBOL_CRC; {mismatched} CRCs disagree with vmlinux",
                t.exports.len(),
                t.crcs.len(),
                t.malformed.len(),
                t.exports.iter().filter(|e| !t.crcs.contains_key(&e.name)).count(),
            );
            if mismatched > 0 {
                disagreements.push(format!("{case}: .vmlinux.export.c disagrees with vmlinux"));
            }
            let in_vmlinux =
                |n: &str| k.crcs.contains_key(n) || k.without_crc.iter().any(|w| w == n);
            let absent: Vec<&str> = t.names().filter(|n| !in_vmlinux(n)).collect();
            let gpl = t.exports.iter().filter(|e| e.gpl).count() as u64;
            println!(
                "  .vmlinux.export.c names missing from __ksymtab: {}; GPL {gpl} vs __ksymtab_gpl {}",
                absent.len(),
                k.ksymtab_gpl
            );
            if !absent.is_empty() || gpl != k.ksymtab_gpl {
                disagreements.push(format!("{case}: export names differ {absent:?}"));
            }
        }

        // ftrace, ORC, notes, names of vmlinux.
        match ftrace::vmlinux_mcount(&vmlinux, profile).unwrap() {
            None => println!("  mcount: none"),
            Some(f) => println!(
                "  mcount: {} entries (+{} bytes), {} null, {} out of order, layouts {:?} ({} after a landing pad), {} not function starts {:?}, {} not NOPs {:?}",
                f.entries,
                f.leftover_bytes,
                f.null_entries,
                f.out_of_order,
                f.layouts,
                f.after_landing_pad,
                f.not_function_start_count,
                f.not_function_start.iter().take(5).collect::<Vec<_>>(),
                f.not_nop_count,
                f.not_nop.iter().take(5).collect::<Vec<_>>()
            ),
        }
        let o = orc::orc_facts(&vmlinux).unwrap();
        println!("  ORC: {:?} ip, {:?} unwind", o.unwind_ip, o.unwind);
        println!(
            "  LTO note {:?}; {} .llvm. symbols {:?}",
            notes::lto_note(&vmlinux).unwrap(),
            sections::llvm_suffixed(&vmlinux).unwrap().count,
            sections::llvm_suffixed(&vmlinux)
                .unwrap()
                .examples
                .iter()
                .take(3)
                .collect::<Vec<_>>()
        );

        // Modules.
        let mut kos: Vec<PathBuf> = std::fs::read_dir(d.join("modules"))
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        kos.sort();
        for ko_path in kos {
            let ko = std::fs::read(&ko_path).unwrap();
            let name = ko_path.file_name().unwrap().to_string_lossy().into_owned();
            let versions = modversions::module_versions(&ko).unwrap();
            let range = modversions::versions_section_range(&ko);
            let (n, bad) = match &versions {
                None => (None, 0),
                Some(v) => {
                    let bad: Vec<_> = v
                        .iter()
                        .filter(|e| {
                            symvers_crc
                                .get(&e.name)
                                .or(k.crcs.get(&e.name))
                                .map(|c| u64::from(*c))
                                != Some(e.crc)
                        })
                        .collect();
                    for e in &bad {
                        disagreements
                            .push(format!("{case}: {name} expects {} = {:#x}", e.name, e.crc));
                    }
                    (Some(v.len()), bad.len())
                }
            };
            let m = ftrace::module_mcount(&ko, profile).unwrap();
            let o = orc::orc_facts(&ko).unwrap();
            let s = sections::module_sections(&ko).unwrap();
            println!(
                "  {name}: __versions {n:?} at {range:?}, {bad} disagree; mcount {:?}; ORC ip {} unwind {}{}; LTO note {:?}; split {} {:?}; duplicates {:?}; .llvm. {}",
                m.map(|m| (m.entries.entries, m.entries.leftover_bytes, m.relocations)),
                o.ip_entries(),
                o.unwind_entries(),
                if o.unwind_ip.is_some_and(|c| !c.is_whole()) || o.unwind.is_some_and(|c| !c.is_whole()) {
                    " (ragged)"
                } else {
                    ""
                },
                notes::lto_note(&ko).unwrap(),
                s.split.len(),
                s.split.iter().take(6).collect::<Vec<_>>(),
                s.duplicates,
                sections::llvm_suffixed(&ko).unwrap().count,
            );
        }

        // vDSO.
        if let Ok(data) = std::fs::read(d.join("vdso.so.dbg")) {
            let v = vdso::vdso_facts(&data).unwrap();
            let missing: Vec<_> = profile
                .vdso_exports
                .iter()
                .filter(|e| !v.dynamic_exports.iter().any(|x| x == *e))
                .collect();
            println!(
                "  vDSO: type {}, exports {:?} (missing {missing:?}), {} dynamic relocations, {} __cfi_ symbols",
                v.elf_type, v.dynamic_exports, v.dynamic_relocations, v.cfi_preambles
            );
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
