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
use crate::load::text::{read_file, to_utf8, trim};
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

/// A feature's properties as text, by name.
type Props = BTreeMap<String, String>;

/// A feature as read, before checks: its number, properties as text, and rings.
struct RawFeature {
    number: usize,
    props: Props,
    geometry: std::result::Result<Rings, String>,
}

/// Loads a grid layer (`.geojson`/`.json` or `.shp`).
pub fn load_grids(path: &Path, opts: &GridOptions) -> Result<(GridLayer, LoadReport)> {
    let _span = tracing::info_span!("load_grids", path = %path.display()).entered();
    let started = std::time::Instant::now();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let (bytes, text);
    let (features, keys, format, encoding) = match ext.as_str() {
        "geojson" | "json" => {
            bytes = read_file(path)?;
            let enc;
            (text, enc) = to_utf8(path, &bytes)?;
            let (f, k) = read_geojson(path, &text)?;
            (f, k, "GeoJSON", enc.label().to_string())
        }
        "shp" => {
            let (f, k, e) = read_shapefile(path)?;
            (f.into_iter().map(Pending::Read).collect(), k, "Shapefile", e)
        }
        _ => return Err(CoreError::UnsupportedFormat { path: path.to_path_buf(), expected: ".geojson, .json or .shp" }),
    };
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "grid features read");
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
    // The properties that matter: (field, property name).
    let wanted: Vec<(usize, &str)> = mapping.iter().map(|(f, &i)| (*f as usize, keys[i].as_str())).collect();

    // Each feature read and checked on its own, on all cores; then, in feature order, the
    // duplicate codes and the report (a duplicate's own warnings are not reported, as it is
    // not read).
    let finish = |n: usize, fields: &Fields<'_>, geometry: std::result::Result<Rings, String>| -> (usize, String, Checked) {
        let get = |f: GridField| -> String { fields[f as usize].as_deref().map(|s| trim(s).to_string()).unwrap_or_default() };
        let code = get(GridField::Code);
        let mut notes = Notes::default();
        let result = if code.is_empty() {
            Err((String::new(), String::new()))
        } else {
            check_feature(n, geometry, &code, &get, opts, &mut notes)
        };
        (n, code, Checked { notes, result })
    };
    let check = |feature: Pending<'_>| -> (usize, String, Checked) {
        match feature {
            Pending::Read(f) => finish(f.number, &fields_of(&f.props, &wanted), f.geometry),
            Pending::Json { number, text } => match typed_feature(&text, &wanted) {
                Some((fields, rings)) => finish(number, &fields, Ok(rings)),
                None => {
                    let (f, _) = value_feature(number, &text);
                    finish(number, &fields_of(&f.props, &wanted), f.geometry)
                }
            },
        }
    };
    let checked: Vec<(usize, String, Checked)> = if features.len() < 64 {
        features.into_iter().map(check).collect()
    } else {
        use rayon::prelude::*;
        features.into_par_iter().with_min_len(16).map(check).collect()
    };
    let mut grids = Vec::with_capacity(checked.len());
    let mut parents = Vec::with_capacity(checked.len());
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(checked.len());
    for (n, code, checked) in checked {
        if code.is_empty() {
            report.reject(n, "no grid code", || format!("property '{}' is empty", report_col(&mapping, &keys, GridField::Code)));
            continue;
        }
        if let Some(first) = seen.get(&code) {
            let first = *first;
            report.reject(n, "duplicate grid code", || format!("'{code}' (first at feature {first})"));
            continue;
        }
        for (kind, detail) in checked.notes.warnings {
            report.warn(n, &kind, || detail);
        }
        match checked.result {
            Err((reason, detail)) => report.reject(n, &reason, || detail),
            Ok((grid, p)) => {
                seen.insert(code, n);
                grids.push(grid);
                parents.push(p);
            }
        }
    }
    report.loaded = grids.len();
    if grids.is_empty() {
        return Err(CoreError::NoGrids { path: path.to_path_buf(), read: report.read });
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "grid features checked");
    let layer = GridLayer::build(grids, parents);
    tracing::info!(loaded = report.loaded, rejected = report.rejected, seconds = started.elapsed().as_secs_f64(), "grids loaded");
    Ok((layer, report))
}

