//! What the UI paints, computed off the UI thread: the dataset, its display geometry (mesh,
//! outlines, label anchors), and what the current filter derives from it (tables, point layer),
//! plus the selected unit's detail and the heatmap raster.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use gridcentre_core::crs::Crs;
use gridcentre_core::layers::{HeatRaster, HeatRequest, Outlines, PointLayer, heat_raster, unit_outlines};
use gridcentre_core::model::{Level, NO_GRID};
use gridcentre_core::pipeline::{Dataset, Sources, Stage, load};
use gridcentre_core::render::{GridMesh, class_of, quantile_breaks};
use gridcentre_core::stats::{
    Bucket, BucketRow, CategoryRow, Filter, IndicatorConfig, StatsTable, TimePreset, UnitRow, by_category, trend, unit_table,
};
use gridcentre_core::status::Status;
use gridcentre_core::timeparse::{DAY_MS, parse_cli_datetime};
use serde::{Deserialize, Serialize};

use super::i18n::Lang;

/// The figure the grids are coloured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Indicator {
    Accepted,
    Density,
    #[default]
    CompletionRate,
    OnTimeRate,
    Overdue,
    SatisfactionRate,
}

impl Indicator {
    pub const ALL: [Indicator; 6] = [
        Indicator::Accepted,
        Indicator::Density,
        Indicator::CompletionRate,
        Indicator::OnTimeRate,
        Indicator::Overdue,
        Indicator::SatisfactionRate,
    ];

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Indicator::Accepted => lang.t("受理数", "Accepted"),
            Indicator::Density => lang.t("密度 (件/km²)", "Density (per km²)"),
            Indicator::CompletionRate => lang.t("办结率", "Completion rate"),
            Indicator::OnTimeRate => lang.t("按期办结率", "On-time rate"),
            Indicator::Overdue => lang.t("超期数", "Overdue"),
            Indicator::SatisfactionRate => lang.t("满意率", "Satisfaction rate"),
        }
    }

    /// Rates are fractions shown as percentages; high is good for them.
    pub fn is_rate(self) -> bool {
        matches!(self, Indicator::CompletionRate | Indicator::OnTimeRate | Indicator::SatisfactionRate)
    }

    pub fn value(self, row: &UnitRow) -> Option<f64> {
        let (c, f) = (&row.counts, &row.figures);
        match self {
            Indicator::Accepted => Some(c.accepted as f64),
            Indicator::Density => f.density_per_km2,
            Indicator::CompletionRate => f.completion_rate,
            Indicator::OnTimeRate => f.on_time_rate,
            Indicator::Overdue => Some(c.overdue() as f64),
            Indicator::SatisfactionRate => f.satisfaction_rate,
        }
    }

    pub fn format(self, v: Option<f64>) -> String {
        match v {
            None => "—".into(),
            Some(x) if self.is_rate() => format!("{:.1}%", x * 100.0),
            Some(x) if self == Indicator::Density => format!("{x:.1}"),
            Some(x) => format!("{x:.0}"),
        }
    }
}

/// Class breaks for rates: below 90 %, 90–95, 95–98, 98–99.5, from 99.5 %.
pub const RATE_BREAKS: [f64; 4] = [0.90, 0.95, 0.98, 0.995];

/// The filter as the user sets it (persisted): names rather than ids, and a time preset, so it
/// survives a reload of other data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FilterState {
    pub categories: Vec<String>,
    pub sources: Vec<String>,
    pub statuses: Vec<Status>,
    pub preset: TimePreset,
    /// Custom range, as typed (YYYY-MM-DD); `to` is inclusive.
    pub custom_from: String,
    pub custom_to: String,
}

impl FilterState {
    /// The core filter for a dataset: names the data does not have are left out (a persisted
    /// filter must not empty the map on other data), a custom date that does not parse is ignored
    /// and reported in the second value.
    pub fn resolve(&self, ds: &Dataset, as_of_ms: i64) -> (Filter, Option<String>) {
        let keep = |names: &[String], dict: &gridcentre_core::model::Dict| -> Vec<String> {
            names.iter().filter(|n| dict.get(n).is_some()).cloned().collect()
        };
        let mut problem = None;
        let (from_ms, to_ms) = match self.preset {
            TimePreset::Custom => {
                let mut parse = |s: &str, end: bool| -> Option<i64> {
                    if s.trim().is_empty() {
                        return None;
                    }
                    match parse_cli_datetime(s) {
                        Ok(ms) => Some(if end { ms + DAY_MS } else { ms }),
                        Err(e) => {
                            problem = Some(e);
                            None
                        }
                    }
                };
                (parse(&self.custom_from, false), parse(&self.custom_to, true))
            }
            p => p.range(as_of_ms).map_or((None, None), |(a, b)| (Some(a), Some(b))),
        };
        let filter = Filter {
            categories: keep(&self.categories, &ds.incidents.categories),
            sources: keep(&self.sources, &ds.incidents.sources),
            statuses: self.statuses.clone(),
            from_ms,
            to_ms,
            unit: None,
        };
        (filter, problem)
    }

