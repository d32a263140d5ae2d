//! Spatial assignment and counts agree exactly with DuckDB spatial and geopandas on a generated
//! city (tools/peers.py runs them). The peers come from tools/requirements-peers.txt, which the
//! project's test command installs; without them this test fails and says how to get them
//! (set GRIDCENTRE_SKIP_PEERS=1 to skip on purpose).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use gridcentre_core::model::NO_GRID;
use gridcentre_core::sample::{SampleOptions, write_sample};
use gridcentre_core::status::Status;

fn peers_available() -> bool {
    Command::new("python3")
        .args(["-c", "import duckdb, duckdb_extension_spatial, geopandas, shapely"])
        .status()
        .is_ok_and(|s| s.success())
}

fn read_counts(path: &std::path::Path) -> BTreeMap<String, (u64, u64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), (f[1].parse().unwrap(), f[2].parse().unwrap()))
        })
        .collect()
}

#[test]
fn per_grid_counts_equal_duckdb_spatial_and_geopandas() {
    if std::env::var("GRIDCENTRE_SKIP_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("skipped on request (GRIDCENTRE_SKIP_PEERS=1)");
        return;
    }
    assert!(
        peers_available(),
        "the reference peers are missing: run `pip install -r tools/requirements-peers.txt` (the README's test command does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let opts = SampleOptions { grids: 1500, incidents: 40_000, seed: 99, bad_rows: false, ..SampleOptions::default() };
    let files = write_sample(dir.path(), &opts).unwrap();
    let ds = load_ok(&sources(files.grids.clone(), None, Some(files.incidents.clone())));
    let mut ours: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (i, &g) in ds.grid_of.iter().enumerate() {
        if g == NO_GRID {
            continue;
        }
        let e = ours.entry(ds.layer.grids[g as usize].code.clone()).or_default();
        e.0 += 1;
        e.1 += (ds.incidents.status[i] == Status::Closed) as u64;
    }
    assert!(ours.len() > 1000, "most grids have incidents");
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/peers.py");
    for peer in ["duckdb", "geopandas"] {
        let out = dir.path().join(format!("{peer}.csv"));
        let status =
            Command::new("python3").arg(&script).arg(peer).arg(&files.grids).arg(&files.incidents).arg(&out).status().unwrap();
        assert!(status.success(), "{peer} failed");
        let theirs = read_counts(&out);
        assert_eq!(theirs.len(), ours.len(), "{peer}: number of grids with incidents");
        for (code, want) in &theirs {
            assert_eq!(ours.get(code), Some(want), "{peer}: grid {code}");
        }
    }
}
