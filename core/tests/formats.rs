//! Formats beyond CSV and GeoJSON: a GBK Shapefile, Parquet incidents, and every export read
//! back and compared figure by figure with the statistics it came from.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use calamine::{Data, Reader, open_workbook_auto};
use common::*;
use gridcentre_core::export::{TABLE_COLUMNS, TableFormat, Value, row_values, table_rows, write_assigned, write_table};
use gridcentre_core::load::{GridOptions, IncidentOptions, load_grids, load_incidents};
use gridcentre_core::model::Level;
use gridcentre_core::pipeline::Dataset;
use gridcentre_core::sample::{SampleOptions, write_sample};
use gridcentre_core::stats::{Filter, IndicatorConfig, StatsTable, unit_table};
use shapefile::dbase::{self, FieldValue, Record};

fn write_gbk_shapefile(path: &std::path::Path, with_cpg: bool) {
    let enc = dbase::encoding::EncodingRs::from(encoding_rs::GBK);
    let table = dbase::TableWriterBuilder::with_encoding(enc)
        .add_character_field("GRID_CODE".try_into().unwrap(), 20)
        .add_character_field("NAME".try_into().unwrap(), 40)
        .add_character_field("COMMUNITY".try_into().unwrap(), 40);
    let mut w = shapefile::Writer::from_path(path, table).unwrap();
    for (i, (code, name, community)) in
        [("G001", "和平社区第1网格", "和平社区"), ("G002", "和平社区第2网格", "和平社区")].iter().enumerate()
    {
        let x0 = 130.0 + i as f64 * 0.01;
        let ring = vec![
            shapefile::Point::new(x0, 46.0),
            shapefile::Point::new(x0, 46.01),
            shapefile::Point::new(x0 + 0.01, 46.01),
            shapefile::Point::new(x0 + 0.01, 46.0),
            shapefile::Point::new(x0, 46.0),
        ];
        let poly = shapefile::Polygon::new(shapefile::PolygonRing::Outer(ring));
        let mut rec = Record::default();
        rec.insert("GRID_CODE".into(), FieldValue::Character(Some(code.to_string())));
        rec.insert("NAME".into(), FieldValue::Character(Some(name.to_string())));
        rec.insert("COMMUNITY".into(), FieldValue::Character(Some(community.to_string())));
        w.write_shape_and_record(&poly, &rec).unwrap();
    }
    drop(w);
    if with_cpg {
        std::fs::write(path.with_extension("cpg"), "GBK").unwrap();
    }
}

#[test]
fn a_gbk_shapefile_reads_with_or_without_its_cpg() {
    let dir = tempfile::tempdir().unwrap();
    for with_cpg in [true, false] {
        let p = dir.path().join(format!("grids_{with_cpg}.shp"));
        write_gbk_shapefile(&p, with_cpg);
        let dbf = std::fs::read(p.with_extension("dbf")).unwrap();
        assert!(std::str::from_utf8(&dbf[32..]).is_err(), "the .dbf really is GBK");
        let (layer, r) = load_grids(&p, &GridOptions::default()).unwrap();
        assert_eq!((r.read, r.loaded), (2, 2), "{r}");
        assert_eq!(layer.grids[0].name, "和平社区第1网格");
        assert_eq!(layer.units(Level::Community)[0].name, "和平社区".into());
        assert_eq!(layer.grids[1].code, "G002");
        assert!(r.encoding.as_deref().unwrap_or("").contains("GBK"), "{:?}", r.encoding);
    }
}

fn sample(dir: &std::path::Path) -> Dataset {
    let opts = SampleOptions { grids: 150, incidents: 4000, ..SampleOptions::default() };
    let files = write_sample(dir, &opts).unwrap();
    load_ok(&sources(files.grids, None, Some(files.incidents)))
}

fn table(ds: &Dataset, level: Level) -> StatsTable {
    let as_of = gridcentre_core::timeparse::parse_datetime("2026-11-01 00:00", 480).unwrap();
    unit_table(ds, level, &Filter::default(), &IndicatorConfig::default(), as_of).unwrap()
}

