//! The dashboard: one window with the grid map in the middle, filters, layers, key figures and
//! the centres' table on the left, the selection on the right, a status bar below. Loading and
//! every computation run on background threads ([`worker::Worker`]); the UI only paints what
//! [`state`] already computed.

pub mod analysis_view;
pub mod basemap;
pub mod export;
pub mod i18n;
pub mod live;
mod live_view;
pub mod map;
mod panels;
pub mod profile;
pub mod sound;
pub mod state;
pub mod theme;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use egui::RichText;
use gridcentre_core::crs::Crs;
use gridcentre_core::layers::{HeatRaster, HeatRequest, SearchHit, display_mercator, heat_rgba};
use gridcentre_core::model::Level;
use gridcentre_core::pipeline::{Dataset, Sources, Stage};
use gridcentre_core::source::SourceSpec;
use serde::{Deserialize, Serialize};
use walkers::{Map, MapMemory, Tiles, lon_lat};

use analysis_view::{AnalysisSettings, ChartsJob, ChartsKey, TableCache, ViewMode};
use basemap::BasemapConfig;
use gridcentre_core::bundle::ReportContent;
use i18n::Lang;
use map::{Clicked, GridPlugin, HeatImage, Layers, MapEvents, Selection};
use state::{DeriveJob, Derived, Detail, DetailJob, FilterState, Geometry, HeatJob, Indicator, LoadMsg, Loaded};
use worker::Worker;

/// What persists across restarts (old settings still load: every field has a default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub lang: Lang,
    pub dark: bool,
    pub indicator: Indicator,
    pub table_level: Level,
    pub layers: Layers,
    pub basemap: BasemapConfig,
    pub filter: FilterState,
    /// Map centre (lon, lat of the display system) and zoom.
    pub view: Option<(f64, f64, f64)>,
    /// Wall-screen mode: full screen, large figures, the map filling the rest.
    pub wall: bool,
    /// The centre whose figures the wall screen shows (district code; none = the city).
    pub wall_district: Option<String>,
    pub show_filters: bool,
    pub show_layers: bool,
    /// Map, table or charts in the middle of the window.
    pub view_mode: ViewMode,
    pub analysis: AnalysisSettings,
    /// Overdue alerts also chime (off by default: many centres share one room).
    pub alert_sound: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lang: Lang::Zh,
            dark: true,
            indicator: Indicator::CompletionRate,
            table_level: Level::District,
            layers: Layers::default(),
            basemap: BasemapConfig::default(),
            filter: FilterState::default(),
            view: None,
            wall: false,
            wall_district: None,
            show_filters: true,
            show_layers: false,
            view_mode: ViewMode::Map,
            analysis: AnalysisSettings::default(),
            alert_sound: false,
        }
    }
}

enum Data {
    Loading { stage: Stage, rx: Receiver<LoadMsg>, sources: Sources },
    Ready(Box<Loaded>),
    Failed(String),
}

/// An animated move of the map ("fly to").
struct Fly {
    from: ([f64; 2], f64),
    to: ([f64; 2], f64),
    start: f64,
}

const FLY_SECONDS: f64 = 0.6;

/// The heatmap on screen: its texture and what it was computed for.
struct Heat {
    texture: egui::TextureHandle,
    raster: HeatRaster,
    derived: Arc<Derived>,
    intensity: f32,
}

struct Workers {
    derive: Worker<DeriveJob, Result<Derived, String>>,
    geometry: Worker<(Arc<Dataset>, Crs), Geometry>,
    heat: Worker<HeatJob, (HeatRaster, Arc<Derived>)>,
    detail: Worker<DetailJob, Result<Detail, String>>,
    charts: Worker<(ChartsKey, ChartsJob), (ChartsKey, Result<ReportContent, String>)>,
}

impl Workers {
    fn new(ctx: &egui::Context) -> Workers {
        worker::background_tables();
        Workers {
            derive: Worker::new("gridcentre-derive", ctx.clone(), DeriveJob::run),
            geometry: Worker::new("gridcentre-geometry", ctx.clone(), |(ds, crs): (Arc<Dataset>, Crs)| Geometry::build(&ds, crs)),
            heat: Worker::new("gridcentre-heat", ctx.clone(), HeatJob::run),
            detail: Worker::new("gridcentre-detail", ctx.clone(), DetailJob::run),
            charts: Worker::new("gridcentre-charts", ctx.clone(), |(key, job): (ChartsKey, ChartsJob)| (key, job.run())),
        }
    }
}

