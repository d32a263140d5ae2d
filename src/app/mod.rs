//! The dashboard: one window with the grid map in the middle, key figures and the centres'
//! table on the left, the selected grid on the right. Loading runs on a background thread; the
//! UI only paints what [`state::Loaded`] already computed.

pub mod i18n;
pub mod map;
pub mod state;
pub mod theme;

use std::sync::mpsc::Receiver;

use egui::{Align2, Color32, RichText};
use gridcentre_core::model::Level;
use gridcentre_core::pipeline::{Sources, Stage};
use gridcentre_core::stats::UnitRow;
use gridcentre_core::timeparse::format_ms;
use serde::{Deserialize, Serialize};
use walkers::{Map, MapMemory};

use i18n::Lang;
use map::{GridPlugin, MapEvents};
use state::{Indicator, LoadMsg, Loaded};

/// What persists across restarts (old settings still load: every field has a default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub lang: Lang,
    pub dark: bool,
    pub indicator: Indicator,
    pub table_level: Level,
}

impl Default for Settings {
    fn default() -> Self {
        Self { lang: Lang::Zh, dark: true, indicator: Indicator::CompletionRate, table_level: Level::District }
    }
}

enum Data {
    Loading { stage: Stage, rx: Receiver<LoadMsg> },
    Ready(Box<Loaded>),
    Failed(String),
}

/// The app.
pub struct GridCentreApp {
    pub settings: Settings,
    data: Data,
    map_memory: MapMemory,
    fit_pending: bool,
    pub selected: Option<u32>,
    pub show_report: bool,
    hovered: Option<u32>,
    /// Per-grid classes for the current indicator, and the breaks (recomputed on change).
    classes: (Indicator, Vec<Option<usize>>, Vec<f64>),
}

