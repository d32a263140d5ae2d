//! The data the centres work on: grids and the unit hierarchy above them, and incidents stored
//! column by column (a city has millions a year).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use geo::{MultiPolygon, Rect};
use serde::{Deserialize, Serialize};

use crate::status::Status;

/// A level of the hierarchy, from the finest to the whole city.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Grid = 0,
    Community = 1,
    Street = 2,
    District = 3,
    City = 4,
}

impl Level {
    pub const ALL: [Level; 5] = [Level::Grid, Level::Community, Level::Street, Level::District, Level::City];

    pub fn index(self) -> usize {
        self as usize
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Grid => "grid",
            Level::Community => "community",
            Level::Street => "street",
            Level::District => "district",
            Level::City => "city",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            Level::Grid => "网格",
            Level::Community => "社区",
            Level::Street => "街道",
            Level::District => "区县",
            Level::City => "全市",
        }
    }
    /// The level above, if any.
    pub fn parent(self) -> Option<Level> {
        Level::ALL.get(self.index() + 1).copied()
    }
    /// The level below, if any.
    pub fn child(self) -> Option<Level> {
        self.index().checked_sub(1).map(|i| Level::ALL[i])
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "grid" | "网格" => Ok(Level::Grid),
            "community" | "village" | "社区" | "村" => Ok(Level::Community),
            "street" | "township" | "街道" | "乡镇" => Ok(Level::Street),
            "district" | "county" | "区县" | "区" | "县" => Ok(Level::District),
            "city" | "全市" | "市" => Ok(Level::City),
            other => Err(format!("unknown level '{other}' (expected grid, community, street, district or city)")),
        }
    }
}

/// One grid polygon with its own attributes.
#[derive(Debug, Clone)]
pub struct Grid {
    pub code: String,
    pub name: String,
    /// WGS84 lon/lat.
    pub geometry: MultiPolygon<f64>,
    pub bbox: Rect<f64>,
    pub area_km2: f64,
    pub households: Option<u64>,
    pub worker: Option<String>,
    pub phone: Option<String>,
    /// 1-based feature number in the source file, for messages.
    pub feature: usize,
}

/// A unit at any level: a grid, a community, a street, a district or the city.
#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    pub level: Level,
    /// Shared with every table row that shows the unit (a live feed rebuilds its tables twice a
    /// second: a row costs no allocation for its names).
    pub code: Arc<str>,
    pub name: Arc<str>,
    /// Index of the parent unit in the level above (none for the city).
    pub parent: Option<u32>,
    pub area_km2: f64,
    pub households: Option<u64>,
    /// Number of grids inside.
    pub grid_count: u32,
}

/// Grids and the hierarchy built above them.
#[derive(Debug, Clone, Default)]
pub struct GridLayer {
    pub grids: Vec<Grid>,
    /// `units[level]`: the units of each level; `units[Level::Grid]` is one unit per grid, in
    /// the same order as `grids`.
    pub units: [Vec<Unit>; 5],
    /// `grid_unit[level][grid]`: the unit of `level` that contains `grid`.
    pub grid_unit: [Vec<u32>; 5],
}

/// The hierarchy attributes read for one grid (codes may be empty when only names are known).
#[derive(Debug, Clone, Default)]
pub struct GridParents {
    pub community: (String, String),
    pub street: (String, String),
    pub district: (String, String),
    pub city: (String, String),
}