/// The app.
pub struct GridCentreApp {
    pub settings: Settings,
    /// The app's own part of the last frame, section by section (the frame benchmark reports
    /// it beside the whole frame, which also holds egui's layout, tessellation and kittest).
    pub profile: profile::PassProfile,
    data: Data,
    map_memory: MapMemory,
    fit_pending: bool,
    pub selection: Option<Selection>,
    pub show_report: bool,
    hovered_grid: Option<u32>,
    hovered_incident: Option<u32>,
    pointer: Option<(f64, f64)>,
    /// Per-grid classes for the current indicator and derived tables, and the breaks.
    classes: (Indicator, (usize, u64), Vec<Option<usize>>, Vec<f64>),
    workers: Workers,
    /// The filter / display system being computed, if any.
    derive_pending: Option<(FilterState, Crs)>,
    geometry_pending: Option<Crs>,
    heat: Option<Heat>,
    heat_pending: Option<(HeatRequest, usize)>,
    detail: Option<Detail>,
    detail_pending: Option<((Level, u32), FilterState)>,
    pub search: String,
    search_hits: Vec<SearchHit>,
    search_done_for: String,
    fly: Option<Fly>,
    tiles: Option<Box<dyn Tiles>>,
    tiles_for: BasemapConfig,
    basemap_error: Option<String>,
    /// The basemap path or URL as being typed (applied with a button).
    basemap_edit: String,
    /// Messages for the user (file errors, what was opened).
    pub notice: Option<(String, bool)>,
    file_dialog: Option<Receiver<(FileRole, Option<PathBuf>)>>,
    last_view: Option<([f64; 2], [f64; 2], f64, egui::Vec2)>,
    map_rect: Option<egui::Rect>,
    table_cache: Option<TableCache>,
    /// The charts on screen and what they were computed for.
    charts: Option<(ChartsKey, ReportContent)>,
    charts_pending: Option<ChartsKey>,
    pub exports: export::Exports,
    /// The live feed being followed, if any.
    pub live: Option<live::LiveSession>,
    /// A live feed to start once the data is loaded.
    pending_live: Option<(SourceSpec, live::LiveClock)>,
    /// The "connect a live source" form, while open.
    live_form: Option<LiveForm>,
    /// Where live checkpoints go (the app's data folder; none in tests).
    pub live_state_root: Option<PathBuf>,
    /// The overdue chime (counting only in tests).
    pub chime: sound::Chime,
}

/// The form that starts a live feed: a file path or a connection string, and the password
/// apart (masked, never stored or shown).
#[derive(Debug, Clone, Default)]
pub struct LiveForm {
    pub source: String,
    pub password: String,
    pub clock: live::LiveClock,
}

/// Which input a picked or dropped file replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    Grids,
    Incidents,
}

impl FileRole {
    /// By extension: polygons or incident tables.
    pub fn of(path: &std::path::Path) -> Option<FileRole> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "geojson" | "json" | "shp" => Some(FileRole::Grids),
            "csv" | "txt" | "xlsx" | "xlsm" | "parquet" | "pq" => Some(FileRole::Incidents),
            _ => None,
        }
    }
}