impl GridCentreApp {
    /// Starts loading `sources` in the background.
    pub fn new(cc: &eframe::CreationContext<'_>, sources: Sources) -> Self {
        theme::install_fonts(&cc.egui_ctx);
        let settings: Settings = cc.storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY)).unwrap_or_default();
        theme::apply_visuals(&cc.egui_ctx, settings.dark);
        let rx = state::spawn_load(sources, cc.egui_ctx.clone());
        Self::with_data(settings, Data::Loading { stage: Stage::Grids, rx })
    }

    /// An app on already computed data (tests, and the headless frame benchmark).
    pub fn from_loaded(ctx: &egui::Context, loaded: Loaded) -> Self {
        theme::install_fonts(ctx);
        Self::with_data(Settings::default(), Data::Ready(Box::new(loaded)))
    }

    fn with_data(settings: Settings, data: Data) -> Self {
        let mut memory = MapMemory::default();
        let _ = memory.set_zoom(11.0);
        Self {
            settings,
            data,
            map_memory: memory,
            fit_pending: true,
            selected: None,
            show_report: false,
            hovered: None,
            classes: (Indicator::Accepted, Vec::new(), Vec::new()),
        }
    }

    pub fn loaded(&self) -> Option<&Loaded> {
        match &self.data {
            Data::Ready(l) => Some(l),
            _ => None,
        }
    }

    fn poll_loader(&mut self) {
        let Data::Loading { stage, rx } = &mut self.data else { return };
        while let Ok(msg) = rx.try_recv() {
            match msg {
                LoadMsg::Stage(s) => *stage = s,
                LoadMsg::Done(result) => {
                    self.data = match *result {
                        Ok(l) => Data::Ready(Box::new(l)),
                        Err(e) => Data::Failed(e),
                    };
                    self.fit_pending = true;
                    self.classes.1.clear();
                    return;
                }
            }
        }
    }

    fn refresh_classes(&mut self) {
        let Data::Ready(l) = &self.data else { return };
        if self.classes.0 != self.settings.indicator || self.classes.1.len() != l.ds.layer.grids.len() {
            let (c, b) = l.classes(self.settings.indicator);
            self.classes = (self.settings.indicator, c, b);
        }
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        ui.horizontal(|ui| {
            ui.heading(lang.t("网格化协调指挥中心", "Grid Management Command Centre"));
            ui.separator();
            egui::ComboBox::from_label(lang.t("着色指标", "Colour by"))
                .selected_text(self.settings.indicator.label(lang))
                .show_ui(ui, |ui| {
                    for ind in Indicator::ALL {
                        ui.selectable_value(&mut self.settings.indicator, ind, ind.label(lang));
                    }
                });
            ui.separator();
            if ui.button(lang.t("加载报告", "Load report")).clicked() {
                self.show_report = !self.show_report;
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let (label, other) = match lang {
                    Lang::Zh => ("English", Lang::En),
                    Lang::En => ("中文", Lang::Zh),
                };
                if ui.button(label).clicked() {
                    self.settings.lang = other;
                }
                let theme_label = if self.settings.dark { lang.t("浅色", "Light") } else { lang.t("深色", "Dark") };
                if ui.button(theme_label).clicked() {
                    self.settings.dark = !self.settings.dark;
                    theme::apply_visuals(ui.ctx(), self.settings.dark);
                }
                if let Some(l) = self.loaded() {
                    ui.label(format!("{} {}", lang.t("数据截至", "Data as of"), format_ms(l.as_of_ms)));
                }
            });
        });
    }

    fn figures_ui(ui: &mut egui::Ui, lang: Lang, row: &UnitRow) {
        let c = &row.counts;
        let f = &row.figures;
        let pct = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{:.1}%", x * 100.0));
        let items = [
            (lang.t("受理数", "Accepted"), c.accepted.to_string(), None),
            (lang.t("办结数", "Closed"), c.closed.to_string(), None),
            (lang.t("办结率", "Completion"), pct(f.completion_rate), Some(format!("{}/{}", c.closed, c.accepted))),
            (lang.t("按期办结率", "On time"), pct(f.on_time_rate), Some(format!("{}/{}", c.closed_on_time, c.with_deadline))),
            (
                lang.t("超期数", "Overdue"),
                c.overdue().to_string(),
                Some(format!("{} {}", c.overdue_open, lang.t("件未结", "open"))),
            ),
            (lang.t("满意率", "Satisfaction"), pct(f.satisfaction_rate), Some(format!("{}/{}", c.satisfied, c.rated))),
        ];
        egui::Grid::new(("figures", row.code.as_str())).num_columns(3).spacing([12.0, 6.0]).show(ui, |ui| {
            for (name, value, detail) in items {
                ui.label(name);
                let alert = name == lang.t("超期数", "Overdue") && c.overdue_open > 0;
                ui.label(RichText::new(value).size(20.0).strong().color(if alert {
                    theme::ALERT
                } else {
                    ui.visuals().strong_text_color()
                }));
                ui.label(RichText::new(detail.unwrap_or_default()).weak());
                ui.end_row();
            }
        });
    }

    fn left_panel_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let Some(l) = self.loaded() else { return };
        let city = &l.table(Level::City).total;
        ui.heading(lang.t("全市总览", "City overview"));
        Self::figures_ui(ui, lang, city);
        ui.separator();
        let mut level = self.settings.table_level;
        ui.horizontal(|ui| {
            for lv in [Level::District, Level::Street, Level::Community, Level::Grid] {
                ui.selectable_value(
                    &mut level,
                    lv,
                    match lang {
                        Lang::Zh => lv.zh(),
                        Lang::En => lv.as_str(),
                    },
                );
            }
        });
        let table = l.table(level);
        let threshold = l.config.highlight_below_pct / 100.0;
        let mut clicked_grid = None;
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
            egui::Grid::new("centres").striped(true).num_columns(5).spacing([10.0, 4.0]).show(ui, |ui| {
                for h in [
                    lang.t("名称", "Name"),
                    lang.t("受理", "Accepted"),
                    lang.t("办结率", "Completion"),
                    lang.t("超期", "Overdue"),
                    lang.t("满意率", "Satisfaction"),
                ] {
                    ui.label(RichText::new(h).strong());
                }
                ui.end_row();
                for row in table.rows.iter().chain([&table.unassigned, &table.total]) {
                    let name = if row.unit.is_none() && row.code == "unassigned" {
                        lang.t("未落入网格", "Unassigned").to_string()
                    } else {
                        row.name.clone()
                    };
                    let resp = ui.selectable_label(level == Level::Grid && row.unit == self.selected, name);
                    if resp.clicked() && level == Level::Grid {
                        clicked_grid = row.unit;
                    }
                    ui.label(row.counts.accepted.to_string());
                    let rate = row.figures.completion_rate;
                    let text = rate.map_or("—".into(), |r| format!("{:.1}%", r * 100.0));
                    let low = rate.is_some_and(|r| r < threshold);
                    ui.label(if low { RichText::new(text).color(theme::ALERT) } else { RichText::new(text) });
                    ui.label(row.counts.overdue().to_string());
                    ui.label(row.figures.satisfaction_rate.map_or("—".into(), |r| format!("{:.1}%", r * 100.0)));
                    ui.end_row();
                }
            });
        });
        self.settings.table_level = level;
        if clicked_grid.is_some() {
            self.selected = clicked_grid;
        }
    }

    fn right_panel_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let (Some(l), Some(g)) = (self.loaded(), self.selected) else { return };
        let Some(row) = l.table(Level::Grid).rows.get(g as usize) else { return };
        let mut deselect = false;
        ui.horizontal(|ui| {
            ui.heading(&row.name);
            deselect = ui.small_button("×").on_hover_text(lang.t("取消选择", "Deselect")).clicked();
        });
        let path: Vec<String> =
            l.ds.layer.ancestors(Level::Grid, g).iter().map(|(lv, u)| l.ds.layer.units(*lv)[*u as usize].name.clone()).collect();
        ui.label(RichText::new(path.join(" / ")).weak());
        ui.label(format!("{} {}", lang.t("网格编码", "Grid code"), row.code));
        let grid = &l.ds.layer.grids[g as usize];
        if let Some(w) = &grid.worker {
            ui.label(format!("{} {} {}", lang.t("网格员", "Grid worker"), w, grid.phone.as_deref().unwrap_or("")));
        }
        if let Some(h) = grid.households {
            ui.label(format!("{} {h} · {:.2} km²", lang.t("户数", "Households"), grid.area_km2));
        }
        ui.separator();
        Self::figures_ui(ui, lang, row);
        if deselect {
            self.selected = None;
        }
    }

    fn map_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let dark = self.settings.dark;
        let palette = if self.settings.indicator.is_rate() { &theme::GOOD_HIGH } else { &theme::HIGH_BAD };
        let Data::Ready(l) = &self.data else { return };
        if self.fit_pending {
            let (centre, zoom) = map::fit(l.bounds, ui.available_size());
            self.map_memory.center_at(centre);
            let _ = self.map_memory.set_zoom(zoom);
            self.fit_pending = false;
        }
        let mut events = MapEvents::default();
        // walkers' "my position": the data's centre (nothing is drawn there).
        let (lon, lat) =
            gridcentre_core::render::unmercator((l.bounds.0[0] + l.bounds.1[0]) / 2.0, (l.bounds.0[1] + l.bounds.1[1]) / 2.0);
        let centre = walkers::lon_lat(lon, lat);
        let plugin =
            GridPlugin { loaded: l, classes: &self.classes.1, palette, selected: self.selected, dark, events: &mut events };
        let response = ui.add(Map::new(None, &mut self.map_memory, centre).with_plugin(plugin));
        self.hovered = events.hovered;
        if let Some(g) = events.clicked {
            self.selected = Some(g);
        }
        if let Some(g) = self.hovered
            && let Some(row) = l.table(Level::Grid).rows.get(g as usize)
        {
            let ind = self.settings.indicator;
            let path: Vec<String> =
                l.ds.layer
                    .ancestors(Level::Grid, g)
                    .iter()
                    .skip(1)
                    .map(|(lv, u)| l.ds.layer.units(*lv)[*u as usize].name.clone())
                    .collect();
            response.on_hover_ui_at_pointer(|ui| {
                ui.strong(&row.name);
                ui.label(RichText::new(path.join(" / ")).weak());
                ui.label(format!("{}: {}", ind.label(lang), ind.format(ind.value(row))));
                ui.label(format!(
                    "{} {} · {} {} · {} {}",
                    lang.t("受理", "accepted"),
                    row.counts.accepted,
                    lang.t("办结", "closed"),
                    row.counts.closed,
                    lang.t("超期", "overdue"),
                    row.counts.overdue()
                ));
            });
        }
        self.legend_ui(ui, palette);
    }

    fn legend_ui(&self, ui: &mut egui::Ui, palette: &[Color32; 5]) {
        let lang = self.settings.lang;
        let ind = self.settings.indicator;
        let breaks = &self.classes.2;
        egui::Area::new(egui::Id::unique("legend")).anchor(Align2::LEFT_BOTTOM, [12.0, -12.0]).show(ui.ctx(), |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.strong(ind.label(lang));
                let n = breaks.len() + 1;
                for k in 0..n {
                    let lo = if k == 0 { None } else { breaks.get(k - 1).copied() };
                    let hi = breaks.get(k).copied();
                    let text = match (lo, hi) {
                        (None, Some(h)) => format!("< {}", ind.format(Some(h))),
                        (Some(l), Some(h)) => format!("{} – {}", ind.format(Some(l)), ind.format(Some(h))),
                        (Some(l), None) => format!("≥ {}", ind.format(Some(l))),
                        (None, None) => lang.t("全部", "all").to_string(),
                    };
                    ui.horizontal(|ui| {
                        let (r, _) = ui.allocate_exact_size(egui::vec2(18.0, 12.0), egui::Sense::hover());
                        ui.painter().rect_filled(r, 2.0, palette[k.min(4)]);
                        ui.label(text);
                    });
                }
                ui.horizontal(|ui| {
                    let (r, _) = ui.allocate_exact_size(egui::vec2(18.0, 12.0), egui::Sense::hover());
                    ui.painter().rect_filled(r, 2.0, theme::NO_DATA);
                    ui.label(lang.t("无数据", "no data"));
                });
            });
        });
    }

    fn report_window_ui(&mut self, ctx: &egui::Context) {
        let lang = self.settings.lang;
        let Some(l) = self.loaded() else { return };
        let text: String = l.ds.reports.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n");
        let mut open = self.show_report;
        egui::Window::new(lang.t("加载报告", "Load report")).open(&mut open).default_size([720.0, 420.0]).show(ctx, |ui| {
            egui::ScrollArea::both().show(ui, |ui| {
                ui.add(egui::Label::new(RichText::new(text).monospace()).selectable(true));
            });
        });
        self.show_report = open;
    }
}