impl GridLayer {
    /// Builds the hierarchy from each grid's parents. A unit is identified by its code (or its
    /// name when it has no code) within its parent, so two communities named alike in different
    /// streets stay apart. A missing level becomes the unit "(未指定)" under its parent.
    pub fn build(grids: Vec<Grid>, parents: Vec<GridParents>) -> GridLayer {
        let mut units: [Vec<Unit>; 5] = Default::default();
        let mut grid_unit: [Vec<u32>; 5] = Default::default();
        let mut keys: [HashMap<(Option<u32>, String), u32>; 5] = Default::default();
        for (g, (grid, p)) in grids.iter().zip(&parents).enumerate() {
            // From the top down, so each unit knows its parent.
            let mut parent: Option<u32> = None;
            for (level, (code, name)) in [
                (Level::City, &p.city),
                (Level::District, &p.district),
                (Level::Street, &p.street),
                (Level::Community, &p.community),
            ] {
                let li = level.index();
                let (code, name) = unit_label(level, code, name);
                let key = (parent, code.clone());
                let idx = *keys[li].entry(key).or_insert_with(|| {
                    units[li].push(Unit {
                        level,
                        code: code.into(),
                        name: name.into(),
                        parent,
                        area_km2: 0.0,
                        households: None,
                        grid_count: 0,
                    });
                    (units[li].len() - 1) as u32
                });
                let u = &mut units[li][idx as usize];
                u.area_km2 += grid.area_km2;
                u.grid_count += 1;
                if let Some(h) = grid.households {
                    u.households = Some(u.households.unwrap_or(0) + h);
                }
                grid_unit[li].push(idx);
                parent = Some(idx);
            }
            units[0].push(Unit {
                level: Level::Grid,
                code: grid.code.as_str().into(),
                name: grid.name.as_str().into(),
                parent,
                area_km2: grid.area_km2,
                households: grid.households,
                grid_count: 1,
            });
            grid_unit[0].push(g as u32);
        }
        GridLayer { grids, units, grid_unit }
    }

    pub fn units(&self, level: Level) -> &[Unit] {
        &self.units[level.index()]
    }

    /// The chain of units from the city down to `unit` at `level` (for breadcrumbs and tables).
    pub fn ancestors(&self, level: Level, unit: u32) -> Vec<(Level, u32)> {
        let mut out = vec![(level, unit)];
        let (mut lvl, mut idx) = (level, unit);
        while let (Some(up), Some(p)) = (lvl.parent(), self.units[lvl.index()].get(idx as usize).and_then(|u| u.parent)) {
            out.push((up, p));
            lvl = up;
            idx = p;
        }
        out.reverse();
        out
    }

    /// Finds a unit of `level` by code (exact) or name.
    pub fn find(&self, level: Level, code_or_name: &str) -> Option<u32> {
        let units = self.units(level);
        units
            .iter()
            .position(|u| &*u.code == code_or_name)
            .or_else(|| units.iter().position(|u| &*u.name == code_or_name))
            .map(|i| i as u32)
    }

    /// The indices of the grids inside a unit.
    pub fn grids_of(&self, level: Level, unit: u32) -> Vec<u32> {
        let map = &self.grid_unit[level.index()];
        (0..self.grids.len() as u32).filter(|&g| map[g as usize] == unit).collect()
    }

    /// A unit's outline: the union of its grids (geo's unary union), for drawing upper levels
    /// when no layer of their own is given. Computed on demand; a district of hundreds of grids
    /// takes a fraction of a second.
    pub fn unit_outline(&self, level: Level, unit: u32) -> MultiPolygon<f64> {
        let polys: Vec<geo::Polygon<f64>> =
            self.grids_of(level, unit).into_iter().flat_map(|g| self.grids[g as usize].geometry.0.iter().cloned()).collect();
        geo::unary_union(&polys)
    }

    /// The grid index by grid code.
    pub fn grid_by_code(&self) -> HashMap<&str, u32> {
        self.grids.iter().enumerate().map(|(i, g)| (g.code.as_str(), i as u32)).collect()
    }
}

/// The name shown for a unit with no attribute in the data.
pub const UNSPECIFIED: &str = "(未指定)";

fn unit_label(level: Level, code: &str, name: &str) -> (String, String) {
    match (code.trim(), name.trim()) {
        ("", "") if level == Level::City => (String::new(), "全市".to_string()),
        ("", "") => (String::new(), UNSPECIFIED.to_string()),
        ("", n) => (n.to_string(), n.to_string()),
        (c, "") => (c.to_string(), c.to_string()),
        (c, n) => (c.to_string(), n.to_string()),
    }
}

/// A satisfaction rating from a follow-up (回访).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[repr(u8)]
pub enum Satisfaction {
    #[default]
    Unrated = 0,
    Satisfied = 1,
    Basic = 2,
    Unsatisfied = 3,
}

