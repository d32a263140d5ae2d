//! The command line: `stats`, `report`, `assign`, `check` and `gen-sample` run headless on the same core
//! the dashboard uses. Load reports and progress go to stderr; results go to `--out` or stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use gridcentre_core::analysis::Measure;
use gridcentre_core::bundle::{self, ReportSpec};
use gridcentre_core::crs::Crs;
use gridcentre_core::export::{TableFormat, table_csv, table_json, write_assigned, write_table};
use gridcentre_core::fields::{GridField, IncidentField, parse_mapping};
use gridcentre_core::lang::Lang;
use gridcentre_core::load::{GridOptions, IncidentOptions};
use gridcentre_core::model::Level;
use gridcentre_core::pipeline::{Dataset, Sources, Stage, load};
use gridcentre_core::sample::{SampleOptions, write_sample};
use gridcentre_core::stats::{Filter, IndicatorConfig, unit_table};
use gridcentre_core::status::{Status, StatusMap};
use gridcentre_core::timeparse::{DAY_MS, format_ms, parse_cli_datetime};

#[derive(Debug, Parser)]
#[command(name = "gridcentre", version = crate::VERSION, about = "Grid-management command centre: dashboard and headless statistics", long_about = None)]
pub struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Opens the dashboard on other data (without a subcommand it opens the bundled sample city).
    Open(OpenArgs),
    /// Figures per unit at a level: one row per unit, plus unassigned and total rows.
    Stats(StatsArgs),
    /// Writes every incident with its grid and the units above it.
    Assign(AssignArgs),
    /// Prints the load reports; exits non-zero when an input cannot be used.
    Check(InputArgs),
    /// Writes a report folder: key charts (PNG, SVG), the centre table (CSV, XLSX) and a
    /// printable HTML page, with the same figures the dashboard shows for the same filter.
    Report(ReportArgs),
    /// Keeps the figures current from a live source (a CSV/NDJSON file another system appends
    /// to, or a PostgreSQL table), printing a summary line and rewriting --out at every interval.
    Live(LiveArgs),
    /// Re-emits incidents in time order (their later status changes too) into a feed file or a
    /// PostgreSQL table.
    Replay(ReplayArgs),
    /// Generates a sample city (grids inside Jiamusi's urban districts and a year of incidents).
    GenSample(GenSampleArgs),
}

/// The dashboard on other data, optionally following a live source.
#[derive(Debug, Clone, Args)]
pub struct OpenArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Follow a live source from the start: a feed file (.csv/.ndjson) or a PostgreSQL
    /// connection string (the password is never shown)
    #[arg(long)]
    pub live: Option<String>,
    /// The clock overdue is judged by in live mode: system or data (replays)
    #[arg(long, default_value = "system")]
    pub live_clock: String,
}

