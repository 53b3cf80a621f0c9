//! Anchoring relative file locations to the file that names them.
//!
//! A metric config or a profiles file may name local files: SQLite databases
//! (`path`, `database`, `connection_string: sqlite:///relative.db`) and the console
//! alerter's `path`. A relative location is relative to the directory of the file that
//! names it, never to the working directory, so `dtk` behaves the same when cron or an
//! orchestrator starts it somewhere else. Absolute locations, in-memory databases and
//! non-SQLite URLs are left as they are, so anchoring twice changes nothing.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Project marker file: its directory is the project root (see [`find_project_root`]).
pub const PROJECT_MARKER: &str = "detectk_project.yaml";

/// Profiles file of a project, in the project root.
pub const PROJECT_PROFILES: &str = "detectk_profiles.yaml";

/// The directory that relative locations in `file` are relative to: the file's own
/// directory, made absolute against the working directory (without touching the disk).
pub fn base_dir_of(file: &Path) -> Option<PathBuf> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(parent).ok()
}

/// The nearest directory at or above `start` (a config file or a directory of configs)
/// that holds [`PROJECT_PROFILES`] (or `detectk_profiles.yml`) or [`PROJECT_MARKER`].
/// `None` when no ancestor has one.
pub fn find_project_root(start: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(start).ok()?;
    let first = if start.is_dir() {
        start.as_path()
    } else {
        start.parent()?
    };
    first.ancestors().find_map(|dir| {
        [PROJECT_PROFILES, "detectk_profiles.yml", PROJECT_MARKER]
            .iter()
            .any(|name| dir.join(name).is_file())
            .then(|| dir.to_path_buf())
    })
}

/// `location` joined to `base` when it is relative; unchanged when absolute.
pub fn anchor(location: &str, base: &Path) -> String {
    let path = Path::new(location);
    if path.is_absolute() || location.is_empty() || location == ":memory:" {
        location.to_string()
    } else {
        base.join(path).to_string_lossy().into_owned()
    }
}

/// Makes the relative SQLite locations in the connection `params` of a collector or
/// storage of type `kind` absolute against `base`: `connection_string` with a `sqlite`
/// scheme (any `kind`), and `path` / `database` when `kind` is `sqlite` (or `sql` with a
/// SQLite connection string, where `path` names the file).
pub fn anchor_sqlite_params(kind: Option<&str>, params: &mut Map<String, Value>, base: &Path) {
    let mut sqlite_url = false;
    if let Some(Value::String(url)) = params.get_mut("connection_string")
        && let Some(anchored) = anchor_sqlite_url(url, base)
    {
        sqlite_url = true;
        *url = anchored;
    }
    let is_sqlite = matches!(kind, Some("sqlite" | "sqlite3")) || sqlite_url;
    if !is_sqlite {
        return;
    }
    for key in ["path", "database"] {
        if let Some(Value::String(location)) = params.get_mut(key) {
            *location = anchor(location, base);
        }
    }
}

