//! The spatial index over grids and the assignment of incidents to them.
//!
//! An rstar R-tree holds the bounding box of every polygon part; candidates it returns are
//! tested exactly with a crossing-number point-in-polygon test over all rings (even-odd, so
//! holes work and self-intersecting grids still give a deterministic answer).
//!
//! **Boundary rule.** Each edge is evaluated from its lower end to its upper end, so two grids
//! that share an edge compute the very same crossing abscissa, and the half-open test
//! (`y_lo <= y < y_hi`, point strictly left of the crossing) gives every point on a shared edge
//! to exactly one grid: the one to its **east** for a non-horizontal edge, the one to its
//! **north** for a horizontal edge. Where grids overlap (hand-edited data), the first grid in
//! file order wins and the overlap is counted.
//!
//! Assignment runs on all cores (rayon). For a batch of points it first asks the R-tree, once
//! per cell of a regular raster over the grids' extent, which parts' boxes meet that cell; each
//! point then tests only its cell's candidates instead of walking the tree. The candidates are
//! a superset of the parts whose box holds the point and the exact test decides, so the result
//! is the one a query per point gives (a test checks this on points on every vertex and edge).

use geo::{BoundingRect, MultiPolygon};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::model::{GridLayer, Incidents, NO_CODE, NO_GRID};
use crate::report::{AssignmentReport, Tally};

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// Rings of one grid, flattened as `[x0, y0, x1, y1, …]` with ring starts in `ring_start`.
#[derive(Debug, Clone, Default)]
struct Rings {
    xy: Vec<[f64; 2]>,
    ring_start: Vec<u32>,
}

impl Rings {
    fn from_multipolygon(mp: &MultiPolygon<f64>) -> Rings {
        let mut r = Rings::default();
        for p in &mp.0 {
            for ls in std::iter::once(p.exterior()).chain(p.interiors()) {
                r.ring_start.push(r.xy.len() as u32);
                r.xy.extend(ls.coords().map(|c| [c.x, c.y]));
            }
        }
        r.ring_start.push(r.xy.len() as u32);
        r
    }

    /// Crossing-number test with the half-open boundary rule described in the module docs.
    fn contains(&self, px: f64, py: f64) -> bool {
        let mut inside = false;
        for w in self.ring_start.windows(2) {
            let ring = &self.xy[w[0] as usize..w[1] as usize];
            for e in ring.windows(2) {
                let (a, b) = if e[0][1] <= e[1][1] { (e[0], e[1]) } else { (e[1], e[0]) };
                // Half-open in y: the lower end counts, the upper does not; horizontal edges never.
                if a[1] <= py && py < b[1] {
                    let x_cross = a[0] + (py - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                    if px < x_cross {
                        inside = !inside;
                    }
                }
            }
        }
        inside
    }
}

/// The R-tree and the prepared rings of every polygon part.
#[derive(Debug, Clone)]
pub struct GridIndex {
    tree: RTree<Entry>,
    /// Rings of each polygon part (exterior then holes).
    parts: Vec<Rings>,
    /// The grid of each part.
    part_grid: Vec<u32>,
    /// The box of each part: `[min x, min y, max x, max y]`.
    part_box: Vec<[f64; 4]>,
}

/// Candidate parts per cell of a regular raster over the extent of all parts, from the R-tree
/// (compressed rows: the candidates of cell `c` are `parts[start[c]..start[c + 1]]`).
struct Cells {
    origin: [f64; 2],
    /// Cells per unit of x and of y.
    scale: [f64; 2],
    nx: usize,
    ny: usize,
    start: Vec<u32>,
    parts: Vec<u32>,
}

impl Cells {
    /// The cell of a point, `None` left of or below the extent (where no part is). The index
    /// never decreases as x or y grows, and cells were given every part whose box meets them
    /// with a margin, so the cell of a point in a part's box lists that part.
    fn of(&self, x: f64, y: f64) -> Option<usize> {
        let fx = (x - self.origin[0]) * self.scale[0];
        let fy = (y - self.origin[1]) * self.scale[1];
        if !(fx >= 0.0 && fy >= 0.0) {
            return None;
        }
        let (i, j) = ((fx as usize).min(self.nx - 1), (fy as usize).min(self.ny - 1));
        Some(j * self.nx + i)
    }
}

/// Where one point landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub grid: u32,
    /// How many distinct grids contain the point (more than one only where grids overlap).
    pub containing: u32,
}