/// Where the data is and how to read it.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Grid layer: .geojson/.json or .shp
    #[arg(long)]
    pub grids: PathBuf,
    /// Incidents: .csv (UTF-8 or GBK), .xlsx/.xls or .parquet
    #[arg(long)]
    pub incidents: Option<PathBuf>,
    /// Coordinate system of both inputs: wgs84 (= cgcs2000), gcj02 or bd09
    #[arg(long, default_value = "wgs84")]
    pub crs: Crs,
    /// Coordinate system of the grids, when it differs from --crs
    #[arg(long)]
    pub grid_crs: Option<Crs>,
    /// Coordinate system of the incidents, when it differs from --crs
    #[arg(long)]
    pub incident_crs: Option<Crs>,
    /// Incident column for a field, e.g. --map reported_at=受理时间 (repeatable)
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,
    /// Grid property for a field, e.g. --grid-field code=BoroCD (repeatable)
    #[arg(long = "grid-field", value_name = "FIELD=PROPERTY")]
    pub grid_field: Vec<String>,
    /// Extra status label, e.g. --status-map 待定=accepted (repeatable)
    #[arg(long = "status-map", value_name = "LABEL=STATE")]
    pub status_map: Vec<String>,
    /// Worksheet of an Excel file (default: the first)
    #[arg(long)]
    pub sheet: Option<String>,
    /// No progress lines on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct FilterArgs {
    /// First day (or time) reported, e.g. 2026-01-01
    #[arg(long)]
    pub from: Option<String>,
    /// Last day reported, inclusive (or an exclusive time, e.g. "2026-07-01 12:00")
    #[arg(long)]
    pub to: Option<String>,
    /// Only this category (repeatable)
    #[arg(long)]
    pub category: Vec<String>,
    /// Only this source (repeatable)
    #[arg(long)]
    pub source: Vec<String>,
    /// Only this workflow state: reported, accepted, dispatched, handling, postponed, closed, rejected (repeatable)
    #[arg(long)]
    pub status: Vec<Status>,
    /// Time at which overdue and should-close are judged (default: the latest time in the data)
    #[arg(long)]
    pub as_of: Option<String>,
    /// Indicator definitions (口径) as JSON (see README)
    #[arg(long)]
    pub indicators: Option<PathBuf>,
    /// Use the should-close (应结案数) basis for completion and on-time rates
    #[arg(long)]
    pub should_close: bool,
    /// Only inside this district, street or community (code or name): its units and incidents
    #[arg(long, value_name = "CODE|NAME")]
    pub within: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// grid, community, street, district or city
    #[arg(long, default_value = "grid")]
    pub level: Level,
    /// csv, json or xlsx (default: from --out, else csv)
    #[arg(long)]
    pub format: Option<TableFormat>,
    /// Output file (default: stdout; xlsx needs a file)
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The units compared: grid, community, street or district (default: one level below
    /// --within, else district)
    #[arg(long)]
    pub level: Option<Level>,
    /// What the ranking chart ranks by (completion_rate, on_time_rate, overdue, satisfaction_rate, accepted …)
    #[arg(long, default_value = "completion_rate")]
    pub rank_by: Measure,
    /// Units in the ranking and on-time charts
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Language of titles and labels: zh or en
    #[arg(long, default_value = "zh")]
    pub lang: Lang,
    /// Output folder (created; an existing non-empty folder needs --force)
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a folder that already has files, replacing the report's files
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Grid layer: .geojson/.json or .shp
    #[arg(long)]
    pub grids: PathBuf,
    /// Incidents to start from (optional; the feed's records replace them by id)
    #[arg(long)]
    pub incidents: Option<PathBuf>,
    /// The feed: a .csv or .ndjson file another system appends to (rotation and truncation are
    /// followed), or a PostgreSQL connection string (postgres://user:password@host/db; table
    /// `incidents`, see sql/incidents.sql). The password is never printed.
    #[arg(long)]
    pub source: String,
    /// Coordinate system of the grids, the incidents and the feed
    #[arg(long, default_value = "wgs84")]
    pub crs: Crs,
    /// Feed column for a field, e.g. --map reported_at=受理时间 (repeatable)
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,
    /// Extra status label, e.g. --status-map 待定=accepted (repeatable)
    #[arg(long = "status-map", value_name = "LABEL=STATE")]
    pub status_map: Vec<String>,
    /// The table written to --out: grid, community, street, district or city
    #[arg(long, default_value = "district")]
    pub level: Level,
    /// How often the figures are refreshed, written and summarised (e.g. 500ms, 1s, 1m)
    #[arg(long, default_value = "1s")]
    pub every: String,
    /// File rewritten (atomically) at every interval with the table `stats` writes (csv, json or xlsx)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The clock overdue is judged by: system (now) or data (the latest time in the data and feed)
    #[arg(long, default_value = "system")]
    pub clock: String,
    /// Read what the feed holds, write once and exit
    #[arg(long)]
    pub once: bool,
    /// Stop after this long (e.g. 30s); without it, runs until stopped
    #[arg(long)]
    pub duration: Option<String>,
    /// Indicator definitions (口径) as JSON
    #[arg(long)]
    pub indicators: Option<PathBuf>,
    /// Folder for checkpoints (the feed's state and position, saved every 10 s and at exit):
    /// a restart with the same folder, source and base data goes on where it stood
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// No summary lines
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Incidents to re-emit (.csv, .xlsx or .parquet)
    #[arg(long)]
    pub incidents: PathBuf,
    /// Coordinate system of the incidents (the feed is written in WGS84)
    #[arg(long, default_value = "wgs84")]
    pub crs: Crs,
    /// Incident column for a field (repeatable)
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,
    /// The feed file (.csv or .ndjson), appended to and created when missing, or a PostgreSQL
    /// connection string (rows upserted into `incidents`, the table created when missing)
    #[arg(long)]
    pub to: String,
    /// max (as fast as possible) or a factor of real time (60 = an hour a minute)
    #[arg(long, default_value = "max")]
    pub speed: String,
    /// No progress lines
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output: .parquet or .csv
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct GenSampleArgs {
    /// Output folder (grids.geojson, incidents.csv)
    #[arg(long)]
    pub out: PathBuf,
    /// Number of grids (approximate)
    #[arg(long, default_value_t = SampleOptions::default().grids)]
    pub grids: usize,
    /// Number of incidents
    #[arg(long, default_value_t = SampleOptions::default().incidents)]
    pub incidents: usize,
    /// Random seed
    #[arg(long, default_value_t = SampleOptions::default().seed)]
    pub seed: u64,
    /// Leave out the deliberately bad rows
    #[arg(long)]
    pub no_bad_rows: bool,
}

/// Sets up tracing on stderr.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// Runs a parsed command line; errors are printed once, here.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Some(Command::Stats(a)) => stats(&a),
        Some(Command::Assign(a)) => assign(&a),
        Some(Command::Check(a)) => check(&a),
        Some(Command::GenSample(a)) => gen_sample(&a),
        Some(Command::Report(a)) => report(&a),
        Some(Command::Live(a)) => live(&a),
        Some(Command::Replay(a)) => replay(&a),
        Some(Command::Open(a)) => open(&a),
        None => open_dashboard(crate::app::state::sample_sources(), None),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

impl InputArgs {
    /// The sources to load, with every mapping parsed.
    pub fn sources(&self) -> Result<Sources> {
        let grid_keys: Vec<&str> = GridField::ALL.iter().map(|f| f.key()).collect();
        let inc_keys: Vec<&str> = IncidentField::ALL.iter().map(|f| f.key()).collect();
        let mut status_map = StatusMap::default();
        for s in &self.status_map {
            status_map.insert_spec(s).map_err(anyhow::Error::msg)?;
        }
        Ok(Sources {
            grids: self.grids.clone(),
            grid_options: GridOptions {
                crs: self.grid_crs.unwrap_or(self.crs),
                fields: parse_mapping(&self.grid_field, GridField::from_key, &grid_keys).map_err(anyhow::Error::msg)?,
            },
            incidents: self.incidents.clone(),
            incident_options: IncidentOptions {
                crs: self.incident_crs.unwrap_or(self.crs),
                columns: parse_mapping(&self.map, IncidentField::from_key, &inc_keys).map_err(anyhow::Error::msg)?,
                status_map,
                sheet: self.sheet.clone(),
                ..IncidentOptions::default()
            },
        })
    }

    /// Loads, printing each stage's time on stderr and the load reports after.
    pub fn load(&self) -> Result<Dataset> {
        let sources = self.sources()?;
        let start = Instant::now();
        let mut last = Instant::now();
        let quiet = self.quiet;
        let mut progress = |stage: Stage| {
            if !quiet {
                let took = last.elapsed();
                last = Instant::now();
                if stage == Stage::Done {
                    eprintln!("  done in {:.2} s (last stage {:.2} s)", start.elapsed().as_secs_f64(), took.as_secs_f64());
                } else {
                    eprintln!("… {}", stage.label());
                }
            }
        };
        let ds = load(&sources, &mut progress)?;
        for r in &ds.reports {
            eprint!("{r}");
        }
        Ok(ds)
    }
}

impl FilterArgs {
    pub fn filter(&self) -> Result<Filter> {
        let from_ms = self.from.as_deref().map(parse_cli_datetime).transpose().map_err(anyhow::Error::msg)?;
        let to_ms = match self.to.as_deref() {
            None => None,
            Some(t) => {
                let ms = parse_cli_datetime(t).map_err(anyhow::Error::msg)?;
                // A bare date means the whole of that day.
                Some(if t.trim().len() <= 10 { ms + DAY_MS } else { ms })
            }
        };
        if let (Some(f), Some(t)) = (from_ms, to_ms)
            && t <= f
        {
            bail!("--to ({}) is not after --from ({})", format_ms(t), format_ms(f));
        }
        Ok(Filter {
            categories: self.category.clone(),
            sources: self.source.clone(),
            statuses: self.status.clone(),
            from_ms,
            to_ms,
            unit: None,
        })
    }

    pub fn config(&self) -> Result<IndicatorConfig> {
        let mut cfg = match &self.indicators {
            Some(p) => IndicatorConfig::load(p)?,
            None => IndicatorConfig::default(),
        };
        if self.should_close {
            let name = IndicatorConfig::should_close().name;
            cfg.completion_basis = gridcentre_core::stats::CompletionBasis::ShouldClose;
            cfg.name = name;
        }
        Ok(cfg)
    }

    /// The unit named by --within, searched from districts down.
    pub fn within(&self, ds: &Dataset) -> Result<Option<(Level, u32)>> {
        let Some(w) = self.within.as_deref() else { return Ok(None) };
        for level in [Level::District, Level::Street, Level::Community] {
            if let Some(u) = ds.layer.find(level, w) {
                return Ok(Some((level, u)));
            }
        }
        bail!("--within '{w}' is no district, street or community code or name in the grid layer")
    }

    /// The as-of time: given, or the latest time in the data (the export's own time).
    pub fn as_of(&self, ds: &Dataset) -> Result<i64> {
        if let Some(t) = &self.as_of {
            return parse_cli_datetime(t).map_err(anyhow::Error::msg);
        }
        Ok(ds.latest_time())
    }
}

fn stats(a: &StatsArgs) -> Result<ExitCode> {
    let mut filter = a.filter.filter()?;
    let cfg = a.filter.config()?;
    let ds = a.input.load()?;
    let as_of = a.filter.as_of(&ds)?;
    filter.unit = a.filter.within(&ds)?;
    let table = unit_table(&ds, a.level, &filter, &cfg, as_of)?;
    if !a.input.quiet {
        eprintln!("as of {}; {}", table.as_of, table.definition);
    }
    let format = a.format.or_else(|| a.out.as_deref().and_then(TableFormat::from_path)).unwrap_or(TableFormat::Csv);
    match &a.out {
        Some(path) => {
            write_table(&table, format, path)?;
            if !a.input.quiet {
                eprintln!("wrote {} rows to {}", table.rows.len() + 2, path.display());
            }
        }
        None => {
            let text = match format {
                TableFormat::Csv => table_csv(&table),
                TableFormat::Json => table_json(&table)?,
                TableFormat::Xlsx => bail!("xlsx needs a file: add --out FILE.xlsx"),
            };
            let mut out = std::io::stdout().lock();
            out.write_all(text.trim_start_matches('\u{feff}').as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report(a: &ReportArgs) -> Result<ExitCode> {
    let filter = a.filter.filter()?;
    let config = a.filter.config()?;
    let ds = a.input.load()?;
    let as_of_ms = a.filter.as_of(&ds)?;
    let scope = a.filter.within(&ds)?;
    let level = a.level.unwrap_or_else(|| scope.and_then(|(l, _)| l.child()).unwrap_or(Level::District));
    if let Some((l, _)) = scope
        && level >= l
    {
        bail!("--level {level} is not below the --within unit ({l})");
    }
    let spec = ReportSpec { level, scope, filter, config, as_of_ms, lang: a.lang, rank_by: a.rank_by, top: a.top };
    let files = bundle::write(&ds, &spec, &a.out, a.force)?;
    if !a.input.quiet {
        eprintln!("wrote {} files to {} (open index.html)", files.len(), a.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// "500ms", "2s", "1m", "1h" (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| anyhow::anyhow!("'{s}' is no duration (e.g. 500ms, 1s, 1m)"))?;
    let secs = match unit.trim() {
        "ms" => v / 1000.0,
        "" | "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        u => bail!("unknown unit '{u}' in '{s}' (ms, s, m, h)"),
    };
    if !(secs.is_finite() && secs > 0.0) {
        bail!("'{s}' must be positive");
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn live(a: &LiveArgs) -> Result<ExitCode> {
    use gridcentre_core::live::LiveTable;
    use gridcentre_core::source::{Feed, FeedMsg, FeedOptions, SourceSpec, SourceState};
    let every = parse_duration(&a.every)?;
    let stop_after = a.duration.as_deref().map(parse_duration).transpose()?;
    let data_clock = match a.clock.as_str() {
        "data" => true,
        "system" => false,
        o => bail!("--clock {o}: system or data"),
    };
    let input = InputArgs {
        grids: a.grids.clone(),
        incidents: a.incidents.clone(),
        crs: a.crs,
        grid_crs: None,
        incident_crs: None,
        map: a.map.clone(),
        grid_field: Vec::new(),
        status_map: a.status_map.clone(),
        sheet: None,
        quiet: a.quiet,
    };
    let sources = input.sources()?;
    let ds = input.load()?;
    let config = match &a.indicators {
        Some(p) => IndicatorConfig::load(p)?,
        None => IndicatorConfig::default(),
    };
    let now = gridcentre_core::timeparse::now_local_ms;
    let start_as_of = if data_clock { ds.latest_time() } else { now() };
    let mut table = LiveTable::new(ds, config, start_as_of);
    let spec = SourceSpec::parse(&a.source);
    let label = spec.label();
    let label_path = PathBuf::from(&label);
    let format = a.out.as_deref().and_then(TableFormat::from_path).unwrap_or(TableFormat::Csv);
    let opts = &sources.incident_options;
    let base = gridcentre_core::checkpoint::fingerprint(&[Some(&a.grids), a.incidents.as_deref()]);
    // A checkpoint of this source and base: its records back in, reading from its position.
    let mut position = None;
    if let Some(dir) = &a.state {
        let (ck, why_not) = gridcentre_core::checkpoint::load_matching(dir, &label, &base);
        if let Some(w) = why_not {
            eprintln!("{w}; reading {label} from its beginning");
        }
        if let Some(ck) = ck {
            table.restore(&ck, opts)?;
            position = ck.meta.position.clone();
            if !a.quiet {
                eprintln!(
                    "resumed from the checkpoint of {}: {} incidents from the feed, {} events so far",
                    format_ms(ck.meta.saved_at_ms),
                    ck.meta.incidents,
                    ck.meta.counters.events
                );
            }
        }
    }
    let save = |table: &LiveTable, position: &Option<gridcentre_core::feed::Position>| -> Result<()> {
        if let Some(dir) = &a.state {
            gridcentre_core::checkpoint::save(dir, table, &label, &base, position.clone())
                .with_context(|| format!("saving a checkpoint in {}", dir.display()))?;
        }
        Ok(())
    };
    let resumed_events = table.counters.events;
    // --once reads what the source holds now; otherwise a background reader follows it.
    let feed = if a.once {
        for recs in read_source_now(&spec, position.clone())? {
            table.ingest(&recs, opts, &label_path)?;
            position = recs.position.clone().or(position);
        }
        None
    } else {
        let poll = every.min(std::time::Duration::from_millis(500));
        Some(Feed::start_at(spec, FeedOptions { poll, ..FeedOptions::default() }, position.clone()))
    };
    let mut saved = (Instant::now(), table.counters.events);
    let mut state = if a.once { "read".to_string() } else { "connecting".to_string() };
    let started = Instant::now();
    let mut last_events = resumed_events;
    loop {
        let tick = Instant::now();
        if let Some(feed) = &feed {
            // Everything that arrived since the last tick (a bounded amount per tick), then one refresh.
            while let Some(m) = feed.try_recv() {
                match m {
                    FeedMsg::Records(recs) => {
                        table.ingest(&recs, opts, &label_path)?;
                        position = recs.position.clone().or(position);
                    }
                    FeedMsg::State(SourceState::Live) => state = "live".into(),
                    FeedMsg::State(SourceState::Connecting) => state = "connecting".into(),
                    FeedMsg::State(SourceState::Waiting(why)) => state = format!("waiting: {why}"),
                    FeedMsg::State(SourceState::Retrying { error, attempt, wait }) => {
                        state = format!("retrying (attempt {attempt}, in {:.1} s): {error}", wait.as_secs_f64());
                        if !a.quiet {
                            eprintln!("{label}: {error}; retrying in {:.1} s", wait.as_secs_f64());
                        }
                    }
                }
                if tick.elapsed() >= every {
                    break;
                }
            }
        }
        let as_of =
            if data_clock { table.counters.last_event_ms.unwrap_or(table.as_of_ms).max(table.ds.latest_time()) } else { now() };
        let alerts = table.advance(as_of);
        let t = table.table(a.level);
        if let Some(out) = &a.out {
            write_table(&t, format, out).with_context(|| format!("writing {}", out.display()))?;
        }
        if !a.quiet {
            let c = &table.counters;
            let tot = &t.total;
            let lag = match c.last_event_ms {
                Some(e) if !data_clock => format!("{:.1} s", (now() - e) as f64 / 1000.0),
                _ => "—".to_string(),
            };
            eprintln!(
                "{} [{state}] events {} (+{}) new {} updated {} quarantined {} | 受理 {} 办结 {} 办结率 {} 超期未结 {} | overdue alerts +{} | lag {lag}",
                format_ms(now()),
                c.events,
                c.events - last_events,
                c.new,
                c.updated,
                c.quarantined,
                tot.counts.accepted,
                tot.counts.closed,
                gridcentre_core::analysis::Measure::CompletionRate.format(tot.figures.completion_rate),
                tot.counts.overdue_open,
                alerts.len(),
            );
            for al in alerts.iter().take(5) {
                let grid = table.ds.layer.grids.get(al.grid as usize).map_or("—", |g| g.name.as_str());
                eprintln!("  overdue: {} in {grid} (deadline {})", al.id, format_ms(al.deadline_ms));
            }
            for q in table.quarantine.iter().rev().take((c.events - last_events).min(c.quarantined).min(5) as usize) {
                eprintln!("  quarantined event {}: {} ({})", q.event, q.reason, q.detail);
            }
            last_events = c.events;
        }
        if a.once || stop_after.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if saved.1 != table.counters.events && saved.0.elapsed() >= std::time::Duration::from_secs(10) {
            save(&table, &position)?;
            saved = (Instant::now(), table.counters.events);
        }
        std::thread::sleep(every.saturating_sub(tick.elapsed()));
    }
    if let Some(feed) = feed {
        feed.stop();
    }
    save(&table, &position)?;
    Ok(ExitCode::SUCCESS)
}

/// Everything a source holds now: a file read to its end, or a table read to its newest row.
fn read_source_now(
    spec: &gridcentre_core::source::SourceSpec,
    from: Option<gridcentre_core::feed::Position>,
) -> Result<Vec<gridcentre_core::feed::Records>> {
    use gridcentre_core::feed::{FileTail, Position};
    use gridcentre_core::source::SourceSpec;
    let mut out = Vec::new();
    match spec {
        SourceSpec::File(path) => {
            if !path.exists() {
                bail!("{}: no such file", path.display());
            }
            let mut tail = match &from {
                Some(Position::File(p)) => FileTail::resume(path, p),
                _ => FileTail::new(path),
            };
            loop {
                let recs = tail.poll()?;
                if recs.rows.is_empty() && recs.bad.is_empty() {
                    break;
                }
                out.push(recs);
            }
        }
        SourceSpec::Postgres(url) => {
            let mut client = gridcentre_core::pg::connect(url)?;
            let mut reader = match &from {
                Some(Position::Postgres { watermark_us, id }) => gridcentre_core::pg::PgReader::resume(*watermark_us, id),
                _ => gridcentre_core::pg::PgReader::default(),
            };
            loop {
                let (recs, more) = reader.fetch(&mut client, url, 100_000)?;
                out.push(recs);
                if !more {
                    break;
                }
            }
        }
    }
    Ok(out)
}

fn replay(a: &ReplayArgs) -> Result<ExitCode> {
    use gridcentre_core::feed::{LineFormat, REPLAY_HEADER, replay_events};
    let speed = match a.speed.as_str() {
        "max" => None,
        s => Some(
            s.parse::<f64>().ok().filter(|v| *v > 0.0).ok_or_else(|| anyhow::anyhow!("--speed {s}: max or a positive factor"))?,
        ),
    };
    let inc_keys: Vec<&str> = IncidentField::ALL.iter().map(|f| f.key()).collect();
    let opts = IncidentOptions {
        crs: a.crs,
        columns: parse_mapping(&a.map, IncidentField::from_key, &inc_keys).map_err(anyhow::Error::msg)?,
        ..IncidentOptions::default()
    };
    let (inc, report) = gridcentre_core::load::load_incidents(&a.incidents, &opts)?;
    if !a.quiet {
        eprint!("{report}");
    }
    let events = replay_events(&inc);
    let mut sink: Box<dyn ReplaySink> = if gridcentre_core::pg::is_url(&a.to) {
        Box::new(gridcentre_core::pg::PgWriter::connect(&a.to)?)
    } else {
        let path = PathBuf::from(&a.to);
        let format = LineFormat::of(&path);
        let fresh = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        if fresh && format == LineFormat::Csv {
            writeln!(f, "{}", REPLAY_HEADER.join(","))?;
        }
        Box::new(FileSink { f, format })
    };
    let label = gridcentre_core::source::SourceSpec::parse(&a.to).label();
    let started = Instant::now();
    let first = events.first().map_or(0, |e| e.at_ms);
    let mut batch: Vec<Vec<Option<String>>> = Vec::new();
    for (k, e) in events.iter().enumerate() {
        if let Some(speed) = speed {
            let due = std::time::Duration::from_secs_f64(((e.at_ms - first) as f64 / 1000.0 / speed).max(0.0));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                sink.write(&batch)?;
                batch.clear();
                std::thread::sleep(wait);
            }
        }
        batch.push(e.cells.clone());
        if batch.len() >= 2000 {
            sink.write(&batch)?;
            batch.clear();
        }
        if !a.quiet && (k + 1) % 100_000 == 0 {
            eprintln!("… {} events", k + 1);
        }
    }
    sink.write(&batch)?;
    if !a.quiet {
        eprintln!("replayed {} events of {} incidents into {label}", events.len(), inc.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// Where `replay` writes.
trait ReplaySink {
    fn write(&mut self, rows: &[Vec<Option<String>>]) -> Result<()>;
}

struct FileSink {
    f: std::fs::File,
    format: gridcentre_core::feed::LineFormat,
}

impl ReplaySink for FileSink {
    fn write(&mut self, rows: &[Vec<Option<String>>]) -> Result<()> {
        use gridcentre_core::feed::{LineFormat, REPLAY_HEADER, csv_line, ndjson_line};
        let mut buf = String::new();
        for cells in rows {
            buf.push_str(&match self.format {
                LineFormat::Csv => csv_line(cells),
                LineFormat::Ndjson => ndjson_line(&REPLAY_HEADER, cells),
            });
            buf.push('\n');
        }
        // Whole lines in one write: a follower never sees a record cut by us between writes.
        self.f.write_all(buf.as_bytes())?;
        self.f.flush()?;
        Ok(())
    }
}

impl ReplaySink for gridcentre_core::pg::PgWriter {
    fn write(&mut self, rows: &[Vec<Option<String>>]) -> Result<()> {
        if !rows.is_empty() {
            self.upsert(rows)?;
        }
        Ok(())
    }
}

fn open(a: &OpenArgs) -> Result<ExitCode> {
    use crate::app::live::LiveClock;
    let clock = match a.live_clock.as_str() {
        "system" => LiveClock::System,
        "data" => LiveClock::Data,
        o => bail!("--live-clock {o}: system or data"),
    };
    let live = a.live.as_deref().map(|s| (gridcentre_core::source::SourceSpec::parse(s), clock));
    open_dashboard(a.input.sources()?, live)
}

fn open_dashboard(
    sources: Sources,
    live: Option<(gridcentre_core::source::SourceSpec, crate::app::live::LiveClock)>,
) -> Result<ExitCode> {
    crate::app::run(sources, live).map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

fn assign(a: &AssignArgs) -> Result<ExitCode> {
    if a.input.incidents.is_none() {
        bail!("assign needs --incidents");
    }
    let ds = a.input.load()?;
    write_assigned(&ds, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    if !a.input.quiet {
        eprintln!("wrote {} incidents to {}", ds.incidents.len(), a.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn check(a: &InputArgs) -> Result<ExitCode> {
    let ds = a.load()?;
    // Usable means: some grids, and (when incidents were given) some incidents loaded.
    let unusable = ds.reports.iter().any(|r| r.read > 0 && r.loaded == 0);
    if unusable {
        eprintln!("an input has no usable rows");
        return Ok(ExitCode::from(1));
    }
    println!("ok: {} grids, {} incidents", ds.layer.grids.len(), ds.incidents.len());
    Ok(ExitCode::SUCCESS)
}

fn gen_sample(a: &GenSampleArgs) -> Result<ExitCode> {
    let opts = SampleOptions {
        grids: a.grids,
        incidents: a.incidents,
        seed: a.seed,
        bad_rows: !a.no_bad_rows,
        ..SampleOptions::default()
    };
    let start = Instant::now();
    eprintln!("… generating {} grids and {} incidents", a.grids, a.incidents);
    let files = write_sample(&a.out, &opts)?;
    eprintln!(
        "wrote {} ({} grids) and {} in {:.1} s",
        files.grids.display(),
        files.grid_count,
        files.incidents.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
