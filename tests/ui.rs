//! The dashboard driven as a user drives it (egui_kittest, no GPU): the real eframe `App` on the
//! bundled sample city, found by labels and clicked. Background work (filters, heatmap, the
//! selection's breakdown) runs on its threads as in the app; `settle` steps frames until it is done.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gridcentre::app::GridCentreApp;
use gridcentre::app::map::Selection;
use gridcentre::app::state::{FilterState, Indicator, Loaded, sample_sources};
use gridcentre_core::crs::Crs;
use gridcentre_core::model::Level;
use gridcentre_core::pipeline::load;
use gridcentre_core::stats::{Filter, IndicatorConfig, unit_table};

fn loaded() -> Loaded {
    let ds = load(&sample_sources(), &mut |_| {}).unwrap();
    Loaded::compute(ds, &FilterState::default(), Crs::Wgs84, sample_sources()).unwrap()
}

fn harness() -> Harness<'static, GridCentreApp> {
    let data = loaded();
    let mut h =
        Harness::builder().with_size([1600.0, 950.0]).build_eframe(move |cc| GridCentreApp::from_loaded(&cc.egui_ctx, data));
    h.run();
    h
}

/// Steps frames until no background work is pending and no fly-to is running (at most ~10 s).
fn settle(h: &mut Harness<'static, GridCentreApp>) {
    for _ in 0..2000 {
        h.step();
        if !h.state().busy() && !h.state().flying() {
            h.run_steps(3);
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("background work did not finish");
}

/// Moves the pointer to a WGS84 place on the map, clicks there, and waits for what follows.
fn click_map_at(h: &mut Harness<'static, GridCentreApp>, lon: f64, lat: f64) {
    let p = h.state().screen_pos(lon, lat).unwrap();
    h.hover_at(p);
    h.run();
    h.drag_at(p);
    h.drop_at(p);
    settle(h);
}

#[test]
fn it_opens_in_chinese_with_the_city_figures_and_switches_to_english_and_back() {
    let mut h = harness();
    h.get_by_label("全市总览");
    assert!(h.query_all_by_label("办结率").count() >= 2, "key figure and table header");
    assert!(h.query_by_label("City overview").is_none());
    h.get_by_label("English").click();
    h.run();
    h.get_by_label("City overview");
    h.get_by_label("Filter");
    assert!(h.query_by_label("全市总览").is_none());
    h.get_by_label("中文").click();
    h.run();
    h.get_by_label("全市总览");
}

#[test]
fn the_key_figures_are_the_city_totals_of_the_core() {
    let mut h = harness();
    let total = h.state().loaded().unwrap().table(Level::City).total.clone();
    // In the key figures and again in the table's total row.
    assert!(h.query_all_by_label(&total.counts.accepted.to_string()).count() >= 2);
    assert!(h.query_all_by_label(&format!("{:.1}%", total.figures.completion_rate.unwrap() * 100.0)).count() >= 2);
    h.get_by_label(&format!("{}/{}", total.counts.closed, total.counts.accepted));
    h.run();
}

#[test]
fn switching_the_indicator_recolours_the_map_and_the_legend() {
    let mut h = harness();
    assert_eq!(h.state().settings.indicator, Indicator::CompletionRate);
    h.get_by_label("≥ 99.5%");
    // Open the combo box and choose 超期数 in its popup (the topmost widget with that label).
    let before = h.query_all_by_label("超期数").count();
    h.get_by_role_and_label(egui::accesskit::Role::ComboBox, "着色指标").click();
    h.run();
    let entries: Vec<_> = h.query_all_by_label("超期数").collect();
    assert_eq!(entries.len(), before + 1, "the popup lists the indicator");
    entries.iter().min_by(|a, b| a.rect().top().total_cmp(&b.rect().top())).unwrap().click();
    h.run();
    assert_eq!(h.state().settings.indicator, Indicator::Overdue);
    assert!(h.query_by_label("≥ 99.5%").is_none(), "the legend now shows counts");
}

#[test]
fn choosing_a_grid_in_the_table_selects_it_and_shows_its_breakdown() {
    let mut h = harness();
    assert!(h.state().selection.is_none());
    h.get_by_label("网格").click();
    h.run();
    let first = h.state().loaded().unwrap().table(Level::Grid).rows[0].clone();
    h.get_all_by_label(&first.name).next().unwrap().click();
    settle(&mut h);
    assert_eq!(h.state().selection, Some(Selection::Unit(Level::Grid, 0)));
    h.get_by_label(&format!("编码 {}", first.code));
    h.get_by_label_contains("网格员 ");
    h.get_by_label("类别构成");
    h.get_by_label("最新事件");
    h.get_by_label("×").click();
    h.run();
    assert!(h.state().selection.is_none());
}

#[test]
fn clicking_the_map_selects_the_grid_under_the_pointer() {
    let mut h = harness();
    h.get_by_label("图层").click();
    h.run();
    h.get_by_label("事件点").click(); // points off, so the click lands on the grid
    h.run();
    let (g, lon, lat) = {
        let l = h.state().loaded().unwrap();
        // A grid near the middle of the city, and a point inside it.
        let g = l.ds.layer.grids.len() as u32 / 2;
        let a = l.geometry.outlines[Level::Grid.index()].anchor[g as usize].unwrap();
        let (lon, lat) = gridcentre_core::render::unmercator(a[0], a[1]);
        (g, lon, lat)
    };
    click_map_at(&mut h, lon, lat);
    assert_eq!(h.state().selection, Some(Selection::Unit(Level::Grid, g)));
    let name = h.state().loaded().unwrap().ds.layer.grids[g as usize].name.clone();
    assert!(h.query_all_by_label(&name).count() >= 1, "the side panel shows {name}");
}

#[test]
fn zoomed_in_a_click_on_a_point_shows_the_incident_and_leads_to_its_grid() {
    let mut h = harness();
    let (i, lon, lat) = {
        let inc = &h.state().loaded().unwrap().ds.incidents;
        let i = (0..inc.len()).find(|&i| inc.has_location(i)).unwrap();
        (i as u32, inc.lon[i], inc.lat[i])
    };
    h.state_mut().set_view(lon, lat, 17.5);
    h.run();
    click_map_at(&mut h, lon, lat);
    let Some(Selection::Incident(j)) = h.state().selection else { panic!("{:?}", h.state().selection) };
    let inc = &h.state().loaded().unwrap().ds.incidents;
    // The one under the pointer (or one at the very same place).
    assert!(j == i || (inc.lon[j as usize] - lon).abs() < 1e-6 && (inc.lat[j as usize] - lat).abs() < 1e-6);
    let id = inc.id[j as usize].to_string();
    h.get_by_label(&format!("事件 {id}"));
    h.get_by_label("查看网格").click();
    settle(&mut h);
    assert!(matches!(h.state().selection, Some(Selection::Unit(Level::Grid, _))));
}

#[test]
fn search_finds_a_grid_by_code_and_flies_to_it() {
    let mut h = harness();
    let (code, name) = {
        let g = &h.state().loaded().unwrap().ds.layer.grids[100];
        (g.code.clone(), g.name.clone())
    };
    let zoom_before = h.state().screen_pos(130.3, 46.8).unwrap();
    let field = h.get_by_role(egui::accesskit::Role::TextInput);
    field.focus();
    field.type_text(&code);
    h.run();
    // The hit list shows the grid; Enter takes the first hit.
    h.get_by_label_contains(&format!("网格 · {name}"));
    h.key_press(egui::Key::Enter);
    settle(&mut h);
    assert_eq!(h.state().selection, Some(Selection::Unit(Level::Grid, 100)));
    assert_ne!(h.state().screen_pos(130.3, 46.8).unwrap(), zoom_before, "the map moved");
    // The grid is now in view, near the middle.
    let (lon, lat) = {
        let l = h.state().loaded().unwrap();
        let a = l.geometry.outlines[0].anchor[100].unwrap();
        gridcentre_core::render::unmercator(a[0], a[1])
    };
    let p = h.state().screen_pos(lon, lat).unwrap();
    assert!((400.0..1600.0).contains(&p.x) && (0.0..950.0).contains(&p.y), "{p:?}");
}

#[test]
fn a_category_filter_recomputes_the_tables_off_the_ui_thread() {
    let mut h = harness();
    let all = h.state().loaded().unwrap().table(Level::City).total.counts.accepted;
    // The filter's toggle (the legend lists the category too, lower down).
    let toggle = h.get_all_by_label("城建物业").min_by(|a, b| a.rect().top().total_cmp(&b.rect().top())).unwrap();
    toggle.click();
    settle(&mut h);
    let l = h.state().loaded().unwrap();
    let filter = Filter { categories: vec!["城建物业".into()], ..Filter::default() };
    let want = unit_table(&l.ds, Level::District, &filter, &IndicatorConfig::default(), l.as_of_ms).unwrap();
    let got = l.table(Level::District);
    assert!(got.total.counts.accepted < all);
    for (a, b) in got.rows.iter().zip(&want.rows) {
        assert_eq!(a.counts, b.counts, "{}", a.name);
    }
    // The table on screen shows the filtered total; the points follow the filter too.
    let total = got.total.counts.accepted.to_string();
    assert!(h.query_all_by_label(&total).count() >= 2);
    let cat = l.ds.incidents.categories.get("城建物业").unwrap();
    assert!(l.derived.points.category.iter().all(|&c| c == cat));
    h.get_by_label("清除筛选").click();
    settle(&mut h);
    assert_eq!(h.state().loaded().unwrap().table(Level::City).total.counts.accepted, all);
}

#[test]
fn toggling_layers_turns_on_the_heatmap_computed_in_the_background() {
    let mut h = harness();
    assert!(h.state().heat_raster().is_none());
    h.get_by_label("图层").click();
    h.run();
    h.get_by_label("热力图").click();
    settle(&mut h);
    assert!(h.state().settings.layers.heatmap);
    let r = h.state().heat_raster().expect("a heat raster");
    assert!(r.values.iter().any(|v| *v > 0.0));
    h.get_by_label("热力: 事件密度");
    // Other layers switch off and on.
    for label in ["网格着色", "名称标注", "事件点"] {
        h.get_by_label(label).click();
        h.run();
    }
    let ly = &h.state().settings.layers;
    assert!(!ly.choropleth && !ly.labels && !ly.points);
    assert!(h.query_by_label("≥ 99.5%").is_none(), "no choropleth legend without the choropleth");
}

#[test]
fn the_load_report_is_one_click_away_and_names_the_rejections() {
    let mut h = harness();
    h.get_by_label("加载报告").click();
    h.run();
    assert!(h.state().show_report);
    h.get_by_label_contains("60000 rows read, 59991 loaded, 9 rejected");
    h.get_by_label_contains("status not mapped");
}

// ---- Analysis views: the centre table (drill-down, sorting, filter) and exports. ----

use gridcentre::app::analysis_view::{ExportWhat, ViewMode};
use gridcentre_core::analysis::{Measure, SortKey, sort_order};
use gridcentre_core::charts::ChartKind;
use gridcentre_core::export::TableFormat;

fn table_rows(h: &mut Harness<'static, GridCentreApp>) -> (Level, Vec<String>, u64) {
    let c = h.state_mut().table_view().unwrap();
    (c.table.level, c.order.iter().map(|&i| c.table.rows[i].code.to_string()).collect(), c.table.total.counts.accepted)
}

#[test]
fn the_table_view_drills_from_districts_to_streets_and_back_up_the_breadcrumb() {
    let mut h = harness();
    h.get_by_label("统计表").click();
    h.run();
    let ds = h.state().loaded().unwrap().ds.clone();
    let districts = ds.layer.units(Level::District);
    for d in districts {
        assert!(h.query_all_by_label(&d.name).count() >= 2, "{} in the overview and the table", d.name);
    }
    // Drill into the first district with its row's ›.
    let arrows: Vec<_> = h.query_all_by_label("›").collect();
    assert_eq!(arrows.len(), districts.len(), "one › per district row");
    arrows[0].click();
    h.run();
    let (level, codes, total) = table_rows(&mut h);
    assert_eq!(level, Level::Street);
    let streets = ds.layer.units(Level::Street);
    assert!(codes.iter().all(|c| streets.iter().any(|s| *s.code == **c && s.parent == Some(0))), "{codes:?}");
    assert_eq!(codes.len(), streets.iter().filter(|s| s.parent == Some(0)).count());
    // Its total is the district's row in the core's district table, and it is on screen.
    let cfg = IndicatorConfig::default();
    let as_of = h.state().loaded().unwrap().as_of_ms;
    let district_table = unit_table(&ds, Level::District, &Filter::default(), &cfg, as_of).unwrap();
    assert_eq!(total, district_table.rows[0].counts.accepted);
    assert!(h.query_all_by_label("合计").count() >= 2, "total rows of the overview and the table");
    // The breadcrumb names the district; 全市 goes back up.
    assert!(h.query_all_by_label(&districts[0].name).count() >= 1);
    h.get_by_label("全市").click();
    h.run();
    let (level, codes, _) = table_rows(&mut h);
    assert_eq!(level, Level::District);
    assert_eq!(codes.len(), districts.len());
    // The grid selected on the map scopes the table to its community's grids.
    h.state_mut().select(Selection::Unit(Level::Grid, 0));
    settle(&mut h);
    let community = ds.layer.grid_unit[Level::Community.index()][0];
    let name = &ds.layer.units(Level::Community)[community as usize].name;
    h.get_by_label(&format!("范围设为所选: {name}")).click();
    h.run();
    let (level, codes, _) = table_rows(&mut h);
    assert_eq!(level, Level::Grid);
    let grids: Vec<String> =
        ds.layer.grids_of(Level::Community, community).iter().map(|&g| ds.layer.grids[g as usize].code.clone()).collect();
    assert_eq!(codes, grids);
}

#[test]
fn clicking_a_column_header_sorts_by_it_and_again_reverses() {
    let mut h = harness();
    h.get_by_label("统计表").click();
    h.run();
    // The level buttons of the scope bar come after the left panel's.
    h.get_all_by_label("街道").last().unwrap().click();
    h.run();
    h.get_all_by_label("办结率").last().unwrap().click();
    h.run();
    assert_eq!(h.state().settings.analysis.sort, SortKey::Measure(Measure::CompletionRate));
    let (_, codes, _) = table_rows(&mut h);
    let t = h.state().loaded().unwrap().table(Level::Street).clone();
    let expected: Vec<String> = sort_order(&t.rows, SortKey::Measure(Measure::CompletionRate), true)
        .iter()
        .map(|&i| t.rows[i].code.to_string())
        .collect();
    assert_eq!(codes, expected);
    let rates: Vec<f64> =
        codes.iter().filter_map(|c| t.rows.iter().find(|r| *r.code == **c).unwrap().figures.completion_rate).collect();
    assert!(rates.windows(2).all(|w| w[0] >= w[1]), "{rates:?}");
    h.get_by_label("办结率 ▼").click();
    h.run();
    let (_, again, _) = table_rows(&mut h);
    let rates: Vec<f64> =
        again.iter().filter_map(|c| t.rows.iter().find(|r| *r.code == **c).unwrap().figures.completion_rate).collect();
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
    h.get_by_label("办结率 ▲");
}

#[test]
fn a_filter_change_updates_the_table_view_to_the_core_figures() {
    let mut h = harness();
    h.get_by_label("统计表").click();
    h.run();
    h.get_by_label("社会治安").click();
    settle(&mut h);
    let (_, codes, total) = table_rows(&mut h);
    let l = h.state().loaded().unwrap();
    let f = Filter { categories: vec!["社会治安".into()], ..Filter::default() };
    let expected = unit_table(&l.ds, Level::District, &f, &IndicatorConfig::default(), l.as_of_ms).unwrap();
    assert_eq!(total, expected.total.counts.accepted);
    assert_eq!(codes.len(), expected.rows.len());
    assert!(h.query_all_by_label(&expected.total.counts.accepted.to_string()).count() >= 2);
    for r in &expected.rows {
        let shown = Measure::CompletionRate.format(r.figures.completion_rate);
        assert!(h.query_all_by_label(&shown).count() >= 1, "{} {shown}", r.name);
    }
}

#[test]
fn exports_write_the_table_the_charts_and_a_report_asking_before_replacing() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness();
    h.get_by_label("统计表").click();
    h.run();
    // The table as shown: sorted by accepted, read back from the XLSX and the CSV.
    h.get_all_by_label("受理数").last().unwrap().click();
    h.run();
    let ctx = h.ctx.clone();
    let xlsx = dir.path().join("表.xlsx");
    let csv = dir.path().join("表.csv");
    assert!(h.state_mut().export_to(ExportWhat::Table(TableFormat::Xlsx), xlsx.clone(), &ctx));
    assert!(h.state_mut().export_to(ExportWhat::Table(TableFormat::Csv), csv.clone(), &ctx));
    settle(&mut h);
    let t = h.state().loaded().unwrap().table(Level::District).clone();
    let order = sort_order(&t.rows, SortKey::Measure(Measure::Accepted), true);
    use calamine::Reader;
    let mut wb = calamine::open_workbook_auto(&xlsx).unwrap();
    let range = wb.worksheet_range("区县统计").unwrap();
    let header: Vec<String> = range.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    let col = |zh: &str| header.iter().position(|h| h == zh).unwrap();
    for (k, &i) in order.iter().enumerate() {
        let row = range.rows().nth(k + 1).unwrap();
        assert_eq!(row[col("编码")].to_string(), &*t.rows[i].code);
        assert_eq!(row[col("受理数")], calamine::Data::Float(t.rows[i].counts.accepted as f64));
        assert_eq!(row[col("办结率")], calamine::Data::Float(t.rows[i].figures.completion_rate.unwrap()));
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("\u{feff}level,code"));
    for (k, &i) in order.iter().enumerate() {
        assert!(lines[k + 1].starts_with(&format!("district,{},{},", t.rows[i].code, t.rows[i].name)), "{}", lines[k + 1]);
    }
    // The charts view: its trend chart as SVG (Chinese kept) and PNG.
    h.get_by_label("图表").click();
    settle(&mut h);
    h.get_by_label("全市 受理与办结趋势（按月）");
    let svg = dir.path().join("趋势.svg");
    let png = dir.path().join("类别.png");
    assert!(h.state_mut().export_to(ExportWhat::Chart(ChartKind::Trend, true), svg.clone(), &ctx));
    assert!(h.state_mut().export_to(ExportWhat::Chart(ChartKind::Categories, false), png.clone(), &ctx));
    settle(&mut h);
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.contains("全市 受理与办结趋势（按月）") && s.contains("受理数") && s.contains("办结率"));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    // A report into a folder that has files: asked first, written after 覆盖.
    let folder = dir.path().to_path_buf();
    assert!(h.state_mut().export_to(ExportWhat::Report, folder.clone(), &ctx));
    h.run_steps(2);
    h.get_by_label("覆盖确认");
    assert!(!folder.join("index.html").exists(), "nothing written before the answer");
    h.get_by_label("覆盖").click();
    settle(&mut h);
    assert!(folder.join("index.html").exists() && folder.join("table.xlsx").exists());
    let notice = h.state().notice.clone().unwrap();
    assert!(notice.0.contains("已导出") && !notice.1, "{notice:?}");
    assert_eq!(h.state().settings.view_mode, ViewMode::Charts);
}

