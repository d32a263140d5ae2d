//! A background worker where the latest job wins: the UI submits without waiting, a job still
//! queued when a newer one comes is dropped (a filter clicked five times computes at most twice),
//! and results come back over a channel the UI drains each frame.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};

struct Slot<J> {
    job: Option<J>,
    closed: bool,
}

pub struct Worker<J, R> {
    slot: Arc<(Mutex<Slot<J>>, Condvar)>,
    rx: Receiver<R>,
}

impl<J: Send + 'static, R: Send + 'static> Worker<J, R> {
    /// Starts a named thread running `f` on each job; `ctx` is repainted when a result is ready.
    pub fn new(name: &str, ctx: egui::Context, f: impl Fn(J) -> R + Send + 'static) -> Self {
        let slot = Arc::new((Mutex::new(Slot { job: None, closed: false }), Condvar::new()));
        let (tx, rx): (Sender<R>, Receiver<R>) = channel();
        let shared = slot.clone();
        let spawned = std::thread::Builder::new().name(name.to_string()).spawn(move || {
            background_priority();
            loop {
                let job = {
                    let (lock, cv) = &*shared;
                    let Ok(mut s) = lock.lock() else { return };
                    loop {
                        if s.closed {
                            return;
                        }
                        if let Some(j) = s.job.take() {
                            break j;
                        }
                        s = match cv.wait(s) {
                            Ok(s) => s,
                            Err(_) => return,
                        };
                    }
                };
                if tx.send(f(job)).is_err() {
                    return;
                }
                ctx.request_repaint();
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start worker thread {name}: {e}");
        }
        Worker { slot, rx }
    }

    /// Queues `job`, replacing one not yet started.
    pub fn submit(&self, job: J) {
        let (lock, cv) = &*self.slot;
        if let Ok(mut s) = lock.lock() {
            s.job = Some(job);
            cv.notify_one();
        }
    }

    /// The newest finished result, if any (older ones are dropped).
    pub fn latest(&self) -> Option<R> {
        self.rx.try_iter().last()
    }

    /// Waits for the next result (tests and the frame benchmark only).
    pub fn wait(&self) -> Option<R> {
        self.rx.recv().ok()
    }
}

impl<J, R> Drop for Worker<J, R> {
    fn drop(&mut self) {
        let (lock, cv) = &*self.slot;
        if let Ok(mut s) = lock.lock() {
            s.closed = true;
            cv.notify_one();
        }
    }
}

/// Lowers the priority of the table engine's worker threads (once per process): the derive,
/// detail, charts and export jobs run their statistics there.
pub fn background_tables() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| gridcentre_core::stats::on_table_threads(background_priority));
}

/// Lowers the calling thread's priority (nice 10 on Linux) so that on a busy machine the UI
/// thread gets the CPU first and frames stay short; the work still uses every idle core.
pub fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; setpriority on our own thread id only changes its
    // scheduling priority (an error, e.g. not permitted, leaves it as it was).
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// Drops `value` on a background thread: freeing a replaced dataset or point layer of a million
/// incidents takes tens of milliseconds, which a frame cannot spare.
pub fn drop_later<T: Send + 'static>(value: T) {
    use std::sync::OnceLock;
    type Garbage = Box<dyn Send>;
    static BIN: OnceLock<Option<Mutex<Sender<Garbage>>>> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let (tx, rx) = channel::<Garbage>();
        std::thread::Builder::new()
            .name("gridcentre-drop".into())
            .spawn(move || {
                background_priority();
                for _ in rx {}
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let boxed: Garbage = Box::new(value);
    match bin.as_ref().and_then(|m| m.lock().ok()) {
        Some(tx) => {
            if let Err(back) = tx.send(boxed) {
                drop(back.0);
            }
        }
        None => drop(boxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_and_only_the_newest_queued_job_runs() {
        let gate = Arc::new(Mutex::new(()));
        let g2 = gate.clone();
        let w: Worker<u32, u32> = Worker::new("test-worker", egui::Context::default(), move |j| {
            let _held = g2.lock();
            j * 10
        });
        let held = gate.lock();
        w.submit(1);
        std::thread::sleep(std::time::Duration::from_millis(50)); // job 1 is running, blocked
        w.submit(2);
        w.submit(3); // replaces 2 before it starts
        drop(held);
        assert_eq!(w.wait(), Some(10));
        assert_eq!(w.wait(), Some(30));
        w.submit(4);
        assert_eq!(w.wait(), Some(40));
        assert_eq!(w.latest(), None);
    }
}
