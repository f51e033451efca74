//! Run one external command with a timeout, its output kept while waiting.
//!
//! A big ruleset is megabytes (an 80k-rule `iptables-save` is 11.7 MB, `nft -j` three times
//! that), far above the 64 KiB pipe buffer. Stdout goes to a memory file of its own
//! (`memfd_create`, no file in any filesystem): the command writes it at its own pace, and when
//! it is done the file is sealed against writes and mapped read-only ([`Stdout`]), so a big
//! output is held once, never copied, and never grown by doubling reallocations (which made a
//! live check's peak memory 3.9 times the evidence it read at 100k rules). Where a memory file
//! cannot be made, stdout is a pipe read by a thread, as stderr always is. [`run`] never hangs,
//! even when a grandchild keeps a pipe open after the child is gone.
//!
//! A timeout is for hangs, not for size: a command still printing, or still using CPU, is not
//! hung. The child is killed when it has printed nothing (on stdout or stderr) and used no CPU
//! for the idle timeout, or at a generous overall cap ([`Limits`]); a 250k-rule dump that takes a minute and a half but
//! prints all along is read whole with the defaults.
//!
//! Programs are found by [`find_binary`], which never searches a relative `PATH` entry (empty,
//! `.`, `bin`: the current directory is often someone else's) and, as root, only directories
//! that root alone can write to.

use crate::collect::mapped_file::{self, MappedFile};
use crate::collect::{SourceState, SourceStatus};
use crate::model::text::SourceText;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The default idle timeout of one source: how long it may print nothing before it counts as
/// hung (DESIGN.md, research §3.2).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The overall cap of one source with the default limits, however steadily it prints.
pub const DEFAULT_TOTAL_CAP: Duration = Duration::from_secs(15 * 60);

/// When a command counts as hung.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Killed after this long without a byte on stdout or stderr and without using CPU.
    pub idle: Duration,
    /// Killed after this long in all, even while printing.
    pub total: Duration,
}

impl Limits {
    /// An idle timeout of `idle` under the overall cap [`DEFAULT_TOTAL_CAP`] (or `idle`, when
    /// that is longer).
    pub fn idle(idle: Duration) -> Self {
        Limits {
            idle,
            total: idle.max(DEFAULT_TOTAL_CAP),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::idle(DEFAULT_TIMEOUT)
    }
}

/// Most stdout bytes kept; a command that prints more is stopped (or, on a pipe, drained) and
/// reported as failed.
pub const MAX_STDOUT: usize = 256 * 1024 * 1024;
/// Most stderr bytes kept (the rest is drained and dropped).
const MAX_STDERR: usize = 1024 * 1024;
/// Most stderr characters copied into meta.json.
const META_STDERR_CHARS: usize = 4096;
/// After a kill, how long the reader threads get to see end-of-file.
const KILL_GRACE: Duration = Duration::from_millis(500);

/// Directories searched after `$PATH` by [`find_binary`]: `sudo` and cron often run with a PATH
/// that lacks the sbin directories where iptables lives.
pub const FALLBACK_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Why a command could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// The program does not exist.
    NotFound,
    /// The program exists but may not be executed.
    PermissionDenied,
    /// Any other spawn failure, in words.
    Other(String),
}

/// A command's exact stdout: in a buffer of exactly its size, or, when it is big
/// ([`mapped_file::MIN_LEN`] and up), the sealed memory file the command wrote, mapped
/// read-only.
#[derive(Debug)]
pub enum Stdout {
    Bytes(Vec<u8>),
    Mapped(MappedFile),
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::Bytes(Vec::new())
    }
}

impl Clone for Stdout {
    fn clone(&self) -> Self {
        Stdout::Bytes(self.to_vec())
    }
}

impl Deref for Stdout {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Stdout::Bytes(b) => b,
            Stdout::Mapped(m) => m.bytes(),
        }
    }
}

impl Stdout {
    /// True when the output is the command's own pages, mapped (not copied).
    pub fn is_mapped(&self) -> bool {
        matches!(self, Stdout::Mapped(_))
    }

