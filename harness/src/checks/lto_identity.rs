//! `lto_identity.static` and `lto_identity.boot`: the kernel and its
//! modules are what the case asked for. Every vmlinux and `.ko` carries
//! the `Linux` 0x101 ELF note (`LINUX_ELFNOTE_LTO_INFO`: 1 with LTO, 0
//! without); vermagic records neither LTO nor kCFI, so a module of another
//! build loads silently (and on arm64 a non-kCFI module in a kCFI kernel
//! traps at its first indirect call). Statically: the notes, the
//! ThinLTO-only `.llvm.` names, `vmlinux.a`'s objects being bitcode
//! exactly under LTO, and each module's kCFI instrumentation matching
//! the kernel's, function by function in a kCFI kernel (every
//! address-taken function hashed, every indirect call checked: one object
//! of a module built without kCFI leaves the others' preambles in place). At boot: `/sys/kernel/notes` and the module's
//! `/sys/module/<m>/notes/.note.Linux`, as the guest printed them.

use super::Judging;
use super::{unobserved, Console, KernelFacts};
use crate::case::Case;
use crate::elf::kcfi::FunctionKcfi;
use crate::elf::notes::{lto_note_in, parse_notes};
use crate::elf::objects::{ObjectKind, MODULE_ISLANDS};
use crate::guest::protocol::fact;
use crate::model::{CheckResult, Lto, Status};
use std::collections::BTreeMap;
use std::path::Path;

pub const STATIC: &str = "lto_identity.static";
pub const BOOT: &str = "lto_identity.boot";

fn note_word(desc: u32) -> &'static str {
    if desc == 1 {
        "LTO"
    } else {
        "no LTO"
    }
}

fn want_note(case: &Case) -> u32 {
    u32::from(case.lto != Lto::None)
}

