//! Exports from the window: tables (CSV, XLSX), charts (PNG, SVG), the map view (PNG) and the
//! report bundle. The save dialog (rfd) and the writing run on their own threads; every file is
//! written atomically by the core's writers, and every outcome, failures included, comes back
//! to the status line.
//!
//! Overwriting: rfd's save dialogs ask before replacing a file (GTK's overwrite confirmation,
//! the portal's own, zenity's `--confirm-overwrite`); a report goes into a folder, and a folder
//! that already has files is only written after the user says so in the app's own dialog.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

use gridcentre_core::bundle::{self, ReportSpec};
use gridcentre_core::charts::{self, Chart};
use gridcentre_core::export::{TableFormat, write_atomic, write_table};
use gridcentre_core::pipeline::Dataset;
use gridcentre_core::stats::StatsTable;

/// Something to write.
pub enum Job {
    Table(Box<StatsTable>, TableFormat),
    ChartPng(Box<Chart>),
    ChartSvg(Box<Chart>),
    /// The map view: RGBA pixels.
    MapPng {
        rgba: Vec<u8>,
        width: u32,
        height: u32,
    },
    Report {
        ds: Arc<Dataset>,
        spec: Box<ReportSpec>,
        overwrite: bool,
    },
}

impl Job {
    fn what(&self) -> &'static str {
        match self {
            Job::Table(_, TableFormat::Xlsx) => "Excel",
            Job::Table(..) => "CSV",
            Job::ChartPng(_) | Job::MapPng { .. } => "PNG",
            Job::ChartSvg(_) => "SVG",
            Job::Report { .. } => "report",
        }
    }
}

/// Writes a job to `path` (a folder for a report). Returns what was written.
pub fn run(job: Job, path: &Path) -> Result<String, String> {
    let e = |e: gridcentre_core::CoreError| e.to_string();
    match job {
        Job::Table(t, format) => write_table(&t, format, path).map_err(e)?,
        Job::ChartPng(c) => write_atomic(path, &charts::png(&c, charts::WIDTH, charts::HEIGHT).map_err(e)?).map_err(e)?,
        Job::ChartSvg(c) => {
            write_atomic(path, charts::svg(&c, charts::WIDTH, charts::HEIGHT).map_err(e)?.as_bytes()).map_err(e)?
        }
        Job::MapPng { rgba, width, height } => {
            let png = charts::encode_png(&rgba, width, height, true).map_err(e)?;
            write_atomic(path, &png).map_err(e)?
        }
        Job::Report { ds, spec, overwrite } => {
            let files = bundle::write(&ds, &spec, path, overwrite).map_err(e)?;
            return Ok(format!("{} ({} files)", path.display(), files.len()));
        }
    }
    Ok(path.display().to_string())
}

/// Where a dialog's answer goes.
pub enum Picked {
    /// Write this job there.
    Write(Job, PathBuf),
    /// A map screenshot is wanted for this path.
    Map(PathBuf),
}

/// A job waiting for its path, or the map waiting for its screenshot.
pub enum Pending {
    Job(Job),
    Map,
}

/// What a save dialog thread sends back: what was being saved, the path chosen (none when
/// cancelled or when no dialog could open), how long the dialog was up, the proposed name.
type DialogAnswer = (Pending, Option<PathBuf>, std::time::Duration, String);

/// The export threads and their outcomes.
pub struct Exports {
    dialog: Option<Receiver<DialogAnswer>>,
    /// No native dialog could be shown (no portal, no zenity: common on intranet desktops):
    /// the path is typed in the app instead — what is being saved, and the path as typed.
    pub manual: Option<(Pending, String)>,
    done_tx: Sender<Result<String, String>>,
    done_rx: Receiver<Result<String, String>>,
    /// Writes in flight (on export threads, or waiting for a screenshot).
    running: Arc<AtomicUsize>,
    /// A report folder that has files: asked before writing.
    pub confirm: Option<(Job, PathBuf)>,
}

impl Default for Exports {
    fn default() -> Self {
        let (done_tx, done_rx) = channel();
        Self { dialog: None, done_tx, done_rx, running: Arc::default(), confirm: None, manual: None }
    }
}

impl Exports {
    /// Something is being asked or written.
    pub fn busy(&self) -> bool {
        self.dialog.is_some() || self.confirm.is_some() || self.manual.is_some() || self.running.load(Ordering::SeqCst) > 0
    }

    /// Opens a save dialog (a folder picker for a report) on its own thread.
    pub fn ask(&mut self, pending: Pending, file_name: String, filters: &[(&str, &[&str])], ctx: &egui::Context) {
        if self.dialog.is_some() {
            return;
        }
        let (tx, rx) = channel();
        let folder = matches!(pending, Pending::Job(Job::Report { .. }));
        let filters: Vec<(String, Vec<String>)> =
            filters.iter().map(|(n, e)| (n.to_string(), e.iter().map(|x| x.to_string()).collect())).collect();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new().name("gridcentre-save-dialog".into()).spawn(move || {
            let mut d = rfd::FileDialog::new().set_file_name(&file_name);
            for (n, e) in &filters {
                d = d.add_filter(n, e);
            }
            let asked = std::time::Instant::now();
            let path = if folder { d.set_title(file_name.as_str()).pick_folder() } else { d.save_file() };
            let _ = tx.send((pending, path, asked.elapsed(), file_name));
            ctx.request_repaint();
        });
        if spawned.is_ok() {
            self.dialog = Some(rx);
        }
    }

