//! The analysts' and leaders' views beside the map: the centre table (drill-down with a
//! breadcrumb, every figure, sortable, totals, highlighted low rates) and the charts (egui_plot,
//! drawn from the same [`Chart`] values the PNG/SVG exports and the report bundle use), with
//! their exports.

use std::sync::Arc;

use egui::{Color32, RichText};
use egui_extras::{Column, TableBuilder};
use egui_plot::{Bar, BarChart, GridMark, Legend, Line, Plot, PlotPoints};
use gridcentre_core::analysis::{Measure, RANK_MEASURE, SortKey, breadcrumb, drill, ranks, sort_order};
use gridcentre_core::bundle::{self, ReportContent, ReportSpec};
use gridcentre_core::charts::{Body, Chart, ChartKind};
use gridcentre_core::export::TableFormat;
use gridcentre_core::model::Level;
use gridcentre_core::pipeline::Dataset;
use gridcentre_core::stats::{StatsTable, UnitRow};
use serde::{Deserialize, Serialize};

use super::export::{Job, Pending};
use super::i18n::Lang;
use super::map::Selection;
use super::state::{Derived, FilterState, Loaded};
use super::{GridCentreApp, theme};

/// What an export button writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportWhat {
    Table(TableFormat),
    /// A chart of the charts view, as SVG (`true`) or PNG.
    Chart(ChartKind, bool),
    Report,
}

/// What the middle of the window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ViewMode {
    #[default]
    Map,
    Table,
    Charts,
}

/// The analysis views' settings (persisted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalysisSettings {
    /// The level compared.
    pub level: Level,
    /// The centre drilled into: its level and code (a code survives reloading the data).
    pub scope: Option<(Level, String)>,
    pub sort: SortKey,
    pub descending: bool,
    /// Rates under this (percent) are shown in red.
    pub highlight_below_pct: f64,
    pub rank_by: Measure,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            level: Level::District,
            scope: None,
            sort: SortKey::Natural,
            descending: false,
            highlight_below_pct: 90.0,
            rank_by: RANK_MEASURE,
        }
    }
}

impl AnalysisSettings {
    /// The scope as a unit of the loaded data (a code no longer present means the city).
    pub fn scope_unit(&self, ds: &Dataset) -> Option<(Level, u32)> {
        let (level, code) = self.scope.as_ref()?;
        ds.layer.find(*level, code).map(|u| (*level, u))
    }

    /// The level shown: below the scope.
    pub fn level_below(&self, scope: Option<(Level, u32)>) -> Level {
        match scope {
            Some((s, _)) if self.level >= s => s.child().unwrap_or(Level::Grid),
            _ if self.level == Level::City => Level::District,
            _ => self.level,
        }
    }
}

/// The drilled and sorted table on screen, kept until the data, scope, level or order change.
pub struct TableCache {
    derived: Arc<Derived>,
    version: u64,
    key: (Level, Option<(Level, u32)>, SortKey, bool),
    pub table: StatsTable,
    pub order: Vec<usize>,
    pub ranks: Vec<Option<u32>>,
}

/// A charts job: the report content for the filter, scope and level.
pub struct ChartsJob {
    pub ds: Arc<Dataset>,
    pub spec: ReportSpec,
}

impl ChartsJob {
    pub fn run(self) -> Result<ReportContent, String> {
        bundle::compute(&self.ds, &self.spec).map_err(|e| e.to_string())
    }
}

/// What the charts on screen were computed for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartsKey {
    pub filter: FilterState,
    pub level: Level,
    pub scope: Option<(Level, u32)>,
    pub rank_by: Measure,
    pub lang: Lang,
    pub as_of_ms: i64,
    pub data: usize,
}

fn level_name(lang: Lang, lv: Level) -> &'static str {
    match lang {
        Lang::Zh => lv.zh(),
        Lang::En => lv.as_str(),
    }
}

fn measure_name(lang: Lang, m: Measure) -> &'static str {
    match lang {
        Lang::Zh => m.zh(),
        Lang::En => m.en(),
    }
}