/// Live mode from a feed file: a new incident and a change to a known one arrive, the figures
/// move (city accepted +1, closed +1), the ticker lists both, the new one flashes, a case that
/// passes its deadline raises an overdue alert, a garbage line is quarantined, and the status
/// bar names the source and its state. Then the same through the connect form.
#[test]
fn a_live_feed_moves_the_figures_lists_events_and_raises_overdue_alerts() {
    use gridcentre::app::live::LiveClock;
    use gridcentre_core::source::SourceSpec;
    use gridcentre_core::status::Status;
    use gridcentre_core::timeparse::{HOUR_MS, format_ms};
    let mut h = harness();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.csv");
    let (open_id, open_lon, open_lat, latest, before) = {
        let l = h.state().loaded().unwrap();
        let inc = &l.ds.incidents;
        let latest = l.ds.latest_time();
        // An open case within its deadline (closing it changes no overdue figure).
        let i = (0..inc.len())
            .find(|&i| {
                inc.status[i] == Status::Handling
                    && inc.deadline_ms[i].is_some_and(|d| d > latest + 3 * HOUR_MS)
                    && inc.has_location(i)
                    && l.ds.grid_of[i] != u32::MAX
            })
            .unwrap();
        (inc.id[i].to_string(), inc.lon[i], inc.lat[i], latest, l.table(Level::City).total.counts)
    };
    let t = |ms: i64| format_ms(ms);
    let body = format!(
        "id,category,source,status,reported_at,deadline,closed_at,lon,lat\n\
         LIVE-1,城建物业,网格员上报,已受理,{},{},,{open_lon},{open_lat}\n\
         {open_id},城建物业,网格员上报,已办结,{},,{},{open_lon},{open_lat}\n\
         LIVE-2,民生服务,12345热线,已受理,{},,,{open_lon},{open_lat}\n\
         this line is no record\n",
        t(latest - HOUR_MS),
        t(latest + HOUR_MS),
        t(latest - 100 * HOUR_MS),
        t(latest),
        t(latest + 2 * HOUR_MS),
    );
    std::fs::write(&feed, body).unwrap();
    let ctx = h.ctx.clone();
    assert!(!h.state().settings.alert_sound, "the chime is off by default");
    h.state_mut().settings.alert_sound = true;
    h.state_mut().start_live(&ctx, SourceSpec::File(feed.clone()), LiveClock::Data);
    let started = std::time::Instant::now();
    while h.state().live.as_ref().unwrap().counters.events < 4 {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(started.elapsed().as_secs() < 20, "the feed did not arrive");
    }
    h.run_steps(3);
    let lv = h.state().live.as_ref().unwrap();
    assert_eq!((lv.counters.new, lv.counters.updated, lv.counters.quarantined), (2, 1, 1));
    let ids: Vec<&str> = lv.ticker.iter().map(|t| t.id.as_str()).collect();
    assert!(ids.contains(&"LIVE-1") && ids.contains(&"LIVE-2") && ids.contains(&open_id.as_str()), "{ids:?}");
    assert_eq!(lv.flashes.len(), 2, "the two new incidents flash");
    assert_eq!(lv.alerts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["LIVE-1"], "LIVE-1 passed its deadline");
    let after = h.state().loaded().unwrap().table(Level::City).total.counts;
    assert_eq!(after.accepted, before.accepted + 2);
    assert_eq!(after.closed, before.closed + 1);
    assert_eq!(after.overdue_open, before.overdue_open + 1, "LIVE-1 is overdue and open");
    h.get_by_label_contains("实时接入");
    h.get_by_label_contains("事件 4");
    h.get_by_label_contains("隔离 1");
    h.get_by_label("超期预警");
    assert_eq!(h.query_all_by_label_contains("LIVE-1  城建物业").count(), 2, "in the ticker and in the alerts");
    h.get_by_label_contains("时限");
    assert_eq!(h.state().chime.rung, 1, "the overdue alert chimed once");
    // The switch beside the alerts turns the chime off; the same alert again stays silent.
    h.get_by_label("声音提醒").click();
    h.run();
    assert!(!h.state().settings.alert_sound);
    h.state_mut().chime = gridcentre::app::sound::Chime::counting();
    // Disconnect, then connect again through the form (File ▸ 实时接入…).
    h.get_by_label("文件").click();
    h.run();
    h.get_by_label("断开实时接入").click();
    h.run();
    assert!(h.state().live.is_none());
    h.get_by_label("文件").click();
    h.run();
    h.get_by_label("实时接入…").click();
    h.run();
    let src = feed.to_str().unwrap().to_string();
    h.get_by_role_and_label(egui::accesskit::Role::PasswordInput, "密码");
    let field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "数据源");
    field.focus();
    field.type_text(&src);
    h.run();
    h.get_by_label("数据时间（回放演示）").click();
    h.run();
    h.get_by_label("连接").click();
    h.run();
    let started = std::time::Instant::now();
    while h.state().live.as_ref().is_none_or(|lv| lv.counters.events < 4) {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(started.elapsed().as_secs() < 20, "the feed did not arrive through the form");
    }
    h.run_steps(3);
    assert_eq!(h.state().live.as_ref().unwrap().alerts.len(), 1, "LIVE-1 is overdue again");
    assert_eq!(h.state().chime.rung, 0, "but the chime is off");
}

