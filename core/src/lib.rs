//! gridcentre-core: everything a grid-management command centre computes, with no UI.
//!
//! The pieces, each in one place:
//! - [`model`]: grids, the unit hierarchy (city → district → street → community → grid) and the
//!   columnar incident store.
//! - [`load`]: readers for grid layers (GeoJSON, Shapefile) and incident tables (CSV in UTF-8 or
//!   GBK, XLSX, Parquet), with a [`report::LoadReport`] for every input.
//! - [`crs`]: WGS84 / CGCS2000 / GCJ-02 / BD-09 conversion.
//! - [`spatial`]: the R-tree over grids and the exact point-in-polygon assignment.
//! - [`stats`]: the indicators (口径 in [`stats::IndicatorConfig`]) over any level, filter and
//!   time bucket, folded on all cores from one per-incident contribution (the same the live table
//!   folds) and returned as plain structs.
//! - [`layers`]: map layers as data: point clusters per zoom, the heatmap raster, unit outlines,
//!   label placement and search.
//! - [`export`]: CSV (UTF-8 with BOM), JSON, XLSX and Parquet writers.
//! - [`analysis`]: measures, sorting, ranking and drill-down of tables.
//! - [`charts`]: the charts as data, drawn to SVG and PNG (plotters, bundled CJK font).
//! - [`feed`]: live sources (a watched CSV/NDJSON file) read into records.
//! - [`pg`]: PostgreSQL as a live source (watermark, LISTEN/NOTIFY) and as replay's target.
//! - [`source`]: a live source on its own thread (file or PostgreSQL), reconnecting with backoff.
//! - [`checkpoint`]: a live feed's state and position saved together, to resume after a restart.
//! - [`live`]: the live table: events folded into the figures incrementally.
//! - [`bundle`]: the report folder (charts, tables, printable HTML) the CLI and the app write.
//! - [`pipeline`]: load → assign → dataset, as the CLI and the app both run it.
//! - [`sample`]: the deterministic sample-city generator.

pub mod analysis;
pub mod bundle;
pub mod charts;
pub mod checkpoint;
pub mod crs;
pub mod error;
pub mod export;
pub mod feed;
pub mod fields;
pub mod lang;
pub mod layers;
pub mod live;
pub mod load;
pub mod model;
pub mod pg;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod sample;
pub mod source;
pub mod spatial;
pub mod stats;
pub mod status;
pub mod timeparse;

pub use error::{CoreError, Result};

/// Below this many items, work runs on the calling thread. Handing a small batch (a live feed's
/// events) to a shared worker pool can make it wait behind a long background job there (a
/// dashboard's recomputation), which is what the live feed's latency cannot afford.
pub const PARALLEL_MIN: usize = 16_384;

/// Test inputs: a xorshift64 sequence (the same numbers on every machine, no crate).
#[cfg(test)]
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