impl GridIndex {
    /// Indexes the grids of a layer (bulk-loaded R-tree over polygon parts).
    pub fn build(layer: &GridLayer) -> GridIndex {
        let _span = tracing::info_span!("build_index", grids = layer.grids.len()).entered();
        let mut entries = Vec::with_capacity(layer.grids.len());
        let mut parts = Vec::with_capacity(layer.grids.len());
        let mut part_grid = Vec::with_capacity(layer.grids.len());
        let mut part_box = Vec::with_capacity(layer.grids.len());
        for (i, g) in layer.grids.iter().enumerate() {
            for part in &g.geometry.0 {
                if let Some(r) = part.bounding_rect() {
                    let rect = Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                    entries.push(GeomWithData::new(rect, parts.len() as u32));
                    parts.push(Rings::from_multipolygon(&MultiPolygon::new(vec![part.clone()])));
                    part_grid.push(i as u32);
                    part_box.push([r.min().x, r.min().y, r.max().x, r.max().y]);
                }
            }
        }
        GridIndex { tree: RTree::bulk_load(entries), parts, part_grid, part_box }
    }

    /// The raster of candidates for a batch of points: about four cells per part, each cell's
    /// candidates from one R-tree query. `None` for an empty or degenerate extent, or when the
    /// parts' boxes overlap so much that the lists would be large (the tree is then asked per
    /// point).
    fn cells(&self) -> Option<Cells> {
        let n = self.parts.len();
        if n == 0 {
            return None;
        }
        let env = self.tree.root().envelope();
        let (lo, hi) = (env.lower(), env.upper());
        let (w, h) = (hi[0] - lo[0], hi[1] - lo[1]);
        if !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite()) {
            return None;
        }
        let side = (w * h / (4 * n).min(1 << 22) as f64).sqrt();
        let nx = ((w / side).ceil() as usize).clamp(1, 1 << 12);
        let ny = ((h / side).ceil() as usize).clamp(1, 1 << 12);
        let (cw, ch) = (w / nx as f64, h / ny as f64);
        // The margin covers rounding between a cell's corners and `Cells::of`.
        let (mx, my) = (cw * 1e-6, ch * 1e-6);
        let query = |c: usize| -> Vec<u32> {
            let (i, j) = ((c % nx) as f64, (c / nx) as f64);
            let cell = AABB::from_corners(
                [lo[0] + i * cw - mx, lo[1] + j * ch - my],
                [lo[0] + (i + 1.0) * cw + mx, lo[1] + (j + 1.0) * ch + my],
            );
            self.tree.locate_in_envelope_intersecting(&cell).map(|e| e.data).collect()
        };
        let lists: Vec<Vec<u32>> = (0..nx * ny).into_par_iter().with_min_len(256).map(query).collect();
        let total: usize = lists.iter().map(Vec::len).sum();
        if total > 64 * n + nx * ny || total >= u32::MAX as usize {
            return None;
        }
        let mut start = Vec::with_capacity(nx * ny + 1);
        let mut parts = Vec::with_capacity(total);
        start.push(0);
        for l in lists {
            parts.extend_from_slice(&l);
            start.push(parts.len() as u32);
        }
        Some(Cells { origin: lo, scale: [nx as f64 / w, ny as f64 / h], nx, ny, start, parts })
    }

    /// [`GridIndex::locate`] among the candidates of the point's cell.
    fn locate_in(&self, cells: &Cells, lon: f64, lat: f64) -> Option<Hit> {
        if !lon.is_finite() || !lat.is_finite() {
            return None;
        }
        let c = cells.of(lon, lat)?;
        let candidates = &cells.parts[cells.start[c] as usize..cells.start[c + 1] as usize];
        self.hit_among(
            lon,
            lat,
            candidates.iter().copied().filter(|&p| {
                let b = &self.part_box[p as usize];
                b[0] <= lon && lon <= b[2] && b[1] <= lat && lat <= b[3]
            }),
        )
    }

    /// The grid containing a WGS84 point, if any. A point inside any part of a multipolygon
    /// grid is inside the grid.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<Hit> {
        if !lon.is_finite() || !lat.is_finite() {
            return None;
        }
        self.hit_among(lon, lat, self.tree.locate_all_at_point(&[lon, lat]).map(|e| e.data))
    }

    /// The hit among candidate parts (every part whose box holds the point must be among them).
    fn hit_among(&self, lon: f64, lat: f64, candidates: impl Iterator<Item = u32>) -> Option<Hit> {
        // Distinct containing grids; more than a handful only in pathological data.
        let mut found = [NO_GRID; 8];
        let mut n = 0usize;
        let mut extra = 0u32;
        for p in candidates {
            let g = self.part_grid[p as usize];
            if found[..n].contains(&g) || !self.parts[p as usize].contains(lon, lat) {
                continue;
            }
            if n < found.len() {
                found[n] = g;
                n += 1;
            } else {
                extra += 1;
            }
        }
        let best = found[..n].iter().copied().min()?;
        Some(Hit { grid: best, containing: n as u32 + extra })
    }

    /// Grids whose boxes intersect a lon/lat rectangle (for drawing only what is visible).
    pub fn grids_in_rect(&self, min: [f64; 2], max: [f64; 2]) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .tree
            .locate_in_envelope_intersecting(&AABB::from_corners(min, max))
            .map(|e| self.part_grid[e.data as usize])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    #[cfg(test)]
    fn grid_contains(&self, grid: u32, lon: f64, lat: f64) -> bool {
        self.parts.iter().zip(&self.part_grid).any(|(r, g)| *g == grid && r.contains(lon, lat))
    }
}

