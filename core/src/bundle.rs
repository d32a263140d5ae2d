//! The report bundle: one folder with the key charts (PNG and SVG), the centre table (CSV and
//! XLSX) and a printable HTML page summarising the figures for a centre, filter and period.
//!
//! `gridcentre report` and the app's 导出报告 both call [`write`] with a [`ReportSpec`], and the
//! app's charts view draws [`compute`]'s charts, so the figures are the same byte for byte.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::analysis::{Measure, RANK_MEASURE, ranks};
use crate::charts::{self, Chart};
use crate::error::{CoreError, Result};
use crate::export::{table_csv, table_xlsx, write_atomic};
use crate::lang::Lang;
use crate::model::Level;
use crate::pipeline::Dataset;
use crate::stats::{
    Bucket, BucketRow, CategoryRow, Filter, IndicatorConfig, StatsTable, UnitRow, by_category, trend, unit_table,
};
use crate::timeparse::{DAY_MS, format_ms};

/// What a report covers.
#[derive(Debug, Clone)]
pub struct ReportSpec {
    /// The level of the table (the units compared).
    pub level: Level,
    /// The centre: a unit above `level` whose units are compared; `None` = the city.
    pub scope: Option<(Level, u32)>,
    /// The filter (its `unit` is ignored: the scope sets it).
    pub filter: Filter,
    pub config: IndicatorConfig,
    pub as_of_ms: i64,
    pub lang: Lang,
    /// What the ranking chart ranks by.
    pub rank_by: Measure,
    /// Units in the ranking and on-time charts.
    pub top: usize,
}

impl ReportSpec {
    pub fn new(level: Level, filter: Filter, config: IndicatorConfig, as_of_ms: i64) -> ReportSpec {
        ReportSpec { level, scope: None, filter, config, as_of_ms, lang: Lang::Zh, rank_by: RANK_MEASURE, top: 20 }
    }

    /// The filter with the scope applied.
    pub fn scoped_filter(&self) -> Filter {
        Filter { unit: self.scope.filter(|(l, _)| *l != Level::City), ..self.filter.clone() }
    }
}

/// The bucket that suits a period: days up to 45 days, weeks up to 200, months beyond.
pub fn bucket_for(span_ms: i64) -> Bucket {
    if span_ms <= 45 * DAY_MS {
        Bucket::Day
    } else if span_ms <= 200 * DAY_MS {
        Bucket::Week
    } else {
        Bucket::Month
    }
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct ReportContent {
    pub scope_name: String,
    /// Filter, period, as-of: under every title.
    pub subtitle: String,
    pub table: StatsTable,
    pub categories: Vec<CategoryRow>,
    pub bucket: Bucket,
    pub trend: Vec<BucketRow>,
    /// In [`ChartKind::ALL`] order.
    pub charts: Vec<Chart>,
}

/// The name of a scope ("全市" for the city).
pub fn scope_name(ds: &Dataset, scope: Option<(Level, u32)>, lang: Lang) -> String {
    match scope {
        Some((l, u)) if l != Level::City => ds.layer.units(l).get(u as usize).map(|x| x.name.to_string()).unwrap_or_default(),
        _ => lang.t("全市", "City").to_string(),
    }
}

/// Computes the tables and charts of a report.
pub fn compute(ds: &Dataset, spec: &ReportSpec) -> Result<ReportContent> {
    let _span = tracing::info_span!("report").entered();
    let filter = spec.scoped_filter();
    let (cfg, as_of) = (&spec.config, spec.as_of_ms);
    let table = unit_table(ds, spec.level, &filter, cfg, as_of)?;
    let categories = by_category(ds, &filter, cfg, as_of)?;
    let span = match (filter.from_ms, filter.to_ms) {
        (Some(a), Some(b)) => b - a,
        _ => ds.incidents.time_range().map_or(0, |(a, b)| b - a),
    };
    let bucket = bucket_for(span);
    let trend_rows = trend(ds, &filter, bucket, cfg, as_of)?;
    let name = scope_name(ds, spec.scope, spec.lang);
    let subtitle = format!("{} | {} {}", table.filter, spec.lang.t("数据截至", "as of"), table.as_of);
    let lang = spec.lang;
    let charts = vec![
        charts::trend_chart(&trend_rows, bucket, &name, &subtitle, lang),
        charts::category_chart(&categories, &name, &subtitle, lang),
        charts::ranking_chart(&table, spec.rank_by, spec.top, &name, &subtitle, lang),
        charts::on_time_chart(&table, spec.top, &name, &subtitle, lang),
    ];
    Ok(ReportContent { scope_name: name, subtitle, table, categories, bucket, trend: trend_rows, charts })
}

/// Writes the bundle into `dir` and returns the files written. A folder that exists and is not
/// empty is refused unless `overwrite` (the CLI's `--force`; the app asks first). Every file is
/// written atomically.
pub fn write(ds: &Dataset, spec: &ReportSpec, dir: &Path, overwrite: bool) -> Result<Vec<PathBuf>> {
    if !overwrite && dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(CoreError::Invalid(format!(
            "{} exists and is not empty; choose another folder or overwrite it (--force)",
            dir.display()
        )));
    }
    let content = compute(ds, spec)?;
    let mut files = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<()> {
        let p = dir.join(name);
        write_atomic(&p, bytes)?;
        files.push(p);
        Ok(())
    };
    for c in &content.charts {
        put(&format!("{}.png", c.kind.stem()), &charts::png(c, charts::WIDTH, charts::HEIGHT)?)?;
        put(&format!("{}.svg", c.kind.stem()), charts::svg(c, charts::WIDTH, charts::HEIGHT)?.as_bytes())?;
    }
    put("table.csv", table_csv(&content.table).as_bytes())?;
    put("table.xlsx", &table_xlsx(&content.table)?)?;
    put("index.html", html(&content, spec).as_bytes())?;
    Ok(files)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn level_name(lang: Lang, l: Level) -> &'static str {
    match lang {
        Lang::Zh => l.zh(),
        Lang::En => l.as_str(),
    }
}

