//! Bad input of every kind: each metric fails alone, with a message naming it and the cause.

#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;

use common::{run_in, sqlite_exec, stderr, stdout};

const T: &str = "2024-01-02 00:00:00";

/// A source database with a clean table and tables that break the rules. A threshold
/// detector needs no history, so a first run collects only the newest intervals
/// (23:40 and 23:50 at the execution time below).
fn source_db(dir: &Path) {
    sqlite_exec(
        &dir.join("source.db"),
        &[
            "CREATE TABLE good (ts TEXT, v INTEGER)",
            "INSERT INTO good VALUES ('2024-01-01 23:30:00', 4), ('2024-01-01 23:40:00', 5), ('2024-01-01 23:50:00', NULL)",
            "CREATE TABLE texts (ts TEXT, v TEXT)",
            "INSERT INTO texts VALUES ('2024-01-01 23:50:00', 'abc')",
            "CREATE TABLE dups (ts TEXT, v REAL)",
            "INSERT INTO dups VALUES ('2024-01-01 23:50:00', 1.5), ('2024-01-01 23:50:00', 2.5)",
        ],
    );
}

fn metric(dir: &Path, name: &str, query: &str) {
    let yaml = format!(
        "name: {name}\ncollector:\n  type: sql\n  params:\n    connection_string: \"sqlite:///../source.db\"\n    query: \"{query}\"\nstorage:\n  type: sqlite\n  params: {{connection_string: \"sqlite:///../store.db\"}}\ndetector: {{type: threshold, params: {{threshold: 100}}}}\nschedule: {{interval: 10 minutes}}\n"
    );
    std::fs::create_dir_all(dir.join("metrics")).unwrap();
    std::fs::write(dir.join("metrics").join(format!("{name}.yaml")), yaml).unwrap();
}

const RANGE: &str = "WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}'";

#[test]
fn each_bad_metric_fails_alone_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(
        root,
        "a_good",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts"),
    );
    metric(root, "b_syntax", "SELEC ts FROM good");
    metric(
        root,
        "c_missing_table",
        "SELECT ts AS period_time, v AS value FROM nowhere",
    );
    metric(
        root,
        "d_columns",
        &format!("SELECT ts, v FROM good {RANGE} ORDER BY ts"),
    );
    metric(
        root,
        "e_text_value",
        &format!("SELECT ts AS period_time, v AS value FROM texts {RANGE}"),
    );
    metric(
        root,
        "f_duplicates",
        &format!("SELECT ts AS period_time, v AS value FROM dups {RANGE}"),
    );
    metric(
        root,
        "g_unsorted",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts DESC"),
    );

    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(1), "runtime failures exit with 1");
    let err = stderr(&out);
    let text = stdout(&out);
    assert!(text.contains("7 metric(s): 1 ok, 6 failed"), "{text}");
    assert!(text.contains("a_good: collected"), "{text}");
    assert!(
        text.contains("1 row(s) had a NULL value and are stored as missing points"),
        "{text}"
    );

    for (metric, expected) in [
        ("b_syntax", "syntax error"),
        ("c_missing_table", "no such table: nowhere"),
        (
            "d_columns",
            "the query returned no timestamp column `period_time` (columns returned: ts, v)",
        ),
        (
            "e_text_value",
            "value column `value` holds text \"abc\", not a number",
        ),
        (
            "f_duplicates",
            "duplicate timestamp 2024-01-01 23:50:00 UTC",
        ),
        ("g_unsorted", "timestamps are not sorted"),
    ] {
        let block: String = err
            .split("error: ")
            .find(|b| b.starts_with(&format!("metric `{metric}`")))
            .unwrap_or_else(|| panic!("no error for {metric} in:\n{err}"))
            .to_string();
        assert!(
            block.contains(expected),
            "{metric}: expected {expected:?} in:\n{block}"
        );
    }
    // Nothing of the failed metrics was stored; the good one was.
    let stored = common::sqlite_rows(
        &root.join("store.db"),
        "SELECT DISTINCT metric_name FROM dtk_datapoints",
    );
    assert_eq!(stored, vec!["a_good"]);
}

