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

use geo::BoundingRect;
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::model::{GridLayer, Incidents, NO_CODE, NO_GRID};
use crate::report::AssignmentReport;

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// The R-tree and the rings of every polygon part, flattened: part `p`'s rings are
/// `ring_start[part_ring[p]..=part_ring[p + 1]]`, each ring's vertices `xy[ring_start[r]..ring_start[r + 1]]`.
#[derive(Debug, Clone)]
pub struct GridIndex {
    tree: RTree<Entry>,
    xy: Vec<[f64; 2]>,
    ring_start: Vec<u32>,
    part_ring: Vec<u32>,
    /// The grid of each part.
    part_grid: Vec<u32>,
    /// The box of each part: `[min x, min y, max x, max y]`.
    part_box: Vec<[f64; 4]>,
}

/// Cells of a regular raster over the extent of all parts, each holding what a point in it
/// needs: no part ([`Cells::EMPTY`]), one grid that covers the whole cell and no other part
/// meets it ([`Cells::WHOLE`] | grid), or the index in `lists` of its candidates (a count, then
/// the parts, [`Cells::WHOLE`] marking a part that covers the whole cell).
///
/// A cell is classified on its rectangle grown by a margin of a millionth of a cell, which
/// holds every point [`Cells::of`] puts in it despite rounding. A part none of whose edges
/// meets that rectangle contains either all of it or none of it (a point's crossing number
/// changes only across an edge), which its centre tells; only parts with an edge in the cell
/// are candidates to test exactly.
struct Cells {
    origin: [f64; 2],
    /// Cells per unit of x and of y.
    scale: [f64; 2],
    nx: usize,
    ny: usize,
    word: Vec<u32>,
    lists: Vec<u32>,
}

impl Cells {
    const EMPTY: u32 = u32::MAX;
    const WHOLE: u32 = 1 << 31;
    /// About this many cells per part.
    const PER_PART: usize = 16;

    /// The cell of a point, `None` outside the extent (where no part is). The index never
    /// decreases as x or y grows; a point a hair past the upper edges (rounding) is given the
    /// last cell, whose margin holds it.
    fn of(&self, x: f64, y: f64) -> Option<usize> {
        let fx = (x - self.origin[0]) * self.scale[0];
        let fy = (y - self.origin[1]) * self.scale[1];
        if !(fx >= 0.0 && fy >= 0.0 && fx <= self.nx as f64 + 1e-7 && fy <= self.ny as f64 + 1e-7) {
            return None;
        }
        let (i, j) = ((fx as usize).min(self.nx - 1), (fy as usize).min(self.ny - 1));
        Some(j * self.nx + i)
    }
}

