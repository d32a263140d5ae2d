//! Load → index → assign: the one path from files to a [`Dataset`], shared by the CLI and the
//! app (which runs it on a background thread and shows the progress it reports).

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Result;
use crate::load::{GridOptions, IncidentOptions, load_grids, load_incidents};
use crate::model::{GridLayer, Incidents, Level, NO_GRID};
use crate::report::LoadReport;
use crate::spatial::{GridIndex, assign};

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub grids: PathBuf,
    pub grid_options: GridOptions,
    pub incidents: Option<PathBuf>,
    pub incident_options: IncidentOptions,
}

/// A stage of loading, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The grids and their index.
    Grids,
    /// The incidents, read while the grids are read and indexed.
    Incidents,
    Assign,
    Done,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Grids => "reading grids",
            Stage::Incidents => "reading grids and incidents",
            Stage::Assign => "assigning incidents to grids",
            Stage::Done => "done",
        }
    }
}

/// Grids, their index, incidents and where each incident landed. The grids and their index
/// never change once loaded and are shared by every copy (a live feed's snapshots copy only the
/// incidents).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub layer: Arc<GridLayer>,
    pub index: Arc<GridIndex>,
    pub incidents: Incidents,
    /// Grid of each incident, [`NO_GRID`] when unassigned.
    pub grid_of: Vec<u32>,
    /// The grids' report, then the incidents' (with the assignment filled in).
    pub reports: Vec<LoadReport>,
}

impl Dataset {
    /// Builds a dataset from already loaded parts.
    pub fn new(layer: impl Into<Arc<GridLayer>>, incidents: Incidents, mut reports: Vec<LoadReport>) -> Dataset {
        let layer = layer.into();
        let index = GridIndex::build(&layer);
        let (grid_of, assignment) = assign(&layer, &index, &incidents);
        if let Some(r) = reports.iter_mut().find(|r| r.kind == "incidents") {
            r.assignment = Some(assignment);
        }
        Dataset { layer, index: Arc::new(index), incidents, grid_of, reports }
    }

    /// The latest reported or closed time in the data: the "now" of a static export, used as
    /// the default as-of time (0 when there are no incidents).
    pub fn latest_time(&self) -> i64 {
        let inc = &self.incidents;
        let r = inc.reported_ms.iter().copied().max().unwrap_or(0);
        let c = inc.closed_ms.iter().flatten().copied().max().unwrap_or(0);
        r.max(c)
    }

    /// The unit of `level` each incident belongs to (`NO_GRID` when unassigned).
    pub fn unit_of(&self, level: Level) -> Vec<u32> {
        let map = &self.layer.grid_unit[level.index()];
        self.grid_of.iter().map(|&g| if g == NO_GRID { NO_GRID } else { map[g as usize] }).collect()
    }
}

/// Loads grids and incidents and assigns them, reporting each stage to `progress`. The grids
/// (with their index) and the incidents are read at the same time, on all cores: each loader
/// has parts that run on one core, which the other's work fills.
pub fn load(sources: &Sources, progress: &mut dyn FnMut(Stage)) -> Result<Dataset> {
    progress(Stage::Grids);
    let grids = || -> Result<(GridLayer, LoadReport, GridIndex)> {
        let (layer, report) = load_grids(&sources.grids, &sources.grid_options)?;
        let index = GridIndex::build(&layer);
        Ok((layer, report, index))
    };
    let ((layer, grid_report, index), incidents) = match &sources.incidents {
        Some(path) => {
            progress(Stage::Incidents);
            let (g, i) = rayon::join(grids, || load_incidents(path, &sources.incident_options));
            (g?, Some(i?))
        }
        None => (grids()?, None),
    };
    let mut reports = vec![grid_report];
    let incidents = match incidents {
        Some((inc, rep)) => {
            reports.push(rep);
            inc
        }
        None => Incidents::default(),
    };
    progress(Stage::Assign);
    let (grid_of, assignment) = assign(&layer, &index, &incidents);
    if let Some(r) = reports.iter_mut().find(|r| r.kind == "incidents") {
        r.assignment = Some(assignment);
    }
    progress(Stage::Done);
    Ok(Dataset { layer: Arc::new(layer), index: Arc::new(index), incidents, grid_of, reports })
}
