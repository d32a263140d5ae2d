//! Incident tables: CSV (UTF-8, UTF-8 with BOM, GBK), XLSX/XLS (first or a named sheet) and
//! Parquet, with English or Chinese headers.
//!
//! A CSV is read in pieces of whole records on all cores (see [`super::csvsplit`]): a first pass
//! counts each piece's records, so every record has its place in the final columns before any
//! is parsed; the second reads each piece again through a buffer that stays in the cache and
//! parses its rows straight into those places. A GBK file (or one that changes while it is
//! read) is decoded into memory first and read from there the same way. Excel and Parquet are
//! read into a polars `DataFrame` as they are (Parquet keeps its types) and go through the same
//! row checks in chunks of rows. A row is loaded or rejected with the first reason that
//! applies; `loaded + rejected == read` always holds.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use polars::prelude::*;
use rayon::prelude::*;

use crate::crs::Crs;
use crate::error::{CoreError, Result};
use crate::fields::{IncidentField as F, resolve};
use crate::load::csvsplit::{self, Bytes, Piece, RecordShape};
use crate::load::text::{TextEncoding, read_file, to_utf8, trim};
use crate::model::{Dict, Ids, Incidents, NO_CODE, Satisfaction};
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

/// Text that means "no value" in exports.
fn is_null_token(s: &str) -> bool {
    matches!(s, "" | "NA" | "N/A" | "n/a" | "NULL" | "null" | "Null" | "None" | "NaN" | "nan" | "NaT" | "-" | "—")
}

/// A text cell, trimmed; a null token is empty.
#[inline]
fn text_cell(s: &str) -> Cell<'_> {
    let t = trim(s);
    // Null tokens are at most four bytes (or the three of "—"); most cells are longer.
    if t.len() <= 4 && is_null_token(t) { Cell::Empty } else { Cell::Str(t) }
}

/// One cell as the parsers see it.
#[derive(Debug, Clone, Copy, Default)]
enum Cell<'a> {
    #[default]
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

/// The cells of one row, by field (`cells[F::Id as usize]`); fields with no column are empty.
type Cells<'a> = [Cell<'a>; FIELDS];
const FIELDS: usize = F::ALL.len();

type StrArray = <StringType as PolarsDataType>::Array;

/// Where a frame column's cells come from: polars' text array (no copy), or, for the typed
/// columns of Parquet, values converted once.
enum ColumnView<'a> {
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
            ColumnView::Text(arr) => arr.get(i).map_or(Cell::Empty, text_cell),
            ColumnView::Num(v) => v[i].map_or(Cell::Empty, Cell::Num),
            ColumnView::Ms(v) => v[i].map_or(Cell::Empty, Cell::Ms),
        }
    }
}

