//! The live table: a dataset that incidents stream into, with the figures kept current
//! incrementally.
//!
//! An event is a whole incident record (new, or a change of an existing id: status, closing
//! time, satisfaction …). Updates replace, so every incident is counted once however often it
//! changes, and replaying a feed from its start changes nothing (the sources rely on it to
//! resume without losing or doubling events).
//!
//! Each incident contributes a [`Counts`] to its grid. Applying an event subtracts the old
//! contribution and adds the new one; moving the as-of time forward moves the open incidents
//! whose deadline it passed from "within the limit" to "overdue" (a deadline heap), and those
//! moves are the overdue alerts. Per-level tables are the grid sums put together by the same
//! assembly as [`stats::unit_table`], so they equal a recomputation from scratch (tested).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use serde::Serialize;

use std::path::Path;

use crate::error::Result;
use crate::feed::Records;
use crate::load::IncidentOptions;
use crate::load::incidents::parse_records;
use crate::model::{Incidents, Level, NO_CODE, NO_GRID, Satisfaction};
use crate::pipeline::Dataset;
use crate::report::LoadReport;
use crate::stats::{self, Counts, Filter, IndicatorConfig, StatsTable, UnitRow, contribution, hours_of_ms};
use crate::status::Status;
use crate::timeparse::format_ms;

fn add(into: &mut Counts, c: &Counts, sign: i64) {
    let f = |a: &mut u64, b: u64| *a = (*a as i64 + sign * b as i64) as u64;
    f(&mut into.incidents, c.incidents);
    f(&mut into.accepted, c.accepted);
    f(&mut into.rejected, c.rejected);
    f(&mut into.closed, c.closed);
    f(&mut into.closed_on_time, c.closed_on_time);
    f(&mut into.with_deadline, c.with_deadline);
    f(&mut into.open_within_limit, c.open_within_limit);
    f(&mut into.overdue_open, c.overdue_open);
    f(&mut into.overdue_closed, c.overdue_closed);
    f(&mut into.handled, c.handled);
    f(&mut into.rated, c.rated);
    f(&mut into.satisfied, c.satisfied);
}

/// An open incident that has just passed its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverdueAlert {
    pub incident: u32,
    pub id: String,
    pub grid: u32,
    pub deadline_ms: i64,
}

/// A rejected event: which one, why.
#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    /// The event's number in its source (line or row).
    pub event: u64,
    pub reason: String,
    pub detail: String,
}

/// What applying a batch did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    /// New incidents (indices into the dataset).
    pub new: Vec<u32>,
    /// Incidents whose record changed.
    pub updated: Vec<u32>,
    /// Events identical to what was there (a replay, an overlap re-read).
    pub unchanged: usize,
    pub quarantined: usize,
}

/// Running totals of a feed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct LiveCounters {
    pub events: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub quarantined: u64,
    /// Latest reported or closed time seen in an event.
    pub last_event_ms: Option<i64>,
}

/// How many quarantined events are kept with their reasons (all are counted).
pub const QUARANTINE_KEEP: usize = 1000;

/// A dataset with its figures kept current as events arrive.
pub struct LiveTable {
    pub ds: Dataset,
    pub config: IndicatorConfig,
    pub as_of_ms: i64,
    by_id: HashMap<String, u32>,
    code_grid: HashMap<String, u32>,
    limits: Vec<Option<i64>>,
    /// Per grid, plus one slot (the last) for incidents in no grid.
    counts: Vec<Counts>,
    handling_ms: Vec<i64>,
    /// Open incidents within their limit, by deadline: (deadline, incident, version).
    deadlines: BinaryHeap<Reverse<(i64, u32, u32)>>,
    version: Vec<u32>,
    /// Incidents the feed added or changed (what a checkpoint keeps).
    touched: Vec<bool>,
    pub counters: LiveCounters,
    /// The latest quarantined events (at most [`QUARANTINE_KEEP`]).
    pub quarantine: std::collections::VecDeque<Quarantined>,
}

