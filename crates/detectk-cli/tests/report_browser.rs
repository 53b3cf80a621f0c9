//! `dtk report` and `dtk plot` end to end: real SQLite data loaded by `dtk backfill`
//! and `dtk run`, the page opened in a real headless Chromium (Debian's `chromium`,
//! installed by scripts/services/chromium.sh): no console errors, every chart drew, the
//! page fits a phone's width; the image decoded and its pixels checked.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_in, sqlite_exec, stderr, stdout};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs headless Chromium on `page` with `extra` flags; returns (stdout, stderr).
fn chromium(page: &Path, extra: &[&str]) -> (String, String) {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run scripts/services/chromium.sh (scripts/test.sh does)"
    );
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    assert!(out.status.success(), "chromium failed: {}", stderr(&out));
    (stdout(&out), stderr(&out))
}

/// The page's DOM after its script ran, checked for console messages and its markers.
fn load(page: &Path, width: u32) -> String {
    let (dom, log) = chromium(page, &[&format!("--window-size={width},900"), "--dump-dom"]);
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    dom
}

fn body_attribute(dom: &str, name: &str) -> String {
    let body = &dom[dom.find("<body").expect("a body")..];
    let body = &body[..body.find('>').unwrap()];
    let key = format!("{name}=\"");
    let start = body
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} on {body}"))
        + key.len();
    body[start..start + body[start..].find('"').unwrap()].to_string()
}

