//! Live mode: a source (file or PostgreSQL) followed on its own thread, folded into a
//! [`LiveTable`] there, and published to the UI at a steady rate (every 500 ms) as figures,
//! ticker items and overdue alerts. The unfiltered tables come from the live table's
//! incremental counts at every tick; a snapshot of the dataset follows every few seconds for
//! what a filter, the points and the heatmap need. The UI only takes what is published.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use gridcentre_core::live::{LiveCounters, LiveTable, Quarantined};
use gridcentre_core::load::IncidentOptions;
use gridcentre_core::model::{Level, NO_GRID};
use gridcentre_core::pipeline::Dataset;
use gridcentre_core::source::{Feed, FeedMsg, FeedOptions, SourceSpec, SourceState};
use gridcentre_core::stats::{IndicatorConfig, StatsTable};
use gridcentre_core::status::Status;
use gridcentre_core::timeparse::now_local_ms;

/// The clock overdue is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum LiveClock {
    /// The wall clock (a real centre).
    #[default]
    System,
    /// The latest time in the data and the feed (replays and demos).
    Data,
}

/// How often figures are published.
pub const TICK: Duration = Duration::from_millis(500);
/// How often, at most, a dataset snapshot is published while events arrive.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(3);
/// Ticker items and alerts kept.
pub const KEEP: usize = 200;

/// One event as the ticker shows it.
#[derive(Debug, Clone)]
pub struct TickerItem {
    pub incident: u32,
    pub id: String,
    pub category: String,
    pub status: Status,
    /// "District / street / community / grid", or empty when in no grid.
    pub place: String,
    pub new: bool,
    /// The event's own time (reported or closed), local ms.
    pub at_ms: i64,
    pub lon: f64,
    pub lat: f64,
}

/// An open incident that passed its deadline.
#[derive(Debug, Clone)]
pub struct AlertItem {
    pub incident: u32,
    pub id: String,
    pub category: String,
    pub deadline_ms: i64,
    /// The centres responsible: district, street, community, grid names.
    pub place: String,
    pub lon: f64,
    pub lat: f64,
    /// When the UI took it (UI time, seconds).
    pub seen_at: f64,
}

/// What the live thread publishes at a tick.
pub struct LiveUpdate {
    pub state: Option<SourceState>,
    pub counters: LiveCounters,
    pub as_of_ms: i64,
    pub last_event_ms: Option<i64>,
    /// Tables of every level (unfiltered), when anything changed.
    pub tables: Option<Arc<Vec<StatsTable>>>,
    pub dataset: Option<Arc<Dataset>>,
    pub ticker: Vec<TickerItem>,
    pub alerts: Vec<AlertItem>,
    pub quarantined: Vec<Quarantined>,
    /// What became of the checkpoint (first update only).
    pub resumed: Option<String>,
}

/// What the UI thread hands to the drop thread instead of freeing it (see [`LiveSession::take`]).
#[allow(dead_code)] // held only to be dropped
enum Spent {
    State(SourceState),
    Update(LiveUpdate),
    Ticker(VecDeque<TickerItem>),
    Alerts(VecDeque<AlertItem>),
    Quarantined(VecDeque<Quarantined>),
}

/// What [`LiveSession::take`] hands on: the newest tables, the newest dataset snapshot, and
/// how many updates there were.
pub type Published = (Option<Arc<Vec<StatsTable>>>, Option<Arc<Dataset>>, usize);

/// A running live session, as the UI holds it.
pub struct LiveSession {
    pub label: String,
    pub clock: LiveClock,
    pub state: SourceState,
    pub counters: LiveCounters,
    pub as_of_ms: i64,
    pub last_event_ms: Option<i64>,
    pub ticker: VecDeque<TickerItem>,
    pub alerts: VecDeque<AlertItem>,
    pub quarantined: VecDeque<Quarantined>,
    /// New incidents to flash on the map: WGS84 lon/lat, category, when it arrived (UI time).
    pub flashes: Vec<(f64, f64, String, f64)>,
    /// Events per second over the last ticks.
    pub rate: f64,
    rate_window: VecDeque<(Instant, u64)>,
    /// Set by the UI when it is ready for a new dataset snapshot (its last derive is done):
    /// at most one snapshot is in flight however busy the machine is.
    pub want_snapshot: Arc<AtomicBool>,
    /// Why a checkpoint was not used, or that one was (for the status bar's tooltip).
    pub resumed: Option<String>,
    /// Overdue alerts that came in with the last [`LiveSession::take`].
    pub new_alerts: usize,
    rx: Receiver<LiveUpdate>,
    stop: Arc<AtomicBool>,
}

