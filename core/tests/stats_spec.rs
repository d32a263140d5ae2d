//! The indicator definitions (口径), checked on a small city whose every figure is worked out
//! by hand, and the polars aggregation checked against a plain loop on random data.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use geo::{LineString, MultiPolygon, Polygon, Rect};
use gridcentre_core::model::{Grid, GridLayer, GridParents, Incidents, Level, Satisfaction};
use gridcentre_core::pipeline::Dataset;
use gridcentre_core::sample::SplitMix64;
use gridcentre_core::stats::{Bucket, CompletionBasis, Filter, IndicatorConfig, by_category, counts_by, trend, unit_table};
use gridcentre_core::status::Status;
use gridcentre_core::timeparse::{CST_OFFSET_MIN, HOUR_MS, parse_datetime};

fn t(s: &str) -> i64 {
    parse_datetime(s, CST_OFFSET_MIN).unwrap()
}

fn square(code: &str, x0: f64) -> Grid {
    let ls = LineString::from(vec![(x0, 46.0), (x0 + 0.01, 46.0), (x0 + 0.01, 46.01), (x0, 46.01), (x0, 46.0)]);
    Grid {
        code: code.into(),
        name: code.into(),
        bbox: Rect::new((x0, 46.0), (x0 + 0.01, 46.01)),
        geometry: MultiPolygon::new(vec![Polygon::new(ls, vec![])]),
        area_km2: 2.0,
        households: Some(100),
        worker: None,
        phone: None,
        feature: 1,
    }
}

fn parents(community: &str) -> GridParents {
    GridParents {
        community: (String::new(), community.into()),
        street: ("s1".into(), "长安街道".into()),
        district: ("230803".into(), "向阳区".into()),
        city: ("230800".into(), "佳木斯市".into()),
    }
}

struct Row {
    grid: Option<usize>,
    cat: &'static str,
    status: Status,
    reported: &'static str,
    closed: Option<&'static str>,
    deadline: Option<&'static str>,
    sat: Satisfaction,
}

fn city(rows: &[Row]) -> Dataset {
    let layer = GridLayer::build(vec![square("g1", 130.0), square("g2", 130.01)], vec![parents("和平社区"), parents("幸福社区")]);
    let mut inc = Incidents::default();
    for (i, r) in rows.iter().enumerate() {
        inc.id.push(&format!("E{i}"));
        let c = inc.categories.intern(r.cat);
        inc.category.push(c);
        let s = inc.sources.intern(if i % 2 == 0 { "网格员上报" } else { "12345热线" });
        inc.source.push(s);
        let d = inc.departments.intern("");
        inc.department.push(d);
        inc.status.push(r.status);
        inc.reported_ms.push(t(r.reported));
        inc.closed_ms.push(r.closed.map(t));
        inc.deadline_ms.push(r.deadline.map(t));
        inc.satisfaction.push(r.sat);
        let (x, y) = match r.grid {
            Some(g) => (130.005 + 0.01 * g as f64, 46.005),
            None => (f64::NAN, f64::NAN),
        };
        inc.lon.push(x);
        inc.lat.push(y);
        inc.grid_code.push(gridcentre_core::model::NO_CODE);
        inc.source_row.push(i as u32 + 2);
    }
    Dataset::new(layer, inc, vec![])
}

use Satisfaction::{Basic, Satisfied, Unrated, Unsatisfied};

