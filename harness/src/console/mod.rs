//! Console: turns raw serial bytes from a booting kernel into typed events.
//!
//! The serial console of a QEMU guest is a byte stream, not a text file: it
//! arrives in arbitrary chunks, uses `\r\n` line ends, may carry ANSI/VT100
//! escape sequences, NUL padding and other control characters, may contain
//! invalid UTF-8, and kernel `printk` output can interleave with userspace
//! writes on the same line. This module works in two stages:
//!
//! 1. [`LineSplitter`] turns the byte stream into clean text lines. It is a
//!    byte-driven state machine whose complete state lives in the struct, so
//!    the lines it produces do not depend on how the input was chunked.
//! 2. [`ConsoleParser`] classifies each clean line into zero or more typed
//!    [`Event`]s (kernel banner, command line, initcall tracing, oopses,
//!    BUG/WARNING reports, panics, kCFI failures, module load errors, and the
//!    `@@LTOH` markers printed by the harness' own `/init`).
//!
//! [`parse_log`] combines both for a complete captured log.
//!
//! Neither stage ever panics, whatever the input, and both run in time linear
//! in the input size.

pub mod ktap;

use crate::guest::protocol::MARKER;
use serde::Serialize;

/// Maximum number of input bytes collected into one line. A longer run of
/// text is emitted in pieces of at most this many bytes (cut on a UTF-8
/// character boundary where possible), so memory stays bounded even if the
/// guest never prints a newline.
const MAX_LINE_BYTES: usize = 4096;

/// Bytes at the end of one piece of an overlong line that start the next
/// piece again, so a kernel message that straddles the cut is seen whole
/// in the next piece (printk keeps a message under 1024 bytes).
const OVERLAP_BYTES: usize = 1024;

/// Chunk size [`parse_log`] feeds to the splitter.
const PARSE_LOG_CHUNK: usize = 64 * 1024;

/// At most this many bytes of one raw line are kept by [`split_lines`]
/// (the pieces of an overlong line are joined up to it).
const MAX_KEPT_LINE_BYTES: usize = 16 * 1024;

/// One line as the [`LineSplitter`] hands it on: a whole raw line, or a
/// piece of one longer than the line cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The clean text.
    pub text: String,
    /// `true` when this is a later piece of the same raw line as the line
    /// before it (the raw line is longer than the cap).
    pub continued: bool,
    /// How many bytes at the start of `text` repeat the end of the piece
    /// before (0 unless `continued`); always on a character boundary.
    pub overlap: usize,
}

/// Escape-sequence state of the [`LineSplitter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EscState {
    /// Plain text.
    Ground,
    /// Seen `ESC`.
    Esc,
    /// Seen `ESC` followed by intermediate bytes (`0x20..=0x2F`), e.g. `ESC (`.
    EscIntermediate,
    /// Inside a CSI sequence (`ESC [` parameters/intermediates, up to a final byte).
    Csi,
    /// Inside an OSC string (`ESC ]` ... `BEL` or `ESC \`).
    Osc,
    /// Seen `ESC` inside an OSC string (possibly the start of the `ESC \` terminator).
    OscEsc,
}

/// Splits a raw byte stream into clean text lines.
///
/// Behaviour:
///
/// * `\n`, `\r\n` and a lone `\r` all end a line. A `\r\n` pair (also
///   `\r\r\n`, as produced by a doubled ONLCR translation) is one line end,
///   even when split across chunks, so it never yields an extra empty line.
/// * **Blank lines are kept, as empty strings**, when they are ended by `\n`
///   (or `\r\n`): `a\r\n\r\nb` gives `"a"`, `""`, `"b"`. A line holding
///   only spaces/tabs (after escapes and control characters are removed) is
///   treated as blank and reported as `""`. A blank segment ended by a lone
///   `\r` is dropped entirely (firmware such as iPXE erases a prompt with
///   `\r`, spaces, `\r`). The effect is that line *n* of the output is line
///   *n* of the raw log as `grep -n` or an editor counts it, except where a
///   raw line has text on both sides of a lone `\r` (it becomes several
///   lines). [`ConsoleParser`] line numbers therefore point into the raw log.
/// * ANSI/VT100 escape sequences are removed: CSI (`ESC [` ... final byte
///   `0x40..=0x7E`), OSC (`ESC ]` ... `BEL` or `ESC \`), `ESC` + intermediate
///   bytes + final byte (e.g. `ESC ( B`) and two-byte `ESC x`. An escape
///   sequence interrupted by a byte that cannot belong to it is abandoned and
///   that byte is processed as ordinary input (so a stray `ESC` cannot swallow
///   a line end). Sequences split across chunks are handled.
/// * NUL, DEL and all other C0 control characters except tab are dropped.
/// * Bytes are collected raw and decoded with lossy UTF-8 when a line is
///   complete, so a multi-byte character split across chunks survives while
///   invalid sequences become U+FFFD.
/// * A line is capped at 4096 input bytes; the overflow continues in a
///   new piece ([`Line::continued`]) that starts with the last 1024 bytes
///   of the piece before ([`Line::overlap`]), so a message straddling the
///   cut is seen whole and line numbers still count raw lines. The cut is
///   moved back so that a trailing incomplete UTF-8 sequence is carried
///   over instead of being mangled. [`LineSplitter::push`] returns the
///   pieces without their overlap.
///
/// The splitter is a pure function of the concatenated input: any chunking
/// of the same bytes yields the same lines.
#[derive(Debug, Clone)]
pub struct LineSplitter {
    /// Raw bytes of the current (incomplete) line, escapes/controls removed.
    buf: Vec<u8>,
    /// Escape-sequence parser state.
    esc: EscState,
    /// What the most recent line end was, for `\r\n` pairing.
    cr: CrState,
    /// The current line already gave a piece (it is longer than the cap).
    continued: bool,
    /// Bytes at the start of `buf` repeated from the last piece.
    overlap: usize,
}

/// Carriage-return state of the [`LineSplitter`]: what happened since the
/// last `\n` (only consulted when the current line is blank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrState {
    /// No `\r` since the last `\n` (or since text that was ended by one).
    None,
    /// A `\r` ended a line with text; a following `\n` completes that line end.
    AfterText,
    /// A `\r` ended a blank segment; a following `\n` ends a blank line.
    OnBlank,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new()
    }
}

/// `true` for bytes that are copied verbatim into the current line.
#[inline]
fn is_text_byte(b: u8) -> bool {
    (b >= 0x20 && b != 0x7f) || b == b'\t'
}

impl LineSplitter {
    /// Creates an empty splitter.
    pub fn new() -> Self {
        LineSplitter {
            buf: Vec::with_capacity(256),
            esc: EscState::Ground,
            cr: CrState::None,
            continued: false,
            overlap: 0,
        }
    }

    /// Feed a chunk (may end mid-line, may split a `\r\n` pair or an ANSI
    /// escape or a UTF-8 sequence across chunks). Returns completed lines
    /// (the pieces of an overlong line without their overlap).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.push_lines(bytes)
            .into_iter()
            .map(|mut l| {
                l.text.drain(..l.overlap);
                l.text
            })
            .collect()
    }

    /// [`LineSplitter::push`] with each piece's place in its raw line.
    pub fn push_lines(&mut self, bytes: &[u8]) -> Vec<Line> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if self.esc == EscState::Ground {
                // Fast path: copy a run of plain text in one go.
                let start = i;
                while i < bytes.len() && is_text_byte(bytes[i]) {
                    i += 1;
                }
                if i > start {
                    self.append(&bytes[start..i], &mut out);
                }
                if i < bytes.len() {
                    self.ground_control(bytes[i], &mut out);
                    i += 1;
                }
            } else if self.escape_byte(bytes[i]) {
                i += 1;
            } else {
                // The escape sequence was abandoned; `esc` is now `Ground`
                // (or `Esc`), reprocess the same byte.
            }
        }
        out
    }

    /// End of stream: returns the trailing partial line if it is non-empty.
    ///
    /// Any unfinished escape sequence is discarded and the splitter is reset,
    /// so it can be reused for a new stream.
    pub fn finish(&mut self) -> Option<String> {
        self.finish_line().map(|mut l| {
            l.text.drain(..l.overlap);
            l.text
        })
    }

    /// [`LineSplitter::finish`] with the piece's place in its raw line.
    pub fn finish_line(&mut self) -> Option<Line> {
        self.esc = EscState::Ground;
        self.cr = CrState::None;
        let line = if self.only_overlap_or_blank() {
            None
        } else {
            Some(self.take_line())
        };
        self.buf.clear();
        self.continued = false;
        self.overlap = 0;
        line
    }

    /// The current line as a [`Line`] (the buffer is left to the caller).
    fn take_line(&self) -> Line {
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        let mut overlap = String::from_utf8_lossy(&self.buf[..self.overlap.min(self.buf.len())])
            .len()
            .min(text.len());
        while !text.is_char_boundary(overlap) {
            overlap -= 1;
        }
        Line {
            text,
            continued: self.continued,
            overlap,
        }
    }

    /// Nothing new since the last piece (or a blank line): no line to emit.
    fn only_overlap_or_blank(&self) -> bool {
        if self.continued {
            self.buf.len() <= self.overlap
        } else {
            is_blank(&self.buf)
        }
    }

    /// Ends the current raw line: emits it (or its last piece), resets.
    fn end_line(&mut self, out: &mut Vec<Line>) {
        out.push(self.take_line());
        self.buf.clear();
        self.continued = false;
        self.overlap = 0;
    }

    /// Handles a non-text byte while in [`EscState::Ground`].
    #[inline]
    fn ground_control(&mut self, b: u8, out: &mut Vec<Line>) {
        match b {
            b'\n' => self.line_feed(out),
            b'\r' => self.carriage_return(out),
            0x1b => self.esc = EscState::Esc,
            _ => {} // NUL, BEL, BS, DEL, ...: dropped
        }
    }

    /// Consumes one byte inside an escape sequence. Returns `false` if the
    /// byte does not belong to the sequence: the sequence is abandoned and
    /// the caller must reprocess the byte in the new state.
    #[inline]
    fn escape_byte(&mut self, b: u8) -> bool {
        match self.esc {
            EscState::Ground => false,
            EscState::Esc => match b {
                b'[' => {
                    self.esc = EscState::Csi;
                    true
                }
                b']' => {
                    self.esc = EscState::Osc;
                    true
                }
                0x20..=0x2f => {
                    self.esc = EscState::EscIntermediate;
                    true
                }
                0x30..=0x7e => {
                    self.esc = EscState::Ground;
                    true
                }
                _ => {
                    self.esc = EscState::Ground;
                    false
                }
            },
            EscState::EscIntermediate => match b {
                0x20..=0x2f => true,
                0x30..=0x7e => {
                    self.esc = EscState::Ground;
                    true
                }
                _ => {
                    self.esc = EscState::Ground;
                    false
                }
            },
            EscState::Csi => match b {
                0x20..=0x3f => true,
                0x40..=0x7e => {
                    self.esc = EscState::Ground;
                    true
                }
                _ => {
                    self.esc = EscState::Ground;
                    false
                }
            },
            EscState::Osc => match b {
                0x07 => {
                    self.esc = EscState::Ground;
                    true
                }
                0x1b => {
                    self.esc = EscState::OscEsc;
                    true
                }
                b'\n' | b'\r' => {
                    // An OSC string never spans lines; treat as abandoned.
                    self.esc = EscState::Ground;
                    false
                }
                _ => true,
            },
            EscState::OscEsc => {
                if b == b'\\' {
                    self.esc = EscState::Ground;
                    true
                } else {
                    // The ESC terminated the OSC string and starts a new
                    // escape sequence; let it see this byte.
                    self.esc = EscState::Esc;
                    false
                }
            }
        }
    }

    /// Appends plain text to the current line, honouring the length cap.
    #[inline]
    fn append(&mut self, mut s: &[u8], out: &mut Vec<Line>) {
        while !s.is_empty() {
            let room = MAX_LINE_BYTES - self.buf.len();
            if room == 0 {
                self.split_overlong(out);
                continue;
            }
            let n = room.min(s.len());
            self.buf.extend_from_slice(&s[..n]);
            s = &s[n..];
        }
    }

    /// The current line is full and more text follows: emit it as a
    /// piece, and start the next piece with its last [`OVERLAP_BYTES`]
    /// (from a character's first byte) and a trailing incomplete UTF-8
    /// sequence.
    fn split_overlong(&mut self, out: &mut Vec<Line>) {
        let tail = incomplete_utf8_tail(&self.buf);
        let cut = self.buf.len() - tail;
        let tail_bytes = self.buf[cut..].to_vec();
        self.buf.truncate(cut);
        out.push(self.take_line());
        let mut keep = cut.saturating_sub(OVERLAP_BYTES);
        while keep < cut && (0x80..=0xbf).contains(&self.buf[keep]) {
            keep += 1;
        }
        self.buf.drain(..keep);
        self.overlap = self.buf.len();
        self.buf.extend_from_slice(&tail_bytes);
        self.continued = true;
    }

    /// `\n`: ends the current line. A blank line is emitted as `""` unless
    /// this `\n` completes a `\r\n` whose `\r` already ended a text line.
    #[inline]
    fn line_feed(&mut self, out: &mut Vec<Line>) {
        if self.continued {
            if self.buf.len() > self.overlap {
                self.end_line(out);
            }
        } else if !is_blank(&self.buf) {
            self.end_line(out);
        } else if self.cr != CrState::AfterText {
            out.push(Line {
                text: String::new(),
                continued: false,
                overlap: 0,
            });
        }
        self.buf.clear();
        self.continued = false;
        self.overlap = 0;
        self.cr = CrState::None;
    }

    /// `\r`: ends a text line at once (a following `\n` is then absorbed);
    /// a blank segment is discarded and only remembered for `\r\n` pairing.
    #[inline]
    fn carriage_return(&mut self, out: &mut Vec<Line>) {
        if self.continued {
            if self.buf.len() > self.overlap {
                self.end_line(out);
            }
            self.cr = CrState::AfterText;
        } else if !is_blank(&self.buf) {
            self.end_line(out);
            self.cr = CrState::AfterText;
        } else if self.cr == CrState::None {
            self.cr = CrState::OnBlank;
        }
        self.buf.clear();
        self.continued = false;
        self.overlap = 0;
    }
}

