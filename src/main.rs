//! Launches gridcentre: the dashboard with no subcommand, or a headless command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    gridcentre::app::worker::tune_allocator();
    let cli = gridcentre::cli::Cli::parse();
    gridcentre::cli::init_logging(cli.verbose);
    gridcentre::cli::run(cli)
}
