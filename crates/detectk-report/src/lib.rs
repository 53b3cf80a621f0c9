//! Reports of DetectK: see what the monitor saw.
//!
//! - [`html::render_page`]: one self-contained HTML page (inline SVG charts, no network)
//!   with a fleet summary table and, per metric, the series, each detector's band, the
//!   anomalies, the alerts sent and suppressed (with why), and missing points.
//! - [`plot::render_chart`]: one metric's chart as a PNG or SVG image, drawn with
//!   `plotters` and an embedded font (no system fonts needed).
//!
//! Data comes through the core [`detectk_core::Storage`] trait only ([`source`]); the
//! analysis ([`mod@analyze`]) replays the production alert policy to say why a flagged
//! point was not alerted on. Long series are reduced for display per pixel column
//! ([`downsample`]), keeping each column's first, last, lowest and highest point;
//! anomalies are drawn from the full list, so none is ever dropped.

pub mod analyze;
pub mod downsample;
pub mod error;
mod escape;
pub mod html;
pub mod model;
pub mod plot;
pub mod source;
pub mod svg;

pub use analyze::{AlertOutcome, AnomalyEvent, MetricView, Status, analyze};
pub use error::ReportError;
pub use model::{MetricData, MetricEntry, Period};
