//! Config compatibility and connection-setting precedence: what a YAML `collector:`
//! or `storage:` block turns into, without connecting to anything.

#![cfg(feature = "sqlite")]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use detectk_collectors_sql::settings::SqliteFile;
use detectk_collectors_sql::{ConnectionSettings, Role, SqlFactory, register};
use detectk_core::config::Params;
use detectk_core::registry::{Component, Registry};
use serde_json::json;

use common::{params, settings, try_settings};

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn env(vars: &[(&str, &str)]) -> SqlFactory {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    SqlFactory::with_env(Arc::new(map))
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn server(s: ConnectionSettings) -> detectk_collectors_sql::settings::ServerSettings {
    match s {
        ConnectionSettings::Server(s) => s,
        other => panic!("expected a server, got {other:?}"),
    }
}

#[test]
fn register_adds_sql_and_each_compiled_driver() {
    let mut r = Registry::new();
    register(&mut r);
    let mut want = vec!["sql"];
    if cfg!(feature = "mysql") {
        want.push("mysql");
    }
    if cfg!(feature = "postgres") {
        want.extend(["postgres", "postgresql"]);
    }
    if cfg!(feature = "sqlite") {
        want.push("sqlite");
    }
    want.sort();
    assert_eq!(r.names(Component::Collector), want);
    assert_eq!(r.names(Component::Storage), want);
}

#[test]
fn sqlalchemy_sqlite_urls_keep_relative_and_absolute_paths() {
    let f = SqlFactory::new();
    let rel = settings(
        &f,
        "sql",
        Role::Collector,
        &params(json!({"connection_string": "sqlite:///data/app.db"})),
    );
    let abs = settings(
        &f,
        "sql",
        Role::Collector,
        &params(json!({"connection_string": "sqlite:////var/lib/app.db"})),
    );
    let ConnectionSettings::Sqlite(rel) = rel else {
        panic!()
    };
    let ConnectionSettings::Sqlite(abs) = abs else {
        panic!()
    };
    assert_eq!(rel.file, SqliteFile::Path("data/app.db".into()));
    assert_eq!(abs.file, SqliteFile::Path("/var/lib/app.db".into()));
}

#[test]
fn python_only_keys_warn_and_unknown_keys_are_errors() {
    let f = SqlFactory::new();
    let p = params(json!({
        "connection_string": "sqlite:///x.db",
        "pool_size": 5, "max_overflow": 10, "pool_timeout": 30, "pool_recycle": 3600, "echo": false,
        "save_detections": true, "datapoints_retention_days": 90, "detections_retention_days": 30,
        "pool_sise": 3,
    }));
    let (s, report) = try_settings(&f, "sql", Role::Storage, &p);
    assert!(s.is_some());
    let warned: Vec<&str> = report.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(warned.len(), 8, "{warned:?}");
    assert!(warned.contains(&"collector.params.detections_retention_days"));
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(report.issues[0].path, "collector.params.pool_sise");
    assert_eq!(
        report.issues[0].hint.as_deref(),
        Some("did you mean `pool_size`?")
    );
}

#[test]
fn sql_without_a_connection_string_or_database_url_is_an_error() {
    let (s, report) = try_settings(
        &SqlFactory::with_env(Arc::new(HashMap::new())),
        "sql",
        Role::Collector,
        &params(json!({"host": "db"})),
    );
    assert!(s.is_none());
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(report.issues[0].path, "collector.params.connection_string");
    assert!(report.issues[0].message.contains("required"));
}

#[test]
fn unsupported_schemes_and_mismatched_types_are_errors_without_the_password() {
    let f = SqlFactory::new();
    let (_, report) = try_settings(
        &f,
        "sql",
        Role::Collector,
        &params(json!({"connection_string": "oracle://scott:tiger@h/db"})),
    );
    assert_eq!(report.issues.len(), 1);
    assert!(!report.issues[0].to_string().contains("tiger"));
    let (_, report) = try_settings(
        &f,
        "sqlite",
        Role::Collector,
        &params(json!({"connection_string": "mysql://u:tiger@h/db"})),
    );
    assert!(
        report.issues[0].message.contains("is a mysql URL"),
        "{:?}",
        report.issues
    );
    assert!(!format!("{:?}", report.issues).contains("tiger"));
}

#[test]
fn a_sqlite_collector_needs_a_file_but_a_storage_defaults_to_detectk_db() {
    let f = SqlFactory::with_env(Arc::new(HashMap::new()));
    let (s, report) = try_settings(&f, "sqlite", Role::Collector, &params(json!({})));
    assert!(s.is_none());
    assert_eq!(report.issues[0].path, "collector.params.path");
    let s = settings(&f, "sqlite", Role::Storage, &params(json!({})));
    assert_eq!(s.server(), "sqlite detectk.db");
}

#[test]
fn bad_values_are_reported_with_their_paths() {
    let f = SqlFactory::new();
    let (_, report) = try_settings(
        &f,
        "sqlite",
        Role::Storage,
        &params(json!({"timeout": -1, "max_connections": 0})),
    );
    let paths: Vec<&str> = report.issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "collector.params.max_connections",
            "collector.params.timeout"
        ],
        "{:?}",
        report.issues
    );
    let s = settings(
        &f,
        "sqlite",
        Role::Storage,
        &params(json!({"timeout": "90s"})),
    );
    assert_eq!(s.timeout(), std::time::Duration::from_secs(90));
}

