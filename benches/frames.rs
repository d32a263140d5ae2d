//! Headless frame-time benchmark of the dashboard: the real app in egui_kittest (no window, no
//! GPU) on a generated city, timing each frame's CPU work as eframe does it (the app's UI pass
//! plus egui's tessellation of what it painted) while panning, zooming, switching the indicator,
//! changing the filter, with the heatmap on, and while a live feed brings 1,000 events a second.
//!
//! `cargo bench --bench frames -- [--grids N] [--incidents N] [--frames N] [--rate N] [--seconds N] [--live-only] [--idle-seconds N]`
//! (defaults: 10,000 grids, 1,000,000 incidents, 120 frames per scenario; the city is generated
//! once into target/bench-data/, shared with the core's pipeline benchmark).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use gridcentre::app::GridCentreApp;
use gridcentre::app::state::{FilterState, Indicator, Loaded};
use gridcentre_core::crs::Crs;
use gridcentre_core::pipeline::{Sources, load};
use gridcentre_core::render::unmercator;
use gridcentre_core::sample::{SampleOptions, write_sample};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One frame: the UI pass, then tessellation of its shapes (what eframe does before the GPU).
fn frame(h: &mut Harness<'static, GridCentreApp>) -> Duration {
    frame_detail(h).wall
}

/// What the UI thread did during one frame: wall time, the UI pass alone, and from the kernel's
/// per-thread accounting its CPU time (user + system), minor page faults and context switches
/// (voluntary: it waited for something; involuntary: it was preempted).
#[derive(Debug, Default)]
struct FrameDetail {
    wall: Duration,
    step: Duration,
    /// Copying the frame's shapes out of the harness (eframe moves them instead).
    copy: Duration,
    /// The app's own part of the UI pass.
    app: Duration,
    /// Its sections of 1 ms or more.
    sections: String,
    /// egui passes run in the frame (more than one when a pass asked for another).
    passes: u64,
    cpu: Duration,
    /// Of it, in the kernel.
    sys: Duration,
    /// Time the machine's virtual CPUs were held by the hypervisor during the frame (the steal
    /// column of /proc/stat, in its 10-ms ticks, over all CPUs).
    steal_ticks: u64,
    minflt: i64,
    nvcsw: i64,
    nivcsw: i64,
}

impl FrameDetail {
    /// The frame's time and where it went, for the slow-frame lines.
    fn describe(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{:.1} ms (UI pass {:.1} ms in {} egui passes, the app's part of the last {:.1} ms [{}]; shapes copied in {:.1} ms, tessellated in {:.1} ms; thread CPU {:.1} ms ({:.1} in the kernel), {} steal ticks, {} minor faults, {} waits, {} preemptions)",
            ms(self.wall),
            ms(self.step),
            self.passes,
            ms(self.app),
            self.sections,
            ms(self.copy),
            ms(self.wall.saturating_sub(self.step + self.copy)),
            ms(self.cpu),
            ms(self.sys),
            self.steal_ticks,
            self.minflt,
            self.nvcsw,
            self.nivcsw
        )
    }
}

/// CLOCK_MONOTONIC in seconds (what `perf record -k mono` stamps samples with).
fn monotonic_s() -> f64 {
    // SAFETY: clock_gettime fills the zeroed timespec it is given.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts
    };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The machine's steal time so far, in ticks (0 where /proc/stat has none).
