//! The panels around the map: top bar (search, indicator, file, modes), filters and layers,
//! key figures and the centres' table, the selection, legend, status bar, wall-screen strip.

use egui::{Align2, Color32, RichText};
use egui_plot::{Legend, Line, Plot, PlotPoints};
use gridcentre_core::layers::{SearchHit, search};
use gridcentre_core::model::{Level, Satisfaction};
use gridcentre_core::pipeline::Stage;
use gridcentre_core::stats::{IndicatorConfig, TimePreset, UnitRow};
use gridcentre_core::status::Status;
use gridcentre_core::timeparse::format_ms;

use super::analysis_view::ViewMode;
use super::basemap::BasemapKind;
use super::i18n::Lang;
use super::map::{PointColour, Selection};
use super::state::{Indicator, Loaded};
use super::{FileRole, GridCentreApp, theme};

fn pct(v: Option<f64>) -> String {
    v.map_or("—".to_string(), |x| format!("{:.1}%", x * 100.0))
}

fn level_name(lang: Lang, lv: Level) -> &'static str {
    match lang {
        Lang::Zh => lv.zh(),
        Lang::En => lv.as_str(),
    }
}

/// A unit row's display name ("unassigned" has none in the data).
fn row_name(lang: Lang, row: &UnitRow) -> String {
    if row.unit.is_none() && &*row.code == "unassigned" {
        lang.t("未落入网格", "Unassigned").to_string()
    } else {
        row.name.to_string()
    }
}

