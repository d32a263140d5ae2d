//! Checkpoints of a live feed: the figures' state (every incident the feed added or changed, as
//! records) saved together with the source's position (a file's inode and offset, a table's
//! watermark) and the running totals, so that a restart goes on where it stood: nothing read
//! again is counted twice (records replace by id) and nothing after the position is missed.
//!
//! A checkpoint is a folder `ckpt-…` holding `records.csv` and `meta.json`; the file `CURRENT`
//! names the newest one and is replaced atomically after the folder is complete, so a crash
//! while saving leaves the previous checkpoint in force. Older folders are removed after.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::export::write_atomic;
use crate::feed::{Position, REPLAY_HEADER, Records, csv_line, incident_cells, split_csv};
use crate::live::{LiveCounters, LiveTable};

pub const FORMAT_VERSION: u32 = 1;

/// What a checkpoint says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub version: u32,
    /// The source (a path, or a connection string without its password).
    pub source: String,
    /// What the live table started from (grid and incident files, sizes, times): a checkpoint
    /// of other base data is not used.
    pub base: String,
    pub saved_at_ms: i64,
    pub position: Option<Position>,
    pub counters: LiveCounters,
    pub incidents: usize,
}

/// A loaded checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub meta: CheckpointMeta,
    pub records: Records,
}

/// A fingerprint of input files: their paths, sizes and modification times.
pub fn fingerprint(paths: &[Option<&Path>]) -> String {
    paths
        .iter()
        .map(|p| match p {
            None => "-".to_string(),
            Some(p) => {
                let m = std::fs::metadata(p).ok();
                let len = m.as_ref().map_or(0, |m| m.len());
                let mtime = m
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_millis());
                format!("{}:{len}:{mtime}", p.display())
            }
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Saves the live table's feed state in `dir` (created when missing).
pub fn save(dir: &Path, live: &LiveTable, source: &str, base: &str, position: Option<Position>) -> Result<CheckpointMeta> {
    std::fs::create_dir_all(dir).map_err(|e| CoreError::write(dir, e))?;
    let now = crate::timeparse::now_local_ms();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name = format!("ckpt-{now}-{nanos:09}");
    let sub = dir.join(&name);
    std::fs::create_dir_all(&sub).map_err(|e| CoreError::write(&sub, e))?;
    let mut text = REPLAY_HEADER.join(",");
    text.push('\n');
    let mut n = 0;
    for i in live.touched() {
        text.push_str(&csv_line(&incident_cells(&live.ds.incidents, i)));
        text.push('\n');
        n += 1;
    }
    write_atomic(&sub.join("records.csv"), text.as_bytes())?;
    let meta = CheckpointMeta {
        version: FORMAT_VERSION,
        source: source.to_string(),
        base: base.to_string(),
        saved_at_ms: now,
        position,
        counters: live.counters.clone(),
        incidents: n,
    };
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| CoreError::write(&sub, e))?;
    write_atomic(&sub.join("meta.json"), &json)?;
    write_atomic(&dir.join("CURRENT"), name.as_bytes())?;
    // Older checkpoints go once the new one is in force.
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let fname = e.file_name().to_string_lossy().to_string();
            if fname.starts_with("ckpt-") && fname != name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(meta)
}

/// The checkpoint in force in `dir`, if any. A damaged one is an error (the caller decides
/// whether to start from the beginning instead).
pub fn load(dir: &Path) -> Result<Option<Checkpoint>> {
    let current = dir.join("CURRENT");
    let name = match std::fs::read_to_string(&current) {
        Ok(n) => n.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CoreError::io(&current, e)),
    };
    let sub: PathBuf = dir.join(&name);
    let meta_path = sub.join("meta.json");
    let meta_text = std::fs::read_to_string(&meta_path).map_err(|e| CoreError::io(&meta_path, e))?;
    let meta: CheckpointMeta = serde_json::from_str(&meta_text).map_err(|e| CoreError::Table {
        path: meta_path.clone(),
        format: "checkpoint",
        message: e.to_string(),
    })?;
    if meta.version != FORMAT_VERSION {
        return Err(CoreError::Invalid(format!(
            "{}: checkpoint format {} (this build reads {FORMAT_VERSION})",
            meta_path.display(),
            meta.version
        )));
    }
    let rec_path = sub.join("records.csv");
    let text = std::fs::read_to_string(&rec_path).map_err(|e| CoreError::io(&rec_path, e))?;
    let mut lines = text.lines();
    let header: Vec<String> =
        lines.next().map(|h| split_csv(h).into_iter().map(|c| c.unwrap_or_default()).collect()).unwrap_or_default();
    let mut records = Records { header, ..Records::default() };
    for (k, l) in lines.enumerate() {
        records.rows.push(split_csv(l));
        records.events.push(k as u64 + 1);
    }
    if records.rows.len() != meta.incidents {
        return Err(CoreError::Invalid(format!(
            "{}: {} records, its meta.json says {}",
            rec_path.display(),
            records.rows.len(),
            meta.incidents
        )));
    }
    Ok(Some(Checkpoint { meta, records }))
}

/// The checkpoint for this source and base, if there is a usable one; why not otherwise.
pub fn load_matching(dir: &Path, source: &str, base: &str) -> (Option<Checkpoint>, Option<String>) {
    match load(dir) {
        Ok(Some(ck)) if ck.meta.source == source && ck.meta.base == base => (Some(ck), None),
        Ok(Some(ck)) => {
            (None, Some(format!("the checkpoint in {} is of another source or base data ({})", dir.display(), ck.meta.source)))
        }
        Ok(None) => (None, None),
        Err(e) => (None, Some(format!("checkpoint not used: {e}"))),
    }
}
