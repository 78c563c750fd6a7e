//! A backend's own thread and the queue to it: both backends keep their writer off the actor
//! threads this way.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// The sending side of a backend's queue and the thread that drains it. Shutting down drops
/// the sender (the thread lands what is queued, then returns) and joins the thread; dropping
/// does the same.
pub(crate) struct WorkerThread<S> {
    /// `None` after shutdown: new jobs are answered `Closed` by the caller.
    queue: Mutex<Option<S>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// For the log line if the thread panicked.
    name: &'static str,
}

impl<S> WorkerThread<S> {
    pub(crate) fn new(queue: S, thread: JoinHandle<()>, name: &'static str) -> Self {
        Self {
            queue: Mutex::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
            name,
        }
    }

    /// The queue's sender, `None` once shut down.
    pub(crate) fn queue(&self) -> MutexGuard<'_, Option<S>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn shutdown(&self) {
        drop(self.queue().take());
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                log::error!("store: the {} thread panicked", self.name);
            }
        }
    }
}

impl<S> Drop for WorkerThread<S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}