impl GridCentreApp {
    pub(super) fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let ctx = ui.ctx().clone();
        ui.horizontal(|ui| {
            ui.heading(lang.t("网格化协调指挥中心", "Grid Management Command Centre"));
            ui.separator();
            ui.menu_button(lang.t("文件", "File"), |ui| {
                if ui.button(lang.t("打开网格图层…", "Open grid polygons…")).clicked() {
                    self.pick_file(FileRole::Grids);
                    ui.close();
                }
                if ui.button(lang.t("打开事件数据…", "Open incidents…")).clicked() {
                    self.pick_file(FileRole::Incidents);
                    ui.close();
                }
                if ui.button(lang.t("打开示例数据", "Open the sample data")).clicked() {
                    self.start_load(&ctx, super::state::sample_sources());
                    ui.close();
                }
                ui.separator();
                self.live_menu_ui(ui);
                ui.separator();
                if ui.button(lang.t("导出地图 PNG…", "Export map as PNG…")).clicked() {
                    self.exports.ask(
                        super::export::Pending::Map,
                        lang.t("网格地图.png", "grid-map.png").to_string(),
                        &[("PNG", &["png"])],
                        &ctx,
                    );
                    ui.close();
                }
                ui.separator();
                ui.label(RichText::new(lang.t("也可把文件拖入窗口", "Or drop files on the window")).weak());
            });
            ui.separator();
            for (mode, zh, en) in
                [(ViewMode::Map, "地图", "Map"), (ViewMode::Table, "统计表", "Table"), (ViewMode::Charts, "图表", "Charts")]
            {
                ui.selectable_value(&mut self.settings.view_mode, mode, lang.t(zh, en));
            }
            ui.separator();
            egui::ComboBox::from_label(lang.t("着色指标", "Colour by"))
                .selected_text(self.settings.indicator.label(lang))
                .show_ui(ui, |ui| {
                    for ind in Indicator::ALL {
                        ui.selectable_value(&mut self.settings.indicator, ind, ind.label(lang));
                    }
                });
            ui.separator();
            self.search_ui(ui);
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
                let wall = if self.settings.wall {
                    lang.t("退出大屏", "Leave wall mode")
                } else {
                    lang.t("大屏模式", "Wall mode")
                };
                if ui.button(wall).on_hover_text("F11").clicked() {
                    self.toggle_wall(&ctx);
                }
                if let Some(l) = self.loaded() {
                    let as_of = self.live.as_ref().map_or(l.as_of_ms, |lv| lv.as_of_ms);
                    ui.label(format!("{} {}", lang.t("数据截至", "Data as of"), format_ms(as_of)));
                }
            });
        });
    }

    fn search_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let resp = ui.add(
            egui::TextEdit::singleline(&mut self.search)
                .hint_text(lang.t("搜索网格、社区、事件编号", "Search grid, community, incident id"))
                .desired_width(240.0)
                .id_salt("search"),
        );
        if self.search != self.search_done_for {
            self.search_done_for = self.search.clone();
            self.search_hits = match self.loaded() {
                Some(l) if self.search.trim().chars().count() >= 2 => search(&l.ds, &self.search, 12),
                _ => Vec::new(),
            };
        }
        let enter = resp.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let now = ui.input(|i| i.time);
        if enter && let Some(hit) = self.search_hits.first().cloned() {
            self.go_to(&hit, now);
            self.search_hits.clear();
            return;
        }
        if self.search_hits.is_empty() || self.search.trim().is_empty() {
            return;
        }
        let Some(l) = self.loaded() else { return };
        let labels: Vec<(SearchHit, String)> = self
            .search_hits
            .iter()
            .map(|h| {
                let text = match *h {
                    SearchHit::Unit { level, unit } => {
                        let u = &l.ds.layer.units(level)[unit as usize];
                        format!("{} · {} ({})", level_name(lang, level), u.name, u.code)
                    }
                    SearchHit::Incident { index } => {
                        let inc = &l.ds.incidents;
                        format!(
                            "{} · {} {}",
                            lang.t("事件", "Incident"),
                            &inc.id[index as usize],
                            inc.categories.name(inc.category[index as usize])
                        )
                    }
                };
                (h.clone(), text)
            })
            .collect();
        let mut chosen = None;
        egui::Area::new(egui::Id::unique("search-hits"))
            .order(egui::Order::Foreground)
            .fixed_pos(resp.rect.left_bottom() + egui::vec2(0.0, 4.0))
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_min_width(320.0);
                    for (hit, text) in labels {
                        if ui.selectable_label(false, text).clicked() {
                            chosen = Some(hit);
                        }
                    }
                });
            });
        if let Some(hit) = chosen {
            self.go_to(&hit, now);
            self.search_hits.clear();
        }
    }

    pub(super) fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        ui.horizontal(|ui| {
            if self.busy() {
                ui.spinner();
                ui.label(lang.t("计算中…", "Computing…"));
                ui.separator();
            }
            if let Some(l) = self.loaded() {
                let d = &l.derived;
                ui.label(format!(
                    "{} {} / {} {} · {} {}",
                    lang.t("筛选后", "Filtered"),
                    d.selected,
                    l.ds.incidents.len(),
                    lang.t("件", "incidents"),
                    lang.t("图上", "on map"),
                    d.points.len()
                ));
                if let Some(p) = &d.problem {
                    ui.colored_label(theme::ALERT, p);
                }
                ui.separator();
                ui.label(format!("{} {:.1}", lang.t("缩放", "Zoom"), self.map_memory.zoom()));
                if let Some((lon, lat)) = self.pointer {
                    ui.label(format!("{lon:.5}, {lat:.5} ({})", l.geometry.crs));
                }
            }
            self.live_status_ui(ui);
            if let Some((msg, is_error)) = self.notice.clone() {
                ui.separator();
                if is_error {
                    ui.colored_label(theme::ALERT, &msg);
                } else {
                    ui.label(&msg);
                }
                if ui.small_button("×").clicked() {
                    self.notice = None;
                }
            }
        });
    }

    pub(super) fn loading_ui(&self, ui: &mut egui::Ui, stage: Stage) {
        let label = match self.settings.lang {
            Lang::Zh => match stage {
                Stage::Grids => "正在读取网格…",
                Stage::Incidents => "正在读取网格与事件…",
                Stage::Assign => "正在落图到网格…",
                Stage::Done => "正在统计…",
            },
            Lang::En => stage.label(),
        };
        ui.centered_and_justified(|ui| {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(label);
            });
        });
    }

    pub(super) fn figures_ui(ui: &mut egui::Ui, lang: Lang, row: &UnitRow, size: f32) {
        let c = &row.counts;
        let f = &row.figures;
        let items = [
            (lang.t("受理数", "Accepted"), c.accepted.to_string(), None, false),
            (lang.t("办结数", "Closed"), c.closed.to_string(), None, false),
            (lang.t("办结率", "Completion"), pct(f.completion_rate), Some(format!("{}/{}", c.closed, c.accepted)), false),
            (
                lang.t("按期办结率", "On time"),
                pct(f.on_time_rate),
                Some(format!("{}/{}", c.closed_on_time, c.with_deadline)),
                false,
            ),
            (
                lang.t("超期数", "Overdue"),
                c.overdue().to_string(),
                Some(format!("{} {}", c.overdue_open, lang.t("件未结", "open"))),
                c.overdue_open > 0,
            ),
            (lang.t("满意率", "Satisfaction"), pct(f.satisfaction_rate), Some(format!("{}/{}", c.satisfied, c.rated)), false),
        ];
        egui::Grid::new(("figures", &*row.code, row.level)).num_columns(3).spacing([12.0, 6.0]).show(ui, |ui| {
            for (name, value, detail, alert) in items {
                ui.label(name);
                let colour = if alert { theme::ALERT } else { ui.visuals().strong_text_color() };
                ui.label(RichText::new(value).size(size).strong().color(colour));
                ui.label(RichText::new(detail.unwrap_or_default()).weak());
                ui.end_row();
            }
        });
    }

    /// Wall-screen strip: the chosen centre's figures in large type across the top.
    pub(super) fn wall_figures_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let Some(l) = self.loaded() else { return };
        let districts = l.ds.layer.units(Level::District);
        let chosen = self.settings.wall_district.as_ref().and_then(|c| districts.iter().position(|u| *u.code == **c));
        let row = match chosen {
            Some(u) => l.row(Level::District, u as u32).cloned(),
            None => Some(l.table(Level::City).total.clone()),
        };
        let names: Vec<(String, String)> = districts.iter().map(|u| (u.code.to_string(), u.name.to_string())).collect();
        let mut pick = self.settings.wall_district.clone();
        ui.horizontal(|ui| {
            let title = chosen.map_or(lang.t("全市", "City").to_string(), |u| names[u].1.clone());
            egui::ComboBox::from_id_salt("wall-centre").selected_text(RichText::new(&title).size(22.0).strong()).show_ui(
                ui,
                |ui| {
                    ui.selectable_value(&mut pick, None, lang.t("全市", "City"));
                    for (code, name) in &names {
                        ui.selectable_value(&mut pick, Some(code.clone()), name);
                    }
                },
            );
            let Some(row) = row else { return };
            let c = &row.counts;
            let f = &row.figures;
            let big = |ui: &mut egui::Ui, name: &str, value: String, alert: bool| {
                ui.vertical(|ui| {
                    ui.label(RichText::new(name).size(16.0));
                    let colour = if alert { theme::ALERT } else { ui.visuals().strong_text_color() };
                    ui.label(RichText::new(value).size(38.0).strong().color(colour));
                });
                ui.add_space(28.0);
            };
            ui.add_space(24.0);
            big(ui, lang.t("受理", "Accepted"), c.accepted.to_string(), false);
            big(ui, lang.t("办结", "Closed"), c.closed.to_string(), false);
            big(ui, lang.t("办结率", "Completion"), pct(f.completion_rate), false);
            big(ui, lang.t("按期办结率", "On time"), pct(f.on_time_rate), false);
            big(ui, lang.t("超期未结", "Overdue open"), c.overdue_open.to_string(), c.overdue_open > 0);
            big(ui, lang.t("满意率", "Satisfaction"), pct(f.satisfaction_rate), false);
        });
        self.settings.wall_district = pick;
    }

    pub(super) fn left_panel_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        egui::ScrollArea::vertical().id_salt("left").auto_shrink([false, false]).show(ui, |ui| {
            let filters = egui::CollapsingHeader::new(RichText::new(lang.t("筛选", "Filter")).strong())
                .id_salt("filters")
                .open(Some(self.settings.show_filters))
                .show(ui, |ui| self.filter_ui(ui));
            if filters.header_response.clicked() {
                self.settings.show_filters = !self.settings.show_filters;
            }
            let layers = egui::CollapsingHeader::new(RichText::new(lang.t("图层", "Layers")).strong())
                .id_salt("layers")
                .open(Some(self.settings.show_layers))
                .show(ui, |ui| self.layers_ui(ui));
            if layers.header_response.clicked() {
                self.settings.show_layers = !self.settings.show_layers;
            }
            ui.separator();
            self.overview_ui(ui);
        });
    }

    fn filter_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let Some(l) = self.loaded() else { return };
        let cats: Vec<String> = sorted_names(&l.ds.incidents.categories.names);
        let srcs: Vec<String> = sorted_names(&l.ds.incidents.sources.names);
        let f = &mut self.settings.filter;
        ui.horizontal_wrapped(|ui| {
            ui.label(lang.t("时间", "Time"));
            for p in TimePreset::ALL {
                let text = match lang {
                    Lang::Zh => p.zh(),
                    Lang::En => p.en(),
                };
                ui.selectable_value(&mut f.preset, p, text);
            }
        });
        if f.preset == TimePreset::Custom {
            ui.horizontal(|ui| {
                ui.add(egui::TextEdit::singleline(&mut f.custom_from).hint_text("2025-01-01").desired_width(90.0));
                ui.label("—");
                ui.add(egui::TextEdit::singleline(&mut f.custom_to).hint_text("2025-12-31").desired_width(90.0));
            });
        }
        let toggles = |ui: &mut egui::Ui, label: &str, names: &[String], chosen: &mut Vec<String>| {
            ui.horizontal_wrapped(|ui| {
                ui.label(label);
                for n in names {
                    let mut on = chosen.contains(n);
                    if ui.toggle_value(&mut on, n.as_str()).changed() {
                        if on {
                            chosen.push(n.clone());
                        } else {
                            chosen.retain(|c| c != n);
                        }
                    }
                }
            });
        };
        toggles(ui, lang.t("类别", "Category"), &cats, &mut f.categories);
        toggles(ui, lang.t("来源", "Source"), &srcs, &mut f.sources);
        ui.horizontal_wrapped(|ui| {
            ui.label(lang.t("状态", "Status"));
            for s in Status::ALL {
                let mut on = f.statuses.contains(&s);
                let text = match lang {
                    Lang::Zh => s.zh(),
                    Lang::En => s.as_str(),
                };
                if ui.toggle_value(&mut on, text).changed() {
                    if on {
                        f.statuses.push(s);
                    } else {
                        f.statuses.retain(|x| *x != s);
                    }
                }
            }
        });
        if !f.is_default() && ui.button(lang.t("清除筛选", "Clear filter")).clicked() {
            *f = Default::default();
        }
    }

    fn layers_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let ly = &mut self.settings.layers;
        ui.checkbox(&mut ly.choropleth, lang.t("网格着色", "Grid choropleth"));
        ui.checkbox(&mut ly.outlines, lang.t("边界 (区县/街道/社区/网格)", "Outlines (district … grid)"));
        ui.checkbox(&mut ly.labels, lang.t("名称标注", "Labels"));
        ui.horizontal(|ui| {
            ui.checkbox(&mut ly.points, lang.t("事件点", "Incident points"));
            ui.radio_value(&mut ly.point_colour, PointColour::Category, lang.t("按类别", "by category"));
            ui.radio_value(&mut ly.point_colour, PointColour::Status, lang.t("按状态", "by status"));
        });
        ui.checkbox(&mut ly.heatmap, lang.t("热力图", "Heatmap"));
        if ly.heatmap {
            ui.add(egui::Slider::new(&mut ly.heat_radius, 6.0..=80.0).text(lang.t("半径 (像素)", "radius (px)")));
            ui.add(egui::Slider::new(&mut ly.heat_intensity, 0.2..=5.0).logarithmic(true).text(lang.t("强度", "intensity")));
        }
        ui.separator();
        let mut cfg = self.settings.basemap.clone();
        egui::ComboBox::from_label(lang.t("底图", "Basemap")).selected_text(cfg.kind.label(lang == Lang::Zh)).show_ui(ui, |ui| {
            for k in BasemapKind::ALL {
                ui.selectable_value(&mut cfg.kind, k, k.label(lang == Lang::Zh));
            }
        });
        if cfg.kind != BasemapKind::None {
            let hint = match cfg.kind {
                BasemapKind::Xyz => "http://10.1.2.3/tiles/{z}/{x}/{y}.png",
                BasemapKind::Folder => "/data/tiles",
                _ => "/data/city.mbtiles",
            };
            ui.add(egui::TextEdit::singleline(&mut self.basemap_edit).hint_text(hint).desired_width(f32::INFINITY));
            ui.horizontal(|ui| {
                if ui.button(lang.t("应用", "Apply")).clicked() {
                    cfg.location = self.basemap_edit.trim().to_string();
                }
                if cfg.kind != BasemapKind::Xyz && ui.button(lang.t("浏览…", "Browse…")).clicked() {
                    let picked = if cfg.kind == BasemapKind::Folder {
                        rfd::FileDialog::new().pick_folder()
                    } else {
                        rfd::FileDialog::new().pick_file()
                    };
                    if let Some(p) = picked {
                        self.basemap_edit = p.display().to_string();
                        cfg.location = self.basemap_edit.clone();
                    }
                }
            });
            ui.add(
                egui::TextEdit::singleline(&mut cfg.attribution)
                    .hint_text(lang.t("版权说明 (显示在地图角落)", "Attribution (shown on the map)")),
            );
            ui.checkbox(&mut cfg.gcj02, lang.t("底图为 GCJ-02 (高德/腾讯)", "Basemap is GCJ-02 (Amap/Tencent)"));
            ui.add(egui::Slider::new(&mut cfg.opacity, 0.1..=1.0).text(lang.t("不透明度", "opacity")));
            if let Some(e) = &self.basemap_error {
                ui.colored_label(theme::ALERT, e);
            }
            if cfg.kind == BasemapKind::Xyz {
                ui.label(
                    RichText::new(lang.t("仅在填写地址后访问该服务器", "Only this server is contacted, and only once set"))
                        .weak(),
                );
            }
        }
        self.settings.basemap = cfg;
    }

    fn overview_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let Some(l) = self.loaded() else { return };
        let city = l.table(Level::City).total.clone();
        ui.heading(lang.t("全市总览", "City overview"));
        Self::figures_ui(ui, lang, &city, 20.0);
        ui.separator();
        let mut level = self.settings.table_level;
        ui.horizontal(|ui| {
            for lv in [Level::District, Level::Street, Level::Community, Level::Grid] {
                ui.selectable_value(&mut level, lv, level_name(lang, lv));
            }
        });
        let table = l.table(level);
        let threshold = l.config.highlight_below_pct / 100.0;
        let selected = match self.selection {
            Some(Selection::Unit(lv, u)) if lv == level => Some(u),
            _ => None,
        };
        let mut clicked = None;
        let rows: Vec<&UnitRow> = table.rows.iter().chain([&table.unassigned, &table.total]).collect();
        let header = [
            lang.t("名称", "Name"),
            lang.t("受理", "Accepted"),
            lang.t("办结率", "Completion"),
            lang.t("超期", "Overdue"),
            lang.t("满意率", "Satisfaction"),
        ];
        egui::Grid::new("centres-head").num_columns(5).min_col_width(60.0).show(ui, |ui| {
            for h in header {
                ui.label(RichText::new(h).strong());
            }
        });
        let row_h = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        egui::ScrollArea::vertical().id_salt("centres").max_height(420.0).show_rows(ui, row_h, rows.len(), |ui, range| {
            egui::Grid::new("centres").striped(true).num_columns(5).min_col_width(60.0).show(ui, |ui| {
                for row in &rows[range] {
                    let resp = ui.selectable_label(row.unit.is_some() && row.unit == selected, row_name(lang, row));
                    if resp.clicked() {
                        clicked = row.unit;
                    }
                    ui.label(row.counts.accepted.to_string());
                    let rate = row.figures.completion_rate;
                    let low = rate.is_some_and(|r| r < threshold);
                    ui.label(if low { RichText::new(pct(rate)).color(theme::ALERT) } else { RichText::new(pct(rate)) });
                    ui.label(row.counts.overdue().to_string());
                    ui.label(pct(row.figures.satisfaction_rate));
                    ui.end_row();
                }
            });
        });
        self.settings.table_level = level;
        if let Some(u) = clicked {
            let now = ui.input(|i| i.time);
            self.go_to(&SearchHit::Unit { level, unit: u }, now);
        }
    }

    pub(super) fn right_panel_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let mut deselect = false;
        let mut go = None;
        let Some(l) = self.loaded() else { return };
        match self.selection {
            Some(Selection::Unit(level, u)) => {
                let Some(row) = l.row(level, u) else { return };
                ui.horizontal(|ui| {
                    ui.heading(&*row.name);
                    deselect = ui.small_button("×").on_hover_text(lang.t("取消选择", "Deselect")).clicked();
                });
                ui.label(RichText::new(format!("{} · {}", level_name(lang, level), l.path(level, u))).weak());
                ui.label(format!("{} {}", lang.t("编码", "Code"), row.code));
                if level == Level::Grid {
                    let grid = &l.ds.layer.grids[u as usize];
                    if let Some(w) = &grid.worker {
                        ui.label(format!("{} {} {}", lang.t("网格员", "Grid worker"), w, grid.phone.as_deref().unwrap_or("")));
                    }
                    if let Some(h) = grid.households {
                        ui.label(format!("{} {h} · {:.2} km²", lang.t("户数", "Households"), grid.area_km2));
                    }
                } else if let Some(a) = row.area_km2 {
                    ui.label(format!("{:.2} km²", a));
                }
                ui.separator();
                Self::figures_ui(ui, lang, row, 18.0);
                ui.separator();
                match &self.detail {
                    Some(d) if d.unit == (level, u) => {
                        egui::ScrollArea::vertical().id_salt("detail").show(ui, |ui| {
                            go = detail_ui(ui, lang, l, d);
                        });
                    }
                    _ => {
                        ui.spinner();
                    }
                }
            }
            Some(Selection::Incident(i)) => {
                ui.horizontal(|ui| {
                    ui.heading(format!("{} {}", lang.t("事件", "Incident"), &l.ds.incidents.id[i as usize]));
                    deselect = ui.small_button("×").clicked();
                });
                go = incident_ui(ui, lang, l, i);
            }
            None => {}
        }
        if deselect {
            self.selection = None;
        }
        if let Some(hit) = go {
            let now = ui.input(|i| i.time);
            self.go_to(&hit, now);
        }
    }

    pub(super) fn map_tooltip(&self, response: &egui::Response) {
        let lang = self.settings.lang;
        let Some(l) = self.loaded() else { return };
        if let Some(i) = self.hovered_incident {
            let inc = &l.ds.incidents;
            let iu = i as usize;
            response.clone().on_hover_ui_at_pointer(|ui| {
                ui.strong(format!("{} · {}", &inc.id[iu], inc.categories.name(inc.category[iu])));
                ui.label(format!("{} · {}", status_label(lang, inc.status[iu]), format_ms(inc.reported_ms[iu])));
            });
            return;
        }
        let Some(g) = self.hovered_grid else { return };
        let Some(row) = l.row(Level::Grid, g) else { return };
        let ind = self.settings.indicator;
        response.clone().on_hover_ui_at_pointer(|ui| {
            ui.strong(&*row.name);
            ui.label(RichText::new(l.path(Level::Grid, g)).weak());
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

    pub(super) fn legend_ui(&self, ui: &mut egui::Ui, map_rect: egui::Rect) {
        let lang = self.settings.lang;
        let ind = self.settings.indicator;
        let breaks = &self.classes.3;
        let palette = if ind.is_rate() { &theme::GOOD_HIGH } else { &theme::HIGH_BAD };
        let ly = &self.settings.layers;
        let Some(l) = self.loaded() else { return };
        let swatch = |ui: &mut egui::Ui, c: Color32, round: bool| {
            let (r, _) = ui.allocate_exact_size(egui::vec2(18.0, 12.0), egui::Sense::hover());
            if round {
                ui.painter().circle(r.center(), 5.0, c, egui::Stroke::new(1.0, Color32::from_gray(30)));
            } else {
                ui.painter().rect_filled(r, 2.0, c);
            }
        };
        egui::Area::new(egui::Id::unique("legend"))
            .pivot(Align2::LEFT_BOTTOM)
            .fixed_pos(map_rect.left_bottom() + egui::vec2(12.0, -12.0))
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    if ly.choropleth {
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
                                swatch(ui, palette[k.min(4)], false);
                                ui.label(text);
                            });
                        }
                        ui.horizontal(|ui| {
                            swatch(ui, theme::NO_DATA, false);
                            ui.label(lang.t("无数据", "no data"));
                        });
                    }
                    if ly.points {
                        ui.separator();
                        match ly.point_colour {
                            PointColour::Category => {
                                let names = &l.ds.incidents.categories.names;
                                for (k, n) in names.iter().enumerate().take(theme::CATEGORY.len() - 1) {
                                    ui.horizontal(|ui| {
                                        swatch(ui, theme::CATEGORY[k], true);
                                        ui.label(n);
                                    });
                                }
                                if names.len() >= theme::CATEGORY.len() {
                                    ui.horizontal(|ui| {
                                        swatch(ui, theme::CATEGORY[theme::CATEGORY.len() - 1], true);
                                        ui.label(lang.t("其他", "other"));
                                    });
                                }
                            }
                            PointColour::Status => {
                                for s in Status::ALL {
                                    ui.horizontal(|ui| {
                                        swatch(ui, theme::STATUS[s as usize], true);
                                        ui.label(status_label(lang, s));
                                    });
                                }
                            }
                        }
                        ui.horizontal(|ui| {
                            let (r, _) = ui.allocate_exact_size(egui::vec2(18.0, 14.0), egui::Sense::hover());
                            ui.painter().circle_stroke(r.center(), 6.0, egui::Stroke::new(2.0, theme::ALERT));
                            ui.label(lang.t("超期未结", "overdue, open"));
                        });
                    }
                    if ly.heatmap {
                        ui.separator();
                        ui.label(lang.t("热力: 事件密度", "Heat: incident density"));
                        let (r, _) = ui.allocate_exact_size(egui::vec2(140.0, 10.0), egui::Sense::hover());
                        for k in 0..28 {
                            let c = gridcentre_core::layers::heat_color((k as f32 + 0.5) / 28.0);
                            let x0 = r.left() + r.width() * k as f32 / 28.0;
                            let seg = egui::Rect::from_min_max(
                                egui::pos2(x0, r.top()),
                                egui::pos2(x0 + r.width() / 28.0 + 0.5, r.bottom()),
                            );
                            ui.painter().rect_filled(seg, 0.0, Color32::from_rgba_unmultiplied(c[0], c[1], c[2], c[3]));
                        }
                        ui.horizontal(|ui| {
                            ui.label(RichText::new(lang.t("低", "low")).small());
                            ui.add_space(100.0);
                            ui.label(RichText::new(lang.t("高", "high")).small());
                        });
                    }
                });
            });
    }

    pub(super) fn attribution_ui(&self, ui: &mut egui::Ui, map_rect: egui::Rect) {
        if self.tiles.is_none() {
            return;
        }
        let text = self.settings.basemap.attribution.trim();
        let text = if text.is_empty() { self.settings.basemap.location.trim() } else { text };
        let painter = ui.painter();
        let galley = painter.layout_no_wrap(text.to_string(), egui::FontId::proportional(11.0), Color32::from_gray(20));
        let r = egui::Rect::from_min_size(
            map_rect.right_bottom() - galley.size() - egui::vec2(10.0, 6.0),
            galley.size() + egui::vec2(8.0, 4.0),
        );
        painter.rect_filled(r, 2.0, Color32::from_white_alpha(200));
        painter.galley(r.min + egui::vec2(4.0, 2.0), galley, Color32::from_gray(20));
    }

    pub(super) fn report_window_ui(&mut self, ctx: &egui::Context) {
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

fn sorted_names(names: &[String]) -> Vec<String> {
    let mut v = names.to_vec();
    v.sort();
    v
}

pub(super) fn status_label(lang: Lang, s: Status) -> &'static str {
    match lang {
        Lang::Zh => s.zh(),
        Lang::En => s.as_str(),
    }
}

