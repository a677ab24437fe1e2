//! Names that become paths: the one rule for case, mutant and golden
//! family names ([`valid_name`], [`NAME_RULE`]), and [`join_name`], which
//! joins a name to a directory only when the result stays inside it.
//!
//! A case's name is its results directory (`<results>/<case>/`), part of
//! its cache work directory and of every KCIDB ID; a mutant's name is its
//! results directory too. So a name is one plain path component: letters,
//! digits, `-`, `_` and `.`, and never `.` or `..`.

use std::path::{Component, Path, PathBuf};

/// The rule [`valid_name`] applies, as error messages say it.
pub const NAME_RULE: &str = "letters, digits, `-`, `_` or `.`, and not `.` or `..`";

/// A case, mutant or golden family name: letters, digits, `-`, `_`, `.`,
/// and not `.` or `..` (which, as a directory, are not its own).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A name that is not one plain path component (see [`join_name`]).
#[derive(Debug, thiserror::Error)]
#[error("`{name}` cannot name a directory inside {}: a name is one path component ({NAME_RULE})", dir.display())]
pub struct UnsafeName {
    pub name: String,
    pub dir: PathBuf,
}

/// `dir/name`, when `name` is one normal path component (not empty, `.`,
/// `..`, absolute, nor holding a `/` or a NUL), so the path stays inside
/// `dir`. Every results or case directory built from a name goes through
/// here: a name read from a results.json (`merge`) or made from a
/// toolchain label (`<case>+clang-19`) is not checked by [`valid_name`].
pub fn join_name(dir: &Path, name: &str) -> Result<PathBuf, UnsafeName> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(c)), None)
            if c == name && !name.contains(['/', '\0']) && valid_component(name) =>
        {
            Ok(dir.join(name))
        }
        _ => Err(UnsafeName {
            name: name.to_owned(),
            dir: dir.to_owned(),
        }),
    }
}

/// No control characters either: a directory name is shown in logs and
/// written into reproduce.sh.
fn valid_component(name: &str) -> bool {
    !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_names_and_unsafe_characters_are_not_names() {
        for good in ["x86_64-lto-full-cfi", "a.b", "...", "a..b", "_", "v6.12"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "it's",
            "$(reboot)",
            "<script>",
            "x+clang-19",
            "é",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_joined_name_stays_inside_its_directory() {
        let dir = Path::new("/r");
        assert_eq!(join_name(dir, "a").unwrap(), Path::new("/r/a"));
        // A matrix variant's name is a component too.
        assert_eq!(
            join_name(dir, "x86_64-lto-none+clang-19").unwrap(),
            Path::new("/r/x86_64-lto-none+clang-19")
        );
        for bad in [
            "", ".", "..", "../x", "a/..", "/etc", "a/b", "./a", "a\0b", "a\nb",
        ] {
            let e = join_name(dir, bad).unwrap_err().to_string();
            assert!(
                e.contains("cannot name a directory inside /r"),
                "{bad}: {e}"
            );
        }
    }
}
