//! The sample city: grids drawn inside the real WGS84 outlines of Jiamusi's urban districts
//! (向阳区, 前进区, 东风区 and the near part of 郊区), with streets and communities above them,
//! and a year of incidents with daily and weekly rhythms, realistic handling times, deadlines,
//! satisfaction, open and overdue cases, and a few deliberately bad rows.
//!
//! Deterministic: the same options give byte-identical files on every machine. The random
//! numbers come from SplitMix64 written here (ten lines) rather than `rand`, whose generators
//! may change between versions and would silently change the sample.

use std::f64::consts::PI;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use geo::{BooleanOps, BoundingRect, ChamberlainDuquetteArea, Coord, InteriorPoint, LineString, MultiPolygon, Polygon, Rect};

use crate::error::{CoreError, Result};
use crate::export::{csv_field, write_atomic};
use crate::model::{Grid, GridLayer, GridParents};
use crate::spatial::GridIndex;
use crate::timeparse::{DAY_MS, HOUR_MS, days_from_civil, format_ms};

/// The district outlines the sample is drawn in (see sample-data/sources/SOURCE.md).
const DISTRICTS_GEOJSON: &str = include_str!("../../sample-data/sources/jiamusi_urban_districts_wgs84.geojson");

/// The six standard categories, with their share of incidents, time limit in hours, and the
/// departments that handle them.
pub const CATEGORIES: [(&str, f64, f64, &[&str]); 6] = [
    ("党建引领", 0.05, 120.0, &["街道党工委", "社区党委"]),
    ("矛盾调处", 0.15, 72.0, &["司法所", "街道综治中心", "人民调解委员会"]),
    ("民生服务", 0.30, 72.0, &["民政局", "人社局", "社区服务站", "医保局"]),
    ("社会治安", 0.12, 24.0, &["公安分局", "派出所"]),
    ("城建物业", 0.25, 120.0, &["住建局", "物业办", "市政处", "供热公司"]),
    ("综合执法", 0.13, 48.0, &["综合执法局", "市场监管局", "城管大队"]),
];

const SOURCES: [(&str, f64); 5] =
    [("网格员上报", 0.50), ("12345热线", 0.30), ("微信小程序", 0.10), ("巡查发现", 0.07), ("领导交办", 0.03)];

const STREET_NAMES: [&str; 24] = [
    "长安",
    "建设",
    "西林",
    "保卫",
    "佳东",
    "桥南",
    "友谊",
    "光复",
    "南岗",
    "松花江",
    "站前",
    "晓云",
    "建国",
    "永安",
    "新华",
    "沿江",
    "港湾",
    "铁路",
    "杏林",
    "莲江口",
    "长青",
    "平安",
    "大来",
    "望江",
];
const COMMUNITY_NAMES: [&str; 30] = [
    "和平", "幸福", "民主", "团结", "红旗", "繁荣", "兴华", "文化", "胜利", "安居", "康乐", "阳光", "振兴", "向荣", "东方",
    "光明", "新民", "丽景", "长虹", "福源", "锦绣", "春晖", "朝阳", "华苑", "翠园", "金桥", "嘉禾", "泰和", "瑞丰", "龙祥",
];
const SURNAMES: [&str; 20] =
    ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "高", "罗"];
const GIVEN: [&str; 20] =
    ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平"];

/// How big a city to make.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Target number of grids (the result is within a few percent).
    pub grids: usize,
    pub incidents: usize,
    pub seed: u64,
    /// First day of the year of incidents (local date).
    pub start: (i64, u32, u32),
    pub days: i64,
    /// Add the deliberately bad rows the load report must catch.
    pub bad_rows: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self { grids: 1200, incidents: 60_000, seed: 20_261_101, start: (2025, 11, 1), days: 365, bad_rows: true }
    }
}

/// SplitMix64: small, fast, and fixed forever.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(1e-12);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

struct District {
    code: String,
    name: String,
    shape: MultiPolygon<f64>,
}