/// Category breakdown, trend and latest incidents of the selected unit. Returns an incident to
/// go to when one is clicked.
fn detail_ui(ui: &mut egui::Ui, lang: Lang, l: &Loaded, d: &super::state::Detail) -> Option<SearchHit> {
    let mut go = None;
    ui.strong(lang.t("类别构成", "By category"));
    let max = d.categories.iter().map(|c| c.counts.accepted).max().unwrap_or(1).max(1);
    for c in &d.categories {
        ui.horizontal(|ui| {
            ui.add_sized([72.0, 16.0], egui::Label::new(&c.category).truncate());
            let frac = c.counts.accepted as f32 / max as f32;
            let (r, _) = ui.allocate_exact_size(egui::vec2(120.0, 12.0), egui::Sense::hover());
            ui.painter().rect_filled(r, 2.0, ui.visuals().faint_bg_color);
            let k = l.ds.incidents.categories.get(&c.category).map_or(7, |k| (k as usize).min(7));
            ui.painter().rect_filled(
                egui::Rect::from_min_size(r.min, egui::vec2(r.width() * frac, r.height())),
                2.0,
                theme::CATEGORY[k],
            );
            ui.label(format!("{} · {}", c.counts.accepted, pct(c.figures.completion_rate)));
        });
    }
    ui.add_space(6.0);
    ui.strong(lang.t("趋势 (受理 / 办结)", "Trend (accepted / closed)"));
    let acc: Vec<[f64; 2]> = d.trend.iter().enumerate().map(|(k, b)| [k as f64, b.counts.accepted as f64]).collect();
    let clo: Vec<[f64; 2]> = d.trend.iter().enumerate().map(|(k, b)| [k as f64, b.counts.closed as f64]).collect();
    let labels: Vec<String> = d.trend.iter().map(|b| b.label.clone()).collect();
    Plot::new(("trend", d.unit.0, d.unit.1))
        .height(140.0)
        .legend(Legend::default())
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .x_axis_formatter(move |m, _| labels.get(m.value.round().max(0.0) as usize).cloned().unwrap_or_default())
        .show(ui, |p| {
            p.line(Line::new(lang.t("受理", "accepted"), PlotPoints::from(acc)));
            p.line(Line::new(lang.t("办结", "closed"), PlotPoints::from(clo)));
        });
    ui.add_space(6.0);
    ui.strong(lang.t("最新事件", "Latest incidents"));
    let inc = &l.ds.incidents;
    let limits = l.config.category_limits(inc);
    egui::Grid::new("latest").striped(true).num_columns(3).show(ui, |ui| {
        for &i in &d.latest {
            let iu = i as usize;
            let overdue = IndicatorConfig::is_overdue_open(inc, iu, &limits, l.as_of_ms);
            if ui.link(&inc.id[iu]).clicked() {
                go = Some(SearchHit::Incident { index: i });
            }
            ui.label(inc.categories.name(inc.category[iu]));
            let st = RichText::new(status_label(lang, inc.status[iu]));
            ui.label(if overdue { st.color(theme::ALERT) } else { st });
            ui.end_row();
        }
    });
    if d.latest.is_empty() {
        ui.label(RichText::new(lang.t("无事件", "No incidents")).weak());
    }
    go
}

