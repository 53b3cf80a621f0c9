//! The metric config: model, loader, params reader, env substitution, profiles, and
//! where relative file locations resolve.

mod alignment;
mod discover;
mod env;
mod load;
mod model;
mod params;
pub(crate) mod paths;
mod profiles;
mod project;
pub(crate) mod template;

pub use alignment::{Aggregation, TimestampAlignment};
pub use discover::{LoadedConfigs, find_config_files, load_configs};
pub use env::substitute_env;
pub(crate) use load::PYTHON_ONLY_COLLECTORS;
pub use load::{
    COLLECTOR_CORE_KEYS, EnvLookup, LOCAL_STATE_FILE, LoadOptions, LoadedConfig,
    MAX_DETECTOR_ID_LEN, MAX_METRIC_NAME_LEN, PartialConfig, STATE_PROFILE, check_heartbeat_url,
    load_file, load_file_partial, local_to_utc, parse_config, parse_config_partial, parse_time,
};
pub use model::{
    AlerterConfig, CollectorConfig, DetectorConfig, MetricConfig, ParamMap, ScheduleConfig,
    StorageConfig,
};
pub(crate) use params::did_you_mean;
pub use params::{FromParam, Params, ParamsReport};
pub use paths::{PROJECT_MARKER, PROJECT_PROFILES, find_project_root};
pub use profiles::{Profile, Profiles};
pub use project::{AlertingDefaults, OnErrorChannel, ProjectDefaults};