/// The columns of the HTML table.
const HTML_COLUMNS: [Measure; 9] = [
    Measure::Accepted,
    Measure::Closed,
    Measure::CompletionRate,
    Measure::OnTimeRate,
    Measure::Overdue,
    Measure::MeanHandlingHours,
    Measure::SatisfactionRate,
    Measure::Density,
    Measure::Incidents,
];

fn measure_name(lang: Lang, m: Measure) -> &'static str {
    match lang {
        Lang::Zh => m.zh(),
        Lang::En => m.en(),
    }
}

/// The printable page.
pub fn html(c: &ReportContent, spec: &ReportSpec) -> String {
    let lang = spec.lang;
    let t = |zh, en| lang.t(zh, en);
    let low = spec.config.highlight_below_pct / 100.0;
    let title = format!("{} {}", c.scope_name, t("网格化管理统计报告", "grid management report"));
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="{}"><head><meta charset="utf-8"><title>{}</title>
<style>
body {{ font-family: "Noto Sans SC", "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 22px; margin-bottom: 4px; }} h2 {{ font-size: 17px; margin-top: 28px; border-bottom: 2px solid #0072B2; }}
.meta {{ color: #555; font-size: 13px; }}
.kpis {{ display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }}
.kpi {{ border: 1px solid #ccd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }}
.kpi b {{ display: block; font-size: 22px; }} .kpi span {{ font-size: 12px; color: #555; }}
table {{ border-collapse: collapse; font-size: 12px; }} th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: right; }}
th {{ background: #DDE6F0; }} td.n {{ text-align: left; }} tr.total td {{ font-weight: bold; background: #f3f3f3; }}
.low {{ color: #C00; font-weight: bold; }}
figure {{ margin: 12px 0; page-break-inside: avoid; }} figure img {{ width: 100%; max-width: 1000px; border: 1px solid #eee; }}
@media print {{ body {{ margin: 8mm; }} h2 {{ page-break-after: avoid; }} table {{ page-break-inside: auto; }} tr {{ page-break-inside: avoid; }} }}
</style></head><body>
<h1>{}</h1>
<p class="meta">{}: {}<br>{}: {}<br>{}: {}</p>
"#,
        lang.t("zh-CN", "en"),
        esc(&title),
        esc(&title),
        t("筛选与时段", "Filter and period"),
        esc(&c.table.filter),
        t("统计时点", "As of"),
        esc(&c.table.as_of),
        t("口径", "Definitions"),
        esc(&c.table.definition),
    );
    let tot = &c.table.total;
    h.push_str("<div class=\"kpis\">\n");
    for m in [
        Measure::Accepted,
        Measure::Closed,
        Measure::CompletionRate,
        Measure::OnTimeRate,
        Measure::OverdueOpen,
        Measure::MeanHandlingHours,
        Measure::SatisfactionRate,
    ] {
        let v = m.value(tot);
        let cls = if m.is_rate() && v.is_some_and(|x| x < low) { " class=\"low\"" } else { "" };
        let _ =
            writeln!(h, "<div class=\"kpi\"><b{cls}>{}</b><span>{}</span></div>", esc(&m.format(v)), esc(measure_name(lang, m)));
    }
    h.push_str("</div>\n");
    let _ = writeln!(h, "<h2>{}</h2>", t("图表", "Charts"));
    for ch in &c.charts {
        let s = ch.kind.stem();
        let _ = writeln!(
            h,
            "<figure><img src=\"{s}.png\" alt=\"{}\"><figcaption><a href=\"{s}.svg\">SVG</a> · <a href=\"{s}.png\">PNG</a></figcaption></figure>",
            esc(&ch.title)
        );
    }
    let _ = writeln!(h, "<h2>{}{}</h2>", level_name(lang, c.table.level), t("统计表", " table"));
    let _ = writeln!(
        h,
        "<p class=\"meta\">{} <a href=\"table.csv\">CSV</a> · <a href=\"table.xlsx\">XLSX</a>; {}</p>",
        t("全部指标见", "Every figure in"),
        esc(&format!("{}{:.1}%{}", t("低于 ", "rates under "), spec.config.highlight_below_pct, t(" 的比率标红", " in red")))
    );
    h.push_str("<table>\n<tr><th>");
    h.push_str(t("名称", "Name"));
    h.push_str("</th><th>");
    h.push_str(t("编码", "Code"));
    h.push_str("</th>");
    for m in HTML_COLUMNS {
        let _ = write!(h, "<th>{}</th>", esc(measure_name(lang, m)));
    }
    let _ = writeln!(h, "<th>{}</th></tr>", t("办结率排名", "Rank"));
    let rk = ranks(&c.table.rows, RANK_MEASURE);
    let row = |h: &mut String, r: &UnitRow, rank: Option<u32>, class: &str| {
        let name = if &*r.code == "unassigned" { t("未落入网格", "Unassigned").to_string() } else { r.name.to_string() };
        let code = if r.unit.is_some() { &*r.code } else { "" };
        let _ = write!(h, "<tr{class}><td class=\"n\">{}</td><td class=\"n\">{}</td>", esc(&name), esc(code));
        for m in HTML_COLUMNS {
            let v = m.value(r);
            let cls = if m.is_rate() && v.is_some_and(|x| x < low) { " class=\"low\"" } else { "" };
            let _ = write!(h, "<td{cls}>{}</td>", esc(&m.format(v)));
        }
        let _ = writeln!(h, "<td>{}</td></tr>", rank.map_or("—".to_string(), |x| x.to_string()));
    };
    for (r, k) in c.table.rows.iter().zip(&rk) {
        row(&mut h, r, *k, "");
    }
    if c.table.unassigned.counts.incidents > 0 {
        row(&mut h, &c.table.unassigned, None, "");
    }
    row(&mut h, &c.table.total, None, " class=\"total\"");
    h.push_str("</table>\n");
    let _ = writeln!(h, "<h2>{}</h2>\n<table>\n<tr><th>{}</th>", t("事件类别", "Categories"), t("类别", "Category"));
    for m in HTML_COLUMNS {
        let _ = write!(h, "<th>{}</th>", esc(measure_name(lang, m)));
    }
    h.push_str("</tr>\n");
    for r in &c.categories {
        let _ = write!(h, "<tr><td class=\"n\">{}</td>", esc(&r.category));
        for m in HTML_COLUMNS {
            let _ = write!(h, "<td>{}</td>", esc(&m.format(m.of(&r.counts, &r.figures))));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    let _ = writeln!(
        h,
        "<p class=\"meta\">{} gridcentre {} · {}</p>\n</body></html>",
        t("由", "Made by"),
        env!("CARGO_PKG_VERSION"),
        esc(&format_ms(spec.as_of_ms))
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_period() {
        assert_eq!(bucket_for(30 * DAY_MS), Bucket::Day);
        assert_eq!(bucket_for(90 * DAY_MS), Bucket::Week);
        assert_eq!(bucket_for(365 * DAY_MS), Bucket::Month);
    }

    #[test]
    fn html_escapes_text() {
        assert_eq!(esc("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
