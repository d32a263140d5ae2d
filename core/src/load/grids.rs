//! Grid layers: GeoJSON FeatureCollections and ESRI Shapefiles of Polygon/MultiPolygon grids,
//! with the hierarchy read from feature properties.
//!
//! Each feature is checked on its own: a broken one is rejected with its number and the reason,
//! the rest load. Unclosed rings are closed and counted; degenerate holes are dropped and counted;
//! self-intersecting grids are kept (assignment uses the even-odd rule) and counted.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use geo::{
    BoundingRect, ChamberlainDuquetteArea, Coord, Intersections, Line, LineIntersection, LineString, MultiPolygon, Polygon,
};

use crate::crs::Crs;
use crate::error::{CoreError, Result};
use crate::fields::{GridField, resolve};
use crate::load::text::{read_file, to_utf8};
use crate::model::{Grid, GridLayer, GridParents};
use crate::report::LoadReport;

/// How to read a grid layer.
#[derive(Debug, Clone, Default)]
pub struct GridOptions {
    /// The coordinate system of the file (converted to WGS84 on load).
    pub crs: Crs,
    /// Explicit property names, overriding recognition (`code` → `BoroCD`).
    pub fields: BTreeMap<GridField, String>,
}

/// A feature as read, before checks: its number, properties as text, and rings.
struct RawFeature {
    number: usize,
    props: HashMap<String, String>,
    geometry: std::result::Result<Vec<Vec<Vec<[f64; 2]>>>, String>,
}

