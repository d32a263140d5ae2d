//! The analysts' and leaders' view of the figures: the measures a table is sorted and ranked by,
//! drill-down (a level's table inside one unit), and ranking.
//!
//! Drill-down cuts the full table of a level to the units inside a scope and re-totals it with
//! the same assembly [`stats::unit_table`] uses, so `drill(full, scope)` equals
//! `unit_table` with `filter.unit = scope` (tested), which is what `gridcentre stats --within`
//! prints.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::model::Level;
use crate::pipeline::Dataset;
use crate::stats::{self, Counts, Filter, IndicatorConfig, StatsTable, UnitRow};

/// A figure a table can be sorted by, a ranking ranks by, or the map is coloured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Incidents,
    Accepted,
    Closed,
    CompletionRate,
    ClosedOnTime,
    OnTimeRate,
    Overdue,
    OverdueOpen,
    MeanHandlingHours,
    SatisfactionRate,
    Density,
}

impl Measure {
    pub const ALL: [Measure; 11] = [
        Measure::Incidents,
        Measure::Accepted,
        Measure::Closed,
        Measure::CompletionRate,
        Measure::ClosedOnTime,
        Measure::OnTimeRate,
        Measure::Overdue,
        Measure::OverdueOpen,
        Measure::MeanHandlingHours,
        Measure::SatisfactionRate,
        Measure::Density,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Measure::Incidents => "incidents",
            Measure::Accepted => "accepted",
            Measure::Closed => "closed",
            Measure::CompletionRate => "completion_rate",
            Measure::ClosedOnTime => "closed_on_time",
            Measure::OnTimeRate => "on_time_rate",
            Measure::Overdue => "overdue",
            Measure::OverdueOpen => "overdue_open",
            Measure::MeanHandlingHours => "mean_handling_hours",
            Measure::SatisfactionRate => "satisfaction_rate",
            Measure::Density => "density",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Measure::Incidents => "事件数",
            Measure::Accepted => "受理数",
            Measure::Closed => "办结数",
            Measure::CompletionRate => "办结率",
            Measure::ClosedOnTime => "按期办结数",
            Measure::OnTimeRate => "按期办结率",
            Measure::Overdue => "超期数",
            Measure::OverdueOpen => "超期未结",
            Measure::MeanHandlingHours => "平均办结时长(小时)",
            Measure::SatisfactionRate => "满意率",
            Measure::Density => "密度(件/km²)",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Measure::Incidents => "Incidents",
            Measure::Accepted => "Accepted",
            Measure::Closed => "Closed",
            Measure::CompletionRate => "Completion rate",
            Measure::ClosedOnTime => "Closed on time",
            Measure::OnTimeRate => "On-time rate",
            Measure::Overdue => "Overdue",
            Measure::OverdueOpen => "Overdue open",
            Measure::MeanHandlingHours => "Mean handling (h)",
            Measure::SatisfactionRate => "Satisfaction rate",
            Measure::Density => "Density (per km²)",
        }
    }

    /// Rates are fractions, shown as percentages with one decimal.
    pub fn is_rate(self) -> bool {
        matches!(self, Measure::CompletionRate | Measure::OnTimeRate | Measure::SatisfactionRate)
    }

    /// Which end of a ranking is first: the highest value, except for the measures where less is
    /// better (overdue cases, handling time).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Measure::Overdue | Measure::OverdueOpen | Measure::MeanHandlingHours)
    }

    pub fn value(self, row: &UnitRow) -> Option<f64> {
        self.of(&row.counts, &row.figures)
    }

    pub fn of(self, c: &Counts, f: &stats::Figures) -> Option<f64> {
        match self {
            Measure::Incidents => Some(c.incidents as f64),
            Measure::Accepted => Some(c.accepted as f64),
            Measure::Closed => Some(c.closed as f64),
            Measure::CompletionRate => f.completion_rate,
            Measure::ClosedOnTime => Some(c.closed_on_time as f64),
            Measure::OnTimeRate => f.on_time_rate,
            Measure::Overdue => Some(c.overdue() as f64),
            Measure::OverdueOpen => Some(c.overdue_open as f64),
            Measure::MeanHandlingHours => f.mean_handling_hours,
            Measure::SatisfactionRate => f.satisfaction_rate,
            Measure::Density => f.density_per_km2,
        }
    }

    /// "97.4%", "12.3", "1234", or "—" for no data.
    pub fn format(self, v: Option<f64>) -> String {
        match v {
            None => "—".into(),
            Some(x) if self.is_rate() => format!("{:.1}%", x * 100.0),
            Some(x) if matches!(self, Measure::MeanHandlingHours | Measure::Density) => format!("{x:.1}"),
            Some(x) => format!("{x:.0}"),
        }
    }
}