impl LiveTable {
    /// Starts from a loaded dataset; figures as of `as_of_ms`.
    pub fn new(ds: Dataset, config: IndicatorConfig, as_of_ms: i64) -> LiveTable {
        let n_grids = ds.layer.grids.len();
        let mut t = LiveTable {
            by_id: ds.incidents.id.iter().enumerate().map(|(i, s)| (s.to_string(), i as u32)).collect(),
            limits: config.category_limits(&ds.incidents),
            code_grid: ds.layer.grids.iter().enumerate().map(|(i, g)| (g.code.clone(), i as u32)).collect(),
            counts: vec![Counts::default(); n_grids + 1],
            handling_ms: vec![0; n_grids + 1],
            deadlines: BinaryHeap::new(),
            version: vec![0; ds.incidents.len()],
            touched: vec![false; ds.incidents.len()],
            counters: LiveCounters::default(),
            quarantine: Default::default(),
            ds,
            config,
            as_of_ms,
        };
        for i in 0..t.ds.incidents.len() {
            t.account(i, 1);
        }
        t
    }

    fn slot(&self, i: usize) -> usize {
        let g = self.ds.grid_of[i];
        if g == NO_GRID { self.counts.len() - 1 } else { g as usize }
    }

    /// Adds (`sign` 1) or removes (-1) incident `i`'s contribution at the current as-of time.
    fn account(&mut self, i: usize, sign: i64) {
        let (c, ms) = contribution(&self.ds.incidents, i, &self.limits, self.as_of_ms);
        let s = self.slot(i);
        add(&mut self.counts[s], &c, sign);
        self.handling_ms[s] += sign * ms;
        if sign > 0
            && c.open_within_limit == 1
            && let Some(d) = IndicatorConfig::deadline_of(&self.ds.incidents, i, &self.limits)
        {
            self.deadlines.push(Reverse((d, i as u32, self.version[i])));
        }
    }

    /// Reads records from a source (see [`crate::feed`]): parses them as a file's rows are
    /// parsed (same columns, statuses, times, coordinate system) and applies them; lines that
    /// are no record and rows that do not parse are quarantined with their reasons.
    pub fn ingest(&mut self, recs: &Records, opts: &IncidentOptions, label: &Path) -> Result<Applied> {
        let mut opts = opts.clone();
        opts.keep_duplicate_ids = true;
        let mut applied = if recs.rows.is_empty() {
            Applied::default()
        } else {
            let (batch, report) = parse_records(label, &recs.header, &recs.rows, &opts)?;
            self.apply(&batch, &report, &recs.events)
        };
        for (event, reason, line) in &recs.bad {
            self.push_quarantine(Quarantined { event: *event, reason: reason.clone(), detail: line.chars().take(200).collect() });
        }
        applied.quarantined += recs.bad.len();
        self.counters.quarantined += recs.bad.len() as u64;
        self.counters.events += recs.bad.len() as u64;
        Ok(applied)
    }

    /// Applies a parsed batch (from [`crate::load::incidents::parse_records`], duplicates kept,
    /// in event order) and its report: rejected rows are quarantined with their reasons (every
    /// one counted, the first few of each reason kept). `events` numbers the batch's rows
    /// (row `i` of the batch's table is reported as row `i + 2`); empty numbers them from 1.
    pub fn apply(&mut self, batch: &Incidents, report: &LoadReport, events: &[u64]) -> Applied {
        let mut out = Applied::default();
        for (reason, tally) in &report.rejections {
            out.quarantined += tally.count;
            for (row, detail) in &tally.examples {
                let i = row.saturating_sub(2);
                self.push_quarantine(Quarantined {
                    event: events.get(i).copied().unwrap_or(i as u64 + 1),
                    reason: reason.clone(),
                    detail: detail.clone(),
                });
            }
        }
        self.counters.quarantined += out.quarantined as u64;
        self.counters.events += (batch.len() + out.quarantined) as u64;
        for j in 0..batch.len() {
            let rec = Record::of(batch, j);
            let last = rec.closed_ms.map_or(rec.reported_ms, |c| c.max(rec.reported_ms));
            self.counters.last_event_ms = Some(self.counters.last_event_ms.map_or(last, |x| x.max(last)));
            match self.by_id.get(rec.id).copied() {
                Some(i) => {
                    let i = i as usize;
                    if rec.same_as(&self.ds.incidents, i) {
                        out.unchanged += 1;
                        continue;
                    }
                    self.account(i, -1);
                    self.version[i] += 1;
                    rec.write(&mut self.ds.incidents, Some(i));
                    self.ds.grid_of[i] = self.locate(i);
                    self.refresh_limits();
                    self.account(i, 1);
                    self.touched[i] = true;
                    out.updated.push(i as u32);
                }
                None => {
                    let i = rec.write(&mut self.ds.incidents, None);
                    self.by_id.insert(rec.id.to_string(), i as u32);
                    self.version.push(0);
                    self.touched.push(true);
                    let g = self.locate(i);
                    self.ds.grid_of.push(g);
                    self.refresh_limits();
                    self.account(i, 1);
                    out.new.push(i as u32);
                }
            }
        }
        self.counters.new += out.new.len() as u64;
        self.counters.updated += out.updated.len() as u64;
        self.counters.unchanged += out.unchanged as u64;
        out
    }