/// Loads a grid layer (`.geojson`/`.json` or `.shp`).
pub fn load_grids(path: &Path, opts: &GridOptions) -> Result<(GridLayer, LoadReport)> {
    let _span = tracing::info_span!("load_grids", path = %path.display()).entered();
    let started = std::time::Instant::now();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let (features, keys, format, encoding) = match ext.as_str() {
        "geojson" | "json" => {
            let (f, k, e) = read_geojson(path)?;
            (f, k, "GeoJSON", e)
        }
        "shp" => {
            let (f, k, e) = read_shapefile(path)?;
            (f, k, "Shapefile", e)
        }
        _ => return Err(CoreError::UnsupportedFormat { path: path.to_path_buf(), expected: ".geojson, .json or .shp" }),
    };
    let mut report = LoadReport::new(path, "grids", format);
    report.encoding = Some(encoding);
    report.crs = opts.crs;
    report.read = features.len();
    let mapping =
        resolve(&keys, &GridField::ALL, GridField::aliases, &opts.fields).map_err(|(f, col)| CoreError::MappedColumnAbsent {
            path: path.to_path_buf(),
            field: f.key().to_string(),
            column: col,
            columns: keys.join(", "),
        })?;
    if !mapping.contains_key(&GridField::Code) {
        return Err(CoreError::MissingGridCode { path: path.to_path_buf(), properties: keys.join(", ") });
    }
    for (f, i) in &mapping {
        report.columns.insert(f.key().to_string(), keys[*i].clone());
    }
    let get = |props: &HashMap<String, String>, f: GridField| -> String {
        mapping.get(&f).and_then(|i| props.get(&keys[*i])).map(|s| s.trim().to_string()).unwrap_or_default()
    };

    let mut grids = Vec::with_capacity(features.len());
    let mut parents = Vec::with_capacity(features.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for feat in features {
        let n = feat.number;
        let code = get(&feat.props, GridField::Code);
        if code.is_empty() {
            report.reject(n, "no grid code", || format!("property '{}' is empty", report_col(&mapping, &keys, GridField::Code)));
            continue;
        }
        if let Some(first) = seen.get(&code) {
            let first = *first;
            report.reject(n, "duplicate grid code", || format!("'{code}' (first at feature {first})"));
            continue;
        }
        let rings = match feat.geometry {
            Ok(r) => r,
            Err(reason) => {
                report.reject(n, &reason, || format!("grid '{code}'"));
                continue;
            }
        };
        let geometry = match build_geometry(rings, opts.crs, n, &code, &mut report) {
            Ok(g) => g,
            Err(reason) => {
                report.reject(n, &reason, || format!("grid '{code}'"));
                continue;
            }
        };
        let Some(bbox) = geometry.bounding_rect() else {
            report.reject(n, "empty geometry", || format!("grid '{code}'"));
            continue;
        };
        if let Some(why) = self_intersection(&geometry) {
            report.warn(n, "self-intersecting geometry kept (points inside are assigned by the even-odd rule)", || {
                format!("grid '{code}': {why}")
            });
        }
        let area_km2 = geometry.chamberlain_duquette_unsigned_area() / 1e6;
        let name = get(&feat.props, GridField::Name);
        let households_text = get(&feat.props, GridField::Households);
        let households = if households_text.is_empty() {
            None
        } else {
            match households_text.parse::<f64>() {
                Ok(v) if v >= 0.0 && v.fract() == 0.0 => Some(v as u64),
                _ => {
                    report.warn(n, "households not a whole number (ignored)", || format!("'{households_text}'"));
                    None
                }
            }
        };
        let opt = |s: String| (!s.is_empty()).then_some(s);
        seen.insert(code.clone(), n);
        parents.push(GridParents {
            community: (get(&feat.props, GridField::CommunityCode), get(&feat.props, GridField::Community)),
            street: (get(&feat.props, GridField::StreetCode), get(&feat.props, GridField::Street)),
            district: (get(&feat.props, GridField::DistrictCode), get(&feat.props, GridField::District)),
            city: (get(&feat.props, GridField::CityCode), get(&feat.props, GridField::City)),
        });
        grids.push(Grid {
            name: if name.is_empty() { code.clone() } else { name },
            code,
            geometry,
            bbox,
            area_km2,
            households,
            worker: opt(get(&feat.props, GridField::Worker)),
            phone: opt(get(&feat.props, GridField::Phone)),
            feature: n,
        });
    }
    report.loaded = grids.len();
    if grids.is_empty() {
        return Err(CoreError::NoGrids { path: path.to_path_buf(), read: report.read });
    }
    tracing::info!(loaded = report.loaded, rejected = report.rejected, seconds = started.elapsed().as_secs_f64(), "grids loaded");
    Ok((GridLayer::build(grids, parents), report))
}

fn report_col(mapping: &BTreeMap<GridField, usize>, keys: &[String], f: GridField) -> String {
    mapping.get(&f).map(|i| keys[*i].clone()).unwrap_or_default()
}

/// Turns raw rings (first ring of each polygon = exterior) into a WGS84 MultiPolygon.
fn build_geometry(
    polys: Vec<Vec<Vec<[f64; 2]>>>,
    crs: Crs,
    n: usize,
    code: &str,
    report: &mut LoadReport,
) -> std::result::Result<MultiPolygon<f64>, String> {
    let mut out = Vec::with_capacity(polys.len());
    for rings in polys {
        let mut rings = rings.into_iter();
        let Some(exterior) = rings.next() else { continue };
        let exterior = ring(exterior, crs, n, code, report)?;
        let Some(exterior) = exterior else {
            return Err("degenerate exterior ring (fewer than 3 distinct points)".into());
        };
        let mut holes = Vec::new();
        for r in rings {
            match ring(r, crs, n, code, report)? {
                Some(h) => holes.push(h),
                None => report.warn(n, "degenerate hole dropped", || format!("grid '{code}'")),
            }
        }
        out.push(Polygon::new(exterior, holes));
    }
    if out.is_empty() {
        return Err("empty geometry".into());
    }
    Ok(MultiPolygon::new(out))
}

fn ring(
    pts: Vec<[f64; 2]>,
    crs: Crs,
    n: usize,
    code: &str,
    report: &mut LoadReport,
) -> std::result::Result<Option<LineString<f64>>, String> {
    let mut coords: Vec<Coord<f64>> = Vec::with_capacity(pts.len() + 1);
    for [x, y] in pts {
        if !x.is_finite() || !y.is_finite() {
            return Err("non-numeric coordinate".into());
        }
        if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
            return Err("coordinate out of lon/lat range (projected data? convert to lon/lat first)".into());
        }
        let (lon, lat) = crs.to_wgs84(x, y);
        coords.push(Coord { x: lon, y: lat });
    }
    coords.dedup();
    if coords.len() >= 2 && coords.first() != coords.last() {
        report.warn(n, "unclosed ring closed", || format!("grid '{code}'"));
        coords.push(coords[0]);
    }
    // A ring needs three distinct points plus the closing one.
    if coords.len() < 4 {
        return Ok(None);
    }
    Ok(Some(LineString::new(coords)))
}

/// A segment of a ring, for the sweep.
#[derive(Debug, Clone, Copy)]
struct Seg {
    ring: usize,
    index: usize,
    ring_len: usize,
    line: Line<f64>,
}