/// What a feature's checks found: its warnings in order, and the grid or why not.
struct Checked {
    notes: Notes,
    result: std::result::Result<(Grid, GridParents), (String, String)>,
}

/// Warnings of one feature, in the order they were found.
#[derive(Default)]
struct Notes {
    warnings: Vec<(String, String)>,
}

impl Notes {
    fn warn(&mut self, kind: &str, detail: impl FnOnce() -> String) {
        self.warnings.push((kind.to_string(), detail()));
    }
}

/// The checks of one feature with a code: geometry, households; the grid with its parents, or
/// the reason it is rejected (with the detail the report shows).
fn check_feature(
    n: usize,
    geometry: std::result::Result<Rings, String>,
    code: &str,
    get: &dyn Fn(GridField) -> String,
    opts: &GridOptions,
    notes: &mut Notes,
) -> std::result::Result<(Grid, GridParents), (String, String)> {
    let reject = |reason: String| (reason, format!("grid '{code}'"));
    let rings = geometry.map_err(reject)?;
    let geometry = build_geometry(rings, opts.crs, code, notes).map_err(reject)?;
    let Some(bbox) = geometry.bounding_rect() else {
        return Err(reject("empty geometry".into()));
    };
    if let Some(why) = self_intersection(&geometry) {
        notes.warn("self-intersecting geometry kept (points inside are assigned by the even-odd rule)", || {
            format!("grid '{code}': {why}")
        });
    }
    let area_km2 = geometry.chamberlain_duquette_unsigned_area() / 1e6;
    let name = get(GridField::Name);
    let households_text = get(GridField::Households);
    let households = if households_text.is_empty() {
        None
    } else {
        match households_text.parse::<f64>() {
            Ok(v) if v >= 0.0 && v.fract() == 0.0 => Some(v as u64),
            _ => {
                notes.warn("households not a whole number (ignored)", || format!("'{households_text}'"));
                None
            }
        }
    };
    let opt = |s: String| (!s.is_empty()).then_some(s);
    let parents = GridParents {
        community: (get(GridField::CommunityCode), get(GridField::Community)),
        street: (get(GridField::StreetCode), get(GridField::Street)),
        district: (get(GridField::DistrictCode), get(GridField::District)),
        city: (get(GridField::CityCode), get(GridField::City)),
    };
    let grid = Grid {
        name: if name.is_empty() { code.to_string() } else { name },
        code: code.to_string(),
        geometry,
        bbox,
        area_km2,
        households,
        worker: opt(get(GridField::Worker)),
        phone: opt(get(GridField::Phone)),
        feature: n,
    };
    Ok((grid, parents))
}

fn report_col(mapping: &BTreeMap<GridField, usize>, keys: &[String], f: GridField) -> String {
    mapping.get(&f).map(|i| keys[*i].clone()).unwrap_or_default()
}

/// Turns raw rings (first ring of each polygon = exterior) into a WGS84 MultiPolygon.
fn build_geometry(
    polys: Vec<Vec<Vec<[f64; 2]>>>,
    crs: Crs,
    code: &str,
    notes: &mut Notes,
) -> std::result::Result<MultiPolygon<f64>, String> {
    let mut out = Vec::with_capacity(polys.len());
    for rings in polys {
        let mut rings = rings.into_iter();
        let Some(exterior) = rings.next() else { continue };
        let exterior = ring(exterior, crs, code, notes)?;
        let Some(exterior) = exterior else {
            return Err("degenerate exterior ring (fewer than 3 distinct points)".into());
        };
        let mut holes = Vec::new();
        for r in rings {
            match ring(r, crs, code, notes)? {
                Some(h) => holes.push(h),
                None => notes.warn("degenerate hole dropped", || format!("grid '{code}'")),
            }
        }
        out.push(Polygon::new(exterior, holes));
    }
    if out.is_empty() {
        return Err("empty geometry".into());
    }
    Ok(MultiPolygon::new(out))
}