impl std::str::FromStr for Measure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        Measure::ALL
            .into_iter()
            .find(|m| m.key() == t.to_lowercase() || m.zh() == t)
            .ok_or_else(|| format!("unknown measure '{t}'; one of {}", Measure::ALL.map(|m| m.key()).join(", ")))
    }
}

/// Compares two values of a measure "better first"; no data always last.
fn better_first(m: Measure, a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) if m.higher_is_better() => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Competition ranks ("1, 2, 2, 4") of `rows` by a measure, best first; `None` for no data.
pub fn ranks(rows: &[UnitRow], m: Measure) -> Vec<Option<u32>> {
    let values: Vec<Option<f64>> = rows.iter().map(|r| m.value(r)).collect();
    let mut order: Vec<usize> = (0..rows.len()).filter(|&i| values[i].is_some()).collect();
    order.sort_by(|&a, &b| better_first(m, values[a], values[b]));
    let mut out = vec![None; rows.len()];
    let mut rank = 0u32;
    for (pos, &i) in order.iter().enumerate() {
        if pos == 0 || values[i] != values[order[pos - 1]] {
            rank = pos as u32 + 1;
        }
        out[i] = Some(rank);
    }
    out
}

/// The measure the `rank` column of every table ranks by.
pub const RANK_MEASURE: Measure = Measure::CompletionRate;

/// What a table can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    /// Hierarchy order (as the table comes).
    Natural,
    Name,
    Code,
    Measure(Measure),
    /// By [`RANK_MEASURE`].
    Rank,
}

