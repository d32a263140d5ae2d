//! Live sources: a watched file (CSV or NDJSON that another system appends to) read into
//! records, and the loop that folds them into a [`LiveTable`].
//!
//! The file is read from where the last read stopped; only complete lines are taken (a
//! half-written last line waits for its newline). Rotation (the path now names another file)
//! is noticed by the file's identity: the rest of the old file is read to its end first, then
//! the new one from its start. Truncation (the file shorter than what was read) restarts at the
//! beginning. CSV files start with a header (a rotated or truncated file has its own); NDJSON
//! lines are objects whose keys are the column names. Lines in GBK are decoded.
//!
//! Reading a feed again from its start is harmless: events are whole records and replace by
//! id, so nothing is counted twice (that is how a restarted app catches up).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{CoreError, Result};
use crate::model::Incidents;

/// How the lines of a feed are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// A header line, then one record per line.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl LineFormat {
    /// By extension: `.ndjson`, `.jsonl`, `.json` are NDJSON, anything else CSV.
    pub fn of(path: &Path) -> LineFormat {
        match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("ndjson" | "jsonl" | "json") => LineFormat::Ndjson,
            _ => LineFormat::Csv,
        }
    }
}

/// Records read from a feed: one header (CSV's, or the union of NDJSON keys) and rows of cells,
/// each with its event number; lines that are no record at all, with the reason.
#[derive(Debug, Default, Clone)]
pub struct Records {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// Event number of each row (line number in its file, counted over the whole feed).
    pub events: Vec<u64>,
    /// (event number, reason, the line as read).
    pub bad: Vec<(u64, String, String)>,
    /// Where the source stands once these records are taken (to resume from after a restart).
    pub position: Option<Position>,
}

/// Where a source stands: enough to resume reading after the last record taken.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Position {
    File(FilePosition),
    /// The newest `(updated_at, id)` read from a PostgreSQL table (microseconds since 1970).
    Postgres {
        watermark_us: i64,
        id: String,
    },
}

/// A followed file's position: which file (device, inode), the byte after the last complete
/// line taken, lines counted so far and the CSV header in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilePosition {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
    pub lines: u64,
    pub header: Option<Vec<String>>,
}

/// File identity: device and inode on Unix; elsewhere the creation time and size stand in.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let created =
            meta.created().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
        (created, 0)
    }
}

/// A file being followed.
pub struct FileTail {
    pub path: PathBuf,
    pub format: LineFormat,
    file: Option<File>,
    id: (u64, u64),
    offset: u64,
    partial: Vec<u8>,
    header: Option<Vec<String>>,
    /// Lines read so far over every file of the feed (event numbers).
    pub lines: u64,
    /// Files followed (1 + rotations and truncations seen).
    pub files: u64,
    /// Resume at the stored offset when the file opened is the one it belongs to.
    resume: bool,
}

/// The most bytes read from a feed in one poll (a huge backlog is taken in steps).
const MAX_READ: usize = 8 << 20;

impl FileTail {
    pub fn new(path: impl Into<PathBuf>) -> FileTail {
        let path = path.into();
        FileTail {
            format: LineFormat::of(&path),
            path,
            file: None,
            id: (0, 0),
            offset: 0,
            partial: Vec::new(),
            header: None,
            lines: 0,
            files: 0,
            resume: false,
        }
    }

    /// Follows `path` from a saved position: from the byte after the last line taken when the
    /// file is still the same one (same device and inode, not shorter), else from the start of
    /// what is there now (it was rotated or truncated meanwhile; records replace by id, so
    /// reading one again changes nothing).
    pub fn resume(path: impl Into<PathBuf>, pos: &FilePosition) -> FileTail {
        let mut t = FileTail::new(path);
        t.id = (pos.dev, pos.ino);
        t.offset = pos.offset;
        t.lines = pos.lines;
        t.header = pos.header.clone();
        t.resume = true;
        t
    }

    /// Where reading stands: after the last complete line taken.
    pub fn position(&self) -> FilePosition {
        FilePosition {
            dev: self.id.0,
            ino: self.id.1,
            offset: self.offset - self.partial.len() as u64,
            lines: self.lines,
            header: self.header.clone(),
        }
    }