fn steal_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines().next().and_then(|l| l.split_whitespace().nth(8)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The calling thread's CPU time, its kernel part, minor faults, voluntary and involuntary
/// context switches.
fn thread_usage() -> (Duration, Duration, i64, i64, i64) {
    // SAFETY: getrusage fills the zeroed struct it is given; RUSAGE_THREAD is the calling thread.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    (tv(u.ru_utime) + tv(u.ru_stime), tv(u.ru_stime), u.ru_minflt, u.ru_nvcsw, u.ru_nivcsw)
}

fn frame_detail(h: &mut Harness<'static, GridCentreApp>) -> FrameDetail {
    let p0 = h.ctx.cumulative_pass_nr();
    let u0 = thread_usage();
    let st0 = steal_ticks();
    let t = Instant::now();
    h.step();
    let step = t.elapsed();
    let out = h.output();
    let ctx = h.ctx.clone();
    let shapes = out.shapes.clone();
    let copy = t.elapsed() - step;
    let prims = ctx.tessellate(shapes, out.pixels_per_point);
    std::hint::black_box(prims.len());
    let wall = t.elapsed();
    let u1 = thread_usage();
    let st1 = steal_ticks();
    FrameDetail {
        wall,
        step,
        copy,
        app: h.state().profile.total(),
        sections: h.state().profile.describe(Duration::from_millis(1)),
        passes: h.ctx.cumulative_pass_nr() - p0,
        cpu: u1.0.saturating_sub(u0.0),
        sys: u1.1.saturating_sub(u0.1),
        steal_ticks: st1.saturating_sub(st0),
        minflt: u1.2 - u0.2,
        nvcsw: u1.3 - u0.3,
        nivcsw: u1.4 - u0.4,
    }
}

struct Stats {
    name: &'static str,
    times: Vec<Duration>,
}

impl Stats {
    fn print(&self) {
        let mut ms: Vec<f64> = self.times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
        let over = ms.iter().filter(|m| **m > 16.0).count();
        println!(
            "| {:<34} | {:>6} | {:>7.2} | {:>7.2} | {:>7.2} | {:>5} |",
            self.name,
            ms.len(),
            q(0.5),
            q(0.95),
            ms[ms.len() - 1],
            over
        );
    }
}

fn main() {
    // As the dashboard's binary does (src/main.rs).
    gridcentre::app::worker::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let grids = arg(&args, "--grids", 10_000);
    let incidents = arg(&args, "--incidents", 1_000_000);
    let frames = arg(&args, "--frames", 120);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join(format!("target/bench-data/g{grids}_i{incidents}"));
    let (gpath, ipath) = (dir.join("grids.geojson"), dir.join("incidents.csv"));
    if !gpath.exists() || !ipath.exists() {
        let opts = SampleOptions { grids, incidents, bad_rows: false, ..SampleOptions::default() };
        write_sample(&dir, &opts).unwrap();
    }
    let t = Instant::now();
    let sources = Sources { grids: gpath, incidents: Some(ipath), ..Sources::default() };
    let ds = load(&sources, &mut |_| {}).unwrap();
    let loaded = Loaded::compute(ds, &FilterState::default(), Crs::Wgs84, sources).unwrap();
    let (n_grids, n_inc) = (loaded.ds.layer.grids.len(), loaded.ds.incidents.len());
    let bounds = loaded.geometry.bounds;
    println!("city: {n_grids} grids, {n_inc} incidents; load + derive + geometry {:.2} s", t.elapsed().as_secs_f64());

    let mut h = Harness::builder()
        .with_size([1600.0, 950.0])
        .with_max_steps(1_000_000)
        .build_eframe(move |cc| GridCentreApp::from_loaded(&cc.egui_ctx, loaded));
    for _ in 0..5 {
        frame(&mut h);
    }
    let centre = unmercator((bounds.0[0] + bounds.1[0]) / 2.0, (bounds.0[1] + bounds.1[1]) / 2.0);
    let span = unmercator(bounds.1[0], bounds.1[1]).0 - unmercator(bounds.0[0], bounds.0[1]).0;
    let mut results = Vec::new();

    let live_only = args.iter().any(|a| a == "--live-only");
    let mut filter_s = f64::NAN;
    if !live_only {
        // Pan across the city at three zooms: whole city, streets, grids (points drawn one by one).
        for (name, zoom) in
            [("pan, whole city (zoom 11)", 11.0), ("pan, streets (zoom 14)", 14.0), ("pan, grids + points (zoom 16.5)", 16.5)]
        {
            let mut times = Vec::new();
            for k in 0..frames {
                let f = k as f64 / frames as f64 - 0.5;
                let step = span / 2f64.powf(zoom - 11.0) * 0.6;
                h.state_mut().set_view(centre.0 + f * step, centre.1 + f * step * 0.4, zoom);
                times.push(frame(&mut h));
            }
            results.push(Stats { name, times });
        }
        // Zoom in and out over the middle.
        let mut times = Vec::new();
        for k in 0..frames {
            let f = (k as f64 / frames as f64 * std::f64::consts::PI * 2.0).sin();
            h.state_mut().set_view(centre.0, centre.1, 13.5 + 3.0 * f);
            times.push(frame(&mut h));
        }
        results.push(Stats { name: "zoom 10.5 ↔ 16.5", times });
        // Switching the choropleth indicator: the frame that recolours.
        h.state_mut().set_view(centre.0, centre.1, 12.0);
        let mut times = Vec::new();
        for k in 0..frames.min(60) {
            h.state_mut().settings.indicator = Indicator::ALL[k % Indicator::ALL.len()];
            times.push(frame(&mut h));
        }
        results.push(Stats { name: "indicator switch (recolour frame)", times });
        // A filter change: frames keep coming while the tables and points recompute off-thread.
        let mut times = Vec::new();
        let t = Instant::now();
        h.state_mut().settings.filter.categories = vec!["城建物业".into()];
        frame(&mut h);
        while h.state().busy() {
            times.push(frame(&mut h));
            std::thread::sleep(Duration::from_millis(2));
        }
        filter_s = t.elapsed().as_secs_f64();
        results.push(Stats { name: "frames during a filter recompute", times });
        // Heatmap on: panning while rasters are recomputed in the background.
        h.state_mut().settings.filter.categories.clear();
        while h.state().busy() {
            frame(&mut h);
        }
        h.state_mut().settings.layers.heatmap = true;
        let mut times = Vec::new();
        for k in 0..frames {
            let f = k as f64 / frames as f64 - 0.5;
            h.state_mut().set_view(centre.0 + f * span * 0.3, centre.1, 12.5 + f);
            times.push(frame(&mut h));
            std::thread::sleep(Duration::from_millis(4));
        }
        results.push(Stats { name: "pan + zoom with heatmap", times });
    }

    // --idle-seconds S: the same slow pan at 60 Hz with no feed and nothing computing, for a
    // long soak (what a slow frame looks like when no new data can be the cause).
    let idle = arg(&args, "--idle-seconds", 0);
    if idle > 0 {
        let mut times = Vec::new();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(idle as u64) {
            let t = Instant::now();
            let f = (t0.elapsed().as_secs_f64() / 60.0).fract() - 0.5;
            h.state_mut().set_view(centre.0 + f * span * 0.2, centre.1, 12.5);
            let d = frame_detail(&mut h);
            if d.wall > Duration::from_millis(16) {
                eprintln!(
                    "slow idle frame {} at {:.2} s (monotonic clock {:.6} s): {}",
                    times.len(),
                    t0.elapsed().as_secs_f64(),
                    monotonic_s() - d.wall.as_secs_f64(),
                    d.describe()
                );
            }
            times.push(d.wall);
            std::thread::sleep(Duration::from_millis(16).saturating_sub(t.elapsed()));
        }
        results.push(Stats { name: "idle map, 60 Hz, slow pan", times });
    }

    // Live: a feed file another process appends to at --rate events per second (new incidents
    // and, for earlier ones, their closing), while the map is panned slowly; frames are paced
    // at 60 Hz. Latency: from an event's write to the first frame whose tables include it.
    h.state_mut().settings.layers.heatmap = false;
    let rate = arg(&args, "--rate", 1000);
    let seconds = arg(&args, "--seconds", 20);
    let (live_frames, lat, written, applied, ready_s) = live_scenario(&mut h, &dir, rate, seconds, centre, span);
    results.push(Stats { name: "live feed, 60 Hz, slow pan", times: live_frames });

    println!("\n| scenario | frames | p50 ms | p95 ms | max ms | >16 ms |\n|---|---|---|---|---|---|");
    for r in &results {
        r.print();
    }
    println!("\nfilter change to results on screen: {filter_s:.2} s (UI never waited)");
    let mut l = lat;
    l.sort_by(f64::total_cmp);
    let q = |p: f64| l.get(((l.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or(f64::NAN);
    println!("live feed: following the feed {ready_s:.2} s after connecting (the million incidents indexed for updates)");
    println!(
        "live feed: {written} events written in {seconds} s ({:.0}/s), {applied} applied; write-to-screen latency p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms ({} samples)",
        written as f64 / seconds as f64,
        q(0.5) * 1000.0,
        q(0.95) * 1000.0,
        q(1.0) * 1000.0,
        l.len()
    );
}

/// What the app holds now: the live tables' version, the dataset and the derived results
/// (compared before and after a frame to say what arrived in it).
fn changes(h: &Harness<'static, GridCentreApp>) -> [usize; 3] {
    h.state().loaded().map_or([0; 3], |l| {
        [l.version as usize, std::sync::Arc::as_ptr(&l.ds) as usize, std::sync::Arc::as_ptr(&l.derived) as usize]
    })
}

/// Appends `rate` events a second to a feed file for `seconds` (60 % new incidents placed where
/// existing ones are, 40 % closings of earlier new ones) while frames run; returns the frame
/// times, the write-to-screen latencies (s) of every 50th event, events written and applied.
fn live_scenario(
    h: &mut Harness<'static, GridCentreApp>,
    dir: &std::path::Path,
    rate: usize,
    seconds: usize,
    centre: (f64, f64),
    span: f64,
) -> (Vec<Duration>, Vec<f64>, u64, u64, f64) {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use gridcentre::app::live::LiveClock;
    use gridcentre_core::feed::REPLAY_HEADER;
    use gridcentre_core::source::SourceSpec;
    use gridcentre_core::timeparse::{HOUR_MS, format_ms};
    let feed = dir.join("live-feed.csv");
    let _ = std::fs::remove_file(&feed);
    let (places, latest) = {
        let l = h.state().loaded().unwrap();
        let inc = &l.ds.incidents;
        let places: Vec<(f64, f64, String)> = (0..inc.len())
            .step_by(97)
            .filter(|&i| inc.has_location(i))
            .map(|i| (inc.lon[i], inc.lat[i], inc.categories.name(inc.category[i]).to_string()))
            .collect();
        (places, l.ds.latest_time())
    };
    // The feed exists (header only) and the session is following it before the first event is
    // written: the latency measured is the sustained one, not the session's start (indexing the
    // million incidents for incremental updates), which is reported on its own.
    std::fs::write(&feed, format!("{}\n", REPLAY_HEADER.join(","))).unwrap();
    let ctx = h.ctx.clone();
    let started = Instant::now();
    // Frames while the session starts count too.
    let mut times = Vec::new();
    h.state_mut().start_live(&ctx, SourceSpec::File(feed.clone()), LiveClock::Data);
    while !matches!(h.state().live.as_ref().map(|lv| &lv.state), Some(gridcentre_core::source::SourceState::Live)) {
        assert!(started.elapsed() < Duration::from_secs(60), "the live session did not start");
        let t = Instant::now();
        let fill0 = h.ctx.fonts(|f| f.font_atlas_fill_ratio());
        let d = frame_detail(h);
        let fill1 = h.ctx.fonts(|f| f.font_atlas_fill_ratio());
        if d.wall > Duration::from_millis(16) {
            eprintln!(
                "slow frame while the session starts, {} at {:.2} s: {} (glyph atlas {fill0:.2} → {fill1:.2})",
                times.len(),
                started.elapsed().as_secs_f64(),
                d.describe()
            );
        }
        times.push(d.wall);
        std::thread::sleep(Duration::from_millis(16).saturating_sub(t.elapsed()));
    }
    let ready_s = started.elapsed().as_secs_f64();
    // Written events: (sequence number, when), for every 50th.
    let marks: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let marks_w = marks.clone();
    let total = (rate * seconds) as u64;
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().append(true).open(&feed).unwrap();
        let start = Instant::now();
        let mut n = 0u64;
        let mut new_ids = 0u64;
        while n < total {
            // Every 10 ms, the events due by then, in one write (as a case system flushes).
            let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
            let mut buf = String::new();
            while n < due {
                n += 1;
                let t = latest + n as i64 * 1000 / rate as i64;
                if n % 5 < 3 || new_ids < 10 {
                    new_ids += 1;
                    let (lon, lat, cat) = &places[(new_ids as usize * 7919) % places.len()];
                    buf.push_str(&format!(
                        "LIVE-{new_ids},{cat},网格员上报,已受理,{},{},,,{lon},{lat},,\n",
                        format_ms(t),
                        format_ms(t + 72 * HOUR_MS)
                    ));
                } else {
                    let k = 1 + (n * 31) % new_ids.saturating_sub(5).max(1);
                    let (lon, lat, cat) = &places[(k as usize * 7919) % places.len()];
                    let reported = latest + (k * 5 / 3) as i64 * 1000 / rate as i64;
                    buf.push_str(&format!(
                        "LIVE-{k},{cat},网格员上报,已办结,{},{},{},满意,{lon},{lat},,\n",
                        format_ms(reported),
                        format_ms(reported + 72 * HOUR_MS),
                        format_ms(t)
                    ));
                }
                if n.is_multiple_of(50) {
                    marks_w.lock().unwrap().push((n, Instant::now()));
                }
            }
            f.write_all(buf.as_bytes()).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(10));
        }
        n
    });
    let mut latencies = Vec::new();
    let mut next_mark = 0usize;
    let t0 = Instant::now();
    let end = Duration::from_secs(seconds as u64 + 2);
    while t0.elapsed() < end {
        let t = Instant::now();
        let f = t0.elapsed().as_secs_f64() / end.as_secs_f64() - 0.5;
        h.state_mut().set_view(centre.0 + f * span * 0.2, centre.1, 12.5);
        let before = changes(h);
        let fill0 = h.ctx.fonts(|f| f.font_atlas_fill_ratio());
        let d = frame_detail(h);
        let fill1 = h.ctx.fonts(|f| f.font_atlas_fill_ratio());
        let ft = d.wall;
        let after = changes(h);
        let arrived: Vec<&str> = ["tables", "snapshot", "derived"]
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (a, b))| a != b)
            .map(|(n, _)| *n)
            .collect();
        if ft > Duration::from_millis(16) {
            eprintln!(
                "slow live frame {} at {:.2} s (monotonic clock {:.6} s): {} (derive running: {}; arrived: {arrived:?}; glyph atlas {fill0:.2} → {fill1:.2})",
                times.len(),
                t0.elapsed().as_secs_f64(),
                monotonic_s() - ft.as_secs_f64(),
                d.describe(),
                h.state().busy()
            );
        }
        times.push(ft);
        // Events in the tables on screen now (the live session's count is what the tables hold).
        let applied = h.state().live.as_ref().map_or(0, |lv| lv.counters.events);
        let m = marks.lock().unwrap();
        while next_mark < m.len() && m[next_mark].0 <= applied {
            latencies.push(m[next_mark].1.elapsed().as_secs_f64());
            next_mark += 1;
        }
        drop(m);
        std::thread::sleep(Duration::from_millis(16).saturating_sub(t.elapsed()));
    }
    let written = writer.join().unwrap();
    let applied = h.state().live.as_ref().map_or(0, |lv| lv.counters.events);
    (times, latencies, written, applied, ready_s)
}
