//! The thread every export of a storage runs on, one export at a time.
//!
//! An export's working memory (the GeoPackage writer's 32 MiB page cache, the sorter that builds an index) is
//! made of many small allocations. glibc gives each thread a heap arena of its own and keeps in it what was freed,
//! so exports run on whichever thread of tokio's blocking pool was free each kept about 35 MB more whenever they
//! landed on a thread no export had used (VmHWM from 79 to 186 MB over eight exports, docs/benchmarks.md).
//! On one thread every export reuses the same arena. A second export waits for the first, which also keeps two
//! national exports from competing for the disk.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use sync_core::store::StorageError;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, Clone)]
pub(super) struct ExportThread {
    jobs: mpsc::Sender<Job>,
}

impl ExportThread {
    /// Starts the thread; it ends when the last clone of the storage is dropped.
    pub(super) fn start() -> Result<ExportThread, StorageError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("fieldsync-export".into())
            .spawn(move || {
                for job in queue {
                    // A panicking export has already lost its answer (the caller is told it failed); the thread
                    // goes on for the next one.
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
            })
            .map_err(|e| StorageError::Database(format!("cannot start the export thread: {e}")))?;
        Ok(ExportThread { jobs })
    }

    /// Runs `work` on the thread, after the exports queued before it, and waits for its result. If the caller
    /// stops waiting (an HTTP client that hung up), `abandoned` runs instead of `work` when it had not started yet,
    /// or after it, so that what it wrote for nobody is removed.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
        abandoned: impl FnOnce() + Send + 'static,
    ) -> Result<T, StorageError> {
        let (answer, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // Not started when its caller has gone already; else run, and tidy up if the caller went meanwhile.
                if answer.is_closed() || answer.send(work()).is_err() {
                    abandoned();
                }
            }))
            .map_err(|_| StorageError::Database("the export thread has stopped".into()))?;
        result
            .await
            .map_err(|_| StorageError::Database("the export failed without an answer: see the server's log".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exports_run_in_turn_on_one_thread_which_outlives_a_panicking_one() {
        let thread = ExportThread::start().expect("thread");
        let name = || Ok(std::thread::current().name().map(String::from));
        let first = thread.run(name, || {}).await.expect("first");
        let failed = thread.run::<()>(|| panic!("a bug in an export"), || {}).await;
        assert!(failed.expect_err("panicked").to_string().contains("without an answer"));
        let second = thread.run(name, || {}).await.expect("after the panic");
        assert_eq!(first.as_deref(), Some("fieldsync-export"));
        assert_eq!(second, first);
    }

    /// A caller that stops waiting: the export it was in gets `abandoned` after it finishes, the one queued behind
    /// it gets `abandoned` instead of running.
    #[tokio::test]
    async fn an_export_nobody_waits_for_is_abandoned_after_or_instead_of_running() {
        use std::sync::{Arc, Mutex};
        let thread = ExportThread::start().expect("thread");
        let log = Arc::new(Mutex::new(Vec::<&str>::new()));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let note = |log: &Arc<Mutex<Vec<&'static str>>>, what: &'static str| {
            let log = Arc::clone(log);
            move || log.lock().expect("log").push(what)
        };
        let (ran, left) = (note(&log, "first ran"), note(&log, "first abandoned"));
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let export = thread.clone();
        let first = tokio::spawn(async move {
            export
                .run(
                    move || {
                        let _ = started.send(());
                        gate.recv().expect("released");
                        ran();
                        Ok(())
                    },
                    left,
                )
                .await
        });
        // The first caller hangs up while its export runs (not before it starts: that case is the second's).
        running.await.expect("the first export started");
        first.abort();
        assert!(first.await.is_err_and(|e| e.is_cancelled()), "the first caller is gone");
        let (ran, left) = (note(&log, "second ran"), note(&log, "second abandoned"));
        let second = thread.run(
            move || {
                ran();
                Ok(())
            },
            left,
        );
        // The second is polled once (it sends its job, queued behind the first), then dropped.
        assert!(tokio::time::timeout(std::time::Duration::ZERO, second).await.is_err());
        release.send(()).expect("the first export waits");
        // A third export runs after both: by then the thread has dealt with them.
        thread.run(|| Ok(()), || {}).await.expect("third");
        assert_eq!(
            *log.lock().expect("log"),
            vec!["first ran", "first abandoned", "second abandoned"]
        );
    }
}
