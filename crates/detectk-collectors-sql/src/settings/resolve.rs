//! Turns a `type` and its params into [`ConnectionSettings`], recording every problem.

use std::path::PathBuf;
use std::time::Duration;

use detectk_core::config::Params;
use detectk_core::{HumanDuration, Secret};
use serde_json::Value;

use super::dsn::{self, Dsn};
use super::env::{self, Env, Field};
use super::{
    ConnectionSettings, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, Role,
    ServerSettings, SqliteFile, SqliteSettings,
};
use crate::Driver;

/// SQLite file used by a storage when no path is configured anywhere.
pub const DEFAULT_SQLITE_STORAGE: &str = "detectk.db";

/// Keys of Python detectk's SQL collector and storage that have no effect here.
const PYTHON_ONLY_KEYS: &[(&str, &str)] = &[
    ("pool_size", "connections are bounded by `max_connections`"),
    (
        "max_overflow",
        "connections are bounded by `max_connections`",
    ),
    (
        "pool_timeout",
        "waiting for a busy connection is bounded by `timeout`",
    ),
    ("pool_recycle", "connections are recycled automatically"),
    (
        "pool_pre_ping",
        "broken connections are replaced automatically",
    ),
    ("echo", "log queries with RUST_LOG=sqlx=debug instead"),
    (
        "connect_args",
        "use the connection params of DetectK instead",
    ),
    ("save_detections", "detections are always stored"),
    ("datapoints_retention_days", "use `storage.retention_days`"),
    ("detections_retention_days", "use `storage.retention_days`"),
    ("interval", "the interval comes from `schedule.interval`"),
];

/// Resolves the connection of a collector or storage of `type_name`
/// (`sql`, `sqlite`, `postgres`, `postgresql`, `mysql`). Problems go into `params`.
pub(crate) fn resolve(
    type_name: &str,
    role: Role,
    params: &mut Params<'_>,
    env: &dyn Env,
) -> Option<ConnectionSettings> {
    for (key, why) in PYTHON_ONLY_KEYS {
        params.ignore_with_warning(key, why);
    }
    let dsn_text: Option<String> = params.optional("connection_string");
    let max_connections: u32 = params.or("max_connections", DEFAULT_MAX_CONNECTIONS);
    params.check(max_connections >= 1, "max_connections", || {
        "must be at least 1".into()
    });
    let timeout = read_duration(params, "timeout", DEFAULT_TIMEOUT);
    let connect_timeout = read_duration(params, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);

    let Some(driver) = pick_driver(type_name, dsn_text.as_deref(), params, env) else {
        allow_connection_keys(params);
        return None;
    };
    let explicit = match &dsn_text {
        Some(text) => match dsn::parse(driver, text) {
            Ok(d) => d,
            Err(message) => {
                params.error("connection_string", message);
                allow_connection_keys(params);
                return None;
            }
        },
        None => Dsn::default(),
    };
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
    let connect_timeout = connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let from_env = env
        .var("DATABASE_URL")
        .filter(|url| dsn::driver_of(url) == Ok(driver))
        .and_then(|url| dsn::parse(driver, &url).ok())
        .unwrap_or_default();

    let settings = match driver {
        Driver::Sqlite => sqlite(role, params, &explicit, &from_env, max_connections, timeout),
        Driver::Postgres | Driver::Mysql => server(
            driver,
            role,
            params,
            env,
            &explicit,
            &from_env,
            max_connections,
            (timeout, connect_timeout),
        ),
    };
    if params.has_issues() { None } else { settings }
}

/// Marks every connection key known, so a config whose driver could not be
/// determined is not also reported as having unknown keys.
fn allow_connection_keys(params: &mut Params<'_>) {
    for key in [
        "path", "database", "host", "port", "user", "username", "password", "schema", "sslmode",
    ] {
        params.allow(key);
    }
}

