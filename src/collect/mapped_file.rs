//! Big evidence files mapped into memory instead of read into a fresh buffer.
//!
//! Reading a 15 MB save dump (a 100k-rule Kubernetes node) into a new buffer costs more in
//! page faults and zeroing of that buffer than in the copy itself: 12 ms of a 100 ms check on
//! our machines. Mapping the file with every page populated at once takes 2 ms and no extra
//! memory: the pages are the page cache's.
//!
//! A mapped file that shrinks while it is mapped (another process truncates it) makes the
//! next read of a lost page a SIGBUS, and a failing disk does the same. A handler set for the
//! mapped ranges turns that into the message `fwdoctor: FILE: changed or unreadable while
//! being read` and exit status 3 (unknown), instead of a crash. A SIGBUS outside these
//! ranges keeps its default action. Only files of [`MIN_LEN`] bytes and more are mapped,
//! where the time matters.
//!
//! What a mapping cannot guard against: a file rewritten in place (not replaced) while it is
//! mapped shows the new bytes mid-parse, which breaks the promise that the text does not
//! change (and may break its UTF-8). `fwdoctor capture` replaces its files by renaming, so a
//! capture taken again over the one being checked leaves the check on the old files; shell
//! redirection (`iptables-save > file`) truncates first, which ends in the SIGBUS message.

use nix::libc;
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::ffi::c_void;
use std::fs::File;
use std::num::NonZeroUsize;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Smaller files are read: the map costs more syscalls than it saves.
pub const MIN_LEN: u64 = 1 << 20;

/// Files mapped at once, each with a slot the SIGBUS handler can read without locking. A
/// capture has at most a handful of big files; a file without a free slot is read.
const SLOTS: usize = 16;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    name: AtomicPtr<u8>,
    name_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // the initialiser of each slot of SLOTS
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    name: AtomicPtr::new(std::ptr::null_mut()),
    name_len: AtomicUsize::new(0),
};
static MAPPED: [Slot; SLOTS] = [FREE; SLOTS];
static HANDLER: Once = Once::new();

/// A file's bytes, mapped read-only and private.
#[derive(Debug)]
pub struct MappedFile {
    ptr: NonNull<c_void>,
    len: usize,
    slot: usize,
    /// The path as the SIGBUS message prints it; the slot points at it.
    _name: Box<[u8]>,
}

// SAFETY: the mapping is read-only and owned by this value; the pointer is not tied to a
// thread.
unsafe impl Send for MappedFile {}
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Map `file` (opened from `path`, `len` bytes, a regular file) with all its pages
    /// present. None when it is not worth it or not possible (small, no free slot, the
    /// kernel refuses): then read the file.
    pub fn map(file: &File, len: u64, path: &Path) -> Option<MappedFile> {
        if len < MIN_LEN {
            return None;
        }
        let len = usize::try_from(len).ok()?;
        HANDLER.call_once(install_handler);
        let name: Box<[u8]> = path.display().to_string().into_bytes().into();
        let slot = MAPPED.iter().position(|s| {
            s.len
                .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: a fresh private read-only mapping of a file we opened; nothing else is at
        // the address the kernel picks.
        let mapped = unsafe {
            mmap(
                None,
                NonZeroUsize::new(len)?,
                ProtFlags::PROT_READ,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_POPULATE,
                file,
                0,
            )
        };
        let Ok(ptr) = mapped else {
            MAPPED[slot].len.store(0, Ordering::Release);
            return None;
        };
        let s = &MAPPED[slot];
        s.start.store(ptr.as_ptr() as usize, Ordering::Relaxed);
        s.name.store(name.as_ptr().cast_mut(), Ordering::Relaxed);
        s.name_len.store(name.len(), Ordering::Relaxed);
        s.len.store(len, Ordering::Release);
        Some(MappedFile {
            ptr,
            len,
            slot,
            _name: name,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes are mapped readable at `ptr` for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        let s = &MAPPED[self.slot];
        s.len.store(usize::MAX, Ordering::Release);
        // SAFETY: unmapping our own mapping; no slice of it outlives `self`.
        let _ = unsafe { munmap(self.ptr, self.len) };
        s.start.store(0, Ordering::Relaxed);
        s.len.store(0, Ordering::Release);
    }
}

fn install_handler() {
    let action = SigAction::new(
        SigHandler::SigAction(on_sigbus),
        SaFlags::SA_SIGINFO,
        SigSet::empty(),
    );
    // SAFETY: the handler only reads atomics and calls write(2), signal(2) and _exit(2),
    // which are async-signal-safe.
    let _ = unsafe { sigaction(Signal::SIGBUS, &action) };
}

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO.
    let addr = unsafe { (*info).si_addr() } as usize;
    for s in &MAPPED {
        let len = s.len.load(Ordering::Acquire);
        let start = s.start.load(Ordering::Relaxed);
        if len == 0 || len == usize::MAX || addr < start || addr - start >= len {
            continue;
        }
        let name = s.name.load(Ordering::Relaxed);
        let name_len = s.name_len.load(Ordering::Relaxed);
        let say = |b: &[u8]| {
            // SAFETY: writing a valid buffer to stderr.
            let _ = unsafe { libc::write(2, b.as_ptr().cast(), b.len()) };
        };
        say(b"fwdoctor: ");
        // SAFETY: the slot's name lives as long as its mapping, which is being read.
        say(unsafe { std::slice::from_raw_parts(name, name_len) });
        say(b": changed or unreadable while being read (truncated?); read it again\n");
        // SAFETY: ending the process without running anything else.
        unsafe { libc::_exit(3) };
    }
    // Not ours: the default action, when the faulting access runs again.
    // SAFETY: resetting a signal's disposition.
    unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
}
