//! Map layers as plain data, built off the UI thread and painted by the app: incident points with
//! clusters precomputed for every zoom, the kernel-density heatmap raster, unit outlines with
//! label anchors, label placement without overlap, and search.
//!
//! Everything here is in normalised Web Mercator ([`crate::render::mercator`]) of the *display*
//! coordinate system: WGS84 normally, GCJ-02 when the basemap is Amap-aligned, so data and tiles
//! line up (the data itself always stays WGS84).

use geo::{BoundingRect, InteriorPoint, MultiPolygon};
use rayon::prelude::*;

use crate::crs::Crs;
use crate::model::{GridLayer, Incidents, Level};
use crate::pipeline::Dataset;
use crate::render::mercator;
use crate::stats::IndicatorConfig;
use crate::status::Status;

/// A WGS84 lon/lat in display Mercator.
pub fn display_mercator(display: Crs, lon: f64, lat: f64) -> [f64; 2] {
    let (x, y) = display.from_wgs84(lon, lat);
    mercator(x, y)
}

// ---------------------------------------------------------------------------------------------
// Incident points and clusters
// ---------------------------------------------------------------------------------------------

/// The finest cluster level. At zoom ≥ this, points are drawn one by one.
pub const FINE_LEVEL: u8 = 16;
/// A cluster cell is 64 px at its own zoom: 2^-(z+2) Mercator units.
const CELL_SHIFT: u8 = 2;
/// Category slots kept per cluster: categories 0..7 by id, the rest share the last slot.
pub const CATEGORY_SLOTS: usize = 8;

/// Incidents aggregated into one cell of one zoom level.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Morton key of the cell at its level.
    pub key: u64,
    pub count: u32,
    /// Open and past the deadline.
    pub overdue: u32,
    sum: [f64; 2],
    /// Incidents per category slot (see [`CATEGORY_SLOTS`]).
    pub categories: [u32; CATEGORY_SLOTS],
    /// Incidents per status (index = `Status as usize`).
    pub statuses: [u32; 7],
}

impl Cluster {
    /// The mean position of its incidents (display Mercator).
    pub fn centre(&self) -> [f64; 2] {
        [self.sum[0] / self.count as f64, self.sum[1] / self.count as f64]
    }
    /// The most frequent category slot (lowest on ties).
    pub fn top_category(&self) -> usize {
        argmax(&self.categories)
    }
    /// The most frequent status.
    pub fn top_status(&self) -> Status {
        Status::from_u8(argmax(&self.statuses) as u8).unwrap_or(Status::Reported)
    }
    fn merge(&mut self, o: &Cluster) {
        self.count += o.count;
        self.overdue += o.overdue;
        self.sum[0] += o.sum[0];
        self.sum[1] += o.sum[1];
        for k in 0..CATEGORY_SLOTS {
            self.categories[k] += o.categories[k];
        }
        for k in 0..7 {
            self.statuses[k] += o.statuses[k];
        }
    }
}

fn argmax(v: &[u32]) -> usize {
    let mut best = 0;
    for (i, &c) in v.iter().enumerate() {
        if c > v[best] {
            best = i;
        }
    }
    best
}

/// Interleaves the bits of x and y (x in the even bits): cells sorted by this key keep the four
/// children of a coarser cell together, so every coarser level is a merge of adjacent runs.
pub fn morton(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = v as u64;
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        v = (v | (v << 1)) & 0x5555_5555_5555_5555;
        v
    }
    spread(x) | (spread(y) << 1)
}

fn cell_of(m: f64, level: u8) -> u32 {
    let n = (1u64 << (level + CELL_SHIFT)) as f64;
    (m * n).floor().clamp(0.0, n - 1.0) as u32
}

/// One point before sorting.
struct PointRec {
    incident: u32,
    m: [f64; 2],
    category: u32,
    status: Status,
    overdue: bool,
}

