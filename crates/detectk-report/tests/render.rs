//! Rendering from in-memory data: what the page and the images hold, and size bounds
//! for a year of 10-minute data and for a fleet of 1,000 metrics.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use detectk_core::alert::AlertSettings;
use detectk_core::{Context, DataPoint, Detection, DetectionRecord, Direction};
use detectk_report::plot::{DEFAULT_SIZE, render_chart};
use detectk_report::{AlertOutcome, MetricData, MetricEntry, Period, Status, analyze};
use serde_json::{Map, json};

const STEP: TimeDelta = TimeDelta::minutes(10);

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

/// `n` points of a daily wave; points in `spikes` jump to 10x; every 1000th is missing.
/// Detector `mad` has a band of +-20 around the wave and flags the spikes; alerts
/// were sent for the spikes in `sent`.
fn metric(name: &str, n: usize, spikes: &[usize], sent: &[usize]) -> MetricData {
    let mut data = MetricData::new(name, STEP);
    data.detector_ids = vec!["mad".into()];
    data.alert = Some(AlertSettings {
        cooldown_minutes: 60,
        ..AlertSettings::default()
    });
    for i in 0..n {
        let t = start() + STEP * i as i32;
        let base = 100.0 + 50.0 * ((i % 144) as f64 / 144.0 * std::f64::consts::TAU).sin();
        if i % 1000 == 999 {
            data.points.push(DataPoint::missing(t));
            continue;
        }
        let spike = spikes.contains(&i);
        let v = if spike { base * 10.0 } else { base };
        data.points.push(DataPoint::new(t, v));
        data.detections.push(DetectionRecord {
            metric: name.into(),
            detector_id: "mad".into(),
            detector_type: "mad".into(),
            detector_params: json!({}),
            detection: Detection {
                timestamp: t,
                value: Some(v),
                is_anomaly: spike,
                score: Some(if spike { 9.0 } else { 0.5 }),
                lower_bound: Some(base - 20.0),
                upper_bound: Some(base + 20.0),
                direction: spike.then_some(Direction::Up),
                percent_deviation: Some(if spike { 900.0 } else { 0.0 }),
                skipped: None,
                stats: Map::new(),
            },
            alert_sent: sent.contains(&i),
            context: Context::new(),
        });
    }
    data.last_point = data.points.last().map(|p| p.timestamp);
    data
}

fn period(n: usize) -> Period {
    let to = start() + STEP * n as i32;
    Period::new(start(), to, to)
}

/// Count of anomaly markers (`M..h0` moves) in the chart path of `class`.
fn markers(page: &str, class: &str) -> usize {
    let needle = format!(r#"<path class="{class}" d=""#);
    page.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &page[i + needle.len()..];
            rest[..rest.find('"').unwrap()].matches('M').count()
        })
        .sum()
}