    pub fn is_default(&self) -> bool {
        *self == FilterState::default()
    }
}

/// Display geometry: everything drawn in the display coordinate system (WGS84, or GCJ-02 under
/// an Amap-aligned basemap). Rebuilt in the background when that system changes.
pub struct Geometry {
    pub crs: Crs,
    pub mesh: GridMesh,
    /// Per level (index = `Level::index()`, grid … district): outlines, label anchors, boxes.
    pub outlines: Vec<Outlines>,
    /// Median unit width per level, in Mercator units (which levels are worth drawing at a zoom).
    pub typical_width: Vec<f64>,
    /// Mercator bounds of all grids (min, max), to fit the view.
    pub bounds: ([f64; 2], [f64; 2]),
}

impl Geometry {
    pub fn build(ds: &Dataset, crs: Crs) -> Geometry {
        let mesh = GridMesh::build(&ds.layer, crs);
        let mut min = [f64::INFINITY; 2];
        let mut max = [f64::NEG_INFINITY; 2];
        for v in &mesh.vertices {
            for k in 0..2 {
                min[k] = min[k].min(v[k]);
                max[k] = max[k].max(v[k]);
            }
        }
        let outlines: Vec<Outlines> = [Level::Grid, Level::Community, Level::Street, Level::District]
            .iter()
            .map(|&l| unit_outlines(&ds.layer, l, crs))
            .collect();
        let typical_width = outlines
            .iter()
            .map(|o| {
                let mut w: Vec<f64> = o.bbox.iter().map(|(a, b)| b[0] - a[0]).filter(|w| *w > 0.0).collect();
                w.sort_by(f64::total_cmp);
                w.get(w.len() / 2).copied().unwrap_or(0.0)
            })
            .collect();
        Geometry { crs, mesh, outlines, typical_width, bounds: (min, max) }
    }
}

/// What the filter derives: the tables per level and the points on the map.
pub struct Derived {
    pub state: FilterState,
    pub filter: Filter,
    pub problem: Option<String>,
    pub tables: Vec<StatsTable>,
    pub points: PointLayer,
    /// Incidents that pass the filter.
    pub selected: usize,
    /// The display system the points are in.
    pub crs: Crs,
}

impl Derived {
    pub fn compute(ds: &Dataset, state: &FilterState, cfg: &IndicatorConfig, as_of_ms: i64, crs: Crs) -> Result<Derived, String> {
        let _span = tracing::info_span!("derive").entered();
        let (filter, problem) = state.resolve(ds, as_of_ms);
        let sel = filter.select(ds).map_err(|e| e.to_string())?;
        let tables = Level::ALL
            .iter()
            .map(|&l| unit_table(ds, l, &filter, cfg, as_of_ms).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let points = PointLayer::build(ds, &sel, cfg, as_of_ms, crs);
        Ok(Derived { state: state.clone(), filter, problem, tables, points, selected: sel.len(), crs })
    }
}

/// A loaded dataset with everything the UI draws from it.
pub struct Loaded {
    pub ds: Arc<Dataset>,
    pub config: IndicatorConfig,
    pub as_of_ms: i64,
    pub geometry: Arc<Geometry>,
    pub derived: Arc<Derived>,
    /// Where it came from (shown in the title bar).
    pub sources: Sources,
    /// Unfiltered tables of every level kept current by a live feed (they stand in for the
    /// derived tables while no filter is set).
    pub live_tables: Option<Arc<Vec<StatsTable>>>,
    /// Bumped whenever the tables on screen change without a new derive.
    pub version: u64,
}

impl Loaded {
    /// Computes everything for a dataset (meant for a background thread).
    pub fn compute(ds: Dataset, state: &FilterState, crs: Crs, sources: Sources) -> Result<Loaded, String> {
        let config = IndicatorConfig::default();
        let as_of_ms = ds.latest_time();
        let derived = Derived::compute(&ds, state, &config, as_of_ms, crs)?;
        let geometry = Geometry::build(&ds, crs);
        Ok(Loaded {
            ds: Arc::new(ds),
            config,
            as_of_ms,
            geometry: Arc::new(geometry),
            derived: Arc::new(derived),
            sources,
            live_tables: None,
            version: 0,
        })
    }

    pub fn table(&self, level: Level) -> &StatsTable {
        match &self.live_tables {
            Some(t) if self.derived.state == FilterState::default() => &t[level.index()],
            _ => &self.derived.tables[level.index()],
        }
    }

    /// The row of a unit at its level.
    pub fn row(&self, level: Level, unit: u32) -> Option<&UnitRow> {
        self.table(level).rows.get(unit as usize)
    }

    /// Per-grid classes (0–4) of an indicator, `None` for no data, and the breaks used.
    pub fn classes(&self, indicator: Indicator) -> (Vec<Option<usize>>, Vec<f64>) {
        let values: Vec<Option<f64>> = self.table(Level::Grid).rows.iter().map(|r| indicator.value(r)).collect();
        // Rates: fixed classes where centres differ (they report 97–99.9 %); counts: quantiles.
        let breaks = if indicator.is_rate() {
            RATE_BREAKS.to_vec()
        } else {
            let finite: Vec<f64> = values.iter().flatten().copied().collect();
            quantile_breaks(&finite, 5)
        };
        (values.iter().map(|v| class_of(*v, &breaks)).collect(), breaks)
    }