impl geo::algorithm::sweep::Cross for Seg {
    type Scalar = f64;
    fn line(&self) -> Line<f64> {
        self.line
    }
}

/// Finds where a polygon's rings cross themselves or each other (a Bentley–Ottmann sweep from
/// geo, O((n + k) log n); geo's `Validation` compares every pair of segments, which takes
/// seconds on detailed boundaries). Neighbouring segments meeting at their shared vertex are
/// fine; rings of one polygon touching at a single point are fine (as OGC allows).
pub fn self_intersection(mp: &MultiPolygon<f64>) -> Option<String> {
    for (pi, poly) in mp.0.iter().enumerate() {
        let mut segs = Vec::new();
        for (ri, ring) in std::iter::once(poly.exterior()).chain(poly.interiors()).enumerate() {
            let ring_len = ring.0.len().saturating_sub(1);
            for (index, line) in ring.lines().enumerate() {
                if line.start != line.end {
                    segs.push(Seg { ring: ri, index, ring_len, line });
                }
            }
        }
        for (a, b, x) in Intersections::from_iter(segs) {
            let adjacent = a.ring == b.ring && (a.index.abs_diff(b.index) == 1 || a.index.abs_diff(b.index) + 1 == a.ring_len);
            let problem = match x {
                LineIntersection::Collinear { .. } => true,
                LineIntersection::SinglePoint { intersection, is_proper } => {
                    if a.ring == b.ring {
                        !(adjacent && !is_proper && (intersection == a.line.start || intersection == a.line.end))
                    } else {
                        is_proper
                    }
                }
            };
            if problem {
                let p = match x {
                    LineIntersection::SinglePoint { intersection, .. } => intersection,
                    LineIntersection::Collinear { intersection } => intersection.start,
                };
                let what = if a.ring == b.ring {
                    format!("ring {} crosses itself", a.ring)
                } else {
                    format!("rings {} and {} cross", a.ring, b.ring)
                };
                return Some(format!("part {}: {what} near ({:.6}, {:.6})", pi + 1, p.x, p.y));
            }
        }
    }
    None
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads the features of a GeoJSON file one by one, so that a bad feature does not sink the file.
/// The file is scanned once for where each feature's text lies; the features are then parsed on
/// all cores (a whole-file tree of values took most of a 10,000-grid layer's load time).
fn read_geojson(path: &Path) -> Result<(Vec<RawFeature>, Vec<String>, String)> {
    use rayon::prelude::*;
    use serde_json::value::RawValue;
    let bytes = read_file(path)?;
    let (text, enc) = to_utf8(path, &bytes)?;
    let gj_err = |message: String| CoreError::GeoJson { path: path.to_path_buf(), message };
    /// The two members that matter at the top, left unparsed.
    #[derive(serde::Deserialize)]
    struct Root<'a> {
        #[serde(rename = "type", borrow, default)]
        kind: Option<&'a RawValue>,
        #[serde(borrow, default)]
        features: Option<&'a RawValue>,
    }
    let features: Vec<Cow<'_, str>> = match serde_json::from_str::<Root>(&text) {
        Ok(root) => {
            let kind = root.kind.and_then(|k| serde_json::from_str::<serde_json::Value>(k.get()).ok());
            match kind.as_ref().and_then(|t| t.as_str()) {
                Some("FeatureCollection") => {
                    match root.features.and_then(|f| serde_json::from_str::<Vec<&RawValue>>(f.get()).ok()) {
                        Some(a) => a.into_iter().map(|f| Cow::Borrowed(f.get())).collect(),
                        None => return Err(gj_err("FeatureCollection without a 'features' array".into())),
                    }
                }
                Some("Feature") => vec![Cow::Borrowed(text.as_ref())],
                Some(other) => return Err(gj_err(format!("expected a FeatureCollection, found '{other}'"))),
                None => return Err(gj_err("no 'type' member: not GeoJSON".into())),
            }
        }
        // Not an object with those members once each (valid JSON of another shape, a member
        // given twice, or not JSON): the whole tree, where a repeated member's last value counts.
        Err(_) => {
            let mut root: serde_json::Value = serde_json::from_str(&text).map_err(|e| gj_err(e.to_string()))?;
            match root.get("type").and_then(|t| t.as_str()) {
                Some("FeatureCollection") => match root.get_mut("features").map(serde_json::Value::take) {
                    Some(serde_json::Value::Array(a)) => a.iter().map(|f| Cow::Owned(f.to_string())).collect(),
                    _ => return Err(gj_err("FeatureCollection without a 'features' array".into())),
                },
                Some("Feature") => vec![Cow::Owned(root.to_string())],
                Some(other) => return Err(gj_err(format!("expected a FeatureCollection, found '{other}'"))),
                None => return Err(gj_err("no 'type' member: not GeoJSON".into())),
            }
        }
    };
    // Each feature: its properties as text, the order their names came in, its rings.
    let parse = |(i, raw): (usize, &Cow<'_, str>)| -> (RawFeature, Vec<String>) {
        // Valid JSON already (the scan checked it); a failure would only leave the feature empty.
        let f: serde_json::Value = serde_json::from_str(raw).unwrap_or(serde_json::Value::Null);
        let mut props = HashMap::new();
        let mut names = Vec::new();
        if let Some(serde_json::Value::Object(p)) = f.get("properties") {
            for (k, v) in p {
                names.push(k.clone());
                props.insert(k.clone(), json_text(v));
            }
        }
        // A top-level id is a usual place for the code too.
        if let Some(id) = f.get("id") {
            props.entry("id".to_string()).or_insert_with(|| json_text(id));
            names.push("id".to_string());
        }
        let geometry = geojson_rings(f.get("geometry"));
        (RawFeature { number: i + 1, props, geometry }, names)
    };
    let parsed: Vec<(RawFeature, Vec<String>)> = if features.len() < 64 {
        features.iter().enumerate().map(parse).collect()
    } else {
        features.par_iter().enumerate().with_min_len(32).map(parse).collect()
    };
    let mut keys: Vec<String> = Vec::new();
    let mut key_seen: HashMap<String, ()> = HashMap::new();
    let mut out = Vec::with_capacity(parsed.len());
    for (feature, names) in parsed {
        for k in names {
            if !key_seen.contains_key(&k) {
                key_seen.insert(k.clone(), ());
                keys.push(k);
            }
        }
        out.push(feature);
    }
    Ok((out, keys, enc.label().to_string()))
}

