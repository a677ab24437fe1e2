//! Text read back from files (results.json, the history) is untrusted: a
//! case name or a check's message may hold terminal escape sequences or
//! other control characters. [`visible`] makes them visible before such
//! text reaches a terminal or a report.

use std::fmt::Write as _;

/// `s` with every control character but newline shown as an escape:
/// C0 controls and DEL as `\x1b`, C1 controls and the bidirectional
/// overrides and isolates (which reorder what a terminal shows) as
/// `\u{202e}`. Everything else is kept as it is.
pub fn visible(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(visible("plain text\nline two"), "plain text\nline two");
        assert_eq!(
            visible("\x1b[2J\x1b]0;pwned\x07done"),
            "\\x1b[2J\\x1b]0;pwned\\x07done"
        );
        assert_eq!(visible("a\rb\tc\x7fd\0"), "a\\x0db\\x09c\\x7fd\\x00");
        assert_eq!(visible("x\u{9b}31m\u{202e}y"), "x\\u{9b}31m\\u{202e}y");
        assert_eq!(visible("ünïcödé ✓"), "ünïcödé ✓");
    }
}