#[test]
fn a_year_of_ten_minute_data_is_small_and_keeps_every_anomaly() {
    let n = 365 * 144;
    // 40 spikes, some in a row (held by the cooldown), alerts sent for a few.
    let mut spikes: Vec<usize> = (0..30).map(|k| 1_000 + k * 1_700).collect();
    spikes.extend(20_000..20_010);
    let sent = [1_000, 2_700, 20_000];
    let data = metric("year", n, &spikes, &sent);
    let p = period(n);
    let view = analyze(&data, &p);
    assert_eq!(view.anomalies.len(), spikes.len());
    assert_eq!(view.alerts_sent(), 3);
    assert_eq!(view.status, Status::Ok);
    assert_eq!(view.missing.len(), n / 1000);
    // 20_001 follows the alert at 20_000 within the 60-minute cooldown.
    let held = view
        .anomalies
        .iter()
        .find(|a| a.timestamp == start() + STEP * 20_001)
        .unwrap();
    match &held.outcome {
        AlertOutcome::Suppressed(why) => assert!(why.starts_with("cooldown"), "{why}"),
        other => panic!("{other:?}"),
    }

    let page =
        detectk_report::html::render_page(&[MetricEntry::Loaded(Box::new(data.clone()))], &p);
    eprintln!("a year of 10-minute data: {} bytes", page.len());
    assert!(page.len() < 250_000, "{} bytes for a year", page.len());
    assert_eq!(
        markers(&page, "anomaly") + markers(&page, "suppressed"),
        spikes.len()
    );
    assert_eq!(markers(&page, "anomaly"), 3);
    assert!(page.contains("not sent: cooldown"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no network resources"
    );
    // every spike's value is on the drawn line too (the reduction keeps column maxima)
    let series_start = page.find(r#"<path class="series" d=""#).unwrap();
    let series = &page[series_start..series_start + page[series_start..].find("/>").unwrap()];
    assert!(
        series.matches('L').count() < 4 * 800,
        "reduced to the columns"
    );
}

#[test]
fn a_fleet_of_a_thousand_metrics_stays_within_bounds() {
    let n = 7 * 144; // a week each
    let entries: Vec<MetricEntry> = (0..1000)
        .map(|i| {
            let mut data = metric(&format!("m{i:04}"), n, &[500 + i % 100], &[]);
            if i % 10 == 0 {
                // stale: the newest point is a day older than the report
                data.points.truncate(n - 144);
                data.last_point = data.points.last().map(|p| p.timestamp);
            }
            MetricEntry::Loaded(Box::new(data))
        })
        .chain(std::iter::once(MetricEntry::Failed {
            name: "broken".into(),
            error: "cannot connect <to> the storage".into(),
        }))
        .collect();
    let page = detectk_report::html::render_page(&entries, &period(n));
    eprintln!("1,000 metrics: {} bytes", page.len());
    assert!(
        page.len() < 12_000_000,
        "{} bytes for 1,000 metrics",
        page.len()
    );
    assert_eq!(page.matches(r#"<svg class="chart""#).count(), 1000);
    assert_eq!(page.matches(r#"<section class="metric""#).count(), 1001);
    // problems first: the failed metric, then the stale ones
    let failed = page.find(r##"href="#m-broken""##).unwrap();
    let stale = page.find(r##"href="#m-m0000""##).unwrap();
    let fine = page.find(r##"href="#m-m0001""##).unwrap();
    assert!(failed < stale && stale < fine);
    assert!(
        page.contains("cannot connect &lt;to&gt; the storage"),
        "escaped"
    );
}

fn png_pixels(path: &std::path::Path) -> (u32, u32, Vec<[u8; 3]>) {
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

#[test]
fn plot_draws_a_png_with_the_series_the_anomalies_and_text_and_an_svg() {
    let n = 30 * 144;
    let data = metric("plotted", n, &[1_000, 3_000], &[1_000]);
    let p = period(n);
    let view = analyze(&data, &p);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let png_path = dir.join("chart.png");
    render_chart(&view, &p, &png_path, DEFAULT_SIZE).unwrap();
    if let Ok(keep) = std::env::var("DTK_KEEP_CHART") {
        std::fs::copy(&png_path, keep).unwrap();
    }
    let (w, h, pixels) = png_pixels(&png_path);
    assert_eq!((w, h), DEFAULT_SIZE);
    let count = |rgb: [u8; 3]| pixels.iter().filter(|p| **p == rgb).count();
    assert!(count([39, 100, 197]) > 500, "series pixels");
    assert!(count([214, 39, 24]) > 20, "alerted anomaly and alert mark");
    assert!(count([242, 157, 56]) > 10, "suppressed anomaly");
    // text (caption and labels) is drawn in dark grey/black: many dark pixels
    let dark = pixels.iter().filter(|p| p.iter().all(|c| *c < 90)).count();
    assert!(dark > 200, "text pixels: {dark}");

    let svg_path = dir.join("chart.svg");
    render_chart(&view, &p, &svg_path, DEFAULT_SIZE).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("plotted"));

    let bad = render_chart(&view, &p, &dir.join("chart.gif"), DEFAULT_SIZE).unwrap_err();
    assert!(bad.to_string().contains("chart.gif") && bad.to_string().contains(".png"));
    let missing_dir =
        render_chart(&view, &p, &dir.join("nope/chart.png"), DEFAULT_SIZE).unwrap_err();
    assert!(missing_dir.to_string().contains("nope"), "{missing_dir}");
}