fn geojson_rings(g: Option<&serde_json::Value>) -> std::result::Result<Vec<Vec<Vec<[f64; 2]>>>, String> {
    let g = match g {
        None | Some(serde_json::Value::Null) => return Err("no geometry".into()),
        Some(g) => g,
    };
    let geom = <geojson::Geometry as serde::Deserialize>::deserialize(g).map_err(|e| format!("malformed geometry: {e}"))?;
    let pos = |p: &geojson::Position| -> std::result::Result<[f64; 2], String> {
        if p.len() < 2 {
            return Err("position with fewer than 2 numbers".into());
        }
        Ok([p[0], p[1]])
    };
    let poly = |rings: &geojson::PolygonType| -> std::result::Result<Vec<Vec<[f64; 2]>>, String> {
        rings.iter().map(|r| r.iter().map(pos).collect()).collect()
    };
    match &geom.value {
        geojson::GeometryValue::Polygon { coordinates: rings } => {
            if rings.is_empty() {
                return Err("empty geometry".into());
            }
            Ok(vec![poly(rings)?])
        }
        geojson::GeometryValue::MultiPolygon { coordinates: polys } => {
            let out: Vec<_> = polys.iter().filter(|p| !p.is_empty()).map(poly).collect::<std::result::Result<_, _>>()?;
            if out.is_empty() {
                return Err("empty geometry".into());
            }
            Ok(out)
        }
        other => Err(format!("not a polygon ({})", other.type_name())),
    }
}

/// Chooses the .dbf encoding: the .cpg when there is one, then the code-page byte of the .dbf
/// header (0x4D/0x7A = GBK), then UTF-8 if the file is valid UTF-8, else GBK.
fn dbf_encoding(shp: &Path) -> Result<(shapefile::dbase::encoding::DynEncoding, String)> {
    let dyn_enc = |name: &str| shapefile::dbase::encoding::DynEncoding::from_name(name);
    if let Ok(label) = std::fs::read_to_string(shp.with_extension("cpg"))
        && let Some(e) = dyn_enc(&label)
    {
        return Ok((e, format!(".cpg {}", label.trim())));
    }
    let dbf = shp.with_extension("dbf");
    let bytes = std::fs::read(&dbf).map_err(|e| CoreError::io(&dbf, e))?;
    let ldid = bytes.get(29).copied().unwrap_or(0);
    let name = if ldid == 0x4D || ldid == 0x7A {
        "GBK"
    } else if std::str::from_utf8(&bytes[bytes.len().min(32)..]).is_ok() {
        "UTF-8"
    } else {
        "GBK"
    };
    let enc = dyn_enc(name).ok_or_else(|| CoreError::Invalid(format!("no decoder for {name}")))?;
    Ok((enc, name.to_string()))
}