impl GridCentreApp {
    /// Starts loading `sources` in the background.
    pub fn new(cc: &eframe::CreationContext<'_>, sources: Sources) -> Self {
        theme::install_fonts(&cc.egui_ctx);
        let settings: Settings = cc.storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default();
        theme::apply_visuals(&cc.egui_ctx, settings.dark);
        let mut app = Self::with_data(&cc.egui_ctx, settings, Data::Failed(String::new()));
        app.live_state_root = eframe::storage_dir("gridcentre").map(|d| d.join("live"));
        app.chime = sound::Chime::alsa();
        app.start_load(&cc.egui_ctx, sources);
        app.fit_pending = app.settings.view.is_none();
        if let Some((lon, lat, zoom)) = app.settings.view {
            app.map_memory.center_at(lon_lat(lon, lat));
            let _ = app.map_memory.set_zoom(zoom);
        }
        app.basemap_edit = app.settings.basemap.location.clone();
        app.open_basemap(&cc.egui_ctx);
        if app.settings.wall {
            cc.egui_ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(true));
        }
        app
    }

    /// An app on already computed data (tests, and the headless frame benchmark).
    pub fn from_loaded(ctx: &egui::Context, loaded: Loaded) -> Self {
        theme::install_fonts(ctx);
        Self::with_data(ctx, Settings::default(), Data::Ready(Box::new(loaded)))
    }

    fn with_data(ctx: &egui::Context, settings: Settings, data: Data) -> Self {
        let mut memory = MapMemory::default();
        let _ = memory.set_zoom(11.0);
        Self {
            settings,
            profile: profile::PassProfile::default(),
            data,
            map_memory: memory,
            fit_pending: true,
            selection: None,
            show_report: false,
            hovered_grid: None,
            hovered_incident: None,
            pointer: None,
            classes: (Indicator::Accepted, (0, 0), Vec::new(), Vec::new()),
            workers: Workers::new(ctx),
            derive_pending: None,
            geometry_pending: None,
            heat: None,
            heat_pending: None,
            detail: None,
            detail_pending: None,
            search: String::new(),
            search_hits: Vec::new(),
            search_done_for: String::new(),
            fly: None,
            tiles: None,
            tiles_for: BasemapConfig::default(),
            basemap_error: None,
            basemap_edit: String::new(),
            notice: None,
            file_dialog: None,
            last_view: None,
            map_rect: None,
            table_cache: None,
            charts: None,
            charts_pending: None,
            exports: export::Exports::default(),
            live: None,
            pending_live: None,
            live_form: None,
            live_state_root: None,
            chime: sound::Chime::counting(),
        }
    }

    pub fn loaded(&self) -> Option<&Loaded> {
        match &self.data {
            Data::Ready(l) => Some(l),
            _ => None,
        }
    }

    /// True while something is being computed in the background.
    pub fn busy(&self) -> bool {
        matches!(self.data, Data::Loading { .. })
            || self.derive_pending.is_some()
            || self.geometry_pending.is_some()
            || self.heat_pending.is_some()
            || self.detail_pending.is_some()
            || self.charts_pending.is_some()
            || self.exports.busy()
    }

    /// Follows a live source (a feed file or a PostgreSQL table) from the data on screen; when
    /// the data is still loading, from the data once it is loaded.
    pub fn start_live(&mut self, ctx: &egui::Context, spec: SourceSpec, clock: live::LiveClock) {
        let Data::Ready(l) = &self.data else {
            self.pending_live = Some((spec, clock));
            return;
        };
        let opts = l.sources.incident_options.clone();
        // Checkpoints per source and base data, under the app's data folder (not in tests).
        let state = self.live_state_root.as_ref().map(|root| {
            let base = gridcentre_core::checkpoint::fingerprint(&[Some(&l.sources.grids), l.sources.incidents.as_deref()]);
            let key = format!("{}\n{base}", spec.label());
            let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
            live::LiveState { dir: root.join(format!("{hash:016x}")), base }
        });
        self.live = Some(live::LiveSession::start(l.ds.clone(), l.config.clone(), spec, opts, clock, state, ctx.clone()));
    }

    /// Stops following the live source (the figures stay as they are).
    pub fn stop_live(&mut self) {
        self.live = None;
    }

    /// Takes what the live thread published: tables at once, a dataset snapshot into the
    /// filter's derive (points, heatmap, filtered tables).
    fn poll_live(&mut self, ctx: &egui::Context) {
        if matches!(self.data, Data::Ready(_))
            && let Some((spec, clock)) = self.pending_live.take()
        {
            self.start_live(ctx, spec, clock);
        }
        let crs = self.display_crs();
        let now = ctx.input(|i| i.time);
        let (Some(session), Data::Ready(l)) = (self.live.as_mut(), &mut self.data) else { return };
        let (tables, dataset, n) = session.take(now);
        if session.new_alerts > 0 && self.settings.alert_sound {
            self.chime.ring(now);
        }
        if self.derive_pending.is_none() {
            session.want_snapshot.store(true, std::sync::atomic::Ordering::Release);
        }
        if let Some(t) = tables {
            worker::drop_later(l.live_tables.replace(t));
            l.version += 1;
        }
        if let Some(ds) = dataset {
            worker::drop_later(std::mem::replace(&mut l.ds, ds));
            l.as_of_ms = session.as_of_ms;
            let state = self.derive_pending.as_ref().map_or(l.derived.state.clone(), |p| p.0.clone());
            self.workers.derive.submit(DeriveJob {
                ds: l.ds.clone(),
                state: state.clone(),
                config: l.config.clone(),
                as_of_ms: l.as_of_ms,
                crs,
            });
            self.derive_pending = Some((state.clone(), crs));
            // The selected unit's breakdown follows (the old one stays until it is ready).
            if let Some(Selection::Unit(level, u)) = self.selection
                && level != Level::City
            {
                let state = self.settings.filter.clone();
                self.workers.detail.submit(DetailJob {
                    ds: l.ds.clone(),
                    unit: (level, u),
                    state: state.clone(),
                    config: l.config.clone(),
                    as_of_ms: l.as_of_ms,
                });
                self.detail_pending = Some(((level, u), state));
            }
        }
        // Flashes animate; the ticker is refreshed at the live thread's pace.
        if n > 0 || !session.flashes.is_empty() {
            ctx.request_repaint_after(std::time::Duration::from_millis(if session.flashes.is_empty() { 500 } else { 33 }));
        }
    }

    /// Where a WGS84 lon/lat is on screen in the last frame (tests and the frame benchmark).
    pub fn screen_pos(&self, lon: f64, lat: f64) -> Option<egui::Pos2> {
        let (vmin, vmax, _, size) = self.last_view?;
        let rect = self.map_rect?;
        let m = display_mercator(self.loaded()?.geometry.crs, lon, lat);
        let scale = size.x as f64 / (vmax[0] - vmin[0]);
        Some(rect.min + egui::vec2(((m[0] - vmin[0]) * scale) as f32, ((m[1] - vmin[1]) * scale) as f32))
    }

    /// True while the map flies to a search hit.
    pub fn flying(&self) -> bool {
        self.fly.is_some()
    }

    /// The heatmap raster on screen, if any.
    pub fn heat_raster(&self) -> Option<&HeatRaster> {
        self.heat.as_ref().map(|h| &h.raster)
    }

    /// Sets the map view (frame benchmark: pans and zooms as a user would).
    pub fn set_view(&mut self, lon: f64, lat: f64, zoom: f64) {
        self.fit_pending = false;
        self.map_memory.center_at(lon_lat(lon, lat));
        let _ = self.map_memory.set_zoom(zoom);
    }

    /// The display coordinate system the basemap asks for.
    fn display_crs(&self) -> Crs {
        if self.settings.basemap.kind != basemap::BasemapKind::None && self.settings.basemap.gcj02 {
            Crs::Gcj02
        } else {
            Crs::Wgs84
        }
    }

    /// Loads other data in the background (the current data stays on screen until it is ready).
    pub fn start_load(&mut self, ctx: &egui::Context, sources: Sources) {
        let rx = state::spawn_load(sources.clone(), self.settings.filter.clone(), self.display_crs(), ctx.clone());
        self.data = Data::Loading { stage: Stage::Grids, rx, sources };
    }

    /// Opens a file as grids or incidents, keeping the other input.
    pub fn open_file(&mut self, ctx: &egui::Context, path: PathBuf, role: Option<FileRole>) {
        let Some(role) = role.or_else(|| FileRole::of(&path)) else {
            self.notice = Some((
                format!("{}: {}", self.settings.lang.t("无法识别的文件类型", "unrecognised file type"), path.display()),
                true,
            ));
            return;
        };
        let mut sources = match &self.data {
            Data::Ready(l) => l.sources.clone(),
            Data::Loading { sources, .. } => sources.clone(),
            Data::Failed(_) => state::sample_sources(),
        };
        match role {
            FileRole::Grids => sources.grids = path,
            FileRole::Incidents => sources.incidents = Some(path),
        }
        self.selection = None;
        self.detail = None;
        self.fit_pending = true;
        self.start_load(ctx, sources);
    }

    fn poll(&mut self, ctx: &egui::Context) {
        if let Data::Loading { stage, rx, .. } = &mut self.data {
            while let Ok(msg) = rx.try_recv() {
                match msg {
                    LoadMsg::Stage(s) => *stage = s,
                    LoadMsg::Done(result) => {
                        self.data = match *result {
                            Ok(l) => Data::Ready(Box::new(l)),
                            Err(e) => Data::Failed(e),
                        };
                        self.fit_pending = self.fit_pending || self.settings.view.is_none();
                        self.heat = None;
                        self.derive_pending = None;
                        self.geometry_pending = None;
                        break;
                    }
                }
            }
        }
        if let Some((role, path)) = self.file_dialog.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.file_dialog = None;
            if let Some(p) = path {
                self.open_file(ctx, p, Some(role));
            }
        }
        self.poll_exports(ctx);
        self.profile.mark("poll loads and exports");
        let Data::Ready(l) = &mut self.data else { return };
        if let Some((key, result)) = self.workers.charts.latest() {
            if self.charts_pending.as_ref() == Some(&key) {
                self.charts_pending = None;
            }
            match result {
                Ok(c) => self.charts = Some((key, c)),
                Err(e) => self.notice = Some((e, true)),
            }
        }
        if let Some(result) = self.workers.derive.latest() {
            match result {
                Ok(d) => {
                    let fresh = self.derive_pending.as_ref().is_none_or(|(s, c)| *s == d.state && *c == d.crs);
                    worker::drop_later(std::mem::replace(&mut l.derived, Arc::new(d)));
                    if fresh {
                        self.derive_pending = None;
                    }
                }
                Err(e) => {
                    self.notice = Some((e, true));
                    self.derive_pending = None;
                }
            }
        }
        if let Some(g) = self.workers.geometry.latest() {
            if self.geometry_pending == Some(g.crs) {
                self.geometry_pending = None;
            }
            worker::drop_later(std::mem::replace(&mut l.geometry, Arc::new(g)));
        }
        if let Some((raster, derived)) = self.workers.heat.latest() {
            let image = egui::ColorImage::from_rgba_unmultiplied(
                [raster.request.width, raster.request.height],
                &heat_rgba(&raster, self.settings.layers.heat_intensity),
            );
            let texture = ctx.load_texture("heatmap", image, egui::TextureOptions::LINEAR);
            if self.heat_pending.is_some_and(|(r, _)| r == raster.request) {
                self.heat_pending = None;
            }
            self.heat = Some(Heat { texture, raster, derived, intensity: self.settings.layers.heat_intensity });
        }
        self.profile.mark("poll workers");
        self.poll_live(ctx);
        self.profile.mark("poll live");
        if let Some(result) = self.workers.detail.latest() {
            match result {
                Ok(d) => {
                    if self.detail_pending.as_ref().is_some_and(|(u, s)| *u == d.unit && *s == d.state) {
                        self.detail_pending = None;
                    }
                    self.detail = Some(d);
                }
                Err(e) => {
                    self.notice = Some((e, true));
                    self.detail_pending = None;
                }
            }
        }
    }

    /// Submits background work the current settings need and nothing yet provides.
    fn schedule(&mut self) {
        let crs = self.display_crs();
        let Data::Ready(l) = &self.data else { return };
        // Geometry for the display system.
        let geometry_crs = self.geometry_pending.unwrap_or(l.geometry.crs);
        if geometry_crs != crs {
            self.workers.geometry.submit((l.ds.clone(), crs));
            self.geometry_pending = Some(crs);
        }
        // Tables and points for the filter (points are in display coordinates too).
        let want = (self.settings.filter.clone(), crs);
        let have = self.derive_pending.clone().unwrap_or((l.derived.state.clone(), l.derived.crs));
        if have != want {
            self.workers.derive.submit(DeriveJob {
                ds: l.ds.clone(),
                state: want.0.clone(),
                config: l.config.clone(),
                as_of_ms: l.as_of_ms,
                crs,
            });
            self.derive_pending = Some(want);
        }
        // The charts view's charts.
        if self.settings.view_mode == ViewMode::Charts {
            let key = self.charts_key(l);
            let have = self.charts_pending.as_ref().or(self.charts.as_ref().map(|c| &c.0));
            if have != Some(&key) {
                let job = ChartsJob { ds: l.ds.clone(), spec: self.report_spec(l) };
                self.workers.charts.submit((key.clone(), job));
                self.charts_pending = Some(key);
            }
        }
        // The selected unit's breakdown.
        if let Some(Selection::Unit(level, u)) = self.selection
            && level != Level::City
        {
            let key = ((level, u), self.settings.filter.clone());
            let current = self.detail.as_ref().map(|d| (d.unit, d.state.clone()));
            if self.detail_pending.as_ref() != Some(&key) && current.as_ref() != Some(&key) {
                self.workers.detail.submit(DetailJob {
                    ds: l.ds.clone(),
                    unit: (level, u),
                    state: key.1.clone(),
                    config: l.config.clone(),
                    as_of_ms: l.as_of_ms,
                });
                self.detail_pending = Some(key);
            }
        }
        // The heatmap for the view: recomputed when the view leaves the raster, the zoom moves
        // by more than half a level, the radius or the data changed; until then the old texture
        // is drawn where it belongs, so panning and zooming never wait for it.
        if self.settings.layers.heatmap
            && let Some((vmin, vmax, _zoom, size)) = self.last_view
        {
            let derived_id = Arc::as_ptr(&l.derived) as usize;
            let radius_cells = self.settings.layers.heat_radius / 2.0;
            let cells_per_unit = size.x as f64 / (vmax[0] - vmin[0]).max(1e-15) / 2.0;
            let covers = |r: &HeatRequest, id: usize| {
                let cpu = r.width as f64 / (r.max[0] - r.min[0]);
                id == derived_id
                    && r.radius == radius_cells
                    && r.min[0] <= vmin[0]
                    && r.min[1] <= vmin[1]
                    && r.max[0] >= vmax[0]
                    && r.max[1] >= vmax[1]
                    && (cpu / cells_per_unit).log2().abs() < 0.5
            };
            let ok_now = self.heat.as_ref().is_some_and(|h| covers(&h.raster.request, Arc::as_ptr(&h.derived) as usize));
            let ok_soon = self.heat_pending.as_ref().is_some_and(|(r, id)| covers(r, *id));
            if !ok_now && !ok_soon && size.x > 1.0 && size.y > 1.0 {
                // Half the screen resolution, over the view plus a quarter on each side.
                let (w, h) = (vmax[0] - vmin[0], vmax[1] - vmin[1]);
                let min = [vmin[0] - w * 0.25, vmin[1] - h * 0.25];
                let max = [vmax[0] + w * 0.25, vmax[1] + h * 0.25];
                let width = ((size.x * 1.5 / 2.0) as usize).clamp(16, 2048);
                let height = ((size.y * 1.5 / 2.0) as usize).clamp(16, 2048);
                let request = HeatRequest { min, max, width, height, radius: radius_cells };
                self.workers.heat.submit(HeatJob { derived: l.derived.clone(), request });
                self.heat_pending = Some((request, derived_id));
            }
        }
    }

    fn refresh_classes(&mut self) {
        let Data::Ready(l) = &self.data else { return };
        let id = (Arc::as_ptr(&l.derived) as usize, l.version);
        if self.classes.0 != self.settings.indicator || self.classes.1 != id {
            let (c, b) = l.classes(self.settings.indicator);
            self.classes = (self.settings.indicator, id, c, b);
        }
    }

    /// (Re)opens the basemap when its configuration changed.
    fn open_basemap(&mut self, ctx: &egui::Context) {
        if self.tiles_for == self.settings.basemap && (self.tiles.is_some() || self.basemap_error.is_some()) {
            return;
        }
        self.tiles_for = self.settings.basemap.clone();
        match basemap::open(&self.settings.basemap, ctx) {
            Ok(t) => {
                self.tiles = t;
                self.basemap_error = None;
            }
            Err(e) => {
                self.tiles = None;
                self.basemap_error = Some(e);
            }
        }
    }

    /// Selects a search hit and flies to it.
    pub fn go_to(&mut self, hit: &SearchHit, now: f64) {
        let Some(l) = self.loaded() else { return };
        let geo = l.geometry.clone();
        match *hit {
            SearchHit::Unit { level, unit } => {
                let Some(o) = geo.outlines.get(level.index()) else { return };
                let Some(&(a, b)) = o.bbox.get(unit as usize) else { return };
                let size = self.last_view.map_or(egui::vec2(1200.0, 800.0), |v| v.3);
                let (centre, zoom) = map::fit((a, b), size);
                let c = display_mercator(Crs::Wgs84, centre.x(), centre.y());
                self.fly_to(c, zoom.min(17.0), now);
                self.select(Selection::Unit(level, unit));
            }
            SearchHit::Incident { index } => {
                let inc = &l.ds.incidents;
                if inc.has_location(index as usize) {
                    let m = display_mercator(geo.crs, inc.lon[index as usize], inc.lat[index as usize]);
                    let zoom = self.map_memory.zoom().max(16.5);
                    self.fly_to(m, zoom, now);
                }
                self.select(Selection::Incident(index));
            }
        }
    }

    pub fn select(&mut self, s: Selection) {
        // A live incident newer than the data on screen is selectable once its snapshot is in.
        if let (Selection::Incident(i), Some(l)) = (s, self.loaded())
            && i as usize >= l.ds.incidents.len()
        {
            self.notice = Some((
                self.settings
                    .lang
                    .t("该事件正在同步，请稍候再选", "That incident is still being synced: select it again in a moment")
                    .into(),
                false,
            ));
            return;
        }
        self.selection = Some(s);
        if let Selection::Unit(level, _) = s
            && level != Level::City
        {
            self.settings.table_level = level;
        }
    }

    fn fly_to(&mut self, to: [f64; 2], zoom: f64, now: f64) {
        let from = match self.last_view {
            Some((a, b, z, _)) => ([(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0], z),
            None => (to, zoom),
        };
        self.fly = Some(Fly { from, to: (to, zoom), start: now });
    }

    fn step_fly(&mut self, now: f64, ctx: &egui::Context) {
        let Some(f) = &self.fly else { return };
        let s = ((now - f.start) / FLY_SECONDS).clamp(0.0, 1.0);
        let e = s * s * (3.0 - 2.0 * s);
        let m = [f.from.0[0] + (f.to.0[0] - f.from.0[0]) * e, f.from.0[1] + (f.to.0[1] - f.from.0[1]) * e];
        let z = f.from.1 + (f.to.1 - f.from.1) * e;
        let (lon, lat) = gridcentre_core::render::unmercator(m[0], m[1]);
        self.map_memory.center_at(lon_lat(lon, lat));
        let _ = self.map_memory.set_zoom(z);
        if s >= 1.0 {
            self.fly = None;
        } else {
            ctx.request_repaint();
        }
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect()
        });
        if dropped.is_empty() {
            return;
        }
        let mut sources = match &self.data {
            Data::Ready(l) => l.sources.clone(),
            _ => state::sample_sources(),
        };
        let mut unknown = Vec::new();
        for p in dropped {
            match FileRole::of(&p) {
                Some(FileRole::Grids) => sources.grids = p,
                Some(FileRole::Incidents) => sources.incidents = Some(p),
                None => unknown.push(p.display().to_string()),
            }
        }
        if !unknown.is_empty() {
            self.notice = Some((
                format!("{}: {}", self.settings.lang.t("无法识别的文件类型", "unrecognised file type"), unknown.join(", ")),
                true,
            ));
        }
        self.selection = None;
        self.detail = None;
        self.fit_pending = true;
        self.start_load(ctx, sources);
    }

    /// Asks for a file on a background thread (the native dialog never blocks a frame).
    fn pick_file(&mut self, role: FileRole) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (title, exts): (&str, &[&str]) = match role {
            FileRole::Grids => ("网格图层 Grid polygons", &["geojson", "json", "shp"]),
            FileRole::Incidents => ("事件数据 Incidents", &["csv", "xlsx", "parquet"]),
        };
        let spawned = std::thread::Builder::new().name("gridcentre-dialog".into()).spawn(move || {
            let picked = rfd::FileDialog::new().set_title(title).add_filter(title, exts).pick_file();
            let _ = tx.send((role, picked));
        });
        match spawned {
            Ok(_) => self.file_dialog = Some(rx),
            Err(e) => self.notice = Some((e.to_string(), true)),
        }
    }
}

