//! Writers: statistics tables (CSV with a UTF-8 BOM so Excel shows Chinese, JSON, XLSX) and the
//! assigned incidents (CSV or Parquet). Every file is written to a temporary file beside the
//! target and renamed over it, so a reader never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};

use crate::analysis;
use crate::error::{CoreError, Result};
use crate::model::{Level, NO_GRID};
use crate::pipeline::Dataset;
use crate::stats::{StatsTable, UnitRow};
use crate::timeparse::format_ms;

/// Output formats of a statistics table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Json,
    Xlsx,
}

impl std::str::FromStr for TableFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "csv" => Ok(TableFormat::Csv),
            "json" => Ok(TableFormat::Json),
            "xlsx" | "excel" => Ok(TableFormat::Xlsx),
            o => Err(format!("unknown format '{o}' (csv, json or xlsx)")),
        }
    }
}

impl TableFormat {
    /// From a file name's extension.
    pub fn from_path(path: &Path) -> Option<TableFormat> {
        path.extension().and_then(|e| e.to_str()).and_then(|e| e.parse().ok())
    }
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CoreError::write(path, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CoreError::write(path, e));
    }
    Ok(())
}

/// The columns of a statistics table, in order: (key, Chinese header).
pub const TABLE_COLUMNS: &[(&str, &str)] = &[
    ("level", "层级"),
    ("code", "编码"),
    ("name", "名称"),
    ("parent_code", "上级编码"),
    ("parent_name", "上级名称"),
    ("incidents", "事件数"),
    ("accepted", "受理数"),
    ("rejected", "不予受理数"),
    ("closed", "办结数"),
    ("completion_rate", "办结率"),
    ("closed_on_time", "按期办结数"),
    ("with_deadline", "有时限受理数"),
    ("should_close", "应结案数"),
    ("on_time_rate", "按期办结率"),
    ("open", "在办数"),
    ("overdue", "超期数"),
    ("overdue_open", "超期未办结"),
    ("overdue_closed", "超期办结"),
    ("handled", "计时办结数"),
    ("mean_handling_hours", "平均办结时长(小时)"),
    ("rated", "已评价数"),
    ("satisfied", "满意数(含基本满意)"),
    ("satisfaction_rate", "满意率"),
    ("area_km2", "面积(km²)"),
    ("density_per_km2", "密度(件/km²)"),
    ("households", "户数"),
    ("per_1000_households", "千户事件数"),
    ("rank", "办结率排名"),
];

/// A cell of a table row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(u64),
    /// A fraction shown as a percentage.
    Rate(Option<f64>),
    Num(Option<f64>),
    /// A count that may be unknown (households).
    MaybeInt(Option<u64>),
}

/// The cells of one row, matching [`TABLE_COLUMNS`]; `rank` is the row's place by completion
/// rate among the table's units ([`analysis::ranks`]), none for the unassigned and total rows.
pub fn row_values(r: &UnitRow, rank: Option<u32>) -> Vec<Value> {
    let c = &r.counts;
    let f = &r.figures;
    vec![
        Value::Text(r.level.as_str().into()),
        Value::Text(r.code.to_string()),
        Value::Text(r.name.to_string()),
        Value::Text(r.parent_code.to_string()),
        Value::Text(r.parent_name.to_string()),
        Value::Int(c.incidents),
        Value::Int(c.accepted),
        Value::Int(c.rejected),
        Value::Int(c.closed),
        Value::Rate(f.completion_rate),
        Value::Int(c.closed_on_time),
        Value::Int(c.with_deadline),
        Value::Int(c.should_close()),
        Value::Rate(f.on_time_rate),
        Value::Int(c.open()),
        Value::Int(c.overdue()),
        Value::Int(c.overdue_open),
        Value::Int(c.overdue_closed),
        Value::Int(c.handled),
        Value::Num(f.mean_handling_hours),
        Value::Int(c.rated),
        Value::Int(c.satisfied),
        Value::Rate(f.satisfaction_rate),
        Value::Num(r.area_km2),
        Value::Num(f.density_per_km2),
        Value::MaybeInt(r.households),
        Value::Num(f.per_1000_households),
        Value::MaybeInt(rank.map(u64::from)),
    ]
}

/// All rows of a table as written, each with its rank: the units (in the table's order), then
/// the unassigned row, then the total.
pub fn table_rows(t: &StatsTable) -> impl Iterator<Item = (&UnitRow, Option<u32>)> {
    let ranks = analysis::ranks(&t.rows, analysis::RANK_MEASURE);
    t.rows.iter().zip(ranks).chain([(&t.unassigned, None), (&t.total, None)])
}

