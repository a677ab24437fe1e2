//! What every YAML file the harness reads shares (case files, mutant
//! files): one error type that names the file, line and column
//! ([`FileError`]), the helper that places an error at a field ([`At`]),
//! the reader that locates serde-saphyr's own errors ([`read`]), and the
//! sorted listing of a directory's `*.yaml` files ([`yaml_files`]).

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;
use std::path::{Path, PathBuf};

/// A file that could not be read or is not valid, located as precisely as
/// the fault allows.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{file}: cannot read: {error}")]
    Io {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    At {
        file: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
}

/// Makes the errors of one file.
pub(crate) struct At<'a> {
    pub file: &'a Path,
}

impl At<'_> {
    /// An error at `field`'s place in the file.
    pub fn field<T>(&self, field: &Spanned<T>, message: String) -> FileError {
        FileError::At {
            file: self.file.to_owned(),
            line: field.referenced.line(),
            column: field.referenced.column(),
            message,
        }
    }
}

/// The most a case or mutant file may hold (they are a few hundred
/// bytes): a bigger file is refused before it is parsed.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The text of the `kind` (`case file`, `mutant file`) at `path`, at
/// most [`MAX_FILE_BYTES`].
pub(crate) fn read_text(path: &Path, kind: &str) -> Result<String, FileError> {
    use std::io::Read;
    let io = |error| FileError::Io {
        file: path.to_owned(),
        error,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        return Err(FileError::File {
            file: path.to_owned(),
            message: format!(
                "the {kind} is too large: {}, more than the {} KiB a {kind} may have",
                if size > MAX_FILE_BYTES {
                    format!("{size} bytes")
                } else {
                    "it keeps growing".to_owned()
                },
                MAX_FILE_BYTES >> 10
            ),
        });
    }
    String::from_utf8(bytes)
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// The YAML `text` (read from `path`, a `kind` such as `case file`) into
/// `T`; a syntax, type or unknown-key error is located where serde-saphyr
/// says, when it says. A file past serde-saphyr's limits (too many
/// nodes, too deep) is said to be so, with the limit.
pub(crate) fn read<T: DeserializeOwned>(
    path: &Path,
    kind: &str,
    text: &str,
) -> Result<T, FileError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let message = match e.without_snippet() {
            serde_saphyr::Error::Budget { breach, .. } => over_budget(kind, breach),
            _ => first_line_of_error(&e),
        };
        match e.location() {
            Some(loc) => FileError::At {
                file: path.to_owned(),
                line: loc.line(),
                column: loc.column(),
                message,
            },
            None => FileError::File {
                file: path.to_owned(),
                message,
            },
        }
    })
}

/// What a breach of serde-saphyr's default budget means for a `kind`.
fn over_budget(kind: &str, breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let limit = serde_saphyr::Budget::default();
    let what = match breach {
        B::Depth { .. } => format!(
            "is nested too deeply: more than {} levels of lists and maps",
            limit.max_depth
        ),
        B::Nodes { .. } => format!(
            "is too large: more than {} YAML nodes (values, lists and maps)",
            limit.max_nodes
        ),
        B::Events { .. } => format!("is too large: more than {} YAML events", limit.max_events),
        B::ScalarBytes { .. } => format!(
            "is too large: more than {} MiB of text in its values",
            limit.max_total_scalar_bytes >> 20
        ),
        B::Documents { .. } => format!(
            "holds too many YAML documents: more than {}",
            limit.max_documents
        ),
        B::Aliases { .. } | B::Anchors { .. } | B::AliasAnchorRatio { .. } => format!(
            "uses too many anchors or aliases: more than {} aliases, {} anchors, or {} aliases \
             per anchor",
            limit.max_aliases, limit.max_anchors, limit.alias_anchor_ratio_multiplier
        ),
        B::MergeKeys { .. } => format!(
            "uses too many merge keys (`<<`): more than {}",
            limit.max_merge_keys
        ),
        other => format!("is too large or too complex ({other:?})"),
    };
    format!("the {kind} {what}, the limit of the YAML reader; a {kind} needs a few dozen lines")
}

/// serde-saphyr renders a snippet after the message; keep the message on one
/// line for our `file:line:col: message` format.
pub(crate) fn first_line_of_error(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let line = full.lines().next().unwrap_or("invalid file").trim();
    // Drop a trailing " at line X column Y" that we print ourselves.
    match line.find(" at line ") {
        Some(i) => line[..i].to_owned(),
        None => line.to_owned(),
    }
}

/// Every `*.yaml` (or `*.yml`) directly under `dir`, sorted by name.
pub(crate) fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, FileError> {
    let entries = std::fs::read_dir(dir).map_err(|error| FileError::Io {
        file: dir.to_owned(),
        error,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    Ok(paths)
}
