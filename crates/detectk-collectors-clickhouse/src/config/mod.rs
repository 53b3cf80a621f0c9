//! Connection settings: read from params, a `connection_string`, the environment and defaults.
//!
//! Precedence for every setting: explicit params (the profile is already merged into
//! them by the core) > `connection_string` > `CLICKHOUSE_*` environment variables >
//! built-in defaults. Python detectk spoke the native protocol on 9000/9440; we speak
//! HTTP, so those ports are taken as 8123/8443 with a warning.

use std::fmt;
use std::time::Duration;

use detectk_core::Secret;
use detectk_core::config::{FromParam, Params};

use dsn::{Layer, parse_connection_string};

mod dsn;

/// Default HTTP port.
pub const HTTP_PORT: u16 = 8123;
/// Default HTTPS port.
pub const HTTPS_PORT: u16 = 8443;
/// Native-protocol port Python detectk used.
const NATIVE_PORT: u16 = 9000;
/// Secure native-protocol port.
const NATIVE_SECURE_PORT: u16 = 9440;
/// Default time limit of one operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time limit of opening a connection (param `connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keys of Python detectk that are accepted but have no effect here, with the reason.
const IGNORED_KEYS: &[(&str, &str)] = &[
    (
        "settings",
        "per-query ClickHouse settings are not passed through; set them in the query with SETTINGS",
    ),
    ("compression", "the HTTP client decides compression itself"),
    (
        "save_detections",
        "detections are always stored when storage is enabled",
    ),
    (
        "datapoints_retention_days",
        "use storage.retention_days instead",
    ),
    (
        "pool_size",
        "connections are pooled per server automatically",
    ),
    (
        "max_overflow",
        "connections are pooled per server automatically",
    ),
    ("client_name", "the HTTP client identifies itself"),
    ("send_receive_timeout", "`timeout` bounds every operation"),
    ("sync_request_timeout", "`timeout` bounds every operation"),
];

/// Where a ClickHouse server is and how to log in.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Host name or IP address.
    pub host: String,
    /// HTTP(S) port.
    pub port: u16,
    /// Use HTTPS.
    pub secure: bool,
    /// Database for unqualified names (collector) or for the `dtk_*` tables (storage).
    pub database: String,
    /// User name.
    pub user: String,
    /// Password (never printed).
    pub password: Secret,
    /// Time limit of one operation.
    pub timeout: Duration,
    /// Time limit of opening a TCP connection to the server (checked before the first request).
    pub connect_timeout: Duration,
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("secure", &self.secure)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: HTTP_PORT,
            secure: false,
            database: "default".into(),
            user: "default".into(),
            password: Secret::default(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl ConnectionConfig {
    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The HTTP(S) base URL (no credentials: the client sends them in headers).
    pub fn url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}", self.server())
    }

    /// Reads the settings from `params`, the process environment and defaults.
    ///
    /// Problems and warnings are recorded in `params`; returns `None` when a
    /// setting is invalid.
    pub fn from_params(params: &mut Params<'_>) -> Option<Self> {
        Self::from_params_with_env(params, |name| std::env::var(name).ok())
    }

    /// Like [`ConnectionConfig::from_params`] with an explicit environment lookup.
    pub fn from_params_with_env(
        params: &mut Params<'_>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Option<Self> {
        for (key, why) in IGNORED_KEYS {
            params.ignore_with_warning(key, why);
        }
        let mut r = Reader { params, ok: true };

        // Lowest explicit layer: the connection string, overridden by single keys.
        let mut layer = Layer::default();
        if let Some(dsn) = r.get::<Secret>("connection_string") {
            match parse_connection_string(dsn.expose()) {
                Ok(from_dsn) => layer = from_dsn,
                Err(message) => r.error("connection_string", message),
            }
        }
        if let Some(host) = r.get::<String>("host") {
            if host.trim().is_empty() {
                r.error("host", "must not be empty".into());
            }
            layer.host = Some(host);
        }
        layer.port = r.get("port").or(layer.port);
        layer.secure = r.get("secure").or(layer.secure);
        layer.database = r.get("database").or(layer.database);
        layer.user = r.get("user").or(layer.user);
        layer.password = r.get("password").or(layer.password);
        let timeout = read_timeout(&mut r, "timeout");
        let connect_timeout = read_timeout(&mut r, "connect_timeout");

        let defaults = ConnectionConfig::default();
        let secure = layer.secure.unwrap_or(false);
        let port = match layer.port {
            Some(port) => Some(port),
            None => env("CLICKHOUSE_PORT").and_then(|text| match text.trim().parse::<u16>() {
                Ok(port) => Some(port),
                Err(_) => {
                    r.error(
                        "port",
                        format!(
                            "environment variable CLICKHOUSE_PORT is not a port number: {text:?}"
                        ),
                    );
                    None
                }
            }),
        };
        let (port, secure) = http_port(port, secure, &mut r);
        let config = ConnectionConfig {
            host: layer
                .host
                .or_else(|| env("CLICKHOUSE_HOST"))
                .unwrap_or(defaults.host),
            port,
            secure,
            database: layer
                .database
                .or_else(|| env("CLICKHOUSE_DATABASE"))
                .unwrap_or(defaults.database),
            user: layer
                .user
                .or_else(|| env("CLICKHOUSE_USER"))
                .unwrap_or(defaults.user),
            password: layer
                .password
                .or_else(|| env("CLICKHOUSE_PASSWORD").map(Secret::new))
                .unwrap_or_default(),
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            connect_timeout: connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        };
        if config.database.is_empty() {
            r.error("database", "must not be empty".into());
        }
        r.ok.then_some(config)
    }
}