/// A column header: the measure's name, shortened where it is long.
fn header_name(lang: Lang, m: Measure) -> &'static str {
    match m {
        Measure::MeanHandlingHours => lang.t("平均时长(h)", "Mean hours"),
        Measure::Density => lang.t("密度", "Density"),
        _ => measure_name(lang, m),
    }
}

fn colour(c: [u8; 3]) -> Color32 {
    Color32::from_rgb(c[0], c[1], c[2])
}

/// A safe file name from a title.
fn file_stem(s: &str) -> String {
    s.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The table columns: header, the measure it shows (sortable), and whether it is a rate.
const COLUMNS: [Measure; 10] = [
    Measure::Accepted,
    Measure::Closed,
    Measure::CompletionRate,
    Measure::ClosedOnTime,
    Measure::OnTimeRate,
    Measure::Overdue,
    Measure::OverdueOpen,
    Measure::MeanHandlingHours,
    Measure::SatisfactionRate,
    Measure::Density,
];

impl GridCentreApp {
    /// The report spec for what the analysis views show (the app-wide filter, the scope, level).
    pub fn report_spec(&self, l: &Loaded) -> ReportSpec {
        let scope = self.settings.analysis.scope_unit(&l.ds);
        let mut config = l.config.clone();
        config.highlight_below_pct = self.settings.analysis.highlight_below_pct;
        ReportSpec {
            level: self.settings.analysis.level_below(scope),
            scope,
            filter: l.derived.filter.clone(),
            config,
            as_of_ms: l.as_of_ms,
            lang: self.settings.lang,
            rank_by: self.settings.analysis.rank_by,
            top: 20,
        }
    }

    /// The charts key for the current state.
    pub(super) fn charts_key(&self, l: &Loaded) -> ChartsKey {
        let scope = self.settings.analysis.scope_unit(&l.ds);
        ChartsKey {
            filter: l.derived.state.clone(),
            level: self.settings.analysis.level_below(scope),
            scope,
            rank_by: self.settings.analysis.rank_by,
            lang: self.settings.lang,
            as_of_ms: l.as_of_ms,
            data: Arc::as_ptr(&l.ds) as usize,
        }
    }

    /// The table view's table, recomputed (drill + sort, milliseconds) when its inputs change.
    pub fn table_view(&mut self) -> Option<&TableCache> {
        let l = match &self.data {
            super::Data::Ready(l) => l,
            _ => return None,
        };
        let a = &self.settings.analysis;
        let scope = a.scope_unit(&l.ds);
        let key = (a.level_below(scope), scope, a.sort, a.descending);
        let fresh = self
            .table_cache
            .as_ref()
            .is_some_and(|c| c.key == key && c.version == l.version && Arc::ptr_eq(&c.derived, &l.derived));
        if !fresh {
            let table = drill(&l.ds, l.table(key.0), &l.derived.filter, scope, &l.config);
            let order = sort_order(&table.rows, key.2, key.3);
            let ranks = ranks(&table.rows, RANK_MEASURE);
            self.table_cache = Some(TableCache { derived: l.derived.clone(), version: l.version, key, table, order, ranks });
        }
        self.table_cache.as_ref()
    }

    /// Breadcrumb and level buttons shared by the table and chart views.
    fn scope_bar_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let Some(l) = self.loaded() else { return };
        let scope = self.settings.analysis.scope_unit(&l.ds);
        let crumbs = breadcrumb(&l.ds, scope);
        let codes: Vec<(Level, String)> =
            crumbs.iter().map(|(lv, u, _)| (*lv, l.ds.layer.units(*lv)[*u as usize].code.to_string())).collect();
        let mut new_scope: Option<Option<(Level, String)>> = None;
        let mut level = self.settings.analysis.level_below(scope);
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(lang.t("范围", "Scope")).strong());
            if ui.selectable_label(scope.is_none(), lang.t("全市", "City")).clicked() {
                new_scope = Some(None);
            }
            for ((lv, u, name), code) in crumbs.iter().zip(&codes) {
                ui.label("›");
                if ui.selectable_label(scope == Some((*lv, *u)), name).on_hover_text(level_name(lang, *lv)).clicked() {
                    new_scope = Some(Some(code.clone()));
                }
            }
            ui.separator();
            ui.label(lang.t("比较", "Compare"));
            for lv in [Level::District, Level::Street, Level::Community, Level::Grid] {
                if scope.is_none_or(|(s, _)| lv < s) {
                    ui.selectable_value(&mut level, lv, level_name(lang, lv));
                }
            }
        });
        // The unit selected on the map (a grid: its community) can become the scope.
        let picked = match self.selection {
            Some(Selection::Unit(Level::Grid, g)) => {
                l.ds.layer.grid_unit[Level::Community.index()].get(g as usize).map(|&c| (Level::Community, c))
            }
            Some(Selection::Unit(lv, u)) if lv != Level::City => Some((lv, u)),
            _ => None,
        };
        if let Some((lv, u)) = picked
            && Some((lv, u)) != scope
            && let Some(unit) = l.ds.layer.units(lv).get(u as usize)
        {
            let text = format!("{} {}", lang.t("范围设为所选:", "Scope to the selection:"), unit.name);
            if ui.button(text).clicked() {
                new_scope = Some(Some((lv, unit.code.to_string())));
            }
        }
        self.settings.analysis.level = level;
        if let Some(s) = new_scope {
            self.drill_to(s);
        }
    }

    /// Drills into (or back up to) a scope; the table shows the level below it.
    pub fn drill_to(&mut self, scope: Option<(Level, String)>) {
        // The level just below the scope, as a breadcrumb step up or down expects.
        self.settings.analysis.level = match &scope {
            Some((lv, _)) => lv.child().unwrap_or(Level::Grid),
            None => Level::District,
        };
        self.settings.analysis.scope = scope;
    }

    pub(super) fn table_view_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        self.scope_bar_ui(ui);
        let threshold_pct = self.settings.analysis.highlight_below_pct;
        ui.horizontal(|ui| {
            ui.label(lang.t("比率低于", "Rates under"));
            ui.add(
                egui::DragValue::new(&mut self.settings.analysis.highlight_below_pct)
                    .range(0.0..=100.0)
                    .speed(0.1)
                    .fixed_decimals(1)
                    .suffix("%"),
            );
            ui.label(RichText::new(lang.t("标红", "in red")).color(theme::ALERT));
            ui.separator();
            let ctx = ui.ctx().clone();
            if ui.button(lang.t("导出 CSV", "Export CSV")).clicked()
                && let Some((job, name)) = self.export_job(ExportWhat::Table(TableFormat::Csv))
            {
                self.exports.ask(Pending::Job(job), name, &[("CSV", &["csv"])], &ctx);
            }
            if ui.button(lang.t("导出 Excel", "Export Excel")).clicked()
                && let Some((job, name)) = self.export_job(ExportWhat::Table(TableFormat::Xlsx))
            {
                self.exports.ask(Pending::Job(job), name, &[("Excel", &["xlsx"])], &ctx);
            }
            self.report_button_ui(ui);
        });
        let selection = self.selection;
        let (sort, desc) = (self.settings.analysis.sort, self.settings.analysis.descending);
        let Some(cache) = self.table_view() else { return };
        let t = &cache.table;
        ui.label(
            RichText::new(format!("{} | {} {} | {}", t.filter, lang.t("截至", "as of"), t.as_of, t.definition)).weak().small(),
        );
        let threshold = threshold_pct / 100.0;
        let level = t.level;
        let n = cache.order.len();
        let extra: Vec<&UnitRow> = if t.unassigned.counts.incidents > 0 { vec![&t.unassigned, &t.total] } else { vec![&t.total] };
        let selected = match selection {
            Some(Selection::Unit(lv, u)) if lv == level => Some(u),
            _ => None,
        };
        let mut new_sort = None;
        let mut clicked_row = None;
        let mut drill_row = None;
        let row_h = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
        let em = ui.text_style_height(&egui::TextStyle::Body);
        // Wider than the panel on small screens: the table scrolls sideways, rows scroll inside.
        egui::ScrollArea::horizontal().id_salt("centre-table-h").auto_shrink([false, false]).show(ui, |ui| {
            let mut builder = TableBuilder::new(ui)
                .id_salt("centre-table")
                .striped(true)
                .sense(egui::Sense::click())
                .cell_layout(egui::Layout::right_to_left(egui::Align::Center))
                .column(Column::initial(8.0 * em).at_least(80.0).clip(true).resizable(true))
                .column(Column::exact(1.6 * em))
                .column(Column::initial(6.5 * em).at_least(40.0).clip(true).resizable(true));
            // Wide enough for the header and its sort arrow: about one em per Chinese character.
            for m in COLUMNS {
                let chars: f32 = header_name(lang, m).chars().map(|c| if c.is_ascii() { 0.55 } else { 1.0 }).sum();
                builder = builder.column(Column::initial((chars + 1.3) * em).at_least(3.5 * em).clip(true).resizable(true));
            }
            builder = builder.column(Column::initial(3.5 * em).at_least(3.0 * em).clip(true));
            let arrow = |key: SortKey| if key == sort { if desc { " ▼" } else { " ▲" } } else { "" };
            builder
                .header(row_h + 6.0, |mut h| {
                    // The whole header cell is the click target (the table senses clicks).
                    let mut head = |h: &mut egui_extras::TableRow, key: SortKey, text: &str| {
                        let (_, resp) = h.col(|ui| {
                            ui.add(egui::Label::new(RichText::new(format!("{text}{}", arrow(key))).strong()).selectable(false));
                        });
                        if resp.on_hover_cursor(egui::CursorIcon::PointingHand).clicked() {
                            new_sort = Some(key);
                        }
                    };
                    head(&mut h, SortKey::Name, lang.t("名称", "Name"));
                    h.col(|_| {});
                    head(&mut h, SortKey::Code, lang.t("编码", "Code"));
                    for m in COLUMNS {
                        head(&mut h, SortKey::Measure(m), header_name(lang, m));
                    }
                    head(&mut h, SortKey::Rank, lang.t("排名", "Rank"));
                })
                .body(|body| {
                    body.rows(row_h, n + extra.len(), |mut row| {
                        let i = row.index();
                        let (r, rank) = if i < n {
                            let k = cache.order[i];
                            (&t.rows[k], cache.ranks[k])
                        } else {
                            (extra[i - n], None)
                        };
                        let special = r.unit.is_none();
                        row.set_selected(r.unit.is_some() && r.unit == selected);
                        let strong = |s: String| if special { RichText::new(s).strong() } else { RichText::new(s) };
                        row.col(|ui| {
                            ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                                let name = match &*r.code {
                                    "unassigned" if special => lang.t("未落入网格", "Unassigned").to_string(),
                                    "total" if special => lang.t("合计", "Total").to_string(),
                                    _ => r.name.to_string(),
                                };
                                ui.label(strong(name));
                            });
                        });
                        // The drill cell is its own click target (cells sense clicks above their contents).
                        let can_drill = !special && level != Level::Grid;
                        let (_, drill_cell) = row.col(|ui| {
                            if can_drill {
                                ui.add(egui::Label::new(RichText::new("›").strong().size(18.0)).selectable(false));
                            }
                        });
                        if can_drill && drill_cell.on_hover_text(lang.t("下钻", "Drill down")).clicked() {
                            drill_row = r.unit;
                        }
                        row.col(|ui| {
                            if !special {
                                ui.label(RichText::new(&*r.code).weak());
                            }
                        });
                        for m in COLUMNS {
                            row.col(|ui| {
                                let v = m.value(r);
                                let text = strong(m.format(v));
                                let low = m.is_rate() && v.is_some_and(|x| x < threshold);
                                let resp = ui.label(if low { text.color(theme::ALERT) } else { text });
                                if m == Measure::SatisfactionRate {
                                    resp.on_hover_text(format!("{} / {}", r.counts.satisfied, r.counts.rated));
                                }
                            });
                        }
                        row.col(|ui| {
                            ui.label(rank.map_or("—".to_string(), |x| x.to_string()));
                        });
                        let resp = row.response();
                        if resp.double_clicked() && can_drill {
                            drill_row = r.unit;
                        } else if resp.clicked() && !special && drill_row.is_none() {
                            clicked_row = r.unit;
                        }
                    });
                });
        });
        if let Some(key) = new_sort {
            let a = &mut self.settings.analysis;
            if a.sort == key {
                a.descending = !a.descending;
            } else {
                a.sort = key;
                a.descending = matches!(key, SortKey::Measure(_));
            }
        }
        if let Some(u) = drill_row
            && let Some(l) = self.loaded()
        {
            let code = l.ds.layer.units(level)[u as usize].code.to_string();
            self.drill_to(Some((level, code)));
        } else if let Some(u) = clicked_row {
            self.select(Selection::Unit(level, u));
            let now = ui.input(|i| i.time);
            self.go_to(&gridcentre_core::layers::SearchHit::Unit { level, unit: u }, now);
        }
    }

    /// 导出报告…: a folder with the charts, tables and page for what the views show.
    fn report_button_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        if ui
            .button(lang.t("导出报告…", "Export report…"))
            .on_hover_text(lang.t("图表、统计表与可打印网页", "Charts, tables and a printable page"))
            .clicked()
            && let Some((job, name)) = self.export_job(ExportWhat::Report)
        {
            let ctx = ui.ctx().clone();
            self.exports.ask(Pending::Job(job), name, &[], &ctx);
        }
    }

    /// What an export button writes, and the file name it proposes: the table as shown (drilled
    /// and sorted), a chart as shown, or the report for the views' scope, level and filter.
    pub fn export_job(&mut self, what: ExportWhat) -> Option<(Job, String)> {
        let lang = self.settings.lang;
        match what {
            ExportWhat::Table(format) => {
                let c = self.table_view()?;
                let name = file_stem(&format!("{}_{}", c.table.level.zh(), c.table.filter));
                let ext = if format == TableFormat::Xlsx { "xlsx" } else { "csv" };
                Some((Job::Table(Box::new(sorted_table(c)), format), format!("{name}.{ext}")))
            }
            ExportWhat::Chart(kind, svg) => {
                let (_, content) = self.charts.as_ref()?;
                let c = content.charts.iter().find(|c| c.kind == kind)?.clone();
                let stem = file_stem(&c.title);
                Some(if svg {
                    (Job::ChartSvg(Box::new(c)), format!("{stem}.svg"))
                } else {
                    (Job::ChartPng(Box::new(c)), format!("{stem}.png"))
                })
            }
            ExportWhat::Report => {
                let l = self.loaded()?;
                let spec = self.report_spec(l);
                let name =
                    file_stem(&format!("{}_{}", bundle::scope_name(&l.ds, spec.scope, lang), lang.t("统计报告", "report")));
                Some((Job::Report { ds: l.ds.clone(), spec: Box::new(spec), overwrite: false }, name))
            }
        }
    }

    /// Writes an export to `path` as its button does once the save dialog answers.
    pub fn export_to(&mut self, what: ExportWhat, path: std::path::PathBuf, ctx: &egui::Context) -> bool {
        match self.export_job(what) {
            Some((job, _)) => {
                self.exports.start(job, path, ctx);
                true
            }
            None => false,
        }
    }

    pub(super) fn charts_view_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        self.scope_bar_ui(ui);
        ui.horizontal(|ui| {
            let mut rank_by = self.settings.analysis.rank_by;
            egui::ComboBox::from_label(lang.t("排名指标", "Rank by")).selected_text(measure_name(lang, rank_by)).show_ui(
                ui,
                |ui| {
                    for m in Measure::ALL {
                        ui.selectable_value(&mut rank_by, m, measure_name(lang, m));
                    }
                },
            );
            self.settings.analysis.rank_by = rank_by;
            ui.separator();
            self.report_button_ui(ui);
        });
        let Some((_, content)) = &self.charts else {
            ui.centered_and_justified(|ui| ui.spinner());
            return;
        };
        let charts: Vec<Chart> = content.charts.clone();
        let avail = ui.available_size();
        let h = ((avail.y - 24.0) / 2.0 - 70.0).max(160.0);
        let mut export: Option<(ChartKind, bool)> = None;
        egui::ScrollArea::vertical().id_salt("charts").show(ui, |ui| {
            egui::Grid::new("charts-grid").num_columns(2).spacing([16.0, 12.0]).show(ui, |ui| {
                for (i, c) in charts.iter().enumerate() {
                    ui.vertical(|ui| {
                        ui.set_width((avail.x - 40.0) / 2.0);
                        ui.horizontal(|ui| {
                            ui.label(RichText::new(&c.title).strong().size(16.0));
                            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                                if ui.small_button("SVG").on_hover_text(lang.t("导出 SVG", "Export SVG")).clicked() {
                                    export = Some((c.kind, true));
                                }
                                if ui.small_button("PNG").on_hover_text(lang.t("导出 PNG", "Export PNG")).clicked() {
                                    export = Some((c.kind, false));
                                }
                            });
                        });
                        ui.label(RichText::new(&c.subtitle).weak().small());
                        plot_chart(ui, c, h, i);
                    });
                    if i % 2 == 1 {
                        ui.end_row();
                    }
                }
            });
        });
        if let Some((kind, svg)) = export
            && let Some((job, name)) = self.export_job(ExportWhat::Chart(kind, svg))
        {
            let ctx = ui.ctx().clone();
            let filter: (&str, &[&str]) = if svg { ("SVG", &["svg"]) } else { ("PNG", &["png"]) };
            self.exports.ask(Pending::Job(job), name, &[filter], &ctx);
        }
    }
}

