//! One pool of job tokens shared by everything a run starts at once
//! (`run --pool`): concurrent kernel builds and boots, so that running
//! compile jobs plus boots never exceed `--jobs`.
//!
//! The pool is a GNU make jobserver (the `jobserver` crate's
//! [`jobserver::Client::new`]: a pipe holding `--jobs` one-byte tokens).
//! Every process the harness starts in the pool holds one token, taken by
//! the harness before it starts and given back when it has been waited for:
//!
//! * the commands waiting to start take their turns by rank
//!   ([`Pool::rank_this_thread`], [`Rank`]): the builds with the longest
//!   serial link (full LTO, then ThinLTO) start first, so a run does not
//!   end on one core waiting for the last kernel's single-threaded link;
//!   among equals, first come first served;
//! * a `make` counts that token as its implicit slot (GNU make's first job
//!   needs no token) and reads every further token from the pipe itself:
//!   [`Pool::join`] passes it the pipe (`MAKEFLAGS=-j --jobserver-auth=R,W`,
//!   the descriptors left open across exec). Such a make is started
//!   without `-jN` ([`Pool::argv_for`]): one given `-jN` on its command
//!   line resets jobserver mode and makes a pool of its own;
//! * anything else (`merge_config.sh`) holds its one token while it runs
//!   ([`Pool::acquire`]);
//! * a boot ([`Pool::acquire_for_boot`]) never waits behind compile jobs:
//!   it runs at once in the pool's boot lane, one job beyond `--jobs`
//!   kept for boots (one TCG core for seconds), or, when the lane is
//!   taken, on a pool token that is free; only when neither is free does
//!   it wait, for whichever frees first. A kernel is judged seconds after
//!   its build, not after the builds that took the tokens meanwhile.
//!
//! * a linker a pooled make runs (the ThinLTO link, see
//!   [`crate::stages::build::link`]) takes the further tokens it finds
//!   free for its backend threads ([`borrow_free_tokens`]), through
//!   [`POOL_ENV`], and gives them back when it exits: GNU make 4.3 closes
//!   its jobserver descriptors for recipes that are not recursive, so the
//!   pool is handed to the make's children by a path instead.
//!
//! A build also passes the [`MemoryGate`] before its make: it does not
//! start while the estimated peak memory of the builds running plus its
//! own would exceed what the machine had available, unless nothing else
//! runs. A token lost with a process killed outright (SIGKILL of a make
//! that held pipe tokens) is not given back; that only happens when the
//! harness itself is going down.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Condvar, Mutex};
use std::thread::ThreadId;

/// Which commands waiting for a token start first: a lower rank first.
/// A build's rank is how long the serial stretch at its end is (its
/// vmlinux link), longest first, so that a run's last minutes are spent
/// on work that keeps every core busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    /// Full LTO: the whole kernel's LTO link, one thread (minutes).
    FullLto,
    /// ThinLTO: the link's backends run on the tokens free at the time.
    ThinLto,
    /// No LTO, and anything else.
    Other,
}

/// The commands waiting for a token, in the order they get one. One of
/// them at a time reads the pipe; the token it reads goes to whoever is
/// first in line by then (a better rank may have come meanwhile).
#[derive(Debug, Default)]
struct Turns {
    waiting: BTreeSet<(Rank, u64)>,
    next: u64,
    /// A waiter is blocked reading the pipe.
    reading: bool,
    /// Tokens read for the first in line.
    handed: Vec<Token>,
    /// The rank a thread's commands wait with ([`Pool::rank_this_thread`]).
    ranks: HashMap<ThreadId, Rank>,
}

/// The run's job tokens (a make jobserver) and its memory gate.
#[derive(Debug)]
pub struct Pool {
    client: jobserver::Client,
    /// [`Pool::pipe_path`], read once when the pool is made.
    path: Option<PathBuf>,
    size: usize,
    memory: MemoryGate,
    /// Boot lanes free (one in all).
    lane: Mutex<usize>,
    lane_freed: Condvar,
    turns: Mutex<Turns>,
    turn_changed: Condvar,
}