/// Reads params and remembers whether any of them was wrong.
struct Reader<'p, 'a> {
    params: &'p mut Params<'a>,
    ok: bool,
}

impl Reader<'_, '_> {
    /// An optional value; a value of the wrong type is recorded and gives `None`.
    fn get<T: FromParam>(&mut self, key: &str) -> Option<T> {
        let present = self.params.map().get(key).is_some_and(|v| !v.is_null());
        let value = self.params.optional(key);
        if present && value.is_none() {
            self.ok = false;
        }
        value
    }

    fn error(&mut self, key: &str, message: String) {
        self.ok = false;
        self.params.error(key, message);
    }
}

/// The HTTP port to use, and whether HTTPS is used: native-protocol ports of Python
/// detectk (9000, 9440) become the HTTP(S) ports, with a warning.
fn http_port(port: Option<u16>, secure: bool, r: &mut Reader<'_, '_>) -> (u16, bool) {
    match port {
        Some(0) => {
            r.error("port", "must be between 1 and 65535".into());
            (0, secure)
        }
        Some(NATIVE_PORT) => {
            let http = if secure { HTTPS_PORT } else { HTTP_PORT };
            r.params.warn(
                "port",
                format!(
                    "port {NATIVE_PORT} is ClickHouse's native protocol; DetectK speaks HTTP, so port {http} is used instead"
                ),
            );
            (http, secure)
        }
        Some(NATIVE_SECURE_PORT) => {
            r.params.warn(
                "port",
                format!(
                    "port {NATIVE_SECURE_PORT} is ClickHouse's secure native protocol; DetectK speaks HTTPS, so port {HTTPS_PORT} is used instead"
                ),
            );
            (HTTPS_PORT, true)
        }
        Some(port) => (port, secure),
        None if secure => (HTTPS_PORT, true),
        None => (HTTP_PORT, false),
    }
}

