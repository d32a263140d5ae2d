//! The charts leaders put in reports, as data ([`Chart`]) and drawn to SVG and PNG with plotters.
//!
//! The app draws the same [`Chart`] values with egui_plot, so a chart on screen and its export
//! show the same numbers. Text is drawn with the bundled Noto Sans SC (registered with plotters'
//! ab_glyph backend), so Chinese titles and labels render on a machine with no CJK font; the SVG
//! keeps them as `<text>` (searchable, and exact in any viewer with a CJK font), the PNG as
//! pixels. PNGs are encoded with the `png` crate from plotters' RGB buffer.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde::Serialize;

use crate::analysis::{Measure, ranks};
use crate::error::{CoreError, Result};
use crate::lang::Lang;
use crate::stats::{Bucket, BucketRow, CategoryRow, StatsTable};

/// Noto Sans CJK SC, subset (assets/fonts/README.md; SIL OFL 1.1).
pub const CJK_FONT: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-Subset.otf");

/// The charts of the analysis view and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChartKind {
    Trend,
    Categories,
    Ranking,
    OnTime,
}

impl ChartKind {
    pub const ALL: [ChartKind; 4] = [ChartKind::Trend, ChartKind::Categories, ChartKind::Ranking, ChartKind::OnTime];

    /// File name stem in a report folder.
    pub fn stem(self) -> &'static str {
        match self {
            ChartKind::Trend => "trend",
            ChartKind::Categories => "categories",
            ChartKind::Ranking => "ranking",
            ChartKind::OnTime => "on_time",
        }
    }

    pub fn name(self, lang: Lang) -> &'static str {
        match self {
            ChartKind::Trend => lang.t("受理与办结趋势", "Accepted and closed over time"),
            ChartKind::Categories => lang.t("事件类别构成", "Incidents by category"),
            ChartKind::Ranking => lang.t("排名", "Ranking"),
            ChartKind::OnTime => lang.t("按期与超期", "On time against overdue"),
        }
    }
}

/// One stacked part of a bar.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    pub name: String,
    pub values: Vec<u64>,
    pub colour: [u8; 3],
}

/// What a chart shows.
#[derive(Debug, Clone, Serialize)]
pub enum Body {
    /// Accepted and closed per bucket, with the completion rate (right axis).
    Trend { labels: Vec<String>, accepted: Vec<u64>, closed: Vec<u64>, completion: Vec<Option<f64>> },
    /// One bar per label, top first.
    Bars { labels: Vec<String>, values: Vec<Option<f64>>, measure: Measure },
    /// Stacked bars, top first.
    Stacked { labels: Vec<String>, parts: Vec<Part> },
}

/// A chart: title, the filter and period it shows, and its data.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub kind: ChartKind,
    pub title: String,
    /// Filter, period and as-of time, printed under the title.
    pub subtitle: String,
    pub body: Body,
    pub lang: Lang,
}

/// Okabe–Ito colours (colour-blind safe), as the map's categories use them.
pub const BLUE: [u8; 3] = [0x00, 0x72, 0xB2];
pub const GREEN: [u8; 3] = [0x00, 0x9E, 0x73];
pub const VERMILLION: [u8; 3] = [0xD5, 0x5E, 0x00];
pub const ORANGE: [u8; 3] = [0xE6, 0x9F, 0x00];
pub const SKY: [u8; 3] = [0x56, 0xB4, 0xE9];

/// The title prefix: the centre the chart is about.
fn titled(scope: &str, kind: ChartKind, lang: Lang, extra: &str) -> String {
    let mut t = format!("{scope} {}", kind.name(lang));
    if !extra.is_empty() {
        t.push_str(lang.t("（", " ("));
        t.push_str(extra);
        t.push_str(lang.t("）", ")"));
    }
    t
}

/// Accepted and closed per bucket with the completion rate.
pub fn trend_chart(rows: &[BucketRow], bucket: Bucket, scope: &str, subtitle: &str, lang: Lang) -> Chart {
    let by = match bucket {
        Bucket::Day => lang.t("按日", "daily"),
        Bucket::Week => lang.t("按周", "weekly"),
        Bucket::Month => lang.t("按月", "monthly"),
    };
    Chart {
        kind: ChartKind::Trend,
        title: titled(scope, ChartKind::Trend, lang, by),
        subtitle: subtitle.to_string(),
        body: Body::Trend {
            labels: rows.iter().map(|r| r.label.clone()).collect(),
            accepted: rows.iter().map(|r| r.counts.accepted).collect(),
            closed: rows.iter().map(|r| r.counts.closed).collect(),
            completion: rows.iter().map(|r| r.figures.completion_rate).collect(),
        },
        lang,
    }
}