#[test]
fn an_invalid_config_exits_2_and_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(
        root,
        "a_good",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts"),
    );
    std::fs::write(
        root.join("metrics/broken.yaml"),
        "name: broken\ncollector: {type: sqlite\n",
    )
    .unwrap();
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("a_good: collected"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("2 metric(s): 1 ok, 0 failed, 1 invalid"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("error: metrics/broken.yaml: invalid YAML at line"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_run_report_is_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(
        root,
        "a_good",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts"),
    );
    metric(root, "b_syntax", "SELEC ts FROM good");
    let out = run_in(
        root,
        &["run", "metrics", "--execution-time", T, "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"ok": 1, "failed": 1, "skipped": 0, "invalid": 0})
    );
    let metrics = doc["metrics"].as_array().unwrap();
    assert_eq!(metrics[0]["name"], "a_good");
    assert_eq!(metrics[0]["report"]["range"]["points"], 2);
    assert_eq!(metrics[0]["report"]["range"]["missing"], 1);
    assert_eq!(metrics[1]["status"], "failed");
    assert_eq!(metrics[1]["error"]["kind"], "collect");
    assert!(
        metrics[1]["error"]["causes"][0]
            .as_str()
            .unwrap()
            .contains("syntax error")
    );
}

#[test]
fn quiet_prints_only_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    metric(
        root,
        "a_good",
        &format!("SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts"),
    );
    let ok = run_in(root, &["-q", "run", "metrics", "--execution-time", T]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(stdout(&ok), "", "nothing to say when all is well");
    metric(root, "b_syntax", "SELEC ts FROM good");
    let failed = run_in(root, &["-q", "run", "metrics", "--execution-time", T]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(stdout(&failed), "");
    assert!(
        stderr(&failed).contains("error: metric `b_syntax`"),
        "{}",
        stderr(&failed)
    );
}

// ---------------------------------------------------------------------------------------
// The bad-input corpus: many broken configs and query results in one project. Each must
// be reported (file or metric, field, cause), none may panic or print a secret, and the
// good metrics of the same run must still finish.

/// A webhook token that must never reach the output.
const SECRET: &str = "SeCrEtToKeN42";

/// A valid metric on the `good` table; cases replace parts of it.
fn base(name: &str) -> String {
    format!(
        "name: {name}
description: corpus case
collector:
  type: sql
  params:
    connection_string: \"sqlite:///../source.db\"
    query: \"SELECT ts AS period_time, v AS value FROM good {RANGE} ORDER BY ts\"
storage: {{type: sqlite, params: {{connection_string: \"sqlite:///../store.db\"}}}}
detector: {{type: threshold, params: {{threshold: 100}}}}
alerter: {{type: mattermost, enabled: false, params: {{webhook_url: \"http://127.0.0.1:9/hooks/{SECRET}\"}}}}
schedule: {{interval: 10 minutes}}
"
    )
}

/// `base(name)` with each `(from, to)` text replaced (each `from` must occur).
fn variant(name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = base(name);
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the base config");
        text = text.replacen(from, to, 1);
    }
    text
}

fn detector(spec: &str) -> (&'static str, String) {
    (
        "detector: {type: threshold, params: {threshold: 100}}",
        format!("detector: {spec}"),
    )
}

fn schedule(spec: &str) -> (&'static str, String) {
    (
        "schedule: {interval: 10 minutes}",
        format!("schedule: {spec}"),
    )
}

/// Invalid configs: (file stem, config text, texts its report must contain).
fn invalid_configs() -> Vec<(String, String, Vec<&'static str>)> {
    let mut cases: Vec<(String, String, Vec<&'static str>)> = Vec::new();
    let mut add = |stem: &str, text: String, expect: Vec<&'static str>| {
        cases.push((stem.to_string(), text, expect));
    };
    let with = |name: &str, edits: Vec<(&'static str, String)>| {
        let edits: Vec<(&str, &str)> = edits.iter().map(|(a, b)| (*a, b.as_str())).collect();
        variant(name, &edits)
    };
    for (stem, spec, expect) in [
        (
            "n_sigma_nan",
            "{type: mad, params: {n_sigma: .nan}}",
            vec![
                "detector.params.n_sigma",
                "must be a finite number, got NaN",
            ],
        ),
        (
            "n_sigma_inf",
            "{type: mad, params: {n_sigma: .inf}}",
            vec!["detector.params.n_sigma", "got infinity"],
        ),
        (
            "n_sigma_neg_inf",
            "{type: zscore, params: {n_sigma: -.inf}}",
            vec!["detector.params.n_sigma", "got -infinity"],
        ),
        (
            "threshold_nan",
            "{type: threshold, params: {threshold: .NaN}}",
            vec!["detector.params.threshold", "NaN"],
        ),
        (
            "n_sigma_text",
            "{type: mad, params: {n_sigma: three}}",
            vec!["detector.params.n_sigma", "expected a", "number"],
        ),
        (
            "n_sigma_negative",
            "{type: mad, params: {n_sigma: -1}}",
            vec!["detector.params.n_sigma", "-1"],
        ),
        (
            "n_sigma_list",
            "{type: mad, params: {n_sigma: [3]}}",
            vec!["detector.params.n_sigma", "a list"],
        ),
        (
            "window_overflow",
            "{type: mad, params: {window_size: 100000000 days}}",
            vec![
                "detector.params.window_size",
                "too large (at most 36500 days)",
            ],
        ),
        (
            "window_points_huge",
            "{type: mad, params: {window_size: 1000000000000}}",
            vec!["detector.params.window_size", "at most 1000000 points"],
        ),
        (
            "window_century",
            "{type: mad, params: {window_size: 36500 days}}",
            vec!["detector.params.window_size", "at most 3650 days"],
        ),
        (
            "window_beyond_u64",
            "{type: mad, params: {window_size: 99999999999999999999}}",
            vec![
                "detector.params.window_size",
                "expected a duration or a whole number of points",
            ],
        ),
        (
            "window_zero",
            "{type: mad, params: {window_size: 0}}",
            vec!["detector.params.window_size", "at least one point"],
        ),
        (
            "window_bad_unit",
            "{type: mad, params: {window_size: 30 dayz}}",
            vec!["detector.params.window_size", "unknown unit `dayz`"],
        ),
        (
            "window_negative",
            "{type: mad, params: {window_size: -5}}",
            vec!["detector.params.window_size"],
        ),
        (
            "min_points_huge",
            "{type: mad, params: {min_points: 1e300}}",
            vec!["detector.params.min_points"],
        ),
        (
            "detector_unknown",
            "{type: madd}",
            vec!["detector.type", "`madd` is unknown", "did you mean `mad`?"],
        ),
        (
            "detector_id_long",
            "{id: ID_LONG, type: mad}",
            vec!["detector.id", "is 200 characters long; at most 128"],
        ),
        (
            "detector_scalar",
            "mad",
            vec!["detector", "expected a mapping"],
        ),
    ] {
        let spec = spec.replace("ID_LONG", &"d".repeat(200));
        add(stem, with(stem, vec![detector(&spec)]), expect);
    }
    for (stem, spec, expect) in [
        (
            "interval_zero",
            "{interval: 0 minutes}",
            vec!["schedule.interval", "greater than zero"],
        ),
        (
            "interval_uneven",
            "{interval: 7 minutes}",
            vec!["schedule.interval", "does not divide a day evenly"],
        ),
        (
            "interval_huge",
            "{interval: 400 days}",
            vec!["schedule.interval", "at most 365 days"],
        ),
        (
            "interval_number",
            "{interval: 600}",
            vec!["schedule.interval", "expected a duration"],
        ),
        (
            "delay_huge",
            "{interval: 10 minutes, delay: 1000 days}",
            vec!["schedule.delay", "at most 365 days"],
        ),
        (
            "batch_zero",
            "{interval: 10 minutes, batch_load_days: 0}",
            vec!["schedule.batch_load_days", "at least 1"],
        ),
        (
            "batch_huge",
            "{interval: 10 minutes, batch_load_days: 100000}",
            vec!["schedule.batch_load_days", "at most 3650"],
        ),
        (
            "batch_negative",
            "{interval: 10 minutes, batch_load_days: -5}",
            vec!["schedule.batch_load_days", "non-negative integer"],
        ),
        (
            "start_time_text",
            "{interval: 10 minutes, start_time: yesterday}",
            vec!["schedule.start_time", "invalid time"],
        ),
        (
            "end_before_start",
            "{interval: 10 minutes, start_time: 2024-02-01, end_time: 2024-01-01}",
            vec!["schedule.end_time", "must be after start_time"],
        ),
        (
            "schedule_typo",
            "{intervall: 10 minutes}",
            vec![
                "schedule.intervall",
                "unknown key",
                "did you mean `interval`?",
            ],
        ),
    ] {
        add(stem, with(stem, vec![schedule(spec)]), expect);
    }
    let alerter = "alerter: {type: mattermost, enabled: false, params: {webhook_url: \"http://127.0.0.1:9/hooks/SeCrEtToKeN42\"}}";
    for (stem, replacement, expect) in [
        (
            "cooldown_huge",
            "alerter: {type: mattermost, enabled: false, params: {webhook_url: \"http://127.0.0.1:9/hooks/SeCrEtToKeN42\", cooldown_minutes: 99999999999}}",
            vec!["alerter.params.cooldown_minutes", "at most 525600"],
        ),
        (
            "consecutive_zero",
            "alerter: {type: mattermost, enabled: false, params: {webhook_url: \"http://127.0.0.1:9/hooks/SeCrEtToKeN42\"}, conditions: {consecutive_anomalies: 0}}",
            vec!["alerter.conditions.consecutive_anomalies", "at least 1"],
        ),
        (
            "consecutive_huge",
            "alerter: {type: mattermost, enabled: false, params: {webhook_url: \"http://127.0.0.1:9/hooks/SeCrEtToKeN42\"}, conditions: {consecutive_anomalies: 4294967296}}",
            vec!["alerter.conditions.consecutive_anomalies", "too large"],
        ),
        (
            "min_deviation_nan",
            "alerter: {type: mattermost, enabled: false, params: {webhook_url: \"http://127.0.0.1:9/hooks/SeCrEtToKeN42\"}, conditions: {min_deviation_percent: .nan}}",
            vec!["alerter.conditions.min_deviation_percent", "NaN"],
        ),
        (
            "webhook_not_url",
            "alerter: {type: mattermost, enabled: false, params: {webhook_url: \"ftp:SeCrEtToKeN42\"}}",
            vec!["alerter.params.webhook_url"],
        ),
    ] {
        add(
            stem,
            with(stem, vec![(alerter, replacement.to_string())]),
            expect,
        );
    }
    let query = "    query: \"SELECT ts AS period_time, v AS value FROM good WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}' ORDER BY ts\"";
    for (stem, replacement, expect) in [
        (
            "query_unknown_var",
            "    query: \"SELECT {{ perod_start }}\"",
            vec![
                "collector.params.query",
                "unknown variable `perod_start`",
                "did you mean `period_start`?",
            ],
        ),
        (
            "query_syntax",
            "    query: \"SELECT {{ period_start \"",
            vec!["collector.params.query", "template error"],
        ),
        (
            "query_missing",
            "    querry: \"SELECT 1\"",
            vec!["collector.params.query", "is required"],
        ),
        (
            "alignment_unknown",
            "    timestamp_alignment: round\n    query: \"SELECT 1\"",
            vec![
                "collector.timestamp_alignment",
                "unknown value \"round\"; expected one of: floor, strict",
            ],
        ),
        (
            "aggregation_unknown",
            "    aggregation: median\n    query: \"SELECT 1\"",
            vec![
                "collector.aggregation",
                "expected one of: mean, sum, min, max, first, last",
                "did you mean `mean`?",
            ],
        ),
        (
            "context_not_list",
            "    context_columns: hour\n    query: \"SELECT 1\"",
            vec![
                "collector.params.context_columns",
                "expected a list of strings",
            ],
        ),
    ] {
        add(
            stem,
            with(stem, vec![(query, replacement.to_string())]),
            expect,
        );
    }
    for (stem, from, to, expect) in [
        (
            "description_unknown_var",
            "description: corpus case",
            "description: \"as of {{ execution_tim }}\"",
            vec![
                "description",
                "unknown variable `execution_tim`",
                "did you mean `execution_time`?",
            ],
        ),
        (
            "description_bad_template",
            "description: corpus case",
            "description: \"{% if %}\"",
            vec!["description", "template error"],
        ),
        (
            "tags_number",
            "description: corpus case",
            "tags: 5",
            vec!["tags", "expected a list of strings"],
        ),
        (
            "top_level_typo",
            "description: corpus case",
            "detectr: {}",
            vec!["detectr", "unknown key"],
        ),
        (
            "env_unset",
            "description: corpus case",
            "description: ${DTK_CORPUS_UNSET_VARIABLE}",
            vec!["environment variable `DTK_CORPUS_UNSET_VARIABLE` is not set"],
        ),
        (
            "timezone_unknown",
            "  type: sql\n",
            "  type: sql\n  timezone: Mars/Olympus\n",
            vec!["collector.timezone", "unknown time zone \"Mars/Olympus\""],
        ),
        (
            "collector_scalar",
            "collector:\n  type: sql\n",
            "collector: sql\nx_collector:\n  type: sql\n",
            vec!["collector", "expected a mapping"],
        ),
        (
            "retention_huge",
            "storage: {type: sqlite, params:",
            "storage: {type: sqlite, retention_days: 100000, params:",
            vec!["storage.retention_days", "at most 36500"],
        ),
        (
            "retention_zero",
            "storage: {type: sqlite, params:",
            "storage: {type: sqlite, retention_days: 0, params:",
            vec!["storage.retention_days", "at least 1"],
        ),
        (
            "detectors_empty",
            "detector: {type: threshold, params: {threshold: 100}}",
            "detectors: []",
            vec!["detectors", "is empty"],
        ),
        (
            "both_detector_keys",
            "detector: {type: threshold, params: {threshold: 100}}",
            "detector: {type: mad}\ndetectors: [{type: zscore}]",
            vec!["detectors", "both `detector` and `detectors` are set"],
        ),
    ] {
        add(stem, with(stem, vec![(from, to.to_string())]), expect);
    }
    let long_name = "n".repeat(300);
    add(
        "name_too_long",
        base(&long_name),
        vec!["name", "is 300 characters long; at most 200"],
    );
    add(
        "name_spaces",
        base("\"bad name\""),
        vec!["name", "may only contain letters, digits"],
    );
    add(
        "deep_yaml",
        format!(
            "name: deep\nx: {}{}\n",
            "[".repeat(200_000),
            "]".repeat(200_000)
        ),
        vec!["nested more than 64 levels", "line 2"],
    );
    add(
        "yaml_syntax",
        "name: broken\ncollector: {type: sqlite\n".to_string(),
        vec!["invalid YAML at line"],
    );
    add(
        "not_a_mapping",
        "- a\n- b\n".to_string(),
        vec!["expected a mapping with `name`"],
    );
    add(
        "tab_indented",
        "name: tabs\ncollector:\n\ttype: sql\n".to_string(),
        vec!["invalid YAML"],
    );
    cases
}

/// Lines of `stderr` that belong to `file` (its `error:`/`warning:` lines and their hints).
fn report_of(stderr: &str, file: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in stderr.lines() {
        if line.starts_with("error: ") || line.starts_with("warning: ") {
            inside = line.contains(file);
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn corpus_of_invalid_configs_is_reported_per_file_and_the_good_metrics_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    let cases = invalid_configs();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    for (stem, text, _) in &cases {
        std::fs::create_dir_all(root.join("metrics")).unwrap();
        std::fs::write(root.join("metrics").join(format!("{stem}.yaml")), text).unwrap();
    }
    // Two good metrics, one with a key given twice (a warning, not an error).
    std::fs::write(root.join("metrics/good_a.yaml"), base("good_a")).unwrap();
    std::fs::write(
        root.join("metrics/good_b.yaml"),
        base("good_b").replace(
            "schedule: {interval: 10 minutes}",
            "schedule: {interval: 10 minutes}\nschedule: {interval: 10 minutes, delay: 5 minutes}",
        ),
    )
    .unwrap();

    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    let (err, text) = (stderr(&out), stdout(&out));
    assert_eq!(out.status.code(), Some(2), "invalid configs exit 2:\n{err}");
    assert!(
        !err.contains("panicked") && !text.contains("panicked"),
        "{err}"
    );
    assert!(
        !err.contains(SECRET) && !text.contains(SECRET),
        "a secret leaked:\n{err}\n{text}"
    );
    assert!(text.contains("good_a: collected"), "{text}");
    assert!(text.contains("good_b: collected"), "{text}");
    assert!(
        text.contains(&format!(
            "metric(s): 2 ok, 0 failed, {} invalid",
            cases.len()
        )),
        "{text}"
    );
    let mut problems = Vec::new();
    for (stem, _, expect) in &cases {
        let file = format!("metrics/{stem}.yaml");
        let report = report_of(&err, &file);
        if report.is_empty() {
            problems.push(format!("{stem}: no report"));
            continue;
        }
        for e in expect {
            if !report.contains(e) {
                problems.push(format!("{stem}: expected {e:?} in:\n{report}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let duplicate = report_of(&err, "metrics/good_b.yaml");
    assert!(
        duplicate.contains("warning: metrics/good_b.yaml: schedule: key `schedule` is given more than once (lines 11 and 12); the last value is used"),
        "{duplicate}"
    );
    let stored = common::sqlite_rows(
        &root.join("store.db"),
        "SELECT DISTINCT metric_name FROM dtk_datapoints ORDER BY metric_name",
    );
    assert_eq!(stored, vec!["good_a", "good_b"]);
}

/// A source table with the query-result problems of the data corpus.
fn data_db(dir: &Path) {
    sqlite_exec(
        &dir.join("data.db"),
        &[
            "CREATE TABLE d (ts TEXT, v REAL, n INTEGER, txt TEXT)",
            "INSERT INTO d VALUES ('2024-01-01 23:40:00', 5, 1, 'a'), ('2024-01-01 23:50:00', 6, 2, 'b')",
        ],
    );
}

/// The `error: metric `name`...` line of `stderr` and its indented continuation lines.
fn metric_block(stderr: &str, name: &str) -> String {
    let head = format!("error: metric `{name}`");
    let mut out = String::new();
    let mut inside = false;
    for line in stderr.lines() {
        if !line.starts_with("  ") {
            inside = line.starts_with(&head);
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn data_metric(dir: &Path, name: &str, select: &str) {
    let yaml = format!(
        "name: {name}\ncollector:\n  type: sql\n  params:\n    connection_string: \"sqlite:///../data.db\"\n    query: \"{select}\"\nstorage: {{type: sqlite, params: {{connection_string: \"sqlite:///../store.db\"}}}}\ndetector: {{type: threshold, params: {{threshold: 100}}}}\nalerter: {{type: mattermost, enabled: false, params: {{webhook_url: \"http://127.0.0.1:9/hooks/{SECRET}\"}}}}\nschedule: {{interval: 10 minutes}}\n"
    );
    std::fs::create_dir_all(dir.join("metrics")).unwrap();
    std::fs::write(dir.join("metrics").join(format!("{name}.yaml")), yaml).unwrap();
}

#[test]
fn corpus_of_bad_query_results_fails_each_metric_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    data_db(root);
    let w = "WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}'";
    let failing: Vec<(&str, String, &str)> = vec![
        (
            "inf_value",
            format!("SELECT ts AS period_time, 1e999 AS value FROM d {w} ORDER BY ts"),
            "value column `value` is inf",
        ),
        (
            "neg_inf_value",
            format!("SELECT ts AS period_time, -1e999 AS value FROM d {w} ORDER BY ts"),
            "value column `value` is -inf",
        ),
        (
            "text_value",
            format!("SELECT ts AS period_time, txt AS value FROM d {w} ORDER BY ts"),
            "value column `value` holds text \\\"a\\\", not a number",
        ),
        (
            "null_timestamp",
            "SELECT NULL AS period_time, 1 AS value".to_string(),
            "timestamp column `period_time` is NULL",
        ),
        (
            "garbage_timestamp",
            "SELECT 'yesterday' AS period_time, 1 AS value".to_string(),
            "invalid time \\\"yesterday\\\"",
        ),
        (
            "unix_out_of_range",
            "SELECT 99999999999999999 AS period_time, 1 AS value".to_string(),
            "is out of range as Unix seconds",
        ),
        (
            "real_timestamp",
            "SELECT 1.5 AS period_time, 1 AS value".to_string(),
            "expected a timestamp",
        ),
        (
            "duplicate_ts",
            format!(
                "SELECT ts AS period_time, v AS value FROM d {w} UNION ALL SELECT ts, v FROM d {w} ORDER BY 1"
            ),
            "duplicate timestamp 2024-01-01 23:40:00 UTC",
        ),
        (
            "out_of_order",
            format!("SELECT ts AS period_time, v AS value FROM d {w} ORDER BY ts DESC"),
            "timestamps are not sorted",
        ),
        (
            "unknown_columns",
            format!("SELECT ts, v FROM d {w}"),
            "no timestamp column `period_time` (columns returned: ts, v)",
        ),
        (
            "no_value_column",
            format!("SELECT ts AS period_time FROM d {w}"),
            "no value column `value`",
        ),
        (
            "missing_table",
            "SELECT ts AS period_time, v AS value FROM nowhere".to_string(),
            "no such table: nowhere",
        ),
        ("sql_syntax", "SELEC 1".to_string(), "syntax error"),
        (
            "injected_panic",
            format!("SELECT ts AS period_time, v AS value FROM d {w} ORDER BY ts"),
            "internal error: injected by DETECTK_TEST_PANIC",
        ),
    ];
    let passing: Vec<(&str, String)> = vec![
        (
            "ok_plain",
            format!("SELECT ts AS period_time, v AS value FROM d {w} ORDER BY ts"),
        ),
        (
            "ok_nulls",
            format!("SELECT ts AS period_time, NULL AS value FROM d {w} ORDER BY ts"),
        ),
        (
            "ok_huge",
            format!("SELECT ts AS period_time, 1e308 AS value FROM d {w} ORDER BY ts"),
        ),
        (
            "ok_negative",
            format!("SELECT ts AS period_time, -v AS value FROM d {w} ORDER BY ts"),
        ),
        (
            "ok_integer",
            format!("SELECT ts AS period_time, n AS value FROM d {w} ORDER BY ts"),
        ),
        (
            "ok_off_grid",
            format!(
                "SELECT datetime(ts, '+7 seconds') AS period_time, v AS value FROM d {w} ORDER BY ts"
            ),
        ),
        (
            "ok_empty",
            "SELECT ts AS period_time, v AS value FROM d WHERE 0".to_string(),
        ),
        (
            "ok_outside",
            "SELECT ts AS period_time, v AS value FROM d ORDER BY ts".to_string(),
        ),
    ];
    for (name, select, _) in &failing {
        data_metric(root, name, select);
    }
    for (name, select) in &passing {
        data_metric(root, name, select);
    }
    let out = common::dtk()
        .current_dir(root)
        .env("DETECTK_TEST_PANIC", "injected_panic")
        .args(["run", "metrics", "--execution-time", T])
        .output()
        .unwrap();
    let (err, text) = (stderr(&out), stdout(&out));
    assert_eq!(out.status.code(), Some(1), "failed metrics exit 1:\n{err}");
    assert!(
        !err.contains(SECRET) && !text.contains(SECRET),
        "a secret leaked"
    );
    assert!(
        text.contains(&format!(
            "{} metric(s): {} ok, {} failed",
            failing.len() + passing.len(),
            passing.len(),
            failing.len()
        )),
        "{text}\n{err}"
    );
    let mut problems = Vec::new();
    for (name, _, expected) in &failing {
        let expected = expected.replace("\\\"", "\"");
        let block = metric_block(&err, name);
        if !block.contains(&expected) {
            problems.push(format!("{name}: expected {expected:?} in:\n{block}"));
        }
    }
    assert!(problems.is_empty(), "{}\n---\n{err}", problems.join("\n"));
    for (name, _) in &passing {
        assert!(
            text.contains(&format!("{name}: ")),
            "{name} did not report:\n{text}"
        );
    }
    assert!(
        text.contains("2 row(s) were off the 10 minutes grid"),
        "{text}"
    );
    let stored = common::sqlite_rows(
        &root.join("store.db"),
        "SELECT DISTINCT metric_name FROM dtk_datapoints ORDER BY metric_name",
    );
    let expected: Vec<String> = {
        let mut v: Vec<String> = passing.iter().map(|(n, _)| n.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(stored, expected, "only the good metrics stored points");
}

#[test]
fn a_pathological_window_fails_validation_and_the_other_two_metrics_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    std::fs::create_dir_all(root.join("metrics")).unwrap();
    std::fs::write(root.join("metrics/a_good.yaml"), base("a_good")).unwrap();
    std::fs::write(root.join("metrics/c_good.yaml"), base("c_good")).unwrap();
    std::fs::write(
        root.join("metrics/b_window.yaml"),
        variant(
            "b_window",
            &[(
                "detector: {type: threshold, params: {threshold: 100}}",
                "detector: {type: mad, params: {window_size: 100000000 days}}",
            )],
        ),
    )
    .unwrap();
    let validate = run_in(root, &["validate", "metrics"]);
    assert_eq!(validate.status.code(), Some(2));
    assert!(
        stderr(&validate).contains("metrics/b_window.yaml: detector.params.window_size: invalid duration `100000000 days`: too large"),
        "{}",
        stderr(&validate)
    );
    let out = run_in(root, &["run", "metrics", "--execution-time", T]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("3 metric(s): 2 ok, 0 failed, 1 invalid"),
        "{}",
        stdout(&out)
    );
    let stored = common::sqlite_rows(
        &root.join("store.db"),
        "SELECT DISTINCT metric_name FROM dtk_datapoints ORDER BY metric_name",
    );
    assert_eq!(stored, vec!["a_good", "c_good"]);
}

#[test]
fn a_panicking_metric_fails_alone_in_run_and_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    source_db(root);
    std::fs::create_dir_all(root.join("metrics")).unwrap();
    for name in ["a_good", "b_panics", "c_good"] {
        let text = base(name).replace(
            "schedule: {interval: 10 minutes}",
            "schedule: {interval: 10 minutes, start_time: \"2024-01-01 23:00:00\"}",
        );
        std::fs::write(root.join(format!("metrics/{name}.yaml")), text).unwrap();
    }
    for command in ["run", "backfill"] {
        let out = common::dtk()
            .current_dir(root)
            .env("DETECTK_TEST_PANIC", "b_panics")
            .args([command, "metrics", "--execution-time", T])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {err}");
        assert!(
            err.contains(
                "error: metric `b_panics`: internal error: injected by DETECTK_TEST_PANIC"
            ),
            "{command}: {err}"
        );
        assert!(err.contains("the other metrics were not affected"), "{err}");
        let stored = common::sqlite_rows(
            &root.join("store.db"),
            "SELECT DISTINCT metric_name FROM dtk_datapoints ORDER BY metric_name",
        );
        assert_eq!(stored, vec!["a_good", "c_good"], "{command}");
    }
}