fn ring(pts: Vec<[f64; 2]>, crs: Crs, code: &str, notes: &mut Notes) -> std::result::Result<Option<LineString<f64>>, String> {
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
        notes.warn("unclosed ring closed", || format!("grid '{code}'"));
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

/// Polygons, each a list of rings (the exterior first), each a list of lon/lat.
type Rings = Vec<Vec<Vec<[f64; 2]>>>;

/// A feature waiting for its checks: read in full (a shapefile record, or a GeoJSON feature of
/// an unusual shape), or a GeoJSON feature's text, read once it is known which properties
/// matter (most of a feature's properties are never used, and reading them all cost an
/// allocation each).
enum Pending<'t> {
    Read(RawFeature),
    Json { number: usize, text: Cow<'t, str> },
}

/// The properties that matter, by field (`fields[GridField::Code as usize]`).
type Fields<'a> = [Option<Cow<'a, str>>; GRID_FIELDS];
const GRID_FIELDS: usize = GridField::ALL.len();

/// Locates the features of a GeoJSON text and the names of their properties in order of first
/// appearance (each feature's in name order), so that a bad feature does not sink the file.
/// The text is scanned once for where each feature lies; the features' names are then read on
/// all cores.
fn read_geojson<'t>(path: &Path, text: &'t str) -> Result<(Vec<Pending<'t>>, Vec<String>)> {
    use rayon::prelude::*;
    use serde_json::value::RawValue;
    let gj_err = |message: String| CoreError::GeoJson { path: path.to_path_buf(), message };
    /// The two members that matter at the top, the features left unparsed (one scan).
    #[derive(serde::Deserialize)]
    struct Root<'a> {
        #[serde(rename = "type", borrow, default)]
        kind: Option<&'a RawValue>,
        #[serde(borrow, default)]
        features: Option<Vec<&'a RawValue>>,
    }
    let features: Vec<Cow<'t, str>> = match serde_json::from_str::<Root>(text) {
        Ok(root) => {
            let kind = root.kind.and_then(|k| serde_json::from_str::<serde_json::Value>(k.get()).ok());
            match kind.as_ref().and_then(|t| t.as_str()) {
                Some("FeatureCollection") => match root.features {
                    Some(a) => a.into_iter().map(|f| Cow::Borrowed(f.get())).collect(),
                    None => return Err(gj_err("FeatureCollection without a 'features' array".into())),
                },
                Some("Feature") => vec![Cow::Borrowed(text)],
                Some(other) => return Err(gj_err(format!("expected a FeatureCollection, found '{other}'"))),
                None => return Err(gj_err("no 'type' member: not GeoJSON".into())),
            }
        }
        // Not an object with those members once each (valid JSON of another shape, a member
        // given twice, or not JSON): the whole tree, where a repeated member's last value counts.
        Err(_) => {
            let mut root: serde_json::Value = serde_json::from_str(text).map_err(|e| gj_err(e.to_string()))?;
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
    // Each feature's property names (borrowed from the text); a feature the quick reading
    // does not take is read in full here.
    fn names_of<'f>((i, raw): (usize, &'f Cow<'_, str>)) -> (Vec<Cow<'f, str>>, Option<RawFeature>) {
        match property_names(raw) {
            Some(names) => (names, None),
            None => {
                let (f, names) = value_feature(i + 1, raw);
                (names.into_iter().map(Cow::Owned).collect(), Some(f))
            }
        }
    }
    let named: Vec<(Vec<Cow<'_, str>>, Option<RawFeature>)> = if features.len() < 64 {
        features.iter().enumerate().map(names_of).collect()
    } else {
        features.par_iter().enumerate().with_min_len(32).map(names_of).collect()
    };
    let mut keys: Vec<String> = Vec::new();
    let mut key_seen: HashMap<&str, ()> = HashMap::new();
    let mut last: Option<&[Cow<'_, str>]> = None;
    for (names, _) in &named {
        // Most features have the names of the one before.
        if last == Some(names.as_slice()) {
            continue;
        }
        for k in names {
            if !key_seen.contains_key(k.as_ref()) {
                key_seen.insert(k.as_ref(), ());
                keys.push(k.to_string());
            }
        }
        last = Some(names.as_slice());
    }
    let read: Vec<Option<RawFeature>> = named.into_iter().map(|(_, f)| f).collect();
    let pending = features
        .into_iter()
        .zip(read)
        .enumerate()
        .map(|(i, (text, read))| match read {
            Some(f) => Pending::Read(f),
            None => Pending::Json { number: i + 1, text },
        })
        .collect();
    Ok((pending, keys))
}