fn rows() -> Vec<Row> {
    let r = |grid, cat, status, reported, closed, deadline, sat| Row { grid, cat, status, reported, closed, deadline, sat };
    vec![
        // g1: closed on time, satisfied
        r(Some(0), "民生服务", Status::Closed, "2026-03-02 08:00", Some("2026-03-02 20:00"), Some("2026-03-05 08:00"), Satisfied),
        // g1: closed late (overdue closed), basic satisfied
        r(Some(0), "民生服务", Status::Closed, "2026-03-03 08:00", Some("2026-03-10 08:00"), Some("2026-03-06 08:00"), Basic),
        // g1: open, past deadline at the as-of time (overdue open)
        r(Some(0), "城建物业", Status::Handling, "2026-03-04 08:00", None, Some("2026-03-07 08:00"), Unrated),
        // g1: open, still inside its limit
        r(Some(0), "城建物业", Status::Dispatched, "2026-03-09 08:00", None, Some("2026-03-20 08:00"), Unrated),
        // g1: rejected (not accepted)
        r(Some(0), "城建物业", Status::Rejected, "2026-03-09 09:00", None, None, Unrated),
        // g2: closed, no deadline, unsatisfied
        r(Some(1), "社会治安", Status::Closed, "2026-03-09 10:00", Some("2026-03-09 14:00"), None, Unsatisfied),
        // unassigned: open, no deadline
        r(None, "社会治安", Status::Accepted, "2026-03-10 10:00", None, None, Unrated),
    ]
}

const AS_OF: &str = "2026-03-12 00:00";

#[test]
fn the_accepted_basis_divides_by_accepted_and_on_time_by_accepted_with_a_deadline() {
    let ds = city(&rows());
    let tab = unit_table(&ds, Level::Grid, &Filter::default(), &IndicatorConfig::default(), t(AS_OF)).unwrap();
    let g1 = &tab.rows[0];
    assert_eq!((g1.counts.incidents, g1.counts.accepted, g1.counts.rejected, g1.counts.closed), (5, 4, 1, 2));
    assert_eq!(g1.figures.completion_rate, Some(0.5));
    assert_eq!((g1.counts.closed_on_time, g1.counts.with_deadline), (1, 4));
    assert_eq!(g1.figures.on_time_rate, Some(0.25));
    assert_eq!((g1.counts.overdue_open, g1.counts.overdue_closed, g1.counts.overdue()), (1, 1, 2));
    // (12 h + 168 h) / 2
    assert_eq!(g1.figures.mean_handling_hours, Some(90.0));
    assert_eq!((g1.counts.satisfied, g1.counts.rated), (2, 2));
    assert_eq!(g1.figures.satisfaction_rate, Some(1.0));
    assert_eq!(g1.figures.density_per_km2, Some(2.0));
    assert_eq!(g1.figures.per_1000_households, Some(40.0), "4 accepted in 100 households");
    let g2 = &tab.rows[1];
    assert_eq!(g2.figures.completion_rate, Some(1.0));
    assert_eq!(g2.figures.on_time_rate, None, "no incident with a deadline: no data, not 0 %");
    assert_eq!(g2.figures.satisfaction_rate, Some(0.0));
    assert_eq!(tab.unassigned.counts.accepted, 1);
    assert_eq!(tab.unassigned.figures.completion_rate, Some(0.0));
    assert_eq!(tab.total.counts.incidents, 7);
    assert_eq!(tab.total.counts.closed, 3);
    assert_eq!(tab.total.area_km2, Some(4.0));
}

#[test]
fn the_should_close_basis_leaves_out_open_cases_still_inside_their_limit() {
    let ds = city(&rows());
    let cfg = IndicatorConfig::should_close();
    assert_eq!(cfg.completion_basis, CompletionBasis::ShouldClose);
    let tab = unit_table(&ds, Level::Grid, &Filter::default(), &cfg, t(AS_OF)).unwrap();
    let g1 = &tab.rows[0];
    // accepted 4, one open inside its limit → should close 3.
    assert_eq!(g1.counts.should_close(), 3);
    assert_eq!(g1.figures.completion_rate, Some(2.0 / 3.0));
    assert_eq!(g1.figures.on_time_rate, Some(1.0 / 3.0));
    assert!(tab.definition.contains("应结案数"));
    // Later, the open case passes its deadline and counts as should-close and overdue.
    let later = unit_table(&ds, Level::Grid, &Filter::default(), &cfg, t("2026-03-21 00:00")).unwrap();
    assert_eq!(later.rows[0].counts.should_close(), 4);
    assert_eq!(later.rows[0].counts.overdue_open, 2);
}