/// `true` if the line holds nothing but spaces and tabs (or nothing at all).
#[inline]
fn is_blank(buf: &[u8]) -> bool {
    buf.iter().all(|&b| b == b' ' || b == b'\t')
}

/// Length of an incomplete (but so far plausible) UTF-8 sequence at the end
/// of `buf`, or 0. Always at most 3.
fn incomplete_utf8_tail(buf: &[u8]) -> usize {
    let len = buf.len();
    for back in 1..=3.min(len) {
        let b = buf[len - back];
        if (0x80..=0xbf).contains(&b) {
            continue; // continuation byte, keep looking for the lead byte
        }
        let need = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return 0,
        };
        return if back < need { back } else { 0 };
    }
    0
}

/// One classified console line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// 1-based line number in the console log (as produced by [`LineSplitter`]).
    pub line: usize,
    /// printk timestamp (`[    0.318967]`) in seconds, if the line had one.
    pub time: Option<f64>,
    /// What the line means.
    pub kind: EventKind,
}

/// The kinds of console events the harness cares about.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// `Linux version 6.12.117 (user@host) (<compiler>) #1 SMP ...`.
    /// `compiler` is the text inside the second top-level parenthesised
    /// group (nested parentheses are kept), or empty if there is none.
    Banner { version: String, compiler: String },
    /// `Command line: ...` (x86 `setup_arch`) or `Kernel command line: ...`
    /// (`start_kernel`, all architectures; x86 prints both).
    CommandLine { text: String },
    /// `Run /init as init process`.
    RunInit { path: String },
    /// Harness marker `@@LTOH KIND ARG...`, recognised anywhere in a line.
    Marker { kind: String, args: Vec<String> },
    /// `calling  func+0x0/0x330 [module] @ 1` (initcall_debug). `func` is
    /// the symbol as printed, without `+off/size`; `module` is the ` [module]`
    /// tag of a loadable module's init; `pid` the task that ran it (1 for
    /// built-in initcalls).
    InitcallStart {
        func: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        module: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    /// `initcall func+0x0/0x330 [module] returned 0 after 12 usecs`.
    InitcallReturn {
        func: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        module: Option<String>,
        ret: i64,
        usecs: u64,
    },
    /// `Oops: ...` (x86) or `Internal error: Oops ...` (arm64); whole line.
    Oops { text: String },
    /// `BUG: ...`, `kernel BUG at ...`, or arm64 `Unable to handle kernel ...`; whole line.
    Bug { text: String },
    /// `WARNING: CPU: ...` (kernel `__warn` format only); whole line.
    Warning { text: String },
    /// `Call Trace:` (x86) / `Call trace:` (arm64).
    CallTrace,
    /// `Kernel panic - not syncing: <text>`; `text` is everything after the prefix.
    Panic { text: String },
    /// `CFI failure at ... (target: sym+0x0/0x8 [mod]; expected type: 0x...)`.
    /// `text` is the whole line; `target` is the bare symbol name.
    CfiFailure {
        text: String,
        target: Option<String>,
        expected_type: Option<String>,
    },
    /// Module load/unload failure, from busybox `insmod`/`rmmod`/`modprobe`
    /// or from the kernel module loader; `text` is the whole line.
    ModuleError {
        module: Option<String>,
        text: String,
    },
}

impl EventKind {
    /// The kind's name, as its JSON `type` carries it (`banner`, `oops`, …).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Banner { .. } => "banner",
            EventKind::CommandLine { .. } => "command_line",
            EventKind::RunInit { .. } => "run_init",
            EventKind::Marker { .. } => "marker",
            EventKind::InitcallStart { .. } => "initcall_start",
            EventKind::InitcallReturn { .. } => "initcall_return",
            EventKind::Oops { .. } => "oops",
            EventKind::Bug { .. } => "bug",
            EventKind::Warning { .. } => "warning",
            EventKind::CallTrace => "call_trace",
            EventKind::Panic { .. } => "panic",
            EventKind::CfiFailure { .. } => "cfi_failure",
            EventKind::ModuleError { .. } => "module_error",
        }
    }
}

/// Stateful line parser (line numbers are counted per raw line, 1-based:
/// the pieces of an overlong line share its number).
#[derive(Debug, Clone, Default)]
pub struct ConsoleParser {
    line: usize,
    /// Where the current raw line's piece starts, in bytes of the raw line.
    piece_start: usize,
    /// Length of the last piece fed.
    piece_len: usize,
    /// Where in the current raw line the last event was found (pieces
    /// overlap: an event in the overlap was already reported).
    last_event_at: Option<usize>,
}

impl ConsoleParser {
    /// Creates a parser whose first line will be line 1.
    pub fn new() -> Self {
        ConsoleParser::default()
    }

    /// Parse one clean line (as produced by [`LineSplitter::push`]).
    /// Returns 0, 1 or (a marker and a kernel message printed into it) 2
    /// events. Always advances the line counter.
    pub fn parse_line(&mut self, line: &str) -> Vec<Event> {
        let mut out = Vec::new();
        self.parse_into(
            &Line {
                text: line.to_owned(),
                continued: false,
                overlap: 0,
            },
            &mut out,
        );
        out
    }

    /// Parse one line or piece (as produced by
    /// [`LineSplitter::push_lines`]), appending its event to `out`. A
    /// piece of an overlong line keeps the line's number, and an event
    /// the piece before already reported (in the overlap) is not repeated.
    pub fn parse_into(&mut self, line: &Line, out: &mut Vec<Event>) {
        if line.continued && self.line > 0 {
            self.piece_start += self.piece_len.saturating_sub(line.overlap);
        } else {
            self.line += 1;
            self.piece_start = 0;
            self.last_event_at = None;
        }
        self.piece_len = line.text.len();
        let from = match self.last_event_at {
            Some(at) => (at + 1).saturating_sub(self.piece_start),
            None => 0,
        };
        for (pos, time, kind) in classify_line(&line.text, from) {
            self.last_event_at = Some(self.piece_start + pos);
            out.push(Event {
                line: self.line,
                time,
                kind,
            });
        }
    }
}

/// A whole console stream, split and parsed as it comes: what a boot's
/// reader and `judge` feed bytes to. Memory stays flat in the stream's
/// size (a line is capped, events are handed on).
#[derive(Debug, Clone, Default)]
pub struct ConsoleStream {
    splitter: LineSplitter,
    parser: ConsoleParser,
}

impl ConsoleStream {
    pub fn new() -> Self {
        ConsoleStream::default()
    }

    /// Feeds a chunk; `f` gets every completed line (or piece) and its
    /// events.
    pub fn push(&mut self, bytes: &[u8], f: &mut impl FnMut(&Line, &[Event])) {
        let mut events = Vec::with_capacity(2);
        for line in self.splitter.push_lines(bytes) {
            events.clear();
            self.parser.parse_into(&line, &mut events);
            f(&line, &events);
        }
    }

    /// End of stream: the last, unterminated line.
    pub fn finish(&mut self, f: &mut impl FnMut(&Line, &[Event])) {
        let mut events = Vec::with_capacity(2);
        if let Some(line) = self.splitter.finish_line() {
            self.parser.parse_into(&line, &mut events);
            f(&line, &events);
        }
    }

    /// Raw lines seen so far (the number of the last line).
    pub fn lines(&self) -> usize {
        self.parser.line
    }
}

/// Convenience: split + parse a whole captured log.
pub fn parse_log(bytes: &[u8]) -> Vec<Event> {
    let mut stream = ConsoleStream::new();
    let mut events = Vec::new();
    let mut keep = |_: &Line, e: &[Event]| events.extend_from_slice(e);
    // Feed in chunks so the intermediate lines stay few.
    for chunk in bytes.chunks(PARSE_LOG_CHUNK) {
        stream.push(chunk, &mut keep);
    }
    stream.finish(&mut keep);
    events
}

