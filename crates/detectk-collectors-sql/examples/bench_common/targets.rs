//! The storages the SQL benchmarks measure: SQLite in a file under `dir`, and
//! PostgreSQL and MariaDB/MySQL at `BENCH_POSTGRES_URL` / `BENCH_MYSQL_URL` (or the local
//! defaults), each only when its feature is on.

use std::path::Path;
use std::sync::Arc;

use detectk_collectors_sql::{Role, SqlFactory};
use detectk_core::Storage;
use detectk_core::config::Params;
use serde_json::{Map, Value, json};

/// One benchmark target: its display name, storage type and params.
pub type Target = (&'static str, &'static str, Value);

/// Every target this build can measure.
pub fn bench_targets(dir: &Path) -> Vec<Target> {
    let mut targets: Vec<Target> = Vec::new();
    if cfg!(feature = "sqlite") {
        let path = dir.join("bench.db");
        targets.push((
            "SQLite (WAL, temp file)",
            "sqlite",
            json!({"path": path.to_str().unwrap()}),
        ));
    }
    if cfg!(feature = "postgres") {
        let url = std::env::var("BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/test".into());
        targets.push((
            "PostgreSQL",
            "sql",
            json!({"connection_string": url, "schema": "dtk_bench"}),
        ));
    }
    if cfg!(feature = "mysql") {
        let url = std::env::var("BENCH_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/dtk_bench".into());
        targets.push(("MariaDB/MySQL", "sql", json!({"connection_string": url})));
    }
    targets
}

/// The storage of target `name` (type `type_name`, `params`), its tables created.
pub async fn migrated_storage(
    name: &str,
    type_name: &str,
    params: Value,
) -> Result<Arc<dyn Storage>, String> {
    let factory = SqlFactory::new();
    let map: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
    let mut p = Params::new(&map, "storage.params");
    let settings = factory.settings(type_name, Role::Storage, &mut p);
    let report = p.finish();
    let settings = settings.ok_or_else(|| format!("{name}: bad settings: {:?}", report.issues))?;
    let storage = factory.storage_for(&settings);
    storage.migrate().await.map_err(|e| e.to_string())?;
    Ok(storage)
}