/// The app keeps a checkpoint of a live feed: after disconnecting (or a restart), connecting the
/// same source again resumes from it, reading nothing twice.
#[test]
fn a_live_feed_resumes_from_the_apps_checkpoint() {
    use gridcentre::app::live::LiveClock;
    use gridcentre_core::source::SourceSpec;
    let mut h = harness();
    let dir = tempfile::tempdir().unwrap();
    h.state_mut().live_state_root = Some(dir.path().join("live"));
    let feed = dir.path().join("feed.csv");
    std::fs::write(&feed, "id,category,status,reported_at,lon,lat\nCK-1,城建物业,已受理,2026-10-31 08:00:00,130.36,46.78\nCK-2,民生服务,已受理,2026-10-31 09:00:00,130.37,46.79\n").unwrap();
    let ctx = h.ctx.clone();
    let wait_events = |h: &mut Harness<'static, GridCentreApp>, n: u64| {
        let started = std::time::Instant::now();
        while h.state().live.as_ref().is_none_or(|lv| lv.counters.events < n) {
            h.step();
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(started.elapsed().as_secs() < 20, "events did not arrive");
        }
    };
    h.state_mut().start_live(&ctx, SourceSpec::File(feed.clone()), LiveClock::Data);
    wait_events(&mut h, 2);
    let accepted = h.state().loaded().unwrap().table(Level::City).total.counts.accepted;
    h.state_mut().stop_live();
    // The live thread saves its checkpoint as it stops.
    let started = std::time::Instant::now();
    while std::fs::read_dir(dir.path().join("live")).map(|rd| rd.count()).unwrap_or(0) == 0
        || !std::fs::read_dir(dir.path().join("live")).unwrap().flatten().any(|d| d.path().join("CURRENT").exists())
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(started.elapsed().as_secs() < 10, "no checkpoint");
    }
    // One more event while disconnected; connecting again reads only it.
    let mut f = std::fs::OpenOptions::new().append(true).open(&feed).unwrap();
    std::io::Write::write_all(&mut f, "CK-3,社会治安,已受理,2026-10-31 10:00:00,130.36,46.78\n".as_bytes()).unwrap();
    drop(f);
    h.state_mut().start_live(&ctx, SourceSpec::File(feed.clone()), LiveClock::Data);
    wait_events(&mut h, 3);
    h.run_steps(3);
    let lv = h.state().live.as_ref().unwrap();
    assert!(lv.resumed.as_deref().is_some_and(|r| r.starts_with("resumed")), "{:?}", lv.resumed);
    assert_eq!((lv.counters.events, lv.counters.new), (3, 3), "CK-1 and CK-2 from the checkpoint, CK-3 read");
    assert_eq!(lv.ticker.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["CK-3"]);
    assert_eq!(h.state().loaded().unwrap().table(Level::City).total.counts.accepted, accepted + 1);
}
