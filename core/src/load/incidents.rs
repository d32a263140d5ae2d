//! Incident tables: CSV (UTF-8, UTF-8 with BOM, GBK), XLSX/XLS (first or a named sheet) and
//! Parquet, with English or Chinese headers.
//!
//! A CSV is split into fields in place (spans of the file's text, on all cores: see
//! [`super::csvsplit`]); Excel and Parquet are read into a polars `DataFrame` as they are
//! (Parquet keeps its types). Then each recognised field is parsed cell by cell, and a row is
//! loaded or rejected with the first reason that applies. `loaded + rejected == read` always holds.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;

use crate::crs::Crs;
use crate::error::{CoreError, Result};
use crate::fields::{IncidentField as F, resolve};
use crate::load::csvsplit::{self, PieceColumn, Split};
use crate::load::text::{read_file, to_utf8};
use crate::model::{Incidents, NO_CODE, Satisfaction};
use crate::report::LoadReport;
use crate::status::{Status, StatusMap};
use crate::timeparse::{CST_OFFSET_MIN, DAY_MS, excel_serial_to_ms, format_ms, parse_datetime};

/// How to read an incident table.
#[derive(Debug, Clone)]
pub struct IncidentOptions {
    pub crs: Crs,
    /// Explicit columns, overriding recognition.
    pub columns: BTreeMap<F, String>,
    pub status_map: StatusMap,
    /// XLSX sheet name (default: the first sheet).
    pub sheet: Option<String>,
    /// Local offset from UTC in minutes, for timestamps that carry their own offset.
    pub local_offset_min: i32,
    /// Keep every row of an id (a live feed's batch holds an incident and its later changes);
    /// a file's duplicate ids are rejected.
    pub keep_duplicate_ids: bool,
}

impl Default for IncidentOptions {
    fn default() -> Self {
        Self {
            crs: Crs::Wgs84,
            columns: BTreeMap::new(),
            status_map: StatusMap::default(),
            sheet: None,
            local_offset_min: CST_OFFSET_MIN,
            keep_duplicate_ids: false,
        }
    }
}

/// Trims white space, without the Unicode scan when the ends are plain ASCII characters.
fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// Text that means "no value" in exports.
fn is_null_token(s: &str) -> bool {
    matches!(s, "" | "NA" | "N/A" | "n/a" | "NULL" | "null" | "Null" | "None" | "NaN" | "nan" | "NaT" | "-" | "—")
}

/// A text cell, trimmed; a null token is empty.
fn text_cell(s: &str) -> Cell<'_> {
    match trim(s) {
        t if !is_null_token(t) => Cell::Str(t),
        _ => Cell::Empty,
    }
}

/// One cell as the parsers see it.
#[derive(Debug, Clone, Copy)]
enum Cell<'a> {
    Empty,
    Str(&'a str),
    Num(f64),
    /// Local milliseconds (from a typed date/time column).
    Ms(i64),
}

impl<'a> Cell<'a> {
    fn show(&self) -> String {
        match self {
            Cell::Empty => "(empty)".into(),
            Cell::Str(s) => format!("'{s}'"),
            Cell::Num(v) => v.to_string(),
            Cell::Ms(ms) => format_ms(*ms),
        }
    }
    /// The text of the cell, borrowed from the table when it is text already.
    fn cow(&self) -> Option<Cow<'a, str>> {
        match self {
            Cell::Empty => None,
            Cell::Str(s) => Some(Cow::Borrowed(s)),
            other => other.text().map(Cow::Owned),
        }
    }
    fn text(&self) -> Option<String> {
        match self {
            Cell::Empty => None,
            Cell::Str(s) => Some(s.trim().to_string()),
            Cell::Num(v) if v.fract() == 0.0 && v.abs() < 1e15 => Some(format!("{}", *v as i64)),
            Cell::Num(v) => Some(v.to_string()),
            Cell::Ms(ms) => Some(format_ms(*ms)),
        }
    }
}

type StrArray = <StringType as PolarsDataType>::Array;

/// Where a field's cells come from: straight from the CSV text or polars' text array (no copy),
/// or, for the typed columns of Parquet, values converted once.
enum ColumnView<'a> {
    Csv(&'a Split<'a>, usize),
    Text(&'a StrArray),
    Num(Vec<Option<f64>>),
    Ms(Vec<Option<i64>>),
}

impl<'a> ColumnView<'a> {
    /// Views a column of a single-chunk frame.
    fn new(col: &'a Column, local_offset_min: i32) -> Result<ColumnView<'a>> {
        let s = col.as_materialized_series();
        Ok(match s.dtype() {
            DataType::String => {
                let ca = s.str()?;
                match ca.downcast_get(0) {
                    Some(arr) if ca.chunks().len() == 1 => ColumnView::Text(arr),
                    _ => ColumnView::Num(vec![None; ca.len()]), // an empty frame
                }
            }
            DataType::Datetime(unit, tz) => {
                let factor = match unit {
                    TimeUnit::Milliseconds => 1,
                    TimeUnit::Microseconds => 1_000,
                    TimeUnit::Nanoseconds => 1_000_000,
                };
                // A zoned timestamp is stored as UTC; a naive one is already wall-clock time.
                let shift = if tz.is_some() { local_offset_min as i64 * 60_000 } else { 0 };
                let ints = s.cast(&DataType::Int64)?;
                ColumnView::Ms(ints.i64()?.iter().map(|v| v.map(|x| x.div_euclid(factor) + shift)).collect())
            }
            DataType::Date => {
                let ints = s.cast(&DataType::Int32)?;
                ColumnView::Ms(ints.i32()?.iter().map(|v| v.map(|d| d as i64 * DAY_MS)).collect())
            }
            dt if dt.is_primitive_numeric() => {
                let f = s.cast(&DataType::Float64)?;
                ColumnView::Num(f.f64()?.iter().map(|v| v.filter(|x| x.is_finite())).collect())
            }
            other => {
                return Err(CoreError::Invalid(format!(
                    "column '{}' has type {other}, which the loader does not read; export it as text",
                    col.name()
                )));
            }
        })
    }

    fn cell(&self, i: usize) -> Cell<'a> {
        match self {
            ColumnView::Csv(split, j) => text_cell(split.get(i, *j)),
            ColumnView::Text(arr) => arr.get(i).map_or(Cell::Empty, text_cell),
            ColumnView::Num(v) => v[i].map_or(Cell::Empty, Cell::Num),
            ColumnView::Ms(v) => v[i].map_or(Cell::Empty, Cell::Ms),
        }
    }
}