/// Loads incidents from `path`, converting coordinates from `opts.crs` to WGS84.
pub fn load_incidents(path: &Path, opts: &IncidentOptions) -> Result<(Incidents, LoadReport)> {
    let _span = tracing::info_span!("load_incidents", path = %path.display()).entered();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let started = std::time::Instant::now();
    let (incidents, report) = match ext.as_str() {
        "csv" | "txt" | "tsv" => load_csv(path, if ext == "tsv" { b'\t' } else { b',' }, opts, csvsplit::PIECE_BYTES)?,
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

/// Why a CSV read from the file in pieces has to be read again from memory.
enum Again {
    /// Not UTF-8: decoded as GBK (or reported as neither) from the whole file.
    NotUtf8,
    /// The file changed between the passes (an export still being written).
    Changed,
    Error(CoreError),
}

impl From<CoreError> for Again {
    fn from(e: CoreError) -> Self {
        Again::Error(e)
    }
}

/// Loads a CSV: read from the file in pieces when it is UTF-8 and stays as it is while read,
/// otherwise decoded into memory once (GBK) and read from there.
fn load_csv(path: &Path, sep: u8, opts: &IncidentOptions, piece_bytes: usize) -> Result<(Incidents, LoadReport)> {
    let io = |e| CoreError::io(path, e);
    #[cfg(unix)]
    {
        let file = std::fs::File::open(path).map_err(io)?;
        let before = file.metadata().map_err(io)?;
        let src = Bytes::File { file: &file, len: before.len() as usize };
        match csv_from(path, src, sep, opts, piece_bytes, None) {
            Ok(done) => {
                let after = file.metadata().map_err(io)?;
                if after.len() == before.len() && after.modified().ok() == before.modified().ok() {
                    return Ok(done);
                }
                tracing::info!("the file changed while it was read: reading it again in one piece");
            }
            Err(Again::Error(e)) => return Err(e),
            Err(Again::Changed) => tracing::info!("the file changed while it was read: reading it again in one piece"),
            Err(Again::NotUtf8) => {}
        }
    }
    let bytes = read_file(path)?;
    let (text, enc) = to_utf8(path, &bytes)?;
    match csv_from(path, Bytes::Memory(text.as_bytes()), sep, opts, piece_bytes, Some(enc)) {
        Ok(done) => Ok(done),
        Err(Again::Error(e)) => Err(e),
        // Text in memory is UTF-8 and does not change.
        Err(Again::NotUtf8 | Again::Changed) => {
            Err(CoreError::Table { path: path.to_path_buf(), format: "CSV", message: "the text could not be read".into() })
        }
    }
}

/// A CSV from `src`; `encoding` is known for decoded text (which has no BOM any more) and
/// detected otherwise.
fn csv_from(
    path: &Path,
    src: Bytes<'_>,
    sep: u8,
    opts: &IncidentOptions,
    piece_bytes: usize,
    encoding: Option<TextEncoding>,
) -> std::result::Result<(Incidents, LoadReport), Again> {
    let io = |e| Again::Error(CoreError::io(path, e));
    let first = src.window(0, 64 << 10, Vec::new()).map_err(io)?;
    let (enc, skip) = match encoding {
        Some(e) => (e, 0),
        None if first.bytes().starts_with(b"\xEF\xBB\xBF") => (TextEncoding::Utf8Bom, 3),
        None => (TextEncoding::Utf8, 0),
    };
    if first.at_text_end() && first.bytes().get(skip..).is_none_or(|b| b.iter().all(u8::is_ascii_whitespace)) {
        return Err(Again::Error(CoreError::Table {
            path: path.to_path_buf(),
            format: "CSV",
            message: "the file is empty (no header)".into(),
        }));
    }
    let mut window = src.window(skip, 64 << 10, first.into_buf()).map_err(io)?;
    let (mut names, body) = loop {
        if let Some(h) = csvsplit::header(&window, sep) {
            if simdutf8::basic::from_utf8(&window.bytes()[..h.1 - skip]).is_err() {
                return Err(Again::NotUtf8);
            }
            break h;
        }
        let have = window.bytes().len();
        window.extend(skip + 2 * have.max(1)).map_err(io)?;
    };
    dedupe_names(&mut names);
    let mapping = resolve_mapping(path, &names, opts)?;
    let mut report = LoadReport::new(path, "incidents", "CSV");
    report.crs = opts.crs;
    report.encoding = Some(enc.label().to_string());
    let parallel = src.len() >= 2 * piece_bytes;
    let planned = std::time::Instant::now();
    let pieces = csvsplit::plan(&src, body, sep, piece_bytes, parallel).map_err(io)?;
    tracing::debug!(pieces = pieces.len(), plan_s = planned.elapsed().as_secs_f64(), "CSV cut into pieces of whole records");
    let source = CsvRows::new(path, src, sep, &names, &mapping, pieces);
    let inc = ingest(path, &names, &mapping, &source, opts, &mut report, parallel)?;
    Ok((inc, report))
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

/// Which column holds each field; an error names a field the table cannot do without.
fn resolve_mapping(path: &Path, names: &[String], opts: &IncidentOptions) -> Result<BTreeMap<F, usize>> {
    let mapping = resolve(names, &F::ALL, F::aliases, &opts.columns).map_err(|(f, column)| CoreError::MappedColumnAbsent {
        path: path.to_path_buf(),
        field: f.key().to_string(),
        column,
        columns: names.join(", "),
    })?;
    let missing = |field: &'static str| CoreError::MissingColumn { path: path.to_path_buf(), field, columns: names.join(", ") };
    if !mapping.contains_key(&F::ReportedAt) {
        return Err(missing("reported_at"));
    }
    let has_xy = mapping.contains_key(&F::Lon) && mapping.contains_key(&F::Lat);
    if !has_xy && !mapping.contains_key(&F::GridCode) {
        return Err(missing("lon/lat (or grid_code)"));
    }
    Ok(mapping)
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
        Cell::Str(s) => match plain_decimal(s).map_or_else(|| s.trim().parse::<f64>(), Ok) {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(()),
        },
        Cell::Ms(_) => Err(()),
    }
}

/// A plain decimal (`130.359982`, `-46.5`, `12`) with at most 15 digits, read without the
/// general float parser, to the same value: the digits make an integer below 2^53 and the
/// power of ten is exact, so their IEEE quotient is the correctly rounded value of the text,
/// which is what `str::parse` gives (tested). `None` for anything else.
fn plain_decimal(s: &str) -> Option<f64> {
    const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let b = s.as_bytes();
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let (mut m, mut n, mut frac, mut dot) = (0u64, 0usize, 0usize, false);
    for &c in digits {
        if c == b'.' && !dot {
            dot = true;
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        m = m * 10 + d as u64;
        n += 1;
        frac += dot as usize;
        if n > 15 {
            return None;
        }
    }
    if n == 0 {
        return None;
    }
    let v = m as f64 / POW10[frac];
    Some(if negative { -v } else { v })
}

fn valid_lon_lat(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

/// Rows of a table in pieces that can be parsed independently and in any order.
trait RowSource: Sync {
    /// Records in each piece, in order.
    fn piece_rows(&self) -> Vec<usize>;
    /// Calls `row(cells, shape)` for every record of piece `k`, in order.
    fn read(&self, k: usize, buf: &mut Vec<u8>, row: &mut impl FnMut(&Cells<'_>, RecordShape)) -> std::result::Result<(), Again>;
}

/// A CSV's pieces (from the first pass).
struct CsvRows<'a> {
    path: &'a Path,
    src: Bytes<'a>,
    sep: u8,
    pieces: Vec<Piece>,
    /// Column → kept slot; the field of each kept slot.
    slot: Vec<Option<usize>>,
    slot_field: Vec<usize>,
}

impl<'a> CsvRows<'a> {
    fn new(
        path: &'a Path,
        src: Bytes<'a>,
        sep: u8,
        names: &[String],
        mapping: &BTreeMap<F, usize>,
        pieces: Vec<Piece>,
    ) -> CsvRows<'a> {
        let mut slot = vec![None; names.len()];
        let mut slot_field = Vec::new();
        for (f, &col) in mapping {
            if let Some(s) = slot.get_mut(col) {
                *s = Some(slot_field.len());
                slot_field.push(*f as usize);
            }
        }
        CsvRows { path, src, sep, pieces, slot, slot_field }
    }
}

impl RowSource for CsvRows<'_> {
    fn piece_rows(&self) -> Vec<usize> {
        self.pieces.iter().map(|p| p.records).collect()
    }

    fn read(&self, k: usize, buf: &mut Vec<u8>, row: &mut impl FnMut(&Cells<'_>, RecordShape)) -> std::result::Result<(), Again> {
        let piece = self.pieces[k];
        let w = match self.src.window(piece.start, piece.end, std::mem::take(buf)) {
            Ok(w) => w,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(Again::Changed),
            Err(e) => return Err(Again::Error(CoreError::io(self.path, e))),
        };
        let result = match simdutf8::basic::from_utf8(w.bytes()) {
            Err(_) => Err(Again::NotUtf8),
            Ok(text) => {
                let bytes = text.as_bytes();
                let mut unescaped: Vec<Option<String>> = vec![None; self.slot_field.len()];
                let (records, quoted, kept) = (piece.records, piece.quoted, self.slot_field.len());
                if !quoted {
                    // No quote in the piece: every field is its text as it stands.
                    let slot_field = &self.slot_field[..];
                    let plain = |fields: &[csvsplit::Field], shape| {
                        let mut cells: Cells<'_> = [Cell::Empty; FIELDS];
                        for (&f, &to) in fields.iter().zip(slot_field) {
                            cells[to] = text_cell(text.get(f.start..f.end).unwrap_or(""));
                        }
                        row(&cells, shape);
                    };
                    csvsplit::for_each_record(bytes, records, false, self.sep, &self.slot, kept, plain)
                        .map_err(|_| Again::Changed)
                } else {
                    csvsplit::for_each_record(bytes, records, quoted, self.sep, &self.slot, kept, |fields, shape| {
                        let mut any_escaped = false;
                        for (s, f) in fields.iter().enumerate() {
                            if f.escaped {
                                unescaped[s] = Some(f.text(bytes));
                                any_escaped = true;
                            }
                        }
                        let mut cells: Cells<'_> = [Cell::Empty; FIELDS];
                        for (s, f) in fields.iter().enumerate() {
                            cells[self.slot_field[s]] = match &unescaped[s] {
                                Some(t) => text_cell(t),
                                None => text_cell(text.get(f.start..f.end).unwrap_or("")),
                            };
                        }
                        row(&cells, shape);
                        if any_escaped {
                            unescaped.fill(None);
                        }
                    })
                    .map_err(|_| Again::Changed)
                }
            }
        };
        *buf = w.into_buf();
        result
    }
}

/// A polars frame's rows, in chunks.
struct FrameRows<'a> {
    views: Vec<(usize, ColumnView<'a>)>,
    height: usize,
    chunk_rows: usize,
    columns: usize,
}

impl RowSource for FrameRows<'_> {
    fn piece_rows(&self) -> Vec<usize> {
        (0..self.height).step_by(self.chunk_rows).map(|s| (self.height - s).min(self.chunk_rows)).collect()
    }

    fn read(
        &self,
        k: usize,
        _buf: &mut Vec<u8>,
        row: &mut impl FnMut(&Cells<'_>, RecordShape),
    ) -> std::result::Result<(), Again> {
        let start = k * self.chunk_rows;
        let end = (start + self.chunk_rows).min(self.height);
        let shape = RecordShape { fields: self.columns, unclosed: false };
        for i in start..end {
            let mut cells: Cells<'_> = [Cell::Empty; FIELDS];
            for (f, view) in &self.views {
                cells[*f] = view.cell(i);
            }
            row(&cells, shape);
        }
        Ok(())
    }
}

/// [`ingest`] of a polars frame: columns of types the parsers do not read become text, and each
/// column one chunk.
fn ingest_frame(path: &Path, df: &DataFrame, opts: &IncidentOptions, report: &mut LoadReport) -> Result<Incidents> {
    ingest_frame_in_chunks(path, df, opts, report, CHUNK_ROWS)
}

/// [`ingest_frame`] with chunks of `chunk_rows` rows (tests use small chunks).
fn ingest_frame_in_chunks(
    path: &Path,
    df: &DataFrame,
    opts: &IncidentOptions,
    report: &mut LoadReport,
    chunk_rows: usize,
) -> Result<Incidents> {
    let mut df = text_for_exotic_types(df)?;
    let small = df.height() < crate::PARALLEL_MIN;
    if small {
        df.rechunk_mut();
    } else {
        df.rechunk_mut_par();
    }
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let mapping = resolve_mapping(path, &names, opts)?;
    let off = opts.local_offset_min;
    let views =
        mapping.iter().map(|(f, &j)| Ok((*f as usize, ColumnView::new(&df.columns()[j], off)?))).collect::<Result<Vec<_>>>()?;
    let source = FrameRows { views, height: df.height(), chunk_rows: chunk_rows.max(1), columns: names.len() };
    match ingest(path, &names, &mapping, &source, opts, report, !small) {
        Ok(inc) => Ok(inc),
        Err(Again::Error(e)) => Err(e),
        Err(Again::NotUtf8 | Again::Changed) => Err(CoreError::Invalid("a frame's rows could not be read".into())),
    }
}

/// Rows per chunk of a frame.
const CHUNK_ROWS: usize = 32_768;

/// The fields of a row that have a column, and what the row checks need to know.
struct Ctx<'o> {
    opts: &'o IncidentOptions,
    has: [bool; FIELDS],
    has_xy: bool,
    /// Fields in the header: a record with more is a long row.
    columns: usize,
}

/// What one worker interns: the text fields' names (category, source, department, declared
/// grid code) and the status labels it met, across all the pieces it parsed.
struct Dicts {
    fields: [NameDict; 4],
    statuses: NameDict,
    status_of: Vec<Option<Status>>,
}

/// Names in one text with a table of their hashes, and where each was first used. Names of at
/// most 16 bytes (nearly all: a category, a status, a grid code) are looked up by their bytes
/// held in two words, compared without touching the text.
#[derive(Default)]
struct NameDict {
    text: String,
    /// Each name's place in `text` and its hash.
    spans: Vec<(u32, u32, u64)>,
    /// The slot of the row that first used each name (slots grow with the row number).
    first: Vec<usize>,
    table: hashbrown::HashTable<u32>,
    /// Short names by their key.
    short: hashbrown::HashTable<ShortEntry>,
}

/// A name of at most 16 bytes as two words and its length: equal keys are equal names.
type ShortKey = (u64, u64, u32);

/// A short name's key and code, in 24 bytes (a tuple of the two would take 32): the table of a
/// layer's ten thousand grid codes is met at random, so its size is what a lookup costs.
#[derive(Clone, Copy)]
struct ShortEntry {
    key: [u64; 2],
    len: u32,
    code: u32,
}

impl ShortEntry {
    fn key(&self) -> ShortKey {
        (self.key[0], self.key[1], self.len)
    }
}

fn short_key(b: &[u8]) -> Option<ShortKey> {
    let n = b.len();
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
    let half = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or_default()) as u64;
    Some(match n {
        0 => (0, 0, 0),
        1..=3 => (b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16, 0, n as u32),
        // Overlapping reads: with the length, the first and last bytes fix every byte.
        4..=7 => (half(0) | half(n - 4) << 32, 0, n as u32),
        8..=16 => (word(0), word(n - 8), n as u32),
        _ => return None,
    })
}

fn hash_short(k: &ShortKey) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x2545_f491_4f6c_dd1d).hash_one(k)
}