/// Where a live session keeps its checkpoints, and what it started from.
#[derive(Debug, Clone)]
pub struct LiveState {
    pub dir: PathBuf,
    pub base: String,
}

impl LiveSession {
    /// Starts following `spec` from `ds` (a copy; the caller keeps showing its own).
    pub fn start(
        ds: Arc<Dataset>,
        config: IndicatorConfig,
        spec: SourceSpec,
        opts: IncidentOptions,
        clock: LiveClock,
        state: Option<LiveState>,
        ctx: egui::Context,
    ) -> LiveSession {
        let (tx, rx) = sync_channel(8);
        let stop = Arc::new(AtomicBool::new(false));
        let label = spec.label();
        let as_of_ms = match clock {
            LiveClock::System => now_local_ms(),
            LiveClock::Data => ds.latest_time(),
        };
        let flag = stop.clone();
        let want_snapshot = Arc::new(AtomicBool::new(true));
        let want = want_snapshot.clone();
        let spawned = std::thread::Builder::new()
            .name("gridcentre-live".into())
            // The copy the live table works on is made there, not on the UI thread.
            .spawn(move || {
                let run = Run { config, spec, opts, clock, as_of_ms, tx, stop: flag, want, state, ctx };
                run.run(Dataset::clone(&ds))
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the live thread: {e}");
        }
        LiveSession {
            label,
            clock,
            state: SourceState::Connecting,
            counters: LiveCounters::default(),
            as_of_ms,
            last_event_ms: None,
            ticker: VecDeque::new(),
            alerts: VecDeque::new(),
            quarantined: VecDeque::new(),
            flashes: Vec::new(),
            rate: 0.0,
            rate_window: VecDeque::new(),
            want_snapshot,
            resumed: None,
            new_alerts: 0,
            rx,
            stop,
        }
    }

    /// The updates published since the last call (figures and snapshots: only the newest
    /// matter; ticker items, alerts and quarantine: all of them, newest first).
    pub fn take(&mut self, now: f64) -> Published {
        let mut tables = None;
        let mut dataset = None;
        let mut n = 0;
        self.new_alerts = 0;
        // Everything the live thread allocated and this thread would free (ticker lines pushed
        // out, an update's emptied lists) goes to the drop thread: glibc frees a chunk under
        // the lock of the arena it came from, and the live thread allocates in that arena all
        // the time, so freeing its chunks here made the UI thread wait (perf: up to 33 waits
        // in a frame).
        let mut spent = Vec::new();
        while let Ok(mut u) = self.rx.try_recv() {
            n += 1;
            if let Some(s) = u.state.take() {
                spent.push(Spent::State(std::mem::replace(&mut self.state, s)));
            }
            if let Some(r) = u.resumed.take() {
                self.resumed = Some(r);
            }
            self.counters = std::mem::take(&mut u.counters);
            self.as_of_ms = u.as_of_ms;
            self.last_event_ms = u.last_event_ms;
            // What a later update replaces is freed off the UI thread (tables of every level,
            // a dataset of a million incidents).
            if let Some(t) = u.tables.take() {
                super::worker::drop_later(tables.replace(t));
            }
            if let Some(d) = u.dataset.take() {
                super::worker::drop_later(dataset.replace(d));
            }
            for t in u.ticker.drain(..) {
                if t.new && t.lon.is_finite() {
                    self.flashes.push((t.lon, t.lat, t.category.clone(), now));
                }
                self.ticker.push_front(t);
            }
            for mut a in u.alerts.drain(..) {
                self.new_alerts += 1;
                a.seen_at = now;
                self.alerts.push_front(a);
            }
            for q in u.quarantined.drain(..) {
                self.quarantined.push_front(q);
            }
            spent.push(Spent::Update(u));
        }
        if self.ticker.len() > KEEP {
            spent.push(Spent::Ticker(self.ticker.split_off(KEEP)));
        }
        if self.alerts.len() > KEEP {
            spent.push(Spent::Alerts(self.alerts.split_off(KEEP)));
        }
        if self.quarantined.len() > KEEP {
            spent.push(Spent::Quarantined(self.quarantined.split_off(KEEP)));
        }
        if !spent.is_empty() {
            super::worker::drop_later(spent);
        }
        self.flashes.retain(|f| now - f.3 < FLASH_SECONDS);
        // A burst (a backlog, a replay at speed) flashes its newest few, not a sea of rings.
        if self.flashes.len() > MAX_FLASHES {
            let cut = self.flashes.len() - MAX_FLASHES;
            self.flashes.drain(..cut);
        }
        if n > 0 {
            let t = Instant::now();
            self.rate_window.push_back((t, self.counters.events));
            while self.rate_window.front().is_some_and(|(t0, _)| t.duration_since(*t0) > Duration::from_secs(5)) {
                self.rate_window.pop_front();
            }
            if let (Some((t0, e0)), Some((t1, e1))) = (self.rate_window.front(), self.rate_window.back()) {
                let dt = t1.duration_since(*t0).as_secs_f64();
                self.rate = if dt > 0.2 { (e1 - e0) as f64 / dt } else { self.rate };
            }
        }
        (tables, dataset, n)
    }

    /// Seconds between the newest event's time and now (system clock only).
    pub fn lag_seconds(&self) -> Option<f64> {
        match self.clock {
            LiveClock::System => self.last_event_ms.map(|e| (now_local_ms() - e) as f64 / 1000.0),
            LiveClock::Data => None,
        }
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// At most this many new incidents flash at once (the newest).
pub const MAX_FLASHES: usize = 120;

/// How long a new incident flashes.
pub const FLASH_SECONDS: f64 = 6.0;

fn place(ds: &Dataset, grid: u32) -> String {
    if grid == NO_GRID {
        return String::new();
    }
    let layer = &ds.layer;
    let mut names: Vec<&str> = layer
        .ancestors(Level::Grid, grid)
        .iter()
        .filter(|(lv, _)| *lv != Level::City && *lv != Level::Grid)
        .map(|(lv, u)| &*layer.units(*lv)[*u as usize].name)
        .collect();
    if let Some(g) = layer.grids.get(grid as usize) {
        names.push(g.name.as_str());
    }
    names.join(" / ")
}

/// How often a checkpoint is saved while events arrive.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

struct Run {
    config: IndicatorConfig,
    spec: SourceSpec,
    opts: IncidentOptions,
    clock: LiveClock,
    as_of_ms: i64,
    tx: SyncSender<LiveUpdate>,
    stop: Arc<AtomicBool>,
    want: Arc<AtomicBool>,
    state: Option<LiveState>,
    ctx: egui::Context,
}

impl Run {
    fn run(self, ds: Dataset) {
        use gridcentre_core::checkpoint;
        let Run { config, spec, opts, clock, as_of_ms, tx, stop, want, state, ctx } = self;
        let label_text = spec.label();
        let label = PathBuf::from(&label_text);
        let mut live = LiveTable::new(ds, config, as_of_ms);
        // A checkpoint of this source and base data: its records back in, reading from its position.
        let mut position = None;
        let mut resumed = None;
        if let Some(st) = &state {
            let (ck, why_not) = checkpoint::load_matching(&st.dir, &label_text, &st.base);
            resumed = why_not;
            if let Some(ck) = ck {
                match live.restore(&ck, &opts) {
                    Ok(()) => {
                        position = ck.meta.position.clone();
                        resumed = Some(format!(
                            "resumed from the checkpoint of {} ({} incidents)",
                            gridcentre_core::timeparse::format_ms(ck.meta.saved_at_ms),
                            ck.meta.incidents
                        ));
                    }
                    Err(e) => resumed = Some(format!("checkpoint not used: {e}")),
                }
            }
        }
        let save = |live: &LiveTable, position: &Option<gridcentre_core::feed::Position>| {
            if let Some(st) = &state
                && let Err(e) = checkpoint::save(&st.dir, live, &label_text, &st.base, position.clone())
            {
                tracing::warn!("live checkpoint: {e}");
            }
        };
        let feed =
            Feed::start_at(spec, FeedOptions { poll: Duration::from_millis(50), ..FeedOptions::default() }, position.clone());
        let mut last_snapshot = Instant::now();
        let mut snapshot_due = resumed.as_deref().is_some_and(|r| r.starts_with("resumed"));
        let mut saved = (Instant::now(), live.counters.events);
        let mut quarantine_seen = live.counters.quarantined;
        let mut first = true;
        while !stop.load(Ordering::Relaxed) {
            let tick = Instant::now();
            let mut source_state = None;
            let mut ticker = Vec::new();
            let mut changed = first && snapshot_due;
            // What arrived since the last tick, within the tick's time.
            while let Some(m) = feed.try_recv() {
                match m {
                    FeedMsg::State(s) => source_state = Some(s),
                    FeedMsg::Records(recs) => match live.ingest(&recs, &opts, &label) {
                        Ok(applied) => {
                            position = recs.position.clone().or(position);
                            changed |= !applied.new.is_empty() || !applied.updated.is_empty();
                            let inc = &live.ds.incidents;
                            for (list, new) in [(&applied.new, true), (&applied.updated, false)] {
                                // The ticker shows the latest few hundred of a burst.
                                for &i in list.iter().rev().take(KEEP).rev() {
                                    let iu = i as usize;
                                    ticker.push(TickerItem {
                                        incident: i,
                                        id: inc.id[iu].to_string(),
                                        category: inc.categories.name(inc.category[iu]).to_string(),
                                        status: inc.status[iu],
                                        place: place(&live.ds, live.ds.grid_of[iu]),
                                        new,
                                        at_ms: inc.closed_ms[iu].unwrap_or(inc.reported_ms[iu]),
                                        lon: inc.lon[iu],
                                        lat: inc.lat[iu],
                                    });
                                }
                            }
                        }
                        Err(e) => {
                            source_state = Some(SourceState::Retrying { error: e.to_string(), attempt: 0, wait: Duration::ZERO })
                        }
                    },
                }
                if tick.elapsed() > TICK / 2 {
                    break;
                }
            }
            ticker.sort_by_key(|t| t.at_ms);
            let now = match clock {
                LiveClock::System => now_local_ms(),
                LiveClock::Data => live.counters.last_event_ms.unwrap_or(live.as_of_ms).max(live.as_of_ms),
            };
            let alerts: Vec<AlertItem> = live
                .advance(now)
                .into_iter()
                .map(|a| {
                    let inc = &live.ds.incidents;
                    let iu = a.incident as usize;
                    AlertItem {
                        incident: a.incident,
                        category: inc.categories.name(inc.category[iu]).to_string(),
                        id: a.id,
                        deadline_ms: a.deadline_ms,
                        place: place(&live.ds, a.grid),
                        lon: inc.lon[iu],
                        lat: inc.lat[iu],
                        seen_at: 0.0,
                    }
                })
                .collect();
            changed |= !alerts.is_empty();
            snapshot_due |= changed;
            let tables = changed.then(|| Arc::new(Level::ALL.iter().map(|&l| live.table(l)).collect::<Vec<_>>()));
            let new_q = (live.counters.quarantined - quarantine_seen).min(live.quarantine.len() as u64) as usize;
            quarantine_seen = live.counters.quarantined;
            let quarantined: Vec<Quarantined> = live.quarantine.iter().rev().take(new_q.min(KEEP)).rev().cloned().collect();
            let update = LiveUpdate {
                state: source_state,
                counters: live.counters.clone(),
                as_of_ms: live.as_of_ms,
                last_event_ms: live.counters.last_event_ms,
                tables,
                dataset: None,
                ticker,
                alerts,
                quarantined,
                resumed: resumed.take(),
            };
            first = false;
            if tx.send(update).is_err() {
                break;
            }
            // A snapshot when the UI is done with the last one, at most every SNAPSHOT_EVERY,
            // sent after the figures so that copying a million incidents never delays them.
            if snapshot_due && last_snapshot.elapsed() >= SNAPSHOT_EVERY && want.swap(false, Ordering::AcqRel) {
                last_snapshot = Instant::now();
                snapshot_due = false;
                let update = LiveUpdate {
                    state: None,
                    counters: live.counters.clone(),
                    as_of_ms: live.as_of_ms,
                    last_event_ms: live.counters.last_event_ms,
                    tables: None,
                    dataset: Some(Arc::new(live.ds.clone())),
                    ticker: Vec::new(),
                    alerts: Vec::new(),
                    quarantined: Vec::new(),
                    resumed: None,
                };
                if tx.send(update).is_err() {
                    break;
                }
            }
            ctx.request_repaint();
            if saved.1 != live.counters.events && saved.0.elapsed() >= CHECKPOINT_EVERY {
                save(&live, &position);
                saved = (Instant::now(), live.counters.events);
            }
            std::thread::sleep(TICK.saturating_sub(tick.elapsed()));
        }
        feed.stop();
        if saved.1 != live.counters.events {
            save(&live, &position);
        }
    }
}