fn read_shapefile(path: &Path) -> Result<(Vec<RawFeature>, Vec<String>, String)> {
    let shp_err = |message: String| CoreError::Shapefile { path: path.to_path_buf(), message };
    let (encoding, enc_label) = dbf_encoding(path)?;
    let shapes = shapefile::ShapeReader::from_path(path).map_err(|e| shp_err(e.to_string()))?;
    let dbf_path = path.with_extension("dbf");
    let dbf_file = File::open(&dbf_path).map_err(|e| CoreError::io(&dbf_path, e))?;
    let dbf = shapefile::dbase::ReaderBuilder::new()
        .with_encoding(encoding)
        .build(BufReader::new(dbf_file))
        .map_err(|e| shp_err(format!("{}: {e}", dbf_path.display())))?;
    let keys: Vec<String> = dbf.fields().iter().map(|f| f.name().to_string()).collect();
    let mut reader = shapefile::Reader::new(shapes, dbf);
    let mut out = Vec::new();
    for (i, item) in reader.iter_shapes_and_records().enumerate() {
        let number = i + 1;
        let (shape, record) = match item {
            Ok(x) => x,
            Err(e) => {
                out.push(RawFeature { number, props: HashMap::new(), geometry: Err(format!("unreadable record: {e}")) });
                continue;
            }
        };
        let mut props = HashMap::new();
        for (k, v) in record.into_iter() {
            props.insert(k, dbf_text(&v));
        }
        let geometry = match shape {
            shapefile::Shape::Polygon(p) => {
                shp_rings(p.rings().iter().map(|r| (r.points().iter().map(|q| [q.x, q.y]).collect(), is_outer(r))))
            }
            shapefile::Shape::PolygonM(p) => {
                shp_rings(p.rings().iter().map(|r| (r.points().iter().map(|q| [q.x, q.y]).collect(), is_outer(r))))
            }
            shapefile::Shape::PolygonZ(p) => {
                shp_rings(p.rings().iter().map(|r| (r.points().iter().map(|q| [q.x, q.y]).collect(), is_outer(r))))
            }
            shapefile::Shape::NullShape => Err("no geometry".into()),
            other => Err(format!("not a polygon ({})", other.shapetype())),
        };
        out.push(RawFeature { number, props, geometry });
    }
    Ok((out, keys, enc_label))
}

fn is_outer<P>(r: &shapefile::PolygonRing<P>) -> bool {
    matches!(r, shapefile::PolygonRing::Outer(_))
}

/// Shapefile rings come flat, outer rings clockwise and holes counter-clockwise; each hole
/// belongs to the outer ring before it.
fn shp_rings(rings: impl Iterator<Item = (Vec<[f64; 2]>, bool)>) -> std::result::Result<Vec<Vec<Vec<[f64; 2]>>>, String> {
    let mut polys: Vec<Vec<Vec<[f64; 2]>>> = Vec::new();
    for (pts, outer) in rings {
        if outer || polys.is_empty() {
            polys.push(vec![pts]);
        } else if let Some(last) = polys.last_mut() {
            last.push(pts);
        }
    }
    if polys.is_empty() { Err("empty geometry".into()) } else { Ok(polys) }
}

