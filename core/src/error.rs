//! Errors that stop an input from being used at all. Row- and feature-level problems are not
//! errors: they go into the [`crate::report::LoadReport`] and loading carries on.

use std::path::PathBuf;

/// A failure that makes a whole input (or an output) unusable.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: unsupported file type (expected {expected})")]
    UnsupportedFormat { path: PathBuf, expected: &'static str },
    #[error("{path}: not valid GeoJSON: {message}")]
    GeoJson { path: PathBuf, message: String },
    #[error("{path}: not a readable shapefile: {message}")]
    Shapefile { path: PathBuf, message: String },
    #[error("{path}: cannot parse as {format}: {message}")]
    Table { path: PathBuf, format: &'static str, message: String },
    #[error("{path}: text is neither UTF-8 nor GBK/GB18030 (first bad byte at offset {offset})")]
    Encoding { path: PathBuf, offset: usize },
    #[error("{path}: no column for {field}; columns are: {columns}. Name it with --map {field}=COLUMN")]
    MissingColumn { path: PathBuf, field: &'static str, columns: String },
    #[error("{path}: the mapping names column '{column}' for {field}, but there is no such column; columns are: {columns}")]
    MappedColumnAbsent { path: PathBuf, field: String, column: String, columns: String },
    #[error("{path}: no property for the grid code; properties are: {properties}. Name it with --grid-field code=PROPERTY")]
    MissingGridCode { path: PathBuf, properties: String },
    #[error("{path}: no usable grid (all {read} features rejected)")]
    NoGrids { path: PathBuf, read: usize },
    #[error("invalid option: {0}")]
    Invalid(String),
    #[error("{path}: cannot write: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{source_label}: {message}")]
    Database { source_label: String, message: String },
    #[error("statistics engine: {0}")]
    Polars(String),
}

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
    pub fn write(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        Self::Write { path: path.into(), message: message.to_string() }
    }
}

impl From<polars::error::PolarsError> for CoreError {
    fn from(e: polars::error::PolarsError) -> Self {
        Self::Polars(e.to_string())
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