/// The clean lines of a whole captured log, numbered as [`parse_log`]
/// numbers them (`lines[n - 1]` is console line `n`). The pieces of an
/// overlong line are joined again, up to 16 KiB of it.
pub fn split_lines(bytes: &[u8]) -> Vec<String> {
    let mut splitter = LineSplitter::new();
    let mut lines: Vec<String> = Vec::new();
    let mut add = |l: Line| match lines.last_mut() {
        Some(last) if l.continued => {
            if last.len() < MAX_KEPT_LINE_BYTES {
                last.push_str(&l.text[l.overlap..]);
            }
        }
        _ => lines.push(l.text),
    };
    for l in splitter.push_lines(bytes) {
        add(l);
    }
    if let Some(l) = splitter.finish_line() {
        add(l);
    }
    lines
}

/// A line's kernel message without its printk prefix (`<N>`, `[ 0.5]`,
/// `[ T1]`), also when a capture put its own prefix before the kernel's
/// timestamp (a host timestamp, syslog's `Dec  7 13:00:00 host kernel:`)
/// or userspace text was glued before it.
pub fn message(line: &str) -> &str {
    let (time, mut text) = split_prefix(line);
    if time.is_none() && text.len() == line.len() {
        text = match first_timestamp(line) {
            Some((_, rest)) => after_timestamp(rest),
            None => line,
        };
    }
    // A capture's own clock can look like printk's: the kernel's is last.
    while let Some((_, rest)) = strip_timestamp(text) {
        text = after_timestamp(rest);
    }
    text
}

/// The first printk timestamp anywhere in `line`: its value and the text
/// after its `]`.
fn first_timestamp(line: &str) -> Option<(f64, &str)> {
    line.match_indices('[')
        .find_map(|(p, _)| strip_timestamp(&line[p..]))
}

// ---------------------------------------------------------------------------
// Line prefix handling
// ---------------------------------------------------------------------------

/// Strips `<N>` log level, `[ seconds.micros]` timestamp and
/// `[ T123]`/`[ C1]` caller prefixes. Returns the timestamp and the message.
fn split_prefix(line: &str) -> (Option<f64>, &str) {
    let s = strip_level(line);
    if let Some((t, rest)) = strip_timestamp(s) {
        return (Some(t), after_timestamp(rest));
    }
    match strip_caller(s) {
        Some(rest) => (None, after_bracket(rest)),
        None => (None, s),
    }
}

/// The message after a printk timestamp's `]`: a caller prefix, one
/// space and a log level stripped.
fn after_timestamp(rest: &str) -> &str {
    after_bracket(strip_caller(rest).unwrap_or(rest))
}

fn after_bracket(s: &str) -> &str {
    strip_level(s.strip_prefix(' ').unwrap_or(s))
}

/// Strips a `<N>` syslog level prefix (1-3 digits).
fn strip_level(s: &str) -> &str {
    let b = s.as_bytes();
    if b.first() != Some(&b'<') {
        return s;
    }
    let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=3).contains(&digits) && b.get(1 + digits) == Some(&b'>') {
        &s[digits + 2..]
    } else {
        s
    }
}

/// Parses a leading `[   12.345678]` timestamp.
fn strip_timestamp(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let mut i = 1;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let num_start = i;
    let int_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if int_digits == 0 {
        return None;
    }
    i += int_digits;
    if b.get(i) != Some(&b'.') {
        return None;
    }
    i += 1;
    let frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if frac_digits == 0 {
        return None;
    }
    i += frac_digits;
    if b.get(i) != Some(&b']') {
        return None;
    }
    let t = s[num_start..i].parse::<f64>().ok()?;
    Some((t, &s[i + 1..]))
}

/// Strips a `CONFIG_PRINTK_CALLER` prefix such as `[    T1]` or `[  C0]`.
fn strip_caller(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let mut i = 1;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if !matches!(b.get(i), Some(b'T') | Some(b'C')) {
        return None;
    }
    i += 1;
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    i += digits;
    if b.get(i) != Some(&b']') {
        return None;
    }
    Some(&s[i + 1..])
}

// ---------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------

/// The events of a line at or after byte `from`: where each message
/// starts, the printk timestamp nearest before it, and what it is.
///
/// A kernel message is found wherever it starts in the line, the way
/// kunit_tool finds a KTAP header after any prefix and syzkaller finds
/// oopses anywhere in a console line:
///
/// * at the line's start, after printk's own prefixes (`<N>`, `[ 0.5]`,
///   `[ T1]`);
/// * after a printk timestamp anywhere in the line: a capture's prefix
///   (host timestamps, syslog's `Dec  7 13:00:00 host kernel:`, a lab's
///   log format) or userspace output without a newline glued before the
///   kernel's message;
/// * with no timestamp at all, at any place the failure, banner, init
///   and initcall messages start (`helloBUG: …`, `\tKernel panic …`).
///
/// A harness marker (`@@LTOH …`) is found anywhere too. The earliest of
/// these in the line comes first and takes the rest of the line, up to
/// where another message printed into it starts.
fn classify_line(line: &str, from: usize) -> Vec<(usize, Option<f64>, EventKind)> {
    let mut out = Vec::with_capacity(1);
    let mut from = from;
    // A line holds a few events at most; each scan is linear.
    while out.len() < MAX_EVENTS_PER_LINE {
        let Some(e) = first_event(line, from, true) else {
            break;
        };
        // Another message printed into this one's line: a kernel message
        // after a marker (userspace's line, which the kernel may print
        // into before its newline: `@@LTOH STEP x[    1.2] WARNING: …`),
        // or a timestamped kernel message after a record that had no
        // newline of its own (`pr_cont`). This event ends where that
        // message's record starts.
        let next = if matches!(e.kind, EventKind::Marker { .. }) {
            // Any kernel record ends a marker, known event or not (`@@LTOH
            // STEP x[    1.8] input: ImExPS/2 …` is step `x`).
            next_timestamp(line, e.at + MARKER.len())
                .into_iter()
                .chain(first_event(line, e.at + MARKER.len(), false).map(|n| n.record))
                .min()
        } else {
            next_stamped_record(line, e.at + 1)
        };
        let Some(q) = next else {
            out.push((e.at, e.time, e.kind));
            break;
        };
        let whole = (e.at, e.time, e.kind);
        match first_event(&line[..q], whole.0, true).filter(|c| c.at == whole.0) {
            Some(c) => out.push((c.at, c.time, c.kind)),
            None => out.push(whole),
        }
        from = q;
    }
    out
}

/// Most events one line gives.
const MAX_EVENTS_PER_LINE: usize = 4;

/// One message found in a line.
struct Found {
    /// Where its record starts: its printk timestamp, or the message.
    record: usize,
    /// Where the message starts.
    at: usize,
    time: Option<f64>,
    kind: EventKind,
}

/// Where the record of the first timestamped message the parser knows,
/// at or after `from`, starts (its `[`).
fn next_stamped_record(line: &str, from: usize) -> Option<usize> {
    let from = from.min(line.len());
    line[from..].match_indices('[').find_map(|(i, _)| {
        let (_, rest) = strip_timestamp(&line[from + i..])?;
        classify_message(after_timestamp(rest)).map(|_| from + i)
    })
}

/// Where the first printk timestamp (`[    1.868178]`) at or after byte
/// `from` starts, whatever message follows it.
fn next_timestamp(line: &str, from: usize) -> Option<usize> {
    let from = from.min(line.len());
    line[from..]
        .match_indices('[')
        .find(|(i, _)| strip_timestamp(&line[from + i..]).is_some())
        .map(|(i, _)| from + i)
}

/// The earliest event at or after byte `from` (markers only if `markers`).
fn first_event(line: &str, from: usize, markers: bool) -> Option<Found> {
    let from = from.min(line.len());
    let (time, text) = split_prefix(line);
    let start = line.len() - text.len();
    let bytes = line.as_bytes();
    let mut stamp = time;
    let mut p = from;
    let found = |record, at, time, kind| {
        Some(Found {
            record,
            at,
            time,
            kind,
        })
    };
    while p < bytes.len() {
        let b = bytes[p];
        if markers && b == b'@' && line[p..].starts_with(MARKER) {
            if let Some(kind) = line[p + MARKER.len()..]
                .strip_prefix(' ')
                .and_then(parse_marker)
            {
                return found(p, p, stamp, kind);
            }
        }
        if p == start {
            if let Some(kind) = classify_message(text) {
                return found(p, p, stamp, kind);
            }
        }
        if b == b'[' && p > 0 {
            if let Some((t, rest)) = strip_timestamp(&line[p..]) {
                stamp = Some(t);
                let msg = after_timestamp(rest);
                let at = line.len() - msg.len();
                if let Some(kind) = classify_message(msg) {
                    return found(p, at, stamp, kind);
                }
            }
        }
        // The panic's trailer (`---[ end Kernel panic - not syncing: … ]---`)
        // is not a second panic.
        if ANYWHERE_FIRST.contains(&b) && !line[..p].ends_with("---[ end ") {
            if let Some(kind) = classify_anywhere(&line[p..]) {
                return found(p, p, stamp, kind);
            }
        }
        p += 1;
    }
    None
}

/// First bytes of the messages [`classify_anywhere`] knows.
const ANYWHERE_FIRST: &[u8] = b"LRciKOIBkUWC";

/// The messages found wherever they start in a line, even with no
/// timestamp before them: the failures, the banner, init and initcalls.
fn classify_anywhere(text: &str) -> Option<EventKind> {
    classify_start(text).filter(|k| {
        matches!(
            k,
            EventKind::Banner { .. }
                | EventKind::RunInit { .. }
                | EventKind::InitcallStart { .. }
                | EventKind::InitcallReturn { .. }
                | EventKind::Oops { .. }
                | EventKind::Bug { .. }
                | EventKind::Warning { .. }
                | EventKind::Panic { .. }
                | EventKind::CfiFailure { .. }
        )
    })
}

/// Classifies a message (prefixes already stripped) that starts here.
fn classify_message(text: &str) -> Option<EventKind> {
    if let Some(kind) = classify_start(text) {
        return Some(kind);
    }
    let trimmed = text.trim();
    if trimmed == "Call Trace:" || trimmed == "Call trace:" {
        return Some(EventKind::CallTrace);
    }
    kernel_module_error(text)
}

/// The messages known by how they begin.
fn classify_start(text: &str) -> Option<EventKind> {
    let first = *text.as_bytes().first()?;
    match first {
        b'L' => text.strip_prefix("Linux version ").map(parse_banner),
        b'C' => {
            if let Some(rest) = text.strip_prefix("Command line: ") {
                Some(EventKind::CommandLine {
                    text: rest.trim().to_owned(),
                })
            } else if text.starts_with("CFI failure") {
                Some(parse_cfi(text))
            } else {
                None
            }
        }
        b'K' => {
            if let Some(rest) = text.strip_prefix("Kernel command line: ") {
                Some(EventKind::CommandLine {
                    text: rest.trim().to_owned(),
                })
            } else {
                text.strip_prefix("Kernel panic - not syncing: ")
                    .map(|rest| EventKind::Panic {
                        text: rest.trim_end().to_owned(),
                    })
            }
        }
        b'R' => text
            .strip_prefix("Run ")
            .and_then(|rest| rest.trim_end().strip_suffix(" as init process"))
            .map(|path| EventKind::RunInit {
                path: path.trim().to_owned(),
            }),
        b'c' => text
            .strip_prefix("calling  ")
            .and_then(parse_initcall_start),
        b'i' => {
            if let Some(rest) = text.strip_prefix("initcall ") {
                parse_initcall_return(rest)
            } else {
                text.strip_prefix("insmod: ")
                    .map(|rest| tool_module_error(text, rest))
            }
        }
        b'r' => text
            .strip_prefix("rmmod: ")
            .map(|rest| tool_module_error(text, rest)),
        b'm' => text
            .strip_prefix("modprobe: ")
            .map(|rest| tool_module_error(text, rest)),
        b'O' if text.starts_with("Oops: ") => Some(EventKind::Oops {
            text: text.trim_end().to_owned(),
        }),
        b'I' if text.starts_with("Internal error: Oops") => Some(EventKind::Oops {
            text: text.trim_end().to_owned(),
        }),
        b'B' if text.starts_with("BUG: ") => Some(EventKind::Bug {
            text: text.trim_end().to_owned(),
        }),
        b'k' if text.starts_with("kernel BUG at ") => Some(EventKind::Bug {
            text: text.trim_end().to_owned(),
        }),
        b'U' if text.starts_with("Unable to handle kernel ") => Some(EventKind::Bug {
            text: text.trim_end().to_owned(),
        }),
        b'W' if text.starts_with("WARNING: CPU:") => Some(EventKind::Warning {
            text: text.trim_end().to_owned(),
        }),
        _ => None,
    }
}

