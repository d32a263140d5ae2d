//! The grid map: a walkers plugin that paints the precomputed layers (choropleth, outlines per
//! level, heatmap texture, incident points or clusters, selection, labels) and reports what the
//! pointer is over and what was clicked. Everything it draws was computed off the UI thread; a
//! frame only projects, culls and paints.

use egui::{Align2, Color32, FontId, Mesh, Pos2, Rect, Shape, Stroke, TextureId, Vec2, pos2};
use gridcentre_core::layers::{FINE_LEVEL, LabelBox, place_labels};
use gridcentre_core::model::Level;
use gridcentre_core::render::{mercator, unmercator};
use serde::{Deserialize, Serialize};
use walkers::{MapMemory, Plugin, Projector, lon_lat};

use super::state::Loaded;
use super::theme;

/// Mercator → screen for the current frame: `screen = origin + (m − centre) · scale`.
#[derive(Debug, Clone, Copy)]
pub struct ScreenTransform {
    pub centre: [f64; 2],
    pub scale: f64,
    pub origin: Pos2,
}

impl ScreenTransform {
    /// From walkers' projector: its centre and zoom give the affine map exactly.
    pub fn from_projector(p: &Projector) -> ScreenTransform {
        let origin = p.clip_rect().center();
        let c = p.unproject(origin.to_vec2());
        ScreenTransform { centre: mercator(c.x(), c.y()), scale: 256.0 * 2f64.powf(p.zoom()), origin }
    }
    pub fn apply(&self, m: [f64; 2]) -> Pos2 {
        Pos2::new(
            self.origin.x + ((m[0] - self.centre[0]) * self.scale) as f32,
            self.origin.y + ((m[1] - self.centre[1]) * self.scale) as f32,
        )
    }
    /// Screen → Mercator.
    pub fn mercator(&self, p: Pos2) -> [f64; 2] {
        [self.centre[0] + (p.x - self.origin.x) as f64 / self.scale, self.centre[1] + (p.y - self.origin.y) as f64 / self.scale]
    }
    /// Screen → lon/lat (of the display system).
    pub fn lon_lat(&self, p: Pos2) -> (f64, f64) {
        let m = self.mercator(p);
        unmercator(m[0], m[1])
    }
    /// The Mercator (min, max) of a screen rectangle.
    pub fn rect(&self, r: Rect) -> ([f64; 2], [f64; 2]) {
        (self.mercator(r.min), self.mercator(r.max))
    }
}

/// How incident points are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PointColour {
    #[default]
    Category,
    Status,
}

/// Which layers are on (persisted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Layers {
    pub choropleth: bool,
    pub outlines: bool,
    pub labels: bool,
    pub points: bool,
    pub heatmap: bool,
    pub point_colour: PointColour,
    /// Heatmap kernel radius, screen pixels.
    pub heat_radius: f32,
    pub heat_intensity: f32,
}

impl Default for Layers {
    fn default() -> Self {
        Self {
            choropleth: true,
            outlines: true,
            labels: true,
            points: true,
            heatmap: false,
            point_colour: PointColour::Category,
            heat_radius: 24.0,
            heat_intensity: 1.0,
        }
    }
}

/// What is selected: a unit at some level, or one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Unit(Level, u32),
    Incident(u32),
}

/// What was clicked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clicked {
    Grid(u32),
    Incident(u32),
    /// A cluster of several incidents: zoom in on it.
    Cluster([f64; 2]),
    Empty,
}

/// What the map reports back for this frame.
#[derive(Debug, Default, Clone)]
pub struct MapEvents {
    pub hovered_grid: Option<u32>,
    pub hovered_incident: Option<u32>,
    pub clicked: Option<Clicked>,
    /// The visible Mercator rectangle, the zoom and the map's size in pixels.
    pub view: Option<([f64; 2], [f64; 2], f64, Vec2)>,
    /// Pointer position (display lon/lat).
    pub pointer: Option<(f64, f64)>,
    /// The UI pass's profile, marked by the map's layers as they paint.
    pub profile: super::profile::PassProfile,
}

/// The heatmap texture and the Mercator rectangle it covers.
#[derive(Clone, Copy)]
pub struct HeatImage {
    pub texture: TextureId,
    pub min: [f64; 2],
    pub max: [f64; 2],
}