fn dbf_text(v: &shapefile::dbase::FieldValue) -> String {
    use shapefile::dbase::FieldValue as F;
    match v {
        F::Character(Some(s)) | F::Memo(s) => s.trim().to_string(),
        F::Numeric(Some(x)) => fmt_num(*x),
        F::Float(Some(x)) => fmt_num(*x as f64),
        F::Double(x) => fmt_num(*x),
        F::Integer(x) => x.to_string(),
        F::Currency(x) => x.to_string(),
        F::Logical(Some(b)) => b.to_string(),
        F::Date(Some(d)) => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        _ => String::new(),
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { x.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn a_bowtie_crosses_itself_and_a_square_does_not() {
        let square = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)];
        assert_eq!(self_intersection(&MultiPolygon::new(vec![square])), None);
        let bowtie = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0), (x: 1.0, y: 0.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)];
        let why = self_intersection(&MultiPolygon::new(vec![bowtie])).unwrap();
        assert!(why.contains("ring 0 crosses itself near (0.500000, 0.500000)"), "{why}");
    }

    /// What a read gives, comparable: each feature's number, properties in name order and ring
    /// count or rejection, and the property names in order of first appearance.
    fn read(dir: &Path, name: &str, text: &str) -> std::result::Result<(Vec<String>, Vec<String>), String> {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let (features, keys, _) = read_geojson(&path).map_err(|e| e.to_string())?;
        let shown = features
            .iter()
            .map(|f| {
                let props: BTreeMap<_, _> = f.props.iter().collect();
                format!("{} {props:?} {:?}", f.number, f.geometry.as_ref().map(|g| g.len()))
            })
            .collect();
        Ok((shown, keys))
    }

    #[test]
    fn geojson_features_are_read_in_order_whatever_the_root_looks_like() {
        let dir = tempfile::tempdir().unwrap();
        let square = r#"{"type":"Polygon","coordinates":[[[130,46],[130.01,46],[130.01,46.01],[130,46]]]}"#;
        // Enough features for the parallel path; names first met in the 4th and the last one.
        let features: Vec<String> = (0..100)
            .map(|k| {
                let mut props = format!(r#""网格编码":"G{k}""#);
                if k % 7 == 3 {
                    props.push_str(&format!(r#","name":"格{k}""#));
                }
                if k == 99 {
                    props.push_str(r#","households":120"#);
                }
                let geometry = if k == 50 { "null" } else { square };
                format!(r#"{{"type":"Feature","id":{k},"properties":{{{props}}},"geometry":{geometry}}}"#)
            })
            .collect();
        let text = format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","));
        let (shown, keys) = read(dir.path(), "a.geojson", &text).unwrap();
        assert_eq!(keys, ["网格编码", "id", "name", "households"]);
        assert_eq!(shown.len(), 100);
        assert_eq!(shown[3], r#"4 {"id": "3", "name": "格3", "网格编码": "G3"} Ok(1)"#);
        assert_eq!(shown[50], r#"51 {"id": "50", "网格编码": "G50"} Err("no geometry")"#);
        assert_eq!(shown[99], r#"100 {"households": "120", "id": "99", "网格编码": "G99"} Ok(1)"#);
        // A member given twice: read as a whole tree (the last value counts), the same features.
        let twice = format!(r#"{{"type":"Point","type":"FeatureCollection","features":[{}]}}"#, features.join(","));
        assert_eq!(read(dir.path(), "b.geojson", &twice).unwrap(), (shown.clone(), keys));
        // A single feature as the root.
        let (one, keys) = read(dir.path(), "c.geojson", &features[3]).unwrap();
        assert_eq!((one, keys), (vec![shown[3].replacen('4', "1", 1)], vec!["name".to_string(), "网格编码".into(), "id".into()]));
        for (text, error) in [
            ("[1, 2]", "no 'type' member"),
            (r#"{"features":[]}"#, "no 'type' member"),
            (r#"{"type":"FeatureCollection","features":{}}"#, "without a 'features' array"),
            (r#"{"type":"FeatureCollection"}"#, "without a 'features' array"),
            (r#"{"type":"Point","coordinates":[1,2]}"#, "expected a FeatureCollection, found 'Point'"),
            (r#"{"type":"FeatureCollection","features":[{"type":"Feature"}"#, "EOF"),
        ] {
            let e = read(dir.path(), "d.geojson", text).unwrap_err();
            assert!(e.contains(error) && e.contains("d.geojson"), "{text}: {e}");
        }
    }

    #[test]
    fn a_hole_poking_out_of_its_exterior_is_found() {
        let p = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0), (x: 0.0, y: 0.0)],
            interiors: [[(x: 1.0, y: 1.0), (x: 5.0, y: 1.0), (x: 5.0, y: 2.0), (x: 1.0, y: 2.0), (x: 1.0, y: 1.0)]],
        );
        let why = self_intersection(&MultiPolygon::new(vec![p])).unwrap();
        assert!(why.contains("rings 1 and 0 cross") || why.contains("rings 0 and 1 cross"), "{why}");
    }
}