fn districts() -> Result<Vec<District>> {
    let root: serde_json::Value =
        serde_json::from_str(DISTRICTS_GEOJSON).map_err(|e| CoreError::Invalid(format!("bundled district outlines: {e}")))?;
    let feats = root.get("features").and_then(|f| f.as_array()).cloned().unwrap_or_default();
    let mut out = Vec::new();
    // 郊区 surrounds the city and reaches far into the country: keep only its part near town.
    let near_town = Rect::new(Coord { x: 130.20, y: 46.70 }, Coord { x: 130.52, y: 46.88 }).to_polygon();
    for f in feats {
        let props = f.get("properties").cloned().unwrap_or_default();
        let code = props.get("adcode").map(|v| v.to_string()).unwrap_or_default();
        let name = props.get("name").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let geom: geojson::Geometry = serde_json::from_value(f.get("geometry").cloned().unwrap_or_default())
            .map_err(|e| CoreError::Invalid(format!("bundled district outlines: {e}")))?;
        let shape: geo::Geometry<f64> =
            geom.try_into().map_err(|e| CoreError::Invalid(format!("bundled district outlines: {e:?}")))?;
        let mut shape = match shape {
            geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
            geo::Geometry::MultiPolygon(m) => m,
            _ => continue,
        };
        if code == "230811" {
            shape = shape.intersection(&MultiPolygon::new(vec![near_town.clone()]));
        }
        out.push(District { code, name, shape });
    }
    Ok(out)
}

/// A generated grid with its lattice position, before codes are given.
struct Cell {
    district: usize,
    ix: i64,
    iy: i64,
    shape: MultiPolygon<f64>,
}

/// Builds the grid layer of the sample city.
pub fn sample_grids(opts: &SampleOptions, rng: &mut SplitMix64) -> Result<(GridLayer, Vec<GridParents>)> {
    let ds = districts()?;
    let total_m2: f64 = ds.iter().map(|d| d.shape.chamberlain_duquette_unsigned_area()).sum();
    let cell_m = (total_m2 / opts.grids.max(1) as f64).sqrt();
    let lat0 = 46.8_f64;
    let cell_h = cell_m / 111_320.0;
    let cell_w = cell_h / lat0.to_radians().cos();
    let mut cells = Vec::new();
    for (di, d) in ds.iter().enumerate() {
        let Some(bb) = d.shape.bounding_rect() else { continue };
        let (x0, x1) = ((bb.min().x / cell_w).floor() as i64, (bb.max().x / cell_w).ceil() as i64);
        let (y0, y1) = ((bb.min().y / cell_h).floor() as i64, (bb.max().y / cell_h).ceil() as i64);
        let idx = GridIndex::build(&single_layer(&d.shape));
        for iy in y0..y1 {
            for ix in x0..x1 {
                let rect = Rect::new(
                    Coord { x: ix as f64 * cell_w, y: iy as f64 * cell_h },
                    Coord { x: (ix + 1) as f64 * cell_w, y: (iy + 1) as f64 * cell_h },
                );
                let corners = [
                    rect.min(),
                    rect.max(),
                    Coord { x: rect.min().x, y: rect.max().y },
                    Coord { x: rect.max().x, y: rect.min().y },
                ];
                let inside = corners.iter().filter(|c| idx.locate(c.x, c.y).is_some()).count();
                let shape = if inside == 4 {
                    // Likely wholly inside; the intersection settles the rare concave case.
                    MultiPolygon::new(vec![rect.to_polygon()]).intersection(&d.shape)
                } else {
                    let probe = MultiPolygon::new(vec![rect.to_polygon()]).intersection(&d.shape);
                    if probe.0.is_empty() {
                        continue;
                    }
                    probe
                };
                let a = shape.chamberlain_duquette_unsigned_area();
                if a < 0.2 * cell_m * cell_m {
                    continue; // slivers along the border join no grid
                }
                cells.push(Cell { district: di, ix, iy, shape: round_shape(shape) });
            }
        }
    }
    // Streets are blocks of 8×8 lattice cells, communities blocks of 3×3, inside each district.
    cells.sort_by_key(|c| {
        (c.district, c.iy.div_euclid(8), c.ix.div_euclid(8), c.iy.div_euclid(3), c.ix.div_euclid(3), c.iy, c.ix)
    });
    let mut grids = Vec::with_capacity(cells.len());
    let mut parents = Vec::with_capacity(cells.len());
    let (mut street_no, mut community_no, mut grid_no) = (0usize, 0usize, 0usize);
    let mut last_street: Option<(usize, i64, i64)> = None;
    let mut last_comm: Option<(i64, i64)> = None;
    let (mut street_code, mut street_name, mut comm_code, mut comm_name) =
        (String::new(), String::new(), String::new(), String::new());
    let mut street_in_district = 0;
    let mut last_district = usize::MAX;
    for c in cells {
        let d = &ds[c.district];
        if c.district != last_district {
            last_district = c.district;
            street_in_district = 0;
        }
        let skey = (c.district, c.iy.div_euclid(8), c.ix.div_euclid(8));
        let ckey = (c.iy.div_euclid(3), c.ix.div_euclid(3));
        if last_street != Some(skey) {
            last_street = Some(skey);
            last_comm = None;
            street_in_district += 1;
            street_no += 1;
            community_no = 0;
            street_code = format!("{}{:03}", d.code, street_in_district);
            street_name = format!("{}街道", STREET_NAMES[(street_no - 1) % STREET_NAMES.len()]);
            if street_no > STREET_NAMES.len() {
                street_name = format!(
                    "{}{}街道",
                    STREET_NAMES[(street_no - 1) % STREET_NAMES.len()],
                    (street_no - 1) / STREET_NAMES.len() + 1
                );
            }
        }
        if last_comm != Some(ckey) {
            last_comm = Some(ckey);
            community_no += 1;
            grid_no = 0;
            comm_code = format!("{street_code}{community_no:03}");
            comm_name = format!("{}社区", COMMUNITY_NAMES[(street_no * 7 + community_no) % COMMUNITY_NAMES.len()]);
        }
        grid_no += 1;
        let code = format!("{comm_code}{grid_no:03}");
        let name = format!("{}第{}网格", comm_name.trim_end_matches("社区"), grid_no);
        let bbox = c.shape.bounding_rect().unwrap_or(Rect::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 0.0, y: 0.0 }));
        let households = 50 + rng.below(251) as u64;
        let worker = format!("{}{}", rng.pick(&SURNAMES), rng.pick(&GIVEN));
        let phone = format!("139****{:04}", rng.below(10_000));
        let area_km2 = c.shape.chamberlain_duquette_unsigned_area() / 1e6;
        grids.push(Grid {
            code,
            name,
            geometry: c.shape,
            bbox,
            area_km2,
            households: Some(households),
            worker: Some(worker),
            phone: Some(phone),
            feature: grids.len() + 1,
        });
        parents.push(GridParents {
            community: (comm_code.clone(), comm_name.clone()),
            street: (street_code.clone(), street_name.clone()),
            district: (d.code.clone(), d.name.clone()),
            city: ("230800".into(), "佳木斯市".into()),
        });
    }
    Ok((GridLayer::build(grids, parents.clone()), parents))
}