    /// The bytes as a vector (a copy when mapped).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Stdout::Bytes(b) => b,
            Stdout::Mapped(m) => m.bytes().to_vec(),
        }
    }

    /// The output as evidence text, without a copy; the error when it is not UTF-8.
    pub fn into_text(self) -> Result<SourceText, std::str::Utf8Error> {
        match self {
            Stdout::Bytes(b) => String::from_utf8(b)
                .map(SourceText::from)
                .map_err(|e| e.utf8_error()),
            Stdout::Mapped(m) => SourceText::mapped(m).map_err(|(_, e)| e),
        }
    }
}

/// Everything known about one run of a command.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    /// The command line as text, for meta.json (`/usr/sbin/nft -j list ruleset`).
    pub command: String,
    /// Exact stdout bytes (empty when the command could not start or timed out).
    pub stdout: Stdout,
    /// True when stdout exceeded [`MAX_STDOUT`] and the rest was dropped.
    pub stdout_truncated: bool,
    /// Stderr, lossily decoded (it is a diagnostic, not evidence).
    pub stderr: String,
    /// Exit code; `None` when killed by a signal, timed out or never started.
    pub exit_code: Option<i32>,
    /// The signal that ended the process, if any.
    pub signal: Option<i32>,
    /// True when a limit passed (the process was killed).
    pub timed_out: bool,
    /// With `timed_out`: the limit that passed was the idle one (it printed nothing and used
    /// no CPU for that long), not the overall cap.
    pub stalled: bool,
    /// The limits it ran under.
    pub limits: Limits,
    /// Set when the process could not be started at all.
    pub spawn_error: Option<SpawnError>,
    /// Wall time from spawn to the end of the output.
    pub elapsed: Duration,
}

impl CommandOutcome {
    fn new(command: String) -> Self {
        CommandOutcome {
            command,
            stdout: Stdout::default(),
            stdout_truncated: false,
            stderr: String::new(),
            exit_code: None,
            signal: None,
            timed_out: false,
            stalled: false,
            limits: Limits::default(),
            spawn_error: None,
            elapsed: Duration::ZERO,
        }
    }

    /// True when the command started, exited 0 in time, and its output is complete.
    pub fn success(&self) -> bool {
        self.spawn_error.is_none()
            && !self.timed_out
            && !self.stdout_truncated
            && self.exit_code == Some(0)
    }

    /// Stdout as text; an error when it is not UTF-8.
    pub fn stdout_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.stdout)
    }

    /// The meta.json record and, only when the source is `ok`, the exact stdout as text.
    /// Exit code 0 is success.
    pub fn into_source(self) -> (SourceStatus, Option<SourceText>) {
        self.into_source_accepting(&[0])
    }

    /// Like [`into_source`](Self::into_source), but every exit code in `ok_codes` is success
    /// (`firewall-cmd --state` exits 252 when firewalld is not running, which is a fine answer).
    ///
    /// Mapping: not found -> `missing`; spawn permission error, or a non-zero exit whose stderr
    /// says "Permission denied" / "you must be root" / "Operation not permitted" -> `denied`;
    /// deadline -> `timeout`; other non-zero exit, a signal, or stdout that is not UTF-8 ->
    /// `failed`.
    pub fn into_source_accepting(self, ok_codes: &[i32]) -> (SourceStatus, Option<SourceText>) {
        let mut status = SourceStatus {
            status: SourceState::Failed,
            command: self.command.clone(),
            exit_code: self.exit_code,
            stderr: meta_stderr(&self.stderr),
            reason: String::new(),
        };
        let program = program_name(&self.command);
        if let Some(err) = &self.spawn_error {
            let (state, reason) = match err {
                SpawnError::NotFound => (SourceState::Missing, format!("{program} not found")),
                SpawnError::PermissionDenied => (
                    SourceState::Denied,
                    format!("{program}: permission denied (cannot execute)"),
                ),
                SpawnError::Other(e) => (SourceState::Failed, format!("{program}: {e}")),
            };
            status.status = state;
            status.reason = reason;
            return (status, None);
        }
        if self.timed_out {
            status.status = SourceState::Timeout;
            status.reason = if self.stalled {
                format!(
                    "{program} printed nothing for {:.1} s and used no CPU (hung? killed after \
                     {:.1} s; raise --timeout if it is only slow)",
                    self.limits.idle.as_secs_f64(),
                    self.elapsed.as_secs_f64()
                )
            } else {
                format!(
                    "{program} did not finish within {:.1} s (killed)",
                    self.elapsed.as_secs_f64()
                )
            };
            return (status, None);
        }
        if self.stdout_truncated {
            status.reason = format!(
                "{program} printed more than {} MiB; output dropped",
                MAX_STDOUT / (1024 * 1024)
            );
            return (status, None);
        }
        if let Some(sig) = self.signal {
            status.reason = format!("{program} was killed by signal {sig}");
            return (status, None);
        }
        let code = self.exit_code.unwrap_or(-1);
        if !ok_codes.contains(&code) {
            if is_denied_message(&self.stderr) {
                status.status = SourceState::Denied;
                status.reason = format!("{program}: permission denied (not root?)");
            } else {
                status.reason = format!("{program} exited with code {code}");
            }
            return (status, None);
        }
        match self.stdout.into_text() {
            Ok(text) => {
                status.status = SourceState::Ok;
                (status, Some(text))
            }
            Err(e) => {
                status.reason = format!(
                    "{program} printed output that is not UTF-8 (at byte {})",
                    e.valid_up_to()
                );
                (status, None)
            }
        }
    }
}