/// Incidents per category, largest first.
pub fn category_chart(rows: &[CategoryRow], scope: &str, subtitle: &str, lang: Lang) -> Chart {
    Chart {
        kind: ChartKind::Categories,
        title: titled(scope, ChartKind::Categories, lang, ""),
        subtitle: subtitle.to_string(),
        body: Body::Bars {
            labels: rows.iter().map(|r| r.category.clone()).collect(),
            values: rows.iter().map(|r| Some(r.counts.incidents as f64)).collect(),
            measure: Measure::Incidents,
        },
        lang,
    }
}

/// The units of a table ranked by a measure, best first; the first `top` with data.
pub fn ranking_chart(table: &StatsTable, m: Measure, top: usize, scope: &str, subtitle: &str, lang: Lang) -> Chart {
    let r = ranks(&table.rows, m);
    let mut order: Vec<usize> = (0..table.rows.len()).filter(|&i| r[i].is_some()).collect();
    order.sort_by_key(|&i| (r[i], i));
    order.truncate(top);
    let name = match lang {
        Lang::Zh => m.zh(),
        Lang::En => m.en(),
    };
    let level = match lang {
        Lang::Zh => table.level.zh(),
        Lang::En => table.level.as_str(),
    };
    Chart {
        kind: ChartKind::Ranking,
        title: titled(scope, ChartKind::Ranking, lang, &format!("{level}{}{name}", lang.t("按", " by "))),
        subtitle: subtitle.to_string(),
        body: Body::Bars {
            labels: order.iter().map(|&i| format!("{}. {}", r[i].unwrap_or(0), table.rows[i].name)).collect(),
            values: order.iter().map(|&i| m.value(&table.rows[i])).collect(),
            measure: m,
        },
        lang,
    }
}

/// Closed on time, closed overdue and open overdue for the `top` units with most accepted.
pub fn on_time_chart(table: &StatsTable, top: usize, scope: &str, subtitle: &str, lang: Lang) -> Chart {
    let mut order: Vec<usize> = (0..table.rows.len()).filter(|&i| table.rows[i].counts.accepted > 0).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(table.rows[i].counts.accepted), i));
    order.truncate(top);
    let part = |name: &str, f: &dyn Fn(&crate::stats::Counts) -> u64, colour| Part {
        name: name.to_string(),
        values: order.iter().map(|&i| f(&table.rows[i].counts)).collect(),
        colour,
    };
    Chart {
        kind: ChartKind::OnTime,
        title: titled(scope, ChartKind::OnTime, lang, lang.t("受理数前列", "most accepted")),
        subtitle: subtitle.to_string(),
        body: Body::Stacked {
            labels: order.iter().map(|&i| table.rows[i].name.to_string()).collect(),
            parts: vec![
                part(lang.t("按期办结", "Closed on time"), &|c| c.closed_on_time, GREEN),
                part(lang.t("超期办结", "Closed late"), &|c| c.overdue_closed, ORANGE),
                part(lang.t("超期未结", "Open, overdue"), &|c| c.overdue_open, VERMILLION),
            ],
        },
        lang,
    }
}

/// Default export size in pixels.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 720;

const FONT: &str = "sans-serif";

fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, CJK_FONT).is_ok());
    if ok { Ok(()) } else { Err(CoreError::Invalid("the bundled font cannot be read".into())) }
}

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

fn chart_err<E: std::fmt::Debug>(e: E) -> CoreError {
    CoreError::Invalid(format!("drawing a chart: {e:?}"))
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart, width: u32, height: u32) -> Result<String> {
    register_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        draw(chart, &root).map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(out)
}

/// The chart as a PNG file's bytes.
pub fn png(chart: &Chart, width: u32, height: u32) -> Result<Vec<u8>> {
    register_font()?;
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        draw(chart, &root).map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    encode_png(&buf, width, height, false)
}

/// Encodes 8-bit RGB (or, with `alpha`, RGBA) pixels as PNG.
pub fn encode_png(pixels: &[u8], width: u32, height: u32, alpha: bool) -> Result<Vec<u8>> {
    let colour = if alpha { png::ColorType::Rgba } else { png::ColorType::Rgb };
    let mut out = Vec::new();
    let err = |e: png::EncodingError| CoreError::Invalid(format!("PNG: {e}"));
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(colour);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(err)?;
        w.write_image_data(pixels).map_err(err)?;
    }
    Ok(out)
}