/// The one hasher of the loader's tables (ids and names).
fn hash_text(s: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15).hash_one(s)
}

impl NameDict {
    /// The code of `name`, a new one when first seen (at row slot `slot`).
    fn intern(&mut self, name: &str, slot: usize) -> u32 {
        if let Some(k) = short_key(name.as_bytes()) {
            let h = hash_short(&k);
            if let Some(e) = self.short.find(h, |e| e.key() == k) {
                return e.code;
            }
            let i = self.push(name, 0, slot);
            self.short.insert_unique(h, ShortEntry { key: [k.0, k.1], len: k.2, code: i }, |e| hash_short(&e.key()));
            return i;
        }
        let h = hash_text(name);
        let NameDict { text, spans, first, table, .. } = self;
        let same = |&i: &u32| {
            let (a, b, hi) = spans[i as usize];
            hi == h && text.as_bytes().get(a as usize..b as usize) == Some(name.as_bytes())
        };
        match table.entry(h, same, |&i| spans[i as usize].2) {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(v) => {
                let i = spans.len() as u32;
                let a = text.len() as u32;
                text.push_str(name);
                spans.push((a, text.len() as u32, h));
                first.push(slot);
                v.insert(i);
                i
            }
        }
    }

    /// Adds a name (with its hash, for the table of long names).
    fn push(&mut self, name: &str, hash: u64, slot: usize) -> u32 {
        let i = self.spans.len() as u32;
        let a = self.text.len() as u32;
        self.text.push_str(name);
        self.spans.push((a, self.text.len() as u32, hash));
        self.first.push(slot);
        i
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn name(&self, i: usize) -> &str {
        self.spans.get(i).and_then(|&(a, b, _)| self.text.get(a as usize..b as usize)).unwrap_or("")
    }
}

impl Dicts {
    fn new() -> Dicts {
        Dicts { fields: Default::default(), statuses: NameDict::default(), status_of: Vec::new() }
    }

    /// The state of a status label (each distinct label mapped once).
    fn status(&mut self, label: &str, map: &StatusMap) -> Option<Status> {
        let i = self.statuses.intern(label, 0) as usize;
        if i == self.status_of.len() {
            self.status_of.push(map.map(label));
        }
        self.status_of[i]
    }
}

/// One job per column of a [`Columns`]: `f(column, args…)` (a generic `f`, so one call site
/// serves columns of every type).
macro_rules! per_column {
    ($columns:expr, $f:ident $(, $arg:expr)*) => {{
        let Columns { row, status, reported, closed, deadline, satisfaction, lon, lat, codes, hash } = $columns;
        let [c0, c1, c2, c3] = codes;
        let jobs: Vec<Box<dyn FnOnce() + Send + '_>> = vec![
            Box::new(|| $f(row $(, $arg)*)),
            Box::new(|| $f(status $(, $arg)*)),
            Box::new(|| $f(reported $(, $arg)*)),
            Box::new(|| $f(closed $(, $arg)*)),
            Box::new(|| $f(deadline $(, $arg)*)),
            Box::new(|| $f(satisfaction $(, $arg)*)),
            Box::new(|| $f(lon $(, $arg)*)),
            Box::new(|| $f(lat $(, $arg)*)),
            Box::new(|| $f(c0 $(, $arg)*)),
            Box::new(|| $f(c1 $(, $arg)*)),
            Box::new(|| $f(c2 $(, $arg)*)),
            Box::new(|| $f(c3 $(, $arg)*)),
            Box::new(|| $f(hash $(, $arg)*)),
        ];
        jobs
    }};
}

