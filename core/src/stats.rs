//! The centres' figures for any level, filter and time bucket.
//!
//! Definitions (口径) live in [`IndicatorConfig`], loadable from a JSON file; every published
//! table carries [`IndicatorConfig::describe`]. Formulas (DOMAIN.md):
//!
//! | figure | accepted basis (default, 12345/social governance) | should-close basis (数字城管) |
//! |---|---|---|
//! | 受理数 accepted | reported in the period, not rejected | same |
//! | 办结数 closed | accepted and closed | same |
//! | 应结案数 should close | — | accepted − open incidents still inside their time limit at the as-of time |
//! | 办结率 completion | closed / accepted | closed / should close |
//! | 按期办结率 on time | closed on or before the deadline / accepted with a deadline | closed on time / should close |
//! | 超期数 overdue | open and past the deadline at the as-of time + closed after the deadline | same |
//! | 平均办结时长 | mean(closed − reported) in hours over closed with a closing time not before the report | same |
//! | 满意率 | (满意 + 基本满意) / rated | same |
//! | 密度 density | accepted / km² of the unit | same |
//!
//! A deadline is the incident's own, or reported + the category's time limit from the config.
//! An empty denominator gives `None` ("no data"), never 0 % or 100 %.
//!
//! Selection (the filter) is plain Rust over the incident columns; aggregation adds up each
//! selected incident's [`contribution`] (the definitions row by row, in one place: tables,
//! charts and the live feed's incremental figures all count with it). The tests check it
//! against a polars group-by that states every definition as an expression of its own. Results
//! are plain structs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::model::{Incidents, Level, NO_GRID, Satisfaction};
use crate::pipeline::Dataset;
use crate::status::Status;
use crate::timeparse::{DAY_MS, HOUR_MS, civil_from_days, days_from_civil, format_date, format_ms};

/// What the completion and on-time rates divide by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletionBasis {
    /// closed / accepted (办结率 of 12345 and social-governance centres).
    #[default]
    Accepted,
    /// closed / should-close (结案率 of 数字城管, GB/T 30428.4 practice).
    ShouldClose,
}

/// The indicator definitions (口径). Load from JSON with [`IndicatorConfig::load`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndicatorConfig {
    /// A short name printed with every figure.
    pub name: String,
    pub completion_basis: CompletionBasis,
    /// Time limit in hours per category, for incidents that carry no deadline.
    pub deadline_hours: BTreeMap<String, f64>,
    /// Time limit in hours for categories not listed; none leaves such incidents without one.
    pub default_deadline_hours: Option<f64>,
    /// Rates below this (percent) are highlighted in tables.
    pub highlight_below_pct: f64,
}

impl Default for IndicatorConfig {
    fn default() -> Self {
        Self {
            name: "受理口径 (closed / accepted)".into(),
            completion_basis: CompletionBasis::Accepted,
            deadline_hours: BTreeMap::new(),
            default_deadline_hours: None,
            highlight_below_pct: 90.0,
        }
    }
}

impl IndicatorConfig {
    /// The should-close (应结案数) variant of 数字城管.
    pub fn should_close() -> Self {
        Self {
            name: "应结案口径 (closed / should close)".into(),
            completion_basis: CompletionBasis::ShouldClose,
            ..Self::default()
        }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| CoreError::Invalid(format!("{}: indicator definitions: {e}", path.display())))
    }

    /// One line saying which definitions produced a figure.
    pub fn describe(&self) -> String {
        let basis = match self.completion_basis {
            CompletionBasis::Accepted => "办结率 = 办结数/受理数; 按期办结率 = 按期办结数/有时限受理数",
            CompletionBasis::ShouldClose => {
                "结案率 = 结案数/应结案数; 按期结案率 = 按期结案数/应结案数 (应结案数 = 受理数 − 时限内未结)"
            }
        };
        let limits = if self.deadline_hours.is_empty() && self.default_deadline_hours.is_none() {
            "时限: 仅用数据自带".to_string()
        } else {
            let mut parts: Vec<String> = self.deadline_hours.iter().map(|(k, v)| format!("{k} {v}h")).collect();
            if let Some(d) = self.default_deadline_hours {
                parts.push(format!("其他 {d}h"));
            }
            format!("时限: {}", parts.join(", "))
        };
        format!("{}: {basis}; 满意率 = (满意+基本满意)/已评价; {limits}", self.name)
    }

    /// The time limit of each category of `inc` (index = category id), as [`Self::deadline_of`] uses it.
    pub fn category_limits(&self, inc: &crate::model::Incidents) -> Vec<Option<i64>> {
        inc.categories.names.iter().map(|c| self.limit_ms(c)).collect()
    }

    /// The deadline of incident `i`: its own, else reported time + its category's limit.
    pub fn deadline_of(inc: &crate::model::Incidents, i: usize, limits: &[Option<i64>]) -> Option<i64> {
        inc.deadline_ms[i].or_else(|| limits.get(inc.category[i] as usize).copied().flatten().map(|l| inc.reported_ms[i] + l))
    }

    /// Open (accepted, not closed) and past its deadline at `as_of_ms`: the 超期未结 cases the
    /// map makes stand out. Agrees with `Counts::overdue_open`.
    pub fn is_overdue_open(inc: &crate::model::Incidents, i: usize, limits: &[Option<i64>], as_of_ms: i64) -> bool {
        inc.status[i].is_open() && Self::deadline_of(inc, i, limits).is_some_and(|d| d < as_of_ms)
    }

    fn limit_ms(&self, category: &str) -> Option<i64> {
        self.deadline_hours.get(category).copied().or(self.default_deadline_hours).map(|h| (h * HOUR_MS as f64).round() as i64)
    }
}

