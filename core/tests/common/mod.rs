//! Helpers shared by the integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

pub mod pg;

use std::collections::BTreeMap;
use std::path::PathBuf;

use gridcentre_core::fields::{GridField, IncidentField};
use gridcentre_core::load::{GridOptions, IncidentOptions};
use gridcentre_core::pipeline::{Dataset, Sources, load};

/// A file under the project's `testdata/` (copies of ../shared/data with their SOURCE files).
pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(rel)
}

pub fn sources(grids: PathBuf, code_field: Option<&str>, incidents: Option<PathBuf>) -> Sources {
    let mut fields = BTreeMap::new();
    if let Some(f) = code_field {
        fields.insert(GridField::Code, f.to_string());
    }
    Sources {
        grids,
        grid_options: GridOptions { fields, ..GridOptions::default() },
        incidents,
        incident_options: IncidentOptions::default(),
    }
}

pub fn load_ok(s: &Sources) -> Dataset {
    load(s, &mut |_| {}).unwrap_or_else(|e| panic!("load failed: {e}"))
}

pub fn with_column(mut s: Sources, field: IncidentField, column: &str) -> Sources {
    s.incident_options.columns.insert(field, column.to_string());
    s
}

/// Parses a pandas table printed in a SOURCE.txt: the lines after `start` up to the first line
/// that does not end in the expected number of numeric columns. Returns name → numbers.
pub fn reference_table(text: &str, start: &str, numbers: usize) -> BTreeMap<String, Vec<f64>> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines().skip_while(|l| !l.contains(start)).skip(1);
    // Skip header lines until the first data line.
    let mut started = false;
    for line in lines.by_ref() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        let parsed = toks.len() > numbers && toks[toks.len() - numbers..].iter().all(|t| t.parse::<f64>().is_ok());
        if !parsed {
            if started {
                break;
            }
            continue;
        }
        started = true;
        let name = toks[..toks.len() - numbers].join(" ");
        if name == "ALL" {
            break;
        }
        let nums = toks[toks.len() - numbers..].iter().map(|t| t.parse::<f64>().unwrap_or(f64::NAN)).collect();
        out.insert(name, nums);
    }
    out
}