/// A SQLite URL with its relative file made absolute against `base`; `None` when `url`
/// is not a SQLite URL. In-memory and absolute URLs come back unchanged.
///
/// Accepted forms (as the SQL collectors read them): `sqlite:///relative.db`,
/// `sqlite:////absolute.db`, `sqlite:relative.db`, `sqlite:/absolute.db`, `sqlite://`,
/// `sqlite::memory:`, with an optional `+driver` suffix on the scheme and `?query`.
pub fn anchor_sqlite_url(url: &str, base: &Path) -> Option<String> {
    let (scheme, rest) = url.split_once(':')?;
    let driver = scheme.split('+').next().unwrap_or("");
    if !driver.eq_ignore_ascii_case("sqlite") {
        return None;
    }
    let (location, query) = match rest.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (rest, None),
    };
    let file = match location.strip_prefix("//") {
        // `sqlite://` (memory) and `sqlite://x.db` (not a valid form: left for the
        // collector to reject with its own message).
        Some(after) => match after.strip_prefix('/') {
            Some(file) => file,
            None => return Some(url.to_string()),
        },
        None => location,
    };
    if file.is_empty() || file == ":memory:" || Path::new(file).is_absolute() {
        return Some(url.to_string());
    }
    let absolute = base.join(file);
    // Four slashes: `sqlite:///` then the absolute path.
    let mut out = format!("{scheme}:///{}", absolute.to_string_lossy());
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "/srv/proj/metrics";

    fn url(u: &str) -> Option<String> {
        anchor_sqlite_url(u, Path::new(BASE))
    }

    #[test]
    fn sqlite_urls_with_relative_files_become_absolute() {
        assert_eq!(
            url("sqlite:///data.db").as_deref(),
            Some("sqlite:////srv/proj/metrics/data.db")
        );
        assert_eq!(
            url("sqlite+pysqlite:///../state/d.db?mode=ro").as_deref(),
            Some("sqlite+pysqlite:////srv/proj/metrics/../state/d.db?mode=ro")
        );
        assert_eq!(
            url("sqlite:data.db").as_deref(),
            Some("sqlite:////srv/proj/metrics/data.db")
        );
    }

    #[test]
    fn absolute_memory_and_other_urls_are_kept() {
        for kept in [
            "sqlite:////var/x.db",
            "sqlite:/var/x.db",
            "sqlite://",
            "sqlite::memory:",
            "sqlite:///:memory:",
        ] {
            assert_eq!(url(kept).as_deref(), Some(kept));
        }
        assert_eq!(url("postgresql://u@h/db"), None);
        assert_eq!(url("mysql+pymysql://u@h/db"), None);
        assert_eq!(url("no url"), None);
    }

    #[test]
    fn anchoring_twice_changes_nothing() {
        let once = url("sqlite:///a/b.db").unwrap();
        assert_eq!(url(&once).unwrap(), once);
    }

    #[test]
    fn path_and_database_are_anchored_for_sqlite_only() {
        let base = Path::new(BASE);
        let mut p = json!({"path": "q.db", "database": "d.db"})
            .as_object()
            .cloned()
            .unwrap();
        anchor_sqlite_params(Some("sqlite"), &mut p, base);
        assert_eq!(p["path"], "/srv/proj/metrics/q.db");
        assert_eq!(p["database"], "/srv/proj/metrics/d.db");

        let mut pg = json!({"database": "analytics", "connection_string": "postgresql://h/db"})
            .as_object()
            .cloned()
            .unwrap();
        anchor_sqlite_params(Some("postgres"), &mut pg, base);
        assert_eq!(pg["database"], "analytics");
        assert_eq!(pg["connection_string"], "postgresql://h/db");

        let mut sql = json!({"connection_string": "sqlite:///x.db", "path": "y.db"})
            .as_object()
            .cloned()
            .unwrap();
        anchor_sqlite_params(Some("sql"), &mut sql, base);
        assert_eq!(sql["connection_string"], "sqlite:////srv/proj/metrics/x.db");
        assert_eq!(sql["path"], "/srv/proj/metrics/y.db");

        let mut memory = json!({"path": ":memory:"}).as_object().cloned().unwrap();
        anchor_sqlite_params(Some("sqlite"), &mut memory, base);
        assert_eq!(memory["path"], ":memory:");
    }

    #[test]
    fn project_root_is_the_nearest_ancestor_with_profiles_or_marker() {
        let tmp = std::env::temp_dir().join(format!("dtk-root-{}", std::process::id()));
        let nested = tmp.join("outer/inner/metrics/team");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("m.yaml"), "name: m\n").unwrap();
        // Nothing inside `tmp` yet: whatever holds above it (normally nothing) is found.
        assert_eq!(
            find_project_root(&nested.join("m.yaml")),
            find_project_root(&tmp)
        );
        std::fs::write(tmp.join("outer").join(PROJECT_PROFILES), "profiles: {}\n").unwrap();
        assert_eq!(
            find_project_root(&nested.join("m.yaml")),
            Some(tmp.join("outer"))
        );
        std::fs::write(tmp.join("outer/inner").join(PROJECT_MARKER), "version: 1\n").unwrap();
        assert_eq!(find_project_root(&nested), Some(tmp.join("outer/inner")));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
