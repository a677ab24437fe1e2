//! Reproducers: `reproduce.sh` in each case's results directory, written
//! by [`write_all`](super::write_all) from the case's result and its
//! [`Recipe`]. A maintainer runs it on another Debian 12 machine with
//! `ci/setup`'s packages to see the same outcome, from a copy of the
//! results directory anywhere. The script is self-contained bash: the
//! source named by tarball SHA-256 (Debian's linux-source tarball,
//! checked) or git commit (checked out in a shared clone of a tree the
//! user names), the config fragments inline, the exact config and make
//! commands into a work dir of its own (`O=`), the exact QEMU line with
//! the initramfs saved next to the script (found relative to the
//! script), the console captured; then the verdict recorded at run time
//! and a comparison the script makes itself: the end marker's exit code,
//! whether the kernel panicked, every guest step's exit code and the
//! initcalls PID 1 ran before `/init`, as [`ConsoleFacts`] reads them
//! from the recorded console and the script's shell functions (the same
//! rules) from the new one. It exits 0 when the outcome matches, 1 when it
//! differs, 2 when it could not run. `--boot-only IMAGE` boots a given
//! kernel instead of building. It never touches the harness's cache.

use crate::model::recipe::{self, Recipe};
use crate::model::results::{CaseResult, RunResults};
use crate::model::source::SourceIdentity;
use crate::model::Status;
use crate::stages::build::shell_line;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The script's name in a case's results directory.
pub const SCRIPT: &str = "reproduce.sh";
/// The initramfs the boot step saves beside it.
pub const INITRAMFS: &str = "initramfs.cpio.gz";

/// What a boot's console showed, as the script compares it. The script's
/// shell functions ([`FACTS_SH`]) read the same from a console log; the
/// unit tests hold the two to the same answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleFacts {
    /// The last `@@LTOH END rc=N` marker's `rc=N`; `none` without one.
    pub end: String,
    /// `yes` when the kernel printed `Kernel panic - not syncing`.
    pub panic: String,
    /// Every `@@LTOH RESULT <step> rc=N` as `<step>=N`, space-separated.
    pub steps: String,
    /// The initcalls PID 1 ran before `Run /init` (initcall_debug's
    /// `calling  <fn>+… @ 1` lines): how many, and the first 16 hex digits
    /// of the SHA-256 of their names, one per line.
    pub initcalls: String,
}

/// The shell functions that read [`ConsoleFacts`] from a console log
/// (`LC_ALL=C`), as the script and the unit tests run them.
pub const FACTS_SH: &str = r#"# What a console log shows, by the rules lto-harness's ConsoleFacts
# (output/reproduce.rs) reads the recorded console with.
console_end() {
    local end
    end=$(tr -d '\r' <"$1" | grep -ao '@@LTOH END rc=-\{0,1\}[0-9]*' | tail -n 1 | sed 's/^@@LTOH END //' || true)
    echo "${end:-none}"
}
console_panic() {
    if grep -aq 'Kernel panic - not syncing' "$1"; then echo yes; else echo no; fi
}
console_steps() {
    tr -d '\r' <"$1" | grep -ao '@@LTOH RESULT [^ ]* rc=-\{0,1\}[0-9]*' \
        | sed 's/^@@LTOH RESULT //; s/ rc=/=/' | tr '\n' ' ' | sed 's/ $//' || true
}
console_initcalls() {
    local names
    names=$(mktemp)
    tr -d '\r' <"$1" | sed -n '/Run \/init/q; s/.*calling  \([^ +]*\)+.* @ 1$/\1/p' >"$names" || true
    echo "$(wc -l <"$names") $(sha256sum <"$names" | cut -c1-16)"
    rm -f "$names"
}
"#;

impl ConsoleFacts {
    /// The facts of a console log's bytes.
    pub fn of(log: &[u8]) -> ConsoleFacts {
        let text: Vec<u8> = log.iter().copied().filter(|&b| b != b'\r').collect();
        let mut end = None;
        let mut steps = vec![];
        for line in text.split(|&b| b == b'\n') {
            for m in matches(line, b"@@LTOH END rc=", |_| Some(0)) {
                end = Some(m);
            }
            // `[^ ]*` then ` rc=`: the step name runs to the first space.
            steps.extend(matches(line, b"@@LTOH RESULT ", |rest| {
                let name = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                rest[name..].starts_with(b" rc=").then_some(name + 4)
            }));
        }
        let steps: Vec<String> = steps
            .iter()
            .map(|s| {
                let s = s.strip_prefix("@@LTOH RESULT ").unwrap_or(s);
                s.replacen(" rc=", "=", 1)
            })
            .collect();
        ConsoleFacts {
            end: end.map_or("none".into(), |e| {
                e.strip_prefix("@@LTOH END ").unwrap_or(&e).to_owned()
            }),
            panic: if find(&text, b"Kernel panic - not syncing").is_some() {
                "yes".into()
            } else {
                "no".into()
            },
            steps: steps.join(" "),
            initcalls: initcalls(&text),
        }
    }
}

/// Where `needle` occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What `grep -o 'PREFIX<middle>rc=-\{0,1\}[0-9]*'` prints for one line:
/// at each occurrence of `prefix`, `middle` says how many bytes after it
/// come before the `rc=` value's digits (None: no match there).
fn matches(line: &[u8], prefix: &[u8], middle: impl Fn(&[u8]) -> Option<usize>) -> Vec<String> {
    let mut out = vec![];
    let mut at = 0;
    while let Some(i) = find(&line[at..], prefix) {
        let start = at + i;
        let rest = &line[start + prefix.len()..];
        match middle(rest) {
            Some(m) => {
                let mut n = m;
                if rest.get(n) == Some(&b'-') {
                    n += 1;
                }
                n += rest[n..].iter().take_while(|b| b.is_ascii_digit()).count();
                let end = start + prefix.len() + n;
                out.push(String::from_utf8_lossy(&line[start..end]).into_owned());
                at = end;
            }
            None => at = start + 1,
        }
    }
    out
}

