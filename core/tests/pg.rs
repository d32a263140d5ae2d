//! PostgreSQL as a live source, against a real server (started per test, see common/pg.rs):
//! inserts and updates arrive and are counted once; a connection killed mid-stream and a
//! server restart mid-stream lose nothing and count nothing twice; the password never shows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::pg::{PASSWORD, TestPg};
use common::*;
use gridcentre_core::export::table_csv;
use gridcentre_core::feed::{REPLAY_HEADER, replay_events};
use gridcentre_core::live::LiveTable;
use gridcentre_core::load::incidents::parse_records;
use gridcentre_core::load::{IncidentOptions, load_incidents};
use gridcentre_core::model::Level;
use gridcentre_core::pg::{PgReader, PgWriter};
use gridcentre_core::pipeline::Dataset;
use gridcentre_core::source::{Feed, FeedMsg, FeedOptions, SourceSpec, SourceState};
use gridcentre_core::stats::IndicatorConfig;
use gridcentre_core::timeparse::parse_cli_datetime;

type Row = Vec<Option<String>>;

/// The first `n` events of the sample city, as `gridcentre replay` emits them.
fn sample_events(n: usize) -> Vec<Row> {
    let (inc, _) = load_incidents(&testdata("../sample-data/incidents.csv"), &IncidentOptions::default()).unwrap();
    replay_events(&inc).into_iter().take(n).map(|e| e.cells).collect()
}

/// The sample's grids with no incidents yet, figures as of a fixed time.
fn empty_city() -> LiveTable {
    let grids = load_ok(&sources(testdata("../sample-data/grids.geojson"), None, None));
    let header: Vec<String> = REPLAY_HEADER.iter().map(|s| s.to_string()).collect();
    let (inc, rep) = parse_records(Path::new("base"), &header, &[], &IncidentOptions::default()).unwrap();
    let as_of = parse_cli_datetime("2026-11-01").unwrap();
    LiveTable::new(Dataset::new(grids.layer, inc, vec![rep]), IndicatorConfig::default(), as_of)
}

/// Takes what the feed has into the table; returns the states seen.
fn take(feed: &Feed, live: &mut LiveTable, states: &mut Vec<SourceState>) {
    while let Some(m) = feed.recv_timeout(Duration::from_millis(20)) {
        match m {
            FeedMsg::Records(r) => {
                live.ingest(&r, &IncidentOptions::default(), Path::new("pg")).unwrap();
            }
            FeedMsg::State(s) => states.push(s),
        }
    }
}

/// The database's rows now, read in one go into a fresh table.
fn reference(pg: &TestPg) -> LiveTable {
    let mut c = pg.client();
    let mut reader = PgReader::default();
    let mut t = empty_city();
    loop {
        let (recs, more) = reader.fetch(&mut c, "test", usize::MAX).unwrap();
        t.ingest(&recs, &IncidentOptions::default(), Path::new("reference")).unwrap();
        if !more {
            break;
        }
    }
    t
}

fn rows_in_db(pg: &TestPg) -> i64 {
    pg.client().query_one("SELECT count(*) FROM incidents", &[]).unwrap().get(0)
}

/// Follows the feed until the table holds every row of the database (and a little longer, to
/// see that nothing more comes), then compares it with a fresh read at every level.
fn settle_and_compare(pg: &TestPg, feed: &Feed, live: &mut LiveTable, states: &mut Vec<SourceState>) {
    let want = rows_in_db(pg) as usize;
    let t = Instant::now();
    while live.ds.incidents.len() < want && t.elapsed() < Duration::from_secs(60) {
        take(feed, live, states);
    }
    std::thread::sleep(Duration::from_millis(2500)); // past one overlap re-read
    take(feed, live, states);
    let reference = reference(pg);
    assert_eq!(live.ds.incidents.len(), want, "every incident once");
    assert_eq!(live.counters.new as usize, want, "each new once");
    for level in Level::ALL {
        assert_eq!(table_csv(&live.table(level)), table_csv(&reference.table(level)), "{level}");
    }
}

fn feed_of(pg: &TestPg) -> Feed {
    Feed::start(SourceSpec::Postgres(pg.url()), FeedOptions { poll: Duration::from_millis(500), ..FeedOptions::default() })
}