type DrawResult<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(chart: &Chart, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(78);
    head.draw(&Text::new(chart.title.clone(), (24, 14), (FONT, 30).into_font().color(&BLACK)))?;
    let sub = (FONT, 18).into_font().color(&RGBColor(90, 90, 90));
    head.draw(&Text::new(chart.subtitle.clone(), (24, 50), sub))?;
    let body = body.margin(6, 18, 18, 30);
    let empty = match &chart.body {
        Body::Trend { accepted, .. } => accepted.iter().all(|v| *v == 0),
        Body::Bars { values, .. } => values.iter().all(|v| v.is_none()),
        Body::Stacked { labels, .. } => labels.is_empty(),
    };
    if empty {
        let (w, h) = body.dim_in_pixel();
        let style = (FONT, 28).into_font().color(&RGBColor(120, 120, 120)).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
        body.draw(&Text::new(
            chart.lang.t("所选范围内无数据", "No data for this selection").to_string(),
            (w as i32 / 2, h as i32 / 2),
            style,
        ))?;
        return Ok(());
    }
    match &chart.body {
        Body::Trend { labels, accepted, closed, completion } => {
            draw_trend(chart.lang, &body, labels, accepted, closed, completion)
        }
        Body::Bars { labels, values, measure } => draw_bars(chart.lang, &body, labels, values, *measure),
        Body::Stacked { labels, parts } => draw_stacked(chart.lang, &body, labels, parts),
    }
}

/// Room for category labels: about one em per CJK character, half for others.
fn label_width(labels: &[String], size: f64) -> u32 {
    let em = |s: &String| s.chars().map(|c| if c.is_ascii() { 0.55 } else { 1.0 }).sum::<f64>();
    let widest = labels.iter().map(em).fold(0.0, f64::max);
    ((widest * size) as u32 + 16).clamp(60, 320)
}

fn draw_trend<DB: DrawingBackend>(
    lang: Lang,
    area: &DrawingArea<DB, Shift>,
    labels: &[String],
    accepted: &[u64],
    closed: &[u64],
    completion: &[Option<f64>],
) -> DrawResult<DB> {
    let n = labels.len().max(1);
    let ymax = accepted.iter().chain(closed).copied().max().unwrap_or(0).max(1) as f64 * 1.12;
    let label_of = |x: &f64| -> String {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 { labels.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
    };
    let mut c = ChartBuilder::on(area)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..ymax)?
        .set_secondary_coord(-0.5..(n as f64 - 0.5), 0.0..1.05);
    let axis = (FONT, 16).into_font();
    c.configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(10))
        .x_label_formatter(&label_of)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .max_light_lines(2)
        .y_desc(lang.t("件数", "Incidents"))
        .axis_desc_style(axis.clone())
        .label_style(axis.clone())
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    c.configure_secondary_axes()
        .y_desc(lang.t("办结率", "Completion rate"))
        .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
        .axis_desc_style(axis.clone())
        .label_style(axis.clone())
        .draw()?;
    let line = |vals: &[u64]| -> Vec<(f64, f64)> { vals.iter().enumerate().map(|(i, v)| (i as f64, *v as f64)).collect() };
    let (b, g, v) = (rgb(BLUE), rgb(GREEN), rgb(VERMILLION));
    c.draw_series(LineSeries::new(line(accepted), b.stroke_width(2)))?
        .label(lang.t("受理数", "Accepted"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], b.stroke_width(3)));
    c.draw_series(LineSeries::new(line(closed), g.stroke_width(2)))?
        .label(lang.t("办结数", "Closed"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], g.stroke_width(3)));
    // The rate as separate runs: buckets without data break the line rather than drop to 0.
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (i, r) in completion.iter().enumerate() {
        match r {
            Some(x) => runs.last_mut().map(|run| run.push((i as f64, *x))).unwrap_or(()),
            None => runs.push(Vec::new()),
        }
    }
    let mut first = true;
    for run in runs.into_iter().filter(|r| !r.is_empty()) {
        let s = c.draw_secondary_series(LineSeries::new(run, v.stroke_width(2)).point_size(if n <= 40 { 3 } else { 0 }))?;
        if first {
            s.label(lang.t("办结率 (右轴)", "Completion rate (right)"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], v.stroke_width(3)));
            first = false;
        }
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font(axis)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(
    lang: Lang,
    area: &DrawingArea<DB, Shift>,
    labels: &[String],
    values: &[Option<f64>],
    m: Measure,
) -> DrawResult<DB> {
    // plotters' integer segments include the end: 0..n-1 gives n bands (at least two).
    let n = labels.len().max(2) as i32;
    let vmax = values.iter().flatten().copied().fold(0.0, f64::max);
    let xmax = if m.is_rate() { 1.1 } else { vmax.max(1.0) * 1.15 };
    let axis = (FONT, 16).into_font();
    let mut c = ChartBuilder::on(area)
        .x_label_area_size(44)
        .y_label_area_size(label_width(labels, 16.0))
        .build_cartesian_2d(0.0..xmax, (0..n - 1).into_segmented())?;
    let name = match lang {
        Lang::Zh => m.zh(),
        Lang::En => m.en(),
    };
    let rate = m.is_rate();
    c.configure_mesh()
        .disable_y_mesh()
        .y_labels(n as usize)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get((n - 1 - i) as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| if rate { format!("{:.0}%", v * 100.0) } else { format!("{v:.0}") })
        .max_light_lines(2)
        .x_desc(name)
        .axis_desc_style(axis.clone())
        .label_style(axis.clone())
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let colour = rgb(BLUE);
    c.draw_series(values.iter().enumerate().filter_map(|(i, v)| {
        let y = n - 1 - i as i32;
        v.map(|v| {
            let mut r = Rectangle::new([(0.0, SegmentValue::Exact(y)), (v, SegmentValue::Exact(y + 1))], colour.filled());
            r.set_margin(3, 3, 0, 0);
            r
        })
    }))?;
    let text = (FONT, 15).into_font().color(&RGBColor(40, 40, 40));
    c.draw_series(values.iter().enumerate().map(|(i, v)| {
        let y = n - 1 - i as i32;
        Text::new(
            format!(" {}", m.format(*v)),
            (v.unwrap_or(0.0), SegmentValue::CenterOf(y)),
            text.clone().pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            )),
        )
    }))?;
    Ok(())
}

