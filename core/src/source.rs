//! A live source on its own thread: a followed file ([`crate::feed::FileTail`]) or a
//! PostgreSQL table ([`crate::pg`]). Records and state changes come over a bounded channel, so
//! a reader that falls behind slows the source down instead of growing memory, and whoever
//! holds the [`Feed`] only ever takes what is there (`try_recv`) and never waits. Failures
//! (a file that cannot be read, a database that is down or restarting, a killed connection)
//! are reported as [`SourceState::Retrying`] and retried with exponential backoff; reading
//! resumes from where it stood, and what is read again replaces by id downstream.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::feed::{FileTail, Position, Records};
use crate::pg;

/// A live source as the user names it: a path, or a PostgreSQL connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    File(PathBuf),
    Postgres(String),
}

impl SourceSpec {
    pub fn parse(s: &str) -> SourceSpec {
        if pg::is_url(s.trim()) { SourceSpec::Postgres(s.trim().to_string()) } else { SourceSpec::File(PathBuf::from(s)) }
    }

    /// For logs and the status line (a connection string without its password).
    pub fn label(&self) -> String {
        match self {
            SourceSpec::File(p) => p.display().to_string(),
            SourceSpec::Postgres(url) => pg::redact(url),
        }
    }
}

/// What a source is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceState {
    Connecting,
    /// Following the source; events arrive as they are written.
    Live,
    /// Nothing to follow yet (the file does not exist).
    Waiting(String),
    /// Failed; tries again after `wait`.
    Retrying {
        error: String,
        attempt: u32,
        wait: Duration,
    },
}

/// What comes out of a source.
#[derive(Debug)]
pub enum FeedMsg {
    Records(Records),
    State(SourceState),
}

#[derive(Debug, Clone)]
pub struct FeedOptions {
    /// How often a file is looked at; how long the database reader waits for a notification
    /// before it polls anyway.
    pub poll: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
    /// Messages the channel holds before the source waits for its reader.
    pub capacity: usize,
    /// At most this many records in one message.
    pub max_batch: usize,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions { poll: Duration::from_millis(200), max_backoff: Duration::from_secs(30), capacity: 16, max_batch: 50_000 }
    }
}

/// The wait before retry `attempt` (1, 2, …): 250 ms doubling up to `max`.
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    let ms = 250u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    Duration::from_millis(ms).min(max)
}

/// A running source. Dropping it stops the thread (within one poll).
pub struct Feed {
    pub label: String,
    rx: Option<Receiver<FeedMsg>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Feed {
    pub fn start(spec: SourceSpec, opts: FeedOptions) -> Feed {
        Feed::start_at(spec, opts, None)
    }

    /// Starts from a saved position (see [`crate::checkpoint`]); a position of another kind of
    /// source is ignored.
    pub fn start_at(spec: SourceSpec, opts: FeedOptions, from: Option<Position>) -> Feed {
        let (tx, rx) = sync_channel(opts.capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let label = spec.label();
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("gridcentre-feed".into())
            .spawn(move || {
                let mut run = Runner { tx, stop: flag, opts };
                match spec {
                    SourceSpec::File(path) => {
                        let tail = match &from {
                            Some(Position::File(p)) => FileTail::resume(&path, p),
                            _ => FileTail::new(&path),
                        };
                        run.file(tail)
                    }
                    SourceSpec::Postgres(url) => {
                        let reader = match &from {
                            Some(Position::Postgres { watermark_us, id }) => pg::PgReader::resume(*watermark_us, id),
                            _ => pg::PgReader::default(),
                        };
                        run.postgres(&url, reader)
                    }
                }
            })
            .ok();
        Feed { label, rx: Some(rx), stop, handle }
    }

    /// A message if one is waiting; never blocks.
    pub fn try_recv(&self) -> Option<FeedMsg> {
        self.rx.as_ref()?.try_recv().ok()
    }

    /// Waits up to `d` for a message.
    pub fn recv_timeout(&self, d: Duration) -> Option<FeedMsg> {
        self.rx.as_ref()?.recv_timeout(d).ok()
    }

    /// Stops the source and waits for its thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None; // a source blocked on a full channel wakes up and ends
    }
}

struct Runner {
    tx: SyncSender<FeedMsg>,
    stop: Arc<AtomicBool>,
    opts: FeedOptions,
}

impl Runner {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sends; false when nobody listens any more.
    fn send(&self, m: FeedMsg) -> bool {
        !self.stopped() && self.tx.send(m).is_ok()
    }