/// The filtered incidents that have a location, sorted by fine cell, with their clusters at
/// every level 0..=[`FINE_LEVEL`].
#[derive(Debug, Clone, Default)]
pub struct PointLayer {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Index into `ds.incidents`.
    pub incident: Vec<u32>,
    pub category: Vec<u32>,
    pub status: Vec<Status>,
    pub overdue: Vec<bool>,
    keys: Vec<u64>,
    levels: Vec<Vec<Cluster>>,
    /// Selected incidents with no location (counted, not drawn).
    pub without_location: usize,
}

impl PointLayer {
    /// Builds the layer for the selected incidents (`sel`, indices into `ds.incidents`).
    pub fn build(ds: &Dataset, sel: &[u32], cfg: &IndicatorConfig, as_of_ms: i64, display: Crs) -> PointLayer {
        let _span = tracing::info_span!("point_layer", n = sel.len()).entered();
        let inc: &Incidents = &ds.incidents;
        let limits = cfg.category_limits(inc);
        let recs: Vec<PointRec> = sel
            .par_iter()
            .filter_map(|&i| {
                let iu = i as usize;
                if !inc.has_location(iu) {
                    return None;
                }
                let m = display_mercator(display, inc.lon[iu], inc.lat[iu]);
                (m[0].is_finite() && m[1].is_finite()).then(|| PointRec {
                    incident: i,
                    m,
                    category: inc.category[iu],
                    status: inc.status[iu],
                    overdue: IndicatorConfig::is_overdue_open(inc, iu, &limits, as_of_ms),
                })
            })
            .collect();
        let without_location = sel.len() - recs.len();
        PointLayer { without_location, ..PointLayer::assemble(recs) }
    }