/// A thread's rank in the pool, until dropped (then the rank it had
/// before, if any).
#[derive(Debug)]
pub struct Ranked<'a> {
    pool: &'a Pool,
    thread: ThreadId,
    before: Option<Rank>,
}

impl Drop for Ranked<'_> {
    fn drop(&mut self) {
        let mut turns = self.pool.turns_lock();
        match self.before {
            Some(rank) => turns.ranks.insert(self.thread, rank),
            None => turns.ranks.remove(&self.thread),
        };
    }
}

/// A place in the queue for a token, left when dropped.
struct InLine<'a> {
    pool: &'a Pool,
    place: (Rank, u64),
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        let mut turns = self.pool.turns_lock();
        turns.waiting.remove(&self.place);
        if turns.waiting.is_empty() {
            // Nobody left to take them: back to the pipe.
            turns.handed.clear();
        }
        drop(turns);
        self.pool.turn_changed.notify_all();
    }
}

/// Where a boot runs: the boot lane or one pool token, given back when
/// dropped.
#[derive(Debug)]
pub enum BootSlot<'a> {
    Lane(&'a Pool),
    Token(Token),
}

impl BootSlot<'_> {
    /// `boot lane` or `job token`, for a log.
    pub fn describe(&self) -> &'static str {
        match self {
            BootSlot::Lane(_) => "the boot lane",
            BootSlot::Token(_) => "a job token",
        }
    }
}

impl Drop for BootSlot<'_> {
    fn drop(&mut self) {
        if let BootSlot::Lane(pool) = self {
            *pool.lane_lock() += 1;
            pool.lane_freed.notify_one();
        }
    }
}

/// One job token, given back to the pool when dropped.
#[derive(Debug)]
pub struct Token {
    _acquired: jobserver::Acquired,
}

impl Pool {
    /// A pool of `size` tokens (at least one); builds are admitted within
    /// `memory_budget` bytes (None: one build at a time).
    pub fn new(size: usize, memory_budget: Option<u64>) -> io::Result<Pool> {
        let size = size.max(1);
        let client = jobserver::Client::new(size)?;
        Ok(Pool {
            path: proc_path_of(&client),
            client,
            size,
            memory: MemoryGate::new(memory_budget),
            lane: Mutex::new(1),
            lane_freed: Condvar::new(),
            turns: Mutex::new(Turns::default()),
            turn_changed: Condvar::new(),
        })
    }