/// One incident's details. Returns its grid when "show grid" is clicked.
fn incident_ui(ui: &mut egui::Ui, lang: Lang, l: &Loaded, i: u32) -> Option<SearchHit> {
    let inc = &l.ds.incidents;
    let iu = i as usize;
    let limits = l.config.category_limits(inc);
    let deadline = IndicatorConfig::deadline_of(inc, iu, &limits);
    let overdue = IndicatorConfig::is_overdue_open(inc, iu, &limits, l.as_of_ms);
    let mut go = None;
    egui::Grid::new("incident").num_columns(2).spacing([12.0, 4.0]).show(ui, |ui| {
        let mut row = |k: &str, v: String| {
            ui.label(RichText::new(k).weak());
            ui.label(v);
            ui.end_row();
        };
        row(lang.t("类别", "Category"), inc.categories.name(inc.category[iu]).to_string());
        row(lang.t("状态", "Status"), status_label(lang, inc.status[iu]).to_string());
        row(lang.t("来源", "Source"), inc.sources.name(inc.source[iu]).to_string());
        row(lang.t("上报时间", "Reported"), format_ms(inc.reported_ms[iu]));
        row(lang.t("办理时限", "Deadline"), deadline.map_or("—".into(), format_ms));
        row(lang.t("办结时间", "Closed"), inc.closed_ms[iu].map_or("—".into(), format_ms));
        let sat = inc.satisfaction[iu];
        row(lang.t("满意度", "Satisfaction"), if sat == Satisfaction::Unrated { "—".into() } else { sat.as_str().to_string() });
        let dept = inc.departments.name(inc.department[iu]);
        if !dept.is_empty() {
            row(lang.t("处置部门", "Department"), dept.to_string());
        }
        if inc.has_location(iu) {
            row(lang.t("经纬度", "Lon, lat"), format!("{:.6}, {:.6}", inc.lon[iu], inc.lat[iu]));
        }
        row(lang.t("源文件行", "Source row"), inc.source_row[iu].to_string());
    });
    if overdue {
        ui.colored_label(theme::ALERT, lang.t("超期未结", "Overdue and still open"));
    }
    match super::state::grid_of(&l.ds, i) {
        Some(g) => {
            let name = &l.ds.layer.grids[g as usize].name;
            ui.label(format!("{} {} · {}", lang.t("所在网格", "In grid"), name, l.path(Level::Grid, g)));
            if ui.button(lang.t("查看网格", "Show grid")).clicked() {
                go = Some(SearchHit::Unit { level: Level::Grid, unit: g });
            }
        }
        None => {
            ui.colored_label(theme::ALERT, lang.t("未落入任何网格", "Not in any grid"));
        }
    }
    if let Some(code) = inc.declared_grid_code(iu) {
        ui.label(RichText::new(format!("{} {code}", lang.t("上报网格编码", "Declared grid code"))).weak());
    }
    go
}