/// A positive duration param (`30`, `"30s"`, `"1m"`), `default` when absent.
fn read_duration(params: &mut Params<'_>, key: &str, default: Duration) -> Option<Duration> {
    let value = match params.raw(key) {
        None => return Some(default),
        Some(v) => v.clone(),
    };
    let parsed = match &value {
        Value::Number(n) => n
            .as_f64()
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("must be a positive number of seconds, got {n}")),
        Value::String(s) => HumanDuration::parse(s).and_then(|d| match d.seconds() {
            secs if secs > 0 => Ok(Duration::from_secs(secs as u64)),
            _ => Err(format!("must be positive, got {s:?}")),
        }),
        _ => Err("expected seconds (30) or a duration (\"30s\")".into()),
    };
    match parsed {
        Ok(d) => Some(d),
        Err(message) => {
            params.error(key, message);
            None
        }
    }
}

fn pick_driver(
    type_name: &str,
    dsn_text: Option<&str>,
    params: &mut Params<'_>,
    env: &dyn Env,
) -> Option<Driver> {
    let typed = Driver::from_type(type_name);
    let from_dsn = match dsn_text.map(dsn::driver_of) {
        Some(Ok(d)) => Some(d),
        Some(Err(message)) => {
            params.error("connection_string", message);
            return None;
        }
        None => None,
    };
    let driver = match (typed, from_dsn) {
        (Some(t), Some(d)) if t != d => {
            params.error(
                "connection_string",
                format!("is a {d} URL but the type is `{type_name}`"),
            );
            return None;
        }
        (Some(t), _) => t,
        (None, Some(d)) => d,
        (None, None) => match env.var("DATABASE_URL").map(|u| dsn::driver_of(&u)) {
            Some(Ok(d)) => d,
            _ => {
                params.error_with_hint(
                    "connection_string",
                    format!("is required for type `{type_name}`"),
                    "e.g. postgresql://user@host:5432/db, mysql://user@host/db or sqlite:///data.db; or set DATABASE_URL",
                );
                return None;
            }
        },
    };
    if !driver.is_enabled() {
        params.error_with_hint(
            "connection_string",
            format!("the {driver} driver is not available in this build"),
            format!(
                "it is provided by the crate `detectk-collectors-sql` with the cargo feature `{f}` (dtk feature `{f}`); this build has: {}",
                Driver::enabled_list(),
                f = driver.feature(),
            ),
        );
        return None;
    }
    Some(driver)
}

fn sqlite(
    role: Role,
    params: &mut Params<'_>,
    explicit: &Dsn,
    from_env: &Dsn,
    max_connections: u32,
    timeout: Duration,
) -> Option<ConnectionSettings> {
    let configured: Option<String> = match params.optional::<String>("path") {
        Some(p) => Some(p),
        None => params.optional("database"),
    };
    for (key, _) in &explicit.query {
        params.warn(
            "connection_string",
            format!("query parameter `{key}` is ignored for SQLite"),
        );
    }
    let file = configured
        .map(|p| SqliteFile::Path(PathBuf::from(p)))
        .or_else(|| explicit.sqlite.clone())
        .or_else(|| from_env.sqlite.clone());
    let file = match (file, role) {
        (Some(f), _) => f,
        (None, Role::Storage) => SqliteFile::Path(PathBuf::from(DEFAULT_SQLITE_STORAGE)),
        (None, Role::Collector) => {
            params.error_with_hint(
                "path",
                "a SQLite collector needs the database file",
                "set `path: data.db` or `connection_string: sqlite:///data.db`",
            );
            return None;
        }
    };
    Some(ConnectionSettings::Sqlite(SqliteSettings {
        file,
        role,
        max_connections,
        timeout,
    }))
}