/// The display order of `rows`: indices sorted by `key`; rows without data last in either
/// direction; ties keep hierarchy order.
pub fn sort_order(rows: &[UnitRow], key: SortKey, descending: bool) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    let dir = |o: Ordering| if descending { o.reverse() } else { o };
    match key {
        SortKey::Natural => {
            if descending {
                idx.reverse();
            }
        }
        SortKey::Name => idx.sort_by(|&a, &b| dir(rows[a].name.cmp(&rows[b].name))),
        SortKey::Code => idx.sort_by(|&a, &b| dir(rows[a].code.cmp(&rows[b].code))),
        SortKey::Measure(m) => idx.sort_by(|&a, &b| match (m.value(&rows[a]), m.value(&rows[b])) {
            (Some(x), Some(y)) => dir(x.total_cmp(&y)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }),
        SortKey::Rank => {
            let r = ranks(rows, RANK_MEASURE);
            idx.sort_by(|&a, &b| match (r[a], r[b]) {
                (Some(x), Some(y)) => dir(x.cmp(&y)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            });
        }
    }
    idx
}

/// The table of `full.level` inside `scope` (a unit of a higher level), re-totalled; the whole
/// table when `scope` is `None` or is the city. `filter` is the filter `full` was computed with.
pub fn drill(ds: &Dataset, full: &StatsTable, filter: &Filter, scope: Option<(Level, u32)>, cfg: &IndicatorConfig) -> StatsTable {
    let Some((slevel, su)) = scope.filter(|(l, _)| *l > full.level && *l != Level::City) else {
        return full.clone();
    };
    let rows: Vec<UnitRow> = full
        .rows
        .iter()
        .filter(|r| {
            r.unit.is_some_and(|u| {
                // Any grid of the unit tells its ancestor at the scope's level.
                ds.layer.ancestors(full.level, u).iter().any(|&(l, x)| l == slevel && x == su)
            })
        })
        .cloned()
        .collect();
    let scoped = Filter { unit: Some((slevel, su)), ..filter.clone() };
    stats::assemble(ds, full.level, rows, Counts::default(), &scoped, cfg, &full.as_of)
}

/// The chain of units from the city down to `scope` (for a breadcrumb), top first.
pub fn breadcrumb(ds: &Dataset, scope: Option<(Level, u32)>) -> Vec<(Level, u32, String)> {
    let Some((level, u)) = scope else { return Vec::new() };
    let mut chain: Vec<(Level, u32)> = ds.layer.ancestors(level, u).into_iter().filter(|(l, _)| *l != Level::City).collect();
    chain.sort_by_key(|c| std::cmp::Reverse(c.0));
    chain.dedup();
    chain
        .into_iter()
        .map(|(l, x)| (l, x, ds.layer.units(l).get(x as usize).map(|u| u.name.to_string()).unwrap_or_default()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Figures;

    fn row(code: &str, accepted: u64, closed: u64) -> UnitRow {
        let c = Counts { incidents: accepted, accepted, closed, ..Counts::default() };
        UnitRow {
            level: Level::Grid,
            unit: Some(0),
            code: code.into(),
            name: code.into(),
            parent_code: "".into(),
            parent_name: "".into(),
            area_km2: None,
            households: None,
            figures: Figures::compute(&c, &IndicatorConfig::default(), None),
            counts: c,
        }
    }

    #[test]
    fn ranks_share_ties_skip_after_and_leave_no_data_unranked() {
        let rows = vec![row("a", 10, 9), row("b", 10, 10), row("c", 0, 0), row("d", 20, 18), row("e", 4, 4)];
        // rates: a .9, b 1.0, c none, d .9, e 1.0
        assert_eq!(ranks(&rows, Measure::CompletionRate), vec![Some(3), Some(1), None, Some(3), Some(1)]);
        // counts: higher first
        assert_eq!(ranks(&rows, Measure::Accepted), vec![Some(2), Some(2), Some(5), Some(1), Some(4)]);
        // overdue: lower is better, all zero → all first
        assert_eq!(ranks(&rows, Measure::Overdue), vec![Some(1); 5]);
    }

    #[test]
    fn sorting_puts_no_data_last_both_ways_and_keeps_ties_in_order() {
        let rows = vec![row("a", 10, 9), row("b", 10, 10), row("c", 0, 0), row("d", 20, 18)];
        let m = SortKey::Measure(Measure::CompletionRate);
        assert_eq!(sort_order(&rows, m, false), vec![0, 3, 1, 2]);
        assert_eq!(sort_order(&rows, m, true), vec![1, 0, 3, 2]);
        assert_eq!(sort_order(&rows, SortKey::Rank, false), vec![1, 0, 3, 2]);
        assert_eq!(sort_order(&rows, SortKey::Code, true), vec![3, 2, 1, 0]);
        assert_eq!(sort_order(&rows, SortKey::Natural, false), vec![0, 1, 2, 3]);
    }

    #[test]
    fn measures_parse_by_key_or_chinese_name() {
        for m in Measure::ALL {
            assert_eq!(m.key().parse::<Measure>(), Ok(m));
            assert_eq!(m.zh().parse::<Measure>(), Ok(m));
        }
        assert!("nope".parse::<Measure>().is_err());
        assert_eq!(Measure::CompletionRate.format(Some(0.97449)), "97.4%");
        assert_eq!(Measure::CompletionRate.format(None), "—");
    }
}
