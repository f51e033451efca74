//! Decode independent items on every core and take the results back in input order.
//!
//! A Kubernetes node's save dump is 100k+ rule lines that decode independently; the table
//! structure around them is cheap and stays sequential. Results come back chunk by chunk, in
//! order, as soon as a chunk and all before it are done, so at most a few chunks of decoded
//! rules exist twice (once in the worker's vector, once in their chain).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// Items per chunk: big enough that a thread hand-off is noise, small enough to keep every
/// core busy to the end and the in-flight results small.
pub const CHUNK: usize = 2048;

/// The cores this thread's parsers may use: those this process may run on (asked once: the
/// answer reads cgroup files), or one inside [`on_this_thread_only`].
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if ONE_THREAD.get() {
        return 1;
    }
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

thread_local! {
    static ONE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with every parser it calls on the calling thread alone: for a parse that overlaps
/// other work (a live check parses one save while another tool still dumps its rules), where
/// more threads would only take that work's core.
pub fn on_this_thread_only<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ONE_THREAD.set(self.0);
        }
    }
    let _restore = Restore(ONE_THREAD.replace(true));
    f()
}

/// Run `work` on consecutive chunks of `items`, on up to as many threads as there are cores,
/// and hand each chunk's result to `sink` in input order. Stops at the first error in input
/// order and returns it, so the error reported is the one a sequential pass would meet first.
/// One chunk (or one core) runs on the calling thread.
pub fn for_each_chunk_in_order<T, R, E>(
    items: &[T],
    work: impl Fn(&[T]) -> Result<R, E> + Sync,
    sink: impl FnMut(R),
) -> Result<(), E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let chunks: Vec<&[T]> = items.chunks(CHUNK).collect();
    for_each_in_order(&chunks, |c| work(c), sink)
}

/// [`for_each_chunk_in_order`] with each job given whole: `work` runs once per job.
pub fn for_each_in_order<J, R, E>(
    jobs: &[J],
    work: impl Fn(&J) -> Result<R, E> + Sync,
    mut sink: impl FnMut(R),
) -> Result<(), E>
where
    J: Sync,
    R: Send,
    E: Send,
{
    let threads = cores().min(jobs.len());
    if threads <= 1 {
        for j in jobs {
            sink(work(j)?);
        }
        return Ok(());
    }

    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            scope.spawn(move || {
                super::heap::huge_pages_for_this_thread();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    if tx.send((i, work(job))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut wanted = 0;
        for (i, result) in rx {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&wanted) {
                match result {
                    Ok(r) => sink(r),
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
                wanted += 1;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order() {
        let items: Vec<usize> = (0..CHUNK * 7 + 5).collect();
        let mut seen = Vec::new();
        for_each_chunk_in_order(
            &items,
            |c| Ok::<_, ()>(c.iter().map(|i| i * 2).collect::<Vec<_>>()),
            |r| seen.extend(r),
        )
        .unwrap();
        assert_eq!(seen, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn on_this_thread_only_keeps_the_work_on_the_calling_thread_and_then_lets_it_go() {
        let items: Vec<usize> = (0..CHUNK * 8).collect();
        let threads_used = || {
            let seen = std::sync::Mutex::new(std::collections::HashSet::new());
            for_each_chunk_in_order(
                &items,
                |c| {
                    seen.lock().unwrap().insert(std::thread::current().id());
                    // Long enough that a second worker, if there is one, takes a chunk.
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    Ok::<_, ()>(c.len())
                },
                |_| {},
            )
            .unwrap();
            seen.into_inner().unwrap()
        };
        let alone = on_this_thread_only(threads_used);
        assert_eq!(
            alone.into_iter().collect::<Vec<_>>(),
            vec![std::thread::current().id()]
        );
        assert_eq!(cores() > 1, threads_used().len() > 1, "restored afterwards");
    }

    #[test]
    fn the_first_error_in_input_order_wins() {
        let items: Vec<usize> = (0..CHUNK * 9).collect();
        let mut sunk = 0;
        let err = for_each_chunk_in_order(
            &items,
            |c| {
                // Chunk 6 fails fast, chunk 2 fails slowly: chunk 2's error is the one.
                match c[0] / CHUNK {
                    2 => {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        Err(2)
                    }
                    6 => Err(6),
                    _ => Ok(c.len()),
                }
            },
            |n| sunk += n,
        )
        .unwrap_err();
        assert_eq!(err, 2);
        assert_eq!(
            sunk,
            2 * CHUNK,
            "chunks 0 and 1 were handed over, nothing after"
        );
    }
}