    /// Sorts the points by fine cell and builds every cluster level from them.
    fn assemble(recs: Vec<PointRec>) -> PointLayer {
        let mut recs: Vec<(u64, PointRec)> =
            recs.into_iter().map(|r| (morton(cell_of(r.m[0], FINE_LEVEL), cell_of(r.m[1], FINE_LEVEL)), r)).collect();
        recs.par_sort_unstable_by_key(|r| (r.0, r.1.incident));
        let n = recs.len();
        let mut p = PointLayer::default();
        p.x.reserve(n);
        p.y.reserve(n);
        // The fine level: one cluster per run of equal keys.
        let mut fine: Vec<Cluster> = Vec::new();
        for (key, r) in recs {
            p.keys.push(key);
            p.x.push(r.m[0]);
            p.y.push(r.m[1]);
            p.incident.push(r.incident);
            p.category.push(r.category);
            p.status.push(r.status);
            p.overdue.push(r.overdue);
            let mut c =
                Cluster { key, count: 1, overdue: r.overdue as u32, sum: r.m, categories: [0; CATEGORY_SLOTS], statuses: [0; 7] };
            c.categories[(r.category as usize).min(CATEGORY_SLOTS - 1)] = 1;
            c.statuses[r.status as usize] = 1;
            match fine.last_mut() {
                Some(last) if last.key == c.key => last.merge(&c),
                _ => fine.push(c),
            }
        }
        // Coarser levels: a parent cell's key is its children's shifted by two bits, and Morton
        // order keeps the children adjacent, so each level merges runs of the finer one.
        let mut levels = vec![fine];
        for _ in 0..FINE_LEVEL {
            let finer = levels.last().map(Vec::as_slice).unwrap_or(&[]);
            let mut coarse: Vec<Cluster> = Vec::new();
            for c in finer {
                let key = c.key >> 2;
                match coarse.last_mut() {
                    Some(last) if last.key == key => last.merge(c),
                    _ => coarse.push(Cluster { key, ..c.clone() }),
                }
            }
            levels.push(coarse);
        }
        levels.reverse();
        p.levels = levels;
        p
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// All clusters of a level (0..=[`FINE_LEVEL`]).
    pub fn clusters(&self, level: u8) -> &[Cluster] {
        self.levels.get(level.min(FINE_LEVEL) as usize).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The clusters of `level` whose cells meet the Mercator rectangle.
    pub fn clusters_in(&self, level: u8, min: [f64; 2], max: [f64; 2]) -> Vec<&Cluster> {
        let level = level.min(FINE_LEVEL);
        let all = self.clusters(level);
        let (x0, x1) = (cell_of(min[0], level), cell_of(max[0], level));
        let (y0, y1) = (cell_of(min[1], level), cell_of(max[1], level));
        let cells = (x1 as u64 - x0 as u64 + 1) * (y1 as u64 - y0 as u64 + 1);
        if cells as usize > all.len() {
            let inside = |c: &Cluster| {
                let (cx, cy) = unmorton(c.key);
                (x0..=x1).contains(&cx) && (y0..=y1).contains(&cy)
            };
            return all.iter().filter(|c| inside(c)).collect();
        }
        let mut out = Vec::new();
        for cy in y0..=y1 {
            for cx in x0..=x1 {
                if let Ok(k) = all.binary_search_by_key(&morton(cx, cy), |c| c.key) {
                    out.push(&all[k]);
                }
            }
        }
        out
    }

    /// Positions (into this layer's arrays) of the points inside the Mercator rectangle.
    pub fn points_in(&self, min: [f64; 2], max: [f64; 2]) -> Vec<usize> {
        let inside = |j: usize| self.x[j] >= min[0] && self.x[j] <= max[0] && self.y[j] >= min[1] && self.y[j] <= max[1];
        let (x0, x1) = (cell_of(min[0], FINE_LEVEL), cell_of(max[0], FINE_LEVEL));
        let (y0, y1) = (cell_of(min[1], FINE_LEVEL), cell_of(max[1], FINE_LEVEL));
        let cells = (x1 as u64 - x0 as u64 + 1) * (y1 as u64 - y0 as u64 + 1);
        if cells as usize > self.clusters(FINE_LEVEL).len() {
            return (0..self.len()).filter(|&j| inside(j)).collect();
        }
        let mut out = Vec::new();
        for cy in y0..=y1 {
            for cx in x0..=x1 {
                let key = morton(cx, cy);
                let a = self.keys.partition_point(|k| *k < key);
                let b = self.keys.partition_point(|k| *k <= key);
                out.extend((a..b).filter(|&j| inside(j)));
            }
        }
        out
    }
}

fn unmorton(key: u64) -> (u32, u32) {
    fn squash(mut v: u64) -> u32 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF;
        v as u32
    }
    (squash(key), squash(key >> 1))
}

// ---------------------------------------------------------------------------------------------
// Heatmap
// ---------------------------------------------------------------------------------------------

/// What to rasterise: a Mercator rectangle at `width × height` cells, kernel radius in cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatRequest {
    pub min: [f64; 2],
    pub max: [f64; 2],
    pub width: usize,
    pub height: usize,
    /// Kernel radius in cells: the Gaussian's σ is half of it.
    pub radius: f32,
}

/// A kernel density raster: `values[row * width + col]`, incidents per cell after smoothing
/// (the sum over the raster equals the incidents that fall inside it, less what the kernel
/// spreads over its edges).
#[derive(Debug, Clone, PartialEq)]
pub struct HeatRaster {
    pub request: HeatRequest,
    pub values: Vec<f32>,
    /// The value the colour ramp tops out at: the 99.5th percentile of non-zero cells.
    pub scale: f32,
}