    fn lane_lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.lane.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn turns_lock(&self) -> std::sync::MutexGuard<'_, Turns> {
        self.turns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The commands this thread starts in the pool wait for their token
    /// with `rank` until the guard is dropped (a build's thread, for its
    /// config commands and its make); [`Rank::Other`] otherwise.
    pub fn rank_this_thread(&self, rank: Rank) -> Ranked<'_> {
        let thread = std::thread::current().id();
        let before = self.turns_lock().ranks.insert(thread, rank);
        Ranked {
            pool: self,
            thread,
            before,
        }
    }

    /// Takes one token in turn: after every command waiting with a lower
    /// rank, or with the same rank and waiting longer. One waiter at a
    /// time reads the pipe and hands what it reads to the first in line;
    /// a make running reads its further tokens from the pipe as before.
    pub fn acquire_in_turn(&self) -> io::Result<Token> {
        let place = {
            let mut turns = self.turns_lock();
            let rank = turns
                .ranks
                .get(&std::thread::current().id())
                .copied()
                .unwrap_or(Rank::Other);
            let place = (rank, turns.next);
            turns.next += 1;
            turns.waiting.insert(place);
            place
        };
        let _in_line = InLine { pool: self, place };
        let mut turns = self.turns_lock();
        loop {
            if turns.waiting.first() == Some(&place) {
                if let Some(token) = turns.handed.pop() {
                    return Ok(token);
                }
            }
            if turns.reading {
                turns = self
                    .turn_changed
                    .wait(turns)
                    .unwrap_or_else(|e| e.into_inner());
                continue;
            }
            turns.reading = true;
            drop(turns);
            let read = self.acquire();
            turns = self.turns_lock();
            turns.reading = false;
            self.turn_changed.notify_all();
            turns.handed.push(read?);
        }
    }

    /// A slot for a boot: the boot lane when free, else a free pool token,
    /// else the first of the two to free up (`waiting` is called once,
    /// before the wait).
    pub fn acquire_for_boot(&self, waiting: impl FnOnce()) -> io::Result<BootSlot<'_>> {
        let mut waiting = Some(waiting);
        loop {
            {
                let mut free = self.lane_lock();
                if *free > 0 {
                    *free -= 1;
                    return Ok(BootSlot::Lane(self));
                }
            }
            // A free token now (a make may take it first: then this waits
            // for the next one, as any pool job would).
            if self.available()? > 0 {
                return Ok(BootSlot::Token(self.acquire()?));
            }
            if let Some(w) = waiting.take() {
                w();
            }
            let free = self.lane_lock();
            if *free == 0 {
                // Poll the pipe's tokens 10 times a second meanwhile.
                let _ = self
                    .lane_freed
                    .wait_timeout(free, std::time::Duration::from_millis(100));
            }
        }
    }

    /// A pool of `size` tokens admitting builds within the memory this
    /// machine has available now.
    pub fn for_machine(size: usize) -> io::Result<Pool> {
        Pool::new(size, crate::host::machine::memory_available())
    }

    /// How many tokens the pool has in all.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many tokens are free right now (in the pipe).
    pub fn available(&self) -> io::Result<usize> {
        self.client.available()
    }

    /// The memory gate builds pass before their make.
    pub fn memory(&self) -> &MemoryGate {
        &self.memory
    }

    /// Takes one token, waiting for one to be free.
    pub fn acquire(&self) -> io::Result<Token> {
        Ok(Token {
            _acquired: self.client.acquire()?,
        })
    }

    /// The command line `argv` runs with in the pool: a make's job count
    /// (`-jN`, `-j N`, `-j`, `--jobs[=N]`) is dropped, anything else is
    /// unchanged.
    pub fn argv_for(&self, argv: &[String]) -> Vec<String> {
        match argv.first() {
            Some(p) if is_make(p) => without_job_count(argv),
            _ => argv.to_vec(),
        }
    }

    /// Takes the token `cmd` runs on (waiting for one, in turn) and, when `cmd` is
    /// a make, lets it take its further jobs from the pool: the token is
    /// then its implicit slot. Hold the token until `cmd` has been waited
    /// for; start `cmd` with an argv from [`Pool::argv_for`].
    pub fn join(&self, cmd: &mut Command) -> io::Result<Token> {
        let token = self.acquire_in_turn()?;
        if is_make(&cmd.get_program().to_string_lossy()) {
            self.client.configure_make(cmd);
            if let Some(path) = &self.path {
                cmd.env(POOL_ENV, path);
            }
        }
        Ok(token)
    }

    /// A path another process of this user opens to reach the pool's
    /// tokens (`/proc/<harness>/fd/<read end>`, a pipe's read and write
    /// side alike), read from what the pool hands a make.
    pub fn pipe_path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// One line for a log: what running in the pool means.
    pub fn describe(&self) -> String {
        format!(
            "in the shared job pool of {} token(s): one held by the harness for this command; \
             a make takes its further jobs from MAKEFLAGS --jobserver-auth, with no -jN",
            self.size
        )
    }
}

/// The environment variable a pooled make's children find the pool by:
/// the path of [`Pool::pipe_path`].
pub const POOL_ENV: &str = "LTO_HARNESS_POOL";

/// Tokens taken from a pool by a process it started (a linker), given
/// back when dropped or by [`Borrowed::give_back`].
#[derive(Debug)]
pub struct Borrowed {
    pipe: File,
    tokens: Vec<u8>,
}

impl Borrowed {
    /// How many tokens are held.
    pub fn count(&self) -> usize {
        self.tokens.len()
    }

    /// Writes the tokens back into the pool (once).
    pub fn give_back(&mut self) -> io::Result<()> {
        if !self.tokens.is_empty() {
            (&self.pipe).write_all(&self.tokens)?;
            self.tokens.clear();
        }
        Ok(())
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        let _ = self.give_back();
    }
}

