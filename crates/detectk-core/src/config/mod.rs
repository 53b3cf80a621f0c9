//! The metric config: model, loader, params reader, env substitution, profiles.

mod params;

pub use params::{FromParam, Params, ParamsReport, did_you_mean};
