//! A server that is down fails its metric at once with a message naming the backend,
//! `host:port`, the database and the cause, and the other metrics of the run still
//! finish. Also the error text of the common connection and query failures, as the
//! user sees it (snapshots). Needs the servers of `scripts/test.sh` for the
//! unknown-database and syntax-error cases.

#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "clickhouse"
))]

mod common;

use std::path::Path;

use common::{run_in, stderr, stdout};

const T: &str = "2024-01-02 00:00:00";

/// A TCP port on 127.0.0.1 with nothing listening: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// Writes `metrics/<name>.yaml` reading with `collector`, storing into `store.db`.
fn metric(dir: &Path, name: &str, collector: &str) {
    let yaml = format!(
        "name: {name}\ncollector: {collector}\nstorage:\n  type: sqlite\n  params: {{connection_string: \"sqlite:///../store.db\"}}\ndetector: {{type: threshold, params: {{threshold: 100}}}}\nschedule: {{interval: 10 minutes}}\n"
    );
    std::fs::create_dir_all(dir.join("metrics")).unwrap();
    std::fs::write(dir.join("metrics").join(format!("{name}.yaml")), yaml).unwrap();
}

/// A metric that works: a constant query on an in-memory SQLite source.
fn good_metric(dir: &Path) {
    metric(
        dir,
        "a_good",
        "{type: sqlite, params: {connection_string: \"sqlite://\", query: \"SELECT '2024-01-01 23:50:00' AS period_time, 5 AS value\"}}",
    );
}

/// The `error:` block of `metric` in `stderr`.
fn block(stderr: &str, metric: &str) -> String {
    let block = stderr
        .split("error: ")
        .find(|b| b.starts_with(&format!("metric `{metric}`")))
        .unwrap_or_else(|| panic!("no error for {metric} in:\n{stderr}"));
    format!("error: {block}")
}

#[test]
fn a_refused_connection_fails_its_metric_and_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = closed_port();
    good_metric(root);
    metric(
        root,
        "b_postgres",
        &format!(
            "{{type: postgres, params: {{connection_string: \"postgresql://postgres:s3cret@127.0.0.1:{port}/shop\", query: \"SELECT 1\"}}}}"
        ),
    );
    metric(
        root,
        "c_mysql",
        &format!(
            "{{type: mysql, params: {{connection_string: \"mysql://root:s3cret@127.0.0.1:{port}/shop\", query: \"SELECT 1\"}}}}"
        ),
    );
    metric(
        root,
        "d_clickhouse",
        &format!(
            "{{type: clickhouse, params: {{host: 127.0.0.1, port: {port}, database: shop, password: s3cret, query: \"SELECT 1\"}}}}"
        ),
    );

    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let err = stderr(&out);
    assert!(text.contains("4 metric(s): 1 ok, 3 failed"), "{text}");
    assert!(text.contains("a_good: collected"), "{text}");
    assert!(!err.contains("s3cret") && !text.contains("s3cret"), "{err}");

    let port = port.to_string();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&port), "[PORT]");
    settings.bind(|| {
        insta::assert_snapshot!(block(&err, "b_postgres"), @r"
        error: metric `b_postgres`: collecting data failed
          caused by: connection failed (postgres 127.0.0.1:[PORT]/shop): connecting: connection refused
          hint: nothing listens there: is the postgres server running, and are `host` and `port` right?
        ");
        insta::assert_snapshot!(block(&err, "c_mysql"), @r"
        error: metric `c_mysql`: collecting data failed
          caused by: connection failed (mysql 127.0.0.1:[PORT]/shop): connecting: connection refused
          hint: nothing listens there: is the mysql server running, and are `host` and `port` right?
        ");
        insta::assert_snapshot!(block(&err, "d_clickhouse"), @r"
        error: metric `d_clickhouse`: collecting data failed
          caused by: connection failed (clickhouse 127.0.0.1:[PORT]/shop): connecting: connection refused
          hint: nothing listens there: is ClickHouse running, and are `host`, `port` and `secure` right?
        ");
    });
    // The good metric's point was stored; nothing of the failed ones.
    let stored = common::sqlite_rows(
        &root.join("store.db"),
        "SELECT DISTINCT metric_name FROM dtk_datapoints",
    );
    assert_eq!(stored, vec!["a_good"]);
}

#[test]
fn a_storage_on_a_closed_port_fails_its_metric_with_the_storage_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = closed_port();
    good_metric(root);
    let yaml = format!(
        "name: b_store\ncollector: {{type: sqlite, params: {{connection_string: \"sqlite://\", query: \"SELECT 1\"}}}}\nstorage: {{type: mysql, params: {{connection_string: \"mysql://root@127.0.0.1:{port}/dtk\"}}}}\ndetector: {{type: threshold, params: {{threshold: 100}}}}\nschedule: {{interval: 10 minutes}}\n"
    );
    std::fs::write(root.join("metrics/b_store.yaml"), yaml).unwrap();
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("2 metric(s): 1 ok, 1 failed"));
    let b = block(&stderr(&out), "b_store");
    assert!(b.contains("storage failed"), "{b}");
    assert!(
        b.contains(&format!(
            "(mysql 127.0.0.1:{port}/dtk): connecting: connection refused"
        )),
        "{b}"
    );
}