/// One filter for the whole app: every table, chart and map layer follows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// Category names; empty means all.
    pub categories: Vec<String>,
    pub sources: Vec<String>,
    pub statuses: Vec<Status>,
    /// Reported at or after (local ms).
    pub from_ms: Option<i64>,
    /// Reported before (local ms, exclusive).
    pub to_ms: Option<i64>,
    /// Only incidents inside this unit.
    pub unit: Option<(Level, u32)>,
}

impl Filter {
    /// The incidents that pass, by index. Unknown category or source names are an error that
    /// lists the known ones (a typo must not give an empty table silently).
    pub fn select(&self, ds: &Dataset) -> Result<Vec<u32>> {
        let inc = &ds.incidents;
        let lookup = |names: &[String], dict: &crate::model::Dict, what: &str| -> Result<Option<Vec<bool>>> {
            if names.is_empty() {
                return Ok(None);
            }
            let mut mask = vec![false; dict.len()];
            for n in names {
                match dict.get(n) {
                    Some(i) => mask[i as usize] = true,
                    None if ds.incidents.is_empty() => {}
                    None => {
                        let mut known: Vec<&str> = dict.names.iter().map(String::as_str).collect();
                        known.sort_unstable();
                        return Err(CoreError::Invalid(format!(
                            "{what} '{n}' does not occur in the data; known: {}",
                            known.join(", ")
                        )));
                    }
                }
            }
            Ok(Some(mask))
        };
        let cats = lookup(&self.categories, &inc.categories, "category")?;
        let srcs = lookup(&self.sources, &inc.sources, "source")?;
        let mut st_mask = [self.statuses.is_empty(); 7];
        for s in &self.statuses {
            st_mask[*s as usize] = true;
        }
        let unit_map = self.unit.map(|(level, u)| (&ds.layer.grid_unit[level.index()], u));
        let (from, to) = (self.from_ms.unwrap_or(i64::MIN), self.to_ms.unwrap_or(i64::MAX));
        Ok((0..inc.len())
            .filter(|&i| {
                let t = inc.reported_ms[i];
                t >= from
                    && t < to
                    && st_mask[inc.status[i] as usize]
                    && cats.as_ref().is_none_or(|m| m[inc.category[i] as usize])
                    && srcs.as_ref().is_none_or(|m| m[inc.source[i] as usize])
                    && unit_map.is_none_or(|(map, u)| {
                        let g = ds.grid_of[i];
                        g != NO_GRID && map[g as usize] == u
                    })
            })
            .map(|i| i as u32)
            .collect())
    }

    /// A one-line description for titles of exports.
    pub fn describe(&self, ds: &Dataset) -> String {
        let mut parts = Vec::new();
        match (self.from_ms, self.to_ms) {
            (Some(f), Some(t)) => parts.push(format!("{} 至 {}", format_date(f), format_date(t - 1))),
            (Some(f), None) => parts.push(format!("{} 起", format_date(f))),
            (None, Some(t)) => parts.push(format!("至 {}", format_date(t - 1))),
            (None, None) => parts.push("全部时间".into()),
        }
        if !self.categories.is_empty() {
            parts.push(self.categories.join("、"));
        }
        if !self.sources.is_empty() {
            parts.push(format!("来源: {}", self.sources.join("、")));
        }
        if !self.statuses.is_empty() {
            parts.push(format!("状态: {}", self.statuses.iter().map(|s| s.zh()).collect::<Vec<_>>().join("、")));
        }
        if let Some((level, u)) = self.unit
            && let Some(unit) = ds.layer.units(level).get(u as usize)
        {
            parts.push(format!("{} {}", level.zh(), unit.name));
        }
        parts.join("；")
    }
}

