//! Chinese by default, English on request: every label goes through [`Lang::t`] (the core's, so
//! exported charts and reports speak the same language as the window).

pub use gridcentre_core::lang::Lang;