    /// Whether the file is open (it exists and was read).
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Reads what was appended since the last call (at most a few MiB), as records. A missing
    /// file is not an error: it has not been created yet, or is being rotated.
    pub fn poll(&mut self) -> Result<Records> {
        let mut out = Records::default();
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(CoreError::io(&self.path, e)),
        };
        let mut bytes = Vec::new();
        match (&meta, self.file.is_some()) {
            (Some(m), true) if identity(m) != self.id => {
                // Rotated: finish the old file, then start the new one.
                self.read_more(&mut bytes)?;
                self.take_lines(&bytes, &mut out, true);
                bytes.clear();
                self.open(m)?;
            }
            (Some(m), true) if m.len() < self.offset => {
                // Truncated and rewritten.
                self.partial.clear();
                self.open(m)?;
            }
            (Some(m), false) => self.open(m)?,
            _ => {}
        }
        if self.file.is_some() {
            self.read_more(&mut bytes)?;
            self.take_lines(&bytes, &mut out, false);
        }
        // Rows taken before the header grew are widened to it.
        let w = out.header.len();
        for r in &mut out.rows {
            r.resize(w, None);
        }
        if self.file.is_some() {
            out.position = Some(Position::File(self.position()));
        }
        Ok(out)
    }

    fn open(&mut self, meta: &std::fs::Metadata) -> Result<()> {
        let f = File::open(&self.path).map_err(|e| CoreError::io(&self.path, e))?;
        let same = std::mem::take(&mut self.resume) && identity(meta) == self.id && meta.len() >= self.offset;
        self.id = identity(meta);
        self.file = Some(f);
        self.partial.clear();
        self.files += 1;
        if !same {
            self.offset = 0;
            self.header = None;
        }
        Ok(())
    }

    fn read_more(&mut self, into: &mut Vec<u8>) -> Result<()> {
        let Some(f) = self.file.as_mut() else { return Ok(()) };
        f.seek(SeekFrom::Start(self.offset)).map_err(|e| CoreError::io(&self.path, e))?;
        let n = f.take(MAX_READ as u64).read_to_end(into).map_err(|e| CoreError::io(&self.path, e))?;
        self.offset += n as u64;
        Ok(())
    }

    /// Splits complete lines off `bytes` (after what was left over), keeping a partial last
    /// line for later, unless the file is finished (`last`: a rotated file's unterminated last
    /// line is a whole record).
    fn take_lines(&mut self, bytes: &[u8], out: &mut Records, last: bool) {
        self.partial.extend_from_slice(bytes);
        let mut start = 0;
        let buf = std::mem::take(&mut self.partial);
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + nl];
            start += nl + 1;
            self.line(line, out);
        }
        if last && start < buf.len() {
            let line = buf[start..].to_vec();
            self.line(&line, out);
            start = buf.len();
        }
        self.partial = buf[start..].to_vec();
    }

    fn line(&mut self, raw: &[u8], out: &mut Records) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        self.lines += 1;
        let event = self.lines;
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t.to_string(),
            Err(_) => encoding_rs::GBK.decode(raw).0.into_owned(),
        };
        let text = text.trim_start_matches('\u{feff}');
        if text.trim().is_empty() {
            return;
        }
        match self.format {
            LineFormat::Csv => {
                let cells = split_csv(text);
                match &self.header {
                    None => self.header = Some(cells.into_iter().map(|c| c.unwrap_or_default()).collect()),
                    Some(h) => {
                        merge_header(&mut out.header, h);
                        let row = reorder(&out.header, h, cells);
                        out.rows.push(row);
                        out.events.push(event);
                    }
                }
            }
            LineFormat::Ndjson => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    merge_header(&mut out.header, &keys);
                    let mut row = vec![None; out.header.len()];
                    for (k, v) in map {
                        let cell = match v {
                            Value::Null => None,
                            Value::String(s) => Some(s),
                            other => Some(other.to_string()),
                        };
                        if let Some(j) = out.header.iter().position(|h| *h == k) {
                            row[j] = cell;
                        }
                    }
                    out.rows.push(row);
                    out.events.push(event);
                }
                Ok(_) => out.bad.push((event, "not a JSON object".into(), text.to_string())),
                Err(e) => out.bad.push((event, format!("not JSON: {e}"), text.to_string())),
            },
        }
    }
}