/// The counts behind the figures of one unit, bucket or category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    /// All selected incidents, rejected ones included.
    pub incidents: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub closed: u64,
    pub closed_on_time: u64,
    /// Accepted with a deadline.
    pub with_deadline: u64,
    /// Accepted, open, and inside the time limit (or without one) at the as-of time.
    pub open_within_limit: u64,
    pub overdue_open: u64,
    pub overdue_closed: u64,
    /// Closed with a usable closing time (the mean handling time's denominator).
    pub handled: u64,
    pub handling_hours_sum: f64,
    pub rated: u64,
    /// 满意 + 基本满意.
    pub satisfied: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.incidents += o.incidents;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.closed += o.closed;
        self.closed_on_time += o.closed_on_time;
        self.with_deadline += o.with_deadline;
        self.open_within_limit += o.open_within_limit;
        self.overdue_open += o.overdue_open;
        self.overdue_closed += o.overdue_closed;
        self.handled += o.handled;
        self.handling_hours_sum += o.handling_hours_sum;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
    }
    pub fn open(&self) -> u64 {
        self.accepted - self.closed
    }
    pub fn should_close(&self) -> u64 {
        self.accepted - self.open_within_limit
    }
    pub fn overdue(&self) -> u64 {
        self.overdue_open + self.overdue_closed
    }
}

/// The figures of one unit, with their counts. Rates are fractions (0.974), `None` = no data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Figures {
    pub completion_rate: Option<f64>,
    pub on_time_rate: Option<f64>,
    pub mean_handling_hours: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    pub density_per_km2: Option<f64>,
    /// Accepted per 1,000 households, where the unit's households are known.
    pub per_1000_households: Option<f64>,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

impl Figures {
    pub fn compute(c: &Counts, cfg: &IndicatorConfig, area_km2: Option<f64>) -> Figures {
        Self::compute_with_households(c, cfg, area_km2, None)
    }

    pub fn compute_with_households(c: &Counts, cfg: &IndicatorConfig, area_km2: Option<f64>, households: Option<u64>) -> Figures {
        let (completion, on_time) = match cfg.completion_basis {
            CompletionBasis::Accepted => (ratio(c.closed, c.accepted), ratio(c.closed_on_time, c.with_deadline)),
            CompletionBasis::ShouldClose => (ratio(c.closed, c.should_close()), ratio(c.closed_on_time, c.should_close())),
        };
        Figures {
            completion_rate: completion,
            on_time_rate: on_time,
            mean_handling_hours: (c.handled > 0).then(|| c.handling_hours_sum / c.handled as f64),
            satisfaction_rate: ratio(c.satisfied, c.rated),
            density_per_km2: area_km2.filter(|a| *a > 0.0).map(|a| c.accepted as f64 / a),
            per_1000_households: households.filter(|h| *h > 0).map(|h| c.accepted as f64 * 1000.0 / h as f64),
        }
    }
}

/// One row of a statistics table.
#[derive(Debug, Clone, Serialize)]
pub struct UnitRow {
    pub level: Level,
    /// Index in `layer.units(level)`; `None` for the unassigned row and the total.
    pub unit: Option<u32>,
    pub code: Arc<str>,
    pub name: Arc<str>,
    pub parent_code: Arc<str>,
    pub parent_name: Arc<str>,
    pub area_km2: Option<f64>,
    pub households: Option<u64>,
    pub counts: Counts,
    pub figures: Figures,
}

/// A statistics table for one level.
#[derive(Debug, Clone, Serialize)]
pub struct StatsTable {
    pub level: Level,
    pub definition: String,
    pub filter: String,
    pub as_of: String,
    /// One row per unit of the level, in hierarchy order (incidents or not).
    pub rows: Vec<UnitRow>,
    /// Incidents in no grid (no location, or outside every grid).
    pub unassigned: UnitRow,
    /// Everything selected, unassigned included.
    pub total: UnitRow,
}

/// One incident's part of its unit's counts at an as-of time, with its handling time in whole
/// milliseconds: the definitions (口径) row by row. Every table, chart and the live feed's
/// incremental figures add these up, so they all count alike.
pub fn contribution(inc: &Incidents, i: usize, limits: &[Option<i64>], as_of_ms: i64) -> (Counts, i64) {
    let st = inc.status[i];
    let rejected = st == Status::Rejected;
    let accepted = !rejected;
    let closed = st == Status::Closed;
    let open = accepted && !closed;
    let deadline = IndicatorConfig::deadline_of(inc, i, limits);
    let closed_at = inc.closed_ms[i];
    let b = |x: bool| x as u64;
    let on_time = closed && matches!((closed_at, deadline), (Some(c), Some(d)) if c <= d);
    let overdue_closed = closed && matches!((closed_at, deadline), (Some(c), Some(d)) if c > d);
    let overdue_open = open && deadline.is_some_and(|d| d < as_of_ms);
    let within_limit = open && deadline.is_none_or(|d| d >= as_of_ms);
    let handled_ms = match closed_at {
        Some(c) if closed && c >= inc.reported_ms[i] => Some(c - inc.reported_ms[i]),
        _ => None,
    };
    let sat = inc.satisfaction[i];
    let c = Counts {
        incidents: 1,
        accepted: b(accepted),
        rejected: b(rejected),
        closed: b(closed),
        closed_on_time: b(on_time),
        with_deadline: b(accepted && deadline.is_some()),
        open_within_limit: b(within_limit),
        overdue_open: b(overdue_open),
        overdue_closed: b(overdue_closed),
        handled: b(handled_ms.is_some()),
        handling_hours_sum: 0.0,
        rated: b(sat != Satisfaction::Unrated),
        satisfied: b(matches!(sat, Satisfaction::Satisfied | Satisfaction::Basic)),
    };
    (c, handled_ms.unwrap_or(0))
}