/// `KIND ARG...` after the `@@LTOH ` prefix.
fn parse_marker(rest: &str) -> Option<EventKind> {
    let mut words = rest.split_whitespace();
    let kind = words.next()?.to_owned();
    let args = words.map(str::to_owned).collect();
    Some(EventKind::Marker { kind, args })
}

/// `6.12.117 (user@host) (compiler (nested)) #1 SMP ...` after `Linux version `.
fn parse_banner(rest: &str) -> EventKind {
    let rest = rest.trim_start();
    let vend = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let version = rest[..vend].to_owned();
    let compiler = nth_paren_group(&rest[vend..], 1)
        .map(|g| g.trim().to_owned())
        .unwrap_or_default();
    EventKind::Banner { version, compiler }
}

/// Contents of the `n`-th (0-based) top-level parenthesised group of `s`.
/// An unterminated group extends to the end of `s` (truncated line).
fn nth_paren_group(s: &str, n: usize) -> Option<&str> {
    let mut depth = 0usize;
    let mut index = 0usize;
    let mut start = 0usize;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'(' => {
                if depth == 0 {
                    start = i + 1;
                }
                depth += 1;
            }
            b')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    if index == n {
                        return Some(&s[start..i]);
                    }
                    index += 1;
                }
            }
            _ => {}
        }
    }
    if depth > 0 && index == n {
        Some(&s[start..])
    } else {
        None
    }
}

/// Reduces a `%pS` rendering (`func+0x0/0x330 [module]`) to the bare symbol.
/// LTO/CFI decorations in the symbol name itself are left untouched.
fn bare_symbol(s: &str) -> &str {
    let mut s = s.trim();
    if s.ends_with(']') {
        if let Some(p) = s.rfind(" [") {
            s = &s[..p];
        }
    }
    if let Some(p) = s.find('+') {
        s = &s[..p];
    }
    s.trim_end()
}

/// The ` [module]` tag of a `%pS` rendering, if any.
fn module_tag(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = s.strip_suffix(']')?;
    let p = inner.rfind(" [")?;
    let m = &inner[p + 2..];
    (!m.is_empty()).then(|| m.to_owned())
}

/// `func+0x0/0x330 [module] @ 1` after `calling  `.
fn parse_initcall_start(rest: &str) -> Option<EventKind> {
    let (sym, pid) = match rest.rfind(" @ ") {
        Some(p) => (&rest[..p], rest[p + 3..].trim().parse().ok()),
        None => (rest, None),
    };
    let func = bare_symbol(sym);
    if func.is_empty() {
        return None;
    }
    Some(EventKind::InitcallStart {
        func: func.to_owned(),
        module: module_tag(sym),
        pid,
    })
}

/// `func+0x0/0x330 returned 0 after 12 usecs` after `initcall `.
fn parse_initcall_return(rest: &str) -> Option<EventKind> {
    let p = rest.find(" returned ")?;
    let module = module_tag(&rest[..p]);
    let func = bare_symbol(&rest[..p]);
    if func.is_empty() {
        return None;
    }
    let mut words = rest[p + " returned ".len()..].split_ascii_whitespace();
    let ret = words.next()?.parse::<i64>().ok()?;
    if words.next()? != "after" {
        return None;
    }
    let usecs = words.next()?.parse::<u64>().ok()?;
    Some(EventKind::InitcallReturn {
        func: func.to_owned(),
        module,
        ret,
        usecs,
    })
}

/// `CFI failure at caller+0x16/0x20 [mod] (target: sym+0x0/0x8 [mod]; expected type: 0x7e0c52a5)`.
fn parse_cfi(text: &str) -> EventKind {
    let target = text.find("target: ").and_then(|p| {
        let rest = &text[p + "target: ".len()..];
        let end = rest.find([';', ')']).unwrap_or(rest.len());
        let sym = bare_symbol(&rest[..end]);
        (!sym.is_empty()).then(|| sym.to_owned())
    });
    let expected_type = text.find("expected type: ").and_then(|p| {
        let rest = &text[p + "expected type: ".len()..];
        let end = rest
            .find(|c: char| c == ')' || c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let ty = &rest[..end];
        (!ty.is_empty()).then(|| ty.to_owned())
    });
    EventKind::CfiFailure {
        text: text.trim_end().to_owned(),
        target,
        expected_type,
    }
}

/// Error line from busybox/kmod `insmod`, `rmmod` or `modprobe`; `rest` is
/// the text after the tool prefix.
fn tool_module_error(text: &str, rest: &str) -> EventKind {
    let module = quoted(rest)
        .or_else(|| word_after(rest, "module "))
        .map(module_name)
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    EventKind::ModuleError {
        module,
        text: text.trim_end().to_owned(),
    }
}

/// First `'...'`-quoted string in `s` whose opening quote follows a space
/// (so the apostrophe in `can't` is not taken for a quote).
fn quoted(s: &str) -> Option<&str> {
    let start = s.find(" '")? + 2;
    let len = s[start..].find('\'')?;
    Some(&s[start..start + len])
}

/// The whitespace-delimited word following `needle` in `s`, without a
/// trailing `:`.
fn word_after<'a>(s: &'a str, needle: &str) -> Option<&'a str> {
    let rest = &s[s.find(needle)? + needle.len()..];
    let word = rest.split_whitespace().next()?;
    Some(word.trim_end_matches(':'))
}

/// `/lib/modules/lkdtm.ko.xz` -> `lkdtm`.
fn module_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    match base.find(".ko") {
        Some(p) if p > 0 => &base[..p],
        _ => base,
    }
}

