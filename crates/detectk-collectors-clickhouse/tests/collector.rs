//! The collector against ClickHouse 18.16: decoding by type, time zones, and faults.

mod common;

use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use detectk_collectors_clickhouse::ConnectionConfig;
use detectk_core::{BackendErrorKind, Cell, Collector, Secret};

fn collector(config: ConnectionConfig) -> impl Collector {
    common::factory().collector(config)
}

async fn one_row(sql: &str) -> Vec<(String, Cell)> {
    let table = collector(common::config("default"))
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(table.rows.len(), 1, "{sql}");
    table
        .columns
        .into_iter()
        .zip(table.rows.into_iter().next().unwrap())
        .collect()
}

#[tokio::test]
async fn decodes_cells_by_column_type() {
    let row = one_row(
        "SELECT toInt8(-1) AS i8, toUInt8(200) AS u8, toInt64(-9000000000) AS i64, \
         toUInt64(18446744073709551615) AS u64max, toUInt64(42) AS u64small, \
         toFloat32(0.5) AS f32, toFloat64('nan') AS nan, -1/0 AS neg_inf, \
         toDecimal32(1.25, 2) AS dec32, toDecimal128('123456.789', 3) AS dec128, \
         'txt' AS s, toFixedString('ab', 4) AS fixed, CAST('b' AS Enum8('a' = 1, 'b' = 2)) AS e, \
         toDate('2024-02-29') AS d, [1, 2, 3] AS arr, (1, 'x') AS tup, \
         CAST(NULL AS Nullable(Int32)) AS null_int, toNullable(7) AS nullable_int, NULL AS nothing",
    )
    .await;
    let get = |name: &str| row.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(get("i8"), Cell::Int(-1));
    assert_eq!(get("u8"), Cell::Int(200));
    assert_eq!(get("i64"), Cell::Int(-9_000_000_000));
    assert_eq!(get("u64max"), Cell::UInt(u64::MAX));
    assert_eq!(get("u64small"), Cell::Int(42));
    assert_eq!(get("f32"), Cell::Float(0.5));
    assert!(matches!(get("nan"), Cell::Float(f) if f.is_nan()));
    assert_eq!(get("neg_inf"), Cell::Float(f64::NEG_INFINITY));
    assert_eq!(get("dec32"), Cell::Float(1.25));
    assert_eq!(get("dec128"), Cell::Float(123456.789));
    assert_eq!(get("s"), Cell::Text("txt".into()));
    assert_eq!(get("fixed"), Cell::Text("ab".into()));
    assert_eq!(get("e"), Cell::Text("b".into()));
    assert_eq!(
        get("d"),
        Cell::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())
    );
    assert_eq!(get("arr"), Cell::Json(serde_json::json!([1, 2, 3])));
    assert_eq!(get("tup"), Cell::Json(serde_json::json!([1, "x"])));
    assert_eq!(get("null_int"), Cell::Null);
    assert_eq!(get("nullable_int"), Cell::Int(7));
    assert_eq!(get("nothing"), Cell::Null);
    let names: Vec<&str> = row.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..3], ["i8", "u8", "i64"], "columns keep query order");
}

#[tokio::test]
async fn datetimes_are_absolute_instants_in_any_zone() {
    let instant = Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap();
    let row = one_row(
        "SELECT toDateTime('2024-07-01 00:00:00', 'UTC') AS utc, \
         toDateTime('2024-07-01 09:00:00', 'Asia/Tokyo') AS tokyo, \
         toTimeZone(toDateTime('2024-07-01 00:00:00', 'UTC'), 'America/New_York') AS new_york, \
         toDateTime(1719792000) AS server_zone, \
         toNullable(toDateTime('2024-07-01 02:00:00', 'Europe/Berlin')) AS berlin",
    )
    .await;
    for (name, cell) in &row {
        assert_eq!(*cell, Cell::DateTimeUtc(instant), "column {name}");
    }
}

