//! Drill-down, ranking, charts and the report bundle, checked against the statistics they come
//! from: drilled tables equal `unit_table` inside the unit, exported files read back to the same
//! figures, SVGs carry the Chinese labels, PNGs have the size asked for and are not blank.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use calamine::{Data, Reader, open_workbook_auto};
use common::*;
use gridcentre_core::analysis::{Measure, RANK_MEASURE, breadcrumb, drill, ranks};
use gridcentre_core::bundle::{self, ReportSpec};
use gridcentre_core::charts::{self, Body, ChartKind};
use gridcentre_core::export::{TABLE_COLUMNS, table_csv};
use gridcentre_core::model::Level;
use gridcentre_core::pipeline::Dataset;
use gridcentre_core::sample::{SampleOptions, write_sample};
use gridcentre_core::stats::{Filter, IndicatorConfig, unit_table};
use gridcentre_core::timeparse::parse_cli_datetime;

fn sample(dir: &std::path::Path) -> Dataset {
    let opts = SampleOptions { grids: 200, incidents: 6000, ..SampleOptions::default() };
    let files = write_sample(dir, &opts).unwrap();
    load_ok(&sources(files.grids, None, Some(files.incidents)))
}

fn as_of(ds: &Dataset) -> i64 {
    ds.latest_time()
}

#[test]
fn a_drilled_table_equals_the_table_computed_inside_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let ds = sample(dir.path());
    let cfg = IndicatorConfig::default();
    let filter = Filter { categories: vec!["民生服务".into(), "城建物业".into()], ..Filter::default() };
    let mut checked = 0;
    for (level, scope_level) in
        [(Level::Street, Level::District), (Level::Community, Level::Street), (Level::Grid, Level::Community)]
    {
        let full = unit_table(&ds, level, &filter, &cfg, as_of(&ds)).unwrap();
        for u in 0..ds.layer.units(scope_level).len() as u32 {
            let scope = Some((scope_level, u));
            let drilled = drill(&ds, &full, &filter, scope, &cfg);
            let direct = unit_table(&ds, level, &Filter { unit: scope, ..filter.clone() }, &cfg, as_of(&ds)).unwrap();
            assert!(!drilled.rows.is_empty());
            assert_eq!(table_csv(&drilled), table_csv(&direct), "{level} inside {scope_level} {u}");
            assert_eq!(drilled.filter, direct.filter);
            // The drilled total is the unit's own row in its level's table.
            let own = unit_table(&ds, scope_level, &filter, &cfg, as_of(&ds)).unwrap();
            assert_eq!(drilled.total.counts.accepted, own.rows[u as usize].counts.accepted);
            assert_eq!(drilled.total.counts.closed, own.rows[u as usize].counts.closed);
            checked += 1;
        }
    }
    assert!(checked > 10, "{checked}");
    // No scope: the table itself.
    let full = unit_table(&ds, Level::District, &filter, &cfg, as_of(&ds)).unwrap();
    assert_eq!(table_csv(&drill(&ds, &full, &filter, None, &cfg)), table_csv(&full));
    // A breadcrumb runs from the district down.
    let crumbs = breadcrumb(&ds, Some((Level::Community, 0)));
    assert_eq!(crumbs.iter().map(|c| c.0).collect::<Vec<_>>(), vec![Level::District, Level::Street, Level::Community]);
}

#[test]
fn charts_show_the_figures_of_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let ds = sample(dir.path());
    let cfg = IndicatorConfig::default();
    let spec = ReportSpec::new(Level::Street, Filter::default(), cfg.clone(), as_of(&ds));
    let c = bundle::compute(&ds, &spec).unwrap();
    assert_eq!(c.charts.iter().map(|c| c.kind).collect::<Vec<_>>(), ChartKind::ALL);
    // Trend: accepted per bucket sums to the table's total accepted.
    let Body::Trend { accepted, closed, completion, .. } = &c.charts[0].body else { panic!("trend") };
    assert_eq!(accepted.iter().sum::<u64>(), c.table.total.counts.accepted);
    assert_eq!(closed.iter().sum::<u64>(), c.table.total.counts.closed);
    for ((a, cl), r) in accepted.iter().zip(closed).zip(completion) {
        assert_eq!(*r, (*a > 0).then(|| *cl as f64 / *a as f64));
    }
    // Categories: every incident once.
    let Body::Bars { values, .. } = &c.charts[1].body else { panic!("bars") };
    assert_eq!(values.iter().flatten().sum::<f64>() as u64, c.table.total.counts.incidents);
    // Ranking: best first, values as in the table.
    let Body::Bars { labels, values, measure } = &c.charts[2].body else { panic!("ranking") };
    assert_eq!(*measure, RANK_MEASURE);
    let rk = ranks(&c.table.rows, RANK_MEASURE);
    let best = (0..c.table.rows.len()).filter(|&i| rk[i] == Some(1)).min().unwrap();
    assert_eq!(labels[0], format!("1. {}", c.table.rows[best].name));
    assert_eq!(values[0], c.table.rows[best].figures.completion_rate);
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
    // On time: three parts per unit, as counted.
    let Body::Stacked { labels, parts } = &c.charts[3].body else { panic!("stacked") };
    for (i, name) in labels.iter().enumerate() {
        let row = c.table.rows.iter().find(|r| *r.name == **name).unwrap();
        assert_eq!(parts[0].values[i], row.counts.closed_on_time);
        assert_eq!(parts[1].values[i], row.counts.overdue_closed);
        assert_eq!(parts[2].values[i], row.counts.overdue_open);
    }
    // Ranking by a measure where less is better puts the fewest overdue first.
    let r = charts::ranking_chart(&c.table, Measure::Overdue, 5, "全市", "", gridcentre_core::lang::Lang::Zh);
    let Body::Bars { values, .. } = r.body else { panic!() };
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
}

