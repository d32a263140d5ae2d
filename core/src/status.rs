//! The canonical incident workflow and the mapping of the labels real exports use onto it.
//!
//! 上报 reported → 受理 accepted → 派遣 dispatched → 处置 handling → 办结 closed, with the side
//! exits 不予受理/退回 rejected and 挂账/延期 postponed. Labels are matched after trimming and
//! lower-casing; a label that maps to nothing is never guessed: the loader rejects the row and
//! counts the label, and the user adds a mapping (`--status-map LABEL=STATE`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Canonical workflow states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Status {
    Reported = 0,
    Accepted = 1,
    Dispatched = 2,
    Handling = 3,
    Postponed = 4,
    Closed = 5,
    Rejected = 6,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Reported,
        Status::Accepted,
        Status::Dispatched,
        Status::Handling,
        Status::Postponed,
        Status::Closed,
        Status::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Reported => "reported",
            Status::Accepted => "accepted",
            Status::Dispatched => "dispatched",
            Status::Handling => "handling",
            Status::Postponed => "postponed",
            Status::Closed => "closed",
            Status::Rejected => "rejected",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Status::Reported => "已上报",
            Status::Accepted => "已受理",
            Status::Dispatched => "已派遣",
            Status::Handling => "处置中",
            Status::Postponed => "挂账/延期",
            Status::Closed => "已办结",
            Status::Rejected => "不予受理",
        }
    }

    /// Open: counted as accepted and not (yet) closed.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Closed | Status::Rejected)
    }

    pub fn from_u8(v: u8) -> Option<Status> {
        Status::ALL.get(v as usize).copied()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        StatusMap::default()
            .map(s)
            .ok_or_else(|| format!("'{s}' is not a workflow state (expected one of reported, accepted, dispatched, handling, postponed, closed, rejected)"))
    }
}

/// Built-in labels, Chinese and English, as seen in grid, 12345, 数字城管 and 311 exports.
const BUILTIN: &[(&str, Status)] = &[
    // reported
    ("上报", Status::Reported),
    ("已上报", Status::Reported),
    ("待受理", Status::Reported),
    ("未受理", Status::Reported),
    ("新建", Status::Reported),
    ("待处理", Status::Reported),
    ("reported", Status::Reported),
    ("new", Status::Reported),
    ("submitted", Status::Reported),
    ("pending", Status::Reported),
    // accepted
    ("受理", Status::Accepted),
    ("已受理", Status::Accepted),
    ("立案", Status::Accepted),
    ("已立案", Status::Accepted),
    ("待派遣", Status::Accepted),
    ("accepted", Status::Accepted),
    ("open", Status::Accepted),
    ("opened", Status::Accepted),
    // dispatched
    ("派遣", Status::Dispatched),
    ("已派遣", Status::Dispatched),
    ("已派单", Status::Dispatched),
    ("派单", Status::Dispatched),
    ("已分派", Status::Dispatched),
    ("已转办", Status::Dispatched),
    ("dispatched", Status::Dispatched),
    ("assigned", Status::Dispatched),
    // handling
    ("处置", Status::Handling),
    ("处置中", Status::Handling),
    ("处理中", Status::Handling),
    ("办理中", Status::Handling),
    ("核查", Status::Handling),
    ("待核查", Status::Handling),
    ("核查中", Status::Handling),
    ("返工", Status::Handling),
    ("回访", Status::Handling),
    ("待回访", Status::Handling),
    ("handling", Status::Handling),
    ("in progress", Status::Handling),
    ("inprogress", Status::Handling),
    ("in_progress", Status::Handling),
    ("started", Status::Handling),
    ("processing", Status::Handling),
    // postponed
    ("挂账", Status::Postponed),
    ("延期", Status::Postponed),
    ("已延期", Status::Postponed),
    ("缓办", Status::Postponed),
    ("postponed", Status::Postponed),
    ("on hold", Status::Postponed),
    ("deferred", Status::Postponed),
    // closed
    ("办结", Status::Closed),
    ("已办结", Status::Closed),
    ("结案", Status::Closed),
    ("已结案", Status::Closed),
    ("已完成", Status::Closed),
    ("完成", Status::Closed),
    ("已关闭", Status::Closed),
    ("归档", Status::Closed),
    ("已归档", Status::Closed),
    ("closed", Status::Closed),
    ("resolved", Status::Closed),
    ("completed", Status::Closed),
    ("done", Status::Closed),
    // rejected
    ("不予受理", Status::Rejected),
    ("退回", Status::Rejected),
    ("已退回", Status::Rejected),
    ("驳回", Status::Rejected),
    ("作废", Status::Rejected),
    ("无效", Status::Rejected),
    ("rejected", Status::Rejected),
    ("cancelled", Status::Rejected),
    ("canceled", Status::Rejected),
    ("invalid", Status::Rejected),
    ("duplicate", Status::Rejected),
];

/// Label → state. Starts from the built-in labels; user entries override them.
#[derive(Debug, Clone)]
pub struct StatusMap {
    map: HashMap<String, Status>,
}

impl Default for StatusMap {
    fn default() -> Self {
        let map = BUILTIN.iter().map(|(k, v)| (normalise(k), *v)).collect();
        Self { map }
    }
}

fn normalise(label: &str) -> String {
    label.trim().to_lowercase()
}

impl StatusMap {
    /// Adds or overrides a label.
    pub fn insert(&mut self, label: &str, status: Status) {
        self.map.insert(normalise(label), status);
    }

    /// Parses `LABEL=STATE` as given on the command line.
    pub fn insert_spec(&mut self, spec: &str) -> Result<(), String> {
        let (label, state) = spec.rsplit_once('=').ok_or_else(|| format!("status mapping '{spec}' is not LABEL=STATE"))?;
        let status: Status = state.parse()?;
        self.insert(label, status);
        Ok(())
    }

    /// The state for a label, if it is known.
    pub fn map(&self, label: &str) -> Option<Status> {
        let trimmed = label.trim();
        // Fast path: most labels already match exactly.
        if let Some(s) = self.map.get(trimmed) {
            return Some(*s);
        }
        self.map.get(&normalise(trimmed)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_and_english_variants_map_to_the_workflow() {
        let m = StatusMap::default();
        for (label, want) in [
            ("已办结", Status::Closed),
            ("办结", Status::Closed),
            ("已结案", Status::Closed),
            ("结案", Status::Closed),
            (" Closed ", Status::Closed),
            ("已受理", Status::Accepted),
            ("已派遣", Status::Dispatched),
            ("处置中", Status::Handling),
            ("Open", Status::Accepted),
            ("Assigned", Status::Dispatched),
            ("In Progress", Status::Handling),
            ("Started", Status::Handling),
            ("不予受理", Status::Rejected),
        ] {
            assert_eq!(m.map(label), Some(want), "{label}");
        }
    }

    #[test]
    fn an_unknown_label_is_not_guessed() {
        assert_eq!(StatusMap::default().map("Unspecified"), None);
        assert_eq!(StatusMap::default().map(""), None);
    }

    #[test]
    fn user_mapping_overrides_and_extends() {
        let mut m = StatusMap::default();
        m.insert_spec("Unspecified=accepted").unwrap();
        m.insert_spec("Open=reported").unwrap();
        assert_eq!(m.map("unspecified"), Some(Status::Accepted));
        assert_eq!(m.map("OPEN"), Some(Status::Reported));
        assert!(m.insert_spec("nonsense").is_err());
        assert!(m.insert_spec("x=flying").is_err());
    }
}
