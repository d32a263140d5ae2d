//! Pure geometry for drawing: Web Mercator coordinates and the grid mesh, triangulated once.
//!
//! egui fills only convex polygons, so every grid is triangulated with geo's earcut when the
//! data loads; a frame then maps Mercator vertices to the screen with one scale and offset
//! (Mercator is linear on screen at a given zoom), which costs a multiply-add per vertex.

use geo::{MultiPolygon, TriangulateEarcut};

use crate::crs::Crs;
use crate::model::GridLayer;

/// Web Mercator of a WGS84 lon/lat, normalised to [0, 1] × [0, 1] (x east, y south), as tile
/// pyramids use it.
pub fn mercator(lon: f64, lat: f64) -> [f64; 2] {
    let lat = lat.clamp(-85.051_128_78, 85.051_128_78).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0;
    [x, y]
}

/// The inverse of [`mercator`].
pub fn unmercator(x: f64, y: f64) -> (f64, f64) {
    let lon = x * 360.0 - 180.0;
    let n = std::f64::consts::PI * (1.0 - 2.0 * y);
    (lon, n.sinh().atan().to_degrees())
}

/// All grids as one triangle mesh plus their outlines, in Mercator coordinates.
#[derive(Debug, Clone, Default)]
pub struct GridMesh {
    pub vertices: Vec<[f64; 2]>,
    pub indices: Vec<u32>,
    /// `indices[tri_range[g].0 .. tri_range[g].1]` are grid g's triangles.
    pub tri_range: Vec<(u32, u32)>,
    /// Outline rings: `vertices[ring]` closed polylines, with the grid each belongs to.
    pub rings: Vec<(u32, std::ops::Range<u32>)>,
    /// `vertices[vert_range[g].0 .. vert_range[g].1]` are grid g's (rings and triangles), so a
    /// frame projects only the visible grids' vertices.
    pub vert_range: Vec<(u32, u32)>,
    /// `rings[ring_range[g].0 .. ring_range[g].1]` are grid g's rings.
    pub ring_range: Vec<(u32, u32)>,
}

impl GridMesh {
    /// Triangulates every grid; vertices in Mercator of the `display` system (WGS84, or GCJ-02
    /// under an Amap-aligned basemap).
    pub fn build(layer: &GridLayer, display: Crs) -> GridMesh {
        let _span = tracing::info_span!("triangulate", grids = layer.grids.len()).entered();
        let mut m = GridMesh::default();
        for (g, grid) in layer.grids.iter().enumerate() {
            let start = m.indices.len() as u32;
            let (v0, r0) = (m.vertices.len() as u32, m.rings.len() as u32);
            m.add(g as u32, &grid.geometry, display);
            m.vert_range.push((v0, m.vertices.len() as u32));
            m.ring_range.push((r0, m.rings.len() as u32));
            m.tri_range.push((start, m.indices.len() as u32));
        }
        m
    }

    fn add(&mut self, g: u32, mp: &MultiPolygon<f64>, display: Crs) {
        let to_m = |x: f64, y: f64| {
            let (x, y) = display.from_wgs84(x, y);
            mercator(x, y)
        };
        for poly in &mp.0 {
            // Outlines: every ring, as drawn.
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                let s = self.vertices.len() as u32;
                self.vertices.extend(ring.coords().map(|c| to_m(c.x, c.y)));
                self.rings.push((g, s..self.vertices.len() as u32));
            }
            // Fill: earcut over the polygon with its holes.
            let raw = poly.earcut_triangles_raw();
            let base = self.vertices.len() as u32;
            self.vertices.extend(raw.vertices.iter().map(|xy| to_m(xy[0], xy[1])));
            self.indices.extend(raw.triangle_indices.iter().map(|&i| base + i as u32));
        }
    }

    /// Area of grid g's triangles in Mercator units (for tests: equals the polygon's area).
    pub fn triangle_area(&self, g: usize) -> f64 {
        let (a, b) = self.tri_range[g];
        self.indices[a as usize..b as usize]
            .chunks_exact(3)
            .map(|t| {
                let [p, q, r] = [self.vertices[t[0] as usize], self.vertices[t[1] as usize], self.vertices[t[2] as usize]];
                ((q[0] - p[0]) * (r[1] - p[1]) - (r[0] - p[0]) * (q[1] - p[1])).abs() / 2.0
            })
            .sum()
    }
}