/// Kernel module loader messages: `name: version magic '...' should be '...'`,
/// `name: Unknown symbol sym (err -2)`, `name: disagrees about version of
/// symbol sym`, `name: no symbol version for sym`.
fn kernel_module_error(text: &str) -> Option<EventKind> {
    // Only scan a plausible module name, never the whole line.
    let b = text.as_bytes();
    let n = b
        .iter()
        .take(64)
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'-')
        .count();
    if n == 0 || b.get(n) != Some(&b':') || b.get(n + 1) != Some(&b' ') {
        return None;
    }
    let msg = &text[n + 2..];
    const PATTERNS: [&str; 4] = [
        "version magic '",
        "Unknown symbol ",
        "disagrees about version of symbol ",
        "no symbol version for ",
    ];
    if PATTERNS.iter().any(|p| msg.starts_with(p)) {
        Some(EventKind::ModuleError {
            module: Some(text[..n].to_owned()),
            text: text.trim_end().to_owned(),
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- helpers ---------------------------------------------------------

    fn split_all(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c));
        }
        out.extend(s.finish());
        out
    }

    fn split_bytewise(input: &[u8]) -> Vec<String> {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        for b in input {
            out.extend(s.push(std::slice::from_ref(b)));
        }
        out.extend(s.finish());
        out
    }

    fn one(line: &str) -> Option<Event> {
        let mut p = ConsoleParser::new();
        let mut ev = p.parse_line(line);
        assert!(ev.len() <= 1, "more than one event for {line:?}");
        ev.pop()
    }

    fn kind(line: &str) -> Option<EventKind> {
        one(line).map(|e| e.kind)
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Splits `input` into chunks of random sizes (1..=max).
    fn random_chunks<'a>(input: &'a [u8], rng: &mut XorShift, max: usize) -> Vec<&'a [u8]> {
        let mut chunks = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let n = (1 + rng.below(max)).min(input.len() - i);
            chunks.push(&input[i..i + n]);
            i += n;
        }
        chunks
    }

    /// A realistic x86_64 boot log excerpt with QEMU-style `\r\n` line ends.
    const X86_LOG: &str = "\
SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n\
\r\n\
Booting from ROM..\r\n\
[    0.000000] Linux version 6.12.117 (user@host) (Debian clang version 19.1.7 (3~deb12u1), Debian LLD 19.1.7) #1 SMP PREEMPT_DYNAMIC Thu Jan  1 00:00:00 UTC 2025\r\n\
[    0.000000] Command line: console=ttyS0 initcall_debug panic=-1\r\n\
[    0.012345] Kernel command line: console=ttyS0 initcall_debug panic=-1\r\n\
[    0.318967] calling  __initstub__kmod_core__365_2214_init_hw_perf_eventsearly+0x0/0x330 @ 1\r\n\
[    0.319001] initcall __initstub__kmod_core__365_2214_init_hw_perf_eventsearly+0x0/0x330 returned 0 after 12 usecs\r\n\
[    0.400000] calling  acpi_init+0x0/0x4a0 @ 1\r\n\
[    0.400010] initcall acpi_init+0x0/0x4a0 returned -19 after 3 usecs\r\n\
[    1.234567] Run /init as init process\r\n\
@@LTOH BEGIN x86_64-lto-none\r\n\
@@LTOH STEP insmod-test_module\r\n\
[    1.300000] test_module: version magic '6.12.117 SMP mod_unload ' should be '6.12.117 mod_unload '\r\n\
insmod: can't insert 'test_module.ko': Invalid module format\r\n\
@@LTOH RESULT insmod-test_module rc=1\r\n\
@@LTOH END rc=0\r\n\
[    1.400000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n";

    /// Every kind's name is the one its JSON carries.
    #[test]
    fn kind_names_match_the_json() {
        let log = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/console/x86_64-tiny-full-cfi-lkdtm.log"
        ))
        .unwrap();
        let events = parse_log(&log);
        let mut kinds = std::collections::BTreeSet::new();
        for e in &events {
            let j = serde_json::to_value(&e.kind).unwrap();
            assert_eq!(j["type"], e.kind.name(), "{e:?}");
            kinds.insert(e.kind.name());
        }
        assert!(kinds.len() >= 6, "{kinds:?}");
    }

    // ---- LineSplitter ------------------------------------------------------

    #[test]
    fn splitter_line_endings() {
        assert_eq!(
            split_all(&[b"a\r\nb\nc\rd"]),
            vec!["a", "b", "c", "d"],
            "\\r\\n, \\n and lone \\r all end lines; finish returns the tail"
        );
    }

    #[test]
    fn splitter_crlf_split_across_chunks() {
        let mut s = LineSplitter::new();
        assert_eq!(s.push(b"first\r"), vec!["first"]);
        assert_eq!(s.push(b"\nsecond\r"), vec!["second"]);
        assert!(
            s.push(b"\n").is_empty(),
            "no empty line from a split \\r\\n"
        );
        // The second pair is a genuine blank line.
        assert_eq!(s.push(b"third\r\n\r"), vec!["third"]);
        assert_eq!(s.push(b"\n"), vec![""]);
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn splitter_blank_lines() {
        // Blank lines ended by \n or \r\n are kept; \r\r\n is one line end.
        assert_eq!(
            split_all(&[b"a\n\n\nb\r\r\n\r\n"]),
            vec!["a", "", "", "b", ""]
        );
        // Escapes and spaces alone make a blank line.
        assert_eq!(
            split_all(&[b"\r\n\n\r\x1b[2J\r\n \t \r\n"]),
            vec!["", "", "", ""]
        );
        // iPXE erases its prompt with \r + spaces + \r: one raw line, one line.
        let ipxe: &[u8] = b"Press Ctrl-B\r        \r\nnext\r\n";
        assert_eq!(split_all(&[ipxe]), vec!["Press Ctrl-B", "next"]);
        assert_eq!(split_bytewise(ipxe), vec!["Press Ctrl-B", "next"]);
        // A lone \r before text on a fresh line produces nothing extra.
        assert_eq!(split_all(&[b"\rabc\n\r\rdef"]), vec!["abc", "def"]);
        // Trailing blank partial line is not returned by finish().
        let mut s = LineSplitter::new();
        assert_eq!(s.push(b"x\n   "), vec!["x"]);
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn splitter_strips_ansi_mid_line() {
        let input: &[u8] = b"he\x1b[1;31mll\x1b[0mo wor\x1b[?25hld\r\n\
            \x1b]0;window title\x07title gone\n\
            \x1b]2;other\x1b\\st terminated\n\
            two\x1bcbyte \x1b(Bcharset\x1b7\x1b8\n";
        let want = vec![
            "hello world",
            "title gone",
            "st terminated",
            "twobyte charset",
        ];
        assert_eq!(split_all(&[input]), want);
        assert_eq!(split_bytewise(input), want, "escapes split across chunks");
    }

    #[test]
    fn splitter_abandoned_escape_keeps_line_end() {
        // A stray ESC or an unterminated CSI/OSC must not swallow the newline.
        let input: &[u8] = b"a\x1b\nb\x1b[12\nc\x1b]0;xx\nd\x1b(\ne\n";
        assert_eq!(split_all(&[input]), vec!["a", "b", "c", "d", "e"]);
        assert_eq!(split_bytewise(input), vec!["a", "b", "c", "d", "e"]);
        // A non-CSI byte aborts a CSI and is kept as text.
        assert_eq!(split_all(&[b"x\x1b[1\xc3\xa9y\n"]), vec!["x\u{e9}y"]);
    }

    #[test]
    fn splitter_drops_control_chars() {
        assert_eq!(
            split_all(&[b"\0\0a\0b\x07c\td\x7f\x08e\x0c\n"]),
            vec!["abc\tde"]
        );
    }

    #[test]
    fn splitter_utf8_split_across_chunks() {
        let text = "caf\u{e9} \u{65e5}\u{672c} \u{1f600}\n";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let got = split_all(&[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(got, vec![text.trim_end()], "cut at {cut}");
        }
        assert_eq!(split_bytewise(bytes), vec![text.trim_end()]);
    }

    #[test]
    fn splitter_invalid_utf8_is_lossy() {
        assert_eq!(
            split_all(&[b"ok \xff\xfe bad \xe6\x97\n"]),
            vec!["ok \u{fffd}\u{fffd} bad \u{fffd}"]
        );
    }

    #[test]
    fn splitter_caps_overlong_lines() {
        let mut input = vec![b'a'; 10_000];
        input.extend_from_slice(b"\r\nshort\r\n");
        let lines = split_all(&[&input]);
        let lens: Vec<usize> = lines.iter().map(String::len).collect();
        // Each later piece repeats the last 1024 bytes of the one before
        // (push hands on only the new text).
        assert_eq!(lens, vec![4096, 3072, 2832, 5]);
        assert_eq!(lines[3], "short");
        assert_eq!(split_bytewise(&input), lines);

        // Exactly MAX bytes followed by a newline is a single line.
        let mut exact = vec![b'x'; MAX_LINE_BYTES];
        exact.push(b'\n');
        assert_eq!(split_all(&[&exact]).len(), 1);

        // A multi-byte character straddling the cap is not torn apart.
        let mut straddle = vec![b'a'; MAX_LINE_BYTES - 1];
        straddle.extend_from_slice("\u{e9}\u{e9}\n".as_bytes());
        let lines = split_all(&[&straddle]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES - 1);
        assert_eq!(lines[1], "\u{e9}\u{e9}");
        assert_eq!(split_bytewise(&straddle), lines);
    }

    #[test]
    fn splitter_overlong_without_newline_is_bounded() {
        let mut s = LineSplitter::new();
        let chunk = vec![b'z'; 1000];
        let mut lines = Vec::new();
        for _ in 0..100 {
            lines.extend(s.push(&chunk));
            assert!(s.buf.len() <= MAX_LINE_BYTES);
        }
        lines.extend(s.finish());
        assert_eq!(lines.iter().map(String::len).sum::<usize>(), 100_000);
        assert!(lines.iter().all(|l| l.len() <= MAX_LINE_BYTES));
    }

    #[test]
    fn splitter_finish_resets() {
        let mut s = LineSplitter::new();
        assert!(s.push(b"partial\x1b[").is_empty());
        assert_eq!(s.finish().as_deref(), Some("partial"));
        assert_eq!(s.finish(), None);
        // The unfinished CSI was discarded: "1m" is plain text now.
        assert_eq!(s.push(b"1m\n"), vec!["1m"]);
        assert_eq!(LineSplitter::default().finish(), None);
    }

    /// Biased random input that exercises every splitter state.
    fn nasty_bytes(rng: &mut XorShift, len: usize) -> Vec<u8> {
        const SPECIAL: &[u8] = b"\r\n\x1b[]\x07\\\0\t;(m";
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            let r = rng.next();
            match r % 10 {
                0..=3 => v.push(b'a' + (r >> 8) as u8 % 26),
                4..=5 => v.push(SPECIAL[(r >> 8) as usize % SPECIAL.len()]),
                6 => v.extend_from_slice("\u{e9}\u{65e5}\u{1f600}".as_bytes()),
                7 => v.extend_from_slice(b"[    0.318967] "),
                8 => {
                    // occasionally a very long run without line ends
                    let n = if (r >> 8).is_multiple_of(50) {
                        5000
                    } else {
                        20
                    };
                    v.extend(std::iter::repeat_n(b'q', n));
                }
                _ => v.push((r >> 16) as u8),
            }
        }
        v.truncate(len);
        v
    }

    #[test]
    fn fuzz_chunking_is_irrelevant() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for (round, len) in [(0, 1 << 20), (1, 1 << 20), (2, 64 << 10)] {
            let input: Vec<u8> = if round == 1 {
                // plain uniform random bytes
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                nasty_bytes(&mut rng, len)
            };
            let reference = split_all(&[&input]);
            for max in [1, 7, 300, 70_000] {
                let chunks = random_chunks(&input, &mut rng, max);
                assert_eq!(split_all(&chunks), reference, "round {round}, max {max}");
            }
            for line in &reference {
                // Invalid bytes may grow to U+FFFD (3 bytes) each.
                assert!(line.len() <= 3 * MAX_LINE_BYTES);
                assert!(
                    !line.chars().any(|c| c.is_ascii_control() && c != '\t'),
                    "control char in {line:?}"
                );
            }
            // The parser must survive every piece, and parse_log must agree.
            let mut parser = ConsoleParser::new();
            let mut events = Vec::new();
            let mut sp = LineSplitter::new();
            for l in sp.push_lines(&input).into_iter().chain(sp.finish_line()) {
                parser.parse_into(&l, &mut events);
            }
            assert_eq!(events, parse_log(&input));
        }
    }

    /// Console text built from the parser's own vocabulary (so lines get
    /// deep into every branch), noise, and any character.
    fn console_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        const WORDS: &[&str] = &[
            "@@LTOH ",
            "Linux version ",
            "(",
            ")",
            "calling  ",
            "initcall ",
            " returned ",
            " after ",
            " usecs",
            "+0x0/0x1",
            " [",
            "]",
            "[",
            " @ ",
            "-",
            "1",
            "_",
            "__",
            "__initstub__kmod_",
            "__initcall__kmod_",
            ".llvm.",
            "6",
            "7s",
            "rootfs",
            "CFI failure at ",
            "target: ",
            "expected type: ",
            ";",
            "insmod: ",
            "'",
            ".ko",
            ": ",
            "module ",
            "Run ",
            " as init process",
            "<6>",
            "[    1.5]",
            "[ T1]",
            "Kernel panic - not syncing: ",
            "Oops: ",
            "BUG: ",
            "WARNING: CPU:",
            "Call Trace:",
            "\t",
            "\u{e9}",
            "\u{fffd}",
            " ",
        ];
        prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(WORDS).prop_map(str::to_owned),
                1 => any::<String>(),
            ],
            0..10,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// Any line: no panic, at most one event, numbered by the lines
        /// fed; each initcall name normalises (what the checks do with
        /// it, where a U+FFFD once panicked), and the same line always
        /// gives the same event.
        #[test]
        fn parser_takes_any_line(lines in proptest::collection::vec(console_line(), 1..8)) {
            let mut parser = ConsoleParser::new();
            for (i, line) in lines.iter().enumerate() {
                let events = parser.parse_line(line);
                proptest::prop_assert!(events.len() <= MAX_EVENTS_PER_LINE);
                for e in &events {
                    proptest::prop_assert_eq!(e.line, i + 1);
                    if let EventKind::InitcallStart { func, .. }
                    | EventKind::InitcallReturn { func, .. } = &e.kind
                    {
                        let (name, _) = crate::elf::initcalls::normalise(func);
                        proptest::prop_assert!(!name.is_empty() || func.is_empty());
                    }
                }
                proptest::prop_assert_eq!(
                    ConsoleParser::new().parse_line(line).into_iter().map(|e| e.kind).collect::<Vec<_>>(),
                    events.into_iter().map(|e| e.kind).collect::<Vec<_>>()
                );
            }
        }

        /// Any bytes, split anywhere: parse_log agrees with line-by-line
        /// parsing and never panics.
        #[test]
        fn parse_log_takes_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12000)) {
            let mut parser = ConsoleParser::new();
            let mut by_line = Vec::new();
            let mut sp = LineSplitter::new();
            for l in sp.push_lines(&bytes).into_iter().chain(sp.finish_line()) {
                parser.parse_into(&l, &mut by_line);
            }
            proptest::prop_assert_eq!(&by_line, &parse_log(&bytes));
            let n = split_lines(&bytes).len();
            proptest::prop_assert!(by_line.iter().all(|e| e.line >= 1 && e.line <= n));
        }
    }

    // ---- prefixes ----------------------------------------------------------

    #[test]
    fn timestamp_level_and_caller_prefixes() {
        let e = one("[    0.318967] Run /init as init process").unwrap();
        assert_eq!(e.time, Some(0.318967));
        assert_eq!(e.line, 1);
        assert_eq!(
            e.kind,
            EventKind::RunInit {
                path: "/init".into()
            }
        );

        let e = one("<6>[ 1234.500000] Run /sbin/init as init process").unwrap();
        assert_eq!(e.time, Some(1234.5));
        assert_eq!(
            e.kind,
            EventKind::RunInit {
                path: "/sbin/init".into()
            }
        );

        let e = one("[    2.000001][    T1] Run /init as init process").unwrap();
        assert_eq!(e.time, Some(2.000001));

        let e = one("<4>Run /init as init process").unwrap();
        assert_eq!(e.time, None);

        // Not a timestamp: a capture's prefix, the message is still found.
        let e = one("[abc] Run /init as init process").unwrap();
        assert_eq!(
            (e.time, e.kind),
            (
                None,
                EventKind::RunInit {
                    path: "/init".into()
                }
            )
        );
    }

    #[test]
    fn line_numbers_count_every_fed_line() {
        let mut p = ConsoleParser::default();
        assert!(p.parse_line("nothing here").is_empty());
        assert!(p.parse_line("").is_empty());
        let ev = p.parse_line("@@LTOH END rc=0");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].line, 3);
        assert_eq!(ev[0].time, None);
    }

    // ---- individual event kinds ------------------------------------------------

    #[test]
    fn banner_with_nested_parens() {
        assert_eq!(
            kind("[    0.000000] Linux version 6.12.117 (user@host) (Debian clang version 19.1.7 (3~deb12u1), Debian LLD 19.1.7) #1 SMP PREEMPT_DYNAMIC"),
            Some(EventKind::Banner {
                version: "6.12.117".into(),
                compiler: "Debian clang version 19.1.7 (3~deb12u1), Debian LLD 19.1.7".into(),
            })
        );
        assert_eq!(
            kind("Linux version 6.1.0-rc1+ (a@b) (gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #3"),
            Some(EventKind::Banner {
                version: "6.1.0-rc1+".into(),
                compiler: "gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40".into(),
            })
        );
        // Truncated banner: compiler runs to the end; missing compiler is empty.
        assert_eq!(
            kind("Linux version 6.12.1 (u@h) (clang version 19 (x"),
            Some(EventKind::Banner {
                version: "6.12.1".into(),
                compiler: "clang version 19 (x".into(),
            })
        );
        assert_eq!(
            kind("Linux version 6.12.1"),
            Some(EventKind::Banner {
                version: "6.12.1".into(),
                compiler: String::new(),
            })
        );
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            kind("[    0.000000] Command line: console=ttyS0 panic=-1"),
            Some(EventKind::CommandLine {
                text: "console=ttyS0 panic=-1".into()
            })
        );
        assert_eq!(
            kind("[    0.000000] Kernel command line: console=ttyAMA0 rdinit=/init"),
            Some(EventKind::CommandLine {
                text: "console=ttyAMA0 rdinit=/init".into()
            })
        );
    }

    #[test]
    fn markers_including_mid_line() {
        assert_eq!(
            kind("@@LTOH BEGIN x86_64-lto-none"),
            Some(EventKind::Marker {
                kind: "BEGIN".into(),
                args: vec!["x86_64-lto-none".into()]
            })
        );
        assert_eq!(
            kind("@@LTOH RESULT insmod-test_module   rc=0 "),
            Some(EventKind::Marker {
                kind: "RESULT".into(),
                args: vec!["insmod-test_module".into(), "rc=0".into()]
            })
        );
        // Torn kernel message in front of the marker.
        let e = one("[    1.500000] random: crng init d@@LTOH STEP insmod-lkdtm").unwrap();
        assert_eq!(e.time, Some(1.5));
        assert_eq!(
            e.kind,
            EventKind::Marker {
                kind: "STEP".into(),
                args: vec!["insmod-lkdtm".into()]
            }
        );
        assert_eq!(
            kind("garbage\u{fffd}@@LTOH END rc=0"),
            Some(EventKind::Marker {
                kind: "END".into(),
                args: vec!["rc=0".into()]
            })
        );
        // No kind word, or no space after the tag: not a marker.
        assert_eq!(kind("@@LTOH "), None);
        assert_eq!(kind("@@LTOHEND"), None);
    }

    #[test]
    fn initcalls() {
        assert_eq!(
            kind("[    0.318967] calling  init_hw_perf_events+0x0/0x330 @ 1"),
            Some(EventKind::InitcallStart {
                func: "init_hw_perf_events".into(),
                module: None,
                pid: Some(1),
            })
        );
        // LTO stub names pass through unchanged.
        assert_eq!(
            kind("[    0.318967] calling  __initstub__kmod_core__365_2214_init_hw_perf_eventsearly+0x0/0x330 @ 1"),
            Some(EventKind::InitcallStart {
                func: "__initstub__kmod_core__365_2214_init_hw_perf_eventsearly".into(),
                module: None,
                pid: Some(1),
            })
        );
        // Module initcall: " [module]" is stripped.
        assert_eq!(
            kind("[    5.0] calling  lkdtm_module_init+0x0/0x1000 [lkdtm] @ 201"),
            Some(EventKind::InitcallStart {
                func: "lkdtm_module_init".into(),
                module: Some("lkdtm".into()),
                pid: Some(201),
            })
        );
        // One space is not the initcall_debug format.
        assert_eq!(kind("calling init_foo+0x0/0x10 @ 1"), None);

        assert_eq!(
            kind("[    0.319001] initcall init_hw_perf_events+0x0/0x330 returned 0 after 12 usecs"),
            Some(EventKind::InitcallReturn {
                func: "init_hw_perf_events".into(),
                module: None,
                ret: 0,
                usecs: 12
            })
        );
        assert_eq!(
            kind("initcall __initstub__kmod_acpi__1_2_acpi_init4+0x0/0x4a0 returned -19 after 3 usecs"),
            Some(EventKind::InitcallReturn {
                func: "__initstub__kmod_acpi__1_2_acpi_init4".into(),
                module: None,
                ret: -19,
                usecs: 3
            })
        );
        assert_eq!(
            kind("initcall lkdtm_module_init+0x0/0x1000 [lkdtm] returned -22 after 150 usecs"),
            Some(EventKind::InitcallReturn {
                func: "lkdtm_module_init".into(),
                module: Some("lkdtm".into()),
                ret: -22,
                usecs: 150
            })
        );
        // Malformed numbers: no event.
        assert_eq!(kind("initcall foo+0x0/0x1 returned x after 3 usecs"), None);
        assert_eq!(kind("initcall foo+0x0/0x1 returned 0 after -3 usecs"), None);
        assert_eq!(kind("initcall foo+0x0/0x1 blacklisted"), None);
    }

    #[test]
    fn indented_panics_banners_and_bugs_all_count() {
        // kunit_tool's test_kernel_panic_interrupt.log and
        // test_pound_no_prefix.log: a tab, or a space and no timestamp.
        let panic = Some(EventKind::Panic {
            text: "VFS: Unable to mount root fs on unknown-block(98,0)".into(),
        });
        assert_eq!(
            kind("[    0.060000] \tKernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(98,0)"),
            panic
        );
        assert_eq!(
            kind(
                " Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(98,0)"
            ),
            panic
        );
        assert!(matches!(
            kind("\tLinux version 6.12.117 (u@h) (clang version 19) #1"),
            Some(EventKind::Banner { .. })
        ));
        assert_eq!(
            kind("[    3.1]   BUG: not at the start of the message"),
            Some(EventKind::Bug {
                text: "BUG: not at the start of the message".into()
            })
        );
        assert_eq!(kind("\t\t"), None);
    }

    /// What a capture put before the kernel's message, or userspace text
    /// glued before it, never hides the message.
    #[test]
    fn kernel_messages_are_found_anywhere_in_a_line() {
        let warning = EventKind::Warning {
            text: "WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2".into(),
        };
        for line in [
            "hello[    0.9] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2",
            "2026-12-07T13:00:00.123456Z [    0.9] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2",
            "Dec  7 13:00:00 host kernel: [    0.9] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2",
            "[1733576400.000] <4>[    0.9] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2",
            "helloWARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2",
            "\t  WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2",
            "\u{fffd}WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2",
        ] {
            assert_eq!(kind(line), Some(warning.clone()), "{line:?}");
        }
        let e = one("hello[    0.9] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2").unwrap();
        assert_eq!(e.time, Some(0.9));
        for (line, want) in [
            ("x Kernel panic - not syncing: Fatal exception", "Panic"),
            ("userspace BUG: unable to handle page fault", "Bug"),
            ("[12:00:00] Oops: general protection fault [#1]", "Oops"),
            ("ts=1 CFI failure at lkdtm_indirect_call+0x1/0x2 (target: f+0x0/0x8; expected type: 0x1)", "CfiFailure"),
            ("ab[    0.0] Linux version 7.1.5 (u@h) (clang 19) #1", "Banner"),
            ("ab[    1.0] Run /init as init process", "RunInit"),
            ("ab[    1.0] calling  foo+0x0/0x8 @ 1", "InitcallStart"),
            ("ab[    1.0] test_module: version magic 'x' should be 'y'", "ModuleError"),
        ] {
            let k = kind(line).unwrap_or_else(|| panic!("{line:?}: no event"));
            assert!(format!("{k:?}").starts_with(want), "{line:?}: {k:?}");
        }
        // A harness marker after a kernel message's start is still a marker
        // when it comes first; the earliest message in the line wins.
        assert!(matches!(
            kind("abc@@LTOH END rc=0"),
            Some(EventKind::Marker { .. })
        ));
        assert!(matches!(
            kind("BUG: x @@LTOH END rc=0"),
            Some(EventKind::Bug { .. })
        ));
        // The kernel printed into a marker's line: both are events, the
        // marker's arguments end where the kernel's message starts.
        let ev = ConsoleParser::new().parse_line(
            "@@LTOH STEP lo[    1.2] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2",
        );
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(
            ev[0].kind,
            EventKind::Marker {
                kind: "STEP".into(),
                args: vec!["lo".into()]
            }
        );
        assert!(matches!(ev[1].kind, EventKind::Warning { .. }));
        assert_eq!((ev[0].line, ev[1].line, ev[1].time), (1, 1, Some(1.2)));
        // Any kernel record ends a marker, an event or not (a real 7.1
        // boot: the mouse driver printed into a step's marker line).
        let ev = ConsoleParser::new().parse_line(
            "@@LTOH STEP unlisted-lkdtm[    1.868178] input: ImExPS/2 Generic Explorer Mouse as /devices/platform/i8042/serio1/input/input2",
        );
        assert_eq!(
            ev.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
            vec![EventKind::Marker {
                kind: "STEP".into(),
                args: vec!["unlisted-lkdtm".into()]
            }]
        );
        // A timestamped message after a record without its newline.
        let ev = ConsoleParser::new()
            .parse_line("[    1.0] calling  foo+0x0/0x8 @ 1[    1.1] Oops: boom");
        assert_eq!(
            ev.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
            vec![
                EventKind::InitcallStart {
                    func: "foo".into(),
                    module: None,
                    pid: Some(1)
                },
                EventKind::Oops {
                    text: "Oops: boom".into()
                }
            ]
        );
        assert_eq!(ev[1].time, Some(1.1));
        // Words that only look like it are nothing.
        assert_eq!(kind("[    1.0] lkdtm: Performing direct entry BUG"), None);
        assert_eq!(
            kind("[    1.0] Kernel command line: panic=-1 oops=panic"),
            Some(EventKind::CommandLine {
                text: "panic=-1 oops=panic".into()
            })
        );
    }

    /// A line longer than the cap keeps one number, and a message at its
    /// end, or straddling a cut, is found once.
    #[test]
    fn overlong_lines_keep_their_number_and_their_messages() {
        let warn = "[    0.9] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x1/0x2";
        for noise in [
            5_000usize,
            3_000_000,
            MAX_LINE_BYTES - 20,
            2 * MAX_LINE_BYTES - OVERLAP_BYTES - 30,
        ] {
            let mut log = b"first\n".to_vec();
            log.extend(std::iter::repeat_n(b'x', noise));
            log.extend_from_slice(warn.as_bytes());
            log.extend_from_slice(b"\nthird\n[    1.0] Oops: boom\n");
            let ev = parse_log(&log);
            let got: Vec<(usize, String)> = ev
                .iter()
                .map(|e| (e.line, format!("{:?}", e.kind)[..4].to_owned()))
                .collect();
            assert_eq!(
                got,
                vec![(2, "Warn".to_owned()), (4, "Oops".to_owned())],
                "noise {noise}"
            );
            let lines = split_lines(&log);
            assert_eq!(lines.len(), 4, "noise {noise}");
            assert_eq!(lines[3], "[    1.0] Oops: boom");
            for chunk in [1usize, 999, 4096] {
                if noise > 100_000 && chunk < 999 {
                    continue;
                }
                let mut st = ConsoleStream::new();
                let mut evs = Vec::new();
                let mut keep = |_: &Line, e: &[Event]| evs.extend_from_slice(e);
                for c in log.chunks(chunk) {
                    st.push(c, &mut keep);
                }
                st.finish(&mut keep);
                assert_eq!(evs, ev, "noise {noise}, chunk {chunk}");
            }
        }
    }

    #[test]
    fn oops_bug_warning_calltrace_panic() {
        assert_eq!(
            kind("[    2.0] Oops: invalid opcode: 0000 [#1] PREEMPT SMP"),
            Some(EventKind::Oops {
                text: "Oops: invalid opcode: 0000 [#1] PREEMPT SMP".into()
            })
        );
        assert_eq!(
            kind("[    2.0] Internal error: Oops - CFI: 00000000f2008228 [#1] SMP"),
            Some(EventKind::Oops {
                text: "Internal error: Oops - CFI: 00000000f2008228 [#1] SMP".into()
            })
        );
        for bug in [
            "BUG: kernel NULL pointer dereference, address: 0000000000000000",
            "kernel BUG at mm/slub.c:123!",
            "BUG: unable to handle page fault for address: ffffffffc0000000",
            "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000",
        ] {
            assert_eq!(
                kind(&format!("[    3.1] {bug}")),
                Some(EventKind::Bug { text: bug.into() }),
                "{bug}"
            );
        }
        assert_eq!(
            kind("[    4.0] WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 func+0x1/0x2"),
            Some(EventKind::Warning {
                text: "WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 func+0x1/0x2".into()
            })
        );
        // Only the kernel __warn format counts.
        assert_eq!(kind("warning: something odd"), None);
        assert_eq!(kind("[    4.0] WARNING: This kernel is old"), None);
        assert_eq!(kind("ld: warning: foo"), None);

        assert_eq!(kind("[    4.1] Call Trace:"), Some(EventKind::CallTrace));
        assert_eq!(kind("[    4.1] Call trace:"), Some(EventKind::CallTrace));
        assert_eq!(kind("Call Trace: "), Some(EventKind::CallTrace));
        assert_eq!(kind("Call Tracer:"), None);

        assert_eq!(
            kind(
                "[    5.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"
            ),
            Some(EventKind::Panic {
                text: "Attempted to kill init! exitcode=0x00000100".into()
            })
        );
        // The end-of-panic trailer is not a second panic.
        assert_eq!(
            kind("[    5.0] ---[ end Kernel panic - not syncing: Attempted to kill init! ]---"),
            None
        );
    }

    #[test]
    fn cfi_failures() {
        assert_eq!(
            kind("[   10.1] CFI failure at lkdtm_indirect_call+0x16/0x20 [lkdtm] (target: lkdtm_increment_int+0x0/0x8 [lkdtm]; expected type: 0x7e0c52a5)"),
            Some(EventKind::CfiFailure {
                text: "CFI failure at lkdtm_indirect_call+0x16/0x20 [lkdtm] (target: lkdtm_increment_int+0x0/0x8 [lkdtm]; expected type: 0x7e0c52a5)".into(),
                target: Some("lkdtm_increment_int".into()),
                expected_type: Some("0x7e0c52a5".into()),
            })
        );
        assert_eq!(
            kind("CFI failure at do_one_initcall+0x8c/0x2f0 (no target information)"),
            Some(EventKind::CfiFailure {
                text: "CFI failure at do_one_initcall+0x8c/0x2f0 (no target information)".into(),
                target: None,
                expected_type: None,
            })
        );
        // Built-in target, no module suffix.
        assert_eq!(
            kind("CFI failure at foo+0x1/0x2 (target: bar+0x0/0x10; expected type: 0xdeadbeef)"),
            Some(EventKind::CfiFailure {
                text:
                    "CFI failure at foo+0x1/0x2 (target: bar+0x0/0x10; expected type: 0xdeadbeef)"
                        .into(),
                target: Some("bar".into()),
                expected_type: Some("0xdeadbeef".into()),
            })
        );
    }

    #[test]
    fn module_errors() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "insmod: can't insert 'lkdtm.ko': Invalid module format",
                Some("lkdtm"),
            ),
            (
                "insmod: can't insert '/lib/modules/6.12.117/test_module.ko.xz': Unknown symbol in module",
                Some("test_module"),
            ),
            (
                "insmod: ERROR: could not insert module lkdtm.ko: Invalid module format",
                Some("lkdtm"),
            ),
            (
                "test_module: version magic '6.12.117 SMP mod_unload ' should be '6.12.117 mod_unload '",
                Some("test_module"),
            ),
            ("foo: Unknown symbol bar (err -2)", Some("foo")),
            ("foo: disagrees about version of symbol bar", Some("foo")),
            ("foo-bar: no symbol version for module_layout", Some("foo-bar")),
            (
                "rmmod: can't unload module 'x': Resource temporarily unavailable",
                Some("x"),
            ),
            ("insmod: short read", None),
        ];
        for (line, module) in cases {
            let e = one(&format!("[    7.7] {line}")).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(e.time, Some(7.7));
            assert_eq!(
                e.kind,
                EventKind::ModuleError {
                    module: module.map(str::to_owned),
                    text: (*line).into()
                }
            );
        }
        // Look-alikes that are not module errors.
        assert_eq!(kind("x86/fpu: Unknown symbol foo"), None);
        assert_eq!(
            kind("lkdtm: Performing direct entry CFI_FORWARD_PROTO"),
            None
        );
        assert_eq!(kind("a b: Unknown symbol c"), None);
    }

    #[test]
    fn unrelated_lines_yield_nothing() {
        for line in [
            "",
            "[    0.000000] BIOS-provided physical RAM map:",
            "[    0.100000] Calibrating delay loop... 5000.00 BogoMIPS",
            "Booting from ROM..",
            "[    1.0] Freeing unused kernel image (initmem) memory: 2000K",
            "Oops",
            "BUG",
            "Kernel panic",
        ] {
            assert_eq!(kind(line), None, "{line:?}");
        }
    }

    // ---- whole logs --------------------------------------------------------

    fn summarize(events: &[Event]) -> Vec<(usize, &'static str)> {
        events
            .iter()
            .map(|e| {
                let k = e.kind.name();
                (e.line, k)
            })
            .collect()
    }

    #[test]
    fn x86_log_events() {
        let events = parse_log(X86_LOG.as_bytes());
        // The blank line after SeaBIOS counts, as in the raw log.
        assert_eq!(
            summarize(&events),
            vec![
                (4, "banner"),
                (5, "command_line"),
                (6, "command_line"),
                (7, "initcall_start"),
                (8, "initcall_return"),
                (9, "initcall_start"),
                (10, "initcall_return"),
                (11, "run_init"),
                (12, "marker"),
                (13, "marker"),
                (14, "module_error"),
                (15, "module_error"),
                (16, "marker"),
                (17, "marker"),
                (18, "panic"),
            ]
        );
        assert_eq!(events[0].time, Some(0.0));
        assert_eq!(events[3].time, Some(0.318967));
        assert_eq!(
            events[3].kind,
            EventKind::InitcallStart {
                func: "__initstub__kmod_core__365_2214_init_hw_perf_eventsearly".into(),
                module: None,
                pid: Some(1),
            }
        );
        assert_eq!(
            events[6].kind,
            EventKind::InitcallReturn {
                func: "acpi_init".into(),
                module: None,
                ret: -19,
                usecs: 3
            }
        );
        assert_eq!(events[8].time, None, "userspace marker has no timestamp");
        assert_eq!(
            events[11].kind,
            EventKind::ModuleError {
                module: Some("test_module".into()),
                text: "insmod: can't insert 'test_module.ko': Invalid module format".into()
            }
        );
        assert_eq!(events[14].time, Some(1.4));
    }

    #[test]
    fn torn_input_gives_same_events() {
        let bytes = X86_LOG.as_bytes();
        let reference = parse_log(bytes);
        // Split at every byte boundary into two chunks.
        for cut in 0..=bytes.len() {
            let mut s = LineSplitter::new();
            let mut p = ConsoleParser::new();
            let mut events = Vec::new();
            for chunk in [&bytes[..cut], &bytes[cut..]] {
                for line in s.push(chunk) {
                    events.extend(p.parse_line(&line));
                }
            }
            if let Some(line) = s.finish() {
                events.extend(p.parse_line(&line));
            }
            assert_eq!(events, reference, "cut at {cut}");
        }
        // And one byte at a time.
        let mut p = ConsoleParser::new();
        let events: Vec<Event> = split_bytewise(bytes)
            .iter()
            .flat_map(|l| p.parse_line(l))
            .collect();
        assert_eq!(events, reference);
    }

    #[test]
    fn noisy_log_gives_same_events() {
        // The same log with ANSI colour, NULs and LF-only line ends.
        let noisy = X86_LOG
            .replace("\r\n", "\n")
            .replace("Kernel panic", "\x1b[31mKernel\x00 panic\x1b[0m")
            .replace("@@LTOH END", "\x1b]0;t\x07@@LTOH END");
        assert_eq!(parse_log(noisy.as_bytes()), parse_log(X86_LOG.as_bytes()));
    }

    #[test]
    fn arm64_cfi_oops_log() {
        let log = "\
[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x000f0510]\n\
[    0.000000] Linux version 6.12.117 (u@h) (Debian clang version 19.1.7 (3~deb12u1), Debian LLD 19.1.7) #1 SMP PREEMPT\n\
[    0.000000] Kernel command line: console=ttyAMA0 panic=-1\n\
[    3.100000] lkdtm: Performing direct entry CFI_FORWARD_PROTO\n\
[    3.100100] lkdtm: Calling matched prototype ...\n\
[    3.100200] CFI failure at lkdtm_indirect_call+0x2c/0x44 [lkdtm] (target: lkdtm_increment_int+0x0/0x1c [lkdtm]; expected type: 0x7e0c52a5)\n\
[    3.100300] Internal error: Oops - CFI: 00000000f2008228 [#1] SMP\n\
[    3.100400] Modules linked in: lkdtm\n\
[    3.100500] Call trace:\n\
[    3.100600]  lkdtm_indirect_call+0x2c/0x44 [lkdtm]\n\
[    3.100700] Kernel panic - not syncing: Oops - CFI: Fatal exception\n";
        let events = parse_log(log.as_bytes());
        assert_eq!(
            summarize(&events),
            vec![
                (2, "banner"),
                (3, "command_line"),
                (6, "cfi_failure"),
                (7, "oops"),
                (9, "call_trace"),
                (11, "panic"),
            ]
        );
        assert_eq!(events[2].time, Some(3.1002));
        match &events[2].kind {
            EventKind::CfiFailure {
                target,
                expected_type,
                ..
            } => {
                assert_eq!(target.as_deref(), Some("lkdtm_increment_int"));
                assert_eq!(expected_type.as_deref(), Some("0x7e0c52a5"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            events[5].kind,
            EventKind::Panic {
                text: "Oops - CFI: Fatal exception".into()
            }
        );
    }

    // ---- captured fixtures ----------------------------------------------------

    const X86_TINY_NONE: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/console/x86_64-tiny-none.log"
    ));

    /// Line *n* of the splitter output is line *n* of the raw log (as
    /// `grep -n` counts), and is a substring of it.
    fn assert_aligned_with_raw(log: &[u8]) {
        let lines = split_all(&[log]);
        let raw: Vec<String> = log
            .split(|&b| b == b'\n')
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        // A trailing "\n" leaves one empty piece after the last raw line.
        let raw_count = raw.len() - usize::from(log.last() == Some(&b'\n'));
        assert_eq!(lines.len(), raw_count);
        for (i, line) in lines.iter().enumerate() {
            assert!(
                raw[i].contains(line.as_str()),
                "line {}: {line:?} not in raw {:?}",
                i + 1,
                raw[i]
            );
        }
    }

    #[test]
    fn fixture_x86_64_tiny_none() {
        assert_aligned_with_raw(X86_TINY_NONE);
        let events = parse_log(X86_TINY_NONE);

        // Banner behind "ESC c ESC[?7l ESC[2J", on raw line 9.
        assert_eq!(
            events[0],
            Event {
                line: 9,
                time: Some(0.0),
                kind: EventKind::Banner {
                    version: "6.12.117".into(),
                    compiler: "Debian clang version 19.1.7 (3~deb12u1), Debian LLD 19.1.7".into(),
                },
            }
        );
        let cmdlines: Vec<(usize, &EventKind)> = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::CommandLine { .. }))
            .map(|e| (e.line, &e.kind))
            .collect();
        let want = EventKind::CommandLine {
            text: "console=ttyS0 panic=-1 initcall_debug ignore_loglevel".into(),
        };
        assert_eq!(cmdlines, vec![(10, &want), (66, &want)]);

        let starts = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::InitcallStart { .. }))
            .count();
        let returns: Vec<&Event> = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::InitcallReturn { .. }))
            .collect();
        assert_eq!(starts, 155);
        assert_eq!(returns.len(), 155);
        assert_eq!(
            events[3],
            Event {
                line: 87,
                time: Some(0.202434),
                kind: EventKind::InitcallStart {
                    func: "init_hw_perf_events".into(),
                    module: None,
                    pid: Some(1),
                },
            }
        );
        let failed: Vec<(&str, i64)> = returns
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::InitcallReturn { func, ret, .. } if *ret != 0 => {
                    Some((func.as_str(), *ret))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            failed,
            vec![
                ("bts_init", -19),
                ("pt_init", -19),
                ("hpet_late_init", -19),
                ("amd_ibs_init", -19),
                ("umwait_init", -19),
                ("microcode_init", -22),
            ]
        );

        // Everything from Run /init on, by raw line number.
        let tail: Vec<&Event> = events.iter().filter(|e| e.line >= 421).collect();
        let kinds: Vec<EventKind> = tail.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::RunInit {
                    path: "/init".into()
                },
                EventKind::Marker {
                    kind: "BEGIN".into(),
                    args: vec!["raw".into()]
                },
                EventKind::InitcallStart {
                    func: "init_module".into(),
                    module: Some("test_module".into()),
                    pid: Some(20),
                },
                EventKind::InitcallReturn {
                    func: "init_module".into(),
                    module: Some("test_module".into()),
                    ret: 0,
                    usecs: 112
                },
                EventKind::InitcallStart {
                    func: "init_module".into(),
                    module: Some("lkdtm".into()),
                    pid: Some(24),
                },
                EventKind::InitcallReturn {
                    func: "init_module".into(),
                    module: Some("lkdtm".into()),
                    ret: 0,
                    usecs: 557
                },
                EventKind::Marker {
                    kind: "END".into(),
                    args: vec!["rc=0".into()]
                },
            ]
        );
        let lines: Vec<usize> = tail.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![421, 427, 428, 430, 433, 435, 441]);
        assert_eq!(tail[0].time, Some(0.694394));
        assert_eq!(tail[1].time, None);

        // A clean boot: nothing bad.
        assert!(!events.iter().any(|e| matches!(
            e.kind,
            EventKind::Oops { .. }
                | EventKind::Bug { .. }
                | EventKind::Warning { .. }
                | EventKind::CallTrace
                | EventKind::Panic { .. }
                | EventKind::CfiFailure { .. }
                | EventKind::ModuleError { .. }
        )));

        // Torn at random chunk sizes, and one byte at a time: same events.
        let mut rng = XorShift(7);
        for max in [1, 3, 64, 4000] {
            let mut s = LineSplitter::new();
            let mut p = ConsoleParser::new();
            let mut got = Vec::new();
            for chunk in random_chunks(X86_TINY_NONE, &mut rng, max) {
                for line in s.push(chunk) {
                    got.extend(p.parse_line(&line));
                }
            }
            if let Some(line) = s.finish() {
                got.extend(p.parse_line(&line));
            }
            assert_eq!(got, events, "max chunk {max}");
        }
    }

    const X86_TINY_FULL_CFI_LKDTM: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/console/x86_64-tiny-full-cfi-lkdtm.log"
    ));

    #[test]
    fn fixture_x86_64_tiny_full_cfi_lkdtm() {
        assert_aligned_with_raw(X86_TINY_FULL_CFI_LKDTM);
        let events = parse_log(X86_TINY_FULL_CFI_LKDTM);

        assert_eq!(
            events[0].kind,
            EventKind::Banner {
                version: "6.12.117".into(),
                compiler: "Debian clang version 19.1.7 (3~deb12u1), Debian LLD 19.1.7".into(),
            }
        );
        assert_eq!(events[0].line, 9);

        // Full LTO: initcall stub names are reported exactly as printed.
        let first_start = events
            .iter()
            .find(|e| matches!(e.kind, EventKind::InitcallStart { .. }))
            .unwrap();
        assert_eq!(
            *first_start,
            Event {
                line: 88,
                time: Some(0.164),
                kind: EventKind::InitcallStart {
                    func: "__initstub__kmod_core__363_2214_init_hw_perf_eventsearly".into(),
                    module: None,
                    pid: Some(1),
                },
            }
        );
        let failed: Vec<(usize, &str, i64)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::InitcallReturn { func, ret, .. } if *ret != 0 => {
                    Some((e.line, func.as_str(), *ret))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            failed,
            vec![
                (161, "__initstub__kmod_bts__306_622_bts_init3", -19),
                (163, "__initstub__kmod_pt__341_1925_pt_init3", -19),
                (211, "__initstub__kmod_hpet__142_1167_hpet_late_init5", -19),
                (266, "__initstub__kmod_ibs__325_1560_amd_ibs_init6", -19),
                (279, "__initstub__kmod_umwait__313_246_umwait_init6", -19),
                (
                    363,
                    "__initstub__kmod_microcode__266_877_microcode_init7",
                    -22
                ),
            ]
        );
        let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
        assert_eq!(count(|k| matches!(k, EventKind::InitcallStart { .. })), 155);
        assert_eq!(
            count(|k| matches!(k, EventKind::InitcallReturn { .. })),
            155
        );

        // The interesting part, skipping module initcalls.
        let tail: Vec<(usize, Option<f64>, EventKind)> = events
            .iter()
            .filter(|e| e.line >= 422)
            .filter(|e| {
                !matches!(
                    e.kind,
                    EventKind::InitcallStart { .. } | EventKind::InitcallReturn { .. }
                )
            })
            .map(|e| (e.line, e.time, e.kind.clone()))
            .collect();
        let cfi_text = "CFI failure at lkdtm_indirect_call+0x16/0x20 [lkdtm] (target: lkdtm_increment_int+0x0/0x8 [lkdtm]; expected type: 0x7e0c52a5)";
        assert_eq!(
            tail,
            vec![
                (
                    422,
                    Some(0.852022),
                    EventKind::RunInit {
                        path: "/init".into()
                    }
                ),
                (
                    428,
                    None,
                    EventKind::Marker {
                        kind: "BEGIN".into(),
                        args: vec!["raw".into()]
                    }
                ),
                (
                    440,
                    Some(1.084037),
                    EventKind::CfiFailure {
                        text: cfi_text.into(),
                        target: Some("lkdtm_increment_int".into()),
                        expected_type: Some("0x7e0c52a5".into()),
                    }
                ),
                (
                    441,
                    Some(1.084037),
                    EventKind::Oops {
                        text: "Oops: invalid opcode: 0000 [#1]".into()
                    }
                ),
                (454, Some(1.084037), EventKind::CallTrace),
                (
                    480,
                    None,
                    EventKind::Marker {
                        kind: "END".into(),
                        args: vec!["rc=0".into()]
                    }
                ),
            ]
        );
        // The oops killed the shell, not the kernel: no panic, no BUG.
        assert_eq!(count(|k| matches!(k, EventKind::Panic { .. })), 0);
        assert_eq!(count(|k| matches!(k, EventKind::Bug { .. })), 0);

        // Byte-at-a-time feeding gives the same events.
        let mut p = ConsoleParser::new();
        let bytewise: Vec<Event> = split_bytewise(X86_TINY_FULL_CFI_LKDTM)
            .iter()
            .flat_map(|l| p.parse_line(l))
            .collect();
        assert_eq!(bytewise, events);
    }

    #[test]
    fn serializes_with_type_tag() {
        let events = parse_log(
            b"[    0.5] initcall foo+0x0/0x1 returned -19 after 3 usecs\r\n\
              [    0.6] Call Trace:\r\n",
        );
        let json = serde_json::to_value(&events).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"line": 1, "time": 0.5, "kind": {"type": "initcall_return", "func": "foo", "ret": -19, "usecs": 3}},
                {"line": 2, "time": 0.6, "kind": {"type": "call_trace"}},
            ])
        );
    }
}