/// The columns being filled: one slot per record read. Each piece fills its own range from the
/// start (rejected rows leave room at its end, closed up afterwards).
struct Columns {
    row: Vec<u32>,
    status: Vec<Status>,
    reported: Vec<i64>,
    closed: Vec<Option<i64>>,
    deadline: Vec<Option<i64>>,
    satisfaction: Vec<Satisfaction>,
    lon: Vec<f64>,
    lat: Vec<f64>,
    /// Category, source, department, declared grid code (worker-local codes until the merge).
    codes: [Vec<u32>; 4],
    /// The hash of each id (for the duplicate-id check).
    hash: Vec<u64>,
}

/// One piece's share of [`Columns`].
struct Share<'s> {
    row: &'s mut [u32],
    status: &'s mut [Status],
    reported: &'s mut [i64],
    closed: &'s mut [Option<i64>],
    deadline: &'s mut [Option<i64>],
    satisfaction: &'s mut [Satisfaction],
    lon: &'s mut [f64],
    lat: &'s mut [f64],
    codes: [&'s mut [u32]; 4],
    hash: &'s mut [u64],
}

/// `s` cut into consecutive slices of the given lengths.
fn cut<'a, T>(mut s: &'a mut [T], lens: &[usize]) -> std::vec::IntoIter<&'a mut [T]> {
    let mut out = Vec::with_capacity(lens.len());
    for &l in lens {
        let l = l.min(s.len());
        let (a, rest) = std::mem::take(&mut s).split_at_mut(l);
        out.push(a);
        s = rest;
    }
    out.into_iter()
}

impl Columns {
    /// Room for `n` rows. Numeric columns start as untouched zero pages (a page costs only
    /// when a row is written into it); the optional times are filled on all cores.
    fn new(n: usize, parallel: bool) -> Columns {
        let none = || -> Vec<Option<i64>> {
            let mut v = Vec::with_capacity(n);
            if parallel {
                (0..n).into_par_iter().map(|_| None).collect_into_vec(&mut v);
            } else {
                v.resize(n, None);
            }
            v
        };
        Columns {
            row: vec![0; n],
            status: vec![Status::Reported; n],
            reported: vec![0; n],
            closed: none(),
            deadline: none(),
            satisfaction: vec![Satisfaction::Unrated; n],
            lon: vec![0.0; n],
            lat: vec![0.0; n],
            codes: std::array::from_fn(|_| vec![0; n]),
            hash: vec![0; n],
        }
    }

    /// The columns cut into consecutive shares of the given lengths.
    fn shares(&mut self, lens: &[usize]) -> Vec<Share<'_>> {
        let Columns { row, status, reported, closed, deadline, satisfaction, lon, lat, codes, hash } = self;
        let (mut row, mut status, mut reported, mut closed, mut deadline, mut satisfaction, mut lon, mut lat, mut hash) = (
            cut(row, lens),
            cut(status, lens),
            cut(reported, lens),
            cut(closed, lens),
            cut(deadline, lens),
            cut(satisfaction, lens),
            cut(lon, lens),
            cut(lat, lens),
            cut(hash, lens),
        );
        let [c0, c1, c2, c3] = codes;
        let mut codes = [cut(c0, lens), cut(c1, lens), cut(c2, lens), cut(c3, lens)];
        (0..lens.len())
            .map(|_| Share {
                row: row.next().unwrap_or_default(),
                status: status.next().unwrap_or_default(),
                reported: reported.next().unwrap_or_default(),
                closed: closed.next().unwrap_or_default(),
                deadline: deadline.next().unwrap_or_default(),
                satisfaction: satisfaction.next().unwrap_or_default(),
                lon: lon.next().unwrap_or_default(),
                lat: lat.next().unwrap_or_default(),
                codes: std::array::from_fn(|f| codes[f].next().unwrap_or_default()),
                hash: hash.next().unwrap_or_default(),
            })
            .collect()
    }

    /// Closes up the room rejected rows left: piece `k` holds `kept[k]` rows at the start of
    /// its `lens[k]` slots; afterwards the rows lie together, in order.
    fn close_up(&mut self, lens: &[usize], kept: &[usize], parallel: bool) {
        fn close<T: Copy + Send>(v: &mut Vec<T>, lens: &[usize], kept: &[usize]) {
            let (mut src, mut dst) = (0, 0);
            for (&l, &k) in lens.iter().zip(kept) {
                if src != dst {
                    v.copy_within(src..src + k, dst);
                }
                src += l;
                dst += k;
            }
            v.truncate(dst);
        }
        run_all(per_column!(self, close, lens, kept), parallel);
    }

    /// Keeps the rows whose `keep` is true.
    fn retain(&mut self, keep: &[bool], parallel: bool) {
        fn retain<T: Send>(v: &mut Vec<T>, keep: &[bool]) {
            let mut k = keep.iter();
            v.retain(|_| k.next().copied().unwrap_or(true));
        }
        run_all(per_column!(self, retain, keep), parallel);
    }
}

/// Runs the jobs, on all cores when `parallel`.
fn run_all(jobs: Vec<Box<dyn FnOnce() + Send + '_>>, parallel: bool) {
    if parallel {
        rayon::scope(|scope| jobs.into_iter().for_each(|job| scope.spawn(|_| job())));
    } else {
        jobs.into_iter().for_each(|job| job());
    }
}

