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

/// The file's text.
pub(crate) fn read_text(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|error| FileError::Io {
        file: path.to_owned(),
        error,
    })
}

/// The YAML `text` (read from `path`) into `T`; a syntax, type or
/// unknown-key error is located where serde-saphyr says, when it says.
pub(crate) fn read<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, FileError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let message = first_line_of_error(&e);
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