/// Class breaks for a choropleth: `n` classes by quantiles of the finite values (so the colours
/// spread over the grids), returned as the n − 1 inner breaks, ascending and distinct.
pub fn quantile_breaks(values: &[f64], n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() || n < 2 {
        return Vec::new();
    }
    v.sort_by(f64::total_cmp);
    let mut out: Vec<f64> = (1..n).map(|k| v[(k * v.len() / n).min(v.len() - 1)]).collect();
    out.dedup();
    out
}

/// The class of a value given the inner breaks (0 ..= breaks.len()); `None` for no data.
pub fn class_of(value: Option<f64>, breaks: &[f64]) -> Option<usize> {
    let v = value.filter(|v| v.is_finite())?;
    Some(breaks.partition_point(|b| *b <= v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Grid, GridParents};
    use geo::{Area, BoundingRect, LineString, MapCoords, Polygon};

    #[test]
    fn mercator_matches_the_tile_pyramid_and_inverts() {
        assert_eq!(mercator(0.0, 0.0), [0.5, 0.5]);
        assert_eq!(mercator(-180.0, 0.0)[0], 0.0);
        // The top edge of tile row 0 is at the projection's latitude limit.
        assert!(mercator(0.0, 85.051_128_78)[1].abs() < 1e-9);
        let (lon, lat) = unmercator(mercator(130.32, 46.8)[0], mercator(130.32, 46.8)[1]);
        assert!((lon - 130.32).abs() < 1e-12 && (lat - 46.8).abs() < 1e-12);
    }

    #[test]
    fn a_concave_grid_with_a_hole_is_covered_exactly_by_its_triangles() {
        // An L-shaped grid with a square hole.
        let outer =
            LineString::from(vec![(0.0, 0.0), (0.02, 0.0), (0.02, 0.01), (0.01, 0.01), (0.01, 0.02), (0.0, 0.02), (0.0, 0.0)]);
        let hole = LineString::from(vec![(0.002, 0.002), (0.004, 0.002), (0.004, 0.004), (0.002, 0.004), (0.002, 0.002)]);
        let poly = Polygon::new(outer, vec![hole]);
        let geometry = MultiPolygon::new(vec![poly]);
        let grid = Grid {
            code: "L".into(),
            name: "L".into(),
            bbox: geometry.bounding_rect().unwrap(),
            geometry: geometry.clone(),
            area_km2: 0.0,
            households: None,
            worker: None,
            phone: None,
            feature: 1,
        };
        let layer = GridLayer::build(vec![grid], vec![GridParents::default()]);
        let mesh = GridMesh::build(&layer, Crs::Wgs84);
        let merc_area = geometry.map_coords(|c| {
            let [x, y] = mercator(c.x, c.y);
            geo::Coord { x, y }
        });
        let want = merc_area.unsigned_area();
        let got = mesh.triangle_area(0);
        assert!((got - want).abs() / want < 1e-9, "{got} vs {want}");
        assert_eq!(mesh.rings.len(), 2, "exterior and hole outlines");
    }

    #[test]
    fn quantile_breaks_spread_values_and_no_data_has_no_class() {
        let v: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let b = quantile_breaks(&v, 5);
        assert_eq!(b, vec![20.0, 40.0, 60.0, 80.0]);
        assert_eq!(class_of(Some(0.0), &b), Some(0));
        assert_eq!(class_of(Some(20.0), &b), Some(1));
        assert_eq!(class_of(Some(99.0), &b), Some(4));
        assert_eq!(class_of(None, &b), None);
        assert_eq!(class_of(Some(f64::NAN), &b), None);
        assert_eq!(quantile_breaks(&[1.0, 1.0, 1.0], 5), vec![1.0]);
    }
}