/// What one piece made besides its rows in the columns: its ids, how many rows it kept, the
/// rejections met, and the warnings of each kept row (`early` ones stand even if the row turns
/// out to be a duplicate).
struct PieceOut {
    /// The worker whose dictionaries the piece's codes are in.
    worker: usize,
    kept: usize,
    ids: Ids,
    report: LoadReport,
    /// (row in the piece, early, kind, row number, detail)
    warnings: Vec<(u32, bool, &'static str, usize, String)>,
}

/// One row: loaded into the piece's share of the columns (a candidate for the duplicate-id
/// check), or rejected with the first reason that applies.
#[allow(clippy::too_many_arguments)]
fn take_row(
    ctx: &Ctx<'_>,
    dicts: &mut Dicts,
    share: &mut Share<'_>,
    out: &mut PieceOut,
    first_slot: usize,
    cells: &Cells<'_>,
    shape: RecordShape,
    row: usize,
) {
    let opts = ctx.opts;
    let off = opts.local_offset_min;
    let report = &mut out.report;
    if shape.fields > ctx.columns {
        report.warn(row, "rows with more fields than the header: extra fields cut off", || {
            format!("{} fields, the header has {}", shape.fields, ctx.columns)
        });
    }
    if shape.unclosed {
        report.warn(row, "quote never closed: the rest of the file read as one field", String::new);
    }
    let cell = |f: F| cells[f as usize];
    let j = out.kept;
    // id
    let id_text: Cow<'_, str> = if ctx.has[F::Id as usize] {
        match cell(F::Id).cow() {
            Some(t) if !t.is_empty() => t,
            _ => {
                report.reject(row, "missing id", String::new);
                return;
            }
        }
    } else {
        Cow::Owned(format!("row{row}"))
    };
    // reported_at
    let reported_ms = match parse_time(cell(F::ReportedAt), off) {
        Ok(Some(ms)) => ms,
        Ok(None) => {
            report.reject(row, "missing reported_at", || format!("id {id_text}"));
            return;
        }
        Err(()) => {
            report.reject(row, "unparsable reported_at", || format!("id {id_text}: {}", cell(F::ReportedAt).show()));
            return;
        }
    };
    // A time that may be empty; an unparsable one rejects the row.
    let mut optional_time = |f: F, reason: &str| -> Option<Option<i64>> {
        match parse_time(cell(f), off) {
            Ok(v) => Some(v),
            Err(()) => {
                report.reject(row, reason, || format!("id {id_text}: {}", cell(f).show()));
                None
            }
        }
    };
    let Some(closed_ms) = optional_time(F::ClosedAt, "unparsable closed_at") else { return };
    let Some(deadline_ms) = optional_time(F::Deadline, "unparsable deadline") else { return };
    // status
    let st = if ctx.has[F::Status as usize] {
        match cell(F::Status).cow() {
            None => {
                report.reject(row, "missing status", || format!("id {id_text}"));
                return;
            }
            Some(label) => match dicts.status(&label, &opts.status_map) {
                Some(s) => s,
                None => {
                    *report.unmapped_statuses.entry(label.to_string()).or_insert(0) += 1;
                    report.reject(row, "status not mapped", || format!("id {id_text}: '{label}'"));
                    return;
                }
            },
        }
    } else if closed_ms.is_some() {
        Status::Closed
    } else {
        Status::Accepted
    };
    // location (its warnings stand even when the row turns out to be a duplicate)
    let (mut x, mut y) = (f64::NAN, f64::NAN);
    let mut early: Option<(&'static str, String)> = None;
    if ctx.has_xy {
        match (parse_number(cell(F::Lon)), parse_number(cell(F::Lat))) {
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
                    return;
                }
            }
            (Ok(None), Ok(None)) => {}
            (Ok(_), Ok(_)) => {
                report.reject(row, "only one of lon/lat given", || {
                    format!("id {id_text}: lon {}, lat {}", cell(F::Lon).show(), cell(F::Lat).show())
                });
                return;
            }
            _ => {
                report.reject(row, "unparsable coordinates", || {
                    format!("id {id_text}: lon {}, lat {}", cell(F::Lon).show(), cell(F::Lat).show())
                });
                return;
            }
        }
        if !x.is_nan() {
            (x, y) = opts.crs.to_wgs84(x, y);
        }
    }
    // From here on only the duplicate-id check can reject the row.
    let cand = j as u32;
    if let Some((kind, detail)) = early {
        out.warnings.push((cand, true, kind, row, detail));
    }
    let mut warn = |kind: &'static str, detail: String| out.warnings.push((cand, false, kind, row, detail));
    let sat = match cell(F::Satisfaction) {
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
    let slot = first_slot + j;
    let [categories, sources, departments, grid_codes] = &mut dicts.fields;
    let cat = match cell(F::Category).cow() {
        Some(t) if !t.is_empty() => categories.intern(&t, slot),
        _ => {
            if ctx.has[F::Category as usize] {
                warn("no category (counted as 未分类)", format!("id {id_text}"));
            }
            categories.intern("未分类", slot)
        }
    };
    let src = sources.intern(&cell(F::Source).cow().unwrap_or_default(), slot);
    let dep = departments.intern(&cell(F::Department).cow().unwrap_or_default(), slot);
    let code = match cell(F::GridCode).cow() {
        Some(t) if !t.is_empty() => grid_codes.intern(&t, slot),
        _ => NO_CODE,
    };
    share.codes[0][j] = cat;
    share.codes[1][j] = src;
    share.codes[2][j] = dep;
    share.codes[3][j] = code;
    share.hash[j] = hash_text(&id_text);
    out.ids.push(&id_text);
    share.row[j] = row as u32;
    share.status[j] = st;
    share.reported[j] = reported_ms;
    share.closed[j] = closed_ms;
    share.deadline[j] = deadline_ms;
    share.satisfaction[j] = sat;
    share.lon[j] = x;
    share.lat[j] = y;
    out.kept += 1;
}