/// Borrowed view of the app's state, built every frame.
pub struct GridPlugin<'a> {
    pub loaded: &'a Loaded,
    pub classes: &'a [Option<usize>],
    pub palette: &'a [Color32; 5],
    pub layers: &'a Layers,
    pub selection: Option<Selection>,
    pub dark: bool,
    pub basemap: bool,
    pub heat: Option<HeatImage>,
    /// A grid or incident to flash (new or searched).
    pub events: &'a mut MapEvents,
    /// Live mode: new incidents to flash (WGS84 lon/lat, category, arrival time) and open
    /// incidents that just went overdue (lon/lat), with the UI time now.
    pub flashes: &'a [(f64, f64, String, f64)],
    pub alerts: &'a [(f64, f64)],
    pub now: f64,
}

/// Point radius in pixels, and the distance within which a click or hover picks a point.
const POINT_R: f32 = 4.0;
const PICK_PX: f32 = 8.0;

fn cluster_radius(count: u32) -> f32 {
    (9.0 + 1.8 * (count as f32).ln()).min(26.0)
}

impl Plugin for GridPlugin<'_> {
    fn run(self: Box<Self>, ui: &mut egui::Ui, response: &egui::Response, projector: &Projector, _memory: &MapMemory) {
        self.events.profile.mark("map widget before its layers");
        let t = ScreenTransform::from_projector(projector);
        let rect = projector.clip_rect();
        let painter = ui.painter().with_clip_rect(rect);
        let geo = &*self.loaded.geometry;
        let derived = &*self.loaded.derived;
        if !self.basemap {
            painter.rect_filled(rect, 0.0, theme::map_background(self.dark));
        }
        let (vmin, vmax) = t.rect(rect);
        self.events.view = Some((vmin, vmax, projector.zoom(), rect.size()));
        // Grids whose boxes meet the view (the R-tree is in WGS84; a display system shifted by
        // GCJ-02's few hundred metres is covered by a margin).
        let margin = 0.01;
        let (lon0, lat0) = unmercator(vmin[0], vmax[1]);
        let (lon1, lat1) = unmercator(vmax[0], vmin[1]);
        let visible = self.loaded.ds.index.grids_in_rect([lon0 - margin, lat0 - margin], [lon1 + margin, lat1 + margin]);
        let m = &geo.mesh;
        let px = |level: Level| geo.typical_width.get(level.index()).copied().unwrap_or(0.0) * t.scale;

        // Choropleth and grid outlines: only the visible grids' vertices are projected.
        let grid_lines = self.layers.outlines && px(Level::Grid) >= if self.layers.choropleth { 10.0 } else { 4.0 };
        let alpha = if self.basemap { 0.6 } else { 0.85 };
        let mut mesh = Mesh::default();
        let mut screen: Vec<Pos2> = Vec::new();
        let (grid_line, _) = theme::outline(self.dark);
        let mut lines: Vec<Shape> = Vec::new();
        for &g in &visible {
            let (v0, v1) = m.vert_range[g as usize];
            screen.clear();
            screen.extend(m.vertices[v0 as usize..v1 as usize].iter().map(|v| t.apply(*v)));
            if self.layers.choropleth {
                let color = match self.classes.get(g as usize).copied().flatten() {
                    Some(c) => self.palette[c.min(4)],
                    None => theme::NO_DATA,
                }
                .gamma_multiply(alpha);
                let (a, b) = m.tri_range[g as usize];
                let base = mesh.vertices.len() as u32;
                let used = &m.indices[a as usize..b as usize];
                // Vertices of this grid, then its triangles re-based onto them.
                for p in &screen {
                    mesh.colored_vertex(*p, color);
                }
                mesh.indices.extend(used.iter().map(|&i| base + i - v0));
            }
            if grid_lines {
                let (r0, r1) = m.ring_range[g as usize];
                for (_, r) in &m.rings[r0 as usize..r1 as usize] {
                    let pts = screen[(r.start - v0) as usize..(r.end - v0) as usize].to_vec();
                    lines.push(Shape::line(pts, Stroke::new(0.7, grid_line)));
                }
            }
        }
        painter.add(Shape::mesh(mesh));
        self.events.profile.mark("grid polygons");
        // Heatmap: one texture, placed by its Mercator rectangle (it follows pan and zoom).
        if self.layers.heatmap
            && let Some(h) = self.heat
        {
            let r = Rect::from_min_max(t.apply(h.min), t.apply(h.max));
            painter.image(h.texture, r, Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)), Color32::WHITE);
        }

        painter.extend(lines);

        // Community, street and district outlines above the grids, each where it helps.
        if self.layers.outlines {
            for level in [Level::Community, Level::Street, Level::District] {
                if level != Level::District && px(level) < 40.0 {
                    continue;
                }
                let stroke = theme::unit_line(self.dark, level);
                let o = &geo.outlines[level.index()];
                for (u, ring) in &o.rings {
                    let (a, b) = o.bbox[*u as usize];
                    if a[0] > vmax[0] || b[0] < vmin[0] || a[1] > vmax[1] || b[1] < vmin[1] {
                        continue;
                    }
                    painter.add(Shape::line(ring.iter().map(|p| t.apply(*p)).collect(), stroke));
                }
            }
        }

        self.events.profile.mark("outlines");
        // Incident points: clusters below the fine zoom, single points at and above it.
        let zoom = projector.zoom();
        let points = &derived.points;
        let colour_of = |cat: u32, status: usize| match self.layers.point_colour {
            super::map::PointColour::Category => theme::CATEGORY[(cat as usize).min(theme::CATEGORY.len() - 1)],
            super::map::PointColour::Status => theme::STATUS[status.min(6)],
        };
        let ring = Stroke::new(1.0, if self.dark { Color32::from_gray(20) } else { Color32::WHITE });
        let mut cluster_hits: Vec<(Pos2, f32, [f64; 2])> = Vec::new();
        // Points drawn on their own below the fine zoom (clusters of one): only these, and every
        // point at the fine zoom, can be hovered or clicked; a point hidden in a cluster cannot.
        let mut singles: Vec<Pos2> = Vec::new();
        if self.layers.points && !points.is_empty() {
            if zoom >= FINE_LEVEL as f64 {
                for j in points.points_in(vmin, vmax) {
                    let p = t.apply([points.x[j], points.y[j]]);
                    let c = colour_of(points.category[j], points.status[j] as usize);
                    if points.overdue[j] {
                        painter.circle_stroke(p, POINT_R + 2.5, Stroke::new(2.0, theme::ALERT));
                    }
                    painter.circle(p, POINT_R, c, ring);
                }
            } else {
                // Cells of 128 px (the level below the zoom's 64-px cells) keep clusters apart.
                let level = (zoom.floor() - 1.0).clamp(0.0, FINE_LEVEL as f64) as u8;
                let font = FontId::proportional(11.0);
                let badge_font = FontId::proportional(10.0);
                let fill = if self.dark {
                    Color32::from_rgba_unmultiplied(235, 238, 242, 215)
                } else {
                    Color32::from_rgba_unmultiplied(255, 255, 255, 225)
                };
                for c in points.clusters_in(level, vmin, vmax) {
                    let p = t.apply(c.centre());
                    let colour = match self.layers.point_colour {
                        PointColour::Category => colour_of(c.top_category() as u32, 0),
                        PointColour::Status => colour_of(0, c.top_status() as usize),
                    };
                    if c.count == 1 {
                        if c.overdue > 0 {
                            painter.circle_stroke(p, POINT_R + 2.5, Stroke::new(2.0, theme::ALERT));
                        }
                        painter.circle(p, POINT_R, colour, ring);
                        singles.push(p);
                        continue;
                    }
                    // A light disc sized by count, ringed in the commonest category or status,
                    // with a red badge counting the overdue open cases.
                    let r = cluster_radius(c.count);
                    painter.circle(p, r, fill, Stroke::new(2.5, colour));
                    painter.text(p, Align2::CENTER_CENTER, compact(c.count), font.clone(), Color32::from_gray(20));
                    if c.overdue > 0 {
                        let b = p + Vec2::new(r * 0.75, -r * 0.75);
                        let text = compact(c.overdue);
                        let br = 6.0 + 2.5 * text.len().saturating_sub(1) as f32;
                        painter.circle_filled(b, br, theme::ALERT);
                        painter.text(b, Align2::CENTER_CENTER, text, badge_font.clone(), Color32::WHITE);
                    }
                    cluster_hits.push((p, r, c.centre()));
                }
            }
        }

        self.events.profile.mark("incident points");
        // The selection, above everything but labels.
        let sel_stroke = Stroke::new(3.0, theme::SELECTED);
        match self.selection {
            Some(Selection::Unit(Level::Grid, g)) => {
                if let Some(&(r0, r1)) = m.ring_range.get(g as usize) {
                    for (_, r) in &m.rings[r0 as usize..r1 as usize] {
                        painter.add(Shape::line(
                            m.vertices[r.start as usize..r.end as usize].iter().map(|v| t.apply(*v)).collect(),
                            sel_stroke,
                        ));
                    }
                }
            }
            Some(Selection::Unit(level, u)) if level != Level::City => {
                for (v, ring) in &geo.outlines[level.index()].rings {
                    if *v == u {
                        painter.add(Shape::line(ring.iter().map(|p| t.apply(*p)).collect(), sel_stroke));
                    }
                }
            }
            Some(Selection::Incident(i)) => {
                let inc = &self.loaded.ds.incidents;
                if inc.has_location(i as usize) {
                    let p = t.apply(gridcentre_core::layers::display_mercator(geo.crs, inc.lon[i as usize], inc.lat[i as usize]));
                    painter.circle_stroke(p, 10.0, sel_stroke);
                    painter.circle_stroke(p, 11.5, Stroke::new(1.0, Color32::BLACK));
                }
            }
            _ => {}
        }

        if self.layers.labels {
            draw_labels(&painter, self.loaded, &t, rect, self.dark);
        }
        self.events.profile.mark("selection and labels");

        // Hover and click. A point within a few pixels wins over the grid under it.
        let fine = zoom >= FINE_LEVEL as f64;
        let near_point = |p: Pos2| -> Option<u32> {
            if !self.layers.points || points.is_empty() {
                return None;
            }
            if !fine && !singles.iter().any(|s| s.distance(p) <= PICK_PX) {
                return None;
            }
            let (a, b) = t.rect(Rect::from_center_size(p, Vec2::splat(2.0 * PICK_PX)));
            points
                .points_in(a, b)
                .into_iter()
                .map(|j| (j, t.apply([points.x[j], points.y[j]]).distance(p)))
                .filter(|(_, d)| *d <= PICK_PX)
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(j, _)| points.incident[j])
        };
        // Live: new incidents pulse in their category's colour, fresh overdue cases in red.
        for (lon, lat, cat, at) in self.flashes {
            let age = ((self.now - at) / super::live::FLASH_SECONDS).clamp(0.0, 1.0) as f32;
            let m = gridcentre_core::layers::display_mercator(geo.crs, *lon, *lat);
            let p = t.apply(m);
            if !rect.expand(30.0).contains(p) {
                continue;
            }
            let k = self.loaded.ds.incidents.categories.get(cat).map_or(theme::CATEGORY.len() - 1, |c| c as usize);
            let c = theme::CATEGORY[k.min(theme::CATEGORY.len() - 1)];
            let pulse = ((self.now * 4.0).fract() as f32) * 0.5;
            painter.circle_stroke(p, 6.0 + 22.0 * (age + pulse).fract(), Stroke::new(2.5, c.gamma_multiply(1.0 - age)));
            painter.circle(p, POINT_R + 1.0, c, ring);
        }
        for (lon, lat) in self.alerts {
            let m = gridcentre_core::layers::display_mercator(geo.crs, *lon, *lat);
            let p = t.apply(m);
            if rect.contains(p) {
                let r = 8.0 + 4.0 * ((self.now * 3.0).sin() as f32).abs();
                painter.circle_stroke(p, r, Stroke::new(3.0, theme::ALERT));
            }
        }
        let grid_at = |p: Pos2| {
            let (lon, lat) = t.lon_lat(p);
            let (lon, lat) = geo.crs.to_wgs84(lon, lat);
            self.loaded.ds.index.locate(lon, lat).map(|h| h.grid)
        };
        self.events.profile.mark("live flashes and alerts");
        if let Some(p) = response.hover_pos() {
            self.events.pointer = Some(t.lon_lat(p));
            self.events.hovered_grid = grid_at(p);
            self.events.hovered_incident = near_point(p);
        }
        if response.clicked()
            && let Some(p) = response.interact_pointer_pos()
        {
            let cluster = cluster_hits.iter().find(|(c, r, _)| c.distance(p) <= *r).map(|(_, _, m)| *m);
            self.events.clicked = Some(if let Some(m) = cluster {
                Clicked::Cluster(m)
            } else if let Some(i) = near_point(p) {
                Clicked::Incident(i)
            } else if let Some(g) = grid_at(p) {
                Clicked::Grid(g)
            } else {
                Clicked::Empty
            });
        }
    }
}