#[allow(clippy::too_many_arguments)]
fn server(
    driver: Driver,
    role: Role,
    params: &mut Params<'_>,
    env: &dyn Env,
    explicit: &Dsn,
    from_env: &Dsn,
    max_connections: u32,
    (timeout, connect_timeout): (Duration, Duration),
) -> Option<ConnectionSettings> {
    let host = params
        .optional::<String>("host")
        .or_else(|| explicit.host.clone())
        .or_else(|| env::lookup(env, driver, Field::Host).map(|(_, v)| v))
        .or_else(|| from_env.host.clone())
        .unwrap_or_else(|| "localhost".into());
    params.check(!host.trim().is_empty(), "host", || {
        "must not be empty".into()
    });

    let port = match params.optional::<u16>("port").or(explicit.port) {
        Some(p) => p,
        None => match env::lookup(env, driver, Field::Port) {
            Some((name, v)) => match v.trim().parse::<u16>() {
                Ok(p) => p,
                Err(_) => {
                    params.error(
                        "port",
                        format!("environment variable {name} is not a port: {v:?}"),
                    );
                    return None;
                }
            },
            None => from_env.port.unwrap_or(driver.default_port()),
        },
    };

    let user = match params.optional::<String>("user") {
        Some(u) => Some(u),
        None => params.optional::<String>("username"),
    }
    .or_else(|| explicit.user.clone())
    .or_else(|| env::lookup(env, driver, Field::User).map(|(_, v)| v))
    .or_else(|| from_env.user.clone())
    .unwrap_or_else(|| match driver {
        Driver::Mysql => "root".into(),
        _ => "postgres".into(),
    });

    // The first layer that sets a password decides; an empty one means "no password"
    // (`password: "${MYSQL_PASSWORD:-}"` with the variable unset), which a server
    // without a password requires: sending an empty one is refused.
    let password: Option<Secret> = params
        .optional::<Secret>("password")
        .or_else(|| explicit.password.clone())
        .or_else(|| env::lookup(env, driver, Field::Password).map(|(_, v)| Secret::new(v)))
        .or_else(|| from_env.password.clone())
        .filter(|p| !p.expose().is_empty());

    let database = params
        .optional::<String>("database")
        .or_else(|| explicit.database.clone())
        .or_else(|| env::lookup(env, driver, Field::Database).map(|(_, v)| v))
        .or_else(|| from_env.database.clone());
    if driver == Driver::Mysql && role == Role::Storage && database.is_none() {
        params.error_with_hint(
            "database",
            "a MySQL/MariaDB storage needs a database for its dtk_* tables",
            "set `database`, a database in `connection_string`, or MYSQL_DATABASE",
        );
    }

    let schema = match driver {
        Driver::Postgres => params.optional::<String>("schema"),
        _ => None,
    };
    if let Some(s) = &schema {
        params.check(is_identifier(s), "schema", || {
            format!("must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got {s:?}")
        });
    }

    let mut ssl_mode = params.optional::<String>("sslmode");
    let mut connect_timeout = connect_timeout;
    let explicit_timeout = params.map().contains_key("connect_timeout");
    for (key, value) in &explicit.query {
        match key.as_str() {
            "sslmode" | "ssl-mode" | "ssl_mode" if ssl_mode.is_none() => {
                ssl_mode = Some(value.clone())
            }
            "connect_timeout" if !explicit_timeout => match value.parse::<u64>() {
                Ok(secs) if secs > 0 => connect_timeout = Duration::from_secs(secs),
                _ => params.error(
                    "connection_string",
                    format!(
                        "query parameter connect_timeout is not a number of seconds: {value:?}"
                    ),
                ),
            },
            other => params.warn(
                "connection_string",
                format!("query parameter `{other}` is ignored"),
            ),
        }
    }
    let ssl_mode = match ssl_mode.map(|m| normalize_ssl_mode(&m)) {
        Some(Ok(m)) => Some(m),
        Some(Err(message)) => {
            params.error("sslmode", message);
            None
        }
        None => None,
    };

    Some(ConnectionSettings::Server(ServerSettings {
        driver,
        host,
        port,
        database,
        user,
        password,
        schema,
        ssl_mode,
        max_connections,
        timeout,
        connect_timeout,
    }))
}

/// Accepts PostgreSQL (`require`) and MySQL (`REQUIRED`) spellings; returns the PostgreSQL one.
fn normalize_ssl_mode(mode: &str) -> Result<String, String> {
    let m = mode.to_ascii_lowercase().replace('_', "-");
    let canonical = match m.as_str() {
        "disable" | "disabled" => "disable",
        "allow" | "prefer" | "preferred" => "prefer",
        "require" | "required" => "require",
        "verify-ca" => "verify-ca",
        "verify-full" | "verify-identity" => "verify-full",
        _ => {
            return Err(format!(
                "unknown TLS mode {mode:?}; expected disable, prefer, require, verify-ca or verify-full"
            ));
        }
    };
    Ok(canonical.into())
}

/// `[A-Za-z_][A-Za-z0-9_]*`: safe to put into SQL unquoted.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}