/// Quotes a CSV field when it needs it.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Rates as fractions with 6 decimals, other numbers with up to 6; empty when there is no data.
fn plain(v: &Value) -> String {
    match v {
        Value::Text(s) => csv_field(s),
        Value::Int(i) => i.to_string(),
        Value::Rate(Some(x)) | Value::Num(Some(x)) => {
            let s = format!("{x:.6}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s.is_empty() || s == "-" { "0".into() } else { s.to_string() }
        }
        Value::Rate(None) | Value::Num(None) | Value::MaybeInt(None) => String::new(),
        Value::MaybeInt(Some(i)) => i.to_string(),
    }
}

/// The table as CSV text (with a BOM): English keys as headers, rates as fractions.
pub fn table_csv(t: &StatsTable) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&TABLE_COLUMNS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(","));
    out.push('\n');
    for (r, rank) in table_rows(t) {
        out.push_str(&row_values(r, rank).iter().map(plain).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// The table as an XLSX workbook: Chinese headers, header row frozen, rates as percentages with
/// one decimal, column widths set; a second sheet states the definitions and the filter.
pub fn table_xlsx(t: &StatsTable) -> Result<Vec<u8>> {
    let xerr = |e: rust_xlsxwriter::XlsxError| CoreError::Invalid(format!("XLSX: {e}"));
    let mut wb = Workbook::new();
    // The file's creation time is the table's as-of time, not the clock: the same table gives
    // the same bytes (the app's and the CLI's reports are compared byte for byte).
    let created = ExcelDateTime::parse_from_str(&t.as_of).or_else(|_| ExcelDateTime::from_ymd(2000, 1, 1)).map_err(xerr)?;
    wb.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let header = Format::new().set_bold().set_background_color("#DDE6F0");
    let pct = Format::new().set_num_format("0.0%");
    let num = Format::new().set_num_format("0.0");
    let ws = wb.add_worksheet();
    ws.set_name(format!("{}统计", t.level.zh())).map_err(xerr)?;
    for (j, (_, zh)) in TABLE_COLUMNS.iter().enumerate() {
        ws.write_string_with_format(0, j as u16, *zh, &header).map_err(xerr)?;
        let width = match j {
            2 | 4 => 22.0,
            1 | 3 => 16.0,
            _ => 11.0,
        };
        ws.set_column_width(j as u16, width).map_err(xerr)?;
    }
    ws.set_freeze_panes(1, 0).map_err(xerr)?;
    for (i, (r, rank)) in table_rows(t).enumerate() {
        let row = i as u32 + 1;
        for (j, v) in row_values(r, rank).into_iter().enumerate() {
            let col = j as u16;
            match v {
                Value::Text(s) => ws.write_string(row, col, s).map(|_| ()),
                Value::Int(x) | Value::MaybeInt(Some(x)) => ws.write_number(row, col, x as f64).map(|_| ()),
                Value::Rate(Some(x)) => ws.write_number_with_format(row, col, x, &pct).map(|_| ()),
                Value::Num(Some(x)) => ws.write_number_with_format(row, col, x, &num).map(|_| ()),
                Value::Rate(None) | Value::Num(None) | Value::MaybeInt(None) => ws.write_string(row, col, "—").map(|_| ()),
            }
            .map_err(xerr)?;
        }
    }
    let about = wb.add_worksheet();
    about.set_name("口径").map_err(xerr)?;
    about.set_column_width(0, 12.0).map_err(xerr)?;
    about.set_column_width(1, 100.0).map_err(xerr)?;
    for (i, (k, v)) in [("口径", &t.definition), ("筛选", &t.filter), ("统计时点", &t.as_of)].into_iter().enumerate() {
        about.write_string_with_format(i as u32, 0, k, &header).map_err(xerr)?;
        about.write_string(i as u32, 1, v).map_err(xerr)?;
    }
    wb.save_to_buffer().map_err(xerr)
}

/// The table as pretty JSON (rows, unassigned, total, definitions, filter, as-of).
pub fn table_json(t: &StatsTable) -> Result<String> {
    serde_json::to_string_pretty(t).map_err(|e| CoreError::Invalid(format!("JSON: {e}")))
}

/// Writes a statistics table in the given format.
pub fn write_table(t: &StatsTable, format: TableFormat, path: &Path) -> Result<()> {
    let bytes = match format {
        TableFormat::Csv => table_csv(t).into_bytes(),
        TableFormat::Json => table_json(t)?.into_bytes(),
        TableFormat::Xlsx => table_xlsx(t)?,
    };
    write_atomic(path, &bytes)
}

/// The incidents with their grid and parents, as a polars frame (times as local datetimes).
pub fn assigned_frame(ds: &Dataset) -> Result<DataFrame> {
    let inc = &ds.incidents;
    let n = inc.len();
    let unit_name = |level: Level, g: u32| -> Option<String> {
        (g != NO_GRID).then(|| ds.layer.units(level)[ds.layer.grid_unit[level.index()][g as usize] as usize].name.to_string())
    };
    let unit_code = |level: Level, g: u32| -> Option<String> {
        (g != NO_GRID).then(|| ds.layer.units(level)[ds.layer.grid_unit[level.index()][g as usize] as usize].code.to_string())
    };
    let g = &ds.grid_of;
    let s = |name: &str, v: Vec<Option<String>>| Column::new(name.into(), v);
    let time = |name: &str, v: Vec<Option<i64>>| -> Result<Column> {
        Ok(Column::new(name.into(), v).cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?)
    };
    let cols = vec![
        Column::new("id".into(), inc.id.iter().collect::<Vec<&str>>()),
        Column::new("category".into(), inc.category.iter().map(|&c| inc.categories.name(c).to_string()).collect::<Vec<_>>()),
        Column::new("source".into(), inc.source.iter().map(|&c| inc.sources.name(c).to_string()).collect::<Vec<_>>()),
        Column::new("department".into(), inc.department.iter().map(|&c| inc.departments.name(c).to_string()).collect::<Vec<_>>()),
        Column::new("status".into(), inc.status.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
        time("reported_at", inc.reported_ms.iter().map(|v| Some(*v)).collect())?,
        time("closed_at", inc.closed_ms.clone())?,
        time("deadline", inc.deadline_ms.clone())?,
        Column::new("satisfaction".into(), inc.satisfaction.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
        Column::new("lon".into(), inc.lon.iter().map(|v| (!v.is_nan()).then_some(*v)).collect::<Vec<_>>()),
        Column::new("lat".into(), inc.lat.iter().map(|v| (!v.is_nan()).then_some(*v)).collect::<Vec<_>>()),
        s("declared_grid_code", (0..n).map(|i| inc.declared_grid_code(i).map(str::to_string)).collect()),
        s("grid_code", g.iter().map(|&x| unit_code(Level::Grid, x)).collect()),
        s("grid_name", g.iter().map(|&x| unit_name(Level::Grid, x)).collect()),
        s("community_code", g.iter().map(|&x| unit_code(Level::Community, x)).collect()),
        s("community", g.iter().map(|&x| unit_name(Level::Community, x)).collect()),
        s("street_code", g.iter().map(|&x| unit_code(Level::Street, x)).collect()),
        s("street", g.iter().map(|&x| unit_name(Level::Street, x)).collect()),
        s("district_code", g.iter().map(|&x| unit_code(Level::District, x)).collect()),
        s("district", g.iter().map(|&x| unit_name(Level::District, x)).collect()),
        Column::new("source_row".into(), inc.source_row.clone()),
    ];
    debug_assert!(cols.iter().all(|c| c.len() == n));
    Ok(DataFrame::new_infer_height(cols)?)
}

/// Writes the assigned incidents as `.parquet` or `.csv` (chosen by the extension).
pub fn write_assigned(ds: &Dataset, path: &Path) -> Result<()> {
    let mut df = assigned_frame(ds)?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mut buf: Vec<u8> = Vec::new();
    match ext.as_str() {
        "parquet" => {
            ParquetWriter::new(&mut buf).finish(&mut df).map_err(|e| CoreError::write(path, e))?;
        }
        "csv" => {
            buf.extend_from_slice("\u{feff}".as_bytes());
            CsvWriter::new(&mut buf)
                .include_header(true)
                .with_datetime_format(Some("%Y-%m-%d %H:%M:%S".into()))
                .finish(&mut df)
                .map_err(|e| CoreError::write(path, e))?;
        }
        _ => return Err(CoreError::UnsupportedFormat { path: path.to_path_buf(), expected: ".parquet or .csv" }),
    }
    write_atomic(path, &buf)
}

/// Formats local milliseconds for text outputs.
pub fn time_text(ms: Option<i64>) -> String {
    ms.map(format_ms).unwrap_or_default()
}