#[test]
fn building_never_connects() {
    let f = SqlFactory::new();
    let p = params(json!({"path": "/nonexistent-dir/never-created.db"}));
    let s = settings(&f, "sqlite", Role::Storage, &p);
    let _storage = f.storage_for(&s);
    let _collector = f.collector_for(&settings(&f, "sqlite", Role::Collector, &p));
    assert!(!std::path::Path::new("/nonexistent-dir").exists());
}

#[test]
fn equal_settings_share_one_pool_and_roles_do_not() {
    let f = SqlFactory::new();
    let p = params(json!({"path": "shared.db"}));
    let mut registry = Registry::new();
    detectk_collectors_sql::register_with(&mut registry, Arc::new(SqlFactory::new()));
    for _ in 0..3 {
        let _ = f.collector_for(&settings(&f, "sqlite", Role::Collector, &p));
        let _ = f.storage_for(&settings(&f, "sqlite", Role::Storage, &p));
    }
    assert_eq!(f.pool_count(), 2);
    let _ = f.storage_for(&settings(
        &f,
        "sqlite",
        Role::Storage,
        &params(json!({"path": "other.db"})),
    ));
    assert_eq!(f.pool_count(), 3);
    let p2 = Params::new(&p, "storage.params");
    let built = registry.storage("sqlite").unwrap().build("sqlite", p2);
    assert!(built.is_ok());
}