/// Takes up to `at_most` of the tokens free in the pool at `path` (a
/// [`Pool::pipe_path`]) without waiting: the ones free now, maybe none.
pub fn borrow_free_tokens(path: &Path, at_most: usize) -> io::Result<Borrowed> {
    use std::os::unix::fs::OpenOptionsExt;
    // Read and write: one descriptor of its own (so non-blocking here
    // leaves the pool's descriptors as they are), and opening never waits
    // for the other side.
    let pipe = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let mut tokens = vec![0u8; at_most];
    let n = if at_most == 0 {
        0
    } else {
        match (&pipe).read(&mut tokens) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        }
    };
    tokens.truncate(n);
    Ok(Borrowed { pipe, tokens })
}

/// `/proc/<this process>/fd/<read end>` of `client`'s pipe, read from
/// what the client hands a make.
fn proc_path_of(client: &jobserver::Client) -> Option<PathBuf> {
    let mut probe = Command::new("make");
    client.configure_make(&mut probe);
    let flags = probe
        .get_envs()
        .find(|(k, _)| *k == "MAKEFLAGS")?
        .1?
        .to_str()?
        .to_owned();
    let auth = flags
        .split_whitespace()
        .find_map(|w| w.strip_prefix("--jobserver-auth="))?;
    let read: u32 = auth.split(',').next()?.parse().ok()?;
    Some(PathBuf::from(format!(
        "/proc/{}/fd/{read}",
        std::process::id()
    )))
}

/// Whether `program` is GNU make (by its file name).
fn is_make(program: &str) -> bool {
    matches!(
        Path::new(program).file_name().and_then(|n| n.to_str()),
        Some("make" | "gmake")
    )
}

/// `argv` without make's job-count options.
pub fn without_job_count(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut words = argv.iter().peekable();
    while let Some(w) = words.next() {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if w == "-j" || w == "--jobs" {
            // `-j N`: the count is the next word when it is a number.
            if words.peek().is_some_and(|n| digits(n)) {
                words.next();
            }
            continue;
        }
        if w.strip_prefix("-j").is_some_and(digits) || w.strip_prefix("--jobs=").is_some_and(digits)
        {
            continue;
        }
        out.push(w.clone());
    }
    out
}

/// Admits builds while the estimated peak memory of those running plus
/// the next one fits the budget; one build is always admitted when none
/// runs (else a build bigger than the machine would wait forever).
#[derive(Debug)]
pub struct MemoryGate {
    budget: Option<u64>,
    state: Mutex<Reserved>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct Reserved {
    bytes: u64,
    builds: usize,
}

/// A build's place within the memory budget, given back when dropped.
#[derive(Debug)]
pub struct Admission<'a> {
    gate: &'a MemoryGate,
    bytes: u64,
}

impl MemoryGate {
    /// A gate of `budget` bytes (None: one build at a time).
    pub fn new(budget: Option<u64>) -> MemoryGate {
        MemoryGate {
            budget,
            state: Mutex::new(Reserved::default()),
            freed: Condvar::new(),
        }
    }

    fn fits(&self, r: &Reserved, bytes: u64) -> bool {
        r.builds == 0
            || self
                .budget
                .is_some_and(|b| r.bytes.saturating_add(bytes) <= b)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reserved> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reserve(&self, r: &mut Reserved, bytes: u64) -> Admission<'_> {
        r.bytes += bytes;
        r.builds += 1;
        Admission { gate: self, bytes }
    }