/// Adds the names of `h` that `into` lacks.
fn merge_header(into: &mut Vec<String>, h: &[String]) {
    for name in h {
        if !into.contains(name) {
            into.push(name.clone());
        }
    }
}

/// A row under its own header, placed under the merged one.
fn reorder(merged: &[String], own: &[String], cells: Vec<Option<String>>) -> Vec<Option<String>> {
    let mut row = vec![None; merged.len()];
    for (name, cell) in own.iter().zip(cells) {
        if let Some(j) = merged.iter().position(|m| m == name) {
            row[j] = cell;
        }
    }
    row
}

/// One CSV line into cells (RFC 4180 quoting; empty cells are `None`).
pub fn split_csv(line: &str) -> Vec<Option<String>> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => cells.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    cells.push(cur);
    cells.into_iter().map(|c| (!c.is_empty()).then_some(c)).collect()
}

/// The columns `gridcentre replay` writes (names the loader recognises).
pub const REPLAY_HEADER: [&str; 12] = [
    "id",
    "category",
    "source",
    "status",
    "reported_at",
    "deadline",
    "closed_at",
    "satisfaction",
    "lon",
    "lat",
    "grid_code",
    "department",
];

/// One re-emitted event: when it happened and the record as it stood then.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayEvent {
    pub at_ms: i64,
    pub cells: Vec<Option<String>>,
}

/// The events that produced `inc`'s records, in time order: each incident as it was accepted
/// (or rejected) at its report time, and, when it moved on, its final record when it did (its
/// closing time; an open incident's later state an hour after its report). Replayed into a
/// live table they leave exactly `inc`.
pub fn replay_events(inc: &Incidents) -> Vec<ReplayEvent> {
    use crate::status::Status;
    use crate::timeparse::HOUR_MS;
    let mut out = Vec::with_capacity(inc.len() * 2);
    for i in 0..inc.len() {
        let record = |status: Status, closed: Option<i64>, sat: bool| record_cells(inc, i, status, closed, sat);
        let st = inc.status[i];
        let reported = inc.reported_ms[i];
        let first = if matches!(st, Status::Rejected | Status::Reported) { st } else { Status::Accepted };
        let whole = record(st, inc.closed_ms[i], true);
        let initial = record(first, None, false);
        if initial == whole {
            out.push(ReplayEvent { at_ms: reported, cells: whole });
        } else {
            out.push(ReplayEvent { at_ms: reported, cells: initial });
            let later = inc.closed_ms[i].filter(|c| *c >= reported).unwrap_or(reported + HOUR_MS);
            out.push(ReplayEvent { at_ms: later, cells: whole });
        }
    }
    out.sort_by_key(|e| e.at_ms);
    out
}

/// Incident `i` as a record under [`REPLAY_HEADER`] with the given status and closing time
/// (and its satisfaction when `sat`); times to the millisecond, coordinates in full.
pub fn record_cells(
    inc: &Incidents,
    i: usize,
    status: crate::status::Status,
    closed: Option<i64>,
    sat: bool,
) -> Vec<Option<String>> {
    use crate::timeparse::format_ms_exact;
    let num = |v: f64| (!v.is_nan()).then(|| format!("{v}"));
    vec![
        Some(inc.id[i].to_string()),
        Some(inc.categories.name(inc.category[i]).to_string()).filter(|s| !s.is_empty()),
        Some(inc.sources.name(inc.source[i]).to_string()).filter(|s| !s.is_empty()),
        Some(status.as_str().to_string()),
        Some(format_ms_exact(inc.reported_ms[i])),
        inc.deadline_ms[i].map(format_ms_exact),
        closed.map(format_ms_exact),
        Some(inc.satisfaction[i].as_str().to_string()).filter(|s| sat && !s.is_empty()),
        num(inc.lon[i]),
        num(inc.lat[i]),
        inc.declared_grid_code(i).map(str::to_string),
        Some(inc.departments.name(inc.department[i]).to_string()).filter(|s| !s.is_empty()),
    ]
}

/// Incident `i` as it stands, as a record under [`REPLAY_HEADER`].
pub fn incident_cells(inc: &Incidents, i: usize) -> Vec<Option<String>> {
    record_cells(inc, i, inc.status[i], inc.closed_ms[i], true)
}