/// `sed -n '/Run \/init/q; s/.*calling  \([^ +]*\)+.* @ 1$/\1/p'`, then
/// `wc -l` and the SHA-256 of what it printed.
fn initcalls(text: &[u8]) -> String {
    let mut out: Vec<u8> = vec![];
    let mut lines = text.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        // The text's end, after its last newline, is no line.
        let terminated = lines.peek().is_some();
        if !terminated && line.is_empty() {
            break;
        }
        if find(line, b"Run /init").is_some() {
            break;
        }
        if let Some(name) = calling(line) {
            out.extend_from_slice(name);
            if terminated {
                out.push(b'\n');
            }
        }
    }
    let count = out.iter().filter(|&&b| b == b'\n').count();
    let sum = hex::encode(Sha256::digest(&out));
    format!("{count} {}", &sum[..16])
}

/// The function of an initcall_debug `calling  <fn>+… @ 1` line: the last
/// `calling  ` after which the name, a `+` and the ` @ 1` ending follow.
fn calling(line: &[u8]) -> Option<&[u8]> {
    const CALLING: &[u8] = b"calling  ";
    let tail = line.len().checked_sub(4)?;
    if &line[tail..] != b" @ 1" {
        return None;
    }
    (0..line.len()).rev().find_map(|p| {
        if !line[p..].starts_with(CALLING) {
            return None;
        }
        let name_start = p + CALLING.len();
        let rest = &line[name_start..];
        let n = rest.iter().take_while(|&&b| b != b' ' && b != b'+').count();
        let plus = name_start + n;
        (line.get(plus) == Some(&b'+') && plus < tail).then(|| &line[name_start..plus])
    })
}

/// The verdict recorded at run time, as the script prints it: the status
/// and the first step or check that failed (else the first incomplete).
pub fn expected_verdict(result: &CaseResult) -> String {
    let first = |s: Status| result.tests().into_iter().find(|t| t.status == s);
    let first_line = |m: &str| m.lines().next().unwrap_or("").to_owned();
    match result.status {
        Status::Pass => "expected: pass (every step and check passed)".into(),
        s => match first(Status::Fail).or_else(|| first(Status::Incomplete)) {
            Some(t) => format!(
                "expected: {s}, first {}: {}: {}",
                if t.status == Status::Fail {
                    "failing"
                } else {
                    "incomplete"
                },
                t.name,
                first_line(t.message)
            ),
            None => format!("expected: {s}"),
        },
    }
}

/// Quotes one word for the shell.
fn quote(s: &str) -> String {
    shell_line(&[s.to_owned()])
}

/// One argv word as shell text: the recipe's placeholders become the
/// script's variables (`"$SRC"`, `"$WORK"`, …), the rest quoted.
fn word(w: &str) -> String {
    const VARS: [(&str, &str); 5] = [
        (recipe::SRC, "SRC"),
        (recipe::WORK, "WORK"),
        (recipe::KERNEL, "KERNEL"),
        (recipe::INITRD, "INITRD"),
        (recipe::JOBS, "JOBS"),
    ];
    let mut out = String::new();
    let mut rest = w;
    while !rest.is_empty() {
        let next = VARS
            .iter()
            .filter_map(|(p, v)| rest.find(p).map(|i| (i, *p, *v)))
            .min_by_key(|(i, ..)| *i);
        match next {
            Some((i, p, v)) => {
                if i > 0 {
                    out.push_str(&quote(&rest[..i]));
                }
                let _ = write!(out, "\"${v}\"");
                rest = &rest[i + p.len()..];
            }
            None => {
                out.push_str(&quote(rest));
                rest = "";
            }
        }
    }
    if out.is_empty() {
        "''".into()
    } else {
        out
    }
}

/// An argv as a shell line, with the placeholders as variables.
pub fn line(argv: &[String]) -> String {
    argv.iter().map(|w| word(w)).collect::<Vec<_>>().join(" ")
}

/// A heredoc delimiter that is no line of `text`.
fn delimiter(base: &str, text: &str) -> String {
    let mut d = base.to_owned();
    let mut n = 0;
    while text.lines().any(|l| l == d) {
        n += 1;
        d = format!("{base}_{n}");
    }
    d
}

/// `cmd <<'DELIM'`, the text, `DELIM`.
fn heredoc(out: &mut String, cmd: &str, text: &str) {
    let d = delimiter("LTOH_EOF", text);
    let _ = writeln!(out, "{cmd} <<'{d}'");
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "{d}");
}