impl Satisfaction {
    /// Reads 满意 / 基本满意 / 不满意, English words, or a score (1–5, or 0–100).
    pub fn parse(text: &str) -> Option<Satisfaction> {
        let t = text.trim();
        if t.is_empty() {
            return Some(Satisfaction::Unrated);
        }
        // Lower-cased only when there is an upper-case letter (no allocation for 满意 and co.).
        let lower: std::borrow::Cow<'_, str> =
            if t.bytes().any(|c| c.is_ascii_uppercase()) { t.to_lowercase().into() } else { t.into() };
        let s = match lower.as_ref() {
            "满意" | "非常满意" | "很满意" | "satisfied" | "very satisfied" | "yes" => Satisfaction::Satisfied,
            "基本满意" | "比较满意" | "一般" | "neutral" | "somewhat satisfied" => Satisfaction::Basic,
            "不满意" | "非常不满意" | "很不满意" | "unsatisfied" | "dissatisfied" | "no" => Satisfaction::Unsatisfied,
            "未回访" | "未评价" | "无" | "unrated" | "na" | "n/a" | "-" => Satisfaction::Unrated,
            _ => {
                let v: f64 = lower.parse().ok()?;
                Self::from_score(v)?
            }
        };
        Some(s)
    }

    /// A score: 1–5 (5, 4 satisfied; 3 basic; 1, 2 unsatisfied) or 6–100 (≥ 80, ≥ 60, below).
    pub fn from_score(v: f64) -> Option<Satisfaction> {
        if !v.is_finite() || !(0.0..=100.0).contains(&v) {
            return None;
        }
        Some(if v <= 5.0 {
            if v >= 4.0 {
                Satisfaction::Satisfied
            } else if v >= 3.0 {
                Satisfaction::Basic
            } else if v >= 1.0 {
                Satisfaction::Unsatisfied
            } else {
                return None;
            }
        } else if v >= 80.0 {
            Satisfaction::Satisfied
        } else if v >= 60.0 {
            Satisfaction::Basic
        } else {
            Satisfaction::Unsatisfied
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::Unrated => "",
            Satisfaction::Satisfied => "满意",
            Satisfaction::Basic => "基本满意",
            Satisfaction::Unsatisfied => "不满意",
        }
    }

    pub fn from_u8(v: u8) -> Satisfaction {
        match v {
            1 => Satisfaction::Satisfied,
            2 => Satisfaction::Basic,
            3 => Satisfaction::Unsatisfied,
            _ => Satisfaction::Unrated,
        }
    }
}

/// Interned strings (categories, sources, departments, declared grid codes): incidents store
/// small indices. Hashed with foldhash: this runs for every cell of millions of rows.
#[derive(Debug, Clone, Default)]
pub struct Dict {
    pub names: Vec<String>,
    index: HashMap<String, u32, foldhash::fast::RandomState>,
}

impl Dict {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }
    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }
    pub fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map(String::as_str).unwrap_or("")
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// No grid: the incident has no location, or lies outside every grid.
pub const NO_GRID: u32 = u32::MAX;
/// No declared grid code.
pub const NO_CODE: u32 = u32::MAX;

/// Incident ids, all in one text: a million ids as `String`s would be a million allocations
/// (and as many pages touched and freed). Read like a slice: `ids[i]`, `ids.iter()`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Ids {
    text: String,
    /// Where id `i` ends in `text`; it starts where id `i - 1` ends.
    ends: Vec<usize>,
}

impl Ids {
    pub fn new() -> Ids {
        Ids::default()
    }
    /// Room for `ids` ids of `bytes` bytes in all.
    pub fn with_capacity(ids: usize, bytes: usize) -> Ids {
        Ids { text: String::with_capacity(bytes), ends: Vec::with_capacity(ids) }
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// The bytes of all ids together.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }
    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator + '_ {
        (0..self.len()).map(|i| &self[i])
    }
    /// Appends every id of `other`.
    pub fn extend_from(&mut self, other: &Ids) {
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|e| e + base));
    }
    /// Keeps the ids whose `keep` is true (`keep` has one entry per id).
    pub fn retain_by(&mut self, keep: &[bool]) {
        let mut out = Ids::with_capacity(self.len(), self.text.len());
        for (i, id) in self.iter().enumerate() {
            if keep.get(i).copied().unwrap_or(true) {
                out.push(id);
            }
        }
        *self = out;
    }
}