/// Parses every row of `source` into [`Incidents`]: the pieces on all cores (each worker takes
/// the next piece until none is left), then the duplicate-id check and the merge of the
/// workers' dictionaries and the pieces' reports, in row order.
fn ingest<S: RowSource>(
    path: &Path,
    names: &[String],
    mapping: &BTreeMap<F, usize>,
    source: &S,
    opts: &IncidentOptions,
    report: &mut LoadReport,
    parallel: bool,
) -> std::result::Result<Incidents, Again> {
    for (f, i) in mapping {
        report.columns.insert(f.key().to_string(), names[*i].clone());
    }
    if !mapping.contains_key(&F::Status) {
        report.warn(0, "no status column: closed when closed_at is set, otherwise accepted", || "whole file".into());
    }
    if !mapping.contains_key(&F::Id) {
        report.warn(0, "no id column: ids are the row numbers", || "whole file".into());
    }
    let mut has = [false; FIELDS];
    for f in mapping.keys() {
        has[*f as usize] = true;
    }
    let ctx = Ctx { opts, has, has_xy: has[F::Lon as usize] && has[F::Lat as usize], columns: names.len() };
    let lens = source.piece_rows();
    let n: usize = lens.iter().sum();
    report.read = n;
    let started = std::time::Instant::now();
    let mut first_slot = Vec::with_capacity(lens.len());
    let mut at = 0;
    for &l in &lens {
        first_slot.push(at);
        at += l;
    }

    // The pieces, each into its share of the columns.
    let mut columns = Columns::new(n, parallel);
    tracing::debug!(columns_s = started.elapsed().as_secs_f64(), "columns made");
    let shares: Vec<Mutex<Option<Share<'_>>>> = columns.shares(&lens).into_iter().map(|s| Mutex::new(Some(s))).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<Again>> = Mutex::new(None);
    let work = |worker: usize| -> (Dicts, Vec<(usize, PieceOut)>) {
        let mut dicts = Dicts::new();
        let mut outs = Vec::new();
        let mut buf = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(Some(mut share)) = shares.get(k).map(|m| m.lock().ok().and_then(|mut s| s.take())) else { break };
            let mut out = PieceOut {
                worker,
                kept: 0,
                ids: Ids::new(),
                report: LoadReport::new(path, "incidents", ""),
                warnings: Vec::new(),
            };
            let mut record = 0usize;
            let first = first_slot[k];
            let read = source.read(k, &mut buf, &mut |cells, shape| {
                take_row(&ctx, &mut dicts, &mut share, &mut out, first, cells, shape, first + record + 2);
                record += 1;
            });
            if let Err(e) = read {
                stop.store(true, Ordering::Relaxed);
                if let Ok(mut f) = failure.lock() {
                    f.get_or_insert(e);
                }
                break;
            }
            outs.push((k, out));
        }
        (dicts, outs)
    };
    let workers = if parallel { rayon::current_num_threads().clamp(1, lens.len().max(1)) } else { 1 };
    let done: Vec<(Dicts, Vec<(usize, PieceOut)>)> =
        if workers > 1 { (0..workers).into_par_iter().map(work).collect() } else { vec![work(0)] };
    drop(shares);
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut dicts = Vec::with_capacity(done.len());
    let mut pieces: Vec<Option<PieceOut>> = (0..lens.len()).map(|_| None).collect();
    for (d, outs) in done {
        dicts.push(d);
        for (k, out) in outs {
            pieces[k] = Some(out);
        }
    }
    let mut pieces: Vec<PieceOut> = pieces.into_iter().flatten().collect();
    if pieces.len() != lens.len() {
        return Err(Again::Error(CoreError::Invalid("a piece of the table was not read".into())));
    }
    let rows_done = std::time::Instant::now();

    // The kept rows together, their ids in one text.
    let kept: Vec<usize> = pieces.iter().map(|p| p.kept).collect();
    if kept != lens {
        columns.close_up(&lens, &kept, parallel);
    }
    let candidates: usize = kept.iter().sum();
    let concat = || {
        let mut ids = Ids::with_capacity(candidates, pieces.iter().map(|p| p.ids.text_len()).sum());
        for p in &pieces {
            ids.extend_from(&p.ids);
        }
        ids
    };
    // Duplicate ids: the first row of an id that passed every other check is kept. The check
    // reads an id only when two hashes are equal, from its piece, while the ids are put together.
    let first_of_piece: Vec<usize> = kept
        .iter()
        .scan(0usize, |at, &k| {
            let first = *at;
            *at += k;
            Some(first)
        })
        .collect();
    let id_at = |k: u32| -> &str {
        let p = first_of_piece.partition_point(|&f| f <= k as usize).saturating_sub(1);
        pieces.get(p).and_then(|piece| piece.ids.get(k as usize - first_of_piece[p])).unwrap_or("")
    };
    let check = || if opts.keep_duplicate_ids { Vec::new() } else { duplicates(id_at, &columns.hash, parallel) };
    let (mut ids, dups) = if parallel { rayon::join(concat, check) } else { (concat(), check()) };
    let dedupe_done = std::time::Instant::now();

    // Reports and warnings in row order; a duplicate's own warnings go with it, its early ones
    // (about its location) stand.
    let mut d = dups.iter().peekable();
    let mut c0 = 0usize;
    for p in &mut pieces {
        let mut p_dups = Vec::new();
        while let Some(&&(c, first)) = d.peek() {
            if c as usize >= c0 + p.kept {
                break;
            }
            p_dups.push((c as usize - c0, first));
            d.next();
        }
        report.absorb(std::mem::take(&mut p.report));
        let mut pd = p_dups.iter().peekable();
        for (j, early, kind, row, detail) in std::mem::take(&mut p.warnings) {
            while pd.peek().is_some_and(|(dj, _)| *dj < j as usize) {
                pd.next();
            }
            let is_dup = pd.peek().is_some_and(|(dj, _)| *dj == j as usize);
            if early || !is_dup {
                report.warn(row, kind, || detail);
            }
        }
        for &(j, first) in &p_dups {
            let prev = columns.row[first as usize];
            report.reject(columns.row[c0 + j] as usize, "duplicate id", || format!("id {} (first at row {prev})", &ids[c0 + j]));
        }
        c0 += p.kept;
    }

    // The workers' codes made global: in order of first use by a kept row, as one pass over
    // the rows gives (a name only a rejected duplicate carried stays out).
    let mut out = Incidents::default();
    let remaps = global_codes(&mut out, &dicts, &pieces, &columns, &dups);
    let piece_workers: Vec<usize> = pieces.iter().map(|p| p.worker).collect();
    {
        let [c0, c1, c2, c3] = &mut columns.codes;
        let jobs: Vec<Box<dyn FnOnce() + Send + '_>> = [c0, c1, c2, c3]
            .into_iter()
            .enumerate()
            .map(|(f, col)| {
                let remaps = &remaps;
                let piece_workers = &piece_workers;
                let kept = &kept;
                Box::new(move || {
                    for (share, &w) in cut(col, kept).zip(piece_workers) {
                        let map = &remaps[w][f];
                        for c in share.iter_mut() {
                            if *c != NO_CODE {
                                *c = map[*c as usize];
                            }
                        }
                    }
                }) as Box<dyn FnOnce() + Send + '_>
            })
            .collect();
        run_all(jobs, parallel);
    }
    if !dups.is_empty() {
        let mut keep = vec![true; candidates];
        for &(c, _) in &dups {
            keep[c as usize] = false;
        }
        columns.retain(&keep, parallel);
        ids.retain_by(&keep);
    }
    let Columns {
        row,
        status,
        reported,
        closed,
        deadline,
        satisfaction,
        lon,
        lat,
        codes: [category, source, department, grid_code],
        ..
    } = columns;
    out.id = ids;
    out.source_row = row;
    out.status = status;
    out.reported_ms = reported;
    out.closed_ms = closed;
    out.deadline_ms = deadline;
    out.satisfaction = satisfaction;
    out.lon = lon;
    out.lat = lat;
    out.category = category;
    out.source = source;
    out.department = department;
    out.grid_code = grid_code;
    report.loaded = out.len();
    tracing::debug!(
        rows_s = (rows_done - started).as_secs_f64(),
        duplicates_s = (dedupe_done - rows_done).as_secs_f64(),
        merge_s = dedupe_done.elapsed().as_secs_f64(),
        "parsed the rows in pieces, on all cores; then the duplicate ids and the merge"
    );
    debug_assert!(report.is_consistent());
    Ok(out)
}

/// Fills the global dictionaries of `out` in order of first use by a kept row and returns, for
/// each worker and text field, the global code of each of the worker's codes.
fn global_codes(
    out: &mut Incidents,
    dicts: &[Dicts],
    pieces: &[PieceOut],
    columns: &Columns,
    dups: &[(u32, u32)],
) -> Vec<[Vec<u32>; 4]> {
    let mut remaps: Vec<[Vec<u32>; 4]> =
        dicts.iter().map(|d| std::array::from_fn(|f| vec![u32::MAX; d.fields[f].len()])).collect();
    let globals: [&mut Dict; 4] = [&mut out.categories, &mut out.sources, &mut out.departments, &mut out.grid_codes];
    if dups.is_empty() {
        // Every name's first use is a kept row: order the names by that row.
        for (f, global) in globals.into_iter().enumerate() {
            let mut order: Vec<(usize, usize, u32)> = Vec::new();
            for (w, d) in dicts.iter().enumerate() {
                order.extend(d.fields[f].first.iter().enumerate().map(|(i, &slot)| (slot, w, i as u32)));
            }
            order.sort_unstable();
            for (_, w, i) in order {
                remaps[w][f][i as usize] = global.intern(dicts[w].fields[f].name(i as usize));
            }
        }
        return remaps;
    }
    // With duplicates, walk the kept rows in order.
    let mut d = dups.iter().map(|&(c, _)| c as usize).peekable();
    let mut c = 0usize;
    let mut globals = globals;
    for p in pieces {
        for _ in 0..p.kept {
            if d.peek() == Some(&c) {
                d.next();
            } else {
                for (f, global) in globals.iter_mut().enumerate() {
                    let local = columns.codes[f][c];
                    if local != NO_CODE && remaps[p.worker][f][local as usize] == u32::MAX {
                        remaps[p.worker][f][local as usize] = global.intern(dicts[p.worker].fields[f].name(local as usize));
                    }
                }
            }
            c += 1;
        }
    }
    remaps
}