    /// A path chosen (by a dialog or a test): writes, or asks first when a report folder has files.
    pub fn start(&mut self, job: Job, path: PathBuf, ctx: &egui::Context) {
        if let Job::Report { overwrite: false, .. } = &job
            && path.read_dir().is_ok_and(|mut d| d.next().is_some())
        {
            self.confirm = Some((job, path));
            return;
        }
        let write = self.starter(ctx);
        let spawned = std::thread::Builder::new().name("gridcentre-export".into()).spawn(move || write(job, path));
        if let Err(e) = spawned {
            self.running.fetch_sub(1, Ordering::SeqCst);
            let _ = self.done_tx.send(Err(e.to_string()));
        }
    }

    /// A function that writes a job from another thread (the screenshot callback) and reports
    /// back like [`Self::start`].
    pub fn starter(&self, ctx: &egui::Context) -> impl FnOnce(Job, PathBuf) + Send + 'static {
        let tx = self.done_tx.clone();
        let ctx = ctx.clone();
        let running = self.running.clone();
        running.fetch_add(1, Ordering::SeqCst);
        move |job, path| {
            let what = job.what();
            let r = run(job, &path).map(|p| format!("{what}: {p}")).map_err(|e| format!("{what}: {e}"));
            let _ = tx.send(r);
            running.fetch_sub(1, Ordering::SeqCst);
            ctx.request_repaint();
        }
    }

    /// Dialog answers (a job to start or a screenshot to take) and finished writes.
    pub fn poll(&mut self) -> (Option<Picked>, Vec<Result<String, String>>) {
        let mut picked = None;
        if let Some(rx) = &self.dialog
            && let Ok((pending, path, took, name)) = rx.try_recv()
        {
            self.dialog = None;
            picked = match (pending, path) {
                (Pending::Job(job), Some(p)) => Some(Picked::Write(job, p)),
                (Pending::Map, Some(p)) => Some(Picked::Map(p)),
                // Nobody cancels a dialog in a quarter of a second: none could be opened.
                (pending, None) if took < std::time::Duration::from_millis(250) => {
                    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
                    self.manual = Some((pending, home.join(name).display().to_string()));
                    None
                }
                (_, None) => None,
            };
        }
        let done: Vec<_> = self.done_rx.try_iter().collect();
        (picked, done)
    }
}

/// What typing `path` in the app's own save box would replace: a file, or the files of a folder.
pub fn would_replace(path: &Path) -> bool {
    if path.is_dir() { path.read_dir().is_ok_and(|mut d| d.next().is_some()) } else { path.exists() }
}

/// The part of a screenshot inside `rect` (points), as RGBA rows.
pub fn crop(image: &egui::ColorImage, rect: egui::Rect, pixels_per_point: f32) -> (Vec<u8>, u32, u32) {
    let [w, h] = image.size;
    let x0 = ((rect.min.x * pixels_per_point).round().max(0.0) as usize).min(w);
    let y0 = ((rect.min.y * pixels_per_point).round().max(0.0) as usize).min(h);
    let x1 = ((rect.max.x * pixels_per_point).round().max(0.0) as usize).clamp(x0, w);
    let y1 = ((rect.max.y * pixels_per_point).round().max(0.0) as usize).clamp(y0, h);
    let mut out = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for y in y0..y1 {
        for p in &image.pixels[y * w + x0..y * w + x1] {
            out.extend_from_slice(&p.to_srgba_unmultiplied());
        }
    }
    (out, (x1 - x0) as u32, (y1 - y0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_takes_the_rectangle_in_pixels() {
        let mut img = egui::ColorImage::filled([10, 8], egui::Color32::WHITE);
        img.pixels[3 * 10 + 4] = egui::Color32::RED;
        let (rgba, w, h) = crop(&img, egui::Rect::from_min_max(egui::pos2(1.0, 1.0), egui::pos2(3.0, 3.0)), 2.0);
        assert_eq!((w, h), (4, 4));
        // Pixel (4, 3) of the image is (2, 1) of the crop, which starts at pixel (2, 2).
        let i = (4 + 2) * 4;
        assert_eq!(&rgba[i..i + 4], &[255, 0, 0, 255]);
        assert_eq!(&rgba[0..4], &[255, 255, 255, 255]);
        // Out of the image: clamped, never a panic.
        let (_, w, h) = crop(&img, egui::Rect::from_min_max(egui::pos2(-5.0, -5.0), egui::pos2(50.0, 50.0)), 1.0);
        assert_eq!((w, h), (10, 8));
    }
}
