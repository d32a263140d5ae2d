//! The dashboard driven as a user drives it (egui_kittest, no GPU): the real eframe `App` on the
//! bundled sample city, found by labels and clicked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gridcentre::app::GridCentreApp;
use gridcentre::app::state::{Indicator, Loaded, sample_sources};
use gridcentre_core::model::Level;
use gridcentre_core::pipeline::load;
use gridcentre_core::stats::Filter;

fn loaded() -> Loaded {
    let ds = load(&sample_sources(), &mut |_| {}).unwrap();
    Loaded::compute(ds, &Filter::default()).unwrap()
}

fn harness() -> Harness<'static, GridCentreApp> {
    let data = loaded();
    let mut h =
        Harness::builder().with_size([1600.0, 950.0]).build_eframe(move |cc| GridCentreApp::from_loaded(&cc.egui_ctx, data));
    h.run();
    h
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
    // Open the combo box and choose 超期数 in its popup (the last widget with that label).
    let before = h.query_all_by_label("超期数").count();
    h.get_by_role_and_label(egui::accesskit::Role::ComboBox, "着色指标").click();
    h.run();
    let entries: Vec<_> = h.query_all_by_label("超期数").collect();
    assert_eq!(entries.len(), before + 1, "the popup lists the indicator");
    // The popup hangs just under the top bar, above the key figures.
    entries.iter().min_by(|a, b| a.rect().top().total_cmp(&b.rect().top())).unwrap().click();
    h.run();
    assert_eq!(h.state().settings.indicator, Indicator::Overdue);
    assert!(h.query_by_label("≥ 99.5%").is_none(), "the legend now shows counts");
}

#[test]
fn choosing_a_grid_in_the_table_selects_it_and_shows_its_details() {
    let mut h = harness();
    assert!(h.state().selected.is_none());
    h.get_by_label("网格").click();
    h.run();
    let first = h.state().loaded().unwrap().table(Level::Grid).rows[0].clone();
    h.get_all_by_label(&first.name).next().unwrap().click();
    h.run();
    assert_eq!(h.state().selected, Some(0));
    h.get_by_label(&format!("网格编码 {}", first.code));
    h.get_by_label_contains("网格员");
    h.get_by_label("×").click();
    h.run();
    assert!(h.state().selected.is_none());
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
