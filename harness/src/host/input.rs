//! Reading files the harness wrote earlier and reads back (results.json,
//! the history), with a size limit: a file larger than its limit is an
//! error naming the file and the limit, and never more than the limit
//! (plus one byte, to tell) is read, whatever the file is (`/dev/zero`, a
//! FIFO, a file still growing).

use crate::model::validate::InputError;
use std::io::Read;
use std::path::Path;

/// The bytes of `path`, at most `limit` of them; [`InputError::TooLarge`]
/// (naming `what` and the limit) when there are more.
pub fn read_bounded(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    let read_err = |error| InputError::Read {
        path: path.to_owned(),
        error,
    };
    let too_large = || InputError::TooLarge {
        path: path.to_owned(),
        what,
        limit,
    };
    let f = std::fs::File::open(path).map_err(read_err)?;
    // A regular file says its size: one too large is refused unread.
    if let Ok(m) = f.metadata() {
        if m.is_file() && m.len() > limit {
            return Err(too_large());
        }
    }
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_within_its_limit_is_read_and_a_larger_one_is_not() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("results.json");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_bounded(&p, 10, "a test file").unwrap(), b"0123456789");
        let e = read_bounded(&p, 9, "a test file").unwrap_err();
        assert!(matches!(e, InputError::TooLarge { limit: 9, .. }), "{e}");
        assert!(
            e.to_string().contains("results.json: larger than 9 bytes")
                && e.to_string().contains("the limit for a test file"),
            "{e}"
        );
        let e = read_bounded(&d.path().join("nope"), 9, "x").unwrap_err();
        assert!(
            matches!(&e, InputError::Read { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
        );
        assert!(e.to_string().starts_with("reading ") && e.to_string().contains("nope"));
    }

    #[test]
    fn an_endless_file_is_read_only_up_to_its_limit() {
        // /dev/zero never ends and says no size: the read stops at the limit.
        let e = read_bounded(Path::new("/dev/zero"), 1 << 20, "a history file").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: larger than 1 MiB (1048576 bytes), the limit for a history file; \
             not read (is it the right file?)"
        );
    }
}