fn png_rgb(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// Horizontal bands of the screenshot where the series colour (#2764c5) is drawn on
/// many pixels of a row: one band per chart that drew.
fn series_bands(path: &Path) -> usize {
    let (w, h, pixels) = png_rgb(path);
    let near = |p: &[u8; 3]| {
        (i32::from(p[0]) - 39).abs() < 40
            && (i32::from(p[1]) - 100).abs() < 40
            && (i32::from(p[2]) - 197).abs() < 40
    };
    let mut bands = 0;
    let mut inside = false;
    for y in 0..h {
        let row = &pixels[(y * w) as usize..((y + 1) * w) as usize];
        let hits = row.iter().filter(|p| near(p)).count();
        let line = hits >= 25;
        if line && !inside {
            bands += 1;
        }
        inside = line;
    }
    bands
}

/// A source with a year of 10-minute points: a daily wave with noise, spikes at three
/// points, an hour without data, and a spike at the very last point.
fn year_project(dir: &Path) -> PathBuf {
    let source = dir.join("source.db");
    sqlite_exec(
        &source,
        &[
            "CREATE TABLE s (ts TEXT, v REAL)",
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 52559)
             INSERT INTO s SELECT strftime('%Y-%m-%d %H:%M:%S', '2025-01-01', '+' || (i * 10) || ' minutes'),
               CASE WHEN i IN (9000, 25000, 41000, 52559) THEN 900
                    ELSE 100 + abs((i % 144) - 72) + ((i * 7919) % 13) END
             FROM n WHERE i NOT BETWEEN 30000 AND 30005",
        ],
    );
    std::fs::write(dir.join("detectk_project.yaml"), "version: 1\n").unwrap();
    let config = dir.join("year.yaml");
    std::fs::write(
        &config,
        "name: year_10min
description: A year of 10-minute points with four spikes
collector:
  type: sqlite
  params:
    connection_string: sqlite:///source.db
    query: \"SELECT ts AS period_time, v AS value FROM s WHERE ts >= '{{ period_start }}' AND ts < '{{ period_finish }}'\"
storage:
  type: sqlite
  params: {connection_string: sqlite:///store.db}
detector: {type: mad, params: {window_size: 1 day, n_sigma: 8}}
alerter:
  type: console
  params: {path: alerts.txt, report_url: 'https://reports.example.com/year.html#m-{metric}'}
  conditions: {cooldown_minutes: 60}
schedule:
  interval: 10 minutes
  start_time: '2025-01-01 00:00:00'
  batch_load_days: 90
",
    )
    .unwrap();
    config
}

#[test]
fn a_year_of_data_makes_a_small_page_that_draws_in_a_browser_and_a_png() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    year_project(dir);
    let out = run_in(
        dir,
        &[
            "backfill",
            "year.yaml",
            "--execution-time",
            "2025-12-31 23:50:00",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = run_in(
        dir,
        &[
            "run",
            "year.yaml",
            "--execution-time",
            "2026-01-01 00:00:00",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("alert sent"), "{}", stdout(&out));
    let alerts = std::fs::read_to_string(dir.join("alerts.txt")).unwrap();
    assert!(
        alerts.contains("Report: https://reports.example.com/year.html#m-year_10min"),
        "the alert links the report: {alerts}"
    );

    let out = run_in(
        dir,
        &[
            "report",
            "year.yaml",
            "--from",
            "2025-01-01",
            "--to",
            "2026-01-01",
            "-o",
            "year.html",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let page_path = dir.join("year.html");
    let page = std::fs::read_to_string(&page_path).unwrap();
    eprintln!("report of a year of 10-minute data: {} bytes", page.len());
    assert!(page.len() < 400_000, "{} bytes for a year", page.len());
    // the four spikes are drawn; the last one was alerted on, the others were loaded by backfill
    assert!(
        page.contains(r#"data-anomalies="4""#),
        "four anomalies on the chart"
    );
    assert!(page.contains("<td class=\"why\">sent</td>"));
    assert!(page.contains("no alert was recorded (loaded by backfill"));
    assert!(page.contains("Missing intervals (6 in 1 range(s))"));

    let dom = load(&page_path, 1200);
    assert_eq!(body_attribute(&dom, "data-charts"), "1/1");
    assert_eq!(body_attribute(&dom, "data-fits"), "yes");
    let phone = load(&page_path, 390);
    assert_eq!(
        body_attribute(&phone, "data-fits"),
        "yes",
        "readable on a phone"
    );
    let shot = dir.join("shot.png");
    chromium(
        &page_path,
        &[
            "--window-size=1200,900",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert_eq!(series_bands(&shot), 1, "the chart's line is on the screen");

    // dtk plot: the same metric as a PNG, then an SVG
    let out = run_in(
        dir,
        &[
            "plot",
            "year.yaml",
            "--from",
            "2025-12-01",
            "--to",
            "2026-01-01",
            "-o",
            "year.png",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let (w, h, pixels) = png_rgb(&dir.join("year.png"));
    assert_eq!((w, h), (1200, 420));
    assert!(
        pixels.iter().filter(|p| **p == [39, 100, 197]).count() > 500,
        "series drawn"
    );
    assert!(
        pixels.iter().filter(|p| **p == [214, 39, 24]).count() > 10,
        "the alerted spike"
    );
    let out = run_in(
        dir,
        &[
            "plot",
            "year.yaml",
            "-o",
            "year.svg",
            "--from",
            "2025-12-01",
            "--to",
            "2026-01-01",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(dir.join("year.svg"))
            .unwrap()
            .contains("year_10min")
    );
    let out = run_in(dir, &["plot", "year.yaml", "-o", "year.gif"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("year.gif") && stderr(&out).contains(".png"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_fleet_report_lists_every_metric_problems_first_and_every_chart_draws() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sqlite_exec(
        &dir.join("source.db"),
        &[
            "CREATE TABLE s (ts TEXT, v REAL)",
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 431)
             INSERT INTO s SELECT strftime('%Y-%m-%d %H:%M:%S', '2025-03-01', '+' || (i * 10) || ' minutes'),
               100 + abs((i % 144) - 72) + ((i * 7919) % 13) FROM n",
        ],
    );
    std::fs::write(dir.join("detectk_project.yaml"), "version: 1\n").unwrap();
    std::fs::create_dir(dir.join("metrics")).unwrap();
    const FLEET: usize = 30;
    for i in 0..FLEET {
        // metric 7 reads a table that does not exist: it is stored nothing
        let table = if i == 7 { "nothing_here" } else { "s" };
        std::fs::write(
            dir.join(format!("metrics/m{i:02}.yaml")),
            format!(
                "name: fleet_{i:02}
collector:
  type: sqlite
  params:
    connection_string: sqlite:///../source.db
    query: \"SELECT ts AS period_time, v AS value FROM {table} WHERE ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}'\"
storage: {{type: sqlite, params: {{connection_string: sqlite:///../store.db}}}}
detector: {{type: zscore, params: {{window_size: 1 day, n_sigma: 4}}}}
schedule: {{interval: 10 minutes, start_time: '2025-03-01 00:00:00'}}
"
            ),
        )
        .unwrap();
    }
    let out = run_in(
        dir,
        &[
            "backfill",
            "metrics",
            "--execution-time",
            "2025-03-04 00:00:00",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "one metric fails: {}",
        stderr(&out)
    );
    let out = run_in(
        dir,
        &[
            "report",
            "metrics",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-04",
            "-o",
            "fleet.html",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let page_path = dir.join("fleet.html");
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert_eq!(page.matches(r#"<section class="metric""#).count(), FLEET);
    eprintln!("report of {FLEET} metrics of 3 days: {} bytes", page.len());
    assert!(page.len() < FLEET * 40_000, "{} bytes", page.len());
    // the metric with no data comes first in the summary, flagged
    let first_row = &page[page.find("<tbody>").unwrap()..];
    assert!(
        first_row[..400].contains("fleet_07") && first_row[..400].contains("no data"),
        "{}",
        &first_row[..400]
    );
    let dom = load(&page_path, 1200);
    assert_eq!(
        body_attribute(&dom, "data-charts"),
        format!("{}/{}", FLEET - 1, FLEET - 1)
    );
    assert_eq!(body_attribute(&load(&page_path, 390), "data-fits"), "yes");
}

#[test]
fn bad_report_and_plot_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::sample_project(dir);
    // an empty period names both flags
    let out = run_in(
        dir,
        &[
            "report",
            "metrics",
            "--from",
            "2024-02-02",
            "--to",
            "2024-02-01",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--from") && stderr(&out).contains("--to"),
        "{}",
        stderr(&out)
    );
    let out = run_in(dir, &["report", "metrics", "--from", "yesterday-ish"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--from"), "{}", stderr(&out));
    // nothing stored yet: the page says so per metric; a missing output directory fails
    let out = run_in(
        dir,
        &[
            "report",
            "metrics",
            "--to",
            common::SAMPLE_END,
            "-o",
            "r.html",
        ],
    );
    let page = std::fs::read_to_string(dir.join("r.html")).unwrap_or_default();
    assert!(
        page.contains("site_sessions"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = run_in(dir, &["report", "metrics", "-o", "no/such/dir/r.html"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no/such/dir/r.html"),
        "{}",
        stderr(&out)
    );
    // plot takes one metric
    let out = run_in(dir, &["plot", "metrics", "-o", "x.png"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("one metric"), "{}", stderr(&out));
}
