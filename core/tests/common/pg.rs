//! A private PostgreSQL server for a test: its own cluster in a temporary folder, on a free
//! loopback port, with a password-protected user, stopped when the test ends. Tests use it to
//! restart the server and to kill connections mid-stream.
//!
//! It needs the server binaries (Debian's `postgresql` package: `tools/test` installs it). When
//! the tests run as root, the server runs as the `postgres` user the package creates.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on failure

use std::path::{Path, PathBuf};
use std::process::Command;

use gridcentre_core::pg::postgres;

pub const PASSWORD: &str = "Gc-s3cret-PW";

pub struct TestPg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    pub port: u16,
}

fn bin_dir() -> PathBuf {
    if let Ok(b) = std::env::var("GRIDCENTRE_PG_BIN") {
        return PathBuf::from(b);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("pg_ctl").exists()).collect())
        .unwrap_or_default();
    found.sort_by_key(|p| p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()));
    if let Some(b) = found.pop() {
        return b;
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.join("pg_ctl").exists() {
            return p;
        }
    }
    panic!(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run the tests with tools/test, which installs Debian's postgresql package, or set GRIDCENTRE_PG_BIN"
    );
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl TestPg {
    pub fn start() -> TestPg {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let run_as = is_root().then(|| "postgres".to_string());
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if let Some(user) = &run_as {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::create_dir(&data).unwrap();
            let st = Command::new("chown")
                .args([&format!("{user}:"), data.to_str().unwrap(), pwfile.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(st.success(), "chown to {user}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = TestPg { _dir: dir, data, bin, run_as, port };
        pg.run(
            "initdb",
            &[
                "-D",
                pg.data.to_str().unwrap(),
                "-U",
                "gc",
                &format!("--pwfile={}", pwfile.display()),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.pg_ctl("start");
        pg
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, action: &str) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.data.display());
        let log = self.data.join("server.log");
        self.run(
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-m", "fast", "-w", "-o", &opts, action],
        );
    }

    /// The connection string of the test database (with the password).
    pub fn url(&self) -> String {
        format!("postgres://gc:{PASSWORD}@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops and starts the server (every connection is dropped).
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    /// Terminates the connections of an application (e.g. the feed reader, `gridcentre`);
    /// returns how many.
    pub fn kill_connections(&self, application: &str) -> i64 {
        let mut c = postgres::Client::connect(&format!("{} application_name=admin", self.kv()), postgres::NoTls).unwrap();
        let row = c
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&application],
            )
            .unwrap();
        row.get(0)
    }

    fn kv(&self) -> String {
        format!("host=127.0.0.1 port={} user=gc password={PASSWORD} dbname=postgres", self.port)
    }

    /// A plain client for checks.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&format!("{} application_name=check", self.kv()), postgres::NoTls).unwrap()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", self.data.to_str().unwrap_or_default(), "-m", "immediate", "stop"]).output();
    }
}