#[tokio::test]
async fn ambiguous_local_time_is_a_clear_error() {
    // 05:30 UTC on 2024-11-03 is 01:30 in New York, a wall time that occurs twice.
    let err = collector(common::config("default"))
        .query(
            "SELECT toTimeZone(toDateTime('2024-11-03 05:30:00', 'UTC'), 'America/New_York') AS t",
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Decode);
    assert!(err.message.contains("column `t`"), "{err}");
    assert!(
        err.message
            .contains("ambiguous in time zone America/New_York"),
        "{err}"
    );
    assert!(err.message.contains("toTimeZone(column, 'UTC')"), "{err}");
}

#[tokio::test]
async fn a_table_of_the_collector_database_is_queried_by_its_plain_name() {
    let db = common::TempDb::create("coldb").await;
    common::exec(
        &db,
        "CREATE TABLE sessions (ts DateTime, n UInt32) ENGINE = MergeTree ORDER BY ts",
    )
    .await;
    common::exec(
        &db,
        "INSERT INTO sessions VALUES ('2024-01-01 00:00:00', 3), ('2024-01-01 00:10:00', 5)",
    )
    .await;
    let table = collector(common::config(&db))
        .query(
            "SELECT toDateTime(intDiv(toUInt32(ts), 600) * 600) AS period_time, sum(n) AS value \
             FROM sessions GROUP BY period_time ORDER BY period_time;\n",
        )
        .await
        .unwrap();
    assert_eq!(table.columns, ["period_time", "value"]);
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(
        table.rows,
        vec![
            vec![Cell::DateTimeUtc(t0), Cell::Int(3)],
            vec![
                Cell::DateTimeUtc(t0 + chrono::Duration::minutes(10)),
                Cell::Int(5)
            ],
        ]
    );
}

#[tokio::test]
async fn question_marks_in_queries_are_not_placeholders() {
    let row = one_row("SELECT 'why?' AS q, position('a?b', '?') AS p").await;
    assert_eq!(row[0].1, Cell::Text("why?".into()));
    assert_eq!(row[1].1, Cell::Int(2));
}

#[tokio::test]
async fn text_value_column_stays_text() {
    // The pipeline rejects a text value column; the collector must not coerce it.
    let row = one_row("SELECT now() AS period_time, '12.5' AS value").await;
    assert_eq!(row[1].1, Cell::Text("12.5".into()));
}

#[tokio::test]
async fn server_down_is_a_transient_connect_error_naming_host_and_port() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut config = common::config("default");
    config.port = port;
    let err = collector(config).query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
    assert!(err.transient);
    assert_eq!(err.server, format!("127.0.0.1:{port}"));
    assert!(err.message.contains("connection refused"), "{err}");
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_without_the_password() {
    let mut config = common::config("default");
    config.password = Secret::new("s3cr3t-wrong");
    let c = collector(config);
    let err = c.query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Auth, "{err}");
    assert!(!err.transient);
    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{c:?}"),
        c.describe(),
    ] {
        assert!(!text.contains("s3cr3t-wrong"), "password leaked: {text}");
    }
}

#[tokio::test]
async fn query_faults_are_query_errors_with_the_cause() {
    let c = collector(common::config("default"));
    let cases = [
        ("SELEC 1", "Syntax error"),
        ("SELECT value FROM dtk_no_such_table", "dtk_no_such_table"),
        ("SELECT no_such_column FROM system.one", "no_such_column"),
        ("SELECT 1 FROM no_such_db_dtk.t", "no_such_db_dtk"),
    ];
    for (sql, cause) in cases {
        let err = c.query(sql).await.unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::Query, "{sql}: {err}");
        assert!(!err.transient, "{sql}: {err}");
        assert_eq!(err.server, "127.0.0.1:8123");
        assert!(err.message.contains(cause), "{sql}: {err}");
        assert!(!err.message.contains("e.what()"), "{sql}: {err}");
    }
    let err = c.query("   ;  ").await.unwrap_err();
    assert!(err.message.contains("empty"), "{err}");
}