/// Counts per key being added up: small keys in a dense table, others in a map; handling time
/// in whole milliseconds (summed exactly, turned into hours once per key).
#[derive(Default)]
struct Sums {
    dense: Vec<(Counts, i64)>,
    other: BTreeMap<u32, (Counts, i64)>,
}

/// Keys below this are counted in a dense table (units, time buckets, categories).
const DENSE_KEYS: u32 = 1 << 16;

impl Sums {
    fn slot(&mut self, key: u32) -> &mut (Counts, i64) {
        if key < DENSE_KEYS {
            let k = key as usize;
            if k >= self.dense.len() {
                self.dense.resize(k + 1, (Counts::default(), 0));
            }
            &mut self.dense[k]
        } else {
            self.other.entry(key).or_default()
        }
    }

    fn add(&mut self, key: u32, c: &Counts, ms: i64) {
        let (into, sum) = self.slot(key);
        into.add(c);
        *sum += ms;
    }

    fn merge(mut self, other: Sums) -> Sums {
        for (k, (c, ms)) in other.dense.into_iter().enumerate() {
            if c.incidents > 0 {
                self.add(k as u32, &c, ms);
            }
        }
        for (k, (c, ms)) in other.other {
            self.add(k, &c, ms);
        }
        self
    }

    fn into_map(self) -> BTreeMap<u32, Counts> {
        let finish = |(mut c, ms): (Counts, i64)| {
            c.handling_hours_sum = hours_of_ms(ms);
            c
        };
        let mut map: BTreeMap<u32, Counts> = self
            .dense
            .into_iter()
            .enumerate()
            .filter(|(_, (c, _))| c.incidents > 0)
            .map(|(k, v)| (k as u32, finish(v)))
            .collect();
        map.extend(self.other.into_iter().map(|(k, v)| (k, finish(v))));
        map
    }
}

/// Hours from a sum of whole milliseconds (one division, so every path agrees exactly).
pub fn hours_of_ms(ms: i64) -> f64 {
    ms as f64 / HOUR_MS as f64
}

/// Counts per key over the selection: the one aggregation every table and chart uses (keys
/// with no incident are absent). A fold of [`contribution`]s on all cores: a million incidents
/// take a few milliseconds, where a polars group-by over the same rows (the tests' reference)
/// first copies them into a frame and evaluates every definition as a column of its own.
pub fn counts_by(
    ds: &Dataset,
    sel: &[u32],
    key: impl Fn(usize) -> u32 + Sync,
    cfg: &IndicatorConfig,
    as_of_ms: i64,
) -> Result<BTreeMap<u32, Counts>> {
    let _span = tracing::debug_span!("aggregate", rows = sel.len()).entered();
    let inc = &ds.incidents;
    let limits = cfg.category_limits(inc);
    let fold = |mut sums: Sums, &i: &u32| {
        let i = i as usize;
        let (c, ms) = contribution(inc, i, &limits, as_of_ms);
        sums.add(key(i), &c, ms);
        sums
    };
    let sums = if sel.len() < crate::PARALLEL_MIN {
        sel.iter().fold(Sums::default(), fold)
    } else {
        sel.par_iter().with_min_len(1 << 16).fold(Sums::default, fold).reduce(Sums::default, Sums::merge)
    };
    Ok(sums.into_map())
}

/// The table for `level`: one row per unit, plus the unassigned row and the total.
pub fn unit_table(ds: &Dataset, level: Level, filter: &Filter, cfg: &IndicatorConfig, as_of_ms: i64) -> Result<StatsTable> {
    let _span = tracing::info_span!("unit_table", level = %level).entered();
    let sel = filter.select(ds)?;
    let map = &ds.layer.grid_unit[level.index()];
    let counts = counts_by(
        ds,
        &sel,
        |i| {
            let g = ds.grid_of[i];
            if g == NO_GRID { NO_GRID } else { map[g as usize] }
        },
        cfg,
        as_of_ms,
    )?;
    let units = ds.layer.units(level);
    let parent_units = level.parent().map(|p| ds.layer.units(p));
    let mut rows = Vec::with_capacity(units.len());
    for (i, u) in units.iter().enumerate() {
        // With a unit filter, only the units inside it.
        if let Some((flevel, fu)) = filter.unit
            && flevel >= level
            && !ds.layer.ancestors(level, i as u32).iter().any(|&(l, x)| l == flevel && x == fu)
        {
            continue;
        }
        let c = counts.get(&(i as u32)).copied().unwrap_or_default();
        rows.push(unit_row(level, i, u, parent_units, c, cfg));
    }
    let un = counts.get(&NO_GRID).copied().unwrap_or_default();
    Ok(assemble(ds, level, rows, un, filter, cfg, &format_ms(as_of_ms)))
}

