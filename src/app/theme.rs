//! Fonts and colours: the bundled CJK font, dark and light visuals, and the choropleth scales.

use egui::{Color32, FontData, FontFamily, epaint::text::FontInsert, epaint::text::FontPriority, epaint::text::InsertFontFamily};

/// Noto Sans CJK SC, subset (assets/fonts/README.md; SIL OFL 1.1): the core's copy, which the
/// exported charts use too.
pub use gridcentre_core::charts::CJK_FONT;

/// Installs the CJK font as the last fallback of both families, so Latin text keeps egui's
/// font and every Chinese glyph is found even on a machine with no CJK font.
pub fn install_fonts(ctx: &egui::Context) {
    ctx.add_font(FontInsert::new(
        "noto-sans-sc",
        FontData::from_static(CJK_FONT),
        vec![
            InsertFontFamily { family: FontFamily::Proportional, priority: FontPriority::Lowest },
            InsertFontFamily { family: FontFamily::Monospace, priority: FontPriority::Lowest },
        ],
    ));
}

pub fn apply_visuals(ctx: &egui::Context, dark: bool) {
    ctx.set_theme(if dark { egui::Theme::Dark } else { egui::Theme::Light });
}

/// Five classes for rates where high is good: ColorBrewer RdYlBu (colour-blind safe).
pub const GOOD_HIGH: [Color32; 5] = [
    Color32::from_rgb(0xd7, 0x19, 0x1c),
    Color32::from_rgb(0xfd, 0xae, 0x61),
    Color32::from_rgb(0xff, 0xff, 0xbf),
    Color32::from_rgb(0xab, 0xd9, 0xe9),
    Color32::from_rgb(0x2c, 0x7b, 0xb6),
];

/// Five classes for counts where high means busy or bad: ColorBrewer YlOrRd.
pub const HIGH_BAD: [Color32; 5] = [
    Color32::from_rgb(0xff, 0xff, 0xb2),
    Color32::from_rgb(0xfe, 0xcc, 0x5c),
    Color32::from_rgb(0xfd, 0x8d, 0x3c),
    Color32::from_rgb(0xf0, 0x3b, 0x20),
    Color32::from_rgb(0xbd, 0x00, 0x26),
];

/// Grids with no data.
pub const NO_DATA: Color32 = Color32::from_rgb(0x80, 0x80, 0x80);
pub const SELECTED: Color32 = Color32::from_rgb(0x00, 0xe5, 0xff);
pub const ALERT: Color32 = Color32::from_rgb(0xff, 0x45, 0x45);
/// Good news (a live source connected, a new incident in the ticker): Okabe–Ito bluish green.
pub const GOOD: Color32 = Color32::from_rgb(0x00, 0x9e, 0x73);

/// Grid outlines and district outlines for a background.
pub fn outline(dark: bool) -> (Color32, Color32) {
    if dark {
        (Color32::from_rgba_unmultiplied(20, 24, 30, 160), Color32::from_rgb(240, 240, 240))
    } else {
        (Color32::from_rgba_unmultiplied(255, 255, 255, 170), Color32::from_rgb(30, 30, 30))
    }
}

/// The map's background where there is no basemap.
pub fn map_background(dark: bool) -> Color32 {
    if dark { Color32::from_rgb(0x12, 0x16, 0x1c) } else { Color32::from_rgb(0xee, 0xf0, 0xf3) }
}

/// Categories (by id; the last slot is "other"): Okabe–Ito, distinguishable with every common
/// colour-vision deficiency.
pub const CATEGORY: [Color32; 8] = [
    Color32::from_rgb(0xe6, 0x9f, 0x00),
    Color32::from_rgb(0x56, 0xb4, 0xe9),
    Color32::from_rgb(0x00, 0x9e, 0x73),
    Color32::from_rgb(0xf0, 0xe4, 0x42),
    Color32::from_rgb(0x00, 0x72, 0xb2),
    Color32::from_rgb(0xcc, 0x79, 0xa7),
    Color32::from_rgb(0xd5, 0x5e, 0x00),
    Color32::from_rgb(0x99, 0x99, 0x99),
];

/// Workflow states (index = `Status as usize`): waiting greys and blues, work in progress
/// yellow/orange, closed green; overdue is marked separately in [`ALERT`] red.
pub const STATUS: [Color32; 7] = [
    Color32::from_rgb(0xbb, 0xbb, 0xbb),
    Color32::from_rgb(0x56, 0xb4, 0xe9),
    Color32::from_rgb(0x00, 0x72, 0xb2),
    Color32::from_rgb(0xe6, 0x9f, 0x00),
    Color32::from_rgb(0xcc, 0x79, 0xa7),
    Color32::from_rgb(0x00, 0x9e, 0x73),
    Color32::from_rgb(0x66, 0x66, 0x66),
];

/// Unit outlines by level (community, street, district): colour and width.
pub fn unit_line(dark: bool, level: gridcentre_core::model::Level) -> egui::Stroke {
    use gridcentre_core::model::Level;
    let c = if dark { Color32::from_rgb(235, 238, 242) } else { Color32::from_rgb(25, 28, 34) };
    match level {
        Level::District => egui::Stroke::new(2.6, c),
        Level::Street => egui::Stroke::new(1.6, c.gamma_multiply(0.85)),
        _ => egui::Stroke::new(1.0, c.gamma_multiply(0.6)),
    }
}
