//! The initcall ordering script of an LTO build and what it should say.
//!
//! Under `CONFIG_LTO_CLANG` every initcall has its own input section,
//! `.initcall<level>.init..<id>` with `<id>` = `kmod_<mod>__<counter>_<line>_<fn>`,
//! and `scripts/generate_initcall_order.pl` writes `.tmp_initcalls.lds`
//! placing them in link order: objects in `vmlinux.a` member order, within
//! an object by counter. Three views of one order are read here:
//!
//! * [`parse_ordering_script`]: what the script says;
//! * [`nm_initcalls`] and [`link_order`]: what it should say, rebuilt
//!   independently from `llvm-nm --defined-only` of the archives (bitcode
//!   and ELF objects alike, so an object outside LTO is not missed);
//! * [`super::initcalls::table_labels`]: what vmlinux's tables hold.
//!
//! A level is the script's: `early`, `0`..`7`, `0s`..`7s`, `rootfs`
//! (console initcalls, `con`, have their own table and are left out).

use super::initcalls::{is_level, split_entry_label};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// One initcall in an order: its level and its id
/// (`kmod_<mod>__<counter>_<line>_<fn>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderedInitcall {
    pub level: String,
    pub id: String,
}

impl OrderedInitcall {
    pub fn new(level: impl Into<String>, id: impl Into<String>) -> Self {
        OrderedInitcall {
            level: level.into(),
            id: id.into(),
        }
    }

    /// The C function of the id (`<fn>` after `__<counter>_<line>_`).
    pub fn func(&self) -> &str {
        id_func(&self.id).unwrap_or(&self.id)
    }
}

impl std::fmt::Display for OrderedInitcall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.func(), self.id)
    }
}

/// `<mod>__<counter>_<line>_<fn>` → `<fn>`, using the last
/// `__<digits>_<digits>_` (module names may contain underscores; so may
/// functions, but not that pattern followed by more).
fn id_func(id: &str) -> Option<&str> {
    let bytes = id.as_bytes();
    (0..bytes.len().saturating_sub(1))
        .filter(|&i| bytes[i] == b'_' && bytes[i + 1] == b'_')
        .find_map(|i| {
            let rest = id.get(i + 2..)?;
            let rest = strip_digits(rest)?.strip_prefix('_')?;
            strip_digits(rest)?.strip_prefix('_')
        })
}

fn strip_digits(s: &str) -> Option<&str> {
    let rest = s.trim_start_matches(|c: char| c.is_ascii_digit());
    (rest.len() < s.len()).then_some(rest)
}

/// The counter of an id (`<mod>__<counter>_…`), for ordering within an object.
fn id_counter(id: &str) -> Option<u64> {
    let func = id_func(id)?;
    // `<mod>__<counter>_<line>_` precedes func.
    let head = id.get(..id.len() - func.len())?.strip_suffix('_')?;
    let head = head.trim_end_matches(|c: char| c.is_ascii_digit());
    let head = head.strip_suffix('_')?;
    let digits = head.rsplit("__").next()?;
    digits.parse().ok()
}

/// Reads `.tmp_initcalls.lds`: every `*(.initcall<level>.init..<id>)` in
/// order. A line that looks like an input section but is not one of
/// these is an error naming the line.
pub fn parse_ordering_script(text: &str) -> Result<Vec<OrderedInitcall>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        let Some(inner) = line.strip_prefix("*(") else {
            continue;
        };
        let Some(section) = inner
            .trim_end_matches(';')
            .trim_end()
            .strip_suffix(')')
            .map(str::trim)
        else {
            bail!("line {}: `{line}` is not `*(<section>) ;`", n + 1);
        };
        if section.starts_with(".con_initcall.init") {
            continue;
        }
        let parsed = section
            .strip_prefix(".initcall")
            .and_then(|s| s.split_once(".init.."))
            .filter(|(level, id)| is_level(level) && !id.is_empty());
        let Some((level, id)) = parsed else {
            bail!(
                "line {}: `{section}` is not an initcall section `.initcall<level>.init..<id>`",
                n + 1
            );
        };
        out.push(OrderedInitcall::new(level, id));
    }
    Ok(out)
}