/// A column as one chunk of the row pass reads it: a CSV column straight from the chunk's piece
/// of the split (no lookup of the piece per cell), any other view as it is.
enum Local<'a, 'v> {
    Csv(PieceColumn<'a>),
    View(&'v ColumnView<'a>),
}

impl<'a> Local<'a, '_> {
    fn cell(&self, i: usize) -> Cell<'a> {
        match self {
            Local::Csv(column) => text_cell(column.get(i)),
            Local::View(v) => v.cell(i),
        }
    }
}

impl<'a> ColumnView<'a> {
    /// This column for a chunk of rows starting at `start` (a CSV chunk within one piece).
    fn local(&self, start: usize) -> Local<'a, '_> {
        match self {
            ColumnView::Csv(split, j) => Local::Csv(split.column_at(start, *j)),
            view => Local::View(view),
        }
    }
}

/// The table a file was read into: CSV text split in place, or a polars frame (Excel, Parquet,
/// records).
#[derive(Clone, Copy)]
enum Table<'a> {
    Csv(&'a Split<'a>),
    /// A frame with one chunk per column and only the types [`ColumnView`] reads.
    Frame(&'a DataFrame),
}

impl<'a> Table<'a> {
    fn names(&self) -> Vec<String> {
        match self {
            Table::Csv(s) => s.names.clone(),
            Table::Frame(df) => df.get_column_names().iter().map(|s| s.to_string()).collect(),
        }
    }

    fn height(&self) -> usize {
        match self {
            Table::Csv(s) => s.rows(),
            Table::Frame(df) => df.height(),
        }
    }

    fn view(&self, j: usize, local_offset_min: i32) -> Result<ColumnView<'a>> {
        match *self {
            Table::Csv(s) => Ok(ColumnView::Csv(s, j)),
            Table::Frame(df) => ColumnView::new(&df.columns()[j], local_offset_min),
        }
    }
}

/// Loads incidents from `path`, converting coordinates from `opts.crs` to WGS84.
pub fn load_incidents(path: &Path, opts: &IncidentOptions) -> Result<(Incidents, LoadReport)> {
    let _span = tracing::info_span!("load_incidents", path = %path.display()).entered();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let started = std::time::Instant::now();
    let (incidents, report) = match ext.as_str() {
        "csv" | "txt" | "tsv" => {
            let bytes = read_file(path)?;
            let read_s = started.elapsed().as_secs_f64();
            let (text, enc) = to_utf8(path, &bytes)?;
            let decode_s = started.elapsed().as_secs_f64() - read_s;
            let split = split_csv(path, &text, if ext == "tsv" { b'\t' } else { b',' }, &opts.columns)?;
            let mut report = LoadReport::new(path, "incidents", "CSV");
            report.crs = opts.crs;
            report.encoding = Some(enc.label().to_string());
            let notes = split.notes();
            for (i, fields) in notes.long_rows {
                report.warn(i + 2, "rows with more fields than the header: extra fields cut off", || {
                    format!("{fields} fields, the header has {}", split.names.len())
                });
            }
            if let Some(i) = notes.unterminated {
                report.warn(i + 2, "quote never closed: the rest of the file read as one field", String::new);
            }
            let split_s = started.elapsed().as_secs_f64() - read_s - decode_s;
            let inc = ingest(path, Table::Csv(&split), opts, &mut report)?;
            tracing::debug!(read_s, decode_s, split_s, "CSV file read, decoded and split into fields");
            (inc, report)
        }
        "xlsx" | "xlsm" | "xls" | "parquet" | "pq" => {
            let (df, format) = if ext.starts_with('x') {
                (read_excel(path, opts.sheet.as_deref())?, "Excel")
            } else {
                (read_parquet(path)?, "Parquet")
            };
            let mut report = LoadReport::new(path, "incidents", format);
            report.crs = opts.crs;
            let inc = ingest_frame(path, &df, opts, &mut report)?;
            (inc, report)
        }
        _ => {
            return Err(CoreError::UnsupportedFormat {
                path: path.to_path_buf(),
                expected: ".csv, .tsv, .xlsx, .xls or .parquet",
            });
        }
    };
    tracing::info!(
        read = report.read,
        loaded = report.loaded,
        rejected = report.rejected,
        seconds = started.elapsed().as_secs_f64(),
        "incidents loaded"
    );
    Ok((incidents, report))
}

/// Parses records given as text cells under a header, as a file's rows are parsed: the live
/// feed's events go through the same column recognition, parsing and rejection rules. Row `i`
/// of `rows` is reported as row `i + 2`.
pub fn parse_records(
    label: &Path,
    header: &[String],
    rows: &[Vec<Option<String>>],
    opts: &IncidentOptions,
) -> Result<(Incidents, LoadReport)> {
    let mut report = LoadReport::new(label, "incidents", "records");
    report.crs = opts.crs;
    let mut names = header.to_vec();
    dedupe_names(&mut names);
    let cols: Vec<Column> = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let v: Vec<Option<&str>> = rows.iter().map(|r| r.get(j).and_then(|c| c.as_deref())).collect();
            Column::new(name.as_str().into(), v)
        })
        .collect();
    let df = if cols.is_empty() { DataFrame::empty() } else { DataFrame::new_infer_height(cols)? };
    let inc = ingest_frame(label, &df, opts, &mut report)?;
    Ok((inc, report))
}

/// Splits a CSV text into fields: the header first, then only the columns that map to a field
/// (an export often has 40 columns and we use 12). An empty text is an error; a header alone
/// gives no rows.
fn split_csv<'a>(path: &Path, text: &'a str, separator: u8, explicit: &BTreeMap<F, String>) -> Result<Split<'a>> {
    if text.trim().is_empty() {
        return Err(CoreError::Table {
            path: path.to_path_buf(),
            format: "CSV",
            message: "the file is empty (no header)".into(),
        });
    }
    let (mut names, body) = csvsplit::header(text, separator);
    dedupe_names(&mut names);
    // When the mapping cannot be resolved, keep everything and let `ingest` name the problem.
    let keep: Option<Vec<bool>> = resolve(&names, &F::ALL, F::aliases, explicit).ok().map(|m| {
        let mut keep = vec![false; names.len()];
        for &i in m.values() {
            keep[i] = true;
        }
        keep
    });
    Ok(Split::new(text, names, body, separator, keep.as_deref()))
}

fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
    ParquetReader::new(file).finish().map_err(|e| CoreError::Table {
        path: path.to_path_buf(),
        format: "Parquet",
        message: e.to_string(),
    })
}