fn single_layer(shape: &MultiPolygon<f64>) -> GridLayer {
    let bbox = shape.bounding_rect().unwrap_or(Rect::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 0.0, y: 0.0 }));
    let g = Grid {
        code: "d".into(),
        name: "d".into(),
        geometry: shape.clone(),
        bbox,
        area_km2: 0.0,
        households: None,
        worker: None,
        phone: None,
        feature: 1,
    };
    GridLayer::build(vec![g], vec![GridParents::default()])
}

/// Rounds coordinates to 7 decimals (~1 cm), as a GeoJSON file would carry them, so that the
/// written file and the in-memory grids are the same polygons.
fn round_shape(mp: MultiPolygon<f64>) -> MultiPolygon<f64> {
    let r = |v: f64| (v * 1e7).round() / 1e7;
    let ring = |ls: &LineString<f64>| {
        let mut c: Vec<Coord<f64>> = ls.coords().map(|c| Coord { x: r(c.x), y: r(c.y) }).collect();
        c.dedup();
        LineString::new(c)
    };
    MultiPolygon::new(mp.0.iter().map(|p| Polygon::new(ring(p.exterior()), p.interiors().iter().map(ring).collect())).collect())
}

/// The grid layer as GeoJSON with Chinese property names.
pub fn grids_geojson(layer: &GridLayer, parents: &[GridParents]) -> String {
    let mut out = String::from(
        "{\"type\":\"FeatureCollection\",\"name\":\"gridcentre sample city (佳木斯)\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"urn:ogc:def:crs:OGC:1.3:CRS84\"}},\"features\":[\n",
    );
    for (i, (g, p)) in layer.grids.iter().zip(parents).enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        let props = serde_json::json!({
            "网格编码": g.code, "网格名称": g.name,
            "社区编码": p.community.0, "社区": p.community.1,
            "街道编码": p.street.0, "街道": p.street.1,
            "区县编码": p.district.0, "区县": p.district.1,
            "城市": p.city.1, "户数": g.households, "网格员": g.worker, "联系电话": g.phone,
        });
        let polys: Vec<Vec<Vec<[f64; 2]>>> = g
            .geometry
            .0
            .iter()
            .map(|p| {
                std::iter::once(p.exterior()).chain(p.interiors()).map(|ls| ls.coords().map(|c| [c.x, c.y]).collect()).collect()
            })
            .collect();
        let geometry = if polys.len() == 1 {
            serde_json::json!({"type": "Polygon", "coordinates": polys[0]})
        } else {
            serde_json::json!({"type": "MultiPolygon", "coordinates": polys})
        };
        let feat = serde_json::json!({"type": "Feature", "properties": props, "geometry": geometry});
        out.push_str(&feat.to_string());
    }
    out.push_str("\n]}\n");
    out
}