/// One line for a `#` comment.
fn comment(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// One line for text inside double quotes: nothing the shell expands.
fn plain(s: &str) -> String {
    comment(s).replace(['"', '$', '`', '\\'], "_")
}

/// The script of one case: `recipe` (how it was built and booted),
/// `result` (its verdict), `recorded` (what its console showed, when it
/// booted) and the run it belongs to.
pub fn script(
    run: &RunResults,
    result: &CaseResult,
    recipe: &Recipe,
    recorded: Option<&ConsoleFacts>,
) -> String {
    let mut s = String::new();
    header(&mut s, run, result, recipe);
    // A kernel built elsewhere (`--kernel-build`) can only be booted.
    let builds = recipe.source.is_some() && !recipe.build_command.is_empty();
    if builds {
        source(&mut s, recipe);
        build(&mut s, recipe);
    }
    boot(&mut s, recipe, builds);
    compare(&mut s, run, result, recorded);
    s
}

fn header(s: &mut String, run: &RunResults, result: &CaseResult, r: &Recipe) {
    let source = r
        .source
        .as_ref()
        .map_or("a kernel built elsewhere".into(), SourceIdentity::describe);
    let _ = write!(
        s,
        r#"#!/usr/bin/env bash
# reproduce.sh: lto-harness case {case}, recorded {at} by lto-harness {version}.
# Source: {source}.
# Builds the case's kernel with the exact config and make commands the run
# used, into a work dir of its own, boots it with the exact QEMU line and the
# initramfs saved next to this script, and compares the console with the one
# the run recorded. For Debian 12 with the packages of lto-harness's
# ci/setup; never touches lto-harness's cache.
#
# Usage: reproduce.sh [--boot-only IMAGE] [--tree DIR] [--tarball FILE] [--work DIR]
#   --boot-only IMAGE  boot IMAGE (this case's kernel) instead of building one
#   --tree DIR         a git tree that has the recorded commit (git sources),
#                      or the tree itself (plain trees); also LTO_REPRO_TREE
#   --tarball FILE     the kernel tarball, when not at the recorded path;
#                      also LTO_REPRO_TARBALL
#   --work DIR         where the source, the build and the console go
#                      (default: a new directory in ${{TMPDIR:-/tmp}}); also
#                      LTO_REPRO_WORK
# Environment: JOBS (make -jN, default {jobs}), BOOT_TIMEOUT (seconds, default
# {timeout}).
# Exits 0 when the outcome matches the recorded one, 1 when it differs, 2
# when it could not be run.
set -euo pipefail
set -E
export LC_ALL=C
trap 'echo "reproduce.sh: line $LINENO: a command failed (exit $?)" >&2; exit 2' ERR

CASE={case_q}
HERE=$(cd -- "$(dirname -- "${{BASH_SOURCE[0]}}")" && pwd)
INITRD="$HERE/{initramfs}"
JOBS=${{JOBS:-{jobs}}}
BOOT_TIMEOUT=${{BOOT_TIMEOUT:-{timeout}}}
KERNEL=''
TREE=${{LTO_REPRO_TREE:-}}
TARBALL=${{LTO_REPRO_TARBALL:-{tarball}}}
WORKROOT=${{LTO_REPRO_WORK:-}}

die() {{ echo "reproduce.sh ($CASE): $*" >&2; exit 2; }}
need() {{
    command -v "$1" >/dev/null 2>&1 ||
        die "'$1' not found: install the Debian package(s) $2 (lto-harness's ci/setup does)"
}}
usage() {{ awk 'NR > 1 && !/^#/ {{ exit }} NR > 1 {{ sub(/^# ?/, ""); print }}' "${{BASH_SOURCE[0]}}"; }}

while [ $# -gt 0 ]; do
    case "$1" in
        --boot-only) [ $# -ge 2 ] || die "--boot-only needs a kernel image"; KERNEL=$2; shift 2 ;;
        --tree) [ $# -ge 2 ] || die "--tree needs a directory"; TREE=$2; shift 2 ;;
        --tarball) [ $# -ge 2 ] || die "--tarball needs a file"; TARBALL=$2; shift 2 ;;
        --work) [ $# -ge 2 ] || die "--work needs a directory"; WORKROOT=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

if [ -z "$WORKROOT" ]; then
    WORKROOT=$(mktemp -d "${{TMPDIR:-/tmp}}/lto-repro.XXXXXX")
fi
mkdir -p "$WORKROOT"
WORKROOT=$(cd -- "$WORKROOT" && pwd)
CONSOLE="$WORKROOT/console.log"
build_failed=''
echo "reproduce.sh: case $CASE, working in $WORKROOT"
"#,
        case = comment(&result.name),
        case_q = quote(&result.name),
        at = comment(&run.started_at),
        version = comment(&run.harness_version),
        source = comment(&source),
        initramfs = INITRAMFS,
        jobs = r.jobs,
        timeout = r.timeout_secs,
        tarball = match &r.source {
            Some(SourceIdentity::Tarball { path, .. }) => quote(&path.display().to_string()),
            _ => "''".into(),
        },
    );
}

/// `get_source`: the tree the recipe names, into `$SRC`.
fn source(s: &mut String, r: &Recipe) {
    s.push_str(
        r#"
# The source, the build and its log go into the work dir.
SRC="$WORKROOT/src"
WORK="$WORKROOT/build"
BUILD_LOG="$WORKROOT/build.log"

# The kernel source, as the run had it.
get_source() {
"#,
    );
    match &r.source {
        Some(SourceIdentity::Tarball { sha256, .. }) => {
            let _ = write!(
                s,
                r#"    local want={sha} got
    [ -z "$TREE" ] || echo "warning: --tree ignored: the run's source was a tarball" >&2
    need tar tar
    need xz xz-utils
    need sha256sum coreutils
    if [ -f "$WORKROOT/.source-sha256" ] && [ "$(cat "$WORKROOT/.source-sha256")" = "$want" ]; then
        echo "source: $SRC (extracted before from a tarball with sha256 $want)"
        return
    fi
    [ -f "$TARBALL" ] ||
        die "$TARBALL not found: install the Debian package linux-source-{series} (ci/setup does) or pass --tarball FILE"
    echo "source: checking $TARBALL against the run's sha256 $want"
    got=$(sha256sum "$TARBALL" | cut -d' ' -f1)
    [ "$got" = "$want" ] ||
        die "$TARBALL has sha256 $got; the run's source had $want: another kernel (pass --tarball FILE with the run's)"
    rm -rf "$SRC" "$WORKROOT/.source-sha256"
    mkdir -p "$SRC"
    tar -xf "$TARBALL" --strip-components=1 -C "$SRC"
    echo "$want" >"$WORKROOT/.source-sha256"
    echo "source: $TARBALL extracted into $SRC"
"#,
                sha = quote(sha256),
                series = r
                    .kernel_version
                    .as_deref()
                    .and_then(|v| v.rsplit_once('.').map(|(a, _)| a.to_owned()))
                    .unwrap_or_else(|| "6.12".into()),
            );
        }
        Some(SourceIdentity::Git {
            path,
            commit,
            dirty,
            diff_sha256,
        }) => {
            let _ = write!(
                s,
                r#"    local commit={commit}
    [ -z "$TARBALL" ] || echo "warning: --tarball ignored: the run's source was a git tree" >&2
    need git git
    [ -n "$TREE" ] ||
        die "the run built git commit $commit (of the tree at {path} there): pass --tree DIR (or LTO_REPRO_TREE), a git tree that has that commit"
    git -C "$TREE" cat-file -e "$commit^{{commit}}" 2>/dev/null ||
        die "$TREE has no commit $commit: fetch it there first"
    if [ ! -d "$SRC/.git" ]; then
        rm -rf "$SRC"
        # A clone sharing the tree's objects: the tree itself is not touched.
        git clone --quiet --shared --no-checkout "$TREE" "$SRC"
    fi
    git -C "$SRC" checkout --quiet --force --detach "$commit"
    echo "source: $SRC at commit $commit (objects shared with $TREE)"
"#,
                commit = quote(commit),
                path = plain(&path.display().to_string()),
            );
            if *dirty {
                let _ = writeln!(
                    s,
                    "    echo \"warning: the run's tree had uncommitted changes (diff sha256 {}); \
                     they are not in this checkout\" >&2",
                    plain(diff_sha256.as_deref().unwrap_or("unknown"))
                );
            }
        }
        Some(SourceIdentity::Tree { path, fingerprint }) => {
            let _ = write!(
                s,
                r#"    [ -z "$TARBALL" ] || echo "warning: --tarball ignored: the run's source was a plain tree" >&2
    [ -n "$TREE" ] ||
        die "the run built a plain tree (no tarball, no git) at {path} there, fingerprint {fp}: pass --tree DIR with the same files"
    SRC=$(cd -- "$TREE" && pwd)
    echo "warning: $SRC is used as it is: nothing can check it has the run's files" >&2
"#,
                path = plain(&path.display().to_string()),
                fp = plain(fingerprint),
            );
        }
        // Not built by the run: nothing to get (see `boot`).
        None => {}
    }
    s.push_str("}\n");
}

/// `build_kernel`: the fragments, the config commands, the symbol check
/// and make, each logged; the first failure goes into `$build_failed`.
fn build(s: &mut String, r: &Recipe) {
    s.push_str(
        r#"
# The build: the run's fragments, config commands and make line.
step() {
    [ -z "$build_failed" ] || return 0
    printf '$ %s\n' "$*" >>"$BUILD_LOG"
    local rc=0
    "$@" >>"$BUILD_LOG" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || build_failed="exit $rc of: $*"
}
write_fragments() {
    mkdir -p "$WORK/lto-harness-fragments"
"#,
    );
    for (path, text) in &r.fragments {
        heredoc(s, &format!("    cat >{}", word(path)), text);
    }
    s.push_str(
        r#"}
# Every symbol the fragments ask for must be in the final .config (`n`: unset).
check_config() {
    local sym want got bad=''
    while IFS='=' read -r sym want; do
        got=$(sed -n "s/^$sym=//p" "$WORK/.config")
        if [ "$want" = n ]; then
            [ -z "$got" ] || [ "$got" = n ] || bad="$bad $sym=$got (requested n)"
        elif [ "$got" != "$want" ]; then
            bad="$bad $sym=${got:-missing} (requested $want)"
        fi
    done"#,
    );
    let requested: String = r
        .requested
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    heredoc(s, "", &requested);
    s.push_str(
        r#"    [ -z "$bad" ] || build_failed="requested config symbols not in the final .config:$bad"
}
build_kernel() {
"#,
    );
    let _ = writeln!(s, "    need make make");
    for (tool, pkg) in [("flex", "flex"), ("bison", "bison"), ("bc", "bc")] {
        let _ = writeln!(s, "    need {tool} {pkg}");
    }
    if !r.clang.is_empty() {
        let _ = write!(
            s,
            r#"    need {clang} {pkgs}
    local here
    here=$({clang} --version | sed -n 1p)
    [ "$here" = {version} ] ||
        echo "warning: here $here; the run had "{version} >&2
"#,
            clang = quote(&r.clang),
            pkgs = quote(&r.toolchain_packages),
            version = quote(&r.clang_version),
        );
    }
    s.push_str("    mkdir -p \"$WORK\"\n    : >\"$BUILD_LOG\"\n    write_fragments\n");
    s.push_str("    echo \"build: configuring in $WORK (log: $BUILD_LOG)\"\n");
    for c in &r.config_commands {
        let _ = writeln!(s, "    step {}", line(c));
    }
    s.push_str("    [ -n \"$build_failed\" ] || check_config\n");
    s.push_str("    [ -n \"$build_failed\" ] || echo \"build: make -j$JOBS (a tinyconfig kernel takes 5 to 15 minutes on 2 cores)\"\n");
    if !r.build_command.is_empty() {
        let _ = writeln!(s, "    step {}", line(&r.build_command));
    }
    s.push_str("}\n");
}

/// The boot: the exact QEMU line under `timeout`, the console captured.
fn boot(s: &mut String, r: &Recipe, builds: bool) {
    let qemu = r.qemu.first().cloned().unwrap_or_default();
    let _ = write!(
        s,
        r#"
# The boot: the run's QEMU line; the console goes to $CONSOLE.
boot_kernel() {{
    need {qemu} {qemu_pkg}
    need timeout coreutils
    [ -f "$INITRD" ] || die "$INITRD is missing: the initramfs the run booted must be next to this script"
    [ -f "$KERNEL" ] || die "no kernel image at $KERNEL"
    echo "boot: $KERNEL with $INITRD (console: $CONSOLE, timeout ${{BOOT_TIMEOUT}} s)"
    qemu_rc=0
    timeout --kill-after=5 "$BOOT_TIMEOUT" {line} </dev/null >"$CONSOLE" 2>"$WORKROOT/qemu-stderr.log" || qemu_rc=$?
}}
"#,
        qemu = quote(&qemu),
        qemu_pkg = quote(&r.qemu_package),
        line = line(&r.qemu),
    );
    let build = if builds {
        format!(
            r#"else
    get_source
    build_kernel
    if [ -n "$build_failed" ]; then built=fail; else built=pass; fi
    KERNEL="$WORK/{}"
"#,
            r.boot_image
        )
    } else {
        format!(
            r#"else
    die "the run judged a kernel built outside lto-harness ({}): nothing to build from; pass --boot-only IMAGE"
"#,
            plain(
                &r.kernel_build
                    .as_ref()
                    .map_or("unknown".into(), |d| d.display().to_string())
            )
        )
    };
    let ignored = if builds {
        ""
    } else {
        "[ -z \"$TREE$TARBALL\" ] || echo \"warning: --tree and --tarball ignored: nothing is built\" >&2\n"
    };
    let _ = write!(
        s,
        r#"
if [ -n "$KERNEL" ]; then
    [ -f "$KERNEL" ] || die "--boot-only $KERNEL: no such file"
    KERNEL=$(cd -- "$(dirname -- "$KERNEL")" && pwd)/$(basename -- "$KERNEL")
    built=skipped
{build}fi
{ignored}qemu_rc=''
if [ "$built" != fail ]; then
    boot_kernel
fi
"#,
    );
}

/// The verdict recorded at run time and the comparison with this boot.
fn compare(s: &mut String, run: &RunResults, result: &CaseResult, recorded: Option<&ConsoleFacts>) {
    s.push('\n');
    s.push_str(FACTS_SH);
    let build = match result.build.status {
        Status::Fail => "fail",
        _ => "pass",
    };
    let _ = write!(
        s,
        r#"
RECORDED_BUILD={build}
RECORDED_BOOTED={booted}
RECORDED_END={end}
RECORDED_PANIC={panic}
RECORDED_STEPS={steps}
RECORDED_INITCALLS={initcalls}
"#,
        booted = if recorded.is_some() { "yes" } else { "no" },
        end = quote(recorded.map_or("", |f| &f.end)),
        panic = quote(recorded.map_or("", |f| &f.panic)),
        steps = quote(recorded.map_or("", |f| &f.steps)),
        initcalls = quote(recorded.map_or("", |f| &f.initcalls)),
    );
    let _ = writeln!(
        s,
        "\necho\necho \"recorded at run time ({}, lto-harness {}):\"",
        plain(&run.started_at),
        plain(&run.harness_version)
    );
    let mut verdict = expected_verdict(result);
    verdict.push('\n');
    heredoc(s, "sed 's/^/  /'", &verdict);
    s.push_str(
        r#"echo "this reproduction:"
same=yes
differs() { same=no; echo "  $1: $2, recorded: $3 (DIFFERS)"; }
if [ "$built" = skipped ]; then
    echo "  build: skipped (--boot-only $KERNEL)"
    [ "$RECORDED_BUILD" = pass ] || die "the run's build failed: there was no kernel to boot"
elif [ "$built" = "$RECORDED_BUILD" ]; then
    echo "  build: $built, as recorded${build_failed:+ ($build_failed; log: $BUILD_LOG)}"
else
    differs build "$built${build_failed:+ ($build_failed; log: $BUILD_LOG)}" "$RECORDED_BUILD"
fi
if [ -n "$qemu_rc" ]; then
    if [ "$qemu_rc" = 124 ]; then
        echo "  qemu: timed out after $BOOT_TIMEOUT s"
    else
        echo "  qemu: exit $qemu_rc"
    fi
    if [ "$RECORDED_BOOTED" = no ]; then
        echo "  console: $CONSOLE (the run did not boot this kernel: nothing to compare it with)"
    else
        now=$(console_end "$CONSOLE")
        if [ "$now" = "$RECORDED_END" ]; then echo "  end marker: $now, as recorded"; else differs "end marker" "$now" "$RECORDED_END"; fi
        now=$(console_panic "$CONSOLE")
        if [ "$now" = "$RECORDED_PANIC" ]; then echo "  kernel panic: $now, as recorded"; else differs "kernel panic" "$now" "$RECORDED_PANIC"; fi
        now=$(console_steps "$CONSOLE")
        if [ "$now" = "$RECORDED_STEPS" ]; then
            echo "  guest steps: as recorded ($(echo "$now" | wc -w) exit codes)"
        else
            differs "guest steps" "$now" "$RECORDED_STEPS"
        fi
        now=$(console_initcalls "$CONSOLE")
        if [ "$now" = "$RECORDED_INITCALLS" ]; then
            echo "  initcalls before /init: ${now% *}, in the recorded order"
        else
            differs "initcalls before /init (count, sha256)" "$now" "$RECORDED_INITCALLS"
        fi
        echo "  console: $CONSOLE (lto-harness judge $CONSOLE: the boot's own verdict)"
    fi
fi
if [ "$same" = yes ]; then
    echo "outcome: matches the recorded one"
    exit 0
fi
echo "outcome: DIFFERS from the recorded one"
exit 1
"#,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{case, check, run};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/console")
            .join(name)
    }

    /// A recipe as the run makes one for x86_64-lto-none from the tarball.
    fn recipe() -> Recipe {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let base = format!(
            "make -C {} O={} ARCH=x86 LLVM=-19",
            recipe::SRC,
            recipe::WORK
        );
        let frag =
            |i: usize, l: &str| format!("{}/lto-harness-fragments/{i:02}-{l}.config", recipe::WORK);
        Recipe {
            source: Some(SourceIdentity::Tarball {
                path: "/usr/src/linux-source-6.12.tar.xz".into(),
                sha256: "585a4a074597aefa2b1a68ada83a3184ba351c127544dea80618bbcceaa3961f".into(),
            }),
            kernel_version: Some("6.12.117".into()),
            kernel_build: None,
            fragments: vec![
                (
                    frag(0, "harness"),
                    "CONFIG_PRINTK=y\n# CONFIG_X is not set\n".into(),
                ),
                (frag(1, "inline"), "CONFIG_NR=4\nLTOH_EOF\n".into()),
            ],
            requested: vec![
                ("CONFIG_NR".into(), "4".into()),
                ("CONFIG_PRINTK".into(), "y".into()),
                ("CONFIG_X".into(), "n".into()),
            ],
            config_commands: vec![
                words(&format!("{base} tinyconfig")),
                words(&format!(
                    "{}/scripts/kconfig/merge_config.sh -m -O {w} {w}/.config {} {}",
                    recipe::SRC,
                    frag(0, "harness"),
                    frag(1, "inline"),
                    w = recipe::WORK
                )),
                words(&format!("{base} olddefconfig")),
            ],
            build_command: {
                let mut v = words(&format!("{base} -j{} bzImage modules", recipe::JOBS));
                v.push("CC=ccache /usr/bin/clang-19".into());
                v
            },
            jobs: 2,
            boot_image: "arch/x86/boot/bzImage".into(),
            llvm: "-19".into(),
            clang: "clang-19".into(),
            clang_version: "Debian clang version 19.1.7 (3~deb12u1)".into(),
            toolchain_packages: "clang-19 lld-19 llvm-19".into(),
            qemu: words(&format!(
                "qemu-system-x86_64 -M q35 -accel tcg -m 512 -smp 1 -nodefaults -display none \
                 -serial stdio -no-reboot -kernel {} -initrd {} -append",
                recipe::KERNEL,
                recipe::INITRD
            ))
            .into_iter()
            .chain(["console=ttyS0 panic=-1 initcall_debug lto_harness_attempt=0".into()])
            .collect(),
            qemu_package: "qemu-system-x86".into(),
            timeout_secs: 120,
        }
    }

    fn failing() -> CaseResult {
        let mut c = case(
            "x86_64-lto-none",
            Status::Pass,
            Status::Pass,
            vec![
                check("cfi.static", Status::Pass, "ok"),
                check(
                    "initcalls.boot",
                    Status::Fail,
                    "2 initcalls out of place: first foo_init\nmore",
                ),
                check("modules.runtime", Status::Incomplete, "never ran"),
            ],
        );
        c.compute_status();
        c
    }

    fn facts() -> ConsoleFacts {
        ConsoleFacts::of(&std::fs::read(fixture("x86_64-tiny-full-cfi-lkdtm.log")).unwrap())
    }

    #[test]
    fn the_script_has_the_make_lines_fragments_sha256_and_qemu_line() {
        let c = failing();
        let r = run(vec![c.clone()]);
        let s = script(&r, &c, &recipe(), Some(&facts()));
        assert!(s.starts_with("#!/usr/bin/env bash\n"), "{s}");
        assert!(s.contains("\nset -euo pipefail\n"));
        // The exact commands, the machine's paths as the script's own.
        for l in [
            r#"step make -C "$SRC" O="$WORK" ARCH=x86 LLVM=-19 tinyconfig"#,
            r#"step "$SRC"/scripts/kconfig/merge_config.sh -m -O "$WORK" "$WORK"/.config "$WORK"/lto-harness-fragments/00-harness.config "$WORK"/lto-harness-fragments/01-inline.config"#,
            r#"step make -C "$SRC" O="$WORK" ARCH=x86 LLVM=-19 olddefconfig"#,
            r#"step make -C "$SRC" O="$WORK" ARCH=x86 LLVM=-19 -j"$JOBS" bzImage modules 'CC=ccache /usr/bin/clang-19'"#,
        ] {
            assert!(s.contains(&format!("\n    {l}\n")), "no `{l}` in\n{s}");
        }
        // The fragments inline, a delimiter no fragment line equals.
        assert!(
            s.contains(
                "    cat >\"$WORK\"/lto-harness-fragments/00-harness.config <<'LTOH_EOF'\n\
             CONFIG_PRINTK=y\n# CONFIG_X is not set\nLTOH_EOF\n"
            ),
            "{s}"
        );
        assert!(
            s.contains("<<'LTOH_EOF_1'\nCONFIG_NR=4\nLTOH_EOF\nLTOH_EOF_1\n"),
            "{s}"
        );
        assert!(s.contains("CONFIG_X=n\n"), "{s}");
        // The source by its hash, the tarball at its recorded path.
        assert!(s.contains(
            "local want=585a4a074597aefa2b1a68ada83a3184ba351c127544dea80618bbcceaa3961f got"
        ));
        assert!(s.contains("${LTO_REPRO_TARBALL:-/usr/src/linux-source-6.12.tar.xz}"));
        assert!(s.contains("linux-source-6.12 "), "{s}");
        // The QEMU line, with the initramfs beside the script.
        assert!(s.contains(
            "timeout --kill-after=5 \"$BOOT_TIMEOUT\" qemu-system-x86_64 -M q35 -accel tcg -m 512 -smp 1 \
             -nodefaults -display none -serial stdio -no-reboot -kernel \"$KERNEL\" -initrd \"$INITRD\" \
             -append 'console=ttyS0 panic=-1 initcall_debug lto_harness_attempt=0' </dev/null"
        ), "{s}");
        assert!(s.contains("\nINITRD=\"$HERE/initramfs.cpio.gz\"\n"));
        assert!(s.contains("HERE=$(cd -- \"$(dirname -- \"${BASH_SOURCE[0]}\")\" && pwd)"));
        // The verdict as recorded, and what the console showed.
        assert!(s.contains("expected: fail, first failing: initcalls.boot: 2 initcalls out of place: first foo_init\n"), "{s}");
        assert!(s.contains("RECORDED_END=rc=0\n"), "{s}");
        assert!(s.contains("RECORDED_PANIC=no\n"), "{s}");
        assert!(!s.contains("@LTOH_"), "a placeholder left in\n{s}");
    }

    #[test]
    fn bash_and_shellcheck_accept_the_script() {
        crate::skip_unless!(
            "bash_and_shellcheck_accept_the_script",
            crate::host::needs::Need::Tool {
                tool: "bash",
                package: "bash"
            }
        );
        let d = tempfile::tempdir().unwrap();
        let c = failing();
        let r = run(vec![c.clone()]);
        let mut recipes = vec![recipe()];
        let mut git = recipe();
        git.source = Some(SourceIdentity::Git {
            path: "/home/me/linux".into(),
            commit: "668d85375783".into(),
            dirty: true,
            diff_sha256: Some("abc".into()),
        });
        recipes.push(git);
        let mut tree = recipe();
        tree.source = Some(SourceIdentity::Tree {
            path: "/k".into(),
            fingerprint: "ff".into(),
        });
        recipes.push(tree);
        let mut elsewhere = recipe();
        elsewhere.source = None;
        elsewhere.kernel_build = Some("/o".into());
        elsewhere.config_commands.clear();
        elsewhere.build_command.clear();
        recipes.push(elsewhere);
        for (i, rc) in recipes.iter().enumerate() {
            let p = d.path().join(format!("r{i}.sh"));
            let facts = facts();
            std::fs::write(&p, script(&r, &c, rc, (i % 2 == 0).then_some(&facts))).unwrap();
            let o = Command::new("bash").arg("-n").arg(&p).output().unwrap();
            assert!(
                o.status.success(),
                "bash -n: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            if crate::host::toolchain::find_in_path("shellcheck").is_some() {
                let o = Command::new("shellcheck").arg(&p).output().unwrap();
                assert!(
                    o.status.success(),
                    "shellcheck {i}:\n{}",
                    String::from_utf8_lossy(&o.stdout)
                );
            }
        }
    }

    /// The facts the shell functions read from `log`.
    fn shell_facts(log: &Path) -> ConsoleFacts {
        let o = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -euo pipefail; export LC_ALL=C; {FACTS_SH}\n\
                 console_end \"$1\"; console_panic \"$1\"; echo \"$(console_steps \"$1\")\"; console_initcalls \"$1\""
            ))
            .arg("facts")
            .arg(log)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8(o.stdout).unwrap();
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l.len(), 4, "{out}");
        ConsoleFacts {
            end: l[0].into(),
            panic: l[1].into(),
            steps: l[2].into(),
            initcalls: l[3].into(),
        }
    }

    #[test]
    fn the_shell_reads_a_console_as_console_facts_does() {
        crate::skip_unless!(
            "the_shell_reads_a_console_as_console_facts_does",
            crate::host::needs::Need::Tool {
                tool: "sha256sum",
                package: "coreutils"
            }
        );
        let d = tempfile::tempdir().unwrap();
        let mut logs: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixture(""))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        // Awkward ones: a panic, no end marker, markers run together, CRs,
        // a last line without a newline, bytes that are not UTF-8.
        logs.push((
            "odd".into(),
            b"[ 0.1] calling  a_init+0x0/0x3 @ 1\r\n\
              [ 0.2] calling  b+0x0/0x3 @ 12\n\
              x calling  c calling  d_init+0x0/0x9 @ 1\n\
              calling  +0x0 @ 1\n\
              \xff\xfe calling  e\xff+0x1 @ 1\n\
              @@LTOH RESULT s1 rc=0@@LTOH RESULT s2 rc=-3x @@LTOH RESULT bad\n\
              @@LTOH END rc=7\n@@LTOH END rc=\n\
              Kernel panic - not syncing: Attempted to kill init!\n\
              Run /init as init process\n\
              calling  after+0x0/0x1 @ 1\n"
                .to_vec(),
        ));
        logs.push(("no-newline".into(), b"calling  x+0x0 @ 1".to_vec()));
        logs.push(("empty".into(), vec![]));
        for (name, bytes) in logs {
            let p = d.path().join(&name);
            std::fs::write(&p, &bytes).unwrap();
            assert_eq!(ConsoleFacts::of(&bytes), shell_facts(&p), "{name}");
        }
        let f = facts();
        assert_eq!(f.end, "rc=0");
        assert_eq!(f.panic, "no");
        let n: usize = f.initcalls.split(' ').next().unwrap().parse().unwrap();
        assert!(n > 100, "{}", f.initcalls);
        let odd = ConsoleFacts::of(
            b"calling  a_init+0x0/0x3 @ 1\nx calling  c calling  d_init+0x0/0x9 @ 1\n\
              @@LTOH RESULT s1 rc=0@@LTOH RESULT s2 rc=-3x\nKernel panic - not syncing\n",
        );
        assert_eq!(odd.end, "none");
        assert_eq!(odd.panic, "yes");
        assert_eq!(odd.steps, "s1=0 s2=-3");
        assert!(odd.initcalls.starts_with("2 "), "{}", odd.initcalls);
    }

    use crate::host::testgit::git;

    #[test]
    fn a_git_source_is_checked_out_in_a_clone_of_the_named_tree() {
        use crate::host::needs::Need;
        crate::skip_unless!(
            "a_git_source_is_checked_out_in_a_clone_of_the_named_tree",
            Need::Tool {
                tool: "git",
                package: "git"
            },
            Need::Tool {
                tool: "make",
                package: "make"
            },
            Need::Tool {
                tool: "flex",
                package: "flex"
            },
            Need::Tool {
                tool: "bison",
                package: "bison"
            },
            Need::Tool {
                tool: "bc",
                package: "bc"
            },
        );
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("linux");
        std::fs::create_dir(&tree).unwrap();
        git(&tree, &["init", "-q", "-b", "main"]);
        std::fs::write(tree.join("Makefile"), "%:\n\t@echo no kernel here; false\n").unwrap();
        git(&tree, &["add", "Makefile"]);
        git(&tree, &["commit", "-q", "-m", "one"]);
        let commit = git(&tree, &["rev-parse", "HEAD"]);
        std::fs::write(tree.join("Makefile"), "changed\n").unwrap();
        git(&tree, &["commit", "-q", "-am", "two"]);
        let head = git(&tree, &["rev-parse", "HEAD"]);
        let mut rc = recipe();
        rc.source = Some(SourceIdentity::Git {
            path: "/elsewhere/linux".into(),
            commit: commit.clone(),
            dirty: false,
            diff_sha256: None,
        });
        rc.clang.clear();
        let c = case("x86_64-lto-none", Status::Pass, Status::Pass, vec![]);
        let script = d.path().join("reproduce.sh");
        std::fs::write(&script, script_text(&c, &rc)).unwrap();
        let reproduce = |args: &[&str]| {
            Command::new("bash")
                .arg(&script)
                .args(["--work", d.path().join("w").to_str().unwrap()])
                .args(args)
                .output()
                .unwrap()
        };
        // Without a tree: says which commit to find, exit 2.
        let o = reproduce(&[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("the run built git commit {commit}")),
            "{err}"
        );
        assert!(err.contains("pass --tree DIR"), "{err}");
        // With it: the commit checked out in a clone, the build fails (no
        // kernel in this tree) where the run's passed: exit 1.
        let o = reproduce(&["--tree", tree.to_str().unwrap()]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.contains(&format!("at commit {commit}")), "{out}");
        assert!(out.contains("build: fail (exit 2 of: make -C "), "{out}");
        assert!(out.contains("recorded: pass (DIFFERS)"), "{out}");
        assert_eq!(git(&d.path().join("w/src"), &["rev-parse", "HEAD"]), commit);
        // A run whose build failed too: the same outcome, exit 0.
        let failed = case("x86_64-lto-none", Status::Fail, Status::Skipped, vec![]);
        std::fs::write(&script, script_text(&failed, &rc)).unwrap();
        let o = reproduce(&["--tree", tree.to_str().unwrap()]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains("expected: fail, first failing: build: "),
            "{out}"
        );
        assert!(
            out.contains("build: fail, as recorded (exit 2 of: make -C "),
            "{out}"
        );
        // The tree itself is as it was.
        assert_eq!(git(&tree, &["rev-parse", "HEAD"]), head);
        assert_eq!(git(&tree, &["status", "--porcelain"]), "");
    }

    /// The script of `c` built with `rc`, its console as the fixture's.
    fn script_text(c: &CaseResult, rc: &Recipe) -> String {
        script(&run(vec![c.clone()]), c, rc, Some(&facts()))
    }

    #[test]
    fn the_expected_verdict_names_the_first_failure() {
        assert_eq!(
            expected_verdict(&failing()),
            "expected: fail, first failing: initcalls.boot: 2 initcalls out of place: first foo_init"
        );
        let pass = case("a", Status::Pass, Status::Pass, vec![]);
        assert_eq!(
            expected_verdict(&pass),
            "expected: pass (every step and check passed)"
        );
        let timed_out = case("a", Status::Pass, Status::Incomplete, vec![]);
        assert!(
            expected_verdict(&timed_out)
                .starts_with("expected: incomplete, first incomplete: boot: "),
            "{}",
            expected_verdict(&timed_out)
        );
    }

    #[test]
    fn words_become_variables_and_quotes() {
        assert_eq!(word(&format!("O={}", recipe::WORK)), "O=\"$WORK\"");
        assert_eq!(
            word(&format!("{}/a b/{}", recipe::SRC, recipe::WORK)),
            "\"$SRC\"'/a b/'\"$WORK\""
        );
        assert_eq!(word(""), "''");
        assert_eq!(word("it's"), "'it'\\''s'");
    }
}