fn read_excel(path: &Path, sheet: Option<&str>) -> Result<DataFrame> {
    use calamine::{Data, Reader, open_workbook_auto};
    let xerr = |message: String| CoreError::Table { path: path.to_path_buf(), format: "Excel", message };
    let mut wb = open_workbook_auto(path).map_err(|e| xerr(e.to_string()))?;
    let names = wb.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| xerr(format!("no sheet '{s}'; sheets are: {}", names.join(", "))))?,
        None => names.first().cloned().ok_or_else(|| xerr("the workbook has no sheet".into()))?,
    };
    let range = wb.worksheet_range(&name).map_err(|e| xerr(format!("sheet '{name}': {e}")))?;
    let mut rows = range.rows();
    let Some(header) = rows.next() else {
        return Ok(DataFrame::empty());
    };
    let mut names: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Data::Empty => format!("column_{}", i + 1),
            other => other.to_string().trim().to_string(),
        })
        .collect();
    dedupe_names(&mut names);
    let mut cols: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(range.height()); names.len()];
    for row in rows {
        for (j, col) in cols.iter_mut().enumerate() {
            let v = match row.get(j) {
                None | Some(Data::Empty) => None,
                Some(Data::String(s)) => Some(s.clone()),
                Some(Data::Float(f)) => Some(f.to_string()),
                Some(Data::Int(i)) => Some(i.to_string()),
                Some(Data::Bool(b)) => Some(b.to_string()),
                Some(Data::DateTime(dt)) => {
                    Some(excel_serial_to_ms(dt.as_f64()).map(format_ms).unwrap_or_else(|| dt.as_f64().to_string()))
                }
                Some(Data::DateTimeIso(s)) | Some(Data::DurationIso(s)) => Some(s.clone()),
                Some(Data::Error(e)) => Some(format!("#{e:?}")),
            };
            col.push(v);
        }
    }
    let columns: Vec<Column> = names.iter().zip(cols).map(|(n, v)| Column::new(n.as_str().into(), v)).collect();
    DataFrame::new_infer_height(columns).map_err(|e| xerr(e.to_string()))
}

fn dedupe_names(names: &mut [String]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for n in names.iter_mut() {
        let c = seen.entry(n.clone()).or_insert(0);
        *c += 1;
        if *c > 1 {
            *n = format!("{n}_{c}");
        }
    }
}

/// Casts columns of types the parsers do not read (booleans, categoricals, lists…) to text.
fn text_for_exotic_types(df: &DataFrame) -> Result<DataFrame> {
    let cols: Vec<Column> = df
        .columns()
        .iter()
        .map(|c| {
            let dt = c.dtype();
            let plain = matches!(dt, DataType::String | DataType::Datetime(_, _) | DataType::Date) || dt.is_primitive_numeric();
            if plain { Ok(c.clone()) } else { c.cast(&DataType::String) }
        })
        .collect::<PolarsResult<_>>()?;
    Ok(DataFrame::new_infer_height(cols)?)
}

/// A parsed cell: a value, nothing, or text that does not parse.
type Parsed<T> = std::result::Result<Option<T>, ()>;

fn at<'a>(c: &Option<Local<'a, '_>>, i: usize) -> Cell<'a> {
    c.as_ref().map_or(Cell::Empty, |v| v.cell(i))
}

fn parse_time(c: Cell, local_offset_min: i32) -> Parsed<i64> {
    match c {
        Cell::Empty => Ok(None),
        Cell::Ms(ms) => Ok(Some(ms)),
        Cell::Str(s) => parse_datetime(s, local_offset_min).map(Some).ok_or(()),
        Cell::Num(v) => {
            // Epoch milliseconds or seconds (UTC), or an Excel serial date.
            let off = local_offset_min as i64 * 60_000;
            if v > 1e11 {
                Ok(Some(v as i64 + off))
            } else if v > 1e8 {
                Ok(Some((v * 1000.0) as i64 + off))
            } else {
                excel_serial_to_ms(v).map(Some).ok_or(())
            }
        }
    }
}

fn parse_number(c: Cell) -> Parsed<f64> {
    match c {
        Cell::Empty => Ok(None),
        Cell::Num(v) => Ok(Some(v)),
        Cell::Str(s) => match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(()),
        },
        Cell::Ms(_) => Err(()),
    }
}