    /// "District / street / community" above a unit (the city and the unit itself left out).
    pub fn path(&self, level: Level, unit: u32) -> String {
        let layer = &self.ds.layer;
        let names: Vec<&str> = layer
            .ancestors(level, unit)
            .iter()
            .filter(|(lv, _)| *lv != Level::City && *lv != level)
            .map(|(lv, u)| &*layer.units(*lv)[*u as usize].name)
            .collect();
        names.join(" / ")
    }
}

/// The selected unit's breakdown: categories, trend, latest incidents (under the filter).
pub struct Detail {
    pub unit: (Level, u32),
    pub state: FilterState,
    pub categories: Vec<CategoryRow>,
    pub trend: Vec<BucketRow>,
    pub bucket: Bucket,
    /// Newest first.
    pub latest: Vec<u32>,
}

pub struct DetailJob {
    pub ds: Arc<Dataset>,
    pub unit: (Level, u32),
    pub state: FilterState,
    pub config: IndicatorConfig,
    pub as_of_ms: i64,
}

impl DetailJob {
    pub fn run(self) -> Result<Detail, String> {
        let ds = &self.ds;
        let (mut filter, _) = self.state.resolve(ds, self.as_of_ms);
        filter.unit = Some(self.unit);
        let e = |e: gridcentre_core::CoreError| e.to_string();
        let categories = by_category(ds, &filter, &self.config, self.as_of_ms).map_err(e)?;
        let mut sel = filter.select(ds).map_err(e)?;
        let span = match (filter.from_ms, filter.to_ms) {
            (Some(a), Some(b)) => b - a,
            _ => ds.incidents.time_range().map_or(0, |(a, b)| b - a),
        };
        let bucket = if span <= 45 * DAY_MS {
            Bucket::Day
        } else if span <= 200 * DAY_MS {
            Bucket::Week
        } else {
            Bucket::Month
        };
        let trend = trend(ds, &filter, bucket, &self.config, self.as_of_ms).map_err(e)?;
        sel.sort_unstable_by_key(|&i| std::cmp::Reverse(ds.incidents.reported_ms[i as usize]));
        sel.truncate(30);
        Ok(Detail { unit: self.unit, state: self.state, categories, trend, bucket, latest: sel })
    }
}

/// A derive job: the filter changed, or the display system did.
pub struct DeriveJob {
    pub ds: Arc<Dataset>,
    pub state: FilterState,
    pub config: IndicatorConfig,
    pub as_of_ms: i64,
    pub crs: Crs,
}

impl DeriveJob {
    pub fn run(self) -> Result<Derived, String> {
        Derived::compute(&self.ds, &self.state, &self.config, self.as_of_ms, self.crs)
    }
}

/// A heatmap job: a view rectangle at a resolution, over one derived point layer.
pub struct HeatJob {
    pub derived: Arc<Derived>,
    pub request: HeatRequest,
}

impl HeatJob {
    pub fn run(self) -> (HeatRaster, Arc<Derived>) {
        let r = heat_raster(&self.derived.points, self.request);
        (r, self.derived)
    }
}

/// Messages from the loader thread.
pub enum LoadMsg {
    Stage(Stage),
    Done(Box<Result<Loaded, String>>),
}

/// Starts loading on a named background thread; the UI polls the receiver each frame.
pub fn spawn_load(sources: Sources, state: FilterState, crs: Crs, ctx: egui::Context) -> Receiver<LoadMsg> {
    let (tx, rx): (SyncSender<LoadMsg>, Receiver<LoadMsg>) = sync_channel(16);
    let spawned = std::thread::Builder::new().name("gridcentre-loader".into()).spawn(move || {
        super::worker::background_priority();
        let mut progress = |s: Stage| {
            let _ = tx.send(LoadMsg::Stage(s));
            ctx.request_repaint();
        };
        let result =
            load(&sources, &mut progress).map_err(|e| e.to_string()).and_then(|ds| Loaded::compute(ds, &state, crs, sources));
        let _ = tx.send(LoadMsg::Done(Box::new(result)));
        ctx.request_repaint();
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the loader thread: {e}");
    }
    rx
}

/// The bundled sample city, found next to the executable's project or in the working folder.
pub fn sample_sources() -> Sources {
    let candidates = [PathBuf::from("sample-data"), PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data")];
    let dir = candidates.iter().find(|d| d.join("grids.geojson").exists()).cloned().unwrap_or_else(|| candidates[0].clone());
    Sources { grids: dir.join("grids.geojson"), incidents: Some(dir.join("incidents.csv")), ..Sources::default() }
}

/// The grid an incident fell in, if any.
pub fn grid_of(ds: &Dataset, incident: u32) -> Option<u32> {
    ds.grid_of.get(incident as usize).copied().filter(|g| *g != NO_GRID)
}