/// Kernel density estimate of the layer's points: each point is splatted bilinearly into a
/// raster padded by 3σ (so points just outside the view still warm its edge), then smoothed with
/// three box blurs per axis, which approximate a Gaussian within a few percent (O(cells), not
/// O(cells · r²)).
pub fn heat_raster(points: &PointLayer, req: HeatRequest) -> HeatRaster {
    let sigma = (req.radius / 2.0).max(0.5);
    let pad = (3.0 * sigma).ceil() as usize;
    let (w, h) = (req.width.max(1), req.height.max(1));
    let (pw, ph) = (w + 2 * pad, h + 2 * pad);
    let sx = w as f64 / (req.max[0] - req.min[0]).max(1e-15);
    let sy = h as f64 / (req.max[1] - req.min[1]).max(1e-15);
    let mut grid = vec![0f32; pw * ph];
    let lo = [req.min[0] - pad as f64 / sx, req.min[1] - pad as f64 / sy];
    let hi = [req.max[0] + pad as f64 / sx, req.max[1] + pad as f64 / sy];
    for j in points.points_in(lo, hi) {
        // Cell centres sit at +0.5; splat between the four nearest.
        let fx = (points.x[j] - lo[0]) * sx - 0.5;
        let fy = (points.y[j] - lo[1]) * sy - 0.5;
        let (ix, iy) = (fx.floor(), fy.floor());
        let (tx, ty) = ((fx - ix) as f32, (fy - iy) as f32);
        for (dx, dy, wgt) in [(0, 0, (1.0 - tx) * (1.0 - ty)), (1, 0, tx * (1.0 - ty)), (0, 1, (1.0 - tx) * ty), (1, 1, tx * ty)]
        {
            let (cx, cy) = (ix as i64 + dx, iy as i64 + dy);
            if cx >= 0 && cy >= 0 && (cx as usize) < pw && (cy as usize) < ph {
                grid[cy as usize * pw + cx as usize] += wgt;
            }
        }
    }
    for r in box_sizes(sigma) {
        blur_rows(&mut grid, pw, ph, r);
        blur_cols(&mut grid, pw, ph, r);
    }
    let mut values = Vec::with_capacity(w * h);
    for row in 0..h {
        let s = (row + pad) * pw + pad;
        values.extend_from_slice(&grid[s..s + w]);
    }
    let mut nz: Vec<f32> = values.iter().copied().filter(|v| *v > 1e-6).collect();
    let scale = if nz.is_empty() {
        1.0
    } else {
        let k = ((nz.len() as f64 * 0.995) as usize).min(nz.len() - 1);
        *nz.select_nth_unstable_by(k, f32::total_cmp).1
    };
    HeatRaster { request: req, values, scale: scale.max(1e-6) }
}

/// Half-widths of three box blurs whose combination has standard deviation ≈ σ (Kovesi 2010).
fn box_sizes(sigma: f32) -> [usize; 3] {
    let n = 3.0f32;
    let w_ideal = (12.0 * sigma * sigma / n + 1.0).sqrt();
    let mut wl = w_ideal.floor() as i64;
    if wl % 2 == 0 {
        wl -= 1;
    }
    let wu = wl + 2;
    let m_ideal = (12.0 * sigma * sigma - n * (wl * wl) as f32 - 4.0 * n * wl as f32 - 3.0 * n) / (-4.0 * wl as f32 - 4.0);
    let m = m_ideal.round() as i64;
    let mut out = [0usize; 3];
    for (i, o) in out.iter_mut().enumerate() {
        let width = if (i as i64) < m { wl } else { wu };
        *o = ((width.max(1) - 1) / 2) as usize;
    }
    out
}

/// Box blur of half-width r along rows, zero outside (mass near the edge leaves the raster).
fn blur_rows(g: &mut [f32], w: usize, _h: usize, r: usize) {
    if r == 0 {
        return;
    }
    let norm = 1.0 / (2 * r + 1) as f32;
    let mut line = vec![0f32; w];
    for row in g.chunks_exact_mut(w) {
        line.copy_from_slice(row);
        let mut acc: f32 = line[..r.min(w)].iter().sum();
        for x in 0..w {
            if x + r < w {
                acc += line[x + r];
            }
            row[x] = acc * norm;
            if x >= r {
                acc -= line[x - r];
            }
        }
    }
}

fn blur_cols(g: &mut [f32], w: usize, h: usize, r: usize) {
    if r == 0 {
        return;
    }
    let norm = 1.0 / (2 * r + 1) as f32;
    let mut col = vec![0f32; h];
    for x in 0..w {
        for y in 0..h {
            col[y] = g[y * w + x];
        }
        let mut acc: f32 = col[..r.min(h)].iter().sum();
        for y in 0..h {
            if y + r < h {
                acc += col[y + r];
            }
            g[y * w + x] = acc * norm;
            if y >= r {
                acc -= col[y - r];
            }
        }
    }
}

