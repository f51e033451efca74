//! Huge pages for the memory the parsers' threads decode rules into.
//!
//! A Kubernetes node's ruleset decodes into some 30 MB of small allocations (a rule, its
//! matches, a chain's rule list), most of them made on the worker threads of
//! [`parallel`](super::parallel). glibc gives every thread's arena a heap of its own, starts
//! it at `M_TOP_PAD` (128 KiB) and grows it page by page; the kernel backs it with 4 KiB
//! pages, each a page fault on first touch. On the two-core machine of the benchmark that was
//! 7,500 faults and a fifth of the CPU of `check --from` a 100k-rule save (2-3 µs a fault in a
//! VM), the two cores also taking turns on the lock of the process's memory map.
//!
//! This does for the threads' heaps what glibc itself does with its `glibc.malloc.hugetlb=1`
//! tunable (which a program cannot set for itself: the loader reads it before `main`):
//! [`grow_in_big_steps`] makes a new heap start 32 MiB large (address space, not memory, until
//! touched), and [`huge_pages_for_this_thread`] advises the calling thread's heap
//! `MADV_HUGEPAGE`, so the kernel backs it with 2 MiB pages where it can. Measured on that
//! file (interleaved runs, medians): 62.5 → 56.5 ms, page faults 7,600 → 2,600; peak RSS
//! 47 → 51 MB (each heap's last huge page is whole).
//!
//! Where the heap is: glibc allocates each non-main arena's heap aligned to its maximum size
//! (`HEAP_MAX_SIZE`, 64 MiB on 64-bit systems: `arena_for_chunk` finds a chunk's heap by
//! masking its address), so the heap of a block from this thread's arena starts at the block's
//! address rounded down to 64 MiB. The advice is only given where that holds: glibc on Linux,
//! a block above the program break (not the main arena's `brk` heap), and no `hugetlb`
//! tunable of the user's (with huge-page heaps of its own, glibc sizes them differently). If
//! the guess were wrong anyway, the advice would only change the page size of some other
//! memory of this process, never what it holds.

/// `M_TOP_PAD`: glibc starts a non-main arena's heap this much larger than its first block
/// (up to the heap's 64 MiB) but grows it later only by what a block needs, and a huge page
/// is only used where the heap already covers all of it. 8 MiB took 57.3 ms (faults past the
/// first 8 MiB were small pages again), 64 MiB 55.6 ms and 53 MB of RSS.
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
const GROWTH: usize = 32 << 20;

/// glibc's `HEAP_MAX_SIZE` on 64-bit systems: the size and alignment of a non-main arena's heap.
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
const ARENA_HEAP: usize = 64 << 20;

/// Let heaps grow in big steps (see the module docs). Call it before the first thread
/// starts: an arena made before it starts out small, its first huge page in 4 KiB pages.
/// [`huge_pages_for_this_thread`] calls it too, for a program that did not.
pub fn grow_in_big_steps() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
    {
        static USABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *USABLE.get_or_init(|| {
            let own_tunable = std::env::var_os("GLIBC_TUNABLES")
                .is_some_and(|t| t.to_string_lossy().contains("malloc.hugetlb"));
            // SAFETY: mallopt only sets a parameter of the allocator, under its own lock.
            !own_tunable && unsafe { libc::mallopt(libc::M_TOP_PAD, GROWTH as libc::c_int) } == 1
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
    false
}

/// Back the calling thread's malloc heap with huge pages, where the kernel allows (see the
/// module docs). Cheap (a `madvise` call); call it first thing on a thread that will decode
/// many rules.
pub fn huge_pages_for_this_thread() {
    #[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
    {
        if !grow_in_big_steps() {
            return;
        }
        // Above glibc's largest per-thread cache size (1032 bytes), so it comes from the
        // thread's arena itself.
        let probe: Vec<u8> = Vec::with_capacity(4096);
        let at = probe.as_ptr() as usize;
        // SAFETY: sbrk(0) only reads the current program break.
        let brk = unsafe { libc::sbrk(0) } as usize;
        if at < brk {
            return;
        }
        let heap = at & !(ARENA_HEAP - 1);
        // SAFETY: advice about the page size of this process's own memory; it changes no byte
        // of it. A kernel without transparent huge pages refuses it, which changes nothing.
        let _ =
            unsafe { libc::madvise(heap as *mut libc::c_void, ARENA_HEAP, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(all(
    test,
    target_os = "linux",
    target_env = "gnu",
    target_pointer_width = "64"
))]
mod tests {
    use super::*;

    /// The `VmFlags` of the mapping holding address `at`, from /proc/self/smaps.
    fn vm_flags_at(at: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or_default();
            if let Some((a, b)) = range.split_once('-')
                && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                inside = (a..b).contains(&at);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return flags.trim().to_string();
            }
        }
        panic!("no mapping holds {at:#x}");
    }

    #[test]
    fn a_worker_threads_heap_is_advised_huge_pages() {
        assert!(
            std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists(),
            "this kernel has no transparent huge pages: the test cannot tell anything here"
        );
        let flags = std::thread::spawn(|| {
            huge_pages_for_this_thread();
            let block: Vec<u8> = Vec::with_capacity(4096);
            vm_flags_at(block.as_ptr() as usize)
        })
        .join()
        .expect("thread");
        assert!(
            flags.split(' ').any(|f| f == "hg"),
            "the heap of a new thread is not advised MADV_HUGEPAGE (flags: {flags}; a GLIBC_TUNABLES naming malloc.hugetlb turns the advice off)"
        );
    }
}