/// The candidates (in row order) whose id an earlier candidate has: (candidate, first
/// candidate with that id), in order. Each id's hash was taken as its row was parsed; the
/// candidates are sorted into shards by the top bits of the hash (keeping row order within a
/// shard, so "first" is the first in the file) and the shards checked on all cores, each with a
/// table small enough for the cache. Ids are compared only when their hashes are equal.
fn duplicates<'i>(id: impl Fn(u32) -> &'i str + Sync, hashes: &[u64], parallel: bool) -> Vec<(u32, u32)> {
    const SHARD_BITS: u32 = 6;
    const SHARDS: usize = 1 << SHARD_BITS;
    let shard_of = |h: u64| (h >> (64 - SHARD_BITS)) as usize;
    let mut bounds = [0usize; SHARDS + 1];
    for &h in hashes {
        bounds[shard_of(h) + 1] += 1;
    }
    for s in 0..SHARDS {
        bounds[s + 1] += bounds[s];
    }
    let mut next = bounds;
    let mut entries = vec![(0u64, 0u32); hashes.len()];
    for (k, &h) in hashes.iter().enumerate() {
        let s = shard_of(h);
        entries[next[s]] = (h, k as u32);
        next[s] += 1;
    }
    let check = |s: usize| -> Vec<(u32, u32)> {
        let members = &entries[bounds[s]..bounds[s + 1]];
        let mut seen: hashbrown::HashTable<u32> = hashbrown::HashTable::with_capacity(members.len());
        let mut dups = Vec::new();
        for (m, &(h, k)) in members.iter().enumerate() {
            match seen.entry(h, |&j| members[j as usize].0 == h && id(members[j as usize].1) == id(k), |&j| members[j as usize].0)
            {
                hashbrown::hash_table::Entry::Occupied(e) => dups.push((k, members[*e.get() as usize].1)),
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(m as u32);
                }
            }
        }
        dups
    };
    let mut found: Vec<(u32, u32)> =
        if parallel { (0..SHARDS).into_par_iter().flat_map_iter(check).collect() } else { (0..SHARDS).flat_map(check).collect() };
    found.sort_unstable();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// The reference for the CSV reader: polars' own, every column as text.
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

    /// `text` loaded as CSV in pieces of about `piece_bytes`.
    fn csv(text: &str, opts: &IncidentOptions, piece_bytes: usize) -> (Incidents, LoadReport) {
        let src = Bytes::Memory(text.as_bytes());
        match csv_from(Path::new("t.csv"), src, b',', opts, piece_bytes, Some(TextEncoding::Utf8)) {
            Ok(done) => done,
            Err(Again::Error(e)) => panic!("{e}"),
            Err(_) => panic!("read again"),
        }
    }

    /// Incidents and report as text, without the note only the CSV reader makes.
    fn show(inc: &Incidents, r: &LoadReport) -> String {
        let mut warnings = r.warnings.clone();
        warnings.remove("rows with more fields than the header: extra fields cut off");
        let dicts = [&inc.categories, &inc.sources, &inc.departments, &inc.grid_codes].map(|d| &d.names);
        let columns = (&inc.id, &inc.source_row, &inc.category, &inc.source, &inc.department, &inc.grid_code, &inc.status);
        let values = (&inc.reported_ms, &inc.closed_ms, &inc.deadline_ms, &inc.satisfaction, &inc.lon, &inc.lat);
        format!(
            "{dicts:?}\n{columns:?}\n{values:?}\n{} {} {}\n{:?}\n{warnings:?}\n{:?}",
            r.read, r.loaded, r.rejected, r.rejections, r.unmapped_statuses
        )
    }

    /// Loads `text` through the CSV reader (with pieces of `piece_bytes`) and through polars'
    /// reader and the frame path, and returns both results as text.
    fn both_ways(text: &str, piece_bytes: usize) -> (String, String) {
        let opts = IncidentOptions::default();
        let (ours, r1) = csv(text, &opts, piece_bytes);
        assert!(r1.is_consistent(), "{r1}");
        let mut r2 = LoadReport::new("t.csv", "incidents", "CSV");
        let reference = ingest_frame(Path::new("t.csv"), &polars_frame(text), &opts, &mut r2).unwrap();
        (show(&ours, &r1), show(&reference, &r2))
    }

    /// The CSV reader gives, incident for incident and report line for report line, what
    /// polars' CSV reader gives: on the real exports in the tests (NYC, SF), the sample city,
    /// and a file of the awkward cases (quoted separators and line breaks, doubled quotes, CRLF,
    /// empty lines, short and long rows, blank cells and null tokens), whatever the pieces.
    #[test]
    fn csv_reader_equals_polars_reader() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for file in ["testdata/nyc311/nyc311_20240901.csv", "testdata/sf311/sf311_cases_sample.csv", "sample-data/incidents.csv"]
        {
            let bytes = std::fs::read(root.join(file)).unwrap();
            let (text, _) = to_utf8(Path::new(file), &bytes).unwrap();
            for piece_bytes in [csvsplit::PIECE_BYTES, 100_000, 7_777] {
                let (ours, reference) = both_ways(&text, piece_bytes);
                assert!(ours.len() > 1000, "{file}: {ours}");
                if ours != reference {
                    let (a, b): (Vec<&str>, Vec<&str>) = (ours.split(", ").collect(), reference.split(", ").collect());
                    let k = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
                    panic!(
                        "{file}, pieces of {piece_bytes} bytes: the reader and polars differ at item {k}: {:?} vs {:?}",
                        &a[k.saturating_sub(3)..(k + 3).min(a.len())],
                        &b[k.saturating_sub(3)..(k + 3).min(b.len())]
                    );
                }
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
        for piece_bytes in [1, 5, 40, 1000] {
            let (ours, reference) = both_ways(awkward, piece_bytes);
            assert!(ours.contains("E7"), "{ours}");
            assert_eq!(ours, reference, "pieces of {piece_bytes} bytes");
        }
    }

    /// A file read from disk in pieces gives what the same text in memory gives, and a GBK
    /// file is decoded and read the same way.
    #[test]
    fn a_file_read_in_pieces_is_the_text_in_memory() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("sample-data/incidents.csv")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let opts = IncidentOptions::default();
        let (mem, rm) = csv(text.trim_start_matches('\u{feff}'), &opts, 100_000);
        let utf8 = dir.path().join("utf8.csv");
        std::fs::write(&utf8, &text).unwrap();
        let (gbk_bytes, _, bad) = encoding_rs::GBK.encode(text.trim_start_matches('\u{feff}'));
        assert!(!bad);
        let gbk = dir.path().join("gbk.csv");
        std::fs::write(&gbk, &gbk_bytes).unwrap();
        for (path, encoding) in [(&utf8, "UTF-8 with BOM"), (&gbk, "GBK")] {
            let (inc, r) = load_csv(path, b',', &opts, 100_000).unwrap();
            assert_eq!(r.encoding.as_deref(), Some(encoding));
            assert_eq!(show(&inc, &r), show(&mem, &rm), "{encoding}");
        }
    }

    /// Names of every length up to 20 bytes that differ in one byte, or only in length, get
    /// codes of their own, and the same name always the same code.
    #[test]
    fn names_short_and_long_are_told_apart() {
        let mut d = NameDict::default();
        let mut names: Vec<Vec<u8>> = Vec::new();
        for n in 0..=20usize {
            for fill in [b'a', b'b'] {
                let base = vec![fill; n];
                names.push(base.clone());
                for i in 0..n {
                    let mut v = base.clone();
                    v[i] = b'z';
                    names.push(v);
                }
            }
        }
        names.push("城建物业".as_bytes().to_vec());
        names.push("城建物业 ".as_bytes().to_vec());
        names.sort();
        names.dedup();
        let texts: Vec<String> = names.into_iter().map(|v| String::from_utf8(v).unwrap()).collect();
        let codes: Vec<u32> = texts.iter().enumerate().map(|(k, t)| d.intern(t, k)).collect();
        assert_eq!(codes, (0..texts.len() as u32).collect::<Vec<_>>(), "each name its own code");
        for (k, t) in texts.iter().enumerate() {
            assert_eq!(d.intern(t, 0), k as u32);
            assert_eq!(d.name(k), t);
        }
    }

    #[test]
    fn plain_decimals_read_as_the_float_parser_reads_them() {
        let mut next = crate::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut texts: Vec<String> =
            ["0", "-0", "-0.0", "5.", ".5", "-.5", "1.2.3", "", "-", ".", "+1", "1e5", "123456789012345", "1234567890123456"]
                .map(String::from)
                .to_vec();
        for _ in 0..200_000 {
            let int = next() % 10u64.pow((next() % 8) as u32);
            let frac_digits = (next() % 12) as usize;
            let frac = next() % 10u64.pow(frac_digits as u32);
            let sign = if next().is_multiple_of(3) { "-" } else { "" };
            texts.push(if frac_digits == 0 { format!("{sign}{int}") } else { format!("{sign}{int}.{frac:0frac_digits$}") });
        }
        let mut fast = 0;
        for t in &texts {
            let reference = t.parse::<f64>().ok();
            if let Some(v) = plain_decimal(t) {
                fast += 1;
                assert_eq!(Some(v.to_bits()), reference.map(f64::to_bits), "'{t}'");
            }
        }
        assert!(fast > 150_000, "{fast}");
    }

    /// The sharded duplicate-id check, on enough candidates for its parallel path, gives what one
    /// map over the rows in order gives.
    #[test]
    fn duplicate_ids_found_in_shards_are_those_of_one_pass() {
        let mut ids = Ids::new();
        for k in 0..60_000u32 {
            // Ids repeat near and far; some differ only in case or length.
            let id = match k % 5 {
                0 => format!("I{}", k % 7_919),
                1 => format!("i{}", k % 7_919),
                _ => format!("I{k}"),
            };
            ids.push(&id);
        }
        let hashes: Vec<u64> = ids.iter().map(hash_text).collect();
        let mut seen: HashMap<&str, u32> = HashMap::new();
        let mut expected = Vec::new();
        for (k, id) in ids.iter().enumerate() {
            match seen.get(id) {
                Some(&first) => expected.push((k as u32, first)),
                None => {
                    seen.insert(id, k as u32);
                }
            }
        }
        assert!(expected.len() > 10_000);
        let id = |k: u32| &ids[k as usize];
        assert_eq!(duplicates(id, &hashes, true), expected);
        assert_eq!(duplicates(id, &hashes, false), expected);
        // Equal hashes alone do not make a duplicate.
        let two: Ids = ["a", "b"].into_iter().collect();
        assert!(duplicates(|k| &two[k as usize], &[7, 7], false).is_empty());
    }

    /// The rows parsed in pieces of any size give what one pass over all rows gives: the same
    /// incidents in row order, dictionaries in order of first appearance, the first row of a
    /// duplicate id kept (across pieces), and the same report, example for example.
    #[test]
    fn rows_in_pieces_equal_one_pass() {
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
            "B,城建物业,唯一,已受理,2025-01-03 08:00,,130.3,46.8,G2,xx", // 10: duplicate; its satisfaction warning and source go with it
            "G,矛盾调处,热线,已受理,2025-01-03 09:00,,130.3,46.8,G5,很好", // 11: satisfaction not understood
            ",城建物业,热线,已受理,2025-01-03 10:00,,130.3,46.8,G1,",    // 12: missing id
            "H,综合执法,巡查,已受理,2025-01-03 11:00,,130.3,46.8,G6,满意", // 13
            "D,城建物业,热线,已受理,2025-01-03 12:00,,130.3,46.8,G1,",   // 14: D's first kept row
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
            let inc = ingest_frame_in_chunks(Path::new("t.csv"), &df, &opts, &mut report, chunk).unwrap();
            assert!(report.is_consistent(), "{report}");
            (inc, report)
        };
        let (one, r1) = run(usize::MAX);
        // What one pass must give.
        assert_eq!(one.id.iter().collect::<Vec<_>>(), ["A", "B", "C", "F", "G", "H", "D"]);
        assert_eq!(one.source_row, [2, 3, 4, 9, 11, 13, 14]);
        assert_eq!(one.categories.names, ["城建物业", "民生服务", "未分类", "党建引领", "矛盾调处", "综合执法"]);
        assert_eq!(one.sources.names, ["热线", "APP", "新来源", "巡查"], "a source only a duplicate carried stays out");
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
        // The same rows as CSV text, in pieces of a few bytes to all of it.
        let text = format!("{}\n{}\n", header.join(","), lines.join("\n"));
        let run_csv = |piece_bytes: usize| {
            let (inc, report) = csv(&text, &opts, piece_bytes);
            assert!(report.is_consistent(), "{report}");
            (inc, report)
        };
        let runs = [1, 2, 3, 5, 8].into_iter().map(|chunk| (chunk, 0)).chain([1, 60, 100, 120, 10_000].map(|p| (0, p)));
        for (chunk, piece_bytes) in runs {
            let (inc, r) = if piece_bytes == 0 { run(chunk) } else { run_csv(piece_bytes) };
            let how = format!("chunks of {chunk} rows, pieces of {piece_bytes} bytes");
            assert_eq!(inc.id, one.id, "{how}");
            assert_eq!(inc.source_row, one.source_row, "{how}");
            for (a, b) in [(&inc.categories, &one.categories), (&inc.sources, &one.sources), (&inc.grid_codes, &one.grid_codes)] {
                assert_eq!(a.names, b.names, "{how}");
            }
            assert_eq!(
                (&inc.category, &inc.source, &inc.department, &inc.grid_code),
                (&one.category, &one.source, &one.department, &one.grid_code),
                "{how}"
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
                "{how}"
            );
        }
    }
}