fn valid_lon_lat(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

/// Parses the recognised fields of every row into [`Incidents`].
fn ingest(path: &Path, table: Table<'_>, opts: &IncidentOptions, report: &mut LoadReport) -> Result<Incidents> {
    ingest_in_chunks(path, table, opts, report, CHUNK_ROWS)
}

/// [`ingest`] of a polars frame: columns of types the parsers do not read become text, and each
/// column one chunk.
fn ingest_frame(path: &Path, df: &DataFrame, opts: &IncidentOptions, report: &mut LoadReport) -> Result<Incidents> {
    let mut df = text_for_exotic_types(df)?;
    if df.height() < crate::PARALLEL_MIN {
        df.rechunk_mut();
    } else {
        df.rechunk_mut_par();
    }
    ingest(path, Table::Frame(&df), opts, report)
}

/// [`ingest`] with the row pass on chunks of `chunk_rows` rows (tests use small chunks).
fn ingest_in_chunks(
    path: &Path,
    table: Table<'_>,
    opts: &IncidentOptions,
    report: &mut LoadReport,
    chunk_rows: usize,
) -> Result<Incidents> {
    let names = table.names();
    let mapping = resolve(&names, &F::ALL, F::aliases, &opts.columns).map_err(|(f, column)| CoreError::MappedColumnAbsent {
        path: path.to_path_buf(),
        field: f.key().to_string(),
        column,
        columns: names.join(", "),
    })?;
    for (f, i) in &mapping {
        report.columns.insert(f.key().to_string(), names[*i].clone());
    }
    let missing = |field: &'static str| CoreError::MissingColumn { path: path.to_path_buf(), field, columns: names.join(", ") };
    if !mapping.contains_key(&F::ReportedAt) {
        return Err(missing("reported_at"));
    }
    let has_xy = mapping.contains_key(&F::Lon) && mapping.contains_key(&F::Lat);
    if !has_xy && !mapping.contains_key(&F::GridCode) {
        return Err(missing("lon/lat (or grid_code)"));
    }
    let n = table.height();
    report.read = n;
    let off = opts.local_offset_min;
    let cells = |f: F| -> Result<Option<ColumnView>> { mapping.get(&f).map(|&i| table.view(i, off)).transpose() };
    let id = cells(F::Id)?;
    let category = cells(F::Category)?;
    let status = cells(F::Status)?;
    let reported = cells(F::ReportedAt)?;
    let closed = cells(F::ClosedAt)?;
    let deadline = cells(F::Deadline)?;
    let lon = cells(F::Lon)?;
    let lat = cells(F::Lat)?;
    let source = cells(F::Source)?;
    let satisfaction = cells(F::Satisfaction)?;
    let grid_code = cells(F::GridCode)?;
    let department = cells(F::Department)?;
    if status.is_none() {
        report.warn(0, "no status column: closed when closed_at is set, otherwise accepted", || "whole file".into());
    }
    if id.is_none() {
        report.warn(0, "no id column: ids are the row numbers", || "whole file".into());
    }
    let small = n < crate::PARALLEL_MIN;
    let rows_started = std::time::Instant::now();
    // A time that may be empty; an unparsable one rejects the row (None) with `reason`.
    let optional_time = |view: &Option<Local<'_, '_>>,
                         i: usize,
                         reason: &str,
                         report: &mut LoadReport,
                         row: usize,
                         id_text: &str|
     -> Option<Option<i64>> {
        let c = at(view, i);
        match parse_time(c, off) {
            Ok(v) => Some(v),
            Err(()) => {
                report.reject(row, reason, || format!("id {id_text}: {}", c.show()));
                None
            }
        }
    };
    // Every row-local check, on chunks of rows in parallel. Each chunk keeps its rows in order
    // with its own codes for the text fields; the duplicate-id check (which needs every row)
    // and the merge in row order follow.
    let chunk = |start: usize, end: usize| -> Part<'_> {
        let mut part = Part::new(path, end - start);
        let [id, category, status, reported, closed, deadline, lon, lat, source, satisfaction, grid_code, department] =
            [&id, &category, &status, &reported, &closed, &deadline, &lon, &lat, &source, &satisfaction, &grid_code, &department]
                .map(|c| c.as_ref().map(|v| v.local(start)));
        let report = &mut part.report;
        for i in start..end {
            let row = i + 2; // the header is row 1
            let cand = part.row.len() as u32;
            // id
            let id_text: Cow<'_, str> = match &id {
                None => Cow::Owned(format!("row{row}")),
                Some(c) => match c.cell(i).cow() {
                    Some(t) if !t.is_empty() => t,
                    _ => {
                        report.reject(row, "missing id", String::new);
                        continue;
                    }
                },
            };
            // reported_at
            let reported_ms = match parse_time(at(&reported, i), off) {
                Ok(Some(ms)) => ms,
                Ok(None) => {
                    report.reject(row, "missing reported_at", || format!("id {id_text}"));
                    continue;
                }
                Err(()) => {
                    let c = at(&reported, i);
                    report.reject(row, "unparsable reported_at", || format!("id {id_text}: {}", c.show()));
                    continue;
                }
            };
            let Some(closed_ms) = optional_time(&closed, i, "unparsable closed_at", report, row, &id_text) else {
                continue;
            };
            let Some(deadline_ms) = optional_time(&deadline, i, "unparsable deadline", report, row, &id_text) else {
                continue;
            };
            // status
            let st = match &status {
                None => {
                    if closed_ms.is_some() {
                        Status::Closed
                    } else {
                        Status::Accepted
                    }
                }
                Some(c) => match c.cell(i).cow() {
                    None => {
                        report.reject(row, "missing status", || format!("id {id_text}"));
                        continue;
                    }
                    Some(label) => match opts.status_map.map(&label) {
                        Some(s) => s,
                        None => {
                            *report.unmapped_statuses.entry(label.to_string()).or_insert(0) += 1;
                            report.reject(row, "status not mapped", || format!("id {id_text}: '{label}'"));
                            continue;
                        }
                    },
                },
            };
            // location (its warnings stand even when the row turns out to be a duplicate)
            let (mut x, mut y) = (f64::NAN, f64::NAN);
            let mut early: Option<(&'static str, String)> = None;
            if has_xy {
                match (parse_number(at(&lon, i)), parse_number(at(&lat, i))) {
                    (Ok(Some(a)), Ok(Some(b))) => {
                        if a == 0.0 && b == 0.0 {
                            early = Some(("zero coordinates treated as no location", format!("id {id_text}")));
                        } else if valid_lon_lat(a, b) {
                            (x, y) = (a, b);
                        } else if valid_lon_lat(b, a) {
                            early = Some(("lon/lat swapped (swapped back)", format!("id {id_text}: lon {a}, lat {b}")));
                            (x, y) = (b, a);
                        } else {
                            report.reject(row, "coordinates out of range", || format!("id {id_text}: lon {a}, lat {b}"));
                            continue;
                        }
                    }
                    (Ok(None), Ok(None)) => {}
                    (Ok(_), Ok(_)) => {
                        let (cx, cy) = (at(&lon, i), at(&lat, i));
                        report.reject(row, "only one of lon/lat given", || {
                            format!("id {id_text}: lon {}, lat {}", cx.show(), cy.show())
                        });
                        continue;
                    }
                    _ => {
                        let (cx, cy) = (at(&lon, i), at(&lat, i));
                        report.reject(row, "unparsable coordinates", || {
                            format!("id {id_text}: lon {}, lat {}", cx.show(), cy.show())
                        });
                        continue;
                    }
                }
                if !x.is_nan() {
                    (x, y) = opts.crs.to_wgs84(x, y);
                }
            }
            // From here on only the duplicate-id check can reject the row.
            if let Some((kind, detail)) = early {
                part.warnings.push((cand, true, kind, row, detail));
            }
            let mut warn = |kind: &'static str, detail: String| part.warnings.push((cand, false, kind, row, detail));
            let sat = match at(&satisfaction, i) {
                Cell::Empty => Satisfaction::Unrated,
                Cell::Num(v) => Satisfaction::from_score(v).unwrap_or_else(|| {
                    warn("satisfaction not understood (treated as unrated)", format!("id {id_text}: {v}"));
                    Satisfaction::Unrated
                }),
                c => {
                    let t = c.cow().unwrap_or_default();
                    Satisfaction::parse(&t).unwrap_or_else(|| {
                        warn("satisfaction not understood (treated as unrated)", format!("id {id_text}: '{t}'"));
                        Satisfaction::Unrated
                    })
                }
            };
            match (st, closed_ms) {
                (Status::Closed, None) => warn("closed without closed_at", format!("id {id_text}")),
                (s, Some(_)) if s.is_open() => warn("open but has closed_at", format!("id {id_text}: {s}")),
                (_, Some(c)) if c < reported_ms => {
                    warn("closed_at before reported_at (not counted in handling time)", format!("id {id_text}"))
                }
                _ => {}
            }
            let cat = match at(&category, i).cow() {
                Some(t) if !t.is_empty() => part.dicts[0].intern(t),
                _ => {
                    if category.is_some() {
                        warn("no category (counted as 未分类)", format!("id {id_text}"));
                    }
                    part.dicts[0].intern(Cow::Borrowed("未分类"))
                }
            };
            let src = part.dicts[1].intern(at(&source, i).cow().unwrap_or_default());
            let dep = part.dicts[2].intern(at(&department, i).cow().unwrap_or_default());
            let code = match at(&grid_code, i).cow() {
                Some(t) if !t.is_empty() => part.dicts[3].intern(t),
                _ => NO_CODE,
            };
            part.codes[0].push(cat);
            part.codes[1].push(src);
            part.codes[2].push(dep);
            part.codes[3].push(code);
            part.id.push(id_text.into_owned());
            part.row.push(row as u32);
            part.status.push(st);
            part.reported_ms.push(reported_ms);
            part.closed_ms.push(closed_ms);
            part.deadline_ms.push(deadline_ms);
            part.satisfaction.push(sat);
            part.lon.push(x);
            part.lat.push(y);
        }
        part
    };
    // Chunks of at most `chunk_rows` rows; a CSV chunk never crosses a piece of the split.
    let chunk_rows = chunk_rows.max(1);
    let mut starts: Vec<usize> = (0..n).step_by(chunk_rows).collect();
    if let Table::Csv(split) = table {
        starts.extend(split.piece_starts().iter().copied().filter(|&s| s < n));
        starts.sort_unstable();
        starts.dedup();
    }
    let ranges: Vec<(usize, usize)> =
        starts.iter().enumerate().map(|(k, &s)| (s, starts.get(k + 1).copied().unwrap_or(n))).collect();
    let mut parts: Vec<Part<'_>> = if small {
        ranges.into_iter().map(|(s, e)| chunk(s, e)).collect()
    } else {
        ranges.into_par_iter().map(|(s, e)| chunk(s, e)).collect()
    };
    let candidates: usize = parts.iter().map(|p| p.row.len()).sum();
    let chunks_done = std::time::Instant::now();

    // Duplicate ids: the first row of an id that passed every other check is kept.
    let first_of = if opts.keep_duplicate_ids { Vec::new() } else { first_rows(&parts, candidates) };
    let dedupe_done = std::time::Instant::now();

    // The merge. In row order, on this thread: the reports, and the chunks' codes made global
    // when a kept row first uses them (the dictionaries come out in order of first appearance,
    // as one pass over the rows gives; a name only a rejected duplicate carried stays out).
    // Then each chunk drops its duplicates and takes the global codes on all cores, and the
    // chunks are appended.
    let mut out = Incidents::default();
    let mut remaps: Vec<[Vec<u32>; 4]> = Vec::with_capacity(parts.len());
    let mut k0 = 0usize;
    for part in &mut parts {
        report.absorb(std::mem::take(&mut part.report));
        let first = |j: usize| first_of.get(k0 + j).copied().filter(|&f| f != u32::MAX);
        // Warnings (all in row order within the chunk): a duplicate's own are dropped, its
        // early ones (about its location) stand.
        for (j, early, kind, row, detail) in std::mem::take(&mut part.warnings) {
            if early || first(j as usize).is_none() {
                report.warn(row, kind, || detail);
            }
        }
        let duplicates: Vec<usize> = (0..part.row.len()).filter(|&j| first(j).is_some()).collect();
        for &j in &duplicates {
            let prev = first(j).unwrap_or_default();
            report.reject(part.row[j] as usize, "duplicate id", || format!("id {} (first at row {prev})", part.id[j]));
        }
        // Global codes in order of first use by a kept row. A chunk's own codes are numbered
        // in order of first use, so with no duplicate in it they are simply taken in order;
        // otherwise the kept rows are walked.
        let mut remap: [Vec<u32>; 4] = std::array::from_fn(|f| vec![u32::MAX; part.dicts[f].names.len()]);
        let mut global = |f: usize, local: u32, slots: &mut Vec<u32>| {
            if local != NO_CODE && slots[local as usize] == u32::MAX {
                let name = &part.dicts[f].names[local as usize];
                slots[local as usize] = match f {
                    0 => out.categories.intern(name),
                    1 => out.sources.intern(name),
                    2 => out.departments.intern(name),
                    _ => out.grid_codes.intern(name),
                };
            }
        };
        if duplicates.is_empty() {
            for (f, slots) in remap.iter_mut().enumerate() {
                for local in 0..slots.len() as u32 {
                    global(f, local, slots);
                }
            }
        } else {
            for j in (0..part.row.len()).filter(|&j| first(j).is_none()) {
                for (f, slots) in remap.iter_mut().enumerate() {
                    global(f, part.codes[f][j], slots);
                }
            }
        }
        remaps.push(remap);
        k0 += part.row.len();
    }
    let mut offsets = Vec::with_capacity(parts.len());
    let mut k0 = 0usize;
    for part in &parts {
        offsets.push(k0);
        k0 += part.row.len();
    }
    let finish = |((part, remap), k0): ((&mut Part<'_>, [Vec<u32>; 4]), usize)| {
        let keep: Vec<bool> = (0..part.row.len()).map(|j| first_of.get(k0 + j).is_none_or(|&f| f == u32::MAX)).collect();
        part.compact(&keep);
        for (codes, remap) in part.codes.iter_mut().zip(&remap) {
            for c in codes.iter_mut() {
                if *c != NO_CODE {
                    *c = remap[*c as usize];
                }
            }
        }
    };
    if small {
        parts.iter_mut().zip(remaps).zip(offsets).for_each(finish);
    } else {
        parts.par_iter_mut().zip(remaps).zip(offsets).for_each(finish);
    }
    // The chunks appended column by column, the columns on all cores.
    fn concat<T: Send>(dst: &mut Vec<T>, parts: Vec<Vec<T>>) {
        dst.reserve_exact(parts.iter().map(Vec::len).sum());
        for mut p in parts {
            dst.append(&mut p);
        }
    }
    fn take<T, P>(parts: &mut [P], column: impl Fn(&mut P) -> &mut Vec<T>) -> Vec<Vec<T>> {
        parts.iter_mut().map(|p| std::mem::take(column(p))).collect()
    }
    let Incidents {
        id,
        category,
        source,
        department,
        status,
        reported_ms,
        closed_ms,
        deadline_ms,
        satisfaction,
        lon,
        lat,
        grid_code,
        source_row,
        ..
    } = &mut out;
    let (ids, rows) = (take(&mut parts, |p| &mut p.id), take(&mut parts, |p| &mut p.row));
    let codes: [Vec<Vec<u32>>; 4] = std::array::from_fn(|f| take(&mut parts, |p| &mut p.codes[f]));
    let (st, rep, clo, dl) = (
        take(&mut parts, |p| &mut p.status),
        take(&mut parts, |p| &mut p.reported_ms),
        take(&mut parts, |p| &mut p.closed_ms),
        take(&mut parts, |p| &mut p.deadline_ms),
    );
    let (sat, x, y) =
        (take(&mut parts, |p| &mut p.satisfaction), take(&mut parts, |p| &mut p.lon), take(&mut parts, |p| &mut p.lat));
    let [c, s, d, g] = codes;
    let jobs: Vec<Box<dyn FnOnce() + Send + '_>> = vec![
        Box::new(|| concat(id, ids)),
        Box::new(|| concat(reported_ms, rep)),
        Box::new(|| concat(closed_ms, clo)),
        Box::new(|| concat(deadline_ms, dl)),
        Box::new(|| concat(lon, x)),
        Box::new(|| concat(lat, y)),
        Box::new(|| {
            concat(category, c);
            concat(source, s);
            concat(department, d);
            concat(grid_code, g);
            concat(status, st);
            concat(satisfaction, sat);
            concat(source_row, rows);
        }),
    ];
    if small {
        jobs.into_iter().for_each(|job| job());
    } else {
        rayon::scope(|scope| jobs.into_iter().for_each(|job| scope.spawn(|_| job())));
    }
    report.loaded = out.len();
    tracing::debug!(
        rows_s = (chunks_done - rows_started).as_secs_f64(),
        duplicates_s = (dedupe_done - chunks_done).as_secs_f64(),
        merge_s = dedupe_done.elapsed().as_secs_f64(),
        "parsed the rows in chunks, on all cores; then the duplicate ids and the merge"
    );
    debug_assert!(report.is_consistent());
    Ok(out)
}