#[test]
fn inserts_and_updates_arrive_and_count_once() {
    let pg = TestPg::start();
    let events = sample_events(3000);
    let (before, after) = events.split_at(1000);
    let mut w = PgWriter::connect(&pg.url()).unwrap();
    w.upsert(before).unwrap();
    let feed = feed_of(&pg);
    let mut live = empty_city();
    let mut states = Vec::new();
    // What was there before the reader started, then new rows and changes as they come.
    for chunk in after.chunks(250) {
        w.upsert(chunk).unwrap();
        take(&feed, &mut live, &mut states);
    }
    settle_and_compare(&pg, &feed, &mut live, &mut states);
    assert!(live.counters.updated > 0, "changes to known incidents arrived as updates");
    assert_eq!(states.first(), Some(&SourceState::Connecting));
    assert!(states.contains(&SourceState::Live));
    assert!(!states.iter().any(|s| matches!(s, SourceState::Retrying { .. })), "{states:?}");
    // An update that changes nothing new is not a second incident.
    w.upsert(&after[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    take(&feed, &mut live, &mut states);
    assert_eq!(live.counters.new as i64, rows_in_db(&pg));
    feed.stop();
}

/// A writer keeps writing while the reader's connection is killed and, later, the server is
/// restarted; the reader backs off, reconnects and resumes from its watermark.
#[test]
fn a_killed_connection_and_a_server_restart_lose_nothing() {
    let pg = TestPg::start();
    let events = sample_events(6000);
    PgWriter::connect(&pg.url()).unwrap(); // creates the table
    let feed = feed_of(&pg);
    let mut live = empty_city();
    let mut states = Vec::new();
    let url = pg.url();
    let writer = std::thread::spawn(move || {
        let mut w: Option<PgWriter> = None;
        for chunk in events.chunks(50) {
            // Like a case system: on failure, reconnect and write the chunk again.
            loop {
                let ok = match w.as_mut() {
                    Some(wr) => wr.upsert(chunk).is_ok(),
                    None => false,
                };
                if ok {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
                w = PgWriter::connect(&url).ok();
            }
            std::thread::sleep(Duration::from_millis(40));
        }
    });
    let t = Instant::now();
    let mut killed = 0;
    let mut restarted = false;
    let mut killed_at = (usize::MAX, usize::MAX);
    while !writer.is_finished() {
        take(&feed, &mut live, &mut states);
        let n = live.ds.incidents.len();
        if killed == 0 && n > 600 {
            killed = pg.kill_connections("gridcentre");
            killed_at = (n, states.len());
        }
        // Restart once the reader is back and has read on.
        let back = states[killed_at.1.min(states.len())..].contains(&SourceState::Live);
        if killed > 0 && !restarted && back && n > killed_at.0 + 500 {
            pg.restart();
            restarted = true;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "writer did not finish");
    }
    writer.join().unwrap();
    assert!(killed >= 1 && restarted, "killed {killed}, restarted {restarted}");
    settle_and_compare(&pg, &feed, &mut live, &mut states);
    eprintln!("states: {states:?}");
    let retries = states.iter().filter(|s| matches!(s, SourceState::Retrying { .. })).count();
    assert!(retries >= 2, "the reader saw both failures: {states:?}");
    assert_eq!(states.last(), Some(&SourceState::Live), "{states:?}");
    for s in &states {
        if let SourceState::Retrying { error, .. } = s {
            assert!(!error.contains(PASSWORD), "password in an error: {error}");
        }
    }
    feed.stop();
}

/// A restart with a checkpoint: the reader goes on from the saved watermark (the rows before it
/// come back from the checkpoint, not from the table) and the figures equal a fresh read.
#[test]
fn a_restarted_reader_resumes_from_its_checkpoint() {
    use gridcentre_core::checkpoint;
    let pg = TestPg::start();
    let events = sample_events(4000);
    let (before, after) = events.split_at(2500);
    let mut w = PgWriter::connect(&pg.url()).unwrap();
    w.upsert(before).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let label = SourceSpec::Postgres(pg.url()).label();
    // First run: reads what is there, saves a checkpoint, stops.
    {
        let feed = feed_of(&pg);
        let mut live = empty_city();
        let mut position = None;
        let t = Instant::now();
        while (live.ds.incidents.len() as i64) < rows_in_db(&pg) && t.elapsed() < Duration::from_secs(30) {
            if let Some(FeedMsg::Records(r)) = feed.recv_timeout(Duration::from_millis(50)) {
                live.ingest(&r, &IncidentOptions::default(), Path::new("pg")).unwrap();
                position = r.position.clone();
            }
        }
        assert!(position.is_some());
        checkpoint::save(dir.path(), &live, &label, "base", position).unwrap();
        feed.stop();
    }
    let first_rows = rows_in_db(&pg);
    std::thread::sleep(Duration::from_millis(5100)); // past the re-read overlap
    w.upsert(after).unwrap();
    // Second run: from the checkpoint.
    let (ck, why) = checkpoint::load_matching(dir.path(), &label, "base");
    assert!(why.is_none(), "{why:?}");
    let ck = ck.unwrap();
    assert_eq!(ck.meta.incidents as i64, first_rows);
    let mut live = empty_city();
    live.restore(&ck, &IncidentOptions::default()).unwrap();
    let restored_events = live.counters.events;
    let feed = Feed::start_at(
        SourceSpec::Postgres(pg.url()),
        FeedOptions { poll: Duration::from_millis(300), ..FeedOptions::default() },
        ck.meta.position.clone(),
    );
    let mut states = Vec::new();
    settle_and_compare(&pg, &feed, &mut live, &mut states);
    // What changed since the checkpoint arrived, once each; the only other rows read are the
    // re-read overlap before the watermark, and they change nothing.
    let changed_after: std::collections::BTreeSet<&str> = after.iter().filter_map(|r| r[0].as_deref()).collect();
    let known: std::collections::BTreeSet<&str> = before.iter().filter_map(|r| r[0].as_deref()).collect();
    let c = &live.counters;
    assert_eq!(c.new - ck.meta.counters.new, changed_after.difference(&known).count() as u64);
    assert_eq!(c.updated - ck.meta.counters.updated, changed_after.intersection(&known).count() as u64);
    let reread = c.unchanged - ck.meta.counters.unchanged;
    assert_eq!(c.events - restored_events, changed_after.len() as u64 + reread, "only what changed since, and the overlap");
    assert!(reread <= first_rows as u64, "{reread}");
    feed.stop();
}