/// True when stderr says the caller lacks privileges.
pub fn is_denied_message(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    [
        "permission denied",
        "you must be root",
        "operation not permitted",
        "need to be root",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The program's file name in a command line, for messages.
fn program_name(command: &str) -> &str {
    let first = command.split_whitespace().next().unwrap_or(command);
    first.rsplit('/').next().unwrap_or(first)
}

/// Stderr as meta.json keeps it: trimmed, at most [`META_STDERR_CHARS`] characters.
fn meta_stderr(stderr: &str) -> String {
    let trimmed = stderr.trim_end();
    match trimmed.char_indices().nth(META_STDERR_CHARS) {
        Some((cut, _)) => format!("{}… (truncated)", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

/// The command line as text. Arguments with spaces or quotes are single-quoted.
pub fn command_line(program: &str, args: &[&str]) -> String {
    let mut line = program.to_string();
    for arg in args {
        line.push(' ');
        if !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
        {
            line.push_str(arg);
        } else {
            line.push('\'');
            line.push_str(&arg.replace('\'', r"'\''"));
            line.push('\'');
        }
    }
    line
}

/// Find a program: the absolute directories of `$PATH` first, then [`FALLBACK_DIRS`]. A name
/// with a `/` is taken as a path and only checked.
///
/// Relative `PATH` entries (empty, `.`, `bin`) are never searched: they name the current
/// directory, and a root run started in someone else's directory would execute their `nft`.
/// As root (effective uid 0) a program is also only taken when root alone could have put it
/// there: the file and every directory above it, and above the `PATH` directory it was found
/// in, are owned by root and not writable by group or others (a sticky directory such as
/// `/tmp` may be above). So `PATH=/home/alice/bin:...` kept by `su` or
/// `sudo --preserve-env=PATH` is skipped, while a directory root made (`/opt/iptables/sbin`, a
/// test's or the lab's directory of fake tools) still comes first, as `PATH` says.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    find_binary_in(
        name,
        std::env::var_os("PATH").as_deref(),
        nix::unistd::geteuid().is_root(),
    )
}

/// [`find_binary`] with its inputs given: the value of `PATH` and whether to apply root's trust
/// rule.
pub fn find_binary_in(
    name: &str,
    path_var: Option<&std::ffi::OsStr>,
    as_root: bool,
) -> Option<PathBuf> {
    if name.contains('/') {
        let path = Path::new(name);
        return is_executable(path).then(|| path.to_path_buf());
    }
    let from_path = path_var
        .map(|p| std::env::split_paths(p).collect::<Vec<_>>())
        .unwrap_or_default();
    let dirs = from_path
        .into_iter()
        .filter(|dir| dir.is_absolute())
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .filter(|dir| !as_root || root_only_writes(dir));
    let search = std::env::join_paths(dirs).ok()?;
    // `which` only sees absolute directories, so its working directory is never used.
    which::which_in_all(name, Some(search), "/")
        .ok()?
        .find(|path| !as_root || root_only_writes(path))
}

/// True when `path`, what it resolves to, and every directory above that are owned by root and
/// writable by nobody else (a sticky directory, like `/tmp`, may be above: there no one can
/// rename root's entries).
fn root_only_writes(path: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    real.ancestors().enumerate().all(|(depth, p)| {
        std::fs::metadata(p).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            let sticky_above = depth > 0 && m.mode() & 0o1000 != 0;
            m.uid() == 0 && (m.mode() & 0o022 == 0 || sticky_above)
        })
    })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

enum Stream {
    Stdout,
    Stderr,
}

/// When a child last printed, shared by its pipe readers and the waiting thread: milliseconds
/// since the start of the run.
#[derive(Clone)]
struct Progress {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Progress {
    fn new(start: Instant) -> Self {
        Progress {
            start,
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long since the last byte (or since the start, before any).
    fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

struct Captured {
    stream: Stream,
    bytes: Vec<u8>,
    truncated: bool,
}

/// Read `reader` to its end on a detached thread, keeping at most `cap` bytes and draining the
/// rest. The thread is detached (not joined) so a pipe held open by a grandchild cannot hang
/// the caller.
/// Every read that returns bytes stores the milliseconds since `start` in `progress`.
fn spawn_reader<R: Read + Send + 'static>(
    reader: Option<R>,
    stream: Stream,
    cap: usize,
    tx: mpsc::Sender<Captured>,
    progress: Progress,
) {
    let Some(mut reader) = reader else {
        let _ = tx.send(Captured {
            stream,
            bytes: Vec::new(),
            truncated: false,
        });
        return;
    };
    let spawned = thread::Builder::new()
        .name("fwdoctor-pipe".into())
        .spawn(move || {
            let mut bytes = Vec::new();
            let mut truncated = false;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        progress.touch();
                        let room = cap.saturating_sub(bytes.len());
                        if n > room {
                            truncated = true;
                        }
                        bytes.extend_from_slice(&buf[..n.min(room)]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(Captured {
                stream,
                bytes,
                truncated,
            });
        });
    // If the thread cannot be created the pipe is never read: the deadline still ends the run.
    drop(spawned);
}

/// Run `program` with `args`, stdin from /dev/null, `LC_ALL=C`, killed when it prints nothing
/// for `timeout` ([`Limits::idle`]).
pub fn run(program: &str, args: &[&str], timeout: Duration) -> CommandOutcome {
    run_limited(program, args, Limits::idle(timeout))
}

/// Run `program` with `args`, stdin from /dev/null, `LC_ALL=C`, under `limits`.
///
/// Stdout goes to a memory file ([`MemOut`]), stderr is drained while waiting. When the child
/// prints nothing for `limits.idle`, or runs past `limits.total`, it is killed and the outcome
/// says `timed_out` (and `stalled` for the first); one that prints more than [`MAX_STDOUT`] is
/// killed too (`stdout_truncated`). Never panics, never hangs much past a limit.
pub fn run_limited(program: &str, args: &[&str], limits: Limits) -> CommandOutcome {
    let mut outcome = CommandOutcome::new(command_line(program, args));
    outcome.limits = limits;
    let start = Instant::now();
    // A limit past what `Instant` holds (the CLI allows a day) waits about a century instead.
    let far = |d: Duration| {
        start
            .checked_add(d)
            .unwrap_or_else(|| start + Duration::from_secs(u64::from(u32::MAX)))
    };
    let deadline = far(limits.total);
    let progress = Progress::new(start);

    // The child's stdout: a memory file when one can be made, else a pipe.
    let mut mem = MemOut::new();
    let child_stdout = mem.as_ref().and_then(|m| m.file.try_clone().ok());
    if child_stdout.is_none() {
        mem = None;
    }
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(child_stdout.map_or_else(Stdio::piped, Stdio::from))
        .stderr(Stdio::piped());
    let spawned = cmd.spawn();
    // The child has its copy of the memory file's descriptor; ours is `mem`.
    drop(cmd);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            outcome.spawn_error = Some(match e.kind() {
                io::ErrorKind::NotFound => SpawnError::NotFound,
                io::ErrorKind::PermissionDenied => SpawnError::PermissionDenied,
                _ => SpawnError::Other(e.to_string()),
            });
            outcome.elapsed = start.elapsed();
            return outcome;
        }
    };

    let (tx, rx) = mpsc::channel();
    let mut pending = 1;
    if mem.is_none() {
        pending += 1;
        spawn_reader(
            child.stdout.take(),
            Stream::Stdout,
            MAX_STDOUT,
            tx.clone(),
            progress.clone(),
        );
    }
    spawn_reader(
        child.stderr.take(),
        Stream::Stderr,
        MAX_STDERR,
        tx,
        progress.clone(),
    );

    let status = wait_until(&mut child, deadline, &progress, limits.idle, mem.as_mut());
    let killed = match &status {
        Ok(_) => false,
        Err(stop) => {
            match stop {
                Stop::Cap => outcome.timed_out = true,
                Stop::Idle => {
                    outcome.timed_out = true;
                    outcome.stalled = true;
                }
                Stop::TooBig => outcome.stdout_truncated = true,
            }
            let _ = child.kill();
            let _ = child.wait();
            true
        }
    };
    let grace_end = Instant::now() + KILL_GRACE;

    // Collect the pipes. After a kill the readers get a short grace; after an exit, a pipe
    // still open (a grandchild holds it) is waited for under the same limits as the child,
    // and so is a memory file a grandchild still writes.
    while pending > 0 {
        let now = Instant::now();
        let left = if killed {
            grace_end.saturating_duration_since(now)
        } else {
            let silent = progress.silent_for();
            if silent >= limits.idle || now >= deadline {
                outcome.timed_out = true;
                outcome.stalled = silent >= limits.idle;
                break;
            }
            (limits.idle - silent).min(deadline - now)
        };
        let slice = if mem.is_some() {
            left.min(MAX_POLL)
        } else {
            left
        };
        match rx.recv_timeout(slice) {
            Ok(captured) => {
                pending -= 1;
                match captured.stream {
                    Stream::Stdout => {
                        outcome.stdout = Stdout::Bytes(captured.bytes);
                        outcome.stdout_truncated = captured.truncated;
                    }
                    Stream::Stderr => {
                        outcome.stderr = String::from_utf8_lossy(&captured.bytes).into_owned();
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(m) = mem.as_mut()
                    && m.grew()
                {
                    progress.touch();
                    if m.too_big() && !killed {
                        outcome.stdout_truncated = true;
                        break;
                    }
                }
                if killed && Instant::now() >= grace_end {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                outcome.timed_out = true;
                break;
            }
        }
    }

    if let Ok(status) = status {
        set_exit(&mut outcome, status);
    }
    if let Some(m) = mem
        && !outcome.timed_out
        && !outcome.stdout_truncated
    {
        match m.finish() {
            Ok(Some(stdout)) => outcome.stdout = stdout,
            Ok(None) => outcome.stdout_truncated = true,
            Err(e) => {
                outcome.spawn_error = Some(SpawnError::Other(format!(
                    "cannot read what it printed: {e}"
                )));
            }
        }
    }
    if outcome.timed_out {
        outcome.stdout = Stdout::default();
        outcome.exit_code = None;
        outcome.signal = None;
    }
    if outcome.stdout_truncated {
        outcome.stdout = Stdout::default();
    }
    outcome.elapsed = start.elapsed();
    outcome
}

/// The longest pause between two looks at a running child.
const MAX_POLL: Duration = Duration::from_millis(25);

/// A child's stdout as a memory file of its own (`memfd_create`: in memory, in no
/// filesystem). The child writes it as it would a file; we watch its size for progress, and
/// once the child is done seal it against writes and map it ([`MemOut::finish`]).
struct MemOut {
    file: File,
    /// Its size at the last look.
    len: u64,
}

impl MemOut {
    /// `None` when the kernel cannot make one (then stdout is a pipe).
    fn new() -> Option<MemOut> {
        use nix::sys::memfd::{MFdFlags, memfd_create};
        let fd = memfd_create(
            c"fwdoctor-stdout",
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )
        .ok()?;
        Some(MemOut {
            file: File::from(fd),
            len: 0,
        })
    }

    /// True when it grew (or changed size) since the last look.
    fn grew(&mut self) -> bool {
        let len = self.file.metadata().map_or(self.len, |m| m.len());
        let grew = len != self.len;
        self.len = len;
        grew
    }

    fn too_big(&self) -> bool {
        self.len > MAX_STDOUT as u64
    }

    /// Seal the file against writes, shrinking and growing (a grandchild may hold it still),
    /// then take what it holds: mapped when big, copied into a buffer of its exact size when
    /// small. `None` when it holds more than [`MAX_STDOUT`] bytes.
    fn finish(self) -> io::Result<Option<Stdout>> {
        use nix::fcntl::{FcntlArg, SealFlag, fcntl};
        let seals = SealFlag::F_SEAL_SEAL
            | SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_WRITE;
        // Refused only while someone has it mapped writable and shared: then it is copied.
        let sealed = fcntl(&self.file, FcntlArg::F_ADD_SEALS(seals)).is_ok();
        let len = self.file.metadata()?.len();
        if len > MAX_STDOUT as u64 {
            return Ok(None);
        }
        if sealed
            && len >= mapped_file::MIN_LEN
            && let Some(mapped) = MappedFile::map_sealed(&self.file, len)?
        {
            return Ok(Some(Stdout::Mapped(mapped)));
        }
        let size = usize::try_from(len).map_err(io::Error::other)?;
        let mut bytes = vec![0u8; size];
        let mut filled = 0;
        while filled < size {
            match self.file.read_at(&mut bytes[filled..], filled as u64) {
                Ok(0) => {
                    return Err(io::Error::other(
                        "its output shrank while being read (something truncated it)",
                    ));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(Stdout::Bytes(bytes)))
    }
}

/// Why a child was stopped before it exited.
#[derive(Clone, Copy)]
enum Stop {
    /// The overall cap passed.
    Cap,
    /// It printed nothing and used no CPU for the idle limit.
    Idle,
    /// Its memory file grew past [`MAX_STDOUT`].
    TooBig,
}

/// Poll the child until it exits, prints nothing for `idle`, or the deadline passes. Output
/// is a byte on a pipe (counted by the readers) or growth of the memory file `mem`.
fn wait_until(
    child: &mut Child,
    deadline: Instant,
    progress: &Progress,
    idle: Duration,
    mut mem: Option<&mut MemOut>,
) -> Result<ExitStatus, Stop> {
    let mut pause = Duration::from_millis(1);
    let mut cpu = None;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(_) => return Err(Stop::Cap),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Stop::Cap);
        }
        if let Some(m) = mem.as_deref_mut()
            && m.grew()
        {
            progress.touch();
            if m.too_big() {
                return Err(Stop::TooBig);
            }
        }
        // Working is progress too: iptables-nft-save fetches a whole big ruleset from the
        // kernel (a minute at 250k rules) before it prints its first line.
        let used = cpu_ticks(child.id());
        if used.is_some() && used != cpu {
            if cpu.is_some() {
                progress.touch();
            }
            cpu = used;
        }
        let silent = progress.silent_for();
        if silent >= idle {
            return Err(Stop::Idle);
        }
        thread::sleep(pause.min(deadline - now).min(idle - silent));
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// The CPU time (user + system, in clock ticks) process `pid` has used, from
/// `/proc/PID/stat`; `None` when it cannot be read.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the `(comm)` field, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn set_exit(outcome: &mut CommandOutcome, status: ExitStatus) {
    outcome.exit_code = status.code();
    outcome.signal = status.signal();
}