/// A feature read as a tree of values, the general way (and its property names in order).
fn value_feature(number: usize, raw: &str) -> (RawFeature, Vec<String>) {
    // Valid JSON already (the scan checked it); a failure would only leave the feature empty.
    let f: serde_json::Value = serde_json::from_str(raw).unwrap_or(serde_json::Value::Null);
    let mut props = Props::new();
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
    (RawFeature { number, props, geometry }, names)
}

/// The properties that matter of a feature read in full.
fn fields_of(props: &Props, wanted: &[(usize, &str)]) -> Fields<'static> {
    let mut fields: Fields<'static> = Default::default();
    for &(f, key) in wanted {
        fields[f] = props.get(key).map(|v| Cow::Owned(v.clone()));
    }
    fields
}

/// A member that may be given as `null`: `Member(None)` only when the member is absent.
#[derive(Default)]
struct Member<'a>(Option<&'a serde_json::value::RawValue>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Member<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        <&serde_json::value::RawValue>::deserialize(d).map(|v| Member(Some(v)))
    }
}

/// A position's first two numbers (a third, the height, and any more are skipped).
struct Position([f64; 2]);

impl<'de> serde::Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Position;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a position")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Position, A::Error> {
                let missing = || serde::de::Error::custom("position with fewer than 2 numbers");
                let x: f64 = seq.next_element()?.ok_or_else(missing)?;
                let y: f64 = seq.next_element()?.ok_or_else(missing)?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Position([x, y]))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A property's value as text: a string as it is (borrowed when it has no escapes), null
/// empty, anything else as JSON (as [`json_text`] gives it).
fn raw_text(v: &serde_json::value::RawValue) -> Option<Cow<'_, str>> {
    let t = v.get();
    if t.starts_with('"') {
        match serde_json::from_str::<&str>(t) {
            Ok(s) => Some(Cow::Borrowed(s)),
            Err(_) => serde_json::from_str::<String>(t).ok().map(Cow::Owned),
        }
    } else {
        serde_json::from_str::<serde_json::Value>(t).ok().map(|v| Cow::Owned(json_text(&v)))
    }
}

/// The members of a feature that matter, unparsed: its properties' names and raw values in
/// the order written, its geometry and its id. `None` when the feature is not an object of
/// those members given once each (the general reading then takes it: there the last counts).
struct FeatureParts<'a> {
    props: Vec<(Cow<'a, str>, &'a serde_json::value::RawValue)>,
    geometry: Member<'a>,
    id: Member<'a>,
}

fn feature_parts(raw: &str) -> Option<FeatureParts<'_>> {
    #[derive(serde::Deserialize)]
    struct Feature<'a> {
        #[serde(borrow, default)]
        properties: Option<PropEntries<'a>>,
        #[serde(borrow, default)]
        geometry: Member<'a>,
        #[serde(borrow, default)]
        id: Member<'a>,
    }
    let f: Feature<'_> = serde_json::from_str(raw).ok()?;
    Some(FeatureParts { props: f.properties.map(|p| p.0).unwrap_or_default(), geometry: f.geometry, id: f.id })
}

