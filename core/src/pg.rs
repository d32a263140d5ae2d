//! PostgreSQL as a live source, and as the target of `gridcentre replay`.
//!
//! The table is `incidents` as `sql/incidents.sql` creates it. Reading is by watermark on
//! `updated_at` (set by a trigger to the clock time of every insert and update) in keyset order
//! `(updated_at, id)`; a `NOTIFY gridcentre_incidents` from a statement trigger wakes the reader
//! at once, and without notifications it polls. A transaction can commit after rows with a
//! later `updated_at` were read, so every [`OVERLAP_EVERY`] the reader also re-reads the last
//! [`OVERLAP`] of the table: rows it has already seen with the same `updated_at` are skipped,
//! a late row is read then. Everything it reads replaces by id downstream, so a row read twice
//! (after a reconnect, say) is never counted twice.
//!
//! Connection strings are libpq's (`postgres://user:password@host:port/db` or `host=… user=…`);
//! the password is never logged or shown: every label and message goes through [`redact`].
//! The connection is plain (no TLS): the database is on the centre's intranet or loopback.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The driver, for callers that need a plain client (tests, tools).
pub use postgres;
use postgres::types::Type;
use postgres::{Client, Config, NoTls, Statement};

use crate::error::{CoreError, Result};
use crate::feed::{REPLAY_HEADER, Records};

/// The table's DDL (table, index, triggers), safe to run again.
pub const SCHEMA_SQL: &str = include_str!("../../sql/incidents.sql");
/// The channel the table's trigger notifies.
pub const CHANNEL: &str = "gridcentre_incidents";
/// How far back the periodic re-read goes (longer than any writer's transaction).
pub const OVERLAP: Duration = Duration::from_secs(5);
/// How often the re-read runs.
pub const OVERLAP_EVERY: Duration = Duration::from_secs(2);
/// Rows per query.
pub const PAGE: i64 = 20_000;

/// True for a connection string rather than a file path.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://") || (s.contains("host=") && s.contains('='))
}

/// The connection string with its password replaced by `***` (URL and key=value forms).
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (auth_end, _) = rest.char_indices().find(|(_, c)| matches!(c, '/' | '?')).unwrap_or((rest.len(), ' '));
        let mut out = format!("{scheme}://");
        let authority = &rest[..auth_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***")),
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        let tail = &rest[auth_end..];
        out.push_str(&redact_params(tail));
        return out;
    }
    redact_params(url)
}