/// The row of unit `i` of a level, from its counts.
pub(crate) fn unit_row(
    level: Level,
    i: usize,
    u: &crate::model::Unit,
    parent_units: Option<&[crate::model::Unit]>,
    c: Counts,
    cfg: &IndicatorConfig,
) -> UnitRow {
    let parent = u.parent.and_then(|p| parent_units.and_then(|pu| pu.get(p as usize)));
    UnitRow {
        level,
        unit: Some(i as u32),
        code: u.code.clone(),
        name: u.name.clone(),
        parent_code: parent.map(|p| p.code.clone()).unwrap_or_default(),
        parent_name: parent.map(|p| p.name.clone()).unwrap_or_default(),
        area_km2: Some(u.area_km2),
        households: u.households,
        figures: Figures::compute_with_households(&c, cfg, Some(u.area_km2), u.households),
        counts: c,
    }
}

/// A table from its unit rows and the unassigned counts: the unassigned row and the total
/// (units in order, then unassigned), as every table of a level is put together.
pub(crate) fn assemble(
    ds: &Dataset,
    level: Level,
    rows: Vec<UnitRow>,
    unassigned: Counts,
    filter: &Filter,
    cfg: &IndicatorConfig,
    as_of: &str,
) -> StatsTable {
    let mut total = Counts::default();
    for r in &rows {
        total.add(&r.counts);
    }
    total.add(&unassigned);
    let area: f64 = rows.iter().filter_map(|r| r.area_km2).sum();
    let special = |code: &str, name: &str, c: Counts, area: Option<f64>| UnitRow {
        level,
        unit: None,
        code: code.into(),
        name: name.into(),
        parent_code: "".into(),
        parent_name: "".into(),
        area_km2: area,
        households: None,
        figures: Figures::compute(&c, cfg, area),
        counts: c,
    };
    StatsTable {
        level,
        definition: cfg.describe(),
        filter: filter.describe(ds),
        as_of: as_of.to_string(),
        rows,
        unassigned: special("unassigned", "未落入网格", unassigned, None),
        total: special("total", "合计", total, None).with_area(area),
    }
}

impl UnitRow {
    fn with_area(mut self, area: f64) -> UnitRow {
        self.area_km2 = Some(area);
        self.figures.density_per_km2 = (area > 0.0).then(|| self.counts.accepted as f64 / area);
        self
    }
}

/// Time buckets for trends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    #[default]
    Day,
    /// ISO weeks, starting on Monday.
    Week,
    Month,
}

impl std::str::FromStr for Bucket {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "day" | "日" => Ok(Bucket::Day),
            "week" | "周" => Ok(Bucket::Week),
            "month" | "月" => Ok(Bucket::Month),
            o => Err(format!("unknown bucket '{o}' (day, week or month)")),
        }
    }
}

impl Bucket {
    /// The start (local ms) of the bucket holding `ms`.
    pub fn start(self, ms: i64) -> i64 {
        let day = ms.div_euclid(DAY_MS);
        match self {
            Bucket::Day => day * DAY_MS,
            // 1970-01-01 was a Thursday: day + 3 counts from a Monday.
            Bucket::Week => (day - (day + 3).rem_euclid(7)) * DAY_MS,
            Bucket::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1) * DAY_MS
            }
        }
    }
    /// The start of the next bucket.
    pub fn next(self, start: i64) -> i64 {
        match self {
            Bucket::Day => start + DAY_MS,
            Bucket::Week => start + 7 * DAY_MS,
            Bucket::Month => {
                let (y, m, _) = civil_from_days(start.div_euclid(DAY_MS));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * DAY_MS
            }
        }
    }
    pub fn label(self, start: i64) -> String {
        let d = format_date(start);
        match self {
            Bucket::Month => d[..7].to_string(),
            _ => d,
        }
    }
}

/// The most buckets a trend returns.
pub const MAX_BUCKETS: usize = 5000;

/// One bucket of a trend.
#[derive(Debug, Clone, Serialize)]
pub struct BucketRow {
    pub start_ms: i64,
    pub label: String,
    pub counts: Counts,
    pub figures: Figures,
}