/// Rows per chunk of the parallel row pass.
const CHUNK_ROWS: usize = 32_768;

/// A chunk-local dictionary of a text field (borrowing the table's text where it can).
#[derive(Default)]
struct LocalDict<'a> {
    names: Vec<Cow<'a, str>>,
    index: HashMap<Cow<'a, str>, u32, foldhash::fast::RandomState>,
}

impl<'a> LocalDict<'a> {
    fn intern(&mut self, name: Cow<'a, str>) -> u32 {
        if let Some(&i) = self.index.get(name.as_ref()) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.clone());
        self.index.insert(name, i);
        i
    }
}

/// What one chunk of rows made: the rows that passed every row-local check (candidates for
/// the duplicate-id check), their fields with chunk-local codes for the text fields, the
/// rejections met, and the warnings of each candidate (kept even for a duplicate when `early`).
struct Part<'a> {
    report: LoadReport,
    row: Vec<u32>,
    id: Vec<String>,
    status: Vec<Status>,
    reported_ms: Vec<i64>,
    closed_ms: Vec<Option<i64>>,
    deadline_ms: Vec<Option<i64>>,
    satisfaction: Vec<Satisfaction>,
    lon: Vec<f64>,
    lat: Vec<f64>,
    /// Category, source, department, declared grid code: indices into `dicts` (grid code
    /// [`NO_CODE`] when none).
    codes: [Vec<u32>; 4],
    dicts: [LocalDict<'a>; 4],
    /// (candidate, early, kind, row, detail)
    warnings: Vec<(u32, bool, &'static str, usize, String)>,
}

impl Part<'_> {
    /// Keeps the candidates whose `keep` is true (the warnings are already taken).
    fn compact(&mut self, keep: &[bool]) {
        if keep.iter().all(|&k| k) {
            return;
        }
        fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut k = keep.iter();
            v.retain(|_| k.next().copied().unwrap_or(true));
        }
        retain(&mut self.row, keep);
        retain(&mut self.id, keep);
        retain(&mut self.status, keep);
        retain(&mut self.reported_ms, keep);
        retain(&mut self.closed_ms, keep);
        retain(&mut self.deadline_ms, keep);
        retain(&mut self.satisfaction, keep);
        retain(&mut self.lon, keep);
        retain(&mut self.lat, keep);
        for c in &mut self.codes {
            retain(c, keep);
        }
    }

    fn new(path: &Path, rows: usize) -> Self {
        Part {
            report: LoadReport::new(path, "incidents", ""),
            row: Vec::with_capacity(rows),
            id: Vec::with_capacity(rows),
            status: Vec::with_capacity(rows),
            reported_ms: Vec::with_capacity(rows),
            closed_ms: Vec::with_capacity(rows),
            deadline_ms: Vec::with_capacity(rows),
            satisfaction: Vec::with_capacity(rows),
            lon: Vec::with_capacity(rows),
            lat: Vec::with_capacity(rows),
            codes: std::array::from_fn(|_| Vec::with_capacity(rows)),
            dicts: Default::default(),
            warnings: Vec::new(),
        }
    }
}