#[test]
fn assigned_incidents_written_as_parquet_load_back_to_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let ds = sample(dir.path());
    for name in ["assigned.parquet", "assigned.csv"] {
        let out = dir.path().join(name);
        write_assigned(&ds, &out).unwrap();
        let (inc, r) = load_incidents(&out, &IncidentOptions::default()).unwrap();
        assert_eq!((r.read, r.rejected), (ds.incidents.len(), 0), "{name}: {r}");
        assert_eq!(inc.id, ds.incidents.id, "{name}");
        assert_eq!(inc.reported_ms, ds.incidents.reported_ms, "{name}");
        assert_eq!(inc.closed_ms, ds.incidents.closed_ms, "{name}");
        assert_eq!(inc.status, ds.incidents.status, "{name}");
        let again = Dataset::new(ds.layer.clone(), inc, vec![]);
        let (a, b) = (table(&ds, Level::Street), table(&again, Level::Street));
        for (x, y) in a.rows.iter().zip(&b.rows) {
            assert_eq!(x.counts, y.counts, "{name}: {}", x.name);
        }
    }
}

fn cell_f64(d: &Data) -> Option<f64> {
    match d {
        Data::Float(f) => Some(*f),
        Data::Int(i) => Some(*i as f64),
        _ => None,
    }
}

#[test]
fn the_xlsx_export_holds_every_figure_of_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let ds = sample(dir.path());
    let t = table(&ds, Level::Community);
    let path = dir.path().join("community.xlsx");
    write_table(&t, TableFormat::Xlsx, &path).unwrap();
    let mut wb = open_workbook_auto(&path).unwrap();
    let names = wb.sheet_names();
    assert_eq!(names, ["社区统计", "口径"]);
    let range = wb.worksheet_range("社区统计").unwrap();
    let header: Vec<String> = range.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(header, TABLE_COLUMNS.iter().map(|(_, zh)| zh.to_string()).collect::<Vec<_>>());
    let rows: Vec<_> = table_rows(&t).collect();
    assert_eq!(range.height(), rows.len() + 1);
    for ((r, rank), xrow) in rows.iter().zip(range.rows().skip(1)) {
        for (v, cell) in row_values(r, *rank).iter().zip(xrow) {
            match v {
                Value::Text(s) => assert_eq!(&cell.to_string(), s),
                Value::Int(i) | Value::MaybeInt(Some(i)) => assert_eq!(cell_f64(cell), Some(*i as f64), "{}", r.name),
                Value::Rate(Some(x)) | Value::Num(Some(x)) => assert_eq!(cell_f64(cell), Some(*x), "{}", r.name),
                Value::Rate(None) | Value::Num(None) | Value::MaybeInt(None) => assert_eq!(cell.to_string(), "—"),
            }
        }
    }
    let about = wb.worksheet_range("口径").unwrap();
    assert!(about.rows().any(|r| r[1].to_string().contains("办结率 = 办结数/受理数")));
}

#[test]
fn the_csv_export_has_a_bom_and_every_figure_of_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let ds = sample(dir.path());
    let t = table(&ds, Level::Grid);
    let path = dir.path().join("grid.csv");
    write_table(&t, TableFormat::Csv, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap().split(',').count(), TABLE_COLUMNS.len());
    let rows: Vec<_> = table_rows(&t).collect();
    let lines: Vec<&str> = lines.collect();
    assert_eq!(lines.len(), rows.len());
    for ((r, rank), line) in rows.iter().zip(lines) {
        let cells: Vec<&str> = line.split(',').collect();
        for (v, c) in row_values(r, *rank).iter().zip(cells) {
            match v {
                Value::Text(s) => assert_eq!(c, s),
                Value::Int(i) | Value::MaybeInt(Some(i)) => assert_eq!(c.parse::<u64>().unwrap(), *i),
                Value::Rate(Some(x)) | Value::Num(Some(x)) => assert!((c.parse::<f64>().unwrap() - x).abs() < 1e-6, "{c} vs {x}"),
                Value::Rate(None) | Value::Num(None) | Value::MaybeInt(None) => assert_eq!(c, ""),
            }
        }
    }
    assert_eq!(t.total.counts.incidents as usize + 9, 4000, "all loaded incidents (9 bad rows rejected) are in the total");
}

#[test]
fn the_sample_city_is_deterministic_and_the_bundled_one_is_what_gen_sample_makes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let opts = SampleOptions { grids: 100, incidents: 2000, ..SampleOptions::default() };
    write_sample(&a, &opts).unwrap();
    write_sample(&b, &opts).unwrap();
    for f in ["grids.geojson", "incidents.csv"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
    }
    let bundled = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample-data");
    let c = dir.path().join("c");
    write_sample(&c, &SampleOptions::default()).unwrap();
    for f in ["grids.geojson", "incidents.csv"] {
        assert!(
            std::fs::read(bundled.join(f)).unwrap() == std::fs::read(c.join(f)).unwrap(),
            "sample-data/{f} is stale: run `gridcentre gen-sample --out sample-data`"
        );
    }
}