impl eframe::App for GridCentreApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll_loader();
        self.refresh_classes();
        let ctx = ui.ctx().clone();
        egui::Panel::top("top").show(ui, |ui| self.top_bar_ui(ui));
        match &self.data {
            Data::Loading { stage, .. } => {
                let label = match self.settings.lang {
                    Lang::Zh => match stage {
                        Stage::Grids => "正在读取网格…",
                        Stage::Index => "正在建立空间索引…",
                        Stage::Incidents => "正在读取事件…",
                        Stage::Assign => "正在落图到网格…",
                        Stage::Done => "正在统计…",
                    },
                    Lang::En => stage.label(),
                };
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.centered_and_justified(|ui| {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label(label);
                        });
                    });
                });
                return;
            }
            Data::Failed(e) => {
                let e = e.clone();
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.colored_label(
                        theme::ALERT,
                        format!("{}: {e}", self.settings.lang.t("无法加载数据", "Cannot load the data")),
                    );
                });
                return;
            }
            Data::Ready(_) => {}
        }
        egui::Panel::left("centres").resizable(true).default_size(400.0).show(ui, |ui| self.left_panel_ui(ui));
        if self.selected.is_some() {
            egui::Panel::right("selected").resizable(true).default_size(320.0).show(ui, |ui| self.right_panel_ui(ui));
        }
        egui::CentralPanel::default().frame(egui::Frame::NONE).show(ui, |ui| self.map_ui(ui));
        self.report_window_ui(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }
}

/// Opens the dashboard window on `sources`.
pub fn run(sources: Sources) -> eframe::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_title("gridcentre · 网格化协调指挥中心").with_inner_size([1600.0, 950.0]),
        ..Default::default()
    };
    eframe::run_native("gridcentre", options, Box::new(move |cc| Ok(Box::new(GridCentreApp::new(cc, sources)))))
}
