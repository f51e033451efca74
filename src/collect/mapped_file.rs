//! Big evidence files read into memory of their own: a private anonymous mapping, backed by
//! transparent huge pages where the kernel allows, filled by `read(2)` and then made
//! read-only.
//!
//! The text of an evidence file must not change while fwdoctor holds it: the parsers take it
//! as a `str`, which must stay UTF-8. A mapping of the file itself (what fwdoctor did first)
//! shows every later write to the file, so a file rewritten in place while it was checked
//! broke that promise, and a file truncated under it made a read a SIGBUS. A copy cannot
//! change: only this process has the pages. The copy costs more than a file mapping (a 15 MB
//! save dump of 100k rules: ~2 ms mapped, ~8 ms copied into huge pages, ~18 ms into small
//! pages on a busy two-core machine), which is why big files get huge pages rather than a
//! `Vec`, whose 3,700 page faults are most of that cost. Files under [`MIN_LEN`] are read
//! into a `String`.
//!
//! A file that changes size while it is read (another process writes it) is an error naming
//! it: read it again.
//!
//! A live source's output is not copied at all: the command writes it into a memory file of
//! its own (`memfd_create`), which is sealed against writes once the command is done and then
//! mapped read-only ([`MappedFile::map_sealed`], see `collect::command`).

use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, mprotect, munmap};
use std::ffi::c_void;
use std::fs::File;
use std::io::{self, Read};
use std::num::NonZeroUsize;
use std::path::Path;
use std::ptr::NonNull;

/// Smaller files are read into a `String`: the mapping costs more syscalls than it saves.
pub const MIN_LEN: u64 = 1 << 20;

/// A file's bytes, copied into read-only memory that only this value owns.
#[derive(Debug)]
pub struct MappedFile {
    ptr: NonNull<c_void>,
    len: usize,
    /// Bytes mapped at `ptr`: `len`, or more (see [`HUGE_PAGE`]).
    mapped: usize,
}

/// A copy is mapped in whole huge pages (2 MiB on x86-64, the size THP uses): the kernel then
/// aligns the mapping to them and backs all of it with huge pages, where a 15 MB file's last
/// megabyte took 256 faults of 4 KiB pages.
const HUGE_PAGE: usize = 2 << 20;

// SAFETY: the memory is private to this value and read-only once filled; the pointer is not
// tied to a thread.
unsafe impl Send for MappedFile {}
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Read all of `file` (opened from `path`, a regular file of `len` bytes). `Ok(None)` when
    /// it is not worth it or not possible (small, or the kernel refuses the mapping): then
    /// read the file into a `String`. A file whose size is not `len` any more is an error
    /// naming `path`.
    pub fn read(file: &mut File, len: u64, path: &Path) -> io::Result<Option<MappedFile>> {
        if len < MIN_LEN {
            return Ok(None);
        }
        let Some(size) = usize::try_from(len).ok().and_then(NonZeroUsize::new) else {
            return Ok(None);
        };
        let Some(mapped_size) = size
            .get()
            .checked_next_multiple_of(HUGE_PAGE)
            .and_then(NonZeroUsize::new)
        else {
            return Ok(None);
        };
        // SAFETY: a fresh private anonymous mapping; nothing else is at the address the
        // kernel picks.
        let Ok(ptr) = (unsafe {
            mmap_anonymous(
                None,
                mapped_size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        }) else {
            return Ok(None);
        };
        // Owned from here: dropped (unmapped) on every early return.
        let mapped = MappedFile {
            ptr,
            len: size.get(),
            mapped: mapped_size.get(),
        };
        // SAFETY: advice on our own mapping; a kernel without THP ignores or refuses it.
        let _ = unsafe { madvise(ptr, mapped.mapped, MmapAdvise::MADV_HUGEPAGE) };
        // SAFETY: `len` writable bytes at `ptr`, owned by `mapped` and not yet shared.
        let buf = unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr().cast::<u8>(), mapped.len) };
        let changed = || {
            io::Error::other(format!(
                "{}: changed while being read (its size is not {len} bytes any more); read it again",
                path.display()
            ))
        };
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]) {
                Ok(0) => return Err(changed()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if file.read(&mut [0u8])? != 0 {
            return Err(changed());
        }
        // SAFETY: our own mapping; from now on nothing writes it.
        unsafe { mprotect(ptr, mapped.mapped, ProtFlags::PROT_READ) }.map_err(io::Error::from)?;
        Ok(Some(mapped))
    }

    /// Map `file`, a memory file (`memfd_create`) of `len` bytes whose writes are sealed
    /// (`F_SEAL_WRITE`, `F_SEAL_SHRINK`, `F_SEAL_GROW`): read-only, its pages faulted in
    /// now. No copy: the pages the command wrote are the ones parsed. The seals are what
    /// makes the text unchangeable, as [`read`](Self::read)'s copy is: nobody, the process
    /// that wrote it included, may write, truncate or extend the file any more. `Ok(None)`
    /// for an empty file.
    pub fn map_sealed(file: &File, len: u64) -> io::Result<Option<MappedFile>> {
        use nix::fcntl::{FcntlArg, SealFlag, fcntl};
        let Some(size) = usize::try_from(len).ok().and_then(NonZeroUsize::new) else {
            return Ok(None);
        };
        let seals = fcntl(file, FcntlArg::F_GET_SEALS).map_err(io::Error::from)?;
        let needed = SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW;
        if !SealFlag::from_bits_truncate(seals).contains(needed) {
            return Err(io::Error::other(
                "the memory file is not sealed against writes",
            ));
        }
        if file.metadata()?.len() != len {
            return Err(io::Error::other("the memory file is not of the size given"));
        }
        // SAFETY: a new private read-only mapping of a file that cannot change any more (the
        // seals above); the kernel picks the address.
        let ptr = unsafe {
            nix::sys::mman::mmap(
                None,
                size,
                ProtFlags::PROT_READ,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_POPULATE,
                file,
                0,
            )
        }
        .map_err(io::Error::from)?;
        Ok(Some(MappedFile {
            ptr,
            len: size.get(),
            mapped: size.get(),
        }))
    }

    /// The bytes read.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes are mapped readable at `ptr` for as long as `self` lives, and
        // nothing writes them after `read` returned.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping; no slice of it outlives `self`.
        let _ = unsafe { munmap(self.ptr, self.mapped) };
    }
}