#[test]
fn category_time_limits_give_deadlines_to_incidents_without_one() {
    let ds = city(&rows());
    let mut cfg = IndicatorConfig::default();
    cfg.deadline_hours.insert("社会治安".into(), 2.0);
    let tab = unit_table(&ds, Level::Grid, &Filter::default(), &cfg, t(AS_OF)).unwrap();
    // g2's 4-hour case now has a 2-hour limit: closed late.
    assert_eq!(tab.rows[1].counts.with_deadline, 1);
    assert_eq!(tab.rows[1].figures.on_time_rate, Some(0.0));
    assert_eq!(tab.rows[1].counts.overdue_closed, 1);
    // The unassigned open case is past its 2-hour limit.
    assert_eq!(tab.unassigned.counts.overdue_open, 1);
    assert!(tab.definition.contains("社会治安 2h"));
}

#[test]
fn upper_levels_sum_their_grids_and_the_filter_narrows_everything() {
    let ds = city(&rows());
    let cfg = IndicatorConfig::default();
    let street = unit_table(&ds, Level::Street, &Filter::default(), &cfg, t(AS_OF)).unwrap();
    assert_eq!(street.rows.len(), 1);
    assert_eq!(street.rows[0].counts.incidents, 6);
    assert_eq!(&*street.rows[0].parent_name, "向阳区");
    let f = Filter { categories: vec!["城建物业".into()], ..Filter::default() };
    let tab = unit_table(&ds, Level::Grid, &f, &cfg, t(AS_OF)).unwrap();
    assert_eq!((tab.rows[0].counts.incidents, tab.rows[1].counts.incidents), (3, 0));
    assert_eq!(tab.rows[1].figures.completion_rate, None);
    let f = Filter { from_ms: Some(t("2026-03-09 00:00")), to_ms: Some(t("2026-03-10 00:00")), ..Filter::default() };
    assert_eq!(unit_table(&ds, Level::City, &f, &cfg, t(AS_OF)).unwrap().total.counts.incidents, 3);
    let f = Filter { statuses: vec![Status::Closed], sources: vec!["网格员上报".into()], ..Filter::default() };
    // Closed: E0, E1, E5; from grid workers (even rows): E0 only.
    assert_eq!(unit_table(&ds, Level::City, &f, &cfg, t(AS_OF)).unwrap().total.counts.incidents, 1);
    let community = ds.layer.find(Level::Community, "幸福社区").unwrap();
    let f = Filter { unit: Some((Level::Community, community)), ..Filter::default() };
    let tab = unit_table(&ds, Level::Grid, &f, &cfg, t(AS_OF)).unwrap();
    assert_eq!(tab.rows.len(), 1, "only the grids inside the selected community");
    assert_eq!(tab.total.counts.incidents, 1);
    assert!(tab.filter.contains("幸福社区"), "{}", tab.filter);
}

#[test]
fn an_unknown_category_is_an_error_listing_the_known_ones() {
    let ds = city(&rows());
    let f = Filter { categories: vec!["城建物业X".into()], ..Filter::default() };
    let e = unit_table(&ds, Level::Grid, &f, &IndicatorConfig::default(), 0).unwrap_err();
    assert!(e.to_string().contains("'城建物业X'") && e.to_string().contains("民生服务"), "{e}");
}