/// Hour-of-day weights: quiet nights, a morning and an afternoon peak.
const HOURS: [f64; 24] =
    [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.4, 3.2, 3.4, 3.0, 1.8, 2.0, 3.0, 3.2, 3.0, 2.4, 1.6, 1.2, 1.0, 0.8, 0.5, 0.3];

/// The incident table of the sample city as CSV (UTF-8 with BOM, Chinese headers).
pub fn incidents_csv(layer: &GridLayer, opts: &SampleOptions, rng: &mut SplitMix64) -> String {
    let start_ms = days_from_civil(opts.start.0, opts.start.1, opts.start.2) * DAY_MS;
    let export_ms = start_ms + opts.days * DAY_MS;
    let centre = (130.36, 46.80);
    let weights: Vec<f64> = layer
        .grids
        .iter()
        .map(|g| {
            let c = g.bbox.center();
            let dx = (c.x - centre.0) * 76_000.0;
            let dy = (c.y - centre.1) * 111_000.0;
            let d_km = (dx * dx + dy * dy).sqrt() / 1000.0;
            g.households.unwrap_or(100) as f64 * ((-d_km / 4.0).exp() + 0.15)
        })
        .collect();
    let cumulative: Vec<f64> = weights
        .iter()
        .scan(0.0, |s, w| {
            *s += w;
            Some(*s)
        })
        .collect();
    let total_w = cumulative.last().copied().unwrap_or(1.0);
    let index = GridIndex::build(layer);
    let day_weights: Vec<f64> = (0..opts.days)
        .map(|d| {
            let weekday = (start_ms / DAY_MS + d + 3).rem_euclid(7); // 0 = Monday
            let week = if weekday >= 5 { 0.65 } else { 1.0 };
            // More heating and property complaints in the Heilongjiang winter.
            let season = 1.0 + 0.25 * (2.0 * PI * (d as f64 + 60.0) / 365.0).cos();
            week * season
        })
        .collect();
    let mut out = String::from(
        "\u{feff}事件编号,事件类别,事件来源,办理状态,上报时间,处置时限,办结时间,经度,纬度,网格编码,承办单位,满意度\n",
    );
    let mut rows: Vec<[String; 12]> = Vec::with_capacity(opts.incidents);
    for k in 0..opts.incidents {
        let x = rng.f64() * total_w;
        let g = cumulative.partition_point(|&c| c <= x).min(layer.grids.len() - 1);
        let grid = &layer.grids[g];
        let (lon, lat) = point_in(grid, g as u32, &index, rng);
        let day = rng.weighted(&day_weights) as i64;
        let hour = rng.weighted(&HOURS) as i64;
        let reported = start_ms + day * DAY_MS + hour * HOUR_MS + rng.below(3600) as i64 * 1000;
        let cat = rng.weighted(&CATEGORIES.map(|c| c.1));
        let (cat_name, _, limit_h, depts) = CATEGORIES[cat];
        let source = SOURCES[rng.weighted(&SOURCES.map(|s| s.1))].0;
        let deadline = reported + (limit_h * HOUR_MS as f64) as i64;
        // Handling time: log-normal around a third of the limit; a few cases stall.
        let stalled = rng.f64() < 0.004;
        let hours = limit_h * 0.33 * (0.75 * rng.normal()).exp();
        let closed = reported + (hours * HOUR_MS as f64) as i64;
        let rejected = rng.f64() < 0.012;
        let (status, closed_at) = if rejected {
            ("不予受理", None)
        } else if !stalled && closed <= export_ms {
            ("已办结", Some(closed))
        } else {
            let elapsed = (export_ms - reported) as f64 / (limit_h * HOUR_MS as f64);
            let s = if stalled && rng.f64() < 0.3 {
                "挂账"
            } else if elapsed < 0.05 {
                if rng.f64() < 0.5 { "已上报" } else { "已受理" }
            } else if elapsed < 0.3 {
                "已派遣"
            } else {
                "处置中"
            };
            (s, None)
        };
        let sat = match closed_at {
            Some(_) if rng.f64() < 0.75 => {
                let r = rng.f64();
                if r < 0.86 {
                    "满意"
                } else if r < 0.96 {
                    "基本满意"
                } else {
                    "不满意"
                }
            }
            _ => "",
        };
        // 2 % of records carry a neighbouring grid's code, as real systems do.
        let code = if rng.f64() < 0.02 { &layer.grids[(g + 1) % layer.grids.len()].code } else { &grid.code };
        let no_location = rng.f64() < 0.01;
        rows.push([
            format!("SJ{}{:07}", opts.start.0, k + 1),
            cat_name.to_string(),
            source.to_string(),
            status.to_string(),
            format_ms(reported),
            format_ms(deadline),
            closed_at.map(format_ms).unwrap_or_default(),
            if no_location { String::new() } else { format!("{lon:.6}") },
            if no_location { String::new() } else { format!("{lat:.6}") },
            code.clone(),
            rng.pick(depts).to_string(),
            sat.to_string(),
        ]);
    }
    rows.sort_by(|a, b| a[4].cmp(&b[4]).then_with(|| a[0].cmp(&b[0])));
    if opts.bad_rows && rows.len() > 100 {
        add_bad_rows(&mut rows);
    }
    for r in rows {
        let line: Vec<String> = r.iter().map(|f| csv_field(f)).collect();
        let _ = writeln!(out, "{}", line.join(","));
    }
    out
}

