//! Readers for every input the centres receive. Each returns what it could use and a
//! [`crate::report::LoadReport`] of what it could not, row by row or feature by feature.

mod csvsplit;
pub mod grids;
pub mod incidents;
pub mod text;

pub use grids::{GridOptions, load_grids};
pub use incidents::{IncidentOptions, load_incidents};