#[test]
fn trends_fill_empty_buckets_and_weeks_start_on_monday() {
    let ds = city(&rows());
    let cfg = IndicatorConfig::default();
    let days = trend(&ds, &Filter::default(), Bucket::Day, &cfg, t(AS_OF)).unwrap();
    assert_eq!(days.first().map(|b| b.label.as_str()), Some("2026-03-02"));
    assert_eq!(days.len(), 9, "2 March to 10 March");
    assert_eq!(days[5].counts.incidents, 0, "7 March is empty but present");
    assert_eq!(days[7].counts.incidents, 3);
    let weeks = trend(&ds, &Filter::default(), Bucket::Week, &cfg, t(AS_OF)).unwrap();
    // 2026-03-02 is a Monday; 9 March starts the second week.
    assert_eq!(
        weeks.iter().map(|b| (b.label.as_str(), b.counts.incidents)).collect::<Vec<_>>(),
        [("2026-03-02", 3), ("2026-03-09", 4)]
    );
    let months = trend(&ds, &Filter::default(), Bucket::Month, &cfg, t(AS_OF)).unwrap();
    assert_eq!(months.len(), 1);
    assert_eq!(months[0].label, "2026-03");
    assert_eq!(Bucket::Month.next(t("2026-12-01 00:00")), t("2027-01-01 00:00"));
    let cats = by_category(&ds, &Filter::default(), &cfg, t(AS_OF)).unwrap();
    assert_eq!(
        cats.iter().map(|c| (c.category.as_str(), c.counts.incidents)).collect::<Vec<_>>(),
        [("城建物业", 3), ("民生服务", 2), ("社会治安", 2)]
    );
}

#[test]
fn the_polars_aggregation_equals_a_plain_loop_on_random_data() {
    let mut rng = SplitMix64::new(7);
    let statuses = Status::ALL;
    let mut rs = Vec::new();
    let days = ["2026-03-01 00:00", "2026-03-05 00:00", "2026-03-10 00:00", "2026-03-15 00:00"];
    for _ in 0..3000 {
        rs.push(Row {
            grid: if rng.f64() < 0.1 { None } else { Some(rng.below(2)) },
            cat: ["民生服务", "城建物业", "社会治安"][rng.below(3)],
            status: *rng.pick(&statuses),
            reported: days[rng.below(2)],
            closed: if rng.f64() < 0.6 { Some(*rng.pick(&days)) } else { None },
            deadline: if rng.f64() < 0.7 { Some(*rng.pick(&days)) } else { None },
            sat: *rng.pick(&[Unrated, Satisfied, Basic, Unsatisfied]),
        });
    }
    let ds = city(&rs);
    let as_of = t("2026-03-08 00:00");
    let cfg = IndicatorConfig::default();
    let sel: Vec<u32> = (0..ds.incidents.len() as u32).collect();
    let got = counts_by(&ds, &sel, |i| ds.grid_of[i], &cfg, as_of).unwrap();
    for (key, c) in got {
        let idx: Vec<usize> = (0..rs.len()).filter(|&i| ds.grid_of[i] == key).collect();
        let inc = &ds.incidents;
        let accepted = idx.iter().filter(|&&i| inc.status[i] != Status::Rejected).count() as u64;
        let closed = idx.iter().filter(|&&i| inc.status[i] == Status::Closed).count() as u64;
        let on_time = idx
            .iter()
            .filter(|&&i| {
                inc.status[i] == Status::Closed && matches!((inc.closed_ms[i], inc.deadline_ms[i]), (Some(c), Some(d)) if c <= d)
            })
            .count() as u64;
        let overdue_open =
            idx.iter().filter(|&&i| inc.status[i].is_open() && matches!(inc.deadline_ms[i], Some(d) if d < as_of)).count() as u64;
        let hours: f64 = idx
            .iter()
            .filter_map(|&i| match (inc.status[i], inc.closed_ms[i]) {
                (Status::Closed, Some(c)) if c >= inc.reported_ms[i] => Some((c - inc.reported_ms[i]) as f64 / HOUR_MS as f64),
                _ => None,
            })
            .sum();
        let rated = idx.iter().filter(|&&i| inc.satisfaction[i] != Unrated).count() as u64;
        assert_eq!(
            (c.incidents, c.accepted, c.closed, c.closed_on_time, c.overdue_open, c.rated),
            (idx.len() as u64, accepted, closed, on_time, overdue_open, rated),
            "key {key}"
        );
        assert!((c.handling_hours_sum - hours).abs() < 1e-6);
    }
}