/// The deliberately bad rows: each kind of problem the load report must name.
fn add_bad_rows(rows: &mut [[String; 12]]) {
    let n = rows.len();
    let at = |k: usize| (k * 7919 + 13) % n;
    type Edit<'a> = (usize, &'a dyn Fn(&mut [String; 12]));
    let edits: [Edit; 12] = [
        (at(1), &|r| r[4] = "2026-13-45 10:00".into()), // unparsable reported_at
        (at(2), &|r| r[4] = String::new()),             // missing reported_at
        (at(3), &|r| r[3] = "待定".into()),             // status not mapped
        (at(4), &|r| r[3] = String::new()),             // missing status
        (at(5), &|r| r[7] = "130.3x".into()),           // unparsable coordinates
        (at(6), &|r| {
            r[7] = "999".into();
            r[8] = "999".into()
        }), // out of range
        (at(7), &|r| r.swap(7, 8)),                     // swapped (kept, fixed, counted)
        (at(8), &|r| r[0] = String::new()),             // missing id
        (at(9), &|r| {
            r[6] = "昨天".into();
            r[3] = "已办结".into()
        }), // unparsable closed_at
        (at(10), &|r| r[11] = "很好".into()),           // satisfaction not understood (kept)
        (at(11), &|r| {
            r[7] = "126.6500".into();
            r[8] = "45.7600".into()
        }), // Harbin: outside every grid
        (at(12), &|r| {
            r[7] = String::new();
            r[8] = String::new();
            r[9] = String::new()
        }), // nowhere
    ];
    for (i, f) in edits {
        f(&mut rows[i]);
    }
    // A duplicate id: a later row repeats an earlier one's.
    let (a, b) = (at(20), at(21));
    let id = rows[a.min(b)][0].clone();
    rows[a.max(b)][0] = id;
}

fn point_in(grid: &Grid, g: u32, index: &GridIndex, rng: &mut SplitMix64) -> (f64, f64) {
    let bb = grid.bbox;
    for _ in 0..100 {
        let (x, y) = (rng.range(bb.min().x, bb.max().x), rng.range(bb.min().y, bb.max().y));
        if index.locate(x, y).map(|h| h.grid) == Some(g) {
            return (x, y);
        }
    }
    grid.geometry.interior_point().map(|p| (p.x(), p.y())).unwrap_or((bb.center().x, bb.center().y))
}

/// The two files of a sample city.
#[derive(Debug, Clone)]
pub struct SampleFiles {
    pub grids: PathBuf,
    pub incidents: PathBuf,
    pub grid_count: usize,
}

/// Generates a sample city into `dir` (`grids.geojson`, `incidents.csv`).
pub fn write_sample(dir: &Path, opts: &SampleOptions) -> Result<SampleFiles> {
    let _span = tracing::info_span!("gen_sample", grids = opts.grids, incidents = opts.incidents).entered();
    let mut rng = SplitMix64::new(opts.seed);
    let (layer, parents) = sample_grids(opts, &mut rng)?;
    let grids = dir.join("grids.geojson");
    let incidents = dir.join("incidents.csv");
    write_atomic(&grids, grids_geojson(&layer, &parents).as_bytes())?;
    write_atomic(&incidents, incidents_csv(&layer, opts, &mut rng).as_bytes())?;
    Ok(SampleFiles { grids, incidents, grid_count: layer.grids.len() })
}