/// A property name, borrowed from the text when it has no escapes.
#[derive(serde::Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// A properties object's entries in the order written.
struct PropEntries<'a>(Vec<(Cow<'a, str>, &'a serde_json::value::RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for PropEntries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PropEntries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of properties")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<PropEntries<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(Key(k)) = map.next_key()? {
                    out.push((k, map.next_value()?));
                }
                Ok(PropEntries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The property names of a feature as [`value_feature`] gives them (in name order, one each,
/// then `id` when the feature has a top-level id), borrowed from its text; `None` when the
/// feature needs the general reading.
fn property_names(raw: &str) -> Option<Vec<Cow<'_, str>>> {
    let parts = feature_parts(raw)?;
    let mut names: Vec<Cow<'_, str>> = parts.props.into_iter().map(|(k, _)| k).collect();
    // A name given twice counts once, as in a tree of values.
    names.sort_unstable();
    names.dedup();
    if parts.id.0.is_some() {
        names.push(Cow::Borrowed("id"));
    }
    Some(names)
}

/// The properties that matter and the rings of a usual feature (a Polygon or MultiPolygon),
/// read straight from its text, the property values borrowed where they have no escapes.
/// `None` for anything else (a member given twice, another geometry, a malformed one…): the
/// general reading then decides, with its own messages, so the result is always the same.
fn typed_feature<'a>(raw: &'a str, wanted: &[(usize, &str)]) -> Option<(Fields<'a>, Rings)> {
    use serde_json::value::RawValue;
    let mut fields: Fields<'a> = Default::default();
    let parts = feature_parts(raw)?;
    let mut id_in_properties = false;
    for (k, v) in parts.props {
        id_in_properties |= k == "id";
        // A name given twice: the last value counts.
        if let Some(&(f, _)) = wanted.iter().find(|(_, key)| *key == k) {
            fields[f] = Some(raw_text(v)?);
        }
    }
    if !id_in_properties
        && let Some(id) = parts.id.0
        && let Some(&(f, _)) = wanted.iter().find(|(_, key)| *key == "id")
    {
        fields[f] = Some(raw_text(id)?);
    }
    let geometry = parts.geometry;
    #[derive(serde::Deserialize)]
    struct Geometry<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        #[serde(borrow)]
        coordinates: &'a RawValue,
        #[serde(default)]
        bbox: Option<serde::de::IgnoredAny>,
    }
    let g: Geometry<'_> = serde_json::from_str(geometry.0?.get()).ok()?;
    if g.bbox.is_some() {
        return None;
    }
    let pts = |ring: Vec<Position>| ring.into_iter().map(|p| p.0).collect::<Vec<[f64; 2]>>();
    let rings: Rings = match g.kind.as_ref() {
        "Polygon" => {
            let rings: Vec<Vec<Position>> = serde_json::from_str(g.coordinates.get()).ok()?;
            vec![rings.into_iter().map(pts).collect()]
        }
        "MultiPolygon" => {
            let polys: Vec<Vec<Vec<Position>>> = serde_json::from_str(g.coordinates.get()).ok()?;
            polys.into_iter().filter(|p| !p.is_empty()).map(|p| p.into_iter().map(pts).collect()).collect()
        }
        _ => return None,
    };
    if rings.is_empty() || rings[0].is_empty() {
        return None;
    }
    Some((fields, rings))
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
                out.push(RawFeature { number, props: Props::new(), geometry: Err(format!("unreadable record: {e}")) });
                continue;
            }
        };
        let mut props = Props::new();
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
        let (features, keys) = read_geojson(&path, text).map_err(|e| e.to_string())?;
        // Every property, read the quick way where it applies and the general way where not.
        let wanted: Vec<(usize, &str)> = keys.iter().enumerate().map(|(i, k)| (i, k.as_str())).collect();
        assert!(keys.len() <= GRID_FIELDS);
        let shown = features
            .iter()
            .map(|f| {
                let (number, fields, geometry) = match f {
                    Pending::Read(f) => {
                        (f.number, fields_of(&f.props, &wanted), f.geometry.as_ref().map(|g| g.len()).map_err(|e| e.clone()))
                    }
                    Pending::Json { number, text } => {
                        let (general, _) = value_feature(*number, text);
                        match typed_feature(text, &wanted) {
                            Some((fields, rings)) => {
                                let by_name = |fields: &Fields<'_>| -> Vec<Option<String>> {
                                    fields.iter().map(|v| v.as_deref().map(String::from)).collect()
                                };
                                assert_eq!(by_name(&fields), by_name(&fields_of(&general.props, &wanted)), "feature {number}");
                                assert_eq!(Ok(&rings), general.geometry.as_ref(), "feature {number}");
                                (*number, fields, Ok(rings.len()))
                            }
                            None => (
                                *number,
                                fields_of(&general.props, &wanted),
                                general.geometry.as_ref().map(|g| g.len()).map_err(|e| e.clone()),
                            ),
                        }
                    }
                };
                let props: BTreeMap<&str, &str> =
                    wanted.iter().filter_map(|&(i, k)| fields[i].as_deref().map(|v| (k, v))).collect();
                format!("{number} {props:?} {geometry:?}")
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