    /// The incidents the feed added or changed, in index order.
    pub fn touched(&self) -> impl Iterator<Item = usize> + '_ {
        self.touched.iter().enumerate().filter(|(_, t)| **t).map(|(i, _)| i)
    }

    /// Puts back what a checkpoint kept: its records are applied (as they stood when it was
    /// saved) and the running totals are the checkpoint's.
    pub fn restore(&mut self, ck: &crate::checkpoint::Checkpoint, opts: &IncidentOptions) -> Result<()> {
        self.ingest(&ck.records, opts, Path::new("checkpoint"))?;
        self.counters = ck.meta.counters.clone();
        self.quarantine.clear();
        Ok(())
    }

    fn push_quarantine(&mut self, q: Quarantined) {
        if self.quarantine.len() >= QUARANTINE_KEEP {
            self.quarantine.pop_front();
        }
        self.quarantine.push_back(q);
    }

    /// A new category gets its time limit.
    fn refresh_limits(&mut self) {
        if self.limits.len() != self.ds.incidents.categories.len() {
            self.limits = self.config.category_limits(&self.ds.incidents);
        }
    }

    /// The grid of incident `i`: by location, else by the grid code it carries (as
    /// [`crate::spatial::assign`] decides).
    fn locate(&self, i: usize) -> u32 {
        let inc = &self.ds.incidents;
        if let Some(h) = self.ds.index.locate(inc.lon[i], inc.lat[i]) {
            return h.grid;
        }
        if inc.has_location(i) {
            return NO_GRID;
        }
        let code = inc.grid_code[i];
        if code == NO_CODE {
            return NO_GRID;
        }
        self.code_grid.get(inc.grid_codes.name(code)).copied().unwrap_or(NO_GRID)
    }

    /// Moves the as-of time forward (never back): open incidents whose deadline it passes become
    /// overdue. Returns them, oldest deadline first.
    pub fn advance(&mut self, now_ms: i64) -> Vec<OverdueAlert> {
        let mut alerts = Vec::new();
        if now_ms <= self.as_of_ms {
            return alerts;
        }
        while let Some(Reverse((d, i, v))) = self.deadlines.peek().copied() {
            if d >= now_ms {
                break;
            }
            self.deadlines.pop();
            let iu = i as usize;
            if self.version[iu] != v || !self.ds.incidents.status[iu].is_open() {
                continue; // changed since: its current record is accounted for separately
            }
            let s = self.slot(iu);
            self.counts[s].open_within_limit -= 1;
            self.counts[s].overdue_open += 1;
            alerts.push(OverdueAlert {
                incident: i,
                id: self.ds.incidents.id[iu].to_string(),
                grid: self.ds.grid_of[iu],
                deadline_ms: d,
            });
        }
        self.as_of_ms = now_ms;
        alerts
    }

    /// The table of a level (all incidents, no filter), from the kept counts.
    pub fn table(&self, level: Level) -> StatsTable {
        let ds = &self.ds;
        let map = &ds.layer.grid_unit[level.index()];
        let units = ds.layer.units(level);
        let mut sums = vec![(Counts::default(), 0i64); units.len()];
        for ((&u, c), ms) in map.iter().zip(&self.counts).zip(&self.handling_ms) {
            if let Some(s) = sums.get_mut(u as usize) {
                s.0.add(c);
                s.1 += ms;
            }
        }
        let with_hours = |(mut c, ms): (Counts, i64)| {
            c.handling_hours_sum = hours_of_ms(ms);
            c
        };
        let parent_units = level.parent().map(|p| ds.layer.units(p));
        let rows: Vec<UnitRow> = units
            .iter()
            .enumerate()
            .map(|(i, u)| stats::unit_row(level, i, u, parent_units, with_hours(sums[i]), &self.config))
            .collect();
        let last = self.counts.len() - 1;
        let unassigned = with_hours((self.counts[last], self.handling_ms[last]));
        stats::assemble(ds, level, rows, unassigned, &Filter::default(), &self.config, &format_ms(self.as_of_ms))
    }

    /// Incidents by id (the sources use it to tell new from changed).
    pub fn index_of(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }
}

