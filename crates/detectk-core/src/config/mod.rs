//! The metric config: model, loader, params reader, env substitution, profiles, and
//! where relative file locations resolve.

mod discover;
mod env;
mod load;
mod model;
mod params;
pub mod paths;
mod profiles;
mod project;
pub mod template;

pub use discover::{LoadedConfigs, find_config_files, load_configs};
pub use env::substitute_env;
pub use load::{
    COLLECTOR_CORE_KEYS, EnvLookup, LOCAL_STATE_FILE, LoadOptions, LoadedConfig,
    MAX_DETECTOR_ID_LEN, MAX_METRIC_NAME_LEN, PartialConfig, STATE_PROFILE, load_file,
    load_file_partial, local_to_utc, parse_config, parse_config_partial, parse_time,
};
pub use model::{
    AlerterConfig, CollectorConfig, DetectorConfig, MetricConfig, ParamMap, ScheduleConfig,
    StorageConfig,
};
pub use params::{FromParam, Params, ParamsReport, did_you_mean};
pub use profiles::{Profile, Profiles};
pub use project::{AlertingDefaults, ProjectDefaults};