pub fn static_check(case: &Case, facts: &KernelFacts, tree: Option<&Path>) -> CheckResult {
    let want = want_note(case);
    let asked = format!("lto: {}", case.lto.name());
    let mut problems = Vec::new();
    let mut unread = Vec::new();
    let mut seen = Vec::new();
    match &facts.mech.vmlinux.lto_note {
        Ok(Some(d)) if *d == want => seen.push(format!("vmlinux note {d}")),
        Ok(Some(d)) => problems.push(format!(
            "vmlinux's LTO note says {d} ({}) but the case asks for {asked}",
            note_word(*d)
        )),
        Ok(None) => problems.push("vmlinux has no LTO note (`Linux`, type 0x101)".into()),
        Err(e) => unread.push(format!("vmlinux's notes: {e}")),
    }
    // kCFI under the name the kernel's series gives its symbol.
    let cfi = facts.cfi();
    let kernel_cfi = cfi.as_ref().is_some_and(|c| c.on);
    let cfi_sym = cfi.map_or_else(|| "CONFIG_CFI_CLANG".to_owned(), |c| c.symbol);
    for (name, m) in &facts.mech.modules {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                unread.push(format!("{name}: {e}"));
                continue;
            }
        };
        match &m.lto_note {
            Ok(Some(d)) if *d == want => {}
            Ok(Some(d)) => problems.push(format!(
                "{name}.ko's LTO note says {d} ({}) but the kernel is {asked}: a module of another build",
                note_word(*d)
            )),
            Ok(None) => problems.push(format!("{name}.ko has no LTO note (`Linux`, type 0x101)")),
            Err(e) => unread.push(format!("{name}: {e}")),
        }
        match &m.kcfi {
            Ok(counts) => {
                let has = counts.iter().any(|c| c.count > 0);
                // On arm64 only indirect call sites carry kCFI traps: a
                // module without any has nothing to show.
                let calls = match &m.indirect_calls {
                    None => None,
                    Some(Ok(n)) => Some(*n),
                    Some(Err(e)) => {
                        unread.push(format!("{name}: {e}"));
                        continue;
                    }
                };
                if kernel_cfi && !has && calls == Some(0) {
                    seen.push(format!("{name}: no indirect call for kCFI to guard"));
                } else if kernel_cfi && !has {
                    problems.push(format!(
                        "{name}.ko has no kCFI instrumentation{} but the kernel has {cfi_sym}=y: its first indirect call would trap",
                        calls.map_or(String::new(), |n| format!(" on its {n} indirect calls"))
                    ));
                } else if kernel_cfi {
                    match &m.functions {
                        Ok(f) => {
                            let objects = facts
                                .objects
                                .as_ref()
                                .and_then(|o| o.modules.as_ref())
                                .and_then(|m| m.get(name));
                            let sources = module_sources(tree, objects);
                            match function_gaps(name, f, &cfi_sym, sources.as_ref()) {
                                Err(p) => problems.push(p),
                                Ok(s) => seen.push(s),
                            }
                        }
                        Err(e) => unread.push(format!("{name}: {e}")),
                    }
                } else if !kernel_cfi && has {
                    let what: Vec<String> = counts
                        .iter()
                        .map(|c| format!("{} {}", c.count, c.what))
                        .collect();
                    problems.push(format!(
                        "{name}.ko carries kCFI instrumentation ({}) but the kernel has no {cfi_sym}",
                        what.join(", ")
                    ));
                }
            }
            Err(e) => unread.push(format!("{name}: {e}")),
        }
    }
    match &facts.mech.vmlinux.llvm_names {
        Ok(l) if case.lto != Lto::Thin && l.count > 0 => {
            problems.push(format!(
            "vmlinux has {} ThinLTO `.llvm.` symbol names (e.g. {}) but the case asks for {asked}",
            l.count,
            l.examples.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ))
        }
        Ok(l) => seen.push(format!("{} `.llvm.` names", l.count)),
        Err(e) => unread.push(format!("vmlinux's symbols: {e}")),
    }
    if let Some(a) = facts.objects.as_ref().and_then(|o| o.vmlinux_a.as_ref()) {
        if case.lto != Lto::None && a.bitcode == 0 {
            problems.push(format!(
                "vmlinux.a has no LLVM bitcode object ({} ELF): the LTO flags were dropped",
                a.elf
            ));
        } else if case.lto == Lto::None && a.bitcode > 0 {
            problems.push(format!(
                "vmlinux.a has {} LLVM bitcode objects but the case asks for {asked}",
                a.bitcode
            ));
        } else {
            seen.push(format!(
                "vmlinux.a: {} bitcode, {} ELF objects",
                a.bitcode, a.elf
            ));
        }
    }
    // Each module's own code (the LTO note does not tell: it comes from
    // the generated .mod.c, whatever the module's code is).
    let module_objects = facts.objects.as_ref().and_then(|o| o.modules.as_ref());
    for (name, _) in &facts.mech.modules {
        if let Some(objects) = module_objects.and_then(|m| m.get(name)) {
            match module_code(case.lto, name, objects) {
                Some(Ok(s)) => seen.push(s),
                Some(Err(p)) => problems.push(p),
                None => {}
            }
        }
    }
    let modules: Vec<&str> = facts.mech.modules.iter().map(|(n, _)| n.as_str()).collect();
    super::verdict(
        STATIC,
        problems,
        unread,
        format!(
            "{asked}, kCFI {}: {}; modules {} agree",
            if kernel_cfi { "on" } else { "off" },
            seen.join(", "),
            modules.join(", ")
        ),
    )
}

/// What a module's sources say of its functions, read from the `.c` file
/// of each of its objects: the functions declared `__nocfi` (kCFI leaves
/// their indirect calls unchecked on purpose: lkdtm's `execute_location`
/// calls code it copied where no type hash is), and the object each
/// function is defined in, so a gap names it.
#[derive(Debug, Default)]
struct ModuleSources {
    nocfi: BTreeMap<String, String>,
    /// Function name to the object its definition is compiled into.
    objects: BTreeMap<String, String>,
}