/// Accepted, closed and rates per time bucket over the filter, with empty buckets filled in.
pub fn trend(ds: &Dataset, filter: &Filter, bucket: Bucket, cfg: &IndicatorConfig, as_of_ms: i64) -> Result<Vec<BucketRow>> {
    let sel = filter.select(ds)?;
    let inc = &ds.incidents;
    let Some((lo, hi)) = sel
        .iter()
        .map(|&i| inc.reported_ms[i as usize])
        .fold(None, |acc: Option<(i64, i64)>, t| Some(acc.map_or((t, t), |(a, b)| (a.min(t), b.max(t)))))
    else {
        return Ok(Vec::new());
    };
    // The buckets span the filter's time range when it has one (so quiet days show as zero),
    // otherwise the selected incidents' range; at most MAX_BUCKETS.
    let end = filter.to_ms.map_or(hi, |t| t - 1);
    let mut starts = vec![bucket.start(filter.from_ms.unwrap_or(lo))];
    while let Some(&last) = starts.last() {
        let next = bucket.next(last);
        if next > end || starts.len() >= MAX_BUCKETS {
            break;
        }
        starts.push(next);
    }
    let counts = counts_by(
        ds,
        &sel,
        |i| {
            let s = bucket.start(inc.reported_ms[i]);
            starts.partition_point(|&x| x < s) as u32
        },
        cfg,
        as_of_ms,
    )?;
    Ok(starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let c = counts.get(&(k as u32)).copied().unwrap_or_default();
            BucketRow { start_ms: s, label: bucket.label(s), figures: Figures::compute(&c, cfg, None), counts: c }
        })
        .collect())
}

/// One category's figures.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryRow {
    pub category: String,
    pub counts: Counts,
    pub figures: Figures,
}

/// Figures per category over the filter, largest first (ties by name).
pub fn by_category(ds: &Dataset, filter: &Filter, cfg: &IndicatorConfig, as_of_ms: i64) -> Result<Vec<CategoryRow>> {
    let sel = filter.select(ds)?;
    let inc = &ds.incidents;
    let counts = counts_by(ds, &sel, |i| inc.category[i], cfg, as_of_ms)?;
    let mut rows: Vec<CategoryRow> = counts
        .into_iter()
        .map(|(k, c)| CategoryRow {
            category: inc.categories.name(k).to_string(),
            figures: Figures::compute(&c, cfg, None),
            counts: c,
        })
        .collect();
    rows.sort_by(|a, b| b.counts.incidents.cmp(&a.counts.incidents).then_with(|| a.category.cmp(&b.category)));
    Ok(rows)
}

/// The time ranges analysts pick from, relative to the as-of time ("today" is the as-of day:
/// the data's latest day for a static file, the clock for a live feed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimePreset {
    #[default]
    All,
    Today,
    Last7Days,
    Last30Days,
    ThisMonth,
    ThisYear,
    /// Explicit bounds (local ms; `to` exclusive), kept in [`Filter`].
    Custom,
}

impl TimePreset {
    pub const ALL: [TimePreset; 7] = [
        TimePreset::All,
        TimePreset::Today,
        TimePreset::Last7Days,
        TimePreset::Last30Days,
        TimePreset::ThisMonth,
        TimePreset::ThisYear,
        TimePreset::Custom,
    ];

    pub fn zh(self) -> &'static str {
        match self {
            TimePreset::All => "全部",
            TimePreset::Today => "今日",
            TimePreset::Last7Days => "近7天",
            TimePreset::Last30Days => "近30天",
            TimePreset::ThisMonth => "本月",
            TimePreset::ThisYear => "本年",
            TimePreset::Custom => "自定义",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            TimePreset::All => "All time",
            TimePreset::Today => "Today",
            TimePreset::Last7Days => "Last 7 days",
            TimePreset::Last30Days => "Last 30 days",
            TimePreset::ThisMonth => "This month",
            TimePreset::ThisYear => "This year",
            TimePreset::Custom => "Custom",
        }
    }

    /// `[from, to)` for an as-of time; whole local days, so "last 7 days" is today and the six
    /// before it. `None` for [`TimePreset::All`] and [`TimePreset::Custom`].
    pub fn range(self, as_of_ms: i64) -> Option<(i64, i64)> {
        let today = as_of_ms.div_euclid(DAY_MS);
        let end = (today + 1) * DAY_MS;
        let (y, m, _) = civil_from_days(today);
        match self {
            TimePreset::All | TimePreset::Custom => None,
            TimePreset::Today => Some((today * DAY_MS, end)),
            TimePreset::Last7Days => Some(((today - 6) * DAY_MS, end)),
            TimePreset::Last30Days => Some(((today - 29) * DAY_MS, end)),
            TimePreset::ThisMonth => Some((days_from_civil(y, m, 1) * DAY_MS, end)),
            TimePreset::ThisYear => Some((days_from_civil(y, 1, 1) * DAY_MS, end)),
        }
    }
}

