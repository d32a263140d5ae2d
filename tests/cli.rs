//! The command line as a user runs it: exit codes, stderr reports, and outputs on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn gridcentre(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridcentre")).args(args).current_dir(root()).output().expect("run gridcentre")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const GRIDS: &str = "sample-data/grids.geojson";
const INCIDENTS: &str = "sample-data/incidents.csv";

/// `stats` of the sample at a level, written to `dir/stats_LEVEL.csv`.
fn stats_file(dir: &Path, level: &str) -> PathBuf {
    let s = dir.join(format!("stats_{level}.csv"));
    let out =
        gridcentre(&["stats", "-q", "--grids", GRIDS, "--incidents", INCIDENTS, "--level", level, "--out", s.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    s
}

#[test]
fn version_names_the_revision_and_build_date() {
    let out = gridcentre(&["--version"]);
    assert!(out.status.success());
    let v = text(&out.stdout);
    assert!(v.starts_with("gridcentre 0.1.0 (rev ") && v.contains(", built 20"), "{v}");
}

#[test]
fn stats_prints_one_row_per_district_plus_unassigned_and_total() {
    let out = gridcentre(&["stats", "--grids", GRIDS, "--incidents", INCIDENTS, "--level", "district", "--as-of", "2026-11-01"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 4 + 2, "{csv}");
    assert!(lines[1].starts_with("district,230803,向阳区,"), "{}", lines[1]);
    assert!(lines[5].starts_with("district,unassigned,"));
    assert!(lines[6].starts_with("district,total,合计,"));
    let err = text(&out.stderr);
    assert!(err.contains("60000 rows read, 59991 loaded, 9 rejected"), "{err}");
    assert!(err.contains("as of 2026-11-01 00:00:00"), "{err}");
}

#[test]
fn stats_writes_xlsx_json_and_bom_csv_files() {
    let dir = tempfile::tempdir().unwrap();
    for (name, magic) in [("s.xlsx", &b"PK"[..]), ("s.json", &b"{"[..]), ("s.csv", &b"\xEF\xBB\xBFlevel,code"[..])] {
        let out_path = dir.path().join(name);
        let out = gridcentre(&[
            "stats",
            "-q",
            "--grids",
            GRIDS,
            "--incidents",
            INCIDENTS,
            "--level",
            "street",
            "--category",
            "城建物业",
            "--from",
            "2026-01-01",
            "--to",
            "2026-03-31",
            "--out",
            out_path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(std::fs::read(&out_path).unwrap().starts_with(magic), "{name}");
    }
}

#[test]
fn assign_writes_parquet_with_the_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("a.parquet");
    let out = gridcentre(&["assign", "-q", "--grids", GRIDS, "--incidents", INCIDENTS, "--out", out_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read(&out_path).unwrap().starts_with(b"PAR1"));
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn check_fails_clearly_on_unusable_inputs_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.geojson", "{ not json");
    let out = gridcentre(&["check", "--grids", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("error:") && err.contains("bad.geojson") && err.contains("not valid GeoJSON"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let inc = write(dir.path(), "inc.csv", "事件编号,上报时间,经度,纬度\nE1,garbage,130.3,46.8\n");
    let out = gridcentre(&["check", "--grids", GRIDS, "--incidents", &inc]);
    assert_eq!(out.status.code(), Some(1), "no usable incident row");
    let err = text(&out.stderr);
    assert!(err.contains("row 2: id E1: 'garbage'"), "{err}");

    let out = gridcentre(&["check", "--grids", GRIDS, "--incidents", INCIDENTS]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("ok: 1296 grids, 59991 incidents"));

    let out = gridcentre(&["stats", "--grids", GRIDS, "--incidents", INCIDENTS, "--category", "不存在的类别"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("'不存在的类别' does not occur in the data"));

    let out = gridcentre(&["stats", "--grids", GRIDS, "--from", "2026-02-01", "--to", "2026-01-01"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not after --from"));
}

#[test]
fn gen_sample_makes_a_city_that_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = gridcentre(&["gen-sample", "--out", d, "--grids", "60", "--incidents", "500", "--seed", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let g = format!("{d}/grids.geojson");
    let i = format!("{d}/incidents.csv");
    let out = gridcentre(&["check", "--grids", &g, "--incidents", &i]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn report_writes_a_bundle_whose_table_is_what_stats_prints_for_the_same_filter() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("向阳区报告");
    let common =
        ["--grids", GRIDS, "--incidents", INCIDENTS, "--as-of", "2026-11-01", "--from", "2026-06-01", "--to", "2026-08-31"];
    let mut args = vec!["report", "-q"];
    args.extend(common);
    args.extend(["--within", "向阳区", "--category", "民生服务", "--out", out_dir.to_str().unwrap()]);
    let out = gridcentre(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv_path = dir.path().join("streets.csv");
    let mut stats = vec!["stats", "-q"];
    stats.extend(common);
    stats.extend(["--within", "230803", "--category", "民生服务", "--level", "street", "--out", csv_path.to_str().unwrap()]);
    let s = gridcentre(&stats);
    assert!(s.status.success(), "{}", text(&s.stderr));
    let from_report = std::fs::read(out_dir.join("table.csv")).unwrap();
    assert_eq!(text(&from_report), text(&std::fs::read(&csv_path).unwrap()));
    // Only the district's streets, then unassigned and total.
    let body = text(&from_report);
    assert!(body.lines().skip(1).all(|l| l.starts_with("street,")), "{body}");
    assert!(body.lines().count() >= 4);
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(html.contains("向阳区 网格化管理统计报告") && html.contains("2026-06-01 至 2026-08-31"), "{}", &html[..400]);
    // Again into the same folder: refused without --force, done with it.
    let again = gridcentre(&args);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("not empty"), "{}", text(&again.stderr));
    args.push("--force");
    assert!(gridcentre(&args).status.success());
    // A --within that names nothing is an error that says so.
    let bad = gridcentre(&["stats", "-q", "--grids", GRIDS, "--incidents", INCIDENTS, "--within", "火星区"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("火星区"));
}

/// The sample city as a feed: `replay` writes every incident's events, `live` folds them into
/// an empty city and writes, for each level, the very table `stats` writes for the whole file.
#[test]
fn replay_into_a_feed_then_live_gives_the_table_stats_gives() {
    let dir = tempfile::tempdir().unwrap();
    for feed in ["feed.csv", "feed.ndjson"] {
        let feed = dir.path().join(feed);
        let f = feed.to_str().unwrap();
        let out = gridcentre(&["replay", "-q", "--incidents", INCIDENTS, "--to", f]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        for level in ["grid", "street", "district"] {
            let s = stats_file(dir.path(), level);
            let l = dir.path().join(format!("live_{level}.csv"));
            let args = [
                "live",
                "--grids",
                GRIDS,
                "--source",
                f,
                "--once",
                "--clock",
                "data",
                "--level",
                level,
                "--out",
                l.to_str().unwrap(),
            ];
            let out = gridcentre(&args);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let err = text(&out.stderr);
            assert!(err.contains("events 119251 (+119251) new 59991 updated 59260 quarantined 0"), "{err}");
            assert_eq!(std::fs::read(&l).unwrap(), std::fs::read(&s).unwrap(), "{} at level {level}", feed.display());
        }
    }
}

/// `live` follows a file while another program appends to it, half lines and garbage included:
/// the garbage is quarantined with its reason, the half line waits for its end, and the table
/// at the end is the one `stats` gives.
#[test]
fn live_follows_a_growing_feed_and_quarantines_what_is_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.csv");
    let out = gridcentre(&["replay", "-q", "--incidents", INCIDENTS, "--to", whole.to_str().unwrap()]);
    assert!(out.status.success());
    let body = std::fs::read_to_string(&whole).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let feed = dir.path().join("feed.csv");
    let table = dir.path().join("live.csv");
    let child = Command::new(env!("CARGO_BIN_EXE_gridcentre"))
        .args(["live", "--grids", GRIDS, "--source", feed.to_str().unwrap(), "--every", "200ms", "--duration", "6s"])
        .args(["--clock", "data", "--level", "street", "--out", table.to_str().unwrap()])
        .current_dir(root())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let append = |s: &str| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&feed).unwrap();
        f.write_all(s.as_bytes()).unwrap();
    };
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let half = lines.len() / 2;
    append(&(lines[..half].join("\n") + "\n"));
    std::thread::sleep(std::time::Duration::from_millis(700));
    // A record in two writes, the reader polling in between; then a line that is no event.
    let (a, b) = lines[half].split_at(lines[half].len() / 2);
    append(a);
    std::thread::sleep(std::time::Duration::from_millis(500));
    append(&format!("{b}\nX1,城建物业,巡查发现,accepted,not a time,,,,130.3,46.8,,\n"));
    append(&(lines[half + 1..].join("\n") + "\n"));
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("events 119252") && err.contains("quarantined 1 "), "{err}");
    assert!(err.contains("quarantined event") && err.contains("X1"), "{err}");
    let s = stats_file(dir.path(), "street");
    assert_eq!(std::fs::read(&table).unwrap(), std::fs::read(&s).unwrap());
}

#[path = "../core/tests/common/pg.rs"]
mod pg;

/// `replay` into PostgreSQL creates the table and upserts the sample's events; `live` reads the
/// table and writes the table `stats` writes for the file. The password is never printed.
#[test]
fn replay_into_postgres_then_live_gives_the_table_stats_gives() {
    let server = pg::TestPg::start();
    let url = server.url();
    let out = gridcentre(&["replay", "--incidents", INCIDENTS, "--to", &url]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("replayed 119251 events of 59991 incidents into postgres://gc:***@127.0.0.1"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let s = stats_file(dir.path(), "street");
    let l = dir.path().join("live.csv");
    let out = gridcentre(&[
        "live",
        "--grids",
        GRIDS,
        "--source",
        &url,
        "--once",
        "--clock",
        "data",
        "--level",
        "street",
        "--out",
        l.to_str().unwrap(),
    ]);
    let live_err = text(&out.stderr);
    assert!(out.status.success(), "{live_err}");
    assert!(live_err.contains("events 59991 (+59991) new 59991 updated 0 quarantined 0"), "{live_err}");
    assert_eq!(std::fs::read(&l).unwrap(), std::fs::read(&s).unwrap());
    // A wrong password: a clear error naming the server, never the password.
    let bad = url.replace(pg::PASSWORD, "not-the-password");
    let out = gridcentre(&["live", "--grids", GRIDS, "--source", &bad, "--once"]);
    let bad_err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(bad_err.contains("postgres://gc:***@127.0.0.1") && bad_err.contains("password authentication failed"), "{bad_err}");
    for e in [&err, &live_err, &bad_err] {
        assert!(!e.contains(pg::PASSWORD) && !e.contains("not-the-password"), "{e}");
    }
}

/// `live --state`: a checkpoint keeps the feed's records and its position; the next run goes on
/// from there (reading only what came after) and gives the table `stats` gives. A checkpoint of
/// other base data is not used, and says so.
#[test]
fn live_resumes_from_its_checkpoint_reading_only_what_came_after() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.csv");
    let out = gridcentre(&["replay", "-q", "--incidents", INCIDENTS, "--to", whole.to_str().unwrap()]);
    assert!(out.status.success());
    let body = std::fs::read_to_string(&whole).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let half = 60_001; // the header and 60,000 events
    let feed = dir.path().join("feed.csv");
    std::fs::write(&feed, lines[..half].join("\n") + "\n").unwrap();
    let state = dir.path().join("state");
    let table = dir.path().join("live.csv");
    let run = || {
        let out = gridcentre(&[
            "live",
            "--grids",
            GRIDS,
            "--source",
            feed.to_str().unwrap(),
            "--once",
            "--clock",
            "data",
            "--level",
            "street",
            "--state",
            state.to_str().unwrap(),
            "--out",
            table.to_str().unwrap(),
        ]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{err}");
        err
    };
    let first = run();
    assert!(first.contains("events 60000 (+60000)") && !first.contains("resumed"), "{first}");
    assert!(state.join("CURRENT").exists());
    // The rest arrives; the second run reads only it.
    let mut f = std::fs::OpenOptions::new().append(true).open(&feed).unwrap();
    std::io::Write::write_all(&mut f, (lines[half..].join("\n") + "\n").as_bytes()).unwrap();
    drop(f);
    let second = run();
    assert!(second.contains("resumed from the checkpoint"), "{second}");
    assert!(second.contains("events 119251 (+59251) new 59991 updated 59260"), "{second}");
    let s = stats_file(dir.path(), "street");
    assert_eq!(std::fs::read(&table).unwrap(), std::fs::read(&s).unwrap());
    // A third run with nothing new: nothing read again, the same table.
    let third = run();
    assert!(third.contains("events 119251 (+0)"), "{third}");
    assert_eq!(std::fs::read(&table).unwrap(), std::fs::read(&s).unwrap());
    // Other base data: the checkpoint is not used.
    let out = gridcentre(&[
        "live",
        "--grids",
        GRIDS,
        "--incidents",
        INCIDENTS,
        "--source",
        feed.to_str().unwrap(),
        "--once",
        "--state",
        state.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success() && err.contains("of another source or base data"), "{err}");
}
