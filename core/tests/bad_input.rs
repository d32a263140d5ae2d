//! The bad-input corpus: every broken file gives a clear error naming the file, or a counted
//! rejection naming the row or feature. Nothing panics and nothing is dropped silently.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gridcentre_core::error::CoreError;
use gridcentre_core::load::{GridOptions, IncidentOptions, load_grids, load_incidents};
use gridcentre_core::report::LoadReport;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn grids_err(dir: &Path, name: &str, text: &str) -> CoreError {
    load_grids(&write(dir, name, text.as_bytes()), &GridOptions::default()).map(|_| ()).expect_err("should not load")
}

fn incidents(dir: &Path, name: &str, bytes: &[u8]) -> LoadReport {
    let (inc, r) = load_incidents(&write(dir, name, bytes), &IncidentOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.is_consistent(), "loaded + rejected != read: {r}");
    assert_eq!(inc.len(), r.loaded);
    r
}

const SQUARE: &str = r#"{"type":"Polygon","coordinates":[[[130,46],[130.01,46],[130.01,46.01],[130,46.01],[130,46]]]}"#;

fn feature(code: &str, geometry: &str) -> String {
    format!(r#"{{"type":"Feature","properties":{{"网格编码":"{code}"}},"geometry":{geometry}}}"#)
}

fn collection(features: &[String]) -> String {
    format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))
}

#[test]
fn malformed_geojson_is_an_error_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = grids_err(dir.path(), "truncated.geojson", r#"{"type":"FeatureCollection","features":[{"type":"#);
    assert!(matches!(e, CoreError::GeoJson { .. }), "{e}");
    assert!(e.to_string().contains("truncated.geojson"), "{e}");
    let e = grids_err(dir.path(), "point.geojson", r#"{"type":"Point","coordinates":[1,2]}"#);
    assert!(e.to_string().contains("expected a FeatureCollection"), "{e}");
    let e = grids_err(
        dir.path(),
        "nocode.geojson",
        &format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"foo":1}},"geometry":{SQUARE}}}]}}"#
        ),
    );
    assert!(e.to_string().contains("no property for the grid code") && e.to_string().contains("foo"), "{e}");
    let e = grids_err(dir.path(), "grids.txt", "x");
    assert!(matches!(e, CoreError::UnsupportedFormat { .. }), "{e}");
    let e = load_grids(&dir.path().join("missing.geojson"), &GridOptions::default()).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("missing.geojson"), "{e}");
}

