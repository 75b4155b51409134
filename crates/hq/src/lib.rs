//! HQ: what the national mine action centre reads from the merged dataset. A backend keeps the
//! [`read_model::HqReadModel`] contract (statistics, totals, the map and exports from its materialized tables);
//! the definitions of those figures, the data-quality report and the dashboard's static files live here.
//!
//! **Architecture invariant:** nothing here knows HTTP or SQL; the server's HTTP adapter serves it.

pub mod dashboard;
pub mod export;
pub mod history;
pub mod map;
pub mod quality;
pub mod read_model;
pub mod statistics;
#[cfg(feature = "testing")]
pub mod testing;

pub use read_model::HqReadModel;
