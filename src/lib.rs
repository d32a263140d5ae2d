//! gridcentre: the dashboard (egui/eframe, walkers) and the headless command line, both on the
//! same core (`gridcentre-core`).

pub mod app;
pub mod cli;

/// `0.1.0 (rev abcdef1234, built 2026-11-22)`
pub const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (rev ", env!("GRIDCENTRE_GIT_REV"), ", built ", env!("GRIDCENTRE_BUILD_DATE"), ")");