/// A record as a CSV line (quoted where needed, no newline).
pub fn csv_line(cells: &[Option<String>]) -> String {
    cells.iter().map(|c| crate::export::csv_field(c.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(",")
}

/// A record as an NDJSON line (no newline); empty cells are left out.
pub fn ndjson_line(header: &[&str], cells: &[Option<String>]) -> String {
    let map: serde_json::Map<String, Value> =
        header.iter().zip(cells).filter_map(|(h, c)| c.as_ref().map(|c| (h.to_string(), Value::String(c.clone())))).collect();
    Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap_or_else(|e| panic!("{e}"));
        f.write_all(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }

    fn ids(r: &Records) -> Vec<String> {
        let j = r.header.iter().position(|h| h == "id").unwrap_or(0);
        r.rows.iter().map(|row| row[j].clone().unwrap_or_default()).collect()
    }

    #[test]
    fn a_half_written_line_waits_for_its_newline() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("feed.csv");
        append(&p, "id,status\nA,已受理\nB,已");
        let mut t = FileTail::new(&p);
        let r = t.poll().unwrap_or_default();
        assert_eq!(ids(&r), ["A"]);
        append(&p, "办结\n");
        let r = t.poll().unwrap_or_default();
        assert_eq!(ids(&r), ["B"]);
        assert_eq!(r.rows[0][1].as_deref(), Some("已办结"));
        assert_eq!(r.events, [3]);
        assert!(t.poll().unwrap_or_default().rows.is_empty());
    }

    #[test]
    fn rotation_reads_the_old_file_to_its_end_then_the_new_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("feed.csv");
        append(&p, "id,status\nA,已受理\n");
        let mut t = FileTail::new(&p);
        assert_eq!(ids(&t.poll().unwrap_or_default()), ["A"]);
        append(&p, "B,已受理\nC,已受理");
        std::fs::rename(&p, dir.path().join("feed.csv.1")).unwrap_or_else(|e| panic!("{e}"));
        append(&p, "status,id\n已办结,A\n");
        let r = t.poll().unwrap_or_default();
        assert_eq!(ids(&r), ["B", "C", "A"]);
        // The new file's own header (columns in another order) is honoured.
        let s = r.header.iter().position(|h| h == "status").unwrap_or(0);
        assert_eq!(r.rows[2][s].as_deref(), Some("已办结"));
        assert_eq!(t.files, 2);
    }

    #[test]
    fn truncation_starts_again_at_the_beginning() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("feed.csv");
        append(&p, "id,status\nA,已受理\nB,已受理\n");
        let mut t = FileTail::new(&p);
        assert_eq!(ids(&t.poll().unwrap_or_default()).len(), 2);
        std::fs::write(&p, "id,status\nC,已受理\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids(&t.poll().unwrap_or_default()), ["C"]);
    }

    #[test]
    fn ndjson_lines_and_gbk_lines_are_read_and_broken_ones_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("feed.ndjson");
        append(
            &p,
            "{\"id\":\"A\",\"status\":\"已受理\",\"lon\":130.3}\nnot json\n[1]\n{\"id\":\"B\",\"category\":\"民生服务\"}\n",
        );
        let mut t = FileTail::new(&p);
        let r = t.poll().unwrap_or_default();
        assert_eq!(ids(&r), ["A", "B"]);
        let lon = r.header.iter().position(|h| h == "lon").unwrap_or(0);
        assert_eq!(r.rows[0][lon].as_deref(), Some("130.3"));
        assert_eq!(r.rows[1][lon], None);
        assert_eq!(r.bad.iter().map(|b| b.0).collect::<Vec<_>>(), [2, 3]);
        let q = dir.path().join("gbk.csv");
        let (bytes, _, _) = encoding_rs::GBK.encode("id,status\nA,已办结\n");
        std::fs::write(&q, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let r = FileTail::new(&q).poll().unwrap_or_default();
        assert_eq!(r.rows[0][1].as_deref(), Some("已办结"));
    }

    #[test]
    fn csv_quoting_is_understood() {
        assert_eq!(split_csv(r#"a,"b,c","d""e",,"#), vec![Some("a".into()), Some("b,c".into()), Some("d\"e".into()), None, None]);
    }
}