impl eframe::App for GridCentreApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.profile.start();
        self.ui_pass(ui);
        // Whatever ran after the last section (or after an early return while loading).
        self.profile.mark("end");
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if let Some((a, b, z, _)) = self.last_view {
            let (lon, lat) = gridcentre_core::render::unmercator((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0);
            self.settings.view = Some((lon, lat, z));
        }
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }
}

impl GridCentreApp {
    fn ui_pass(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let now = ctx.input(|i| i.time);
        self.poll(&ctx);
        self.handle_dropped_files(&ctx);
        self.open_basemap(&ctx);
        self.refresh_classes();
        self.step_fly(now, &ctx);
        self.profile.mark("prepare");
        if ctx.input(|i| i.key_pressed(egui::Key::F11)) {
            self.toggle_wall(&ctx);
        }
        egui::Panel::top("top").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar_ui(ui));
        self.profile.mark("top and status bars");
        if self.live.is_some() && self.loaded().is_some() {
            egui::Panel::bottom("live").resizable(false).show(ui, |ui| self.live_panel_ui(ui));
            self.profile.mark("live panel");
        }
        match &self.data {
            Data::Loading { stage, .. } if self.loaded().is_none() => {
                let stage = *stage;
                egui::CentralPanel::default().show(ui, |ui| self.loading_ui(ui, stage));
                return;
            }
            Data::Failed(e) => {
                let e = e.clone();
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.colored_label(
                        theme::ALERT,
                        format!("{}: {e}", self.settings.lang.t("无法加载数据", "Cannot load the data")),
                    );
                    if ui.button(self.settings.lang.t("打开示例数据", "Open the sample data")).clicked() {
                        self.start_load(&ctx, state::sample_sources());
                    }
                });
                return;
            }
            _ => {}
        }
        if self.settings.wall {
            egui::Panel::top("wall").show(ui, |ui| self.wall_figures_ui(ui));
        } else {
            egui::Panel::left("centres").resizable(true).default_size(420.0).show(ui, |ui| self.left_panel_ui(ui));
            if self.selection.is_some() {
                egui::Panel::right("selected").resizable(true).default_size(340.0).show(ui, |ui| self.right_panel_ui(ui));
            }
        }
        self.profile.mark("side panels");
        match self.settings.view_mode {
            ViewMode::Map => {
                egui::CentralPanel::default().frame(egui::Frame::NONE).show(ui, |ui| self.map_ui(ui, now));
            }
            ViewMode::Table => {
                egui::CentralPanel::default().show(ui, |ui| self.table_view_ui(ui));
            }
            ViewMode::Charts => {
                egui::CentralPanel::default().show(ui, |ui| self.charts_view_ui(ui));
            }
        }
        self.profile.mark("central view");
        self.report_window_ui(&ctx);
        self.confirm_ui(&ctx);
        self.manual_path_ui(&ctx);
        self.live_form_ui(&ctx);
        self.schedule();
        self.profile.mark("windows and scheduling");
    }
}

