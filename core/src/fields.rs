//! Which column or property holds which field: the English and Chinese names real exports use,
//! and the user's explicit mapping, which always wins.
//!
//! Names are compared after normalising: lower-case, with spaces, `_`, `-`, `.`, `/`, brackets and
//! full-width punctuation removed (`Responsible.Agency` = `responsible_agency`).

use std::collections::BTreeMap;

/// A field of an incident row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IncidentField {
    Id,
    Category,
    Subcategory,
    Status,
    ReportedAt,
    ClosedAt,
    Deadline,
    Lon,
    Lat,
    Source,
    Satisfaction,
    GridCode,
    Department,
}

impl IncidentField {
    pub const ALL: [IncidentField; 13] = [
        IncidentField::Id,
        IncidentField::Category,
        IncidentField::Subcategory,
        IncidentField::Status,
        IncidentField::ReportedAt,
        IncidentField::ClosedAt,
        IncidentField::Deadline,
        IncidentField::Lon,
        IncidentField::Lat,
        IncidentField::Source,
        IncidentField::Satisfaction,
        IncidentField::GridCode,
        IncidentField::Department,
    ];

    pub fn key(self) -> &'static str {
        match self {
            IncidentField::Id => "id",
            IncidentField::Category => "category",
            IncidentField::Subcategory => "subcategory",
            IncidentField::Status => "status",
            IncidentField::ReportedAt => "reported_at",
            IncidentField::ClosedAt => "closed_at",
            IncidentField::Deadline => "deadline",
            IncidentField::Lon => "lon",
            IncidentField::Lat => "lat",
            IncidentField::Source => "source",
            IncidentField::Satisfaction => "satisfaction",
            IncidentField::GridCode => "grid_code",
            IncidentField::Department => "department",
        }
    }

    pub fn from_key(key: &str) -> Option<IncidentField> {
        let k = normalise(key);
        IncidentField::ALL.into_iter().find(|f| normalise(f.key()) == k)
    }

    /// Recognised names, in order of preference.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            IncidentField::Id => &[
                "id",
                "incident_id",
                "event_id",
                "case_id",
                "caseid",
                "unique key",
                "ticket_id",
                "order_id",
                "事件编号",
                "案件编号",
                "工单编号",
                "事件id",
                "案件号",
                "工单号",
                "编号",
                "序号id",
            ],
            IncidentField::Category => &[
                "category",
                "event_category",
                "complaint type",
                "type",
                "事件类别",
                "事件类型",
                "问题类型",
                "案件类别",
                "大类",
                "类别",
                "诉求类别",
                "问题大类",
            ],
            IncidentField::Subcategory => {
                &["subcategory", "sub_category", "request type", "descriptor", "小类", "事件小类", "问题小类", "子类"]
            }
            IncidentField::Status => {
                &["status", "state", "workflow_state", "状态", "办理状态", "事件状态", "处理状态", "案件状态", "处置状态"]
            }
            IncidentField::ReportedAt => &[
                "reported_at",
                "reported",
                "report_time",
                "created_at",
                "created date",
                "created",
                "opened",
                "open_date",
                "opened_at",
                "上报时间",
                "受理时间",
                "创建时间",
                "登记时间",
                "发生时间",
                "立案时间",
                "报告时间",
            ],
            IncidentField::ClosedAt => &[
                "closed_at",
                "closed date",
                "closed",
                "close_time",
                "closed_time",
                "resolved_at",
                "办结时间",
                "结案时间",
                "完成时间",
                "办结日期",
                "处置完成时间",
            ],
            IncidentField::Deadline => &[
                "deadline",
                "due_at",
                "due date",
                "due",
                "deadline_at",
                "处置时限",
                "截止时间",
                "办理时限",
                "期限",
                "办结时限",
                "到期时间",
            ],
            IncidentField::Lon => &["lon", "lng", "long", "longitude", "x_wgs84", "经度", "坐标经度", "gps经度"],
            IncidentField::Lat => &["lat", "latitude", "y_wgs84", "纬度", "坐标纬度", "gps纬度"],
            IncidentField::Source => &[
                "source",
                "channel",
                "open data channel type",
                "report_source",
                "来源",
                "诉求渠道",
                "事件来源",
                "上报渠道",
                "来源渠道",
                "渠道",
            ],
            IncidentField::Satisfaction => {
                &["satisfaction", "satisfaction_rating", "rating", "满意度", "回访结果", "评价结果", "满意度评价", "评价"]
            }
            IncidentField::GridCode => {
                &["grid_code", "grid_id", "grid", "网格编码", "网格编号", "网格代码", "所属网格编码", "所属网格"]
            }
            IncidentField::Department => &[
                "department",
                "dept",
                "agency",
                "responsible agency",
                "承办单位",
                "责任部门",
                "处置部门",
                "责任单位",
                "承办部门",
            ],
        }
    }
}