#[cfg(not(feature = "postgres"))]
#[test]
fn a_driver_compiled_out_names_its_cargo_feature() {
    let f = SqlFactory::new();
    let (s, report) = try_settings(
        &f,
        "sql",
        Role::Collector,
        &params(json!({
            "connection_string": "postgresql+psycopg2://u:pw@db:5432/app", "host": "db", "password": "pw"
        })),
    );
    assert!(s.is_none());
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    let issue = &report.issues[0];
    assert!(
        issue.message.contains("postgres driver is not available"),
        "{issue}"
    );
    let hint = issue.hint.as_deref().unwrap();
    assert!(
        hint.contains("feature `postgres`") && hint.contains("this build has: sqlite"),
        "{hint}"
    );
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    #[test]
    fn params_beat_the_connection_string_which_beats_the_environment() {
        let f = env(&[
            ("PGHOST", "env-host"),
            ("PGPORT", "6000"),
            ("PGUSER", "env-user"),
            ("PGPASSWORD", "env-pw"),
            ("PGDATABASE", "env-db"),
            (
                "DATABASE_URL",
                "postgresql://url-user:url-pw@url-host:7000/url-db",
            ),
        ]);
        let s = server(settings(&f, "postgres", Role::Storage, &params(json!({}))));
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str()),
            ("env-host", 6000, "env-user")
        );
        assert_eq!(s.database.as_deref(), Some("env-db"));
        assert_eq!(s.password.as_ref().unwrap().expose(), "env-pw");

        let s = server(settings(
            &f,
            "postgresql",
            Role::Storage,
            &params(json!({
                "connection_string": "postgresql+psycopg2://dsn-user@dsn-host/dsn-db", "port": 5433
            })),
        ));
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str()),
            ("dsn-host", 5433, "dsn-user")
        );
        assert_eq!(s.database.as_deref(), Some("dsn-db"));
        assert_eq!(
            s.password.as_ref().unwrap().expose(),
            "env-pw",
            "the DSN had no password"
        );

        let empty = server(settings(
            &f,
            "postgres",
            Role::Storage,
            &params(json!({"password": ""})),
        ));
        assert!(empty.password.is_none(), "an empty password is no password");
        let empty_env = env(&[("PGPASSWORD", "")]);
        let s = server(settings(
            &empty_env,
            "postgres",
            Role::Storage,
            &params(json!({})),
        ));
        assert!(s.password.is_none(), "PGPASSWORD= is no password");

        let only_url = env(&[(
            "DATABASE_URL",
            "postgresql://url-user:url-pw@url-host:7000/url-db",
        )]);
        let s = server(settings(
            &only_url,
            "sql",
            Role::Storage,
            &params(json!({"user": "me"})),
        ));
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str()),
            ("url-host", 7000, "me")
        );
        let text = format!("{s:?} {}", ConnectionSettings::Server(s.clone()).describe());
        assert!(!text.contains("url-pw"), "{text}");
    }

    #[test]
    fn built_in_defaults_and_ssl_modes() {
        let f = env(&[]);
        let s = server(settings(
            &f,
            "postgres",
            Role::Collector,
            &params(json!({"sslmode": "REQUIRED"})),
        ));
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str()),
            ("localhost", 5432, "postgres")
        );
        assert_eq!(s.ssl_mode.as_deref(), Some("require"));
        let (_, report) = try_settings(
            &f,
            "postgres",
            Role::Collector,
            &params(json!({"sslmode": "maybe", "schema": "bad-name"})),
        );
        assert_eq!(report.issues.len(), 2, "{:?}", report.issues);
    }

    #[test]
    fn a_bad_port_in_the_environment_names_the_variable() {
        let f = env(&[("PGPORT", "fivefourthreetwo")]);
        let (_, report) = try_settings(&f, "postgres", Role::Collector, &params(json!({})));
        assert!(
            report.issues[0].message.contains("PGPORT"),
            "{:?}",
            report.issues
        );
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;

    #[test]
    fn mysql_environment_and_required_storage_database() {
        let f = env(&[
            ("MYSQL_HOST", "m"),
            ("MYSQL_PORT", "3307"),
            ("MYSQL_USER", "u"),
            ("MYSQL_PASSWORD", "p"),
        ]);
        let s = server(settings(&f, "mysql", Role::Collector, &params(json!({}))));
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str(), s.database),
            ("m", 3307, "u", None)
        );
        let (built, report) = try_settings(&f, "mysql", Role::Storage, &params(json!({})));
        assert!(built.is_none());
        assert_eq!(report.issues[0].path, "collector.params.database");
        let f = env(&[("MYSQL_DATABASE", "metrics")]);
        let s = server(settings(
            &f,
            "mysql",
            Role::Storage,
            &params(json!({"connection_string": "mysql://root@127.0.0.1"})),
        ));
        assert_eq!((s.port, s.database.as_deref()), (3306, Some("metrics")));
    }
}