/// One object's initcalls, as `llvm-nm` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInitcalls {
    /// The member's path, relative to the `O=` dir (`arch/x86/power/cpu.o`).
    pub object: String,
    /// Its initcalls, by counter (the order they run in within the object).
    pub initcalls: Vec<OrderedInitcall>,
}

/// Reads `llvm-nm --defined-only <archive>...` output: `<member>:` headers,
/// then `<addr> <type> <name>` lines. Keeps the objects that define
/// `__initcall__…` labels, in the order listed (link order).
pub fn nm_initcalls(nm_output: &str) -> Vec<ObjectInitcalls> {
    let mut out: Vec<ObjectInitcalls> = Vec::new();
    let mut current: Option<ObjectInitcalls> = None;
    let flush = |c: Option<ObjectInitcalls>, out: &mut Vec<ObjectInitcalls>| {
        if let Some(mut c) = c.filter(|c| !c.initcalls.is_empty()) {
            c.initcalls
                .sort_by_key(|i| id_counter(&i.id).unwrap_or(u64::MAX));
            out.push(c);
        }
    };
    for line in nm_output.lines() {
        if let Some(object) = line.strip_suffix(':').filter(|l| !l.contains(' ')) {
            flush(current.take(), &mut out);
            // `vmlinux.a(init/main.o)` or plain `init/main.o`.
            let object = object
                .split_once('(')
                .and_then(|(_, m)| m.strip_suffix(')'))
                .unwrap_or(object);
            current = Some(ObjectInitcalls {
                object: object.to_owned(),
                initcalls: Vec::new(),
            });
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(_addr), Some(_kind), Some(name), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if let (Some(c), Some((id, level))) = (current.as_mut(), split_entry_label(name)) {
            if is_level(level) {
                c.initcalls.push(OrderedInitcall::new(level, id));
            }
        }
    }
    flush(current.take(), &mut out);
    out
}

/// The order the script should give: per level, objects in link order and
/// each object's initcalls by counter (what generate_initcall_order.pl
/// does). Levels come out in table order: `early`, `0`, `0s`, … `rootfs`
/// between `5s` and `6`, … `7s`.
pub fn link_order(objects: &[ObjectInitcalls]) -> Vec<OrderedInitcall> {
    let mut all: Vec<OrderedInitcall> = objects
        .iter()
        .flat_map(|o| o.initcalls.iter().cloned())
        .collect();
    // A stable sort by level keeps link order within each level.
    all.sort_by_key(|i| level_rank(&i.level));
    all
}

/// A level's place in the tables (unknown levels last).
pub fn level_rank(level: &str) -> usize {
    const ORDER: [&str; 18] = [
        "early", "0", "0s", "1", "1s", "2", "2s", "3", "3s", "4", "4s", "5", "5s", "rootfs", "6",
        "6s", "7", "7s",
    ];
    ORDER
        .iter()
        .position(|l| *l == level)
        .unwrap_or(ORDER.len())
}

/// The first difference between two orders of one level, for a message:
/// `None` when they are equal.
pub fn first_difference(
    want: &[&OrderedInitcall],
    got: &[&OrderedInitcall],
) -> Option<(usize, Option<String>, Option<String>)> {
    let n = want.len().max(got.len());
    (0..n).find_map(|i| {
        let w = want.get(i).map(|x| x.id.as_str());
        let g = got.get(i).map(|x| x.id.as_str());
        (w != g).then(|| {
            (
                i,
                want.get(i).map(|x| x.to_string()),
                got.get(i).map(|x| x.to_string()),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "SECTIONS {\n\t.initcall0.init : {\n\t\t*(.initcall0.init..kmod_min_addr__295_53_init_mmap_min_addr) ;\n\t}\n\t.initcall1s.init : {\n\t\t*(.initcall1s.init..kmod_cpu__12_9_f) ;\n\t}\n\t.con_initcall.init : {\n\t\t*(.con_initcall.init..kmod_tty__1_2_con_init) ;\n\t}\n}\n";

    #[test]
    fn script_lines_become_ordered_initcalls() {
        let s = parse_ordering_script(SCRIPT).unwrap();
        assert_eq!(
            s,
            vec![
                OrderedInitcall::new("0", "kmod_min_addr__295_53_init_mmap_min_addr"),
                OrderedInitcall::new("1s", "kmod_cpu__12_9_f"),
            ]
        );
        assert_eq!(s[0].func(), "init_mmap_min_addr");
    }

    #[test]
    fn a_bad_script_line_is_named() {
        let e = parse_ordering_script("SECTIONS {\n  *(.initcall9.init..x) ;\n}\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse_ordering_script("*(.initcall1.init..x ;\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn ids_split_into_function_and_counter() {
        let i = OrderedInitcall::new("6", "kmod_power__cpu__330_12_bsp_pm_check_init");
        assert_eq!(i.func(), "bsp_pm_check_init");
        assert_eq!(id_counter(&i.id), Some(330));
        assert_eq!(
            id_counter("kmod_vdso_image_64__65_560_init_vdso_image_64"),
            Some(65)
        );
        assert_eq!(id_func("nonsense"), None);
        assert_eq!(id_counter("é__"), None);
    }

    const NM: &str = "\ninit/main.o:\n---------------- t foo\n---------------- t __initcall__kmod_main__30_900_b6\n---------------- t __initcall__kmod_main__12_100_a6\n\nkernel/x.o:\n---------------- T bar\n\narch/x86/power/cpu.o:\n0000000000000000 d __initcall__kmod_cpu__355_523_bsp_pm_check_init1\n0000000000000008 d __initcall__kmod_cpu__356_543_pm_check_save_msr6\n\nlib/y.o:\n---------------- t __initcall__kmod_y__2_3_early_thingearly\n---------------- t __initcall__kmod_tty__4_5_cinitcon\n";

    #[test]
    fn nm_output_gives_objects_in_link_order_with_counters_sorted() {
        let objs = nm_initcalls(NM);
        let names: Vec<&str> = objs.iter().map(|o| o.object.as_str()).collect();
        assert_eq!(names, ["init/main.o", "arch/x86/power/cpu.o", "lib/y.o"]);
        assert_eq!(objs[0].initcalls[0].id, "kmod_main__12_100_a");
        assert_eq!(objs[0].initcalls[1].id, "kmod_main__30_900_b");
        assert_eq!(objs[2].initcalls.len(), 1, "con is left out");
        let order = link_order(&objs);
        let ids: Vec<String> = order
            .iter()
            .map(|i| format!("{} {}", i.level, i.func()))
            .collect();
        assert_eq!(
            ids,
            [
                "early early_thing",
                "1 bsp_pm_check_init",
                "6 a",
                "6 b",
                "6 pm_check_save_msr"
            ]
        );
    }

    #[test]
    fn archive_member_headers_in_parentheses_are_understood() {
        let objs = nm_initcalls(
            "vmlinux.a(init/main.o):\n---------------- t __initcall__kmod_main__1_2_f6\n",
        );
        assert_eq!(objs[0].object, "init/main.o");
    }

    #[test]
    fn first_difference_names_position_and_both_sides() {
        let a = OrderedInitcall::new("6", "kmod_a__1_1_a");
        let b = OrderedInitcall::new("6", "kmod_b__2_2_b");
        assert_eq!(first_difference(&[&a, &b], &[&a, &b]), None);
        let d = first_difference(&[&a, &b], &[&b, &a]).unwrap();
        assert_eq!(d.0, 0);
        assert!(d.1.unwrap().starts_with("a ("));
        let d = first_difference(&[&a], &[&a, &b]).unwrap();
        assert_eq!((d.0, d.1), (1, None));
    }

    #[test]
    fn noise_never_panics() {
        for s in [
            "",
            ":",
            "é:\n x y z",
            "*(",
            "*()",
            "*(.initcall.init..) ;",
            "a b c d\n::\n",
        ] {
            let _ = parse_ordering_script(s);
            let _ = nm_initcalls(s);
        }
    }
}