/// Runs `f` once on each worker thread of the core's pools: the table engine's (polars') and
/// rayon's global pool (point layers, assignment, the loader's row pass). The dashboard lowers
/// their priority with it, as it does for its own background threads, so that work done in the
/// background never takes the CPU from the UI or the live feed.
pub fn on_worker_threads(f: impl Fn() + Sync) {
    polars_core::runtime::THREAD_POOL.broadcast(|_| f());
    rayon::broadcast(|_| f());
}

#[cfg(test)]
mod preset_tests {
    use super::*;
    use crate::timeparse::local_ms;

    #[test]
    fn presets_are_whole_local_days_ending_with_the_as_of_day() {
        let as_of = local_ms(2025, 3, 10, 15, 30, 0, 0).unwrap_or_default();
        let day = |y, m, d| local_ms(y, m, d, 0, 0, 0, 0).unwrap_or_default();
        assert_eq!(TimePreset::Today.range(as_of), Some((day(2025, 3, 10), day(2025, 3, 11))));
        assert_eq!(TimePreset::Last7Days.range(as_of), Some((day(2025, 3, 4), day(2025, 3, 11))));
        assert_eq!(TimePreset::Last30Days.range(as_of), Some((day(2025, 2, 9), day(2025, 3, 11))));
        assert_eq!(TimePreset::ThisMonth.range(as_of), Some((day(2025, 3, 1), day(2025, 3, 11))));
        assert_eq!(TimePreset::ThisYear.range(as_of), Some((day(2025, 1, 1), day(2025, 3, 11))));
        assert_eq!(TimePreset::All.range(as_of), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    /// Per-row inputs of the reference aggregation, for the selected incidents.
    struct Frame {
        key: Vec<u32>,
        status: Vec<u32>,
        reported: Vec<i64>,
        closed: Vec<Option<i64>>,
        deadline: Vec<Option<i64>>,
        satisfaction: Vec<u32>,
    }

    impl Frame {
        fn new(ds: &Dataset, sel: &[u32], key: impl Fn(usize) -> u32, cfg: &IndicatorConfig) -> Frame {
            let inc = &ds.incidents;
            let limits = cfg.category_limits(inc);
            let n = sel.len();
            let mut f = Frame {
                key: Vec::with_capacity(n),
                status: Vec::with_capacity(n),
                reported: Vec::with_capacity(n),
                closed: Vec::with_capacity(n),
                deadline: Vec::with_capacity(n),
                satisfaction: Vec::with_capacity(n),
            };
            for &i in sel {
                let i = i as usize;
                f.key.push(key(i));
                f.status.push(inc.status[i] as u32);
                f.reported.push(inc.reported_ms[i]);
                f.closed.push(inc.closed_ms[i]);
                f.deadline.push(IndicatorConfig::deadline_of(inc, i, &limits));
                f.satisfaction.push(inc.satisfaction[i] as u32);
            }
            f
        }

        /// Counts per key, via a polars group-by. Keys with no rows are absent.
        fn aggregate(self, as_of_ms: i64) -> PolarsResult<BTreeMap<u32, Counts>> {
            let df = DataFrame::new_infer_height(vec![
                Column::new("key".into(), self.key),
                Column::new("status".into(), self.status),
                Column::new("reported".into(), self.reported),
                Column::new("closed".into(), self.closed),
                Column::new("deadline".into(), self.deadline),
                Column::new("sat".into(), self.satisfaction),
            ])?;
            let rejected = col("status").eq(lit(Status::Rejected as u32));
            let accepted = rejected.clone().not();
            let closed = col("status").eq(lit(Status::Closed as u32));
            let open = accepted.clone().and(closed.clone().not());
            let has_deadline = col("deadline").is_not_null();
            let has_closed = col("closed").is_not_null();
            let on_time =
                closed.clone().and(has_closed.clone()).and(has_deadline.clone()).and(col("closed").lt_eq(col("deadline")));
            let overdue_closed =
                closed.clone().and(has_closed.clone()).and(has_deadline.clone()).and(col("closed").gt(col("deadline")));
            let overdue_open = open.clone().and(has_deadline.clone()).and(col("deadline").lt(lit(as_of_ms)));
            let within_limit = open.clone().and(has_deadline.clone().not().or(col("deadline").gt_eq(lit(as_of_ms))));
            let handled = closed.clone().and(has_closed).and(col("closed").gt_eq(col("reported")));
            let rated = col("sat").neq(lit(Satisfaction::Unrated as u32));
            let satisfied = col("sat").eq(lit(Satisfaction::Satisfied as u32)).or(col("sat").eq(lit(Satisfaction::Basic as u32)));
            let count = |e: Expr, name: &str| e.fill_null(lit(false)).cast(DataType::UInt64).sum().alias(name);
            let out = df
                .lazy()
                .group_by([col("key")])
                .agg([
                    len().cast(DataType::UInt64).alias("incidents"),
                    count(accepted.clone(), "accepted"),
                    count(rejected, "rejected"),
                    count(closed, "closed"),
                    count(on_time, "closed_on_time"),
                    count(accepted.and(has_deadline), "with_deadline"),
                    count(within_limit, "open_within_limit"),
                    count(overdue_open, "overdue_open"),
                    count(overdue_closed, "overdue_closed"),
                    count(handled.clone(), "handled"),
                    // Whole milliseconds, summed exactly, turned into hours once per key: the live
                    // feed's incremental sums give the same figure to the last bit.
                    when(handled).then(col("closed") - col("reported")).otherwise(lit(0i64)).sum().alias("handling_ms"),
                    count(rated, "rated"),
                    count(satisfied, "satisfied"),
                ])
                .collect()?;
            let u = |name: &str| -> PolarsResult<Vec<u64>> {
                Ok(out.column(name)?.as_materialized_series().u64()?.iter().map(|v| v.unwrap_or(0)).collect())
            };
            let keys: Vec<u32> =
                out.column("key")?.as_materialized_series().u32()?.iter().map(|v| v.unwrap_or(NO_GRID)).collect();
            let hours: Vec<f64> = out
                .column("handling_ms")?
                .as_materialized_series()
                .cast(&DataType::Int64)?
                .i64()?
                .iter()
                .map(|v| hours_of_ms(v.unwrap_or(0)))
                .collect();
            let (incidents, acc, rej, clo, ont, wd, owl, oo, oc, han, rat, sat) = (
                u("incidents")?,
                u("accepted")?,
                u("rejected")?,
                u("closed")?,
                u("closed_on_time")?,
                u("with_deadline")?,
                u("open_within_limit")?,
                u("overdue_open")?,
                u("overdue_closed")?,
                u("handled")?,
                u("rated")?,
                u("satisfied")?,
            );
            let mut map = BTreeMap::new();
            for (j, k) in keys.into_iter().enumerate() {
                map.insert(
                    k,
                    Counts {
                        incidents: incidents[j],
                        accepted: acc[j],
                        rejected: rej[j],
                        closed: clo[j],
                        closed_on_time: ont[j],
                        with_deadline: wd[j],
                        open_within_limit: owl[j],
                        overdue_open: oo[j],
                        overdue_closed: oc[j],
                        handled: han[j],
                        handling_hours_sum: hours[j],
                        rated: rat[j],
                        satisfied: sat[j],
                    },
                );
            }
            Ok(map)
        }
    }

    /// The fold of contributions counts as a polars group-by stating each definition as an
    /// expression: on the sample city, per unit of every level, per category and per day, for
    /// as-of times before, inside and after the data, with the filter, both completion bases and
    /// time limits from the configuration.
    #[test]
    fn the_fold_of_contributions_counts_as_a_polars_group_by() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let sources = crate::pipeline::Sources {
            grids: root.join("sample-data/grids.geojson"),
            incidents: Some(root.join("sample-data/incidents.csv")),
            ..Default::default()
        };
        let ds = crate::pipeline::load(&sources, &mut |_| {}).unwrap();
        let latest = ds.latest_time();
        let mut limits = IndicatorConfig::should_close();
        limits.deadline_hours.insert("社会治安".into(), 24.0);
        limits.default_deadline_hours = Some(72.0);
        let filtered = Filter { categories: vec!["城建物业".into(), "民生服务".into()], ..Filter::default() };
        let mut compared = 0;
        for cfg in [IndicatorConfig::default(), limits] {
            for filter in [Filter::default(), filtered.clone()] {
                let sel = filter.select(&ds).unwrap();
                for as_of in [0, latest - 30 * DAY_MS, latest, latest + 400 * DAY_MS] {
                    let inc = &ds.incidents;
                    let keys: Vec<Box<dyn Fn(usize) -> u32 + Sync>> = vec![
                        Box::new(|i| ds.grid_of[i]),
                        Box::new(|i| {
                            let g = ds.grid_of[i];
                            if g == NO_GRID { NO_GRID } else { ds.layer.grid_unit[Level::Street.index()][g as usize] }
                        }),
                        Box::new(|i| inc.category[i]),
                        Box::new(|i| (inc.reported_ms[i].div_euclid(DAY_MS) - 20_000) as u32),
                    ];
                    for key in &keys {
                        let ours = counts_by(&ds, &sel, key, &cfg, as_of).unwrap();
                        let reference = Frame::new(&ds, &sel, key, &cfg).aggregate(as_of).unwrap();
                        assert!(!ours.is_empty());
                        assert_eq!(ours, reference, "as of {as_of}");
                        compared += ours.len();
                    }
                }
            }
        }
        assert!(compared > 5_000, "{compared}");
    }
}