/// Assigns every incident to a grid: by location when it has one, otherwise by the grid code it
/// carries. Returns the grid of each incident ([`NO_GRID`] when none) and what happened.
pub fn assign(layer: &GridLayer, index: &GridIndex, incidents: &Incidents) -> (Vec<u32>, AssignmentReport) {
    let _span = tracing::info_span!("assign", incidents = incidents.len()).entered();
    let hits: Vec<Option<Hit>> = if incidents.len() < crate::PARALLEL_MIN {
        incidents.lon.iter().zip(&incidents.lat).map(|(&x, &y)| index.locate(x, y)).collect()
    } else {
        let t0 = std::time::Instant::now();
        let cells = index.cells();
        tracing::debug!(seconds = t0.elapsed().as_secs_f64(), "raster of candidates");
        let locate = |(&x, &y): (&f64, &f64)| match &cells {
            Some(c) => index.locate_in(c, x, y),
            None => index.locate(x, y),
        };
        let t = std::time::Instant::now();
        let hits = incidents.lon.par_iter().zip(incidents.lat.par_iter()).with_min_len(4096).map(locate).collect();
        tracing::debug!(seconds = t.elapsed().as_secs_f64(), "located");
        hits
    };
    let by_code = layer.grid_by_code();
    // Declared codes are interned: resolve each distinct one once.
    let code_grid: Vec<u32> =
        incidents.grid_codes.names.iter().map(|c| by_code.get(c.as_str()).copied().unwrap_or(NO_GRID)).collect();
    let mut report = AssignmentReport::default();
    let mut overlaps = Tally::default();
    let mut grid_of = Vec::with_capacity(incidents.len());
    for (i, hit) in hits.into_iter().enumerate() {
        let row = incidents.source_row[i] as usize;
        let own_code = incidents.grid_code[i];
        let own = (own_code != NO_CODE).then(|| (incidents.grid_codes.name(own_code), code_grid[own_code as usize]));
        let g = match hit {
            Some(h) => {
                if h.containing > 1 {
                    overlaps.add(row, || format!("id {} lies in {} grids", &incidents.id[i], h.containing));
                }
                if let Some((code, own_grid)) = own
                    && own_grid != h.grid
                {
                    let found = &layer.grids[h.grid as usize].code;
                    {
                        report
                            .grid_code_disagrees
                            .add(row, || format!("id {}: carries grid {code}, lies in {found}", &incidents.id[i]));
                    }
                }
                report.assigned += 1;
                h.grid
            }
            None if incidents.has_location(i) => {
                report
                    .outside_grids
                    .add(row, || format!("id {} at ({:.6}, {:.6})", &incidents.id[i], incidents.lon[i], incidents.lat[i]));
                NO_GRID
            }
            None => match own.map(|(_, g)| g).filter(|&g| g != NO_GRID) {
                Some(g) => {
                    report.assigned += 1;
                    report.by_grid_code += 1;
                    g
                }
                None => {
                    report.no_location += 1;
                    NO_GRID
                }
            },
        };
        grid_of.push(g);
    }
    if overlaps.count > 0 {
        tracing::warn!(points = overlaps.count, "points in overlapping grids were given to the first grid in file order");
    }
    report.in_several_grids = overlaps;
    tracing::debug!("assignment report");
    (grid_of, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Grid, GridParents};
    use geo::{LineString, Polygon, Rect};

    fn square(code: &str, x0: f64, y0: f64, x1: f64, y1: f64) -> Grid {
        let ls = LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]);
        let geometry = MultiPolygon::new(vec![Polygon::new(ls, vec![])]);
        Grid {
            code: code.into(),
            name: code.into(),
            bbox: Rect::new((x0, y0), (x1, y1)),
            geometry,
            area_km2: 1.0,
            households: None,
            worker: None,
            phone: None,
            feature: 1,
        }
    }

    fn layer(grids: Vec<Grid>) -> GridLayer {
        let n = grids.len();
        GridLayer::build(grids, vec![GridParents::default(); n])
    }

    #[test]
    fn a_point_on_a_shared_edge_lands_in_exactly_one_grid_east_or_north() {
        // Four unit squares meeting at (1, 1).
        let l = layer(vec![
            square("sw", 0.0, 0.0, 1.0, 1.0),
            square("se", 1.0, 0.0, 2.0, 1.0),
            square("nw", 0.0, 1.0, 1.0, 2.0),
            square("ne", 1.0, 1.0, 2.0, 2.0),
        ]);
        let idx = GridIndex::build(&l);
        let code = |x, y| idx.locate(x, y).map(|h| l.grids[h.grid as usize].code.clone());
        // Vertical shared edge x = 1: east side wins.
        assert_eq!(code(1.0, 0.5).as_deref(), Some("se"));
        // Horizontal shared edge y = 1: north side wins.
        assert_eq!(code(0.5, 1.0).as_deref(), Some("nw"));
        // The shared corner: north-east.
        assert_eq!(code(1.0, 1.0).as_deref(), Some("ne"));
        for (x, y) in [(1.0, 0.5), (0.5, 1.0), (1.0, 1.0), (1.0, 1.5), (1.5, 1.0)] {
            assert_eq!(idx.locate(x, y).map(|h| h.containing), Some(1), "({x},{y})");
        }
        // Outside, and on the outer boundary's east/north sides: nothing.
        assert_eq!(code(2.5, 0.5), None);
        assert_eq!(code(2.0, 0.5), None);
        assert_eq!(code(0.5, 2.0), None);
        assert_eq!(code(f64::NAN, 0.5), None);
    }

    #[test]
    fn a_slanted_shared_edge_gives_each_point_one_grid() {
        // Two triangles splitting a square along its diagonal, with awkward coordinates.
        let (x0, y0, x1, y1) = (126.3_f64, 46.7_f64, 126.4_f64, 46.83_f64);
        let t1 = Polygon::new(LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y0)]), vec![]);
        let t2 = Polygon::new(LineString::from(vec![(x0, y0), (x1, y1), (x0, y1), (x0, y0)]), vec![]);
        let mut a = square("a", x0, y0, x1, y1);
        a.geometry = MultiPolygon::new(vec![t1]);
        let mut b = square("b", x0, y0, x1, y1);
        b.geometry = MultiPolygon::new(vec![t2]);
        let l = layer(vec![a, b]);
        let idx = GridIndex::build(&l);
        for k in 1..1000 {
            let t = k as f64 / 1000.0;
            let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
            let n = [0u32, 1].iter().filter(|g| idx.grid_contains(**g, x, y)).count();
            assert_eq!(n, 1, "point {k} on the diagonal is in {n} grids");
        }
    }

    #[test]
    fn holes_are_outside_and_multipolygon_parts_are_inside() {
        let outer = LineString::from(vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)]);
        let hole = LineString::from(vec![(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0), (4.0, 4.0)]);
        let island = LineString::from(vec![(20.0, 0.0), (21.0, 0.0), (21.0, 1.0), (20.0, 0.0)]);
        let mut g = square("g", 0.0, 0.0, 21.0, 10.0);
        g.geometry = MultiPolygon::new(vec![Polygon::new(outer, vec![hole]), Polygon::new(island, vec![])]);
        let l = layer(vec![g]);
        let idx = GridIndex::build(&l);
        assert!(idx.locate(1.0, 1.0).is_some());
        assert!(idx.locate(5.0, 5.0).is_none(), "inside the hole");
        assert!(idx.locate(20.8, 0.2).is_some(), "on the island");
        assert!(idx.locate(15.0, 5.0).is_none(), "between the parts");
        assert_eq!(idx.locate(20.8, 0.2).map(|h| h.containing), Some(1));
    }

    /// The raster of candidates gives, point for point, what the R-tree query gives: on the
    /// sample city's grids, at every vertex, on every edge's midpoint, a hair either side of
    /// both, and at random points over the extent and beyond it.
    #[test]
    fn the_raster_of_candidates_locates_as_the_tree_does() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/grids.geojson");
        let (l, _) = crate::load::load_grids(&path, &Default::default()).unwrap();
        let idx = GridIndex::build(&l);
        let cells = idx.cells().expect("a raster for the sample city");
        assert!(cells.nx * cells.ny >= idx.parts.len(), "{} × {} cells", cells.nx, cells.ny);
        let mut points = Vec::new();
        for r in &idx.parts {
            for w in r.xy.windows(2) {
                let [a, b] = [w[0], w[1]];
                for (x, y) in [(a[0], a[1]), ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)] {
                    for d in [0.0, 1e-12, -1e-12, 1e-9, -1e-9] {
                        points.push((x + d, y));
                        points.push((x, y + d));
                    }
                }
            }
        }
        let [x0, y0, x1, y1] = idx.part_box.iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |m, b| {
            [m[0].min(b[0]), m[1].min(b[1]), m[2].max(b[2]), m[3].max(b[3])]
        });
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..200_000 {
            points.push((x0 - 0.01 + next() * (x1 - x0 + 0.02), y0 - 0.01 + next() * (y1 - y0 + 0.02)));
        }
        points.extend([(x0, y0), (x1, y1), (x0, y1), (x1, y0), (f64::NAN, y0), (x0, f64::INFINITY)]);
        let mut inside = 0;
        for &(x, y) in &points {
            let want = idx.locate(x, y);
            assert_eq!(idx.locate_in(&cells, x, y), want, "({x}, {y})");
            inside += want.is_some() as usize;
        }
        assert!(inside > points.len() / 4, "{inside} of {} points in a grid", points.len());
    }

    #[test]
    fn overlapping_grids_give_the_point_to_the_first_and_say_so() {
        let l = layer(vec![square("a", 0.0, 0.0, 2.0, 2.0), square("b", 1.0, 1.0, 3.0, 3.0)]);
        let idx = GridIndex::build(&l);
        assert_eq!(idx.locate(1.5, 1.5), Some(Hit { grid: 0, containing: 2 }));
    }

    #[test]
    fn incidents_without_location_use_their_grid_code_and_the_rest_are_kept_unassigned() {
        let l = layer(vec![square("A1", 0.0, 0.0, 1.0, 1.0), square("A2", 1.0, 0.0, 2.0, 1.0)]);
        let idx = GridIndex::build(&l);
        let mut inc = Incidents::default();
        for (i, (x, y, code)) in [
            (0.5, 0.5, None),
            (1.5, 0.5, Some("A1")),
            (f64::NAN, f64::NAN, Some("A2")),
            (f64::NAN, f64::NAN, None),
            (9.0, 9.0, None),
        ]
        .into_iter()
        .enumerate()
        {
            inc.id.push(&format!("e{i}"));
            inc.lon.push(x);
            inc.lat.push(y);
            let c = code.map_or(NO_CODE, |c| inc.grid_codes.intern(c));
            inc.grid_code.push(c);
            inc.source_row.push(i as u32 + 2);
        }
        let (grid_of, rep) = assign(&l, &idx, &inc);
        assert_eq!(grid_of, vec![0, 1, 1, NO_GRID, NO_GRID]);
        assert_eq!(rep.assigned, 3);
        assert_eq!(rep.by_grid_code, 1);
        assert_eq!(rep.no_location, 1);
        assert_eq!(rep.outside_grids.count, 1);
        assert_eq!(rep.grid_code_disagrees.count, 1);
        assert_eq!(rep.grid_code_disagrees.examples[0].0, 3);
    }
}