/// A property of a grid feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GridField {
    Code,
    Name,
    CommunityCode,
    Community,
    StreetCode,
    Street,
    DistrictCode,
    District,
    CityCode,
    City,
    Households,
    Worker,
    Phone,
}

impl GridField {
    pub const ALL: [GridField; 13] = [
        GridField::Code,
        GridField::Name,
        GridField::CommunityCode,
        GridField::Community,
        GridField::StreetCode,
        GridField::Street,
        GridField::DistrictCode,
        GridField::District,
        GridField::CityCode,
        GridField::City,
        GridField::Households,
        GridField::Worker,
        GridField::Phone,
    ];

    pub fn key(self) -> &'static str {
        match self {
            GridField::Code => "code",
            GridField::Name => "name",
            GridField::CommunityCode => "community_code",
            GridField::Community => "community",
            GridField::StreetCode => "street_code",
            GridField::Street => "street",
            GridField::DistrictCode => "district_code",
            GridField::District => "district",
            GridField::CityCode => "city_code",
            GridField::City => "city",
            GridField::Households => "households",
            GridField::Worker => "worker",
            GridField::Phone => "phone",
        }
    }

    pub fn from_key(key: &str) -> Option<GridField> {
        let k = normalise(key);
        GridField::ALL.into_iter().find(|f| normalise(f.key()) == k)
    }

    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            GridField::Code => {
                &["grid_code", "grid_id", "gridcode", "网格编码", "网格编号", "网格代码", "网格id", "wgbm", "code", "id"]
            }
            GridField::Name => &["grid_name", "网格名称", "网格名", "wgmc", "name", "名称"],
            GridField::CommunityCode => &["community_code", "village_code", "社区编码", "社区代码", "村社区编码", "sqbm"],
            GridField::Community => {
                &["community", "community_name", "village", "社区", "社区名称", "所属社区", "村社区", "村", "sqmc"]
            }
            GridField::StreetCode => &["street_code", "township_code", "街道编码", "街道代码", "乡镇编码", "jdbm"],
            GridField::Street => {
                &["street", "street_name", "township", "街道", "街道名称", "所属街道", "乡镇", "乡镇街道", "jdmc"]
            }
            GridField::DistrictCode => &["district_code", "county_code", "区县编码", "区县代码", "adcode", "qxbm"],
            GridField::District => &["district", "district_name", "county", "区县", "区县名称", "所属区县", "区", "qxmc"],
            GridField::CityCode => &["city_code", "city_adcode", "市编码", "城市编码"],
            GridField::City => &["city", "city_name", "市", "城市", "所属城市"],
            GridField::Households => &["households", "household_count", "户数", "住户数", "总户数"],
            GridField::Worker => &["grid_worker", "worker", "网格员", "网格员姓名"],
            GridField::Phone => &["phone", "worker_phone", "联系电话", "网格员电话", "电话"],
        }
    }
}

