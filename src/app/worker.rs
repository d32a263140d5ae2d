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

/// Puts the core's worker pools in the background (once per process): the derive, detail,
/// charts and export jobs run their statistics and point layers there.
pub fn background_tables() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| gridcentre_core::stats::on_worker_threads(background_priority));
}

/// Puts the calling thread in the background: on Linux the `SCHED_IDLE` policy (it runs only
/// when a core would otherwise idle, so the UI and live-feed threads never wait for it), or nice
/// 19 where that is refused. Nice 10 was not enough on a 2-core machine: the scheduler still
/// gave a background thread a few milliseconds ahead of the UI thread now and then, and those
/// were the frames over 16 ms. On a machine where other programs keep every core busy (and
/// the desktop does not schedule each application as a group), background work then waits for
/// them: `GRIDCENTRE_BACKGROUND_NICE=10` gives it a nice value instead.
pub fn background_priority() {
    #[cfg(target_os = "linux")]
    {
        static NICE: std::sync::OnceLock<Option<i32>> = std::sync::OnceLock::new();
        let nice = *NICE.get_or_init(|| {
            let v = std::env::var("GRIDCENTRE_BACKGROUND_NICE").ok()?;
            let n = v.trim().parse::<i32>().ok().filter(|n| (0..=19).contains(n));
            if n.is_none() {
                tracing::warn!("GRIDCENTRE_BACKGROUND_NICE={v:?} is not a nice value 0–19; using SCHED_IDLE");
            }
            n
        });
        // SAFETY: gettid has no preconditions; sched_setscheduler and setpriority on our own
        // thread id only change its scheduling (an error, e.g. not permitted, leaves it as it was).
        unsafe {
            let tid = libc::gettid();
            let param = libc::sched_param { sched_priority: 0 };
            if nice.is_some() || libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) != 0 {
                let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice.unwrap_or(19));
            }
        }
    }
}

/// Tunes glibc's allocator for a UI that shares its heap with threads freeing millions of small
/// allocations (a replaced dataset of a million incidents): fastbins off, so those chunks are
/// merged when they are freed, on the freeing (background) thread, instead of all at once in
/// the UI thread's next larger allocation. With fastbins the live benchmark showed one frame of
/// 45–72 ms in about one run in ten (CPU inside the UI pass, no new data, no page faults);
/// without, none in ten runs and a lower p95. Call first thing in `main`, before any thread
/// starts. (mimalloc was tried instead: more slow frames, from page faults in the UI thread.)
///
/// Also more arenas than glibc's default of eight per core: the dashboard has about twenty
/// threads, and past the limit a new thread shares an arena, the first being the UI thread's
/// (the live thread, started last, did: its allocations then held the lock the UI thread's
/// allocations wait for). Arenas are made only as threads need them.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, to documented values.
    unsafe {
        let _ = libc::mallopt(libc::M_MXFAST, 0);
        let _ = libc::mallopt(libc::M_ARENA_MAX, 64);
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

    #[cfg(target_os = "linux")]
    #[test]
    fn background_threads_run_idle_and_the_others_keep_their_priority() {
        // SAFETY: querying the calling thread's (tid 0) policy and nice value has no preconditions.
        let policy = || unsafe { (libc::sched_getscheduler(0), libc::getpriority(libc::PRIO_PROCESS, 0)) };
        let before = policy();
        let bg = std::thread::spawn(move || {
            background_priority();
            policy()
        })
        .join()
        .unwrap_or_default();
        assert!(bg == (libc::SCHED_IDLE, before.1) || bg.1 == 19, "background thread: {bg:?}");
        assert_eq!(policy(), before, "the calling thread is untouched");
    }
}