fn draw_stacked<DB: DrawingBackend>(
    lang: Lang,
    area: &DrawingArea<DB, Shift>,
    labels: &[String],
    parts: &[Part],
) -> DrawResult<DB> {
    let n = labels.len().max(2) as i32;
    let totals: Vec<u64> = (0..labels.len()).map(|i| parts.iter().map(|p| p.values.get(i).copied().unwrap_or(0)).sum()).collect();
    let xmax = totals.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.1;
    let axis = (FONT, 16).into_font();
    let mut c = ChartBuilder::on(area)
        .x_label_area_size(44)
        .y_label_area_size(label_width(labels, 16.0))
        .build_cartesian_2d(0.0..xmax, (0..n - 1).into_segmented())?;
    c.configure_mesh()
        .disable_y_mesh()
        .y_labels(n as usize)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get((n - 1 - i) as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| format!("{v:.0}"))
        .max_light_lines(2)
        .x_desc(lang.t("件数", "Incidents"))
        .axis_desc_style(axis.clone())
        .label_style(axis.clone())
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let mut base = vec![0u64; labels.len()];
    for p in parts {
        let colour = rgb(p.colour);
        let bars: Vec<Rectangle<(f64, SegmentValue<i32>)>> = (0..labels.len())
            .map(|i| {
                let y = n - 1 - i as i32;
                let v = p.values.get(i).copied().unwrap_or(0);
                let mut r = Rectangle::new(
                    [(base[i] as f64, SegmentValue::Exact(y)), ((base[i] + v) as f64, SegmentValue::Exact(y + 1))],
                    colour.filled(),
                );
                r.set_margin(3, 3, 0, 0);
                base[i] += v;
                r
            })
            .collect();
        c.draw_series(bars)?
            .label(p.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 18, y + 7)], colour.filled()));
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(axis)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(lang: Lang) -> Chart {
        Chart {
            kind: ChartKind::Categories,
            title: "前进区 · 事件类别构成".into(),
            subtitle: "2025-01-01 至 2025-12-31".into(),
            body: Body::Bars {
                labels: vec!["民生服务".into(), "城建物业".into(), "社会治安".into()],
                values: vec![Some(120.0), Some(80.0), None],
                measure: Measure::Incidents,
            },
            lang,
        }
    }

    #[test]
    fn svg_keeps_the_chinese_title_and_labels_as_text() {
        let s = svg(&bars(Lang::Zh), 800, 500).unwrap_or_default();
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(80)]);
        for t in ["前进区 · 事件类别构成", "民生服务", "城建物业", "2025-01-01 至 2025-12-31", "事件数"] {
            assert!(s.contains(t), "no '{t}' in the SVG");
        }
    }

    #[test]
    fn png_has_the_size_asked_for_and_ink_where_the_text_is() {
        let bytes = png(&bars(Lang::Zh), 800, 500).unwrap_or_default();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader.next_frame(&mut buf).expect("a frame");
        assert_eq!((info.width, info.height), (800, 500));
        // The title band (top 50 px) has dark pixels: the glyphs were drawn.
        let dark = buf[..(800 * 50 * 3)].chunks(3).filter(|p| p.iter().all(|&c| c < 100)).count();
        assert!(dark > 300, "title glyph pixels: {dark}");
        // And the bars are there: blue pixels.
        let blue = buf.chunks(3).filter(|p| p[0] < 20 && (0x60..0x80).contains(&p[1]) && p[2] > 0xA0).count();
        assert!(blue > 2000, "bar pixels: {blue}");
    }
}