/// Colour stops of the heat ramp (value 0..1 → unmultiplied RGBA): transparent where nothing
/// happens, then blue, cyan, yellow, orange, red (perceptually ordered, visible on dark and light).
const HEAT_STOPS: [(f32, [f32; 4]); 6] = [
    (0.0, [33.0, 102.0, 172.0, 0.0]),
    (0.15, [33.0, 102.0, 172.0, 120.0]),
    (0.35, [67.0, 190.0, 210.0, 160.0]),
    (0.6, [254.0, 224.0, 80.0, 190.0]),
    (0.8, [253.0, 141.0, 60.0, 215.0]),
    (1.0, [215.0, 25.0, 28.0, 235.0]),
];

/// The raster as unmultiplied RGBA bytes; `intensity` multiplies the values before the ramp.
pub fn heat_rgba(r: &HeatRaster, intensity: f32) -> Vec<u8> {
    let k = intensity.max(0.0) / r.scale;
    let mut out = Vec::with_capacity(r.values.len() * 4);
    for &v in &r.values {
        out.extend_from_slice(&heat_color((v * k).clamp(0.0, 1.0)));
    }
    out
}

/// The ramp colour of t ∈ [0, 1].
pub fn heat_color(t: f32) -> [u8; 4] {
    if t <= 1e-4 {
        return [0, 0, 0, 0];
    }
    for w in HEAT_STOPS.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            let mut c = [0u8; 4];
            for k in 0..4 {
                c[k] = (c0[k] + (c1[k] - c0[k]) * f).round() as u8;
            }
            return c;
        }
    }
    let c = HEAT_STOPS[HEAT_STOPS.len() - 1].1;
    [c[0] as u8, c[1] as u8, c[2] as u8, c[3] as u8]
}

// ---------------------------------------------------------------------------------------------
// Outlines and labels
// ---------------------------------------------------------------------------------------------

/// The outlines of every unit of one level in display Mercator, with a label anchor inside each
/// unit and its Mercator bounding box (so a label is only shown where the unit is wide enough).
#[derive(Debug, Clone, Default)]
pub struct Outlines {
    /// `(unit, ring)`: closed rings, exterior and holes.
    pub rings: Vec<(u32, Vec<[f64; 2]>)>,
    /// Per unit: a point inside it (geo's interior point), `None` for an empty unit.
    pub anchor: Vec<Option<[f64; 2]>>,
    /// Per unit: Mercator (min, max).
    pub bbox: Vec<([f64; 2], [f64; 2])>,
}

/// Outlines of `level`'s units: the union of their grids (geo's unary union, per unit in
/// parallel); for [`Level::Grid`] the grids themselves.
pub fn unit_outlines(layer: &GridLayer, level: Level, display: Crs) -> Outlines {
    let _span = tracing::info_span!("unit_outlines", level = level.as_str()).entered();
    let n = layer.units(level).len();
    let shapes: Vec<MultiPolygon<f64>> = if level == Level::Grid {
        layer.grids.iter().map(|g| g.geometry.clone()).collect()
    } else {
        (0..n as u32).into_par_iter().map(|u| layer.unit_outline(level, u)).collect()
    };
    let to_m = |c: geo::Coord<f64>| display_mercator(display, c.x, c.y);
    let mut out = Outlines::default();
    for (u, mp) in shapes.iter().enumerate() {
        for poly in &mp.0 {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                out.rings.push((u as u32, ring.coords().map(|c| to_m(*c)).collect()));
            }
        }
        out.anchor.push(mp.interior_point().map(|p| to_m(p.0)));
        out.bbox.push(match mp.bounding_rect() {
            Some(r) => {
                let (a, b) = (to_m(r.min()), to_m(r.max()));
                ([a[0].min(b[0]), a[1].min(b[1])], [a[0].max(b[0]), a[1].max(b[1])])
            }
            None => ([0.0; 2], [0.0; 2]),
        });
    }
    out
}

