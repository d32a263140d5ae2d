//! What the UI paints, computed off the UI thread: the dataset, its mesh and its tables.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use gridcentre_core::model::Level;
use gridcentre_core::pipeline::{Dataset, Sources, Stage, load};
use gridcentre_core::render::{GridMesh, class_of, quantile_breaks};
use gridcentre_core::stats::{Filter, IndicatorConfig, StatsTable, UnitRow, unit_table};
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

/// A loaded dataset with everything the UI draws from it.
pub struct Loaded {
    pub ds: Dataset,
    pub mesh: GridMesh,
    pub as_of_ms: i64,
    pub config: IndicatorConfig,
    /// Tables per level (grid … city), for the current filter.
    pub tables: Vec<StatsTable>,
    /// Mercator bounds of all grids (min, max), to fit the view.
    pub bounds: ([f64; 2], [f64; 2]),
}

impl Loaded {
    /// Computes everything (meant for a background thread).
    pub fn compute(ds: Dataset, filter: &Filter) -> Result<Loaded, String> {
        let config = IndicatorConfig::default();
        let as_of_ms = ds.latest_time();
        let tables = Level::ALL
            .iter()
            .map(|&l| unit_table(&ds, l, filter, &config, as_of_ms).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let mesh = GridMesh::build(&ds.layer);
        let mut min = [f64::INFINITY; 2];
        let mut max = [f64::NEG_INFINITY; 2];
        for v in &mesh.vertices {
            for k in 0..2 {
                min[k] = min[k].min(v[k]);
                max[k] = max[k].max(v[k]);
            }
        }
        Ok(Loaded { ds, mesh, as_of_ms, config, tables, bounds: (min, max) })
    }

    pub fn table(&self, level: Level) -> &StatsTable {
        &self.tables[level.index()]
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
}

/// Messages from the loader thread.
pub enum LoadMsg {
    Stage(Stage),
    Done(Box<Result<Loaded, String>>),
}

/// Starts loading on a named background thread; the UI polls the receiver each frame.
pub fn spawn_load(sources: Sources, ctx: egui::Context) -> Receiver<LoadMsg> {
    let (tx, rx): (SyncSender<LoadMsg>, Receiver<LoadMsg>) = sync_channel(16);
    let spawned = std::thread::Builder::new().name("gridcentre-loader".into()).spawn(move || {
        let mut progress = |s: Stage| {
            let _ = tx.send(LoadMsg::Stage(s));
            ctx.request_repaint();
        };
        let result =
            load(&sources, &mut progress).map_err(|e| e.to_string()).and_then(|ds| Loaded::compute(ds, &Filter::default()));
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