#[tokio::test]
async fn own_format_clause_is_explained() {
    let err = collector(common::config("default"))
        .query("SELECT 1 AS value FORMAT TSV")
        .await
        .unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Decode);
    assert!(
        err.message.contains("without its own FORMAT clause"),
        "{err}"
    );
}

#[tokio::test]
async fn slow_query_hits_the_timeout() {
    let mut config = common::config("default");
    config.timeout = Duration::from_millis(300);
    let err = collector(config)
        .query("SELECT sleep(2)")
        .await
        .unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Timeout, "{err}");
    assert!(err.transient);
}

#[tokio::test]
async fn many_concurrent_queries_share_one_server() {
    let factory = common::factory();
    let collectors: Vec<_> = (0..4)
        .map(|_| factory.collector(common::config("default")))
        .collect();
    let queries = (0..40).map(|i| {
        let c = collectors[i % collectors.len()].clone();
        async move { c.query(&format!("SELECT {i} AS n")).await }
    });
    let results = futures::future::join_all(queries).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap().rows, vec![vec![Cell::Int(i as i64)]]);
    }
}

#[tokio::test]
async fn read_only_user_is_served_without_output_settings() {
    // Debian's ClickHouse ships a user `readonly` (no password, readonly = 1) that may
    // not change any setting; the collector falls back to the server's defaults.
    let mut config = common::config("default");
    config.user = "readonly".into();
    let c = collector(config);
    for _ in 0..2 {
        let table = c
            .query(
                "SELECT toUInt64(18446744073709551615) AS u, toInt64(-5) AS i, \
                 toDateTime('2024-07-01 09:00:00', 'Asia/Tokyo') AS t, toDecimal64(2.5, 1) AS d",
            )
            .await
            .unwrap();
        assert_eq!(
            table.rows,
            vec![vec![
                Cell::UInt(u64::MAX),
                Cell::Int(-5),
                Cell::DateTimeUtc(Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap()),
                Cell::Float(2.5),
            ]]
        );
    }
}

#[tokio::test]
async fn secure_connections_use_tls() {
    // A local server that answers every connection in plain HTTP at once, so the TLS
    // handshake must fail: proof that `secure` really switches to HTTPS and that TLS
    // support is built in. (ClickHouse's own HTTP port may wait for a request line
    // that a ClientHello does not contain, which would make this a timeout.)
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let mut config = common::config("default");
    config.port = port;
    config.secure = true;
    let c = collector(config);
    assert_eq!(c.describe(), format!("clickhouse 127.0.0.1:{port}/default"));
    let err = c.query("SELECT 1").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Connect, "{err}");
    assert!(!err.message.contains("scheme is not http"), "{err}");
    assert!(err.message.contains("does not speak HTTPS"), "{err}");
}