/// `password=…` in a key=value string or a URL's query.
fn redact_params(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("password=") {
        let before_ok = i == 0 || matches!(rest.as_bytes()[i - 1], b' ' | b'?' | b'&');
        out.push_str(&rest[..i + "password=".len()]);
        rest = &rest[i + "password=".len()..];
        if before_ok {
            let end = rest.find([' ', '&']).unwrap_or(rest.len());
            out.push_str("***");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

fn db_error(url: &str, e: impl Into<Box<dyn std::error::Error>>) -> CoreError {
    // The driver's messages do not carry the password; the label is redacted. Its own
    // message ("db error") says little: the causes follow it.
    let e = e.into();
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    CoreError::Database { source_label: redact(url), message }
}

/// Connects as application `gridcentre` (the feed reader), giving up after 5 s.
pub fn connect(url: &str) -> Result<Client> {
    connect_as(url, "gridcentre")
}

/// Connects under an application name (unless the connection string names one).
pub fn connect_as(url: &str, application: &str) -> Result<Client> {
    let mut cfg = Config::from_str(url).map_err(|e| db_error(url, e))?;
    if cfg.get_application_name().is_none() {
        cfg.application_name(application);
    }
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(5));
    }
    cfg.keepalives_idle(Duration::from_secs(30));
    cfg.connect(NoTls).map_err(|e| db_error(url, e))
}

/// Creates the table, its index and triggers when the table is missing; returns whether it did.
pub fn ensure_schema(client: &mut Client, url: &str) -> Result<bool> {
    let row = client.query_one("SELECT to_regclass('incidents') IS NULL", &[]).map_err(|e| db_error(url, e))?;
    let missing: bool = row.get(0);
    if missing {
        client.batch_execute(SCHEMA_SQL).map_err(|e| db_error(url, e))?;
    }
    Ok(missing)
}

/// Writes records (in [`REPLAY_HEADER`] order) as upserts: new ids are inserted, known ones
/// replaced. Used by `gridcentre replay` and by tests standing in for a case system.
pub struct PgWriter {
    pub client: Client,
    url: String,
    stmt: Statement,
}

impl PgWriter {
    /// Connects as application `gridcentre-replay` and creates the table when it is missing.
    pub fn connect(url: &str) -> Result<PgWriter> {
        let mut client = connect_as(url, "gridcentre-replay")?;
        ensure_schema(&mut client, url)?;
        let cols = REPLAY_HEADER.join(", ");
        let casts = ["", "", "", "", "::timestamp", "::timestamp", "::timestamp", "", "::float8", "::float8", "", ""];
        let values: Vec<String> = casts.iter().enumerate().map(|(i, c)| format!("${}{c}", i + 1)).collect();
        let set: Vec<String> = REPLAY_HEADER[1..].iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let sql = format!(
            "INSERT INTO incidents ({cols}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
            values.join(", "),
            set.join(", ")
        );
        let stmt = client.prepare_typed(&sql, &[Type::TEXT; 12]).map_err(|e| db_error(url, e))?;
        Ok(PgWriter { client, url: url.to_string(), stmt })
    }

    /// Writes the records in one transaction.
    pub fn upsert(&mut self, rows: &[Vec<Option<String>>]) -> Result<()> {
        let url = self.url.clone();
        let mut tx = self.client.transaction().map_err(|e| db_error(&url, e))?;
        for r in rows {
            let p: Vec<&(dyn postgres::types::ToSql + Sync)> =
                (0..12).map(|i| r.get(i).unwrap_or(&None) as &(dyn postgres::types::ToSql + Sync)).collect();
            tx.execute(&self.stmt, &p).map_err(|e| db_error(&url, e))?;
        }
        tx.commit().map_err(|e| db_error(&url, e))
    }
}

/// Where a reader stands: the newest `(updated_at, id)` read, and the rows read within the
/// overlap window (to skip them when they are read again).
#[derive(Debug, Clone, Default)]
pub struct PgReader {
    /// Microseconds since 1970 of the newest `updated_at` read, and its id.
    pub watermark: (i64, String),
    seen: HashMap<String, i64>,
    last_sweep: Option<Instant>,
    /// Rows handed on so far (event numbers).
    pub events: u64,
    /// Rows read again and skipped.
    pub skipped: u64,
}

const SELECT: &str = "SELECT id, category, source, status, \
    to_char(reported_at, 'YYYY-MM-DD HH24:MI:SS'), to_char(deadline, 'YYYY-MM-DD HH24:MI:SS'), \
    to_char(closed_at, 'YYYY-MM-DD HH24:MI:SS'), satisfaction, lon::text, lat::text, grid_code, department, \
    (extract(epoch FROM updated_at) * 1000000)::int8 \
    FROM incidents \
    WHERE (updated_at, id) > ('epoch'::timestamptz + $1::int8 * interval '1 microsecond', $2::text) \
    ORDER BY updated_at, id LIMIT $3";

impl PgReader {
    /// A reader that goes on from a saved watermark (re-reading the overlap before it first).
    pub fn resume(watermark_us: i64, id: &str) -> PgReader {
        PgReader { watermark: (watermark_us, id.to_string()), ..PgReader::default() }
    }

    /// Where reading stands.
    pub fn position(&self) -> crate::feed::Position {
        crate::feed::Position::Postgres { watermark_us: self.watermark.0, id: self.watermark.1.clone() }
    }

    /// Reads what changed since the last call (and, every [`OVERLAP_EVERY`], what committed
    /// late within [`OVERLAP`]), page by page up to `max_rows`, as records under
    /// [`REPLAY_HEADER`]. Returns the records and whether more are waiting.
    pub fn fetch(&mut self, client: &mut Client, url: &str, max_rows: usize) -> Result<(Records, bool)> {
        let sweep = self.last_sweep.is_none_or(|t| t.elapsed() >= OVERLAP_EVERY);
        let mut cursor = if sweep {
            self.last_sweep = Some(Instant::now());
            (self.watermark.0 - OVERLAP.as_micros() as i64, String::new())
        } else {
            self.watermark.clone()
        };
        let mut out = Records { header: REPLAY_HEADER.iter().map(|s| s.to_string()).collect(), ..Records::default() };
        let mut more = false;
        loop {
            let rows = client.query(SELECT, &[&cursor.0, &cursor.1, &PAGE]).map_err(|e| db_error(url, e))?;
            let n = rows.len();
            for row in rows {
                let id: String = row.get(0);
                let us: i64 = row.get(12);
                cursor = (us, id.clone());
                if self.seen.get(&id) == Some(&us) {
                    self.skipped += 1;
                    continue;
                }
                let cells: Vec<Option<String>> = (0..12).map(|i| row.get::<_, Option<String>>(i)).collect();
                self.seen.insert(id.clone(), us);
                if (us, &id) > (self.watermark.0, &self.watermark.1) {
                    self.watermark = (us, id);
                }
                self.events += 1;
                out.rows.push(cells);
                out.events.push(self.events);
            }
            if (n as i64) < PAGE {
                break;
            }
            if out.rows.len() >= max_rows {
                more = true;
                break;
            }
        }
        out.position = Some(self.position());
        let keep_from = self.watermark.0 - OVERLAP.as_micros() as i64;
        if self.seen.len() > 4 * PAGE as usize || sweep {
            self.seen.retain(|_, us| *us >= keep_from);
        }
        Ok((out, more))
    }
}

/// Waits for a notification on [`CHANNEL`] (or `timeout`), then takes any others pending.
/// An error means the connection is gone.
pub fn wait_for_notify(client: &mut Client, url: &str, timeout: Duration) -> Result<bool> {
    use postgres::fallible_iterator::FallibleIterator;
    let got = {
        let mut n = client.notifications();
        let got = n.timeout_iter(timeout).next().map_err(|e| db_error(url, e))?.is_some();
        while n.iter().next().map_err(|e| db_error(url, e))?.is_some() {}
        got
    };
    if !got && client.is_closed() {
        return Err(db_error(url, "connection closed"));
    }
    Ok(got)
}

/// Starts listening on [`CHANNEL`].
pub fn listen(client: &mut Client, url: &str) -> Result<()> {
    client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(|e| db_error(url, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_in_every_form() {
        assert_eq!(redact("postgres://gc:s3cret@db.local:5432/city"), "postgres://gc:***@db.local:5432/city");
        assert_eq!(redact("postgresql://gc@db.local/city?sslmode=disable"), "postgresql://gc@db.local/city?sslmode=disable");
        assert_eq!(redact("postgres://gc:p@ss@host/db"), "postgres://gc:***@host/db");
        assert_eq!(redact("postgres://host/db?user=gc&password=s3cret&x=1"), "postgres://host/db?user=gc&password=***&x=1");
        assert_eq!(redact("host=10.0.0.5 user=gc password=s3cret dbname=city"), "host=10.0.0.5 user=gc password=*** dbname=city");
        assert_eq!(redact("host=h oldpassword=x"), "host=h oldpassword=x");
        assert!(is_url("postgres://h/db") && is_url("host=h dbname=d") && !is_url("feed.csv"));
    }
}