/// A positive duration param (`30`, `"30s"`) named `key`.
fn read_timeout(r: &mut Reader<'_, '_>, key: &str) -> Option<Duration> {
    let raw = r.params.raw(key)?;
    let seconds = match raw {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => match detectk_core::HumanDuration::parse(s) {
            Ok(d) if d.seconds() > 0 => return Some(Duration::from_secs(d.seconds() as u64)),
            Ok(_) => None,
            Err(message) => {
                r.error(key, message);
                return None;
            }
        },
        _ => None,
    };
    match seconds {
        Some(s) if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
        _ => {
            r.error(
                key,
                "expected a positive number of seconds or a duration such as \"30s\"".into(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    fn read(
        v: Value,
        env: &[(&str, &str)],
    ) -> (Option<ConnectionConfig>, Vec<String>, Vec<String>) {
        let map: Map<String, Value> = v.as_object().unwrap().clone();
        let mut p = Params::new(&map, "collector.params");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cfg = ConnectionConfig::from_params_with_env(&mut p, |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        });
        let report = p.finish();
        (
            cfg,
            report.issues.iter().map(|i| i.to_string()).collect(),
            report.warnings.iter().map(|i| i.to_string()).collect(),
        )
    }

    #[test]
    fn defaults_without_anything() {
        let (cfg, issues, warnings) = read(json!({}), &[]);
        assert!(issues.is_empty() && warnings.is_empty());
        let cfg = cfg.unwrap();
        assert_eq!(cfg.url(), "http://localhost:8123");
        assert_eq!(
            (cfg.database.as_str(), cfg.user.as_str()),
            ("default", "default")
        );
        assert!(cfg.password.is_empty());
        assert_eq!(cfg.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn explicit_params_beat_environment() {
        let env = [
            ("CLICKHOUSE_HOST", "envhost"),
            ("CLICKHOUSE_PORT", "18123"),
            ("CLICKHOUSE_USER", "envuser"),
            ("CLICKHOUSE_PASSWORD", "envpw"),
            ("CLICKHOUSE_DATABASE", "envdb"),
        ];
        let (cfg, ..) = read(json!({"host": "h", "user": "u"}), &env);
        let cfg = cfg.unwrap();
        assert_eq!(cfg.host, "h");
        assert_eq!(cfg.user, "u");
        assert_eq!(cfg.port, 18123);
        assert_eq!(cfg.database, "envdb");
        assert_eq!(cfg.password.expose(), "envpw");
    }

    #[test]
    fn native_ports_become_http_with_a_warning() {
        let (cfg, issues, warnings) = read(json!({"port": 9000}), &[]);
        assert!(issues.is_empty());
        assert_eq!(cfg.unwrap().port, 8123);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0]
                .starts_with("collector.params.port: port 9000 is ClickHouse's native protocol"),
            "{warnings:?}"
        );
        assert!(warnings[0].contains("8123"));

        let (cfg, _, warnings) = read(json!({"port": 9440}), &[]);
        let cfg = cfg.unwrap();
        assert_eq!((cfg.port, cfg.secure), (8443, true));
        assert!(warnings[0].contains("8443"));

        let (cfg, _, warnings) = read(json!({"port": 9000, "secure": true}), &[]);
        assert_eq!(cfg.unwrap().url(), "https://localhost:8443");
        assert!(warnings[0].contains("8443"));

        let (cfg, _, warnings) = read(json!({}), &[("CLICKHOUSE_PORT", "9000")]);
        assert_eq!(cfg.unwrap().port, 8123);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn secure_defaults_to_8443() {
        let (cfg, ..) = read(json!({"secure": true, "host": "ch.example.com"}), &[]);
        assert_eq!(cfg.unwrap().url(), "https://ch.example.com:8443");
    }

    #[test]
    fn connection_string_is_parsed_and_keys_override_it() {
        let (cfg, issues, warnings) = read(
            json!({"connection_string": "clickhouse://bob:p%40ss@db.local:9000/analytics", "database": "other"}),
            &[("CLICKHOUSE_HOST", "ignored")],
        );
        assert!(issues.is_empty(), "{issues:?}");
        let cfg = cfg.unwrap();
        assert_eq!(cfg.host, "db.local");
        assert_eq!(cfg.port, 8123);
        assert_eq!(cfg.user, "bob");
        assert_eq!(cfg.password.expose(), "p@ss");
        assert_eq!(cfg.database, "other");
        assert_eq!(warnings.len(), 1, "{warnings:?}");

        let (cfg, ..) = read(json!({"connection_string": "clickhouses://h/db"}), &[]);
        assert_eq!(cfg.unwrap().url(), "https://h:8443");
    }

    #[test]
    fn bad_connection_string_does_not_echo_the_password() {
        let (cfg, issues, _) = read(
            json!({"connection_string": "postgres://u:topsecret@h/db"}),
            &[],
        );
        assert!(cfg.is_none());
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0].contains("unsupported scheme `postgres`"),
            "{issues:?}"
        );
        assert!(!issues[0].contains("topsecret"));
    }

    #[test]
    fn python_keys_warn_and_unknown_keys_fail() {
        let (cfg, issues, warnings) = read(
            json!({"settings": {"max_threads": 2}, "compression": true, "save_detections": true,
                   "datapoints_retention_days": 30, "hots": "x"}),
            &[],
        );
        assert!(cfg.is_some());
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert_eq!(
            issues,
            vec!["collector.params.hots: unknown key".to_string()]
        );
    }

    #[test]
    fn timeout_accepts_seconds_and_durations() {
        let (cfg, ..) = read(json!({"timeout": 5}), &[]);
        assert_eq!(cfg.unwrap().timeout, Duration::from_secs(5));
        let (cfg, ..) = read(json!({"timeout": "2m"}), &[]);
        assert_eq!(cfg.unwrap().timeout, Duration::from_secs(120));
        let (cfg, issues, _) = read(json!({"timeout": -1}), &[]);
        assert!(cfg.is_none());
        assert!(issues[0].starts_with("collector.params.timeout:"));
    }

    #[test]
    fn own_problems_decide_the_result_not_earlier_ones() {
        let map = json!({"port": "x"}).as_object().unwrap().clone();
        let mut p = Params::new(&map, "collector.params");
        p.error("query", "earlier problem found by the caller");
        assert!(ConnectionConfig::from_params_with_env(&mut p, |_| None).is_none());

        let map = json!({"port": 8124}).as_object().unwrap().clone();
        let mut p = Params::new(&map, "collector.params");
        p.error("query", "earlier problem found by the caller");
        let cfg = ConnectionConfig::from_params_with_env(&mut p, |_| None).unwrap();
        assert_eq!(cfg.port, 8124);
    }

    #[test]
    fn debug_hides_the_password() {
        let (cfg, ..) = read(json!({"password": "hunter2"}), &[]);
        let text = format!("{:?}", cfg.unwrap());
        assert!(!text.contains("hunter2"), "{text}");
    }
}