/// The sources of a module's objects; None when the tree or the module's
/// objects are not known.
fn module_sources(
    tree: Option<&Path>,
    objects: Option<&Vec<(String, ObjectKind)>>,
) -> Option<ModuleSources> {
    let (tree, objects) = (tree?, objects?);
    let mut out = ModuleSources::default();
    for (object, _) in objects {
        let Some(stem) = object.strip_suffix(".o") else {
            continue;
        };
        let source = format!("{stem}.c");
        let Ok(text) = std::fs::read_to_string(tree.join(&source)) else {
            continue;
        };
        for name in nocfi_functions(&text) {
            out.nocfi.insert(name, source.clone());
        }
        for name in defined_functions(&text) {
            out.objects.entry(name).or_insert_with(|| object.clone());
        }
    }
    Some(out)
}

/// The C identifier that ends `head` (a function's name before its `(`).
fn last_identifier(head: &str) -> String {
    let head = head.trim_end();
    let start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map_or(head.len(), |(i, _)| i);
    head[start..].to_owned()
}

/// The functions a C file defines: the name before the `(` of a line
/// that starts at the first column (kernel style puts a definition's name
/// there, on the type's line or alone after it).
fn defined_functions(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .filter(|l| !l.trim_end().ends_with(';'))
        .filter_map(|l| {
            let (head, _) = l.split_once('(')?;
            let name = last_identifier(head);
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// The functions a C file defines with `__nocfi` (before their name,
/// on its line or alone on the line above).
fn nocfi_functions(text: &str) -> Vec<String> {
    let mut pending = false;
    text.lines()
        .filter_map(|l| {
            let above = std::mem::take(&mut pending);
            if l.trim_start().starts_with('#') {
                return None;
            }
            let Some((head, _)) = l.split_once('(') else {
                pending = l.contains("__nocfi") && !l.contains(';');
                return None;
            };
            if !head.contains("__nocfi") && !above {
                return None;
            }
            let name = last_identifier(head);
            (!name.is_empty() && name != "__nocfi").then_some(name)
        })
        .collect()
}

/// A kCFI kernel's module, function by function: what it shows, or the
/// functions kCFI did not reach, in words. Unchecked calls in functions
/// its sources declare `__nocfi` are named, not failed; without the
/// sources, unchecked calls cannot be told apart and are not judged.
fn function_gaps(
    name: &str,
    f: &FunctionKcfi,
    cfi_sym: &str,
    sources: Option<&ModuleSources>,
) -> Result<String, String> {
    let nocfi = sources.map(|s| &s.nocfi);
    // A function with the object it is defined in, when the sources tell.
    let at = |function: &str, shown: String| match sources.and_then(|s| s.objects.get(function)) {
        Some(object) => format!("{shown} in {object}"),
        None => shown,
    };
    let few = |v: Vec<String>| {
        let n = v.len();
        let mut shown: Vec<String> = v.into_iter().take(5).collect();
        if n > 5 {
            shown.push(format!("and {} more", n - 5));
        }
        shown.join(", ")
    };
    let (excused, unchecked): (Vec<_>, Vec<_>) = f
        .unchecked
        .iter()
        .partition(|c| nocfi.is_some_and(|n| n.contains_key(&c.function)));
    let mut parts = Vec::new();
    if nocfi.is_some() && !unchecked.is_empty() {
        parts.push(format!(
            "{} of its {} indirect calls have no kCFI check ({})",
            unchecked.len(),
            f.indirect_calls,
            few(unchecked
                .iter()
                .map(|c| at(&c.function, c.to_string()))
                .collect())
        ));
    }
    if !f.unhashed.is_empty() {
        parts.push(format!(
            "{} of its {} address-taken functions have no kCFI type hash ({}): calling them through a pointer traps",
            f.unhashed.len(),
            f.address_taken,
            few(f.unhashed.iter().map(|u| at(u, u.clone())).collect())
        ));
    }
    if !parts.is_empty() {
        return Err(format!(
            "{name}.ko was partly built without kCFI in a kernel with {cfi_sym}=y: {}",
            parts.join("; ")
        ));
    }
    let mut s = format!(
        "{name}: {} address-taken functions hashed, {} indirect calls",
        f.address_taken, f.indirect_calls
    );
    match nocfi {
        None if !unchecked.is_empty() => s.push_str(&format!(
            " ({} without a kCFI check not judged: no source tree to tell `__nocfi` functions by)",
            unchecked.len()
        )),
        _ if excused.is_empty() => s.push_str(" checked"),
        _ => {
            let why: Vec<String> = excused
                .iter()
                .map(|c| {
                    let file = nocfi
                        .and_then(|n| n.get(&c.function))
                        .map_or("", String::as_str);
                    format!("{c} in `__nocfi` {} ({file})", c.function)
                })
                .collect();
            s.push_str(&format!(" checked but {}", why.join(", ")));
        }
    }
    Ok(s)
}

/// What module `name`'s objects (its `.mod` list) say of how it was
/// built, against the kernel's `lto`: under LTO a module of several
/// objects is linked from bitcode (but its islands, [`MODULE_ISLANDS`]);
/// without LTO every object is ELF. None for a module of one object,
/// which kbuild LTO-links in place into ELF, so its object says nothing,
/// and for one whose objects are not all there to read (nothing to judge).
fn module_code(
    lto: Lto,
    name: &str,
    objects: &[(String, ObjectKind)],
) -> Option<Result<String, String>> {
    if objects.len() < 2 || objects.iter().any(|(_, k)| *k == ObjectKind::Absent) {
        return None;
    }
    let island = |p: &str| lto != Lto::None && MODULE_ISLANDS.contains(&p);
    let want = if lto == Lto::None {
        ObjectKind::Elf
    } else {
        ObjectKind::Bitcode
    };
    let wrong: Vec<&str> = objects
        .iter()
        .filter(|(p, k)| *k != want && !island(p))
        .map(|(p, _)| p.as_str())
        .collect();
    if !wrong.is_empty() {
        return Some(Err(format!(
            "{name}.ko was not built as the kernel was (lto: {}): {} of its {} objects are not {} ({}{})",
            lto.name(),
            wrong.len(),
            objects.len(),
            want.name(),
            wrong.iter().take(4).copied().collect::<Vec<_>>().join(", "),
            if wrong.len() > 4 { ", …" } else { "" }
        )));
    }
    let islands = objects.iter().filter(|(p, _)| island(p)).count();
    let but = if islands > 0 {
        format!(" but {islands} ELF island")
    } else {
        String::new()
    };
    Some(Ok(format!(
        "{name}: {} objects {}{but}",
        objects.len(),
        want.name()
    )))
}

/// The LTO note in a FACT's hex dump, or why not.
fn note_of_hex(hex: Option<&String>) -> Result<Option<u32>, String> {
    let hex = hex.map(String::as_str).unwrap_or("");
    if hex.is_empty() {
        return Err("the guest could read no notes".into());
    }
    let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
        .map(|i| {
            hex.get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let bytes = bytes.ok_or_else(|| format!("`{hex}` is not a hex dump"))?;
    lto_note_in(&parse_notes(&bytes), true).map_err(|e| format!("{e:#}"))
}

pub fn boot_check(case: &Case, console: Option<&Console>, boot: &CheckResult) -> CheckResult {
    let Some(console) = console else {
        return unobserved(BOOT, "the guest's notes", boot);
    };
    let Some(module) = case.facts_module() else {
        return CheckResult::new(BOOT, Status::Skipped, "the case loads no module");
    };
    let want = want_note(case);
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (subject, path) in [
        ("vmlinux", "/sys/kernel/notes".to_string()),
        (
            module.as_str(),
            format!("/sys/module/{module}/notes/.note.Linux"),
        ),
    ] {
        let Some((line, args)) = console.fact(fact::NOTE, subject) else {
            return unobserved(BOOT, &format!("the guest's {path}"), boot);
        };
        match note_of_hex(args.first()) {
            Ok(Some(d)) if d == want => seen.push(format!("{path} says {}", note_word(d))),
            Ok(Some(d)) => problems.push(format!(
                "{path} says {d} ({}) but the case asks for lto: {} (console line {line})",
                note_word(d),
                case.lto.name()
            )),
            Ok(None) => problems.push(format!("{path} has no LTO note (console line {line})")),
            Err(e) => problems.push(format!("{path}: {e} (console line {line})")),
        }
    }
    if problems.is_empty() {
        CheckResult::new(BOOT, Status::Pass, seen.join("; "))
    } else {
        CheckResult::new(BOOT, Status::Fail, problems[0].clone()).with(problems)
    }
}

/// The family's checks: `lto_identity.static`, `lto_identity.boot`.
pub fn judge(j: &Judging) -> Vec<CheckResult> {
    vec![
        j.static_half(STATIC, |f| static_check(j.case, f, j.expect.tree)),
        boot_check(j.case, j.console, j.boot),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modules_objects_say_how_it_was_built() {
        let lkdtm = |kind: ObjectKind| -> Vec<(String, ObjectKind)> {
            ["core.o", "bugs.o", "cfi.o"]
                .iter()
                .map(|o| (format!("drivers/misc/lkdtm/{o}"), kind))
                .chain([(
                    "drivers/misc/lkdtm/rodata_objcopy.o".to_string(),
                    ObjectKind::Elf,
                )])
                .collect()
        };
        assert_eq!(
            module_code(Lto::Full, "lkdtm", &lkdtm(ObjectKind::Bitcode)),
            Some(Ok("lkdtm: 4 objects LLVM bitcode but 1 ELF island".into()))
        );
        assert_eq!(
            module_code(Lto::None, "lkdtm", &lkdtm(ObjectKind::Elf)),
            Some(Ok("lkdtm: 4 objects ELF".into()))
        );
        // The whole module outside LTO in an LTO kernel.
        assert_eq!(
            module_code(Lto::Thin, "lkdtm", &lkdtm(ObjectKind::Elf)),
            Some(Err(
                "lkdtm.ko was not built as the kernel was (lto: thin): 3 of its 4 objects \
                      are not LLVM bitcode (drivers/misc/lkdtm/core.o, drivers/misc/lkdtm/bugs.o, \
                      drivers/misc/lkdtm/cfi.o)"
                    .into()
            ))
        );
        // Bitcode in a kernel without LTO.
        assert!(matches!(
            module_code(Lto::None, "lkdtm", &lkdtm(ObjectKind::Bitcode)),
            Some(Err(e)) if e.contains("3 of its 4 objects are not ELF")
        ));
        // An object that is not there: nothing to judge, not a fail.
        let mut gone = lkdtm(ObjectKind::Elf);
        gone[0].1 = ObjectKind::Absent;
        assert_eq!(module_code(Lto::Full, "lkdtm", &gone), None);
        // A module of one object says nothing.
        assert_eq!(
            module_code(
                Lto::Full,
                "test_module",
                &[("lib/test_module.o".into(), ObjectKind::Elf)]
            ),
            None
        );
    }

    #[test]
    fn a_module_partly_without_kcfi_is_named_function_by_function() {
        use crate::elf::kcfi::UncheckedCall;
        let right = FunctionKcfi {
            functions: 120,
            address_taken: 40,
            indirect_calls: 12,
            ..FunctionKcfi::default()
        };
        let none = ModuleSources::default();
        assert_eq!(
            function_gaps("lkdtm", &right, "CONFIG_CFI_CLANG", Some(&none)),
            Ok("lkdtm: 40 address-taken functions hashed, 12 indirect calls checked".into())
        );
        let call = |f: &str| UncheckedCall {
            function: f.into(),
            offset: 0x1a,
        };
        let gaps = FunctionKcfi {
            unhashed: (0..7).map(|i| format!("lkdtm_CFI_{i}")).collect(),
            unchecked: vec![call("lkdtm_indirect_call"), call("execute_location")],
            ..right.clone()
        };
        // execute_location is declared __nocfi in lkdtm's perms.c; the
        // test functions are defined in cfi.c.
        let nocfi = ModuleSources {
            nocfi: [(
                "execute_location".to_string(),
                "drivers/misc/lkdtm/perms.c".to_string(),
            )]
            .into(),
            objects: [("lkdtm_indirect_call", "cfi.o"), ("lkdtm_CFI_0", "cfi.o")]
                .map(|(f, o)| (f.to_string(), format!("drivers/misc/lkdtm/{o}")))
                .into(),
        };
        assert_eq!(
            function_gaps("lkdtm", &gaps, "CONFIG_CFI", Some(&nocfi)).unwrap_err(),
            "lkdtm.ko was partly built without kCFI in a kernel with CONFIG_CFI=y: 1 of its 12 \
             indirect calls have no kCFI check (lkdtm_indirect_call+0x1a in \
             drivers/misc/lkdtm/cfi.o); 7 of its 40 address-taken functions have no kCFI type \
             hash (lkdtm_CFI_0 in drivers/misc/lkdtm/cfi.o, lkdtm_CFI_1, lkdtm_CFI_2, \
             lkdtm_CFI_3, lkdtm_CFI_4, and 2 more): calling them through a pointer traps"
        );
        // Only the __nocfi function's call: named, not failed.
        let excused = FunctionKcfi {
            unchecked: vec![call("execute_location")],
            ..right.clone()
        };
        assert_eq!(
            function_gaps("lkdtm", &excused, "CONFIG_CFI", Some(&nocfi)),
            Ok(
                "lkdtm: 40 address-taken functions hashed, 12 indirect calls checked but \
                execute_location+0x1a in `__nocfi` execute_location (drivers/misc/lkdtm/perms.c)"
                    .into()
            )
        );
        // Without the sources an unchecked call cannot be told apart: not
        // judged, and said so; unhashed functions still fail.
        let r = function_gaps("lkdtm", &excused, "CONFIG_CFI", None).unwrap();
        assert!(
            r.contains("1 without a kCFI check not judged: no source tree"),
            "{r}"
        );
        assert!(function_gaps("lkdtm", &gaps, "CONFIG_CFI", None).is_err());
    }

    #[test]
    fn a_c_files_definitions_are_the_names_at_the_first_column() {
        let src = "static noinline void lkdtm_indirect_call(void (*func)(int *))\n{\n\
                   \tfunc(&called_count);\n}\nstatic int\nlkdtm_foo(int x)\n{\n\
                   int lkdtm_decl(void);\n#define X(y) y\n";
        assert_eq!(
            defined_functions(src),
            vec!["lkdtm_indirect_call", "lkdtm_foo"]
        );
    }

    #[test]
    fn nocfi_functions_are_read_from_their_definitions() {
        let src = "static noinline __nocfi void execute_location(void *dst, bool write)\n\
                   {\n\
                   #define __nocfi __attribute__((no_sanitize(\"kcfi\")))\n\
                   int __nocfi;\n\
                   void plain(void)\n\
                   static noinline __nocfi\n\
                   void next_line(void)\n\
                   static int __nocfi other(int x) { return x; }\n\
                   \tfunc = __nocfi(x);\n";
        assert_eq!(
            nocfi_functions(src),
            vec!["execute_location", "next_line", "other"]
        );
    }

    #[test]
    fn hex_dumps_of_sys_notes_give_the_lto_note() {
        // /sys/kernel/notes of a right full-LTO kernel: GNU build id, then
        // Linux 0x101 with desc 1 (namesz 6, descsz 4, "Linux\0\0\0").
        let lto = "040000000400000003000000474e5500deadbeef060000000400000001010000\
4c696e75780000000100000006000000040000000001000000000000000000000000";
        assert_eq!(note_of_hex(Some(&lto.to_string())), Ok(Some(1)));
        let none = lto.replacen(
            "4c696e75780000000100000006",
            "4c696e75780000000000000006",
            1,
        );
        assert_eq!(note_of_hex(Some(&none)), Ok(Some(0)));
        assert!(note_of_hex(Some(&"zz".to_string())).is_err());
        assert!(note_of_hex(None).is_err());
        assert_eq!(note_of_hex(Some(&"0400".to_string())), Ok(None));
    }
}