impl GridCentreApp {
    /// Dialog answers and finished exports.
    fn poll_exports(&mut self, ctx: &egui::Context) {
        let (picked, done) = self.exports.poll();
        match picked {
            Some(export::Picked::Write(job, path)) => self.exports.start(job, path, ctx),
            Some(export::Picked::Map(path)) => self.save_map_png(path, ctx),
            None => {}
        }
        let lang = self.settings.lang;
        for r in done {
            self.notice = Some(match r {
                Ok(what) => (format!("{} {what}", lang.t("已导出", "Exported")), false),
                Err(e) => (format!("{} {e}", lang.t("导出失败:", "Export failed:")), true),
            });
        }
    }

    /// Saves the map view as PNG at `path`: egui takes a screenshot of the next frame; its
    /// map rectangle is cropped and written on the export thread.
    pub fn save_map_png(&mut self, path: PathBuf, ctx: &egui::Context) {
        let Some(rect) = self.map_rect else { return };
        let ppp = ctx.pixels_per_point();
        let start = self.exports.starter(ctx);
        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::ScreenshotCallback::new(move |image| {
            let (rgba, width, height) = export::crop(&image, rect, ppp);
            start(export::Job::MapPng { rgba, width, height }, path);
        })));
        ctx.request_repaint();
    }

    /// The app's own save box, when no native dialog could be opened. It says when the path
    /// would replace something, and the button then reads 覆盖 (asking, as a dialog would).
    fn manual_path_ui(&mut self, ctx: &egui::Context) {
        let lang = self.settings.lang;
        let Some((_, text)) = &mut self.exports.manual else { return };
        let mut answer = None;
        egui::Modal::new(egui::Id::unique("manual-save")).show(ctx, |ui| {
            ui.heading(lang.t("保存到", "Save to"));
            ui.label(
                RichText::new(lang.t(
                    "系统未提供文件对话框（缺少 xdg-desktop-portal 或 zenity），请输入路径。",
                    "No file dialog is available (no xdg-desktop-portal or zenity): type the path.",
                ))
                .weak(),
            );
            ui.add(egui::TextEdit::singleline(text).desired_width(520.0).id_salt("manual-path"));
            let replaces = export::would_replace(std::path::Path::new(text.trim()));
            if replaces {
                ui.colored_label(
                    theme::ALERT,
                    lang.t("该位置已有文件，保存将覆盖。", "Something is there already: saving replaces it."),
                );
            }
            ui.horizontal(|ui| {
                let label = if replaces { lang.t("覆盖", "Replace") } else { lang.t("保存", "Save") };
                if ui.button(label).clicked() {
                    answer = Some(true);
                }
                if ui.button(lang.t("取消", "Cancel")).clicked() {
                    answer = Some(false);
                }
            });
        });
        if let Some(yes) = answer
            && let Some((pending, text)) = self.exports.manual.take()
        {
            if !yes {
                return;
            }
            let path = PathBuf::from(text.trim());
            match pending {
                export::Pending::Map => self.save_map_png(path, ctx),
                // The user has seen that it replaces something and said so.
                export::Pending::Job(export::Job::Report { ds, spec, .. }) => {
                    self.exports.start(export::Job::Report { ds, spec, overwrite: true }, path, ctx)
                }
                export::Pending::Job(job) => self.exports.start(job, path, ctx),
            }
        }
    }

    /// Asks before writing a report into a folder that has files.
    fn confirm_ui(&mut self, ctx: &egui::Context) {
        let lang = self.settings.lang;
        let Some((_, path)) = &self.exports.confirm else { return };
        let text = format!(
            "{}\n{}",
            path.display(),
            lang.t("此文件夹已有文件。覆盖其中的报告文件？", "This folder has files in it. Replace the report's files?")
        );
        let mut answer = None;
        egui::Modal::new(egui::Id::unique("confirm-overwrite")).show(ctx, |ui| {
            ui.heading(lang.t("覆盖确认", "Replace files?"));
            ui.label(text);
            ui.horizontal(|ui| {
                if ui.button(lang.t("覆盖", "Replace")).clicked() {
                    answer = Some(true);
                }
                if ui.button(lang.t("取消", "Cancel")).clicked() {
                    answer = Some(false);
                }
            });
        });
        if let Some(yes) = answer
            && let Some((job, path)) = self.exports.confirm.take()
        {
            if yes {
                let job = match job {
                    export::Job::Report { ds, spec, .. } => export::Job::Report { ds, spec, overwrite: true },
                    other => other,
                };
                self.exports.start(job, path, ctx);
            } else {
                self.notice = Some((lang.t("已取消导出", "Export cancelled").to_string(), false));
            }
        }
    }

    fn toggle_wall(&mut self, ctx: &egui::Context) {
        self.settings.wall = !self.settings.wall;
        ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(self.settings.wall));
    }

    fn map_ui(&mut self, ui: &mut egui::Ui, now: f64) {
        let Data::Ready(l) = &self.data else {
            if let Data::Loading { .. } = self.data {
                // Data being replaced: keep the old one? There is none; show progress.
                ui.centered_and_justified(|ui| ui.spinner());
            }
            return;
        };
        if self.fit_pending {
            let (centre, zoom) = map::fit(l.geometry.bounds, ui.available_size());
            self.map_memory.center_at(centre);
            let _ = self.map_memory.set_zoom(zoom);
            self.fit_pending = false;
        }
        let palette = if self.settings.indicator.is_rate() { &theme::GOOD_HIGH } else { &theme::HIGH_BAD };
        let mut events = MapEvents { profile: std::mem::take(&mut self.profile), ..Default::default() };
        events.profile.mark("map setup");
        let b = l.geometry.bounds;
        let (lon, lat) = gridcentre_core::render::unmercator((b.0[0] + b.1[0]) / 2.0, (b.0[1] + b.1[1]) / 2.0);
        let heat = self.heat.as_ref().map(|h| HeatImage {
            texture: h.texture.id(),
            min: h.raster.request.min,
            max: h.raster.request.max,
        });
        // Overdue alerts of the last minute ring red on the map.
        let live_alerts: Vec<(f64, f64)> = self
            .live
            .as_ref()
            .map(|lv| {
                lv.alerts
                    .iter()
                    .take(50)
                    .filter(|a| a.lon.is_finite() && now - a.seen_at < 60.0)
                    .map(|a| (a.lon, a.lat))
                    .collect()
            })
            .unwrap_or_default();
        let plugin = GridPlugin {
            loaded: l,
            classes: &self.classes.2,
            palette,
            layers: &self.settings.layers,
            selection: self.selection,
            dark: self.settings.dark,
            basemap: self.tiles.is_some(),
            heat,
            events: &mut events,
            flashes: self.live.as_ref().map_or(&[][..], |lv| &lv.flashes[..]),
            alerts: &live_alerts,
            now,
        };
        let opacity = self.settings.basemap.opacity.clamp(0.05, 1.0);
        let mut map = Map::new(None, &mut self.map_memory, lon_lat(lon, lat)).with_plugin(plugin);
        if let Some(t) = self.tiles.as_mut() {
            map = map.with_layer(&mut **t, opacity);
        }
        let response = ui.add(map);
        self.profile = std::mem::take(&mut events.profile);
        self.profile.mark("map widget");
        self.hovered_grid = events.hovered_grid;
        self.hovered_incident = events.hovered_incident;
        self.pointer = events.pointer;
        self.last_view = events.view;
        self.map_rect = Some(response.rect);
        if response.dragged() || response.hovered() && ui.input(|i| i.smooth_scroll_delta != egui::Vec2::ZERO) {
            self.fly = None;
        }
        match events.clicked {
            Some(Clicked::Grid(g)) => self.select(Selection::Unit(Level::Grid, g)),
            Some(Clicked::Incident(i)) => self.select(Selection::Incident(i)),
            Some(Clicked::Cluster(m)) => {
                let z = (self.map_memory.zoom() + 2.0).min(18.0);
                self.fly_to(m, z, now);
            }
            Some(Clicked::Empty) => self.selection = None,
            None => {}
        }
        self.map_tooltip(&response);
        self.legend_ui(ui, response.rect);
        self.attribution_ui(ui, response.rect);
        // Re-colour the heat texture when only the intensity changed.
        if let Some(h) = &mut self.heat
            && h.intensity != self.settings.layers.heat_intensity
        {
            let image = egui::ColorImage::from_rgba_unmultiplied(
                [h.raster.request.width, h.raster.request.height],
                &heat_rgba(&h.raster, self.settings.layers.heat_intensity),
            );
            h.texture.set(image, egui::TextureOptions::LINEAR);
            h.intensity = self.settings.layers.heat_intensity;
        }
    }
}

/// Opens the dashboard window on `sources`.
pub fn run(sources: Sources, live: Option<(SourceSpec, live::LiveClock)>) -> eframe::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("gridcentre · 网格化协调指挥中心")
            .with_inner_size([1600.0, 950.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "gridcentre",
        options,
        Box::new(move |cc| {
            let mut app = GridCentreApp::new(cc, sources);
            if let Some((spec, clock)) = live {
                app.start_live(&cc.egui_ctx, spec, clock);
            }
            Ok(Box::new(app))
        }),
    )
}