/// The cached table in its display order (what a table export writes).
fn sorted_table(c: &TableCache) -> StatsTable {
    let mut t = c.table.clone();
    t.rows = c.order.iter().map(|&i| c.table.rows[i].clone()).collect();
    t
}

/// Unit or category names written at the start of their bars (an axis of twenty names would
/// not fit the plot's height; in the bar they stay legible at any count).
fn bar_names(p: &mut egui_plot::PlotUi, labels: &[String]) {
    let n = labels.len();
    for (i, name) in labels.iter().enumerate() {
        let pos = egui_plot::PlotPoint::new(0.0, (n - 1 - i) as f64);
        p.text(
            // No name: the legend lists series, not labels.
            egui_plot::Text::new("", pos, RichText::new(format!(" {name}")).strong().color(Color32::WHITE))
                .anchor(egui::Align2::LEFT_CENTER),
        );
    }
}

/// Draws a chart with egui_plot from the same data the exports draw.
pub fn plot_chart(ui: &mut egui::Ui, chart: &Chart, height: f32, id: usize) {
    let lang = chart.lang;
    match &chart.body {
        Body::Trend { labels, accepted, closed, completion } => {
            let labels = labels.clone();
            let fmt_x = move |m: GridMark, _: &std::ops::RangeInclusive<f64>| {
                let i = m.value.round();
                if (m.value - i).abs() < 1e-9 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            };
            let link = egui::Id::unique(("trend-link", id));
            let pts = |v: &[u64]| PlotPoints::from(v.iter().enumerate().map(|(i, y)| [i as f64, *y as f64]).collect::<Vec<_>>());
            Plot::new(("chart", id))
                .height(height * 0.62)
                .legend(Legend::default())
                .link_axis(link, [true, false])
                .x_axis_formatter(fmt_x.clone())
                .y_axis_label(lang.t("件数", "Incidents"))
                .include_y(0.0)
                .allow_scroll(false)
                .show(ui, |p| {
                    p.line(
                        Line::new(lang.t("受理数", "Accepted"), pts(accepted))
                            .color(colour(gridcentre_core::charts::BLUE))
                            .width(2.0),
                    );
                    p.line(
                        Line::new(lang.t("办结数", "Closed"), pts(closed))
                            .color(colour(gridcentre_core::charts::GREEN))
                            .width(2.0),
                    );
                });
            let rate: Vec<[f64; 2]> =
                completion.iter().enumerate().filter_map(|(i, r)| r.map(|r| [i as f64, r * 100.0])).collect();
            Plot::new(("chart-rate", id))
                .height(height * 0.38)
                .legend(Legend::default())
                .link_axis(link, [true, false])
                .x_axis_formatter(fmt_x)
                .y_axis_formatter(|m, _| format!("{:.0}%", m.value))
                .y_axis_label(lang.t("办结率", "Completion"))
                .allow_scroll(false)
                .show(ui, |p| {
                    p.line(
                        Line::new(lang.t("办结率", "Completion rate"), PlotPoints::from(rate))
                            .color(colour(gridcentre_core::charts::VERMILLION))
                            .width(2.0),
                    );
                });
        }
        Body::Bars { labels, values, measure } => {
            let n = labels.len();
            let rate = measure.is_rate();
            let bars: Vec<Bar> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    v.map(|v| {
                        Bar::new((n - 1 - i) as f64, if rate { v * 100.0 } else { v })
                            .name(format!("{} {}", labels[i], measure.format(Some(v))))
                            .width(0.7)
                            .fill(colour(gridcentre_core::charts::BLUE))
                    })
                })
                .collect();
            Plot::new(("chart", id))
                .height(height)
                .allow_scroll(false)
                .allow_drag(false)
                .allow_zoom(false)
                .show_axes([true, false])
                .show_grid([true, false])
                .x_axis_formatter(move |m, _| if rate { format!("{:.0}%", m.value) } else { format!("{:.0}", m.value) })
                .include_x(0.0)
                .show(ui, |p| {
                    p.bar_chart(BarChart::new(measure_name(lang, *measure), bars).horizontal());
                    bar_names(p, labels);
                    // Values at the end of their bars, inside.
                    for (i, v) in values.iter().enumerate() {
                        if let Some(v) = v {
                            let x = if rate { v * 100.0 } else { *v };
                            let pos = egui_plot::PlotPoint::new(x, (n - 1 - i) as f64);
                            let text = RichText::new(format!("{} ", measure.format(Some(*v)))).strong().color(Color32::WHITE);
                            p.text(egui_plot::Text::new("", pos, text).anchor(egui::Align2::RIGHT_CENTER));
                        }
                    }
                });
        }
        Body::Stacked { labels, parts } => {
            let n = labels.len();
            Plot::new(("chart", id))
                .height(height)
                .legend(Legend::default())
                .allow_scroll(false)
                .allow_drag(false)
                .allow_zoom(false)
                .show_axes([true, false])
                .show_grid([true, false])
                .include_x(0.0)
                .show(ui, |p| {
                    let mut done: Vec<BarChart> = Vec::new();
                    for part in parts {
                        let bars: Vec<Bar> = part
                            .values
                            .iter()
                            .enumerate()
                            .map(|(i, v)| {
                                Bar::new((n - 1 - i) as f64, *v as f64).name(&labels[i]).width(0.7).fill(colour(part.colour))
                            })
                            .collect();
                        let refs: Vec<&BarChart> = done.iter().collect();
                        let chart =
                            BarChart::new(part.name.clone(), bars).color(colour(part.colour)).horizontal().stack_on(&refs);
                        done.push(chart);
                    }
                    for c in done {
                        p.bar_chart(c);
                    }
                    bar_names(p, labels);
                });
        }
    }
}