/// Whether the segment `a`–`b` meets the rectangle `[min x, min y, max x, max y]`; when it only
/// comes within rounding of it, yes (the caller's margin makes that safe).
fn segment_meets(a: [f64; 2], b: [f64; 2], r: [f64; 4]) -> bool {
    if a[0].max(b[0]) < r[0] || a[0].min(b[0]) > r[2] || a[1].max(b[1]) < r[1] || a[1].min(b[1]) > r[3] {
        return false;
    }
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let side = |x: f64, y: f64| dx * (y - a[1]) - dy * (x - a[0]);
    let s = [side(r[0], r[1]), side(r[2], r[1]), side(r[0], r[3]), side(r[2], r[3])];
    !(s.iter().all(|&v| v > 0.0) || s.iter().all(|&v| v < 0.0))
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
        let mut index = GridIndex {
            tree: RTree::new(),
            xy: Vec::new(),
            ring_start: Vec::new(),
            part_ring: vec![0],
            part_grid: Vec::with_capacity(layer.grids.len()),
            part_box: Vec::with_capacity(layer.grids.len()),
        };
        for (i, g) in layer.grids.iter().enumerate() {
            for part in &g.geometry.0 {
                if let Some(r) = part.bounding_rect() {
                    let rect = Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                    entries.push(GeomWithData::new(rect, index.part_grid.len() as u32));
                    for ls in std::iter::once(part.exterior()).chain(part.interiors()) {
                        index.ring_start.push(index.xy.len() as u32);
                        index.xy.extend(ls.coords().map(|c| [c.x, c.y]));
                    }
                    index.part_ring.push(index.ring_start.len() as u32);
                    index.part_grid.push(i as u32);
                    index.part_box.push([r.min().x, r.min().y, r.max().x, r.max().y]);
                }
            }
        }
        index.ring_start.push(index.xy.len() as u32);
        index.tree = RTree::bulk_load(entries);
        index
    }

    /// The rings of part `p`, exterior first.
    fn rings(&self, p: u32) -> impl Iterator<Item = &[[f64; 2]]> {
        let (r0, r1) = (self.part_ring[p as usize] as usize, self.part_ring[p as usize + 1] as usize);
        (r0..r1).map(move |r| &self.xy[self.ring_start[r] as usize..self.ring_start[r + 1] as usize])
    }

    /// Crossing-number test of part `p` with the half-open boundary rule in the module docs.
    fn contains(&self, p: u32, px: f64, py: f64) -> bool {
        let mut inside = false;
        for ring in self.rings(p) {
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

    /// The raster for a batch of points: about [`Cells::PER_PART`] cells per part, each part
    /// classifying the cells its box meets. `None` for an empty or degenerate extent, cells
    /// too small for the margin to dwarf rounding, or parts' boxes covering the extent so many
    /// times over that the raster would be large (the tree is then asked per point).
    fn cells(&self) -> Option<Cells> {
        let n = self.part_grid.len();
        if n == 0 || n >= Cells::WHOLE as usize || self.part_grid.iter().any(|&g| g >= Cells::WHOLE - 1) {
            return None;
        }
        let env = self.tree.root().envelope();
        let (lo, hi) = (env.lower(), env.upper());
        let (w, h) = (hi[0] - lo[0], hi[1] - lo[1]);
        if !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite()) {
            return None;
        }
        // Cells a [`Cells::PER_PART`]th of the mean part's box (the extent may be mostly empty),
        // but not many more cells than parts.
        let boxes: f64 = self.part_box.iter().map(|b| (b[2] - b[0]) * (b[3] - b[1])).sum();
        let cap = (64 * n + 1024).min(1 << 22) as f64;
        let side = (boxes / (Cells::PER_PART * n) as f64).sqrt().max((w * h / cap).sqrt());
        let nx = ((w / side).ceil() as usize).clamp(1, 1 << 12);
        let ny = ((h / side).ceil() as usize).clamp(1, 1 << 12);
        let (cw, ch) = (w / nx as f64, h / ny as f64);
        // Degrees: a cell of a metre or more keeps rounding (1e-13°) far inside the margin.
        if cw.min(ch) < 1e-5 {
            return None;
        }
        // The cells a box meets (generously: an extra cell only costs a test).
        let span = |b: &[f64; 4]| {
            let at = |v: f64, o: f64, c: f64, n: usize| (((v - o) / c).floor().max(0.0) as usize).min(n - 1);
            let (i0, i1) = (at(b[0] - cw * 1e-3, lo[0], cw, nx), at(b[2] + cw * 1e-3, lo[0], cw, nx));
            let (j0, j1) = (at(b[1] - ch * 1e-3, lo[1], ch, ny), at(b[3] + ch * 1e-3, lo[1], ch, ny));
            (i0, i1, j0, j1)
        };
        let total: usize = self
            .part_box
            .iter()
            .map(|b| {
                let (i0, i1, j0, j1) = span(b);
                (i1 - i0 + 1) * (j1 - j0 + 1)
            })
            .sum();
        if total > 64 * n + nx * ny || total >= Cells::WHOLE as usize {
            return None;
        }
        let (mx, my) = (cw * 1e-6, ch * 1e-6);
        let rect = |i: usize, j: usize| {
            let (x0, y0) = (lo[0] + i as f64 * cw, lo[1] + j as f64 * ch);
            [x0 - mx, y0 - my, x0 + cw + mx, y0 + ch + my]
        };
        // (cell, part | WHOLE when it covers the cell) for every cell a part meets.
        let classify = |p: usize| -> Vec<(u32, u32)> {
            let (i0, i1, j0, j1) = span(&self.part_box[p]);
            let bw = i1 - i0 + 1;
            let mut edge = vec![false; bw * (j1 - j0 + 1)];
            for ring in self.rings(p as u32) {
                for e in ring.windows(2) {
                    let (a, b) = (e[0], e[1]);
                    let eb = [a[0].min(b[0]), a[1].min(b[1]), a[0].max(b[0]), a[1].max(b[1])];
                    let (ei0, ei1, ej0, ej1) = span(&eb);
                    for j in ej0.max(j0)..=ej1.min(j1) {
                        for i in ei0.max(i0)..=ei1.min(i1) {
                            let k = (j - j0) * bw + i - i0;
                            if !edge[k] && segment_meets(a, b, rect(i, j)) {
                                edge[k] = true;
                            }
                        }
                    }
                }
            }
            let mut out = Vec::new();
            for j in j0..=j1 {
                for i in i0..=i1 {
                    let cell = (j * nx + i) as u32;
                    if edge[(j - j0) * bw + i - i0] {
                        out.push((cell, p as u32));
                    } else if self.contains(p as u32, lo[0] + (i as f64 + 0.5) * cw, lo[1] + (j as f64 + 0.5) * ch) {
                        out.push((cell, p as u32 | Cells::WHOLE));
                    }
                }
            }
            out
        };
        let mut entries: Vec<(u32, u32)> = (0..n).into_par_iter().with_min_len(64).flat_map_iter(classify).collect();
        entries.par_sort_unstable();
        let mut word = vec![Cells::EMPTY; nx * ny];
        let mut lists = Vec::new();
        for group in entries.chunk_by(|a, b| a.0 == b.0) {
            let (cell, first) = group[0];
            word[cell as usize] = if group.len() == 1 && first & Cells::WHOLE != 0 {
                Cells::WHOLE | self.part_grid[(first & !Cells::WHOLE) as usize]
            } else {
                let at = lists.len() as u32;
                lists.push(group.len() as u32);
                lists.extend(group.iter().map(|e| e.1));
                at
            };
        }
        if lists.len() >= Cells::WHOLE as usize {
            return None;
        }
        Some(Cells { origin: lo, scale: [nx as f64 / w, ny as f64 / h], nx, ny, word, lists })
    }

    /// [`GridIndex::locate`] with the raster.
    fn locate_in(&self, cells: &Cells, lon: f64, lat: f64) -> Option<Hit> {
        if !lon.is_finite() || !lat.is_finite() {
            return None;
        }
        let w = cells.word[cells.of(lon, lat)?];
        if w == Cells::EMPTY {
            return None;
        }
        if w & Cells::WHOLE != 0 {
            return Some(Hit { grid: w & !Cells::WHOLE, containing: 1 });
        }
        let len = cells.lists[w as usize] as usize;
        let list = &cells.lists[w as usize + 1..w as usize + 1 + len];
        self.hit_among(
            lon,
            lat,
            list.iter().map(|&q| (q & !Cells::WHOLE, q & Cells::WHOLE != 0)).filter(|&(p, whole)| {
                let b = &self.part_box[p as usize];
                whole || (b[0] <= lon && lon <= b[2] && b[1] <= lat && lat <= b[3])
            }),
        )
    }

    /// The grid containing a WGS84 point, if any. A point inside any part of a multipolygon
    /// grid is inside the grid.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<Hit> {
        if !lon.is_finite() || !lat.is_finite() {
            return None;
        }
        self.hit_among(lon, lat, self.tree.locate_all_at_point(&[lon, lat]).map(|e| (e.data, false)))
    }

    /// The hit among candidate parts (every part whose box holds the point must be among them;
    /// a part marked as known to contain the point is not tested).
    fn hit_among(&self, lon: f64, lat: f64, candidates: impl Iterator<Item = (u32, bool)>) -> Option<Hit> {
        // Distinct containing grids; more than a handful only in pathological data.
        let mut found = [NO_GRID; 8];
        let mut n = 0usize;
        let mut extra = 0u32;
        for (p, known) in candidates {
            let g = self.part_grid[p as usize];
            if found[..n].contains(&g) || !(known || self.contains(p, lon, lat)) {
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
        (0..self.part_grid.len() as u32).any(|p| self.part_grid[p as usize] == grid && self.contains(p, lon, lat))
    }
}

/// Assigns every incident to a grid: by location when it has one, otherwise by the grid code it
/// carries. Returns the grid of each incident ([`NO_GRID`] when none) and what happened.
///
/// Large batches run on all cores in chunks of consecutive incidents, each writing its grids in
/// place and keeping its own report; the reports are merged in chunk order, so the examples are
/// the first in row order, as one pass gives.
pub fn assign(layer: &GridLayer, index: &GridIndex, incidents: &Incidents) -> (Vec<u32>, AssignmentReport) {
    let _span = tracing::info_span!("assign", incidents = incidents.len()).entered();
    let n = incidents.len();
    let by_code = layer.grid_by_code();
    // Declared codes are interned: resolve each distinct one once.
    let code_grid: Vec<u32> =
        incidents.grid_codes.names.iter().map(|c| by_code.get(c.as_str()).copied().unwrap_or(NO_GRID)).collect();
    let t0 = std::time::Instant::now();
    let cells = if n >= crate::PARALLEL_MIN { index.cells() } else { None };
    tracing::debug!(seconds = t0.elapsed().as_secs_f64(), "raster of candidates");
    let place = Place { layer, index, incidents, cells: cells.as_ref(), code_grid: &code_grid };
    let t = std::time::Instant::now();
    let mut grid_of = vec![NO_GRID; n];
    let mut report = AssignmentReport::default();
    if n < crate::PARALLEL_MIN {
        place.chunk(0, &mut grid_of, &mut report);
    } else {
        const CHUNK: usize = 16_384;
        let parts: Vec<AssignmentReport> = grid_of
            .par_chunks_mut(CHUNK)
            .enumerate()
            .map(|(k, out)| {
                let mut r = AssignmentReport::default();
                place.chunk(k * CHUNK, out, &mut r);
                r
            })
            .collect();
        for r in parts {
            report.absorb(r);
        }
    }
    tracing::debug!(seconds = t.elapsed().as_secs_f64(), "located");
    if report.in_several_grids.count > 0 {
        tracing::warn!(
            points = report.in_several_grids.count,
            "points in overlapping grids were given to the first grid in file order"
        );
    }
    (grid_of, report)
}

/// What placing an incident needs.
struct Place<'a> {
    layer: &'a GridLayer,
    index: &'a GridIndex,
    incidents: &'a Incidents,
    cells: Option<&'a Cells>,
    /// The grid of each declared code ([`NO_GRID`] when no grid has it).
    code_grid: &'a [u32],
}