#[test]
fn broken_features_are_rejected_one_by_one_and_the_rest_load() {
    let dir = tempfile::tempdir().unwrap();
    let unclosed = r#"{"type":"Polygon","coordinates":[[[130,46],[130.01,46],[130.01,46.01],[130,46.01]]]}"#;
    let bowtie = r#"{"type":"Polygon","coordinates":[[[130,46],[130.01,46.01],[130.01,46],[130,46.01],[130,46]]]}"#;
    let text = collection(&[
        feature("A", SQUARE),
        feature("B", unclosed),                                     // closed and counted
        feature("C", bowtie),                                       // kept and counted
        feature("D", r#"{"type":"Polygon","coordinates":[]}"#),     // empty
        feature("E", "null"),                                       // no geometry
        feature("F", r#"{"type":"Point","coordinates":[130,46]}"#), // not a polygon
        feature("A", SQUARE),                                       // duplicate code
        feature("", SQUARE),                                        // no code
        feature("G", r#"{"type":"Polygon","coordinates":[[[130,46],[130,46],[130,46]]]}"#), // degenerate
        feature(
            "H",
            r#"{"type":"Polygon","coordinates":[[[13000000,4600000],[13000100,4600000],[13000100,4600100],[13000000,4600000]]]}"#,
        ), // projected
        feature("I", r#"{"type":"Polygon","coordinates":[[["a","b"]]]}"#), // malformed coordinates
        feature(
            "J",
            r#"{"type":"MultiPolygon","coordinates":[[[[130,46],[130.01,46],[130.01,46.01],[130,46]]],[[[131,46],[131.01,46],[131.01,46.01],[131,46]]]]}"#,
        ),
    ]);
    let (layer, r) = load_grids(&write(dir.path(), "grids.geojson", text.as_bytes()), &GridOptions::default()).unwrap();
    assert!(r.is_consistent(), "{r}");
    assert_eq!((r.read, r.loaded, r.rejected), (12, 4, 8), "{r}");
    let codes: Vec<&str> = layer.grids.iter().map(|g| g.code.as_str()).collect();
    assert_eq!(codes, ["A", "B", "C", "J"]);
    for (reason, feature) in [
        ("empty geometry", 4),
        ("no geometry", 5),
        ("not a polygon (Point)", 6),
        ("duplicate grid code", 7),
        ("no grid code", 8),
        ("degenerate exterior ring (fewer than 3 distinct points)", 9),
        ("coordinate out of lon/lat range (projected data? convert to lon/lat first)", 10),
    ] {
        let t = r.rejections.get(reason).unwrap_or_else(|| panic!("no '{reason}' in {r}"));
        assert_eq!(t.examples[0].0, feature, "{reason}");
    }
    assert!(r.rejections.keys().any(|k| k.starts_with("malformed geometry")), "{r}");
    assert_eq!(r.warnings["unclosed ring closed"].examples[0].0, 2);
    assert_eq!(r.warnings.iter().find(|(k, _)| k.starts_with("self-intersecting")).unwrap().1.examples[0].0, 3);
    assert_eq!(layer.grids[3].geometry.0.len(), 2, "both parts of the multipolygon");
    let text = r.to_string();
    assert!(text.contains("feature 7: 'A' (first at feature 1)"), "{text}");
}

#[test]
fn a_layer_with_no_usable_feature_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = grids_err(dir.path(), "none.geojson", &collection(&[feature("A", "null")]));
    assert!(matches!(e, CoreError::NoGrids { read: 1, .. }), "{e}");
}

const HEADER: &str = "事件编号,事件类别,办理状态,上报时间,办结时间,经度,纬度\n";

#[test]
fn gbk_and_bom_csv_files_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{HEADER}E1,民生服务,已办结,2026-01-02 08:00:00,2026-01-03 09:00:00,130.3,46.8\nE2,城建物业,处置中,2026/1/5 10:00,,130.31,46.81\n"
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&body);
    let r_gbk = incidents(dir.path(), "gbk.csv", &gbk);
    let r_bom = incidents(dir.path(), "bom.csv", format!("\u{feff}{body}").as_bytes());
    let r_utf = incidents(dir.path(), "utf8.csv", body.as_bytes());
    assert_eq!(r_gbk.encoding.as_deref(), Some("GBK"));
    assert_eq!(r_bom.encoding.as_deref(), Some("UTF-8 with BOM"));
    assert_eq!(r_utf.encoding.as_deref(), Some("UTF-8"));
    for r in [&r_gbk, &r_bom, &r_utf] {
        assert_eq!((r.read, r.loaded, r.rejected), (2, 2, 0), "{r}");
        assert_eq!(r.columns["id"], "事件编号");
    }
}

#[test]
fn missing_columns_are_errors_that_list_the_columns_found() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "nodate.csv", "事件编号,经度,纬度\nE1,130,46\n".as_bytes());
    let e = load_incidents(&p, &IncidentOptions::default()).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("no column for reported_at") && e.to_string().contains("事件编号, 经度, 纬度"), "{e}");
    let p = write(dir.path(), "noloc.csv", "事件编号,上报时间\nE1,2026-01-01\n".as_bytes());
    let e = load_incidents(&p, &IncidentOptions::default()).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("lon/lat (or grid_code)"), "{e}");
    let mut opts = IncidentOptions::default();
    opts.columns.insert(gridcentre_core::fields::IncidentField::ReportedAt, "受理时间".into());
    let e = load_incidents(&p, &opts).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("'受理时间'"), "{e}");
}