/// 1234 → "1234", 12345 → "1.2万" (as Chinese dashboards count).
pub fn compact(n: u32) -> String {
    if n >= 10_000 { format!("{:.1}万", n as f64 / 10_000.0) } else { n.to_string() }
}

/// Unit names where they fit: the finest level whose units are wide enough on screen, and the
/// level above it; each label only inside its unit's width and never over another label.
fn draw_labels(painter: &egui::Painter, loaded: &Loaded, t: &ScreenTransform, rect: Rect, dark: bool) {
    let geo = &*loaded.geometry;
    let wide = |l: Level| geo.typical_width.get(l.index()).copied().unwrap_or(0.0) * t.scale >= 110.0;
    let Some(finest) = [Level::Grid, Level::Community, Level::Street, Level::District].into_iter().find(|&l| wide(l)) else {
        return;
    };
    let levels: Vec<Level> = [Some(finest), finest.parent().filter(|l| *l != Level::City)].into_iter().flatten().collect();
    let text_colour = if dark { Color32::from_gray(245) } else { Color32::from_gray(15) };
    let halo = if dark { Color32::from_black_alpha(150) } else { Color32::from_white_alpha(190) };
    let mut cands = Vec::new();
    let mut boxes = Vec::new();
    for level in levels {
        let o = &geo.outlines[level.index()];
        let size = match level {
            Level::District => 17.0,
            Level::Street => 15.0,
            Level::Community => 13.5,
            _ => 12.5,
        };
        let units = loaded.ds.layer.units(level);
        for (u, anchor) in o.anchor.iter().enumerate() {
            let Some(a) = anchor else { continue };
            let p = t.apply(*a);
            if !rect.contains(p) {
                continue;
            }
            let (bmin, bmax) = o.bbox[u];
            let width_px = ((bmax[0] - bmin[0]) * t.scale) as f32;
            let Some(unit) = units.get(u) else { continue };
            let galley = painter.layout_no_wrap(unit.name.to_string(), FontId::proportional(size), text_colour);
            let sz = galley.size();
            if sz.x + 8.0 > width_px {
                continue;
            }
            let r = Rect::from_center_size(p, sz + Vec2::new(6.0, 2.0));
            boxes.push(LabelBox {
                min: [r.min.x, r.min.y],
                max: [r.max.x, r.max.y],
                priority: level.index() as f32 * 1e6 + width_px,
            });
            cands.push((r, galley));
        }
    }
    for k in place_labels(&boxes, 3.0) {
        let (r, galley) = &cands[k];
        painter.rect_filled(*r, 3.0, halo);
        painter.galley(r.min + Vec2::new(3.0, 1.0), galley.clone(), text_colour);
    }
}

