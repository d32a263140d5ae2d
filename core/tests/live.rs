//! The live table against a recomputation from scratch: events (new incidents and changes)
//! folded in incrementally give the tables `unit_table` gives on the same records, the as-of
//! time moving on turns exactly the open incidents past their deadline into overdue alerts,
//! replays change nothing, and malformed events are quarantined and counted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use std::path::Path;

use common::*;
use gridcentre_core::export::table_csv;
use gridcentre_core::live::LiveTable;
use gridcentre_core::load::IncidentOptions;
use gridcentre_core::load::incidents::parse_records;
use gridcentre_core::model::{Level, NO_GRID};
use gridcentre_core::pipeline::Dataset;
use gridcentre_core::spatial::assign;
use gridcentre_core::stats::{Filter, IndicatorConfig, unit_table};
use gridcentre_core::timeparse::HOUR_MS;

/// The bundled sample's CSV as a header and rows of cells (it has no quoted fields).
fn sample_rows() -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let text = std::fs::read_to_string(testdata("../sample-data/incidents.csv")).unwrap();
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let rows = lines.map(|l| l.split(',').map(|c| (!c.is_empty()).then(|| c.to_string())).collect()).collect();
    (header, rows)
}

fn opts() -> IncidentOptions {
    IncidentOptions { keep_duplicate_ids: true, ..IncidentOptions::default() }
}

fn base(header: &[String], rows: &[Vec<Option<String>>]) -> Dataset {
    let grids = load_ok(&sources(testdata("../sample-data/grids.geojson"), None, None));
    let (inc, rep) = parse_records(Path::new("base"), header, rows, &IncidentOptions::default()).unwrap();
    Dataset::new(grids.layer, inc, vec![rep])
}

fn same_tables(live: &LiveTable, what: &str) {
    for level in Level::ALL {
        let full = unit_table(&live.ds, level, &Filter::default(), &live.config, live.as_of_ms).unwrap();
        assert_eq!(table_csv(&live.table(level)), table_csv(&full), "{what}: {level}");
    }
    let (grid_of, _) = assign(&live.ds.layer, &live.ds.index, &live.ds.incidents);
    assert_eq!(grid_of, live.ds.grid_of, "{what}: assignment");
}

#[test]
fn events_folded_in_give_the_tables_of_a_recomputation() {
    let (header, rows) = sample_rows();
    let (first, rest) = rows.split_at(40_000);
    let ds = base(&header, first);
    let as_of = ds.latest_time();
    let cfg = IndicatorConfig { default_deadline_hours: Some(72.0), ..IndicatorConfig::default() };
    let mut live = LiveTable::new(ds, cfg, as_of);
    same_tables(&live, "start");
    // New incidents in batches, and changes to earlier ones: open ones closed, ratings given,
    // one moved to another place.
    let status = header.iter().position(|h| h == "办理状态").unwrap();
    let closed = header.iter().position(|h| h == "办结时间").unwrap();
    let sat = header.iter().position(|h| h == "满意度").unwrap();
    let lon = header.iter().position(|h| h == "经度").unwrap();
    let mut n_events = 0;
    for (k, chunk) in rest.chunks(5_000).enumerate() {
        let mut batch: Vec<Vec<Option<String>>> = chunk.to_vec();
        for r in first.iter().skip(k * 97).step_by(41).take(120) {
            let mut u = r.clone();
            u[status] = Some("已办结".into());
            if u[closed].is_none() {
                u[closed] = Some("2026-11-01 08:00:00".into());
            }
            u[sat] = Some("满意".into());
            batch.push(u);
        }
        let mut moved = first[k].clone();
        moved[lon] = moved[lon].as_ref().map(|x| format!("{:.6}", x.parse::<f64>().unwrap() + 0.01));
        batch.push(moved);
        n_events += batch.len();
        let (inc, rep) = parse_records(Path::new("feed"), &header, &batch, &opts()).unwrap();
        let applied = live.apply(&inc, &rep, &[]);
        assert!(!applied.new.is_empty() && !applied.updated.is_empty());
    }
    assert_eq!(live.ds.incidents.len(), rows.len() - 9, "every incident once (the sample's 9 bad rows quarantined)");
    assert_eq!(live.counters.events as usize, n_events);
    let c = &live.counters;
    assert_eq!(c.new + c.updated + c.unchanged + c.quarantined, c.events);
    same_tables(&live, "after the feed");
    // Time moves on: the open incidents past their deadline are the alerts, and the tables
    // still equal a recomputation at the new as-of time.
    let later = live.as_of_ms + 96 * HOUR_MS;
    let limits = live.config.category_limits(&live.ds.incidents);
    let expected: usize = (0..live.ds.incidents.len())
        .filter(|&i| {
            let inc = &live.ds.incidents;
            inc.status[i].is_open()
                && IndicatorConfig::deadline_of(inc, i, &limits).is_some_and(|d| d >= live.as_of_ms && d < later)
        })
        .count();
    let alerts = live.advance(later);
    assert_eq!(alerts.len(), expected);
    assert!(expected > 0, "the sample has open incidents that fall due");
    assert!(alerts.windows(2).all(|w| w[0].deadline_ms <= w[1].deadline_ms));
    same_tables(&live, "after time moved on");
    // Replaying everything changes nothing.
    let before = table_csv(&live.table(Level::Grid));
    let (inc, rep) = parse_records(Path::new("replay"), &header, rest, &opts()).unwrap();
    let again = live.apply(&inc, &rep, &[]);
    assert!(again.new.is_empty() && again.updated.is_empty());
    assert_eq!(table_csv(&live.table(Level::Grid)), before);
}

#[test]
fn malformed_events_are_quarantined_with_their_reasons_and_counted() {
    let (header, rows) = sample_rows();
    let ds = base(&header, &rows[..1000]);
    let as_of = ds.latest_time();
    let mut live = LiveTable::new(ds, IndicatorConfig::default(), as_of);
    let t = header.iter().position(|h| h == "上报时间").unwrap();
    let s = header.iter().position(|h| h == "办理状态").unwrap();
    let mut bad_time = rows[2000].clone();
    bad_time[t] = Some("yesterday-ish".into());
    let mut bad_status = rows[2001].clone();
    bad_status[s] = Some("转外星".into());
    let good = rows[2002].clone();
    let (inc, rep) = parse_records(Path::new("feed"), &header, &[bad_time, bad_status, good], &opts()).unwrap();
    let applied = live.apply(&inc, &rep, &[100, 101, 102]);
    assert_eq!((applied.new.len(), applied.quarantined), (1, 2));
    let reasons: Vec<(u64, &str)> = live.quarantine.iter().map(|q| (q.event, q.reason.as_str())).collect();
    assert!(reasons.contains(&(100, "unparsable reported_at")), "{reasons:?}");
    assert!(reasons.contains(&(101, "status not mapped")), "{reasons:?}");
    assert_eq!(live.counters.quarantined, 2);
    assert_eq!(live.counters.events, 3);
    assert_ne!(live.ds.grid_of[1000], NO_GRID);
    same_tables(&live, "after a bad batch");
}
