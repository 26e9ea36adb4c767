//! The blocking boundary: SQLite's calls run on threads of the store's own,
//! never on a thread of the async runtime.
//!
//! A [`Threads`] is a group of threads, each owning one connection, that
//! take jobs from one queue, first come first served. The store has two: one
//! thread with the write connection (SQLite has one writer at a time) and a
//! few with read connections (in WAL mode each read is a snapshot that runs
//! beside the writer). An async caller sends a closure and awaits its answer,
//! so a long publish on the writer never holds up a read or a runtime thread.

use super::super::StoreError;
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Threads that own one connection each and share a queue of jobs.
pub(super) struct Threads {
    /// What the threads do, for errors: `writer` or `reader`.
    role: &'static str,
    /// `None` once dropping: the threads then finish their queue and stop.
    queue: Option<crossbeam_channel::Sender<Job>>,
    handles: Vec<JoinHandle<()>>,
}

impl Threads {
    /// Starts one thread per connection, named `sqlite-<role>`.
    pub(super) fn start(role: &'static str, connections: Vec<Connection>) -> Result<Self, StoreError> {
        let (queue, jobs) = crossbeam_channel::unbounded::<Job>();
        let mut handles = Vec::with_capacity(connections.len());
        for mut connection in connections {
            let jobs = jobs.clone();
            let handle = std::thread::Builder::new()
                .name(format!("sqlite-{role}"))
                .spawn(move || {
                    for job in jobs {
                        // A job that panics drops its answer, so its caller gets an
                        // error; rusqlite has rolled its transaction back, and the
                        // connection serves the next job.
                        let _ = catch_unwind(AssertUnwindSafe(|| job(&mut connection)));
                    }
                })
                .map_err(|source| StoreError::Io { path: format!("the SQLite {role} thread"), source })?;
            handles.push(handle);
        }
        Ok(Self { role, queue: Some(queue), handles })
    }

    /// Runs `job` on one of the threads and returns its result.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let _ = answer.send(job(connection));
        });
        let stopped = || StoreError::Stopped(format!("SQLite {} thread", self.role));
        self.queue.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        // Closing the queue ends each thread's loop once the queue is empty;
        // joining makes the connections close before the store is gone.
        self.queue = None;
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads(n: usize) -> Threads {
        let connections = (0..n).map(|_| Connection::open_in_memory().expect("in-memory database")).collect();
        Threads::start("test", connections).expect("start")
    }

    #[tokio::test]
    async fn jobs_run_off_the_calling_thread() {
        let threads = threads(2);
        let caller = std::thread::current().id();
        let (ran_on, name) = threads
            .run(|_| Ok((std::thread::current().id(), std::thread::current().name().map(str::to_owned))))
            .await
            .expect("job");
        assert_ne!(ran_on, caller);
        assert_eq!(name.as_deref(), Some("sqlite-test"));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_thread_goes_on() {
        let threads = threads(1);
        let failed = threads.run(|_| -> Result<(), StoreError> { panic!("a bug in a job") }).await;
        assert!(matches!(failed, Err(StoreError::Stopped(_))), "{failed:?}");
        let value: i64 = threads.run(|c| Ok(c.query_row("SELECT 41 + 1", [], |r| r.get(0))?)).await.expect("job");
        assert_eq!(value, 42);
    }
}