#[test]
fn bad_rows_are_rejected_with_their_row_number_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let csv = format!(
        "{HEADER}\
E1,民生服务,已办结,2026-01-02 08:00:00,2026-01-03 09:00:00,130.3,46.8
E2,民生服务,已办结,not a date,,130.3,46.8
E3,民生服务,已办结,2026-02-30 08:00,,130.3,46.8
E4,民生服务,已办结,2026-01-02 08:00,yesterday,130.3,46.8
E5,民生服务,已办结,2026-01-02 08:00,,13O.3,46.8
E6,民生服务,已办结,2026-01-02 08:00,,46.8,130.3
E7,民生服务,已办结,2026-01-02 08:00,,999,999
E1,民生服务,已办结,2026-01-02 08:00,,130.3,46.8
E9,民生服务,神秘状态,2026-01-02 08:00,,130.3,46.8
E10,民生服务,,2026-01-02 08:00,,130.3,46.8
,民生服务,已办结,2026-01-02 08:00,,130.3,46.8
E12,民生服务,已受理,2026-01-02 08:00,,130.3,
E13,民生服务,已受理,2026-01-02 08:00,,0,0
E14,民生服务,已受理,2026-01-02 08:00,,,
E15,民生服务,已受理,2026-01-02 08:00
E16,,已受理,2026-01-02 08:00,,130.3,46.8,extra,fields
"
    );
    let r = incidents(dir.path(), "bad.csv", csv.as_bytes());
    assert_eq!(r.read, 16);
    let row = |reason: &str| r.rejections.get(reason).map(|t| t.examples[0].0).unwrap_or_else(|| panic!("no '{reason}' in\n{r}"));
    assert_eq!(row("unparsable reported_at"), 3);
    assert_eq!(r.rejections["unparsable reported_at"].count, 2, "bad text and 2026-02-30");
    assert_eq!(row("unparsable closed_at"), 5);
    assert_eq!(row("unparsable coordinates"), 6);
    assert_eq!(row("coordinates out of range"), 8);
    assert_eq!(row("duplicate id"), 9);
    assert_eq!(row("status not mapped"), 10);
    assert_eq!(r.unmapped_statuses["神秘状态"], 1);
    assert_eq!(row("missing status"), 11);
    assert_eq!(row("missing id"), 12);
    assert_eq!(row("only one of lon/lat given"), 13);
    assert_eq!(r.rejected, 10, "{r}");
    // Kept, with the fix counted: swapped coordinates, zero coordinates, no location, no category.
    assert_eq!(r.warnings["lon/lat swapped (swapped back)"].examples[0].0, 7);
    assert_eq!(r.warnings["zero coordinates treated as no location"].examples[0].0, 14);
    assert_eq!(r.warnings["no category (counted as 未分类)"].examples[0].0, 17);
    assert!(r.warnings.contains_key("rows with more fields than the header: extra fields cut off"), "{r}");
    assert_eq!(r.loaded, 6);
}

#[test]
fn a_quote_never_closed_and_long_rows_are_reported_with_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let csv = format!(
        "{HEADER}\
E1,民生服务,已办结,2026-01-02 08:00:00,2026-01-03 09:00:00,130.3,46.8
E2,民生服务,已受理,2026-01-02 08:00,,130.3,46.8,多余
E3,\"民生服务,已受理,2026-01-02 08:00,,130.3,46.8
E4,民生服务,已受理,2026-01-02 08:00,,130.3,46.8
"
    );
    let r = incidents(dir.path(), "open-quote.csv", csv.as_bytes());
    // E3's category swallows the rest of the file: E3 is one row with its other fields empty.
    assert_eq!(r.read, 3, "{r}");
    assert_eq!(r.warnings["quote never closed: the rest of the file read as one field"].examples[0].0, 4);
    let long = &r.warnings["rows with more fields than the header: extra fields cut off"];
    assert_eq!((long.count, long.examples[0].0), (1, 3));
    assert_eq!(r.rejections["missing reported_at"].examples[0].0, 4, "{r}");
}

#[test]
fn empty_and_header_only_files_load_nothing_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let r = incidents(dir.path(), "header.csv", HEADER.as_bytes());
    assert_eq!((r.read, r.loaded), (0, 0));
    let e = load_incidents(&write(dir.path(), "empty.csv", b""), &IncidentOptions::default()).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("empty.csv"), "{e}");
}

#[test]
fn text_that_is_neither_utf8_nor_gbk_is_an_error_with_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"E1,\x81\x20,x\n"); // 0x81 0x20 is not GBK
    let e = load_incidents(&write(dir.path(), "mojibake.csv", &bytes), &IncidentOptions::default()).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("neither UTF-8 nor GBK") && e.to_string().contains("offset"), "{e}");
}

#[test]
fn an_unreadable_excel_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_incidents(&write(dir.path(), "fake.xlsx", b"not a zip"), &IncidentOptions::default()).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("fake.xlsx"), "{e}");
    let e = load_incidents(
        &testdata("nyc311/nyc311_20240901.xlsx"),
        &IncidentOptions { sheet: Some("nope".into()), ..Default::default() },
    )
    .map(|_| ())
    .unwrap_err();
    assert!(e.to_string().contains("no sheet 'nope'"), "{e}");
}

#[test]
fn a_user_mapping_rescues_unknown_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "s.csv", format!("{HEADER}E1,民生服务,神秘状态,2026-01-02 08:00,,130.3,46.8\n").as_bytes());
    let mut opts = IncidentOptions::default();
    opts.status_map.insert_spec("神秘状态=handling").unwrap();
    let (inc, r) = load_incidents(&p, &opts).unwrap();
    assert_eq!((r.loaded, r.rejected), (1, 0));
    assert_eq!(inc.status[0], gridcentre_core::status::Status::Handling);
}