/// A candidate label on screen: its box and its priority (higher is placed first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelBox {
    pub min: [f32; 2],
    pub max: [f32; 2],
    pub priority: f32,
}

/// Greedy placement: labels by falling priority (then input order), each kept only if its box,
/// grown by `margin`, overlaps no label already kept. Returns the kept indices in input order.
/// Collision checks go through a 64-px bucket grid, so thousands of candidates stay cheap.
pub fn place_labels(boxes: &[LabelBox], margin: f32) -> Vec<usize> {
    const CELL: f32 = 64.0;
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| boxes[b].priority.total_cmp(&boxes[a].priority).then(a.cmp(&b)));
    let mut buckets: std::collections::HashMap<(i32, i32), Vec<usize>> = std::collections::HashMap::new();
    let mut kept = Vec::new();
    let grow = |b: &LabelBox| ([b.min[0] - margin, b.min[1] - margin], [b.max[0] + margin, b.max[1] + margin]);
    for i in order {
        let (lo, hi) = grow(&boxes[i]);
        if !(lo[0].is_finite() && lo[1].is_finite() && hi[0].is_finite() && hi[1].is_finite()) {
            continue;
        }
        let cells = || {
            let (cx0, cy0) = ((lo[0] / CELL).floor() as i32, (lo[1] / CELL).floor() as i32);
            let (cx1, cy1) = ((hi[0] / CELL).floor() as i32, (hi[1] / CELL).floor() as i32);
            (cy0..=cy1).flat_map(move |y| (cx0..=cx1).map(move |x| (x, y)))
        };
        let hits = cells().any(|c| {
            buckets.get(&c).is_some_and(|v| {
                v.iter().any(|&j| {
                    let b = &boxes[j];
                    lo[0] < b.max[0] && b.min[0] < hi[0] && lo[1] < b.max[1] && b.min[1] < hi[1]
                })
            })
        });
        if !hits {
            for c in cells() {
                buckets.entry(c).or_default().push(i);
            }
            kept.push(i);
        }
    }
    kept.sort_unstable();
    kept
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchHit {
    Unit { level: Level, unit: u32 },
    Incident { index: u32 },
}