impl Place<'_> {
    /// Places the incidents from `first` on, one per slot of `out`, counting into `report`.
    fn chunk(&self, first: usize, out: &mut [u32], report: &mut AssignmentReport) {
        let inc = self.incidents;
        for (j, slot) in out.iter_mut().enumerate() {
            let i = first + j;
            let (x, y) = (inc.lon[i], inc.lat[i]);
            let hit = match self.cells {
                Some(c) => self.index.locate_in(c, x, y),
                None => self.index.locate(x, y),
            };
            let row = inc.source_row[i] as usize;
            let own_code = inc.grid_code[i];
            let own = (own_code != NO_CODE).then(|| (own_code, self.code_grid[own_code as usize]));
            *slot = match hit {
                Some(h) => {
                    if h.containing > 1 {
                        report.in_several_grids.add(row, || format!("id {} lies in {} grids", &inc.id[i], h.containing));
                    }
                    if let Some((code, own_grid)) = own
                        && own_grid != h.grid
                    {
                        let found = &self.layer.grids[h.grid as usize].code;
                        report.grid_code_disagrees.add(row, || {
                            format!("id {}: carries grid {}, lies in {found}", &inc.id[i], inc.grid_codes.name(code))
                        });
                    }
                    report.assigned += 1;
                    h.grid
                }
                None if inc.has_location(i) => {
                    report.outside_grids.add(row, || format!("id {} at ({:.6}, {:.6})", &inc.id[i], x, y));
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Grid, GridParents};
    use geo::{LineString, MultiPolygon, Polygon, Rect};

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

    /// Points at every vertex, on every edge's midpoint, a hair either side of both, and at
    /// random over the extent and beyond it.
    fn probe_points(idx: &GridIndex, random: usize) -> Vec<(f64, f64)> {
        let mut points = Vec::new();
        for p in 0..idx.part_grid.len() as u32 {
            for ring in idx.rings(p) {
                for w in ring.windows(2) {
                    let [a, b] = [w[0], w[1]];
                    for (x, y) in [(a[0], a[1]), ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)] {
                        for d in [0.0, 1e-12, -1e-12, 1e-9, -1e-9] {
                            points.push((x + d, y));
                            points.push((x, y + d));
                        }
                    }
                }
            }
        }
        let [x0, y0, x1, y1] = idx.part_box.iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |m, b| {
            [m[0].min(b[0]), m[1].min(b[1]), m[2].max(b[2]), m[3].max(b[3])]
        });
        let mut rng = crate::xorshift(0x2545_f491_4f6c_dd1d);
        let mut next = || (rng() >> 11) as f64 / (1u64 << 53) as f64;
        let (mx, my) = ((x1 - x0) * 0.01, (y1 - y0) * 0.01);
        for _ in 0..random {
            points.push((x0 - mx + next() * (x1 - x0 + 2.0 * mx), y0 - my + next() * (y1 - y0 + 2.0 * my)));
        }
        points.extend([(x0, y0), (x1, y1), (x0, y1), (x1, y0), (f64::NAN, y0), (x0, f64::INFINITY)]);
        points.extend([(x1 + 1e-12, y0), (x1, y1 + 1e-12), (x1 + 1.0, y1), (x0 - 1e-12, y1)]);
        points
    }

    /// The raster gives, point for point, what the R-tree query gives; and most random points
    /// are answered by a cell one grid covers whole.
    fn raster_agrees_with_the_tree(idx: &GridIndex, random: usize) {
        let cells = idx.cells().expect("a raster");
        assert!(cells.nx * cells.ny >= idx.part_grid.len(), "{} × {} cells", cells.nx, cells.ny);
        let points = probe_points(idx, random);
        let mut inside = 0;
        for &(x, y) in &points {
            let want = idx.locate(x, y);
            assert_eq!(idx.locate_in(&cells, x, y), want, "({x}, {y})");
            inside += want.is_some() as usize;
        }
        assert!(inside > points.len() / 4, "{inside} of {} points in a grid", points.len());
        // The random points (after the ones on edges) inside a grid: many need no exact test.
        let (mut inside, mut whole) = (0, 0);
        for &(x, y) in &points[points.len() - random - 10..points.len() - 10] {
            if idx.locate(x, y).is_some() {
                inside += 1;
                let w = cells.of(x, y).map(|c| cells.word[c]);
                whole += w.is_some_and(|w| w != Cells::EMPTY && w & Cells::WHOLE != 0) as usize;
            }
        }
        eprintln!("{whole} of {inside} random points inside grids were in whole cells");
        assert!(whole * 3 > inside, "{whole} of {inside} random points inside grids were in whole cells");
    }

    #[test]
    fn the_raster_locates_as_the_tree_does_on_the_sample_city() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/grids.geojson");
        let (l, _) = crate::load::load_grids(&path, &Default::default()).unwrap();
        raster_agrees_with_the_tree(&GridIndex::build(&l), 200_000);
    }

    /// Slanted edges, a hole, a multipolygon's island, overlapping grids and a grid inside
    /// another's hole.
    #[test]
    fn the_raster_locates_as_the_tree_does_on_awkward_shapes() {
        let poly = |pts: &[(f64, f64)], holes: Vec<Vec<(f64, f64)>>| {
            Polygon::new(LineString::from(pts.to_vec()), holes.into_iter().map(LineString::from).collect())
        };
        let mut grids = Vec::new();
        let mut add = |code: &str, parts: Vec<Polygon>| {
            let mut g = square(code, 0.0, 0.0, 1.0, 1.0);
            g.geometry = MultiPolygon::new(parts);
            grids.push(g);
        };
        let (x0, y0) = (126.3, 46.7);
        let at = |x: f64, y: f64| (x0 + x * 0.013, y0 + y * 0.011);
        add("tri-a", vec![poly(&[at(0.0, 0.0), at(3.0, 0.0), at(3.0, 2.0), at(0.0, 0.0)], vec![])]);
        add("tri-b", vec![poly(&[at(0.0, 0.0), at(3.0, 2.0), at(0.0, 2.0), at(0.0, 0.0)], vec![])]);
        add(
            "holed",
            vec![
                poly(
                    &[at(3.0, 0.0), at(7.0, 0.0), at(7.0, 4.0), at(3.0, 4.0), at(3.0, 0.0)],
                    vec![vec![at(4.0, 1.0), at(6.0, 1.0), at(5.0, 3.0), at(4.0, 1.0)]],
                ),
                poly(&[at(8.0, 0.0), at(9.0, 0.5), at(8.5, 1.5), at(8.0, 0.0)], vec![]),
            ],
        );
        add("in-hole", vec![poly(&[at(4.5, 1.5), at(5.5, 1.5), at(5.0, 2.5), at(4.5, 1.5)], vec![])]);
        add("over", vec![poly(&[at(1.0, 1.0), at(4.0, 1.0), at(4.0, 3.0), at(1.0, 3.0), at(1.0, 1.0)], vec![])]);
        for k in 0..40 {
            let (cx, cy) = ((k % 8) as f64, 5.0 + (k / 8) as f64);
            add(
                &format!("row{k}"),
                vec![poly(&[at(cx, cy), at(cx + 1.0, cy + 0.1), at(cx + 0.9, cy + 1.0), at(cx, cy + 0.9), at(cx, cy)], vec![])],
            );
        }
        let l = layer(grids);
        raster_agrees_with_the_tree(&GridIndex::build(&l), 200_000);
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

    /// A batch large enough to run in chunks on all cores gives the grids and the report (counts
    /// and the first examples, in row order) of one pass over it with a query per point.
    #[test]
    fn a_batch_in_chunks_is_placed_and_reported_as_one_pass() {
        // Two overlapping squares beside two that share an edge, codes A0..A3.
        let l = layer(vec![
            square("A0", 0.0, 0.0, 2.0, 2.0),
            square("A1", 1.0, 1.0, 3.0, 3.0),
            square("A2", 3.0, 0.0, 4.0, 1.0),
            square("A3", 4.0, 0.0, 5.0, 1.0),
        ]);
        let idx = GridIndex::build(&l);
        let mut inc = Incidents::default();
        let mut next = crate::xorshift(0x9e37_79b9_7f4a_7c15);
        let n = 5 * crate::PARALLEL_MIN + 17;
        for i in 0..n {
            let r = next();
            let (x, y) = match r % 11 {
                // No location.
                0 => (f64::NAN, f64::NAN),
                // On the shared edge x = 4, or a vertex.
                1 => (4.0, (r >> 8) as f64 / (1u64 << 56) as f64),
                2 => (1.0, 1.0),
                _ => ((r >> 8) as f64 / (1u64 << 56) as f64 * 6.0 - 0.5, (r >> 32) as f64 / (1u64 << 32) as f64 * 4.0 - 0.5),
            };
            inc.id.push(&format!("e{i}"));
            inc.lon.push(x);
            inc.lat.push(y);
            let c = match (r >> 4) % 6 {
                k @ 0..=3 => inc.grid_codes.intern(&format!("A{k}")),
                4 => inc.grid_codes.intern("ZZ"),
                _ => NO_CODE,
            };
            inc.grid_code.push(c);
            inc.source_row.push(i as u32 + 2);
        }
        let (grid_of, rep) = assign(&l, &idx, &inc);
        // One pass with a tree query per point.
        let by_code = l.grid_by_code();
        let code_grid: Vec<u32> =
            inc.grid_codes.names.iter().map(|c| by_code.get(c.as_str()).copied().unwrap_or(NO_GRID)).collect();
        let place = Place { layer: &l, index: &idx, incidents: &inc, cells: None, code_grid: &code_grid };
        let mut want = vec![NO_GRID; n];
        let mut want_rep = AssignmentReport::default();
        place.chunk(0, &mut want, &mut want_rep);
        assert_eq!(grid_of, want);
        assert_eq!(format!("{rep:?}"), format!("{want_rep:?}"));
        // The batch met every case, beyond the first chunk.
        for t in [&rep.outside_grids, &rep.grid_code_disagrees, &rep.in_several_grids] {
            assert!(t.count > 2 * t.examples.len() && !t.examples.is_empty(), "{t:?}");
        }
        assert!(rep.by_grid_code > 0 && rep.no_location > 0, "{rep:?}");
        assert_eq!(rep.assigned + rep.unassigned(), n);
    }
}