/// For each candidate row (all chunks, in row order): the row of the first candidate with the
/// same id when it is a later one, else `u32::MAX`. Each id is hashed once; the candidates are
/// sorted into shards by that hash (keeping row order within a shard, so "first" is the first
/// in the file) and the shards checked in parallel, each with a table that reuses the hashes.
fn first_rows(parts: &[Part<'_>], candidates: usize) -> Vec<u32> {
    const SHARD_BITS: u32 = 4;
    const SHARDS: usize = 1 << SHARD_BITS;
    let ids: Vec<(&str, u32)> = parts.iter().flat_map(|p| p.id.iter().map(String::as_str).zip(p.row.iter().copied())).collect();
    use std::hash::BuildHasher;
    let state = foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15);
    let small = candidates < crate::PARALLEL_MIN;
    let hash = |(id, _): &(&str, u32)| state.hash_one(id);
    let hashes: Vec<u64> =
        if small { ids.iter().map(hash).collect() } else { ids.par_iter().with_min_len(16_384).map(hash).collect() };
    // The top bits pick the shard (the table inside a shard uses the low ones).
    let shard_of = |h: u64| (h >> (64 - SHARD_BITS)) as usize;
    let mut bounds = [0usize; SHARDS + 1];
    for &h in &hashes {
        bounds[shard_of(h) + 1] += 1;
    }
    for s in 0..SHARDS {
        bounds[s + 1] += bounds[s];
    }
    let mut next = bounds;
    let mut order = vec![0u32; candidates];
    for (k, &h) in hashes.iter().enumerate() {
        let s = shard_of(h);
        order[next[s]] = k as u32;
        next[s] += 1;
    }
    let check = |s: usize| {
        let members = &order[bounds[s]..bounds[s + 1]];
        let mut seen: hashbrown::HashTable<u32> = hashbrown::HashTable::with_capacity(members.len());
        let mut dups = Vec::new();
        for &k in members {
            let id = ids[k as usize].0;
            let h = hashes[k as usize];
            match seen.entry(h, |&j| ids[j as usize].0 == id, |&j| hashes[j as usize]) {
                hashbrown::hash_table::Entry::Occupied(e) => dups.push((k, ids[*e.get() as usize].1)),
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(k);
                }
            }
        }
        dups
    };
    let found: Vec<Vec<(u32, u32)>> =
        if small { (0..SHARDS).map(check).collect() } else { (0..SHARDS).into_par_iter().map(check).collect() };
    let mut first_of = vec![u32::MAX; candidates];
    for (k, first) in found.into_iter().flatten() {
        first_of[k as usize] = first;
    }
    first_of
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// The reference for the CSV split: polars' own reader, every column as text.
    fn polars_frame(text: &str) -> DataFrame {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_raise_if_empty(false)
            .map_parse_options(|p| p.with_truncate_ragged_lines(true).with_missing_is_null(true))
            .into_reader_with_file_handle(Cursor::new(text.as_bytes()))
            .finish()
            .unwrap()
    }

    /// Loads `text` through the split and through polars' reader and returns both results as
    /// text (incidents and report), without the note only the split makes.
    fn both_ways(text: &str) -> (String, String) {
        let path = Path::new("t.csv");
        let opts = IncidentOptions::default();
        let show = |inc: &Incidents, r: &LoadReport| {
            let mut warnings = r.warnings.clone();
            warnings.remove("rows with more fields than the header: extra fields cut off");
            let dicts = [&inc.categories, &inc.sources, &inc.departments, &inc.grid_codes].map(|d| &d.names);
            let columns = (&inc.id, &inc.source_row, &inc.category, &inc.source, &inc.department, &inc.grid_code, &inc.status);
            let values = (&inc.reported_ms, &inc.closed_ms, &inc.deadline_ms, &inc.satisfaction, &inc.lon, &inc.lat);
            format!(
                "{dicts:?}\n{columns:?}\n{values:?}\n{} {} {}\n{:?}\n{warnings:?}\n{:?}",
                r.read, r.loaded, r.rejected, r.rejections, r.unmapped_statuses
            )
        };
        let split = split_csv(path, text, b',', &opts.columns).unwrap();
        let mut r1 = LoadReport::new(path, "incidents", "CSV");
        let ours = ingest(path, Table::Csv(&split), &opts, &mut r1).unwrap();
        let mut r2 = LoadReport::new(path, "incidents", "CSV");
        let reference = ingest_frame(path, &polars_frame(text), &opts, &mut r2).unwrap();
        (show(&ours, &r1), show(&reference, &r2))
    }

    /// The CSV split gives, incident for incident and report line for report line, what polars'
    /// CSV reader gives: on the real exports in the tests (NYC, SF), the sample city, and a file
    /// of the awkward cases (quoted separators and line breaks, doubled quotes, CRLF, empty
    /// lines, short and long rows, blank cells and null tokens).
    #[test]
    fn csv_split_equals_polars_reader() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for file in ["testdata/nyc311/nyc311_20240901.csv", "testdata/sf311/sf311_cases_sample.csv", "sample-data/incidents.csv"]
        {
            let bytes = std::fs::read(root.join(file)).unwrap();
            let (text, _) = to_utf8(Path::new(file), &bytes).unwrap();
            let (ours, reference) = both_ways(&text);
            assert!(ours.len() > 1000, "{file}: {ours}");
            if ours != reference {
                let (a, b): (Vec<&str>, Vec<&str>) = (ours.split(", ").collect(), reference.split(", ").collect());
                let k = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
                panic!(
                    "{file}: the split and polars differ at item {k}: {:?} vs {:?}",
                    &a[k.saturating_sub(3)..(k + 3).min(a.len())],
                    &b[k.saturating_sub(3)..(k + 3).min(b.len())]
                );
            }
        }
        let awkward = "事件编号,事件类别,办理状态,上报时间,办结时间,经度,纬度,满意度\r\n\
E1,\"城建,物业\",已办结,2026-01-02 08:00,2026-01-03 09:00,130.3,46.8,满意\r\n\
\r\n\
E2,\"民生\n服务\",已受理,2026-01-02 08:00,,130.3,46.8,\r\n\
\"E3\",\"说 \"\"好\"\"\",已受理,\"2026-01-02 08:00\",,\"130.3\",\"46.8\",NA\n\
E4,民生服务,已受理,2026-01-02 08:00\n\
E5,民生服务,已受理,2026-01-02 08:00,,130.3,46.8,满意,多余,字段\n\
\n\
E6, 民生服务 ,已受理, 2026-01-02 08:00 ,,130.3 , 46.8,\"\"\n\
E7,民生服务,已受理,2026-01-02 08:00,,,,";
        let (ours, reference) = both_ways(awkward);
        assert!(ours.contains("E7"), "{ours}");
        assert_eq!(ours, reference);
    }

    /// The sharded duplicate-id check, on enough candidates for its parallel path, gives what one
    /// map over the rows in order gives.
    #[test]
    fn duplicate_ids_found_in_shards_are_those_of_one_pass() {
        let mut parts: Vec<Part<'_>> = Vec::new();
        let mut all: Vec<(String, u32)> = Vec::new();
        for c in 0..3u32 {
            let mut part = Part::new(Path::new("t.csv"), 20_000);
            for j in 0..20_000u32 {
                let k = c * 20_000 + j;
                // Ids repeat across chunks and within them; some differ only in case or length.
                let id = match k % 5 {
                    0 => format!("I{}", k % 7_919),
                    1 => format!("i{}", k % 7_919),
                    _ => format!("I{k}"),
                };
                part.id.push(id.clone());
                part.row.push(k * 2 + 2);
                all.push((id, k * 2 + 2));
            }
            parts.push(part);
        }
        let found = first_rows(&parts, all.len());
        let mut seen: HashMap<&str, u32> = HashMap::new();
        let expected: Vec<u32> = all
            .iter()
            .map(|(id, row)| match seen.get(id.as_str()) {
                Some(&first) => first,
                None => {
                    seen.insert(id, *row);
                    u32::MAX
                }
            })
            .collect();
        assert!(expected.iter().filter(|&&f| f != u32::MAX).count() > 10_000);
        assert_eq!(found, expected);
    }

    /// The rows parsed in chunks of any size give what one pass over all rows gives: the same
    /// incidents in row order, dictionaries in order of first appearance, the first row of a
    /// duplicate id kept (across chunks), and the same report, example for example.
    #[test]
    fn chunked_row_pass_equals_one_pass() {
        let header: Vec<String> = "id,category,source,status,reported_at,closed_at,lon,lat,grid_code,satisfaction"
            .split(',')
            .map(String::from)
            .collect();
        let lines = [
            "A,城建物业,热线,已受理,2025-01-01 08:00,,130.3,46.8,G1,", // row 2
            "B,民生服务,APP,已办结,2025-01-01 09:00,2025-01-02 09:00,130.3,46.8,G2,满意", // 3
            "C,,热线,已受理,2025-01-01 10:00,,0,0,,",                  // 4: no category, zero coords
            "A,社会治安,热线,已受理,2025-01-02 08:00,,130.3,46.8,G1,", // 5: duplicate of row 2
            "D,城建物业,热线,不知道,2025-01-02 09:00,,130.3,46.8,G1,", // 6: status not mapped
            "E,社会治安,热线,已受理,soon,,130.3,46.8,G1,",             // 7: unparsable reported_at
            "C,城建物业,热线,已受理,2025-01-02 10:00,,46.8,130.3,G3,", // 8: swapped, duplicate of row 4
            "F,党建引领,新来源,已办结,2025-01-02 11:00,,130.3,46.8,G4,", // 9: closed without closed_at
            "B,城建物业,热线,已受理,2025-01-03 08:00,,130.3,46.8,G2,xx", // 10: duplicate; its satisfaction warning goes with it
            "G,矛盾调处,热线,已受理,2025-01-03 09:00,,130.3,46.8,G5,很好", // 11: satisfaction not understood
            ",城建物业,热线,已受理,2025-01-03 10:00,,130.3,46.8,G1,",  // 12: missing id
            "H,综合执法,巡查,已受理,2025-01-03 11:00,,130.3,46.8,G6,满意", // 13
            "D,城建物业,热线,已受理,2025-01-03 12:00,,130.3,46.8,G1,", // 14: D's first kept row
        ];
        let rows: Vec<Vec<Option<String>>> =
            lines.iter().map(|l| l.split(',').map(|c| (!c.is_empty()).then(|| c.to_string())).collect()).collect();
        let cols: Vec<Column> = header
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let v: Vec<Option<&str>> = rows.iter().map(|r| r.get(j).and_then(|c| c.as_deref())).collect();
                Column::new(name.as_str().into(), v)
            })
            .collect();
        let df = DataFrame::new_infer_height(cols).unwrap();
        let opts = IncidentOptions::default();
        let run = |chunk: usize| {
            let mut report = LoadReport::new("t.csv", "incidents", "records");
            let inc = ingest_in_chunks(Path::new("t.csv"), Table::Frame(&df), &opts, &mut report, chunk).unwrap();
            assert!(report.is_consistent(), "{report}");
            (inc, report)
        };
        let (one, r1) = run(usize::MAX);
        // What one pass must give.
        assert_eq!(one.id, ["A", "B", "C", "F", "G", "H", "D"]);
        assert_eq!(one.source_row, [2, 3, 4, 9, 11, 13, 14]);
        assert_eq!(one.categories.names, ["城建物业", "民生服务", "未分类", "党建引领", "矛盾调处", "综合执法"]);
        assert_eq!((r1.read, r1.loaded, r1.rejected), (13, 7, 6));
        let dup = &r1.rejections["duplicate id"];
        assert_eq!(
            dup.examples,
            [(5, "id A (first at row 2)".to_string()), (8, "id C (first at row 4)".into()), (10, "id B (first at row 3)".into())]
        );
        assert_eq!(r1.warnings["lon/lat swapped (swapped back)"].examples[0].0, 8, "a duplicate's location warning stands");
        assert_eq!(r1.warnings["satisfaction not understood (treated as unrated)"].examples, [(11, "id G: '很好'".to_string())]);
        assert_eq!(r1.warnings["zero coordinates treated as no location"].count, 1);
        assert_eq!(r1.unmapped_statuses["不知道"], 1);
        // The same rows as CSV text, split into pieces of a few rows each (the row pass's
        // chunks then never cross a piece, whatever their own size).
        let text = format!("{}\n{}\n", header.join(","), lines.join("\n"));
        let (names, body) = csvsplit::header(&text, b',');
        let run_csv = |piece_bytes: usize, chunk: usize| {
            let split = Split::with_piece_bytes(&text, names.clone(), body, b',', None, piece_bytes);
            assert!(piece_bytes > 1000 || split.piece_starts().len() > 3, "pieces of {piece_bytes} bytes");
            let mut report = LoadReport::new("t.csv", "incidents", "records");
            let inc = ingest_in_chunks(Path::new("t.csv"), Table::Csv(&split), &opts, &mut report, chunk).unwrap();
            assert!(report.is_consistent(), "{report}");
            (inc, report)
        };
        // Every chunk size (and piece size) gives the same.
        let runs = [1, 2, 3, 5, 8].into_iter().map(|chunk| (chunk, 0)).chain([
            (usize::MAX, 1),
            (3, 100),
            (usize::MAX, 100),
            (5, 120),
            (2, 10_000),
        ]);
        for (chunk, piece_bytes) in runs {
            let (inc, r) = if piece_bytes == 0 { run(chunk) } else { run_csv(piece_bytes, chunk) };
            let chunk = format!("{chunk}, pieces of {piece_bytes} bytes");
            assert_eq!(inc.id, one.id, "chunk {chunk}");
            assert_eq!(inc.source_row, one.source_row);
            for (a, b) in [(&inc.categories, &one.categories), (&inc.sources, &one.sources), (&inc.grid_codes, &one.grid_codes)] {
                assert_eq!(a.names, b.names, "chunk {chunk}");
            }
            assert_eq!(
                (&inc.category, &inc.source, &inc.department, &inc.grid_code),
                (&one.category, &one.source, &one.department, &one.grid_code)
            );
            assert_eq!((&inc.status, &inc.reported_ms, &inc.closed_ms), (&one.status, &one.reported_ms, &one.closed_ms));
            assert_eq!(
                format!("{:?}", (&inc.satisfaction, &inc.lon, &inc.lat)),
                format!("{:?}", (&one.satisfaction, &one.lon, &one.lat))
            );
            assert_eq!((r.read, r.loaded, r.rejected), (r1.read, r1.loaded, r1.rejected));
            assert_eq!(
                format!("{:?}", (&r.rejections, &r.warnings, &r.unmapped_statuses)),
                format!("{:?}", (&r1.rejections, &r1.warnings, &r1.unmapped_statuses)),
                "chunk {chunk}"
            );
        }
    }
}
