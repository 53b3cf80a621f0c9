//! SQLAlchemy-style connection strings: `postgresql+psycopg2://user:pw@host:5432/db`,
//! `mysql+pymysql://...`, `sqlite:///relative.db`, `sqlite:////absolute.db`.

use std::path::PathBuf;

use detectk_core::Secret;

use crate::Driver;

/// Where a SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SqliteFile {
    /// A file (relative paths are relative to the working directory).
    Path(PathBuf),
    /// A private in-memory database.
    Memory,
}

/// The parts of a connection string. The password is a [`Secret`].
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Dsn {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub database: Option<String>,
    pub sqlite: Option<SqliteFile>,
    /// Query parameters (`?sslmode=require`), decoded.
    pub query: Vec<(String, String)>,
}

/// The driver named by the scheme of `dsn`, or why there is none. Never echoes the DSN.
pub(crate) fn driver_of(dsn: &str) -> Result<Driver, String> {
    let Some((scheme, _)) = dsn.split_once("://").or_else(|| dsn.split_once(':')) else {
        return Err("is not a URL like postgresql://user@host:5432/db or sqlite:///file.db".into());
    };
    Driver::from_scheme(scheme).ok_or_else(|| {
        format!(
            "unsupported scheme `{scheme}`; expected postgresql://, mysql:// or sqlite:/// (optionally with +driver)"
        )
    })
}

/// Parses `dsn` for `driver`. Errors never contain the password.
pub(crate) fn parse(driver: Driver, dsn: &str) -> Result<Dsn, String> {
    match driver {
        Driver::Sqlite => parse_sqlite(dsn),
        Driver::Postgres | Driver::Mysql => parse_server(dsn),
    }
}

fn parse_sqlite(dsn: &str) -> Result<Dsn, String> {
    let rest = dsn
        .split_once(':')
        .map(|(_, rest)| rest)
        .ok_or("is not a sqlite URL")?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q),
        None => (rest, ""),
    };
    // SQLAlchemy: `sqlite://` is in-memory, `sqlite:///x.db` relative, `sqlite:////x.db` absolute.
    let path = match rest.strip_prefix("//") {
        Some("") => return Ok(memory(query)),
        Some(after) => after.strip_prefix('/').ok_or(
            "a sqlite URL has three slashes before a relative path (sqlite:///data.db) and four before an absolute one (sqlite:////var/data.db)",
        )?,
        // sqlx style: `sqlite:data.db`, `sqlite::memory:`
        None => rest,
    };
    if path.is_empty() || path == ":memory:" {
        return Ok(memory(query));
    }
    Ok(Dsn {
        sqlite: Some(SqliteFile::Path(PathBuf::from(path))),
        query: decode_query(query),
        ..Dsn::default()
    })
}

fn memory(query: &str) -> Dsn {
    Dsn {
        sqlite: Some(SqliteFile::Memory),
        query: decode_query(query),
        ..Dsn::default()
    }
}

fn decode_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn parse_server(dsn: &str) -> Result<Dsn, String> {
    let url = url::Url::parse(dsn).map_err(|e| format!("is not a valid URL: {e}"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string());
    let user = Some(url.username())
        .filter(|u| !u.is_empty())
        .map(percent_decode);
    let password = url.password().map(|p| Secret::new(percent_decode(p)));
    let database = url
        .path()
        .strip_prefix('/')
        .filter(|d| !d.is_empty())
        .map(percent_decode);
    Ok(Dsn {
        host,
        port: url.port(),
        user,
        password,
        database,
        sqlite: None,
        query: url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_sqlite_paths() {
        let rel = parse(Driver::Sqlite, "sqlite:///data/metrics.db").unwrap();
        assert_eq!(rel.sqlite, Some(SqliteFile::Path("data/metrics.db".into())));
        let abs = parse(Driver::Sqlite, "sqlite:////var/lib/dtk.db").unwrap();
        assert_eq!(abs.sqlite, Some(SqliteFile::Path("/var/lib/dtk.db".into())));
        assert_eq!(
            parse(Driver::Sqlite, "sqlite://").unwrap().sqlite,
            Some(SqliteFile::Memory)
        );
        assert_eq!(
            parse(Driver::Sqlite, "sqlite:///:memory:").unwrap().sqlite,
            Some(SqliteFile::Memory)
        );
        assert_eq!(
            parse(Driver::Sqlite, "sqlite:x.db").unwrap().sqlite,
            Some(SqliteFile::Path("x.db".into()))
        );
        assert!(parse(Driver::Sqlite, "sqlite://host/x.db").is_err());
    }

    #[test]
    fn server_urls_with_escaped_credentials() {
        let d = parse(
            Driver::Postgres,
            "postgresql+psycopg2://bob:p%40ss%3Aw@db.example:6543/sales?sslmode=require",
        )
        .unwrap();
        assert_eq!(d.host.as_deref(), Some("db.example"));
        assert_eq!(d.port, Some(6543));
        assert_eq!(d.user.as_deref(), Some("bob"));
        assert_eq!(d.password.as_ref().map(Secret::expose), Some("p@ss:w"));
        assert_eq!(d.database.as_deref(), Some("sales"));
        assert_eq!(
            d.query,
            vec![("sslmode".to_string(), "require".to_string())]
        );
        let m = parse(Driver::Mysql, "mysql+pymysql://root@127.0.0.1/test").unwrap();
        assert_eq!((m.port, m.password), (None, None));
    }

    #[test]
    fn driver_from_scheme_and_errors_without_secrets() {
        assert_eq!(driver_of("mysql+pymysql://u:pw@h/db"), Ok(Driver::Mysql));
        let e = driver_of("oracle://scott:tiger@h/db").unwrap_err();
        assert!(!e.contains("tiger"), "{e}");
        let e = parse(Driver::Postgres, "postgresql://u:tiger@h:notaport/db").unwrap_err();
        assert!(!e.contains("tiger"), "{e}");
    }
}