impl std::ops::Index<usize> for Ids {
    type Output = str;
    /// Id `i`; panics when out of range, as a slice does.
    fn index(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

impl fmt::Debug for Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Ids {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Ids {
        let mut ids = Ids::new();
        for s in iter {
            ids.push(s.as_ref());
        }
        ids
    }
}

/// Incidents, column by column. Row `i` of every column is incident `i`.
#[derive(Debug, Clone, Default)]
pub struct Incidents {
    pub id: Ids,
    pub category: Vec<u32>,
    pub source: Vec<u32>,
    pub department: Vec<u32>,
    pub status: Vec<Status>,
    /// Local milliseconds (see [`crate::timeparse`]).
    pub reported_ms: Vec<i64>,
    pub closed_ms: Vec<Option<i64>>,
    pub deadline_ms: Vec<Option<i64>>,
    pub satisfaction: Vec<Satisfaction>,
    /// WGS84; NaN when the row has no location.
    pub lon: Vec<f64>,
    pub lat: Vec<f64>,
    /// The grid code the source system recorded (index into `grid_codes`, [`NO_CODE`] when none).
    pub grid_code: Vec<u32>,
    /// Row number in the source file (the header is row 1, as a spreadsheet shows it).
    pub source_row: Vec<u32>,
    pub categories: Dict,
    pub sources: Dict,
    pub departments: Dict,
    pub grid_codes: Dict,
}

impl Incidents {
    pub fn len(&self) -> usize {
        self.id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
    /// The grid code incident `i` carries in the source data, if any.
    pub fn declared_grid_code(&self, i: usize) -> Option<&str> {
        let c = self.grid_code[i];
        (c != NO_CODE).then(|| self.grid_codes.name(c))
    }
    pub fn has_location(&self, i: usize) -> bool {
        !self.lon[i].is_nan()
    }
    /// Earliest and latest reported time.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let min = self.reported_ms.iter().min()?;
        let max = self.reported_ms.iter().max()?;
        Some((*min, *max))
    }
    /// Index by id.
    pub fn index_by_id(&self) -> HashMap<&str, usize> {
        self.id.iter().enumerate().map(|(i, s)| (s, i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{BoundingRect, polygon};

    fn grid(code: &str) -> Grid {
        let p = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)];
        let geometry = MultiPolygon::new(vec![p]);
        let bbox = geometry.bounding_rect().unwrap_or(Rect::new((0.0, 0.0), (1.0, 1.0)));
        Grid {
            code: code.into(),
            name: code.into(),
            geometry,
            bbox,
            area_km2: 2.0,
            households: Some(100),
            worker: None,
            phone: None,
            feature: 1,
        }
    }

    fn parents(community: &str, street: &str) -> GridParents {
        GridParents {
            community: (String::new(), community.into()),
            street: (String::new(), street.into()),
            district: ("230803".into(), "向阳区".into()),
            city: (String::new(), String::new()),
        }
    }

    #[test]
    fn the_hierarchy_sums_areas_and_keeps_same_named_units_in_different_parents_apart() {
        let layer = GridLayer::build(
            vec![grid("g1"), grid("g2"), grid("g3")],
            vec![parents("长安社区", "西林街道"), parents("长安社区", "西林街道"), parents("长安社区", "建设街道")],
        );
        assert_eq!(layer.units(Level::Community).len(), 2);
        assert_eq!(layer.units(Level::Street).len(), 2);
        assert_eq!(layer.units(Level::District).len(), 1);
        assert_eq!(&*layer.units(Level::City)[0].name, "全市");
        assert_eq!(layer.units(Level::Community)[0].grid_count, 2);
        assert_eq!(layer.units(Level::District)[0].area_km2, 6.0);
        assert_eq!(layer.units(Level::District)[0].households, Some(300));
        assert_eq!(layer.grid_unit[Level::Street.index()], vec![0, 0, 1]);
        let chain = layer.ancestors(Level::Grid, 2);
        let names: Vec<&str> = chain.iter().map(|(l, u)| &*layer.units(*l)[*u as usize].name).collect();
        assert_eq!(names, ["全市", "向阳区", "建设街道", "长安社区", "g3"]);
    }

    #[test]
    fn a_unit_outline_is_the_union_of_its_grids() {
        use geo::{Area, LineString, Polygon};
        let sq = |code: &str, x0: f64| {
            let mut g = grid(code);
            g.geometry = MultiPolygon::new(vec![Polygon::new(
                LineString::from(vec![(x0, 0.0), (x0 + 1.0, 0.0), (x0 + 1.0, 1.0), (x0, 1.0), (x0, 0.0)]),
                vec![],
            )]);
            g
        };
        let layer = GridLayer::build(vec![sq("a", 0.0), sq("b", 1.0), sq("c", 5.0)], vec![parents("长安社区", "西林街道"); 3]);
        let outline = layer.unit_outline(Level::Community, 0);
        assert_eq!(outline.0.len(), 2, "two adjacent squares merge, the far one stays apart");
        assert!((outline.unsigned_area() - 3.0).abs() < 1e-9);
        assert_eq!(layer.grids_of(Level::Street, 0), vec![0, 1, 2]);
    }

    #[test]
    fn a_missing_level_is_an_unspecified_unit() {
        let mut p = parents("", "西林街道");
        p.community = (String::new(), String::new());
        let layer = GridLayer::build(vec![grid("g1")], vec![p]);
        assert_eq!(&*layer.units(Level::Community)[0].name, UNSPECIFIED);
    }

    #[test]
    fn satisfaction_reads_words_and_scores() {
        assert_eq!(Satisfaction::parse("基本满意"), Some(Satisfaction::Basic));
        assert_eq!(Satisfaction::parse("满意"), Some(Satisfaction::Satisfied));
        assert_eq!(Satisfaction::parse("不满意"), Some(Satisfaction::Unsatisfied));
        assert_eq!(Satisfaction::parse(""), Some(Satisfaction::Unrated));
        assert_eq!(Satisfaction::parse("5"), Some(Satisfaction::Satisfied));
        assert_eq!(Satisfaction::parse("2"), Some(Satisfaction::Unsatisfied));
        assert_eq!(Satisfaction::parse("85"), Some(Satisfaction::Satisfied));
        assert_eq!(Satisfaction::parse("很好"), None);
        assert_eq!(Satisfaction::parse("150"), None);
    }

    #[test]
    fn ids_read_like_a_slice_of_strings() {
        let mut ids: Ids = ["A1", "", "事件3"].into_iter().collect();
        ids.push("B");
        assert_eq!(ids.len(), 4);
        assert_eq!((&ids[0], &ids[1], &ids[2], &ids[3]), ("A1", "", "事件3", "B"));
        assert_eq!(ids.get(4), None);
        assert_eq!(ids.iter().rev().collect::<Vec<_>>(), ["B", "事件3", "", "A1"]);
        let mut more: Ids = ["C"].into_iter().collect();
        more.extend_from(&ids);
        assert_eq!(format!("{more:?}"), r#"["C", "A1", "", "事件3", "B"]"#);
        more.retain_by(&[true, false, true, false, true]);
        assert_eq!(more.iter().collect::<Vec<_>>(), ["C", "", "B"]);
    }

    #[test]
    fn levels_parse_in_both_languages() {
        assert_eq!("街道".parse::<Level>(), Ok(Level::Street));
        assert_eq!("District".parse::<Level>(), Ok(Level::District));
        assert_eq!(Level::Grid.parent(), Some(Level::Community));
        assert_eq!(Level::City.parent(), None);
        assert_eq!(Level::Street.child(), Some(Level::Community));
    }
}