#[test]
fn connection_and_query_errors_name_the_cause_once_with_a_fitting_hint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let db = unique_name("h2_missing_db");
    metric(
        root,
        "pg_unknown_db",
        &format!(
            "{{type: postgres, params: {{connection_string: \"postgresql://postgres@127.0.0.1:5432/{db}\", query: \"SELECT 1\"}}}}"
        ),
    );
    metric(
        root,
        "pg_syntax",
        "{type: postgres, params: {connection_string: \"postgresql://postgres@127.0.0.1:5432/postgres\", query: \"SELEC 1\"}}",
    );
    metric(
        root,
        "my_unknown_db",
        &format!(
            "{{type: mysql, params: {{connection_string: \"mysql://root@127.0.0.1:3306/{db}\", query: \"SELECT 1\"}}}}"
        ),
    );
    metric(
        root,
        "sqlite_missing_file",
        "{type: sql, params: {connection_string: \"sqlite:///no/such/dir/source.db\", query: \"SELECT 1\"}}",
    );
    metric(
        root,
        "dns_failure",
        "{type: postgres, params: {connection_string: \"postgresql://postgres@no-such-host.invalid:5432/x\", query: \"SELECT 1\"}}",
    );
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // No server source lines, and no cause printed twice.
    assert!(!err.contains(" at line "), "{err}");
    assert!(!err.contains("error returned from database"), "{err}");
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&db), "[DB]");
    settings.add_filter(&regex_escape(&root.display().to_string()), "[ROOT]");
    settings.bind(|| {
        insta::assert_snapshot!(block(&err, "pg_unknown_db"), @r#"
        error: metric `pg_unknown_db`: collecting data failed
          caused by: connection failed (postgres 127.0.0.1:5432/[DB]): connecting: database "[DB]" does not exist (code 3D000)
          hint: the database does not exist: create it, or check `database` (or the connection string)
        "#);
        insta::assert_snapshot!(block(&err, "pg_syntax"), @r#"
        error: metric `pg_syntax`: collecting data failed
          caused by: query failed (postgres 127.0.0.1:5432/postgres): query: syntax error at or near "SELEC" (code 42601)
          hint: check the query: `dtk compile CONFIG` prints it exactly as it is sent; try it in a SQL client
        "#);
        insta::assert_snapshot!(block(&err, "my_unknown_db"), @r"
        error: metric `my_unknown_db`: collecting data failed
          caused by: connection failed (mysql 127.0.0.1:3306/[DB]): connecting: Unknown database '[DB]' (code 42000)
          hint: the database does not exist: create it, or check `database` (or the connection string)
        ");
        insta::assert_snapshot!(block(&err, "sqlite_missing_file"), @r"
        error: metric `sqlite_missing_file`: collecting data failed
          caused by: connection failed (sqlite [ROOT]/metrics/no/such/dir/source.db): connecting: unable to open database file (code 14)
          hint: check that the SQLite file exists (a collector never creates one), the path is right, and its directory is readable and writable
        ");
    });
    let dns = block(&err, "dns_failure");
    assert!(dns.contains("the host name does not resolve"), "{dns}");
    assert!(dns.contains("hint: check `host`"), "{dns}");
}

/// `s` with regex metacharacters escaped, for an insta filter.
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

/// A name no other test or helper uses (this process, this instant).
fn unique_name(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    format!("dtk_{label}_{}_{nanos}", std::process::id())
}