#[tokio::test]
async fn plain_datetime_is_read_in_the_server_time_zone() {
    // This server runs in America/New_York: a plain DateTime is rendered as New York
    // wall-clock time, which the collector must turn back into the same instant.
    let c = collector(common::config_new_york("default"));
    let table = c
        .query(
            "SELECT timezone() AS zone, toDateTime(1719792000) AS plain, \
             toDateTime('2024-07-01 00:00:00') AS parsed_in_server_zone, \
             toDateTime('2024-01-15 12:00:00', 'UTC') AS utc_column, \
             toStartOfHour(toDateTime(1705320000)) AS hour_start, toDate(toDateTime(1719792000)) AS day",
        )
        .await
        .unwrap();
    let row = &table.rows[0];
    assert_eq!(row[0], Cell::Text("America/New_York".into()));
    // 2024-07-01 00:00:00 UTC is 2024-06-30 20:00 in New York (EDT).
    assert_eq!(
        row[1],
        Cell::DateTimeUtc(Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap())
    );
    // Text without a zone is parsed by the server in its own zone: 00:00 EDT = 04:00 UTC.
    assert_eq!(
        row[2],
        Cell::DateTimeUtc(Utc.with_ymd_and_hms(2024, 7, 1, 4, 0, 0).unwrap())
    );
    assert_eq!(
        row[3],
        Cell::DateTimeUtc(Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 0).unwrap())
    );
    // 2024-01-15 12:00 UTC is 07:00 EST; the hour starts at 07:00 EST = 12:00 UTC.
    assert_eq!(
        row[4],
        Cell::DateTimeUtc(Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 0).unwrap())
    );
    // The calendar day of that instant in New York.
    assert_eq!(
        row[5],
        Cell::Date(NaiveDate::from_ymd_opt(2024, 6, 30).unwrap())
    );

    // 2024-11-03 05:30 UTC is 01:30 in New York, a wall time that occurs twice.
    let err = c
        .query("SELECT toDateTime(1730611800) AS t")
        .await
        .unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Decode);
    assert!(
        err.message
            .contains("ambiguous in time zone America/New_York"),
        "{err}"
    );
    // The other 01:30 (EST) is also ambiguous as text; the UTC form of both is fine.
    let table = c
        .query("SELECT toTimeZone(toDateTime(1730611800), 'UTC') AS a, toTimeZone(toDateTime(1730615400), 'UTC') AS b")
        .await
        .unwrap();
    assert_eq!(
        table.rows[0],
        vec![
            Cell::DateTimeUtc(Utc.with_ymd_and_hms(2024, 11, 3, 5, 30, 0).unwrap()),
            Cell::DateTimeUtc(Utc.with_ymd_and_hms(2024, 11, 3, 6, 30, 0).unwrap()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_one_server_are_bounded_across_logins() {
    use detectk_collectors_clickhouse::server::MAX_CONCURRENT_REQUESTS;
    // Twice as many 0.3 s queries as the limit, from two logins of one factory: they
    // must run in at least two waves, so the whole takes at least 0.6 s.
    let factory = common::factory();
    let mut readonly = common::config("default");
    readonly.user = "readonly".into();
    let collectors = [
        factory.collector(common::config("default")),
        factory.collector(readonly),
    ];
    let started = std::time::Instant::now();
    let queries = (0..2 * MAX_CONCURRENT_REQUESTS).map(|i| {
        let c = collectors[i % 2].clone();
        async move { c.query("SELECT sleep(0.3) AS s").await }
    });
    for r in futures::future::join_all(queries).await {
        r.unwrap();
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(600),
        "{} queries finished in {elapsed:?}: the limit of {MAX_CONCURRENT_REQUESTS} was not applied",
        2 * MAX_CONCURRENT_REQUESTS
    );
}

#[tokio::test]
async fn the_server_stops_a_query_at_the_time_limit_too() {
    // ClickHouse 18.16 keeps running a query after its HTTP client went away; the
    // collector passes its limit as max_execution_time so the server stops it as well.
    let marker = format!("dtk_probe_{}", rand::random::<u64>());
    let mut config = common::config("default");
    config.timeout = Duration::from_secs(1);
    let err = collector(config)
        .query(&format!(
            "SELECT count() FROM system.numbers WHERE number < 100000000000 AND '{marker}' != ''"
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Timeout, "{err}");
    assert!(err.transient);
    let running = format!(
        "SELECT toString(count()) FROM system.processes \
         WHERE query LIKE '%{marker}%' AND query NOT LIKE '%system.processes%'"
    );
    let admin = clickhouse::Client::default()
        .with_url(common::config("default").url())
        .with_validation(false);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n: String = admin.query(&running).fetch_one().await.unwrap();
        if n == "0" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the query still runs on the server 5 s after the client's time limit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