/// Lower-case, with separators and punctuation removed.
pub fn normalise(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation() && !"（）【】：，、。·".contains(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Picks, for each field, the column that holds it: the user's mapping first, then the first
/// alias that matches a column. Each column is used for one field at most.
pub fn resolve<F: Copy + Ord>(
    columns: &[String],
    fields: &[F],
    aliases: impl Fn(F) -> &'static [&'static str],
    explicit: &BTreeMap<F, String>,
) -> Result<BTreeMap<F, usize>, (F, String)> {
    let norm: Vec<String> = columns.iter().map(|c| normalise(c)).collect();
    let mut out = BTreeMap::new();
    let mut used = vec![false; columns.len()];
    for (f, col) in explicit {
        let want = normalise(col);
        let i =
            columns.iter().position(|c| c == col).or_else(|| norm.iter().position(|c| *c == want)).ok_or((*f, col.clone()))?;
        used[i] = true;
        out.insert(*f, i);
    }
    // Preference order: aliases earlier in a field's list win; fields earlier in `fields` win ties.
    for &f in fields {
        if out.contains_key(&f) {
            continue;
        }
        for alias in aliases(f) {
            let a = normalise(alias);
            if let Some(i) = norm.iter().enumerate().position(|(i, c)| !used[i] && *c == a) {
                used[i] = true;
                out.insert(f, i);
                break;
            }
        }
    }
    Ok(out)
}

/// Parses `FIELD=COLUMN` specs into a mapping, with `from_key` naming the fields.
pub fn parse_mapping<F: Ord>(
    specs: &[String],
    from_key: impl Fn(&str) -> Option<F>,
    all: &[&str],
) -> Result<BTreeMap<F, String>, String> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (k, v) = spec.split_once('=').ok_or_else(|| format!("mapping '{spec}' is not FIELD=COLUMN"))?;
        let f = from_key(k).ok_or_else(|| format!("unknown field '{k}' in '{spec}' (fields: {})", all.join(", ")))?;
        out.insert(f, v.trim().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn incident_map(columns: &[String]) -> BTreeMap<IncidentField, usize> {
        resolve(columns, &IncidentField::ALL, IncidentField::aliases, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn chinese_headers_are_recognised() {
        let c = cols(&["事件编号", "事件类别", "上报时间", "办结时间", "状态", "经度", "纬度", "来源", "满意度", "网格编码"]);
        let m = incident_map(&c);
        assert_eq!(m[&IncidentField::Id], 0);
        assert_eq!(m[&IncidentField::Category], 1);
        assert_eq!(m[&IncidentField::ReportedAt], 2);
        assert_eq!(m[&IncidentField::ClosedAt], 3);
        assert_eq!(m[&IncidentField::Lon], 5);
        assert_eq!(m[&IncidentField::Lat], 6);
        assert_eq!(m[&IncidentField::GridCode], 9);
    }

    #[test]
    fn sf311_and_nyc311_headers_are_recognised() {
        let sf = cols(&[
            "Unnamed: 0",
            "CaseID",
            "Opened",
            "Closed",
            "Updated",
            "Status",
            "Responsible.Agency",
            "Category",
            "Request.Type",
            "Source",
            "Lat",
            "Long",
        ]);
        let m = incident_map(&sf);
        assert_eq!(m[&IncidentField::Id], 1);
        assert_eq!(m[&IncidentField::ReportedAt], 2);
        assert_eq!(m[&IncidentField::ClosedAt], 3);
        assert_eq!(m[&IncidentField::Department], 6);
        assert_eq!(m[&IncidentField::Lon], 11);
        let nyc = cols(&[
            "Unique Key",
            "Created Date",
            "Closed Date",
            "Agency",
            "Agency Name",
            "Complaint Type",
            "Descriptor",
            "Status",
            "Due Date",
            "Latitude",
            "Longitude",
            "X Coordinate (State Plane)",
        ]);
        let m = incident_map(&nyc);
        assert_eq!(m[&IncidentField::Id], 0);
        assert_eq!(m[&IncidentField::Department], 3);
        assert_eq!(m[&IncidentField::Category], 5);
        assert_eq!(m[&IncidentField::Deadline], 8);
        assert_eq!(m[&IncidentField::Lat], 9);
    }

    #[test]
    fn an_explicit_mapping_wins_and_a_missing_column_is_named() {
        let c = cols(&["编号", "类", "when"]);
        let mut explicit = BTreeMap::new();
        explicit.insert(IncidentField::ReportedAt, "when".to_string());
        explicit.insert(IncidentField::Category, "类".to_string());
        let m = resolve(&c, &IncidentField::ALL, IncidentField::aliases, &explicit).unwrap();
        assert_eq!(m[&IncidentField::ReportedAt], 2);
        assert_eq!(m[&IncidentField::Category], 1);
        explicit.insert(IncidentField::Status, "nope".to_string());
        assert_eq!(
            resolve(&c, &IncidentField::ALL, IncidentField::aliases, &explicit),
            Err((IncidentField::Status, "nope".to_string()))
        );
    }

    #[test]
    fn normalising_drops_case_separators_and_bom() {
        assert_eq!(normalise("\u{feff}Responsible.Agency"), "responsibleagency");
        assert_eq!(normalise("Created Date"), "createddate");
        assert_eq!(normalise("网格编码（新）"), "网格编码新");
    }
}
