//! Map layers on the bundled sample city: points and clusters agree with the statistics,
//! outlines cover every unit, search finds what it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use gridcentre_core::crs::Crs;
use gridcentre_core::layers::{FINE_LEVEL, PointLayer, SearchHit, display_mercator, search, unit_outlines};
use gridcentre_core::model::Level;
use gridcentre_core::pipeline::{Dataset, Sources};
use gridcentre_core::stats::{Filter, IndicatorConfig, unit_table};
use gridcentre_core::status::Status;

fn sample() -> Dataset {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample-data");
    common::load_ok(&Sources {
        grids: dir.join("grids.geojson"),
        incidents: Some(dir.join("incidents.csv")),
        ..Sources::default()
    })
}

#[test]
fn points_and_clusters_count_what_the_statistics_count() {
    let ds = sample();
    let cfg = IndicatorConfig::default();
    let as_of = ds.latest_time();
    for filter in [
        Filter::default(),
        Filter { categories: vec!["城建物业".into()], ..Filter::default() },
        Filter { statuses: vec![Status::Handling, Status::Dispatched], ..Filter::default() },
    ] {
        let sel = filter.select(&ds).unwrap();
        let layer = PointLayer::build(&ds, &sel, &cfg, as_of, Crs::Wgs84);
        assert_eq!(layer.len() + layer.without_location, sel.len());
        let no_loc = sel.iter().filter(|&&i| !ds.incidents.has_location(i as usize)).count();
        assert_eq!(layer.without_location, no_loc);
        assert!(no_loc > 0, "the sample has incidents without coordinates");
        for z in [0, 8, 12, FINE_LEVEL] {
            assert_eq!(layer.clusters(z).iter().map(|c| c.count as usize).sum::<usize>(), layer.len());
        }
        // Overdue open cases on the map = the polars table's overdue_open, less those that have
        // no location (and so are in the table but cannot be drawn).
        let city = unit_table(&ds, Level::City, &filter, &cfg, as_of).unwrap();
        let drawn: u64 = layer.clusters(0).iter().map(|c| c.overdue as u64).sum();
        let limits = cfg.category_limits(&ds.incidents);
        let hidden = sel
            .iter()
            .filter(|&&i| {
                !ds.incidents.has_location(i as usize)
                    && IndicatorConfig::is_overdue_open(&ds.incidents, i as usize, &limits, as_of)
            })
            .count() as u64;
        assert_eq!(drawn + hidden, city.total.counts.overdue_open, "{}", filter.describe(&ds));
        assert!(drawn > 0);
    }
}

#[test]
fn gcj02_display_moves_points_by_the_published_offset() {
    let ds = sample();
    let sel = Filter::default().select(&ds).unwrap();
    let cfg = IndicatorConfig::default();
    let w = PointLayer::build(&ds, &sel, &cfg, 0, Crs::Wgs84);
    let g = PointLayer::build(&ds, &sel, &cfg, 0, Crs::Gcj02);
    let j = w.incident.iter().position(|&i| i == g.incident[0]).unwrap();
    let i = g.incident[0] as usize;
    assert_eq!([g.x[0], g.y[0]], display_mercator(Crs::Gcj02, ds.incidents.lon[i], ds.incidents.lat[i]));
    // Jiamusi: GCJ-02 is several hundred metres off WGS84 (Mercator units ≈ 2.7e-8 per metre here).
    let d = ((g.x[0] - w.x[j]).powi(2) + (g.y[0] - w.y[j]).powi(2)).sqrt() * 40_075_016.0 * 46.8f64.to_radians().cos();
    assert!((100.0..1000.0).contains(&d), "{d} m");
}

#[test]
fn outlines_and_anchors_exist_for_every_unit() {
    let ds = sample();
    for level in [Level::District, Level::Street, Level::Community] {
        let o = unit_outlines(&ds.layer, level, Crs::Wgs84);
        let n = ds.layer.units(level).len();
        assert_eq!(o.anchor.len(), n);
        assert_eq!(o.bbox.len(), n);
        for u in 0..n as u32 {
            assert!(o.rings.iter().any(|(v, r)| *v == u && r.len() >= 4), "{level:?} {u} has a ring");
            // The label anchor lies inside the unit: its grid is one of the unit's grids.
            let a = o.anchor[u as usize].unwrap();
            let (lon, lat) = gridcentre_core::render::unmercator(a[0], a[1]);
            let g = ds.index.locate(lon, lat).map(|h| h.grid);
            if let Some(g) = g {
                assert_eq!(ds.layer.grid_unit[level.index()][g as usize], u, "{level:?} {u}");
            }
        }
    }
}

#[test]
fn search_finds_grids_communities_and_incidents() {
    let ds = sample();
    let grid = &ds.layer.grids[17];
    let hits = search(&ds, &grid.code, 10);
    assert_eq!(hits[0], SearchHit::Unit { level: Level::Grid, unit: 17 });
    let community = &ds.layer.units(Level::Community)[3];
    let hits = search(&ds, &community.name, 10);
    assert!(hits.contains(&SearchHit::Unit { level: Level::Community, unit: 3 }));
    let id = &ds.incidents.id[1234];
    assert_eq!(search(&ds, id, 5)[0], SearchHit::Incident { index: 1234 });
    assert!(search(&ds, "   ", 5).is_empty());
    assert!(search(&ds, "no such thing at all", 5).is_empty());
}