/// One record of a batch, borrowed.
struct Record<'a> {
    id: &'a str,
    category: &'a str,
    source: &'a str,
    department: &'a str,
    grid_code: Option<&'a str>,
    status: Status,
    reported_ms: i64,
    closed_ms: Option<i64>,
    deadline_ms: Option<i64>,
    satisfaction: Satisfaction,
    lon: f64,
    lat: f64,
    source_row: u32,
}

impl<'a> Record<'a> {
    fn of(b: &'a Incidents, j: usize) -> Record<'a> {
        Record {
            id: &b.id[j],
            category: b.categories.name(b.category[j]),
            source: b.sources.name(b.source[j]),
            department: b.departments.name(b.department[j]),
            grid_code: b.declared_grid_code(j),
            status: b.status[j],
            reported_ms: b.reported_ms[j],
            closed_ms: b.closed_ms[j],
            deadline_ms: b.deadline_ms[j],
            satisfaction: b.satisfaction[j],
            lon: b.lon[j],
            lat: b.lat[j],
            source_row: b.source_row[j],
        }
    }

    fn same_as(&self, inc: &Incidents, i: usize) -> bool {
        let same_f = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        inc.status[i] == self.status
            && inc.reported_ms[i] == self.reported_ms
            && inc.closed_ms[i] == self.closed_ms
            && inc.deadline_ms[i] == self.deadline_ms
            && inc.satisfaction[i] == self.satisfaction
            && same_f(inc.lon[i], self.lon)
            && same_f(inc.lat[i], self.lat)
            && inc.categories.name(inc.category[i]) == self.category
            && inc.sources.name(inc.source[i]) == self.source
            && inc.departments.name(inc.department[i]) == self.department
            && inc.declared_grid_code(i) == self.grid_code
    }

    /// Writes the record at `at`, or appends it; returns its index.
    fn write(&self, inc: &mut Incidents, at: Option<usize>) -> usize {
        let category = inc.categories.intern(self.category);
        let source = inc.sources.intern(self.source);
        let department = inc.departments.intern(self.department);
        let code = self.grid_code.map_or(NO_CODE, |c| inc.grid_codes.intern(c));
        match at {
            Some(i) => {
                inc.category[i] = category;
                inc.source[i] = source;
                inc.department[i] = department;
                inc.grid_code[i] = code;
                inc.status[i] = self.status;
                inc.reported_ms[i] = self.reported_ms;
                inc.closed_ms[i] = self.closed_ms;
                inc.deadline_ms[i] = self.deadline_ms;
                inc.satisfaction[i] = self.satisfaction;
                inc.lon[i] = self.lon;
                inc.lat[i] = self.lat;
                inc.source_row[i] = self.source_row;
                i
            }
            None => {
                inc.id.push(self.id);
                inc.category.push(category);
                inc.source.push(source);
                inc.department.push(department);
                inc.grid_code.push(code);
                inc.status.push(self.status);
                inc.reported_ms.push(self.reported_ms);
                inc.closed_ms.push(self.closed_ms);
                inc.deadline_ms.push(self.deadline_ms);
                inc.satisfaction.push(self.satisfaction);
                inc.lon.push(self.lon);
                inc.lat.push(self.lat);
                inc.source_row.push(self.source_row);
                inc.len() - 1
            }
        }
    }
}
