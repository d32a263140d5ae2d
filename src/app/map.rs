//! The grid map: a walkers plugin that fills every visible grid from the precomputed mesh,
//! draws outlines, and reports the grid under the pointer and clicks.

use egui::{Color32, Mesh, Pos2, Shape, Stroke, Vec2};
use gridcentre_core::render::{mercator, unmercator};
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
    /// Screen → lon/lat.
    pub fn lon_lat(&self, p: Pos2) -> (f64, f64) {
        let mx = self.centre[0] + (p.x - self.origin.x) as f64 / self.scale;
        let my = self.centre[1] + (p.y - self.origin.y) as f64 / self.scale;
        unmercator(mx, my)
    }
}

/// What the map reports back for this frame.
#[derive(Debug, Default, Clone, Copy)]
pub struct MapEvents {
    pub hovered: Option<u32>,
    pub clicked: Option<u32>,
    pub clicked_empty: bool,
}

/// Borrowed view of the app's state, built every frame.
pub struct GridPlugin<'a> {
    pub loaded: &'a Loaded,
    pub classes: &'a [Option<usize>],
    pub palette: &'a [Color32; 5],
    pub selected: Option<u32>,
    pub dark: bool,
    pub events: &'a mut MapEvents,
}

impl Plugin for GridPlugin<'_> {
    fn run(self: Box<Self>, ui: &mut egui::Ui, response: &egui::Response, projector: &Projector, _memory: &MapMemory) {
        let t = ScreenTransform::from_projector(projector);
        let rect = projector.clip_rect();
        let painter = ui.painter().with_clip_rect(rect);
        painter.rect_filled(rect, 0.0, theme::map_background(self.dark));
        // Only the grids whose boxes meet the view.
        let (lon0, lat0) = t.lon_lat(rect.left_bottom());
        let (lon1, lat1) = t.lon_lat(rect.right_top());
        let visible = self.loaded.ds.index.grids_in_rect([lon0, lat0], [lon1, lat1]);
        let m = &self.loaded.mesh;
        let mut mesh = Mesh::default();
        let screen: Vec<Pos2> = m.vertices.iter().map(|v| t.apply(*v)).collect();
        for &g in &visible {
            let color = match self.classes.get(g as usize).copied().flatten() {
                Some(c) => self.palette[c.min(4)],
                None => theme::NO_DATA,
            }
            .gamma_multiply(0.85);
            let (a, b) = m.tri_range[g as usize];
            for tri in m.indices[a as usize..b as usize].chunks_exact(3) {
                let base = mesh.vertices.len() as u32;
                for &i in tri {
                    mesh.colored_vertex(screen[i as usize], color);
                }
                mesh.add_triangle(base, base + 1, base + 2);
            }
        }
        painter.add(Shape::mesh(mesh));
        // Outlines when grids are big enough on screen to tell apart.
        let (grid_line, _) = theme::outline(self.dark);
        if visible.len() < 20_000 {
            let visible_set: std::collections::HashSet<u32> = visible.iter().copied().collect();
            for (g, r) in &m.rings {
                if visible_set.contains(g) {
                    let pts: Vec<Pos2> = screen[r.start as usize..r.end as usize].to_vec();
                    painter.add(Shape::line(pts, Stroke::new(0.6, grid_line)));
                }
            }
        }
        if let Some(sel) = self.selected {
            for (g, r) in &m.rings {
                if *g == sel {
                    let pts: Vec<Pos2> = screen[r.start as usize..r.end as usize].to_vec();
                    painter.add(Shape::line(pts, Stroke::new(3.0, theme::SELECTED)));
                }
            }
        }
        // Hover and click: the grid under the pointer, by exact point-in-polygon.
        let under = |p: Pos2| {
            let (lon, lat) = t.lon_lat(p);
            self.loaded.ds.index.locate(lon, lat).map(|h| h.grid)
        };
        if let Some(p) = response.hover_pos() {
            self.events.hovered = under(p);
        }
        if response.clicked()
            && let Some(p) = response.interact_pointer_pos()
        {
            match under(p) {
                Some(g) => self.events.clicked = Some(g),
                None => self.events.clicked_empty = true,
            }
        }
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
        memory.set_zoom(13.3).unwrap();
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
}