/// The zoom and centre that fit Mercator bounds into a viewport of `size` pixels.
pub fn fit(bounds: ([f64; 2], [f64; 2]), size: Vec2) -> (walkers::Position, f64) {
    let (min, max) = bounds;
    let (cx, cy) = ((min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0);
    let (lon, lat) = unmercator(cx, cy);
    let w = (max[0] - min[0]).max(1e-9);
    let h = (max[1] - min[1]).max(1e-9);
    let zoom_x = (size.x as f64 * 0.92 / (256.0 * w)).log2();
    let zoom_y = (size.y as f64 * 0.92 / (256.0 * h)).log2();
    (lon_lat(lon, lat), zoom_x.min(zoom_y).clamp(2.0, 19.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkers::MercatorProjection;

    #[test]
    fn the_screen_transform_agrees_with_walkers_projector() {
        let mut memory = MapMemory::default();
        memory.center_at(lon_lat(130.36, 46.80));
        memory.set_zoom(13.3).unwrap_or_else(|e| panic!("{e:?}"));
        let rect = egui::Rect::from_min_size(Pos2::new(10.0, 20.0), Vec2::new(800.0, 600.0));
        let projector = Projector::new(rect, &MercatorProjection, &memory, lon_lat(0.0, 0.0));
        let t = ScreenTransform::from_projector(&projector);
        for (lon, lat) in [(130.36, 46.80), (130.30, 46.75), (130.41, 46.83)] {
            let want = projector.project(lon_lat(lon, lat));
            let got = t.apply(mercator(lon, lat));
            assert!((got.to_vec2() - want).length() < 0.01, "{got:?} vs {want:?}");
            let (bl, bt) = t.lon_lat(got);
            assert!((bl - lon).abs() < 1e-6 && (bt - lat).abs() < 1e-6);
        }
    }

    #[test]
    fn fitting_puts_the_bounds_inside_the_viewport() {
        let b = (mercator(130.2, 46.9), mercator(130.5, 46.7));
        let bounds = ([b.0[0], b.0[1]], [b.1[0], b.1[1]]);
        let (centre, zoom) = fit(bounds, Vec2::new(1000.0, 700.0));
        let scale = 256.0 * 2f64.powf(zoom);
        let (w, h) = ((bounds.1[0] - bounds.0[0]) * scale, (bounds.0[1] - bounds.1[1]).abs() * scale);
        assert!(w <= 1000.0 && h <= 700.0, "{w} × {h}");
        assert!(w > 850.0 || h > 595.0, "one side fills the view: {w} × {h}");
        assert!((centre.x() - 130.35).abs() < 1e-9);
    }

    #[test]
    fn counts_are_compact_in_chinese_style() {
        assert_eq!(compact(999), "999");
        assert_eq!(compact(12_345), "1.2万");
    }
}