/// Grids, communities, streets and districts whose code or name contains the query (exact code
/// or name first), and incidents whose id equals or starts with it. At most `limit` hits.
pub fn search(ds: &Dataset, query: &str, limit: usize) -> Vec<SearchHit> {
    let q = query.trim();
    if q.is_empty() {
        return Vec::new();
    }
    let ql = q.to_lowercase();
    let mut exact = Vec::new();
    let mut partial = Vec::new();
    for level in [Level::Grid, Level::Community, Level::Street, Level::District] {
        for (u, unit) in ds.layer.units(level).iter().enumerate() {
            let hit = SearchHit::Unit { level, unit: u as u32 };
            if unit.code.eq_ignore_ascii_case(q) || &*unit.name == q {
                exact.push(hit);
            } else if unit.code.to_lowercase().contains(&ql) || unit.name.to_lowercase().contains(&ql) {
                partial.push(hit);
            }
        }
    }
    let ids = &ds.incidents.id;
    for (i, id) in ids.iter().enumerate() {
        if id == q {
            exact.push(SearchHit::Incident { index: i as u32 });
        } else if partial.len() < limit && id.starts_with(q) {
            partial.push(SearchHit::Incident { index: i as u32 });
        }
    }
    exact.extend(partial);
    exact.truncate(limit);
    exact
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer_of(points: &[(f64, f64)]) -> PointLayer {
        let recs = points
            .iter()
            .enumerate()
            .map(|(j, &(x, y))| PointRec { incident: j as u32, m: [x, y], category: 0, status: Status::Accepted, overdue: false })
            .collect();
        PointLayer::assemble(recs)
    }

    #[test]
    fn morton_round_trips_and_nests() {
        for (x, y) in [(0, 0), (1, 0), (0, 1), (262_143, 5), (123_456, 200_000)] {
            assert_eq!(unmorton(morton(x, y)), (x, y));
            // The parent cell's key is the child's key shifted by two bits.
            assert_eq!(morton(x >> 1, y >> 1), morton(x, y) >> 2);
        }
    }

    #[test]
    fn clusters_at_every_level_count_every_point_once() {
        let mut pts = Vec::new();
        let mut s = 7u64;
        for _ in 0..5000 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let a = (s >> 11) as f64 / (1u64 << 53) as f64;
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let b = (s >> 11) as f64 / (1u64 << 53) as f64;
            pts.push((0.86 + a * 0.002, 0.29 + b * 0.002));
        }
        let p = layer_of(&pts);
        for z in 0..=FINE_LEVEL {
            let cl = p.clusters(z);
            assert_eq!(cl.iter().map(|c| c.count as usize).sum::<usize>(), pts.len(), "level {z}");
            assert!(cl.windows(2).all(|w| w[0].key < w[1].key), "level {z} sorted and merged");
        }
        assert_eq!(p.clusters(0).len(), 1);
        // A rectangle query equals a brute-force filter, for points and for clusters.
        let (lo, hi) = ([0.8605, 0.2905], [0.8612, 0.2913]);
        let mut want: Vec<usize> =
            (0..p.len()).filter(|&j| p.x[j] >= lo[0] && p.x[j] <= hi[0] && p.y[j] >= lo[1] && p.y[j] <= hi[1]).collect();
        let mut got = p.points_in(lo, hi);
        want.sort_unstable();
        got.sort_unstable();
        assert!(!want.is_empty());
        assert_eq!(got, want);
        let z = 12;
        let got: usize = p.clusters_in(z, lo, hi).len();
        let want = p
            .clusters(z)
            .iter()
            .filter(|c| {
                let (cx, cy) = unmorton(c.key);
                (cell_of(lo[0], z)..=cell_of(hi[0], z)).contains(&cx) && (cell_of(lo[1], z)..=cell_of(hi[1], z)).contains(&cy)
            })
            .count();
        assert_eq!(got, want);
        assert!(got > 0);
    }

    #[test]
    fn cluster_centre_is_the_mean_and_top_category_the_mode() {
        let mut c = Cluster { key: 0, count: 0, overdue: 0, sum: [0.0; 2], categories: [0; 8], statuses: [0; 7] };
        for (x, y, cat) in [(1.0, 2.0, 3usize), (3.0, 4.0, 3), (5.0, 0.0, 1)] {
            let mut one = Cluster { key: 0, count: 1, overdue: 0, sum: [x, y], categories: [0; 8], statuses: [0; 7] };
            one.categories[cat] = 1;
            one.statuses[Status::Closed as usize] = 1;
            c.merge(&one);
        }
        assert_eq!(c.centre(), [3.0, 2.0]);
        assert_eq!(c.top_category(), 3);
        assert_eq!(c.top_status(), Status::Closed);
    }

    fn one_point_heat(x: f64, y: f64, radius: f32) -> HeatRaster {
        let p = layer_of(&[(x, y)]);
        heat_raster(&p, HeatRequest { min: [0.5, 0.5], max: [0.5 + 1e-4, 0.5 + 1e-4], width: 100, height: 100, radius })
    }

    #[test]
    fn a_single_point_keeps_its_mass_and_peaks_where_it_is() {
        // The point sits at the centre of cell (30, 60).
        let (x, y) = (0.5 + 30.5e-6, 0.5 + 60.5e-6);
        let r = one_point_heat(x, y, 8.0);
        let sum: f32 = r.values.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3, "mass {sum}");
        let (imax, _) = r.values.iter().enumerate().fold((0, 0f32), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        assert_eq!((imax % 100, imax / 100), (30, 60));
        // Symmetric about the point, and wider with a wider kernel.
        let v = |c: usize, row: usize| r.values[row * 100 + c];
        assert!((v(25, 60) - v(35, 60)).abs() < 1e-6 && (v(30, 55) - v(30, 65)).abs() < 1e-6);
        let wide = one_point_heat(x, y, 16.0);
        assert!(wide.values[60 * 100 + 30] < r.values[60 * 100 + 30] / 2.0);
        assert!(wide.values[60 * 100 + 44] > r.values[60 * 100 + 44]);
    }

    #[test]
    fn points_just_outside_warm_the_edge_and_far_ones_do_not() {
        // 2 cells left of the raster: its kernel reaches in.
        let near = one_point_heat(0.5 - 2e-6, 0.5 + 50.5e-6, 8.0);
        assert!(near.values[50 * 100] > 1e-3, "{}", near.values[50 * 100]);
        let far = one_point_heat(0.5 - 50e-6, 0.5 + 50.5e-6, 8.0);
        assert!(far.values.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn the_box_blur_matches_the_gaussian_spread() {
        // Variance of the smoothed single point ≈ σ² (+ the bilinear splat's 0 at a cell centre).
        let r = one_point_heat(0.5 + 50.5e-6, 0.5 + 50.5e-6, 12.0);
        let row: Vec<f32> = (0..100).map(|c| r.values[50 * 100 + c]).collect();
        let total: f32 = row.iter().sum();
        let var: f32 = row.iter().enumerate().map(|(c, v)| v * (c as f32 - 50.0).powi(2)).sum::<f32>() / total;
        assert!((var.sqrt() - 6.0).abs() < 0.5, "σ {}", var.sqrt());
    }

    #[test]
    fn the_ramp_is_transparent_at_zero_and_opaque_red_at_the_top() {
        assert_eq!(heat_color(0.0)[3], 0);
        let top = heat_color(1.0);
        assert!(top[0] > 200 && top[1] < 60 && top[3] > 200);
        // Alpha never decreases along the ramp.
        let alphas: Vec<u8> = (0..=100).map(|k| heat_color(k as f32 / 100.0)[3]).collect();
        assert!(alphas.windows(2).all(|w| w[0] <= w[1]));
        let r = one_point_heat(0.5 + 50.5e-6, 0.5 + 50.5e-6, 8.0);
        let rgba = heat_rgba(&r, 1.0);
        assert_eq!(rgba.len(), 100 * 100 * 4);
        assert!(rgba[(50 * 100 + 50) * 4 + 3] > 200);
        assert_eq!(rgba[3], 0);
    }

    #[test]
    fn labels_never_overlap_and_priority_wins() {
        let b = |x: f32, y: f32, w: f32, p: f32| LabelBox { min: [x, y], max: [x + w, y + 14.0], priority: p };
        let boxes = [b(0.0, 0.0, 50.0, 1.0), b(40.0, 5.0, 50.0, 2.0), b(100.0, 0.0, 30.0, 0.5), b(0.0, 30.0, 200.0, 0.1)];
        let kept = place_labels(&boxes, 2.0);
        assert_eq!(kept, vec![1, 2, 3]);
        // Brute force over many random boxes: no two kept overlap, and every dropped one collides.
        let mut s = 1u64;
        let mut rnd = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        let many: Vec<LabelBox> = (0..600).map(|_| b(rnd() * 1500.0, rnd() * 900.0, 20.0 + rnd() * 120.0, rnd())).collect();
        let kept = place_labels(&many, 0.0);
        let overlap =
            |a: &LabelBox, c: &LabelBox| a.min[0] < c.max[0] && c.min[0] < a.max[0] && a.min[1] < c.max[1] && c.min[1] < a.max[1];
        for (n, &i) in kept.iter().enumerate() {
            for &j in &kept[n + 1..] {
                assert!(!overlap(&many[i], &many[j]), "{i} and {j}");
            }
        }
        for i in (0..many.len()).filter(|i| !kept.contains(i)) {
            assert!(kept.iter().any(|&j| overlap(&many[i], &many[j]) && many[j].priority >= many[i].priority));
        }
    }
}
