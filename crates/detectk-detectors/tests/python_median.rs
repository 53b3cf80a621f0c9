//! Unweighted `mad` picks the median (and the MAD) at the position Python detectk's
//! floating-point cumulative sum picks, for every size in a table computed with numpy
//! (`tests/reference/python_median_positions.csv`).

use chrono::{TimeDelta, TimeZone, Utc};
use detectk_core::{DataPoint, DetectionContext, Detector, Window};
use detectk_detectors::{HistoryOptions, MadDetector};

fn table() -> Vec<(usize, usize)> {
    include_str!("reference/python_median_positions.csv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (n, k) = l.split_once(',').expect("n,position");
            (n.parse().expect("n"), k.trim().parse().expect("position"))
        })
        .collect()
}

#[test]
fn median_and_mad_positions_match_numpy() {
    let rows = table();
    assert!(rows.len() > 400, "the table lost rows");
    assert!(rows.contains(&(2016, 1008)), "2,016 takes the upper middle");
    let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    for (n, k) in rows {
        // n distinct values in scrambled order, then the scored point.
        let mut values: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64 * 1.5).collect();
        values.push(1e12); // far out: flagged, so its stats are recorded
        let series: Vec<DataPoint> = values
            .iter()
            .enumerate()
            .map(|(i, v)| DataPoint::new(t0 + TimeDelta::minutes(i as i64), *v))
            .collect();
        let history = HistoryOptions {
            window: Window::Points(n),
            decay: None,
            min_points: 1,
            ..Default::default()
        };
        let det = MadDetector::new(history, 3.0);
        let ctx = DetectionContext {
            execution_time: t0,
            interval: TimeDelta::minutes(1),
        };
        let out = det.detect(&series, n, &ctx);
        let d = &out[0];
        let mut sorted = values[..n].to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[k];
        assert!(d.is_anomaly, "n = {n}: {d:?}");
        assert_eq!(d.stats["median"], median, "median at n = {n}");
        let mut dev: Vec<f64> = sorted.iter().map(|v| (v - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        assert_eq!(d.stats["mad"], dev[k], "MAD at n = {n}");
    }
}
