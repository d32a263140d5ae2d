//! What a loader made of one input: rows read, loaded, rejected and why, and what it fixed.
//!
//! The invariant every loader keeps: `loaded + rejected == read`. Row numbers count the header
//! as row 1, as a spreadsheet shows them; features are numbered from 1.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::crs::Crs;

/// How many examples are kept for each reason.
pub const MAX_EXAMPLES: usize = 5;

/// A count of one reason, with the first few places it happened.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub count: usize,
    /// (row or feature number, detail)
    pub examples: Vec<(usize, String)>,
}

impl Tally {
    pub fn add(&mut self, row: usize, detail: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push((row, detail()));
        }
    }

    /// Adds a tally of later rows (the examples stay the first few in row order).
    pub fn absorb(&mut self, later: Tally) {
        self.count += later.count;
        let room = MAX_EXAMPLES.saturating_sub(self.examples.len());
        self.examples.extend(later.examples.into_iter().take(room));
    }
}

/// What was done with the rows of an input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    pub file: PathBuf,
    /// "grids" or "incidents"
    pub kind: &'static str,
    pub format: String,
    pub encoding: Option<String>,
    pub crs: Crs,
    /// field → column (or property) used.
    pub columns: BTreeMap<String, String>,
    pub read: usize,
    pub loaded: usize,
    pub rejected: usize,
    /// Rejections by reason.
    pub rejections: BTreeMap<String, Tally>,
    /// Rows kept with a problem fixed or a value ignored, by kind.
    pub warnings: BTreeMap<String, Tally>,
    /// Status labels that map to no workflow state, with their counts (those rows are rejected).
    pub unmapped_statuses: BTreeMap<String, usize>,
    /// Filled in by assignment (incidents only).
    pub assignment: Option<AssignmentReport>,
}

/// Where the loaded incidents landed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AssignmentReport {
    pub assigned: usize,
    /// Placed by the grid code they carry because they have no location.
    pub by_grid_code: usize,
    pub no_location: usize,
    pub outside_grids: Tally,
    /// Their own grid code names another grid than the one they fall in.
    pub grid_code_disagrees: Tally,
    /// Inside more than one grid (overlapping grids): given to the first in file order.
    pub in_several_grids: Tally,
}

impl AssignmentReport {
    pub fn unassigned(&self) -> usize {
        self.no_location + self.outside_grids.count
    }

    /// Adds the report of later incidents (examples stay the first few in row order).
    pub fn absorb(&mut self, later: AssignmentReport) {
        self.assigned += later.assigned;
        self.by_grid_code += later.by_grid_code;
        self.no_location += later.no_location;
        self.outside_grids.absorb(later.outside_grids);
        self.grid_code_disagrees.absorb(later.grid_code_disagrees);
        self.in_several_grids.absorb(later.in_several_grids);
    }
}

impl LoadReport {
    pub fn new(file: impl Into<PathBuf>, kind: &'static str, format: impl Into<String>) -> Self {
        Self { file: file.into(), kind, format: format.into(), ..Default::default() }
    }

    pub fn reject(&mut self, row: usize, reason: &str, detail: impl FnOnce() -> String) {
        self.rejected += 1;
        self.rejections.entry(reason.to_string()).or_default().add(row, detail);
    }

    pub fn warn(&mut self, row: usize, kind: &str, detail: impl FnOnce() -> String) {
        self.warnings.entry(kind.to_string()).or_default().add(row, detail);
    }

    /// Adds the rejections, warnings and unmapped statuses of a report on later rows of the
    /// same input (a chunk parsed on another thread).
    pub fn absorb(&mut self, later: LoadReport) {
        self.rejected += later.rejected;
        for (reason, t) in later.rejections {
            self.rejections.entry(reason).or_default().absorb(t);
        }
        for (kind, t) in later.warnings {
            self.warnings.entry(kind).or_default().absorb(t);
        }
        for (label, n) in later.unmapped_statuses {
            *self.unmapped_statuses.entry(label).or_insert(0) += n;
        }
    }

    /// True when the numbers add up (they always should; tests assert it).
    pub fn is_consistent(&self) -> bool {
        self.loaded + self.rejected == self.read && self.rejections.values().map(|t| t.count).sum::<usize>() == self.rejected
    }

    fn unit(&self) -> &'static str {
        if self.kind == "grids" { "features" } else { "rows" }
    }
    fn place(&self) -> &'static str {
        if self.kind == "grids" { "feature" } else { "row" }
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, place) = (self.unit(), self.place());
        write!(f, "{} ({}, {}", self.file.display(), self.kind, self.format)?;
        if let Some(e) = &self.encoding {
            write!(f, ", {e}")?;
        }
        writeln!(f, ", {}): {} {unit} read, {} loaded, {} rejected", self.crs, self.read, self.loaded, self.rejected)?;
        if !self.columns.is_empty() {
            let cols: Vec<String> = self.columns.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(f, "  columns: {}", cols.join(", "))?;
        }
        for (reason, t) in &self.rejections {
            writeln!(f, "  rejected {:>7}  {reason}", t.count)?;
            for (row, d) in &t.examples {
                writeln!(f, "             {place} {row}: {d}")?;
            }
        }
        if !self.unmapped_statuses.is_empty() {
            let s: Vec<String> = self.unmapped_statuses.iter().map(|(k, v)| format!("'{k}' ×{v}")).collect();
            writeln!(f, "  statuses not mapped (add --status-map LABEL=STATE): {}", s.join(", "))?;
        }
        for (kind, t) in &self.warnings {
            writeln!(f, "  kept    {:>7}  {kind}", t.count)?;
            for (row, d) in &t.examples {
                writeln!(f, "             {place} {row}: {d}")?;
            }
        }
        if let Some(a) = &self.assignment {
            writeln!(
                f,
                "  assigned {} to grids ({} by their grid code); unassigned {}: {} without location, {} outside every grid",
                a.assigned,
                a.by_grid_code,
                a.unassigned(),
                a.no_location,
                a.outside_grids.count
            )?;
            for (row, d) in &a.outside_grids.examples {
                writeln!(f, "             row {row}: {d}")?;
            }
            if a.in_several_grids.count > 0 {
                writeln!(f, "  in overlapping grids (given to the first in file order): {}", a.in_several_grids.count)?;
                for (row, d) in &a.in_several_grids.examples {
                    writeln!(f, "             row {row}: {d}")?;
                }
            }
            if a.grid_code_disagrees.count > 0 {
                writeln!(f, "  grid code disagrees with location: {}", a.grid_code_disagrees.count)?;
                for (row, d) in &a.grid_code_disagrees.examples {
                    writeln!(f, "             row {row}: {d}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_counted_with_their_first_examples() {
        let mut r = LoadReport::new("a.csv", "incidents", "csv");
        r.read = 8;
        for row in 2..9 {
            r.reject(row, "bad time", || format!("'x{row}'"));
        }
        r.loaded = 1;
        assert!(r.is_consistent());
        let t = &r.rejections["bad time"];
        assert_eq!(t.count, 7);
        assert_eq!(t.examples.len(), MAX_EXAMPLES);
        assert_eq!(t.examples[0], (2, "'x2'".to_string()));
        let text = r.to_string();
        assert!(text.contains("8 rows read, 1 loaded, 7 rejected"), "{text}");
        assert!(text.contains("row 2: 'x2'"), "{text}");
    }
}
