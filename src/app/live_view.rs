//! Live mode on screen: the form that connects a source, the ticker and overdue alerts under
//! the map, and the source's state in the status bar. Everything here reads the
//! [`LiveSession`](super::live::LiveSession) the live thread keeps current.

use egui::{Color32, RichText};
use gridcentre_core::source::{SourceSpec, SourceState};
use gridcentre_core::timeparse::format_ms;

use super::live::LiveClock;
use super::{GridCentreApp, LiveForm, Selection, theme};

/// Puts a password into a connection string (percent-encoded in a URL, quoted in key=value form).
pub fn with_password(source: &str, password: &str) -> String {
    if password.is_empty() {
        return source.to_string();
    }
    let s = source.trim();
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        let enc: String = password
            .bytes()
            .map(
                |b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") },
            )
            .collect();
        let sep = if s.contains('?') { '&' } else { '?' };
        format!("{s}{sep}password={enc}")
    } else {
        let q = password.replace('\\', "\\\\").replace('\'', "\\'");
        format!("{s} password='{q}'")
    }
}

impl GridCentreApp {
    /// File menu entries: connect or disconnect.
    pub(super) fn live_menu_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        if self.live.is_some() {
            if ui.button(lang.t("断开实时接入", "Disconnect the live feed")).clicked() {
                self.stop_live();
            }
        } else if ui.button(lang.t("实时接入…", "Connect a live feed…")).clicked() {
            self.live_form = Some(LiveForm::default());
        }
    }

    /// The connect form (a modal): a feed file or a PostgreSQL connection string, the password
    /// masked and kept only in the connection.
    pub(super) fn live_form_ui(&mut self, ctx: &egui::Context) {
        let lang = self.settings.lang;
        let Some(form) = &mut self.live_form else { return };
        let mut connect = false;
        let mut cancel = false;
        egui::Modal::new(egui::Id::unique("live-form")).show(ctx, |ui| {
            ui.set_width(560.0);
            ui.heading(lang.t("实时接入", "Live feed"));
            ui.label(
                RichText::new(lang.t(
                    "事件文件（CSV/NDJSON，由其他系统追加写入），或 PostgreSQL 连接串（postgres://用户@主机:端口/库，表 incidents）。",
                    "A feed file (CSV/NDJSON another system appends to) or a PostgreSQL connection string (postgres://user@host:port/db, table incidents).",
                ))
                .weak(),
            );
            egui::Grid::new("live-form-grid").num_columns(2).spacing([8.0, 6.0]).show(ui, |ui| {
                let l = ui.label(lang.t("数据源", "Source"));
                ui.add(egui::TextEdit::singleline(&mut form.source).desired_width(420.0).id_salt("live-source")).labelled_by(l.id);
                ui.end_row();
                let l = ui.label(lang.t("密码", "Password"));
                ui.add(egui::TextEdit::singleline(&mut form.password).password(true).desired_width(220.0).id_salt("live-password"))
                    .labelled_by(l.id);
                ui.end_row();
                ui.label(lang.t("超期时钟", "Overdue clock"));
                ui.horizontal(|ui| {
                    ui.radio_value(&mut form.clock, LiveClock::System, lang.t("系统时间", "System time"));
                    ui.radio_value(&mut form.clock, LiveClock::Data, lang.t("数据时间（回放演示）", "Data time (replays)"));
                });
                ui.end_row();
            });
            ui.separator();
            ui.horizontal(|ui| {
                let ok = !form.source.trim().is_empty();
                if ui.add_enabled(ok, egui::Button::new(lang.t("连接", "Connect"))).clicked() {
                    connect = true;
                }
                if ui.button(lang.t("取消", "Cancel")).clicked() {
                    cancel = true;
                }
            });
        });
        if connect {
            let spec = SourceSpec::parse(&with_password(&form.source, &form.password));
            let clock = form.clock;
            self.live_form = None;
            self.start_live(ctx, spec, clock);
        } else if cancel {
            self.live_form = None;
        }
    }

    /// The source's state for the status bar: name, connection, last event, lag, rate, counts.
    pub(super) fn live_status_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let Some(lv) = &self.live else { return };
        ui.separator();
        let (dot, text) = match &lv.state {
            SourceState::Live => (theme::GOOD, lang.t("实时", "live").to_string()),
            SourceState::Connecting => (Color32::from_rgb(0xe6, 0x9f, 0x00), lang.t("连接中", "connecting").to_string()),
            SourceState::Waiting(why) => (Color32::from_rgb(0xe6, 0x9f, 0x00), format!("{} ({why})", lang.t("等待", "waiting"))),
            SourceState::Retrying { attempt, wait, .. } => {
                (theme::ALERT, format!("{} #{attempt}, {:.1} s", lang.t("重连", "retrying"), wait.as_secs_f64()))
            }
        };
        ui.colored_label(dot, "●");
        let r = ui.label(format!("{} {} · {text}", lang.t("实时接入", "Live"), lv.label));
        if let SourceState::Retrying { error, .. } = &lv.state {
            r.on_hover_text(error);
        } else if let Some(note) = &lv.resumed {
            r.on_hover_text(note);
        }
        let c = &lv.counters;
        ui.label(format!(
            "{} {} ({:.0}/s) · {} {} · {} {}",
            lang.t("事件", "events"),
            c.events,
            lv.rate,
            lang.t("新增", "new"),
            c.new,
            lang.t("更新", "updated"),
            c.updated
        ));
        if let Some(e) = lv.last_event_ms {
            ui.label(format!("{} {}", lang.t("最新", "latest"), format_ms(e)));
        }
        if let Some(lag) = lv.lag_seconds() {
            ui.label(format!("{} {lag:.1} s", lang.t("延迟", "lag")));
        }
        if c.quarantined > 0 {
            let r = ui.colored_label(theme::ALERT, format!("{} {}", lang.t("隔离", "quarantined"), c.quarantined));
            r.on_hover_ui(|ui| {
                for q in lv.quarantined.iter().take(10) {
                    ui.label(format!("#{} {}: {}", q.event, q.reason, q.detail));
                }
            });
        }
    }

    /// Under the map while live: the latest events and the overdue alerts.
    pub(super) fn live_panel_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let mut go: Option<Selection> = None;
        let Some(lv) = &self.live else { return };
        let silent = self.chime.problem();
        let sound = &mut self.settings.alert_sound;
        let big = self.settings.wall;
        let size = if big { 16.0 } else { 13.0 };
        ui.columns(2, |cols| {
            cols[0].label(RichText::new(lang.t("实时事件", "Latest events")).strong().size(size + 1.0));
            if lv.ticker.is_empty() {
                cols[0].label(RichText::new(lang.t("等待新事件…", "Waiting for events…")).weak());
            }
            // Only the rows in view are laid out: every update brings new lines, and shaping
            // fifty of them each time cost the frame several milliseconds.
            let row_h = cols[0].ctx().fonts_mut(|f| f.row_height(&egui::FontId::proportional(size)));
            let ticker: Vec<_> = lv.ticker.iter().take(50).collect();
            egui::ScrollArea::vertical().id_salt("ticker").max_height(if big { 170.0 } else { 130.0 }).show_rows(
                &mut cols[0],
                row_h,
                ticker.len(),
                |ui, range| {
                    for t in &ticker[range] {
                        let tag = if t.new { lang.t("新", "new") } else { lang.t("更新", "upd") };
                        let line = format!(
                            "{}  {tag}  {}  {}  {}  {}",
                            format_ms(t.at_ms).get(5..16).unwrap_or(""),
                            t.id,
                            t.category,
                            super::panels::status_label(lang, t.status),
                            t.place
                        );
                        let colour = if t.new { theme::GOOD } else { ui.visuals().text_color() };
                        if ui
                            .add(
                                egui::Label::new(RichText::new(line).size(size).color(colour))
                                    .truncate()
                                    .sense(egui::Sense::click()),
                            )
                            .clicked()
                        {
                            go = Some(Selection::Incident(t.incident));
                        }
                    }
                },
            );
            cols[1].horizontal(|ui| {
                ui.label(RichText::new(lang.t("超期预警", "Overdue alerts")).strong().size(size + 1.0).color(theme::ALERT));
                ui.checkbox(sound, lang.t("声音提醒", "Chime"))
                    .on_hover_text(lang.t("新的超期预警响铃（每 5 秒至多一次）", "New overdue alerts chime (at most every 5 s)"));
                if *sound && let Some(why) = &silent {
                    ui.colored_label(theme::ALERT, lang.t("（无声）", "(silent)")).on_hover_text(why);
                }
            });
            if lv.alerts.is_empty() {
                cols[1].label(RichText::new(lang.t("暂无", "None")).weak());
            }
            let alerts: Vec<_> = lv.alerts.iter().take(50).collect();
            egui::ScrollArea::vertical().id_salt("alerts").max_height(if big { 170.0 } else { 130.0 }).show_rows(
                &mut cols[1],
                row_h,
                alerts.len(),
                |ui, range| {
                    for a in &alerts[range] {
                        let line = format!(
                            "{}  {}  {}  {} {}",
                            a.id,
                            a.category,
                            a.place,
                            lang.t("时限", "deadline"),
                            format_ms(a.deadline_ms).get(5..16).unwrap_or("")
                        );
                        if ui
                            .add(
                                egui::Label::new(RichText::new(line).size(size).color(theme::ALERT))
                                    .truncate()
                                    .sense(egui::Sense::click()),
                            )
                            .clicked()
                        {
                            go = Some(Selection::Incident(a.incident));
                        }
                    }
                },
            );
        });
        if let Some(s) = go {
            self.select(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_go_into_the_connection_string_encoded() {
        assert_eq!(with_password("postgres://gc@h/db", "p@ss w/rd"), "postgres://gc@h/db?password=p%40ss%20w%2Frd");
        assert_eq!(with_password("postgres://gc@h/db?sslmode=disable", "x"), "postgres://gc@h/db?sslmode=disable&password=x");
        assert_eq!(with_password("host=h user=gc", "it's"), "host=h user=gc password='it\\'s'");
        assert_eq!(with_password("feed.csv", ""), "feed.csv");
        assert_eq!(SourceSpec::parse(&with_password("postgres://gc@h/db", "secret")).label(), "postgres://gc@h/db?password=***");
    }
}