fn png_size_and_ink(bytes: &[u8]) -> ((u32, u32), usize) {
    let dec = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let ink = buf.chunks(px).filter(|p| p[..3].iter().any(|&c| c < 200)).count();
    ((info.width, info.height), ink)
}

#[test]
fn the_report_bundle_holds_charts_tables_and_a_page_with_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let ds = sample(dir.path());
    let cfg = IndicatorConfig::default();
    let district = 0u32;
    let filter = Filter {
        from_ms: Some(parse_cli_datetime("2026-03-01").unwrap()),
        to_ms: Some(parse_cli_datetime("2026-10-01").unwrap()),
        ..Filter::default()
    };
    let mut spec = ReportSpec::new(Level::Street, filter.clone(), cfg.clone(), as_of(&ds));
    spec.scope = Some((Level::District, district));
    let out = dir.path().join("report");
    let files = bundle::write(&ds, &spec, &out, false).unwrap();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for n in ["trend.png", "trend.svg", "categories.png", "ranking.svg", "on_time.png", "table.csv", "table.xlsx", "index.html"] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
    }
    // The table: exactly what `unit_table` gives inside the district.
    let expected =
        unit_table(&ds, Level::Street, &Filter { unit: Some((Level::District, district)), ..filter }, &cfg, as_of(&ds)).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("table.csv")).unwrap(), table_csv(&expected));
    let mut wb = open_workbook_auto(out.join("table.xlsx")).unwrap();
    let range = wb.worksheet_range("街道统计").unwrap();
    let col = |key: &str| TABLE_COLUMNS.iter().position(|(k, _)| *k == key).unwrap();
    let rk = ranks(&expected.rows, RANK_MEASURE);
    for (i, r) in expected.rows.iter().enumerate() {
        let x = &range.rows().nth(i + 1).unwrap();
        assert_eq!(x[col("code")].to_string(), &*r.code);
        assert_eq!(x[col("accepted")], Data::Float(r.counts.accepted as f64));
        assert_eq!(x[col("closed")], Data::Float(r.counts.closed as f64));
        match r.figures.completion_rate {
            Some(v) => assert_eq!(x[col("completion_rate")], Data::Float(v)),
            None => assert_eq!(x[col("completion_rate")].to_string(), "—"),
        }
        match rk[i] {
            Some(k) => assert_eq!(x[col("rank")], Data::Float(k as f64)),
            None => assert_eq!(x[col("rank")].to_string(), "—"),
        }
    }
    // Charts: SVG text in Chinese, PNG of the export size with ink on it.
    let district_name = &ds.layer.units(Level::District)[district as usize].name;
    let svg = std::fs::read_to_string(out.join("categories.svg")).unwrap();
    if std::env::var("DUMP").is_ok() {
        let _ = std::process::Command::new("cp").arg("-r").arg(&out).arg("/tmp/report-dump").status();
    }
    assert!(svg.contains(&district_name[..]) && svg.contains("事件类别构成"), "title");
    assert!(svg.contains("2026-03-01 至 2026-09-30"), "period in the subtitle");
    for cat in ds.incidents.categories.names.iter().filter(|c| c.as_str() != "(未指定)") {
        assert!(svg.contains(cat.as_str()), "category {cat} in the SVG");
    }
    for stem in ["trend", "categories", "ranking", "on_time"] {
        let (size, ink) = png_size_and_ink(&std::fs::read(out.join(format!("{stem}.png"))).unwrap());
        assert_eq!(size, (charts::WIDTH, charts::HEIGHT), "{stem}");
        assert!(ink > 5_000, "{stem}.png has only {ink} non-white pixels");
    }
    // The page: the centre, the period and the total's figures as the table has them.
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains(&district_name[..]));
    assert!(html.contains(&Measure::CompletionRate.format(expected.total.figures.completion_rate)));
    assert!(html.contains(&format!("<b>{}</b>", expected.total.counts.accepted)));
    for r in &expected.rows {
        assert!(html.contains(&format!("<td class=\"n\">{}</td>", r.name)), "{}", r.name);
    }
    // A folder with files in it is not overwritten without asking.
    let err = bundle::write(&ds, &spec, &out, false).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    bundle::write(&ds, &spec, &out, true).unwrap();
    // Same inputs, same bytes (what makes the CLI's and the app's bundles identical).
    // A second later: nothing in the files may depend on the clock.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = dir.path().join("again");
    bundle::write(&ds, &spec, &again, false).unwrap();
    for n in &names {
        assert!(std::fs::read(out.join(n)).unwrap() == std::fs::read(again.join(n)).unwrap(), "{n} differs between runs");
    }
}