    fn sleep(&self, d: Duration) {
        let step = Duration::from_millis(50);
        let mut left = d;
        while !self.stopped() && !left.is_zero() {
            let s = left.min(step);
            std::thread::sleep(s);
            left -= s;
        }
    }

    /// Reports a failure and waits before the next attempt.
    fn retry(&self, attempt: &mut u32, error: String) -> bool {
        *attempt += 1;
        let wait = backoff(*attempt, self.opts.max_backoff);
        tracing::warn!(attempt = *attempt, wait_ms = wait.as_millis() as u64, "live source: {error}");
        if !self.send(FeedMsg::State(SourceState::Retrying { error, attempt: *attempt, wait })) {
            return false;
        }
        self.sleep(wait);
        !self.stopped()
    }

    fn file(&mut self, mut tail: FileTail) {
        let mut state: Option<SourceState> = None;
        let mut attempt = 0;
        while !self.stopped() {
            match tail.poll() {
                Ok(recs) => {
                    attempt = 0;
                    let now = if tail.is_open() {
                        SourceState::Live
                    } else {
                        SourceState::Waiting("the file does not exist yet".into())
                    };
                    if state.as_ref() != Some(&now) {
                        state = Some(now.clone());
                        if !self.send(FeedMsg::State(now)) {
                            return;
                        }
                    }
                    if recs.rows.is_empty() && recs.bad.is_empty() {
                        self.sleep(self.opts.poll);
                    } else if !self.send(FeedMsg::Records(recs)) {
                        return;
                    }
                }
                Err(e) => {
                    state = None;
                    if !self.retry(&mut attempt, e.to_string()) {
                        return;
                    }
                }
            }
        }
    }

    fn postgres(&mut self, url: &str, mut reader: pg::PgReader) {
        let mut attempt = 0;
        'connect: while !self.stopped() {
            if !self.send(FeedMsg::State(SourceState::Connecting)) {
                return;
            }
            let client = pg::connect(url).and_then(|mut c| pg::listen(&mut c, url).map(|()| c));
            let mut client = match client {
                Ok(c) => c,
                Err(e) => {
                    if !self.retry(&mut attempt, e.to_string()) {
                        return;
                    }
                    continue;
                }
            };
            let mut live = false;
            while !self.stopped() {
                match reader.fetch(&mut client, url, self.opts.max_batch) {
                    Ok((recs, more)) => {
                        if !live {
                            // Connected and the table read: only now is the source live.
                            live = true;
                            attempt = 0;
                            if !self.send(FeedMsg::State(SourceState::Live)) {
                                return;
                            }
                        }
                        if !recs.rows.is_empty() && !self.send(FeedMsg::Records(recs)) {
                            return;
                        }
                        if more {
                            continue;
                        }
                    }
                    Err(e) => {
                        if !self.retry(&mut attempt, e.to_string()) {
                            return;
                        }
                        continue 'connect;
                    }
                }
                if let Err(e) = pg::wait_for_notify(&mut client, url, self.opts.poll) {
                    if !self.retry(&mut attempt, e.to_string()) {
                        return;
                    }
                    continue 'connect;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let max = Duration::from_secs(30);
        let waits: Vec<u64> = (1..=9).map(|a| backoff(a, max).as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff(u32::MAX, max), max);
    }

    #[test]
    fn a_file_feed_reports_waiting_then_live_and_its_records() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("feed.csv");
        let feed = Feed::start(
            SourceSpec::parse(path.to_str().unwrap_or_default()),
            FeedOptions { poll: Duration::from_millis(20), ..FeedOptions::default() },
        );
        let first = feed.recv_timeout(Duration::from_secs(5));
        assert!(matches!(first, Some(FeedMsg::State(SourceState::Waiting(_)))), "{first:?}");
        std::fs::write(&path, "id,status\nA,已受理\n").unwrap_or_else(|e| panic!("{e}"));
        let mut rows = 0;
        let mut live = false;
        let t = std::time::Instant::now();
        while rows < 1 && t.elapsed() < Duration::from_secs(5) {
            match feed.recv_timeout(Duration::from_millis(100)) {
                Some(FeedMsg::State(SourceState::Live)) => live = true,
                Some(FeedMsg::Records(r)) => rows += r.rows.len(),
                _ => {}
            }
        }
        assert!(live && rows == 1);
        feed.stop();
        assert_eq!(SourceSpec::parse("postgres://u:pw@h/db").label(), "postgres://u:***@h/db");
    }
}