    /// Admits a build of `bytes` estimated peak now, if it fits.
    pub fn try_admit(&self, bytes: u64) -> Option<Admission<'_>> {
        let mut r = self.lock();
        self.fits(&r, bytes).then(|| self.reserve(&mut r, bytes))
    }

    /// Admits a build of `bytes` estimated peak, waiting until it fits.
    pub fn admit(&self, bytes: u64) -> Admission<'_> {
        let mut r = self.lock();
        while !self.fits(&r, bytes) {
            r = self.freed.wait(r).unwrap_or_else(|e| e.into_inner());
        }
        self.reserve(&mut r, bytes)
    }

    /// The bytes reserved by the builds admitted and not yet finished.
    pub fn reserved(&self) -> u64 {
        self.lock().bytes
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        let mut r = self.gate.lock();
        r.bytes = r.bytes.saturating_sub(self.bytes);
        r.builds = r.builds.saturating_sub(1);
        drop(r);
        self.gate.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::needs::Need;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    const MAKE: Need = Need::Tool {
        tool: "make",
        package: "make",
    };
    const FLOCK: Need = Need::Tool {
        tool: "flock",
        package: "util-linux",
    };
    const GIB: u64 = 1 << 30;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    /// A process the pool started takes only the tokens free now, through
    /// the pool's path, and gives them back; the pool's own descriptors
    /// stay blocking (a make waiting on them still waits).
    #[test]
    fn a_linker_borrows_the_free_tokens_and_gives_them_back() {
        let pool = Pool::new(4, None).unwrap();
        let path = pool.pipe_path().expect("the pool's path");
        let held = pool.acquire().unwrap();
        let mut borrowed = borrow_free_tokens(&path, 2).unwrap();
        assert_eq!(borrowed.count(), 2);
        assert_eq!(pool.available().unwrap(), 1);
        // Asking for more than is free takes what is free, without waiting.
        let t = Instant::now();
        let rest = borrow_free_tokens(&path, 5).unwrap();
        assert_eq!(rest.count(), 1);
        let none = borrow_free_tokens(&path, 3).unwrap();
        assert_eq!(none.count(), 0);
        assert!(t.elapsed() < Duration::from_secs(1));
        drop(rest);
        borrowed.give_back().unwrap();
        assert_eq!(borrowed.count(), 0);
        drop(borrowed);
        drop(held);
        assert_eq!(pool.available().unwrap(), 4);
        // Still a pool whose acquire waits when it is empty.
        let all: Vec<_> = (0..4).map(|_| pool.acquire().unwrap()).collect();
        let freed = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                freed.store(true, Ordering::SeqCst);
                drop(all);
            });
            let _t = pool.acquire().unwrap();
            assert!(freed.load(Ordering::SeqCst), "acquire did not wait");
        });
    }

    /// A make joining the pool is told where the pool is.
    #[test]
    fn a_pooled_make_is_given_the_pools_path() {
        let pool = Pool::new(2, None).unwrap();
        let mut cmd = Command::new("make");
        let _t = pool.join(&mut cmd).unwrap();
        let given = cmd
            .get_envs()
            .find(|(k, _)| *k == POOL_ENV)
            .and_then(|(_, v)| v)
            .map(PathBuf::from);
        assert_eq!(given, pool.pipe_path());
        assert!(given.unwrap().starts_with("/proc"));
    }

    #[test]
    fn a_boot_never_waits_behind_compile_jobs() {
        let pool = Pool::new(2, None).unwrap();
        // Compile jobs hold every token: a boot still starts, in the lane.
        let (a, b) = (pool.acquire().unwrap(), pool.acquire().unwrap());
        let mut waited = false;
        let first = pool.acquire_for_boot(|| waited = true).unwrap();
        assert!(matches!(first, BootSlot::Lane(_)) && !waited);
        assert_eq!(first.describe(), "the boot lane");
        // A second boot waits for whichever frees first: a token here.
        let second_waited = AtomicBool::new(false);
        std::thread::scope(|s| {
            let h = s.spawn(|| {
                let slot = pool
                    .acquire_for_boot(|| second_waited.store(true, Ordering::SeqCst))
                    .unwrap();
                matches!(slot, BootSlot::Token(_))
            });
            std::thread::sleep(Duration::from_millis(300));
            assert!(second_waited.load(Ordering::SeqCst));
            drop(a);
            assert!(h.join().unwrap(), "took the token that freed");
        });
        // The lane given back is taken by the next boot.
        drop(first);
        let third = pool
            .acquire_for_boot(|| panic!("the lane is free"))
            .unwrap();
        assert!(matches!(third, BootSlot::Lane(_)));
        // With the lane taken and a token free, a boot takes the token.
        let fourth = pool.acquire_for_boot(|| panic!("a token is free")).unwrap();
        assert!(matches!(fourth, BootSlot::Token(_)));
        drop((b, third, fourth));
        assert_eq!(pool.available().unwrap(), 2);
    }

    #[test]
    fn a_make_in_the_pool_loses_its_job_count_and_nothing_else() {
        let pool = Pool::new(3, None).unwrap();
        assert_eq!(
            pool.argv_for(&words(
                "make -C /src O=/o LLVM=-19 -j16 CFLAGS_REMOVE_x.o=-jx bzImage"
            )),
            words("make -C /src O=/o LLVM=-19 CFLAGS_REMOVE_x.o=-jx bzImage")
        );
        assert_eq!(
            without_job_count(&words("make -j 4 a --jobs=2 b -j c --jobs 3 d --jobs")),
            words("make a b c d")
        );
        // Only a make's: another program's `-j2` is its own business.
        assert_eq!(
            pool.argv_for(&words("/usr/bin/make -j2 all")),
            words("/usr/bin/make all")
        );
        assert_eq!(pool.argv_for(&words("xz -j2 f")), words("xz -j2 f"));
    }

    /// Commands waiting for a token get one by rank (full LTO builds
    /// first), then in the order they came; a thread without a rank waits
    /// as `Other`, and its rank ends with the guard.
    #[test]
    fn waiting_commands_take_their_turns_by_rank() {
        let pool = Pool::new(1, None).unwrap();
        let held = pool.acquire().unwrap();
        let order = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            let waiters = [
                ("none", Some(Rank::Other)),
                ("unranked", None),
                ("thin", Some(Rank::ThinLto)),
                ("full", Some(Rank::FullLto)),
            ];
            for (n, (name, rank)) in waiters.into_iter().enumerate() {
                let (pool, order) = (&pool, &order);
                s.spawn(move || {
                    let _ranked = rank.map(|r| pool.rank_this_thread(r));
                    let t = pool.acquire_in_turn().unwrap();
                    order.lock().unwrap().push(name);
                    // Held a moment, so the next in line waits for it.
                    std::thread::sleep(Duration::from_millis(20));
                    drop(t);
                });
                // Each in line before the next comes.
                while pool.turns_lock().waiting.len() <= n {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            drop(held);
        });
        assert_eq!(
            order.into_inner().unwrap(),
            ["full", "thin", "none", "unranked"]
        );
        assert!(pool.turns_lock().ranks.is_empty());
        assert!(pool.turns_lock().waiting.is_empty());
        // A rank set inside another gives the outer one back when it ends.
        let outer = pool.rank_this_thread(Rank::ThinLto);
        drop(pool.rank_this_thread(Rank::FullLto));
        let me = std::thread::current().id();
        assert_eq!(pool.turns_lock().ranks.get(&me), Some(&Rank::ThinLto));
        drop(outer);
        assert!(pool.turns_lock().ranks.is_empty());
        assert_eq!(pool.available().unwrap(), 1);
    }

    /// A boot's token: one fewer free while it is held, back when dropped.
    #[test]
    fn a_token_is_held_and_given_back() {
        let pool = Pool::new(2, None).unwrap();
        assert_eq!(pool.size(), 2);
        assert_eq!(pool.available().unwrap(), 2);
        let a = pool.acquire().unwrap();
        assert_eq!(pool.available().unwrap(), 1);
        let b = pool.acquire().unwrap();
        assert_eq!(pool.available().unwrap(), 0);
        // A third waits until one is given back.
        let got = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _c = pool.acquire().unwrap();
                got.store(true, Ordering::SeqCst);
            });
            std::thread::sleep(Duration::from_millis(200));
            assert!(!got.load(Ordering::SeqCst), "a third token out of two");
            drop(a);
        });
        assert!(got.load(Ordering::SeqCst));
        drop(b);
        assert_eq!(pool.available().unwrap(), 2);
    }

    /// The gate refuses a build that would not fit beside those running,
    /// and lets it start once one of them finishes.
    #[test]
    fn the_memory_gate_waits_for_room() {
        let gate = MemoryGate::new(Some(6 * GIB));
        let big = gate.try_admit(4 * GIB).expect("the first build fits");
        let small = gate.try_admit(GIB).expect("4 + 1 of 6 GiB fits");
        assert!(gate.try_admit(2 * GIB).is_none(), "5 + 2 > 6 GiB");
        assert_eq!(gate.reserved(), 5 * GIB);
        let started = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _a = gate.admit(2 * GIB);
                started.store(true, Ordering::SeqCst);
            });
            std::thread::sleep(Duration::from_millis(200));
            assert!(!started.load(Ordering::SeqCst), "started beyond the budget");
            // 4 + 2 of 6 GiB fits: it starts.
            drop(small);
            let t = Instant::now();
            while !started.load(Ordering::SeqCst) {
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "not started with room"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        drop(big);
        assert_eq!(gate.reserved(), 0);
        // A build bigger than the whole budget runs, alone.
        let huge = gate.try_admit(64 * GIB).expect("alone, any build starts");
        assert!(gate.try_admit(1).is_none());
        drop(huge);
        // Unknown memory: one at a time.
        let unknown = MemoryGate::new(None);
        let one = unknown.try_admit(GIB).unwrap();
        assert!(unknown.try_admit(1).is_none());
        drop(one);
        assert!(unknown.try_admit(1).is_some());
    }

    /// A Makefile of 8 targets, each counting itself in `running` for
    /// 0.3 s (under flock) and keeping the highest count in `max`.
    const COUNTING: &str = "T := a b c d e f g h\n\
all: $(T)\n\
$(T):\n\
\t@flock $(DIR)/lock sh -c 'n=$$(($$(cat $(DIR)/running) + 1)); echo $$n > $(DIR)/running; \
if [ $$n -gt $$(cat $(DIR)/max) ]; then echo $$n > $(DIR)/max; fi'\n\
\t@sleep 0.3\n\
\t@flock $(DIR)/lock sh -c 'echo $$(($$(cat $(DIR)/running) - 1)) > $(DIR)/running'\n\
.PHONY: all $(T)\n";

    /// Runs `makes` makes of [`COUNTING`] at once, each through the
    /// build's own path (`run_logged_in` with the pool, given `-j8` that
    /// the pool drops), and returns the most jobs that ran at once.
    fn most_at_once(pool: &Pool, makes: usize) -> usize {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        std::fs::write(dir.join("Makefile"), COUNTING).unwrap();
        std::fs::write(dir.join("running"), "0\n").unwrap();
        std::fs::write(dir.join("max"), "0\n").unwrap();
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..makes)
                .map(|i| {
                    s.spawn(move || {
                        let argv = vec![
                            "make".to_owned(),
                            "-C".into(),
                            dir.display().to_string(),
                            format!("DIR={}", dir.display()),
                            "-j8".into(),
                        ];
                        let log = dir.join(format!("make-{i}.log"));
                        let (status, _) = crate::stages::build::run_logged_in(
                            &argv,
                            &log,
                            false,
                            Some(pool),
                            &|_| {},
                        )
                        .unwrap();
                        let text = std::fs::read_to_string(&log).unwrap();
                        assert!(status.success(), "{text}");
                        assert!(!text.contains("-j8"), "the pool left -j8:\n{text}");
                        assert!(!text.contains("warning"), "{text}");
                    })
                })
                .collect();
            for r in runs {
                r.join().unwrap();
            }
        });
        let read = |f: &str| -> usize {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        assert_eq!(read("running"), 0);
        read("max")
    }

    /// Two and three makes joined to one pool of 3 tokens never run more
    /// than 3 jobs at once, and do run several at once (each make's own
    /// token plus the ones it takes from the shared pipe); every token is
    /// back in the pool afterwards.
    #[test]
    fn concurrent_makes_share_one_pool() {
        crate::skip_unless!("concurrent_makes_share_one_pool", MAKE, FLOCK);
        let pool = Pool::new(3, None).unwrap();
        let one = most_at_once(&pool, 1);
        assert!(one <= 3, "one make ran {one} jobs at once in a pool of 3");
        assert!(
            one > 1,
            "one make ran its jobs one at a time: it took no token from the pipe"
        );
        for makes in [2, 3] {
            let t = Instant::now();
            let most = most_at_once(&pool, makes);
            eprintln!(
                "{makes} makes in a pool of 3: at most {most} jobs at once, {:.1} s",
                t.elapsed().as_secs_f64()
            );
            assert!(
                most <= 3,
                "{makes} makes ran {most} jobs at once in a pool of 3"
            );
            assert!(most > 1, "{makes} makes never ran two jobs at once");
            assert_eq!(pool.available().unwrap(), 3, "a token was not given back");
        }
    }

    /// Set for the child of [`ctrl_c_kills_every_pooled_make`]: its
    /// scratch directory.
    const CHILD: &str = "LTO_HARNESS_TEST_POOLED_CTRL_C";

    /// A make of two jobs that record their pids and sleep.
    const SLEEPING: &str = "all: a b\n\
a b:\n\
\t@sh -c 'echo $$$$ > $(NAME)-$@.pid.tmp && mv $(NAME)-$@.pid.tmp $(NAME)-$@.pid && exec sleep 60'\n\
.PHONY: all a b\n";

    /// Not a test by itself: the harness side of
    /// [`ctrl_c_kills_every_pooled_make`], run in a child process. Two
    /// makes at once in a pool of 4, with the interrupt handler installed.
    #[test]
    #[ignore = "the child process of ctrl_c_kills_every_pooled_make"]
    fn pooled_makes_until_interrupted() {
        let Some(dir) = std::env::var_os(CHILD).map(PathBuf::from) else {
            return;
        };
        crate::host::proc::install_interrupt_handler();
        let pool = Pool::new(4, None).unwrap();
        std::thread::scope(|s| {
            for name in ["one", "two"] {
                let (pool, dir) = (&pool, &dir);
                s.spawn(move || {
                    let argv = vec![
                        "make".to_owned(),
                        "-C".into(),
                        dir.display().to_string(),
                        format!("NAME={name}"),
                        "-j2".into(),
                    ];
                    let log = dir.join(format!("{name}.log"));
                    let _ = crate::stages::build::run_logged_in(
                        &argv,
                        &log,
                        false,
                        Some(pool),
                        &|_| {},
                    );
                });
            }
        });
    }

    /// Processes of process group `pgid` that are not zombies.
    fn live_in_group(pgid: i32) -> Vec<i32> {
        let mut out = vec![];
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // After the command's closing parenthesis: state ppid pgrp.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 2 && f[0] != "Z" && f[2].parse() == Ok(pgid) {
                out.push(pid);
            }
        }
        out
    }

    fn pgid_of(pid: i32) -> i32 {
        // SAFETY: getpgid only reads the process table.
        unsafe { libc::getpgid(pid) }
    }

    /// SIGINT to a harness running two pooled makes at once kills both,
    /// with every job they started: the interrupt handler's process
    /// groups cover each concurrent make. Runs the harness side in a
    /// child process (the handler exits the process).
    #[test]
    fn ctrl_c_kills_every_pooled_make() {
        crate::skip_unless!("ctrl_c_kills_every_pooled_make", MAKE);
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Makefile"), SLEEPING).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "host::jobserver::tests::pooled_makes_until_interrupted",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, d.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pids = ["one-a", "one-b", "two-a", "two-b"].map(|n| d.path().join(format!("{n}.pid")));
        let start = Instant::now();
        while !pids.iter().all(|p| p.exists()) {
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("the two makes did not start their four jobs in 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let jobs: Vec<i32> = pids
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap().trim().parse().unwrap())
            .collect();
        let mut groups: Vec<i32> = jobs.iter().map(|&j| pgid_of(j)).collect();
        groups.sort();
        groups.dedup();
        assert_eq!(groups.len(), 2, "two makes, two groups: {groups:?}");
        assert!(
            !groups.contains(&(child.id() as i32)),
            "a make ran in the harness's own group"
        );
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{status}");
        let start = Instant::now();
        loop {
            let left: Vec<i32> = groups.iter().flat_map(|&g| live_in_group(g)).collect();
            if left.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "left running after SIGINT: {left:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
